// zmtp-replay's analysis on hand-built NULL conversations: handshake failures, heartbeat
// timeouts, silences, periodic messages, keep-alives and reconnect storms; and, fed synthetic
// libzmtp events, what it does with what the capture did not see (docs/protocol.md 9): gaps,
// cut messages, pairing across gaps, heartbeats inferred from CURVE box sizes, their reports.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analyzer.hpp"
#include "conversation.hpp"
#include "writers.hpp"

using namespace zmtp::tracker;
using namespace zmtp::tracker::testing;
using replay::Report;

namespace {

constexpr Timestamp ms = ns_per_ms;

Report analyze(std::vector<Packet> packets) {
    replay::Analyzer analyzer;
    ConnectionTracker tracker(TrackerOptions{}, analyzer);
    for (const Packet& p : packets) tracker.add_packet(p);
    tracker.finish();
    Report report;
    report.first_packet = packets.front().time;
    report.last_packet = packets.back().time;
    return analyzer.finish(std::move(report));
}

Conversation dealer_router() {
    Conversation c;
    c.open();
    c.handshake("DEALER", "ROUTER");
    return c;
}

}  // namespace

TEST_CASE("different mechanisms: a failed handshake with that cause", "[replay][analyzer]") {
    Conversation c;
    c.open();
    c.data(Direction::ClientToServer, greeting("NULL"));
    c.data(Direction::ServerToClient, greeting("CURVE"));
    c.send(Direction::ServerToClient, tcp_flag::fin | tcp_flag::ack);
    c.send(Direction::ClientToServer, tcp_flag::fin | tcp_flag::ack);
    const Report r = analyze(c.all());
    REQUIRE(r.connections.size() == 1);
    CHECK(r.connections[0].handshake == "failed");
    CHECK(r.connections[0].failure_cause == "mechanism mismatch");
    CHECK(r.failures.at("mechanism mismatch") == 1);
}

TEST_CASE("a side closing after unanswered PINGs is a heartbeat timeout", "[replay][analyzer]") {
    Conversation c = dealer_router();
    Timestamp last_pong = 0;
    for (int i = 0; i < 3; ++i) {
        c.wait(100 * ms);
        c.data(Direction::ClientToServer, ping(10));
        c.data(Direction::ServerToClient, pong());
        last_pong = c.packets.back().time;
    }
    for (int i = 0; i < 5; ++i) {
        c.wait(100 * ms);
        c.data(Direction::ClientToServer, ping(10));
    }
    c.wait(100 * ms);
    c.send(Direction::ClientToServer, tcp_flag::fin | tcp_flag::ack);
    const Timestamp closed = c.packets.back().time;
    const Report r = analyze(c.all());
    REQUIRE(r.connections.size() == 1);
    const auto& conn = r.connections[0];
    CHECK(conn.end == "heartbeat-timeout");
    CHECK(conn.closed_by == Direction::ClientToServer);
    CHECK(conn.close_time == closed);
    CHECK(conn.last_pong_before_timeout == last_pong);
    const auto& hb = conn.dirs[0].heartbeat;
    CHECK(hb.pings == 8);
    CHECK(hb.pongs == 3);
    CHECK(hb.missed == 5);
    CHECK(hb.ttl_s == 1.0);
    REQUIRE(hb.interval_ms);
    CHECK(hb.interval_ms->p50 == Approx(100.0).epsilon(0.01));
    CHECK(r.ends.at("heartbeat-timeout") == 1);
}

TEST_CASE("a close with every PING answered is no heartbeat timeout", "[replay][analyzer]") {
    Conversation c = dealer_router();
    for (int i = 0; i < 3; ++i) {
        c.wait(100 * ms);
        c.data(Direction::ClientToServer, ping(10));
        c.data(Direction::ServerToClient, pong());
    }
    c.close();
    const Report r = analyze(c.all());
    CHECK(r.connections[0].end == "fin");
    CHECK(r.connections[0].dirs[0].heartbeat.missed == 0);
}

