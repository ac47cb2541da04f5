#include "sender.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "zmq_socket.hpp"
#include "zmtp/wire.hpp"

namespace zmtpsend {
namespace {

using Clock = std::chrono::steady_clock;

// How long closing a socket waits for messages still queued.
constexpr int linger_ms = 1000;

double wall_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// A step of a connection's captured client side, in capture order.
struct Step {
    Timestamp time;
    const CapturedMessage* message = nullptr;
    const Subscription* subscription = nullptr;
};

std::vector<Step> steps_of(const ConnectionScript& s, size_t max_messages) {
    std::vector<Step> steps;
    const size_t n = max_messages ? std::min(max_messages, s.sent.size()) : s.sent.size();
    for (size_t i = 0; i < n; ++i) steps.push_back({s.sent[i].time, &s.sent[i], nullptr});
    for (const Subscription& sub : s.subscriptions) steps.push_back({sub.time, nullptr, &sub});
    std::stable_sort(steps.begin(), steps.end(),
                     [](const Step& a, const Step& b) { return a.time < b.time; });
    return steps;
}

std::string excerpt(std::string_view bytes) {
    constexpr size_t shown = 24;
    std::string text = zmtp::printable(bytes.substr(0, shown));
    if (bytes.size() > shown) text += "...";
    return "\"" + text + "\"";
}

// Where two messages first differ, for people; empty when they are equal.
std::string first_difference(const Frames& captured, const Frames& replayed) {
    const size_t n = std::min(captured.size(), replayed.size());
    for (size_t i = 0; i < n; ++i) {
        const std::string& a = captured[i];
        const std::string& b = replayed[i];
        if (a == b) continue;
        size_t at = 0;
        while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
        return fmt::format(
            "frame {} differs at byte {}: captured {} ({} bytes), replayed {} ({} "
            "bytes)",
            i + 1, at, excerpt(std::string_view(a).substr(at)), a.size(),
            excerpt(std::string_view(b).substr(at)), b.size());
    }
    if (captured.size() != replayed.size())
        return fmt::format("{} frame(s) captured, {} replayed", captured.size(), replayed.size());
    return {};
}

// Why nothing could connect: one plain TCP connect to the endpoint, for its errno.
std::string tcp_connect_error(const std::string& to) {
    const std::string rest = to.substr(6);  // after tcp://
    const size_t colon = rest.rfind(':');
    std::string host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::string port = rest.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
        return gai_strerror(rc);
    std::string error = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        timeval tv{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
        error = rc == 0 ? "" : std::strerror(errno);
        ::close(fd);
        if (rc == 0) break;
    }
    freeaddrinfo(found);
    return error;
}

class ConnectionRun {
  public:
    ConnectionRun(ZmqContext& context, const ConnectionScript& script, const SendOptions& options,
                  Clock::time_point run_start, Timestamp origin, ConnectionResult& result)
        : context_(context),
          script_(script),
          options_(options),
          run_start_(run_start),
          origin_(origin),
          result_(result),
          socket_(context, int(script.client_type)),
          monitor_(context, ZMQ_PAIR) {}

