// One direction of a TCP connection: puts segments back in order and hands out the bytes
// in stream order, each chunk with the capture time at which it became complete.
//
// Retransmissions and overlaps are trimmed (the first copy of a byte wins), out-of-order
// segments wait in a bounded buffer. A hole becomes a permanent gap when the peer has
// acknowledged past it and it stays unfilled for a while (the capture lost the segment),
// when the buffer cap is reached, when the capture cut the bytes off (snaplen), or when
// the stream ends with the hole still open. After a gap the stream delivers nothing more.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "capture/packet.hpp"

namespace zmtp::capture {

struct StreamLimits {
    size_t max_buffered_bytes = 16u << 20;  // out-of-order bytes held per direction
    uint64_t reorder_packets = 64;          // packets a hole may wait once acknowledged
    Timestamp reorder_time = 2 * ns_per_s;  // time a hole may wait once acknowledged
};

struct StreamChunk {
    uint64_t offset = 0;  // stream offset of data[0]
    Bytes data;
    Timestamp time = 0;  // when these bytes became available in order
};
using ChunkSink = std::function<void(const StreamChunk&)>;

enum class SegmentKind : uint8_t {
    Empty,           // no payload (pure ACK, SYN, FIN, RST)
    InOrder,         // new bytes, delivered now
    OutOfOrder,      // new bytes after a hole, buffered
    Retransmission,  // nothing new
    Overlap,         // partly old, the new part was used
    KeepAlive,       // a TCP keep-alive probe (0 or 1 byte at next-1)
    AfterGap,        // the stream has stopped at a gap
};

struct StreamCounters {
    uint64_t segments = 0;  // with payload
    uint64_t payload_bytes = 0;
    uint64_t retransmissions = 0;
    uint64_t out_of_order = 0;
    uint64_t overlaps = 0;
    uint64_t keepalives = 0;
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
    // Turns a hole into a gap once it has waited long enough after being acknowledged.
    void check_hole(Timestamp now, uint64_t packet_index);
    // The connection (or the capture) ended: a hole still open becomes a gap.
    void finish();

    // The reason of a gap not yet taken by the caller (reported once).
    std::optional<std::string> take_new_gap();
    bool has_gap() const { return gap_; }

    uint64_t next_offset() const { return next_; }
    // The stream offset of a sequence number (an ACK of this direction's bytes), at most the
    // FIN's offset; nullopt before the stream started.
    std::optional<uint64_t> acked_offset(uint32_t ack) const;
    std::optional<uint64_t> fin_offset() const { return fin_offset_; }
    // All bytes up to the FIN are delivered (or the stream stopped at a gap).
    bool complete() const { return gap_ || (fin_offset_ && next_ >= *fin_offset_); }
    size_t buffered_bytes() const { return buffered_bytes_; }
    const StreamCounters& counters() const { return counters_; }

  private:
    struct Pending {
        std::vector<uint8_t> bytes;
    };

    int64_t offset_of(uint32_t seq) const;
    void deliver(uint64_t offset, Bytes data, Timestamp time, const ChunkSink& sink);
    void drain(Timestamp time, const ChunkSink& sink);
    void check_cut_off();
    void buffer(uint64_t offset, Bytes data);
    void enter_gap(std::string reason);

    StreamLimits limits_;
    bool started_ = false;
    uint32_t first_seq_ = 0;
    uint64_t next_ = 0;
    std::map<uint64_t, Pending> pending_;  // by stream offset
    size_t buffered_bytes_ = 0;
    std::map<uint64_t, uint64_t> cut_off_;  // start -> end of bytes lost to snaplen
    std::optional<uint64_t> fin_offset_;
    std::optional<uint64_t> acked_hole_at_;  // next_ when the peer acknowledged past it
    Timestamp acked_hole_time_ = 0;
    uint64_t acked_hole_packet_ = 0;
    uint64_t acked_hole_end_ = 0;
    bool gap_ = false;
    std::optional<std::string> new_gap_;
    StreamCounters counters_;
};

}  // namespace zmtp::capture
