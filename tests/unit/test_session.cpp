// Session: both directions joined, handshakes, CURVE decryption with every key set of
// docs/keylog.md, pairing, and the worked vector of docs/protocol.md 4.9.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>

#include "transcript.hpp"
#include "zmtp/session.hpp"
#include "zmtp/z85.hpp"
#include "zmtp_peer.hpp"

using namespace zmtp;
using namespace zmtp::test;

namespace {

// Every event as one line, so runs can be compared and searched.
struct Recorder {
    std::vector<std::string> lines;
    std::vector<std::string> frames;    // decrypted or plain frame bodies, hex, "C>S:" prefixed
    std::vector<std::string> commands;  // command names, "C>S:" prefixed, "*" when decrypted
    std::vector<NoticeEvent> notices;
    std::vector<MessageEvent> messages;
    std::vector<HandshakeEvent> handshakes;
    std::vector<CommandEvent> pongs;
    std::map<std::string, CurveOpened> curve;      // by command name
    std::map<std::string, std::string> plaintext;  // hex, by command name (the last one)

    SessionSink sink() {
        return [this](const SessionEvent& e) { record(e); };
    }
    void record(const SessionEvent& e) {
        std::ostringstream os;
        const char* d = e.dir == C2S ? "C>S" : "S>C";
        os << d << " @" << e.offset << "+" << e.size << " ";
        if (auto* g = std::get_if<GreetingEvent>(&e.what)) {
            os << "greeting " << int(g->greeting.major) << "." << int(g->greeting.minor) << " "
               << g->greeting.mechanism_text;
        } else if (auto* c = std::get_if<CommandEvent>(&e.what)) {
            os << "command " << c->command.name << (c->decrypted ? " decrypted" : "")
               << (c->curve.box_opened ? " opened" : "");
            commands.push_back(std::string(d) + ":" + std::string(c->command.name) +
                               (c->decrypted ? "*" : ""));
            if (!c->decrypted) curve[std::string(c->command.name)] = c->curve;
            plaintext[std::string(c->command.name)] = to_hex(c->plaintext);
            if (c->command.kind == CommandKind::Pong) pongs.push_back(*c);
        } else if (auto* f = std::get_if<FrameEvent>(&e.what)) {
            os << "frame seq=" << f->message_seq << " idx=" << f->index_in_message
               << " more=" << f->header.more << " dec=" << f->decrypted
               << " body=" << to_hex(f->body);
            frames.push_back(std::string(d) + ":" + to_hex(f->body));
        } else if (auto* m = std::get_if<MessageEvent>(&e.what)) {
            os << "message seq=" << m->message_seq << " frames=" << m->frames
               << " answers=" << (m->answers_offset ? std::to_string(*m->answers_offset) : "-");
            messages.push_back(*m);
        } else if (auto* n = std::get_if<NoticeEvent>(&e.what)) {
            os << "notice " << notice_code_name(n->code) << ": " << n->text;
            notices.push_back(*n);
        } else if (auto* h = std::get_if<HandshakeEvent>(&e.what)) {
            os << "handshake " << (h->succeeded ? "ok" : "failed " + h->reason);
            handshakes.push_back(*h);
        }
        lines.push_back(os.str());
    }
    bool has_notice(NoticeCode code) const {
        for (auto& n : notices) {
            if (n.code == code) return true;
        }
        return false;
    }
    std::string notice_text(NoticeCode code) const {
        for (auto& n : notices) {
            if (n.code == code) return n.text;
        }
        return {};
    }
};

Recorder run(Session& s, const Transcript& t) {
    Recorder r;
    auto sink = r.sink();
    for (auto& [dir, bytes] : t) s.feed(dir, bytes, sink);
    return r;
}

Recorder run(const Transcript& t, const KeyStore* keys) {
    Session s(keys);
    return run(s, t);
}

Buf hexbuf(std::string_view hex) {
    auto b = from_hex(hex);
    REQUIRE(b.has_value());
    return *b;
}

Key hexkey(std::string_view hex) {
    auto k = parse_key(hex);
    REQUIRE(k.has_value());
    return *k;
}

const Buf ping_body{4, 'P', 'I', 'N', 'G', 0x00, 0x14};
const Buf pong_body{4, 'P', 'O', 'N', 'G'};

// A DEALER/ROUTER CURVE conversation: two requests with replies, then PING/PONG.
Transcript curve_transcript(const CurveKeys& k, const Key& server_key_of_client) {
    return {
        {C2S, greeting("CURVE")},
        {S2C, greeting("CURVE")},
        {C2S, curve_hello(k, server_key_of_client)},
        {S2C, curve_welcome(k)},
        {C2S, curve_initiate(k, metadata({{"Socket-Type", "DEALER"}, {"Identity", "dlr"}}))},
        {S2C, curve_ready(k, metadata({{"Socket-Type", "ROUTER"}}))},
        {C2S, curve_message(k, true, 3, 0x01, "")},
        {C2S, curve_message(k, true, 4, 0x00, "hello")},
        {S2C, curve_message(k, false, 2, 0x01, "")},
        {S2C, curve_message(k, false, 3, 0x00, "world")},
        {C2S, curve_message(k, true, 5, 0x02, ping_body)},
        {S2C, curve_message(k, false, 4, 0x02, pong_body)},
    };
}

const std::vector<std::string> curve_plaintexts = {"C>S:", "C>S:" + to_hex(as_bytes("hello")),
                                                   "S>C:", "S>C:" + to_hex(as_bytes("world"))};

// A NULL conversation: both greetings (the client's of ZMTP 3.`client_minor`), the client's
// READY, the server's READY, then `rest`.
Transcript after_null_handshake(const Buf& client_ready, const Buf& server_ready, Transcript rest,
                                uint8_t client_minor = 1) {
    Transcript t = {
        {C2S, greeting("NULL", client_minor)},
        {S2C, greeting("NULL")},
        {C2S, command("READY", client_ready)},
        {S2C, command("READY", server_ready)},
    };
    for (auto& unit : rest) t.push_back(std::move(unit));
    return t;
}

}  // namespace

