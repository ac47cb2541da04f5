// Recovery from lost bytes (docs/protocol.md 9): the frame boundary search, gaps and late
// starts in the decoder and the session, SESSION_KEY decryption without a handshake, and that
// nothing the capture lacks is reported as if it had been seen.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <sstream>

#include "byte_builders.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/session.hpp"
#include "zmtp/stream_decoder.hpp"
#include "zmtp_peer.hpp"

using namespace zmtp;
using namespace zmtp::test;

namespace {

constexpr Direction C2S = Direction::ClientToServer;
constexpr Direction S2C = Direction::ServerToClient;

ResyncHints expecting(ResyncHints::Expect expect) {
    ResyncHints h;
    h.expect = expect;
    return h;
}

Buf random_bytes(std::mt19937& rng, size_t n) {
    Buf b(n);
    for (auto& c : b) c = uint8_t(rng());
    return b;
}

Buf concat(std::initializer_list<Buf> parts) {
    Buf out;
    for (const Buf& p : parts) append(out, p);
    return out;
}

// One segment of one direction, or bytes the capture lost there.
struct Piece {
    Direction dir;
    Buf bytes;
    bool lost = false;
};

// Everything a session reported, one line an event, with the fields that must not depend on how
// the bytes were split.
struct Log {
    std::vector<std::string> lines;
    std::vector<MessageEvent> messages;
    std::vector<std::string> bodies;  // data frames of whole messages: "C>S:text"
    std::vector<GapEvent> gaps;
    std::vector<ResyncEvent> resyncs;
    std::vector<NoticeEvent> notices;

