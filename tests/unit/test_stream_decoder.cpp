// The incremental stream decoder: greetings of every ZMTP version, framing, chunking
// invariance, zero-copy bodies, and hostile input.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "byte_builders.hpp"
#include "zmtp/stream_decoder.hpp"

using namespace zmtp;
using namespace zmtp::test;

namespace {

using Kind = StreamEvent::Kind;

Buf greeting_v3(std::string_view mechanism, uint8_t minor = 1, uint64_t padding = 1) {
    Buf g{0xFF};
    put_be64(g, padding);
    g.push_back(0x7F);
    g.push_back(3);
    g.push_back(minor);
    put(g, mechanism);
    g.resize(64, 0);
    return g;
}

// A V2/V3 frame; LONG only when needed unless forced.
Buf frame(uint8_t flags, const Buf& body, bool force_long = false) {
    Buf f;
    if (body.size() > 255 || force_long) {
        f.push_back(flags | 0x02);
        put_be64(f, body.size());
    } else {
        f.push_back(flags);
        f.push_back(uint8_t(body.size()));
    }
    put(f, body);
    return f;
}
Buf frame(uint8_t flags, std::string_view body, bool force_long = false) {
    return frame(flags, Buf(body.begin(), body.end()), force_long);
}

std::string hex_of(Bytes b) {
    std::string s;
    char digits[3];
    for (uint8_t c : b) {
        std::snprintf(digits, sizeof digits, "%02x", c);
        s += digits;
    }
    return s;
}

// One line per event, with every field that must not depend on chunking.
std::string describe(const StreamEvent& e) {
    std::string s = "@" + std::to_string(e.offset) + "+" + std::to_string(e.size) + " ";
    switch (e.kind) {
        case Kind::Greeting: {
            const Greeting& g = e.greeting;
            return s + "greeting framing=" + std::to_string(int(g.framing)) + " v" +
                   std::to_string(g.major) + "." + std::to_string(g.minor) +
                   " mech=" + g.mechanism_text + " server=" + std::to_string(g.as_server) +
                   " type=" + std::to_string(int(g.socket_type)) +
                   " pad=" + std::to_string(g.signature_padding) +
                   " size=" + std::to_string(g.size) + " bytes=" + hex_of(e.body);
        }
        case Kind::Frame: {
            const FrameHeader& h = e.header;
            return s + "frame flags=" + std::to_string(h.flags) +
                   " hdr=" + std::to_string(h.header_size) + " len=" + std::to_string(h.body_size) +
                   " more=" + std::to_string(h.more) + " cmd=" + std::to_string(h.command) +
                   " rsv=" + std::to_string(h.reserved_bits) +
                   " skipped=" + std::to_string(e.body_skipped) + " body=" + hex_of(e.body);
        }
        case Kind::Error:
            return s + "error " + std::string(stream_error_name(e.error)) + ": " + e.message;
        case Kind::Gap:
            return s + "gap known=" + std::to_string(e.lost_known) +
                   " before_start=" + std::to_string(e.before_start) +
                   " cut=" + (e.cut_unit_offset ? std::to_string(*e.cut_unit_offset) : "-");
        case Kind::Resync:
            return s + "resync skipped=" + std::to_string(e.skipped) +
                   " evidence=" + std::string(resync_evidence_name(e.evidence));
    }
    return s;
}

struct Run {
    std::vector<std::string> events;
    std::vector<StreamEvent> raw;  // bodies cleared: they are only valid during the callback
    std::vector<Buf> bodies;
};

// The two ways of feeding: feed() with a std::function, feed_with() with the lambda itself.
enum class Api { Function, Direct };

// Feeds `stream` split at `cuts` (increasing offsets) to `decoder`.
Run feed_split(StreamDecoder& decoder, Bytes stream, const std::vector<size_t>& cuts,
               Api api = Api::Function) {
    Run run;
    auto sink = [&](const StreamEvent& e) {
        run.events.push_back(describe(e));
        run.bodies.emplace_back(e.body.begin(), e.body.end());
        run.raw.push_back(e);
        run.raw.back().body = {};
    };
    auto feed = [&](Bytes chunk) {
        if (api == Api::Function) {
            decoder.feed(chunk, sink);
        } else {
            decoder.feed_with(chunk, sink);
        }
    };
    size_t from = 0;
    for (size_t cut : cuts) {
        feed(stream.subspan(from, cut - from));
        from = cut;
    }
    feed(stream.subspan(from));
    return run;
}

Run decode(Bytes stream, const std::vector<size_t>& cuts = {}, Limits limits = {},
           SignatureInfo peer = {}, Api api = Api::Function) {
    StreamDecoder decoder(limits);
    decoder.set_peer_signature(peer);
    return feed_split(decoder, stream, cuts, api);
}

Run decode_bytewise(Bytes stream, Limits limits = {}, SignatureInfo peer = {},
                    Api api = Api::Function) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    return decode(stream, cuts, limits, peer, api);
}

// Every split into two chunks, every byte on its own, and random multi-way splits give the
// events of one whole chunk, through both feeding APIs. Whole frames take the inline path
// (views into the chunk), frames spanning chunks the buffer or the skip: same events.
void check_chunking_invariance(Bytes stream, Limits limits = {}, SignatureInfo peer = {}) {
    const auto whole = decode(stream, {}, limits, peer).events;
    for (const Api api : {Api::Function, Api::Direct}) {
        INFO("api " << int(api));
        REQUIRE(decode(stream, {}, limits, peer, api).events == whole);
        for (size_t cut = 0; cut <= stream.size(); ++cut) {
            INFO("split at " << cut);
            REQUIRE(decode(stream, {cut}, limits, peer, api).events == whole);
        }
        REQUIRE(decode_bytewise(stream, limits, peer, api).events == whole);
        std::mt19937 rng(42);
        for (int round = 0; round < 50; ++round) {
            std::vector<size_t> cuts;
            for (size_t at = rng() % 90; at < stream.size(); at += 1 + rng() % 90)
                cuts.push_back(at);
            INFO("round " << round);
            REQUIRE(decode(stream, cuts, limits, peer, api).events == whole);
        }
    }
}

