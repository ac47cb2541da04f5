// Scenarios without encryption: NULL and PLAIN.
#include <atomic>
#include <stdexcept>
#include <thread>

#include "scenario.hpp"

namespace capgen {

namespace {

struct RequestReply {
    Frames request;
    Frames reply;
};

ScenarioRecord req_rep(ScenarioContext& context, std::string_view name, int base_port,
                       const std::vector<RequestReply>& rounds, std::string notes) {
    Context zmq;
    Socket rep(zmq, ZMQ_REP);
    rep.bind(context.endpoint(base_port));
    Socket req(zmq, ZMQ_REQ);
    req.set(ZMQ_ROUTING_ID, "req-client");
    req.connect(context.endpoint(base_port));

    ScenarioRecord scenario{std::string(name), "NULL", context.port(base_port), {}, notes};
    ConnectionRecord connection = new_connection(req, rep, context.port(base_port));
    for (const RequestReply& round : rounds) {
        send_recorded(req, connection.client_to_server, round.request);
        receive_checked(rep, connection.client_to_server);
        send_recorded(rep, connection.server_to_client, round.reply);
        receive_checked(req, connection.server_to_client);
    }
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

// Publishes numbered probes on `topic` until the subscriber receives one, which proves the
// subscriptions sent so far reached the publisher. Probes published before that were dropped
// by the publisher's filter and never reached the wire; the ones that did are all recorded.
void publish_until_received(Socket& pub, Socket& sub, DirectionRecord& direction,
                            const std::string& topic) {
    for (int probe = 1; probe <= 250; ++probe) {
        pub.send({topic + " probe " + std::to_string(probe)});
        if (auto frames = sub.receive(20)) {
            direction.messages.push_back(*frames);
            ++direction.messages_received;
            while (auto late = sub.receive(200)) {  // probes already in flight
                direction.messages.push_back(*late);
                ++direction.messages_received;
            }
            return;
        }
    }
    throw std::runtime_error("the subscription to '" + topic + "' never reached the publisher");
}

// Answers ZAP requests (RFC 27) for one PLAIN username and password; runs until destroyed.
class ZapHandler {
  public:
    ZapHandler(Context& zmq, std::string username, std::string password)
        : socket_(zmq, ZMQ_REP), username_(std::move(username)), password_(std::move(password)) {
        socket_.bind("inproc://zeromq.zap.01");
        thread_ = std::thread([this] { serve(); });
    }
    ~ZapHandler() {
        stop_ = true;
        thread_.join();
    }
    ZapHandler(const ZapHandler&) = delete;
    ZapHandler& operator=(const ZapHandler&) = delete;

  private:
    void serve() {
        while (!stop_) {
            auto request = socket_.receive(50);
            if (request) socket_.send(reply_to(*request));
        }
    }
    // Request: version, request id, domain, address, identity, mechanism, credentials...
    Frames reply_to(const Frames& request) const {
        std::string request_id = request.size() > 1 ? request[1] : "";
        bool accepted = request.size() == 8 && request[5] == "PLAIN" && request[6] == username_ &&
                        request[7] == password_;
        if (accepted) return {"1.0", request_id, "200", "OK", username_, ""};
        return {"1.0", request_id, "400", "bad username or password", "", ""};
    }

    Socket socket_;
    std::string username_, password_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace

ScenarioRecord run_null_req_rep(ScenarioContext& context) {
    std::vector<RequestReply> rounds = {
        {{"hello"}, {"world"}},
        {{"GET /temperature", "unit=celsius"}, {"21.5"}},
        {{pattern_bytes(256, 1)}, {pattern_bytes(255, 2)}},
        {{""}, {"", "empty request"}},
    };
    return req_rep(context, "null-req-rep", null_port, rounds,
                   "NULL REQ/REP, REQ routing id 'req-client'. Four request/replies: one frame, "
                   "multipart, frames of 256 and 255 bytes (long and short ZMTP framing), an empty "
                   "frame. Every message carries REQ's empty delimiter frame first.");
}

ScenarioRecord run_null_port_5555(ScenarioContext& context) {
    std::vector<RequestReply> rounds;
    for (int i = 1; i <= 3; ++i)
        rounds.push_back({{"ping " + std::to_string(i)}, {"pong " + std::to_string(i)}});
    return req_rep(context, "null-port-5555", other_port, rounds,
                   "NULL REQ/REP on port 5555, not a ZMTP default port: found only by the greeting "
                   "heuristic or Decode As. Three request/replies.");
}

ScenarioRecord run_pub_sub(ScenarioContext& context) {
    Context zmq;
    Socket pub(zmq, ZMQ_PUB);
    pub.bind(context.endpoint(null_port));
    Socket sub(zmq, ZMQ_SUB);
    sub.connect(context.endpoint(null_port));

    ScenarioRecord scenario{"pub-sub", "NULL", context.port(null_port), {}, {}};
    ConnectionRecord connection = new_connection(sub, pub, context.port(null_port));
    auto& commands = connection.client_to_server.commands;
    DirectionRecord& published = connection.server_to_client;
    auto subscribe = [&](const std::string& topic) {
        sub.set(ZMQ_SUBSCRIBE, topic);
        ++commands["SUBSCRIBE"];
    };

    subscribe("weather.");
    subscribe("news.");
    publish_until_received(pub, sub, published, "weather.sync");
    send_recorded(pub, published, {"weather.berlin", "12.5 C"});
    pub.send({"sport.football", "not subscribed: filtered out by the publisher"});
    send_recorded(pub, published, {"news.flash", "zmtpscope sees inside ZeroMQ"});
    send_recorded(pub, published, {"weather.paris", pattern_bytes(300, 3)});
    send_recorded(pub, published, {"news.empty", ""});
    for (int i = 0; i < 4; ++i) receive_checked(sub, published);

    sub.set(ZMQ_UNSUBSCRIBE, "news.");
    ++commands["CANCEL"];
    subscribe("alerts.");
    publish_until_received(pub, sub, published, "alerts.sync");
    pub.send({"news.late", "cancelled: filtered out by the publisher"});
    send_recorded(pub, published, {"weather.final", "bye"});
    receive_checked(sub, published);

    scenario.notes =
        "NULL PUB/SUB (ZMTP 3.1: SUBSCRIBE and CANCEL are commands). SUB subscribes to "
        "'weather.' and 'news.', later cancels 'news.' and subscribes to 'alerts.'. Messages on "
        "other topics are filtered by the publisher and never reach the wire. '... probe N' "
        "messages are how the scenario learns that a subscription arrived.";
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

namespace {

ScenarioRecord plain_scenario(ScenarioContext& context, std::string_view name,
                              const std::string& password) {
    Context zmq;
    ZapHandler zap(zmq, "admin", "secret");
    Socket server(zmq, ZMQ_ROUTER);
    server.set(ZMQ_PLAIN_SERVER, 1);
    server.set(ZMQ_ZAP_DOMAIN, "capgen");
    server.bind(context.endpoint(null_port));
    Socket client(zmq, ZMQ_DEALER);
    client.set(ZMQ_ROUTING_ID, "plain-client");
    client.set(ZMQ_PLAIN_USERNAME, "admin");
    client.set(ZMQ_PLAIN_PASSWORD, password);
    Monitor client_events(zmq, client, std::string(name) + "-client");
    client.connect(context.endpoint(null_port));

    ScenarioRecord scenario{std::string(name), "PLAIN", context.port(null_port), {}, {}};
    ConnectionRecord connection = new_connection(client, server, context.port(null_port));
    if (password == "secret") {
        send_recorded(client, connection.client_to_server, {"status?"});
        receive_checked(server, connection.client_to_server);
        send_recorded(server, connection.server_to_client, {"plain-client", "running"});
        receive_checked(client, connection.server_to_client);
        send_recorded(client, connection.client_to_server, {"bye", pattern_bytes(256, 4)});
        receive_checked(server, connection.client_to_server);
        scenario.connections.push_back(std::move(connection));
        return scenario;
    }
    client_events.wait_for(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 1, receive_timeout_ms,
                           "the PLAIN client to be refused");
    client_events.drain(500);  // a reconnect, if libzmq made one, would show up here
    int attempts = client_events.count(ZMQ_EVENT_CONNECTED);
    if (attempts != client_events.count(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        throw std::runtime_error("a refused PLAIN connection was still handshaking at the end");
    connection.handshake = "error";
    connection.error_reason = "400";
    for (int i = 0; i < attempts; ++i) scenario.connections.push_back(connection);
    return scenario;
}

}  // namespace

ScenarioRecord run_plain_accept(ScenarioContext& context) {
    ScenarioRecord scenario = plain_scenario(context, "plain-accept", "secret");
    scenario.notes =
        "PLAIN DEALER/ROUTER; HELLO carries username 'admin' and password 'secret' in clear. The "
        "server's ZAP handler (inproc, not on the wire) answers 200, so WELCOME/INITIATE/READY "
        "follow.";
    return scenario;
}

ScenarioRecord run_plain_reject(ScenarioContext& context) {
    ScenarioRecord scenario = plain_scenario(context, "plain-reject", "wrong");
    scenario.notes =
        "PLAIN with a wrong password ('admin'/'wrong'): the ZAP handler answers 400 and the server "
        "sends ERROR '400' after HELLO, then closes. libzmq 4.3.4 writes that ERROR with a bad "
        "name ('\\x5eRROR': 04 09 5e52524f5203343030), a known libzmq bug.";
    return scenario;
}

}  // namespace capgen