    SessionSink sink() {
        return [this](const SessionEvent& e) { record(e); };
    }
    void record(const SessionEvent& e) {
        std::ostringstream os;
        const char* d = e.dir == C2S ? "C>S" : "S>C";
        os << d << " @" << e.offset << "+" << e.size << " ";
        if (auto* f = std::get_if<FrameEvent>(&e.what)) {
            os << "frame " << as_text(f->body) << " lost_start=" << f->start_lost;
            if (!f->start_lost)
                bodies.push_back(std::string(d) + ":" + std::string(as_text(f->body)));
        } else if (auto* m = std::get_if<MessageEvent>(&e.what)) {
            os << "message seq=" << m->message_seq << " frames=" << m->frames
               << " loss=" << int(m->loss) << " awaits=" << m->awaits_reply
               << " answers=" << (m->answers_seq ? std::to_string(*m->answers_seq) : "-");
            messages.push_back(*m);
        } else if (auto* g = std::get_if<GapEvent>(&e.what)) {
            os << "gap known=" << g->lost_known << " dropped=" << g->requests_dropped;
            gaps.push_back(*g);
        } else if (auto* r = std::get_if<ResyncEvent>(&e.what)) {
            os << "resync " << resync_evidence_name(r->evidence) << " skipped=" << r->skipped_bytes
               << " lost=" << (r->frames_lost ? std::to_string(*r->frames_lost) : "-");
            resyncs.push_back(*r);
        } else if (auto* n = std::get_if<NoticeEvent>(&e.what)) {
            os << "notice " << notice_code_name(n->code) << ": " << n->text;
            notices.push_back(*n);
        } else if (auto* c = std::get_if<CommandEvent>(&e.what)) {
            os << "command " << c->command.name << " opened=" << c->curve.box_opened;
        } else {
            os << "other";
        }
        lines.push_back(os.str());
    }
    size_t whole_messages(Direction dir) const {
        (void)dir;
        return size_t(std::count_if(messages.begin(), messages.end(), [](const MessageEvent& m) {
            return m.loss == MessageLoss::None;
        }));
    }
};

// Feeds the pieces; `late` directions start mid-stream. `split` > 0 cuts every segment into
// chunks of that many bytes (segment ends stay where they are).
Log play(Session& s, const std::vector<Piece>& pieces, std::initializer_list<Direction> late = {},
         size_t split = 0) {
    Log log;
    auto sink = log.sink();
    for (Direction d : late) s.start_mid_stream(d, sink);
    for (const Piece& p : pieces) {
        if (p.lost) {
            s.mark_gap(p.dir, sink, p.bytes.size());
            continue;
        }
        const size_t step = split ? split : std::max<size_t>(p.bytes.size(), 1);
        for (size_t at = 0; at < p.bytes.size(); at += step)
            s.feed(p.dir, Bytes(p.bytes).subspan(at, std::min(step, p.bytes.size() - at)), sink);
        s.mark_segment_end(p.dir, sink);
    }
    s.finish(C2S, sink);
    s.finish(S2C, sink);
    return log;
}

Buf null_ready(std::string_view type) {
    return command("READY", metadata({{"Socket-Type", type}}));
}

// A NULL REQ/REP conversation, one segment a message: request i is "req<i>", reply "rep<i>".
std::vector<Piece> null_req_rep(int exchanges) {
    std::vector<Piece> p = {{C2S, greeting("NULL")},
                            {S2C, greeting("NULL")},
                            {C2S, null_ready("REQ")},
                            {S2C, null_ready("REP")}};
    for (int i = 0; i < exchanges; ++i) {
        const std::string n = std::to_string(i);
        p.push_back({C2S, concat({frame(0x01, ""), frame(0x00, "req" + n)})});
        p.push_back({S2C, concat({frame(0x01, ""), frame(0x00, "rep" + n)})});
    }
    return p;
}

Key session_key_of(const CurveKeys& k) {
    Key out;
    const auto shared = curve::precompute(k.server_eph.pub, k.client_eph.sec);
    std::copy(shared.bytes.begin(), shared.bytes.end(), out.begin());
    return out;
}

// A CURVE DEALER/ROUTER conversation after its handshake: `exchanges` requests "req<i>" and
// replies "rep<i>", each a one-frame message in its own segment.
std::vector<Piece> curve_exchanges(const CurveKeys& k, int exchanges,
                                   uint64_t first_client_nonce = 3,
                                   uint64_t first_server_nonce = 2) {
    std::vector<Piece> p;
    for (int i = 0; i < exchanges; ++i) {
        const std::string n = std::to_string(i);
        p.push_back(
            {C2S, curve_message(k, true, first_client_nonce + uint64_t(i), 0x00, "req" + n)});
        p.push_back(
            {S2C, curve_message(k, false, first_server_nonce + uint64_t(i), 0x00, "rep" + n)});
    }
    return p;
}

std::vector<Piece> curve_handshake(const CurveKeys& k) {
    return {{C2S, greeting("CURVE")},
            {S2C, greeting("CURVE")},
            {C2S, curve_hello(k, k.server.pub)},
            {S2C, curve_welcome(k)},
            {C2S, curve_initiate(k, metadata({{"Socket-Type", "DEALER"}}))},
            {S2C, curve_ready(k, metadata({{"Socket-Type", "ROUTER"}}))}};
}

}  // namespace

// ---- the boundary search ---------------------------------------------------------------------

TEST_CASE("resync: a CURVE MESSAGE signature is found in ciphertext", "[resync]") {
    CurveKeys k;
    std::mt19937 rng(7);
    const Buf message = curve_message(k, true, 41, 0x00, "value");
    for (size_t junk : {0, 1, 5, 300, 1400}) {
        const Buf region = concat({random_bytes(rng, junk), message});
        for (auto expect : {ResyncHints::Expect::Curve, ResyncHints::Expect::Any}) {
            const auto m = find_frame_boundary(region, true, true, expecting(expect));
            REQUIRE(m.has_value());
            CHECK(m->skip == junk);
            CHECK(m->evidence == ResyncEvidence::CurveSignature);
        }
    }
    ResyncHints after = expecting(ResyncHints::Expect::Curve);
    after.last_nonce = 41;  // a replayed nonce is no boundary
    CHECK_FALSE(find_frame_boundary(message, true, true, after).has_value());
    after.last_nonce = 40;
    CHECK(find_frame_boundary(message, true, true, after).has_value());
    after.last_nonce = 41 - (uint64_t(1) << 33);  // an implausible jump
    CHECK_FALSE(find_frame_boundary(message, true, true, after).has_value());
}

