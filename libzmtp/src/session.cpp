#include "zmtp/session.hpp"

#include <sodium.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

#include "zmtp/curve.hpp"
#include "zmtp/fifo.hpp"
#include "zmtp/z85.hpp"

namespace zmtp {

namespace {

constexpr std::string_view message_prefix{"\x07MESSAGE", 8};
constexpr size_t curve_message_min_size = 33;  // name, nonce, MAC, flags (docs/protocol.md 4.6)
// PINGs per direction remembered while they wait for a PONG: a bound for a peer that is never
// answered; later PINGs go unpaired.
constexpr size_t max_pending_pings = 64;

Key key_from(Bytes b) {
    Key k{};
    std::memcpy(k.data(), b.data(), k.size());
    return k;
}

// How messages pair into requests and replies for a pair of socket types.
enum class Pairing : uint8_t {
    None,        // PUB/SUB, PUSH/PULL, ...: no replies
    Requests,    // this side sends the requests (REQ, strictly)
    Replies,     // this side only replies (REP, strictly)
    FirstReply,  // asynchronous (DEALER, ROUTER, CLIENT, SERVER): a message answers the oldest
                 // unanswered message of the other direction, else it is a request itself
};

bool is_async_request_reply(SocketType t) {
    return t == SocketType::Dealer || t == SocketType::Router || t == SocketType::Client ||
           t == SocketType::Server;
}

Pairing pairing_of(SocketType mine, SocketType theirs) {
    if (mine == SocketType::Req && (theirs == SocketType::Rep || theirs == SocketType::Router)) {
        return Pairing::Requests;
    }
    if (theirs == SocketType::Req && (mine == SocketType::Rep || mine == SocketType::Router)) {
        return Pairing::Replies;
    }
    if (mine == SocketType::Dealer && theirs == SocketType::Rep) return Pairing::Requests;
    if (mine == SocketType::Rep && theirs == SocketType::Dealer) return Pairing::Replies;
    if (is_async_request_reply(mine) && is_async_request_reply(theirs)) return Pairing::FirstReply;
    return Pairing::None;
}

bool sends_subscriptions(SocketType t) {
    return t == SocketType::Sub || t == SocketType::Xsub;
}

// A request waiting for its reply, or a PING waiting for its PONG.
struct Pending {
    uint64_t offset;
    uint64_t seq;
};

struct DirectionState {
    uint64_t message_seq = 0;
    uint32_t frame_index = 0;
    uint64_t message_bytes = 0;
    uint64_t message_first_offset = 0;
    bool message_decrypted = false;
    bool ready = false;          // sent READY (NULL) / its handshake part is done
    uint8_t handshake_step = 0;  // handshake commands this direction sent in their order
    std::optional<uint64_t> last_nonce;
    Fifo<Pending> requests;  // this direction's requests awaiting a reply
    Fifo<Pending> pings;     // this direction's PINGs awaiting a PONG

    // Recovery (docs/protocol.md 9): a boundary found, not yet reported (with the first frame,
    // so that a CURVE nonce jump can count the frames lost).
    std::optional<SessionEvent> pending_resync;
    bool message_start_lost = false;  // the message in progress follows a gap
    bool message_delimited = false;   // the message in progress began with an empty MORE frame
    bool finished = false;
    std::optional<bool> first_message_delimited;  // for socket types without a handshake
};

// What is known of a CURVE connection's keys (docs/protocol.md 4 and 5).
struct CurveState {
    std::optional<Key> client_ephemeral;          // C'
    std::optional<Key> client_ephemeral_secret;   // c'
    std::optional<Key> server_public;             // S
    std::optional<Key> server_secret;             // s
    std::optional<Key> server_ephemeral;          // S'
    std::optional<Key> server_ephemeral_secret;   // s'
    std::optional<curve::SharedKey> hello_key;    // DH(c', S) = DH(s, C')
    std::optional<curve::SharedKey> session_key;  // DH(c', S') = DH(s', C')
    bool hello_seen = false;
    bool session_key_searched = false;
    bool session_keys_tried = false;  // the SESSION_KEY lines were tried on a MESSAGE box

    // The secrets go with the connection (the shared keys wipe themselves).
    ~CurveState() {
        for (std::optional<Key>* secret :
             {&client_ephemeral_secret, &server_secret, &server_ephemeral_secret})
            if (*secret) sodium_memzero((*secret)->data(), (*secret)->size());
    }
};

// The unit a stream event describes, passed down to the handlers.
struct Unit {
    Direction dir;
    uint64_t offset;
    uint64_t size;
};

// The message in progress of a direction, as its MessageEvent reports it.
void describe_message(const DirectionState& ds, MessageEvent& m) {
    m.message_seq = ds.message_seq;
    m.frames = ds.frame_index;
    m.body_bytes = ds.message_bytes;
    m.decrypted = ds.message_decrypted;
    m.first_offset = ds.message_first_offset;
}

}  // namespace

struct Session::Impl {
    const KeyStore* keys;
    SessionOptions options;
    std::array<StreamDecoder, 2> decoders;
    std::array<DirectionState, 2> dirs;
    SessionInfo info;
    CurveState curve;
    std::vector<uint8_t> plaintext;
    Session::PlaintextAllocator allocate_plaintext;  // empty: MESSAGE plaintexts go to `plaintext`
    const SessionSink* sink = nullptr;
    // The MESSAGE fast path: nonces with their prefix written once (index: from the mechanism
    // client), and one event reused for every opened MESSAGE.
    std::array<curve::Nonce, 2> message_nonces{curve::message_nonce(false, 0),
                                               curve::message_nonce(true, 0)};
    SessionEvent opened_message{Direction::ClientToServer, 0, 0, opened_message_event()};
    // The events of every data frame and message, reused: each sets all of its fields.
    SessionEvent frame_event{Direction::ClientToServer, 0, 0, FrameEvent{}};
    SessionEvent message_event{Direction::ClientToServer, 0, 0, MessageEvent{}};
    static SessionEvent& reused(SessionEvent& event, const Unit& u) {
        event.dir = u.dir;
        event.offset = u.offset;
        event.size = u.size;
        return event;
    }

    Impl(const KeyStore* k, SessionOptions o)
        : keys(k),
          options(o),
          decoders{StreamDecoder(decoder_limits(o)), StreamDecoder(decoder_limits(o))} {}

    // The decoders start delivering every body; skip_message_bodies is the session's to apply.
    static Limits decoder_limits(const SessionOptions& o) {
        Limits limits = o.limits;
        limits.skip_message_bodies = false;
        return limits;
    }
    void update_body_skipping();

    static CommandEvent opened_message_event() {
        CommandEvent ev;
        ev.command.kind = CommandKind::Message;
        ev.command.name = message_prefix.substr(1);
        ev.curve.box_opened = true;
        return ev;
    }

    template <class Event>
    void emit(const Unit& u, Event&& what) {
        (*sink)(SessionEvent{u.dir, u.offset, u.size, std::forward<Event>(what)});
    }
    void notice(const Unit& u, NoticeCode code, Severity sev, std::string text) {
        emit(u, NoticeEvent{code, sev, std::move(text)});
    }

