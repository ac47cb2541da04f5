// The capture scenarios: what each one plays, and the helpers they share.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "expected.hpp"
#include "keys.hpp"
#include "zmq_socket.hpp"

namespace capgen {

constexpr int null_port = 2069;   // ctrlX Data Layer client port
constexpr int curve_port = 2070;  // ctrlX Data Layer provider port
constexpr int other_port = 5555;
constexpr int receive_timeout_ms = 5000;

struct ScenarioContext {
    int port_offset = 0;
    std::string keylog_path;        // NAME.keys
    bool keylog_preloaded = false;  // libzmtp-keylog.so is loaded and logs every key itself
    // Tells the driver the traffic of interest is over and returns once it stopped capturing,
    // so that what happens next (closing sockets, killing a frozen peer) is not in the capture.
    std::function<void()> stop_capture = [] {};
    // Scenarios whose capture starts late (Scenario::capture_starts_late): tells the driver to
    // start capturing and returns once tcpdump listens. What came before is not in the capture.
    std::function<void()> start_capture = [] {};

    int port(int base_port) const { return base_port + port_offset; }
    std::string endpoint(int base_port) const { return tcp_endpoint(port(base_port)); }

    // Sets a socket's long-term CURVE keys; logs them when the key logger is not preloaded.
    void make_curve_server(Socket& socket, const KeyPair& server) const;
    void make_curve_client(Socket& socket, const KeyPair& client,
                           const CurveKey& server_public) const;
};

struct Scenario {
    std::string_view name;
    std::string_view mechanism;
    std::vector<int> base_ports;  // ports whose traffic is captured
    ScenarioRecord (*run)(ScenarioContext&);
    // The capture starts only when the scenario calls start_capture (mid-connection, after the
    // handshake); otherwise before the scenario runs.
    bool capture_starts_late = false;
};

const std::vector<Scenario>& all_scenarios();
const Scenario* find_scenario(std::string_view name);

ScenarioRecord run_null_req_rep(ScenarioContext& context);
ScenarioRecord run_null_port_5555(ScenarioContext& context);
ScenarioRecord run_pub_sub(ScenarioContext& context);
ScenarioRecord run_pub_sub_zmtp30(ScenarioContext& context);
ScenarioRecord run_plain_accept(ScenarioContext& context);
ScenarioRecord run_plain_reject(ScenarioContext& context);
ScenarioRecord run_curve_dealer_router(ScenarioContext& context);
ScenarioRecord run_curve_heartbeat(ScenarioContext& context);
ScenarioRecord run_curve_heartbeat_timeout(ScenarioContext& context);
ScenarioRecord run_curve_wrong_server_key(ScenarioContext& context);
ScenarioRecord run_many_connections(ScenarioContext& context);
ScenarioRecord run_ctrlx_like(ScenarioContext& context);
ScenarioRecord run_curve_late_start(ScenarioContext& context);
ScenarioRecord run_zmtp20_jeromq(ScenarioContext& context);
ScenarioRecord run_zmtp10_raw_peer(ScenarioContext& context);

// --- recording what the applications exchange ---

ConnectionRecord new_connection(int client_type, int server_type, int server_port);
ConnectionRecord new_connection(const Socket& client, const Socket& server, int server_port);

// Sends `frames` from an application and records their wire form in `direction`.
void send_recorded(Socket& socket, DirectionRecord& direction, const Frames& frames);
// Checks that what an application received is the next message recorded in `direction`
// (compared in wire form), and counts it. Throws on a mismatch.
void check_received(const Socket& socket, DirectionRecord& direction, const Frames& frames);
// The same, for frames already in wire form.
void check_received_wire(DirectionRecord& direction, const Frames& wire);
// Receives one message and checks it as above; returns the application's frames.
Frames receive_checked(Socket& socket, DirectionRecord& direction);

Frames wire_frames_sent(int socket_type, const Frames& frames);
Frames wire_frames_received(int socket_type, const Frames& frames);

// Deterministic filler bytes for large frames.
std::string pattern_bytes(size_t size, unsigned seed);
void sleep_ms(int milliseconds);

}  // namespace capgen
