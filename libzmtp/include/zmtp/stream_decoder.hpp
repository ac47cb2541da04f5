// The incremental decoder of one direction of one ZMTP connection.
//
// Feed it the bytes of one direction, in order, in chunks of any size; it calls the sink
// with one event per complete wire unit (greeting, frame) or per error. The events are
// identical for every way of splitting the same bytes. Units that lie whole in a chunk are
// reported as views into it; only a unit that spans chunks is copied. State between calls:
// the bytes of the unit in progress only, grown as they arrive (never from a declared
// length), capped by Limits::max_body_size (larger bodies are skipped, the frame is still
// reported); with Limits::skip_message_bodies no message-frame body is kept at all.
//
// Greetings (docs/protocol.md 1.5): 64 bytes (3.x); 12 bytes (2.0, revision 0, and libzmq's
// downgraded answer to a 2.0 or revision-0 peer) followed by the sender's identity frame; or,
// for ZMTP 1.0, the identity frame alone. The identity frame is part of the greeting unit (RFC
// 13, RFC 15): Greeting::identity, never a Frame event. When libzmq answers a ZMTP 1.0 peer,
// its 10 signature bytes `FF <u64 identity size + 1> 7F` are the header of that identity frame.
// An identity frame declaring more than 255 bytes stops the direction (BadLength).
//
// Lost bytes (docs/protocol.md 9): after mark_gap(), or from the start for a stream the capture
// joined late (start_mid_stream()), the decoder searches for the next frame boundary instead of
// stopping: a Gap event, then, once a boundary is found, a Resync event and frames again. The
// search looks at one region at a time: the bytes between two segment ends the caller marks
// (mark_segment_end(); a TCP segment), or resync_window bytes when the caller marks none. The
// same bytes with the same segment ends give the same events however they are split.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "enum_names.hpp"
#include "zmtp/wire.hpp"

namespace zmtp {

enum class StreamError : uint8_t {
    None,
    BadLength,  // V1 length 0, or a declared size above 2^63-1 (fatal)
    Gap,        // the caller reported missing bytes where no resync is possible (ZMTP 1.0; fatal)
    Truncated,  // the stream ended inside a unit, or while no frame boundary had been found
};
inline constexpr std::array<enum_names::Named<StreamError>, 4> stream_error_names = {{
    {StreamError::None, "none"},
    {StreamError::BadLength, "bad length"},
    {StreamError::Gap, "gap"},
    {StreamError::Truncated, "truncated"},
}};
static_assert(enum_names::covers(stream_error_names, StreamError::Truncated));
constexpr std::string_view stream_error_name(StreamError e) {
    return enum_names::name_of(stream_error_names, e, "unknown");
}

// Why a position was taken for a frame boundary (docs/protocol.md 9).
enum class ResyncEvidence : uint8_t {
    CurveSignature,  // a CURVE MESSAGE frame: flags, size, 07 "MESSAGE", nonce
    WholeSegment,    // plausible frames that fill a TCP segment from its first to its last byte
    SegmentEnd,      // at least three plausible frames that end exactly at a segment end
    LongSize,        // a frame with a plausible 8-byte size (its six high bytes are nearly zero)
    KnownCommand,    // a command frame with a known name and layout, then a plausible header
};
inline constexpr std::array<enum_names::Named<ResyncEvidence>, 5> resync_evidence_names = {{
    {ResyncEvidence::CurveSignature, "CURVE MESSAGE signature"},
    {ResyncEvidence::WholeSegment, "frames filling a segment"},
    {ResyncEvidence::SegmentEnd, "frames ending at a segment end"},
    {ResyncEvidence::LongSize, "plausible 8-byte frame size"},
    {ResyncEvidence::KnownCommand, "known command"},
}};
static_assert(enum_names::covers(resync_evidence_names, ResyncEvidence::KnownCommand));
constexpr std::string_view resync_evidence_name(ResyncEvidence e) {
    return enum_names::name_of(resync_evidence_names, e, "unknown");
}

// What the boundary search may assume about the stream.
struct ResyncHints {
    enum class Expect : uint8_t { Any, Curve, Plaintext };
    Framing framing = Framing::V3;           // V2 or V3 (Unknown: V3, what libzmq 4 speaks)
    Expect expect = Expect::Any;             // Curve: only MESSAGE signatures are boundaries
    std::optional<uint64_t> last_nonce;      // CURVE: the last nonce of this direction
    uint64_t max_frame_size = 256ull << 20;  // larger 8-byte sizes are implausible
};

struct ResyncMatch {
    uint64_t skip = 0;  // bytes before the boundary
    ResyncEvidence evidence = ResyncEvidence::CurveSignature;
};

// The first frame boundary in `region`, the bytes of (the rest of) one TCP segment or window.
// `starts_segment`: region[0] is the first byte of a segment; `ends_segment`: the region's last
// byte is the last of a segment. The earliest position that meets one of ResyncEvidence's rules
// with only plausible frames wins; nullopt when none does.
std::optional<ResyncMatch> find_frame_boundary(Bytes region, bool starts_segment, bool ends_segment,
                                               const ResyncHints& hints);

struct StreamEvent {
    // Gap: bytes are missing from offset (size: how many, when lost_known). Resync: decoding
    // resumes at offset (a frame boundary), `skipped` bytes after the gap were not decoded.
    enum class Kind : uint8_t { Greeting, Frame, Error, Gap, Resync };
    Kind kind = Kind::Frame;
    uint64_t offset = 0;  // stream offset of the unit's first byte
    uint64_t size = 0;    // bytes of the unit on the wire (header + body)

