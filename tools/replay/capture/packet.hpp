// Packets as read from a capture, and the TCP segment a packet carries.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace zmtp::capture {

using Bytes = std::span<const uint8_t>;

// Capture time in nanoseconds since the Unix epoch.
using Timestamp = int64_t;
inline constexpr Timestamp ns_per_ms = 1'000'000;
inline constexpr Timestamp ns_per_s = 1'000'000'000;

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
    bool operator==(const Address&) const = default;
    auto operator<=>(const Address&) const = default;
};

struct Endpoint {
    Address address;
    uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
    auto operator<=>(const Endpoint&) const = default;
};

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

}  // namespace zmtp::capture
