// A CURVE REQ/REP exchange with real libzmq peers on loopback, for the key logger's tests.
// Run it under LD_PRELOAD=libzmtp-keylog.so with ZMTP_KEYLOG_FILE set; it writes to DIR:
//   expect.keylog  the long-term keys it gave libzmq (hex, labelled by role)
//   absent.keylog  keys of zmq_setsockopt calls libzmq rejected (must not be logged)
//   conn-N.c2s     the client-to-server bytes of each connection (through a recording relay)
//   conn-N.s2c     the server-to-client bytes of the same connection
// and exits 0 when every exchange and every zmq_setsockopt result was as libzmq documents.
//
//   keylog_curve_peers --dir DIR [--clients N]
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "recording_relay.hpp"

namespace {

struct KeyPair {
    char public_z85[41];
    char secret_z85[41];
};

KeyPair make_key_pair() {
    KeyPair pair{};
    if (zmq_curve_keypair(pair.public_z85, pair.secret_z85) != 0)
        throw std::runtime_error("zmq_curve_keypair failed");
    return pair;
}

std::string binary_key(const char* z85) {
    std::string key(32, '\0');
    if (!zmq_z85_decode(reinterpret_cast<uint8_t*>(key.data()), z85))
        throw std::runtime_error("zmq_z85_decode failed");
    return key;
}

// Not from crypto_box_keypair, so the logger has never seen these bytes.
std::string random_bytes(size_t size) {
    std::random_device random;
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(random());
    return bytes;
}

std::string hex(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string text;
    for (unsigned char c : bytes) {
        text += digits[c >> 4];
        text += digits[c & 15];
    }
    return text;
}

class KeyList {
  public:
    void add(const char* label, const std::string& binary) {
        text_ += std::string(label) + " " + hex(binary) + "\n";
    }
    void save(const std::string& path) const { std::ofstream(path, std::ios::binary) << text_; }

  private:
    std::string text_;
};

void set_option(void* socket, int option, const void* value, size_t size) {
    if (zmq_setsockopt(socket, option, value, size) != 0)
        throw std::runtime_error(std::string("zmq_setsockopt failed: ") +
                                 zmq_strerror(zmq_errno()));
}

void set_int(void* socket, int option, int value) {
    set_option(socket, option, &value, sizeof value);
}

void expect_rejected(void* socket, int option, const void* value, size_t size, int expected_errno,
                     const char* what) {
    errno = 0;
    int result = zmq_setsockopt(socket, option, value, size);
    if (result != -1 || errno != expected_errno) {
        throw std::runtime_error(std::string(what) + ": zmq_setsockopt returned " +
                                 std::to_string(result) + " errno " + std::to_string(errno));
    }
}

// Rejected values must keep libzmq's result and errno, and must not be logged. A socket given
// keys and closed without bind/connect still has its keys logged (at zmq_close).
void check_option_edge_cases(void* context, KeyList& expected, KeyList& absent) {
    void* socket = zmq_socket(context, ZMQ_DEALER);
    std::string too_long = random_bytes(32) + "x";
    expect_rejected(socket, ZMQ_CURVE_SECRETKEY, too_long.data(), too_long.size(), EINVAL,
                    "33-byte key");
    absent.add("CLIENT_SECRET", too_long.substr(0, 32));

    std::string bad_z85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    bad_z85[7] = ' ';  // not in the Z85 alphabet
    expect_rejected(socket, ZMQ_CURVE_PUBLICKEY, bad_z85.data(), bad_z85.size(), EINVAL,
                    "invalid Z85 key");
    short not_an_int = 1;
    expect_rejected(socket, ZMQ_CURVE_SERVER, &not_an_int, sizeof not_an_int, EINVAL,
                    "2-byte ZMQ_CURVE_SERVER");
    std::string unused = random_bytes(32);
    expect_rejected(nullptr, ZMQ_CURVE_SECRETKEY, unused.data(), 32, ENOTSOCK, "NULL socket");
    absent.add("CLIENT_SECRET", unused);

    KeyPair closed_unused = make_key_pair();
    set_option(socket, ZMQ_CURVE_SECRETKEY, closed_unused.secret_z85, 40);
    set_option(socket, ZMQ_CURVE_PUBLICKEY, closed_unused.public_z85, 40);
    expected.add("CLIENT_SECRET", binary_key(closed_unused.secret_z85));
    expected.add("CLIENT_PUBLIC", binary_key(closed_unused.public_z85));
    zmq_close(socket);

    // libzmq takes the options as they are at zmq_bind: keys without a role then belong to a
    // client (as_server is 0), whatever role is set afterwards.
    void* bound = zmq_socket(context, ZMQ_DEALER);
    KeyPair bound_keys = make_key_pair();
    set_option(bound, ZMQ_CURVE_PUBLICKEY, bound_keys.public_z85, 40);
    set_option(bound, ZMQ_CURVE_SECRETKEY, bound_keys.secret_z85, 40);
    if (zmq_bind(bound, "tcp://127.0.0.1:*") != 0) throw std::runtime_error("bind failed");
    set_int(bound, ZMQ_CURVE_SERVER, 1);
    expected.add("CLIENT_PUBLIC", binary_key(bound_keys.public_z85));
    expected.add("CLIENT_SECRET", binary_key(bound_keys.secret_z85));
    set_int(bound, ZMQ_LINGER, 0);
    zmq_close(bound);
}

// The role is given after the keys, as most programs (and pyzmq examples) do.
void* make_server(void* context, const KeyPair& keys, KeyList& expected) {
    void* server = zmq_socket(context, ZMQ_REP);
    set_option(server, ZMQ_CURVE_SECRETKEY, keys.secret_z85, 40);
    set_option(server, ZMQ_CURVE_PUBLICKEY, keys.public_z85, 40);
    set_int(server, ZMQ_CURVE_SERVER, 1);
    set_int(server, ZMQ_LINGER, 0);
    set_int(server, ZMQ_RCVTIMEO, 10000);
    set_int(server, ZMQ_SNDTIMEO, 10000);
    expected.add("SERVER_SECRET", binary_key(keys.secret_z85));
    expected.add("SERVER_PUBLIC", binary_key(keys.public_z85));
    return server;
}

// Each client gives its keys in another form and order: binary with the server key first,
// Z85 with a NUL (41 bytes) and the server key last, plain 40-character Z85.
void* make_client(void* context, int index, const KeyPair& server_keys, KeyList& expected) {
    KeyPair keys = make_key_pair();
    void* client = zmq_socket(context, ZMQ_REQ);
    std::string server_public = binary_key(server_keys.public_z85);
    std::string client_public = binary_key(keys.public_z85);
    std::string client_secret = binary_key(keys.secret_z85);
    switch (index % 3) {
        case 0:
            set_option(client, ZMQ_CURVE_SERVERKEY, server_public.data(), 32);
            set_option(client, ZMQ_CURVE_PUBLICKEY, client_public.data(), 32);
            set_option(client, ZMQ_CURVE_SECRETKEY, client_secret.data(), 32);
            break;
        case 1:
            set_option(client, ZMQ_CURVE_PUBLICKEY, keys.public_z85, 41);
            set_option(client, ZMQ_CURVE_SECRETKEY, keys.secret_z85, 41);
            set_option(client, ZMQ_CURVE_SERVERKEY, server_keys.public_z85, 41);
            break;
        default:
            set_option(client, ZMQ_CURVE_SECRETKEY, keys.secret_z85, 40);
            set_option(client, ZMQ_CURVE_SERVERKEY, server_keys.public_z85, 40);
            set_option(client, ZMQ_CURVE_PUBLICKEY, keys.public_z85, 40);
            break;
    }
    set_int(client, ZMQ_LINGER, 0);
    set_int(client, ZMQ_RCVTIMEO, 10000);
    set_int(client, ZMQ_SNDTIMEO, 10000);
    expected.add("CLIENT_SECRET", client_secret);
    expected.add("CLIENT_PUBLIC", client_public);
    return client;
}

uint16_t bound_port(void* socket) {
    char endpoint[256];
    size_t size = sizeof endpoint;
    if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0)
        throw std::runtime_error("ZMQ_LAST_ENDPOINT failed");
    const char* colon = std::strrchr(endpoint, ':');
    return static_cast<uint16_t>(std::atoi(colon + 1));
}

