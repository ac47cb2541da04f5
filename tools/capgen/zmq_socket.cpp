#include "zmq_socket.hpp"

#include <chrono>
#include <cstring>

namespace capgen {

namespace {

[[noreturn]] void fail(std::string_view call) {
    throw ZmqError(std::string(call) + ": " + zmq_strerror(zmq_errno()));
}

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Every socket gets a bounded linger so closing never hangs a scenario.
constexpr int linger_ms = 1000;

}  // namespace

ZmqError::ZmqError(const std::string& what) : std::runtime_error(what) {}

Context::Context() : handle_(zmq_ctx_new()) {
    if (!handle_) fail("zmq_ctx_new");
}

Context::~Context() {
    zmq_ctx_term(handle_);
}

Socket::Socket(Context& context, int type)
    : handle_(zmq_socket(context.handle(), type)), type_(type) {
    if (!handle_) fail("zmq_socket");
    set(ZMQ_LINGER, linger_ms);
}

Socket::~Socket() {
    close();
}

Socket::Socket(Socket&& other) noexcept : handle_(other.handle_), type_(other.type_) {
    other.handle_ = nullptr;
}

void Socket::close() {
    if (handle_) zmq_close(handle_);
    handle_ = nullptr;
}

void Socket::set(int option, int value) {
    if (zmq_setsockopt(handle_, option, &value, sizeof value) != 0) fail("zmq_setsockopt");
}

void Socket::set(int option, std::string_view value) {
    if (zmq_setsockopt(handle_, option, value.data(), value.size()) != 0) fail("zmq_setsockopt");
}

void Socket::set(int option, std::span<const unsigned char> value) {
    if (zmq_setsockopt(handle_, option, value.data(), value.size()) != 0) fail("zmq_setsockopt");
}

void Socket::bind(const std::string& endpoint) {
    if (zmq_bind(handle_, endpoint.c_str()) != 0) fail("zmq_bind " + endpoint);
}

void Socket::connect(const std::string& endpoint) {
    if (zmq_connect(handle_, endpoint.c_str()) != 0) fail("zmq_connect " + endpoint);
}

void Socket::disconnect(const std::string& endpoint) {
    if (zmq_disconnect(handle_, endpoint.c_str()) != 0) fail("zmq_disconnect " + endpoint);
}

void Socket::send(const Frames& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
        int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
        if (zmq_send(handle_, frames[i].data(), frames[i].size(), flags) < 0) fail("zmq_send");
    }
}

std::optional<Frames> Socket::receive(int timeout_ms) {
    zmq_pollitem_t item{handle_, 0, ZMQ_POLLIN, 0};
    int ready = zmq_poll(&item, 1, timeout_ms);
    if (ready < 0) fail("zmq_poll");
    if (ready == 0) return std::nullopt;
    Frames frames;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, handle_, 0) < 0) {
            zmq_msg_close(&part);
            fail("zmq_msg_recv");
        }
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return frames;
}

Frames Socket::receive_or_throw(int timeout_ms, std::string_view what) {
    auto frames = receive(timeout_ms);
    if (!frames) {
        throw ZmqError("timed out after " + std::to_string(timeout_ms) + " ms waiting for " +
                       std::string(what));
    }
    return std::move(*frames);
}

Monitor::Monitor(Context& context, Socket& socket, std::string_view name)
    : pair_(context, ZMQ_PAIR) {
    std::string endpoint = "inproc://monitor-" + std::string(name);
    if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), ZMQ_EVENT_ALL) != 0)
        fail("zmq_socket_monitor");
    pair_.connect(endpoint);
}

bool Monitor::read_one(int timeout_ms) {
    auto event = pair_.receive(timeout_ms);
    if (!event) return false;
    // Frame 1: u16 event number + u32 value (native byte order); frame 2: the endpoint.
    if (event->empty() || (*event)[0].size() < 2) throw ZmqError("malformed monitor event");
    uint16_t number;
    std::memcpy(&number, (*event)[0].data(), sizeof number);
    events_.push_back(number);
    return true;
}

void Monitor::wait_for(int event_mask, int count_wanted, int timeout_ms, std::string_view what) {
    int64_t deadline = now_ms() + timeout_ms;
    while (count(event_mask) < count_wanted) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || !read_one(int(left))) {
            throw ZmqError("timed out after " + std::to_string(timeout_ms) + " ms waiting for " +
                           std::string(what) + " (" + std::to_string(count(event_mask)) + " of " +
                           std::to_string(count_wanted) + " seen)");
        }
    }
}

void Monitor::drain(int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (int64_t left = timeout_ms; left > 0; left = deadline - now_ms()) read_one(int(left));
}

int Monitor::count(int event_mask) const {
    int n = 0;
    for (int event : events_) n += (event & event_mask) != 0;
    return n;
}

std::string tcp_endpoint(int port) {
    return "tcp://127.0.0.1:" + std::to_string(port);
}

}  // namespace capgen
