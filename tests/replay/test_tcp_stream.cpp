// TCP reassembly of one direction: order, retransmissions, overlaps, holes and gaps.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "capture/tcp_stream.hpp"

using namespace ::capture;

namespace {

// Collects what a stream delivers: bytes in stream order, gaps stepped over, and checks that
// every chunk starts where the last one (or gap) ended.
struct Received {
    std::string bytes;  // the bytes delivered, without the lost ones
    std::vector<StreamChunk> chunks;
    std::vector<StreamGap> gaps;
    uint64_t next = 0;  // stream offset where the next chunk must start
    ChunkSink sink() {
        return [this](const StreamChunk& c) {
            CHECK(c.offset == next);
            if (c.gap) {
                CHECK(c.data.empty());
                CHECK(c.gap->offset == c.offset);
                CHECK(c.gap->size > 0);
                gaps.push_back(*c.gap);
                next = c.offset + c.gap->size;
                return;
            }
            bytes.append(reinterpret_cast<const char*>(c.data.data()), c.data.size());
            chunks.push_back(c);
            next = c.offset + c.data.size();
        };
    }
};

struct Segments {
    std::vector<std::vector<uint8_t>> storage;
    TcpSegment make(uint32_t seq, std::string_view text, Timestamp time = 0, uint8_t flags = 0) {
        storage.emplace_back(text.begin(), text.end());
        TcpSegment s;
        s.seq = seq;
        s.time = time;
        s.flags = flags | tcp_flag::ack;
        s.payload = Bytes(storage.back().data(), storage.back().size());
        return s;
    }
};

}  // namespace

TEST_CASE("in-order and out-of-order segments come out in order", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(101);
    Segments seg;
    Received got;
    CHECK(stream.add(seg.make(101, "hello ", 1), got.sink()) == SegmentKind::InOrder);
    CHECK(stream.add(seg.make(113, "there", 2), got.sink()) == SegmentKind::OutOfOrder);
    CHECK(got.bytes == "hello ");
    CHECK(stream.buffered_bytes() == 5);
    CHECK(stream.add(seg.make(107, "world ", 3), got.sink()) == SegmentKind::InOrder);
    CHECK(got.bytes == "hello world there");
    CHECK(stream.buffered_bytes() == 0);
    // The buffered bytes became available with the segment that filled the hole.
    REQUIRE(got.chunks.size() == 3);
    CHECK(got.chunks[2].time == 3);
    CHECK(stream.counters().out_of_order == 1);
    CHECK(got.gaps.empty());
    CHECK(stream.counters().gaps == 0);
}

TEST_CASE("retransmissions and overlaps deliver each byte once", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abcdef"), got.sink());
    CHECK(stream.add(seg.make(0, "abcdef"), got.sink()) == SegmentKind::Retransmission);
    CHECK(stream.add(seg.make(3, "defghi"), got.sink()) == SegmentKind::Overlap);
    CHECK(stream.add(seg.make(12, "mno"), got.sink()) == SegmentKind::OutOfOrder);
    CHECK(stream.add(seg.make(12, "mno"), got.sink()) == SegmentKind::OutOfOrder);  // duplicate
    CHECK(stream.add(seg.make(8, "ijklm"), got.sink()) == SegmentKind::Overlap);
    CHECK(got.bytes == "abcdefghijklmno");
    CHECK(stream.counters().retransmissions == 1);
}

TEST_CASE("sequence numbers wrap around 2^32", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0xFFFFFFFC);
    Segments seg;
    Received got;
    stream.add(seg.make(0xFFFFFFFC, "abcd"), got.sink());
    stream.add(seg.make(4, "ijkl"), got.sink());
    stream.add(seg.make(0, "efgh"), got.sink());
    CHECK(got.bytes == "abcdefghijkl");
    CHECK(stream.next_offset() == 12);
}

TEST_CASE("keep-alive probes are recognised and not delivered", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(1000);
    Segments seg;
    Received got;
    stream.add(seg.make(1000, "data"), got.sink());
    CHECK(stream.add(seg.make(1003, ""), got.sink()) == SegmentKind::KeepAlive);
    CHECK(stream.add(seg.make(1003, "a"), got.sink()) == SegmentKind::KeepAlive);
    CHECK(stream.add(seg.make(1004, ""), got.sink()) == SegmentKind::Empty);
    CHECK(got.bytes == "data");
    CHECK(stream.counters().keepalives == 2);
}

