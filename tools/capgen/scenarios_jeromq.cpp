// zmtp20-jeromq: real ZMTP 2.0 peers. JeroMQ 0.3.6 (Debian's libjeromq-java) speaks ZMTP 2.0
// only; against it libzmq 4.3.4 sends major version 3, then falls back to a 12-byte greeting, its
// identity frame and 2.0 framing (docs/protocol.md 1.6). The JeroMQ side is
// jeromq/JeromqPeer.java, run by the JDK's source launcher.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "scenario.hpp"

extern char** environ;

namespace capgen {

namespace {

constexpr const char* jeromq_jar = "/usr/share/java/jeromq.jar";
constexpr int java_timeout_seconds = 60;
constexpr int first_message_timeout_ms = 30000;  // the JVM compiles the peer before it connects

std::filesystem::path jeromq_peer_source() {
    return ZMTP_CAPGEN_JEROMQ_PEER;
}

// JeromqPeer.java in a child process (under timeout(1)); its stdout, one line per reply.
class JavaPeer {
  public:
    explicit JavaPeer(const std::vector<std::string>& peer_args) {
        if (!std::filesystem::exists(jeromq_jar))
            throw std::runtime_error(std::string(jeromq_jar) +
                                     " is missing: install libjeromq-java and "
                                     "default-jdk-headless (scripts/install-deps.sh)");
        std::vector<std::string> args = {"timeout",  std::to_string(java_timeout_seconds),
                                         "java",     "-cp",
                                         jeromq_jar, jeromq_peer_source().string()};
        args.insert(args.end(), peer_args.begin(), peer_args.end());
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe: " + std::string(strerror(errno)));
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        const int rc = posix_spawnp(&pid_, "timeout", &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        if (rc != 0) {
            close(out[0]);
            throw std::runtime_error("cannot start java: " + std::string(strerror(rc)));
        }
        stdout_ = out[0];
    }
    ~JavaPeer() {
        if (stdout_ >= 0) close(stdout_);
        if (pid_ > 0) waitpid(pid_, nullptr, 0);  // timeout(1) bounds it
    }
    JavaPeer(const JavaPeer&) = delete;
    JavaPeer& operator=(const JavaPeer&) = delete;

    // Waits for the peer to exit; its output lines. Throws when it failed.
    std::vector<std::string> finish() {
        std::string text;
        char chunk[4096];
        for (ssize_t n; (n = read(stdout_, chunk, sizeof chunk)) > 0;) text.append(chunk, n);
        close(stdout_);
        stdout_ = -1;
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("the JeroMQ peer failed (exit status " +
                                     std::to_string(WEXITSTATUS(status)) + ")");
        std::vector<std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        return lines;
    }

  private:
    pid_t pid_ = -1;
    int stdout_ = -1;
};

// One line of JeromqPeer's output: frames in hex, "-" for an empty one.
Frames frames_from_line(const std::string& line) {
    Frames frames;
    std::istringstream in(line);
    for (std::string word; in >> word;) {
        std::string frame;
        if (word != "-")
            for (size_t i = 0; i + 1 < word.size(); i += 2)
                frame.push_back(char(std::stoi(word.substr(i, 2), nullptr, 16)));
        frames.push_back(frame);
    }
    return frames;
}

// JeroMQ REQ (anonymous) -> libzmq REP with a routing id: 6 requests, 6 replies.
ConnectionRecord jeromq_req_to_libzmq_rep(ScenarioContext& context, Context& zmq) {
    const int port = context.port(null_port);
    Socket rep(zmq, ZMQ_REP);
    rep.set(ZMQ_ROUTING_ID, "libzmq-rep");
    rep.bind(context.endpoint(null_port));
    ConnectionRecord connection = new_connection(ZMQ_REQ, ZMQ_REP, port);
    connection.greetings = {
        {{"ZMTP 2.0 REQ", ""}, {"ZMTP 2.0 (downgraded from 3.x) REP", "libzmq-rep"}}};
    const std::vector<std::string> requests = {
        "GET /temperature",
        "GET /humidity",
        "SET interval=500",
        "GET /pressure",
        "x" + std::string(299, 'y'),  // 300 bytes: a long 2.0 frame (flags 02)
        "",                           // an empty request body
    };
    std::vector<std::string> args = {"req", context.endpoint(null_port), ""};
    for (const std::string& r : requests) {
        connection.client_to_server.messages.push_back({"", r});
        args.push_back(r);
    }
    JavaPeer peer(args);
    for (size_t i = 0; i < requests.size(); ++i) {
        Frames got = rep.receive_or_throw(i == 0 ? first_message_timeout_ms : receive_timeout_ms,
                                          "a request from the JeroMQ REQ");
        check_received(rep, connection.client_to_server, got);
        send_recorded(rep, connection.server_to_client,
                      {i == 4 ? pattern_bytes(260, 21) : "reply " + std::to_string(i)});
    }
    for (const std::string& line : peer.finish())
        check_received_wire(connection.server_to_client,
                            wire_frames_received(ZMQ_REQ, frames_from_line(line)));
    return connection;
}

// JeroMQ DEALER with identity "jeromq-dealer" -> libzmq ROUTER: the ROUTER sees that identity
// (it came in the 2.0 greeting) as the routing id of every message; 3 jobs, 3 answers.
ConnectionRecord jeromq_dealer_to_libzmq_router(ScenarioContext& context, Context& zmq) {
    const std::string identity = "jeromq-dealer";
    Socket router(zmq, ZMQ_ROUTER);
    router.bind(context.endpoint(curve_port));
    ConnectionRecord connection = new_connection(ZMQ_DEALER, ZMQ_ROUTER, context.port(curve_port));
    connection.greetings = {
        {{"ZMTP 2.0 DEALER", identity}, {"ZMTP 2.0 (downgraded from 3.x) ROUTER", ""}}};
    const std::vector<std::string> jobs = {"resize image-1", "resize image-2", "report"};
    std::vector<std::string> args = {"dealer", context.endpoint(curve_port), identity};
    for (const std::string& job : jobs) {
        connection.client_to_server.messages.push_back({"job", job});
        args.push_back(job);
    }
    JavaPeer peer(args);
    for (size_t i = 0; i < jobs.size(); ++i) {
        Frames got = router.receive_or_throw(i == 0 ? first_message_timeout_ms : receive_timeout_ms,
                                             "a job from the JeroMQ DEALER");
        if (got.empty() || got[0] != identity)
            throw std::runtime_error("the ROUTER did not see the DEALER's identity " + identity);
        check_received(router, connection.client_to_server, got);
        send_recorded(router, connection.server_to_client, {identity, "done", jobs[i]});
    }
    for (const std::string& line : peer.finish())
        check_received_wire(connection.server_to_client, frames_from_line(line));
    return connection;
}

}  // namespace

ScenarioRecord run_zmtp20_jeromq(ScenarioContext& context) {
    Context zmq;
    ScenarioRecord scenario{"zmtp20-jeromq", "NULL", context.port(null_port), {}, {}};
    scenario.connections.push_back(jeromq_req_to_libzmq_rep(context, zmq));
    scenario.connections.push_back(jeromq_dealer_to_libzmq_router(context, zmq));
    scenario.notes =
        "Real ZMTP 2.0 peers: JeroMQ 0.3.6 (Java, Debian's libjeromq-java) against libzmq "
        "4.3.4, which sends major version 3, sees revision 1 and falls back to a 12-byte "
        "greeting and 2.0 framing (docs/protocol.md 1.6). Each greeting ends with its sender's "
        "identity frame, which is no message (`greetings`). Connection 1, port 2069: JeroMQ REQ "
        "(anonymous) -> libzmq REP with routing id 'libzmq-rep', 6 requests and 6 replies (12 "
        "messages; a 300-byte request and a 260-byte reply are long 2.0 frames; an empty "
        "request body). Connection 2, port 2070: JeroMQ DEALER with identity 'jeromq-dealer' -> "
        "libzmq ROUTER (anonymous), 3 two-frame jobs and 3 answers; the ROUTER received every "
        "job under the routing id 'jeromq-dealer', which came in the DEALER's greeting.";
    return scenario;
}

}  // namespace capgen
