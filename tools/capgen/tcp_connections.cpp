#include "tcp_connections.hpp"

#include <arpa/inet.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <tuple>

namespace capgen {

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

struct Segment {
    std::string source, destination;  // "address:port"
    uint16_t source_port = 0, destination_port = 0;
    uint32_t sequence = 0;
    uint8_t flags = 0;
    const uint8_t* payload = nullptr;
    size_t payload_size = 0;
};

uint16_t be16(const uint8_t* p) {
    return uint16_t(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
    return uint32_t(be16(p)) << 16 | be16(p + 2);
}

std::string endpoint(int family, const uint8_t* address, uint16_t port) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, address, text, sizeof text);
    return family == AF_INET6 ? "[" + std::string(text) + "]:" + std::to_string(port)
                              : std::string(text) + ":" + std::to_string(port);
}

// Where the IP header starts for this link type, and the EtherType-like protocol if known.
std::optional<size_t> network_offset(uint32_t link_type, const std::vector<uint8_t>& frame) {
    switch (link_type) {
        case 0:  // BSD loopback: 4-byte address family
            return frame.size() >= 4 ? std::optional<size_t>(4) : std::nullopt;
        case 1: {  // Ethernet, with optional 802.1Q tags
            size_t offset = 12;
            while (offset + 2 <= frame.size() && be16(&frame[offset]) == 0x8100) offset += 4;
            return offset + 2 <= frame.size() ? std::optional<size_t>(offset + 2) : std::nullopt;
        }
        case 101:
        case 228:
        case 229:  // raw IP
            return 0;
        case 113:  // Linux cooked v1
            return frame.size() >= 16 ? std::optional<size_t>(16) : std::nullopt;
        case 276:  // Linux cooked v2
            return frame.size() >= 20 ? std::optional<size_t>(20) : std::nullopt;
        default:
            throw std::runtime_error("unsupported link type " + std::to_string(link_type));
    }
}

std::optional<Segment> parse_tcp(const uint8_t* tcp, size_t size, int family, const uint8_t* src,
                                 const uint8_t* dst) {
    if (size < 20) return std::nullopt;
    size_t header = size_t(tcp[12] >> 4) * 4;
    if (header < 20 || header > size) return std::nullopt;
    Segment segment;
    segment.source_port = be16(tcp);
    segment.destination_port = be16(tcp + 2);
    segment.source = endpoint(family, src, segment.source_port);
    segment.destination = endpoint(family, dst, segment.destination_port);
    segment.sequence = be32(tcp + 4);
    segment.flags = tcp[13];
    segment.payload = tcp + header;
    segment.payload_size = size - header;
    return segment;
}

std::optional<Segment> parse_segment(uint32_t link_type, const std::vector<uint8_t>& frame) {
    auto offset = network_offset(link_type, frame);
    if (!offset || *offset >= frame.size()) return std::nullopt;
    const uint8_t* ip = frame.data() + *offset;
    size_t size = frame.size() - *offset;
    int version = ip[0] >> 4;
    if (version == 4 && size >= 20) {
        size_t header = size_t(ip[0] & 15) * 4;
        size_t total = be16(ip + 2);
        if (ip[9] != 6 || header < 20 || total < header || total > size) return std::nullopt;
        return parse_tcp(ip + header, total - header, AF_INET, ip + 12, ip + 16);
    }
    if (version == 6 && size >= 40) {
        size_t total = 40 + be16(ip + 4);
        if (ip[6] != 6 || total > size) return std::nullopt;
        return parse_tcp(ip + 40, total - 40, AF_INET6, ip + 8, ip + 24);
    }
    return std::nullopt;
}

// Reassembly state of one direction: the sequence number of payload byte 0.
struct DirectionState {
    std::optional<uint32_t> first_sequence;
};

