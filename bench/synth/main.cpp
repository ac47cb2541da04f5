// zmtp-synth: writes large, valid ZMTP captures fast (pcap, Ethernet/IPv4/TCP), NULL or CURVE
// with real keys and boxes, and the key log (docs/keylog.md) that opens them.
//
//   zmtp-synth -o big.pcap --bytes 1G --connections 100 --size mixed
//   zmtp-synth -o curve.pcap --keylog curve.keys --mechanism curve --size 64 --bytes 256M
//   zmtp-synth -o short.pcap -c 20000 --exchanges-per-connection 3 --open-at-once 200
//   zmtp-synth -o idle.pcap -c 1000 --idle --duration 600 --bytes 4G
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "synth/synth.hpp"
#include "synth/tcp_capture.hpp"

namespace {

using namespace zmtp::synth;
using zmtp::Mechanism;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr uint32_t loopback_mss = 65483;
constexpr uint32_t max_connections = 30000;

// "4096", "64K", "256M", "1G", "4G" (binary units).
bool parse_byte_count(const std::string& text, uint64_t& value) {
    size_t used = 0;
    unsigned long long number = 0;
    try {
        number = std::stoull(text, &used);
    } catch (const std::exception&) {
        return false;
    }
    const std::string unit = text.substr(used);
    int shift = 0;
    if (unit == "K" || unit == "KiB")
        shift = 10;
    else if (unit == "M" || unit == "MiB")
        shift = 20;
    else if (unit == "G" || unit == "GiB")
        shift = 30;
    else if (!unit.empty())
        return false;
    if (number > (~0ull >> shift)) return false;
    value = number << shift;
    return true;
}

std::string hex(const Key& key) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (uint8_t b : key) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

// Key log lines in hex, the form docs/keylog.md asks writers to use. The file holds secrets:
// it is created readable by its owner only.
class KeyLogFile : public KeyLogSink {
  public:
    bool open(const std::string& path, std::string& error) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || !(file_ = fdopen(fd, "w"))) {
            if (fd >= 0) ::close(fd);
            error = "cannot create key log " + path + ": " + std::strerror(errno);
            return false;
        }
        path_ = path;
        std::fputs(
            "# zmtp-synth key log (docs/keylog.md): the server's s and each connection's c'\n",
            file_);
        return true;
    }
    void key(std::string_view label, const Key& key, std::string_view comment) override {
        if (file_)
            std::fprintf(file_, "%-16.*s %s  # %.*s\n", int(label.size()), label.data(),
                         hex(key).c_str(), int(comment.size()), comment.data());
    }
    bool close(std::string& error) {
        if (!file_) return true;
        const bool ok = std::ferror(file_) == 0 && std::fclose(file_) == 0;
        file_ = nullptr;
        if (!ok) error = "cannot write key log " + path_;
        return ok;
    }

  private:
    std::FILE* file_ = nullptr;
    std::string path_;
};

nlohmann::json stats_json(const Options& o, const Stats& s, uint64_t packets, uint64_t bytes) {
    nlohmann::json boxes = nlohmann::json::object();
    for (const auto& [size, count] : s.box_sizes) boxes[std::to_string(size)] = count;
    return {{"mechanism", zmtp::mechanism_name(o.mechanism)},
            {"pattern", pattern_name(o.pattern)},
            {"mss", o.mss},
            {"seed", o.seed},
            {"connections", s.connections},
            {"exchanges", s.exchanges},
            {"messages", s.messages},
            {"frames", s.frames},
            {"heartbeats", s.heartbeats},
            {"payload_bytes", s.payload_bytes},
            {"packets", packets},
            {"file_bytes", bytes},
            {"message_boxes_by_size", boxes}};
}

struct CommandLine {
    Options options;
    std::string output, keylog, stats, mechanism = "null", pattern = "req-rep";
    std::string size = "64", request_size, reply_size, bytes = "64M";
    bool loopback = false;
};

std::vector<std::string> pattern_words() {
    std::vector<std::string> words;
    for (const auto& entry : pattern_names) words.emplace_back(entry.name);
    return words;
}