TEST_CASE("resync: plaintext boundaries need evidence random bytes do not give", "[resync]") {
    const Buf request = concat({frame(0x01, ""), frame(0x00, "req")});
    const auto plain = expecting(ResyncHints::Expect::Plaintext);
    auto whole = find_frame_boundary(request, true, true, plain);
    REQUIRE(whole.has_value());
    CHECK(whole->skip == 0);
    CHECK(whole->evidence == ResyncEvidence::WholeSegment);
    // The same frames without the segment ends around them are not enough.
    CHECK_FALSE(find_frame_boundary(request, false, true, plain).has_value());
    CHECK_FALSE(find_frame_boundary(request, true, false, plain).has_value());
    // A PING after the tail of a lost frame: a known command.
    const Buf ping = command("PING", hex("0014"));
    const Buf tail_then_ping = concat({Buf{'x', 'y', 'z'}, ping, frame(0x00, "next")});
    auto cmd = find_frame_boundary(tail_then_ping, true, true, plain);
    REQUIRE(cmd.has_value());
    CHECK(cmd->skip == 3);
    CHECK(cmd->evidence == ResyncEvidence::KnownCommand);
    // A long frame: its size's high bytes are zero.
    Buf big = frame(0x02, std::string(300, 'b'));
    big.resize(100);  // the rest is in the next segment
    auto long_size = find_frame_boundary(concat({Buf{'x'}, big}), false, true, plain);
    REQUIRE(long_size.has_value());
    CHECK(long_size->skip == 1);
    CHECK(long_size->evidence == ResyncEvidence::LongSize);

    // Random segments (binary message bodies) and text: no boundary at all.
    std::mt19937 rng(11);
    size_t false_boundaries = 0;
    for (int i = 0; i < 3000; ++i) {
        const Buf region = random_bytes(rng, i % 3 ? 1460 : 700);
        if (find_frame_boundary(region, false, true, plain)) ++false_boundaries;
        if (find_frame_boundary(region, false, true, expecting(ResyncHints::Expect::Curve)))
            ++false_boundaries;
    }
    // Periodic bodies (bytes 01 01 01 ...) parse as chains of identical frames: no evidence.
    for (size_t n : {60, 61, 62, 1459, 1460}) {
        if (find_frame_boundary(Buf(n, 1), false, true, plain)) ++false_boundaries;
        if (find_frame_boundary(Buf(n, 1), true, true, plain)) ++false_boundaries;
    }
    // Runs of zero bytes are empty frames, which prove nothing.
    if (find_frame_boundary(Buf(1460, 0), false, true, plain)) ++false_boundaries;
    if (find_frame_boundary(Buf(1460, 0), true, true, plain)) ++false_boundaries;
    std::string text;
    for (int i = 0; i < 400; ++i) text += "temperature=" + std::to_string(i * 7) + ";unit=C\n";
    if (find_frame_boundary(as_bytes(text), true, true, plain)) ++false_boundaries;
    CHECK(false_boundaries == 0);
}

// ---- the decoder -------------------------------------------------------------------------------

TEST_CASE("resync: a gap is reported and decoding resumes at the next frame", "[resync][decoder]") {
    CurveKeys k;
    const Buf g = greeting("CURVE");
    StreamDecoder decoder;
    std::vector<StreamEvent> events;
    auto sink = [&](const StreamEvent& e) { events.push_back(e); };
    decoder.feed(Bytes(g).first(30), sink);
    decoder.mark_gap(sink, 34);  // the rest of the greeting
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == StreamEvent::Kind::Gap);
    CHECK(events[0].offset == 30);
    CHECK(events[0].size == 34);
    CHECK(events[0].lost_known);
    CHECK(events[0].cut_unit_offset == 0u);
    CHECK(decoder.resyncing());
    CHECK_FALSE(decoder.failed());
    CHECK(decoder.offset() == 64);

    ResyncHints hints = expecting(ResyncHints::Expect::Curve);
    decoder.set_resync_hints(hints);
    const Buf tail = {0x11, 0x22, 0x33};  // the end of a frame the gap cut
    const Buf message = curve_message(k, true, 9, 0x00, "abc");
    decoder.feed(concat({tail, message}), sink);
    CHECK(events.size() == 1);  // nothing until the segment ends
    decoder.mark_segment_end(sink);
    REQUIRE(events.size() == 3);
    CHECK(events[1].kind == StreamEvent::Kind::Resync);
    CHECK(events[1].offset == 67);
    CHECK(events[1].skipped == 3);
    CHECK(events[2].kind == StreamEvent::Kind::Frame);
    CHECK(events[2].offset == 67);
    CHECK(events[2].size == message.size());
    CHECK_FALSE(decoder.resyncing());
}

