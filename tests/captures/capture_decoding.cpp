#include "capture_decoding.hpp"

#include <memory>
#include <utility>

#include "capture/packet_source.hpp"
#include "zmtp/z85.hpp"

namespace capture_check {
namespace {

using zmtp::CommandKind;
using zmtp::tracker::Connection;

size_t index(zmtp::Direction d) {
    return static_cast<size_t>(d);
}

bool counted_command(CommandKind k) {
    return k == CommandKind::Ping || k == CommandKind::Pong || k == CommandKind::Subscribe ||
           k == CommandKind::Cancel || k == CommandKind::Join || k == CommandKind::Leave;
}

class Recorder final : public zmtp::tracker::ConnectionObserver {
  public:
    std::vector<ConnectionResult> connections;

    void on_connection_start(const Connection& c) override {
        ConnectionResult r;
        r.id = c.id;
        r.client = c.client;
        r.server = c.server;
        connections.push_back(std::move(r));
    }

    void on_tcp_event(const Connection& c, const zmtp::tracker::TcpEvent& e) override {
        if (e.kind == zmtp::tracker::TcpEventKind::Gap)
            result(c).dirs[index(e.dir)].gaps.push_back(e.text);
    }

    void on_session_event(const Connection& c, const zmtp::SessionEvent& e,
                          zmtp::tracker::Timestamp) override {
        ConnectionResult& r = result(c);
        DirectionResult& d = r.dirs[index(e.dir)];
        if (const auto* frame = std::get_if<zmtp::FrameEvent>(&e.what)) {
            if (!frame->start_lost) on_frame(d, *frame);
        } else if (const auto* message = std::get_if<zmtp::MessageEvent>(&e.what)) {
            if (message->loss != zmtp::MessageLoss::None) d.partial.clear();  // cut by a gap
        } else if (const auto* command = std::get_if<zmtp::CommandEvent>(&e.what)) {
            on_command(r, d, *command);
        } else if (const auto* handshake = std::get_if<zmtp::HandshakeEvent>(&e.what)) {
            on_handshake(r, *handshake);
        } else if (const auto* notice = std::get_if<zmtp::NoticeEvent>(&e.what)) {
            r.notices.emplace_back(notice->code, notice->text);
        }
    }

    void on_connection_end(const Connection& c) override {
        ConnectionResult& r = result(c);
        r.end = std::string(zmtp::tracker::connection_end_name(c.end));
        if (!c.session) return;
        const zmtp::SessionInfo& info = c.session->info();
        for (size_t i = 0; i < 2; ++i)
            r.socket_types[i] = std::string(zmtp::socket_type_name(info.socket_types[i]));
        r.curve = info.curve;
        r.curve_missing = info.curve_missing;
        for (size_t i = 0; i < 2; ++i)
            r.dirs[i].started_mid_stream = info.recovery[i].started_mid_stream;
        for (size_t i = 0; i < 2; ++i) {
            if (!info.greetings[i]) continue;
            r.greeting_labels[i] = zmtp::greeting_label(*info.greetings[i]);
            if (info.greetings[i]->identity)
                r.greeting_identities[i] =
                    zmtp::to_hex(zmtp::as_bytes(*info.greetings[i]->identity));
        }
        if (info.handshake == zmtp::HandshakeState::NotCaptured) r.handshake = "not-captured";
        if (r.handshake == "incomplete" && c.end != zmtp::tracker::ConnectionEnd::Open)
            r.handshake = "closed";
    }

  private:
    ConnectionResult& result(const Connection& c) { return connections[c.id - 1]; }

    static void on_frame(DirectionResult& d, const zmtp::FrameEvent& f) {
        d.partial.push_back(f.body_skipped ? "<skipped " + std::to_string(f.header.body_size) + ">"
                                           : zmtp::to_hex(f.body));
        if (f.decrypted) d.decrypted_frames++;
        if (f.last) d.messages.push_back(std::exchange(d.partial, {}));
    }

    static void on_command(ConnectionResult& r, DirectionResult& d, const zmtp::CommandEvent& e) {
        const zmtp::Command& cmd = e.command;
        if (counted_command(cmd.kind)) d.commands[std::string(command_kind_name(cmd.kind))]++;
        if (cmd.kind == CommandKind::Message && !e.curve.box_opened) d.boxes_not_opened++;
        if (cmd.kind == CommandKind::Hello && cmd.client_ephemeral.size() == 32) {
            zmtp::Key k{};
            std::copy(cmd.client_ephemeral.begin(), cmd.client_ephemeral.end(), k.begin());
            r.client_ephemerals.push_back(k);
        }
        if (e.curve.server_ephemeral) r.server_ephemerals.push_back(*e.curve.server_ephemeral);
    }

    static void on_handshake(ConnectionResult& r, const zmtp::HandshakeEvent& h) {
        if (h.succeeded) {
            r.handshake = "ready";
        } else if (h.reason.starts_with("ERROR")) {
            r.handshake = "error";
            r.error_reason = h.reason.size() > 6 ? h.reason.substr(6) : "";
        } else {
            r.handshake = "failed";
            r.failure = h.reason;
        }
    }
};

}  // namespace

DecodeResult decode_capture(const std::string& path, const DecodeOptions& options) {
    DecodeResult result;
    Recorder recorder;
    zmtp::tracker::TrackerOptions tracker_options;
    tracker_options.ports = options.ports;
    tracker_options.detect = options.detect;
    tracker_options.keys = options.keys;
    zmtp::tracker::track_captures({path}, "", tracker_options, recorder, result.error,
                                  &result.counters);
    result.connections = std::move(recorder.connections);
    return result;
}

}  // namespace capture_check
