// Stateless wire parsing: frame headers, greetings, command bodies, metadata, name tables.
// Byte sequences marked ★ come from docs/protocol.md (captured from libzmq 4.3.4).
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "byte_builders.hpp"
#include "zmtp/wire.hpp"

using namespace zmtp;
using namespace zmtp::test;

namespace {

Buf command_body(std::string_view name, const Buf& data = {}) {
    Buf b{uint8_t(name.size())};
    put(b, name);
    put(b, data);
    return b;
}

Buf property(std::string_view name, std::string_view value) {
    Buf b{uint8_t(name.size())};
    put(b, name);
    put_be32(b, uint32_t(value.size()));
    put(b, value);
    return b;
}

std::string text(Bytes b) {
    return std::string(as_text(b));
}
// docs/protocol.md 4.9: a CURVE HELLO laid out as libzmq's produce_hello does.
Buf curve_hello_body() {
    Buf b = command_body("HELLO", {0x01, 0x00});
    b.resize(8 + 72, 0);
    put(b, hex("a16357296f8897b9b8a78bd83ba4fa9f0997b1ee1bbb8e764ea13621e568c80d"));
    put_be64(b, 1);
    b.resize(200, 0xAB);
    return b;
}

// A CURVE INITIATE with 41 bytes of metadata: 298 bytes, as in docs/protocol.md 4.3/4.9.
Buf curve_initiate_body() {
    Buf b = command_body("INITIATE");
    b.resize(9 + 96, 0xC0);
    put_be64(b, 2);
    b.resize(298, 0xBB);
    return b;
}

}  // namespace

// ---- frame headers ------------------------------------------------------------------------

TEST_CASE("V3 frame headers: flags, short and long sizes", "[wire]") {
    FrameHeader h;
    SECTION("short message frame with MORE") {
        const Buf b = hex("01 05 68656c6c6f");
        REQUIRE(parse_frame_header(Framing::V3, b, h) == ParseStatus::Ok);
        CHECK(h.flags == 0x01);
        CHECK(h.header_size == 2);
        CHECK(h.body_size == 5);
        CHECK(h.more);
        CHECK_FALSE(h.command);
        CHECK_FALSE(h.reserved_bits);
    }
    SECTION("command frame") {
        const Buf b = hex("04 07 04 50494e47 0014");  // ★ PING
        REQUIRE(parse_frame_header(Framing::V3, b, h) == ParseStatus::Ok);
        CHECK(h.command);
        CHECK_FALSE(h.more);
        CHECK(h.body_size == 7);
    }
    SECTION("LONG command frame (CURVE INITIATE, 298 bytes)") {
        const Buf b = hex("06 000000000000012a");
        REQUIRE(parse_frame_header(Framing::V3, b, h) == ParseStatus::Ok);
        CHECK(h.header_size == 9);
        CHECK(h.body_size == 298);
        CHECK(h.command);
    }
    SECTION("LONG is accepted for a small size") {
        const Buf b = hex("02 0000000000000003 616263");
        REQUIRE(parse_frame_header(Framing::V3, b, h) == ParseStatus::Ok);
        CHECK(h.header_size == 9);
        CHECK(h.body_size == 3);
    }
    SECTION("reserved bits are reported, not fatal") {
        const Buf b = hex("f9 01 00");
        REQUIRE(parse_frame_header(Framing::V3, b, h) == ParseStatus::Ok);
        CHECK(h.reserved_bits);
        CHECK(h.more);
        CHECK(h.body_size == 1);
    }
    SECTION("need more until the size is complete") {
        CHECK(parse_frame_header(Framing::V3, {}, h) == ParseStatus::NeedMore);
        const Buf b = hex("00");
        CHECK(parse_frame_header(Framing::V3, b, h) == ParseStatus::NeedMore);
        const Buf l = hex("02 00000000000001");
        CHECK(parse_frame_header(Framing::V3, l, h) == ParseStatus::NeedMore);
    }
    SECTION("the largest legal size, and one more") {
        const Buf ok = hex("02 7fffffffffffffff");
        REQUIRE(parse_frame_header(Framing::V3, ok, h) == ParseStatus::Ok);
        CHECK(h.body_size == 0x7FFFFFFFFFFFFFFFull);
        const Buf bad = hex("02 8000000000000000");
        REQUIRE(parse_frame_header(Framing::V3, bad, h) == ParseStatus::Invalid);
        CHECK(h.body_size == 0x8000000000000000ull);
        CHECK(h.header_size == 9);
        const Buf worst = hex("02 ffffffffffffffff");
        CHECK(parse_frame_header(Framing::V3, worst, h) == ParseStatus::Invalid);
    }
    SECTION("unknown framing is invalid") {
        const Buf b = hex("00 00");
        CHECK(parse_frame_header(Framing::Unknown, b, h) == ParseStatus::Invalid);
    }
}

