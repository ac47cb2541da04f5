// ZMTP 2.0 and 1.0 peers, and libzmq's side of a downgraded connection (docs/protocol.md 1.2-1.6):
// the identity frame belongs to the greeting (RFC 13, RFC 15), never a message, never paired,
// never counted; the downgraded side is labelled as what it speaks.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "byte_builders.hpp"
#include "transcript.hpp"
#include "zmtp/session.hpp"
#include "zmtp/stream_decoder.hpp"

using namespace zmtp;
using namespace zmtp::test;

namespace {

// A 2.0 frame (flags, 1-byte size, body).
Buf v2(uint8_t flags, std::string_view body) {
    Buf f{flags, uint8_t(body.size())};
    put(f, body);
    return f;
}
// A 1.0 frame with a 1-byte length (which counts the flags byte).
Buf v1(uint8_t flags, std::string_view body) {
    Buf f{uint8_t(body.size() + 1), flags};
    put(f, body);
    return f;
}
Buf cat(std::initializer_list<Buf> parts) {
    Buf out;
    for (const Buf& p : parts) put(out, p);
    return out;
}
// libzmq's first 10 bytes: FF, the routing-id size + 1 as a u64, 7F (docs/protocol.md 1.2).
Buf libzmq_signature(std::string_view identity) {
    Buf b{0xFF};
    put_be64(b, identity.size() + 1);
    b.push_back(0x7F);
    return b;
}

struct Record {
    std::vector<std::string> lines;
    std::vector<Greeting> greetings;
    std::vector<std::pair<Direction, MessageEvent>> messages;
    std::vector<std::string> frames;  // "C>S:body" of every data frame
    std::vector<NoticeEvent> notices;

    SessionSink sink() {
        return [this](const SessionEvent& e) { add(e); };
    }
    void add(const SessionEvent& e) {
        std::ostringstream os;
        const char* d = e.dir == C2S ? "C>S" : "S>C";
        os << d << " @" << e.offset << "+" << e.size << " ";
        if (auto* g = std::get_if<GreetingEvent>(&e.what)) {
            greetings.push_back(g->greeting);
            os << "greeting " << greeting_label(g->greeting) << " identity="
               << (g->greeting.identity ? "\"" + *g->greeting.identity + "\"" : "none");
        } else if (auto* f = std::get_if<FrameEvent>(&e.what)) {
            const std::string body(as_text(f->body));
            frames.push_back(std::string(d) + ":" + body);
            os << "frame seq=" << f->message_seq << " more=" << f->header.more << " " << body;
        } else if (auto* m = std::get_if<MessageEvent>(&e.what)) {
            messages.emplace_back(e.dir, *m);
            os << "message seq=" << m->message_seq << " frames=" << m->frames
               << " answers=" << (m->answers_offset ? std::to_string(*m->answers_offset) : "-");
        } else if (auto* n = std::get_if<NoticeEvent>(&e.what)) {
            notices.push_back(*n);
            os << "notice " << n->text;
        } else if (std::get_if<HandshakeEvent>(&e.what)) {
            os << "handshake";
        }
        lines.push_back(os.str());
    }
    const Greeting& greeting_of(Direction dir, const Session& s) const {
        REQUIRE(s.info().greetings[index_of(dir)]);
        return *s.info().greetings[index_of(dir)];
    }
};

Record run(Session& s, const Transcript& t) {
    Record r;
    auto sink = r.sink();
    for (auto& [dir, bytes] : t) s.feed(dir, bytes, sink);
    s.finish(C2S, sink);
    s.finish(S2C, sink);
    return r;
}

// Every unit of the transcript split at every byte, and the whole of it byte by byte, give the
// events of the transcript as written.
void check_split_feeds(const Transcript& t) {
    Session whole_session;
    const std::vector<std::string> reference = run(whole_session, t).lines;
    for (size_t unit = 0; unit < t.size(); ++unit) {
        for (size_t split = 1; split < t[unit].second.size(); ++split) {
            Session s;
            Record r;
            auto sink = r.sink();
            for (size_t i = 0; i < t.size(); ++i) {
                const Bytes b = t[i].second;
                if (i == unit) {
                    s.feed(t[i].first, b.first(split), sink);
                    s.feed(t[i].first, b.subspan(split), sink);
                } else {
                    s.feed(t[i].first, b, sink);
                }
            }
            s.finish(C2S, sink);
            s.finish(S2C, sink);
            INFO("unit " << unit << " split at " << split);
            REQUIRE(r.lines == reference);
        }
    }
    Session s;
    Record r;
    auto sink = r.sink();
    for (auto& [dir, bytes] : t)
        for (uint8_t byte : bytes) s.feed(dir, Bytes(&byte, 1), sink);
    s.finish(C2S, sink);
    s.finish(S2C, sink);
    CHECK(r.lines == reference);
}

// A ZMTP 2.0 REQ (JeroMQ 0.3.6 speaks 2.0) connects to a libzmq 4 REP, in the order the bytes
// go out (docs/protocol.md 1.2): both signatures, libzmq's major version, the 2.0 side's
// revision, socket type and identity, libzmq's socket type and identity, then two requests and
// their replies.
Transcript req_rep_20(std::string_view client_identity, std::string_view server_identity) {
    Buf client_sig{0xFF};
    put_be64(client_sig, 0);
    client_sig.push_back(0x7F);
    return {
        {S2C, libzmq_signature(server_identity)},
        {C2S, client_sig},
        {S2C, Buf{0x03}},
        {C2S, cat({Buf{0x01, 0x03}, v2(0x00, client_identity)})},
        {S2C, cat({Buf{0x04}, v2(0x00, server_identity)})},
        {C2S, cat({v2(0x01, ""), v2(0x00, "hello")})},
        {S2C, cat({v2(0x01, ""), v2(0x00, "world")})},
        {C2S, cat({v2(0x01, ""), v2(0x00, "again")})},
        {S2C, cat({v2(0x01, ""), v2(0x00, "still")})},
    };
}

}  // namespace