    void on_stream_event(Direction dir, const StreamEvent& e);
    void on_greeting(const Unit& u, const Greeting& g);
    void on_gap(const Unit& u, const StreamEvent& e);
    void on_resync(const Unit& u, const StreamEvent& e);
    void report_resync(Direction dir, Bytes first_body, bool command);
    void infer_mechanism(bool curve, bool handshake_seen);
    void infer_socket_types(Direction dir, const DirectionState& ds);
    void cut_message(const Unit& u, MessageLoss loss);
    void update_resync_hints();
    bool try_session_keys(const Unit& u, const Command& message);
    void adopt_lone_greeting(const Greeting& g);
    void on_frame(const Unit& u, const StreamEvent& e);
    void on_command(const Unit& u, Bytes body, bool decrypted);
    void on_data_frame(const Unit& u, const FrameHeader& h, Bytes body, bool skipped,
                       bool decrypted, uint8_t inner_flags);
    void finish_message(const Unit& u, DirectionState& ds);
    void handshake_done(const Unit& u, bool ok, std::string reason);
    void learn_socket_type(Direction dir, const std::vector<Property>& metadata);
    void check_handshake_order(const Unit& u, CommandKind kind);

    // CURVE
    void curve_command(const Unit& u, CommandEvent& ev);
    void curve_hello(const Unit& u, CommandEvent& ev);
    void curve_welcome(const Unit& u, CommandEvent& ev);
    void curve_initiate(const Unit& u, CommandEvent& ev);
    void curve_ready(const Unit& u, CommandEvent& ev);
    void curve_message(const Unit& u, Bytes body, bool command_flag);
    bool curve_message_fast(const Unit& u, Bytes body, bool command_flag);
    void deliver_plaintext(const Unit& u, Bytes opened);
    bool find_session_key(const Unit& u, const Command& initiate);
    void session_key_from_welcome();
    void check_nonce(const Unit& u, uint64_t nonce);
    std::string missing_session_key_text() const;
    bool open_into(const curve::SharedKey& k, const curve::Nonce& n, Bytes box) {
        plaintext.resize(box.size() - std::min(box.size(), curve::mac_size));
        return curve::open(k, n, box, plaintext.data());
    }
    // Where a MESSAGE box of `box_size` bytes opens: the caller's buffer when it gave an
    // allocator, else `plaintext`.
    uint8_t* message_plaintext_buffer(size_t box_size) {
        const size_t size = box_size - std::min(box_size, curve::mac_size);
        if (allocate_plaintext && size > 0) return allocate_plaintext(size);
        plaintext.resize(size);
        return plaintext.data();
    }
    Direction curve_client() const {
        return info.mechanism_client.value_or(Direction::ClientToServer);
    }
};

void Session::Impl::on_stream_event(Direction dir, const StreamEvent& e) {
    Unit u{dir, e.offset, e.size};
    switch (e.kind) {
        case StreamEvent::Kind::Greeting:
            on_greeting(u, e.greeting);
            break;
        case StreamEvent::Kind::Frame:
            on_frame(u, e);
            break;
        case StreamEvent::Kind::Error:
            notice(u, NoticeCode::StreamError,
                   e.error == StreamError::Truncated ? Severity::Warning : Severity::Error,
                   e.message);
            break;
        case StreamEvent::Kind::Gap:
            on_gap(u, e);
            break;
        case StreamEvent::Kind::Resync:
            on_resync(u, e);
            break;
    }
    if (options.limits.skip_message_bodies) update_body_skipping();
}

// SessionOptions::limits.skip_message_bodies: a direction's message-frame bodies are skipped
// once nothing the session reads can be in them: the handshake is done, no CURVE boxes, and
// no ZMTP 3.0 subscription frames from this side.
void Session::Impl::update_body_skipping() {
    for (const Direction dir : {Direction::ClientToServer, Direction::ServerToClient}) {
        const bool subscription_frames = !info.subscriptions_as_commands &&
                                         sends_subscriptions(info.socket_types[index_of(dir)]);
        const bool skip = info.handshake == HandshakeState::Ready &&
                          info.mechanism != Mechanism::Curve && !subscription_frames;
        decoders[index_of(dir)].set_skip_message_bodies(skip);
    }
}

void Session::Impl::on_greeting(const Unit& u, const Greeting& g) {
    info.greetings[index_of(u.dir)] = g;
    if (g.socket_type != SocketType::Unknown) info.socket_types[index_of(u.dir)] = g.socket_type;
    emit(u, GreetingEvent{g});

    const auto& mine = info.greetings[index_of(u.dir)];
    const auto& theirs = info.greetings[index_of(opposite(u.dir))];
    if (!theirs) {
        const size_t other = index_of(opposite(u.dir));
        if (decoders[other].failed() || info.recovery[other].gaps > 0) {
            adopt_lone_greeting(*mine);
            update_resync_hints();
        }
        return;
    }

    const bool both_v3 = mine->framing == Framing::V3 && theirs->framing == Framing::V3;
    info.framing = both_v3 ? Framing::V3 : std::min(mine->framing, theirs->framing);
    info.subscriptions_as_commands = both_v3 && mine->minor >= 1 && theirs->minor >= 1;
    if (!both_v3) {
        info.mechanism = Mechanism::Null;  // ZMTP 1.0/2.0: no security handshake
        handshake_done(u, true, {});
        return;
    }
    if (mine->mechanism_text != theirs->mechanism_text) {
        info.mechanism = Mechanism::Unknown;
        std::string text = "mechanism mismatch: " + theirs->mechanism_text + " vs " +
                           mine->mechanism_text + " (libzmq closes the connection)";
        notice(u, NoticeCode::MechanismMismatch, Severity::Error, text);
        handshake_done(u, false, "mechanism mismatch");
        return;
    }
    info.mechanism = mine->mechanism;
    info.handshake = HandshakeState::Handshake;
    if (info.mechanism == Mechanism::Curve) info.curve = CurveKeyState::Unknown;
}

// The other direction lost its greeting (a capture gap): go on with this side's mechanism,
// so that CURVE boxes are not taken for plaintext messages.
void Session::Impl::adopt_lone_greeting(const Greeting& g) {
    if (info.mechanism != Mechanism::Unknown || info.handshake != HandshakeState::Greeting) return;
    info.mechanism = g.framing == Framing::V3 ? g.mechanism : Mechanism::Null;
    info.framing = g.framing;
    info.handshake = HandshakeState::Handshake;
    if (info.mechanism == Mechanism::Curve) info.curve = CurveKeyState::Unknown;
}

void Session::Impl::on_frame(const Unit& u, const StreamEvent& e) {
    const FrameHeader& h = e.header;
    if (dirs[index_of(u.dir)].pending_resync)
        report_resync(u.dir, e.body_skipped ? Bytes{} : e.body, h.command);
    // Taken for plaintext without a greeting, but a CURVE MESSAGE frame shows: CURVE after all.
    if (info.plaintext_without_handshake && !e.body_skipped &&
        e.body.size() >= curve_message_min_size && as_text(e.body).starts_with(message_prefix)) {
        infer_mechanism(true, false);
    }
    if (h.reserved_bits) {
        notice(u, NoticeCode::ReservedFlags, Severity::Warning,
               "reserved flag bits set in frame flags 0x" + to_hex(Bytes(&h.flags, 1)));
    }
    const bool curve_box = info.mechanism == Mechanism::Curve && !e.body_skipped &&
                           as_text(e.body).starts_with(message_prefix);
    const bool after_handshake =
        info.handshake == HandshakeState::Ready || info.handshake == HandshakeState::NotCaptured;
    if (curve_box && (!h.command || after_handshake)) {
        curve_message(u, e.body, h.command);
        return;
    }
    if (h.command) {
        if (h.more) {
            notice(u, NoticeCode::CommandWithMore, Severity::Warning,
                   "command frame with MORE set (must be clear)");
        }
        if (e.body_skipped) {
            notice(u, NoticeCode::MalformedCommand, Severity::Warning,
                   "command body too large to decode (" + std::to_string(h.body_size) + " bytes)");
            return;
        }
        on_command(u, e.body, false);
        return;
    }
    on_data_frame(u, h, e.body, e.body_skipped, false, 0);
}

// The handshake's state machine (docs/protocol.md 2.4, 3 and 4): the commands each side sends,
// in order. NULL: READY (or ERROR). PLAIN and CURVE: the client HELLO then INITIATE, the server
// WELCOME then READY, or ERROR instead of either. Anything else during the handshake, and a
// handshake command after it, is reported (libzmq closes such connections).
void Session::Impl::check_handshake_order(const Unit& u, CommandKind kind) {
    using K = CommandKind;
    const bool handshake_kind = kind == K::Hello || kind == K::Welcome || kind == K::Initiate ||
                                kind == K::Ready || kind == K::Error;
    if (info.handshake == HandshakeState::Ready || info.handshake == HandshakeState::NotCaptured) {
        if (handshake_kind && kind != K::Error) {
            notice(u, NoticeCode::UnexpectedCommand, Severity::Warning,
                   std::string(command_kind_name(kind)) + " after the handshake");
        }
        return;
    }
    // Joined during the handshake (no greeting): which commands came before is unknown.
    // Joined during the handshake, or bytes lost: which commands the capture lacks is unknown.
    const bool lost = info.recovery[0].gaps > 0 || info.recovery[1].gaps > 0;
    if (info.handshake != HandshakeState::Handshake || info.mechanism_inferred || lost) return;
    DirectionState& ds = dirs[index_of(u.dir)];
    // The HELLO sender is the mechanism's client; before HELLO, the greeting's as-server flag.
    const auto& greeting = info.greetings[index_of(u.dir)];
    const bool server = info.mechanism_client ? u.dir != *info.mechanism_client
                        : kind == K::Hello    ? false
                                              : greeting && greeting->as_server;
    static constexpr std::array<K, 2> null_steps{K::Ready, K::Unknown};
    static constexpr std::array<K, 2> client_steps{K::Hello, K::Initiate};
    static constexpr std::array<K, 2> server_steps{K::Welcome, K::Ready};
    const auto& steps = info.mechanism == Mechanism::Null ? null_steps
                        : server                          ? server_steps
                                                          : client_steps;
    if (info.mechanism != Mechanism::Null && info.mechanism != Mechanism::Plain &&
        info.mechanism != Mechanism::Curve) {
        return;  // GSSAPI and others: their order is not checked
    }
    const K expected = ds.handshake_step < steps.size() ? steps[ds.handshake_step] : K::Unknown;
    const bool error_allowed = info.mechanism == Mechanism::Null || server;
    // Each step answers the other side's: WELCOME follows HELLO, INITIATE follows WELCOME,
    // READY follows INITIATE.
    static constexpr std::array<uint8_t, 2> client_needs{0, 1}, server_needs{1, 2};
    const uint8_t peer_steps = dirs[index_of(opposite(u.dir))].handshake_step;
    const bool answered = info.mechanism == Mechanism::Null || ds.handshake_step >= 2 ||
                          peer_steps >= (server ? server_needs : client_needs)[ds.handshake_step];
    if (kind == K::Error && error_allowed) return;
    if (kind == expected) ++ds.handshake_step;  // early or not, it was sent
    if (kind == expected && answered) return;
    std::string text = std::string(command_kind_name(kind)) + " out of order in the " +
                       std::string(mechanism_name(info.mechanism)) + " handshake";
    if (kind == expected) {
        text += " (before the " + std::string(server ? "client's" : "server's") +
                " command it answers)";
    } else if (expected != K::Unknown) {
        text += " (the " + std::string(server ? "server" : "client") + " sends " +
                std::string(command_kind_name(expected)) + " next)";
    }
    notice(u, NoticeCode::UnexpectedCommand, Severity::Warning, text);
}

void Session::Impl::learn_socket_type(Direction dir, const std::vector<Property>& metadata) {
    for (const auto& p : metadata) {
        if (p.name.size() == 11 && strncasecmp(p.name.data(), "Socket-Type", 11) == 0) {
            info.socket_types[index_of(dir)] = socket_type_from_name(as_text(p.value));
        }
    }
}

void Session::Impl::handshake_done(const Unit& u, bool ok, std::string reason) {
    if (info.handshake == HandshakeState::Ready || info.handshake == HandshakeState::Failed) {
        return;
    }
    info.handshake = ok ? HandshakeState::Ready : HandshakeState::Failed;
    emit(u, HandshakeEvent{info.mechanism, ok, std::move(reason)});
}

void Session::Impl::on_command(const Unit& u, Bytes body, bool decrypted) {
    CommandEvent ev;
    // Commands inside CURVE MESSAGE boxes (PING, SUBSCRIBE, ...) have the plain layouts.
    ev.command = parse_command(body, decrypted ? Mechanism::Null : info.mechanism);
    ev.decrypted = decrypted;
    Command& cmd = ev.command;
    if (cmd.problem) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning,
               std::string(cmd.name) + ": " + cmd.problem);
    }
    auto& ds = dirs[index_of(u.dir)];
    if (!decrypted) check_handshake_order(u, cmd.kind);
    switch (cmd.kind) {
        case CommandKind::Hello:
            info.mechanism_client = u.dir;
            break;
        case CommandKind::Ready:
            if (info.mechanism != Mechanism::Curve) learn_socket_type(u.dir, cmd.metadata);
            ds.ready = true;
            break;
        case CommandKind::Initiate:
            if (info.mechanism == Mechanism::Plain) learn_socket_type(u.dir, cmd.metadata);
            break;
        case CommandKind::Error:
            notice(u, NoticeCode::ErrorCommand, Severity::Warning,
                   "ERROR \"" + std::string(cmd.error_reason) + "\"" +
                       (cmd.libzmq_plain_error_bug ? " (libzmq PLAIN \"^RROR\" form)" : ""));
            break;
        case CommandKind::Ping:
            if (ds.pings.size() < max_pending_pings) ds.pings.push_back({u.offset, 0});
            break;
        case CommandKind::Pong: {
            auto& peer = dirs[index_of(opposite(u.dir))];
            if (!peer.pings.empty()) {
                ev.answers_offset = peer.pings.front().offset;
                peer.pings.pop_front();
            }
            break;
        }
        default:
            break;
    }
    if (info.mechanism == Mechanism::Curve && !decrypted) curve_command(u, ev);
    emit(u, std::move(ev));

    if (cmd.kind == CommandKind::Error) {
        handshake_done(u, false, "ERROR " + std::string(cmd.error_reason));
    } else if (cmd.kind == CommandKind::Ready && !decrypted) {
        const bool null_done = info.mechanism == Mechanism::Null && dirs[0].ready && dirs[1].ready;
        if (null_done || info.mechanism == Mechanism::Plain || info.mechanism == Mechanism::Curve) {
            handshake_done(u, true, {});
        }
    }
}