TEST_CASE("resync: ZMTP 1.0 framing still stops at a gap", "[resync][decoder]") {
    StreamDecoder decoder;
    std::vector<StreamEvent> events;
    auto sink = [&](const StreamEvent& e) { events.push_back(e); };
    const Buf v1_frame = {0x04, 0x00, 'a', 'b', 'c'};  // length 4 (flags + 3), no greeting
    decoder.feed(v1_frame, sink);
    REQUIRE(decoder.framing() == Framing::V1);
    decoder.mark_gap(sink);
    REQUIRE(events.back().kind == StreamEvent::Kind::Error);
    CHECK(events.back().error == StreamError::Gap);
    CHECK(decoder.failed());
}

TEST_CASE("resync: the end of the stream reports a frame it cut off", "[resync][decoder]") {
    StreamDecoder decoder;
    std::vector<StreamEvent> events;
    auto sink = [&](const StreamEvent& e) { events.push_back(e); };
    const Buf g = greeting("NULL");
    const Buf f = frame(0x00, "a body that the FIN cuts");
    decoder.feed(concat({g, Buf(f.begin(), f.begin() + 10)}), sink);
    decoder.finish(sink);
    REQUIRE(events.back().kind == StreamEvent::Kind::Error);
    CHECK(events.back().error == StreamError::Truncated);
    CHECK(events.back().offset == 64);
    CHECK(events.back().size == 10);
    CHECK(events.back().message.find("10 of " + std::to_string(f.size())) != std::string::npos);
}

// ---- the session -------------------------------------------------------------------------------

TEST_CASE("resync: CURVE captured after the handshake opens with its SESSION_KEY",
          "[resync][session]") {
    CurveKeys k;
    KeyStore keys;
    REQUIRE(keys.add(KeyLabel::SessionKey, session_key_of(k), "test"));
    const auto pieces = curve_exchanges(k, 5, 10, 9);
    Session s(&keys);
    const Log log = play(s, pieces, {C2S, S2C});
    const SessionInfo& info = s.info();
    CHECK(info.mechanism == Mechanism::Curve);
    CHECK(info.mechanism_inferred);
    CHECK(info.handshake == HandshakeState::NotCaptured);
    CHECK(info.curve == CurveKeyState::SessionKey);
    CHECK(info.recovery[0].started_mid_stream);
    CHECK(info.recovery[1].started_mid_stream);
    REQUIRE(log.resyncs.size() == 2);
    CHECK(log.resyncs[0].evidence == ResyncEvidence::CurveSignature);
    // The first message of each direction may lack its start; every later one is whole.
    CHECK(std::count_if(log.messages.begin(), log.messages.end(),
                        [](auto& m) { return m.loss == MessageLoss::StartLost; }) == 2);
    CHECK(info.messages[0] == 4);
    CHECK(info.messages[1] == 4);
    const std::vector<std::string> expected = {"C>S:req1", "S>C:rep1", "C>S:req2", "S>C:rep2",
                                               "C>S:req3", "S>C:rep3", "C>S:req4", "S>C:rep4"};
    CHECK(log.bodies == expected);
    CHECK(info.socket_types[0] == SocketType::Dealer);
    CHECK(info.socket_types_inferred);
    // Asynchronous sockets joined late: nothing is paired, nothing is left unanswered.
    CHECK(info.pairing_stopped);
    for (const MessageEvent& m : log.messages) CHECK_FALSE(m.answers_seq.has_value());
    CHECK(info.requests_pending[0] == 0);
    CHECK(s.session_key() == session_key_of(k));
}