TEST_CASE("ZMTP 2.0 REQ and libzmq's downgraded REP: identities are greetings", "[old]") {
    const Transcript t = req_rep_20("client-A", "");
    Session s;
    const Record r = run(s, t);

    const Greeting& client = r.greeting_of(C2S, s);
    CHECK(client.major == 1);
    CHECK(client.framing == Framing::V2);
    CHECK_FALSE(client.downgraded);
    CHECK(client.socket_type == SocketType::Req);
    REQUIRE(client.identity);
    CHECK(*client.identity == "client-A");
    CHECK(client.identity_offset == 14);
    CHECK(client.size == 12 + 2 + 8);
    CHECK(greeting_label(client) == "ZMTP 2.0 REQ");

    const Greeting& server = r.greeting_of(S2C, s);
    CHECK(server.major == 3);
    CHECK(server.downgraded);
    CHECK(server.framing == Framing::V2);
    CHECK(server.socket_type == SocketType::Rep);
    REQUIRE(server.identity);
    CHECK(server.identity->empty());  // libzmq without a routing id sends 00 00
    CHECK(server.size == 14);
    CHECK(greeting_label(server) == "ZMTP 2.0 (downgraded from 3.x) REP");

    CHECK(s.info().framing == Framing::V2);
    CHECK(s.info().handshake == HandshakeState::Ready);
    // Exactly the messages the peers sent: no identity among them, none paired.
    CHECK(s.info().messages == std::array<uint64_t, 2>{2, 2});
    CHECK(r.frames == std::vector<std::string>{"C>S:", "C>S:hello", "S>C:", "S>C:world",
                                               "C>S:", "C>S:again", "S>C:", "S>C:still"});
    REQUIRE(r.messages.size() == 4);
    const uint64_t hello_at = 22 + 2;  // the greeting, then the empty delimiter
    CHECK(r.messages[0].second.first_offset == 22);
    CHECK_FALSE(r.messages[0].second.answers_offset);
    CHECK(r.messages[1].second.answers_offset == hello_at);
    CHECK(r.messages[1].second.answers_seq == 0u);
    CHECK(r.messages[3].second.answers_seq == 1u);
    CHECK(s.info().requests_pending == std::array<uint64_t, 2>{0, 0});
    CHECK(r.notices.empty());
    check_split_feeds(t);
}

