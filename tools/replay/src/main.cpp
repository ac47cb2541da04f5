// zmtp-replay: reads captures (or a live interface), follows every ZMTP connection, decodes
// and decrypts it with libzmtp, and reports handshakes, latency, heartbeats and endings.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <utility>

#include "analyzer.hpp"
#include "capture/packet_source.hpp"
#include "replayer.hpp"
#include "tool_setup.hpp"
#include "writers.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_unreadable = 1;
constexpr int exit_usage = 2;

struct Options {
    std::vector<std::string> captures;
    std::string interface;
    std::string filter;
    std::string ports = tool_setup::default_ports();
    bool detect = false;
    std::vector<std::string> keylogs;
    bool json = false;
    bool csv = false;
    std::string html;
    std::string output;
    double speed = 0;
    double duration = 0;
    size_t max_buffer = zmtp::tracker::StreamLimits{}.max_buffered_bytes;
    int snaplen = zmtp::tracker::LiveOptions{}.snaplen;
    int buffer_kib = zmtp::tracker::LiveOptions{}.buffer_kib;
    bool quiet = false;
    bool all_connections = false;
    std::string export_session_keys;
    size_t threads = std::max(1u, std::thread::hardware_concurrency());
};

zmtp::tracker::PacketSource* g_source = nullptr;

void stop_on_signal(int) {
    if (g_source) g_source->stop();
}

// Live capture filter: the user's, else every TCP packet (--detect), else the ZMTP ports.
std::string live_filter(const Options& o, const std::set<uint16_t>& ports) {
    if (!o.filter.empty()) return o.filter;
    if (o.detect) return "tcp";
    std::string f;
    for (uint16_t p : ports) f += (f.empty() ? "tcp port " : " or tcp port ") + std::to_string(p);
    return f;
}

