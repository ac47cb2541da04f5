// TCP packets for the tests and the capture transformer, built by libcapture's packet builder
// (capture/packet_builder.hpp); a spec here owns its payload.
#pragma once

#include <pcap/dlt.h>

#include <array>
#include <cstdint>
#include <vector>

#include "capture/packet_builder.hpp"

namespace zmtp::tracker::testing {

using ::capture::Link;

struct SegmentSpec {
    bool v6 = false;
    std::array<uint8_t, 16> source{10, 0, 0, 1}, destination{10, 0, 0, 2};  // IPv4: first 4
    uint16_t source_port = 0, destination_port = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;
    uint16_t window = 65535;
    std::vector<uint8_t> payload;
    bool ipv6_hop_by_hop = false;  // add an (empty) hop-by-hop options header
};

inline std::vector<uint8_t> build_packet(const SegmentSpec& s, Link link) {
    ::capture::TcpPacketSpec spec;
    spec.v6 = s.v6;
    spec.source = s.source;
    spec.destination = s.destination;
    spec.source_port = s.source_port;
    spec.destination_port = s.destination_port;
    spec.seq = s.seq;
    spec.ack = s.ack;
    spec.flags = s.flags;
    spec.window = s.window;
    spec.payload = ::capture::Bytes(s.payload.data(), s.payload.size());
    spec.ipv6_hop_by_hop = s.ipv6_hop_by_hop;
    spec.destination_mac = {0, 0, 0, 0, 0, 1};
    spec.source_mac = {0, 0, 0, 0, 0, 2};
    return ::capture::build_tcp_packet(spec, link);
}

inline std::vector<uint8_t> build_ip(const SegmentSpec& s) {
    return build_packet(s, Link::Raw);
}

inline std::vector<uint8_t> build_ethernet(const SegmentSpec& s) {
    return build_packet(s, Link::Ethernet);
}

}  // namespace zmtp::tracker::testing