TEST_CASE("resync: without a SESSION_KEY a late CURVE capture says which key is missing",
          "[resync][session]") {
    CurveKeys k;
    KeyStore ephemeral_only;  // an old key log: ephemeral secrets, no SESSION_KEY lines
    REQUIRE(ephemeral_only.add(KeyLabel::EphemeralSecret, k.client_eph.sec, "test"));
    const KeyStore* const stores[] = {nullptr, &ephemeral_only};
    for (const KeyStore* keys : stores) {
        Session s(keys);
        const Log log = play(s, curve_exchanges(k, 3), {C2S, S2C});
        CHECK(s.info().mechanism == Mechanism::Curve);
        CHECK(log.bodies.empty());
        CHECK(s.info().messages[0] + s.info().messages[1] == 0);
        REQUIRE_FALSE(log.notices.empty());
        CHECK(log.notices.front().code == NoticeCode::SessionKeyMissing);
        CHECK(log.notices.front().text.find("SESSION_KEY") != std::string::npos);
    }
}

TEST_CASE("resync: a lost CURVE segment costs exactly the frames in it", "[resync][session]") {
    CurveKeys k;
    KeyStore keys;
    REQUIRE(keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec, "test"));
    REQUIRE(keys.add(KeyLabel::ServerPublic, k.server.pub, "test"));
    auto pieces = curve_handshake(k);
    auto exchanges = curve_exchanges(k, 6);
    exchanges[4].lost = true;  // req2
    exchanges[5].lost = true;  // rep2
    exchanges[7].lost = true;  // rep3
    pieces.insert(pieces.end(), exchanges.begin(), exchanges.end());
    Session s(&keys);
    const Log log = play(s, pieces);
    // rep2 and rep3 are lost with nothing of that direction between them: one search.
    REQUIRE(log.resyncs.size() == 2);
    CHECK(log.resyncs[0].frames_lost == 1u);
    CHECK(log.resyncs[1].frames_lost == 2u);
    CHECK(s.info().recovery[0].frames_lost == 1);
    CHECK(s.info().recovery[1].frames_lost == 2);
    CHECK(s.info().recovery[1].lost_bytes == exchanges[5].bytes.size() + exchanges[7].bytes.size());
    // Before the gaps everything; after each, the first message is "start lost".
    const std::vector<std::string> expected = {"C>S:req0", "S>C:rep0", "C>S:req1", "S>C:rep1",
                                               "C>S:req4", "C>S:req5", "S>C:rep5"};
    CHECK(log.bodies == expected);
    CHECK(s.info().pairing_stopped);
    CHECK(s.info().requests_pending[0] == 0);
}

TEST_CASE("resync: NULL REQ/REP recovers, drops pending requests, and pairs again",
          "[resync][session]") {
    auto pieces = null_req_rep(6);
    pieces[4 + 2 * 2 + 1].lost = true;  // rep2
    Session s(nullptr);
    const Log log = play(s, pieces);
    REQUIRE(log.gaps.size() == 1);
    CHECK(log.gaps[0].requests_dropped == 1);  // req2: answered or not, nobody can tell
    REQUIRE(log.resyncs.size() == 1);
    CHECK(log.resyncs[0].evidence == ResyncEvidence::WholeSegment);
    // rep3 follows the gap (start lost); req3..req5 and rep4, rep5 are whole.
    CHECK(s.info().messages[0] == 6);
    CHECK(s.info().messages[1] == 4);
    size_t paired = 0;
    for (const MessageEvent& m : log.messages) {
        if (m.answers_seq) {
            ++paired;
            CHECK(m.loss == MessageLoss::None);
        }
    }
    CHECK(paired == 4);  // rep0, rep1, rep4, rep5
    // req3: its reply may be the message whose start was lost, so it is dropped with it.
    CHECK(s.info().requests_pending[0] == 0);
    const auto cut = std::find_if(log.messages.begin(), log.messages.end(),
                                  [](auto& m) { return m.loss == MessageLoss::StartLost; });
    REQUIRE(cut != log.messages.end());
    CHECK(cut->requests_dropped == 1);
    CHECK_FALSE(s.info().pairing_stopped);
}

