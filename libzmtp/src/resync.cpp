// The frame boundary search of a stream that lost bytes (docs/protocol.md 9).
//
// A candidate position is accepted only with evidence that random bytes (ciphertext, binary
// message bodies) give with negligible probability; everything else stays undecoded. The rules,
// by the evidence they name:
// - CurveSignature: flags 0x00/0x02/0x04/0x06, a size of at least 33, then 07 "MESSAGE" and a
//   nonce above the direction's last one (if known) by at most 2^32: 72 fixed bits.
// - LongSize: a frame in the chain has an 8-byte size in [256, max_frame_size]; libzmq uses the
//   long form only above 255, so the six high bytes are zero: about 36 bits.
// - KnownCommand: a complete command frame whose name (and PING/PONG layout) is known, followed
//   by a plausible header or by the segment's end.
// Bodies are not random: runs of zero bytes and periodic bytes (a body filled with 01 parses as
// `01 01 01` frames) are common. So a chain with an empty last frame (`00 00`) or with the same
// frame twice in a row is no evidence, the frame counts below are of frames with a body, and a
// chain is followed for at most chain_walk_limit frames.
// - WholeSegment: the frames fill the segment exactly, from its first byte to its last. Segments
//   usually start and end on frames (libzmq writes whole batches), and a random segment passes
//   with a chance near 1e-4 per segment, and only if it is shorter than 258 bytes.
// - SegmentEnd: three or more frames ending exactly at the segment's end.
// A plausible frame has libzmq's flags (V3: 0x00-0x04 and 0x06; V2: 0x00-0x03), and a command
// frame that lies whole in the region has a known name.
#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "zmtp/stream_decoder.hpp"