SignatureInfo peer_revision(int revision, int minor = -1) {
    SignatureInfo s;
    s.known = true;
    s.revision = revision;
    s.minor = minor;
    return s;
}

SignatureInfo peer_unversioned() {
    SignatureInfo s;
    s.known = true;
    s.unversioned = true;
    return s;
}

// A NULL-mechanism ZMTP 3.1 direction: greeting, READY, a 3-frame message with a LONG frame,
// a small frame sent with LONG, a PING, a SUBSCRIBE.
Buf realistic_stream() {
    Buf s = greeting_v3("NULL", 1, 4);
    Buf ready{5};
    put(ready, "READY");
    put(ready, hex("0b 536f636b65742d54797065 00000006 4445414c4552"));
    put(s, frame(0x04, ready));
    put(s, frame(0x01, ""));
    Buf big(300);
    for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7);
    put(s, frame(0x01, big));
    put(s, frame(0x00, "world"));
    put(s, frame(0x00, "tiny", true));
    put(s, hex("04 07 0450494e470014"));
    put(s, frame(0x04, "\x09SUBSCRIBEtopicA"));
    return s;
}

}  // namespace

// ---- ZMTP 3.x -----------------------------------------------------------------------------

TEST_CASE("a ZMTP 3.1 stream: events, offsets, sizes", "[decoder]") {
    const Buf stream = realistic_stream();
    StreamDecoder decoder;
    const Run run = feed_split(decoder, stream, {});
    REQUIRE(run.raw.size() == 8);

    const StreamEvent& g = run.raw[0];
    CHECK(g.kind == Kind::Greeting);
    CHECK(g.offset == 0);
    CHECK(g.size == 64);
    CHECK(g.greeting.major == 3);
    CHECK(g.greeting.minor == 1);
    CHECK(g.greeting.mechanism == Mechanism::Null);
    CHECK(g.greeting.signature_padding == 4);
    CHECK(g.greeting.framing == Framing::V3);
    CHECK(run.bodies[0] == Buf(stream.begin(), stream.begin() + 64));

    const StreamEvent& ready = run.raw[1];
    CHECK(ready.kind == Kind::Frame);
    CHECK(ready.offset == 64);
    CHECK(ready.header.command);
    const Command c = parse_command(run.bodies[1], Mechanism::Null);
    CHECK(c.kind == CommandKind::Ready);

    CHECK(run.raw[2].header.more);
    CHECK(run.raw[2].header.body_size == 0);
    CHECK(run.raw[3].header.header_size == 9);
    CHECK(run.raw[3].size == 309);
    CHECK(run.bodies[3].size() == 300);
    CHECK(run.raw[3].offset == run.raw[2].offset + run.raw[2].size);
    CHECK(run.raw[5].header.header_size == 9);  // LONG for a 4-byte body
    CHECK(run.bodies[5] == Buf{'t', 'i', 'n', 'y'});
    CHECK(parse_command(run.bodies[6], Mechanism::Null).ping_ttl_ds == 20);

    const StreamEvent& last = run.raw.back();
    CHECK(last.offset + last.size == stream.size());
    CHECK(decoder.offset() == stream.size());
    CHECK(decoder.framing() == Framing::V3);
    CHECK(decoder.greeting_done());
    CHECK_FALSE(decoder.failed());
    CHECK(decoder.buffered_bytes() == 0);
}

TEST_CASE("bodies of whole units are views into the caller's chunk", "[decoder]") {
    const Buf stream = realistic_stream();
    StreamDecoder decoder;
    size_t frames = 0;
    decoder.feed(stream, [&](const StreamEvent& e) {
        REQUIRE(e.body.data() >= stream.data());
        REQUIRE(e.body.data() + e.body.size() <= stream.data() + stream.size());
        CHECK(e.body.data() ==
              stream.data() + e.offset + (e.kind == Kind::Frame ? e.header.header_size : 0));
        ++frames;
    });
    CHECK(frames == 8);
    CHECK(decoder.buffer_capacity() == 0);  // nothing was ever copied
}

TEST_CASE("events do not depend on chunking", "[decoder]") {
    SECTION("3.1 stream with a 64-byte greeting and a LONG frame") {
        check_chunking_invariance(realistic_stream());
    }
    SECTION("libzmq's 10 + 1 + 53 byte greeting segments") {
        const Buf stream = realistic_stream();
        CHECK(decode(stream, {10, 11, 64}).events == decode(stream).events);
    }
    SECTION("2.0 downgrade decided from byte 12") {
        Buf s = hex("ff00000000000000017f 03 02  00 00  00 02 0154  01 01 41  00 00");
        check_chunking_invariance(s);
    }
    SECTION("ZMTP 1.0, with and without libzmq's signature") {
        check_chunking_invariance(hex("01 00 03 00 0154 02 01 41 01 00"));
        check_chunking_invariance(hex("ff 0000000000000003 7f 6162 03 00 0154"), {},
                                  peer_unversioned());
    }
    SECTION("oversized bodies are skipped the same way") {
        Limits limits;
        limits.max_body_size = 100;
        check_chunking_invariance(realistic_stream(), limits);
    }
    SECTION("message bodies not needed: skipped the same way") {
        Limits limits;
        limits.skip_message_bodies = true;
        check_chunking_invariance(realistic_stream(), limits);
        check_chunking_invariance(
            hex("ff00000000000000017f 03 02  00 00  00 02 0154  01 01 41  00 00"), limits);
        check_chunking_invariance(hex("01 00 03 00 0154 02 01 41 01 00"), limits);
        limits.max_body_size = 100;
        check_chunking_invariance(realistic_stream(), limits);
    }
    SECTION("fatal errors happen at the same place") {
        Buf s = realistic_stream();
        put(s, hex("02 8000000000000000"));
        put(s, frame(0, "ignored"));
        check_chunking_invariance(s);
    }
}