std::string receive(void* socket) {
    char buffer[256];
    int size = zmq_recv(socket, buffer, sizeof buffer, 0);
    if (size < 0) throw std::runtime_error(std::string("zmq_recv: ") + zmq_strerror(zmq_errno()));
    return std::string(buffer, static_cast<size_t>(std::min(size, 256)));
}

void send(void* socket, const std::string& text) {
    if (zmq_send(socket, text.data(), text.size(), 0) < 0)
        throw std::runtime_error(std::string("zmq_send: ") + zmq_strerror(zmq_errno()));
}

void exchange(void* server, const std::vector<void*>& clients) {
    for (size_t i = 0; i < clients.size(); ++i) {
        std::string request = "request " + std::to_string(i);
        send(clients[i], request);
        if (receive(server) != request) throw std::runtime_error("server got the wrong request");
        send(server, "reply " + std::to_string(i));
        if (receive(clients[i]) != "reply " + std::to_string(i))
            throw std::runtime_error("client got the wrong reply");
    }
}

void run(const std::string& dir, int client_count) {
    KeyList expected, absent;
    void* context = zmq_ctx_new();
    check_option_edge_cases(context, expected, absent);

    KeyPair server_keys = make_key_pair();
    void* server = make_server(context, server_keys, expected);
    if (zmq_bind(server, "tcp://127.0.0.1:*") != 0) throw std::runtime_error("bind failed");
    RecordingRelay relay(bound_port(server));
    std::string relay_endpoint = "tcp://127.0.0.1:" + std::to_string(relay.port());

    std::vector<void*> clients;
    for (int i = 0; i < client_count; ++i) {
        clients.push_back(make_client(context, i, server_keys, expected));
        if (zmq_connect(clients.back(), relay_endpoint.c_str()) != 0)
            throw std::runtime_error("connect failed");
    }
    exchange(server, clients);
    for (void* client : clients) zmq_close(client);
    zmq_close(server);
    zmq_ctx_term(context);
    relay.stop();

    auto captures = relay.client_to_server();
    auto replies = relay.server_to_client();
    for (size_t i = 0; i < captures.size(); ++i) {
        const std::string name = dir + "/conn-" + std::to_string(i);
        std::ofstream(name + ".c2s", std::ios::binary) << captures[i];
        std::ofstream(name + ".s2c", std::ios::binary) << replies[i];
    }
    expected.save(dir + "/expect.keylog");
    absent.save(dir + "/absent.keylog");
    std::printf("%d CURVE clients exchanged messages, %zu connections captured\n", client_count,
                captures.size());
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    int clients = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
        if (std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    }
    if (dir.empty() || clients < 1) {
        std::fprintf(stderr, "usage: keylog_curve_peers --dir DIR [--clients N]\n");
        return 2;
    }
    try {
        run(dir, clients);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "keylog_curve_peers: %s\n", error.what());
        return 1;
    }
    return 0;
}