TEST_CASE("V2 frame headers have no COMMAND bit", "[wire]") {
    FrameHeader h;
    const Buf sub = hex("00 02 0154");  // ★ 2.0 subscription frame
    REQUIRE(parse_frame_header(Framing::V2, sub, h) == ParseStatus::Ok);
    CHECK(h.body_size == 2);
    CHECK_FALSE(h.reserved_bits);

    const Buf with_command_bit = hex("04 00");
    REQUIRE(parse_frame_header(Framing::V2, with_command_bit, h) == ParseStatus::Ok);
    CHECK_FALSE(h.command);
    CHECK(h.reserved_bits);

    const Buf long_frame = hex("03 0000000000000100");
    REQUIRE(parse_frame_header(Framing::V2, long_frame, h) == ParseStatus::Ok);
    CHECK(h.more);
    CHECK(h.body_size == 256);
}

TEST_CASE("V1 frame headers: the length counts the flags byte", "[wire]") {
    FrameHeader h;
    SECTION("anonymous identity") {
        const Buf b = hex("01 00");
        REQUIRE(parse_frame_header(Framing::V1, b, h) == ParseStatus::Ok);
        CHECK(h.header_size == 2);
        CHECK(h.body_size == 0);
    }
    SECTION("★ subscribe after libzmq's downgrade to 1.0") {
        const Buf b = hex("03 00 0154");
        REQUIRE(parse_frame_header(Framing::V1, b, h) == ParseStatus::Ok);
        CHECK(h.body_size == 2);
        CHECK_FALSE(h.more);
    }
    SECTION("★ libzmq's signature read as a long identity header") {
        const Buf b = hex("ff 0000000000000003 7f 6162");
        REQUIRE(parse_frame_header(Framing::V1, b, h) == ParseStatus::Ok);
        CHECK(h.header_size == 10);
        CHECK(h.body_size == 2);
        CHECK(h.flags == 0x7F);
    }
    SECTION("MORE and reserved bits") {
        const Buf b = hex("02 03 41");
        REQUIRE(parse_frame_header(Framing::V1, b, h) == ParseStatus::Ok);
        CHECK(h.more);
        CHECK(h.reserved_bits);
    }
    SECTION("length 0 is invalid, known from the first byte") {
        const Buf b = hex("00");
        CHECK(parse_frame_header(Framing::V1, b, h) == ParseStatus::Invalid);
        const Buf l = hex("ff 0000000000000000 00");
        CHECK(parse_frame_header(Framing::V1, l, h) == ParseStatus::Invalid);
    }
    SECTION("long lengths above 2^63-1 are invalid") {
        const Buf b = hex("ff 8000000000000000");
        CHECK(parse_frame_header(Framing::V1, b, h) == ParseStatus::Invalid);
        const Buf ok = hex("ff 7fffffffffffffff 00");
        CHECK(parse_frame_header(Framing::V1, ok, h) == ParseStatus::Ok);
    }
    SECTION("need more") {
        const Buf one = hex("05");
        CHECK(parse_frame_header(Framing::V1, one, h) == ParseStatus::NeedMore);
        const Buf part = hex("ff 00000000000001");
        CHECK(parse_frame_header(Framing::V1, part, h) == ParseStatus::NeedMore);
        const Buf no_flags = hex("ff 0000000000000100");
        CHECK(parse_frame_header(Framing::V1, no_flags, h) == ParseStatus::NeedMore);
    }
}

// ---- greetings ----------------------------------------------------------------------------

