#include "capture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <stdexcept>

namespace capgen {

namespace {

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Waits up to timeout_ms for the process to exit; true when it did.
bool wait_exit(pid_t pid, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    do {
        if (waitpid(pid, nullptr, WNOHANG) == pid) return true;
        usleep(10000);
    } while (now_ms() < deadline);
    return false;
}

}  // namespace

std::string port_filter(const std::vector<int>& ports) {
    std::string filter = "tcp and (";
    for (size_t i = 0; i < ports.size(); ++i)
        filter += (i ? " or port " : "port ") + std::to_string(ports[i]);
    return filter + ")";
}

TcpdumpCapture::TcpdumpCapture(const std::string& tcpdump, const std::string& filter,
                               const std::string& pcap_path) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        dup2(err[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        // -Z root: tcpdump would otherwise drop to its own user before creating the file.
        // -U: write each packet as it is handed over. -B 64 MiB: a burst of connections on a
        // busy machine drops nothing. -s 0: whole packets. No --immediate-mode: one packet per
        // ring block overflows the ring under load; the driver waits for the block timeout.
        execlp(tcpdump.c_str(), tcpdump.c_str(), "-i", "lo", "-n", "-U", "-B", "65536", "-s", "0",
               "-Z", "root", "-w", pcap_path.c_str(), filter.c_str(), static_cast<char*>(nullptr));
        fprintf(stderr, "cannot run %s\n", tcpdump.c_str());
        _exit(127);
    }
    close(err[1]);
    stderr_fd_ = err[0];
    std::string text = read_stderr_until("listening on", 10000);
    if (text.find("listening on") == std::string::npos) {
        stop();
        throw std::runtime_error("tcpdump did not start: " + stderr_text_);
    }
}

TcpdumpCapture::~TcpdumpCapture() {
    if (running()) stop();
}

std::string TcpdumpCapture::read_stderr_until(const std::string& marker, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (stderr_text_.find(marker) == std::string::npos) {
        int64_t left = deadline - now_ms();
        pollfd readable = {stderr_fd_, POLLIN, 0};
        if (left <= 0 || poll(&readable, 1, int(left)) <= 0) break;
        char buffer[512];
        ssize_t n = read(stderr_fd_, buffer, sizeof buffer);
        if (n <= 0) break;
        stderr_text_.append(buffer, size_t(n));
    }
    return stderr_text_;
}

long TcpdumpCapture::stop() {
    if (!running()) return 0;
    kill(pid_, SIGINT);
    read_stderr_until("dropped by kernel", 5000);
    if (!wait_exit(pid_, 5000)) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    close(stderr_fd_);
    stderr_fd_ = -1;
    std::smatch match;
    static const std::regex dropped(R"((\d+) packets? dropped by kernel)");
    if (!std::regex_search(stderr_text_, match, dropped)) return -1;
    return std::stol(match[1]);
}

}  // namespace capgen
