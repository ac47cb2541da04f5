// zmtp10-raw-peer: a ZMTP 1.0 peer (RFC 13) against libzmq 4.3.4. No ZMTP 1.0 library is
// available on Debian 12 (libzmq 2.x is long gone), so the 1.0 side is a minimal peer on a raw
// TCP socket, here, like the 3.0 publisher of pub-sub-zmtp30. libzmq sees a first byte other
// than 0xFF, takes the peer for unversioned and sends the rest of its identity frame, whose
// header its 10 signature bytes already were, then 1.0 frames (docs/protocol.md 1.4, 1.6).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "scenario.hpp"

namespace capgen {

namespace {

constexpr uint64_t max_frame = 1 << 20;  // this peer only ever receives small frames

// The client side of one ZMTP 1.0 connection, blocking, with timeouts. It speaks REQ's
// envelope (an empty delimiter frame before each request) to a libzmq REP.
class RawZmtp10Client {
  public:
    RawZmtp10Client(int port, std::string identity) : identity_(std::move(identity)) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) fail("socket");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(uint16_t(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            fail("connect to port " + std::to_string(port));
    }
    ~RawZmtp10Client() {
        if (fd_ >= 0) close(fd_);
    }
    RawZmtp10Client(const RawZmtp10Client&) = delete;
    RawZmtp10Client& operator=(const RawZmtp10Client&) = delete;

    // RFC 13: each side's greeting is its identity frame, whose flags "SHALL not be
    // validated" (libzmq's are 0x7F, the end of its signature). Returns the peer's identity.
    std::string greet() {
        write_all(frame(identity_, false));
        return read_frame().second;
    }

    void send(const Frames& frames) {
        std::string wire;
        for (size_t i = 0; i < frames.size(); ++i) wire += frame(frames[i], i + 1 < frames.size());
        write_all(wire);
    }

    Frames receive() {
        Frames frames;
        for (;;) {
            auto [more, body] = read_frame();
            frames.push_back(std::move(body));
            if (!more) return frames;
        }
    }

    void close_connection() {
        close(fd_);
        fd_ = -1;
    }

  private:
    [[noreturn]] static void fail(const std::string& what) {
        throw std::runtime_error("raw ZMTP 1.0 peer: " + what + ": " + strerror(errno));
    }
    // RFC 13: length (1 byte, or 0xFF and a u64) counting the flags byte, flags, body.
    static std::string frame(const std::string& body, bool more) {
        std::string wire;
        const uint64_t length = body.size() + 1;
        if (length < 255) {
            wire += char(length);
        } else {
            wire += '\xff';
            for (int shift = 56; shift >= 0; shift -= 8) wire += char(length >> shift);
        }
        wire += char(more ? 0x01 : 0x00);
        return wire + body;
    }
    void write_all(const std::string& bytes) {
        for (size_t done = 0; done < bytes.size();) {
            ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
            if (n <= 0) fail("write");
            done += size_t(n);
        }
    }
    std::string read_exact(size_t size) {
        std::string bytes;
        while (bytes.size() < size) {
            pollfd readable = {fd_, POLLIN, 0};
            if (poll(&readable, 1, receive_timeout_ms) != 1)
                throw std::runtime_error("raw ZMTP 1.0 peer: timed out waiting for libzmq");
            char chunk[4096];
            ssize_t n = read(fd_, chunk, std::min(sizeof chunk, size - bytes.size()));
            if (n <= 0) throw std::runtime_error("raw ZMTP 1.0 peer: libzmq closed");
            bytes.append(chunk, size_t(n));
        }
        return bytes;
    }
    std::pair<bool, std::string> read_frame() {
        uint64_t length = uint8_t(read_exact(1)[0]);
        if (length == 0xFF) {
            length = 0;
            for (char byte : read_exact(8)) length = length << 8 | uint8_t(byte);
        }
        if (length == 0 || length > max_frame)
            throw std::runtime_error("raw ZMTP 1.0 peer: implausible frame length");
        const uint8_t flags = uint8_t(read_exact(1)[0]);
        return {(flags & 0x01) != 0, read_exact(size_t(length - 1))};
    }

    std::string identity_;
    int fd_ = -1;
};

}  // namespace

ScenarioRecord run_zmtp10_raw_peer(ScenarioContext& context) {
    const std::string client_identity = "raw-1.0";
    const std::string server_identity = "libzmq-rep";
    Context zmq;
    Socket rep(zmq, ZMQ_REP);
    rep.set(ZMQ_ROUTING_ID, server_identity);
    rep.bind(context.endpoint(null_port));

    ScenarioRecord scenario{"zmtp10-raw-peer", "NULL", context.port(null_port), {}, {}};
    // No socket type travels in ZMTP 1.0: the wire says nothing of REQ and REP.
    ConnectionRecord connection;
    connection.client_socket_type = connection.server_socket_type = "unknown";
    connection.server_port = context.port(null_port);
    connection.greetings = {
        {{"ZMTP 1.0", client_identity}, {"ZMTP 1.0 (downgraded from 3.x)", server_identity}}};

    RawZmtp10Client client(context.port(null_port), client_identity);
    if (client.greet() != server_identity)
        throw std::runtime_error("libzmq's identity frame does not carry its routing id");
    const std::vector<std::pair<std::string, std::string>> rounds = {
        {"status?", "running"},
        {"x" + std::string(299, 'y'), pattern_bytes(300, 10)},  // long 1.0 frames (FF + u64)
        {"", "empty request"},
    };
    for (const auto& [request, reply] : rounds) {
        const Frames wire_request = {"", request};  // REQ's envelope: an empty delimiter
        connection.client_to_server.messages.push_back(wire_request);
        client.send(wire_request);
        check_received(rep, connection.client_to_server,
                       rep.receive_or_throw(receive_timeout_ms, "a request from the 1.0 peer"));
        send_recorded(rep, connection.server_to_client, {reply});
        check_received_wire(connection.server_to_client, client.receive());
    }
    client.close_connection();
    sleep_ms(200);  // libzmq answers the FIN before the capture stops

    scenario.notes =
        "A ZMTP 1.0 peer (RFC 13) against libzmq 4.3.4's REP (routing id 'libzmq-rep'). No ZMTP "
        "1.0 library exists on Debian 12, so the 1.0 side is a minimal peer on a raw TCP socket "
        "in capgen (not libzmq), speaking REQ's envelope. Its greeting is its identity frame "
        "'raw-1.0' (08 00 ...); libzmq, seeing a first byte other than 0xFF, sends the rest of "
        "an identity frame whose header its 10 signature bytes already were (ff <u64 11> 7f "
        "'libzmq-rep') and 1.0 frames (docs/protocol.md 1.4, 1.6). Neither identity is a "
        "message. 3 requests, 3 replies (a 300-byte request and reply in long 1.0 frames, an "
        "empty request body). No socket type travels in 1.0: socket_types are unknown.";
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

}  // namespace capgen