TEST_CASE("a hole the peer acknowledged is stepped over after the reorder window",
          "[capture][tcp]") {
    StreamLimits limits;
    limits.reorder_packets = 4;
    limits.reorder_time = 10 * ns_per_s;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 1), got.sink());
    stream.add(seg.make(6, "ghi", 2), got.sink());  // "def" lost
    stream.add(seg.make(9, "jk", 3), got.sink());
    stream.peer_acked(11, 3, 10);
    stream.check_hole(3, 10, got.sink());
    stream.check_hole(4, 11, got.sink());
    CHECK(got.gaps.empty());
    CHECK(got.bytes == "abc");
    stream.check_hole(5, 14, got.sink());  // 4 packets after the acknowledgement
    REQUIRE(got.gaps.size() == 1);
    const StreamGap& gap = got.gaps[0];
    CHECK(gap.cause == GapCause::AckedButMissing);
    CHECK(gap.offset == 3);
    CHECK(gap.size == 3);
    CHECK(gap.time == 2);  // when the bytes after the hole arrived, not when it was given up
    CHECK(gap.describe().find("offset 3") != std::string::npos);
    // The bytes after the gap keep their TCP offsets and their arrival times.
    CHECK(got.bytes == "abcghijk");
    REQUIRE(got.chunks.size() == 3);
    CHECK(got.chunks[1].offset == 6);
    CHECK(got.chunks[1].time == 2);
    CHECK(got.chunks[2].offset == 9);
    CHECK(got.chunks[2].time == 3);
    CHECK(stream.next_offset() == 11);
    CHECK(stream.buffered_bytes() == 0);
    CHECK(stream.counters().gaps == 1);
    CHECK(stream.counters().lost_bytes == 3);
    // The lost bytes turning up after all are late: not delivered again.
    CHECK(stream.add(seg.make(3, "def", 6), got.sink()) == SegmentKind::Late);
    CHECK(stream.counters().late == 1);
    CHECK(stream.add(seg.make(11, "lm", 7), got.sink()) == SegmentKind::InOrder);
    CHECK(got.bytes == "abcghijklm");
    CHECK(got.gaps.size() == 1);
}

TEST_CASE("an acknowledged hole at the end of what was sent becomes a gap of known size",
          "[capture][tcp]") {
    StreamLimits limits;
    limits.reorder_packets = 2;
    TcpStream stream(limits);
    stream.start_at(500);
    Segments seg;
    Received got;
    stream.add(seg.make(500, "abc", 1), got.sink());
    stream.peer_acked(510, 2, 1);  // 7 bytes the capture never saw, nothing after them yet
    stream.check_hole(2, 1, got.sink());
    stream.check_hole(3, 3, got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::AckedButMissing);
    CHECK(got.gaps[0].offset == 3);
    CHECK(got.gaps[0].size == 7);
    CHECK(stream.next_offset() == 10);
    CHECK(stream.add(seg.make(510, "xyz", 4), got.sink()) == SegmentKind::InOrder);
    REQUIRE(got.chunks.size() == 2);
    CHECK(got.chunks[1].offset == 10);
}

TEST_CASE("several holes are stepped over one after the other", "[capture][tcp]") {
    StreamLimits limits;
    limits.reorder_packets = 1;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "ab", 1), got.sink());
    stream.add(seg.make(4, "ef", 2), got.sink());   // "cd" lost
    stream.add(seg.make(10, "kl", 3), got.sink());  // "ghij" lost
    stream.peer_acked(12, 3, 1);
    stream.check_hole(3, 1, got.sink());
    stream.check_hole(4, 2, got.sink());  // the first hole
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.bytes == "abef");
    stream.check_hole(5, 3, got.sink());  // the second one waits its own window
    stream.check_hole(6, 4, got.sink());
    REQUIRE(got.gaps.size() == 2);
    CHECK(got.gaps[0].offset == 2);
    CHECK(got.gaps[0].size == 2);
    CHECK(got.gaps[1].offset == 6);
    CHECK(got.gaps[1].size == 4);
    CHECK(got.bytes == "abefkl");
    CHECK(stream.counters().lost_bytes == 6);
}

TEST_CASE("a hole filled within the reorder window is no gap", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(3, "def", 1), got.sink());
    stream.peer_acked(6, 1, 2);  // the ACK was captured before the data it covers
    stream.check_hole(1, 3, got.sink());
    stream.add(seg.make(0, "abc", 2), got.sink());
    stream.check_hole(5 * ns_per_s, 1000, got.sink());
    CHECK(got.gaps.empty());
    CHECK(got.bytes == "abcdef");
}

