// TCP connections in a capture: their order, ends and in-order payload bytes per direction.
// Packets are decoded and reassembled by libcapture; the checker (tests/capgen) reads the ZMTP
// in these bytes with its own frame reader on purpose, independently of libzmtp's decoder.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "pcap_files.hpp"

namespace capgen {

struct TcpDirection {
    std::vector<uint8_t> bytes;          // payload in sequence order
    std::vector<size_t> segment_starts;  // offset in `bytes` where each segment's new bytes begin
    bool fin = false;
    bool rst = false;
    // A segment arrived beyond the next expected byte (lost or reordered), or the capture cut
    // one short: nothing after it is kept.
    bool gap = false;
    size_t segments = 0;
};

struct TcpConnection {
    std::string client_address;  // "127.0.0.1:40412"
    std::string server_address;
    uint16_t client_port = 0;
    uint16_t server_port = 0;
    bool syn_seen = true;  // false: the capture started after the connection was opened
    TcpDirection client_to_server;
    TcpDirection server_to_client;

    // "fin", "rst" or "open", from the flags seen.
    std::string end() const;
};

struct TcpSummary {
    std::vector<TcpConnection> connections;  // in the order of their SYN (or first packet)
    size_t packets = 0;
    size_t stray_packets = 0;  // TCP packets of connections whose SYN is not in the capture
                               // (and that are not followed from mid-connection)
    size_t other_packets = 0;  // not TCP over IPv4/IPv6 (capture::decode_packet)
};

// Throws std::runtime_error for a link type it cannot read. A connection whose SYN is not in the
// capture is followed from its first packet when one of its ports is in `mid_stream_servers`
// (that side is its server; syn_seen false; each direction's bytes start at its first packet);
// otherwise its packets are stray.
TcpSummary summarize_tcp(const PacketFile& file, const std::set<uint16_t>& mid_stream_servers = {});

}  // namespace capgen