    Greeting greeting;  // Kind::Greeting (size 0 for a ZMTP 1.0 peer, which has none)

    FrameHeader header;  // Kind::Frame
    Bytes body;          // Kind::Frame (Kind::Greeting: its bytes); valid only during the callback
    bool body_skipped = false;  // body larger than Limits::max_body_size: not delivered

    StreamError error = StreamError::None;  // Kind::Error
    std::string message;                    // Kind::Error: for people

    bool lost_known = false;                  // Kind::Gap: size is the number of bytes lost
    bool before_start = false;                // Kind::Gap: the capture joined the stream late
    std::optional<uint64_t> cut_unit_offset;  // Kind::Gap: a unit in progress, dropped
    uint64_t skipped = 0;                     // Kind::Resync
    ResyncEvidence evidence = ResyncEvidence::CurveSignature;  // Kind::Resync
};

using StreamSink = std::function<void(const StreamEvent&)>;

// What is known of a direction's first bytes: what the other direction needs to know how
// long its own greeting is (libzmq answers a 2.0 peer with a 12-byte greeting, a 1.0 peer
// with none; docs/protocol.md 1.2 and 1.5).
struct SignatureInfo {
    bool known = false;        // at least the first byte was seen
    bool unversioned = false;  // ZMTP 1.0 peer: no greeting at all
    int revision = -1;         // byte 10 once seen: 0, 1 (2.0) or 3 (3.x)
    int minor = -1;            // byte 11 of a 3.x greeting, once seen
};

struct Limits {
    uint64_t max_body_size = 256ull << 20;  // bodies above this are skipped, not buffered
    // While searching for a frame boundary without segment ends from the caller, bytes are
    // looked at in regions of this size.
    uint64_t resync_window = 64u << 10;
    // The caller reads no message-frame body: every one is skipped like an oversized body
    // (counted, never copied; body_skipped set). Command frames (V3) are still delivered.
    bool skip_message_bodies = false;
    // Off: every unit is decoded the general way (no decode_frames_inline) and every CURVE
    // MESSAGE the full way (Session): the same events, for the test that compares the two.
    bool fast_paths = true;
};

class StreamDecoder {
  public:
    explicit StreamDecoder(Limits limits = {});

    void feed(Bytes data, const StreamSink& sink);
    // feed() with any callable `void(const StreamEvent&)`, called directly: the same events,
    // without a std::function call per unit. Frames that lie whole in `data` are reported by
    // an inline loop (views into `data`, one event object reused for all of them).
    template <class Sink>
    void feed_with(Bytes data, Sink&& sink);
    // The caller lost bytes (`lost`: how many, when known; offsets then stay those of the TCP
    // stream): a Gap event, the unit in progress is dropped, and the decoder searches for the
    // next frame boundary in what follows. ZMTP 1.0 framing has no resync: decoding stops.
    void mark_gap(const StreamSink& sink, std::optional<uint64_t> lost = std::nullopt);
    // The first bytes to come are not the stream's first (the capture joined late): no greeting;
    // a Gap event (before_start), then the boundary search. Call before feeding anything.
    void start_mid_stream(const StreamSink& sink);
    // The bytes fed so far end a TCP segment. Only the boundary search uses it.
    void mark_segment_end(const StreamSink& sink);
    // The stream ended (FIN, RST, end of capture): reports a unit cut off by the end, or bytes
    // in which no frame boundary was found.
    void finish(const StreamSink& sink);

