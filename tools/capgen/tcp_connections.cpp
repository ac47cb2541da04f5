#include "tcp_connections.hpp"

#include <map>
#include <memory>
#include <stdexcept>

#include "capture/packet_decoder.hpp"
#include "capture/packet_source.hpp"
#include "capture/tcp_stream.hpp"

namespace capgen {

namespace {

using ::capture::Endpoint;
using ::capture::TcpSegment;
namespace tcp_flag = ::capture::tcp_flag;

// One direction: its reassembly (started at the first byte's sequence number, once known).
struct DirectionState {
    ::capture::TcpStream stream;
};

void add_payload(TcpDirection& direction, DirectionState& state, const TcpSegment& segment) {
    if (segment.has(tcp_flag::fin)) direction.fin = true;
    if (segment.has(tcp_flag::rst)) direction.rst = true;
    if (segment.payload_size() == 0 || !state.stream.started() || direction.gap) return;
    ++direction.segments;
    const auto kind = state.stream.add(segment, [&](const ::capture::StreamChunk& chunk) {
        if (chunk.gap || !chunk.segment_end) direction.gap = true;
        if (chunk.gap || direction.gap) return;
        direction.segment_starts.push_back(direction.bytes.size());
        direction.bytes.insert(direction.bytes.end(), chunk.data.begin(), chunk.data.end());
    });
    if (kind == ::capture::SegmentKind::OutOfOrder) direction.gap = true;
}

}  // namespace

std::string TcpConnection::end() const {
    if (client_to_server.rst || server_to_client.rst) return "rst";
    if (client_to_server.fin || server_to_client.fin) return "fin";
    return "open";
}

TcpSummary summarize_tcp(const PacketFile& file, const std::set<uint16_t>& mid_stream_servers) {
    if (!::capture::linktype_supported(file.linktype))
        throw std::runtime_error("unsupported link type " +
                                 ::capture::linktype_name(file.linktype));
    TcpSummary summary;
    struct State {
        size_t index;
        DirectionState client, server;
    };
    // (client, server) -> state; a stream's sink may not outlive a move, so states stay put.
    std::map<std::pair<Endpoint, Endpoint>, std::unique_ptr<State>> open;
    auto start = [&](const Endpoint& client, const Endpoint& server, bool syn_seen) -> State& {
        TcpConnection connection;
        connection.client_address = ::capture::to_string(client);
        connection.server_address = ::capture::to_string(server);
        connection.client_port = client.port;
        connection.server_port = server.port;
        connection.syn_seen = syn_seen;
        summary.connections.push_back(std::move(connection));
        auto& state = open[{client, server}];
        state = std::make_unique<State>();
        state->index = summary.connections.size() - 1;
        return *state;
    };
    for (const ::capture::StoredPacket& stored : file.packets) {
        ++summary.packets;
        ::capture::Packet packet;
        packet.linktype = file.linktype;
        packet.data = ::capture::Bytes(stored.data.data(), stored.data.size());
        packet.wire_size = stored.wire_size;
        TcpSegment segment;
        if (::capture::decode_packet(packet, segment) != ::capture::DecodeStatus::Tcp) {
            ++summary.other_packets;
            continue;
        }
        const bool syn_only = (segment.flags & (tcp_flag::syn | tcp_flag::ack)) == tcp_flag::syn;
        if (syn_only) {
            auto found = open.find({segment.source, segment.destination});
            // A SYN again before any SYN-ACK is a retransmission; after one, a reused port.
            const bool retransmitted_syn =
                found != open.end() && !found->second->server.stream.started();
            if (!retransmitted_syn)
                start(segment.source, segment.destination, true)
                    .client.stream.start_at(segment.seq + 1);
            continue;
        }
        auto forward = open.find({segment.source, segment.destination});
        auto backward = open.find({segment.destination, segment.source});
        if (forward == open.end() && backward == open.end() && !segment.has(tcp_flag::syn)) {
            // Opened before the capture started: followed from here, when a port says which
            // side is the server. Its bytes start here; the other direction's at its first packet.
            const bool to_server = mid_stream_servers.count(segment.destination.port) > 0;
            const bool from_server = mid_stream_servers.count(segment.source.port) > 0;
            if (to_server || from_server) {
                const Endpoint& client = to_server ? segment.source : segment.destination;
                const Endpoint& server = to_server ? segment.destination : segment.source;
                start(client, server, false);
                if (to_server)
                    forward = open.find({client, server});
                else
                    backward = open.find({client, server});
            }
        }
        if (forward != open.end()) {
            State& state = *forward->second;
            TcpConnection& connection = summary.connections[state.index];
            if (!connection.syn_seen && !state.client.stream.started())
                state.client.stream.start_at(segment.seq);
            add_payload(connection.client_to_server, state.client, segment);
        } else if (backward != open.end()) {
            State& state = *backward->second;
            TcpConnection& connection = summary.connections[state.index];
            if (segment.has(tcp_flag::syn) && !state.server.stream.started())
                state.server.stream.start_at(segment.seq + 1);
            if (!connection.syn_seen && !state.server.stream.started())
                state.server.stream.start_at(segment.seq);
            add_payload(connection.server_to_client, state.server, segment);
        } else {
            ++summary.stray_packets;
        }
    }
    return summary;
}

}  // namespace capgen