TEST_CASE("docs/protocol.md 4.9: real libzmq WELCOME, READY and MESSAGE boxes open", "[session]") {
    const Key S = hexkey("9bbba50b2366db42760a094525a998c8137688732c285e9527554f1fba9ea949");
    const Key cp_secret =
        hexkey("c226018bfe4c6a7fe68218ebc225c79e39e836e870ed36bab56bc9e8248afd78");
    const Key Sp = hexkey("3340dd4004b7dd6d09fc037b20145ec2de3cbcc13e2cff742ab0ec597e1dc84e");
    const Key sp_secret =
        hexkey("f1c72840331d5516b19b34e77945ebc37cb29e1aa088cb76743ef79e454df7da");
    REQUIRE(to_hex(public_key_of(cp_secret)) ==
            "a16357296f8897b9b8a78bd83ba4fa9f0997b1ee1bbb8e764ea13621e568c80d");
    REQUIRE(public_key_of(sp_secret) == Sp);

    // The HELLO and INITIATE of that capture are rebuilt from the logged c' (their boxes are
    // ours); WELCOME, READY and both MESSAGEs are libzmq's bytes.
    CurveKeys k;
    k.client_eph = KeyPair::from_secret(cp_secret);
    k.server_eph = KeyPair::from_secret(sp_secret);
    k.server.pub = S;
    const Buf welcome = hexbuf(
        "04a80757454c434f4d45202a2b690345b85632571e56d4fccfb4d69ea45b1a21362cc5976a9c50196348"
        "9a5e2b0589d91352d25d8de00daec4f046d89ed274d405813df3ce5e142fbfa692b41727649c0e1733b6"
        "a206475e720e0bcaa3e821f1753f0135bfd6a01a849f69ccb00db2f1bea07cc9618c77be0777d4524bf0"
        "7b2c058d02a30b9266741af265fb81a6a34d5cb6020c0dc549993a49c393c8e79e9291733371d43e8648"
        "fa97");
    const Buf ready = hexbuf(
        "04310552454144590000000000000001595fd1b182cfdd5814f8ed61ae4c8f6beb1cd70799ee2f4e9467"
        "7e4cc0bc4f26d85321");
    const Buf client_msg =
        hexbuf("0026074d4553534147450000000000000004a31b59ac1cb0be54a13440e86ab75bf53dbcbe99b35e");
    const Buf server_msg =
        hexbuf("0021074d4553534147450000000000000002b114ebd2b1bf35610b00771d4f84023a0f");
    const Transcript t = {
        {C2S, greeting("CURVE")},
        {S2C, greeting("CURVE")},
        {C2S, curve_hello(k, S)},
        {S2C, welcome},
        {C2S, curve_initiate(k, metadata({{"Socket-Type", "REQ"}, {"Identity", "client-id"}}))},
        {S2C, ready},
        {C2S, client_msg},
        {S2C, server_msg},
    };

    SECTION("with c' and S") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, cp_secret);
        keys.add(KeyLabel::ServerPublic, S);
        Session s(&keys);
        Recorder r = run(s, t);
        REQUIRE(r.curve["WELCOME"].server_ephemeral == Sp);
        CHECK(r.curve["READY"].box_opened);
        CHECK(s.info().socket_types[1] == SocketType::Rep);
        CHECK(s.info().curve == CurveKeyState::SessionKey);
        CHECK(r.frames == std::vector<std::string>{"C>S:68656c6c6f", "S>C:"});
    }
    SECTION("with s' alone, found by trial-opening INITIATE") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, sp_secret);
        Session s(&keys);
        Recorder r = run(s, t);
        CHECK_FALSE(r.curve["WELCOME"].box_opened);
        CHECK(r.curve["INITIATE"].box_opened);
        CHECK(r.frames == std::vector<std::string>{"C>S:68656c6c6f", "S>C:"});
    }
}

