// Hand-built ZMTP 3.1 NULL conversations as captured packets, for the tracker and analyzer tests.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "packet_builder.hpp"
#include "tracker/connection_tracker.hpp"

namespace zmtp::tracker::testing {

using zmtp::Direction;

inline std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

inline std::vector<uint8_t> greeting(std::string_view mechanism = "NULL") {
    std::vector<uint8_t> g(64, 0);
    g[0] = 0xFF;
    g[8] = 1;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    std::copy(mechanism.begin(), mechanism.end(), g.begin() + 12);
    return g;
}

inline std::vector<uint8_t> ready(std::string_view socket_type) {
    std::string body = std::string("\x05READY\x0bSocket-Type", 18) + std::string(3, '\0') +
                       char(socket_type.size()) + std::string(socket_type);
    return bytes(std::string("\x04", 1) + char(body.size()) + body);
}

// A REQ/REP message: the empty delimiter, then the body.
inline std::vector<uint8_t> req_message(std::string_view text) {
    return bytes(std::string("\x01\x00\x00", 3) + char(text.size()) + std::string(text));
}

// A PING (ttl in deciseconds, no context) and a PONG command frame.
inline std::vector<uint8_t> ping(uint16_t ttl_ds) {
    return bytes(std::string("\x04\x07\x04PING", 7) + char(ttl_ds >> 8) + char(ttl_ds & 0xFF));
}
inline std::vector<uint8_t> pong() {
    return bytes(std::string("\x04\x05\x04PONG", 7));
}
// A single-frame message.
inline std::vector<uint8_t> message(std::string_view text) {
    return bytes(std::string("\x00", 1) + char(text.size()) + std::string(text));
}

// Builds the packets of one TCP connection, keeping sequence and acknowledgement numbers.
struct Conversation {
    uint16_t client_port = 40000, server_port = 2069;
    uint32_t next[2] = {1000, 5000};  // next sequence number per direction
    Timestamp time = 1'000'000'000;
    std::vector<std::vector<uint8_t>> frames;
    std::vector<Packet> packets;

    void send(Direction dir, uint8_t flags, std::vector<uint8_t> payload = {},
              Timestamp step = 1000) {
        const size_t d = size_t(dir);
        SegmentSpec spec;
        const bool from_client = dir == Direction::ClientToServer;
        spec.source = from_client ? std::array<uint8_t, 16>{10, 0, 0, 1}
                                  : std::array<uint8_t, 16>{10, 0, 0, 2};
        spec.destination = from_client ? std::array<uint8_t, 16>{10, 0, 0, 2}
                                       : std::array<uint8_t, 16>{10, 0, 0, 1};
        spec.source_port = from_client ? client_port : server_port;
        spec.destination_port = from_client ? server_port : client_port;
        spec.seq = next[d];
        spec.ack = next[1 - d];
        spec.flags = flags;
        spec.payload = std::move(payload);
        next[d] +=
            uint32_t(spec.payload.size()) + ((flags & (tcp_flag::syn | tcp_flag::fin)) ? 1 : 0);
        frames.push_back(build_ethernet(spec));
        time += step;
        Packet p;
        p.time = time;
        p.linktype = DLT_EN10MB;
        p.wire_size = uint32_t(frames.back().size());
        p.number = packets.size() + 1;
        packets.push_back(p);
    }
    void wait(Timestamp ns) { time += ns; }
    void data(Direction dir, std::vector<uint8_t> payload) {
        send(dir, tcp_flag::ack | tcp_flag::psh, payload);
    }
    void open() {
        send(Direction::ClientToServer, tcp_flag::syn);
        next[1] += 0;
        send(Direction::ServerToClient, tcp_flag::syn | tcp_flag::ack);
        send(Direction::ClientToServer, tcp_flag::ack);
    }
    void handshake(std::string_view client_type = "REQ", std::string_view server_type = "REP") {
        data(Direction::ClientToServer, greeting());
        data(Direction::ServerToClient, greeting());
        data(Direction::ClientToServer, ready(client_type));
        data(Direction::ServerToClient, ready(server_type));
    }
    void request_reply(std::string_view request, std::string_view reply) {
        data(Direction::ClientToServer, req_message(request));
        data(Direction::ServerToClient, req_message(reply));
    }
    void close() {
        send(Direction::ClientToServer, tcp_flag::fin | tcp_flag::ack);
        send(Direction::ServerToClient, tcp_flag::fin | tcp_flag::ack);
        send(Direction::ClientToServer, tcp_flag::ack);
    }
    // Packet views are valid while this object lives.
    std::vector<Packet> all() {
        for (size_t i = 0; i < packets.size(); ++i)
            packets[i].data = Bytes(frames[i].data(), frames[i].size());
        return packets;
    }
};

}  // namespace zmtp::tracker::testing