void Session::Impl::on_data_frame(const Unit& u, const FrameHeader& h, Bytes body, bool skipped,
                                  bool decrypted, uint8_t inner_flags) {
    auto& ds = dirs[index_of(u.dir)];
    SessionEvent& event = reused(frame_event, u);
    FrameEvent& ev = std::get<FrameEvent>(event.what);
    ev.header = h;
    ev.body = body;
    ev.body_skipped = skipped;
    ev.decrypted = decrypted;
    ev.inner_flags = inner_flags;
    ev.message_seq = ds.message_seq;
    ev.index_in_message = ds.frame_index;
    ev.last = !h.more;
    ev.start_lost = ds.message_start_lost;
    ev.subscription.reset();
    if (!info.subscriptions_as_commands &&
        sends_subscriptions(info.socket_types[index_of(u.dir)])) {
        ev.subscription = parse_subscription_frame(body);
    }
    if (ds.frame_index == 0) {
        ds.message_first_offset = u.offset;
        ds.message_bytes = 0;
        ds.message_decrypted = decrypted;
        ds.message_delimited = h.more && h.body_size == 0;
    }
    ds.message_bytes += h.body_size;
    ++ds.frame_index;
    if (decrypted) ++info.decrypted_frames[index_of(u.dir)];
    (*sink)(event);
    if (!h.more) finish_message(u, ds);
}