void add_options(CLI::App& app, CommandLine& c) {
    Options& o = c.options;
    app.add_option("-o,--output", c.output, "pcap file to write (- for standard output)")
        ->required();
    app.add_option("-k,--keylog", c.keylog, "CURVE: write the key log (docs/keylog.md) here");
    app.add_option("--stats", c.stats, "write what was generated as JSON here");
    app.add_option("-m,--mechanism", c.mechanism, "null or curve")
        ->check(CLI::IsMember({"null", "curve"}))
        ->capture_default_str();
    app.add_option("-p,--pattern", c.pattern, "req-rep or dealer-router")
        ->check(CLI::IsMember(pattern_words()))
        ->capture_default_str();
    app.add_option("-c,--connections", o.connections, "number of connections")
        ->check(CLI::Range(1u, max_connections))
        ->capture_default_str();
    app.add_option("-b,--bytes", c.bytes, "capture size to reach, e.g. 256M, 1G, 4G")
        ->capture_default_str();
    app.add_option("-s,--size", c.size, "frame body sizes: N, MIN-MAX or mixed")
        ->capture_default_str();
    app.add_option("--request-size", c.request_size, "request frame sizes (default: --size)");
    app.add_option("--reply-size", c.reply_size, "reply frame sizes (default: --size)");
    app.add_option("--frames", o.frames, "application frames per message")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app.add_option("--heartbeat", o.heartbeat_ms,
                   "milliseconds between each side's PINGs, TTL three times that (0: none)")
        ->capture_default_str();
    app.add_option("--exchange-gap", o.exchange_gap_us,
                   "mean microseconds between exchange starts, over all connections")
        ->capture_default_str();
    app.add_option("--duration", o.duration_s,
                   "capture seconds after which no exchange or PING starts (0: no limit)")
        ->capture_default_str();
    app.add_option("--exchanges-per-connection", o.exchanges_per_connection,
                   "short connections: each makes N exchanges, closes with FIN and the next "
                   "connection opens in its place (0: connections stay open to the end)")
        ->capture_default_str();
    app.add_option("--open-at-once", o.open_at_once,
                   "with --exchanges-per-connection: connections open at the same time "
                   "(0: all of them)")
        ->capture_default_str();
    app.add_flag("--idle", o.idle, "no exchanges: the connections only exchange heartbeats");
    app.add_option("--mss", o.mss, "TCP payload bytes per segment")
        ->check(CLI::Range(64u, 65483u))
        ->capture_default_str();
    app.add_flag("--loopback", c.loopback, "loopback addresses and MSS 65483");
    app.add_option("--port", o.server_port, "server TCP port")->capture_default_str();
    app.add_option("--seed", o.seed, "the same seed gives the same capture")->capture_default_str();
}

// Turns the text options into Options; false with `error` set.
bool finish_options(CommandLine& c, std::string& error) {
    Options& o = c.options;
    o.mechanism = c.mechanism == "curve" ? Mechanism::Curve : Mechanism::Null;
    for (const auto& [pattern, name] : pattern_names)
        if (name == c.pattern) o.pattern = pattern;
    if (c.loopback) o.mss = loopback_mss;
    if (!parse_byte_count(c.bytes, o.target_bytes)) {
        error = "bad --bytes \"" + c.bytes + "\": expected N, NK, NM or NG";
        return false;
    }
    if (!parse_size_spec(c.request_size.empty() ? c.size : c.request_size, o.request_size, error) ||
        !parse_size_spec(c.reply_size.empty() ? c.size : c.reply_size, o.reply_size, error)) {
        return false;
    }
    if (!c.keylog.empty() && o.mechanism != Mechanism::Curve) {
        error = "--keylog needs --mechanism curve";
        return false;
    }
    if (o.idle && (o.heartbeat_ms == 0 || o.exchanges_per_connection)) {
        error = "--idle needs heartbeats and no --exchanges-per-connection";
        return false;
    }
    if (o.open_at_once && !o.exchanges_per_connection) {
        error = "--open-at-once needs --exchanges-per-connection";
        return false;
    }
    if (o.server_port == 0) {
        error = "--port must not be 0";
        return false;
    }
    return true;
}

int run(const CommandLine& c) {
    std::string error;
    ::capture::PcapWriter writer;
    if (!open_pcap(writer, c.output, error)) {
        std::cerr << "zmtp-synth: " << error << "\n";
        return exit_failed;
    }
    KeyLogFile keylog;
    if (!c.keylog.empty() && !keylog.open(c.keylog, error)) {
        std::cerr << "zmtp-synth: " << error << "\n";
        return exit_failed;
    }
    TcpCapture capture(writer, c.options.mss, c.options.server_port, c.options.seed);
    const Stats stats = generate(c.options, capture, c.keylog.empty() ? nullptr : &keylog);
    const uint64_t packets = capture.packets(), bytes = writer.bytes();
    if (!writer.close(error) || !keylog.close(error)) {
        std::cerr << "zmtp-synth: " << error << "\n";
        return exit_failed;
    }
    if (!c.stats.empty()) {
        std::ofstream out(c.stats);
        out << stats_json(c.options, stats, packets, bytes).dump(2) << "\n";
        if (!out) {
            std::cerr << "zmtp-synth: cannot write " << c.stats << "\n";
            return exit_failed;
        }
    }
    std::fprintf(stderr,
                 "zmtp-synth: %s: %llu bytes, %llu packets, %llu connections, %llu exchanges, "
                 "%llu heartbeats (%s %s)\n",
                 c.output.c_str(), (unsigned long long)bytes, (unsigned long long)packets,
                 (unsigned long long)stats.connections, (unsigned long long)stats.exchanges,
                 (unsigned long long)stats.heartbeats,
                 std::string(zmtp::mechanism_name(c.options.mechanism)).c_str(),
                 std::string(pattern_name(c.options.pattern)).c_str());
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"zmtp-synth: writes large valid ZMTP captures (NULL or CURVE) for benchmarks"};
    CommandLine c;
    add_options(app, c);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? exit_ok : exit_usage;
    }
    std::string error;
    if (!finish_options(c, error)) {
        std::cerr << "zmtp-synth: " << error << "\n";
        return exit_usage;
    }
    try {
        return run(c);
    } catch (const std::exception& e) {
        std::cerr << "zmtp-synth: " << e.what() << "\n";
        return exit_failed;
    }
}
