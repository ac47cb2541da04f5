// Packets as read from a capture, and the TCP segment a packet carries.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace capture {

using Bytes = std::span<const uint8_t>;

// Capture time in nanoseconds since the Unix epoch.
using Timestamp = int64_t;
inline constexpr Timestamp ns_per_ms = 1'000'000;
inline constexpr Timestamp ns_per_s = 1'000'000'000;
// tcpdump's default snapshot length: whole packets, even on loopback with offloads.
inline constexpr uint32_t default_snaplen = 262144;

struct Packet {
    Timestamp time = 0;
    int linktype = 0;        // DLT_* of the input it came from
    Bytes data;              // the captured bytes (caplen)
    uint32_t wire_size = 0;  // the packet's size on the wire (len)
    size_t input = 0;        // index of the input (file) it came from
    uint64_t number = 0;     // 1-based, over all inputs in merged order
};

struct Address {
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
    bool v6 = false;
    // The address as two words: equality and the connection table's order without memcmp.
    std::array<uint64_t, 2> words() const {
        std::array<uint64_t, 2> w;
        std::memcpy(w.data(), bytes.data(), sizeof w);
        return w;
    }
    bool operator==(const Address& o) const { return words() == o.words() && v6 == o.v6; }
    auto operator<=>(const Address&) const = default;
};

struct Endpoint {
    Address address;
    uint16_t port = 0;
    bool operator==(const Endpoint& o) const { return port == o.port && address == o.address; }
    auto operator<=>(const Endpoint&) const = default;
};

// A total order of endpoints that is cheap to compute (not the order of operator<=>): puts
// the two ends of a connection in one canonical order.
inline bool canonical_before(const Endpoint& a, const Endpoint& b) {
    const auto wa = a.address.words(), wb = b.address.words();
    if (wa[0] != wb[0]) return wa[0] < wb[0];
    if (wa[1] != wb[1]) return wa[1] < wb[1];
    if (a.address.v6 != b.address.v6) return b.address.v6;
    return a.port < b.port;
}

std::string to_string(const Address& a);
std::string to_string(const Endpoint& e);  // "10.0.0.1:2069", "[::1]:2069"

namespace tcp_flag {
inline constexpr uint8_t fin = 0x01;
inline constexpr uint8_t syn = 0x02;
inline constexpr uint8_t rst = 0x04;
inline constexpr uint8_t psh = 0x08;
inline constexpr uint8_t ack = 0x10;
}  // namespace tcp_flag

struct TcpSegment {
    Timestamp time = 0;
    uint64_t packet_number = 0;
    Endpoint source, destination;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    Bytes payload;                 // the captured part of the payload
    uint32_t payload_missing = 0;  // payload bytes the capture cut off (snaplen)

    bool has(uint8_t flag) const { return (flags & flag) != 0; }
    uint32_t payload_size() const { return uint32_t(payload.size()) + payload_missing; }
};

}  // namespace capture