void Session::Impl::finish_message(const Unit& u, DirectionState& ds) {
    if (ds.message_start_lost) {
        ds.message_start_lost = false;
        cut_message(u, MessageLoss::StartLost);
        return;
    }
    if (info.socket_types_inferred || info.handshake == HandshakeState::NotCaptured) {
        if (!ds.first_message_delimited) infer_socket_types(u.dir, ds);
    }
    SessionEvent& event = reused(message_event, u);
    MessageEvent& m = std::get<MessageEvent>(event.what);
    m.answers_offset.reset();
    m.answers_seq.reset();
    m.loss = MessageLoss::None;
    m.awaits_reply = false;
    m.requests_dropped = 0;
    describe_message(ds, m);

    auto& peer = dirs[index_of(opposite(u.dir))];
    const Pairing pairing = pairing_of(info.socket_types[index_of(u.dir)],
                                       info.socket_types[index_of(opposite(u.dir))]);
    // Asynchronous sockets after a gap: which requests the lost bytes held is unknown, so no
    // reply can be matched by position any more.
    if (pairing == Pairing::FirstReply && (info.recovery[0].gaps > 0 || info.recovery[1].gaps > 0))
        info.pairing_stopped = true;
    const bool may_answer = pairing == Pairing::Replies || pairing == Pairing::FirstReply;
    if (info.pairing_stopped) {
        // after a gap on an asynchronous connection: nothing is paired (see GapEvent)
    } else if (may_answer && !peer.requests.empty()) {
        m.answers_offset = peer.requests.front().offset;
        m.answers_seq = peer.requests.front().seq;
        peer.requests.pop_front();
    } else if ((pairing == Pairing::Requests || pairing == Pairing::FirstReply) &&
               ds.requests.size() < options.max_pending_requests) {
        ds.requests.push_back({u.offset, ds.message_seq});
        m.awaits_reply = true;
    }
    if (info.recovery[index_of(u.dir)].gaps > 0)
        ++info.recovery[index_of(u.dir)].messages_after_gap;
    ++ds.message_seq;
    ++info.messages[index_of(u.dir)];
    ds.frame_index = 0;
    (*sink)(event);
}

// ---- Lost bytes (docs/protocol.md 9) -------------------------------------------------------

void Session::Impl::on_gap(const Unit& u, const StreamEvent& e) {
    const size_t d = index_of(u.dir);
    DirectionState& ds = dirs[d];
    RecoveryInfo& rec = info.recovery[d];
    if (ds.pending_resync) report_resync(u.dir, {}, false);
    if (ds.frame_index > 0) {
        cut_message(Unit{u.dir, u.offset, 0},
                    ds.message_start_lost ? MessageLoss::StartLost : MessageLoss::EndLost);
    }
    ds.message_start_lost = false;
    GapEvent gap;
    gap.lost_known = e.lost_known;
    gap.before_start = e.before_start;
    // A reply or PONG may have been in the lost bytes, or a request whose reply comes next.
    for (DirectionState& each : dirs) {
        gap.requests_dropped += each.requests.size();
        each.requests.clear();
        each.pings.clear();
    }
    ++rec.gaps;
    rec.started_mid_stream = rec.started_mid_stream || e.before_start;
    if (e.lost_known) {
        rec.lost_bytes += e.size;
    } else if (!e.before_start) {
        ++rec.gaps_of_unknown_size;
    }
    emit(u, gap);
}

void Session::Impl::on_resync(const Unit& u, const StreamEvent& e) {
    DirectionState& ds = dirs[index_of(u.dir)];
    RecoveryInfo& rec = info.recovery[index_of(u.dir)];
    ++rec.resyncs;
    rec.skipped_bytes += e.skipped;
    ds.pending_resync = SessionEvent{u.dir, u.offset, 0, ResyncEvent{e.evidence, e.skipped, {}}};
    // The MORE flags of the lost frames are unknown: the next message may lack its start.
    ds.message_start_lost = true;
    ds.frame_index = 0;
}

// Reports the boundary found before `first_body` (the first frame after it; empty when none
// came), counting the CURVE frames lost from the nonce jump.
void Session::Impl::report_resync(Direction dir, Bytes first_body, bool command) {
    DirectionState& ds = dirs[index_of(dir)];
    SessionEvent event = std::move(*ds.pending_resync);
    ds.pending_resync.reset();
    constexpr size_t nonce_at = message_prefix.size();
    const bool curve_box = first_body.size() >= curve_message_min_size &&
                           as_text(first_body).starts_with(message_prefix);
    const bool curve_handshake = command && is_curve_handshake_command(first_body);
    if (!info.greetings[index_of(dir)] && !info.greetings[index_of(opposite(dir))])
        infer_mechanism(curve_box || curve_handshake, curve_handshake);
    // No message is in progress when a handshake command is sent.
    const std::string_view text = as_text(first_body);
    const bool handshake_command =
        command &&
        (curve_handshake || text.starts_with("\x05READY") || text.starts_with("\x05HELLO") ||
         text.starts_with("\x07WELCOME") || text.starts_with("\x08INITIATE"));
    if (handshake_command) ds.message_start_lost = false;
    auto& resync = std::get<ResyncEvent>(event.what);
    if (curve_box && info.mechanism == Mechanism::Curve && ds.last_nonce) {
        const uint64_t nonce = read_be64(first_body.data() + nonce_at);
        if (nonce > *ds.last_nonce) {
            resync.frames_lost = nonce - *ds.last_nonce - 1;
            info.recovery[index_of(dir)].frames_lost += *resync.frames_lost;
        }
    }
    (*sink)(event);
}