TEST_CASE("3.x greetings", "[wire]") {
    // ★ CURVE client with identity "client-id" (padding 10).
    Buf b = hex("ff000000000000000a7f 03 01");
    put(b, "CURVE");
    b.resize(64, 0);
    auto g = parse_greeting(b, 64);
    REQUIRE(g);
    CHECK(g->size == 64);
    CHECK(g->major == 3);
    CHECK(g->minor == 1);
    CHECK(g->mechanism == Mechanism::Curve);
    CHECK(g->mechanism_text == "CURVE");
    CHECK(g->signature_padding == 10);
    CHECK_FALSE(g->as_server);
    CHECK(g->framing == Framing::V3);

    b[32] = 1;
    b[11] = 0;
    g = parse_greeting(b, 64);
    REQUIRE(g);
    CHECK(g->as_server);
    CHECK(g->minor == 0);

    // A mechanism that fills all 20 bytes, and one nobody knows.
    std::fill(b.begin() + 12, b.begin() + 32, 'X');
    g = parse_greeting(b, 64);
    REQUIRE(g);
    CHECK(g->mechanism_text == std::string(20, 'X'));
    CHECK(g->mechanism == Mechanism::Other);

    CHECK_FALSE(parse_greeting(Bytes(b).first(63), 64));
    CHECK_FALSE(parse_greeting(b, 10));
}

TEST_CASE("12-byte greetings: 2.0, revision 0, libzmq's downgrade", "[wire]") {
    const Buf v2 = hex("ff00000000000000017f 01 02");  // ★ 2.0 SUB
    auto g = parse_greeting(v2, 12);
    REQUIRE(g);
    CHECK(g->size == 12);
    CHECK(g->major == 1);
    CHECK(g->socket_type == SocketType::Sub);
    CHECK(g->framing == Framing::V2);
    CHECK(g->mechanism == Mechanism::Unknown);

    const Buf downgraded = hex("ff00000000000000017f 03 05");
    g = parse_greeting(downgraded, 12);
    REQUIRE(g);
    CHECK(g->major == 3);
    CHECK(g->socket_type == SocketType::Dealer);
    CHECK(g->framing == Framing::V2);

    const Buf revision0 = hex("ff00000000000000017f 00 08");
    g = parse_greeting(revision0, 12);
    REQUIRE(g);
    CHECK(g->major == 0);
    CHECK(g->socket_type == SocketType::Push);
    CHECK(g->framing == Framing::V1);

    const Buf odd_type = hex("ff00000000000000017f 01 63");
    g = parse_greeting(odd_type, 12);
    REQUIRE(g);
    CHECK(g->socket_type == SocketType::Unknown);
}

// ---- commands -----------------------------------------------------------------------------

TEST_CASE("★ DEALER READY: metadata with Socket-Type, Identity and X-Hello", "[wire]") {
    Buf body = command_body("READY");
    put(body, property("Socket-Type", "DEALER"));
    put(body, property("Identity", "DLR"));
    put(body, property("X-Hello", "World"));
    CHECK(body == hex("05 5245414459"
                      "0b 536f636b65742d54797065 00000006 4445414c4552"
                      "08 4964656e74697479 00000003 444c52"
                      "07 582d48656c6c6f 00000005 576f726c64"));

    for (auto mechanism : {Mechanism::Null, Mechanism::Plain, Mechanism::Unknown}) {
        const Command c = parse_command(body, mechanism);
        CHECK(c.kind == CommandKind::Ready);
        CHECK(c.name == "READY");
        CHECK(c.problem == nullptr);
        REQUIRE(c.metadata.size() == 3);
        CHECK(c.metadata[0].name == "Socket-Type");
        CHECK(text(c.metadata[0].value) == "DEALER");
        CHECK(c.metadata[1].name == "Identity");
        CHECK(text(c.metadata[1].value) == "DLR");
        CHECK(c.metadata[2].name == "X-Hello");
        CHECK(text(c.metadata[2].value) == "World");
    }
}

TEST_CASE("★ ROUTER READY carries an empty Identity", "[wire]") {
    Buf body = command_body("READY");
    put(body, property("Socket-Type", "ROUTER"));
    put(body, property("Identity", ""));
    const Command c = parse_command(body, Mechanism::Null);
    REQUIRE(c.metadata.size() == 2);
    CHECK(c.metadata[1].name == "Identity");
    CHECK(c.metadata[1].value.empty());
    CHECK(c.problem == nullptr);
}