TEST_CASE("resync: a plaintext capture joined late is NULL or PLAIN, types inferred",
          "[resync][session]") {
    auto pieces = null_req_rep(5);
    pieces.erase(pieces.begin(), pieces.begin() + 6);  // no greetings, READYs, first exchange
    Session s(nullptr);
    const Log log = play(s, pieces, {C2S, S2C});
    const SessionInfo& info = s.info();
    CHECK(info.handshake == HandshakeState::NotCaptured);
    CHECK(info.mechanism == Mechanism::Unknown);
    CHECK(info.plaintext_without_handshake);
    CHECK(info.socket_types[0] == SocketType::Req);
    CHECK(info.socket_types[1] == SocketType::Rep);
    CHECK(info.socket_types_inferred);
    const std::vector<std::string> expected = {"C>S:", "C>S:req2", "S>C:", "S>C:rep2",
                                               "C>S:", "C>S:req3", "S>C:", "S>C:rep3",
                                               "C>S:", "C>S:req4", "S>C:", "S>C:rep4"};
    CHECK(log.bodies == expected);
}

TEST_CASE("resync: the same bytes and segment ends give the same events in any split",
          "[resync][session]") {
    CurveKeys k;
    KeyStore keys;
    REQUIRE(keys.add(KeyLabel::SessionKey, session_key_of(k), "test"));
    auto curve = curve_exchanges(k, 8);
    curve[5].lost = true;
    auto plain = null_req_rep(8);
    plain[7].lost = true;
    plain[10].bytes.resize(plain[10].bytes.size() - 2);  // cut short too: a snaplen
    for (const auto* pieces : {&curve, &plain}) {
        Session whole(&keys);
        const Log reference = play(whole, *pieces, {C2S, S2C});
        REQUIRE_FALSE(reference.resyncs.empty());
        for (size_t split : {1, 2, 3, 7, 16}) {
            Session s(&keys);
            CHECK(play(s, *pieces, {C2S, S2C}, split).lines == reference.lines);
        }
    }
}

TEST_CASE("resync: a message cut by a gap or by the end is reported as lost", "[resync][session]") {
    auto pieces = null_req_rep(3);
    // The client's second request: its delimiter arrives, its body frame is lost.
    pieces[6].bytes = frame(0x01, "");
    pieces.insert(pieces.begin() + 7, Piece{C2S, frame(0x00, "req1"), true});
    // The last reply ends mid-frame (FIN).
    pieces.back().bytes.resize(pieces.back().bytes.size() - 2);
    Session s(nullptr);
    const Log log = play(s, pieces);
    std::vector<MessageLoss> losses;
    for (const MessageEvent& m : log.messages)
        if (m.loss != MessageLoss::None) losses.push_back(m.loss);
    // req1 cut by the gap, req2 after it (its start is not known for sure), the last reply by
    // the end of the stream.
    CHECK(losses == std::vector<MessageLoss>{MessageLoss::EndLost, MessageLoss::StartLost,
                                             MessageLoss::EndLost});
    const auto truncated = std::find_if(log.notices.begin(), log.notices.end(), [](auto& n) {
        return n.code == NoticeCode::StreamError && n.severity == Severity::Warning;
    });
    CHECK(truncated != log.notices.end());
}

TEST_CASE("the handshake's order is checked per mechanism", "[session][handshake]") {
    CurveKeys k;
    const Buf initiate = curve_initiate(k, metadata({{"Socket-Type", "DEALER"}}));
    // In order: no notice. INITIATE before WELCOME, and a second READY: reported.
    std::vector<Piece> in_order = curve_handshake(k);
    std::vector<Piece> swapped = curve_handshake(k);
    std::swap(swapped[3], swapped[4]);
    std::vector<Piece> again = curve_handshake(k);
    again.push_back({S2C, curve_ready(k, metadata({{"Socket-Type", "ROUTER"}}), 2)});
    auto unexpected = [](const Log& log) {
        std::vector<std::string> texts;
        for (const NoticeEvent& n : log.notices)
            if (n.code == NoticeCode::UnexpectedCommand) texts.push_back(n.text);
        return texts;
    };
    Session a(nullptr), b(nullptr), c(nullptr);
    CHECK(unexpected(play(c, again)) == std::vector<std::string>{"READY after the handshake"});
    CHECK(unexpected(play(a, in_order)).empty());
    const auto out_of_order = unexpected(play(b, swapped));
    REQUIRE(out_of_order.size() == 1);
    CHECK(out_of_order[0] ==
          "INITIATE out of order in the CURVE handshake (before the "
          "server's command it answers)");
    auto null_pieces = null_req_rep(1);
    Session d(nullptr);
    CHECK(unexpected(play(d, null_pieces)).empty());
    null_pieces.push_back({C2S, null_ready("REQ")});
    Session e(nullptr);
    CHECK(unexpected(play(e, null_pieces)) ==
          std::vector<std::string>{"READY after the handshake"});
}