// No greeting in either direction: what the first frame found shows. A CURVE MESSAGE frame: the
// handshake is over and not in the capture; a CURVE HELLO, WELCOME or INITIATE: it is under way
// (and decoded from there); anything else: plaintext, NULL or PLAIN. A plaintext guess gives
// way to CURVE when a MESSAGE frame shows later.
void Session::Impl::infer_mechanism(bool curve, bool handshake_seen) {
    const bool plaintext_guess = info.plaintext_without_handshake && curve;
    if (info.handshake != HandshakeState::Greeting && !plaintext_guess) return;
    info.handshake = handshake_seen ? HandshakeState::Handshake : HandshakeState::NotCaptured;
    info.framing = Framing::V3;
    info.mechanism_inferred = true;
    info.plaintext_without_handshake = false;
    if (curve) {
        info.mechanism = Mechanism::Curve;
        info.curve = CurveKeyState::Unknown;
        const bool have_session_keys = keys && !keys->session_keys().empty();
        info.curve_missing =
            std::string(
                "the capture has no handshake for this connection, so only its "
                "SESSION_KEY opens it") +
            (have_session_keys ? "; no SESSION_KEY line of the key log does"
                               : "; the key log has no SESSION_KEY line (libzmtp-keylog.so "
                                 "writes one per connection)");
    } else {
        info.plaintext_without_handshake = true;
    }
    update_resync_hints();
}

// Without READY metadata: REQ/REP messages start with an empty delimiter frame both ways;
// DEALER/ROUTER ones do not (docs/protocol.md 9). Decided from the first whole message of
// each direction; the TCP client is taken for the requesting side.
void Session::Impl::infer_socket_types(Direction dir, const DirectionState& ds) {
    dirs[index_of(dir)].first_message_delimited = ds.message_delimited;
    const auto& c = dirs[index_of(Direction::ClientToServer)].first_message_delimited;
    const auto& s = dirs[index_of(Direction::ServerToClient)].first_message_delimited;
    auto& types = info.socket_types;
    if (!c || !s || types[0] != SocketType::Unknown || types[1] != SocketType::Unknown) return;
    if (*c && *s) {
        types = {SocketType::Req, SocketType::Rep};
    } else if (!*c && !*s) {
        types = {SocketType::Dealer, SocketType::Router};
    } else {
        return;
    }
    info.socket_types_inferred = true;
}

// A message the capture lacks part of: reported, never counted or paired. It may be the reply
// to the other side's pending request: that request is dropped, not left for the next reply.
void Session::Impl::cut_message(const Unit& u, MessageLoss loss) {
    DirectionState& ds = dirs[index_of(u.dir)];
    auto& their_requests = dirs[index_of(opposite(u.dir))].requests;
    const uint64_t dropped = their_requests.size();
    their_requests.clear();
    MessageEvent m;
    describe_message(ds, m);
    m.loss = loss;
    m.requests_dropped = dropped;
    ds.frame_index = 0;
    ++info.recovery[index_of(u.dir)].messages_cut;
    emit(u, m);
}

void Session::Impl::update_resync_hints() {
    for (const Direction dir : {Direction::ClientToServer, Direction::ServerToClient}) {
        ResyncHints hints;
        hints.framing = info.framing == Framing::V2 ? Framing::V2 : Framing::V3;
        if (info.mechanism == Mechanism::Curve) {
            hints.expect = ResyncHints::Expect::Curve;
        } else if (info.mechanism != Mechanism::Unknown || info.plaintext_without_handshake) {
            hints.expect = ResyncHints::Expect::Plaintext;
        }
        hints.last_nonce = dirs[index_of(dir)].last_nonce;
        hints.max_frame_size = options.limits.max_body_size;
        decoders[index_of(dir)].set_resync_hints(hints);
    }
}

// A connection without a (usable) handshake: its first MESSAGE box is tried with each logged
// SESSION_KEY, both nonce prefixes (which side is the CURVE client is unknown then); the MAC
// rules out false matches (docs/keylog.md).
bool Session::Impl::try_session_keys(const Unit& u, const Command& message) {
    curve.session_keys_tried = true;
    if (!keys) return false;
    size_t trials = 0;
    for (const KeyEntry* e : keys->session_keys()) {
        if (trials++ >= options.max_trials) {
            notice(u, NoticeCode::TrialLimit, Severity::Note,
                   "gave up after " + std::to_string(options.max_trials) + " session keys");
            return false;
        }
        curve::SharedKey k;
        std::memcpy(k.bytes.data(), e->secret_key.data(), k.bytes.size());
        const bool tcp_client = u.dir == Direction::ClientToServer;
        for (const bool from_client : {tcp_client, !tcp_client}) {
            if (!open_into(k, curve::message_nonce(from_client, message.short_nonce), message.box))
                continue;
            curve.session_key = k;
            if (!info.mechanism_client)
                info.mechanism_client = from_client ? u.dir : opposite(u.dir);
            info.curve = CurveKeyState::SessionKey;
            info.curve_missing.clear();
            return true;
        }
    }
    return false;
}

// ---- CURVE ---------------------------------------------------------------------------------

void Session::Impl::curve_command(const Unit& u, CommandEvent& ev) {
    if (ev.command.problem) return;
    switch (ev.command.kind) {
        case CommandKind::Hello:
            curve_hello(u, ev);
            break;
        case CommandKind::Welcome:
            curve_welcome(u, ev);
            break;
        case CommandKind::Initiate:
            curve_initiate(u, ev);
            break;
        case CommandKind::Ready:
            curve_ready(u, ev);
            break;
        default:
            break;
    }
}