TEST_CASE("a side silent for longer than its TTL is reported", "[replay][analyzer]") {
    Conversation c = dealer_router();
    c.data(Direction::ServerToClient, ping(5));  // TTL 0.5 s
    c.data(Direction::ClientToServer, pong());
    c.wait(2 * ns_per_s);
    c.data(Direction::ServerToClient, message("late"));
    const Report r = analyze(c.all());
    const auto& conn = r.connections[0];
    REQUIRE(conn.silences.size() == 1);
    CHECK(conn.silences[0].dir == Direction::ServerToClient);
    CHECK(conn.silences[0].seconds == Approx(2.0).epsilon(0.01));
    CHECK(conn.silences[0].ttl_s == 0.5);
}

TEST_CASE("regular messages are periodic, irregular ones are not", "[replay][analyzer]") {
    Conversation c = dealer_router();
    // The client ticks every 100 ms; the server answers at varying points of each slot.
    const Timestamp answer_after[] = {5, 90, 10, 80, 5, 95, 20, 60};
    for (Timestamp after : answer_after) {
        c.data(Direction::ClientToServer, message("tick"));
        c.wait(after * ms);
        c.data(Direction::ServerToClient, message("tock"));
        c.wait((100 - after) * ms);
    }
    const Report r = analyze(c.all());
    CHECK(r.connections[0].dirs[0].periodic);
    REQUIRE(r.connections[0].dirs[0].message_interval_ms);
    CHECK(r.connections[0].dirs[0].message_interval_ms->p50 == Approx(100.0).epsilon(0.01));
    CHECK_FALSE(r.connections[0].dirs[1].periodic);
}

TEST_CASE("TCP keep-alive probes and their interval", "[replay][analyzer]") {
    Conversation c = dealer_router();
    for (int i = 0; i < 4; ++i) {
        c.wait(ns_per_s);
        c.next[0] -= 1;
        c.send(Direction::ClientToServer, tcp_flag::ack);
        c.next[0] += 1;
        c.send(Direction::ServerToClient, tcp_flag::ack);
    }
    const Report r = analyze(c.all());
    const auto& d = r.connections[0].dirs[0];
    CHECK(d.keepalives == 4);
    REQUIRE(d.keepalive_interval_ms);
    CHECK(d.keepalive_interval_ms->p50 == Approx(1000.0).epsilon(0.01));
}

TEST_CASE("repeated failed handshakes from one client are a reconnect storm",
          "[replay][analyzer]") {
    std::vector<Packet> packets;
    std::vector<Conversation> attempts(4);
    for (size_t i = 0; i < attempts.size(); ++i) {
        Conversation& c = attempts[i];
        c.client_port = uint16_t(40000 + i);
        c.time = ns_per_s + Timestamp(i) * 300 * ms;
        c.open();
        c.data(Direction::ClientToServer, greeting());
        c.send(Direction::ServerToClient, tcp_flag::fin | tcp_flag::ack);
        c.send(Direction::ClientToServer, tcp_flag::fin | tcp_flag::ack);
        const auto p = c.all();
        packets.insert(packets.end(), p.begin(), p.end());
    }
    const Report r = analyze(packets);
    REQUIRE(r.connections.size() == 4);
    REQUIRE(r.storms.size() == 1);
    CHECK(r.storms[0].attempts == 4);
    CHECK(r.storms[0].cause == "closed during the greeting");
    CHECK(r.storms[0].mean_interval_ms == Approx(300.0).epsilon(0.01));
}

