// ConnectionTracker with libzmtp sessions, on hand-built ZMTP 3.1 NULL conversations.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "conversation.hpp"
#include "tracker/connection_tracker.hpp"

using namespace zmtp::tracker;
using zmtp::Direction;

namespace {

using testing::bytes;
using testing::Conversation;
using testing::req_message;

struct Recorder : ConnectionObserver {
    struct Ended {
        uint64_t id;
        ConnectionEnd end;
        std::optional<Direction> closed_by;
        bool saw_syn;
        std::array<std::string, 2> socket_types;
    };
    std::vector<uint64_t> started;
    std::vector<TcpEvent> tcp;
    std::vector<std::pair<zmtp::MessageEvent, Timestamp>> messages;
    std::vector<Direction> message_dirs;
    std::vector<Ended> ended;
    // What the tracker handed the sessions, in order, and where the connections ended in it.
    struct Input {
        uint64_t connection;
        SessionInput input;
        bool end = false;  // on_connection_end, not an input
    };
    std::vector<Input> log;
    std::vector<Connection> ended_connections;

    void on_connection_start(const Connection& c) override { started.push_back(c.id); }
    void on_tcp_event(const Connection&, const TcpEvent& e) override { tcp.push_back(e); }
    // Session GapEvents and ResyncEvents: direction, offset, size, time.
    struct Mark {
        Direction dir;
        uint64_t offset, size;
        Timestamp time;
    };
    std::vector<Mark> session_gaps, resyncs;

    void on_session_event(const Connection&, const zmtp::SessionEvent& e, Timestamp t) override {
        if (std::holds_alternative<zmtp::GapEvent>(e.what))
            session_gaps.push_back({e.dir, e.offset, e.size, t});
        if (std::holds_alternative<zmtp::ResyncEvent>(e.what))
            resyncs.push_back({e.dir, e.offset, e.size, t});
        if (const auto* m = std::get_if<zmtp::MessageEvent>(&e.what)) {
            messages.emplace_back(*m, t);
            message_dirs.push_back(e.dir);
        }
    }
    void on_session_input(const Connection& c, const SessionInput& input) override {
        log.push_back({c.id, input, false});
    }
    void on_connection_end(const Connection& c) override {
        log.push_back({c.id, {}, true});
        ended_connections.push_back(c);
        Ended e{c.id, c.end, c.closed_by, c.saw_syn, {}};
        for (size_t i = 0; i < 2; ++i)
            e.socket_types[i] =
                std::string(zmtp::socket_type_name(c.session->info().socket_types[i]));
        ended.push_back(e);
    }
    size_t count(TcpEventKind k) const {
        return size_t(
            std::count_if(tcp.begin(), tcp.end(), [&](const TcpEvent& e) { return e.kind == k; }));
    }
    std::vector<TcpEvent> gaps() const {
        std::vector<TcpEvent> out;
        for (const TcpEvent& e : tcp)
            if (e.kind == TcpEventKind::Gap) out.push_back(e);
        return out;
    }
    // The inputs of one connection and direction.
    std::vector<SessionInput> inputs(uint64_t connection, Direction dir) const {
        std::vector<SessionInput> out;
        for (const Input& i : log)
            if (!i.end && i.connection == connection && i.input.dir == dir) out.push_back(i.input);
        return out;
    }
    // Messages the session counted (the capture holds all of them).
    size_t whole_messages() const {
        return size_t(std::count_if(messages.begin(), messages.end(), [](const auto& m) {
            return m.first.loss == zmtp::MessageLoss::None;
        }));
    }
};

using Kind = SessionInput::Kind;

// "K offset size" for each input, to compare sequences in one CHECK.
std::string describe(const std::vector<SessionInput>& inputs) {
    std::string out;
    for (const SessionInput& i : inputs) {
        if (!out.empty()) out += ", ";
        switch (i.kind) {
            case Kind::Bytes:
                out += "bytes " + std::to_string(i.offset) + "+" + std::to_string(i.size) +
                       (i.segment_end ? "" : " (cut)");
                break;
            case Kind::Gap:
                out += "gap " + std::to_string(i.offset) + "+" + std::to_string(i.size);
                break;
            case Kind::StartMidStream:
                out += "mid-stream " + std::to_string(i.offset);
                break;
            case Kind::Finish:
                out += "finish " + std::to_string(i.offset);
                break;
        }
    }
    return out;
}

void run(const std::vector<Packet>& packets, Recorder& recorder, TrackerOptions options = {}) {
    ConnectionTracker tracker(options, recorder);
    for (const Packet& p : packets) tracker.add_packet(p);
    tracker.finish();
}

}  // namespace

