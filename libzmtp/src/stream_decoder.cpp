// The incremental decoder of one direction of a ZMTP connection.
//
// Units that lie whole inside the chunk being fed are reported as views into it. A unit that
// spans chunks is collected in pending_: header bytes one at a time (the header says how many
// bytes the unit needs), then the rest as it arrives. Oversized bodies are counted, not kept.
#include "zmtp/stream_decoder.hpp"

#include <algorithm>
#include <limits>

namespace zmtp {

namespace {

constexpr size_t signature_size = 10;
constexpr uint64_t invalid_unit = std::numeric_limits<uint64_t>::max();

// How long this direction's greeting is and which framing follows it.
struct GreetingPlan {
    bool decided = false;
    bool invalid = false;     // the identity frame's header is invalid, or it is too long
    uint32_t size = 0;        // the whole greeting, identity frame included
    uint32_t fixed_size = 0;  // 64, 12, or 0 for a ZMTP 1.0 stream (no signature of its own)
    Framing framing = Framing::Unknown;
    bool signature_is_identity_header = false;  // libzmq answering a ZMTP 1.0 peer
    FrameHeader identity;                       // 1.0 and 2.0: the identity frame's header
};

GreetingPlan decided(uint32_t fixed_size, Framing framing,
                     bool signature_is_identity_header = false) {
    GreetingPlan plan;
    plan.decided = true;
    plan.size = plan.fixed_size = fixed_size;
    plan.framing = framing;
    plan.signature_is_identity_header = signature_is_identity_header;
    return plan;
}

// docs/protocol.md 1.2 and 1.5. Bytes 10 onwards of a libzmq side depend on what the other side
// sent first, so the peer's signature decides when it is known; otherwise byte 12 does: a
// mechanism letter in a 64-byte greeting, the flags 0x00 of a 2.0 identity frame after
// libzmq's 12-byte answer.
GreetingPlan plan_fixed_part(Bytes b, const SignatureInfo& peer) {
    if (b.empty()) return {};
    if (b[0] != 0xFF) return decided(0, Framing::V1);
    if (b.size() < signature_size) return {};
    if ((b[9] & 0x01) == 0) return decided(0, Framing::V1);
    if (peer.known && peer.unversioned) return decided(0, Framing::V1, true);
    if (b.size() < signature_size + 1) return {};
    const uint8_t revision = b[10];
    if (revision == 0) return decided(greeting_v2_size, Framing::V1);
    if (revision == 1) return decided(greeting_v2_size, Framing::V2);
    if (peer.revision == 0) return decided(greeting_v2_size, Framing::V1);
    if (peer.revision == 1) return decided(greeting_v2_size, Framing::V2);
    if (peer.revision >= 2) return decided(greeting_v3_size, Framing::V3);
    if (b.size() < greeting_v2_size + 1) return {};
    if (b[12] == 0x00) return decided(greeting_v2_size, Framing::V2);
    return decided(greeting_v3_size, Framing::V3);
}

// A ZMTP 1.0 or 2.0 greeting ends with the sender's identity frame (RFC 13, RFC 15;
// docs/protocol.md 1.3 and 1.4), in the framing that follows. libzmq answering a 1.0 peer: its
// 10 signature bytes are that frame's header (a long V1 length, flags 0x7F).
GreetingPlan plan_greeting(Bytes b, const SignatureInfo& peer) {
    GreetingPlan plan = plan_fixed_part(b, peer);
    if (!plan.decided || plan.framing == Framing::V3) return plan;
    if (b.size() < plan.fixed_size) return {};
    FrameHeader& h = plan.identity;
    switch (parse_frame_header(plan.framing, b.subspan(plan.fixed_size), h)) {
        case ParseStatus::NeedMore:
            return {};
        case ParseStatus::Invalid:
            plan.invalid = true;
            return plan;
        case ParseStatus::Ok:
            break;
    }
    if (h.body_size > max_identity_size) {
        plan.invalid = true;
        return plan;
    }
    plan.size = plan.fixed_size + h.header_size + uint32_t(h.body_size);
    return plan;
}

std::string invalid_greeting_message(const GreetingPlan& plan, uint64_t offset) {
    const FrameHeader& h = plan.identity;
    const std::string where =
        "the identity frame of the greeting at stream offset " + std::to_string(offset);
    if (plan.framing == Framing::V1 && h.body_size == 0)
        return where +
               " has a ZMTP 1.0 length of 0 (it counts the flags byte, so it is at "
               "least 1); decoding of this direction stopped";
    return where + " declares " + std::to_string(h.body_size) +
           " bytes; a ZMTP 1.0 or 2.0 identity is 0 to 255 bytes (RFC 13, RFC 15); decoding of "
           "this direction stopped";
}

std::string invalid_header_message(Framing framing, const FrameHeader& header, uint64_t offset) {
    const std::string where = "frame at stream offset " + std::to_string(offset);
    if (framing == Framing::V1 && header.body_size == 0)
        return "ZMTP 1.0 " + where +
               " has length 0 (the length counts the flags byte, so it is at least 1); "
               "decoding of this direction stopped";
    const uint64_t declared = framing == Framing::V1 ? header.body_size + 1 : header.body_size;
    return where + " declares " + std::to_string(declared) +
           " bytes, more than 2^63-1; decoding of this direction stopped";
}

}  // namespace

struct StreamDecoder::Plan {
    enum class Kind : uint8_t { NeedMore, Greeting, Frame, Invalid };
    Kind kind = Kind::NeedMore;
    GreetingPlan greeting;
    FrameHeader header;
    uint64_t unit_size = 0;  // bytes of the unit on the wire
};

StreamDecoder::StreamDecoder(Limits limits) : limits_(limits) {}

void StreamDecoder::feed(Bytes data, const StreamSink& sink) {
    feed_with(data, sink);
}

Bytes StreamDecoder::feed_slow(Bytes data, const StreamSink& sink) {
    if (failed_) return {};
    if (resyncing_) {
        data = feed_resync(data, sink);
        if (resyncing_ || failed_ || data.empty()) return {};
    }
    if (!mid_stream_) remember_head(data);
    while (!failed_) {
        if (skipping_) {
            if (data.empty()) break;
            data = skip_body(data, sink);
        } else if (!pending_.empty()) {
            // Also with no data left: the last byte taken may have completed the unit.
            if (!decode_buffered(data, sink)) break;
        } else if (!data.empty()) {
            data = decode_in_place(data, sink);
        } else {
            break;
        }
        if (inline_path_ready() && !skipping_) return data;
    }
    return {};
}

void StreamDecoder::mark_gap(const StreamSink& sink, std::optional<uint64_t> lost) {
    if (failed_) return;
    if (framing_ == Framing::V1) {  // no resync for ZMTP 1.0 (docs/protocol.md 9)
        fail(StreamError::Gap, offset_, 0,
             "bytes missing after stream offset " + std::to_string(offset_) +
                 "; ZMTP 1.0 framing cannot be resynchronised, decoding of this direction stopped",
             sink);
        return;
    }
    StreamEvent event;
    event.kind = StreamEvent::Kind::Gap;
    event.offset = offset_;
    event.size = lost.value_or(0);
    event.lost_known = lost.has_value();
    if (skipping_) {
        event.cut_unit_offset = skip_unit_offset_;
    } else if (!pending_.empty()) {
        event.cut_unit_offset = offset_ - pending_.size();
    }
    skipping_ = false;
    keeping_body_ = false;
    pending_.clear();
    skipped_ += region_.size();
    region_.clear();
    offset_ += lost.value_or(0);
    resyncing_ = true;
    region_starts_segment_ = true;
    sink(event);
}

void StreamDecoder::start_mid_stream(const StreamSink& sink) {
    if (offset_ != 0 || head_size_ != 0 || failed_ || resyncing_) {
        mark_gap(sink);
        return;
    }
    mid_stream_ = true;
    resyncing_ = true;
    region_starts_segment_ = true;
    StreamEvent event;
    event.kind = StreamEvent::Kind::Gap;
    event.before_start = true;
    sink(event);
}

void StreamDecoder::mark_segment_end(const StreamSink& sink) {
    if (!resyncing_ || failed_) return;
    if (!region_.empty()) search_region(true, sink);
    region_starts_segment_ = true;
}

void StreamDecoder::finish(const StreamSink& sink) {
    if (failed_) return;
    if (resyncing_ && !region_.empty()) search_region(true, sink);
    if (resyncing_) {
        const uint64_t undecoded = skipped_ + region_.size();
        if (undecoded > 0) {
            fail(StreamError::Truncated, offset_ - undecoded, undecoded,
                 "the stream ended before a frame boundary was found: the last " +
                     std::to_string(undecoded) + " bytes were not decoded",
                 sink);
        }
        return;
    }
    uint64_t unit_offset = 0, unit_size = 0;
    if (skipping_) {
        unit_offset = skip_unit_offset_;
        unit_size = skip_unit_size_;
    } else if (!pending_.empty()) {
        unit_offset = offset_ - pending_.size();
        const Plan plan = plan_unit(pending_);
        unit_size = plan.unit_size;
    } else {
        return;
    }
    const uint64_t seen = offset_ - unit_offset;
    std::string what = greeting_done() ? "a frame" : "the greeting";
    fail(StreamError::Truncated, unit_offset, seen,
         "the stream ended inside " + what + " at stream offset " + std::to_string(unit_offset) +
             " (" + std::to_string(seen) + " of " +
             (unit_size ? std::to_string(unit_size) : std::string("?")) + " bytes)",
         sink);
}

std::optional<ResyncMatch> StreamDecoder::find_resync(Bytes region, bool starts_segment) const {
    if (!resyncing_ || failed_) return std::nullopt;
    return find_frame_boundary(region, starts_segment, true, hints_);
}

void StreamDecoder::skip(uint64_t count) {
    if (!resyncing_ || failed_) return;
    offset_ += count;
    skipped_ += count;
}

void StreamDecoder::resync_here(ResyncEvidence evidence, const StreamSink& sink) {
    if (!resyncing_ || failed_) return;
    resyncing_ = false;
    skipped_ += region_.size();
    region_.clear();
    if (framing_ == Framing::Unknown) {
        framing_ = hints_.framing == Framing::V2 ? Framing::V2 : Framing::V3;
        mid_stream_ = true;  // no greeting: signature() says nothing
    }
    StreamEvent event;
    event.kind = StreamEvent::Kind::Resync;
    event.offset = offset_;
    event.skipped = skipped_;
    event.evidence = evidence;
    skipped_ = 0;
    sink(event);
}

// A smaller Limits::resync_window is raised to this: a region must hold a CURVE MESSAGE signature
// (25 bytes) and a few frame headers, and one of 0 would never take a byte.
constexpr uint64_t min_resync_window = 64;

// Takes `data` into the region being searched; a region that reaches resync_window without a
// segment end is searched as it is. Returns what follows a boundary, once one is found (the
// caller decodes it).
Bytes StreamDecoder::feed_resync(Bytes data, const StreamSink& sink) {
    while (resyncing_ && !failed_ && !data.empty()) {
        const size_t window =
            static_cast<size_t>(std::max(limits_.resync_window, min_resync_window));
        const size_t n = std::min(window - std::min(window, region_.size()), data.size());
        region_.insert(region_.end(), data.begin(), data.begin() + n);
        offset_ += n;
        data = data.subspan(n);
        if (region_.size() >= window) search_region(false, sink);
    }
    return data;
}

// Searches the region; on a boundary, decodes the region's bytes from it on. Without one, the
// region is given up, but for its last bytes when it did not end a segment (a signature may
// straddle two windows).
bool StreamDecoder::search_region(bool ends_segment, const StreamSink& sink) {
    const auto match = find_frame_boundary(region_, region_starts_segment_, ends_segment, hints_);
    if (!match) {
        constexpr size_t kept_tail = 24;
        const size_t keep = ends_segment ? 0 : std::min(kept_tail, region_.size());
        skipped_ += region_.size() - keep;
        region_.erase(region_.begin(), region_.end() - static_cast<std::ptrdiff_t>(keep));
        region_starts_segment_ = ends_segment;
        return false;
    }
    std::vector<uint8_t> rest(region_.begin() + static_cast<std::ptrdiff_t>(match->skip),
                              region_.end());
    skipped_ += match->skip;
    region_.clear();
    offset_ -= rest.size();  // accepted again as they are decoded
    resync_here(match->evidence, sink);
    if (!rest.empty() && !failed_) feed(rest, sink);
    return true;
}

SignatureInfo StreamDecoder::signature() const {
    SignatureInfo info;
    if (head_size_ == 0 || mid_stream_) return info;
    info.known = true;
    const bool no_greeting = greeting_done() && greeting_fixed_size_ == 0;
    if (no_greeting || head_[0] != 0xFF || (head_size_ >= signature_size && !(head_[9] & 1))) {
        info.unversioned = true;
        return info;
    }
    if (head_size_ > signature_size) info.revision = head_[10];
    const bool short_greeting = greeting_done() && greeting_fixed_size_ == greeting_v2_size;
    if (head_size_ >= greeting_v2_size && info.revision >= 2 && !short_greeting)
        info.minor = head_[11];
    return info;
}

uint64_t StreamDecoder::next_unit_size(Bytes data) const {
    if (failed_) return invalid_unit;
    if (greeting_done()) return frame_unit_size(framing_, data);
    const GreetingPlan plan = plan_greeting(data, peer_);
    if (plan.invalid) return invalid_unit;
    return plan.decided ? plan.size : 0;
}

uint64_t StreamDecoder::frame_unit_size(Framing framing, Bytes data) {
    FrameHeader header;
    switch (parse_frame_header(framing, data, header)) {
        case ParseStatus::Ok:
            return header.header_size + header.body_size;
        case ParseStatus::NeedMore:
            return 0;
        case ParseStatus::Invalid:
            break;
    }
    return invalid_unit;
}

std::string StreamDecoder::invalid_unit_message(const Plan& plan, uint64_t offset) const {
    if (!greeting_done()) return invalid_greeting_message(plan.greeting, offset);
    return invalid_header_message(framing_, plan.header, offset);
}

StreamDecoder::Plan StreamDecoder::plan_unit(Bytes data) const {
    Plan plan;
    if (framing_ == Framing::Unknown) {
        plan.greeting = plan_greeting(data, peer_);
        if (plan.greeting.invalid) {
            plan.kind = Plan::Kind::Invalid;
            plan.header = plan.greeting.identity;
        } else if (plan.greeting.decided) {
            plan.kind = Plan::Kind::Greeting;
            plan.unit_size = plan.greeting.size;
        }
        return plan;
    }
    switch (parse_frame_header(framing_, data, plan.header)) {
        case ParseStatus::NeedMore:
            plan.kind = Plan::Kind::NeedMore;
            break;
        case ParseStatus::Invalid:
            plan.kind = Plan::Kind::Invalid;
            break;
        case ParseStatus::Ok:
            plan.kind = Plan::Kind::Frame;
            plan.unit_size = plan.header.header_size + plan.header.body_size;
            break;
    }
    return plan;
}

// Reports the unit at the start of `data` if it lies whole inside it; otherwise keeps it (or
// starts skipping it). Returns the bytes not yet accepted.
Bytes StreamDecoder::decode_in_place(Bytes data, const StreamSink& sink) {
    const Plan plan = plan_unit(data);
    const uint64_t unit_offset = offset_;
    if (plan.kind == Plan::Kind::Invalid) {
        fail(StreamError::BadLength, unit_offset, plan.header.header_size,
             invalid_unit_message(plan, unit_offset), sink);
        return {};
    }
    if (plan.kind == Plan::Kind::Frame && skips_body(plan.header)) {
        const uint64_t seen = std::min<uint64_t>(plan.unit_size, data.size());
        offset_ += seen;
        begin_skip(plan.header, unit_offset, plan.unit_size, seen, sink);
        return data.subspan(seen);
    }
    if (plan.kind == Plan::Kind::NeedMore || plan.unit_size > data.size()) {
        keeping_body_ = plan.kind == Plan::Kind::Frame;
        pending_.assign(data.begin(), data.end());
        offset_ += data.size();
        return {};
    }
    if (plan.kind == Plan::Kind::Greeting) {
        emit_greeting(plan, data, unit_offset, sink);
    } else {
        emit_frame(plan.header, data.subspan(plan.header.header_size, plan.header.body_size), false,
                   unit_offset, plan.unit_size, sink);
    }
    offset_ += plan.unit_size;
    return data.subspan(plan.unit_size);
}

// Moves bytes of `data` into the unit in progress and reports it once complete. Returns
// false when it needs more bytes than `data` holds.
bool StreamDecoder::decode_buffered(Bytes& data, const StreamSink& sink) {
    const Plan plan = plan_unit(pending_);
    const uint64_t unit_offset = offset_ - pending_.size();
    auto take = [&](uint64_t count) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(count, data.size()));
        pending_.insert(pending_.end(), data.begin(), data.begin() + n);
        offset_ += n;
        data = data.subspan(n);
    };
    switch (plan.kind) {
        case Plan::Kind::NeedMore:
            // One byte at a time: each header byte may change how many more are needed.
            if (data.empty()) return false;
            take(1);
            return true;
        case Plan::Kind::Invalid:
            fail(StreamError::BadLength, unit_offset, plan.header.header_size,
                 invalid_unit_message(plan, unit_offset), sink);
            return true;
        case Plan::Kind::Frame:
            // Decided once per unit: a skip switched on meanwhile does not cut a kept body.
            if (!keeping_body_ && skips_body(plan.header)) {
                const uint64_t seen = std::min<uint64_t>(plan.unit_size, pending_.size());
                drop_buffered(static_cast<size_t>(seen));
                begin_skip(plan.header, unit_offset, plan.unit_size, seen, sink);
                return true;
            }
            keeping_body_ = true;
            break;
        case Plan::Kind::Greeting:
            break;
    }
    if (pending_.size() < plan.unit_size) take(plan.unit_size - pending_.size());
    if (pending_.size() < plan.unit_size) return false;
    const Bytes unit(pending_.data(), static_cast<size_t>(plan.unit_size));
    if (plan.kind == Plan::Kind::Greeting) {
        emit_greeting(plan, pending_, unit_offset, sink);
    } else {
        emit_frame(plan.header, unit.subspan(plan.header.header_size), false, unit_offset,
                   plan.unit_size, sink);
    }
    drop_buffered(unit.size());
    return true;
}