TEST_CASE("every key set of docs/keylog.md opens what it should", "[session][keys]") {
    CurveKeys k;
    const Transcript t = curve_transcript(k, k.server.pub);

    SECTION("c' + S: everything") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
        keys.add(KeyLabel::ServerPublic, k.server.pub);
        Session s(&keys);
        Recorder r = run(s, t);
        CHECK(r.curve["HELLO"].box_opened);
        CHECK(r.curve["WELCOME"].server_ephemeral == k.server_eph.pub);
        CHECK(r.curve["INITIATE"].client_public == k.client.pub);
        CHECK(r.curve["READY"].box_opened);
        CHECK(r.plaintext["READY"] == to_hex(metadata({{"Socket-Type", "ROUTER"}})));
        CHECK(r.plaintext["WELCOME"].substr(0, 64) == to_hex(k.server_eph.pub));
        CHECK(r.plaintext["INITIATE"].substr(0, 64) == to_hex(k.client.pub));
        CHECK(r.plaintext["MESSAGE"] == "02" + to_hex(pong_body));  // the last box: PONG
        CHECK(r.frames == curve_plaintexts);
        CHECK(s.info().socket_types[0] == SocketType::Dealer);
        CHECK(s.info().socket_types[1] == SocketType::Router);
        CHECK(s.info().mechanism_client == C2S);
        CHECK(r.notices.empty());
    }
    SECTION("c' + s: everything, S derived from s") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
        keys.add(KeyLabel::ServerSecret, k.server.sec);
        Recorder r = run(t, &keys);
        CHECK(r.frames == curve_plaintexts);
        CHECK(r.notices.empty());
    }
    SECTION("s' alone: INITIATE onwards, and the vouch checks out") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
        Recorder r = run(t, &keys);
        CHECK_FALSE(r.curve["HELLO"].box_opened);
        CHECK(r.curve["INITIATE"].box_opened);
        CHECK(r.curve["INITIATE"].vouch_valid == true);
        CHECK(r.frames == curve_plaintexts);
    }
    SECTION("s + s' among many secrets: s' is found through S', not by trying each secret") {
        KeyStore keys;
        keys.add(KeyLabel::ServerSecret, k.server.sec);
        for (int i = 0; i < 20; ++i) keys.add(KeyLabel::EphemeralSecret, KeyPair::random().sec);
        keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
        SessionOptions options;
        options.max_trials = 2;  // s for HELLO, then one more: too few to reach s' by trial
        Session s(&keys, options);
        Recorder r = run(s, t);
        CHECK(r.curve["INITIATE"].box_opened);
        CHECK(r.frames == curve_plaintexts);
        CHECK_FALSE(r.has_notice(NoticeCode::TrialLimit));
    }
    SECTION("s alone: HELLO and WELCOME only, and it says what is missing") {
        KeyStore keys;
        keys.add(KeyLabel::ServerSecret, k.server.sec);
        Session s(&keys);
        Recorder r = run(s, t);
        CHECK(r.curve["HELLO"].box_opened);
        CHECK(r.curve["WELCOME"].server_ephemeral == k.server_eph.pub);
        CHECK_FALSE(r.curve["INITIATE"].box_opened);
        CHECK(r.frames.empty());
        CHECK(s.info().curve == CurveKeyState::HelloOnly);
        CHECK_THAT(s.info().curve_missing, Catch::Contains("s'") && Catch::Contains("c'"));
        CHECK(r.has_notice(NoticeCode::KeyMissing));
        CHECK_FALSE(r.has_notice(NoticeCode::WrongServerKey));
    }
    SECTION("c' alone: nothing, and it asks for S") {
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
        Session s(&keys);
        Recorder r = run(s, t);
        CHECK(r.frames.empty());
        CHECK_THAT(r.notice_text(NoticeCode::KeyMissing), Catch::Contains("server's public key S"));
    }
    SECTION("c alone, or no keys: nothing opens") {
        KeyStore keys;
        keys.add(KeyLabel::ClientSecret, k.client.sec);
        Session s(&keys);
        Recorder r = run(s, t);
        CHECK(r.frames.empty());
        CHECK(s.info().curve == CurveKeyState::NoKey);
        Recorder none = run(t, nullptr);
        CHECK(none.frames.empty());
        CHECK(none.has_notice(NoticeCode::KeyMissing));
    }
}

TEST_CASE("commands inside CURVE boxes are recognised and PING/PONG paired", "[session]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    Recorder r = run(curve_transcript(k, k.server.pub), &keys);
    CHECK(std::count(r.commands.begin(), r.commands.end(), "C>S:PING*") == 1);
    CHECK(std::count(r.commands.begin(), r.commands.end(), "S>C:PONG*") == 1);
    REQUIRE(r.pongs.size() == 1);
    REQUIRE(r.pongs[0].answers_offset.has_value());
    // DEALER/ROUTER: the reply answers the request, by the offset of its last frame's unit.
    REQUIRE(r.messages.size() == 2);
    CHECK_FALSE(r.messages[0].answers_offset.has_value());
    CHECK(r.messages[1].answers_seq == 0u);
    CHECK(r.messages[0].frames == 2);
    CHECK(r.messages[0].decrypted);
}