TEST_CASE("READY with broken metadata is flagged", "[wire]") {
    Buf body = command_body("READY");
    put(body, property("Socket-Type", "DEALER"));
    body.pop_back();
    const Command c = parse_command(body, Mechanism::Null);
    CHECK(c.kind == CommandKind::Ready);
    CHECK(c.problem != nullptr);
    CHECK(c.metadata.empty());
}

TEST_CASE("ERROR, and libzmq's PLAIN ^RROR bug", "[wire]") {
    SECTION("★ CURVE/NULL ERROR 400") {
        const Buf body = hex("05 4552524f52 03 343030");
        const Command c = parse_command(body, Mechanism::Curve);
        CHECK(c.kind == CommandKind::Error);
        CHECK(c.error_reason == "400");
        CHECK_FALSE(c.libzmq_plain_error_bug);
        CHECK(c.problem == nullptr);
    }
    SECTION("★ PLAIN server's ^RROR 400") {
        const Buf frame = hex("04 09 5e52524f52 03 343030");
        const Bytes body = Bytes(frame).subspan(2);
        const Command c = parse_command(body, Mechanism::Plain);
        CHECK(c.kind == CommandKind::Error);
        CHECK(c.libzmq_plain_error_bug);
        CHECK(c.name == "^RROR");
        CHECK(c.error_reason == "400");
        CHECK(c.data.size() == 4);
        CHECK(c.problem == nullptr);
    }
    SECTION("^RROR with a reason that overruns") {
        const Buf body = hex("5e52524f52 09 3430");
        const Command c = parse_command(body, Mechanism::Plain);
        CHECK(c.kind == CommandKind::Error);
        CHECK(c.problem != nullptr);
        CHECK(c.error_reason == "40");
    }
    SECTION("ERROR with no reason length") {
        const Command c = parse_command(command_body("ERROR"), Mechanism::Null);
        CHECK(c.kind == CommandKind::Error);
        CHECK(c.problem != nullptr);
    }
}

TEST_CASE("PING and PONG", "[wire]") {
    SECTION("★ libzmq PING: TTL 20 deciseconds, no context") {
        const Buf body = hex("04 50494e47 0014");
        const Command c = parse_command(body, Mechanism::Null);
        CHECK(c.kind == CommandKind::Ping);
        CHECK(c.ping_ttl_ds == 20);
        CHECK(c.ping_context.empty());
        CHECK(c.problem == nullptr);
    }
    SECTION("context of 16 bytes is fine, 17 is malformed") {
        Buf data{0x01, 0x00};
        data.resize(2 + 16, 'c');
        Command c = parse_command(command_body("PING", data), Mechanism::Null);
        CHECK(c.ping_ttl_ds == 256);
        CHECK(c.ping_context.size() == 16);
        CHECK(c.problem == nullptr);
        data.push_back('c');
        c = parse_command(command_body("PING", data), Mechanism::Null);
        CHECK(c.kind == CommandKind::Ping);
        CHECK(c.problem != nullptr);
    }
    SECTION("a PING without its TTL") {
        const Command c = parse_command(command_body("PING", {0x00}), Mechanism::Null);
        CHECK(c.kind == CommandKind::Ping);
        CHECK(c.problem != nullptr);
    }
    SECTION("★ PONG echoes the context") {
        Command c = parse_command(hex("04 504f4e47"), Mechanism::Null);
        CHECK(c.kind == CommandKind::Pong);
        CHECK(c.ping_context.empty());
        const Buf echo = command_body("PONG", {'a', 'b'});
        c = parse_command(echo, Mechanism::Null);
        CHECK(text(c.ping_context) == "ab");
    }
}