TEST_CASE("a NULL REQ/REP connection from SYN to FIN", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.request_reply("hello", "world");
    c.close();
    Recorder r;
    const auto packets = c.all();
    run(packets, r);
    REQUIRE(r.ended.size() == 1);
    CHECK(r.ended[0].end == ConnectionEnd::Fin);
    CHECK(r.ended[0].closed_by == Direction::ClientToServer);
    CHECK(r.ended[0].socket_types == std::array<std::string, 2>{"REQ", "REP"});
    CHECK(r.count(TcpEventKind::Syn) == 1);
    CHECK(r.count(TcpEventKind::SynAck) == 1);
    CHECK(r.count(TcpEventKind::Established) == 1);
    CHECK(r.count(TcpEventKind::Gap) == 0);
    REQUIRE(r.messages.size() == 2);
    CHECK(r.message_dirs[0] == Direction::ClientToServer);
    CHECK(r.messages[1].first.answers_seq == 0u);
    // A message's time is that of the packet that completed it.
    CHECK(r.messages[0].second == packets[7].time);
    CHECK(r.messages[1].second == packets[8].time);
}

TEST_CASE("a message split over two packets gets the second packet's time", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    auto request = req_message("hello world");
    c.data(Direction::ClientToServer, {request.begin(), request.begin() + 6});
    c.data(Direction::ClientToServer, {request.begin() + 6, request.end()});
    Recorder r;
    const auto packets = c.all();
    run(packets, r);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].second == packets.back().time);
    CHECK(r.messages[0].first.body_bytes == 11);
}

TEST_CASE("a new SYN on the same ports is a new connection", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.request_reply("one", "1");
    c.close();
    c.next[0] += 100000;  // the new connection's own ISN
    c.open();
    c.handshake();
    c.request_reply("two", "2");
    c.close();
    Recorder r;
    run(c.all(), r);
    CHECK(r.started == std::vector<uint64_t>{1, 2});
    REQUIRE(r.ended.size() == 2);
    CHECK(r.ended[1].end == ConnectionEnd::Fin);
    CHECK(r.messages.size() == 4);
}

TEST_CASE("a reset ends the connection and names who sent it", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.send(Direction::ServerToClient, tcp_flag::rst | tcp_flag::ack);
    Recorder r;
    run(c.all(), r);
    REQUIRE(r.ended.size() == 1);
    CHECK(r.ended[0].end == ConnectionEnd::Rst);
    CHECK(r.ended[0].closed_by == Direction::ServerToClient);
}

TEST_CASE("TCP keep-alive probes are reported", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    for (int i = 0; i < 3; ++i) {
        c.next[0] -= 1;  // a probe repeats the last sequence number
        c.send(Direction::ClientToServer, tcp_flag::ack);
        c.next[0] += 1;
        c.send(Direction::ServerToClient, tcp_flag::ack);
    }
    Recorder r;
    run(c.all(), r);
    CHECK(r.count(TcpEventKind::KeepAlive) == 3);
    CHECK(r.ended[0].end == ConnectionEnd::Open);
}

