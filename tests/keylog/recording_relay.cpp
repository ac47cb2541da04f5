#include "recording_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace {

sockaddr_in loopback(uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(port);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
        return fd;
    if (fd >= 0) close(fd);
    return -1;
}

bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written <= 0) return false;
        data += written;
        size -= static_cast<size_t>(written);
    }
    return true;
}

}  // namespace

RecordingRelay::RecordingRelay(uint16_t target_port) : target_port_(target_port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(0);
    socklen_t size = sizeof address;
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0)
        throw std::runtime_error("relay: cannot listen on 127.0.0.1");
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

RecordingRelay::~RecordingRelay() {
    stop();
}

void RecordingRelay::accept_loop() {
    while (!stopping_) {
        pollfd waiting{listener_, POLLIN, 0};
        if (poll(&waiting, 1, 50) <= 0) continue;
        int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        int server = connect_to(target_port_);
        if (server < 0) {
            close(client);
            continue;
        }
        std::lock_guard lock(mutex_);
        recorded_.emplace_back();
        recorded_s2c_.emplace_back();
        pumps_.emplace_back(
            [this, client, server, index = recorded_.size() - 1] { pump(client, server, index); });
    }
}

void RecordingRelay::pump(int client, int server, size_t index) {
    char buffer[65536];
    bool open = true;
    int idle_polls_after_stop = 0;
    while (open) {
        pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        if (poll(fds, 2, 100) <= 0) {
            // A peer that never closes must not hang the test: give up 2 s after stop().
            if (stopping_ && ++idle_polls_after_stop > 20) open = false;
            continue;
        }
        for (int side = 0; side < 2 && open; ++side) {
            if (!(fds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = read(fds[side].fd, buffer, sizeof buffer);
            if (got <= 0) {
                open = false;
                break;
            }
            {
                std::lock_guard lock(mutex_);
                (side == 0 ? recorded_ : recorded_s2c_)[index].append(buffer,
                                                                      static_cast<size_t>(got));
            }
            open = write_all(fds[1 - side].fd, buffer, static_cast<size_t>(got));
        }
    }
    close(client);
    close(server);
}

void RecordingRelay::stop() {
    if (!acceptor_.joinable()) return;
    stopping_ = true;
    acceptor_.join();
    close(listener_);
    std::vector<std::thread> pumps;
    {
        std::lock_guard lock(mutex_);
        pumps.swap(pumps_);
    }
    for (auto& pump : pumps) pump.join();
}

std::vector<std::string> RecordingRelay::client_to_server() const {
    std::lock_guard lock(mutex_);
    return recorded_;
}

std::vector<std::string> RecordingRelay::server_to_client() const {
    std::lock_guard lock(mutex_);
    return recorded_s2c_;
}