void add_options(CLI::App& app, Options& o) {
    app.add_option("captures", o.captures,
                   "pcap/pcapng files (- for standard input), merged in time order");
    app.add_option("-i,--interface", o.interface,
                   "capture live from this interface (stop with Ctrl-C)");
    app.add_option("-f,--filter", o.filter, "BPF filter (live default: the ZMTP ports)");
    app.add_option("--ports", o.ports, "ZMTP ports, e.g. 2069,2070 or 5000-5010")
        ->capture_default_str();
    tool_setup::add_detect_flag(app, o.detect);
    tool_setup::add_keylog_option(app, o.keylogs);
    auto* json = app.add_flag("--json", o.json, "JSON output (schema in tools/replay/README.md)");
    auto* csv = app.add_flag("--csv", o.csv, "CSV output: one row per message");
    json->excludes(csv);
    app.add_option("--html", o.html, "also write a self-contained HTML report to this file");
    app.add_option("-o,--output", o.output, "write the text/JSON/CSV output to this file");
    app.add_option("--speed", o.speed,
                   "replay at N times the capture's pace, narrating events on stderr")
        ->check(CLI::PositiveNumber);
    app.add_option("--duration", o.duration, "live: stop after this many seconds")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-buffer", o.max_buffer, "out-of-order bytes held per connection direction")
        ->capture_default_str();
    app.add_option("--snaplen", o.snaplen, "live: bytes captured per packet")
        ->capture_default_str();
    app.add_option("-B,--buffer-size", o.buffer_kib,
                   "live: the kernel's capture buffer in KiB (as tcpdump -B)")
        ->capture_default_str()
        ->check(CLI::Range(64, (2 << 20) - 1));  // bytes fit in libpcap's int
    app.add_option("--threads", o.threads,
                   "worker threads, connections shared among them (default: one per core; "
                   "--speed and -i use one)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_flag("-q,--quiet", o.quiet, "no progress on stderr");
    app.add_flag("--all-connections", o.all_connections,
                 "text report: every connection in detail, also when there are many");
    app.add_option("--export-session-keys", o.export_session_keys,
                   "after the run, write the SESSION_KEY of every CURVE connection whose key was "
                   "found to this file (mode 0600, docs/keylog.md)");
}

bool load_keys(const Options& o, zmtp::KeyStore& store, replay::KeyInfo& info) {
    if (!tool_setup::load_key_files("zmtp-replay", o.keylogs, store, &info.warnings)) return false;
    info.files = o.keylogs;
    info.keys = store.size();
    return true;
}

// --export-session-keys: the connections' session keys (docs/keylog.md, SESSION_KEY), read
// at each connection's end, on whichever thread tracks it.
class SessionKeys {
  public:
    void add(const zmtp::tracker::Connection& c) {
        Entry e{c.id, zmtp::tracker::to_string(c.client), zmtp::tracker::to_string(c.server), {}};
        if (c.session) e.key = c.session->session_key();
        std::lock_guard lock(mutex_);
        entries_.push_back(std::move(e));
    }
    // The key log text, connections numbered as the report numbers them (in order of
    // appearance, every followed connection counted); `found`: how many keys it holds.
    std::string text(size_t& found) {
        std::lock_guard lock(mutex_);
        std::sort(entries_.begin(), entries_.end(),
                  [](const Entry& a, const Entry& b) { return a.id < b.id; });
        std::string out =
            "# SESSION_KEY of each CURVE connection, from zmtp-replay --export-session-keys "
            "(docs/keylog.md). Secret: keep this file private.\n";
        found = 0;
        for (size_t i = 0; i < entries_.size(); ++i) {
            Entry& e = entries_[i];
            if (!e.key) continue;
            std::string hex = zmtp::to_hex(*e.key);
            out += "SESSION_KEY " + hex + " # connection " + std::to_string(i + 1) + " " +
                   e.client + " -> " + e.server + "\n";
            explicit_bzero(hex.data(), hex.size());
            explicit_bzero(e.key->data(), e.key->size());
            found++;
        }
        return out;
    }

  private:
    struct Entry {
        uint64_t id;
        std::string client, server;
        std::optional<zmtp::Key> key;
    };
    std::mutex mutex_;
    std::vector<Entry> entries_;
};

// A file that only its owner can read, written whole or not at all: a temporary file of mode
// 0600 beside the target (created with O_EXCL by mkstemp, so it was never anyone else's), renamed
// over the target once written. An existing target (a file or a symbolic link) is replaced,
// never written through. Opened before the run, so that a path that cannot be written fails
// before a long capture is read.
class PrivateFile {
  public:
    bool open(const std::string& path, std::string& error) {
        path_ = path;
        temp_ = path + ".XXXXXX";
        fd_ = mkstemp(temp_.data());
        if (fd_ < 0) {
            error = std::strerror(errno);
            temp_.clear();
            return false;
        }
        if (fchmod(fd_, S_IRUSR | S_IWUSR) != 0) {
            error = std::strerror(errno);
            discard();
            return false;
        }
        return true;
    }
    bool commit(std::string_view text, std::string& error) {
        size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error = std::strerror(n < 0 ? errno : EIO);
                discard();
                return false;
            }
            done += size_t(n);
        }
        const int fd = std::exchange(fd_, -1);
        if (fsync(fd) != 0 || ::close(fd) != 0 || std::rename(temp_.c_str(), path_.c_str()) != 0) {
            error = std::strerror(errno);
            discard();
            return false;
        }
        temp_.clear();
        return true;
    }
    ~PrivateFile() { discard(); }

  private:
    void discard() {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
        if (!temp_.empty()) ::unlink(temp_.c_str());
        temp_.clear();
    }
    std::string path_, temp_;
    int fd_ = -1;
};

bool write_session_keys(const Options& o, SessionKeys& keys, PrivateFile& file) {
    size_t found = 0;
    std::string text = keys.text(found);
    std::string error;
    const bool ok = file.commit(text, error);
    explicit_bzero(text.data(), text.size());
    if (!ok) {
        std::cerr << "zmtp-replay: cannot write session keys to " << o.export_session_keys << ": "
                  << error << "\n";
        return false;
    }
    if (!o.quiet)
        std::cerr << fmt::format("zmtp-replay: {} session key(s) written to {}\n", found,
                                 o.export_session_keys);
    return true;
}

