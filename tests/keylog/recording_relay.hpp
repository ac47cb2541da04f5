// A TCP relay on 127.0.0.1 that forwards each connection to a target port and records the bytes
// each side sent, so a test can read the CURVE handshakes and messages that went through it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

class RecordingRelay {
  public:
    explicit RecordingRelay(uint16_t target_port);
    ~RecordingRelay();
    RecordingRelay(const RecordingRelay&) = delete;
    RecordingRelay& operator=(const RecordingRelay&) = delete;

    uint16_t port() const { return port_; }
    // Waits for every connection to end (the peers must have closed them), then stops.
    void stop();
    // The client-to-server bytes of every connection, in the order they were accepted.
    std::vector<std::string> client_to_server() const;
    // The server-to-client bytes, in the same order.
    std::vector<std::string> server_to_client() const;

  private:
    void accept_loop();
    void pump(int client, int server, size_t index);

    uint16_t target_port_;
    uint16_t port_ = 0;
    int listener_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    mutable std::mutex mutex_;
    std::vector<std::thread> pumps_;
    std::vector<std::string> recorded_;
    std::vector<std::string> recorded_s2c_;
};