TEST_CASE("SUBSCRIBE, CANCEL, JOIN, LEAVE", "[wire]") {
    const Buf subscribe = hex("09 535542534352494245 746f70696341");  // ★
    Command c = parse_command(subscribe, Mechanism::Null);
    CHECK(c.kind == CommandKind::Subscribe);
    CHECK(text(c.topic) == "topicA");
    const Buf cancel = hex("06 43414e43454c");  // ★ empty topic
    c = parse_command(cancel, Mechanism::Null);
    CHECK(c.kind == CommandKind::Cancel);
    CHECK(c.topic.empty());
    const Buf join = command_body("JOIN", {'g', '1'});
    c = parse_command(join, Mechanism::Null);
    CHECK(c.kind == CommandKind::Join);
    CHECK(text(c.topic) == "g1");
    const Buf leave = command_body("LEAVE", {'g', '1'});
    c = parse_command(leave, Mechanism::Null);
    CHECK(c.kind == CommandKind::Leave);
    CHECK(text(c.topic) == "g1");
}

TEST_CASE("PLAIN HELLO, WELCOME, INITIATE", "[wire]") {
    SECTION("★ HELLO admin/secret") {
        const Buf body = hex("05 48454c4c4f 05 61646d696e 06 736563726574");
        const Command c = parse_command(body, Mechanism::Plain);
        CHECK(c.kind == CommandKind::Hello);
        CHECK(c.plain_username == "admin");
        CHECK(c.plain_password == "secret");
        CHECK(c.problem == nullptr);
    }
    SECTION("HELLO with an overrunning password, or trailing bytes") {
        Command c = parse_command(hex("05 48454c4c4f 05 61646d696e 09 7365"), Mechanism::Plain);
        CHECK(c.kind == CommandKind::Hello);
        CHECK(c.problem != nullptr);
        c = parse_command(hex("05 48454c4c4f 05 61646d696e"), Mechanism::Plain);
        CHECK(c.problem != nullptr);
        c = parse_command(hex("05 48454c4c4f 01 61 01 62 63"), Mechanism::Plain);
        CHECK(c.problem != nullptr);
        c = parse_command(hex("05 48454c4c4f 00 00"), Mechanism::Plain);
        CHECK(c.problem == nullptr);
        CHECK(c.plain_username.empty());
    }
    SECTION("WELCOME is exactly 8 bytes") {
        Command c = parse_command(hex("07 57454c434f4d45"), Mechanism::Plain);
        CHECK(c.kind == CommandKind::Welcome);
        CHECK(c.problem == nullptr);
        c = parse_command(hex("07 57454c434f4d45 00"), Mechanism::Plain);
        CHECK(c.kind == CommandKind::Welcome);
        CHECK(c.problem != nullptr);
    }
    SECTION("INITIATE carries metadata") {
        Buf body = command_body("INITIATE");
        put(body, property("Socket-Type", "REQ"));
        const Command c = parse_command(body, Mechanism::Plain);
        CHECK(c.kind == CommandKind::Initiate);
        REQUIRE(c.metadata.size() == 1);
        CHECK(text(c.metadata[0].value) == "REQ");
    }
}

TEST_CASE("CURVE HELLO: exactly 200 bytes", "[wire]") {
    Buf body = curve_hello_body();
    Command c = parse_command(body, Mechanism::Curve);
    CHECK(c.kind == CommandKind::Hello);
    CHECK(c.problem == nullptr);
    CHECK(c.curve_version == 0x0100);
    CHECK(Buf(c.client_ephemeral.begin(), c.client_ephemeral.end()) ==
          hex("a16357296f8897b9b8a78bd83ba4fa9f0997b1ee1bbb8e764ea13621e568c80d"));
    CHECK(c.short_nonce == 1);
    CHECK(c.box.size() == 80);
    CHECK(c.box.data() == body.data() + 120);

    body.push_back(0);
    c = parse_command(body, Mechanism::Curve);
    CHECK(c.kind == CommandKind::Hello);
    CHECK(c.problem != nullptr);
    CHECK(c.box.empty());
    body.resize(199);
    c = parse_command(body, Mechanism::Curve);
    CHECK(c.problem != nullptr);
}

