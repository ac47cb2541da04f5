// Stateless parsing of ZMTP wire units (docs/protocol.md sections 1-4).
#include "zmtp/wire.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace zmtp {

namespace {

// ---- frame headers ----------------------------------------------------------------------

// V1: length(1 | 0xFF + u64 BE) flags body; the length counts the flags byte.
ParseStatus parse_v1_header(Bytes data, FrameHeader& out) {
    if (data.empty()) return ParseStatus::NeedMore;
    out = FrameHeader{};
    const bool long_length = data[0] == 0xFF;
    out.header_size = long_length ? 10 : 2;
    if (long_length && data.size() < 9) return ParseStatus::NeedMore;
    const uint64_t length = long_length ? read_be64(data.data() + 1) : data[0];
    out.body_size = length == 0 ? 0 : length - 1;
    if (length == 0 || length > max_declared_size) return ParseStatus::Invalid;
    if (data.size() < out.header_size) return ParseStatus::NeedMore;
    out.flags = data[out.header_size - 1];
    out.more = (out.flags & frame_flag::more) != 0;
    out.reserved_bits = (out.flags & ~frame_flag::more) != 0;
    return ParseStatus::Ok;
}

// ---- name tables ------------------------------------------------------------------------

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

// ---- command bodies ---------------------------------------------------------------------

// libzmq 4.3 PLAIN servers send ERROR with the prefix "\x05ERROR" read as "\x5E" "RROR"
// (docs/protocol.md 3): the body is "^RROR" reason-len reason.
constexpr std::string_view plain_error_bug_prefix = "^RROR";

constexpr size_t curve_hello_size = 200;
constexpr size_t curve_welcome_size = 168;
constexpr size_t curve_initiate_min_size = 257;
constexpr size_t curve_ready_min_size = 30;
constexpr size_t curve_message_min_size = 33;

// A length-prefixed string (1-byte length) at the start of `data`; advances `data`.
bool take_short_string(Bytes& data, std::string_view& out) {
    if (data.empty() || data[0] > data.size() - 1) return false;
    out = as_text(data.subspan(1, data[0]));
    data = data.subspan(1 + data[0]);
    return true;
}

void parse_error(Bytes data, Command& cmd) {
    if (data.empty()) {
        cmd.problem = "ERROR has no reason length";
        return;
    }
    const size_t length = data[0];
    const Bytes rest = data.subspan(1);
    cmd.error_reason = as_text(rest.first(std::min(length, rest.size())));
    if (length > rest.size()) cmd.problem = "ERROR reason is longer than the body";
}

void parse_ping(Bytes data, Command& cmd) {
    if (data.size() < 2) {
        cmd.problem = "PING is shorter than its 2-byte TTL";
        return;
    }
    cmd.ping_ttl_ds = read_be16(data.data());
    cmd.ping_context = data.subspan(2);
    if (cmd.ping_context.size() > max_ping_context_size)
        cmd.problem = "PING context is longer than 16 bytes";
}

void parse_metadata_into(Bytes data, Command& cmd) {
    if (!parse_metadata(data, cmd.metadata)) cmd.problem = "malformed metadata";
}

void parse_plain_hello(Bytes data, Command& cmd) {
    if (!take_short_string(data, cmd.plain_username)) {
        cmd.problem = "PLAIN HELLO username overruns the body";
    } else if (!take_short_string(data, cmd.plain_password)) {
        cmd.problem = "PLAIN HELLO password overruns the body";
    } else if (!data.empty()) {
        cmd.problem = "PLAIN HELLO has bytes after the password";
    }
}

void parse_curve_hello(Bytes body, Command& cmd) {
    if (body.size() != curve_hello_size) {
        cmd.problem = "CURVE HELLO is not 200 bytes";
        return;
    }
    cmd.curve_version = read_be16(body.data() + 6);
    cmd.client_ephemeral = body.subspan(80, 32);
    cmd.short_nonce = read_be64(body.data() + 112);
    cmd.box = body.subspan(120, 80);
}

void parse_curve_welcome(Bytes body, Command& cmd) {
    if (body.size() != curve_welcome_size) {
        cmd.problem = "CURVE WELCOME is not 168 bytes";
        return;
    }
    cmd.long_nonce = body.subspan(8, 16);
    cmd.box = body.subspan(24);
}

void parse_curve_initiate(Bytes body, Command& cmd) {
    if (body.size() < curve_initiate_min_size) {
        cmd.problem = "CURVE INITIATE is shorter than 257 bytes";
        return;
    }
    cmd.cookie = body.subspan(9, 96);
    cmd.short_nonce = read_be64(body.data() + 105);
    cmd.box = body.subspan(113);
}

void parse_curve_ready(Bytes body, Command& cmd) {
    if (body.size() < curve_ready_min_size) {
        cmd.problem = "CURVE READY is shorter than 30 bytes";
        return;
    }
    cmd.short_nonce = read_be64(body.data() + 6);
    cmd.box = body.subspan(14);
}

void parse_curve_message(Bytes body, Command& cmd) {
    if (body.size() < curve_message_min_size) {
        cmd.problem = "CURVE MESSAGE is shorter than 33 bytes";
        return;
    }
    cmd.short_nonce = read_be64(body.data() + 8);
    cmd.box = body.subspan(16);
}

// The fields of a command whose name is known. `body` is the whole command body (CURVE
// offsets count from its start), `data` what follows the name.
void parse_command_fields(Bytes body, Bytes data, Mechanism mechanism, Command& cmd) {
    const bool curve = mechanism == Mechanism::Curve;
    const bool plain = mechanism == Mechanism::Plain;
    switch (cmd.kind) {
        case CommandKind::Ready:
            if (curve)
                parse_curve_ready(body, cmd);
            else
                parse_metadata_into(data, cmd);
            break;
        case CommandKind::Error:
            parse_error(data, cmd);
            break;
        case CommandKind::Subscribe:
        case CommandKind::Cancel:
        case CommandKind::Join:
        case CommandKind::Leave:
            cmd.topic = data;
            break;
        case CommandKind::Ping:
            parse_ping(data, cmd);
            break;
        case CommandKind::Pong:
            cmd.ping_context = data;
            break;
        case CommandKind::Hello:
            if (curve)
                parse_curve_hello(body, cmd);
            else if (plain)
                parse_plain_hello(data, cmd);
            break;
        case CommandKind::Welcome:
            if (curve)
                parse_curve_welcome(body, cmd);
            else if (plain && !data.empty())
                cmd.problem = "PLAIN WELCOME is not 8 bytes";
            break;
        case CommandKind::Initiate:
            if (curve)
                parse_curve_initiate(body, cmd);
            else if (plain)
                parse_metadata_into(data, cmd);
            break;
        case CommandKind::Message:
            parse_curve_message(body, cmd);
            break;  // CURVE only
        case CommandKind::Unknown:
            break;
    }
}

}  // namespace