    void run() {
        for (const CapturedMessage& reply : script_.replies) {
            if (reply.answers_seq) captured_reply_of_[*reply.answers_seq] = &reply;
        }
        const std::vector<Step> steps = steps_of(script_, options_.max_messages);
        for (const Step& s : steps) {
            if (s.message) sent_seqs_.insert(s.message->seq);
        }
        expected_ = expected_replies();
        result_.replies_expected = expected_.size();
        if (!options_.fast) wait_until(due(script_.start), false);
        if (!open()) return;
        const Clock::time_point connect_time = Clock::now();
        if (!await_handshake()) return;
        ready_ = Clock::now();
        result_.handshake_ms = ms_between(connect_time, *ready_);
        for (const Step& step : steps) {
            if (past_duration()) {
                result_.stopped_by_duration = true;
                break;
            }
            if (!options_.fast && !wait_until(due(step.time), true)) return;
            if (step.subscription) {
                subscribe(*step.subscription);
                continue;
            }
            // A REQ socket sends the next request only after the reply; "fast" waits for it on
            // every socket, so the server sets the pace.
            if ((options_.fast || is_req()) && !await_replies(pending_before(*step.message)))
                return;
            if (!send(*step.message)) return;
        }
        await_replies(expected_.size());
        if (result_.failure == Failure::None && result_.replies_received < expected_.size() &&
            paired()) {
            fail(Failure::Timeout,
                 fmt::format("{} of {} captured replies did not come within {:.1f} s",
                             expected_.size() - result_.replies_received, expected_.size(),
                             options_.reply_timeout_s));
        }
    }

  private:
    // When the capture's time t comes in this run: the connection starts at its captured offset
    // from the first one; what follows keeps its captured distance from the end of the handshake
    // (`ready_`, once known), however long this run's handshake took.
    Clock::time_point due(Timestamp t) const {
        const Timestamp anchor = ready_ ? script_.ready : origin_;
        const Clock::time_point from = ready_ ? *ready_ : run_start_;
        const double ns = double(t - anchor) / options_.speed;
        return from + std::chrono::nanoseconds(int64_t(std::max(0.0, ns)));
    }

    bool past_duration() const {
        return options_.duration_s > 0 &&
               Clock::now() - run_start_ >= std::chrono::duration<double>(options_.duration_s);
    }

    bool is_req() const { return script_.client_type == zmtp::SocketType::Req; }
    bool paired() const { return !captured_reply_of_.empty(); }

    // The captured server messages this run should get: in order, up to the first one that
    // answers a message this run does not send.
    std::vector<const CapturedMessage*> expected_replies() const {
        std::vector<const CapturedMessage*> out;
        for (const CapturedMessage& reply : script_.replies) {
            if (reply.answers_seq && !sent_seqs_.count(*reply.answers_seq)) break;
            out.push_back(&reply);
        }
        return out;
    }

    // How many replies must have arrived before `message` goes out: those the capture had
    // before it was sent. Messages come in capture order, so the count only grows.
    size_t pending_before(const CapturedMessage& message) {
        while (replies_before_ < expected_.size()) {
            const CapturedMessage& reply = *expected_[replies_before_];
            if (reply.answers_seq ? *reply.answers_seq >= message.seq : reply.time >= message.time)
                break;
            ++replies_before_;
        }
        return replies_before_;
    }

    bool open() {
        if (!socket_.ok()) {
            fail(Failure::HandshakeFailed, fmt::format("libzmq cannot make a {} socket: {}",
                                                       result_.client_type, zmq_error_text()));
            return false;
        }
        socket_.set(ZMQ_LINGER, linger_ms);
        if (!script_.routing_id.empty()) socket_.set(ZMQ_ROUTING_ID, script_.routing_id);
        const HeartbeatOptions& hb = result_.heartbeat;
        if (hb.ivl_ms) socket_.set(ZMQ_HEARTBEAT_IVL, *hb.ivl_ms);
        if (hb.ttl_ms) socket_.set(ZMQ_HEARTBEAT_TTL, *hb.ttl_ms);
        if (hb.timeout_ms) socket_.set(ZMQ_HEARTBEAT_TIMEOUT, *hb.timeout_ms);
        if (options_.curve) {
            const CurveOptions& c = *options_.curve;
            auto view = [](const zmtp::Key& k) {
                return std::string_view(reinterpret_cast<const char*>(k.data()), k.size());
            };
            socket_.set(ZMQ_CURVE_SERVERKEY, view(c.server_public));
            socket_.set(ZMQ_CURVE_PUBLICKEY, view(c.client_public));
            socket_.set(ZMQ_CURVE_SECRETKEY, view(c.client_secret));
        }
        const std::string monitor = fmt::format("inproc://zmtp-send-monitor-{}", script_.id);
        if (zmq_socket_monitor(socket_.handle(), monitor.c_str(), ZMQ_EVENT_ALL) != 0 ||
            zmq_connect(monitor_.handle(), monitor.c_str()) != 0) {
            fail(Failure::HandshakeFailed, "cannot monitor the socket: " + zmq_error_text());
            return false;
        }
        if (!socket_.connect(options_.to)) {
            fail(Failure::ConnectionRefused,
                 fmt::format("cannot connect to {}: {}", options_.to, zmq_error_text()));
            return false;
        }
        return true;
    }

