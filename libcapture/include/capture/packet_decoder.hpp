// Link layer -> IPv4/IPv6 -> TCP. Every read is bounds-checked against the captured bytes.
#pragma once

#include <array>
#include <string_view>

#include "capture/packet.hpp"
#include "enum_names.hpp"

namespace capture {

enum class DecodeStatus : uint8_t {
    Tcp,              // `segment` is filled
    NotTcp,           // another protocol (ARP, UDP, ...)
    Fragment,         // an IP fragment (not reassembled)
    Truncated,        // the capture cut the packet before the end of the TCP header
    Malformed,        // headers that contradict themselves
    UnsupportedLink,  // a link type this reader does not know
};

inline constexpr std::array<enum_names::Named<DecodeStatus>, 6> decode_status_names = {{
    {DecodeStatus::Tcp, "tcp"},
    {DecodeStatus::NotTcp, "not TCP"},
    {DecodeStatus::Fragment, "IP fragment"},
    {DecodeStatus::Truncated, "truncated headers"},
    {DecodeStatus::Malformed, "malformed headers"},
    {DecodeStatus::UnsupportedLink, "unsupported link type"},
}};
static_assert(enum_names::covers(decode_status_names, DecodeStatus::UnsupportedLink));
constexpr std::string_view decode_status_name(DecodeStatus s) {
    return enum_names::name_of(decode_status_names, s, "?");
}

// Decodes `packet` into `segment`. Supported link types: Ethernet (with 802.1Q/802.1ad VLAN
// tags), Linux cooked v1 and v2, BSD loopback (NULL, LOOP) and raw IP.
DecodeStatus decode_packet(const Packet& packet, TcpSegment& segment);

// True when decode_packet knows this link type.
bool linktype_supported(int linktype);

}  // namespace capture