TEST_CASE("skipped message bodies: same units, offsets and counters as buffered ones",
          "[decoder]") {
    Buf stream = realistic_stream();
    put(stream, frame(0x00, Buf(5000, 'z')));  // spans every 1460-byte chunk it starts in
    put(stream, frame(0x04,
                      "\x06"
                      "CANCELtopicA"));
    std::vector<size_t> cuts;
    for (size_t at = 1460; at < stream.size(); at += 1460) cuts.push_back(at);
    Limits skip;
    skip.skip_message_bodies = true;
    for (const Api api : {Api::Function, Api::Direct}) {
        StreamDecoder buffered_decoder, skipping_decoder(skip);
        const Run buffered = feed_split(buffered_decoder, stream, cuts, api);
        const Run skipped = feed_split(skipping_decoder, stream, cuts, api);
        REQUIRE(skipped.raw.size() == buffered.raw.size());
        for (size_t i = 0; i < buffered.raw.size(); ++i) {
            const StreamEvent& b = buffered.raw[i];
            const StreamEvent& k = skipped.raw[i];
            INFO("event " << i);
            CHECK(k.kind == b.kind);
            CHECK(k.offset == b.offset);
            CHECK(k.size == b.size);
            CHECK(k.header.flags == b.header.flags);
            CHECK(k.header.body_size == b.header.body_size);
            const bool message_frame = b.kind == Kind::Frame && !b.header.command;
            CHECK(k.body_skipped == message_frame);
            CHECK(skipped.bodies[i] == (message_frame ? Buf{} : buffered.bodies[i]));
        }
        CHECK(skipping_decoder.offset() == buffered_decoder.offset());
        CHECK(skipping_decoder.offset() == stream.size());
        CHECK(buffered_decoder.buffer_capacity() >= 5000);
        CHECK(skipping_decoder.buffer_capacity() < 64);  // a body was never copied
    }
}

TEST_CASE("skipping message bodies can start between units, from the sink", "[decoder]") {
    // Skips from the unit after the READY command on: a caller that learnt from READY that
    // it needs no bodies. Same events for every chunking.
    const Buf stream = realistic_stream();
    auto run_with = [&](const std::vector<size_t>& cuts) {
        StreamDecoder decoder;
        std::vector<std::string> events;
        auto sink = [&](const StreamEvent& e) {
            events.push_back(describe(e));
            if (e.kind == Kind::Frame && e.header.command) decoder.set_skip_message_bodies(true);
        };
        size_t from = 0;
        for (size_t cut : cuts) {
            decoder.feed_with(Bytes(stream).subspan(from, cut - from), sink);
            from = cut;
        }
        decoder.feed_with(Bytes(stream).subspan(from), sink);
        return events;
    };
    const auto whole = run_with({});
    REQUIRE(whole.size() == 8);
    CHECK(whole[2].find("skipped=1") != std::string::npos);
    CHECK(whole[5].find("skipped=1") != std::string::npos);
    CHECK(whole[6].find("skipped=0") != std::string::npos);  // PING: a command
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        INFO("split at " << cut);
        CHECK(run_with({cut}) == whole);
    }
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < stream.size(); ++i) bytewise.push_back(i);
    CHECK(run_with(bytewise) == whole);
}

TEST_CASE("feed_with: views into each chunk for the frames that lie whole in it", "[decoder]") {
    Buf stream = realistic_stream();
    for (int i = 0; i < 100; ++i) put(stream, frame(0x00, Buf(size_t(i * 3), uint8_t(i))));
    StreamDecoder decoder;
    size_t viewed = 0, copied = 0;
    const size_t chunk = 500;
    for (size_t at = 0; at < stream.size(); at += chunk) {
        const Bytes piece = Bytes(stream).subspan(at, std::min(chunk, stream.size() - at));
        decoder.feed_with(piece, [&](const StreamEvent& e) {
            const size_t header = e.kind == Kind::Frame ? e.header.header_size : 0;
            const bool whole_in_piece = e.offset >= at && e.offset + e.size <= at + piece.size();
            if (whole_in_piece) {
                CHECK(e.body.data() == piece.data() + (e.offset - at) + header);
                ++viewed;
            } else {
                CHECK(
                    (e.body.data() < piece.data() || e.body.data() >= piece.data() + piece.size()));
                ++copied;
            }
            CHECK(e.body.size() == e.size - header);
        });
    }
    CHECK(viewed + copied == 108);
    CHECK(viewed > 70);
    CHECK(copied > 10);
    CHECK(decoder.buffered_bytes() == 0);
}

TEST_CASE("ZMTP 3.0 greeting and mechanisms", "[decoder]") {
    Buf s = greeting_v3("CURVE", 0);
    put(s, frame(0x04, "\x05HELLO"));
    const Run run = decode(s);
    REQUIRE(run.raw.size() == 2);
    CHECK(run.raw[0].greeting.minor == 0);
    CHECK(run.raw[0].greeting.mechanism == Mechanism::Curve);
    CHECK(run.raw[0].greeting.framing == Framing::V3);
    CHECK(run.raw[1].header.command);
}

TEST_CASE("a greeting is not reported until all of it has arrived", "[decoder]") {
    const Buf g = greeting_v3("PLAIN");
    StreamDecoder decoder;
    std::vector<Kind> seen;
    auto sink = [&](const StreamEvent& e) { seen.push_back(e.kind); };
    decoder.feed(Bytes(g).first(10), sink);
    decoder.feed(Bytes(g).subspan(10, 1), sink);
    decoder.feed(Bytes(g).subspan(11, 52), sink);
    CHECK(seen.empty());
    CHECK_FALSE(decoder.greeting_done());
    decoder.feed(Bytes(g).subspan(63), sink);
    CHECK(seen == std::vector<Kind>{Kind::Greeting});
    CHECK(decoder.buffered_bytes() == 0);
}

// ---- older versions and libzmq's downgrades -----------------------------------------------