TEST_CASE("a capture that starts after the SYN", "[capture][tracker]") {
    Conversation c;
    c.open();
    const size_t handshake_start = c.packets.size();
    c.handshake();
    const size_t messages_start = c.packets.size();
    c.request_reply("hello", "world");
    const auto packets = c.all();

    SECTION("from the greetings: decoded, reported as already open") {
        Recorder r;
        run({packets.begin() + long(handshake_start), packets.end()}, r);
        CHECK(r.count(TcpEventKind::MidStream) == 2);
        CHECK(r.count(TcpEventKind::Gap) == 0);
        REQUIRE(r.ended.size() == 1);
        CHECK_FALSE(r.ended[0].saw_syn);
        CHECK(r.messages.size() == 2);
    }
    SECTION("from the middle of the stream: each direction starts mid-stream and is fed") {
        Recorder r;
        run({packets.begin() + long(messages_start), packets.end()}, r);
        REQUIRE(r.started.size() == 1);
        // Both directions: start_mid_stream before the first byte, then every byte from
        // stream offset 0 (the first byte the capture has), then finish.
        const uint64_t id = r.started[0];
        const size_t size = req_message("hello").size();
        CHECK(describe(r.inputs(id, Direction::ClientToServer)) ==
              "mid-stream 0, bytes 0+" + std::to_string(size) + ", finish " + std::to_string(size));
        CHECK(describe(r.inputs(id, Direction::ServerToClient)) ==
              "mid-stream 0, bytes 0+" + std::to_string(size) + ", finish " + std::to_string(size));
        // Reported as gaps of unknown size, with their cause.
        const auto gaps = r.gaps();
        REQUIRE(gaps.size() == 2);
        for (const TcpEvent& g : gaps) {
            CHECK(g.cause == GapCause::StartedLate);
            CHECK_FALSE(g.lost_bytes);
            CHECK(g.offset == 0);
        }
        REQUIRE(r.ended_connections.size() == 1);
        CHECK(r.ended_connections[0].dirs[0].started_mid_stream);
        CHECK(r.ended_connections[0].dirs[1].started_mid_stream);
        // Whatever libzmtp recovers, the first message of a direction joined late is never a
        // whole one (its start may be in the bytes before the capture).
        CHECK(r.whole_messages() == 0);
    }
}

