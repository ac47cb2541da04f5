#include "capture/tcp_stream.hpp"

#include <algorithm>

namespace capture {
namespace {

constexpr size_t recent_gaps_kept = 8;

}  // namespace

std::string StreamGap::describe() const {
    const std::string n = std::to_string(size);
    const std::string at = std::to_string(offset);
    switch (cause) {
        case GapCause::AckedButMissing:
            return "the peer acknowledged " + n + " bytes at stream offset " + at +
                   " that the capture does not have";
        case GapCause::BufferLimit:
            return n + " bytes missing at stream offset " + at +
                   ", given up when the out-of-order bytes after them reached the buffer cap";
        case GapCause::SnapLen:
            return "the capture cut off " + n + " bytes at stream offset " + at +
                   " (snapshot length)";
        case GapCause::MissingAtEnd:
            return n + " bytes missing at stream offset " + at + " when the connection ended";
        case GapCause::StartedLate:
            return "the capture started in the middle of this direction's stream";
    }
    return "bytes missing";
}

void TcpStream::start_at(uint32_t first_seq) {
    started_ = true;
    first_seq_ = first_seq;
    next_ = 0;
}

// Offsets are 64-bit; sequence numbers wrap at 2^32. A segment lies within 2 GiB of next_.
int64_t TcpStream::offset_of(uint32_t seq) const {
    const uint32_t next_seq = first_seq_ + uint32_t(next_);
    return int64_t(next_) + int32_t(seq - next_seq);
}

SegmentKind TcpStream::add(const TcpSegment& segment, const ChunkSink& sink) {
    if (!started_) start_at(segment.seq);
    const int64_t offset = offset_of(segment.seq);
    const uint64_t size = segment.payload_size();
    const int64_t end = offset + int64_t(size);
    if (segment.has(tcp_flag::fin) && end >= 0 && !fin_offset_) fin_offset_ = uint64_t(end);
    // A keep-alive probe repeats the last byte sent (or carries none) at next - 1.
    const bool control = segment.has(tcp_flag::syn | tcp_flag::fin | tcp_flag::rst);
    if (size <= 1 && offset == int64_t(next_) - 1 && !control) {
        counters_.keepalives++;
        return SegmentKind::KeepAlive;
    }
    if (size == 0) return SegmentKind::Empty;

    counters_.segments++;
    counters_.payload_bytes += size;
    if (end <= int64_t(next_)) {
        if (end > 0 && was_lost(uint64_t(std::max<int64_t>(offset, 0)), uint64_t(end))) {
            counters_.late++;
            return SegmentKind::Late;
        }
        counters_.retransmissions++;
        return SegmentKind::Retransmission;
    }

    const int64_t captured_end = offset + int64_t(segment.payload.size());
    const bool segment_end = segment.payload_missing == 0;
    if (!segment_end) {
        uint64_t& cut_end = cut_off_[uint64_t(std::max(captured_end, int64_t(next_)))];
        cut_end = std::max(cut_end, uint64_t(end));
    }
    const std::optional<uint32_t> ack =
        segment.has(tcp_flag::ack) ? std::optional<uint32_t>(segment.ack) : std::nullopt;

    const bool overlap = offset < int64_t(next_);
    const uint64_t skip = overlap ? next_ - uint64_t(offset) : 0;
    if (overlap) counters_.overlaps++;
    const Bytes fresh =
        skip < segment.payload.size() ? segment.payload.subspan(size_t(skip)) : Bytes{};
    const uint64_t fresh_offset = uint64_t(offset) + skip;
    if (fresh_offset > next_) {
        counters_.out_of_order++;
        buffer(fresh_offset, fresh, segment, segment_end, sink);
        return SegmentKind::OutOfOrder;
    }
    if (!fresh.empty()) deliver(fresh_offset, fresh, segment.time, segment_end, ack, sink);
    advance(segment.time, sink);
    return overlap ? SegmentKind::Overlap : SegmentKind::InOrder;
}

void TcpStream::deliver(uint64_t offset, Bytes data, Timestamp time, bool segment_end,
                        std::optional<uint32_t> ack, const ChunkSink& sink) {
    next_ = offset + data.size();
    last_time_ = time;
    hole_armed_ = false;
    if (sink) sink(StreamChunk{offset, data, time, segment_end, ack, nullptr});
}

// Delivers what the buffer holds from next_ on, stepping over bytes the capture cut off.
// `floor`: the earliest time of these deliveries (the time of the segment that filled a hole;
// after a gap, that of the bytes delivered before it).
void TcpStream::advance(Timestamp floor, const ChunkSink& sink) {
    for (;;) {
        while (!pending_.empty() && pending_.begin()->first <= next_) {
            auto node = pending_.extract(pending_.begin());
            const Pending& p = node.mapped();
            buffered_bytes_ -= p.bytes.size();
            const uint64_t offset = node.key();
            const uint64_t end = offset + p.bytes.size();
            if (end <= next_) continue;
            floor = std::max(floor, p.time);
            deliver(next_, Bytes(p.bytes).subspan(size_t(next_ - offset)), floor, p.segment_end,
                    p.ack, sink);
        }
        while (!cut_off_.empty() && cut_off_.begin()->second <= next_)
            cut_off_.erase(cut_off_.begin());
        if (cut_off_.empty() || cut_off_.begin()->first > next_) return;
        step_over(GapCause::SnapLen, cut_off_.begin()->second, last_time_, sink);
    }
}

void TcpStream::step_over(GapCause cause, uint64_t to, Timestamp evidence, const ChunkSink& sink) {
    if (to <= next_) return;
    StreamGap gap{cause, next_, to - next_, std::max(evidence, last_time_)};
    next_ = to;
    last_time_ = gap.time;
    hole_armed_ = false;
    counters_.gaps++;
    counters_.lost_bytes += gap.size;
    if (recent_gaps_.size() == recent_gaps_kept) recent_gaps_.erase(recent_gaps_.begin());
    recent_gaps_.emplace_back(gap.offset, to);
    if (sink) sink(StreamChunk{gap.offset, {}, gap.time, true, std::nullopt, &gap});
}

// The hole at next_ is given up: it ends where the next bytes the capture has (or knows of,
// cut off) begin, else at the highest acknowledgement. Then what follows it is delivered.
void TcpStream::step_over_hole(GapCause cause, Timestamp now, const ChunkSink& sink) {
    uint64_t to = acked_end();
    Timestamp evidence = now;
    if (hole_armed_) evidence = std::min(evidence, hole_time_);
    if (!pending_.empty()) {
        to = pending_.begin()->first;
        evidence = std::min(evidence, pending_.begin()->second.time);
    }
    if (!cut_off_.empty() && (pending_.empty() || cut_off_.begin()->first < to))
        to = cut_off_.begin()->first;
    step_over(cause, to, evidence, sink);
    advance(last_time_, sink);
}

void TcpStream::buffer(uint64_t offset, Bytes data, const TcpSegment& segment, bool segment_end,
                       const ChunkSink& sink) {
    if (data.empty()) return;
    auto it = pending_.find(offset);
    if (it != pending_.end()) {
        if (it->second.bytes.size() >= data.size()) return;  // a duplicate
        buffered_bytes_ -= it->second.bytes.size();
        pending_.erase(it);
    }
    const std::optional<uint32_t> ack =
        segment.has(tcp_flag::ack) ? std::optional<uint32_t>(segment.ack) : std::nullopt;
    // At the cap, the oldest hole is given up until these bytes fit (or are in order).
    while (offset > next_ && buffered_bytes_ + data.size() > limits_.max_buffered_bytes) {
        uint64_t to = offset;
        Timestamp evidence = segment.time;
        if (!pending_.empty() && pending_.begin()->first < to) {
            to = pending_.begin()->first;
            evidence = std::min(evidence, pending_.begin()->second.time);
        }
        if (!cut_off_.empty()) to = std::min(to, cut_off_.begin()->first);
        step_over(GapCause::BufferLimit, to, evidence, sink);
        advance(last_time_, sink);
    }
    if (offset <= next_) {
        if (offset + data.size() > next_)
            deliver(next_, data.subspan(size_t(next_ - offset)), std::max(segment.time, last_time_),
                    segment_end, ack, sink);
        advance(last_time_, sink);
        return;
    }
    Pending& p = pending_[offset];
    p.bytes.assign(data.begin(), data.end());
    p.time = segment.time;
    p.segment_end = segment_end;
    p.ack = ack;
    buffered_bytes_ += data.size();
}

// The end of the bytes the peer acknowledged (a FIN takes a sequence number, not a byte).
uint64_t TcpStream::acked_end() const {
    return fin_offset_ ? std::min(max_acked_, *fin_offset_) : max_acked_;
}

bool TcpStream::was_lost(uint64_t begin, uint64_t end) const {
    return std::any_of(recent_gaps_.begin(), recent_gaps_.end(),
                       [&](const auto& g) { return begin < g.second && g.first < end; });
}

std::optional<uint64_t> TcpStream::acked_offset(uint32_t ack) const {
    if (!started_) return std::nullopt;
    int64_t acked = std::max<int64_t>(0, offset_of(ack));
    if (fin_offset_) acked = std::min(acked, int64_t(*fin_offset_));
    return uint64_t(acked);
}

void TcpStream::peer_acked(uint32_t ack, Timestamp now, uint64_t packet_index) {
    if (!started_) return;
    const int64_t acked = offset_of(ack);
    if (acked > int64_t(max_acked_)) max_acked_ = uint64_t(acked);
    if (!hole_armed_ && acked_end() > next_) {
        hole_armed_ = true;
        hole_time_ = now;
        hole_packet_ = packet_index;
    }
}

void TcpStream::check_hole(Timestamp now, uint64_t packet_index, const ChunkSink& sink) {
    if (!started_) return;
    if (acked_end() <= next_) {
        hole_armed_ = false;  // e.g. the acknowledged byte was the FIN's
        return;
    }
    if (!hole_armed_) {  // a hole left after the last one was filled or stepped over
        hole_armed_ = true;
        hole_time_ = now;
        hole_packet_ = packet_index;
        return;
    }
    const bool waited_packets = packet_index - hole_packet_ >= limits_.reorder_packets;
    const bool waited_time = now - hole_time_ >= limits_.reorder_time;
    if (!waited_packets && !waited_time) return;
    step_over_hole(GapCause::AckedButMissing, now, sink);
}

void TcpStream::finish(Timestamp now, const ChunkSink& sink) {
    if (!started_) return;
    while (!pending_.empty() || !cut_off_.empty()) {
        const GapCause cause =
            acked_end() > next_ ? GapCause::AckedButMissing : GapCause::MissingAtEnd;
        const uint64_t before = next_;
        step_over_hole(cause, now, sink);
        if (next_ == before) break;  // cannot happen: a safeguard against looping
    }
    uint64_t end = acked_end();
    GapCause cause = GapCause::AckedButMissing;
    if (fin_offset_ && *fin_offset_ > end) {
        end = *fin_offset_;
        cause = GapCause::MissingAtEnd;
    }
    step_over(cause, end, hole_armed_ ? std::min(now, hole_time_) : now, sink);
    hole_armed_ = false;
}

}  // namespace capture