TEST_CASE("ZMTP 2.0 peer: 12-byte greeting with its identity frame, V2 framing", "[decoder]") {
    const Buf s = hex("ff00000000000000017f 01 05  00 00  01 00  00 05 68656c6c6f  04 00");
    const Run run = decode(s);
    REQUIRE(run.raw.size() == 4);
    const Greeting& g = run.raw[0].greeting;
    CHECK(run.raw[0].size == 14);  // the identity frame 00 00 is part of the greeting
    CHECK(g.size == 14);
    CHECK(g.major == 1);
    CHECK(g.socket_type == SocketType::Dealer);
    CHECK(g.framing == Framing::V2);
    REQUIRE(g.identity);
    CHECK(g.identity->empty());
    CHECK(g.identity_offset == 14);
    CHECK(run.raw[1].offset == 14);
    CHECK(run.raw[1].header.more);
    CHECK(run.bodies[2] == Buf{'h', 'e', 'l', 'l', 'o'});
    CHECK_FALSE(run.raw[3].header.command);  // no COMMAND bit in 2.0...
    CHECK(run.raw[3].header.reserved_bits);  // ...so 0x04 is a reserved bit
    check_chunking_invariance(s);
}

TEST_CASE("libzmq answering a 2.0 peer: 12-byte greeting with major 3", "[decoder]") {
    // ★ docs/protocol.md 1.2: ff00000000000000017f then 03 02 (SUB), identity, subscribe.
    const Buf s = hex("ff00000000000000017f 03 02  00 00  00 02 0154");
    for (const SignatureInfo& peer : {peer_revision(1), SignatureInfo{}}) {
        INFO("peer known: " << peer.known);
        StreamDecoder decoder;
        decoder.set_peer_signature(peer);
        const Run run = feed_split(decoder, s, {});
        REQUIRE(run.raw.size() == 2);
        CHECK(run.raw[0].size == 14);  // 12 bytes and the identity frame 00 00
        CHECK(run.raw[0].greeting.major == 3);
        CHECK(run.raw[0].greeting.downgraded);
        CHECK(run.raw[0].greeting.socket_type == SocketType::Sub);
        CHECK(run.raw[0].greeting.framing == Framing::V2);
        CHECK(greeting_label(run.raw[0].greeting) == "ZMTP 2.0 (downgraded from 3.x) SUB");
        CHECK(decoder.framing() == Framing::V2);
        REQUIRE(parse_subscription_frame(run.bodies[1]));
        CHECK(parse_subscription_frame(run.bodies[1])->subscribe);
        CHECK(decoder.signature().revision == 3);
        CHECK(decoder.signature().minor == -1);  // byte 11 was a socket type
    }
}

TEST_CASE("the peer's revision decides over byte 12", "[decoder]") {
    // A 3.x greeting whose mechanism starts with NUL would look like libzmq's 12-byte answer
    // on its own bytes; a peer known to be 3.x settles it.
    Buf s = greeting_v3("");
    put(s, frame(0x00, "x"));
    Run run = decode(s, {}, {}, peer_revision(3, 1));
    REQUIRE(run.raw.size() == 2);
    CHECK(run.raw[0].size == 64);
    CHECK(run.raw[1].offset == 64);

    run = decode(s);
    REQUIRE_FALSE(run.raw.empty());
    CHECK(run.raw[0].size == 14);  // 12 bytes, then 00 00 read as the identity frame

    // And a peer known to be 2.0 makes a 3.x-looking side a 12-byte one, even where byte 12
    // (here an identity frame with flags 01) is no 0x00.
    Buf g = greeting_v3("NULL");
    g.resize(12);
    put(g, hex("01 01 78"));
    run = decode(g, {}, {}, peer_revision(1));
    REQUIRE_FALSE(run.raw.empty());
    CHECK(run.raw[0].size == 15);
    CHECK(run.raw[0].greeting.framing == Framing::V2);
    CHECK(*run.raw[0].greeting.identity == "x");
}

TEST_CASE("revision 0 and libzmq's answer to it use V1 framing after 12 bytes", "[decoder]") {
    const Buf rev0 = hex("ff00000000000000017f 00 08  01 00  06 00 68656c6c6f");
    Run run = decode(rev0);
    REQUIRE(run.raw.size() == 2);
    CHECK(run.raw[0].size == 14);  // and the V1 identity frame 01 00
    CHECK(run.raw[0].greeting.major == 0);
    CHECK(run.raw[0].greeting.framing == Framing::V1);
    CHECK(run.raw[0].greeting.socket_type == SocketType::Push);
    CHECK(run.raw[0].greeting.identity->empty());
    CHECK(run.bodies[1] == Buf{'h', 'e', 'l', 'l', 'o'});

    const Buf answer = hex("ff00000000000000017f 03 07  01 00  06 00 68656c6c6f");
    run = decode(answer, {}, {}, peer_revision(0));
    REQUIRE(run.raw.size() == 2);
    CHECK(run.raw[0].greeting.major == 3);
    CHECK(run.raw[0].greeting.downgraded);
    CHECK(run.raw[0].greeting.framing == Framing::V1);
    CHECK(run.raw[1].offset == 14);
}