TEST_CASE("request/reply latency per connection and overall", "[replay][analyzer]") {
    Conversation c;
    c.open();
    c.handshake("REQ", "REP");
    for (int i = 1; i <= 4; ++i) {
        c.data(Direction::ClientToServer, req_message("q"));
        c.wait(Timestamp(i) * 10 * ms);
        c.data(Direction::ServerToClient, req_message("a"));
    }
    const Report r = analyze(c.all());
    REQUIRE(r.latency_ms);
    CHECK(r.latency_ms->count == 4);
    CHECK(r.latency_ms->min == Approx(10.001).epsilon(0.001));
    CHECK(r.latency_ms->max == Approx(40.001).epsilon(0.001));
    CHECK(r.latency_by_pair_ms.at("REQ-REP").count == 4);
    CHECK(r.connections[0].unanswered_requests == 0);
}

namespace {

// Feeds the analyzer libzmtp's events for one connection directly, without bytes: for the
// cases that need a capture the tracker cannot build (gaps at chosen points, boxes no key
// opens). Times are nanoseconds from the connection's start.
struct Synthetic {
    replay::Analyzer analyzer;
    zmtp::tracker::Connection c;
    std::vector<replay::MessageRecord> rows;
    std::vector<std::vector<uint8_t>> boxes;  // backing bytes of the MESSAGE boxes
    std::array<uint64_t, 2> offset{0, 0};
    std::array<uint64_t, 2> seq{0, 0};

    explicit Synthetic(replay::AnalyzerOptions options = {})
        : analyzer([&] {
              options.on_message = [this](const replay::MessageRecord& m) { rows.push_back(m); };
              return options;
          }()) {
        c.id = 7;
        c.first_time = c.last_time = ns_per_s;
        analyzer.on_connection_start(c);
    }
    Timestamp at(Timestamp t) {
        c.last_time = std::max(c.last_time, ns_per_s + t);
        return ns_per_s + t;
    }
    // A whole message (loss None), a request when awaits, a reply when answers is set.
    void message(Direction dir, Timestamp t, bool awaits, std::optional<uint64_t> answers = {},
                 zmtp::MessageLoss loss = zmtp::MessageLoss::None) {
        zmtp::MessageEvent m;
        m.frames = 2;
        m.body_bytes = 10;
        m.loss = loss;
        if (loss == zmtp::MessageLoss::None) {
            m.message_seq = seq[size_t(dir)]++;
            m.awaits_reply = awaits;
            m.answers_seq = answers;
            if (answers) m.answers_offset = 0;
        }
        send(dir, 12, t, m);
    }
    // The GapEvent of lost bytes of `dir`, with the requests libzmtp dropped.
    void gap(Direction dir, Timestamp t, uint64_t lost, uint64_t requests_dropped,
             bool before_start = false) {
        zmtp::GapEvent g;
        g.lost_known = !before_start;
        g.before_start = before_start;
        g.requests_dropped = requests_dropped;
        send(dir, before_start ? 0 : lost, t, g);
        offset[size_t(dir)] += lost;
    }
    void resync(Direction dir, Timestamp t, uint64_t skipped, std::optional<uint64_t> lost) {
        zmtp::ResyncEvent r;
        r.evidence = zmtp::ResyncEvidence::CurveSignature;
        r.skipped_bytes = skipped;
        r.frames_lost = lost;
        offset[size_t(dir)] += skipped;
        send(dir, 0, t, r);
    }
    // A CURVE MESSAGE box no key opened, with a body of `body` bytes (docs/protocol.md 4.6).
    void box(Direction dir, Timestamp t, size_t body) {
        boxes.emplace_back(body - 16, uint8_t(0xAB));
        zmtp::CommandEvent command;
        command.command.kind = zmtp::CommandKind::Message;
        command.command.box = zmtp::Bytes(boxes.back().data(), boxes.back().size());
        command.command.short_nonce = offset[size_t(dir)] + 2;
        send(dir, body + 2, t, command);
    }
    void decoded_ping(Direction dir, Timestamp t) {
        zmtp::CommandEvent command;
        command.command.kind = zmtp::CommandKind::Ping;
        command.command.ping_ttl_ds = 30;
        command.decrypted = true;
        send(dir, 42, t, command);
    }
    void decoded_pong(Direction dir, Timestamp t, uint64_t ping_offset) {
        zmtp::CommandEvent command;
        command.command.kind = zmtp::CommandKind::Pong;
        command.decrypted = true;
        command.answers_offset = ping_offset;
        send(dir, 40, t, command);
    }
    template <class What>
    void send(Direction dir, uint64_t size, Timestamp t, What what) {
        const zmtp::SessionEvent e{dir, offset[size_t(dir)], size, std::move(what)};
        offset[size_t(dir)] += std::holds_alternative<zmtp::GapEvent>(e.what) ? 0 : size;
        analyzer.on_session_event(c, e, at(t));
    }
    void close(Direction by, Timestamp t) {
        c.closed_by = by;
        c.end = ConnectionEnd::Fin;
        zmtp::tracker::TcpEvent fin;
        fin.kind = zmtp::tracker::TcpEventKind::Fin;
        fin.dir = by;
        fin.time = at(t);
        analyzer.on_tcp_event(c, fin);
    }
    Report finish() {
        analyzer.on_connection_end(c);
        Report base;
        base.first_packet = ns_per_s;
        base.last_packet = c.last_time;
        return analyzer.finish(std::move(base));
    }
};

nlohmann::json json_of(const Report& r) {
    std::ostringstream out;
    replay::write_json(r, out);
    return nlohmann::json::parse(out.str());
}

std::string text_of(const Report& r) {
    std::ostringstream out;
    replay::write_text(r, out);
    return out.str();
}

constexpr Direction c2s = Direction::ClientToServer, s2c = Direction::ServerToClient;

}  // namespace

