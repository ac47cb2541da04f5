#include "capture/tcp_stream.hpp"

#include <algorithm>

namespace zmtp::capture {

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
    if (gap_) return SegmentKind::AfterGap;
    if (end <= int64_t(next_)) {
        counters_.retransmissions++;
        return SegmentKind::Retransmission;
    }

    const int64_t captured_end = offset + int64_t(segment.payload.size());
    if (segment.payload_missing > 0)
        cut_off_.emplace(uint64_t(std::max(captured_end, int64_t(next_))), uint64_t(end));

    const bool overlap = offset < int64_t(next_);
    const uint64_t skip = overlap ? next_ - uint64_t(offset) : 0;
    if (overlap) counters_.overlaps++;
    const Bytes fresh =
        skip < segment.payload.size() ? segment.payload.subspan(size_t(skip)) : Bytes{};
    const uint64_t fresh_offset = uint64_t(offset) + skip;
    if (fresh_offset > next_) {
        counters_.out_of_order++;
        buffer(fresh_offset, fresh);
        return SegmentKind::OutOfOrder;
    }
    if (!fresh.empty()) deliver(fresh_offset, fresh, segment.time, sink);
    drain(segment.time, sink);
    check_cut_off();
    return overlap ? SegmentKind::Overlap : SegmentKind::InOrder;
}

void TcpStream::deliver(uint64_t offset, Bytes data, Timestamp time, const ChunkSink& sink) {
    next_ = offset + data.size();
    acked_hole_at_.reset();
    if (sink) sink(StreamChunk{offset, data, time});
}

void TcpStream::drain(Timestamp time, const ChunkSink& sink) {
    while (!gap_ && !pending_.empty() && pending_.begin()->first <= next_) {
        auto node = pending_.extract(pending_.begin());
        buffered_bytes_ -= node.mapped().bytes.size();
        const uint64_t offset = node.key();
        const Bytes bytes = node.mapped().bytes;
        const uint64_t end = offset + bytes.size();
        if (end > next_) deliver(next_, bytes.subspan(size_t(next_ - offset)), time, sink);
    }
}

void TcpStream::buffer(uint64_t offset, Bytes data) {
    if (data.empty()) return;
    auto it = pending_.find(offset);
    if (it != pending_.end()) {
        if (it->second.bytes.size() >= data.size()) return;  // a duplicate
        buffered_bytes_ -= it->second.bytes.size();
        pending_.erase(it);
    }
    if (buffered_bytes_ + data.size() > limits_.max_buffered_bytes) {
        enter_gap("more than " + std::to_string(limits_.max_buffered_bytes) +
                  " bytes buffered after missing bytes at stream offset " + std::to_string(next_) +
                  " (buffer cap)");
        return;
    }
    pending_[offset].bytes.assign(data.begin(), data.end());
    buffered_bytes_ += data.size();
}

void TcpStream::check_cut_off() {
    while (!cut_off_.empty() && cut_off_.begin()->second <= next_) cut_off_.erase(cut_off_.begin());
    if (gap_ || cut_off_.empty() || cut_off_.begin()->first > next_) return;
    const uint64_t lost = cut_off_.begin()->second - next_;
    enter_gap("the capture cut off " + std::to_string(lost) + " bytes at stream offset " +
              std::to_string(next_) + " (snapshot length)");
}

std::optional<uint64_t> TcpStream::acked_offset(uint32_t ack) const {
    if (!started_) return std::nullopt;
    int64_t acked = std::max<int64_t>(0, offset_of(ack));
    if (fin_offset_) acked = std::min(acked, int64_t(*fin_offset_));
    return uint64_t(acked);
}

void TcpStream::peer_acked(uint32_t ack, Timestamp now, uint64_t packet_index) {
    if (!started_ || gap_) return;
    const int64_t acked = offset_of(ack);
    // A FIN takes one sequence number: an ACK of it is not a hole.
    const int64_t data_end = fin_offset_ ? int64_t(*fin_offset_) : INT64_MAX;
    const int64_t acked_data = std::min(acked, data_end);
    if (acked_data <= int64_t(next_) || acked_hole_at_) return;
    acked_hole_at_ = next_;
    acked_hole_time_ = now;
    acked_hole_packet_ = packet_index;
    acked_hole_end_ = uint64_t(acked_data);
}

void TcpStream::check_hole(Timestamp now, uint64_t packet_index) {
    if (gap_ || !acked_hole_at_) return;
    const bool waited_packets = packet_index - acked_hole_packet_ >= limits_.reorder_packets;
    const bool waited_time = now - acked_hole_time_ >= limits_.reorder_time;
    if (!waited_packets && !waited_time) return;
    enter_gap("the peer acknowledged " + std::to_string(acked_hole_end_ - next_) +
              " bytes at stream offset " + std::to_string(next_) +
              " that the capture does not have");
}

void TcpStream::finish() {
    if (gap_ || !started_) return;
    if (!pending_.empty()) {
        enter_gap("bytes missing at stream offset " + std::to_string(next_) +
                  " when the connection ended");
    } else if (fin_offset_ && next_ < *fin_offset_) {
        enter_gap(std::to_string(*fin_offset_ - next_) + " bytes missing before the FIN");
    } else if (acked_hole_at_) {
        enter_gap("the peer acknowledged " + std::to_string(acked_hole_end_ - next_) +
                  " bytes at stream offset " + std::to_string(next_) +
                  " that the capture does not have");
    }
}

void TcpStream::enter_gap(std::string reason) {
    if (gap_) return;
    gap_ = true;
    new_gap_ = std::move(reason);
    pending_.clear();
    buffered_bytes_ = 0;
    cut_off_.clear();
}

std::optional<std::string> TcpStream::take_new_gap() {
    auto reason = std::move(new_gap_);
    new_gap_.reset();
    return reason;
}

}  // namespace zmtp::capture