TEST_CASE("ZMTP 1.0: the identity frame is the greeting, V1 frames follow", "[decoder]") {
    SECTION("short identity") {
        const Buf s = hex("01 00  03 00 0154  ff 0000000000000101 00");
        Buf with_long = s;
        with_long.resize(with_long.size() + 256, 'L');
        const Run run = decode(with_long);
        REQUIRE(run.raw.size() == 3);
        CHECK(run.raw[0].kind == Kind::Greeting);
        CHECK(run.raw[0].offset == 0);
        CHECK(run.raw[0].size == 2);  // the identity frame 01 00
        CHECK(run.raw[0].greeting.size == 2);
        CHECK(run.raw[0].greeting.major == 0);
        CHECK_FALSE(run.raw[0].greeting.versioned);
        CHECK(run.raw[0].greeting.framing == Framing::V1);
        CHECK(run.raw[0].greeting.identity->empty());
        CHECK(run.raw[1].offset == 2);
        CHECK(run.bodies[1] == Buf{0x01, 'T'});
        CHECK(run.raw[2].header.header_size == 10);
        CHECK(run.raw[2].size == 10 + 256);
    }
    SECTION("long identity: FF, length, then flags with bit 0 clear") {
        Buf s = hex("ff 0000000000000100 00");
        s.resize(s.size() + 255, 'i');
        const Run run = decode(s);
        REQUIRE(run.raw.size() == 1);
        CHECK(run.raw[0].greeting.framing == Framing::V1);
        CHECK(run.raw[0].size == s.size());
        CHECK(run.raw[0].greeting.identity == std::string(255, 'i'));
        CHECK(run.raw[0].greeting.identity_offset == 10);
        StreamDecoder d;
        feed_split(d, s, {});
        CHECK(d.signature().unversioned);
    }
    SECTION("★ libzmq answering a 1.0 peer: its signature is the identity header") {
        const Buf s = hex("ff 0000000000000003 7f 6162  03 00 0154  02 01 41  01 00");
        StreamDecoder decoder;
        decoder.set_peer_signature(peer_unversioned());
        const Run run = feed_split(decoder, s, {});
        REQUIRE(run.raw.size() == 4);
        CHECK(run.raw[0].kind == Kind::Greeting);
        CHECK(run.raw[0].size == 12);
        CHECK(run.raw[0].greeting.framing == Framing::V1);
        CHECK(run.raw[0].greeting.signature_padding == 3);
        CHECK(run.raw[0].greeting.versioned);
        CHECK(run.raw[0].greeting.downgraded);
        CHECK(run.raw[0].greeting.identity == "ab");
        CHECK(run.raw[1].offset == 12);
        CHECK(run.bodies[1] == Buf{0x01, 'T'});
        CHECK(run.raw[2].header.more);  // later frames keep their flags
        CHECK_FALSE(run.raw[3].header.more);
        CHECK(decoder.signature().unversioned);
    }
}

TEST_CASE("two decoders of one connection, fed the way libzmq sends", "[decoder]") {
    // libzmq 4 (A) connects to a ZMTP 2.0 peer (B). A sends its 10-byte signature; B its
    // whole 12-byte greeting and identity; then A its major version and socket type.
    const Buf a = hex("ff00000000000000017f 03 05  00 00  00 05 68656c6c6f");
    const Buf b = hex("ff00000000000000017f 01 06  00 00  00 02 6f6b");
    StreamDecoder da, db;
    std::vector<StreamEvent> ea, eb;
    auto feed = [](StreamDecoder& self, const StreamDecoder& other, Bytes data,
                   std::vector<StreamEvent>& out) {
        self.set_peer_signature(other.signature());
        self.feed(data, [&](const StreamEvent& e) { out.push_back(e); });
    };
    feed(da, db, Bytes(a).first(10), ea);
    feed(db, da, b, eb);
    feed(da, db, Bytes(a).subspan(10), ea);
    REQUIRE(ea.size() == 2);  // greeting (identity included), "hello"
    REQUIRE(eb.size() == 2);
    CHECK(ea[0].size == 14);
    CHECK(ea[0].greeting.framing == Framing::V2);
    CHECK(eb[0].greeting.major == 1);
    CHECK(db.signature().revision == 1);
    CHECK(ea[1].header.body_size == 5);
}

TEST_CASE("signature() reports what the first bytes say", "[decoder]") {
    StreamDecoder d;
    auto ignore = [](const StreamEvent&) {};
    CHECK_FALSE(d.signature().known);
    const Buf g = greeting_v3("CURVE", 0);
    d.feed(Bytes(g).first(1), ignore);
    CHECK(d.signature().known);
    CHECK_FALSE(d.signature().unversioned);
    CHECK(d.signature().revision == -1);
    d.feed(Bytes(g).subspan(1, 10), ignore);
    CHECK(d.signature().revision == 3);
    CHECK(d.signature().minor == -1);
    d.feed(Bytes(g).subspan(11), ignore);
    CHECK(d.signature().minor == 0);

    StreamDecoder v1;
    const Buf identity = hex("01 00");
    v1.feed(identity, ignore);
    CHECK(v1.signature().unversioned);
}

// ---- hostile input ------------------------------------------------------------------------

TEST_CASE("truncated frames give no event until complete", "[decoder]") {
    const Buf stream = realistic_stream();
    const auto whole = decode(stream).events;
    for (size_t cut = 1; cut < stream.size(); ++cut) {
        StreamDecoder decoder;
        Run run = feed_split(decoder, Bytes(stream).first(cut), {});
        for (const auto& e : run.raw) REQUIRE(e.offset + e.size <= cut);
        REQUIRE(std::equal(run.events.begin(), run.events.end(), whole.begin()));
        const Run rest = feed_split(decoder, Bytes(stream).subspan(cut), {});
        run.events.insert(run.events.end(), rest.events.begin(), rest.events.end());
        REQUIRE(run.events == whole);
    }
}

TEST_CASE("a declared length above 2^63-1 is fatal and allocates nothing", "[decoder]") {
    Buf s = greeting_v3("NULL");
    put(s, frame(0x00, "ok"));
    const size_t bad_at = s.size();
    put(s, hex("02 8000000000000000"));
    put(s, frame(0x00, "after"));

    StreamDecoder decoder;
    const Run run = feed_split(decoder, s, {});
    REQUIRE(run.raw.size() == 3);
    const StreamEvent& error = run.raw[2];
    CHECK(error.kind == Kind::Error);
    CHECK(error.error == StreamError::BadLength);
    CHECK(error.offset == bad_at);
    CHECK(error.message.find("9223372036854775808") != std::string::npos);
    CHECK(error.message.find("2^63-1") != std::string::npos);
    CHECK(decoder.failed());
    CHECK(decoder.buffer_capacity() == 0);
    CHECK(decoder.next_unit_size(s) == std::numeric_limits<uint64_t>::max());

    // Split so that the bad header is collected in the buffer first: it is released.
    StreamDecoder bytewise;
    std::vector<size_t> cuts;
    for (size_t i = bad_at + 1; i < s.size(); ++i) cuts.push_back(i);
    CHECK(feed_split(bytewise, s, cuts).events == run.events);
    CHECK(bytewise.buffer_capacity() == 0);

    // Later input is ignored.
    const Run later = feed_split(decoder, frame(0x00, "more"), {});
    CHECK(later.raw.empty());
}