TEST_CASE("a client with the wrong server key is diagnosed", "[session]") {
    CurveKeys k;
    KeyPair wrong = KeyPair::random();
    KeyStore keys;
    keys.add(KeyLabel::ServerSecret, k.server.sec);  // the server's log
    keys.add(KeyLabel::ServerPublic, wrong.pub);     // the client's log
    keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
    Transcript t = curve_transcript(k, wrong.pub);
    t.resize(3);  // greetings and HELLO: the server closes then
    Recorder r = run(t, &keys);
    REQUIRE(r.has_notice(NoticeCode::WrongServerKey));
    CHECK_THAT(r.notice_text(NoticeCode::WrongServerKey),
               Catch::Contains(public_key_id(wrong.pub)));
}

TEST_CASE("replayed MESSAGE nonces are reported", "[session]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    Transcript t = curve_transcript(k, k.server.pub);
    t.push_back({C2S, curve_message(k, true, 4, 0x00, "again")});
    Recorder r = run(t, &keys);
    CHECK(r.has_notice(NoticeCode::NonceNotIncreasing));
    CHECK(r.frames.back() == "C>S:" + to_hex(as_bytes("again")));
}

TEST_CASE("events do not depend on how the bytes are split", "[session][chunking]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
    keys.add(KeyLabel::ServerPublic, k.server.pub);
    const Transcript t = curve_transcript(k, k.server.pub);
    const std::vector<std::string> reference = run(t, &keys).lines;
    REQUIRE(reference.size() > 20);

    for (size_t unit = 0; unit < t.size(); ++unit) {
        const Buf& bytes = t[unit].second;
        for (size_t split = 1; split < bytes.size(); split += (bytes.size() > 64 ? 7 : 1)) {
            Session s(&keys);
            Recorder r;
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
            REQUIRE(r.lines == reference);
        }
    }
    SECTION("byte by byte") {
        Session s(&keys);
        Recorder r;
        auto sink = r.sink();
        for (auto& [dir, bytes] : t) {
            for (uint8_t byte : bytes) s.feed(dir, Bytes(&byte, 1), sink);
        }
        CHECK(r.lines == reference);
    }
}

TEST_CASE("NULL REQ/REP: handshake, envelope and strict request/response pairing", "[session]") {
    const Transcript t = after_null_handshake(metadata({{"Socket-Type", "REQ"}, {"Identity", ""}}),
                                              metadata({{"Socket-Type", "REP"}}),
                                              {
                                                  {C2S, frame(0x01, "")},
                                                  {C2S, frame(0x00, "hello")},
                                                  {S2C, frame(0x01, "")},
                                                  {S2C, frame(0x00, "world")},
                                                  {C2S, command("PING", ping_body)},
                                                  {S2C, command("PONG", pong_body)},
                                              });
    Session s(nullptr);
    Recorder r = run(s, t);
    REQUIRE(r.handshakes.size() == 1);
    CHECK(r.handshakes[0].succeeded);
    CHECK(s.info().mechanism == Mechanism::Null);
    CHECK(s.info().subscriptions_as_commands);
    REQUIRE(r.messages.size() == 2);
    // The reply answers the request whose last frame ("hello") starts at offset 64+... of C>S.
    const uint64_t hello_offset = 64 + t[2].second.size() + t[4].second.size();
    CHECK(r.messages[1].answers_offset == hello_offset);
    CHECK(r.messages[0].frames == 2);
    REQUIRE(r.pongs.size() == 1);
    CHECK(r.pongs[0].answers_offset == hello_offset + t[5].second.size());
}

TEST_CASE("ZMTP 3.0 subscriptions are message frames from SUB", "[session]") {
    const Transcript t =
        after_null_handshake(metadata({{"Socket-Type", "SUB"}}), metadata({{"Socket-Type", "PUB"}}),
                             {
                                 {C2S, frame(0x00, std::string_view("\x01topicA", 7))},
                             },
                             /*client_minor=*/0);
    Session s(nullptr);
    std::optional<Subscription> sub;
    SessionSink sink = [&](const SessionEvent& e) {
        if (auto* f = std::get_if<FrameEvent>(&e.what)) sub = f->subscription;
    };
    for (auto& [dir, bytes] : t) s.feed(dir, bytes, sink);
    CHECK_FALSE(s.info().subscriptions_as_commands);
    REQUIRE(sub.has_value());
    CHECK(sub->subscribe);
    CHECK(as_text(sub->topic) == "topicA");
}

TEST_CASE("PLAIN: credentials, and libzmq's ^RROR refusal fails the handshake", "[session]") {
    Buf hello_data{5, 'a', 'd', 'm', 'i', 'n', 6, 's', 'e', 'c', 'r', 'e', 't'};
    const Transcript t = {
        {C2S, greeting("PLAIN")},
        {S2C, greeting("PLAIN")},
        {C2S, command("HELLO", hello_data)},
        {S2C, hexbuf("04095e52524f5203343030")},
    };
    Session s(nullptr);
    Recorder r = run(s, t);
    CHECK(s.info().mechanism_client == C2S);
    REQUIRE(r.handshakes.size() == 1);
    CHECK_FALSE(r.handshakes[0].succeeded);
    CHECK(r.handshakes[0].reason == "ERROR 400");
    CHECK(r.has_notice(NoticeCode::ErrorCommand));
}

