// What a correct decoder must find in a capture (NAME.expected.json, schema in captures/README.md).
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zmq_socket.hpp"

namespace capgen {

// One direction of one connection, as the applications saw it.
struct DirectionRecord {
    std::vector<Frames> messages;         // wire frames of each application message
    std::map<std::string, int> commands;  // "PING": 3, or "PING_min": 3 when timing-dependent
    int messages_received = 0;            // how many of `messages` the receiving peer got
};

// A ZMTP 1.0/2.0 side's greeting: what it speaks (zmtp::greeting_label's words) and the
// identity its greeting carries (docs/protocol.md 1.3, 1.4, 1.6).
struct GreetingRecord {
    std::string version;  // "ZMTP 2.0 REQ", "ZMTP 2.0 (downgraded from 3.x) REP"
    std::string identity;
};

struct ConnectionRecord {
    std::string client_socket_type;  // TCP client side
    std::string server_socket_type;  // TCP server side
    int server_port = 0;
    std::string handshake = "ready";  // ready | error | closed | not-captured
    std::string error_reason;         // when handshake == "error"
    DirectionRecord client_to_server;
    DirectionRecord server_to_client;
    std::string end = "fin";                                 // fin | rst | open | heartbeat-timeout
    std::optional<std::array<GreetingRecord, 2>> greetings;  // client, server; 1.0/2.0 only
};

struct ScenarioRecord {
    std::string name;
    std::string mechanism;  // NULL | PLAIN | CURVE
    int server_port = 0;
    std::vector<ConnectionRecord> connections;  // in the order of their TCP SYN
    std::string notes;

    std::string capture_file() const { return name + ".pcapng"; }
    std::string keylog_file() const { return name + ".keys"; }
    bool has_keylog() const { return mechanism == "CURVE"; }
};

std::string to_hex(std::string_view bytes);
std::string expected_json(const ScenarioRecord& scenario);
// One line per connection direction: what the receiving peers got ("NAME 0 c2s 4").
std::string exchange_summary(const ScenarioRecord& scenario);

}  // namespace capgen