TEST_CASE("an ACK of the FIN is not a hole", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 0, tcp_flag::fin), got.sink());
    stream.peer_acked(4, 1, 1);
    stream.check_hole(100 * ns_per_s, 1000, got.sink());
    stream.finish(100 * ns_per_s, got.sink());
    CHECK(got.gaps.empty());
    CHECK(stream.complete());
}

TEST_CASE("the buffer cap steps over the oldest hole and delivers what waited", "[capture][tcp]") {
    StreamLimits limits;
    limits.max_buffered_bytes = 8;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(10, "12345", 1), got.sink());
    CHECK(got.gaps.empty());
    CHECK(stream.buffered_bytes() == 5);
    stream.add(seg.make(15, "67890", 2), got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::BufferLimit);
    CHECK(got.gaps[0].offset == 0);
    CHECK(got.gaps[0].size == 10);
    CHECK(got.gaps[0].describe().find("buffer cap") != std::string::npos);
    CHECK(got.bytes == "1234567890");
    CHECK(stream.next_offset() == 20);
    CHECK(stream.buffered_bytes() == 0);
}

TEST_CASE("a segment larger than the buffer cap is delivered after the hole before it",
          "[capture][tcp]") {
    StreamLimits limits;
    limits.max_buffered_bytes = 4;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "ab", 1), got.sink());
    stream.add(seg.make(5, "fghijk", 2), got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].offset == 2);
    CHECK(got.gaps[0].size == 3);
    CHECK(got.bytes == "abfghijk");
    CHECK(stream.buffered_bytes() == 0);
}

TEST_CASE("bytes cut off by the snapshot length are a gap of known size", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    TcpSegment cut = seg.make(0, "abcd", 1);
    cut.payload_missing = 6;
    stream.add(cut, got.sink());
    CHECK(got.bytes == "abcd");
    REQUIRE(got.chunks.size() == 1);
    CHECK_FALSE(got.chunks[0].segment_end);  // the segment goes on in the lost bytes
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::SnapLen);
    CHECK(got.gaps[0].offset == 4);
    CHECK(got.gaps[0].size == 6);
    CHECK(got.gaps[0].describe().find("snapshot length") != std::string::npos);
    CHECK(stream.next_offset() == 10);
    CHECK(stream.add(seg.make(10, "klm", 2), got.sink()) == SegmentKind::InOrder);
    CHECK(got.bytes == "abcdklm");
    CHECK(got.chunks.back().offset == 10);
    CHECK(got.chunks.back().segment_end);
}

TEST_CASE("a cut segment that waited out of order is a gap once the hole before it fills",
          "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    TcpSegment cut = seg.make(3, "de", 1);
    cut.payload_missing = 4;  // bytes 5..8 cut off
    stream.add(cut, got.sink());
    stream.add(seg.make(9, "jk", 2), got.sink());
    CHECK(got.gaps.empty());
    stream.add(seg.make(0, "abc", 3), got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::SnapLen);
    CHECK(got.gaps[0].offset == 5);
    CHECK(got.gaps[0].size == 4);
    CHECK(got.bytes == "abcdejk");
    CHECK(stream.next_offset() == 11);
}

TEST_CASE("a stream that ends with a hole delivers what followed it", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 1), got.sink());
    stream.add(seg.make(5, "fg", 2, tcp_flag::fin), got.sink());
    CHECK_FALSE(stream.complete());
    stream.finish(9, got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::MissingAtEnd);
    CHECK(got.gaps[0].offset == 3);
    CHECK(got.gaps[0].size == 2);
    CHECK(got.bytes == "abcfg");
    CHECK(stream.complete());
}

TEST_CASE("bytes missing before the FIN are a gap at the end", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 1), got.sink());
    TcpSegment fin = seg.make(8, "", 2, tcp_flag::fin);  // bytes 3..7 never captured
    stream.add(fin, got.sink());
    stream.finish(3, got.sink());
    REQUIRE(got.gaps.size() == 1);
    CHECK(got.gaps[0].cause == GapCause::MissingAtEnd);
    CHECK(got.gaps[0].offset == 3);
    CHECK(got.gaps[0].size == 5);
    CHECK(stream.complete());
}

TEST_CASE("chunks carry the acknowledgement of their own segment", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    TcpSegment later = seg.make(3, "def", 1);
    later.ack = 700;
    TcpSegment first = seg.make(0, "abc", 2);
    first.ack = 600;
    stream.add(later, got.sink());
    stream.add(first, got.sink());
    REQUIRE(got.chunks.size() == 2);
    CHECK(got.chunks[0].ack == 600u);
    CHECK(got.chunks[1].ack == 700u);
    CHECK(got.chunks[1].time == 2);  // in order once the hole filled
}