TEST_CASE("detection follows a ZMTP greeting on any port and nothing else", "[capture][tracker]") {
    Conversation zmtp_conv;
    zmtp_conv.server_port = 5555;
    zmtp_conv.open();
    zmtp_conv.handshake();
    zmtp_conv.request_reply("hello", "world");
    Conversation http;
    http.client_port = 40001;
    http.server_port = 8080;
    http.open();
    http.data(Direction::ClientToServer, bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    http.data(Direction::ServerToClient, bytes("HTTP/1.1 200 OK\r\n\r\n"));
    auto packets = zmtp_conv.all();
    const auto other = http.all();
    packets.insert(packets.end(), other.begin(), other.end());

    TrackerOptions options;
    SECTION("with --detect") {
        options.detect = true;
        Recorder r;
        run(packets, r, options);
        CHECK(r.started.size() == 1);
        CHECK(r.messages.size() == 2);
    }
    SECTION("without: only the ZMTP ports") {
        Recorder r;
        run(packets, r, options);
        CHECK(r.started.empty());
    }
}

TEST_CASE("a reply captured before its request is decoded after it", "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.request_reply("hello", "world");
    auto packets = c.all();
    // Swap the request and the reply packets (the reply's ACK covers the request), keeping
    // the times in file order.
    const size_t request = packets.size() - 2;
    std::swap(packets[request].data, packets[request + 1].data);
    Recorder r;
    run(packets, r);
    REQUIRE(r.messages.size() == 2);
    CHECK(r.message_dirs[0] == Direction::ClientToServer);
    CHECK(r.message_dirs[1] == Direction::ServerToClient);
    CHECK(r.messages[1].first.answers_seq == 0u);
}

namespace {

// A REQ/REP conversation whose second request ("two") the capture lost: the reply to it
// acknowledges the lost bytes; 3 s later the client sends again (the reorder window is 2 s).
struct LostRequest {
    Conversation c;
    std::vector<Packet> packets;
    size_t dropped = 0;     // index of the lost packet in the full conversation
    size_t acked_past = 0;  // index (after the drop) of the reply that acknowledged past it
    uint64_t lost_offset = 0, lost_size = 0;

    // pause: before "four" (0: the hole is given up only when the capture ends).
    explicit LostRequest(Timestamp pause = 3 * ns_per_s) {
        c.open();
        c.handshake();
        c.request_reply("one", "1");
        dropped = c.packets.size();
        c.request_reply("two", "2");
        c.request_reply("three", "3");
        c.wait(pause);
        c.request_reply("four", "4");
        c.close();
        packets = c.all();
        lost_offset = 64 + testing::ready("REQ").size() + req_message("one").size();
        lost_size = req_message("two").size();
        packets.erase(packets.begin() + long(dropped));
        acked_past = dropped;
    }
};

}  // namespace

TEST_CASE("a lost segment is a gap of its exact size and the bytes after it are fed",
          "[capture][tracker]") {
    LostRequest lost;
    Recorder r;
    run(lost.packets, r);
    REQUIRE(r.started.size() == 1);
    const uint64_t id = r.started[0];
    const uint64_t at = lost.lost_offset;
    const uint64_t after = at + lost.lost_size;
    const std::string three = std::to_string(req_message("three").size());
    const uint64_t four_at = after + req_message("three").size();
    const uint64_t end = four_at + req_message("four").size();
    // Every later byte at its TCP stream offset: the gap counts the lost bytes.
    CHECK(describe(r.inputs(id, Direction::ClientToServer)) ==
          "bytes 0+64, bytes 64+" + std::to_string(testing::ready("REQ").size()) + ", bytes " +
              std::to_string(at - req_message("one").size()) + "+" +
              std::to_string(req_message("one").size()) + ", gap " + std::to_string(at) + "+" +
              std::to_string(lost.lost_size) + ", bytes " + std::to_string(after) + "+" + three +
              ", bytes " + std::to_string(four_at) + "+" +
              std::to_string(req_message("four").size()) + ", finish " + std::to_string(end));
    const auto gaps = r.gaps();
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].dir == Direction::ClientToServer);
    CHECK(gaps[0].cause == GapCause::AckedButMissing);
    CHECK(gaps[0].offset == at);
    CHECK(gaps[0].lost_bytes == lost.lost_size);
    // The loss showed when the reply acknowledged bytes the capture does not have.
    CHECK(gaps[0].time == lost.packets[lost.acked_past].time);
    CHECK(gaps[0].text.find("acknowledged") != std::string::npos);
    REQUIRE(r.ended_connections.size() == 1);
    CHECK(r.ended_connections[0].dirs[0].stream.gaps == 1);
    CHECK(r.ended_connections[0].dirs[0].stream.lost_bytes == lost.lost_size);
    // The server direction lost nothing: all of it reached the session.
    const auto server = r.inputs(id, Direction::ServerToClient);
    REQUIRE_FALSE(server.empty());
    CHECK(server.back().kind == Kind::Finish);
    CHECK(std::none_of(server.begin(), server.end(),
                       [](const SessionInput& i) { return i.kind == Kind::Gap; }));

    // libzmtp sees the gap where TCP lost the bytes, at the time the loss showed, and decodes
    // what follows at TCP offsets, each message at the time of the packet that completed it.
    REQUIRE(r.session_gaps.size() == 1);
    CHECK(r.session_gaps[0].dir == Direction::ClientToServer);
    CHECK(r.session_gaps[0].offset == at);
    CHECK(r.session_gaps[0].size == lost.lost_size);
    CHECK(r.session_gaps[0].time == gaps[0].time);
    REQUIRE_FALSE(r.resyncs.empty());
    CHECK(r.resyncs[0].offset == after);  // "three" starts a segment and fills it
    std::vector<std::pair<uint64_t, Timestamp>> client_after_gap;
    for (size_t i = 0; i < r.messages.size(); ++i)
        if (r.message_dirs[i] == Direction::ClientToServer &&
            r.messages[i].first.first_offset >= at)
            client_after_gap.emplace_back(r.messages[i].first.first_offset, r.messages[i].second);
    const auto& p = lost.packets;
    CHECK(client_after_gap ==
          std::vector<std::pair<uint64_t, Timestamp>>{{after, p[lost.acked_past + 1].time},
                                                      {four_at, p[lost.acked_past + 3].time}});
    // The first message after the gap may have lost its start; the next one is whole.
    const auto four = std::find_if(r.messages.begin(), r.messages.end(),
                                   [&](const auto& m) { return m.first.first_offset == four_at; });
    REQUIRE(four != r.messages.end());
    CHECK(four->first.loss == zmtp::MessageLoss::None);
}

