#include "capture/packet_decoder.hpp"

#include <arpa/inet.h>
#include <pcap/dlt.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

#include "headers.hpp"

namespace capture {
namespace {

using namespace headers;

constexpr int linktype_raw = 101;  // LINKTYPE_RAW, as some files store it

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

// The network layer as found after the link header.
struct NetworkLayer {
    enum class Kind : uint8_t { Ipv4, Ipv6, ByVersion, Other } kind;
    Bytes bytes;
};

NetworkLayer by_ethertype(uint16_t type, Bytes rest) {
    if (type == ethertype_ipv4) return {NetworkLayer::Kind::Ipv4, rest};
    if (type == ethertype_ipv6) return {NetworkLayer::Kind::Ipv6, rest};
    return {NetworkLayer::Kind::Other, rest};
}

// BSD address families for IPv6 differ per system (Linux 10, BSDs 24/28/30).
NetworkLayer by_address_family(uint32_t family, Bytes rest) {
    if (family == 2) return {NetworkLayer::Kind::Ipv4, rest};
    if (family == 10 || family == 24 || family == 28 || family == 30)
        return {NetworkLayer::Kind::Ipv6, rest};
    return {NetworkLayer::Kind::Other, rest};
}

std::optional<NetworkLayer> ethernet(Bytes d) {
    if (d.size() < 14) return std::nullopt;
    size_t pos = 12;
    uint16_t type = be16(d.data() + pos);
    while (type == ethertype_vlan || type == ethertype_qinq || type == ethertype_qinq_old) {
        pos += 4;
        if (d.size() < pos + 2) return std::nullopt;
        type = be16(d.data() + pos);
    }
    return by_ethertype(type, d.subspan(pos + 2));
}

std::optional<NetworkLayer> link_layer(int linktype, Bytes d) {
    switch (linktype) {
        case DLT_EN10MB:
            return ethernet(d);
        case DLT_LINUX_SLL:
            if (d.size() < 16) return std::nullopt;
            return by_ethertype(be16(d.data() + 14), d.subspan(16));
        case DLT_LINUX_SLL2:
            if (d.size() < 20) return std::nullopt;
            return by_ethertype(be16(d.data()), d.subspan(20));
        case DLT_NULL: {
            if (d.size() < 4) return std::nullopt;
            // Host byte order of the capturing machine: try both.
            uint32_t family = le32(d.data());
            if (family > 0xFFFF) family = be32(d.data());
            return by_address_family(family, d.subspan(4));
        }
        case DLT_LOOP:
            if (d.size() < 4) return std::nullopt;
            return by_address_family(be32(d.data()), d.subspan(4));
        case DLT_RAW:
        case linktype_raw:
#ifdef DLT_IPV4
        case DLT_IPV4:
        case DLT_IPV6:
#endif
            return NetworkLayer{NetworkLayer::Kind::ByVersion, d};
        default:
            return NetworkLayer{NetworkLayer::Kind::Other, d};
    }
}

// What the IP layer hands to TCP.
struct Transport {
    Address source, destination;
    Bytes bytes;             // captured bytes of the IP payload
    uint32_t declared_size;  // IP payload size according to the IP header
};

DecodeStatus ipv4(Bytes d, Transport& out) {
    if (d.size() < ipv4_header_size) return DecodeStatus::Truncated;
    const uint8_t* p = d.data();
    const size_t header_size = size_t(p[0] & 0x0F) * 4;
    size_t total = be16(p + 2);
    // Segmentation offload: the sending host's capture may show total length 0.
    if (total == 0) total = d.size();
    if (header_size < ipv4_header_size || total < header_size) return DecodeStatus::Malformed;
    if (d.size() < header_size) return DecodeStatus::Truncated;
    const uint16_t fragment = be16(p + 6);
    const bool more_fragments = (fragment & 0x2000) != 0;
    if (more_fragments || (fragment & 0x1FFF) != 0) return DecodeStatus::Fragment;
    if (p[9] != ip_proto_tcp) return DecodeStatus::NotTcp;
    std::copy_n(p + 12, 4, out.source.bytes.begin());
    std::copy_n(p + 16, 4, out.destination.bytes.begin());
    out.source.v6 = out.destination.v6 = false;
    out.declared_size = uint32_t(total - header_size);
    // Ethernet pads short frames: the IP total length bounds the payload.
    out.bytes = d.subspan(header_size, std::min<size_t>(d.size(), total) - header_size);
    return DecodeStatus::Tcp;
}

DecodeStatus ipv6(Bytes d, Transport& out) {
    if (d.size() < ipv6_header_size) return DecodeStatus::Truncated;
    const uint8_t* p = d.data();
    uint32_t remaining = be16(p + 4);  // payload length, extension headers included
    uint8_t next = p[6];
    std::copy_n(p + 8, 16, out.source.bytes.begin());
    std::copy_n(p + 24, 16, out.destination.bytes.begin());
    out.source.v6 = out.destination.v6 = true;
    size_t pos = ipv6_header_size;
    for (;;) {
        if (next == ip_proto_tcp) break;
        const bool options = next == 0 || next == 43 || next == 60;  // hop-by-hop, routing, dest
        if (next == 44) return DecodeStatus::Fragment;
        if (!options && next != 51) return DecodeStatus::NotTcp;
        if (d.size() < pos + 2) return DecodeStatus::Truncated;
        const size_t ext_size = next == 51 ? (size_t(p[pos + 1]) + 2) * 4  // AH
                                           : (size_t(p[pos + 1]) + 1) * 8;
        if (ext_size > remaining) return DecodeStatus::Malformed;
        next = p[pos];
        pos += ext_size;
        remaining -= uint32_t(ext_size);
    }
    if (d.size() < pos) return DecodeStatus::Truncated;
    out.declared_size = remaining;
    out.bytes = d.subspan(pos, std::min<size_t>(d.size() - pos, remaining));
    return DecodeStatus::Tcp;
}

DecodeStatus network_layer(const NetworkLayer& net, Transport& out) {
    switch (net.kind) {
        case NetworkLayer::Kind::Ipv4:
            return ipv4(net.bytes, out);
        case NetworkLayer::Kind::Ipv6:
            return ipv6(net.bytes, out);
        case NetworkLayer::Kind::ByVersion:
            if (net.bytes.empty()) return DecodeStatus::Truncated;
            if (net.bytes[0] >> 4 == 4) return ipv4(net.bytes, out);
            if (net.bytes[0] >> 4 == 6) return ipv6(net.bytes, out);
            return DecodeStatus::NotTcp;
        case NetworkLayer::Kind::Other:
            break;
    }
    return DecodeStatus::NotTcp;
}

DecodeStatus tcp(const Transport& t, TcpSegment& out) {
    const Bytes d = t.bytes;
    if (d.size() < tcp_header_size) return DecodeStatus::Truncated;
    const uint8_t* p = d.data();
    const size_t header_size = size_t(p[12] >> 4) * 4;
    if (header_size < tcp_header_size || header_size > t.declared_size)
        return DecodeStatus::Malformed;
    if (d.size() < header_size) return DecodeStatus::Truncated;
    out.source = {t.source, be16(p)};
    out.destination = {t.destination, be16(p + 2)};
    out.seq = be32(p + 4);
    out.ack = be32(p + 8);
    out.flags = p[13];
    out.payload = d.subspan(header_size);
    out.payload_missing = t.declared_size - uint32_t(header_size) - uint32_t(out.payload.size());
    return DecodeStatus::Tcp;
}

}  // namespace

bool linktype_supported(int linktype) {
    switch (linktype) {
        case DLT_EN10MB:
        case DLT_LINUX_SLL:
        case DLT_LINUX_SLL2:
        case DLT_NULL:
        case DLT_LOOP:
        case DLT_RAW:
        case linktype_raw:
#ifdef DLT_IPV4
        case DLT_IPV4:
        case DLT_IPV6:
#endif
            return true;
        default:
            return false;
    }
}

DecodeStatus decode_packet(const Packet& packet, TcpSegment& segment) {
    if (!linktype_supported(packet.linktype)) return DecodeStatus::UnsupportedLink;
    const auto net = link_layer(packet.linktype, packet.data);
    if (!net) return DecodeStatus::Truncated;
    Transport transport;
    const DecodeStatus ip = network_layer(*net, transport);
    if (ip != DecodeStatus::Tcp) return ip;
    segment = TcpSegment{};
    segment.time = packet.time;
    segment.packet_number = packet.number;
    return tcp(transport, segment);
}

namespace {

// The address as inet_ntop writes it, at `out` (INET6_ADDRSTRLEN bytes); returns its end. IPv4
// by hand: inet_ntop's sprintf costs as much as decoding a packet, once per connection.
char* write_address(const Address& a, char* out) {
    if (a.v6) {
        inet_ntop(AF_INET6, a.bytes.data(), out, INET6_ADDRSTRLEN);
        return out + std::strlen(out);
    }
    for (size_t i = 0; i < 4; ++i) {
        if (i) *out++ = '.';
        out = std::to_chars(out, out + 3, a.bytes[i]).ptr;
    }
    return out;
}

}  // namespace

std::string to_string(const Address& a) {
    char text[INET6_ADDRSTRLEN];
    return std::string(text, write_address(a, text));
}

std::string to_string(const Endpoint& e) {
    char text[INET6_ADDRSTRLEN + 8];  // "[" address "]:" port
    char* end = text;
    if (e.address.v6) *end++ = '[';
    end = write_address(e.address, end);
    if (e.address.v6) *end++ = ']';
    *end++ = ':';
    end = std::to_chars(end, text + sizeof text, e.port).ptr;
    return std::string(text, end);
}

}  // namespace capture
