#include "driver.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "capture.hpp"
#include "pcap_files.hpp"
#include "scenario.hpp"
#include "tcp_connections.hpp"

namespace capgen {

namespace fs = std::filesystem;

namespace {

constexpr int scenario_timeout_ms = 60000;
// tcpdump gets packets from the kernel in ring blocks, handed over when full or after its 1 s
// timeout: waiting longer than that before stopping it loses none.
constexpr int capture_drain_ms = 1300;

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void write_file(const fs::path& path, const std::string& text) {
    fs::path part = path;
    part += ".part";
    {
        std::ofstream out(part, std::ios::trunc);
        out << text;
        if (!out.flush()) throw std::runtime_error(part.string() + ": cannot write");
    }
    fs::rename(part, path);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// --- the scenario process ---

// `request`: 's' stop capturing, 'b' begin capturing. The driver answers 'c' once done.
void signal_driver_and_wait(int out_fd, int in_fd, char request) {
    if (write(out_fd, &request, 1) != 1) throw std::runtime_error("lost contact with the driver");
    pollfd answer = {in_fd, POLLIN, 0};
    char byte = 0;
    if (poll(&answer, 1, 20000) != 1 || read(in_fd, &byte, 1) != 1 || byte != 'c') {
        throw std::runtime_error(request == 's'
                                     ? "the driver did not confirm that the capture stopped"
                                     : "the driver did not confirm that the capture started");
    }
}

}  // namespace

int run_scenario_child(const ChildOptions& options) {
    const Scenario* scenario = find_scenario(options.scenario);
    if (!scenario) {
        std::cerr << "zmtp-capgen: unknown scenario '" << options.scenario << "'\n";
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    fs::path out(options.out_dir);
    ScenarioContext context;
    context.port_offset = options.port_offset;
    context.keylog_path = (out / (std::string(scenario->name) + ".keys")).string();
    context.keylog_preloaded = options.keylog_preloaded;
    context.stop_capture = [&options] {
        signal_driver_and_wait(options.sync_out_fd, options.sync_in_fd, 's');
    };
    context.start_capture = [&options] {
        signal_driver_and_wait(options.sync_out_fd, options.sync_in_fd, 'b');
    };
    try {
        ScenarioRecord record = scenario->run(context);
        write_file(out / (record.name + ".expected.json"), expected_json(record));
        if (!options.exchange_log.empty())
            write_file(options.exchange_log, exchange_summary(record));
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "zmtp-capgen: " << scenario->name << ": " << error.what() << "\n";
        return 1;
    }
}

namespace {

// --- the driver ---

struct Outputs {
    fs::path pcap_part, pcapng, keys, expected, exchange_part;

    Outputs(const fs::path& dir, std::string_view name) {
        std::string base(name);
        pcap_part = dir / (base + ".pcap.part");
        pcapng = dir / (base + ".pcapng");
        keys = dir / (base + ".keys");
        expected = dir / (base + ".expected.json");
        exchange_part = dir / (base + ".exchange.part");
    }
    void remove_all() const {
        for (const fs::path& path : {pcap_part, pcapng, keys, expected, exchange_part})
            fs::remove(path);
    }
};

std::string self_path() {
    return fs::read_symlink("/proc/self/exe").string();
}

struct Child {
    pid_t pid = -1;
    int from_child = -1;  // 's': stop the capture, 'b': begin it
    int to_child = -1;    // 'c': done
};

Child spawn_scenario(const DriverOptions& options, const Scenario& scenario,
                     const Outputs& outputs) {
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    bool preload = scenario.mechanism == "CURVE" && !options.keylog_library.empty();
    std::vector<std::string> args = {self_path(),
                                     "--run-scenario",
                                     std::string(scenario.name),
                                     "--out",
                                     options.out_dir,
                                     "--port-offset",
                                     std::to_string(options.port_offset),
                                     "--sync-fds",
                                     std::to_string(up[1]) + "," + std::to_string(down[0])};
    if (preload) args.push_back("--keylog-preloaded");
    if (!options.exchange_log.empty()) {
        args.push_back("--exchange-log");
        args.push_back(outputs.exchange_part.string());
    }
    std::string keylog_file = fs::absolute(outputs.keys).string();
    std::string library = preload ? fs::absolute(options.keylog_library).string() : "";
    if (preload && !options.preload_first.empty())
        library = fs::absolute(options.preload_first).string() + ":" + library;

    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        fcntl(up[1], F_SETFD, 0);
        fcntl(down[0], F_SETFD, 0);
        if (preload) {
            setenv("LD_PRELOAD", library.c_str(), 1);
            setenv("ZMTP_KEYLOG_FILE", keylog_file.c_str(), 1);
        } else {
            unsetenv("ZMTP_KEYLOG_FILE");
        }
        std::vector<char*> argv;
        for (std::string& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(up[1]);
    close(down[0]);
    return {pid, up[0], down[1]};
}

long stop_capture(std::optional<TcpdumpCapture>& capture) {
    if (!capture || !capture->running()) return 0;
    usleep(capture_drain_ms * 1000);
    return capture->stop();
}

void abandon(const Child& child) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    close(child.from_child);
    close(child.to_child);
}

// Runs the scenario process to its end, starting (`start_capture`) and stopping the capture
// when it asks. Returns its exit status, or throws on a timeout.
int supervise(Child child, std::optional<TcpdumpCapture>& capture, long& dropped,
              const std::function<void()>& start_capture) {
    int64_t deadline = now_ms() + scenario_timeout_ms;
    for (;;) {
        pollfd readable = {child.from_child, POLLIN, 0};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&readable, 1, int(left)) == 0) {
            abandon(child);
            throw std::runtime_error("the scenario took longer than " +
                                     std::to_string(scenario_timeout_ms / 1000) + " s");
        }
        char byte = 0;
        if (read(child.from_child, &byte, 1) != 1) break;  // the scenario process exited
        if (byte == 'b') {
            try {
                start_capture();
            } catch (...) {
                abandon(child);
                throw;
            }
        } else {
            dropped = stop_capture(capture);
        }
        if (write(child.to_child, "c", 1) != 1) break;
    }
    int status = 0;
    waitpid(child.pid, &status, 0);
    close(child.from_child);
    close(child.to_child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::set<uint16_t> server_ports(const nlohmann::json& connections) {
    std::set<uint16_t> ports;
    for (const auto& connection : connections)
        ports.insert(connection.at("server_port").get<uint16_t>());
    return ports;
}

bool end_matches(const std::string& expected, const TcpConnection& connection) {
    if (expected == "heartbeat-timeout") {
        return connection.client_to_server.fin && !connection.server_to_client.fin &&
               !connection.client_to_server.rst && !connection.server_to_client.rst;
    }
    return expected == connection.end();
}

size_t count_lines_starting(const fs::path& path, std::string_view prefix) {
    std::istringstream text(read_file(path));
    size_t count = 0;
    for (std::string line; std::getline(text, line);) count += line.rfind(prefix, 0) == 0;
    return count;
}

// Compares the capture with what the scenario expects at the TCP level; "" when it matches.
// A connection whose handshake is "not-captured" must begin mid-connection: no SYN.
std::string check_capture(const Outputs& outputs, const TcpSummary& summary) {
    auto expected = nlohmann::json::parse(read_file(outputs.expected));
    const auto& connections = expected.at("connections");
    if (summary.connections.size() != connections.size()) {
        return std::to_string(summary.connections.size()) + " TCP connections captured, " +
               std::to_string(connections.size()) + " expected";
    }
    if (summary.stray_packets)
        return std::to_string(summary.stray_packets) + " packets of connections opened earlier";
    for (size_t i = 0; i < connections.size(); ++i) {
        const TcpConnection& tcp = summary.connections[i];
        std::string where = "connection " + std::to_string(i) + ": ";
        if (tcp.server_port != connections[i].at("server_port").get<int>())
            return where + "server port " + std::to_string(tcp.server_port);
        if (tcp.client_to_server.gap || tcp.server_to_client.gap)
            return where + "segments missing or out of order";
        bool late = connections[i].at("handshake") == "not-captured";
        if (late && tcp.syn_seen) return where + "the capture has its SYN, not a late start";
        if (!late && !tcp.syn_seen) return where + "its SYN is not in the capture";
        std::string end = connections[i].at("end");
        if (!end_matches(end, tcp)) return where + "ends with " + tcp.end() + ", expected " + end;
    }
    return "";
}

struct AttemptResult {
    std::string problem;  // empty: success
    std::string summary;
};

AttemptResult run_attempt(const DriverOptions& options, const Scenario& scenario,
                          const Outputs& outputs) {
    outputs.remove_all();
    bool curve = scenario.mechanism == "CURVE";
    if (curve) {
        std::ofstream(outputs.keys) << "# zmtp-capgen scenario " << scenario.name
                                    << ": test keys, never use them elsewhere\n";
        fs::permissions(outputs.keys, fs::perms::owner_read | fs::perms::owner_write);
    }
    std::string filter;
    {
        std::vector<int> ports;
        for (int port : scenario.base_ports) ports.push_back(port + options.port_offset);
        filter = port_filter(ports);
    }
    std::optional<TcpdumpCapture> capture;
    auto start_capture = [&] {
        if (options.capture && !capture)
            capture.emplace(options.tcpdump, filter, outputs.pcap_part.string());
    };
    if (!scenario.capture_starts_late) start_capture();
    long dropped = 0;
    int status =
        supervise(spawn_scenario(options, scenario, outputs), capture, dropped, start_capture);
    long late_dropped = stop_capture(capture);
    dropped = std::max(dropped, late_dropped);
    if (status != 0)
        return {"the scenario process failed (exit status " + std::to_string(status) + ")", ""};
    if (!options.capture) return {"", "played (not captured)"};
    if (!capture) return {"the scenario never asked to start the capture", ""};
    if (dropped > 0) return {"the kernel dropped " + std::to_string(dropped) + " packets", ""};

    PacketFile packets = read_capture(outputs.pcap_part.string());
    fs::remove(outputs.pcap_part);
    write_pcapng(outputs.pcapng.string(), packets, "lo",
                 "zmtp-capgen scenario " + std::string(scenario.name) + "; filter: " + filter);
    std::set<uint16_t> late_servers;
    if (scenario.capture_starts_late)
        late_servers =
            server_ports(nlohmann::json::parse(read_file(outputs.expected)).at("connections"));
    TcpSummary summary = summarize_tcp(read_capture(outputs.pcapng.string()), late_servers);
    if (std::string problem = check_capture(outputs, summary); !problem.empty())
        return {problem, ""};

    std::string text = std::to_string(summary.connections.size()) + " connection(s), " +
                       std::to_string(packets.packets.size()) + " packets, " +
                       std::to_string(fs::file_size(outputs.pcapng)) + " bytes";
    if (curve) {
        size_t ephemeral = count_lines_starting(outputs.keys, "EPHEMERAL_SECRET");
        if (!options.keylog_library.empty() && ephemeral < 2 * summary.connections.size())
            return {"only " + std::to_string(ephemeral) + " ephemeral keys were logged", ""};
        text += ", " + std::to_string(ephemeral) + " ephemeral keys logged";
        if (scenario.capture_starts_late) {
            // Without its handshake only the connection's SESSION_KEY opens its boxes
            // (docs/keylog.md): both ends log it.
            size_t session = count_lines_starting(outputs.keys, "SESSION_KEY");
            if (!options.keylog_library.empty() && session < 2 * summary.connections.size())
                return {"only " + std::to_string(session) + " SESSION_KEY lines were logged", ""};
            text += ", " + std::to_string(session) + " session keys logged";
        }
    }
    return {"", text};
}

void append_exchange(const DriverOptions& options, const Outputs& outputs) {
    if (options.exchange_log.empty()) return;
    std::ofstream(options.exchange_log, std::ios::app) << read_file(outputs.exchange_part);
    fs::remove(outputs.exchange_part);
}

}  // namespace

int run_scenarios(const DriverOptions& options, const std::vector<std::string>& names) {
    signal(SIGPIPE, SIG_IGN);
    fs::create_directories(options.out_dir);
    int failures = 0;
    for (const std::string& name : names) {
        const Scenario& scenario = *find_scenario(name);
        Outputs outputs(options.out_dir, scenario.name);
        AttemptResult result;
        for (int attempt = 1; attempt <= options.attempts; ++attempt) {
            try {
                result = run_attempt(options, scenario, outputs);
            } catch (const std::exception& error) {
                result = {error.what(), ""};
            }
            if (result.problem.empty()) break;
            std::cerr << "zmtp-capgen: " << name << " (attempt " << attempt
                      << "): " << result.problem << "\n";
        }
        if (result.problem.empty()) {
            append_exchange(options, outputs);
            std::cout << name << ": " << result.summary << std::endl;
        } else {
            outputs.remove_all();
            std::cout << name << ": FAILED: " << result.problem << std::endl;
            ++failures;
        }
    }
    return failures;
}

}  // namespace capgen