    // Until the handshake succeeded, or failed in a way that retrying will not change.
    bool await_handshake() {
        const Clock::time_point deadline =
            Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(options_.connect_timeout_s));
        bool connected = false;
        size_t retries = 0, dropped = 0;
        while (Clock::now() < deadline) {
            zmq_pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (zmq_poll(&item, 1, std::max<long>(1, left.count())) <= 0) continue;
            const std::optional<MonitorEvent> e = next_event();
            if (!e) continue;
            switch (e->event) {
                case ZMQ_EVENT_CONNECTED:
                    connected = true;
                    break;
                case ZMQ_EVENT_CONNECT_RETRIED:
                    retries++;
                    break;
                case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                    return true;
                case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                    fail(Failure::AuthDenied,
                         fmt::format("the server refused the handshake: ZAP denied us "
                                     "(status code {})",
                                     e->value));
                    return false;
                case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                    fail(Failure::HandshakeFailed,
                         "handshake failed: " + protocol_error_name(e->value));
                    return false;
                case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                    // libzmq's CURVE server closes the connection, without an ERROR, on a HELLO it
                    // cannot open: what a client with the wrong server public key gets.
                    if (++dropped >= 2) {
                        fail(Failure::HandshakeFailed,
                             options_.curve
                                 ? fmt::format("handshake failed: the server closed the "
                                               "connection after our HELLO, {} times (a CURVE "
                                               "server does so when the HELLO does not open: "
                                               "wrong server key?)",
                                               dropped)
                                 : fmt::format("handshake failed: the server closed the "
                                               "connection during the handshake, {} times",
                                               dropped));
                        return false;
                    }
                    break;
                default:
                    break;
            }
        }
        if (!connected) {
            const std::string why = tcp_connect_error(options_.to);
            fail(Failure::ConnectionRefused,
                 fmt::format("could not connect to {} within {:.1f} s ({} attempt(s)): {}",
                             options_.to, options_.connect_timeout_s, retries + 1,
                             why.empty() ? "no ZMTP peer answered" : why));
        } else {
            fail(Failure::Timeout,
                 fmt::format("connected to {}, but the handshake did not finish within {:.1f} s",
                             options_.to, options_.connect_timeout_s));
        }
        return false;
    }

    std::optional<MonitorEvent> next_event() {
        std::optional<MonitorEvent> e = monitor_.receive_event_now();
        if (e) result_.monitor_events.push_back(monitor_event_name(e->event));
        return e;
    }

    // Receives replies and watches the monitor until `until`; false once the connection failed.
    bool wait_until(Clock::time_point until, bool connected) {
        if (!connected) {
            std::this_thread::sleep_until(until);
            return true;
        }
        while (true) {
            const Clock::time_point now = Clock::now();
            if (now >= until) return poll_once(0);
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
            // zmq_poll counts whole milliseconds: the last one is slept, never spun (a spinning
            // thread takes the CPU from libzmq's I/O threads and from a server on the same host).
            if (left.count() >= 1) {
                if (!poll_once(left.count())) return false;
            } else {
                std::this_thread::sleep_until(until);
            }
        }
    }