class Progress {
  public:
    explicit Progress(bool enabled) : enabled_(enabled) {}
    void update(const zmtp::tracker::PacketSource& source, const replay::Replayer& replayer) {
        if (!enabled_ || ++calls_ % 1024 != 0) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(500)) return;
        last_ = now;
        const uint64_t total = source.bytes_total();
        std::string line = fmt::format("\r{} packets, {} connection(s) open", replayer.packets(),
                                       replayer.open_connections());
        if (total)
            line += fmt::format(", {:.0f}%", 100.0 * double(source.bytes_read()) / double(total));
        std::cerr << line << "   " << std::flush;
        shown_ = true;
    }
    void done() {
        if (shown_) std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
    }

  private:
    bool enabled_;
    uint64_t calls_ = 0;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_{};
};

// Sleeps so that packets are processed at `speed` times the capture's pace.
class Pacer {
  public:
    explicit Pacer(double speed) : speed_(speed) {}
    void wait_for(zmtp::tracker::Timestamp t) {
        if (speed_ <= 0) return;
        const auto now = std::chrono::steady_clock::now();
        if (!started_) {
            started_ = true;
            first_ = t;
            start_ = now;
            return;
        }
        const auto due = start_ + std::chrono::nanoseconds(int64_t(double(t - first_) / speed_));
        if (due > now) std::this_thread::sleep_until(due);
    }

  private:
    double speed_;
    bool started_ = false;
    zmtp::tracker::Timestamp first_ = 0;
    std::chrono::steady_clock::time_point start_{};
};