TEST_CASE("bytes that wait for a peer with a gap are fed once the gap is stepped over",
          "[capture][tracker]") {
    Timestamp pause = 0;
    SECTION("the gap found by the reorder window") {
        pause = 3 * ns_per_s;
    }
    // The server's stream is complete (its FIN) while its replies still wait for the client's
    // gap: the client's bytes after the gap must not overtake them.
    SECTION("the gap found when the capture ends") {
        pause = 0;
    }
    LostRequest lost(pause);
    Recorder r;
    run(lost.packets, r);
    REQUIRE(r.started.size() == 1);
    // The reply "2" acknowledged the lost request: it waits until the client's gap reached
    // the session, then each direction follows the other in capture order, before the end.
    std::vector<std::string> order;
    for (const Recorder::Input& i : r.log) {
        if (i.end) {
            order.push_back("end");
            continue;
        }
        if (i.input.kind == Kind::Finish) continue;
        const char* who = i.input.dir == Direction::ClientToServer ? "C" : "S";
        order.push_back(std::string(who) + (i.input.kind == Kind::Gap ? " gap" : " ") +
                        (i.input.kind == Kind::Bytes ? std::to_string(i.input.size) : ""));
    }
    auto reply = [](std::string_view text) {
        return "S " + std::to_string(req_message(text).size());
    };
    auto request = [](std::string_view text) {
        return "C " + std::to_string(req_message(text).size());
    };
    // The feed order ends with "1", then the gap, "2" (held until then), "three" (it
    // acknowledged "2"), "3", "four", "4", all before the end of the connection.
    const std::vector<std::string> expected{reply("1"),       "C gap",    reply("2"),
                                            request("three"), reply("3"), request("four"),
                                            reply("4"),       "end"};
    REQUIRE(order.size() >= expected.size());
    CHECK(std::vector<std::string>(order.end() - long(expected.size()), order.end()) == expected);
}

TEST_CASE("the feed does not wait for a peer's hole beyond the reorder window",
          "[capture][tracker]") {
    LostRequest lost;
    // Only the packets up to the next request after the 3 s wait: the gap is found by then, not
    // at the end of the capture.
    std::vector<Packet> packets(lost.packets.begin(), lost.packets.end() - 4);
    Recorder r;
    TrackerOptions options;
    ConnectionTracker tracker(options, r);
    for (const Packet& p : packets) tracker.add_packet(p);
    // Before finish(): the reply to the lost request and everything after it are fed already.
    REQUIRE(r.started.size() == 1);
    const auto client = r.inputs(r.started[0], Direction::ClientToServer);
    const auto server = r.inputs(r.started[0], Direction::ServerToClient);
    REQUIRE(client.size() == 6);  // greeting, READY, "one", the gap, "three", "four"
    CHECK(client[3].kind == Kind::Gap);
    CHECK(client[5].size == req_message("four").size());
    REQUIRE(server.size() == 5);  // greeting, READY, "1", "2", "3"
    CHECK(r.ended.empty());
    tracker.finish();
    CHECK(r.ended.size() == 1);
}