TEST_CASE("ZMTP 2.0 DEALER/ROUTER: identity frames are never paired as request and reply",
          "[old]") {
    // Before, the two identity frames were a "request" and its "reply".
    const Transcript t = {
        {C2S, cat({libzmq_signature("d"), Buf{0x01, 0x05}, v2(0x00, "dealer-1")})},
        {S2C, cat({libzmq_signature("r"), Buf{0x01, 0x06}, v2(0x00, "router-1")})},
        {C2S, v2(0x00, "job")},
        {S2C, v2(0x00, "done")},
    };
    Session s;
    const Record r = run(s, t);
    CHECK(*r.greeting_of(C2S, s).identity == "dealer-1");
    CHECK(*r.greeting_of(S2C, s).identity == "router-1");
    CHECK(s.info().messages == std::array<uint64_t, 2>{1, 1});
    REQUIRE(r.messages.size() == 2);
    CHECK(r.messages[0].first == C2S);
    CHECK(r.messages[1].second.answers_seq == 0u);
    CHECK(r.messages[1].second.answers_offset == 22u);
    for (const auto& f : r.frames) CHECK(f.find("-1") == std::string::npos);
    check_split_feeds(t);
}

TEST_CASE("ZMTP 1.0 peer and libzmq's answer: the identity frame is the greeting", "[old]") {
    // The 1.0 client sends its identity frame `03 00 "ab"` at once; libzmq's 10 bytes
    // `FF <u64 1> 7F` are the header of its own (empty) identity frame (docs/protocol.md 1.4).
    const Transcript t = {
        {S2C, libzmq_signature("")},
        {C2S, cat({v1(0x00, "ab"), v1(0x01, ""), v1(0x00, "hello")})},
        {S2C, cat({v1(0x01, ""), v1(0x00, "world")})},
    };
    Session s;
    const Record r = run(s, t);
    const Greeting& client = r.greeting_of(C2S, s);
    CHECK_FALSE(client.versioned);
    CHECK(client.framing == Framing::V1);
    CHECK(client.size == 4);
    REQUIRE(client.identity);
    CHECK(*client.identity == "ab");
    CHECK(client.identity_offset == 2);
    CHECK(greeting_label(client) == "ZMTP 1.0");

    const Greeting& server = r.greeting_of(S2C, s);
    CHECK(server.versioned);
    CHECK(server.downgraded);
    CHECK(server.framing == Framing::V1);
    CHECK(server.size == 10);
    CHECK(server.signature_padding == 1);
    REQUIRE(server.identity);
    CHECK(server.identity->empty());
    CHECK(greeting_label(server) == "ZMTP 1.0 (downgraded from 3.x)");

    CHECK(s.info().framing == Framing::V1);
    CHECK(s.info().messages == std::array<uint64_t, 2>{1, 1});
    CHECK(r.frames == std::vector<std::string>{"C>S:", "C>S:hello", "S>C:", "S>C:world"});
    CHECK(r.notices.empty());
    check_split_feeds(t);
}

TEST_CASE("libzmq answering a 1.0 peer with an identity: FF <u64 3> 7F then the identity",
          "[old]") {
    // ★ docs/protocol.md 1.4: identity "ab", then the subscription 03 00 01 'T'.
    const Transcript t = {
        {C2S, v1(0x00, "")},
        {S2C, cat({libzmq_signature("ab"), Buf{'a', 'b'}, hex("03 00 0154")})},
    };
    Session s;
    const Record r = run(s, t);
    const Greeting& server = r.greeting_of(S2C, s);
    CHECK(server.size == 12);
    CHECK(*server.identity == "ab");
    CHECK(server.identity_offset == 10);
    CHECK(r.frames == std::vector<std::string>{"S>C:\x01T"});
    CHECK(s.info().messages == std::array<uint64_t, 2>{0, 1});
    check_split_feeds(t);
}

