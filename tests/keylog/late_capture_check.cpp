// keylog_late_capture_check: checks a capture of one CURVE connection that started after the
// connection's handshake (run_late_capture_test.sh) against what its programs sent (sent.jsonl,
// written by late_peers.py / late_peers.cpp) and against zmtp-replay's JSON report of it.
//
// It decodes the capture itself with zmtp_capture and libzmtp, and requires:
//   - one connection, without its SYN, whose handshake libzmtp reports as not captured;
//   - with the key log (SESSION_KEY lines, docs/keylog.md): every message sent once the capture
//     ran ("after") decoded whole and decrypted, with its exact frames; what else was decoded
//     whole is the messages sent just before, in order, with no gap and nothing invented; at
//     most one message per direction, the first, reported as cut (its start is not in the
//     capture, docs/protocol.md 9); decrypted PINGs and PONGs; and zmtp-replay's report gives the
//     same counts, all decrypted, the PING TTL, and no unanswered request;
//   - with --no-session-key (the key log without its SESSION_KEY lines, like a key log written
//     before the key logger logged them): nothing decrypted, libzmtp's SessionKeyMissing notice,
//     and zmtp-replay saying that a SESSION_KEY would open the connection.
//
// usage: keylog_late_capture_check [--no-session-key] PCAP PORT KEYS SENT REPORT
// exit 0 = all good, 1 = a check failed, 2 = usage or unreadable input
#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "capture/packet_source.hpp"
#include "tracker/connection_tracker.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace {

using nlohmann::json;
using Frames = std::vector<std::string>;  // hex

const char* const directions[2] = {"client_to_server", "server_to_client"};

struct Message {
    Frames frames;
    zmtp::MessageLoss loss = zmtp::MessageLoss::None;
    bool decrypted = false;
};

struct DirectionLog {
    std::vector<Message> messages;  // in the order of their MessageEvents
    Frames partial;
    uint64_t decrypted_frames = 0;
    uint64_t pings = 0, pongs = 0;  // decrypted from MESSAGE boxes
    uint64_t gaps = 0, resyncs = 0;
};

struct ConnectionLog {
    bool saw_syn = true;
    std::array<DirectionLog, 2> dirs;
    std::vector<zmtp::NoticeCode> notices;
    std::optional<zmtp::SessionInfo> info;  // at its end
};

class Recorder final : public zmtp::tracker::ConnectionObserver {
  public:
    std::vector<ConnectionLog> connections;

    void on_connection_start(const zmtp::tracker::Connection& c) override {
        ids_.push_back(c.id);
        connections.emplace_back().saw_syn = c.saw_syn;
    }

    void on_session_event(const zmtp::tracker::Connection& c, const zmtp::SessionEvent& e,
                          zmtp::tracker::Timestamp) override {
        ConnectionLog& log = of(c);
        DirectionLog& d = log.dirs[size_t(e.dir)];
        if (const auto* frame = std::get_if<zmtp::FrameEvent>(&e.what)) {
            d.partial.push_back(zmtp::to_hex(frame->body));
            d.decrypted_frames += frame->decrypted;
        } else if (const auto* message = std::get_if<zmtp::MessageEvent>(&e.what)) {
            d.messages.push_back({std::exchange(d.partial, {}), message->loss, message->decrypted});
        } else if (const auto* command = std::get_if<zmtp::CommandEvent>(&e.what)) {
            if (command->decrypted && command->command.kind == zmtp::CommandKind::Ping) ++d.pings;
            if (command->decrypted && command->command.kind == zmtp::CommandKind::Pong) ++d.pongs;
        } else if (const auto* notice = std::get_if<zmtp::NoticeEvent>(&e.what)) {
            log.notices.push_back(notice->code);
        } else if (std::holds_alternative<zmtp::GapEvent>(e.what)) {
            ++d.gaps;
        } else if (std::holds_alternative<zmtp::ResyncEvent>(e.what)) {
            ++d.resyncs;
        }
    }

    void on_connection_end(const zmtp::tracker::Connection& c) override {
        if (c.session) of(c).info = c.session->info();
    }

  private:
    ConnectionLog& of(const zmtp::tracker::Connection& c) {
        auto at = std::find(ids_.begin(), ids_.end(), c.id);
        return connections[size_t(at - ids_.begin())];
    }
    std::vector<uint64_t> ids_;
};

struct Problems {
    std::vector<std::string> list;
    void require(bool ok, const std::string& what) {
        if (!ok) list.push_back(what);
    }
};

struct Sent {
    std::array<std::vector<Frames>, 2> messages;  // per direction, in order
    std::array<size_t, 2> first_after{0, 0};      // index of the first "after" message
    std::array<size_t, 2> after{0, 0};            // how many "after" messages
};

