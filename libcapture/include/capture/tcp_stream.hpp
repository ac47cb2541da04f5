// One direction of a TCP connection: puts segments back in order and hands out the bytes
// in stream order, each chunk with the capture time at which it became complete.
//
// Retransmissions and overlaps are trimmed (the first copy of a byte wins), out-of-order
// segments wait in a bounded buffer. A hole becomes a gap when the peer has acknowledged past
// it and it stays unfilled for a while (the capture lost the segment), when the buffer cap is
// reached, when the capture cut the bytes off (snaplen), or when the stream ends with the hole
// still open. A gap is stepped over: the sink gets a gap notice (cause, offset, lost bytes),
// then the bytes that follow it. Offsets stay TCP stream positions (the lost bytes count), so
// the bytes after a gap keep the offsets the sender gave them (docs/protocol.md 9).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/packet.hpp"
#include "enum_names.hpp"

namespace capture {

struct StreamLimits {
    size_t max_buffered_bytes = 16u << 20;  // out-of-order bytes held per direction
    uint64_t reorder_packets = 64;          // packets a hole may wait once acknowledged
    Timestamp reorder_time = 2 * ns_per_s;  // time a hole may wait once acknowledged
};

// Why bytes of a stream are missing.
enum class GapCause : uint8_t {
    AckedButMissing,  // the peer acknowledged them, they did not turn up (the capture lost them)
    BufferLimit,      // more than max_buffered_bytes waited behind the hole
    SnapLen,          // the capture cut the packet short (snapshot length)
    MissingAtEnd,     // the connection or the capture ended with the hole still open
    StartedLate,      // the capture joined the stream after its first byte (set by a user that
                      // follows streams joined late; how many bytes came before is unknown)
};
inline constexpr std::array<enum_names::Named<GapCause>, 5> gap_cause_names = {{
    {GapCause::AckedButMissing, "acked-but-missing"},
    {GapCause::BufferLimit, "buffer-limit"},
    {GapCause::SnapLen, "snaplen"},
    {GapCause::MissingAtEnd, "missing-at-end"},
    {GapCause::StartedLate, "started-late"},
}};
static_assert(enum_names::covers(gap_cause_names, GapCause::StartedLate));
constexpr std::string_view gap_cause_name(GapCause c) {
    return enum_names::name_of(gap_cause_names, c, "?");
}

// Bytes [offset, offset + size) of the stream are lost.
struct StreamGap {
    GapCause cause = GapCause::MissingAtEnd;
    uint64_t offset = 0;
    uint64_t size = 0;
    // The first evidence of the loss: the arrival of the bytes after the hole or of the
    // acknowledgement past it (never before the bytes delivered ahead of the gap).
    Timestamp time = 0;
    std::string describe() const;  // for people
};

struct StreamChunk {
    uint64_t offset = 0;  // stream offset of data[0] (of the gap, when `gap` is set)
    Bytes data;
    Timestamp time = 0;  // when these bytes became available in order
    // data's last byte is the last of a TCP segment (false: the capture cut the segment, a
    // SnapLen gap follows).
    bool segment_end = true;
    // The acknowledgement number of the segment that carried these bytes, if it had ACK set.
    std::optional<uint32_t> ack;
    // Set: this is no bytes but a gap notice (data empty, offset == gap->offset). The bytes
    // delivered next start at gap->offset + gap->size (or later, after another gap).
    const StreamGap* gap = nullptr;
};
using ChunkSink = std::function<void(const StreamChunk&)>;

enum class SegmentKind : uint8_t {
    Empty,           // no payload (pure ACK, SYN, FIN, RST)
    InOrder,         // new bytes, delivered now
    OutOfOrder,      // new bytes after a hole, buffered
    Retransmission,  // nothing new
    Overlap,         // partly old, the new part was used
    KeepAlive,       // a TCP keep-alive probe (0 or 1 byte at next-1)
    Late,            // nothing new: bytes already reported lost in a gap arrived after all
};

struct StreamCounters {
    uint64_t segments = 0;  // with payload
    uint64_t payload_bytes = 0;
    uint64_t retransmissions = 0;
    uint64_t out_of_order = 0;
    uint64_t overlaps = 0;
    uint64_t keepalives = 0;
    uint64_t gaps = 0;        // gaps stepped over
    uint64_t lost_bytes = 0;  // in those gaps
    uint64_t late = 0;        // SegmentKind::Late segments
};

class TcpStream {
  public:
    explicit TcpStream(StreamLimits limits = {}) : limits_(limits) {}