// ---- public -----------------------------------------------------------------------------

ParseStatus parse_frame_header(Framing framing, Bytes data, FrameHeader& out) {
    switch (framing) {
        case Framing::V3:
            return parse_flags_size_header(true, data, out);
        case Framing::V2:
            return parse_flags_size_header(false, data, out);
        case Framing::V1:
            return parse_v1_header(data, out);
        case Framing::Unknown:
            break;
    }
    out = FrameHeader{};
    return ParseStatus::Invalid;
}

// libzmq compares the greeting's mechanism field byte for byte, so this is case-sensitive.
Mechanism mechanism_from_name(std::string_view name) {
    if (name.empty()) return Mechanism::Unknown;
    for (const auto& [mechanism, text] : mechanism_names)
        if (mechanism != Mechanism::Unknown && mechanism != Mechanism::Other && text == name)
            return mechanism;
    return Mechanism::Other;
}

std::string_view socket_type_name(SocketType t) {
    const auto index = static_cast<int>(t);
    if (index < 0 || index >= static_cast<int>(socket_type_names.size())) return "unknown";
    return socket_type_names[index];
}

SocketType socket_type_from_name(std::string_view name) {
    for (size_t i = 0; i < socket_type_names.size(); ++i)
        if (equal_ignoring_case(name, socket_type_names[i])) return static_cast<SocketType>(i);
    return SocketType::Unknown;
}

SocketType socket_type_from_number(uint8_t number) {
    if (number >= socket_type_names.size()) return SocketType::Unknown;
    return static_cast<SocketType>(number);
}

std::optional<Greeting> parse_greeting(Bytes data, uint32_t size) {
    if ((size != greeting_v3_size && size != greeting_v2_size) || data.size() < size)
        return std::nullopt;
    Greeting g;
    g.size = size;
    g.signature_padding = read_be64(data.data() + 1);
    g.major = data[10];
    g.versioned = true;
    if (size == greeting_v2_size) {
        g.socket_type = socket_type_from_number(data[11]);
        g.framing = g.major == 0 ? Framing::V1 : Framing::V2;
        g.downgraded = g.major >= 3;
        return g;
    }
    g.minor = data[11];
    const auto mechanism = as_text(data.subspan(12, 20));
    g.mechanism_text = std::string(mechanism.substr(0, mechanism.find('\0')));
    g.mechanism = mechanism_from_name(g.mechanism_text);
    g.as_server = data[32] != 0;
    g.framing = Framing::V3;
    return g;
}

std::string greeting_label(const Greeting& g) {
    const bool short_v3 = g.major >= 3 && g.framing != Framing::V3;
    if (g.major >= 3 && !short_v3) {
        return "ZMTP " + std::to_string(g.major) + "." + std::to_string(g.minor) + " " +
               printable(g.mechanism_text);
    }
    std::string label = g.framing == Framing::V2 ? "ZMTP 2.0" : "ZMTP 1.0";
    if (g.downgraded) label += " (downgraded from 3.x)";
    if (g.versioned && g.major == 0 && !g.downgraded) label += " (revision 0)";
    if (g.socket_type != SocketType::Unknown)
        label += " " + std::string(socket_type_name(g.socket_type));
    return label;
}

