// A ZMTP connection: both directions joined. Version and mechanism negotiation, the
// NULL/PLAIN/CURVE handshake, CURVE keys and nonces, decryption, multipart messages and
// request/response pairing. Sans-I/O: the caller feeds bytes, the session calls the sink.
//
// Captures that lack bytes (docs/protocol.md 9): mark_gap() and start_mid_stream() make a
// direction search for the next frame boundary (see StreamDecoder). What follows is decoded and,
// with a key, decrypted; what the lost bytes held is never guessed: the message they cut is
// reported as lost (MessageEvent::loss), pending requests are dropped rather than paired wrongly
// or called unanswered, and without a handshake the mechanism and socket types are inferred
// from what the frames show, and marked so.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "enum_names.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/stream_decoder.hpp"
#include "zmtp/wire.hpp"

namespace zmtp {

// The two directions of a TCP connection. "Client" is the side that opened the TCP
// connection (or, when the capture missed the SYN, the first side seen). The ZMTP
// mechanism's client (the HELLO sender) is reported separately: mechanism_client().
enum class Direction : uint8_t { ClientToServer = 0, ServerToClient = 1 };
inline Direction opposite(Direction d) {
    return d == Direction::ClientToServer ? Direction::ServerToClient : Direction::ClientToServer;
}
inline constexpr std::array<enum_names::Named<Direction>, 2> direction_names = {{
    {Direction::ClientToServer, "client->server"},
    {Direction::ServerToClient, "server->client"},
}};
static_assert(enum_names::covers(direction_names, Direction::ServerToClient));
constexpr std::string_view direction_name(Direction d) {
    return enum_names::name_of(direction_names, d, "unknown");
}
// 0 or 1: for arrays indexed by direction.
inline size_t index_of(Direction d) {
    return static_cast<size_t>(d);
}

enum class NoticeCode : uint8_t {
    KeyMissing,          // no key opens this box; the text says which key would
    WrongServerKey,      // HELLO does not open with a known server secret s
    BoxNotOpened,        // keys that should open it do not (corrupt or forged box)
    NonceNotIncreasing,  // a CURVE short nonce <= the previous one of that direction
    TrialLimit,          // gave up trying candidate secrets (SessionOptions::max_trials)
    MalformedCommand,    // a command body that does not fit its layout
    ReservedFlags,       // reserved frame flag bits set
    CommandWithMore,     // a command frame with MORE set
    MechanismMismatch,   // the greetings name different mechanisms
    ErrorCommand,        // the peer sent ERROR (handshake refused)
    UnexpectedCommand,   // a command out of place in the handshake
    StreamError,         // the decoder stopped (bad length), or the stream ended inside a unit
    SessionKeyMissing,   // no handshake in the capture: only a SESSION_KEY would open the boxes
};
inline constexpr std::array<enum_names::Named<NoticeCode>, 13> notice_code_names = {{
    {NoticeCode::KeyMissing, "key missing"},
    {NoticeCode::WrongServerKey, "wrong server key"},
    {NoticeCode::BoxNotOpened, "box not opened"},
    {NoticeCode::NonceNotIncreasing, "nonce not increasing"},
    {NoticeCode::TrialLimit, "trial limit"},
    {NoticeCode::MalformedCommand, "malformed command"},
    {NoticeCode::ReservedFlags, "reserved flags"},
    {NoticeCode::CommandWithMore, "command with MORE"},
    {NoticeCode::MechanismMismatch, "mechanism mismatch"},
    {NoticeCode::ErrorCommand, "ERROR command"},
    {NoticeCode::UnexpectedCommand, "unexpected command"},
    {NoticeCode::StreamError, "stream error"},
    {NoticeCode::SessionKeyMissing, "session key missing"},
}};
static_assert(enum_names::covers(notice_code_names, NoticeCode::SessionKeyMissing));
constexpr std::string_view notice_code_name(NoticeCode c) {
    return enum_names::name_of(notice_code_names, c, "unknown");
}
enum class Severity : uint8_t { Note, Warning, Error };

struct GreetingEvent {
    Greeting greeting;
};

// What opening a CURVE handshake box revealed (docs/protocol.md 4.1-4.4).
struct CurveOpened {
    bool box_opened = false;
    std::optional<Key> server_ephemeral;  // S', from WELCOME
    std::optional<Key> client_public;     // C, from INITIATE
    std::optional<bool> vouch_valid;      // INITIATE's vouch opened and names C' and S
};

struct CommandEvent {
    Command command;         // views valid only during the callback
    bool decrypted = false;  // this command came out of a CURVE MESSAGE box
    CurveOpened curve;       // CURVE HELLO/WELCOME/INITIATE/READY/MESSAGE
    // An opened box's whole plaintext (MESSAGE: inner flags + payload; INITIATE: C, vouch,
    // metadata; READY: metadata); valid only during the callback.
    Bytes plaintext;
    // PONG: the stream offset (other direction) of the PING it answers, and its size.
    std::optional<uint64_t> answers_offset;
};

struct FrameEvent {
    FrameHeader header;  // for a decrypted frame: built from the inner flags
    Bytes body;          // valid only during the callback
    bool body_skipped = false;
    bool decrypted = false;
    uint8_t inner_flags = 0;                   // decrypted frames: the plaintext's first byte
    uint64_t message_seq = 0;                  // per direction, from 0
    uint32_t index_in_message = 0;             // 0-based
    bool last = false;                         // completes its message (MORE clear)
    std::optional<Subscription> subscription;  // ZMTP 2.0/3.0 SUB/XSUB message frame
    bool start_lost = false;  // of a message whose first frames the capture may have lost
};

// Whether the capture holds all of a message.
enum class MessageLoss : uint8_t {
    None,
    StartLost,  // its first frames (or whether it had any) were in lost bytes
    EndLost,    // the capture lost bytes (or ended) before its last frame
};
inline constexpr std::array<enum_names::Named<MessageLoss>, 3> message_loss_names = {{
    {MessageLoss::None, "none"},
    {MessageLoss::StartLost, "start-lost"},
    {MessageLoss::EndLost, "end-lost"},
}};
static_assert(enum_names::covers(message_loss_names, MessageLoss::EndLost));
constexpr std::string_view message_loss_name(MessageLoss loss) {
    return enum_names::name_of(message_loss_names, loss, "unknown");
}

// After the last frame of a multipart message, or where a gap or the end cut one off. Only
// messages with loss == None are counted, paired or numbered (message_seq).
struct MessageEvent {
    uint64_t message_seq = 0;
    uint32_t frames = 0;
    uint64_t body_bytes = 0;
    bool decrypted = false;
    uint64_t first_offset = 0;  // stream offset of the wire unit of its first frame
    // For a reply: the stream offset (other direction) of the last wire unit of the
    // request it answers, and that request's message_seq.
    std::optional<uint64_t> answers_offset;
    std::optional<uint64_t> answers_seq;
    MessageLoss loss = MessageLoss::None;
    bool awaits_reply = false;  // a request: a later message of the other direction may answer it
    // loss != None: the other side's pending requests, which this message may have answered,
    // dropped (never reported as unanswered, never paired with a later reply).
    uint64_t requests_dropped = 0;
};

// Bytes of this direction are missing (event offset: where; size: how many, when lost_known).
struct GapEvent {
    bool lost_known = false;
    bool before_start = false;  // the capture started inside this direction's stream
    // Requests of either direction that were still waiting for their replies: answered or not,
    // nobody can tell now; they are dropped, never reported as unanswered.
    uint64_t requests_dropped = 0;
};

// Decoding of this direction resumed at a frame boundary (event offset).
struct ResyncEvent {
    ResyncEvidence evidence;
    uint64_t skipped_bytes = 0;           // after the gap, before the boundary, not decoded
    std::optional<uint64_t> frames_lost;  // CURVE: exactly, from the nonce jump
};

struct NoticeEvent {
    NoticeCode code;
    Severity severity;
    std::string text;  // for people; never contains a secret key
};

struct HandshakeEvent {
    Mechanism mechanism;
    bool succeeded;
    std::string reason;  // why it failed ("ERROR 400", "mechanism mismatch", ...)
};

struct SessionEvent {
    Direction dir;
    uint64_t offset;  // stream offset (in dir) of the wire unit this event comes from
    uint64_t size;    // that unit's size on the wire
    std::variant<GreetingEvent, CommandEvent, FrameEvent, MessageEvent, NoticeEvent, HandshakeEvent,
                 GapEvent, ResyncEvent>
        what;
};

using SessionSink = std::function<void(const SessionEvent&)>;

struct SessionOptions {
    // limits.skip_message_bodies: the caller reads no FrameEvent::body. Bodies of plaintext
    // message frames are then skipped (counted, never copied; body_skipped set) from the end of
    // the handshake on; CURVE boxes, commands and ZMTP 3.0 subscription frames are still read.
    Limits limits;
    size_t max_trials = 4096;  // X25519 trials per box when searching the key store
    size_t max_pending_requests = 4096;
};

// NotCaptured: the capture joined the connection after its handshake.
enum class HandshakeState : uint8_t { Greeting, Handshake, Ready, Failed, NotCaptured };

// How far CURVE decryption got on this connection.
enum class CurveKeyState : uint8_t {
    NotCurve,
    Unknown,     // no handshake box seen yet
    HelloOnly,   // HELLO/WELCOME open (s or c'+S), INITIATE onwards do not
    SessionKey,  // the session key is known: INITIATE, READY and MESSAGEs open
    NoKey,       // nothing opens
};

// What one direction's stream lacked, and what was recovered.
struct RecoveryInfo {
    bool started_mid_stream = false;  // no greeting: the capture joined late
    uint64_t gaps = 0;
    uint64_t lost_bytes = 0;  // in gaps whose size is known
    uint64_t gaps_of_unknown_size = 0;
    uint64_t resyncs = 0;
    uint64_t skipped_bytes = 0;       // after gaps, before the boundaries found
    uint64_t frames_lost = 0;         // CURVE: counted exactly from nonce jumps
    uint64_t messages_cut = 0;        // MessageLoss StartLost or EndLost
    uint64_t messages_after_gap = 0;  // whole messages decoded after the first gap
};

struct SessionInfo {
    Mechanism mechanism = Mechanism::Unknown;
    // Not from the greetings (the capture has none): CURVE from MESSAGE signatures, or
    // Mechanism::Unknown with plaintext frames ("NULL or PLAIN, handshake not captured").
    bool mechanism_inferred = false;
    bool plaintext_without_handshake = false;          // NULL or PLAIN, the handshake not captured
    bool socket_types_inferred = false;                // from message shapes, not READY metadata
    std::array<std::optional<Greeting>, 2> greetings;  // per Direction
    std::array<SocketType, 2> socket_types{SocketType::Unknown, SocketType::Unknown};
    std::optional<Direction> mechanism_client;  // the HELLO sender (CURVE/PLAIN)
    Framing framing = Framing::Unknown;         // effective framing
    bool subscriptions_as_commands = false;     // ZMTP 3.1 on both sides
    HandshakeState handshake = HandshakeState::Greeting;
    CurveKeyState curve = CurveKeyState::NotCurve;
    std::string curve_missing;  // which key would open the boxes, when curve != SessionKey
    std::array<uint64_t, 2> messages{0, 0};
    std::array<uint64_t, 2> decrypted_frames{0, 0};
    std::array<RecoveryInfo, 2> recovery;
    // Request/reply pairing stopped at a gap (asynchronous sockets: which requests the lost
    // bytes held, and so which reply answers which, cannot be known).
    bool pairing_stopped = false;
    // Requests still waiting for a reply, per direction (after finish(): never answered).
    std::array<uint64_t, 2> requests_pending{0, 0};
};

class Session {
  public:
    // `keys` may be null (no decryption) and must outlive the session.
    explicit Session(const KeyStore* keys = nullptr, SessionOptions options = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    void feed(Direction dir, Bytes data, const SessionSink& sink);
    // The bytes of `dir` fed so far end a TCP segment (evidence for the boundary search).
    void mark_segment_end(Direction dir, const SessionSink& sink);
    // feed() then mark_segment_end(): one TCP segment's payload.
    void feed_segment(Direction dir, Bytes data, const SessionSink& sink);
    // Bytes of `dir` were lost (`lost`: how many, when known, so that offsets stay those of the
    // TCP stream): `dir` searches for the next frame boundary.
    void mark_gap(Direction dir, const SessionSink& sink, std::optional<uint64_t> lost = {});
    // The capture joined `dir` after its first byte: call before feeding it.
    void start_mid_stream(Direction dir, const SessionSink& sink);
    // `dir` ended (FIN, RST or the end of the capture): frames and messages it cut off.
    void finish(Direction dir, const SessionSink& sink);

    // For callers that feed units themselves: see StreamDecoder::find_resync. While
    // resyncing(dir), find the boundary in the rest of the segment, skip() what comes before it,
    // then resync_here().
    bool resyncing(Direction dir) const;
    std::optional<ResyncMatch> find_resync(Direction dir, Bytes region, bool starts_segment) const;
    void skip(Direction dir, uint64_t count);
    void resync_here(Direction dir, ResyncEvidence evidence, const SessionSink& sink);

    const SessionInfo& info() const;
    // The connection's precomputed CURVE key k (docs/keylog.md, SESSION_KEY), once known: for
    // writing key logs (zmtp-replay --export-session-keys) only. A secret: never print it.
    std::optional<Key> session_key() const;
    // For callers that reassemble units themselves: see StreamDecoder::next_unit_size
    // (0: more bytes needed; UINT64_MAX: invalid header or a failed direction).
    uint64_t next_unit_size(Direction dir, Bytes data) const;
    const StreamDecoder& decoder(Direction dir) const;
    // Where the plaintext of each opened MESSAGE box goes (CommandEvent::plaintext, and the frame
    // or command it carries, view it). By default a buffer of the session's that the next box
    // overwrites. A caller that keeps plaintexts after the callback gives every box a buffer of
    // its own: `allocate(size)` returns `size` (at least 1) writable bytes that stay valid until
    // the caller frees them; the session writes the box's plaintext there and never keeps,
    // reuses or frees them. When the box does not open they hold nothing (no event views them).
    // An empty function goes back to the default.
    using PlaintextAllocator = std::function<uint8_t*(size_t size)>;
    void set_plaintext_allocator(PlaintextAllocator allocate);
    // Gives back buffer memory kept from large units (StreamDecoder::release_memory and the
    // plaintext buffer), e.g. when the connection goes idle. Events are unaffected.
    void release_memory();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace zmtp
