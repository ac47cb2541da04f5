// Capturing loopback traffic with tcpdump while a scenario runs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace capgen {

class TcpdumpCapture {
  public:
    // Starts `tcpdump -i lo` writing classic pcap to `pcap_path`, and returns once tcpdump
    // reports that it is listening. Throws with tcpdump's own message when it cannot start.
    TcpdumpCapture(const std::string& tcpdump, const std::string& filter,
                   const std::string& pcap_path);
    ~TcpdumpCapture();
    TcpdumpCapture(const TcpdumpCapture&) = delete;
    TcpdumpCapture& operator=(const TcpdumpCapture&) = delete;

    // Stops tcpdump (SIGINT, so it flushes its file) and returns the number of packets the
    // kernel dropped, as tcpdump reported it.
    long stop();
    bool running() const { return pid_ > 0; }

  private:
    std::string read_stderr_until(const std::string& marker, int timeout_ms);
    pid_t pid_ = -1;
    int stderr_fd_ = -1;
    std::string stderr_text_;
};

// "tcp and (port 2069 or port 2070)"
std::string port_filter(const std::vector<int>& ports);

}  // namespace capgen