TEST_CASE("requests pending at a gap are never unanswered and pair with nothing",
          "[replay][analyzer][recovery]") {
    for (const bool with_gap : {false, true}) {
        Synthetic s;
        s.message(c2s, 10 * ms, true);  // request 0, answered
        s.message(s2c, 11 * ms, false, 0);
        s.message(c2s, 20 * ms, true);  // requests 1 and 2: their replies are lost (or late)
        s.message(c2s, 21 * ms, true);
        if (with_gap) s.gap(s2c, 30 * ms, 158, 2);
        // A reply naming a request from before the gap is not timed (libzmtp does not send
        // one; the analyzer must not pair it either).
        s.message(s2c, 40 * ms, false, with_gap ? std::optional<uint64_t>(1) : std::nullopt);
        s.message(c2s, 50 * ms, true);  // request 3, answered after the gap
        s.message(s2c, 55 * ms, false, 3);
        const Report r = s.finish();
        const auto& conn = r.connections.at(0);
        REQUIRE(conn.latency_ms);
        if (with_gap) {
            CHECK(conn.latency_ms->count == 2);
            CHECK(conn.latency_ms->max == Approx(5.0));
            CHECK(conn.unanswered_requests == 0);
            CHECK(conn.requests_dropped == 2);
            CHECK(conn.dirs[1].recovery.gaps == 1);
            CHECK(conn.dirs[1].recovery.lost_bytes == 158);
            CHECK(conn.dirs[1].recovery.messages_after_gap == 2);
            CHECK(conn.dirs[0].recovery.messages_after_gap == 0);
            REQUIRE(conn.recovery_events.size() == 1);
            CHECK(conn.recovery_events[0].requests_dropped == 2);
            CHECK(conn.recovery_events[0].lost_bytes == 158u);
            CHECK(text_of(r).find("never answered") == std::string::npos);
        } else {
            CHECK(conn.latency_ms->count == 2);
            CHECK(conn.unanswered_requests == 2);  // without the gap they are unanswered
            CHECK(conn.requests_dropped == 0);
            CHECK(text_of(r).find("2 request(s) never answered") != std::string::npos);
        }
    }
}