    // For callers that feed units themselves (Wireshark's tcp_dissect_pdus) while resyncing():
    // the boundary in `region`, which starts at this decoder's position and ends a segment;
    // then skip() the bytes before it (they are never fed) and resync_here(). Nothing may be
    // buffered in the decoder (feed nothing while resyncing).
    bool resyncing() const { return resyncing_; }
    std::optional<ResyncMatch> find_resync(Bytes region, bool starts_segment) const;
    void skip(uint64_t count);
    void resync_here(ResyncEvidence evidence, const StreamSink& sink);
    // What the boundary search assumes (the session sets it as it learns the mechanism).
    void set_resync_hints(const ResyncHints& hints) { hints_ = hints; }

    // The other direction's first bytes, as far as they are known. Call before feeding
    // this direction past its first 10 bytes where possible; without it the decoder
    // decides from its own bytes (byte 12 is a mechanism letter for a 64-byte greeting).
    void set_peer_signature(const SignatureInfo& peer) { peer_ = peer; }
    SignatureInfo signature() const;
    // Limits::skip_message_bodies, changed between units (e.g. from the sink once the caller
    // knows it needs no more bodies): applies to the units whose header is not complete yet;
    // a body already being kept is delivered whole.
    void set_skip_message_bodies(bool skip) { limits_.skip_message_bodies = skip; }

    Framing framing() const { return framing_; }  // Unknown until the greeting is done
    bool greeting_done() const { return framing_ != Framing::Unknown; }
    bool failed() const { return failed_; }
    uint64_t offset() const { return offset_; }  // bytes consumed so far
    // Bytes held for the unit in progress, and the memory reserved for them.
    size_t buffered_bytes() const { return pending_.size(); }
    size_t buffer_capacity() const { return pending_.capacity(); }
    // The buffer keeps its capacity between units (a run of large frames does not grow it each
    // time), so it holds as much as the largest unit that spanned chunks. This gives it back,
    // keeping only the bytes of the unit in progress: for callers with many idle connections.
    void release_memory() { pending_.shrink_to_fit(); }

    // For callers that reassemble units themselves (Wireshark's tcp_dissect_pdus): the
    // size of the next unit that starts at `data` (this decoder's current position), or 0
    // when more bytes are needed to tell, or UINT64_MAX when the bytes are invalid or the
    // decoder has failed. A greeting's unit includes its identity frame (1.0, 2.0): a ZMTP
    // 1.0 stream's first unit is that frame. Does not change the decoder.
    uint64_t next_unit_size(Bytes data) const;

    // The size of the frame at the start of `data` in the given framing; 0 = need more,
    // UINT64_MAX = invalid header.
    static uint64_t frame_unit_size(Framing framing, Bytes data);

  private:
    struct Plan;
    // Decodes until the inline path can go on; returns the bytes it left for it.
    Bytes feed_slow(Bytes data, const StreamSink& sink);
    bool inline_path_ready() const {
        return limits_.fast_paths && !failed_ && !resyncing_ && pending_.empty() &&
               head_size_ == head_.size() && (framing_ == Framing::V3 || framing_ == Framing::V2);
    }
    bool skips_body(const FrameHeader& header) const {
        return header.body_size > limits_.max_body_size ||
               (limits_.skip_message_bodies && !header.command);
    }
    template <class Sink>
    void feed_frames(Bytes data, Sink& sink);
    template <class Sink>
    const uint8_t* decode_frames_inline(const uint8_t* p, const uint8_t* end, Sink& sink);
    Plan plan_unit(Bytes data) const;
    std::string invalid_unit_message(const Plan& plan, uint64_t offset) const;
    Bytes decode_in_place(Bytes data, const StreamSink& sink);
    bool decode_buffered(Bytes& data, const StreamSink& sink);
    Bytes skip_body(Bytes data, const StreamSink& sink);
    void begin_skip(const FrameHeader& header, uint64_t unit_offset, uint64_t unit_size,
                    uint64_t bytes_seen, const StreamSink& sink);
    void emit_greeting(const Plan& plan, Bytes data, uint64_t offset, const StreamSink& sink);
    void emit_frame(FrameHeader header, Bytes body, bool skipped, uint64_t offset, uint64_t size,
                    const StreamSink& sink);
    void fail(StreamError error, uint64_t offset, uint64_t size, std::string message,
              const StreamSink& sink);
    void drop_buffered(size_t count);
    void remember_head(Bytes data);

