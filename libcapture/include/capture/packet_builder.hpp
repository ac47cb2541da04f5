// Builds TCP packets (IPv4 or IPv6 in one of the link layers decode_packet reads) with correct
// IPv4 header and TCP checksums: for tests, the capture transformer and zmtp-synth.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "capture/packet.hpp"

namespace capture {

// The link layer a packet is wrapped in, and the DLT_* it is captured as.
enum class Link : uint8_t { Ethernet, EthernetVlan, Sll, Sll2, Null, Loop, Raw };
int link_dlt(Link link);

struct TcpPacketSpec {
    bool v6 = false;
    std::array<uint8_t, 16> source{}, destination{};  // IPv4: the first 4 bytes
    uint16_t source_port = 0, destination_port = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;  // tcp_flag::*
    uint16_t window = 65535;
    std::optional<uint16_t> mss;  // a TCP MSS option (SYNs)
    Bytes payload;                // copied into the packet
    // IPv4 only: identification and don't-fragment.
    uint16_t ip_id = 0;
    bool dont_fragment = true;
    bool ipv6_hop_by_hop = false;  // IPv6: an (empty) hop-by-hop options header before TCP
    // Ethernet only.
    std::array<uint8_t, 6> source_mac{}, destination_mac{};
    uint16_t vlan_id = 42;  // Link::EthernetVlan
};

// The size of the whole packet.
size_t tcp_packet_size(const TcpPacketSpec& spec, Link link);
// Writes the packet into `out`, which holds tcp_packet_size(spec, link) bytes.
void write_tcp_packet(const TcpPacketSpec& spec, Link link, uint8_t* out);
std::vector<uint8_t> build_tcp_packet(const TcpPacketSpec& spec, Link link = Link::Ethernet);

}  // namespace capture