TEST_CASE("messages the capture lacks part of are reported, never counted",
          "[replay][analyzer][recovery]") {
    Synthetic s;
    s.message(c2s, 10 * ms, false);
    s.gap(c2s, 20 * ms, 100, 0);
    s.message(c2s, 20 * ms, false, {}, zmtp::MessageLoss::EndLost);  // cut by the gap
    s.resync(c2s, 30 * ms, 7, std::nullopt);
    s.message(c2s, 30 * ms, true, {}, zmtp::MessageLoss::StartLost);  // its start was lost
    s.message(c2s, 40 * ms, false);
    s.message(c2s, 50 * ms, false);
    const Report r = s.finish();
    const auto& d = r.connections.at(0).dirs[0];
    CHECK(d.messages == 3);
    CHECK(d.frames == 6);
    CHECK(d.bytes == 30);
    CHECK(d.recovery.messages_start_lost == 1);
    CHECK(d.recovery.messages_end_lost == 1);
    CHECK(d.recovery.cut_frames == 4);
    CHECK(d.recovery.messages_after_gap == 2);
    CHECK(d.recovery.resyncs == 1);
    CHECK(d.recovery.skipped_bytes == 7);
    CHECK_FALSE(d.recovery.resyncing_at_end);
    // A cut message is no request, even when marked as one: nothing waits for its reply.
    CHECK(r.connections[0].unanswered_requests == 0);
    // The CSV rows name the cut messages.
    REQUIRE(s.rows.size() == 5);
    CHECK(s.rows[1].loss == zmtp::MessageLoss::EndLost);
    CHECK(s.rows[2].loss == zmtp::MessageLoss::StartLost);
    CHECK(s.rows[3].loss == zmtp::MessageLoss::None);
    CHECK_FALSE(s.rows[0].after_gap);
    CHECK(s.rows[3].after_gap);
    std::ostringstream csv;
    replay::write_csv_row(s.rows[2], csv);
    CHECK(csv.str().ends_with(",start-lost,yes\n"));
}

TEST_CASE("a PING pending at a gap is not missed, a silence across a gap is none",
          "[replay][analyzer][recovery]") {
    for (const bool with_gap : {false, true}) {
        Synthetic s;
        s.decoded_ping(c2s, 0);  // TTL 3 s
        const uint64_t first_ping = 0;
        s.decoded_pong(s2c, 1 * ms, first_ping);
        s.decoded_ping(c2s, 1000 * ms);
        // The server's PONG is in bytes the capture lost (or, without the gap, never sent).
        if (with_gap) s.gap(s2c, 1001 * ms, 40, 0);
        s.decoded_ping(s2c, 5000 * ms);  // 5 s after the server's last unit
        const Report r = s.finish();
        const auto& conn = r.connections.at(0);
        const auto& hb = conn.dirs[0].heartbeat;
        CHECK(hb.pings == 2);
        CHECK(hb.pongs == 1);
        if (with_gap) {
            CHECK(hb.missed == 0);
            CHECK(hb.answer_unknown == 1);
            CHECK(conn.dirs[1].longest_silence_s == 0);
        } else {
            CHECK(hb.missed == 1);
            CHECK(hb.answer_unknown == 0);
            CHECK(conn.dirs[1].longest_silence_s == Approx(4.999));
        }
    }
}

