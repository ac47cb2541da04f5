// A thin RAII layer over libzmq's C API: a socket, its monitor, whole multipart messages.
#pragma once

#include <zmq.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zmtpsend {

using Frames = std::vector<std::string>;

class ZmqContext {
  public:
    ZmqContext() : handle_(zmq_ctx_new()) {}
    ~ZmqContext() { zmq_ctx_term(handle_); }
    ZmqContext(const ZmqContext&) = delete;
    ZmqContext& operator=(const ZmqContext&) = delete;
    void* handle() const { return handle_; }

  private:
    void* handle_;
};

// One event of a socket monitor (zmq_socket_monitor): ZMQ_EVENT_*, its value (an errno, a
// protocol error code, a ZAP status code, a descriptor or an interval) and the endpoint.
struct MonitorEvent {
    uint16_t event = 0;
    uint32_t value = 0;
    std::string endpoint;
};
std::string monitor_event_name(uint16_t event);
std::string protocol_error_name(uint32_t code);

class ZmqSocket {
  public:
    ZmqSocket(ZmqContext& context, int type);
    ~ZmqSocket();
    ZmqSocket(const ZmqSocket&) = delete;
    ZmqSocket& operator=(const ZmqSocket&) = delete;

    bool ok() const { return handle_ != nullptr; }
    void* handle() const { return handle_; }
    bool set(int option, int value);
    bool set(int option, std::string_view value);
    bool connect(const std::string& endpoint);
    // Whole message, every frame but the last with ZMQ_SNDMORE. false: libzmq refused it.
    bool send(const Frames& frames);
    // The next whole message, if one is waiting (call after a poll said so).
    std::optional<Frames> receive_now();
    std::optional<MonitorEvent> receive_event_now();

  private:
    void* handle_;
};

std::string zmq_error_text();

}  // namespace zmtpsend
