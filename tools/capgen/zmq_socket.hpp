// A thin RAII layer over libzmq's C API for the capture scenarios.
#pragma once

#include <zmq.h>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace capgen {

// One ZeroMQ message: its frames, each a byte string.
using Frames = std::vector<std::string>;

class ZmqError : public std::runtime_error {
  public:
    explicit ZmqError(const std::string& what);
};

class Context {
  public:
    Context();
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    void* handle() const { return handle_; }

  private:
    void* handle_;
};

class Socket {
  public:
    Socket(Context& context, int type);
    ~Socket();
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&&) = delete;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    void set(int option, int value);
    void set(int option, std::string_view value);
    void set(int option, std::span<const unsigned char> value);
    void bind(const std::string& endpoint);
    void connect(const std::string& endpoint);
    void disconnect(const std::string& endpoint);

    void send(const Frames& frames);
    // The next whole message, or nullopt when none arrives within timeout_ms.
    std::optional<Frames> receive(int timeout_ms);
    // The next whole message; throws (naming `what`) when none arrives within timeout_ms.
    Frames receive_or_throw(int timeout_ms, std::string_view what);
    void close();

    void* handle() const { return handle_; }
    int type() const { return type_; }

  private:
    void* handle_;
    int type_;
};

// A socket monitor: libzmq's ZMQ_EVENT_* notifications for one socket.
class Monitor {
  public:
    Monitor(Context& context, Socket& socket, std::string_view name);
    // Waits until `count` events matching `event_mask` were seen in total (since creation),
    // or throws after timeout_ms.
    void wait_for(int event_mask, int count, int timeout_ms, std::string_view what);
    // Reads events for up to timeout_ms without waiting for anything in particular.
    void drain(int timeout_ms);
    int count(int event_mask) const;

  private:
    bool read_one(int timeout_ms);
    Socket pair_;
    std::vector<int> events_;
};

std::string tcp_endpoint(int port);

}  // namespace capgen
