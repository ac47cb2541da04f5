// ConnectionTracker with libzmtp sessions, on hand-built ZMTP 3.1 NULL conversations.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "capture/connection_tracker.hpp"
#include "conversation.hpp"

using namespace zmtp::capture;
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

    void on_connection_start(const Connection& c) override { started.push_back(c.id); }
    void on_tcp_event(const Connection&, const TcpEvent& e) override { tcp.push_back(e); }
    void on_session_event(const Connection&, const zmtp::SessionEvent& e, Timestamp t) override {
        if (const auto* m = std::get_if<zmtp::MessageEvent>(&e.what)) {
            messages.emplace_back(*m, t);
            message_dirs.push_back(e.dir);
        }
    }
    void on_connection_end(const Connection& c) override {
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
};

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
    SECTION("from the middle of the stream: a gap, nothing decoded") {
        Recorder r;
        run({packets.begin() + long(messages_start), packets.end()}, r);
        CHECK(r.count(TcpEventKind::Gap) == 2);
        CHECK(r.messages.empty());
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
