#include "scenario.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "zmtp/wire.hpp"

namespace capgen {

void ScenarioContext::make_curve_server(Socket& socket, const KeyPair& server) const {
    socket.set(ZMQ_CURVE_SERVER, 1);
    socket.set(ZMQ_CURVE_SECRETKEY, server.secret_key);
    if (!keylog_preloaded) {
        append_to_keylog(keylog_path, keylog_line("SERVER_PUBLIC", server.public_key) +
                                          keylog_line("SERVER_SECRET", server.secret_key));
    }
}

void ScenarioContext::make_curve_client(Socket& socket, const KeyPair& client,
                                        const CurveKey& server_public) const {
    socket.set(ZMQ_CURVE_SERVERKEY, server_public);
    socket.set(ZMQ_CURVE_PUBLICKEY, client.public_key);
    socket.set(ZMQ_CURVE_SECRETKEY, client.secret_key);
    if (!keylog_preloaded) {
        append_to_keylog(keylog_path, keylog_line("SERVER_PUBLIC", server_public) +
                                          keylog_line("CLIENT_PUBLIC", client.public_key) +
                                          keylog_line("CLIENT_SECRET", client.secret_key));
    }
}

const std::vector<Scenario>& all_scenarios() {
    static const std::vector<Scenario> scenarios = {
        {"null-req-rep", "NULL", {null_port}, run_null_req_rep},
        {"curve-dealer-router", "CURVE", {curve_port}, run_curve_dealer_router},
        {"pub-sub", "NULL", {null_port}, run_pub_sub},
        {"pub-sub-zmtp30", "NULL", {null_port}, run_pub_sub_zmtp30},
        {"plain-accept", "PLAIN", {null_port}, run_plain_accept},
        {"plain-reject", "PLAIN", {null_port}, run_plain_reject},
        {"curve-heartbeat", "CURVE", {curve_port}, run_curve_heartbeat},
        {"curve-heartbeat-timeout", "CURVE", {curve_port}, run_curve_heartbeat_timeout},
        {"curve-wrong-server-key", "CURVE", {curve_port}, run_curve_wrong_server_key},
        {"many-connections", "CURVE", {curve_port}, run_many_connections},
        {"ctrlx-like", "CURVE", {null_port, curve_port}, run_ctrlx_like},
        {"null-port-5555", "NULL", {other_port}, run_null_port_5555},
        {"curve-late-start", "CURVE", {null_port}, run_curve_late_start, true},
        {"zmtp20-jeromq", "NULL", {null_port, curve_port}, run_zmtp20_jeromq},
        {"zmtp10-raw-peer", "NULL", {null_port}, run_zmtp10_raw_peer},
    };
    return scenarios;
}

const Scenario* find_scenario(std::string_view name) {
    for (const Scenario& scenario : all_scenarios())
        if (scenario.name == name) return &scenario;
    return nullptr;
}

ConnectionRecord new_connection(int client_type, int server_type, int server_port) {
    ConnectionRecord connection;
    // libzmq's ZMQ_* numbers are ZMTP 2.0's socket type numbers.
    const auto name = [](int type) {
        return std::string(
            zmtp::socket_type_name(zmtp::socket_type_from_number(static_cast<uint8_t>(type))));
    };
    connection.client_socket_type = name(client_type);
    connection.server_socket_type = name(server_type);
    connection.server_port = server_port;
    return connection;
}

ConnectionRecord new_connection(const Socket& client, const Socket& server, int server_port) {
    return new_connection(client.type(), server.type(), server_port);
}

// REQ puts an empty delimiter before the request; REP puts the saved envelope (the same
// delimiter, for a directly connected REQ) before the reply and strips it on receipt.
// ROUTER's first frame is the routing id, which never travels.
Frames wire_frames_sent(int socket_type, const Frames& frames) {
    Frames wire = frames;
    if (socket_type == ZMQ_REQ || socket_type == ZMQ_REP) wire.insert(wire.begin(), "");
    if (socket_type == ZMQ_ROUTER && !wire.empty()) wire.erase(wire.begin());
    return wire;
}

Frames wire_frames_received(int socket_type, const Frames& frames) {
    return wire_frames_sent(socket_type, frames);
}

void send_recorded(Socket& socket, DirectionRecord& direction, const Frames& frames) {
    direction.messages.push_back(wire_frames_sent(socket.type(), frames));
    socket.send(frames);
}

void check_received(const Socket& socket, DirectionRecord& direction, const Frames& frames) {
    check_received_wire(direction, wire_frames_received(socket.type(), frames));
}

void check_received_wire(DirectionRecord& direction, const Frames& wire) {
    size_t index = size_t(direction.messages_received);
    if (index >= direction.messages.size())
        throw std::runtime_error("received a message that was never sent");
    if (direction.messages[index] != wire) {
        throw std::runtime_error("message " + std::to_string(index) +
                                 " arrived different from what was sent");
    }
    ++direction.messages_received;
}

Frames receive_checked(Socket& socket, DirectionRecord& direction) {
    Frames frames = socket.receive_or_throw(receive_timeout_ms, "an application message");
    check_received(socket, direction, frames);
    return frames;
}

std::string pattern_bytes(size_t size, unsigned seed) {
    std::string bytes(size, '\0');
    uint32_t state = 2166136261u ^ seed;
    for (char& byte : bytes) {
        state = state * 1664525u + 1013904223u;
        byte = char(state >> 24);
    }
    return bytes;
}

void sleep_ms(int milliseconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

}  // namespace capgen
