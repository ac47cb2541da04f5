// The incremental decoder of one direction of one ZMTP connection.
//
// Feed it the bytes of one direction, in order, in chunks of any size; it calls the sink
// with one event per complete wire unit (greeting, frame) or per error. The events are
// identical for every way of splitting the same bytes. State between calls: the bytes of
// the unit in progress only, grown as they arrive (never from a declared length), capped
// by Limits::max_body_size (larger bodies are skipped, the frame is still reported).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zmtp/wire.hpp"

namespace zmtp {

enum class StreamError : uint8_t {
    None,
    BadLength,      // V1 length 0, or a declared size above 2^63-1 (fatal)
    Gap,            // the caller reported missing bytes (fatal)
};
std::string_view stream_error_name(StreamError e);

struct StreamEvent {
    enum class Kind : uint8_t { Greeting, Frame, Error };
    Kind kind = Kind::Frame;
    uint64_t offset = 0;  // stream offset of the unit's first byte
    uint64_t size = 0;    // bytes of the unit on the wire (header + body)

    Greeting greeting;    // Kind::Greeting (size 0 for a ZMTP 1.0 peer, which has none)

    FrameHeader header;   // Kind::Frame
    Bytes body;           // Kind::Frame; valid only during the callback
    bool body_skipped = false;  // body larger than Limits::max_body_size: not delivered

    StreamError error = StreamError::None;  // Kind::Error
    std::string message;                    // Kind::Error: for people
};

using StreamSink = std::function<void(const StreamEvent&)>;

// What is known of a direction's first bytes: what the other direction needs to know how
// long its own greeting is (libzmq answers a 2.0 peer with a 12-byte greeting, a 1.0 peer
// with none; PROTOCOL-FACTS 1.2 and 1.5).
struct SignatureInfo {
    bool known = false;        // at least the first byte was seen
    bool unversioned = false;  // ZMTP 1.0 peer: no greeting at all
    int revision = -1;         // byte 10 once seen: 0, 1 (2.0) or 3 (3.x)
    int minor = -1;            // byte 11 of a 3.x greeting, once seen
};

struct Limits {
    uint64_t max_body_size = 256ull << 20;  // bodies above this are skipped, not buffered
};

class StreamDecoder {
public:
    explicit StreamDecoder(Limits limits = {});

    void feed(Bytes data, const StreamSink& sink);
    // The caller lost bytes: report a Gap error and stop decoding this direction.
    void mark_gap(const StreamSink& sink);

    // The other direction's first bytes, as far as they are known. Call before feeding
    // this direction past its first 10 bytes where possible; without it the decoder
    // decides from its own bytes (byte 12 is a mechanism letter for a 64-byte greeting).
    void set_peer_signature(const SignatureInfo& peer) { peer_ = peer; }
    SignatureInfo signature() const;

    Framing framing() const { return framing_; }  // Unknown until the greeting is done
    bool greeting_done() const { return framing_ != Framing::Unknown; }
    bool failed() const { return failed_; }
    uint64_t offset() const { return offset_; }  // bytes consumed so far

    // For callers that reassemble units themselves (Wireshark's tcp_dissect_pdus): the
    // size of the next unit that starts at `data` (this decoder's current position), or 0
    // when more bytes are needed to tell. Does not change the decoder.
    uint64_t next_unit_size(Bytes data) const;

    // The size of the frame at the start of `data` in the given framing; 0 = need more,
    // UINT64_MAX = invalid header.
    static uint64_t frame_unit_size(Framing framing, Bytes data);

private:
    Limits limits_;
    SignatureInfo peer_;
    Framing framing_ = Framing::Unknown;
    bool failed_ = false;
    uint64_t offset_ = 0;       // stream offset of pending_[0]
    std::vector<uint8_t> pending_;  // bytes of the unit in progress
    uint64_t skip_remaining_ = 0;   // body bytes still to skip (oversized body)
    FrameHeader skip_header_{};
    uint64_t skip_unit_offset_ = 0;
    uint64_t skip_unit_size_ = 0;
};

}  // namespace zmtp