TEST_CASE("CURVE heartbeats without a key are inferred from box sizes, period and answers",
          "[replay][analyzer][recovery]") {
    // The client's 40-byte boxes every second, each answered by a 38-byte box; its PINGs stop
    // at 5 s and the server closes 3 s later (docs/protocol.md 9).
    auto conversation = [](Synthetic& s, bool answered, bool steady) {
        for (int i = 0; i < 6; ++i) {
            const Timestamp t = Timestamp(i) * 1000 * ms + (steady || i % 2 == 0 ? 0 : 600 * ms);
            s.box(c2s, t, 40);
            if (answered) s.box(s2c, t + 1 * ms, 38);
            s.box(c2s, t + 100 * ms, 81);  // other traffic
            s.box(s2c, t + 101 * ms, 60);
        }
        s.close(s2c, 8000 * ms);
    };
    SECTION("steady and answered: inferred, and the end with it") {
        Synthetic s;
        conversation(s, true, true);
        const Report r = s.finish();
        const auto& conn = r.connections.at(0);
        const auto& d = conn.dirs[0];
        REQUIRE(d.inferred_heartbeat);
        CHECK(d.inferred_heartbeat->pings == 6);
        CHECK(d.inferred_heartbeat->pongs == 6);
        CHECK(d.inferred_heartbeat->unanswered == 0);
        REQUIRE(d.inferred_heartbeat->interval_ms);
        CHECK(d.inferred_heartbeat->interval_ms->p50 == Approx(1000.0));
        REQUIRE(d.inferred_heartbeat->pong_rtt_ms);
        CHECK(d.inferred_heartbeat->pong_rtt_ms->p50 == Approx(1.0));
        CHECK_FALSE(conn.dirs[1].inferred_heartbeat);  // the server sends no 40-byte boxes
        // Never mixed with decoded heartbeats.
        CHECK(d.heartbeat.pings == 0);
        CHECK(conn.dirs[1].heartbeat.pongs == 0);
        CHECK(d.boxes.count == 12);
        CHECK(d.boxes.sizes.at(40) == 6);
        CHECK(d.boxes.min_size == 40);
        CHECK(d.boxes.max_size == 81);
        CHECK(d.boxes_not_opened == 12);
        // The end: the server closed 3 s after the client's last PING (inferred); `end` keeps
        // what TCP showed.
        CHECK(conn.end == "fin");
        CHECK(conn.inferred_end == "heartbeat-timeout");
        CHECK(conn.inferred_pings_stopped == ns_per_s + 5000 * ms);
        const std::string text = text_of(r);
        CHECK(text.find("heartbeat (inferred from box sizes): 6 PING(s) every 1000.0 ms") !=
              std::string::npos);
        CHECK(text.find("client PINGs (inferred) every 1.0 s stopped at +5.000000 s; the "
                        "server closed 3.0 s later") != std::string::npos);
        const auto j = json_of(r)["connections"][0];
        CHECK(j["client_to_server"]["inferred_heartbeat"]["pings"] == 6);
        CHECK(j["client_to_server"]["heartbeat"]["pings"] == 0);
        CHECK(j["server_to_client"]["inferred_heartbeat"].is_null());
        CHECK(j["client_to_server"]["boxes"]["sizes"]["40"] == 6);
        CHECK(j["end"]["kind"] == "fin");
        CHECK(j["end"]["inferred"]["cause"] == "heartbeat-timeout");
        CHECK(j["end"]["inferred"]["pings_stopped"] == Approx(6.0));
        CHECK(j["end"]["inferred"]["silent_since"] == Approx(6.1));  // its last box, at 5.1 s
    }
    SECTION("without answers of the matching size: nothing inferred") {
        Synthetic s;
        conversation(s, false, true);
        const Report r = s.finish();
        CHECK_FALSE(r.connections.at(0).dirs[0].inferred_heartbeat);
        CHECK(r.connections[0].inferred_end.empty());
        CHECK(r.connections[0].dirs[0].boxes.sizes.at(40) == 6);
    }
    SECTION("at irregular times: nothing inferred") {
        Synthetic s;
        conversation(s, true, false);
        const Report r = s.finish();
        CHECK_FALSE(r.connections.at(0).dirs[0].inferred_heartbeat);
        CHECK(r.connections[0].inferred_end.empty());
    }
}