TEST_CASE("a frame declaring 2^62 bytes: memory stays small", "[decoder]") {
    Buf s = greeting_v3("NULL");
    put(s, hex("02 4000000000000000"));
    Buf junk(1460, 0x55);

    SECTION("skipped: bodies above max_body_size are never stored") {
        StreamDecoder decoder;
        size_t events = 0;
        auto sink = [&](const StreamEvent&) { ++events; };
        decoder.feed(s, sink);
        for (int i = 0; i < 1000; ++i) decoder.feed(junk, sink);
        CHECK(events == 1);  // the greeting only: the frame is not complete
        CHECK(decoder.buffer_capacity() == 0);
        CHECK(decoder.offset() == s.size() + 1000 * junk.size());
        CHECK_FALSE(decoder.failed());
    }
    SECTION("buffered: the buffer grows only with bytes that arrived") {
        Limits unlimited;
        unlimited.max_body_size = std::numeric_limits<uint64_t>::max();
        StreamDecoder decoder(unlimited);
        auto sink = [](const StreamEvent&) {};
        decoder.feed(s, sink);
        CHECK(decoder.buffer_capacity() < 64);
        for (int i = 0; i < 100; ++i) decoder.feed(junk, sink);
        const size_t arrived = 9 + 100 * junk.size();
        CHECK(decoder.buffered_bytes() == arrived);
        CHECK(decoder.buffer_capacity() <= 2 * arrived);
    }
}

TEST_CASE("bodies above max_body_size are skipped and reported", "[decoder]") {
    Limits limits;
    limits.max_body_size = 100;
    Buf s = greeting_v3("NULL");
    put(s, frame(0x01, Buf(101, 'a')));
    put(s, frame(0x00, Buf(100, 'b')));
    Buf huge(1000, 'c');
    put(s, frame(0x00, huge));

    for (const auto& cuts : {std::vector<size_t>{}, std::vector<size_t>{70, 100, 500}}) {
        StreamDecoder decoder(limits);
        const Run run = feed_split(decoder, s, cuts);
        REQUIRE(run.raw.size() == 4);
        CHECK(run.raw[1].body_skipped);
        CHECK(run.bodies[1].empty());
        CHECK(run.raw[1].header.body_size == 101);
        CHECK(run.raw[1].header.more);
        CHECK(run.raw[1].size == 103);
        CHECK_FALSE(run.raw[2].body_skipped);
        CHECK(run.bodies[2] == Buf(100, 'b'));
        CHECK(run.raw[3].body_skipped);
        CHECK(run.raw[3].size == 1009);
        CHECK(decoder.buffer_capacity() < 1000);
    }
}

TEST_CASE("memory for large buffered units: bounded by the largest unit, then reused",
          "[decoder]") {
    Buf s = greeting_v3("NULL");
    put(s, frame(0x00, Buf(1 << 20, 'x')));
    put(s, frame(0x00, "next"));
    const size_t first_large_end = s.size();
    put(s, frame(0x00, Buf(1 << 20, 'y')));
    StreamDecoder decoder;
    std::vector<size_t> cuts;
    for (size_t at = 1000; at < s.size(); at += 1460) cuts.push_back(at);

    std::vector<size_t> capacities;  // after each event
    size_t ends_seen = 0;
    Run run;
    auto sink = [&](const StreamEvent& e) {
        run.raw.push_back(e);
        run.bodies.emplace_back(e.body.begin(), e.body.end());
        capacities.push_back(decoder.buffer_capacity());
        if (e.offset + e.size == first_large_end) ends_seen = run.raw.size();
    };
    size_t prev = 0;
    for (size_t cut : cuts) {
        decoder.feed(Bytes(s).subspan(prev, cut - prev), sink);
        prev = cut;
    }
    decoder.feed(Bytes(s).subspan(prev), sink);

    REQUIRE(run.raw.size() == 4);
    REQUIRE(ends_seen == 3);
    CHECK(run.bodies[1] == Buf(1 << 20, 'x'));
    CHECK(run.bodies[3] == Buf(1 << 20, 'y'));
    const size_t unit = 9 + (1 << 20);
    CHECK(capacities[1] >= unit);
    CHECK(capacities[1] <= 2 * unit);
    // The second large frame reuses the memory of the first one.
    CHECK(capacities[3] == capacities[1]);
    CHECK(decoder.buffered_bytes() == 0);
    decoder.release_memory();
    CHECK(decoder.buffer_capacity() == 0);

    SECTION("given back in the middle of a unit: its bytes are kept") {
        StreamDecoder d;
        const Buf big_frame = frame(0x00, Buf(100000, 'b'));
        Buf stream = greeting_v3("NULL");
        put(stream, frame(0x00, Buf(1 << 20, 'x')));
        const size_t cut = stream.size() + 5000;
        put(stream, big_frame);
        Run run;
        auto sink = [&](const StreamEvent& e) {
            run.bodies.emplace_back(e.body.begin(), e.body.end());
        };
        d.feed(Bytes(stream).first(60000), sink);
        d.feed(Bytes(stream).subspan(60000, cut - 60000), sink);
        CHECK(d.buffer_capacity() > (1u << 20));
        d.release_memory();
        CHECK(d.buffered_bytes() == 5000);
        CHECK(d.buffer_capacity() < 2 * 5000);
        d.feed(Bytes(stream).subspan(cut), sink);
        REQUIRE(run.bodies.size() == 3);
        CHECK(run.bodies[2] == Buf(100000, 'b'));
    }
}