TEST_CASE("a packet cut by the snapshot length is fed in part, then a gap of the rest",
          "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    const size_t request = c.packets.size();
    c.request_reply("hello world", "ok");
    c.request_reply("again", "ok");
    auto packets = c.all();
    packets[request].data = packets[request].data.first(packets[request].data.size() - 5);
    Recorder r;
    run(packets, r);
    REQUIRE(r.started.size() == 1);
    const uint64_t at = 64 + testing::ready("REQ").size();
    const uint64_t size = req_message("hello world").size();
    const auto client = r.inputs(r.started[0], Direction::ClientToServer);
    REQUIRE(client.size() == 6);
    CHECK(describe({client[2], client[3], client[4]}) ==
          "bytes " + std::to_string(at) + "+" + std::to_string(size - 5) + " (cut), gap " +
              std::to_string(at + size - 5) + "+5, bytes " + std::to_string(at + size) + "+" +
              std::to_string(req_message("again").size()));
    const auto gaps = r.gaps();
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].cause == GapCause::SnapLen);
    CHECK(gaps[0].lost_bytes == 5u);
    CHECK(gaps[0].time == packets[request].time);
}

TEST_CASE("each direction's session is finished once, before the connection's end",
          "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.request_reply("one", "1");
    std::string how;
    SECTION("FIN") {
        how = "fin";
        c.close();
    }
    SECTION("RST") {
        how = "rst";
        c.send(Direction::ServerToClient, tcp_flag::rst | tcp_flag::ack);
    }
    SECTION("end of the capture") {
        how = "open";
    }
    SECTION("a new connection on the same ports") {
        how = "replaced";
        c.next[0] += 100000;
        c.open();
    }
    Recorder r;
    run(c.all(), r);
    REQUIRE_FALSE(r.ended.empty());
    CHECK(connection_end_name(r.ended[0].end) == how);
    const uint64_t id = r.started[0];
    for (Direction dir : {Direction::ClientToServer, Direction::ServerToClient}) {
        const auto inputs = r.inputs(id, dir);
        REQUIRE_FALSE(inputs.empty());
        CHECK(std::count_if(inputs.begin(), inputs.end(),
                            [](const SessionInput& i) { return i.kind == Kind::Finish; }) == 1);
        CHECK(inputs.back().kind == Kind::Finish);
    }
    // The end is reported after both finishes.
    const auto end = std::find_if(r.log.begin(), r.log.end(), [&](const Recorder::Input& i) {
        return i.end && i.connection == id;
    });
    REQUIRE(end != r.log.end());
    CHECK(std::count_if(r.log.begin(), end, [&](const Recorder::Input& i) {
              return !i.end && i.connection == id && i.input.kind == Kind::Finish;
          }) == 2);
}

TEST_CASE("with --detect, a connection joined late on another port is not followed",
          "[capture][tracker]") {
    Conversation c;
    c.server_port = 5555;
    c.open();
    c.handshake();
    const size_t messages_start = c.packets.size();
    c.request_reply("hello", "world");
    const auto packets = c.all();
    TrackerOptions options;
    options.detect = true;
    Recorder r;
    run({packets.begin() + long(messages_start), packets.end()}, r, options);
    CHECK(r.started.empty());
    CHECK(r.log.empty());
}

TEST_CASE("a message the end of the capture cut off is reported as lost, not as whole",
          "[capture][tracker]") {
    Conversation c;
    c.open();
    c.handshake();
    c.request_reply("one", "1");
    const auto request = req_message("hello");
    c.data(Direction::ClientToServer, {request.begin(), request.begin() + 4});  // the capture ends
    Recorder r;
    run(c.all(), r);
    // Session::finish at the end of the capture: the request in progress is a message whose
    // end was lost, and it waits for no reply.
    REQUIRE(r.messages.size() == 3);
    CHECK(r.messages[2].first.loss == zmtp::MessageLoss::EndLost);
    CHECK(r.messages[2].first.first_offset == 64 + testing::ready("REQ").size() + 7);
    CHECK(r.whole_messages() == 2);
}