TEST_CASE("★ CURVE WELCOME, READY, MESSAGE of docs/protocol.md 4.9", "[wire]") {
    const Buf welcome = hex(
        "04a8 0757454c434f4d45 202a2b690345b85632571e56d4fccfb4 "
        "d69ea45b1a21362cc5976a9c501963489a5e2b0589d91352d25d8de00daec4f046d89ed274d405813df3ce5e"
        "142fbfa692b41727649c0e1733b6a206475e720e0bcaa3e821f1753f0135bfd6a01a849f69ccb00db2f1bea0"
        "7cc9618c77be0777d4524bf07b2c058d02a30b9266741af265fb81a6a34d5cb6020c0dc549993a49c393c8e7"
        "9e9291733371d43e8648fa97");
    REQUIRE(welcome.size() == 2 + 168);
    Command c = parse_command(Bytes(welcome).subspan(2), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Welcome);
    CHECK(c.problem == nullptr);
    CHECK(Buf(c.long_nonce.begin(), c.long_nonce.end()) == hex("202a2b690345b85632571e56d4fccfb4"));
    CHECK(c.box.size() == 144);

    const Buf ready =
        hex("0431 055245414459 0000000000000001 "
            "595fd1b182cfdd5814f8ed61ae4c8f6beb1cd70799ee2f4e94677e4cc0bc4f26d85321");
    REQUIRE(ready.size() == 2 + 49);
    c = parse_command(Bytes(ready).subspan(2), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Ready);
    CHECK(c.problem == nullptr);
    CHECK(c.short_nonce == 1);
    CHECK(c.box.size() == 35);
    CHECK(c.metadata.empty());

    const Buf client_message =
        hex("0026 074d455353414745 0000000000000004 a31b59ac1cb0be54a13440e86ab75bf53dbcbe99b35e");
    REQUIRE(client_message.size() == 2 + 38);
    c = parse_command(Bytes(client_message).subspan(2), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Message);
    CHECK(c.short_nonce == 4);
    CHECK(c.box.size() == 22);

    const Buf server_message =
        hex("0021 074d455353414745 0000000000000002 b114ebd2b1bf35610b00771d4f84023a0f");
    REQUIRE(server_message.size() == 2 + 33);
    c = parse_command(Bytes(server_message).subspan(2), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Message);
    CHECK(c.problem == nullptr);
    CHECK(c.short_nonce == 2);
    CHECK(c.box.size() == 17);

    // One byte short of each minimum.
    c = parse_command(Bytes(server_message).subspan(2, 32), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Message);
    CHECK(c.problem != nullptr);
    c = parse_command(Bytes(ready).subspan(2, 29), Mechanism::Curve);
    CHECK(c.kind == CommandKind::Ready);
    CHECK(c.problem != nullptr);
    c = parse_command(Bytes(welcome).subspan(2, 167), Mechanism::Curve);
    CHECK(c.problem != nullptr);
}

TEST_CASE("CURVE INITIATE: cookie, nonce, box", "[wire]") {
    Buf body = curve_initiate_body();
    Command c = parse_command(body, Mechanism::Curve);
    CHECK(c.kind == CommandKind::Initiate);
    CHECK(c.problem == nullptr);
    CHECK(c.cookie.size() == 96);
    CHECK(c.cookie.data() == body.data() + 9);
    CHECK(c.short_nonce == 2);
    CHECK(c.box.size() == 298 - 113);
    CHECK(c.metadata.empty());

    body.resize(256);
    c = parse_command(body, Mechanism::Curve);
    CHECK(c.kind == CommandKind::Initiate);
    CHECK(c.problem != nullptr);
}

TEST_CASE("unknown and malformed commands", "[wire]") {
    SECTION("unknown name: kept with its data") {
        const Buf body = command_body("X-STATUS", {1, 2, 3});
        const Command c = parse_command(body, Mechanism::Null);
        CHECK(c.kind == CommandKind::Unknown);
        CHECK(c.name == "X-STATUS");
        CHECK(c.data.size() == 3);
        CHECK(c.problem == nullptr);
    }
    SECTION("names are case-sensitive, as in libzmq") {
        const Buf body = command_body("ready");
        const Command c = parse_command(body, Mechanism::Null);
        CHECK(c.kind == CommandKind::Unknown);
        CHECK(c.name == "ready");
    }
    SECTION("empty body, empty name, name longer than the body") {
        CHECK(parse_command({}, Mechanism::Null).problem != nullptr);
        const Command empty_name = parse_command(hex("00 01"), Mechanism::Null);
        CHECK(empty_name.problem != nullptr);
        const Command overrun = parse_command(hex("09 5355425343"), Mechanism::Null);
        CHECK(overrun.kind == CommandKind::Unknown);
        CHECK(overrun.problem != nullptr);
        CHECK(overrun.name.empty());
    }
    SECTION("HELLO under NULL has no layout to parse") {
        const Command c = parse_command(curve_hello_body(), Mechanism::Null);
        CHECK(c.kind == CommandKind::Hello);
        CHECK(c.box.empty());
        CHECK(c.plain_username.empty());
    }
}

