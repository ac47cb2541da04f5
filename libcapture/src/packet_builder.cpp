#include "capture/packet_builder.hpp"

#include <pcap/dlt.h>

#include <cstring>

#include "headers.hpp"

namespace capture {
namespace {

using namespace headers;

constexpr size_t hop_by_hop_size = 8;
constexpr size_t mss_option_size = 4;
constexpr uint8_t ttl = 64;
constexpr uint16_t arphrd_loopback = 772;

// RFC 1071: the ones' complement sum over words read in native byte order; the folded and
// complemented result, stored in native order, is the checksum in network order.
uint64_t native_sum(const uint8_t* p, size_t n, uint64_t sum = 0) {
    for (; n >= 4; p += 4, n -= 4) {
        uint32_t word;
        std::memcpy(&word, p, 4);
        sum += word;
    }
    if (n >= 2) {
        uint16_t half;
        std::memcpy(&half, p, 2);
        sum += half;
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        const uint8_t pad[2] = {p[0], 0};
        uint16_t half;
        std::memcpy(&half, pad, 2);
        sum += half;
    }
    return sum;
}

void store_checksum(uint8_t* field, uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    const uint16_t checksum = uint16_t(~sum);
    std::memcpy(field, &checksum, 2);
}

size_t link_header_size(Link link) {
    switch (link) {
        case Link::Ethernet:
            return 14;
        case Link::EthernetVlan:
            return 18;
        case Link::Sll:
            return 16;
        case Link::Sll2:
            return 20;
        case Link::Null:
        case Link::Loop:
            return 4;
        case Link::Raw:
            return 0;
    }
    return 0;
}

size_t tcp_size(const TcpPacketSpec& s) {
    return tcp_header_size + (s.mss ? mss_option_size : 0) + s.payload.size();
}

size_t ip_header_size(const TcpPacketSpec& s) {
    if (!s.v6) return ipv4_header_size;
    return ipv6_header_size + (s.ipv6_hop_by_hop ? hop_by_hop_size : 0);
}

void write_link_header(const TcpPacketSpec& s, Link link, uint8_t* h) {
    const uint16_t ethertype = s.v6 ? ethertype_ipv6 : ethertype_ipv4;
    std::memset(h, 0, link_header_size(link));
    switch (link) {
        case Link::Ethernet:
        case Link::EthernetVlan:
            std::memcpy(h, s.destination_mac.data(), 6);
            std::memcpy(h + 6, s.source_mac.data(), 6);
            if (link == Link::EthernetVlan) {
                store_be16(h + 12, ethertype_vlan);
                store_be16(h + 14, s.vlan_id);
            }
            store_be16(h + link_header_size(link) - 2, ethertype);
            break;
        case Link::Sll:
            store_be16(h + 2, arphrd_loopback);
            store_be16(h + 4, 6);  // link-layer address length
            store_be16(h + 14, ethertype);
            break;
        case Link::Sll2:
            store_be16(h, ethertype);
            store_be32(h + 4, 1);  // interface index
            store_be16(h + 8, arphrd_loopback);
            h[11] = 6;
            break;
        case Link::Null:  // the address family in the (little-endian) capturing host's order
            h[0] = uint8_t(s.v6 ? 10 : 2);
            break;
        case Link::Loop:  // network order; 30: IPv6 as the BSDs number it
            h[3] = uint8_t(s.v6 ? 30 : 2);
            break;
        case Link::Raw:
            break;
    }
}

void write_tcp(const TcpPacketSpec& s, uint8_t* tcp) {
    const size_t header = tcp_header_size + (s.mss ? mss_option_size : 0);
    store_be16(tcp, s.source_port);
    store_be16(tcp + 2, s.destination_port);
    store_be32(tcp + 4, s.seq);
    store_be32(tcp + 8, s.ack);
    tcp[12] = uint8_t((header / 4) << 4);
    tcp[13] = s.flags;
    store_be16(tcp + 14, s.window);
    tcp[16] = tcp[17] = tcp[18] = tcp[19] = 0;
    if (s.mss) {
        tcp[20] = 2;  // kind: MSS
        tcp[21] = 4;
        store_be16(tcp + 22, *s.mss);
    }
    if (!s.payload.empty()) std::memcpy(tcp + header, s.payload.data(), s.payload.size());

    // The pseudo-header: addresses, protocol, TCP length (RFC 793, RFC 8200 8.1).
    const size_t address_size = s.v6 ? 16 : 4;
    uint8_t pseudo[40] = {};
    std::memcpy(pseudo, s.source.data(), address_size);
    std::memcpy(pseudo + address_size, s.destination.data(), address_size);
    const size_t length_at = 2 * address_size;
    const size_t size = tcp_size(s);
    if (s.v6) {
        store_be32(pseudo + length_at, uint32_t(size));
        pseudo[length_at + 7] = ip_proto_tcp;
    } else {
        pseudo[length_at + 1] = ip_proto_tcp;
        store_be16(pseudo + length_at + 2, uint16_t(size));
    }
    const size_t pseudo_size = s.v6 ? 40 : 12;
    store_checksum(tcp + 16, native_sum(tcp, size, native_sum(pseudo, pseudo_size)));
}

void write_ip_header(const TcpPacketSpec& s, uint8_t* ip) {
    const size_t tcp = tcp_size(s);
    if (!s.v6) {
        ip[0] = 0x45;
        ip[1] = 0;
        store_be16(ip + 2, uint16_t(ipv4_header_size + tcp));
        store_be16(ip + 4, s.ip_id);
        store_be16(ip + 6, s.dont_fragment ? 0x4000 : 0);
        ip[8] = ttl;
        ip[9] = ip_proto_tcp;
        ip[10] = ip[11] = 0;
        std::memcpy(ip + 12, s.source.data(), 4);
        std::memcpy(ip + 16, s.destination.data(), 4);
        store_checksum(ip + 10, native_sum(ip, ipv4_header_size));
        return;
    }
    const size_t options = s.ipv6_hop_by_hop ? hop_by_hop_size : 0;
    std::memset(ip, 0, ipv6_header_size + options);
    ip[0] = 0x60;
    store_be16(ip + 4, uint16_t(tcp + options));
    ip[6] = s.ipv6_hop_by_hop ? 0 : ip_proto_tcp;
    ip[7] = ttl;
    std::memcpy(ip + 8, s.source.data(), 16);
    std::memcpy(ip + 24, s.destination.data(), 16);
    if (s.ipv6_hop_by_hop) {
        ip[40] = ip_proto_tcp;  // next header; length 0 = 8 bytes; then PadN over the rest
        ip[42] = 1;
        ip[43] = 4;
    }
}

}  // namespace

int link_dlt(Link link) {
    switch (link) {
        case Link::Ethernet:
        case Link::EthernetVlan:
            return DLT_EN10MB;
        case Link::Sll:
            return DLT_LINUX_SLL;
        case Link::Sll2:
            return DLT_LINUX_SLL2;
        case Link::Null:
            return DLT_NULL;
        case Link::Loop:
            return DLT_LOOP;
        case Link::Raw:
            return DLT_RAW;
    }
    return DLT_EN10MB;
}

size_t tcp_packet_size(const TcpPacketSpec& spec, Link link) {
    return link_header_size(link) + ip_header_size(spec) + tcp_size(spec);
}

void write_tcp_packet(const TcpPacketSpec& spec, Link link, uint8_t* out) {
    write_link_header(spec, link, out);
    uint8_t* ip = out + link_header_size(link);
    write_ip_header(spec, ip);
    write_tcp(spec, ip + ip_header_size(spec));
}

std::vector<uint8_t> build_tcp_packet(const TcpPacketSpec& spec, Link link) {
    std::vector<uint8_t> packet(tcp_packet_size(spec, link));
    write_tcp_packet(spec, link, packet.data());
    return packet;
}

}  // namespace capture