Bytes StreamDecoder::skip_body(Bytes data, const StreamSink& sink) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_remaining_, data.size()));
    skip_remaining_ -= n;
    offset_ += n;
    if (skip_remaining_ == 0) {
        skipping_ = false;
        emit_frame(skip_header_, {}, true, skip_unit_offset_, skip_unit_size_, sink);
    }
    return data.subspan(n);
}

void StreamDecoder::begin_skip(const FrameHeader& header, uint64_t unit_offset, uint64_t unit_size,
                               uint64_t bytes_seen, const StreamSink& sink) {
    if (bytes_seen >= unit_size) {
        emit_frame(header, {}, true, unit_offset, unit_size, sink);
        return;
    }
    skipping_ = true;
    skip_remaining_ = unit_size - bytes_seen;
    skip_header_ = header;
    skip_unit_offset_ = unit_offset;
    skip_unit_size_ = unit_size;
}

void StreamDecoder::emit_greeting(const Plan& plan, Bytes data, uint64_t offset,
                                  const StreamSink& sink) {
    const GreetingPlan& g = plan.greeting;
    StreamEvent event;
    event.kind = StreamEvent::Kind::Greeting;
    event.offset = offset;
    event.size = g.size;
    Greeting& greeting = event.greeting;
    if (g.fixed_size > 0) greeting = *parse_greeting(data, g.fixed_size);
    if (g.signature_is_identity_header) {
        greeting.signature_padding = read_be64(&data[1]);
        greeting.versioned = true;
        greeting.downgraded = true;
    }
    greeting.framing = g.framing;
    greeting.size = g.size;
    if (g.framing != Framing::V3) {
        greeting.identity_offset = g.fixed_size + g.identity.header_size;
        const Bytes identity = data.subspan(greeting.identity_offset, size_t(g.identity.body_size));
        greeting.identity = std::string(as_text(identity));
    }
    event.body = data.first(g.size);
    framing_ = g.framing;
    greeting_fixed_size_ = g.fixed_size;
    sink(event);
}