std::optional<Sent> read_sent(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    Sent sent;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        json entry = json::parse(line);
        size_t d = entry.at("dir") == directions[0] ? 0 : 1;
        if (entry.at("phase") == "after" && sent.after[d]++ == 0)
            sent.first_after[d] = sent.messages[d].size();
        sent.messages[d].push_back(entry.at("frames").get<Frames>());
    }
    return sent;
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return char(std::toupper(c)); });
    return text;
}

// With the session key: the messages decoded whole are exactly sent[first..end) with every
// "after" message among them.
void check_direction(const DirectionLog& got, const Sent& sent, size_t d, Problems& problems,
                     size_t& whole_count) {
    const std::string where = directions[d];
    std::vector<const Message*> whole;
    for (size_t i = 0; i < got.messages.size(); ++i) {
        const Message& m = got.messages[i];
        if (m.loss == zmtp::MessageLoss::None) {
            whole.push_back(&m);
            problems.require(m.decrypted, where + ": a whole message that was not decrypted");
        } else {
            // Only the start of the capture may cut a message: the connection closes cleanly.
            problems.require(i == 0 && m.loss == zmtp::MessageLoss::StartLost,
                             where + ": message event " + std::to_string(i) +
                                 " is reported as cut, but only the first may be");
        }
    }
    whole_count = whole.size();
    problems.require(got.partial.empty(), where + ": frames of a message never finished");
    const std::vector<Frames>& all = sent.messages[d];
    problems.require(sent.after[d] > 0, where + ": the programs sent nothing after the start");
    if (whole.empty()) {
        problems.require(false, where + ": no message decoded whole");
        return;
    }
    auto first = std::find(all.begin(), all.end(), whole[0]->frames);
    if (first == all.end()) {
        problems.require(false, where + ": the first message decoded whole was never sent");
        return;
    }
    const size_t start = size_t(first - all.begin());
    for (size_t k = 0; k < whole.size(); ++k) {
        if (start + k >= all.size() || whole[k]->frames != all[start + k]) {
            problems.require(false, where + ": decoded message " + std::to_string(k) +
                                        " is not sent message " + std::to_string(start + k));
            return;
        }
    }
    problems.require(start + whole.size() == all.size(),
                     where + ": the last " + std::to_string(all.size() - start - whole.size()) +
                         " sent messages were not decoded");
    if (start > sent.first_after[d])
        problems.require(false, where + ": " + std::to_string(start - sent.first_after[d]) +
                                    " message(s) sent after the capture started were not decoded "
                                    "whole");
    std::cout << "    " << where << ": " << whole.size()
              << " message(s) decoded whole and decrypted (" << sent.after[d]
              << " of them sent after the capture started, " << whole.size() - sent.after[d]
              << " just before), " << got.messages.size() - whole.size()
              << " reported cut at the start; " << (d == 0 ? got.pings : got.pongs)
              << (d == 0 ? " PING(s)" : " PONG(s)") << "\n";
}

void check_report_with_key(const json& c, const std::array<size_t, 2>& whole, Problems& problems) {
    problems.require(c.at("decryption").at("state") == "decrypted",
                     "zmtp-replay: decryption state " + c.at("decryption").at("state").dump());
    for (size_t d = 0; d < 2; ++d) {
        const json& s = c.at(directions[d]);
        const std::string where = std::string("zmtp-replay ") + directions[d];
        problems.require(s.at("messages") == whole[d], where + ": " + s.at("messages").dump() +
                                                           " messages, libzmtp decoded " +
                                                           std::to_string(whole[d]) + " whole");
        problems.require(s.at("decrypted_messages") == s.at("messages"),
                         where + ": " + s.at("decrypted_messages").dump() + " of " +
                             s.at("messages").dump() + " messages decrypted");
        problems.require(s.at("boxes_not_opened") == 0,
                         where + ": " + s.at("boxes_not_opened").dump() + " boxes not opened");
    }
    const json& heartbeat = c.at(directions[0]).value("heartbeat", json());
    problems.require(heartbeat.is_object() && heartbeat.value("pings", 0) > 0,
                     "zmtp-replay: no client PING reported");
    problems.require(heartbeat.is_object() && heartbeat.value("ttl_s", json()) == 3.0,
                     "zmtp-replay: the PING TTL is not 3 s (ZMQ_HEARTBEAT_TTL 3000)");
    problems.require(c.value("unanswered_requests", json(0)) == 0,
                     "zmtp-replay: " + c.value("unanswered_requests", json()).dump() +
                         " unanswered request(s), but every request was answered");
}

