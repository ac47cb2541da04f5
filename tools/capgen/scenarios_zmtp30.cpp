// pub-sub-zmtp30: a libzmq SUB talking to a minimal ZMTP 3.0 publisher on a raw TCP socket.
// Seeing minor version 0 in the peer's greeting, libzmq 4.3.4 falls back to 3.0 behaviour and
// sends its subscriptions as message frames: 0x01 + topic (subscribe), 0x00 + topic (cancel).
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

constexpr size_t greeting_size = 64;
constexpr uint64_t max_frame = 1 << 20;  // this peer only ever receives small frames

// The publisher side of one ZMTP 3.0 NULL connection, blocking, with timeouts.
class RawZmtp30Publisher {
  public:
    explicit RawZmtp30Publisher(int port) : listener_(socket(AF_INET, SOCK_STREAM, 0)) {
        if (listener_ < 0) fail("socket");
        int yes = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(uint16_t(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            fail("bind to port " + std::to_string(port));
        if (listen(listener_, 1) != 0) fail("listen");
    }
    ~RawZmtp30Publisher() {
        if (connection_ >= 0) close(connection_);
        close(listener_);
    }
    RawZmtp30Publisher(const RawZmtp30Publisher&) = delete;
    RawZmtp30Publisher& operator=(const RawZmtp30Publisher&) = delete;

    void accept_subscriber() {
        wait_readable(listener_, "the subscriber to connect");
        connection_ = accept(listener_, nullptr, nullptr);
        if (connection_ < 0) fail("accept");
    }

    // Greeting (version 3.0, NULL) and READY, both ways.
    void handshake() {
        std::string greeting(greeting_size, '\0');
        greeting[0] = '\xff';
        greeting[8] = 1;
        greeting[9] = 0x7f;
        greeting[10] = 3;  // major
        greeting[11] = 0;  // minor: 3.0
        std::memcpy(&greeting[12], "NULL", 4);
        write_all(greeting);
        std::string theirs = read_exact(greeting_size);
        if (uint8_t(theirs[0]) != 0xff || theirs[10] != 3 || theirs.compare(12, 4, "NULL") != 0)
            throw std::runtime_error("the subscriber's greeting is not ZMTP 3 NULL");
        std::string ready =
            std::string("\x05READY\x0bSocket-Type", 18) + std::string("\0\0\0\x03", 4) + "PUB";
        write_all(frame_header(ready.size(), 0x04) + ready);
        auto [flags, body] = read_frame();
        if (!(flags & 0x04) || !body.starts_with("\x05READY"))
            throw std::runtime_error("the subscriber did not send READY");
    }

    void send(const Frames& frames) {
        std::string wire;
        for (size_t i = 0; i < frames.size(); ++i) {
            uint8_t more = i + 1 < frames.size() ? 0x01 : 0x00;
            wire += frame_header(frames[i].size(), more) + frames[i];
        }
        write_all(wire);
    }

    // One whole message; commands are not expected from a 3.0 subscriber after READY.
    Frames receive() {
        Frames frames;
        for (;;) {
            auto [flags, body] = read_frame();
            if (flags & 0x04) throw std::runtime_error("a command from the 3.0 subscriber");
            frames.push_back(std::move(body));
            if (!(flags & 0x01)) return frames;
        }
    }

    // Waits for the subscriber to close, then closes too.
    void finish() {
        char byte;
        while (poll_readable(connection_, 2000) && read(connection_, &byte, 1) > 0) {
        }
        close(connection_);
        connection_ = -1;
    }

  private:
    [[noreturn]] static void fail(const std::string& what) {
        throw std::runtime_error("raw ZMTP 3.0 peer: " + what + ": " + strerror(errno));
    }
    static bool poll_readable(int fd, int timeout_ms) {
        pollfd readable = {fd, POLLIN, 0};
        return poll(&readable, 1, timeout_ms) == 1;
    }
    static void wait_readable(int fd, const std::string& what) {
        if (!poll_readable(fd, receive_timeout_ms))
            throw std::runtime_error("raw ZMTP 3.0 peer: timed out waiting for " + what);
    }
    static std::string frame_header(size_t size, uint8_t flags) {
        if (size <= 255) return {char(flags), char(size)};
        std::string header(1, char(flags | 0x02));
        for (int shift = 56; shift >= 0; shift -= 8) header += char(uint64_t(size) >> shift);
        return header;
    }
    void write_all(const std::string& bytes) {
        for (size_t done = 0; done < bytes.size();) {
            ssize_t n = write(connection_, bytes.data() + done, bytes.size() - done);
            if (n <= 0) fail("write");
            done += size_t(n);
        }
    }
    std::string read_exact(size_t size) {
        std::string bytes;
        while (bytes.size() < size) {
            wait_readable(connection_, "bytes from the subscriber");
            char chunk[4096];
            ssize_t n = read(connection_, chunk, std::min(sizeof chunk, size - bytes.size()));
            if (n <= 0) throw std::runtime_error("raw ZMTP 3.0 peer: the subscriber closed");
            bytes.append(chunk, size_t(n));
        }
        return bytes;
    }
    std::pair<uint8_t, std::string> read_frame() {
        std::string header = read_exact(2);
        uint8_t flags = uint8_t(header[0]);
        uint64_t size = uint8_t(header[1]);
        if (flags & 0x02) {
            std::string rest = header.substr(1) + read_exact(7);
            size = 0;
            for (char byte : rest) size = size << 8 | uint8_t(byte);
        }
        if (size > max_frame) throw std::runtime_error("raw ZMTP 3.0 peer: implausible frame size");
        return {flags, read_exact(size_t(size))};
    }

    int listener_;
    int connection_ = -1;
};

}  // namespace

ScenarioRecord run_pub_sub_zmtp30(ScenarioContext& context) {
    RawZmtp30Publisher pub(context.port(null_port));
    Context zmq;
    Socket sub(zmq, ZMQ_SUB);
    sub.connect(context.endpoint(null_port));
    pub.accept_subscriber();
    pub.handshake();

    ScenarioRecord scenario{"pub-sub-zmtp30", "NULL", context.port(null_port), {}, {}};
    ConnectionRecord connection = new_connection(ZMQ_SUB, ZMQ_PUB, context.port(null_port));
    auto subscription = [&](int option, const std::string& topic) {
        sub.set(option, topic);
        std::string prefix(1, option == ZMQ_SUBSCRIBE ? '\x01' : '\x00');
        connection.client_to_server.messages.push_back({prefix + topic});
        check_received_wire(connection.client_to_server, pub.receive());
    };
    auto publish = [&](const Frames& frames) {
        connection.server_to_client.messages.push_back(frames);
        pub.send(frames);
        receive_checked(sub, connection.server_to_client);
    };

    subscription(ZMQ_SUBSCRIBE, "weather.");
    subscription(ZMQ_SUBSCRIBE, "news.");
    publish({"weather.berlin", "12.5 C"});
    publish({"news.flash", "ZMTP 3.0 subscriptions are messages"});
    subscription(ZMQ_UNSUBSCRIBE, "news.");
    publish({"weather.final", "bye"});
    sub.close();
    pub.finish();

    scenario.notes =
        "A libzmq SUB and a minimal ZMTP 3.0 publisher (raw TCP, greeting minor version 0, not "
        "libzmq). libzmq uses 3.0 rules: its subscriptions are ordinary message frames, 0x01 + "
        "topic to subscribe and 0x00 + topic to cancel, so they are listed under messages (no "
        "SUBSCRIBE/CANCEL commands): subscribe 'weather.', 'news.', cancel 'news.'. The publisher "
        "sends 3 messages on subscribed topics.";
    scenario.connections.push_back(std::move(connection));
    return scenario;
}

}  // namespace capgen