namespace zmtp {

namespace {

constexpr std::string_view message_name{"\x07MESSAGE", 8};
constexpr size_t curve_min_body = 33;  // 07 "MESSAGE", nonce(8), MAC(16), flags(1)
constexpr uint64_t max_nonce_jump = uint64_t(1) << 32;
constexpr size_t chain_walk_limit = 64;
constexpr size_t segment_end_frames = 3;

enum class Check : uint8_t { Implausible, HeaderCut, BodyCut, Complete };

// libzmq writes an 8-byte size only above 255 (docs/protocol.md 2.1): a smaller long size is
// valid but no evidence of a boundary.
constexpr uint64_t min_plausible_long_size = 256;

struct Frame {
    Check check = Check::Implausible;
    uint64_t size = 0;  // header + body
    bool long_size = false;
    bool known_command = false;
};

// A command body that lies whole in the region: a known name, and PING/PONG's layout
// (docs/protocol.md 2.6: PING = name, TTL(2), context <= 16; PONG = name, context <= 16).
bool plausible_command(Bytes body) {
    if (body.empty() || body[0] == 0 || size_t(body[0]) + 1 > body.size()) return false;
    const std::string_view name(reinterpret_cast<const char*>(body.data() + 1), body[0]);
    if (command_kind_from_name(name) == CommandKind::Unknown) return false;
    const size_t rest = body.size() - 1 - name.size();
    if (name == "PING") return rest >= 2 && rest <= 2 + max_ping_context_size;
    if (name == "PONG") return rest <= max_ping_context_size;
    return true;
}

Frame check_frame(Bytes r, size_t at, const ResyncHints& hints) {
    Frame f;
    const uint8_t flags = r[at];
    const bool v3 = hints.framing != Framing::V2;
    const bool command = v3 && (flags & frame_flag::command);
    const uint8_t known = frame_flag::more | frame_flag::long_size | (v3 ? frame_flag::command : 0);
    if ((flags & ~known) || (command && (flags & frame_flag::more))) return f;
    f.long_size = flags & frame_flag::long_size;
    const size_t header = f.long_size ? 9 : 2;
    if (r.size() - at < header) {
        f.check = Check::HeaderCut;
        return f;
    }
    const uint64_t body = f.long_size ? read_be64(&r[at + 1]) : r[at + 1];
    if (f.long_size && (body < min_plausible_long_size || body > hints.max_frame_size)) return f;
    f.size = header + body;
    if (r.size() - at < f.size) {
        f.check = Check::BodyCut;
        return f;
    }
    if (command) {
        if (!plausible_command(r.subspan(at + header, size_t(body)))) return f;
        f.known_command = true;
    }
    f.check = Check::Complete;
    return f;
}

bool curve_signature_at(Bytes r, size_t at, const ResyncHints& hints) {
    const uint8_t flags = r[at];
    if (flags & ~(frame_flag::long_size | frame_flag::command)) return false;
    const bool long_size = flags & frame_flag::long_size;
    const size_t header = long_size ? 9 : 2;
    if (r.size() - at < header + message_name.size() + 8) return false;
    const uint64_t body = long_size ? read_be64(&r[at + 1]) : r[at + 1];
    if (body < curve_min_body ||
        (long_size && (body < min_plausible_long_size || body > hints.max_frame_size)))
        return false;
    if (std::memcmp(&r[at + header], message_name.data(), message_name.size()) != 0) return false;
    const uint64_t nonce = read_be64(&r[at + header + message_name.size()]);
    if (!hints.last_nonce) return true;
    return nonce > *hints.last_nonce && nonce - *hints.last_nonce <= max_nonce_jump;
}

// The evidence for a plaintext frame boundary at `at`, following the chain of frames from it.
std::optional<ResyncEvidence> chain_evidence(Bytes r, size_t at, bool starts_segment,
                                             bool ends_segment, const ResyncHints& hints) {
    size_t complete = 0;
    bool known_command_before = false;
    Bytes previous;
    for (size_t q = at, walked = 0; walked < chain_walk_limit; ++walked) {
        if (q == r.size()) {  // the chain ends exactly at the region's end
            if (!ends_segment || complete == 0) return std::nullopt;
            if (known_command_before) return ResyncEvidence::KnownCommand;
            if (at == 0 && starts_segment) return ResyncEvidence::WholeSegment;
            if (complete >= segment_end_frames) return ResyncEvidence::SegmentEnd;
            return std::nullopt;
        }
        const Frame f = check_frame(r, q, hints);
        if (f.check == Check::Implausible || f.check == Check::HeaderCut) return std::nullopt;
        if (f.long_size) return ResyncEvidence::LongSize;  // its size was checked
        if (known_command_before) return ResyncEvidence::KnownCommand;
        if (f.check == Check::BodyCut) return std::nullopt;
        const Bytes unit = r.subspan(q, size_t(f.size));
        const bool repeated = unit.size() == previous.size() &&
                              std::memcmp(unit.data(), previous.data(), unit.size()) == 0;
        if (f.size == 2 && r[q] == 0) return std::nullopt;  // `00 00`: zero bytes
        if (repeated) return std::nullopt;                  // periodic bytes
        previous = unit;
        known_command_before = f.known_command;
        complete += f.size > 2;
        q += size_t(f.size);
    }
    return std::nullopt;
}

// A CURVE handshake command (HELLO, WELCOME, INITIATE, READY by their layouts) lying whole in
// the region: the boundary of a CURVE stream joined during its handshake.
std::optional<ResyncMatch> find_curve_command(Bytes r, size_t end, const ResyncHints& hints) {
    for (size_t at = 0; at + 2 < end; ++at) {
        if ((r[at] & ~frame_flag::long_size) != frame_flag::command) continue;
        const Frame f = check_frame(r, at, hints);
        if (f.check != Check::Complete) continue;
        const size_t header = f.long_size ? 9 : 2;
        if (is_curve_handshake_command(r.subspan(at + header, size_t(f.size) - header)))
            return ResyncMatch{at, ResyncEvidence::KnownCommand};
    }
    return std::nullopt;
}

std::optional<ResyncMatch> find_curve_signature(Bytes r, const ResyncHints& hints) {
    const auto* begin = reinterpret_cast<const char*>(r.data());
    const std::string_view text(begin, r.size());
    for (size_t name_at = text.find(message_name, 2); name_at != std::string_view::npos;
         name_at = text.find(message_name, name_at + 1)) {
        // The candidate header starts 2 bytes (short size) or 9 bytes (long size) earlier.
        for (const size_t header : {size_t(9), size_t(2)}) {
            if (name_at < header) continue;
            const size_t at = name_at - header;
            const bool long_size = (r[at] & frame_flag::long_size) != 0;
            if (long_size == (header == 9) && curve_signature_at(r, at, hints))
                return ResyncMatch{at, ResyncEvidence::CurveSignature};
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<ResyncMatch> find_frame_boundary(Bytes region, bool starts_segment, bool ends_segment,
                                               const ResyncHints& hints) {
    using Expect = ResyncHints::Expect;
    std::optional<ResyncMatch> curve;
    if (hints.expect != Expect::Plaintext) curve = find_curve_signature(region, hints);
    if (hints.expect == Expect::Curve) {
        const size_t end = curve ? size_t(curve->skip) : region.size();
        if (auto command = find_curve_command(region, end, hints)) return command;
        return curve;
    }
    const size_t end = curve ? size_t(curve->skip) : region.size();
    // Most bytes of a body are no libzmq flags byte: rejected before any call.
    const uint8_t reserved = hints.framing == Framing::V2 ? 0xFC : 0xF8;
    for (size_t at = 0; at < end; ++at) {
        if (region[at] & reserved) continue;
        if (auto evidence = chain_evidence(region, at, starts_segment, ends_segment, hints))
            return ResyncMatch{at, *evidence};
    }
    return curve;
}

}  // namespace zmtp