void Session::Impl::curve_hello(const Unit& u, CommandEvent& ev) {
    const Command& cmd = ev.command;
    curve.hello_seen = true;
    curve.client_ephemeral = key_from(cmd.client_ephemeral);
    dirs[index_of(u.dir)].last_nonce = cmd.short_nonce;
    if (!keys) {
        info.curve = CurveKeyState::NoKey;
        info.curve_missing = "no keys configured";
        return;
    }
    const Key& cp = *curve.client_ephemeral;
    const auto nonce = curve::hello_nonce(cmd.short_nonce);
    size_t trials = 0;
    // c' is found exactly by its public key C'; then each candidate S either opens HELLO or not.
    if (const KeyEntry* e = keys->find_secret(cp)) {
        curve.client_ephemeral_secret = e->secret_key;
        for (const Key& S : keys->server_public_candidates()) {
            if (trials++ >= options.max_trials) break;
            auto k = curve::precompute(S, e->secret_key);
            if (open_into(k, nonce, cmd.box)) {
                curve.hello_key = k;
                curve.server_public = S;
                break;
            }
        }
    }
    // Each secret may be the server's s. Trying them also tells a client that was given the
    // wrong server key: its HELLO opens with none of the server secrets we hold.
    size_t server_secrets_tried = 0;
    if (!(curve.server_public && keys->find_secret(*curve.server_public))) {
        for (const KeyEntry* e : keys->secret_candidates()) {
            const bool labelled =
                e->label == KeyLabel::ServerSecret || e->label == KeyLabel::CertificateSecret;
            if (curve.hello_key && !labelled) break;  // server secrets come first: no more
            if (trials++ >= options.max_trials) break;
            auto k = curve::precompute(cp, e->secret_key);
            if (open_into(k, nonce, cmd.box)) {
                curve.hello_key = k;
                curve.server_secret = e->secret_key;
                curve.server_public = e->public_key;
                server_secrets_tried = 0;
                break;
            }
            server_secrets_tried += labelled;
        }
    }
    if (trials > options.max_trials) {
        notice(u, NoticeCode::TrialLimit, Severity::Note,
               "gave up after " + std::to_string(options.max_trials) + " candidate keys");
    }
    if (server_secrets_tried > 0) {
        std::string text = "HELLO does not open with any of the " +
                           std::to_string(server_secrets_tried) +
                           " configured server secret key(s): the client uses another server "
                           "key, or this server's secret is not configured";
        if (curve.server_public) {
            text += " (the client's HELLO is for S = " + public_key_id(*curve.server_public) + ")";
        }
        notice(u, NoticeCode::WrongServerKey, Severity::Warning, text);
    }
    if (curve.hello_key) {
        ev.curve.box_opened = true;
        info.curve = CurveKeyState::HelloOnly;
        return;
    }
    info.curve = CurveKeyState::NoKey;
    info.curve_missing =
        curve.client_ephemeral_secret
            ? "needs the server's public key S (the client's ephemeral c' for C' = " +
                  public_key_id(cp) + " is known)"
            : "needs the client's ephemeral secret c' for C' = " + public_key_id(cp) +
                  " (with S), the server's ephemeral secret s', or the server's secret s";
    notice(u, NoticeCode::KeyMissing, Severity::Note, "HELLO not opened: " + info.curve_missing);
}

void Session::Impl::curve_welcome(const Unit& u, CommandEvent& ev) {
    const Command& cmd = ev.command;
    if (!curve.hello_key) {
        if (!curve.hello_seen) return;
        notice(
            u, NoticeCode::KeyMissing, Severity::Note,
            "WELCOME not opened: " + (info.curve_missing.empty() ? std::string("HELLO did not open")
                                                                 : info.curve_missing));
        return;
    }
    if (!open_into(*curve.hello_key, curve::welcome_nonce(cmd.long_nonce), cmd.box)) {
        notice(u, NoticeCode::BoxNotOpened, Severity::Warning,
               "WELCOME does not open with the key that opened HELLO");
        return;
    }
    const auto welcome = parse_welcome_plaintext(plaintext);
    if (!welcome) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning, "WELCOME box too short");
        return;
    }
    curve.server_ephemeral = key_from(welcome->server_ephemeral);
    session_key_from_welcome();
    ev.curve.box_opened = true;
    ev.plaintext = Bytes(plaintext.data(), plaintext.size());
    ev.curve.server_ephemeral = curve.server_ephemeral;
}

// S' came out of WELCOME: with c' (matched by C' in HELLO) or a logged s' (matched by S'), the
// session key is known without INITIATE, so READY and MESSAGE open even when the capture lost
// INITIATE (docs/protocol.md 5).
void Session::Impl::session_key_from_welcome() {
    if (curve.session_key || !curve.server_ephemeral || !curve.client_ephemeral) return;
    if (curve.client_ephemeral_secret) {
        curve.session_key =
            curve::precompute(*curve.server_ephemeral, *curve.client_ephemeral_secret);
    } else if (const KeyEntry* e = keys ? keys->find_secret(*curve.server_ephemeral) : nullptr) {
        curve.session_key = curve::precompute(*curve.client_ephemeral, e->secret_key);
        curve.server_ephemeral_secret = e->secret_key;
    } else {
        return;
    }
    info.curve = CurveKeyState::SessionKey;
    info.curve_missing.clear();
}

bool Session::Impl::find_session_key(const Unit& u, const Command& initiate) {
    curve.session_key_searched = true;
    if (!keys || !curve.client_ephemeral) return false;
    const auto nonce = curve::initiate_nonce(initiate.short_nonce);
    // INITIATE is boxed from C' to S': it opens with c' and S', or with C' and s'.
    const auto opens = [&](const Key& public_key, const Key& secret_key) {
        auto k = curve::precompute(public_key, secret_key);
        if (!open_into(k, nonce, initiate.box)) return false;
        curve.session_key = k;
        return true;
    };
    const auto opens_with_server_ephemeral = [&](const KeyEntry& s_prime) {
        if (!opens(*curve.client_ephemeral, s_prime.secret_key)) return false;
        curve.server_ephemeral_secret = s_prime.secret_key;
        curve.server_ephemeral = s_prime.public_key;
        return true;
    };
    if (curve.client_ephemeral_secret && curve.server_ephemeral &&
        opens(*curve.server_ephemeral, *curve.client_ephemeral_secret)) {
        return true;
    }
    // A logged SESSION_KEY opens INITIATE directly (docs/keylog.md).
    curve.session_keys_tried = true;
    for (const KeyEntry* e : keys->session_keys()) {
        curve::SharedKey k;
        std::memcpy(k.bytes.data(), e->secret_key.data(), k.bytes.size());
        if (open_into(k, nonce, initiate.box)) {
            curve.session_key = k;
            return true;
        }
    }
    // S' came out of WELCOME (opened with s): its secret s', if logged, is found directly.
    if (curve.server_ephemeral) {
        const KeyEntry* e = keys->find_secret(*curve.server_ephemeral);
        if (e && opens_with_server_ephemeral(*e)) return true;
    }
    // s' is only inside WELCOME: try each secret as s' against C' (the MAC rules out the rest).
    size_t trials = 0;
    for (const KeyEntry* e : keys->secret_candidates()) {
        if (curve.client_ephemeral_secret && e->secret_key == *curve.client_ephemeral_secret) {
            continue;
        }
        if (trials++ >= options.max_trials) {
            notice(u, NoticeCode::TrialLimit, Severity::Note,
                   "gave up after " + std::to_string(options.max_trials) + " candidate keys");
            break;
        }
        if (opens_with_server_ephemeral(*e)) return true;
    }
    return false;
}

