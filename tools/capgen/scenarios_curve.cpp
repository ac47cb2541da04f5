// CURVE scenarios. Long-term keys are derived from fixed names (keys.hpp).
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <stdexcept>

#include "scenario.hpp"

namespace capgen {

namespace {

const KeyPair& server_keys() {
    static const KeyPair keys = derive_key_pair("server");
    return keys;
}

void set_heartbeat(Socket& socket, int interval_ms, int ttl_ms, int timeout_ms) {
    socket.set(ZMQ_HEARTBEAT_IVL, interval_ms);
    socket.set(ZMQ_HEARTBEAT_TTL, ttl_ms);
    socket.set(ZMQ_HEARTBEAT_TIMEOUT, timeout_ms);
}

// A DEALER client sends `frames`; the ROUTER server receives them and answers `reply`.
void dealer_round(Socket& dealer, Socket& router, ConnectionRecord& connection,
                  const Frames& frames, const std::string& routing_id, Frames reply) {
    send_recorded(dealer, connection.client_to_server, frames);
    receive_checked(router, connection.client_to_server);
    reply.insert(reply.begin(), routing_id);
    send_recorded(router, connection.server_to_client, reply);
    receive_checked(dealer, connection.server_to_client);
}

// The ROUTER receives one message from any of its peers and checks it against that peer's
// record; returns the routing id.
std::string router_receive(Socket& router, std::map<std::string, ConnectionRecord*>& by_id) {
    Frames frames = router.receive_or_throw(receive_timeout_ms, "a message at the ROUTER");
    auto peer = by_id.find(frames.at(0));
    if (peer == by_id.end()) throw std::runtime_error("a message from an unknown routing id");
    check_received(router, peer->second->client_to_server, frames);
    return frames[0];
}

}  // namespace

ScenarioRecord run_curve_dealer_router(ScenarioContext& context) {
    Context zmq;
    Socket server(zmq, ZMQ_ROUTER);
    context.make_curve_server(server, server_keys());
    server.bind(context.endpoint(curve_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "dealer-1");
    context.make_curve_client(client, derive_key_pair("client"), server_keys().public_key);
    client.connect(context.endpoint(curve_port));

    ScenarioRecord scenario{"curve-dealer-router", "CURVE", context.port(curve_port), {}, {}};
    ConnectionRecord connection = new_connection(client, server, context.port(curve_port));
    // 222/223 are where a CURVE MESSAGE (33 bytes + frame) moves to a long ZMTP frame.
    for (size_t size : {0, 1, 222, 223, 255, 256, 70000}) {
        dealer_round(client, server, connection, {pattern_bytes(size, unsigned(size))}, "dealer-1",
                     {"size " + std::to_string(size)});
    }
    dealer_round(client, server, connection,
                 {"multipart", "", pattern_bytes(255, 5), pattern_bytes(256, 6), "x"}, "dealer-1",
                 {"", pattern_bytes(70000, 7)});

    // A burst, sent back to back, so libzmq batches boxes and they straddle TCP segments.
    std::map<std::string, ConnectionRecord*> by_id{{"dealer-1", &connection}};
    constexpr int burst_size = 80;
    for (int i = 0; i < burst_size; ++i) {
        send_recorded(client, connection.client_to_server,
                      {"burst " + std::to_string(i), pattern_bytes(size_t(i * 97 % 1200 + 1), i)});
    }
    for (int i = 0; i < burst_size; ++i) router_receive(server, by_id);
    for (int i = 0; i < burst_size; ++i)
        send_recorded(server, connection.server_to_client,
                      {"dealer-1", "ack " + std::to_string(i)});
    for (int i = 0; i < burst_size; ++i) receive_checked(client, connection.server_to_client);

    scenario.notes =
        "CURVE DEALER/ROUTER, DEALER routing id 'dealer-1'. Frames of 0, 1, 222, 223, 255, 256 "
        "and 70000 bytes (each answered 'size N'), a 5-frame multipart message answered by an "
        "empty frame + 70000 bytes, then a burst of 80 two-frame messages and 80 acks sent back "
        "to back, so boxes straddle TCP segments. Each frame is one CURVE MESSAGE box.";
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

ScenarioRecord run_curve_heartbeat(ScenarioContext& context) {
    constexpr int client_ivl = 200, server_ivl = 500, idle_ms = 2000;
    Context zmq;
    Socket server(zmq, ZMQ_ROUTER);
    context.make_curve_server(server, server_keys());
    set_heartbeat(server, server_ivl, 3000, 1500);
    server.bind(context.endpoint(curve_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "hb-client");
    context.make_curve_client(client, derive_key_pair("client"), server_keys().public_key);
    set_heartbeat(client, client_ivl, 2000, 1000);
    client.connect(context.endpoint(curve_port));

    ScenarioRecord scenario{"curve-heartbeat", "CURVE", context.port(curve_port), {}, {}};
    ConnectionRecord connection = new_connection(client, server, context.port(curve_port));
    dealer_round(client, server, connection, {"before idle"}, "hb-client", {"ack"});
    sleep_ms(idle_ms);
    dealer_round(client, server, connection, {"after idle"}, "hb-client", {"ack"});

    // Heartbeats run on libzmq's timers: only lower bounds are certain (half the nominal count).
    int client_pings = idle_ms / client_ivl / 2, server_pings = idle_ms / server_ivl / 2;
    connection.client_to_server.commands = {{"PING_min", client_pings}, {"PONG_min", server_pings}};
    connection.server_to_client.commands = {{"PING_min", server_pings}, {"PONG_min", client_pings}};
    scenario.notes =
        "CURVE DEALER/ROUTER with heartbeats: client ZMQ_HEARTBEAT_IVL 200 ms, TTL 2000 ms "
        "(PING ttl 20 deciseconds), TIMEOUT 1000 ms; server IVL 500 ms, TTL 3000 ms. One message "
        "each way, 2 s idle, one more each way. PING and PONG travel inside MESSAGE boxes; counts "
        "are minimums.";
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

namespace {

// The server of the heartbeat-timeout scenario, in its own process so it can be frozen with
// SIGSTOP while its kernel keeps the TCP connection open. Echoes every message.
[[noreturn]] void run_frozen_server(const ScenarioContext& context, int ready_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        Context zmq;
        Socket server(zmq, ZMQ_ROUTER);
        context.make_curve_server(server, server_keys());
        server.bind(context.endpoint(curve_port));
        if (write(ready_fd, "r", 1) != 1) _exit(1);
        for (;;) {
            if (auto frames = server.receive(100)) {
                frames->insert(frames->begin() + 1, "echo");
                server.send(*frames);
            }
        }
    } catch (const std::exception& error) {
        fprintf(stderr, "capgen: frozen server: %s\n", error.what());
    }
    _exit(1);
}

pid_t start_frozen_server(const ScenarioContext& context) {
    int ready[2];
    if (pipe(ready) != 0) throw std::runtime_error("pipe failed");
    pid_t child = fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
        close(ready[0]);
        run_frozen_server(context, ready[1]);
    }
    close(ready[1]);
    pollfd waiting = {ready[0], POLLIN, 0};
    char byte = 0;
    bool ok = poll(&waiting, 1, receive_timeout_ms) == 1 && read(ready[0], &byte, 1) == 1;
    close(ready[0]);
    if (!ok) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
        throw std::runtime_error("the server process did not start");
    }
    return child;
}

}  // namespace

ScenarioRecord run_curve_heartbeat_timeout(ScenarioContext& context) {
    // Fork before this process makes any libzmq context: libzmq does not survive a fork.
    pid_t server = start_frozen_server(context);
    auto stop_server = [server] {
        kill(server, SIGKILL);
        waitpid(server, nullptr, 0);
    };
    try {
        Context zmq;
        Socket client(zmq, ZMQ_DEALER);
        client.set(ZMQ_ROUTING_ID, "hb-client");
        client.set(ZMQ_RECONNECT_IVL, -1);  // one connection: no reconnect after the timeout
        context.make_curve_client(client, derive_key_pair("client"), server_keys().public_key);
        set_heartbeat(client, 200, 2000, 800);
        Monitor events(zmq, client, "heartbeat-timeout");
        client.connect(context.endpoint(curve_port));

        ScenarioRecord scenario{
            "curve-heartbeat-timeout", "CURVE", context.port(curve_port), {}, {}};
        ConnectionRecord connection =
            new_connection(ZMQ_DEALER, ZMQ_ROUTER, context.port(curve_port));
        for (std::string text : {"first", "second"}) {
            send_recorded(client, connection.client_to_server, {text});
            // The server echoes what it received: that is its view of the message.
            connection.server_to_client.messages.push_back({"echo", text});
            receive_checked(client, connection.server_to_client);
            ++connection.client_to_server.messages_received;
        }
        sleep_ms(600);
        kill(server, SIGSTOP);
        events.wait_for(ZMQ_EVENT_DISCONNECTED, 1, receive_timeout_ms, "the heartbeat timeout");
        sleep_ms(200);
        context.stop_capture();
        stop_server();

        connection.end = "heartbeat-timeout";
        connection.client_to_server.commands = {{"PING_min", 3}};
        connection.server_to_client.commands = {{"PONG_min", 1}};
        scenario.notes =
            "CURVE DEALER/ROUTER; client heartbeat IVL 200 ms, TTL 2000 ms, TIMEOUT 800 ms, no "
            "reconnect. The server echoes two messages, answers PINGs for 0.6 s, then its process "
            "is frozen (SIGSTOP): PINGs go unanswered and after 800 ms the client closes the "
            "connection (FIN from the client only). The server never closes within the capture.";
        scenario.connections.push_back(std::move(connection));
        return scenario;
    } catch (...) {
        stop_server();
        throw;
    }
}

ScenarioRecord run_curve_wrong_server_key(ScenarioContext& context) {
    constexpr int attempts = 4;
    Context zmq;
    Socket server(zmq, ZMQ_ROUTER);
    context.make_curve_server(server, server_keys());
    Monitor server_events(zmq, server, "wrong-key-server");
    server.bind(context.endpoint(curve_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "wrong-key-client");
    client.set(ZMQ_RECONNECT_IVL, 200);
    context.make_curve_client(client, derive_key_pair("client"),
                              derive_key_pair("wrong-server").public_key);
    Monitor client_events(zmq, client, "wrong-key-client");
    client.connect(context.endpoint(curve_port));

    // Close the client right after it saw the server drop its last connection: its next
    // attempt is at least one RECONNECT_IVL (200 ms) away. (zmq_disconnect does not stop the
    // reconnects of a connection that never completed its handshake.)
    client_events.wait_for(ZMQ_EVENT_DISCONNECTED, attempts, 10000,
                           "the server to close the client's connections");
    client.set(ZMQ_LINGER, 0);
    client.close();
    server_events.drain(300);
    constexpr int refused_events =
        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    int connected = client_events.count(ZMQ_EVENT_CONNECTED);
    int accepted = server_events.count(ZMQ_EVENT_ACCEPTED);
    int refused = server_events.count(refused_events);
    if (connected != attempts || accepted != attempts || refused != attempts) {
        throw std::runtime_error(std::to_string(connected) + " connections, " +
                                 std::to_string(accepted) + " accepted and " +
                                 std::to_string(refused) + " refused, expected " +
                                 std::to_string(attempts) + " of each");
    }

    ScenarioRecord scenario{"curve-wrong-server-key", "CURVE", context.port(curve_port), {}, {}};
    ConnectionRecord connection = new_connection(ZMQ_DEALER, ZMQ_ROUTER, context.port(curve_port));
    connection.handshake = "closed";
    for (int i = 0; i < attempts; ++i) scenario.connections.push_back(connection);
    scenario.notes =
        "CURVE client given the wrong server public key: the key log's SERVER_PUBLIC is that "
        "wrong key, SERVER_SECRET the server's real one. The server cannot open HELLO and closes "
        "the TCP connection (no WELCOME, no ERROR); the client reconnects every 200-400 ms with a "
        "new C' (4 connections, then the client is closed). No application message is exchanged.";
    return scenario;
}

ScenarioRecord run_many_connections(ScenarioContext& context) {
    constexpr int client_count = 20, round_count = 3;
    Context zmq;
    Socket server(zmq, ZMQ_ROUTER);
    context.make_curve_server(server, server_keys());
    server.bind(context.endpoint(curve_port));

    ScenarioRecord scenario{"many-connections", "CURVE", context.port(curve_port), {}, {}};
    scenario.connections.reserve(client_count);
    std::vector<Socket> clients;
    std::map<std::string, ConnectionRecord*> by_id;
    // One at a time, each completing a round trip, so the SYN order is the client order.
    for (int i = 0; i < client_count; ++i) {
        std::string name = (i < 9 ? "client-0" : "client-") + std::to_string(i + 1);
        Socket& client = clients.emplace_back(zmq, ZMQ_DEALER);
        client.set(ZMQ_ROUTING_ID, name);
        context.make_curve_client(client, derive_key_pair(name), server_keys().public_key);
        client.connect(context.endpoint(curve_port));
        ConnectionRecord& connection = scenario.connections.emplace_back(
            new_connection(client, server, context.port(curve_port)));
        by_id[name] = &connection;
        dealer_round(client, server, connection, {"hello from " + name}, name, {"welcome " + name});
    }
    // Then all at once: every client sends, the server answers each, in arrival order.
    for (int round = 1; round <= round_count; ++round) {
        for (int i = 0; i < client_count; ++i) {
            send_recorded(clients[i], scenario.connections[i].client_to_server,
                          {"tick", std::to_string(round)});
        }
        for (int i = 0; i < client_count; ++i) {
            std::string id = router_receive(server, by_id);
            send_recorded(server, by_id[id]->server_to_client, {id, "tock", std::to_string(round)});
        }
        for (int i = 0; i < client_count; ++i)
            receive_checked(clients[i], scenario.connections[i].server_to_client);
    }
    scenario.notes =
        "20 CURVE DEALER clients (routing ids client-01..client-20, each with its own long-term "
        "key) to one ROUTER. They connect one after another (connection i is client-0i), then "
        "exchange three rounds of tick/tock concurrently.";
    return scenario;
}

ScenarioRecord run_ctrlx_like(ScenarioContext& context) {
    constexpr int cycle_count = 12, cycle_ms = 250;
    const KeyPair broker_keys = derive_key_pair("ctrlx-broker");
    Context zmq;
    Socket client_side(zmq, ZMQ_ROUTER);
    context.make_curve_server(client_side, broker_keys);
    client_side.bind(context.endpoint(null_port));
    Socket provider_side(zmq, ZMQ_ROUTER);
    context.make_curve_server(provider_side, broker_keys);
    provider_side.bind(context.endpoint(curve_port));

    Socket provider(zmq, ZMQ_DEALER);
    provider.set(ZMQ_ROUTING_ID, "provider-1");
    context.make_curve_client(provider, derive_key_pair("ctrlx-provider"), broker_keys.public_key);
    set_heartbeat(provider, 1000, 3000, 1000);
    provider.connect(context.endpoint(curve_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "client-1");
    context.make_curve_client(client, derive_key_pair("ctrlx-client"), broker_keys.public_key);
    set_heartbeat(client, 1000, 3000, 1000);

    ScenarioRecord scenario{"ctrlx-like", "CURVE", context.port(curve_port), {}, {}};
    scenario.connections.reserve(2);
    ConnectionRecord& to_provider = scenario.connections.emplace_back(
        new_connection(provider, provider_side, context.port(curve_port)));
    dealer_round(provider, provider_side, to_provider, {"register", "framework/metrics/system"},
                 "provider-1", {"registered"});
    client.connect(context.endpoint(null_port));
    ConnectionRecord& to_client = scenario.connections.emplace_back(
        new_connection(client, client_side, context.port(null_port)));

    const std::string path = "framework/metrics/system/cpu-utilisation-percent";
    for (int cycle = 1; cycle <= cycle_count; ++cycle) {
        std::string sequence = std::to_string(cycle);
        std::string value = std::to_string(10 + cycle % 7) + ".5";
        send_recorded(client, to_client.client_to_server, {"read", path, sequence});
        receive_checked(client_side, to_client.client_to_server);
        send_recorded(provider_side, to_provider.server_to_client,
                      {"provider-1", "read", path, sequence});
        receive_checked(provider, to_provider.server_to_client);
        send_recorded(provider, to_provider.client_to_server, {"value", sequence, value});
        receive_checked(provider_side, to_provider.client_to_server);
        send_recorded(client_side, to_client.server_to_client,
                      {"client-1", "value", sequence, value});
        receive_checked(client, to_client.server_to_client);
        if (cycle % 4 == 0) {
            dealer_round(provider, provider_side, to_provider, {"keepalive"}, "provider-1",
                         {"keepalive"});
            dealer_round(client, client_side, to_client, {"keepalive"}, "client-1", {"keepalive"});
        }
        sleep_ms(cycle_ms);
    }
    context.stop_capture();  // the capture ends with both connections still up

    for (ConnectionRecord& connection : scenario.connections) {
        connection.end = "open";
        connection.client_to_server.commands = {{"PING_min", 1}};
        connection.server_to_client.commands = {{"PONG_min", 1}};
    }
    scenario.notes =
        "Shaped like ctrlX Data Layer traffic: a broker with CURVE ROUTERs on 2069 (clients) and "
        "2070 (providers). Connection 0: provider-1 on 2070 registers, then answers forwarded "
        "reads. Connection 1: client-1 on 2069 reads a value every 250 ms for 3 s; every fourth "
        "cycle both send a 'keepalive' message. Both DEALERs send ZMTP heartbeats (IVL 1000 ms, "
        "TTL 3000 ms). The capture stops while both connections are still open. The project's "
        "default capture.";
    return scenario;
}

ScenarioRecord run_curve_late_start(ScenarioContext& context) {
    // 4 cycles before the capture (1 s after the handshake), 16 in it (4 s: 4 PINGs nominal).
    constexpr int cycles_before = 4, cycle_count = 16, cycle_ms = 250;
    const KeyPair broker_keys = derive_key_pair("ctrlx-broker");
    Context zmq;
    Socket broker(zmq, ZMQ_ROUTER);
    context.make_curve_server(broker, broker_keys);
    broker.bind(context.endpoint(null_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "client-1");
    context.make_curve_client(client, derive_key_pair("ctrlx-client"), broker_keys.public_key);
    set_heartbeat(client, 1000, 3000, 1000);
    client.connect(context.endpoint(null_port));

    const std::string path = "framework/metrics/system/cpu-utilisation-percent";
    auto read_value = [&](ConnectionRecord& record, int cycle) {
        std::string sequence = std::to_string(cycle);
        dealer_round(client, broker, record, {"read", path, sequence}, "client-1",
                     {"value", sequence, std::to_string(10 + cycle % 7) + ".5"});
    };
    // The handshake and the first second of reads: checked like the rest, but not recorded,
    // since they are not in the capture. Every round trip is complete before the capture
    // starts, so it begins between two messages (heartbeats aside).
    ConnectionRecord before = new_connection(client, broker, context.port(null_port));
    for (int cycle = 1; cycle <= cycles_before; ++cycle) {
        read_value(before, cycle);
        sleep_ms(cycle_ms);
    }
    context.start_capture();

    ScenarioRecord scenario{"curve-late-start", "CURVE", context.port(null_port), {}, {}};
    ConnectionRecord& connection =
        scenario.connections.emplace_back(new_connection(client, broker, context.port(null_port)));
    connection.handshake = "not-captured";
    for (int cycle = cycles_before + 1; cycle <= cycles_before + cycle_count; ++cycle) {
        read_value(connection, cycle);
        if (cycle % 4 == 0)
            dealer_round(client, broker, connection, {"keepalive"}, "client-1", {"keepalive"});
        if (cycle == 10) {  // a reply in a long frame (outer flags 0x02)
            dealer_round(client, broker, connection, {"browse", "framework/metrics/system"},
                         "client-1", {"nodes", pattern_bytes(1500, 10)});
        }
        sleep_ms(cycle_ms);
    }
    client.set(ZMQ_LINGER, 0);
    client.close();  // FIN from the client, in the capture
    sleep_ms(100);

    connection.client_to_server.commands = {{"PING_min", 2}};
    connection.server_to_client.commands = {{"PONG_min", 2}};
    scenario.notes =
        "A long-lived CURVE connection captured late, shaped like a ctrlX Data Layer client: "
        "client-1 (DEALER, ZMTP heartbeats IVL 1000 ms, TTL 3000 ms) reads a value from a broker "
        "ROUTER on 2069 every 250 ms. The capture starts 1 s after the handshake (4 reads later, "
        "none of them in it), between two messages: no SYN, greeting, HELLO..READY. 16 reads "
        "follow, a 'keepalive' message each way every fourth, one 'browse' answered by a "
        "1500-byte frame; then the client closes (FIN). Only the connection's SESSION_KEY "
        "(logged by both ends) opens its boxes.";
    return scenario;
}

}  // namespace capgen