    Limits limits_;
    SignatureInfo peer_;
    Framing framing_ = Framing::Unknown;
    bool failed_ = false;
    uint64_t offset_ = 0;             // bytes accepted so far (decoded, buffered or skipped)
    std::vector<uint8_t> pending_;    // bytes of the unit in progress (stream offset
                                      // offset_ - pending_.size()), grown only as they arrive
    std::array<uint8_t, 12> head_{};  // the stream's first bytes, for signature()
    uint8_t head_size_ = 0;
    uint32_t greeting_fixed_size_ = 0;  // once the greeting is done: 64, 12 or 0 (1.0)
    bool keeping_body_ = false;         // the buffered unit's body is kept (decided at its header)
    bool skipping_ = false;             // inside an oversized body
    uint64_t skip_remaining_ = 0;       // its bytes still to come
    FrameHeader skip_header_{};
    uint64_t skip_unit_offset_ = 0;
    uint64_t skip_unit_size_ = 0;
    StreamEvent frame_event_;  // reused by the inline path: it sets every field of a frame

    // The boundary search (resyncing_): the region's bytes so far, from stream offset
    // offset_ - region_.size().
    bool search_region(bool ends_segment, const StreamSink& sink);
    Bytes feed_resync(Bytes data, const StreamSink& sink);
    ResyncHints hints_;
    bool resyncing_ = false;
    bool mid_stream_ = false;  // joined late: the first bytes are no greeting
    bool region_starts_segment_ = false;
    uint64_t skipped_ = 0;  // bytes given up on since the gap
    std::vector<uint8_t> region_;
};

// The common case, inline: V2/V3 frames after the greeting, nothing buffered. Stops at the first
// unit it does not handle (incomplete and kept, invalid) and returns where it stopped; feed_slow()
// goes on from there.
template <class Sink>
const uint8_t* StreamDecoder::decode_frames_inline(const uint8_t* p, const uint8_t* const end,
                                                   Sink& sink) {
    if (skipping_) {  // only ever the first bytes of a chunk: a skip starts at a chunk's end
        const uint64_t n = std::min<uint64_t>(skip_remaining_, uint64_t(end - p));
        skip_remaining_ -= n;
        offset_ += n;
        p += n;
        if (skip_remaining_ > 0) return p;
    }
    StreamEvent& event = frame_event_;
    if (skipping_) {
        skipping_ = false;
        event.header = skip_header_;
        event.offset = skip_unit_offset_;
        event.size = skip_unit_size_;
        event.body = {};
        event.body_skipped = true;
        sink(std::as_const(event));
        if (failed_) return p;
    }
    // Only the sink can change the decoder from here on (mark_gap, set_skip_message_bodies).
    const bool with_command = framing_ == Framing::V3;
    while (p != end) {
        const size_t available = size_t(end - p);
        if (parse_flags_size_header(with_command, Bytes(p, available), event.header) !=
            ParseStatus::Ok)
            break;
        const FrameHeader& h = event.header;
        const uint64_t unit_size = h.header_size + h.body_size;
        const bool skip = skips_body(h);
        event.offset = offset_;
        event.size = unit_size;
        event.body_skipped = skip;
        if (unit_size > available) {
            if (!skip) break;  // buffered by feed_slow()
            skipping_ = true;
            skip_remaining_ = unit_size - available;
            skip_header_ = h;
            skip_unit_offset_ = offset_;
            skip_unit_size_ = unit_size;
            offset_ += available;
            return end;
        }
        event.body = skip ? Bytes{} : Bytes(p + h.header_size, size_t(h.body_size));
        offset_ += unit_size;
        p += unit_size;
        sink(std::as_const(event));
        if (failed_) break;
    }
    return p;
}

template <class Sink>
void StreamDecoder::feed_with(Bytes data, Sink&& sink) {
    // A chunk in the middle of a skipped body: small enough to inline into the caller's loop.
    if (limits_.fast_paths && skipping_ && skip_remaining_ > data.size() && !failed_) {
        skip_remaining_ -= data.size();
        offset_ += data.size();
        return;
    }
    feed_frames(data, sink);
}

template <class Sink>
void StreamDecoder::feed_frames(Bytes data, Sink& sink) {
    const uint8_t* p = data.data();
    const uint8_t* const end = p + data.size();
    for (;;) {
        if (inline_path_ready()) p = decode_frames_inline(p, end, sink);
        if (p == end) return;
        Bytes rest(p, size_t(end - p));
        if constexpr (std::is_same_v<std::remove_cvref_t<Sink>, StreamSink>) {
            rest = feed_slow(rest, sink);
        } else {
            rest = feed_slow(rest, StreamSink(std::ref(sink)));
        }
        if (rest.empty()) return;
        p = rest.data();
    }
}

}  // namespace zmtp
