// zmtp-replay's analysis on hand-built NULL conversations: handshake failures, heartbeat
// timeouts, silences, periodic messages, keep-alives and reconnect storms.
#include <catch2/catch.hpp>

#include "analyzer.hpp"
#include "conversation.hpp"

using namespace zmtp::capture;
using namespace zmtp::capture::testing;
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
