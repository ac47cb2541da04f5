// Link-layer, IP and TCP decoding of hand-built packets.
#include <pcap/dlt.h>

#include <catch2/catch.hpp>
#include <vector>

#include "capture/packet_decoder.hpp"
#include "packet_builder.hpp"

using namespace ::capture;
using zmtp::tracker::testing::SegmentSpec;

namespace {

Packet packet_of(int linktype, const std::vector<uint8_t>& bytes) {
    Packet p;
    p.linktype = linktype;
    p.data = Bytes(bytes.data(), bytes.size());
    p.wire_size = uint32_t(bytes.size());
    return p;
}

SegmentSpec sample_spec(bool v6) {
    SegmentSpec spec;
    spec.v6 = v6;
    spec.source_port = 40000;
    spec.destination_port = 2069;
    spec.seq = 1000;
    spec.ack = 2000;
    spec.flags = tcp_flag::ack | tcp_flag::psh;
    spec.payload = {0xFF, 1, 2, 3, 4};
    if (v6) {
        spec.source = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        spec.destination = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    }
    return spec;
}

void check_sample(const TcpSegment& s, bool v6) {
    CHECK(s.source.port == 40000);
    CHECK(s.destination.port == 2069);
    CHECK(s.seq == 1000);
    CHECK(s.ack == 2000);
    CHECK(s.has(tcp_flag::ack));
    CHECK_FALSE(s.has(tcp_flag::syn));
    REQUIRE(s.payload.size() == 5);
    CHECK(s.payload[0] == 0xFF);
    CHECK(s.payload_missing == 0);
    CHECK(s.source.address.v6 == v6);
    CHECK(to_string(s.source) == (v6 ? "[fd00::1]:40000" : "10.0.0.1:40000"));
}

}  // namespace

TEST_CASE("decode TCP over every supported link type", "[capture][decoder]") {
    using ::capture::Link;
    for (bool v6 : {false, true}) {
        for (Link link : {Link::Ethernet, Link::EthernetVlan, Link::Sll, Link::Sll2, Link::Null,
                          Link::Loop, Link::Raw}) {
            INFO("link " << int(link) << " v6 " << v6);
            const auto frame = zmtp::tracker::testing::build_packet(sample_spec(v6), link);
            TcpSegment s;
            REQUIRE(decode_packet(packet_of(::capture::link_dlt(link), frame), s) ==
                    DecodeStatus::Tcp);
            check_sample(s, v6);
        }
    }
}

TEST_CASE("Ethernet padding is not payload", "[capture][decoder]") {
    SegmentSpec spec = sample_spec(false);
    spec.payload.clear();
    auto frame = zmtp::tracker::testing::build_ethernet(spec);
    frame.resize(60, 0);  // minimum Ethernet frame size
    TcpSegment s;
    REQUIRE(decode_packet(packet_of(DLT_EN10MB, frame), s) == DecodeStatus::Tcp);
    CHECK(s.payload.empty());
    CHECK(s.payload_missing == 0);
}

TEST_CASE("snaplen truncation is reported as missing payload", "[capture][decoder]") {
    SegmentSpec spec = sample_spec(false);
    spec.payload.assign(100, 0x42);
    auto frame = zmtp::tracker::testing::build_ethernet(spec);
    const size_t full = frame.size();
    frame.resize(full - 60);
    Packet p = packet_of(DLT_EN10MB, frame);
    p.wire_size = uint32_t(full);
    TcpSegment s;
    REQUIRE(decode_packet(p, s) == DecodeStatus::Tcp);
    CHECK(s.payload.size() == 40);
    CHECK(s.payload_missing == 60);
    CHECK(s.payload_size() == 100);
}

TEST_CASE("headers cut short, fragments and other protocols are not TCP", "[capture][decoder]") {
    SegmentSpec spec = sample_spec(false);
    auto frame = zmtp::tracker::testing::build_ethernet(spec);
    TcpSegment s;

    auto cut = frame;
    cut.resize(14 + 20 + 10);  // inside the TCP header
    CHECK(decode_packet(packet_of(DLT_EN10MB, cut), s) == DecodeStatus::Truncated);
    cut.resize(5);
    CHECK(decode_packet(packet_of(DLT_EN10MB, cut), s) == DecodeStatus::Truncated);

    auto fragment = frame;
    fragment[14 + 6] = 0x20;  // more fragments
    CHECK(decode_packet(packet_of(DLT_EN10MB, fragment), s) == DecodeStatus::Fragment);

    auto udp = frame;
    udp[14 + 9] = 17;
    CHECK(decode_packet(packet_of(DLT_EN10MB, udp), s) == DecodeStatus::NotTcp);

    auto arp = frame;
    arp[12] = 0x08;
    arp[13] = 0x06;
    CHECK(decode_packet(packet_of(DLT_EN10MB, arp), s) == DecodeStatus::NotTcp);

    auto bad_offset = frame;
    bad_offset[14 + 20 + 12] = 0x20;  // TCP data offset 2 words
    CHECK(decode_packet(packet_of(DLT_EN10MB, bad_offset), s) == DecodeStatus::Malformed);

    CHECK(decode_packet(packet_of(147, frame), s) == DecodeStatus::UnsupportedLink);
}

TEST_CASE("IPv6 extension headers are skipped", "[capture][decoder]") {
    SegmentSpec spec = sample_spec(true);
    spec.ipv6_hop_by_hop = true;
    const auto ip = zmtp::tracker::testing::build_ip(spec);
    TcpSegment s;
    REQUIRE(decode_packet(packet_of(DLT_RAW, ip), s) == DecodeStatus::Tcp);
    check_sample(s, true);
}

TEST_CASE("addresses print as inet_ntop prints them", "[capture][decoder]") {
    Address a;
    a.bytes[0] = 255;
    a.bytes[2] = 10;
    a.bytes[3] = 9;
    CHECK(to_string(a) == "255.0.10.9");
    CHECK(to_string(Endpoint{a, 65535}) == "255.0.10.9:65535");
    a.v6 = true;
    CHECK(to_string(Endpoint{a, 0}) == "[ff00:a09::]:0");
}
