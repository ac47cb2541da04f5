#include "expected.hpp"

#include <nlohmann/json.hpp>

namespace capgen {

namespace {

using nlohmann::ordered_json;

ordered_json direction_json(const DirectionRecord& direction) {
    ordered_json messages = ordered_json::array();
    for (const Frames& frames : direction.messages) {
        ordered_json message = ordered_json::array();
        for (const std::string& frame : frames) message.push_back(to_hex(frame));
        messages.push_back(std::move(message));
    }
    ordered_json commands = ordered_json::object();
    for (const auto& [name, count] : direction.commands) commands[name] = count;
    return {{"messages", std::move(messages)}, {"commands", std::move(commands)}};
}

ordered_json connection_json(const ConnectionRecord& connection) {
    ordered_json json;
    json["socket_types"] = {connection.client_socket_type, connection.server_socket_type};
    json["server_port"] = connection.server_port;
    json["handshake"] = connection.handshake;
    if (connection.handshake == "error") json["error_reason"] = connection.error_reason;
    json["client_to_server"] = direction_json(connection.client_to_server);
    json["server_to_client"] = direction_json(connection.server_to_client);
    json["end"] = connection.end;
    if (connection.greetings) {
        json["greetings"] = ordered_json::array();
        for (const GreetingRecord& g : *connection.greetings)
            json["greetings"].push_back({{"version", g.version}, {"identity", to_hex(g.identity)}});
    }
    return json;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        hex.push_back(digits[byte >> 4]);
        hex.push_back(digits[byte & 15]);
    }
    return hex;
}

std::string expected_json(const ScenarioRecord& scenario) {
    ordered_json json;
    json["scenario"] = scenario.name;
    json["capture"] = scenario.capture_file();
    json["keylog"] = scenario.has_keylog() ? ordered_json(scenario.keylog_file()) : ordered_json();
    json["mechanism"] = scenario.mechanism;
    json["server_port"] = scenario.server_port;
    // Written only for captures that start after a handshake, so the others stay as they were.
    for (const ConnectionRecord& connection : scenario.connections) {
        if (connection.handshake == "not-captured") {
            json["capture_start"] = "mid-connection";
            break;
        }
    }
    ordered_json connections = ordered_json::array();
    for (const ConnectionRecord& connection : scenario.connections)
        connections.push_back(connection_json(connection));
    json["connections"] = std::move(connections);
    json["notes"] = scenario.notes;
    return json.dump(1) + "\n";
}

std::string exchange_summary(const ScenarioRecord& scenario) {
    std::string lines;
    for (size_t i = 0; i < scenario.connections.size(); ++i) {
        const ConnectionRecord& connection = scenario.connections[i];
        lines += scenario.name + " " + std::to_string(i) + " c2s " +
                 std::to_string(connection.client_to_server.messages_received) + "\n";
        lines += scenario.name + " " + std::to_string(i) + " s2c " +
                 std::to_string(connection.server_to_client.messages_received) + "\n";
    }
    return lines;
}

}  // namespace capgen