void add_payload(TcpDirection& direction, DirectionState& state, const Segment& segment) {
    if (segment.flags & kFin) direction.fin = true;
    if (segment.flags & kRst) direction.rst = true;
    if (segment.payload_size == 0 || !state.first_sequence || direction.gap) return;
    ++direction.segments;
    uint32_t offset = segment.sequence - *state.first_sequence;
    size_t have = direction.bytes.size();
    if (offset > have) {
        direction.gap = true;
        return;
    }
    size_t overlap = have - offset;
    if (overlap >= segment.payload_size) return;  // a retransmission of bytes already held
    direction.segment_starts.push_back(have);
    direction.bytes.insert(direction.bytes.end(), segment.payload + overlap,
                           segment.payload + segment.payload_size);
}

}  // namespace

std::string TcpConnection::end() const {
    if (client_to_server.rst || server_to_client.rst) return "rst";
    if (client_to_server.fin || server_to_client.fin) return "fin";
    return "open";
}

TcpSummary summarize_tcp(const PacketFile& file, const std::set<uint16_t>& mid_stream_servers) {
    TcpSummary summary;
    struct State {
        size_t index;
        DirectionState client, server;
    };
    std::map<std::pair<std::string, std::string>, State> open;  // (client, server) -> state
    for (const Packet& packet : file.packets) {
        ++summary.packets;
        auto segment = parse_segment(file.link_type, packet.data);
        if (!segment) {
            ++summary.other_packets;
            continue;
        }
        bool syn_only = (segment->flags & (kSyn | kAck)) == kSyn;
        if (syn_only) {
            auto key = std::make_pair(segment->source, segment->destination);
            auto found = open.find(key);
            // A SYN again before any SYN-ACK is a retransmission; after one, a reused port.
            bool retransmitted_syn = found != open.end() && !found->second.server.first_sequence;
            if (!retransmitted_syn) {
                TcpConnection connection;
                connection.client_address = segment->source;
                connection.server_address = segment->destination;
                connection.client_port = segment->source_port;
                connection.server_port = segment->destination_port;
                summary.connections.push_back(std::move(connection));
                open[key] = State{summary.connections.size() - 1, {segment->sequence + 1}, {}};
            }
            continue;
        }
        auto forward = open.find({segment->source, segment->destination});
        auto backward = open.find({segment->destination, segment->source});
        if (forward == open.end() && backward == open.end() && !(segment->flags & kSyn)) {
            // Opened before the capture started: followed from here, when a port says which
            // side is the server. Its bytes start here; the other direction's at its first packet.
            bool to_server = mid_stream_servers.count(segment->destination_port) > 0;
            bool from_server = mid_stream_servers.count(segment->source_port) > 0;
            if (to_server || from_server) {
                TcpConnection connection;
                connection.client_address = to_server ? segment->source : segment->destination;
                connection.server_address = to_server ? segment->destination : segment->source;
                connection.client_port =
                    to_server ? segment->source_port : segment->destination_port;
                connection.server_port =
                    to_server ? segment->destination_port : segment->source_port;
                connection.syn_seen = false;
                summary.connections.push_back(std::move(connection));
                auto key = std::make_pair(summary.connections.back().client_address,
                                          summary.connections.back().server_address);
                open[key] = State{summary.connections.size() - 1, {}, {}};
                if (to_server)
                    forward = open.find(key);
                else
                    backward = open.find(key);
            }
        }
        if (forward != open.end()) {
            TcpConnection& connection = summary.connections[forward->second.index];
            if (!connection.syn_seen && !forward->second.client.first_sequence)
                forward->second.client.first_sequence = segment->sequence;
            add_payload(connection.client_to_server, forward->second.client, *segment);
        } else if (backward != open.end()) {
            TcpConnection& connection = summary.connections[backward->second.index];
            if ((segment->flags & kSyn) && !backward->second.server.first_sequence)
                backward->second.server.first_sequence = segment->sequence + 1;
            if (!connection.syn_seen && !backward->second.server.first_sequence)
                backward->second.server.first_sequence = segment->sequence;
            add_payload(connection.server_to_client, backward->second.server, *segment);
        } else {
            ++summary.stray_packets;
        }
    }
    return summary;
}

}  // namespace capgen