TEST_CASE("reserved flag bits are reported, decoding goes on", "[decoder]") {
    Buf s = greeting_v3("NULL");
    put(s, hex("08 01 41  e0 00  00 02 6f6b"));
    const Run run = decode(s);
    REQUIRE(run.raw.size() == 4);
    CHECK(run.raw[1].header.reserved_bits);
    CHECK(run.raw[2].header.reserved_bits);
    CHECK_FALSE(run.raw[3].header.reserved_bits);
    CHECK(run.bodies[3] == Buf{'o', 'k'});
}

TEST_CASE("a V1 length of 0 is fatal", "[decoder]") {
    const Buf s = hex("01 00  00 05 41");
    StreamDecoder decoder;
    const Run run = feed_split(decoder, s, {});
    REQUIRE(run.raw.size() == 2);  // the greeting (identity frame 01 00), the error
    CHECK(run.raw[1].kind == Kind::Error);
    CHECK(run.raw[1].error == StreamError::BadLength);
    CHECK(run.raw[1].offset == 2);
    CHECK(run.raw[1].message.find("length 0") != std::string::npos);
    CHECK(decoder.failed());
    check_chunking_invariance(s);
}

TEST_CASE("garbage instead of a greeting", "[decoder]") {
    SECTION("HTTP: read as ZMTP 1.0 frames, never more than arrived") {
        const std::string_view http = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
        const Buf s(http.begin(), http.end());
        // 'G' and 'E': the header of a 70-byte 1.0 identity frame the bytes lack.
        StreamDecoder decoder;
        Run run = feed_split(decoder, s, {});
        CHECK(run.raw.empty());
        CHECK(decoder.buffered_bytes() == s.size());
        decoder.finish([&](const StreamEvent& e) { run.raw.push_back(e); });
        REQUIRE(run.raw.size() == 1);
        CHECK(run.raw[0].error == StreamError::Truncated);
        CHECK(run.raw[0].message.find("inside the greeting") != std::string::npos);
        for (const auto& e : run.raw) CHECK(e.offset + e.size <= s.size());
        check_chunking_invariance(s);
    }
    SECTION("a zero first byte") {
        const Buf s = hex("00 00 00 00");
        const Run run = decode(s);
        REQUIRE(run.raw.size() == 1);
        CHECK(run.raw[0].error == StreamError::BadLength);
    }
    SECTION("0xFF then noise") {
        Buf s = hex("ff 1122334455667788 99 aa bb cc dd");
        s.resize(200, 0xEE);
        check_chunking_invariance(s);
    }
    SECTION("random bytes: identical events for any chunking, no crash") {
        std::mt19937 rng(1);
        for (int i = 0; i < 40; ++i) {
            Buf s(64 + rng() % 400);
            for (auto& b : s) b = uint8_t(rng());
            if (i % 2) s[0] = 0xFF, s[9] = 0x7F, s[10] = 3;
            const auto whole = decode(s).events;
            REQUIRE(decode_bytewise(s).events == whole);
            REQUIRE(decode(s, {s.size() / 3, s.size() / 2}).events == whole);
        }
    }
}

TEST_CASE("a gap is reported once per call, and the decoder searches on", "[decoder]") {
    const Buf g = greeting_v3("NULL");
    StreamDecoder decoder;
    std::vector<StreamEvent> events;
    auto sink = [&](const StreamEvent& e) { events.push_back(e); };
    decoder.feed(Bytes(g).first(30), sink);
    decoder.mark_gap(sink);
    decoder.mark_gap(sink);
    decoder.feed(Bytes(g).subspan(30), sink);  // no frame boundary in the greeting's tail
    decoder.mark_segment_end(sink);
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == Kind::Gap);
    CHECK(events[0].offset == 30);
    CHECK_FALSE(events[0].lost_known);
    CHECK(events[1].kind == Kind::Gap);
    CHECK(decoder.resyncing());
    CHECK_FALSE(decoder.failed());
    CHECK(stream_error_name(StreamError::Gap) == "gap");
    CHECK(stream_error_name(StreamError::BadLength) == "bad length");
}

// ---- unit sizes for callers that reassemble ----------------------------------------------

TEST_CASE("next_unit_size and frame_unit_size", "[decoder]") {
    const Buf g = greeting_v3("CURVE");
    StreamDecoder decoder;
    CHECK(decoder.next_unit_size({}) == 0);
    CHECK(decoder.next_unit_size(Bytes(g).first(10)) == 0);
    CHECK(decoder.next_unit_size(Bytes(g).first(12)) == 0);  // byte 12 decides
    CHECK(decoder.next_unit_size(Bytes(g).first(13)) == 64);
    decoder.set_peer_signature(peer_revision(3, 1));
    CHECK(decoder.next_unit_size(Bytes(g).first(11)) == 64);
    decoder.set_peer_signature(peer_revision(1));
    CHECK(decoder.next_unit_size(Bytes(g).first(11)) == 0);  // the identity frame decides
    Buf downgraded(g.begin(), g.begin() + 12);
    put(downgraded, hex("00 02 6964"));
    CHECK(decoder.next_unit_size(downgraded) == 16);

    StreamDecoder v1;
    const Buf identity = hex("01 00 03");
    CHECK(v1.next_unit_size(identity) == 2);  // the greeting is the identity frame
    CHECK(v1.next_unit_size(Bytes(identity).first(1)) == 0);
    const Buf zero = hex("00");
    CHECK(v1.next_unit_size(zero) == std::numeric_limits<uint64_t>::max());

    const Buf short_frame = hex("01 05 6865");
    CHECK(StreamDecoder::frame_unit_size(Framing::V3, short_frame) == 7);
    CHECK(StreamDecoder::frame_unit_size(Framing::V3, Bytes(short_frame).first(1)) == 0);
    const Buf long_frame = hex("02 0000000000000100");
    CHECK(StreamDecoder::frame_unit_size(Framing::V3, long_frame) == 9 + 256);
    const Buf bad = hex("02 ffffffffffffffff");
    CHECK(StreamDecoder::frame_unit_size(Framing::V3, bad) == std::numeric_limits<uint64_t>::max());
    const Buf v1_long = hex("ff 0000000000000003 7f");
    CHECK(StreamDecoder::frame_unit_size(Framing::V1, v1_long) == 12);
}

