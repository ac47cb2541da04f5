// Stateless parsing of ZMTP wire units: greetings, frame headers, command bodies, metadata.
// Layouts: docs/protocol.md sections 1-4. Every function works on the bytes it is given and
// never reads past them; results are views into those bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "enum_names.hpp"
#include "zmtp/bytes.hpp"

namespace zmtp {

// The framing a direction uses after its greeting.
enum class Framing : uint8_t {
    Unknown,
    V1,  // ZMTP 1.0: length(1 | 0xFF+u64, includes flags) flags body
    V2,  // ZMTP 2.0 and 3.0-downgraded: flags(MORE, LONG) size(1|8) body
    V3,  // ZMTP 3.x: flags(MORE, LONG, COMMAND) size(1|8) body
};

namespace frame_flag {
inline constexpr uint8_t more = 0x01;
inline constexpr uint8_t long_size = 0x02;
inline constexpr uint8_t command = 0x04;
inline constexpr uint8_t reserved_v3 = 0xF8;
}  // namespace frame_flag

// Inner flags of a decrypted CURVE MESSAGE (libzmq: MORE 0x01, COMMAND 0x02).
namespace curve_flag {
inline constexpr uint8_t more = 0x01;
inline constexpr uint8_t command = 0x02;
}  // namespace curve_flag

struct FrameHeader {
    uint8_t flags = 0;
    uint8_t header_size = 0;  // bytes before the body: 2 or 9 (V1: 2 or 10)
    uint64_t body_size = 0;   // bytes after the header
    bool more = false;
    bool command = false;
    bool reserved_bits = false;  // reserved flag bits set (reported, not fatal)
};

enum class ParseStatus : uint8_t { Ok, NeedMore, Invalid };

// A declared size above this is a fatal error (docs/protocol.md 2.1: sizes are at most 2^63-1).
inline constexpr uint64_t max_declared_size = 0x7FFFFFFFFFFFFFFFull;

// Parses the frame header at the start of `data`. NeedMore when `data` is too short to tell;
// Invalid for a V1 length of 0, a declared size above 2^63-1 or Framing::Unknown. On Invalid,
// `out` still holds what the header declares (header_size, flags, body_size) for messages.
ParseStatus parse_frame_header(Framing framing, Bytes data, FrameHeader& out);

// The V2/V3 header alone: flags(1) size(1 | 8 BE when LONG); V2 has no COMMAND bit. Inline:
// it is the per-frame work of every decoder.
inline ParseStatus parse_flags_size_header(bool with_command, Bytes data, FrameHeader& out) {
    if (data.empty()) return ParseStatus::NeedMore;
    const uint8_t flags = data[0];
    const bool long_size = (flags & frame_flag::long_size) != 0;
    const uint8_t known = frame_flag::more | frame_flag::long_size |
                          (with_command ? frame_flag::command : uint8_t{0});
    out.flags = flags;
    out.header_size = long_size ? 9 : 2;
    out.more = (flags & frame_flag::more) != 0;
    out.command = with_command && (flags & frame_flag::command) != 0;
    out.reserved_bits = (flags & ~known) != 0;
    if (data.size() < out.header_size) {
        out.body_size = 0;
        return ParseStatus::NeedMore;
    }
    out.body_size = long_size ? read_be64(data.data() + 1) : data[1];
    return out.body_size > max_declared_size ? ParseStatus::Invalid : ParseStatus::Ok;
}

// The TCP ports ctrlX Data Layer speaks ZMTP on: where the tools follow ZMTP unless given other
// ports.
inline constexpr std::array<uint16_t, 2> ctrlx_data_layer_ports{2069, 2070};

enum class Mechanism : uint8_t { Unknown, Null, Plain, Curve, Gssapi, Other };
// NULL to GSSAPI as greetings spell them; "other" for any name not among them.
inline constexpr std::array<enum_names::Named<Mechanism>, 6> mechanism_names = {{
    {Mechanism::Unknown, "unknown"},
    {Mechanism::Null, "NULL"},
    {Mechanism::Plain, "PLAIN"},
    {Mechanism::Curve, "CURVE"},
    {Mechanism::Gssapi, "GSSAPI"},
    {Mechanism::Other, "other"},
}};
static_assert(enum_names::covers(mechanism_names, Mechanism::Other));
constexpr std::string_view mechanism_name(Mechanism m) {
    return enum_names::name_of(mechanism_names, m, "unknown");
}
Mechanism mechanism_from_name(std::string_view name);

// ZMTP socket types; the numbers are ZMTP 2.0's (and libzmq's ZMQ_* values).
// clang-format off
enum class SocketType : int8_t {
    Unknown = -1, Pair = 0, Pub, Sub, Req, Rep, Dealer, Router, Pull, Push, Xpub, Xsub, Stream,
    Server, Client, Radio, Dish, Gather, Scatter, Dgram, Peer, Channel,
};
// clang-format on
// The names of SocketType's enumerators from Pair on, indexed by their numbers: the one list
// for the library, the plugin's greeting field and zmtp-capgen.
inline constexpr std::array<std::string_view, 21> socket_type_names = {
    "PAIR",  "PUB",  "SUB",    "REQ",     "REP",    "DEALER", "ROUTER",
    "PULL",  "PUSH", "XPUB",   "XSUB",    "STREAM", "SERVER", "CLIENT",
    "RADIO", "DISH", "GATHER", "SCATTER", "DGRAM",  "PEER",   "CHANNEL",
};
static_assert(socket_type_names.size() == static_cast<size_t>(SocketType::Channel) + 1);
std::string_view socket_type_name(SocketType t);
SocketType socket_type_from_name(std::string_view name);  // case-insensitive
SocketType socket_type_from_number(uint8_t number);       // greeting byte 11 (2.0)

// A ZMTP 1.0 or 2.0 greeting ends with the sender's identity frame (RFC 13, RFC 15;
// docs/protocol.md 1.3 and 1.4): the identity belongs to the greeting, it is no message.
struct Greeting {
    Framing framing = Framing::Unknown;  // what this greeting announces
    uint8_t major = 0;                   // 3 for ZMTP 3.x, 1 for 2.0, 0 for 1.0
    uint8_t minor = 0;
    std::string mechanism_text;  // NUL padding removed (3.x only)
    Mechanism mechanism = Mechanism::Unknown;
    bool as_server = false;
    SocketType socket_type = SocketType::Unknown;  // 2.0 greetings (and downgraded 3.x)
    uint64_t signature_padding = 0;                // bytes 1-8; libzmq writes routing-id size + 1
    // Bytes of the whole greeting on the wire: 64 (3.x); 12 and the identity frame (2.0,
    // revision 0, a downgraded 3.x side); the identity frame alone (1.0).
    uint32_t size = 0;
    bool versioned = false;  // starts with the signature FF pad 7F (docs/protocol.md 1.5)
    // A libzmq 3.x side that fell back to the peer's older version (docs/protocol.md 1.2): it
    // sent major 3 and its socket type in a 12-byte greeting, or, facing a 1.0 peer, its
    // signature became the header of its identity frame.
    bool downgraded = false;
    std::optional<std::string> identity;  // 1.0 and 2.0: the identity frame's body (bytes)
    uint32_t identity_offset = 0;         // where that body starts in the greeting
};

// The greeting sizes on the wire (docs/protocol.md 1.1-1.3), identity frames not counted.
inline constexpr uint32_t greeting_v3_size = 64;
// A PING's context is 0 to 16 bytes, and a PONG echoes it (docs/protocol.md 2.6).
inline constexpr size_t max_ping_context_size = 16;
inline constexpr uint32_t greeting_v2_size = 12;
// RFC 13 and 15: an identity is 0 to 255 bytes (a 2.0 identity is a short frame).
inline constexpr uint32_t max_identity_size = 255;

// What a greeting says it speaks, for people: "ZMTP 3.1 CURVE", "ZMTP 2.0 REQ",
// "ZMTP 2.0 (downgraded from 3.x) REP", "ZMTP 1.0", "ZMTP 1.0 (downgraded from 3.x)".
// One label for every adapter (the plugin's tree, zmtp-replay's reports).
std::string greeting_label(const Greeting& g);

// Whether the first bytes of a direction start a ZMTP greeting (docs/protocol.md 1.1-1.5): the
// signature FF, 8 padding bytes, a byte with bit 0 set; then, as far as the bytes show it, a
// revision of 1 (2.0, with a socket type) or 3 and above with a mechanism name of capital
// letters, digits, '-' and '_' padded with NULs. With only the signature, the padding must be
// libzmq's (a routing-id size + 1: bytes 1-6 zero). NeedMore while fewer than 10 bytes tell.
// One rule for every caller: the decoder, zmtp-replay's --detect and the plugin's heuristic.
enum class GreetingMatch : uint8_t { No, NeedMore, Yes };
GreetingMatch match_greeting(Bytes first_bytes);

// Decodes the fixed fields of a greeting of `size` bytes (64: ZMTP 3.x; 12: ZMTP 2.0, revision
// 0 or libzmq's downgraded 3.x answer) at the start of `data`; the identity frame that follows
// a 12-byte one is StreamDecoder's to add (it then sets `size` to the whole greeting). Deciding
// the size needs both directions (StreamDecoder does it), and so does the framing that follows:
// the result's `framing` is what the greeting itself announces (V3, V2 for revision 1, V1 for
// revision 0; V2 for a downgraded 12-byte 3.x greeting, `downgraded` set). nullopt when `data`
// is shorter than `size` or `size` is neither 12 nor 64.
[[nodiscard]] std::optional<Greeting> parse_greeting(Bytes data, uint32_t size);

// clang-format off
enum class CommandKind : uint8_t {
    Unknown, Ready, Error, Subscribe, Cancel, Ping, Pong, Join, Leave,
    Hello, Welcome, Initiate, Message,
};
// clang-format on
// The names on the wire (READY to MESSAGE).
inline constexpr std::array<enum_names::Named<CommandKind>, 13> command_kind_names = {{
    {CommandKind::Unknown, "unknown"},
    {CommandKind::Ready, "READY"},
    {CommandKind::Error, "ERROR"},
    {CommandKind::Subscribe, "SUBSCRIBE"},
    {CommandKind::Cancel, "CANCEL"},
    {CommandKind::Ping, "PING"},
    {CommandKind::Pong, "PONG"},
    {CommandKind::Join, "JOIN"},
    {CommandKind::Leave, "LEAVE"},
    {CommandKind::Hello, "HELLO"},
    {CommandKind::Welcome, "WELCOME"},
    {CommandKind::Initiate, "INITIATE"},
    {CommandKind::Message, "MESSAGE"},
}};
static_assert(enum_names::covers(command_kind_names, CommandKind::Message));
constexpr std::string_view command_kind_name(CommandKind k) {
    return enum_names::name_of(command_kind_names, k, "unknown");
}
// The command a name on the wire announces; Unknown for any other. Byte for byte, as libzmq
// matches command names (memcmp).
constexpr CommandKind command_kind_from_name(std::string_view name) {
    for (const auto& [kind, text] : command_kind_names)
        if (kind != CommandKind::Unknown && text == name) return kind;
    return CommandKind::Unknown;
}

struct Property {
    std::string_view name;
    Bytes value;
};

// A parsed command body. Fields hold views into the body; only the ones of `kind` are set.
struct Command {
    CommandKind kind = CommandKind::Unknown;
    std::string_view name;          // as on the wire ("^RROR" for libzmq's PLAIN bug)
    Bytes data;                     // everything after the name
    const char* problem = nullptr;  // set when the body is malformed for its kind