TEST_CASE("resync: joined during a CURVE handshake, the handshake is decoded from there",
          "[resync][session]") {
    CurveKeys k;
    KeyStore keys;
    REQUIRE(keys.add(KeyLabel::EphemeralSecret, k.client_eph.sec, "test"));
    REQUIRE(keys.add(KeyLabel::ServerPublic, k.server.pub, "test"));
    auto pieces = curve_handshake(k);
    pieces.erase(pieces.begin(), pieces.begin() + 2);  // the greetings are not in the capture
    const auto exchanges = curve_exchanges(k, 3);
    pieces.insert(pieces.end(), exchanges.begin(), exchanges.end());
    Session s(&keys);
    const Log log = play(s, pieces, {C2S, S2C});
    CHECK(s.info().mechanism == Mechanism::Curve);
    CHECK(s.info().mechanism_inferred);
    CHECK(s.info().curve == CurveKeyState::SessionKey);
    CHECK(s.info().handshake == HandshakeState::Ready);
    const std::vector<std::string> all = {"C>S:req0", "S>C:rep0", "C>S:req1",
                                          "S>C:rep1", "C>S:req2", "S>C:rep2"};
    CHECK(log.bodies == all);  // no message can come before the handshake: none is lost
}

TEST_CASE("resync: a plaintext guess gives way to CURVE when a MESSAGE frame shows",
          "[resync][session]") {
    CurveKeys k;
    // The capture starts inside a CURVE READY (its tail is taken for plaintext frames), then
    // MESSAGE frames follow.
    std::vector<Piece> pieces = {{S2C, concat({frame(0x01, ""), frame(0x00, "tail")})}};
    const auto exchanges = curve_exchanges(k, 3);
    pieces.insert(pieces.end(), exchanges.begin(), exchanges.end());
    Session s(nullptr);
    const Log log = play(s, pieces, {C2S, S2C});
    CHECK(s.info().mechanism == Mechanism::Curve);
    CHECK_FALSE(s.info().plaintext_without_handshake);
    for (const std::string& body : log.bodies) CHECK(body.find("MESSAGE") == std::string::npos);
}

TEST_CASE("resync: a lost INITIATE does not stop decryption when WELCOME opened",
          "[resync][session]") {
    CurveKeys k;
    KeyStore client_side, server_side;
    REQUIRE(client_side.add(KeyLabel::EphemeralSecret, k.client_eph.sec, "test"));
    REQUIRE(client_side.add(KeyLabel::ServerPublic, k.server.pub, "test"));
    REQUIRE(server_side.add(KeyLabel::ServerSecret, k.server.sec, "test"));
    REQUIRE(server_side.add(KeyLabel::EphemeralSecret, k.server_eph.sec, "test"));
    for (const KeyStore* keys : {&client_side, &server_side}) {
        auto pieces = curve_handshake(k);
        pieces[4].lost = true;  // INITIATE
        const auto exchanges = curve_exchanges(k, 3);
        pieces.insert(pieces.end(), exchanges.begin(), exchanges.end());
        Session s(keys);
        const Log log = play(s, pieces);
        CHECK(s.info().curve == CurveKeyState::SessionKey);
        // The client's first message follows its gap: start lost; everything else opens.
        const std::vector<std::string> expected = {"S>C:rep0", "C>S:req1", "S>C:rep1", "C>S:req2",
                                                   "S>C:rep2"};
        CHECK(log.bodies == expected);
        for (const NoticeEvent& n : log.notices) CHECK(n.code != NoticeCode::UnexpectedCommand);
    }
}
