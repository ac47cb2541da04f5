// Builds TCP packets over IPv4/IPv6 and the link layers zmtp_capture reads, for tests and
// for the capture transformer.
#pragma once

#include <pcap/dlt.h>

#include <array>
#include <cstdint>
#include <vector>

namespace zmtp::capture::testing {

struct SegmentSpec {
    bool v6 = false;
    std::array<uint8_t, 16> source{}, destination{};  // IPv4: first 4 bytes
    uint16_t source_port = 0, destination_port = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;
    uint16_t window = 65535;
    std::vector<uint8_t> payload;
    bool ipv6_hop_by_hop = false;  // add an (empty) hop-by-hop options header

    SegmentSpec() {
        source = {10, 0, 0, 1};
        destination = {10, 0, 0, 2};
    }
};

inline void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
    v[at] = uint8_t(x >> 8);
    v[at + 1] = uint8_t(x);
}
inline void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
    for (int i = 0; i < 4; ++i) v[at + i] = uint8_t(x >> (24 - 8 * i));
}

inline uint32_t checksum_add(uint32_t sum, const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += uint32_t(p[n - 1] << 8);
    return sum;
}
inline uint16_t checksum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return uint16_t(~sum);
}

inline std::vector<uint8_t> build_tcp(const SegmentSpec& s) {
    std::vector<uint8_t> t(20, 0);
    put16(t, 0, s.source_port);
    put16(t, 2, s.destination_port);
    put32(t, 4, s.seq);
    put32(t, 8, s.ack);
    t[12] = 5 << 4;
    t[13] = s.flags;
    put16(t, 14, s.window);
    t.insert(t.end(), s.payload.begin(), s.payload.end());
    // Checksum over the pseudo-header and the segment.
    const size_t address_size = s.v6 ? 16 : 4;
    uint32_t sum = checksum_add(0, s.source.data(), address_size);
    sum = checksum_add(sum, s.destination.data(), address_size);
    sum += 6 + uint32_t(t.size());
    put16(t, 16, checksum_fold(checksum_add(sum, t.data(), t.size())));
    return t;
}

inline std::vector<uint8_t> build_ip(const SegmentSpec& s) {
    const auto tcp = build_tcp(s);
    std::vector<uint8_t> ip;
    if (!s.v6) {
        ip.assign(20, 0);
        ip[0] = 0x45;
        put16(ip, 2, uint16_t(20 + tcp.size()));
        ip[6] = 0x40;  // don't fragment
        ip[8] = 64;
        ip[9] = 6;
        std::copy_n(s.source.begin(), 4, ip.begin() + 12);
        std::copy_n(s.destination.begin(), 4, ip.begin() + 16);
        put16(ip, 10, checksum_fold(checksum_add(0, ip.data(), 20)));
    } else {
        const size_t options = s.ipv6_hop_by_hop ? 8 : 0;
        ip.assign(40 + options, 0);
        ip[0] = 0x60;
        put16(ip, 4, uint16_t(tcp.size() + options));
        ip[6] = s.ipv6_hop_by_hop ? 0 : 6;
        ip[7] = 64;
        std::copy(s.source.begin(), s.source.end(), ip.begin() + 8);
        std::copy(s.destination.begin(), s.destination.end(), ip.begin() + 24);
        if (s.ipv6_hop_by_hop) {
            ip[40] = 6;  // next header: TCP; length 0 = 8 bytes; then PadN
            ip[42] = 1;
            ip[43] = 4;
        }
    }
    ip.insert(ip.end(), tcp.begin(), tcp.end());
    return ip;
}

enum class Link { Ethernet, EthernetVlan, Sll, Sll2, Null, Loop, Raw };

inline std::vector<uint8_t> wrap_link(Link link, bool v6, const std::vector<uint8_t>& ip,
                                      int& linktype) {
    const uint16_t ethertype = v6 ? 0x86DD : 0x0800;
    std::vector<uint8_t> h;
    switch (link) {
        case Link::Ethernet:
        case Link::EthernetVlan:
            linktype = DLT_EN10MB;
            h.assign(link == Link::EthernetVlan ? 18 : 14, 0);
            h[5] = 1;  // destination and source MAC addresses
            h[11] = 2;
            if (link == Link::EthernetVlan) {
                put16(h, 12, 0x8100);
                put16(h, 14, 42);  // VLAN id
            }
            put16(h, h.size() - 2, ethertype);
            break;
        case Link::Sll:
            linktype = DLT_LINUX_SLL;
            h.assign(16, 0);
            put16(h, 2, 772);  // ARPHRD_LOOPBACK
            put16(h, 4, 6);
            put16(h, 14, ethertype);
            break;
        case Link::Sll2:
            linktype = DLT_LINUX_SLL2;
            h.assign(20, 0);
            put16(h, 0, ethertype);
            put32(h, 4, 1);  // interface index
            put16(h, 8, 772);
            h[11] = 6;
            break;
        case Link::Null:
            linktype = DLT_NULL;
            h = {uint8_t(v6 ? 10 : 2), 0, 0, 0};  // little-endian host
            break;
        case Link::Loop:
            linktype = DLT_LOOP;
            h = {0, 0, 0, uint8_t(v6 ? 30 : 2)};
            break;
        case Link::Raw:
            linktype = DLT_RAW;
            break;
    }
    h.insert(h.end(), ip.begin(), ip.end());
    return h;
}

inline std::vector<uint8_t> build_ethernet(const SegmentSpec& s) {
    int linktype = 0;
    return wrap_link(Link::Ethernet, s.v6, build_ip(s), linktype);
}

}  // namespace zmtp::capture::testing