    std::vector<Property> metadata;       // READY, PLAIN INITIATE; decrypted CURVE INITIATE/READY
    std::string_view error_reason;        // ERROR
    bool libzmq_plain_error_bug = false;  // "^RROR": libzmq 4.3 PLAIN server (docs/protocol.md 3)
    Bytes topic;                          // SUBSCRIBE, CANCEL; the group of JOIN, LEAVE
    uint16_t ping_ttl_ds = 0;             // PING, deciseconds
    Bytes ping_context;                   // PING context, PONG echoed context

    std::string_view plain_username, plain_password;  // PLAIN HELLO

    // CURVE (docs/protocol.md 4). Boxes are MAC(16) + ciphertext, as on the wire.
    uint16_t curve_version = 0;  // HELLO: 0x0100
    Bytes client_ephemeral;      // HELLO: C' (32)
    uint64_t short_nonce = 0;    // HELLO, INITIATE, READY, MESSAGE
    Bytes long_nonce;            // WELCOME (16)
    Bytes cookie;                // INITIATE (96, echoed)
    Bytes box;
};

// The plaintexts of opened CURVE handshake boxes (docs/protocol.md 4.2-4.4).
inline constexpr size_t curve_key_size = 32;
struct WelcomePlaintext {
    Bytes server_ephemeral;  // S' (32)
    Bytes cookie;            // 96, opaque
};
struct InitiatePlaintext {
    Bytes client_public;  // C (32)
    Bytes vouch_nonce;    // 16: the long nonce's last bytes
    Bytes vouch_box;      // 80: C' and S boxed from C to S'
    Bytes metadata;
};
[[nodiscard]] std::optional<WelcomePlaintext> parse_welcome_plaintext(Bytes plaintext);
// A command body laid out as CURVE's HELLO (200 bytes, version 1.0), WELCOME (168 bytes),
// INITIATE (at least 257 bytes) or READY (a nonce and a box, not metadata), the way it is told
// from NULL's and PLAIN's commands of the same names when no greeting says which mechanism is
// in use.
bool is_curve_handshake_command(Bytes body);
[[nodiscard]] std::optional<InitiatePlaintext> parse_initiate_plaintext(Bytes plaintext);

// Text from the wire made safe for people (labels, the Info column, reports): bytes outside
// printable ASCII become \xNN.
std::string printable(std::string_view text);

// Parses a command body (the bytes after the frame header). The mechanism decides between
// the PLAIN and CURVE layouts of HELLO/WELCOME/INITIATE/READY.
Command parse_command(Bytes body, Mechanism mechanism);

// Parses ZMTP metadata (name-len name value-len(u32) value)*. Returns false (with what was
// parsed so far in `out`) when the bytes do not end on a property boundary.
[[nodiscard]] bool parse_metadata(Bytes data, std::vector<Property>& out);

// ZMTP 2.0/3.0 subscriptions are message frames: 0x01 topic = subscribe, 0x00 topic = cancel.
struct Subscription {
    bool subscribe;
    Bytes topic;
};
[[nodiscard]] std::optional<Subscription> parse_subscription_frame(Bytes body);

}  // namespace zmtp