int run(const Options& o, const std::set<uint16_t>& ports) {
    replay::Report report;
    zmtp::KeyStore keys;
    if (!load_keys(o, keys, report.keys)) return exit_unreadable;
    SessionKeys session_keys;
    PrivateFile session_key_file;
    if (!o.export_session_keys.empty()) {
        std::string error;
        if (!session_key_file.open(o.export_session_keys, error)) {
            std::cerr << "zmtp-replay: cannot write session keys to " << o.export_session_keys
                      << ": " << error << "\n";
            return exit_unreadable;
        }
    }

    std::string error;
    const std::string filter = o.interface.empty() ? o.filter : live_filter(o, ports);
    std::unique_ptr<zmtp::tracker::PacketSource> source =
        o.interface.empty() ? zmtp::tracker::PacketSource::open_files(o.captures, filter, error)
                            : zmtp::tracker::PacketSource::open_live(
                                  {o.interface, o.snaplen, o.buffer_kib, false}, filter, error);
    if (!source) {
        std::cerr << "zmtp-replay: " << error << "\n";
        return exit_unreadable;
    }
    report.inputs =
        o.interface.empty() ? o.captures : std::vector<std::string>{"live:" + o.interface};
    for (int linktype : source->linktypes()) {
        if (!zmtp::tracker::linktype_supported(linktype))
            report.input_warnings.push_back("link type " + zmtp::tracker::linktype_name(linktype));
    }

    std::ofstream file;
    std::ostream* const output = tool_setup::open_output("zmtp-replay", o.output, file);
    if (!output) return exit_unreadable;
    std::ostream& out = *output;

    replay::AnalyzerOptions analyzer_options;
    if (o.csv) {
        replay::write_csv_header(out);
        analyzer_options.on_message = [&out](const replay::MessageRecord& m) {
            replay::write_csv_row(m, out);
        };
    }
    std::optional<zmtp::tracker::Timestamp> origin;
    if (o.speed > 0) {
        analyzer_options.on_live_event = [&origin](zmtp::tracker::Timestamp t,
                                                   const std::string& text) {
            std::cerr << fmt::format("[+{:.3f} s] {}\n", replay::to_seconds(t - origin.value_or(t)),
                                     text);
        };
    }
    zmtp::tracker::TrackerOptions tracker_options;
    tracker_options.ports = ports;
    tracker_options.detect = o.detect;
    tracker_options.keys = &keys;
    tracker_options.stream.max_buffered_bytes = o.max_buffer;
    // The report counts frames and bytes and times them; it never reads a message body.
    tracker_options.session.limits.skip_message_bodies = true;
    if (!o.export_session_keys.empty())
        tracker_options.on_connection_closing = [&session_keys](const auto& c) {
            session_keys.add(c);
        };
    // Paced replay narrates as it goes and live capture comes at the network's pace: one thread.
    const size_t threads = o.speed > 0 || !o.interface.empty() ? 1 : o.threads;
    std::unique_ptr<replay::Replayer> replayer =
        replay::make_replayer(threads, tracker_options, analyzer_options);

    g_source = source.get();
    std::signal(SIGINT, stop_on_signal);
    std::signal(SIGTERM, stop_on_signal);
    if (o.duration > 0) {
        std::signal(SIGALRM, stop_on_signal);
        alarm(unsigned(std::max(1.0, o.duration)));
    }
    // Said once the handle is open and the signals are ours, so that scripts can wait for it.
    if (!o.interface.empty())
        std::cerr << fmt::format("zmtp-replay: capturing on {} (filter \"{}\"); stop with Ctrl-C\n",
                                 o.interface, filter);
    Progress progress(!o.quiet && isatty(STDERR_FILENO) && o.speed <= 0);
    Pacer pacer(o.speed);
    zmtp::tracker::Packet packet;
    while (source->next(packet)) {
        if (!origin) origin = packet.time;
        if (!report.first_packet) report.first_packet = packet.time;
        report.last_packet = std::max(report.last_packet.value_or(packet.time), packet.time);
        pacer.wait_for(packet.time);
        replayer->add_packet(packet);
        progress.update(*source, *replayer);
    }
    progress.done();
    g_source = nullptr;
    if (const std::string lost = source->losses(); !lost.empty())
        report.input_warnings.push_back(lost);
    report = replayer->finish(std::move(report));
    for (int linktype : report.counters.unsupported_linktypes)
        report.input_warnings.push_back("packets of unsupported link type " +
                                        zmtp::tracker::linktype_name(linktype));

    if (o.json) {
        replay::write_json(report, out);
    } else if (!o.csv) {
        replay::write_text(report, out, {.all_connections = o.all_connections});
    }
    if (!o.html.empty()) {
        std::ofstream html(o.html);
        if (!html) {
            std::cerr << "zmtp-replay: cannot write " << o.html << "\n";
            return exit_unreadable;
        }
        replay::write_html(report, html);
    }
    if (!o.export_session_keys.empty() && !write_session_keys(o, session_keys, session_key_file))
        return exit_unreadable;
    if (!source->error().empty()) {
        std::cerr << "zmtp-replay: " << source->error() << "\n";
        return exit_unreadable;
    }
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"zmtp-replay: ZMTP/CurveZMQ timing, latency and heartbeat report from captures"};
    Options o;
    add_options(app, o);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? exit_ok : exit_usage;
    }
    std::set<uint16_t> ports;
    std::string bad_item;
    if (!tool_setup::parse_ports(o.ports, ports, bad_item)) {
        std::cerr << "zmtp-replay: bad port or range \"" << bad_item << "\" in --ports\n";
        return exit_usage;
    }
    if (o.captures.empty() == o.interface.empty()) {
        std::cerr << "zmtp-replay: give capture files or -i INTERFACE (not both)\n" << app.help();
        return exit_usage;
    }
    if (std::count(o.captures.begin(), o.captures.end(), "-") > 1) {
        std::cerr << "zmtp-replay: standard input (-) can be read only once\n";
        return exit_usage;
    }
    return run(o, ports);
}