TEST_CASE("mechanism mismatch fails the handshake", "[session]") {
    Session s(nullptr);
    Recorder r = run(s, {{C2S, greeting("CURVE")}, {S2C, greeting("NULL")}});
    CHECK(r.has_notice(NoticeCode::MechanismMismatch));
    CHECK(s.info().handshake == HandshakeState::Failed);
}

TEST_CASE("no notice text contains a secret key", "[session][secrets]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec);
    keys.add(KeyLabel::ServerSecret, KeyPair::random().sec);
    Recorder r = run(curve_transcript(k, k.server.pub), &keys);
    REQUIRE_FALSE(r.notices.empty());
    for (const Key* secret : {&k.client_eph.sec, &k.server.sec, &k.server_eph.sec}) {
        const std::string hex = to_hex(*secret);
        const std::string z85 = *z85_encode(*secret);
        for (auto& n : r.notices) {
            CHECK(n.text.find(hex.substr(0, 12)) == std::string::npos);
            CHECK(n.text.find(z85.substr(0, 10)) == std::string::npos);
        }
    }
}

TEST_CASE("DEALER/ROUTER pairs by first reply, whichever side asks", "[session]") {
    const Transcript t = after_null_handshake(
        metadata({{"Socket-Type", "DEALER"}, {"Identity", ""}}),
        metadata({{"Socket-Type", "ROUTER"}, {"Identity", ""}}),
        {
            {C2S, frame(0x00, "register")},  // a request from the DEALER...
            {S2C, frame(0x00, "registered")},
            {S2C, frame(0x00, "read 1")},  // ...then the ROUTER asks and the DEALER answers
            {S2C, frame(0x00, "read 2")},
            {C2S, frame(0x00, "value 1")},
            {C2S, frame(0x00, "value 2")},
        });
    Recorder r = run(t, nullptr);
    REQUIRE(r.messages.size() == 6);
    CHECK_FALSE(r.messages[0].answers_seq.has_value());
    CHECK(r.messages[1].answers_seq == 0u);  // "registered" answers "register"
    CHECK_FALSE(r.messages[2].answers_seq.has_value());
    CHECK_FALSE(r.messages[3].answers_seq.has_value());
    CHECK(r.messages[4].answers_seq == 1u);  // "value 1" answers "read 1" (S>C seq 1)
    CHECK(r.messages[5].answers_seq == 2u);
}

TEST_CASE("REQ/REP pairs strictly: the REP side never asks", "[session]") {
    const Transcript t = after_null_handshake(metadata({{"Socket-Type", "REP"}}),
                                              metadata({{"Socket-Type", "REQ"}, {"Identity", ""}}),
                                              {
                                                  {C2S, frame(0x00, "stray")},
                                                  {S2C, frame(0x01, "")},
                                                  {S2C, frame(0x00, "question")},
                                                  {C2S, frame(0x01, "")},
                                                  {C2S, frame(0x00, "answer")},
                                              });
    Recorder r = run(t, nullptr);
    REQUIRE(r.messages.size() == 3);
    CHECK_FALSE(r.messages[0].answers_seq.has_value());
    CHECK_FALSE(r.messages[1].answers_seq.has_value());
    CHECK(r.messages[2].answers_seq == 0u);
}

TEST_CASE("a lost greeting does not turn CURVE boxes into plaintext", "[session]") {
    CurveKeys k;
    const Transcript t = curve_transcript(k, k.server.pub);
    // The server's bytes are lost: before anything arrives, or once the client's greeting has.
    for (size_t gap_after_units : {0, 1}) {
        Session s(nullptr);
        Recorder r;
        auto sink = r.sink();
        size_t fed = 0;
        for (auto& [dir, bytes] : t) {
            if (fed == gap_after_units) s.mark_gap(S2C, sink);
            if (dir == C2S) {
                s.feed(dir, bytes, sink);
                ++fed;
            }
        }
        CHECK(s.info().mechanism == Mechanism::Curve);
        CHECK(r.frames.empty());
        CHECK(std::count(r.commands.begin(), r.commands.end(), "C>S:MESSAGE") == 3);
    }
}

// ---- MESSAGE fast path ----------------------------------------------------------------------
// Once the session key is known, an ordinary MESSAGE is opened without the general command
// parser; anything unusual (replayed nonce, wrong key, tampered box, command frame, short body)
// goes the full way. The events must be the same either way.