std::string Session::Impl::missing_session_key_text() const {
    std::string cp = curve.client_ephemeral ? public_key_id(*curve.client_ephemeral) : "?";
    if (curve.client_ephemeral_secret && !curve.server_ephemeral) {
        return "needs the server's ephemeral secret s', or the server's public key S to open "
               "WELCOME (the client's ephemeral c' for C' = " +
               cp + " is known)";
    }
    if (curve.hello_key && !curve.client_ephemeral_secret) {
        return "needs the server's ephemeral secret s' or the client's ephemeral secret c' for "
               "C' = " +
               cp + " (long-term keys alone do not open INITIATE, READY or MESSAGE)";
    }
    return "needs the server's ephemeral secret s', or the client's ephemeral secret c' for "
           "C' = " +
           cp + " with the server's public key S";
}

void Session::Impl::curve_initiate(const Unit& u, CommandEvent& ev) {
    Command& cmd = ev.command;
    dirs[index_of(u.dir)].last_nonce = cmd.short_nonce;
    if (!find_session_key(u, cmd)) {
        if (info.curve != CurveKeyState::HelloOnly) info.curve = CurveKeyState::NoKey;
        info.curve_missing = missing_session_key_text();
        notice(u, NoticeCode::KeyMissing, Severity::Note,
               "INITIATE not opened: " + info.curve_missing);
        return;
    }
    info.curve = CurveKeyState::SessionKey;
    info.curve_missing.clear();
    ev.curve.box_opened = true;
    ev.curve.server_ephemeral = curve.server_ephemeral;
    // Opening the vouch reuses `plaintext`: the INITIATE plaintext is kept apart meanwhile.
    const std::vector<uint8_t> inner(plaintext.begin(), plaintext.end());
    const auto initiate = parse_initiate_plaintext(inner);
    if (!initiate) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning, "INITIATE box too short");
        return;
    }
    const Key client_public = key_from(initiate->client_public);
    ev.curve.client_public = client_public;
    std::optional<curve::SharedKey> vouch_key;
    if (curve.server_ephemeral_secret) {
        vouch_key = curve::precompute(client_public, *curve.server_ephemeral_secret);
    } else if (const KeyEntry* c = keys->find_secret(client_public); c && curve.server_ephemeral) {
        vouch_key = curve::precompute(*curve.server_ephemeral, c->secret_key);
    }
    if (vouch_key) {
        // The vouch's plaintext: C' (which must be HELLO's) and S (docs/protocol.md 4.3).
        bool ok =
            open_into(*vouch_key, curve::vouch_nonce(initiate->vouch_nonce), initiate->vouch_box);
        ok = ok && std::memcmp(plaintext.data(), curve.client_ephemeral->data(), 32) == 0;
        ev.curve.vouch_valid = ok;
        if (ok && !curve.server_public)
            curve.server_public = key_from(Bytes(plaintext.data() + curve_key_size, 32));
    }
    // Metadata views must outlive this function until the event is emitted: keep the bytes.
    plaintext.assign(inner.begin(), inner.end());
    const size_t metadata_at = inner.size() - initiate->metadata.size();
    if (!parse_metadata(Bytes(plaintext).subspan(metadata_at), cmd.metadata)) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning, "INITIATE metadata malformed");
    }
    learn_socket_type(u.dir, cmd.metadata);
    ev.plaintext = Bytes(plaintext.data(), plaintext.size());
}

void Session::Impl::curve_ready(const Unit& u, CommandEvent& ev) {
    Command& cmd = ev.command;
    dirs[index_of(u.dir)].last_nonce = cmd.short_nonce;
    if (!curve.session_key) {
        if (curve.session_key_searched) {
            notice(u, NoticeCode::KeyMissing, Severity::Note,
                   "READY not opened: " + info.curve_missing);
        }
        return;
    }
    if (!open_into(*curve.session_key, curve::ready_nonce(cmd.short_nonce), cmd.box)) {
        notice(u, NoticeCode::BoxNotOpened, Severity::Warning,
               "READY does not open with the session key that opened INITIATE");
        return;
    }
    ev.curve.box_opened = true;
    ev.plaintext = Bytes(plaintext.data(), plaintext.size());
    if (!parse_metadata(Bytes(plaintext.data(), plaintext.size()), cmd.metadata)) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning, "READY metadata malformed");
    }
    learn_socket_type(u.dir, cmd.metadata);
}

void Session::Impl::check_nonce(const Unit& u, uint64_t nonce) {
    auto& last = dirs[index_of(u.dir)].last_nonce;
    if (last && nonce <= *last) {
        notice(u, NoticeCode::NonceNotIncreasing, Severity::Warning,
               "MESSAGE nonce " + std::to_string(nonce) + " does not increase (previous " +
                   std::to_string(*last) + "): replayed or reordered; libzmq drops the connection");
    }
    if (!last || nonce > *last) last = nonce;
}

// The common MESSAGE once the session key is known: a well-formed box in a message frame, its
// nonce increasing, that opens. Nothing is changed unless all of that holds; anything else goes
// the full way (curve_message), which reports it. Same events as the full way.
bool Session::Impl::curve_message_fast(const Unit& u, Bytes body, bool command_flag) {
    constexpr size_t nonce_at = 8, box_at = 16, min_size = box_at + curve::mac_size + 1;
    if (command_flag || !curve.session_key || body.size() < min_size) return false;
    const uint64_t short_nonce = read_be64(body.data() + nonce_at);
    std::optional<uint64_t>& last_nonce = dirs[index_of(u.dir)].last_nonce;
    if (last_nonce && short_nonce <= *last_nonce) return false;
    curve::Nonce& nonce = message_nonces[u.dir == curve_client()];
    std::memcpy(nonce.data() + 16, body.data() + nonce_at, 8);
    const Bytes box = body.subspan(box_at);
    uint8_t* out = message_plaintext_buffer(box.size());
    if (!curve::open(*curve.session_key, nonce, box, out)) return false;
    last_nonce = short_nonce;
    const Bytes opened(out, box.size() - curve::mac_size);

    CommandEvent& ev = std::get<CommandEvent>(reused(opened_message, u).what);
    ev.command.data = body.subspan(nonce_at);
    ev.command.short_nonce = short_nonce;
    ev.command.box = box;
    ev.plaintext = opened;
    (*sink)(opened_message);
    deliver_plaintext(u, opened);
    return true;
}

// The frame or command inside an opened MESSAGE (`opened`: inner flags, payload).
void Session::Impl::deliver_plaintext(const Unit& u, Bytes opened) {
    const uint8_t inner = opened[0];
    Bytes payload = opened.subspan(1);
    if (inner & curve_flag::command) {
        on_command(u, payload, true);  // on_command does not touch `plaintext` when decrypted
        return;
    }
    FrameHeader h;
    h.flags = inner;
    h.more = inner & curve_flag::more;
    h.body_size = payload.size();
    h.reserved_bits = inner & ~(curve_flag::more | curve_flag::command);
    on_data_frame(u, h, payload, false, true, inner);
}

