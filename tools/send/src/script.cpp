#include "script.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "capture/packet_source.hpp"

namespace zmtpsend {
namespace {

using zmtp::CommandKind;
using zmtp::Direction;
using zmtp::tracker::Connection;

std::string bytes_string(zmtp::Bytes b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

class ScriptBuilder final : public zmtp::tracker::ConnectionObserver {
  public:
    std::vector<ConnectionScript> scripts;

    void on_connection_start(const Connection& c) override {
        ConnectionScript s;
        s.id = c.id;
        s.client = zmtp::tracker::to_string(c.client);
        s.server = zmtp::tracker::to_string(c.server);
        s.start = c.first_time;
        s.ready = c.first_time;
        index_[c.id] = scripts.size();
        scripts.push_back(std::move(s));
        partial_[c.id] = {};
    }

    void on_session_event(const Connection& c, const zmtp::SessionEvent& e,
                          zmtp::tracker::Timestamp time) override {
        ConnectionScript& s = script(c);
        Frames& partial = partial_[c.id][zmtp::index_of(e.dir)];
        if (const auto* frame = std::get_if<zmtp::FrameEvent>(&e.what)) {
            // A ZMTP 3.0 SUB's subscription is a message frame (docs/protocol.md): the replayed
            // socket subscribes instead of sending it.
            if (frame->subscription && e.dir == Direction::ClientToServer) {
                s.subscriptions.push_back({time, frame->subscription->subscribe,
                                           bytes_string(frame->subscription->topic)});
                skip_message_[c.id][zmtp::index_of(e.dir)] = true;
                return;
            }
            partial.push_back(bytes_string(frame->body));
        } else if (const auto* m = std::get_if<zmtp::MessageEvent>(&e.what)) {
            bool& skip = skip_message_[c.id][zmtp::index_of(e.dir)];
            Frames frames = std::exchange(partial, {});
            if (std::exchange(skip, false)) return;
            if (m->loss != zmtp::MessageLoss::None) {
                s.messages_cut++;
                return;
            }
            CapturedMessage msg{m->message_seq, time, std::move(frames), m->answers_seq,
                                m->awaits_reply};
            (e.dir == Direction::ClientToServer ? s.sent : s.replies).push_back(std::move(msg));
        } else if (const auto* cmd = std::get_if<zmtp::CommandEvent>(&e.what)) {
            on_command(s, e.dir, *cmd, time);
        } else if (const auto* h = std::get_if<zmtp::HandshakeEvent>(&e.what)) {
            s.handshake_ready = h->succeeded;
            if (h->succeeded) s.ready = time;
        }
    }

    void on_connection_end(const Connection& c) override {
        ConnectionScript& s = script(c);
        finish_heartbeat(s, ping_times_[c.id]);
        if (!c.session) return;
        const zmtp::SessionInfo& info = c.session->info();
        s.client_type = info.socket_types[0];
        s.server_type = info.socket_types[1];
        s.mechanism = info.mechanism;
        if (info.mechanism == zmtp::Mechanism::Curve &&
            info.curve != zmtp::CurveKeyState::SessionKey) {
            s.decrypted = false;
            s.not_decrypted_why = info.curve_missing;
        }
        if (info.handshake == zmtp::HandshakeState::NotCaptured) s.handshake_ready = true;
    }

  private:
    ConnectionScript& script(const Connection& c) { return scripts[index_.at(c.id)]; }

    void on_command(ConnectionScript& s, Direction dir, const zmtp::CommandEvent& e,
                    zmtp::tracker::Timestamp time) {
        if (dir != Direction::ClientToServer) return;
        const zmtp::Command& cmd = e.command;
        if (cmd.kind == CommandKind::Subscribe || cmd.kind == CommandKind::Cancel) {
            s.subscriptions.push_back(
                {time, cmd.kind == CommandKind::Subscribe, bytes_string(cmd.topic)});
        } else if (cmd.kind == CommandKind::Ready || cmd.kind == CommandKind::Initiate) {
            // NULL and PLAIN clients send their metadata in READY, CURVE clients in INITIATE.
            for (const zmtp::Property& p : cmd.metadata)
                if (p.name == "Identity") s.routing_id = bytes_string(p.value);
        } else if (cmd.kind == CommandKind::Ping) {
            if (!s.heartbeat.ttl_ms && cmd.ping_ttl_ds) s.heartbeat.ttl_ms = cmd.ping_ttl_ds * 100u;
            ping_times_[s.id].push_back(time);
        }
    }

    static void finish_heartbeat(ConnectionScript& s, std::vector<Timestamp>& times) {
        s.heartbeat.pings = times.size();
        if (times.size() < 2) return;
        std::vector<double> intervals;
        for (size_t i = 1; i < times.size(); ++i)
            intervals.push_back(double(times[i] - times[i - 1]) / 1e6);
        std::sort(intervals.begin(), intervals.end());
        s.heartbeat.interval_ms = intervals[(intervals.size() - 1) / 2];
    }

    std::map<uint64_t, size_t> index_;
    std::map<uint64_t, std::array<Frames, 2>> partial_;
    std::map<uint64_t, std::array<bool, 2>> skip_message_;
    std::map<uint64_t, std::vector<Timestamp>> ping_times_;
};

}  // namespace

bool read_scripts(const ScriptOptions& options, std::vector<ConnectionScript>& scripts,
                  std::string& error) {
    ScriptBuilder builder;
    zmtp::tracker::TrackerOptions tracker_options;
    tracker_options.ports = options.ports;
    tracker_options.detect = options.detect;
    tracker_options.keys = options.keys;
    const bool read = zmtp::tracker::track_captures(options.captures, options.filter,
                                                    tracker_options, builder, error);
    scripts = std::move(builder.scripts);
    return read;
}

}  // namespace zmtpsend
