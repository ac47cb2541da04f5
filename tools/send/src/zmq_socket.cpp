#include "zmq_socket.hpp"

#include <cstring>

namespace zmtpsend {

std::string zmq_error_text() {
    return zmq_strerror(zmq_errno());
}

std::string monitor_event_name(uint16_t event) {
    switch (event) {
        case ZMQ_EVENT_CONNECTED:
            return "CONNECTED";
        case ZMQ_EVENT_CONNECT_DELAYED:
            return "CONNECT_DELAYED";
        case ZMQ_EVENT_CONNECT_RETRIED:
            return "CONNECT_RETRIED";
        case ZMQ_EVENT_CLOSED:
            return "CLOSED";
        case ZMQ_EVENT_CLOSE_FAILED:
            return "CLOSE_FAILED";
        case ZMQ_EVENT_DISCONNECTED:
            return "DISCONNECTED";
        case ZMQ_EVENT_MONITOR_STOPPED:
            return "MONITOR_STOPPED";
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            return "HANDSHAKE_FAILED_NO_DETAIL";
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            return "HANDSHAKE_SUCCEEDED";
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            return "HANDSHAKE_FAILED_PROTOCOL";
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            return "HANDSHAKE_FAILED_AUTH";
        default:
            return "EVENT_" + std::to_string(event);
    }
}

std::string protocol_error_name(uint32_t code) {
    switch (code) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND:
            return "unexpected command";
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
            return "invalid sequence";
        case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
            return "key exchange";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED:
            return "malformed command";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE:
            return "malformed MESSAGE";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO:
            return "malformed HELLO";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE:
            return "malformed INITIATE";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR:
            return "malformed ERROR";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY:
            return "malformed READY";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME:
            return "malformed WELCOME";
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA:
            return "invalid metadata";
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return "cryptographic error (a box did not open)";
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "mechanism mismatch";
        default: {
            char text[32];
            std::snprintf(text, sizeof text, "protocol error 0x%08x", code);
            return text;
        }
    }
}

ZmqSocket::ZmqSocket(ZmqContext& context, int type) : handle_(zmq_socket(context.handle(), type)) {}

ZmqSocket::~ZmqSocket() {
    if (handle_) zmq_close(handle_);
}

bool ZmqSocket::set(int option, int value) {
    return zmq_setsockopt(handle_, option, &value, sizeof value) == 0;
}

bool ZmqSocket::set(int option, std::string_view value) {
    return zmq_setsockopt(handle_, option, value.data(), value.size()) == 0;
}

bool ZmqSocket::connect(const std::string& endpoint) {
    return zmq_connect(handle_, endpoint.c_str()) == 0;
}

bool ZmqSocket::send(const Frames& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
        const int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
        if (zmq_send(handle_, frames[i].data(), frames[i].size(), flags) < 0) return false;
    }
    return true;
}

std::optional<Frames> ZmqSocket::receive_now() {
    Frames frames;
    int more = 1;
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, handle_, frames.empty() ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&msg);
            return std::nullopt;
        }
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
    }
    return frames;
}

std::optional<MonitorEvent> ZmqSocket::receive_event_now() {
    const std::optional<Frames> frames = receive_now();
    if (!frames || frames->size() != 2 || (*frames)[0].size() != 6) return std::nullopt;
    MonitorEvent e;
    std::memcpy(&e.event, (*frames)[0].data(), 2);
    std::memcpy(&e.value, (*frames)[0].data() + 2, 4);
    e.endpoint = (*frames)[1];
    return e;
}

}  // namespace zmtpsend
