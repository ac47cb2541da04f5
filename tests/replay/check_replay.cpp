// zmtp-replay-check REPLAY.json EXPECTED.json: checks zmtp-replay's JSON report of a capture
// against the capture's expected.json (captures/README.md): connections, handshakes, message
// counts and sizes, request/reply pairs, heartbeat figures, decryption, endings, and the
// diagnoses (heartbeat timeout with the last PONG, reconnect storm caused by a wrong key).
// A capture that starts mid-connection ("capture_start": "mid-connection") must report that,
// the handshake as not captured, every expected message (the first one may be reported as cut,
// docs/protocol.md 9: whether frames before it belonged to it is unknown) and no request as
// never answered that was answered.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

const char* const directions[2] = {"client_to_server", "server_to_client"};

struct Checker {
    std::vector<std::string> problems;

    void expect(bool ok, const std::string& what) {
        if (!ok) problems.push_back(what);
    }
    template <typename A, typename B>
    void equal(const A& got, const B& want, const std::string& what) {
        if (!(got == want)) {
            std::ostringstream text;
            text << what << ": expected " << json(want).dump() << ", got " << json(got).dump();
            problems.push_back(text.str());
        }
    }
};

// Frames and bytes of the expected messages from index `from` on.
size_t frames_of(const json& messages, size_t from = 0) {
    size_t n = 0;
    for (size_t i = from; i < messages.size(); ++i) n += messages[i].size();
    return n;
}

size_t bytes_of(const json& messages, size_t from = 0) {
    size_t n = 0;
    for (size_t i = from; i < messages.size(); ++i)
        for (const auto& f : messages[i]) n += f.get<std::string>().size() / 2;
    return n;
}

int command_count(const json& direction, const std::string& name) {
    const json& commands = direction.at("commands");
    return commands.contains(name) ? commands[name].get<int>() : 0;
}

void check_commands(Checker& c, const json& want, const json& got, const std::string& where) {
    const json commands = want.value("commands", json::object());
    for (const auto& [key, value] : commands.items()) {
        const bool minimum = key.ends_with("_min");
        const std::string name = minimum ? key.substr(0, key.size() - 4) : key;
        const int count = command_count(got, name);
        if (minimum)
            c.expect(count >= value.get<int>(), where + " " + name + ": " + std::to_string(count) +
                                                    " < " + std::to_string(value.get<int>()));
        else
            c.equal(count, value.get<int>(), where + " " + name);
    }
}

bool is_requester(const std::string& t) {
    return t == "REQ" || t == "DEALER" || t == "CLIENT";
}
bool is_replier(const std::string& t) {
    return t == "REP" || t == "ROUTER" || t == "SERVER";
}

// A capture that joined late: pairs only where libzmtp could tell, and no request the server
// answered (all of them, in these scenarios, but the ones the capture's end cuts off) called
// unanswered.
void check_late_pairs(Checker& c, const json& want, const json& got, const std::string& where) {
    const size_t requests = want["client_to_server"]["messages"].size();
    const size_t replies = want["server_to_client"]["messages"].size();
    const size_t pairs = got["latency_ms"].is_null() ? 0 : got["latency_ms"]["count"].get<size_t>();
    const size_t unanswered = got["unanswered_requests"].get<size_t>();
    c.expect(pairs <= std::min(requests, replies), where + ": more pairs than requests or replies");
    const bool open = want.value("end", "fin") == "open";
    c.expect(open ? unanswered <= requests - std::min(requests, replies) + 1 : unanswered == 0,
             where + ": " + std::to_string(unanswered) + " request(s) falsely never answered");
    if (got["recovery"]["pairing_stopped"].get<bool>()) {
        c.equal(pairs, size_t(0), where + ": pairs after pairing stopped at the start");
        c.expect(!got["recovery"]["pairing_stopped_reason"].is_null(),
                 where + ": pairing stopped without a reason");
    }
}

void check_pairs(Checker& c, const json& want, const json& got, const std::string& where) {
    const std::string client = want["socket_types"][0], server = want["socket_types"][1];
    if (!is_requester(client) || !is_replier(server)) {
        c.expect(got["latency_ms"].is_null(),
                 where + ": latency reported for " + client + "-" + server);
        return;
    }
    const size_t requests = want["client_to_server"]["messages"].size();
    const size_t replies = want["server_to_client"]["messages"].size();
    const size_t pairs = got["latency_ms"].is_null() ? 0 : got["latency_ms"]["count"].get<size_t>();
    const size_t unanswered = got["unanswered_requests"].get<size_t>();
    c.expect(pairs <= std::min(requests, replies), where + ": more pairs than requests or replies");
    if (requests && replies) c.expect(pairs > 0, where + ": no request/reply pair");
    if (client == "REQ") {
        c.equal(pairs, replies, where + ": REQ/REP request/reply pairs");
        c.equal(unanswered, requests - replies, where + ": unanswered REQ requests");
    } else {
        // Asynchronous pairs: every message either answers one or waits for an answer.
        c.equal(2 * pairs + unanswered, requests + replies,
                where + ": paired + unanswered messages");
    }
}