TEST_CASE("every prefix and random bytes parse without reading out of bounds", "[wire]") {
    // Bodies are copied into exactly-sized buffers so AddressSanitizer sees any overrun.
    std::vector<Buf> bodies = {curve_hello_body(), curve_initiate_body(),
                               hex("05 48454c4c4f 05 61646d696e 06 736563726574"),
                               hex("5e52524f52 03 343030"), hex("04 50494e47 0014")};
    Buf ready = command_body("READY");
    put(ready, property("Socket-Type", "DEALER"));
    bodies.push_back(ready);
    for (const auto& body : bodies) {
        for (size_t n = 0; n <= body.size(); ++n) {
            const Buf prefix(body.begin(), body.begin() + n);
            for (auto m : {Mechanism::Null, Mechanism::Plain, Mechanism::Curve}) {
                const Command c = parse_command(prefix, m);
                for (Bytes field : {c.data, c.box, c.cookie, c.long_nonce, c.topic})
                    if (!field.empty()) {
                        CHECK(field.data() >= prefix.data());
                        CHECK(field.data() + field.size() <= prefix.data() + prefix.size());
                    }
            }
        }
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        Buf body(rng() % 300);
        for (auto& b : body) b = uint8_t(rng());
        if (!body.empty() && i % 2) body[0] = uint8_t(body.size() > 1 ? rng() % body.size() : 0);
        for (auto m : {Mechanism::Null, Mechanism::Plain, Mechanism::Curve}) {
            const Command c = parse_command(body, m);
            std::vector<Property> props;
            (void)parse_metadata(body, props);  // any result: only the views are checked
            for (const auto& p : props) CHECK(p.value.size() <= body.size());
            CHECK(c.data.size() <= body.size());
        }
    }
}

// ---- metadata, subscriptions --------------------------------------------------------------

TEST_CASE("metadata bounds", "[wire]") {
    std::vector<Property> props;
    CHECK(parse_metadata({}, props));
    CHECK(props.empty());

    Buf two = property("A", "1");
    put(two, property("", ""));  // empty names are accepted, as libzmq does
    CHECK(parse_metadata(two, props));
    CHECK(props.size() == 2);

    props.clear();
    Buf big = property("A", "1");
    put(big, hex("01 42 80000000"));  // value length above 0x7FFFFFFF
    CHECK_FALSE(parse_metadata(big, props));
    CHECK(props.size() == 1);  // what was parsed before

    props.clear();
    const Buf overrun = hex("01 42 00000010 41");
    CHECK_FALSE(parse_metadata(overrun, props));
    CHECK(props.empty());

    props.clear();
    const Buf name_overrun = hex("09 4142");
    CHECK_FALSE(parse_metadata(name_overrun, props));
    const Buf no_length = hex("01 41 0000");
    CHECK_FALSE(parse_metadata(no_length, props));
}

TEST_CASE("ZMTP 2.0/3.0 subscription frames", "[wire]") {
    const Buf frame_body = hex("0154");  // ★
    auto s = parse_subscription_frame(frame_body);
    REQUIRE(s);
    CHECK(s->subscribe);
    CHECK(text(s->topic) == "T");
    s = parse_subscription_frame(hex("00"));
    REQUIRE(s);
    CHECK_FALSE(s->subscribe);
    CHECK(s->topic.empty());
    CHECK_FALSE(parse_subscription_frame(hex("0254")));
    CHECK_FALSE(parse_subscription_frame({}));
}

// ---- name tables --------------------------------------------------------------------------