namespace {

Transcript after_handshake(const CurveKeys& k, std::vector<std::pair<Direction, Buf>> messages) {
    Transcript t = curve_transcript(k, k.server.pub);
    for (auto& m : messages) t.push_back(std::move(m));
    return t;
}

// The lines a Recorder wrote for the units of one transcript entry (by stream offset).
std::vector<std::string> lines_at(const Recorder& r, Direction dir, uint64_t offset) {
    std::vector<std::string> out;
    const std::string prefix =
        std::string(dir == C2S ? "C>S" : "S>C") + " @" + std::to_string(offset) + "+";
    for (const auto& line : r.lines) {
        if (line.rfind(prefix, 0) == 0) out.push_back(line.substr(line.find(' ', 4) + 1));
    }
    return out;
}

uint64_t offset_of(const Transcript& t, size_t index) {
    uint64_t offset = 0;
    for (size_t i = 0; i < index; ++i) {
        if (t[i].first == t[index].first) offset += t[i].second.size();
    }
    return offset;
}

}  // namespace

TEST_CASE("MESSAGE fast path: the command event is the one the full parser gives",
          "[session][fastpath]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    const Transcript t = after_handshake(k, {{C2S, curve_message(k, true, 6, 0x00, "fast")}});
    Session s(&keys);
    std::vector<CommandEvent> messages;
    std::vector<Buf> plaintexts;
    auto sink = [&](const SessionEvent& e) {
        if (auto* c = std::get_if<CommandEvent>(&e.what);
            c && c->command.kind == CommandKind::Message) {
            messages.push_back(*c);
            plaintexts.emplace_back(c->plaintext.begin(), c->plaintext.end());
        }
    };
    for (auto& [dir, bytes] : t) s.feed(dir, bytes, sink);
    REQUIRE(messages.size() == 7);
    const Buf& last_unit = t.back().second;
    const Bytes body = Bytes(last_unit).subspan(2);
    const Command reference = parse_command(body, Mechanism::Curve);
    const CommandEvent& fast = messages.back();
    CHECK(fast.command.kind == reference.kind);
    CHECK(fast.command.name == reference.name);
    CHECK(to_hex(fast.command.data) == to_hex(reference.data));
    CHECK(fast.command.short_nonce == 6);
    CHECK(to_hex(fast.command.box) == to_hex(reference.box));
    CHECK(fast.command.problem == nullptr);
    CHECK(fast.command.metadata.empty());
    CHECK_FALSE(fast.decrypted);
    CHECK(fast.curve.box_opened);
    CHECK_FALSE(fast.curve.server_ephemeral.has_value());
    CHECK_FALSE(fast.answers_offset.has_value());
    CHECK(to_hex(plaintexts.back()) == "00" + to_hex(as_bytes("fast")));
    CHECK(s.info().decrypted_frames[0] == 3);  // PING is a command
}

TEST_CASE("MESSAGE plaintexts open into the caller's buffers when it gives an allocator",
          "[session][fastpath]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    // The replayed nonce 5 goes the full way (curve_message), the others the fast path.
    const Transcript t = after_handshake(k, {{C2S, curve_message(k, true, 6, 0x00, "mine")},
                                             {C2S, curve_message(k, true, 5, 0x00, "late")}});
    struct Opened {
        Bytes view;       // CommandEvent::plaintext, kept after the callback
        std::string hex;  // what it held during the callback
    };
    // `given`: the allocator's buffers, or none for the session's own buffer.
    auto run = [&](std::vector<std::unique_ptr<uint8_t[]>>* given) {
        Session s(&keys);
        if (given) {
            s.set_plaintext_allocator([given](size_t size) {
                given->emplace_back(new uint8_t[size]);
                return given->back().get();
            });
        }
        std::vector<Opened> opened;
        bool bodies_inside = true;
        auto sink = [&](const SessionEvent& e) {
            if (auto* c = std::get_if<CommandEvent>(&e.what);
                c && c->command.kind == CommandKind::Message && c->curve.box_opened) {
                opened.push_back({c->plaintext, to_hex(c->plaintext)});
            }
            if (auto* fr = std::get_if<FrameEvent>(&e.what); fr && fr->decrypted) {
                const Bytes box = opened.back().view;
                bodies_inside = bodies_inside && fr->body.data() == box.data() + 1 &&
                                fr->body.size() == box.size() - 1;
            }
        };
        for (auto& [dir, bytes] : t) s.feed(dir, bytes, sink);
        CHECK(bodies_inside);
        return opened;
    };
    const std::vector<Opened> reference = run(nullptr);
    std::vector<std::unique_ptr<uint8_t[]>> given;
    const std::vector<Opened> mine = run(&given);
    REQUIRE(reference.size() == 8);
    REQUIRE(mine.size() == reference.size());
    CHECK(reference[6].hex == "00" + to_hex(as_bytes("mine")));
    CHECK(reference[7].hex == "00" + to_hex(as_bytes("late")));
    REQUIRE(given.size() == mine.size());
    for (size_t i = 0; i < mine.size(); ++i) {
        CHECK(mine[i].hex == reference[i].hex);
        CHECK(mine[i].view.data() == given[i].get());
        CHECK(to_hex(mine[i].view) == mine[i].hex);  // untouched by the boxes after it
    }
}