void check_heartbeats(Checker& c, const json& got, const std::string& where) {
    for (int d = 0; d < 2; ++d) {
        const json& mine = got[directions[d]];
        const json& peer = got[directions[1 - d]];
        const json& hb = mine["heartbeat"];
        const std::string w = where + " " + directions[d];
        c.equal(hb["pings"].get<int>(), command_count(mine, "PING"),
                w + " heartbeat PINGs vs PING commands");
        c.equal(hb["pongs"].get<int>(), command_count(peer, "PONG"),
                w + " PONGs received vs peer's PONG commands");
        if (hb["pings"].get<int>() == 0) continue;
        c.expect(!hb["ttl_s"].is_null(), w + ": PINGs without a TTL");
        if (hb["pings"].get<int>() >= 2)
            c.expect(!hb["interval_ms"].is_null(), w + ": no PING interval");
        if (hb["pongs"].get<int>() > 0) c.expect(!hb["pong_rtt_ms"].is_null(), w + ": no PONG RTT");
    }
}

void check_heartbeat_timeout(Checker& c, const json& got, const std::string& where) {
    const json& end = got["end"];
    c.equal(end["kind"].get<std::string>(), std::string("heartbeat-timeout"), where + " end");
    if (end["closed_by"].is_null() || end["last_pong"].is_null() || end["time"].is_null()) {
        c.expect(false, where + ": heartbeat timeout without closer, time or last PONG");
        return;
    }
    const std::string closer =
        end["closed_by"] == "client" ? "client_to_server" : "server_to_client";
    const json& hb = got[closer]["heartbeat"];
    c.equal(end["last_pong"].get<double>(), hb["last_pong"].get<double>(),
            where + ": last PONG time");
    const double silence = end["time"].get<double>() - end["last_pong"].get<double>();
    c.expect(
        !hb["interval_ms"].is_null() && silence * 1000 >= hb["interval_ms"]["p50"].get<double>(),
        where + ": closed sooner after the last PONG than one PING interval");
    c.expect(hb["missed"].get<int>() >= 1, where + ": no PING went unanswered");
}

// The recovery figures of a capture that joined a connection late (docs/protocol.md 9).
void check_late_start(Checker& c, const json& got, const std::string& where) {
    const json& recovery = got["recovery"];
    c.expect(recovery["started_mid_connection"].get<bool>(),
             where + ": capture start mid-connection not reported");
    c.expect(!got["tcp"]["syn_seen"].get<bool>(), where + ": a SYN in a late capture");
    for (int d = 0; d < 2; ++d) {
        const json& r = got[directions[d]]["recovery"];
        const std::string w = where + " " + directions[d];
        c.expect(r["started_mid_stream"].get<bool>(), w + ": late start not reported");
        c.expect(r["resyncs"].get<size_t>() >= 1, w + ": no resync");
        c.equal(r["messages_cut"]["end_lost"].get<size_t>(), size_t(0), w + " messages end lost");
        c.expect(!r["resyncing_at_end"].get<bool>(), w + ": still resyncing at the end");
    }
    if (got["mechanism"] == "CURVE")
        c.equal(got["mechanism_inferred"], json("CURVE (inferred from MESSAGE frames)"),
                where + " mechanism inferred");
}

// The messages of one direction: all expected, or all but the first, which then is reported as
// cut (its start lost), not counted.
void check_messages(Checker& c, const json& messages, const json& dir, bool late,
                    const std::string& w) {
    const size_t got = dir["messages"].get<size_t>();
    size_t skipped = 0;
    if (late) {
        const json& cut = dir["recovery"]["messages_cut"];
        skipped = cut["start_lost"].get<size_t>();
        c.expect(skipped <= 1, w + ": " + std::to_string(skipped) + " messages start lost");
        c.equal(dir["recovery"]["messages_after_gap"].get<size_t>(), got,
                w + " messages recovered after the late start");
    }
    skipped = std::min(skipped, messages.size());
    c.equal(got, messages.size() - skipped, w + " messages");
    c.equal(dir["frames"].get<size_t>(), frames_of(messages, skipped), w + " frames");
    c.equal(dir["bytes"].get<size_t>(), bytes_of(messages, skipped), w + " bytes");
}

std::string hex_of(const std::string& text) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char byte : text) hex += {digits[byte >> 4], digits[byte & 15]};
    return hex;
}