TEST_CASE("name tables", "[wire]") {
    for (auto m : {Mechanism::Null, Mechanism::Plain, Mechanism::Curve, Mechanism::Gssapi})
        CHECK(mechanism_from_name(mechanism_name(m)) == m);
    CHECK(mechanism_from_name("curve") == Mechanism::Other);
    CHECK(mechanism_from_name("") == Mechanism::Unknown);
    CHECK(mechanism_name(Mechanism::Other) == "other");

    const std::vector<std::string_view> types = {
        "PAIR",  "PUB",  "SUB",    "REQ",     "REP",    "DEALER", "ROUTER",
        "PULL",  "PUSH", "XPUB",   "XSUB",    "STREAM", "SERVER", "CLIENT",
        "RADIO", "DISH", "GATHER", "SCATTER", "DGRAM",  "PEER",   "CHANNEL"};
    for (size_t i = 0; i < types.size(); ++i) {
        const auto t = static_cast<SocketType>(i);
        CHECK(socket_type_name(t) == types[i]);
        CHECK(socket_type_from_name(types[i]) == t);
        CHECK(socket_type_from_number(uint8_t(i)) == t);
    }
    CHECK(socket_type_from_name("dealer") == SocketType::Dealer);
    CHECK(socket_type_from_name("Router") == SocketType::Router);
    CHECK(socket_type_from_name("DEALERS") == SocketType::Unknown);
    CHECK(socket_type_from_name("DEAL") == SocketType::Unknown);
    CHECK(socket_type_from_number(21) == SocketType::Unknown);
    CHECK(socket_type_name(SocketType::Unknown) == "unknown");

    CHECK(command_kind_name(CommandKind::Ready) == "READY");
    CHECK(command_kind_name(CommandKind::Subscribe) == "SUBSCRIBE");
    CHECK(command_kind_name(CommandKind::Message) == "MESSAGE");
    CHECK(command_kind_name(CommandKind::Unknown) == "unknown");
}

TEST_CASE("one greeting rule for every caller", "[wire]") {
    const Buf v3 =
        hex("ff00000000000000017f 0301 4355525645000000000000000000000000000000 00 "
            "0000000000000000000000000000000000000000000000000000000000000000");
    CHECK(match_greeting({}) == GreetingMatch::NeedMore);
    CHECK(match_greeting(Bytes(v3).first(5)) == GreetingMatch::NeedMore);
    for (size_t n : {10, 11, 12, 20, 64})
        CHECK(match_greeting(Bytes(v3).first(n)) == GreetingMatch::Yes);
    Buf lower = v3;
    lower[12] = 'c';  // mechanism names are capitals
    CHECK(match_greeting(lower) == GreetingMatch::No);
    Buf padded = v3;
    padded[20] = 'X';  // text after the NUL padding
    CHECK(match_greeting(padded) == GreetingMatch::No);
    Buf not_libzmq_padding = v3;
    not_libzmq_padding[3] = 1;
    CHECK(match_greeting(Bytes(not_libzmq_padding).first(10)) == GreetingMatch::No);
    CHECK(match_greeting(hex("ff00000000000000017f 01 05")) == GreetingMatch::Yes);  // 2.0 DEALER
    CHECK(match_greeting(hex("ff00000000000000017f 01 2a")) == GreetingMatch::No);
    CHECK(match_greeting(hex("16 03 01 02 00 01 00 01 fc 03 03")) == GreetingMatch::No);  // TLS
}

TEST_CASE("CURVE box plaintext layouts", "[wire]") {
    Buf initiate(32 + 16 + 80 + 5);
    for (size_t i = 0; i < initiate.size(); ++i) initiate[i] = uint8_t(i);
    const auto p = parse_initiate_plaintext(initiate);
    REQUIRE(p.has_value());
    CHECK(p->client_public.size() == 32);
    CHECK(p->vouch_nonce.front() == 32);
    CHECK(p->vouch_box.size() == 80);
    CHECK(p->vouch_box.front() == 48);
    CHECK(p->metadata.size() == 5);
    CHECK_FALSE(parse_initiate_plaintext(Bytes(initiate).first(127)).has_value());
    const Buf welcome(128, 7);
    REQUIRE(parse_welcome_plaintext(welcome).has_value());
    CHECK(parse_welcome_plaintext(welcome)->cookie.size() == 96);
    CHECK_FALSE(parse_welcome_plaintext(Bytes(welcome).first(127)).has_value());
    CHECK(printable("ok\x01\xff") == "ok\\x01\\xff");
}
