// The link, IP and TCP header facts that the packet decoder reads and the packet builder writes:
// one copy for both sides.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capture::headers {

inline constexpr uint16_t ethertype_ipv4 = 0x0800;
inline constexpr uint16_t ethertype_ipv6 = 0x86DD;
inline constexpr uint16_t ethertype_vlan = 0x8100;
inline constexpr uint16_t ethertype_qinq = 0x88A8;
inline constexpr uint16_t ethertype_qinq_old = 0x9100;
inline constexpr uint8_t ip_proto_tcp = 6;

// Without options or extension headers.
inline constexpr size_t ipv4_header_size = 20;
inline constexpr size_t ipv6_header_size = 40;
inline constexpr size_t tcp_header_size = 20;

inline uint16_t be16(const uint8_t* p) {
    return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}

}  // namespace capture::headers