// ZMTP 1.0/2.0 (docs/protocol.md 1.6): each side's greeting, labelled as what it speaks, with
// its identity, which is no message (the identities of the captures are printable text).
void check_greetings(Checker& c, const json& want, const json& got, const std::string& where) {
    for (int d = 0; d < 2; ++d) {
        const json& dir = got[directions[d]];
        const std::string w = where + " " + directions[d];
        if (!want.contains("greetings")) {
            c.expect(dir["identity"].is_null(), w + ": an identity, but the capture is ZMTP 3.x");
            continue;
        }
        const json& g = want["greetings"][d];
        c.equal(dir["greeting"], g["version"], w + " greeting");
        c.equal(dir["identity"].is_string() ? hex_of(dir["identity"].get<std::string>()) : "none",
                g["identity"].get<std::string>(), w + " identity (hex)");
    }
}

void check_connection(Checker& c, const json& want, const json& got, bool curve_keys, bool late,
                      const std::string& where) {
    const std::string handshake = want.value("handshake", "ready");
    const json& h = got["handshake"];
    if (handshake == "ready") {
        c.equal(h["state"].get<std::string>(), std::string("ready"), where + " handshake");
        c.equal(got["socket_types"], want["socket_types"], where + " socket types");
    } else if (handshake == "not-captured") {
        c.equal(h["state"].get<std::string>(), handshake, where + " handshake");
        // Inferred socket types are right or unknown, never wrong.
        if (got["socket_types"] != json::array({"unknown", "unknown"}))
            c.equal(got["socket_types"], want["socket_types"], where + " socket types (inferred)");
        c.expect(got["socket_types_inferred"].get<bool>() ||
                     got["socket_types"] == json::array({"unknown", "unknown"}),
                 where + ": socket types without a handshake not marked inferred");
    } else {
        c.equal(h["state"].get<std::string>(), std::string("failed"), where + " handshake");
        if (handshake == "error")
            c.equal(h["cause"].get<std::string>(), "ERROR " + want.value("error_reason", ""),
                    where + " cause");
    }
    for (int d = 0; d < 2; ++d) {
        const json& messages = want[directions[d]]["messages"];
        const json& dir = got[directions[d]];
        const std::string w = where + " " + directions[d];
        check_messages(c, messages, dir, late, w);
        if (curve_keys)
            c.equal(dir["decrypted_messages"].get<size_t>(), dir["messages"].get<size_t>(),
                    w + " decrypted");
        check_commands(c, want[directions[d]], dir, w);
    }
    if (curve_keys && (handshake == "ready" || handshake == "not-captured"))
        c.equal(got["decryption"]["state"].get<std::string>(), std::string("decrypted"),
                where + " decryption");
    if (late) check_late_start(c, got, where);
    check_greetings(c, want, got, where);
    if (handshake == "ready" && !late) check_pairs(c, want, got, where);
    if (late) check_late_pairs(c, want, got, where);
    check_heartbeats(c, got, where);
    const std::string end = want.value("end", "fin");
    if (end == "heartbeat-timeout")
        check_heartbeat_timeout(c, got, where);
    else
        c.equal(got["end"]["kind"].get<std::string>(), end, where + " end");
}

// Every connection refused the same way, again and again: a reconnect storm with that cause.
void check_storm(Checker& c, const json& expected, const json& report) {
    const json& connections = expected["connections"];
    if (connections.size() < 3) return;
    for (const auto& conn : connections)
        if (conn.value("handshake", "ready") != "closed") return;
    const json& storms = report["reconnect_storms"];
    if (storms.size() != 1) {
        c.expect(false, "expected one reconnect storm, got " + std::to_string(storms.size()));
        return;
    }
    c.equal(storms[0]["attempts"].get<size_t>(), connections.size(), "reconnect storm attempts");
    if (expected.value("mechanism", "") == "CURVE")
        c.equal(storms[0]["cause"].get<std::string>(), std::string("wrong server key"),
                "reconnect storm cause");
}

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    return json::parse(in);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: zmtp-replay-check REPLAY.json EXPECTED.json\n";
        return 2;
    }
    json report, expected;
    try {
        report = read_json(argv[1]);
        expected = read_json(argv[2]);
    } catch (const std::exception& e) {
        std::cerr << "zmtp-replay-check: " << e.what() << "\n";
        return 1;
    }
    Checker c;
    const std::string name = expected.value("scenario", argv[2]);
    const bool curve_keys =
        expected.value("mechanism", "") == "CURVE" && expected["keylog"].is_string();
    const bool late = expected.value("capture_start", "") == "mid-connection";
    const json& want = expected["connections"];
    const json& got = report["connections"];
    c.equal(got.size(), want.size(), "connections");
    try {
        for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
            check_connection(c, want[i], got[i], curve_keys, late,
                             "connection " + std::to_string(i + 1));
        check_storm(c, expected, report);
    } catch (const std::exception& e) {
        c.expect(false, std::string("the report lacks a field: ") + e.what());
    }
    if (c.problems.empty()) {
        std::cout << "ok   " << name << ": " << got.size() << " connection(s)\n";
        return 0;
    }
    std::cout << "FAIL " << name << "\n";
    for (const auto& p : c.problems) std::cout << "    " << p << "\n";
    return 1;
}