TEST_CASE("an inferred PING whose answer may be in lost bytes is not unanswered",
          "[replay][analyzer][recovery]") {
    Synthetic s;
    for (int i = 0; i < 8; ++i) {
        const Timestamp t = Timestamp(i) * 500 * ms;
        s.box(c2s, t, 40);
        if (i == 4) {
            s.gap(s2c, t + 1 * ms, 40, 0);  // the server's answer to the fifth PING was lost
            s.resync(s2c, t + 200 * ms, 0, 1);
            s.box(s2c, t + 200 * ms, 60);
        } else {
            s.box(s2c, t + 1 * ms, 38);
        }
    }
    const Report r = s.finish();
    const auto& hb = r.connections.at(0).dirs[0].inferred_heartbeat;
    REQUIRE(hb);
    CHECK(hb->pings == 8);
    CHECK(hb->pongs == 7);
    CHECK(hb->unanswered == 0);
    CHECK(hb->answer_unknown == 1);
    CHECK(r.connections[0].dirs[1].recovery.frames_lost == 1);
}

TEST_CASE("a capture started mid-connection is reported as such, in every output",
          "[replay][analyzer][recovery]") {
    Synthetic s;
    s.gap(c2s, 0, 0, 0, true);
    s.resync(c2s, 0, 12, std::nullopt);
    s.gap(s2c, 1 * ms, 0, 0, true);
    s.resync(s2c, 1 * ms, 0, std::nullopt);
    s.message(c2s, 10 * ms, true, {}, zmtp::MessageLoss::StartLost);
    s.message(s2c, 11 * ms, false);
    s.message(c2s, 20 * ms, true);
    s.message(s2c, 21 * ms, false, 0);
    const Report r = s.finish();
    const auto& conn = r.connections.at(0);
    CHECK(conn.started_mid_connection);
    CHECK(conn.dirs[0].recovery.started_mid_stream);
    CHECK(conn.dirs[0].recovery.gaps_of_unknown_size == 0);  // a late start is no sized gap
    CHECK(conn.dirs[0].recovery.resync_evidence.at("CURVE MESSAGE signature") == 1);
    CHECK(conn.unanswered_requests == 0);
    REQUIRE(conn.latency_ms);
    CHECK(conn.latency_ms->count == 1);

    const auto j = json_of(r);
    CHECK(j["schema"] == "zmtp-replay/1");
    const auto& c = j["connections"][0];
    CHECK(c["recovery"]["started_mid_connection"] == true);
    CHECK(c["recovery"]["requests_dropped"] == 0);
    CHECK(c["recovery"]["pairing_stopped"] == false);
    REQUIRE(c["recovery"]["events"].size() == 4);
    CHECK(c["recovery"]["events"][0]["kind"] == "gap");
    CHECK(c["recovery"]["events"][0]["before_start"] == true);
    CHECK(c["recovery"]["events"][0]["lost_bytes"].is_null());
    CHECK(c["recovery"]["events"][1]["kind"] == "resync");
    CHECK(c["recovery"]["events"][1]["skipped_bytes"] == 12);
    CHECK(c["recovery"]["events"][1]["evidence"] == "CURVE MESSAGE signature");
    const auto& rec = c["client_to_server"]["recovery"];
    CHECK(rec["started_mid_stream"] == true);
    CHECK(rec["resyncs"] == 1);
    CHECK(rec["skipped_bytes"] == 12);
    CHECK(rec["messages_cut"]["start_lost"] == 1);
    CHECK(rec["messages_after_gap"] == 1);
    CHECK(c["client_to_server"]["messages"] == 1);
    CHECK(c["socket_types_inferred"] == false);
    CHECK(c["mechanism_inferred"].is_null());
    CHECK(c["unanswered_requests"] == 0);
    // The fields of the schema before recovery are all still there.
    for (const char* key : {"id",
                            "client",
                            "server",
                            "socket_types",
                            "mechanism",
                            "version",
                            "start",
                            "last",
                            "duration_s",
                            "tcp",
                            "handshake",
                            "decryption",
                            "client_to_server",
                            "server_to_client",
                            "latency_ms",
                            "unanswered_requests",
                            "silences",
                            "end",
                            "notices",
                            "notices_dropped"})
        CHECK(c.contains(key));

    const std::string text = text_of(r);
    CHECK(text.find("capture started mid-connection") != std::string::npos);
    CHECK(text.find("1 message(s) cut (1 start lost, 0 end lost; not counted)") !=
          std::string::npos);
    std::ostringstream html;
    replay::write_html(r, html);
    CHECK(html.str().find("Lost bytes and recovery") != std::string::npos);
    CHECK(html.str().find("started mid-connection") != std::string::npos);
}