    // Until `count` replies arrived (bounded by the reply timeout since the last one).
    bool await_replies(size_t count) {
        Clock::time_point deadline = Clock::now() + reply_timeout();
        while (result_.replies_received < count) {
            if (past_duration()) return false;
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                if (is_req() || options_.fast)
                    fail(Failure::Timeout,
                         fmt::format("no reply within {:.1f} s to message {} (reply {} of {} "
                                     "expected)",
                                     options_.reply_timeout_s, result_.messages_sent,
                                     result_.replies_received + 1, count));
                return false;
            }
            const size_t before = result_.replies_received;
            if (!poll_once(left.count())) return false;
            if (result_.replies_received != before) deadline = Clock::now() + reply_timeout();
        }
        return true;
    }

    Clock::duration reply_timeout() const {
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(options_.reply_timeout_s));
    }

    bool poll_once(long timeout_ms) {
        zmq_pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                                   {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, timeout_ms) <= 0) return true;
        if (items[1].revents & ZMQ_POLLIN) {
            if (std::optional<MonitorEvent> e = next_event();
                e && e->event == ZMQ_EVENT_DISCONNECTED) {
                fail(Failure::Disconnected,
                     fmt::format("the server closed the connection after {} message(s) sent and "
                                 "{} repl(ies) received",
                                 result_.messages_sent, result_.replies_received));
                return false;
            }
        }
        if (items[0].revents & ZMQ_POLLIN) {
            while (std::optional<Frames> frames = socket_.receive_now()) on_reply(*frames);
        }
        return true;
    }

    void on_reply(const Frames& frames) {
        const Clock::time_point now = Clock::now();
        const double wall = wall_now();
        const size_t k = result_.replies_received++;
        result_.reply_offsets_ms.push_back(ms_between(run_start_, now));
        if (k >= expected_.size()) {
            result_.unexpected_replies++;
            return;
        }
        const CapturedMessage& captured = *expected_[k];
        const std::string diff =
            first_difference(frames_received(script_.client_type, captured.frames), frames);
        (diff.empty() ? result_.replies_equal : result_.replies_differ)++;
        if (!captured.answers_seq) return;
        // The k-th reply answers the request the capture's k-th reply answered.
        const auto it = request_index_.find(*captured.answers_seq);
        if (it == request_index_.end()) return;
        RequestResult& r = result_.requests[it->second];
        r.replayed_ms = ms_between(send_time_.at(r.seq), now);
        r.reply_at = wall;
        r.reply_equal = diff.empty();
        r.first_difference = diff;
    }

    // A request's latency runs from the moment libzmq took the whole message.
    bool send(const CapturedMessage& message) {
        if (!socket_.send(frames_to_send(script_.client_type, message.frames))) {
            fail(Failure::Disconnected, fmt::format("libzmq did not take message {}: {}",
                                                    result_.messages_sent + 1, zmq_error_text()));
            return false;
        }
        const Clock::time_point now = Clock::now();
        const double wall = wall_now();
        result_.messages_sent++;
        result_.send_offsets_ms.push_back(ms_between(run_start_, now));
        send_time_[message.seq] = now;
        if (const auto reply = captured_reply_of_.find(message.seq);
            reply != captured_reply_of_.end() || message.awaits_reply) {
            RequestResult r;
            r.seq = message.seq;
            r.sent_at = wall;
            if (reply != captured_reply_of_.end())
                r.captured_ms = double(reply->second->time - message.time) / 1e6;
            request_index_[message.seq] = result_.requests.size();
            result_.requests.push_back(std::move(r));
        }
        return true;
    }

    void subscribe(const Subscription& s) {
        if (script_.client_type == zmtp::SocketType::Sub) {
            socket_.set(s.subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, s.topic);
        } else if (script_.client_type == zmtp::SocketType::Xsub) {
            socket_.send({std::string(1, s.subscribe ? '\x01' : '\x00') + s.topic});
        } else {
            return;
        }
        result_.subscriptions_sent++;
    }

    void fail(Failure f, std::string text) {
        if (result_.failure != Failure::None) return;
        result_.failure = f;
        result_.failure_text = std::move(text);
    }

    ZmqContext& context_;
    const ConnectionScript& script_;
    const SendOptions& options_;
    Clock::time_point run_start_;
    Timestamp origin_;
    std::optional<Clock::time_point> ready_;  // this run's handshake ended
    ConnectionResult& result_;
    ZmqSocket socket_;
    ZmqSocket monitor_;
    std::map<uint64_t, const CapturedMessage*> captured_reply_of_;  // request seq -> reply
    std::set<uint64_t> sent_seqs_;
    std::vector<const CapturedMessage*> expected_;
    size_t replies_before_ = 0;  // pending_before()'s count so far
    std::map<uint64_t, Clock::time_point> send_time_;
    std::map<uint64_t, size_t> request_index_;
};