    // The sequence number of the stream's first byte (ISN + 1, or the first seq seen).
    void start_at(uint32_t first_seq);
    bool started() const { return started_; }

    // A segment sent in this direction.
    SegmentKind add(const TcpSegment& segment, const ChunkSink& sink);
    // The other direction acknowledged `ack`.
    void peer_acked(uint32_t ack, Timestamp now, uint64_t packet_index);
    // Steps over a hole once it has waited long enough after being acknowledged.
    void check_hole(Timestamp now, uint64_t packet_index, const ChunkSink& sink);
    // The connection (or the capture) ended at `now`: every hole still open is stepped over
    // (MissingAtEnd, or AckedButMissing when acknowledged), so all buffered bytes are
    // delivered, and so are gaps up to the FIN or the highest acknowledgement.
    void finish(Timestamp now, const ChunkSink& sink);

    uint64_t next_offset() const { return next_; }
    // The stream offset of a sequence number (an ACK of this direction's bytes), at most the
    // FIN's offset; nullopt before the stream started.
    std::optional<uint64_t> acked_offset(uint32_t ack) const;
    std::optional<uint64_t> fin_offset() const { return fin_offset_; }
    // All bytes up to the FIN are delivered (or stepped over as lost).
    bool complete() const { return fin_offset_ && next_ >= *fin_offset_; }
    size_t buffered_bytes() const { return buffered_bytes_; }
    const StreamCounters& counters() const { return counters_; }

  private:
    struct Pending {
        std::vector<uint8_t> bytes;
        Timestamp time = 0;  // arrival
        bool segment_end = true;
        std::optional<uint32_t> ack;
    };

    int64_t offset_of(uint32_t seq) const;
    void deliver(uint64_t offset, Bytes data, Timestamp time, bool segment_end,
                 std::optional<uint32_t> ack, const ChunkSink& sink);
    void advance(Timestamp floor, const ChunkSink& sink);
    void step_over(GapCause cause, uint64_t to, Timestamp evidence, const ChunkSink& sink);
    void step_over_hole(GapCause cause, Timestamp now, const ChunkSink& sink);
    void buffer(uint64_t offset, Bytes data, const TcpSegment& segment, bool segment_end,
                const ChunkSink& sink);
    uint64_t acked_end() const;
    bool was_lost(uint64_t begin, uint64_t end) const;

    StreamLimits limits_;
    bool started_ = false;
    uint32_t first_seq_ = 0;
    uint64_t next_ = 0;
    Timestamp last_time_ = 0;              // of the last chunk or gap delivered
    std::map<uint64_t, Pending> pending_;  // by stream offset
    size_t buffered_bytes_ = 0;
    std::map<uint64_t, uint64_t> cut_off_;  // start -> end of bytes lost to snaplen
    std::optional<uint64_t> fin_offset_;
    uint64_t max_acked_ = 0;   // the highest stream offset the peer acknowledged
    bool hole_armed_ = false;  // the peer acknowledged past next_: the reorder window runs
    Timestamp hole_time_ = 0;
    uint64_t hole_packet_ = 0;
    std::vector<std::pair<uint64_t, uint64_t>> recent_gaps_;  // the last few, to spot Late
    StreamCounters counters_;
};

}  // namespace capture