TEST_CASE("feeding exactly the units next_unit_size names gives the same events", "[decoder]") {
    // What the Wireshark plugin does with tcp_dissect_pdus.
    const Buf stream = realistic_stream();
    StreamDecoder decoder;
    std::vector<size_t> cuts;
    size_t at = 0;
    while (at < stream.size()) {
        const Bytes rest = Bytes(stream).subspan(at);
        const uint64_t n = decoder.next_unit_size(rest);
        REQUIRE(n > 0);
        REQUIRE(n <= rest.size());
        feed_split(decoder, rest.first(n), {});
        at += n;
        cuts.push_back(at);
    }
    CHECK(at == stream.size());
    CHECK(decode(stream, cuts).events == decode(stream).events);
    CHECK(cuts.size() == 8);  // greeting + 7 frames
}

// ---- ★ docs/protocol.md 4.9: the CURVE frame sequences of a real REQ/REP connection ----------

namespace {

// A CURVE command body of `size` bytes: the name, then the nonce where the layout has one.
Buf curve_body(std::string_view name, size_t size, size_t nonce_at, uint64_t nonce) {
    Buf b{uint8_t(name.size())};
    put(b, name);
    b.resize(nonce_at, 0);
    put_be64(b, nonce);
    b.resize(size, 0xA5);
    return b;
}

struct Expected {
    uint8_t flags;
    uint64_t body_size;
    CommandKind kind;
};

void check_sequence(const Buf& stream, const std::vector<Expected>& expected) {
    const Run run = decode(stream);
    REQUIRE(run.raw.size() == expected.size() + 1);
    CHECK(run.raw[0].greeting.mechanism == Mechanism::Curve);
    for (size_t i = 0; i < expected.size(); ++i) {
        INFO("frame " << i);
        const StreamEvent& e = run.raw[i + 1];
        CHECK(e.header.flags == expected[i].flags);
        CHECK(e.header.body_size == expected[i].body_size);
        const Command c = parse_command(run.bodies[i + 1], Mechanism::Curve);
        CHECK(c.kind == expected[i].kind);
        CHECK(c.problem == nullptr);
        CHECK(c.box.size() > 16);
    }
    CHECK(decode(stream, {10, 11, 64}).events == run.events);
    CHECK(decode_bytewise(stream).events == run.events);
}

}  // namespace

TEST_CASE("★ CURVE frame sequences of docs/protocol.md 4.9 decode with their sizes", "[decoder]") {
    SECTION("client to server") {
        Buf s = greeting_v3("CURVE", 1, 10);  // identity "client-id"
        put(s, frame(0x04, curve_body("HELLO", 200, 112, 1)));
        put(s, frame(0x04, curve_body("INITIATE", 298, 105, 2)));  // LONG: 06
        put(s, frame(0x00, curve_body("MESSAGE", 33, 8, 3)));      // the empty REQ delimiter
        put(s, hex("0026 074d455353414745 0000000000000004 "
                   "a31b59ac1cb0be54a13440e86ab75bf53dbcbe99b35e"));
        uint64_t nonce = 4;
        for (size_t size : {38, 33}) put(s, frame(0x00, curve_body("MESSAGE", size, 8, ++nonce)));
        put(s, frame(0x00, curve_body("MESSAGE", 545, 8, ++nonce)));  // LONG: 02
        for (int i = 0; i < 3; ++i) put(s, frame(0x00, curve_body("MESSAGE", 40, 8, ++nonce)));
        const auto hello = CommandKind::Hello, initiate = CommandKind::Initiate,
                   message = CommandKind::Message;
        check_sequence(s, {{0x04, 200, hello},
                           {0x06, 298, initiate},
                           {0x00, 33, message},
                           {0x00, 38, message},
                           {0x00, 38, message},
                           {0x00, 33, message},
                           {0x02, 545, message},
                           {0x00, 40, message},
                           {0x00, 40, message},
                           {0x00, 40, message}});
    }
    SECTION("server to client") {
        Buf s = greeting_v3("CURVE");
        put(s, hex("04a8 0757454c434f4d45 202a2b690345b85632571e56d4fccfb4 "
                   "d69ea45b1a21362cc5976a9c501963489a5e2b0589d91352d25d8de00daec4f046d89ed274d4"
                   "05813df3ce5e142fbfa692b41727649c0e1733b6a206475e720e0bcaa3e821f1753f0135bfd6"
                   "a01a849f69ccb00db2f1bea07cc9618c77be0777d4524bf07b2c058d02a30b9266741af265fb"
                   "81a6a34d5cb6020c0dc549993a49c393c8e79e9291733371d43e8648fa97"));
        put(s, hex("0431 055245414459 0000000000000001 "
                   "595fd1b182cfdd5814f8ed61ae4c8f6beb1cd70799ee2f4e94677e4cc0bc4f26d85321"));
        put(s, hex("0021 074d455353414745 0000000000000002 b114ebd2b1bf35610b00771d4f84023a0f"));
        uint64_t nonce = 2;
        for (size_t size : {40, 33, 33})
            put(s, frame(0x00, curve_body("MESSAGE", size, 8, ++nonce)));
        put(s, frame(0x00, curve_body("MESSAGE", 333, 8, ++nonce)));
        for (int i = 0; i < 3; ++i) put(s, frame(0x00, curve_body("MESSAGE", 38, 8, ++nonce)));
        const auto message = CommandKind::Message;
        check_sequence(s, {{0x04, 168, CommandKind::Welcome},
                           {0x04, 49, CommandKind::Ready},
                           {0x00, 33, message},
                           {0x00, 40, message},
                           {0x00, 33, message},
                           {0x00, 33, message},
                           {0x02, 333, message},
                           {0x00, 38, message},
                           {0x00, 38, message},
                           {0x00, 38, message}});
    }
}
