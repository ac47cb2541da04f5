// A long-lived libzmq CURVE DEALER/ROUTER connection for a capture that starts late: the C++
// twin of late_peers.py (same arguments, same DIR/connected, DIR/capturing and DIR/sent.jsonl).
// Run under LD_PRELOAD=libzmtp-keylog.so with ZMTP_KEYLOG_FILE set (run_late_capture_test.sh).
//
//   keylog_late_peers PORT DIR COUNT
#include <zmq.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Frames = std::vector<std::string>;

constexpr auto period = std::chrono::milliseconds(50);
constexpr auto wait_for_capture = std::chrono::seconds(60);

void check(int rc, const char* what) {
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + zmq_strerror(zmq_errno()));
}

void set_int(void* socket, int option, int value) {
    check(zmq_setsockopt(socket, option, &value, sizeof value), "zmq_setsockopt");
}

void set_key(void* socket, int option, const char* z85) {
    check(zmq_setsockopt(socket, option, z85, 40), "zmq_setsockopt (key)");
}

void send(void* socket, const Frames& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
        int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
        if (zmq_send(socket, frames[i].data(), frames[i].size(), flags) < 0)
            throw std::runtime_error(std::string("zmq_send: ") + zmq_strerror(zmq_errno()));
    }
}

Frames receive(void* socket) {
    Frames frames;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, socket, 0) < 0) {
            zmq_msg_close(&part);
            throw std::runtime_error(std::string("zmq_msg_recv: ") + zmq_strerror(zmq_errno()));
        }
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return frames;
}

std::string hex(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : bytes) out += {digits[byte >> 4], digits[byte & 15]};
    return out;
}

class Peers {
  public:
    Peers(int port, const fs::path& work) : sent_(work / "sent.jsonl") {
        char server_public[41], server_secret[41], client_public[41], client_secret[41];
        check(zmq_curve_keypair(server_public, server_secret), "zmq_curve_keypair");
        check(zmq_curve_keypair(client_public, client_secret), "zmq_curve_keypair");
        context_ = zmq_ctx_new();
        server_ = zmq_socket(context_, ZMQ_ROUTER);
        client_ = zmq_socket(context_, ZMQ_DEALER);
        if (!context_ || !server_ || !client_) throw std::runtime_error("no libzmq socket");
        set_int(server_, ZMQ_CURVE_SERVER, 1);
        set_key(server_, ZMQ_CURVE_SECRETKEY, server_secret);
        set_key(server_, ZMQ_CURVE_PUBLICKEY, server_public);
        set_key(client_, ZMQ_CURVE_SERVERKEY, server_public);
        set_key(client_, ZMQ_CURVE_PUBLICKEY, client_public);
        set_key(client_, ZMQ_CURVE_SECRETKEY, client_secret);
        // Heartbeats like a ctrlX Data Layer client.
        set_int(client_, ZMQ_HEARTBEAT_IVL, 1000);
        set_int(client_, ZMQ_HEARTBEAT_TTL, 3000);
        set_int(client_, ZMQ_HEARTBEAT_TIMEOUT, 3000);
        set_int(client_, ZMQ_RCVTIMEO, 5000);
        set_int(server_, ZMQ_RCVTIMEO, 5000);
        std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
        check(zmq_bind(server_, endpoint.c_str()), "zmq_bind");
        check(zmq_connect(client_, endpoint.c_str()), "zmq_connect");
        if (!sent_) throw std::runtime_error("cannot write sent.jsonl");
    }
    ~Peers() {
        set_int(client_, ZMQ_LINGER, 1000);
        set_int(server_, ZMQ_LINGER, 1000);
        zmq_close(client_);
        zmq_close(server_);
        zmq_ctx_term(context_);
    }
    Peers(const Peers&) = delete;
    Peers& operator=(const Peers&) = delete;

    void round_trip(const char* phase, int i) {
        Frames request = {"read", "framework/metrics/system/cpu-utilisation-percent",
                          std::to_string(i)};
        if (i % 10 == 3) {  // a long frame (ZMTP size > 255)
            std::string long_frame;
            for (int n = 0; n < 512; ++n) long_frame += char(n & 255);
            request.push_back(long_frame);
        }
        record(phase, "client_to_server", request);
        send(client_, request);
        Frames received = receive(server_);
        if (received.size() < 2 || Frames(received.begin() + 1, received.end()) != request)
            throw std::runtime_error("the ROUTER did not receive request " + std::to_string(i));
        Frames reply = {"value", std::to_string(i), std::to_string(10 + i % 7) + ".5"};
        record(phase, "server_to_client", reply);
        Frames routed = reply;
        routed.insert(routed.begin(), received[0]);  // the routing id, which never travels
        send(server_, routed);
        if (receive(client_) != reply)
            throw std::runtime_error("the DEALER did not receive reply " + std::to_string(i));
    }

    void close_log() { sent_.close(); }

  private:
    void record(const char* phase, const char* direction, const Frames& frames) {
        sent_ << "{\"phase\": \"" << phase << "\", \"dir\": \"" << direction << "\", \"frames\": [";
        for (size_t i = 0; i < frames.size(); ++i)
            sent_ << (i ? ", " : "") << '"' << hex(frames[i]) << '"';
        sent_ << "]}\n";
    }

    std::ofstream sent_;
    void* context_ = nullptr;
    void* server_ = nullptr;
    void* client_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: keylog_late_peers PORT DIR COUNT\n");
        return 2;
    }
    try {
        const int port = std::stoi(argv[1]), count = std::stoi(argv[3]);
        const fs::path work = argv[2];
        Peers peers(port, work);
        peers.round_trip("before", 0);  // the handshake is over once this returns
        std::ofstream(work / "connected").close();
        int i = 1;
        const auto deadline = std::chrono::steady_clock::now() + wait_for_capture;
        while (!fs::exists(work / "capturing")) {
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("the capture never started");
            peers.round_trip("before", i++);
            std::this_thread::sleep_for(period);
        }
        for (int n = 0; n < count; ++n) {
            peers.round_trip("after", i++);
            std::this_thread::sleep_for(period);
        }
        peers.close_log();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "keylog_late_peers: %s\n", error.what());
        return 1;
    }
    return 0;
}