std::string pacing_name(const SendOptions& o) {
    if (o.fast) return "fast";
    if (o.speed == 1) return "captured";
    return fmt::format("speed {:g}", o.speed);
}

}  // namespace

Frames frames_to_send(zmtp::SocketType type, const Frames& wire) {
    if (type == zmtp::SocketType::Req && !wire.empty() && wire.front().empty())
        return Frames(wire.begin() + 1, wire.end());
    return wire;
}

Frames frames_received(zmtp::SocketType type, const Frames& wire) {
    return frames_to_send(type, wire);
}

HeartbeatOptions heartbeat_for(const ConnectionScript& script, const SendOptions& options) {
    HeartbeatOptions hb;
    if (options.no_heartbeat) return hb;
    if (script.heartbeat.interval_ms) {
        hb.ivl_ms = int(std::lround(*script.heartbeat.interval_ms));
        hb.from_capture = true;
    }
    if (script.heartbeat.ttl_ms) {
        hb.ttl_ms = int(*script.heartbeat.ttl_ms);
        hb.from_capture = true;
    }
    if (options.heartbeat_ivl_ms) hb.ivl_ms = options.heartbeat_ivl_ms;
    if (options.heartbeat_ttl_ms) hb.ttl_ms = options.heartbeat_ttl_ms;
    if (options.heartbeat_timeout_ms) hb.timeout_ms = options.heartbeat_timeout_ms;
    return hb;
}

RunResult run_scripts(const std::vector<const ConnectionScript*>& scripts,
                      const SendOptions& options) {
    RunResult run;
    run.to = options.to;
    run.pacing = pacing_name(options);
    run.mechanism = options.curve ? "CURVE" : "NULL";
    run.connections.resize(scripts.size());
    Timestamp origin = scripts.empty() ? 0 : scripts.front()->start;
    for (const ConnectionScript* s : scripts) origin = std::min(origin, s->start);
    for (size_t i = 0; i < scripts.size(); ++i) {
        const ConnectionScript& s = *scripts[i];
        ConnectionResult& r = run.connections[i];
        r.id = s.id;
        r.client_type = zmtp::socket_type_name(s.client_type);
        r.server_type = zmtp::socket_type_name(s.server_type);
        r.mechanism = zmtp::mechanism_name(s.mechanism);
        r.captured_client = s.client;
        r.captured_server = s.server;
        r.heartbeat = heartbeat_for(s, options);
        r.messages_to_send =
            options.max_messages ? std::min(options.max_messages, s.sent.size()) : s.sent.size();
    }
    ZmqContext context;
    run.started_at = wall_now();
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> threads;
    for (size_t i = 0; i < scripts.size(); ++i) {
        threads.emplace_back([&, i] {
            ConnectionRun(context, *scripts[i], options, start, origin, run.connections[i]).run();
        });
    }
    for (std::thread& t : threads) t.join();
    run.elapsed_ms = ms_between(start, Clock::now());
    return run;
}

}  // namespace zmtpsend