TEST_CASE("a reply cut at its start may answer a waiting request: later pairs are not trusted",
          "[replay][analyzer][recovery]") {
    // REQ/REP whose server direction starts late (docs/protocol.md 9): the first reply seen is
    // cut at its start. libzmtp does not pair it, so it pairs each later reply with the
    // request before its own, and the last request would wait for ever.
    for (const bool cut : {false, true}) {
        Synthetic s;
        s.gap(s2c, 0, 0, 0, true);
        s.resync(s2c, 1 * ms, 10, std::nullopt);
        s.message(c2s, 10 * ms, true);  // request 0
        if (cut) {
            s.message(s2c, 11 * ms, false, {}, zmtp::MessageLoss::StartLost);  // its reply
        } else {
            s.message(s2c, 11 * ms, false, 0);
        }
        for (uint64_t i = 1; i <= 3; ++i) {
            s.message(c2s, Timestamp(10 + 10 * i) * ms, true);
            // libzmtp's pairing by order: off by one after the cut reply.
            s.message(s2c, Timestamp(11 + 10 * i) * ms, false, cut ? i - 1 : i);
        }
        const Report r = s.finish();
        const auto& conn = r.connections.at(0);
        if (cut) {
            CHECK_FALSE(conn.latency_ms);
            CHECK(conn.unanswered_requests == 0);
            CHECK(conn.requests_dropped == 1);
            CHECK(conn.pairing_stopped);
            CHECK_FALSE(conn.pairing_stopped_reason.empty());
        } else {
            REQUIRE(conn.latency_ms);
            CHECK(conn.latency_ms->count == 4);
            CHECK(conn.unanswered_requests == 0);
            CHECK_FALSE(conn.pairing_stopped);
        }
    }
}

TEST_CASE("a PING seen while the other side loses bytes: its PONG pairs only if it came first",
          "[replay][analyzer][recovery]") {
    for (const bool pong_lost : {false, true}) {
        Synthetic s;
        s.decoded_ping(c2s, 0);
        s.decoded_pong(s2c, 1 * ms, 0);
        s.gap(s2c, 500 * ms, 40, 0);  // the server's bytes from here on are being lost
        const uint64_t ping1 = s.offset[0];
        s.decoded_ping(c2s, 1000 * ms);  // while the server side is blind
        if (pong_lost) {
            // Its PONG was in the lost bytes; libzmtp pairs the next PONG with it anyway.
            s.decoded_ping(c2s, 2000 * ms);
            s.decoded_pong(s2c, 2001 * ms, ping1);
        } else {
            s.decoded_pong(s2c, 1001 * ms, ping1);  // the first unit after the gap answers it
        }
        const Report r = s.finish();
        const auto& hb = r.connections.at(0).dirs[0].heartbeat;
        REQUIRE(hb.pong_rtt_ms);
        if (pong_lost) {
            CHECK(hb.pong_rtt_ms->count == 1);  // only the PONG from before the gap
            CHECK(hb.missed == 0);
            CHECK(hb.answer_unknown == 1);  // the PING at 2 s: its PONG was taken
            CHECK(hb.late == 0);
        } else {
            CHECK(hb.pong_rtt_ms->count == 2);
            CHECK(hb.pong_rtt_ms->max == Approx(1.0));
            CHECK(hb.missed == 0);
            CHECK(hb.answer_unknown == 0);
        }
    }
}