Command parse_command(Bytes body, Mechanism mechanism) {
    Command cmd;
    if (body.empty()) {
        cmd.problem = "empty command body";
        return cmd;
    }
    const auto text = as_text(body);
    if (text.starts_with(plain_error_bug_prefix)) {
        cmd.kind = CommandKind::Error;
        cmd.libzmq_plain_error_bug = true;
        cmd.name = text.substr(0, plain_error_bug_prefix.size());
        cmd.data = body.subspan(plain_error_bug_prefix.size());
        parse_error(cmd.data, cmd);
        return cmd;
    }
    const size_t name_size = body[0];
    if (name_size == 0) {
        cmd.problem = "empty command name";
        cmd.data = body.subspan(1);
        return cmd;
    }
    if (name_size > body.size() - 1) {
        cmd.problem = "command name is longer than the body";
        return cmd;
    }
    cmd.name = text.substr(1, name_size);
    cmd.data = body.subspan(1 + name_size);
    cmd.kind = command_kind_from_name(cmd.name);
    parse_command_fields(body, cmd.data, mechanism, cmd);
    return cmd;
}

bool parse_metadata(Bytes data, std::vector<Property>& out) {
    while (!data.empty()) {
        const size_t name_size = data[0];
        if (data.size() - 1 < name_size + 4) return false;
        const auto name = as_text(data.subspan(1, name_size));
        const uint32_t value_size = read_be32(data.data() + 1 + name_size);
        const Bytes rest = data.subspan(1 + name_size + 4);
        if (value_size > 0x7FFFFFFFu || value_size > rest.size()) return false;
        out.push_back({name, rest.first(value_size)});
        data = rest.subspan(value_size);
    }
    return true;
}

std::optional<Subscription> parse_subscription_frame(Bytes body) {
    if (body.empty() || body[0] > 1) return std::nullopt;
    return Subscription{body[0] == 1, body.subspan(1)};
}

GreetingMatch match_greeting(Bytes b) {
    constexpr size_t signature_size = 10, mechanism_at = 12, mechanism_size = 20;
    if (b.empty()) return GreetingMatch::NeedMore;
    if (b[0] != 0xFF) return GreetingMatch::No;
    if (b.size() < signature_size) return GreetingMatch::NeedMore;
    if (!(b[9] & 0x01)) return GreetingMatch::No;
    if (b.size() < greeting_v2_size) {
        for (size_t i = 1; i <= 6; ++i) {
            if (b[i]) return GreetingMatch::No;
        }
        return b.size() < 11 || b[10] == 1 || b[10] >= 3 ? GreetingMatch::Yes : GreetingMatch::No;
    }
    const uint8_t revision = b[10];
    if (revision == 1) return b[11] <= 10 ? GreetingMatch::Yes : GreetingMatch::No;  // socket type
    if (revision < 3) return GreetingMatch::No;
    if (b.size() < mechanism_at + mechanism_size) return GreetingMatch::Yes;
    size_t i = 0;
    for (; i < mechanism_size && b[mechanism_at + i]; ++i) {
        const uint8_t c = b[mechanism_at + i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return GreetingMatch::No;
    }
    if (i == 0) return GreetingMatch::No;
    for (; i < mechanism_size; ++i) {
        if (b[mechanism_at + i]) return GreetingMatch::No;  // NUL padding only after the name
    }
    return GreetingMatch::Yes;
}

bool is_curve_handshake_command(Bytes body) {
    const std::string_view text = as_text(body);
    if (text.starts_with("\x05HELLO"))
        return body.size() == 200 && body[6] == 0x01 && body[7] == 0x00;
    if (text.starts_with("\x07WELCOME")) return body.size() == 168;
    if (text.starts_with("\x08INITIATE")) return body.size() >= 257;
    if (text.starts_with("\x05READY")) {  // nonce(8) and a box, where NULL/PLAIN have metadata
        std::vector<Property> metadata;
        const Bytes data = body.subspan(6);
        return data.size() >= 8 + 16 && !parse_metadata(data, metadata);
    }
    return false;
}

std::optional<WelcomePlaintext> parse_welcome_plaintext(Bytes p) {
    constexpr size_t cookie_size = 96;
    if (p.size() < curve_key_size + cookie_size) return std::nullopt;
    return WelcomePlaintext{p.first(curve_key_size), p.subspan(curve_key_size, cookie_size)};
}

std::optional<InitiatePlaintext> parse_initiate_plaintext(Bytes p) {
    constexpr size_t vouch_nonce_size = 16, vouch_box_size = 80;
    constexpr size_t metadata_at = curve_key_size + vouch_nonce_size + vouch_box_size;
    if (p.size() < metadata_at) return std::nullopt;
    return InitiatePlaintext{p.first(curve_key_size), p.subspan(curve_key_size, vouch_nonce_size),
                             p.subspan(curve_key_size + vouch_nonce_size, vouch_box_size),
                             p.subspan(metadata_at)};
}

std::string printable(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (const unsigned char c : text) {
        if (c >= 0x20 && c < 0x7F) {
            out += char(c);
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0xF];
        }
    }
    return out;
}

}  // namespace zmtp