int usage() {
    std::cerr << "usage: keylog_late_capture_check [--no-session-key] PCAP PORT KEYS SENT REPORT\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    const bool no_session_key = !args.empty() && args[0] == "--no-session-key";
    if (no_session_key) args.erase(args.begin());
    if (args.size() != 5) return usage();
    const std::string &pcap = args[0], &keys_path = args[2], &sent_path = args[3];
    const auto port = uint16_t(std::stoi(args[1]));

    zmtp::KeyStore keys;
    std::vector<zmtp::KeyWarning> warnings;
    keys.load_file(keys_path, warnings);
    for (const auto& w : warnings)
        std::cerr << w.file << ":" << w.line << ": " << w.message << "\n";
    std::optional<Sent> sent = read_sent(sent_path);
    json report;
    try {
        std::ifstream in(args[4]);
        report = json::parse(in);
    } catch (const std::exception& error) {
        std::cerr << args[4] << ": " << error.what() << "\n";
        return 2;
    }
    if (!sent) {
        std::cerr << sent_path << ": cannot read\n";
        return 2;
    }

    std::string error;
    auto source = zmtp::tracker::PacketSource::open_files({pcap}, "", error);
    if (!source) {
        std::cerr << pcap << ": " << error << "\n";
        return 2;
    }
    Recorder recorder;
    zmtp::tracker::TrackerOptions options;
    options.ports = {port};
    options.keys = &keys;
    zmtp::tracker::ConnectionTracker tracker(options, recorder);
    zmtp::tracker::Packet packet;
    while (source->next(packet)) tracker.add_packet(packet);
    tracker.finish();

    Problems problems;
    problems.require(warnings.empty(), "the key log does not load cleanly");
    problems.require(recorder.connections.size() == 1,
                     std::to_string(recorder.connections.size()) + " connections, expected 1");
    const json& reported = report.at("connections");
    problems.require(reported.size() == 1,
                     "zmtp-replay: " + std::to_string(reported.size()) + " connections");
    if (recorder.connections.size() == 1 && reported.size() == 1) {
        const ConnectionLog& c = recorder.connections[0];
        problems.require(!c.saw_syn, "the capture has the SYN: it did not start late");
        problems.require(c.info.has_value(), "no session");
        if (c.info) {
            problems.require(c.info->handshake == zmtp::HandshakeState::NotCaptured,
                             "libzmtp does not report the handshake as not captured");
            problems.require(c.info->mechanism == zmtp::Mechanism::Curve,
                             "libzmtp does not see CURVE");
        }
        const bool session_key_missing =
            std::count(c.notices.begin(), c.notices.end(), zmtp::NoticeCode::SessionKeyMissing);
        std::cout << "    gaps " << c.dirs[0].gaps << " + " << c.dirs[1].gaps << ", resyncs "
                  << c.dirs[0].resyncs << " + " << c.dirs[1].resyncs << "\n";
        if (no_session_key) {
            for (size_t d = 0; d < 2; ++d) {
                const std::string where = directions[d];
                problems.require(c.dirs[d].decrypted_frames == 0,
                                 where + ": frames decrypted without the session key");
                const auto decrypted =
                    std::count_if(c.dirs[d].messages.begin(), c.dirs[d].messages.end(),
                                  [](const Message& m) { return m.decrypted; });
                problems.require(decrypted == 0, where + ": " + std::to_string(decrypted) +
                                                     " message(s) decrypted without a key");
                problems.require(
                    reported[0].at(directions[d]).at("decrypted_messages") == 0,
                    "zmtp-replay " + where + ": messages decrypted without the session key");
            }
            problems.require(session_key_missing,
                             "libzmtp does not say that only a SESSION_KEY would open the boxes");
            problems.require(c.info && c.info->curve != zmtp::CurveKeyState::SessionKey,
                             "libzmtp claims the session key without one");
            const json& decryption = reported[0].at("decryption");
            problems.require(decryption.at("state") != "decrypted",
                             "zmtp-replay: decrypted without a session key");
            const json& missing = decryption.value("missing_key", json());
            problems.require(
                missing.is_string() &&
                    upper(missing.get<std::string>()).find("SESSION_KEY") != std::string::npos,
                "zmtp-replay does not say that a SESSION_KEY would open the "
                "connection (missing_key: " +
                    missing.dump() + ")");
        } else {
            problems.require(c.info && c.info->curve == zmtp::CurveKeyState::SessionKey,
                             "libzmtp did not find the connection's session key");
            problems.require(!session_key_missing, "a SessionKeyMissing notice with the key");
            std::array<size_t, 2> whole{0, 0};
            for (size_t d = 0; d < 2; ++d) check_direction(c.dirs[d], *sent, d, problems, whole[d]);
            problems.require(c.dirs[0].pings > 0, "no decrypted PING from the client");
            problems.require(c.dirs[1].pongs > 0, "no decrypted PONG from the server");
            check_report_with_key(reported[0], whole, problems);
        }
    }
    if (!problems.list.empty()) {
        for (const std::string& p : problems.list) std::cout << "FAIL " << p << "\n";
        return 1;
    }
    std::cout << "ok   " << pcap << (no_session_key ? " without SESSION_KEY lines" : "") << "\n";
    return 0;
}