void StreamDecoder::emit_frame(FrameHeader header, Bytes body, bool skipped, uint64_t offset,
                               uint64_t size, const StreamSink& sink) {
    StreamEvent event;
    event.kind = StreamEvent::Kind::Frame;
    event.offset = offset;
    event.size = size;
    event.header = header;
    event.body = body;
    event.body_skipped = skipped;
    sink(event);
}

void StreamDecoder::fail(StreamError error, uint64_t offset, uint64_t size, std::string message,
                         const StreamSink& sink) {
    failed_ = true;
    skipping_ = false;
    keeping_body_ = false;
    std::vector<uint8_t>().swap(pending_);
    StreamEvent event;
    event.kind = StreamEvent::Kind::Error;
    event.offset = offset;
    event.size = size;
    event.error = error;
    event.message = std::move(message);
    sink(event);
}

// Forgets the first `count` buffered bytes (a reported unit); what follows them is the start
// of the next unit. The capacity stays: it is at most the largest unit that really arrived, and
// giving it back made every large frame grow the buffer again from nothing.
void StreamDecoder::drop_buffered(size_t count) {
    keeping_body_ = false;
    pending_.erase(pending_.begin(), pending_.begin() + count);
}

void StreamDecoder::remember_head(Bytes data) {
    const size_t n = std::min(head_.size() - head_size_, data.size());
    std::copy_n(data.begin(), n, head_.begin() + head_size_);
    head_size_ += static_cast<uint8_t>(n);
}

}  // namespace zmtp
