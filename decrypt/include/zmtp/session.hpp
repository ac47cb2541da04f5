// A ZMTP connection: both directions joined. Version and mechanism negotiation, the
// NULL/PLAIN/CURVE handshake, CURVE keys and nonces, decryption, multipart messages and
// request/response pairing. Sans-I/O: the caller feeds bytes, the session calls the sink.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

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
std::string_view direction_name(Direction d);

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
    StreamError,         // the decoder stopped (bad length, gap)
};
std::string_view notice_code_name(NoticeCode c);
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
};

// After the last frame of a multipart message.
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
    std::variant<GreetingEvent, CommandEvent, FrameEvent, MessageEvent, NoticeEvent, HandshakeEvent>
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

enum class HandshakeState : uint8_t { Greeting, Handshake, Ready, Failed };

// How far CURVE decryption got on this connection.
enum class CurveKeyState : uint8_t {
    NotCurve,
    Unknown,     // no handshake box seen yet
    HelloOnly,   // HELLO/WELCOME open (s or c'+S), INITIATE onwards do not
    SessionKey,  // the session key is known: INITIATE, READY and MESSAGEs open
    NoKey,       // nothing opens
};

struct SessionInfo {
    Mechanism mechanism = Mechanism::Unknown;
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
};

class Session {
  public:
    // `keys` may be null (no decryption) and must outlive the session.
    explicit Session(const KeyStore* keys = nullptr, SessionOptions options = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    void feed(Direction dir, Bytes data, const SessionSink& sink);
    // Bytes of `dir` were lost: that direction stops decoding (reported once).
    void mark_gap(Direction dir, const SessionSink& sink);

    const SessionInfo& info() const;
    // For callers that reassemble units themselves: see StreamDecoder::next_unit_size
    // (0: more bytes needed; UINT64_MAX: invalid header or a failed direction).
    uint64_t next_unit_size(Direction dir, Bytes data) const;
    const StreamDecoder& decoder(Direction dir) const;
    // Gives back buffer memory kept from large units (StreamDecoder::release_memory and the
    // plaintext buffer), e.g. when the connection goes idle. Events are unaffected.
    void release_memory();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace zmtp