TEST_CASE("revision 0: 12 bytes, then a ZMTP 1.0 identity frame", "[old]") {
    const Transcript t = {
        {C2S, cat({libzmq_signature(""), Buf{0x00, 0x08}, v1(0x00, "p"), v1(0x00, "x")})},
        {S2C, cat({libzmq_signature(""), Buf{0x03, 0x07}, v1(0x00, "")})},
    };
    Session s;
    const Record r = run(s, t);
    CHECK(greeting_label(r.greeting_of(C2S, s)) == "ZMTP 1.0 (revision 0) PUSH");
    CHECK(*r.greeting_of(C2S, s).identity == "p");
    CHECK(greeting_label(r.greeting_of(S2C, s)) == "ZMTP 1.0 (downgraded from 3.x) PULL");
    CHECK(r.frames == std::vector<std::string>{"C>S:x"});
    check_split_feeds(t);
}

TEST_CASE("greeting labels of 3.x greetings are unchanged", "[old]") {
    Greeting g;
    g.major = 3;
    g.minor = 1;
    g.framing = Framing::V3;
    g.mechanism_text = "CURVE";
    CHECK(greeting_label(g) == "ZMTP 3.1 CURVE");
}

TEST_CASE("an identity frame longer than 255 bytes stops the direction with a reason", "[old]") {
    struct Case {
        const char* what;
        Buf bytes;
    };
    Buf long_v2 = cat({libzmq_signature(""), Buf{0x01, 0x05}, hex("02 0000000000000100")});
    Buf huge_v2 = cat({libzmq_signature(""), Buf{0x01, 0x05}, hex("02 7fffffffffffffff")});
    Buf long_v1 = hex("ff 0000000000000101 00");  // 256 bytes of body, after the flags
    Buf zero_v1 = hex("00 00");
    for (const Case& c : {Case{"2.0, 256 bytes", long_v2}, Case{"2.0, 2^63-1", huge_v2},
                          Case{"1.0, 256 bytes", long_v1}, Case{"1.0, length 0", zero_v1}}) {
        INFO(c.what);
        StreamDecoder d;
        std::vector<StreamEvent> events;
        d.feed(c.bytes, [&](const StreamEvent& e) { events.push_back(e); });
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == StreamEvent::Kind::Error);
        CHECK(events[0].error == StreamError::BadLength);
        CHECK(events[0].message.find("identity frame of the greeting") != std::string::npos);
        CHECK(d.failed());
        CHECK(d.buffer_capacity() < 64);  // nothing kept from the declared length
        CHECK(d.next_unit_size(c.bytes) == UINT64_MAX);
    }
    // 255 bytes is an identity.
    Buf ok = hex("ff 0000000000000100 00");
    ok.resize(ok.size() + 255, 'i');
    StreamDecoder d;
    CHECK(d.next_unit_size(ok) == ok.size());
    std::vector<StreamEvent> events;
    d.feed(ok, [&](const StreamEvent& e) { events.push_back(e); });
    REQUIRE(events.size() == 1);
    CHECK(events[0].greeting.identity->size() == 255);
}

TEST_CASE("next_unit_size: a 2.0 greeting is known once its identity header is", "[old]") {
    const Buf g = cat({libzmq_signature(""), Buf{0x01, 0x03}, v2(0x00, "abc")});
    StreamDecoder d;
    for (size_t n = 0; n <= 13; ++n) CHECK(d.next_unit_size(Bytes(g).first(n)) == 0);
    CHECK(d.next_unit_size(Bytes(g).first(14)) == 17);
    CHECK(d.next_unit_size(g) == 17);
}