TEST_CASE("MESSAGE fast path: replayed nonces, wrong keys and odd frames are reported as before",
          "[session][fastpath]") {
    CurveKeys k, other;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    Buf tampered = curve_message(k, true, 9, 0x00, "tampered");
    tampered.back() ^= 0x01;
    Buf in_command_frame = curve_message(k, false, 7, 0x00, "cmd");
    in_command_frame[0] = 0x04;
    const Transcript t = after_handshake(
        k, {
               {C2S, curve_message(k, true, 6, 0x00, "six")},
               {C2S, curve_message(k, true, 4, 0x00, "replayed")},       // 7: below 6
               {C2S, curve_message(k, true, 6, 0x00, "same")},           // 8: equal
               {C2S, curve_message(k, true, 7, 0x00, "seven")},          // 9: fine again
               {C2S, curve_message(other, true, 8, 0x00, "wrong key")},  // 10: does not open
               {C2S, curve_message(k, true, 8, 0x00, "eight")},          // 11: 8 was seen
               {C2S, tampered},                                          // 12
               {C2S, curve_message(k, true, 10, 0x00, "ten")},           // 13
               {S2C, curve_message(k, false, 5, 0x01, "")},              // 14
               {S2C, in_command_frame},                                  // 15
           });
    const Recorder r = run(t, &keys);
    auto at = [&](size_t i) { return lines_at(r, t[i].first, offset_of(t, i)); };
    const std::string six = to_hex(as_bytes("six"));

    {
        const auto lines = at(12);  // "six": fast path
        REQUIRE(lines.size() == 3);
        CHECK(lines[0] == "command MESSAGE opened");
        CHECK(lines[1].find("frame seq=1 idx=0 more=0 dec=1 body=" + six) == 0);
        CHECK(lines[2].rfind("message seq=1", 0) == 0);
    }
    {
        const auto lines = at(13);  // nonce 4 after 6: reported first, still opened
        REQUIRE(lines.size() == 4);
        CHECK(lines[0] ==
              "notice nonce not increasing: MESSAGE nonce 4 does not increase (previous 6): "
              "replayed or reordered; libzmq drops the connection");
        CHECK(lines[1] == "command MESSAGE opened");
        CHECK(lines[2].find("body=" + to_hex(as_bytes("replayed"))) != std::string::npos);
    }
    {
        const auto lines = at(14);  // nonce 6 again: equal is not increasing
        REQUIRE(lines.size() == 4);
        CHECK(lines[0].find("MESSAGE nonce 6 does not increase (previous 6)") != std::string::npos);
    }
    {
        const auto lines = at(15);  // 7: no notice
        REQUIRE(lines.size() == 3);
        CHECK(lines[0] == "command MESSAGE opened");
    }
    {
        const auto lines = at(16);  // another key: not opened, no frame
        REQUIRE(lines.size() == 2);
        CHECK(lines[0] == "command MESSAGE");
        CHECK(lines[1] == "notice box not opened: MESSAGE does not open with the session key");
    }
    {
        const auto lines = at(17);  // 8: the unopened box's nonce counted
        REQUIRE(lines.size() == 4);
        CHECK(lines[0].find("MESSAGE nonce 8 does not increase (previous 8)") != std::string::npos);
        CHECK(lines[1] == "command MESSAGE opened");
    }
    {
        const auto lines = at(18);  // tampered
        REQUIRE(lines.size() == 2);
        CHECK(lines[1] == "notice box not opened: MESSAGE does not open with the session key");
    }
    CHECK(at(19).size() == 3);  // 10 after the tampered 9: fine
    {
        const auto lines = at(21);  // in a command frame: noted, delivered
        REQUIRE(lines.size() == 4);
        CHECK(lines[0] == "command MESSAGE opened");
        CHECK(lines[1] ==
              "notice reserved flags: MESSAGE sent in a command frame (libzmq uses a message "
              "frame)");
        CHECK(lines[2].find("body=" + to_hex(as_bytes("cmd"))) != std::string::npos);
    }
    CHECK(std::count_if(r.notices.begin(), r.notices.end(), [](const NoticeEvent& n) {
              return n.code == NoticeCode::NonceNotIncreasing;
          }) == 3);

    // The same bytes split every other way give the same lines.
    for (size_t split : {1, 2, 9, 17, 30}) {
        Session s(&keys);
        Recorder split_run;
        auto sink = split_run.sink();
        for (auto& [dir, bytes] : t) {
            const Bytes b = bytes;
            const size_t cut = std::min(split, b.size());
            s.feed(dir, b.first(cut), sink);
            s.feed(dir, b.subspan(cut), sink);
        }
        CHECK(split_run.lines == r.lines);
    }
}

// ---- bodies not needed ----------------------------------------------------------------------