void Session::Impl::curve_message(const Unit& u, Bytes body, bool command_flag) {
    if (options.limits.fast_paths && curve_message_fast(u, body, command_flag)) return;
    CommandEvent ev;
    ev.command = parse_command(body, Mechanism::Curve);
    if (ev.command.problem || ev.command.kind != CommandKind::Message) {
        notice(
            u, NoticeCode::MalformedCommand, Severity::Warning,
            std::string("MESSAGE: ") + (ev.command.problem ? ev.command.problem : "not a MESSAGE"));
        emit(u, std::move(ev));
        return;
    }
    check_nonce(u, ev.command.short_nonce);
    if (!curve.session_key && !curve.session_keys_tried) try_session_keys(u, ev.command);
    const bool from_client = u.dir == curve_client();
    const Bytes box = ev.command.box;
    Bytes plain;
    bool opened = false;
    if (curve.session_key) {
        uint8_t* out = message_plaintext_buffer(box.size());
        opened = curve::open(*curve.session_key,
                             curve::message_nonce(from_client, ev.command.short_nonce), box, out);
        plain = Bytes(out, box.size() - std::min(box.size(), curve::mac_size));
    }
    ev.curve.box_opened = opened && !plain.empty();
    if (ev.curve.box_opened) ev.plaintext = plain;
    emit(u, std::move(ev));
    if (!opened && !curve.session_key && info.handshake == HandshakeState::NotCaptured) {
        notice(u, NoticeCode::SessionKeyMissing, Severity::Note,
               "MESSAGE not decrypted: " + info.curve_missing);
        return;
    }
    if (!opened) {
        notice(u, curve.session_key ? NoticeCode::BoxNotOpened : NoticeCode::KeyMissing,
               curve.session_key ? Severity::Warning : Severity::Note,
               curve.session_key ? "MESSAGE does not open with the session key"
                                 : "MESSAGE not decrypted: " + (info.curve_missing.empty()
                                                                    ? missing_session_key_text()
                                                                    : info.curve_missing));
        return;
    }
    if (plain.empty()) {
        notice(u, NoticeCode::MalformedCommand, Severity::Warning,
               "MESSAGE plaintext has no flags");
        return;
    }
    if (command_flag) {
        notice(u, NoticeCode::ReservedFlags, Severity::Note,
               "MESSAGE sent in a command frame (libzmq uses a message frame)");
    }
    deliver_plaintext(u, plain);
}

// ---- Session --------------------------------------------------------------------------------

Session::Session(const KeyStore* keys, SessionOptions options)
    : impl_(std::make_unique<Impl>(keys, options)) {
    static const bool sodium_ready = sodium_init() >= 0;
    (void)sodium_ready;
}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::feed(Direction dir, Bytes data, const SessionSink& sink) {
    Impl& im = *impl_;
    im.sink = &sink;
    auto& decoder = im.decoders[index_of(dir)];
    // The peer's signature only decides this direction's greeting.
    if (!decoder.greeting_done() && !decoder.failed())
        decoder.set_peer_signature(im.decoders[index_of(opposite(dir))].signature());
    decoder.feed_with(data, [&](const StreamEvent& e) { im.on_stream_event(dir, e); });
    im.sink = nullptr;
}

void Session::mark_segment_end(Direction dir, const SessionSink& sink) {
    Impl& im = *impl_;
    im.sink = &sink;
    im.decoders[index_of(dir)].mark_segment_end(
        [&](const StreamEvent& e) { im.on_stream_event(dir, e); });
    im.sink = nullptr;
}

void Session::feed_segment(Direction dir, Bytes data, const SessionSink& sink) {
    feed(dir, data, sink);
    mark_segment_end(dir, sink);
}

void Session::start_mid_stream(Direction dir, const SessionSink& sink) {
    Impl& im = *impl_;
    im.sink = &sink;
    im.update_resync_hints();
    im.decoders[index_of(dir)].start_mid_stream(
        [&](const StreamEvent& e) { im.on_stream_event(dir, e); });
    im.sink = nullptr;
}

void Session::finish(Direction dir, const SessionSink& sink) {
    Impl& im = *impl_;
    auto& ds = im.dirs[index_of(dir)];
    if (ds.finished) return;
    ds.finished = true;
    im.sink = &sink;
    StreamDecoder& decoder = im.decoders[index_of(dir)];
    decoder.finish([&](const StreamEvent& e) { im.on_stream_event(dir, e); });
    if (ds.pending_resync) im.report_resync(dir, {}, false);
    if (ds.frame_index > 0) {
        im.cut_message(Unit{dir, decoder.offset(), 0},
                       ds.message_start_lost ? MessageLoss::StartLost : MessageLoss::EndLost);
    }
    for (size_t d = 0; d < 2; ++d) im.info.requests_pending[d] = im.dirs[d].requests.size();
    im.sink = nullptr;
}

bool Session::resyncing(Direction dir) const {
    return impl_->decoders[index_of(dir)].resyncing();
}

std::optional<ResyncMatch> Session::find_resync(Direction dir, Bytes region,
                                                bool starts_segment) const {
    return impl_->decoders[index_of(dir)].find_resync(region, starts_segment);
}

void Session::skip(Direction dir, uint64_t count) {
    impl_->decoders[index_of(dir)].skip(count);
}

void Session::resync_here(Direction dir, ResyncEvidence evidence, const SessionSink& sink) {
    Impl& im = *impl_;
    im.sink = &sink;
    im.decoders[index_of(dir)].resync_here(
        evidence, [&](const StreamEvent& e) { im.on_stream_event(dir, e); });
    im.sink = nullptr;
}

std::optional<Key> Session::session_key() const {
    if (!impl_->curve.session_key) return std::nullopt;
    Key k;
    std::memcpy(k.data(), impl_->curve.session_key->bytes.data(), k.size());
    return k;
}

void Session::mark_gap(Direction dir, const SessionSink& sink, std::optional<uint64_t> lost) {
    Impl& im = *impl_;
    im.sink = &sink;
    if (const auto& other = im.info.greetings[index_of(opposite(dir))];
        other && !im.info.greetings[index_of(dir)]) {
        im.adopt_lone_greeting(*other);
    }
    im.update_resync_hints();
    im.decoders[index_of(dir)].mark_gap([&](const StreamEvent& e) { im.on_stream_event(dir, e); },
                                        lost);
    im.sink = nullptr;
}

const SessionInfo& Session::info() const {
    return impl_->info;
}

uint64_t Session::next_unit_size(Direction dir, Bytes data) const {
    auto& decoder = impl_->decoders[index_of(dir)];
    StreamDecoder probe = decoder;
    probe.set_peer_signature(impl_->decoders[index_of(opposite(dir))].signature());
    return probe.next_unit_size(data);
}

const StreamDecoder& Session::decoder(Direction dir) const {
    return impl_->decoders[index_of(dir)];
}

void Session::set_plaintext_allocator(PlaintextAllocator allocate) {
    impl_->allocate_plaintext = std::move(allocate);
}

void Session::release_memory() {
    for (StreamDecoder& decoder : impl_->decoders) decoder.release_memory();
    impl_->plaintext.clear();
    impl_->plaintext.shrink_to_fit();
}

}  // namespace zmtp
