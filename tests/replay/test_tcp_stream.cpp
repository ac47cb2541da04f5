// TCP reassembly of one direction: order, retransmissions, overlaps, holes and gaps.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "capture/tcp_stream.hpp"

using namespace zmtp::capture;

namespace {

// Collects what a stream delivers.
struct Received {
    std::string bytes;
    std::vector<StreamChunk> chunks;
    ChunkSink sink() {
        return [this](const StreamChunk& c) {
            CHECK(c.offset == bytes.size());
            bytes.append(reinterpret_cast<const char*>(c.data.data()), c.data.size());
            chunks.push_back(c);
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
    CHECK_FALSE(stream.take_new_gap());
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

TEST_CASE("a hole the peer acknowledged becomes a gap after the reorder window", "[capture][tcp]") {
    StreamLimits limits;
    limits.reorder_packets = 4;
    limits.reorder_time = 10 * ns_per_s;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 0), got.sink());
    stream.add(seg.make(6, "ghi", 1), got.sink());  // "def" lost
    stream.peer_acked(9, 2, 10);
    stream.check_hole(2, 11);
    CHECK_FALSE(stream.has_gap());
    stream.check_hole(3, 14);
    REQUIRE(stream.has_gap());
    const auto reason = stream.take_new_gap();
    REQUIRE(reason);
    CHECK(reason->find("offset 3") != std::string::npos);
    CHECK_FALSE(stream.take_new_gap());  // reported once
    CHECK(stream.add(seg.make(3, "def", 4), got.sink()) == SegmentKind::AfterGap);
    CHECK(got.bytes == "abc");
}

TEST_CASE("a hole filled within the reorder window is no gap", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(3, "def", 1), got.sink());
    stream.peer_acked(6, 1, 2);  // the ACK was captured before the data it covers
    stream.check_hole(1, 3);
    stream.add(seg.make(0, "abc", 2), got.sink());
    stream.check_hole(5 * ns_per_s, 1000);
    CHECK_FALSE(stream.has_gap());
    CHECK(got.bytes == "abcdef");
}

TEST_CASE("an ACK of the FIN is not a hole", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc", 0, tcp_flag::fin), got.sink());
    stream.peer_acked(4, 1, 1);
    stream.check_hole(100 * ns_per_s, 1000);
    CHECK_FALSE(stream.has_gap());
    CHECK(stream.complete());
}

TEST_CASE("the buffer cap turns a hole into a gap", "[capture][tcp]") {
    StreamLimits limits;
    limits.max_buffered_bytes = 8;
    TcpStream stream(limits);
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(10, "12345"), got.sink());
    CHECK_FALSE(stream.has_gap());
    stream.add(seg.make(15, "67890"), got.sink());
    REQUIRE(stream.has_gap());
    CHECK(stream.take_new_gap()->find("buffer cap") != std::string::npos);
    CHECK(stream.buffered_bytes() == 0);
}

TEST_CASE("bytes cut off by the snapshot length are a gap", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    TcpSegment cut = seg.make(0, "abcd");
    cut.payload_missing = 6;
    stream.add(cut, got.sink());
    CHECK(got.bytes == "abcd");
    REQUIRE(stream.has_gap());
    CHECK(stream.take_new_gap()->find("snapshot length") != std::string::npos);
}

TEST_CASE("a stream that ends with a hole reports a gap", "[capture][tcp]") {
    TcpStream stream;
    stream.start_at(0);
    Segments seg;
    Received got;
    stream.add(seg.make(0, "abc"), got.sink());
    stream.add(seg.make(5, "fg", 0, tcp_flag::fin), got.sink());
    CHECK_FALSE(stream.complete());
    stream.finish();
    REQUIRE(stream.has_gap());
    CHECK(stream.complete());
}