namespace {

SessionOptions bodies_not_needed() {
    SessionOptions o;
    o.limits.skip_message_bodies = true;
    return o;
}

Recorder run_with(const Transcript& t, const KeyStore* keys, SessionOptions options,
                  size_t piece = 0) {
    Session s(keys, options);
    Recorder r;
    auto sink = r.sink();
    for (auto& [dir, bytes] : t) {
        const Bytes b = bytes;
        const size_t step = piece ? piece : b.size();
        for (size_t at = 0; at < b.size(); at += step)
            s.feed(dir, b.subspan(at, std::min(step, b.size() - at)), sink);
    }
    return r;
}

// The lines with every frame body cleared: what a run that skips bodies must still report.
std::vector<std::string> without_bodies(std::vector<std::string> lines) {
    for (auto& line : lines) {
        if (const size_t at = line.find(" body="); at != std::string::npos) line.resize(at + 6);
    }
    return lines;
}

}  // namespace

TEST_CASE("bodies not needed: plaintext message bodies skipped, everything else the same",
          "[session][skip]") {
    const Transcript t =
        after_null_handshake(metadata({{"Socket-Type", "DEALER"}, {"Identity", ""}}),
                             metadata({{"Socket-Type", "ROUTER"}}),
                             {
                                 {C2S, frame(0x01, "")},
                                 {C2S, frame(0x00, std::string(3000, 'q'))},
                                 {S2C, frame(0x00, "answer")},
                                 {C2S, command("PING", ping_body)},
                                 {S2C, command("PONG", pong_body)},
                             });
    const Recorder full = run_with(t, nullptr, {});
    for (size_t piece : {size_t(0), size_t(1), size_t(7), size_t(1000)}) {
        INFO("pieces of " << piece);
        Session s(nullptr, bodies_not_needed());
        Recorder r;
        std::vector<FrameEvent> frames;
        auto sink = [&](const SessionEvent& e) {
            r.record(e);
            if (auto* f = std::get_if<FrameEvent>(&e.what)) frames.push_back(*f);
        };
        for (auto& [dir, bytes] : t) {
            const Bytes b = bytes;
            const size_t step = piece ? piece : b.size();
            for (size_t at = 0; at < b.size(); at += step)
                s.feed(dir, b.subspan(at, std::min(step, b.size() - at)), sink);
        }
        CHECK(without_bodies(r.lines) == without_bodies(full.lines));
        REQUIRE(frames.size() == 3);
        for (const FrameEvent& f : frames) {
            CHECK(f.body_skipped);
            CHECK(f.body.empty());
        }
        CHECK(frames[1].header.body_size == 3000);
        CHECK(r.pongs.size() == 1);  // commands are still read
        REQUIRE(r.messages.size() == 2);
        CHECK(r.messages[0].body_bytes == 3000);
        CHECK(r.messages[1].answers_seq == 0u);
        CHECK(s.decoder(C2S).buffer_capacity() < 1000);  // the 3000-byte body was never kept
    }
}

TEST_CASE("bodies not needed: CURVE boxes and 3.0 subscription frames are still read",
          "[session][skip]") {
    SECTION("CURVE") {
        CurveKeys k;
        KeyStore keys;
        keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
        const Transcript t = curve_transcript(k, k.server.pub);
        const Recorder full = run_with(t, &keys, {});
        CHECK(run_with(t, &keys, bodies_not_needed()).lines == full.lines);
        CHECK(run_with(t, &keys, bodies_not_needed(), 5).lines == full.lines);
        CHECK(full.frames == curve_plaintexts);
    }
    SECTION("ZMTP 3.0 SUB") {
        const Transcript t = after_null_handshake(
            metadata({{"Socket-Type", "SUB"}}), metadata({{"Socket-Type", "PUB"}}),
            {
                {C2S, frame(0x00, std::string_view("\x01topicA", 7))},
                {S2C, frame(0x00, "news")},
            },
            /*client_minor=*/0);
        const Recorder r = run_with(t, nullptr, bodies_not_needed());
        REQUIRE(r.frames.size() == 2);
        CHECK(r.frames[0] == "C>S:" + to_hex(as_bytes(std::string_view("\x01topicA", 7))));
        CHECK(r.frames[1] == "S>C:");  // the PUB side's message: skipped
    }
}

TEST_CASE("release_memory: buffers given back, decoding goes on", "[session]") {
    CurveKeys k;
    KeyStore keys;
    keys.add(KeyLabel::EphemeralSecret, k.server_eph.sec);
    const Transcript t =
        after_handshake(k, {{C2S, curve_message(k, true, 6, 0x00, Bytes(Buf(200000, 'L')))},
                            {C2S, curve_message(k, true, 7, 0x00, "after")}});
    Session s(&keys);
    Recorder r;
    auto sink = r.sink();
    for (size_t i = 0; i + 1 < t.size(); ++i) {
        const Bytes b = t[i].second;
        for (size_t at = 0; at < b.size(); at += 1460)
            s.feed(t[i].first, b.subspan(at, std::min<size_t>(1460, b.size() - at)), sink);
    }
    CHECK(s.decoder(C2S).buffer_capacity() > 200000);
    s.release_memory();
    CHECK(s.decoder(C2S).buffer_capacity() == 0);
    s.feed(t.back().first, t.back().second, sink);
    REQUIRE(r.frames.size() == 6);
    CHECK(r.frames.back() == "C>S:" + to_hex(as_bytes("after")));
}
