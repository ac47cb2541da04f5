#include "analyzer.hpp"
#include "capture/hash.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "zmtp/z85.hpp"

namespace replay {
namespace {

using zmtp::CommandKind;
using zmtp::capture::Connection;
using zmtp::capture::ConnectionEnd;
using zmtp::capture::TcpEventKind;

constexpr Timestamp storm_max_interval = 60 * zmtp::capture::ns_per_s;
constexpr size_t storm_min_attempts = 3;
constexpr size_t periodic_min_intervals = 5;
constexpr size_t outliers_min_samples = 10;
constexpr size_t max_timeline_points = 10000;

bool counted_command(CommandKind k) {
    return k == CommandKind::Ping || k == CommandKind::Pong || k == CommandKind::Subscribe ||
           k == CommandKind::Cancel || k == CommandKind::Join || k == CommandKind::Leave;
}

bool request_reply_socket(zmtp::SocketType t) {
    using zmtp::SocketType;
    return t == SocketType::Req || t == SocketType::Rep || t == SocketType::Dealer ||
           t == SocketType::Router || t == SocketType::Client || t == SocketType::Server;
}

// Socket types whose messages libzmtp pairs into requests and replies.
bool pairs_requests(const zmtp::SessionInfo& info) {
    return request_reply_socket(info.socket_types[0]) && request_reply_socket(info.socket_types[1]);
}

std::string side_name(Direction sender) {
    return sender == Direction::ClientToServer ? "client" : "server";
}

std::string version_of(const zmtp::Greeting& g) {
    if (g.major >= 3) return std::to_string(g.major) + "." + std::to_string(g.minor);
    return g.major == 1 ? "2.0" : "1.0";
}

std::string effective_version(const zmtp::SessionInfo& info) {
    std::string lowest;
    for (const auto& g : info.greetings) {
        if (!g) continue;
        const std::string v = version_of(*g);
        if (lowest.empty() || v < lowest) lowest = v;
    }
    return lowest;
}

std::string decryption_name(zmtp::CurveKeyState s) {
    switch (s) {
        case zmtp::CurveKeyState::NotCurve:
            return "not-curve";
        case zmtp::CurveKeyState::Unknown:
            return "unknown";
        case zmtp::CurveKeyState::HelloOnly:
            return "handshake-only";
        case zmtp::CurveKeyState::SessionKey:
            return "decrypted";
        case zmtp::CurveKeyState::NoKey:
            return "no-key";
    }
    return "unknown";
}

std::string severity_name(zmtp::Severity s) {
    switch (s) {
        case zmtp::Severity::Note:
            return "note";
        case zmtp::Severity::Warning:
            return "warning";
        case zmtp::Severity::Error:
            return "error";
    }
    return "note";
}

// Regular intervals: at least 70% of them within 30% of the median.
bool regular(const Distribution& intervals) {
    if (intervals.count() < periodic_min_intervals) return false;
    const double mid = intervals.percentile_ms(50);
    if (mid <= 0) return false;
    const size_t close = intervals.count_within(0.7 * mid, 1.3 * mid);
    return double(close) >= 0.7 * double(intervals.count());
}

// Text that came off the wire (command names, ERROR reasons, mechanism names) may hold any
// byte: keep printable ASCII, escape the rest, so every output stays valid text.
std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char ch : text) {
        if (ch >= 0x20 && ch < 0x7F) {
            out += char(ch);
        } else {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", ch);
            out += escaped;
        }
    }
    return out;
}

std::string seconds_text(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f s", s);
    return text;
}

}  // namespace

double to_ms(Timestamp duration) {
    return double(duration) / 1e6;
}
double to_seconds(Timestamp duration) {
    return double(duration) / 1e9;
}

// Requests or PINGs awaiting their answer: (key, time) by key. Keys come in increasing order,
// answers mostly in the same order: a vector whose answered front is skipped, not a tree (no
// allocation per entry) nor a deque (which allocates a block up front, per direction).
class Pending {
  public:
    using Entry = std::pair<uint64_t, Timestamp>;
    using Iterator = std::vector<Entry>::iterator;

    void add(uint64_t key, Timestamp t, size_t max) {
        if (size() >= max) erase(begin_it());
        if (size() == 0 || entries_.back().first < key) {
            entries_.push_back({key, t});
            return;
        }
        auto it = lower(key);
        if (it != entries_.end() && it->first == key) {
            it->second = t;
        } else {
            entries_.insert(it, {key, t});
        }
    }
    Iterator find(uint64_t key) {
        auto it = lower(key);
        return it != entries_.end() && it->first == key ? it : entries_.end();
    }
    void erase(Iterator it) {
        if (it == begin_it()) {
            ++head_;
        } else {
            entries_.erase(it);
        }
        if (head_ * 2 >= entries_.size()) {  // reclaim the answered front now and then
            entries_.erase(entries_.begin(), entries_.begin() + long(head_));
            head_ = 0;
        }
    }
    auto begin() const { return entries_.begin() + long(head_); }
    auto end() const { return entries_.end(); }
    Iterator end() { return entries_.end(); }
    size_t size() const { return entries_.size() - head_; }

  private:
    Iterator begin_it() { return entries_.begin() + long(head_); }
    Iterator lower(uint64_t key) {
        if (size() && entries_[head_].first == key) return begin_it();
        return std::lower_bound(begin_it(), entries_.end(), key,
                                [](const Entry& e, uint64_t k) { return e.first < k; });
    }
    std::vector<Entry> entries_;
    size_t head_ = 0;  // entries before it were answered
};

struct DirectionWork {
    Pending requests;  // message_seq -> time, awaiting a reply
    Pending pings;     // stream offset -> time, awaiting a PONG
    Distribution ping_intervals, pong_rtts, message_intervals, keepalive_intervals;
    std::optional<Timestamp> last_message, last_keepalive, last_unit;
    std::optional<double> ttl_s;
};

struct Analyzer::State {
    ConnectionReport report;
    std::array<DirectionWork, 2> work;
    std::array<std::optional<Timestamp>, 2> greeting_time;
    std::optional<Timestamp> hello_time, handshake_time, first_message_time;
    bool hello_seen = false, welcome_seen = false;
    Distribution latencies;
};

Analyzer::Analyzer(AnalyzerOptions options) : options_(std::move(options)) {}
Analyzer::~Analyzer() = default;

Analyzer::State& Analyzer::state(const Connection& c) {
    if (last_state_ && last_id_ == c.id) return *last_state_;
    auto& slot = open_[c.id];
    if (!slot) slot = std::make_unique<State>();
    last_id_ = c.id;
    last_state_ = slot.get();
    return *slot;
}

void Analyzer::on_connection_start(const Connection& c) {
    State& s = state(c);
    ConnectionReport& r = s.report;
    r.id = c.id;
    r.client = zmtp::capture::to_string(c.client);
    r.server = zmtp::capture::to_string(c.server);
    r.client_address = zmtp::capture::to_string(c.client.address);
    r.start = c.first_time;
    r.saw_syn = c.saw_syn;
    live(c.first_time, "connection " + std::to_string(c.id) + " " + r.client + " -> " + r.server +
                           (c.saw_syn ? " opened" : " (already open)"));
}

void Analyzer::on_tcp_event(const Connection& c, const zmtp::capture::TcpEvent& e) {
    State& s = state(c);
    ConnectionReport& r = s.report;
    DirectionReport& d = r.dirs[index_of(e.dir)];
    DirectionWork& w = s.work[index_of(e.dir)];
    switch (e.kind) {
        case TcpEventKind::SynAck:
            if (c.syn_time) r.connect_rtt_ms = to_ms(e.time - *c.syn_time);
            break;
        case TcpEventKind::Fin:
        case TcpEventKind::Rst:
            if (!r.close_time) r.close_time = e.time;
            break;
        case TcpEventKind::KeepAlive:
            d.keepalives++;
            if (w.last_keepalive) w.keepalive_intervals.add(e.time - *w.last_keepalive);
            w.last_keepalive = e.time;
            break;
        case TcpEventKind::Gap:
            r.gaps.push_back({e.time, e.dir, e.text});
            break;
        default:
            break;
    }
}

void Analyzer::on_segment(const Connection&, Direction, Timestamp, zmtp::capture::SegmentKind,
                          uint32_t) {}

void Analyzer::on_session_event(const Connection& c, const zmtp::SessionEvent& e, Timestamp t) {
    State& s = state(c);
    ConnectionReport& r = s.report;
    const size_t di = index_of(e.dir);
    DirectionWork& w = s.work[di];
    const bool unit = std::holds_alternative<zmtp::GreetingEvent>(e.what) ||
                      std::holds_alternative<zmtp::CommandEvent>(e.what) ||
                      std::holds_alternative<zmtp::FrameEvent>(e.what);
    if (unit) {
        if (w.last_unit) {
            const double silent = to_seconds(t - *w.last_unit);
            r.dirs[di].longest_silence_s = std::max(r.dirs[di].longest_silence_s, silent);
            if (w.ttl_s && silent > *w.ttl_s)
                r.silences.push_back({e.dir, *w.last_unit, silent, *w.ttl_s});
        }
        w.last_unit = t;
    }

    if (std::holds_alternative<zmtp::GreetingEvent>(e.what)) {
        s.greeting_time[di] = t;
        if (s.greeting_time[0] && s.greeting_time[1]) {
            const auto& first = c.dirs[0].first_payload;
            const auto& other = c.dirs[1].first_payload;
            Timestamp begin = first ? *first : r.start;
            if (other && *other < begin) begin = *other;
            r.greeting_ms = to_ms(std::max(*s.greeting_time[0], *s.greeting_time[1]) - begin);
        }
    } else if (const auto* command = std::get_if<zmtp::CommandEvent>(&e.what)) {
        on_command(s, e, *command, t);
    } else if (const auto* message = std::get_if<zmtp::MessageEvent>(&e.what)) {
        on_message(c, s, e, *message, t);
    } else if (const auto* notice = std::get_if<zmtp::NoticeEvent>(&e.what)) {
        if (notice->code == zmtp::NoticeCode::WrongServerKey) r.wrong_server_key = true;
        if (r.notices.size() < options_.max_notices_per_connection) {
            r.notices.push_back({t, e.dir, std::string(zmtp::notice_code_name(notice->code)),
                                 severity_name(notice->severity), printable(notice->text)});
        } else {
            r.notices_dropped++;
        }
    } else if (const auto* handshake = std::get_if<zmtp::HandshakeEvent>(&e.what)) {
        on_handshake(s, *handshake, t);
    }
}

void Analyzer::live(Timestamp t, const std::string& text) const {
    if (options_.on_live_event) options_.on_live_event(t, text);
}

void Analyzer::on_command(State& s, const zmtp::SessionEvent& e, const zmtp::CommandEvent& command,
                          Timestamp t) {
    const zmtp::Command& cmd = command.command;
    const size_t di = index_of(e.dir);
    DirectionReport& d = s.report.dirs[di];
    DirectionWork& w = s.work[di];
    if (counted_command(cmd.kind)) d.commands[std::string(zmtp::command_kind_name(cmd.kind))]++;
    switch (cmd.kind) {
        case CommandKind::Hello:
            s.hello_seen = true;
            if (!s.hello_time) s.hello_time = t;
            if (cmd.client_ephemeral.size() == 32) {
                zmtp::Key cp{};
                std::copy(cmd.client_ephemeral.begin(), cmd.client_ephemeral.end(), cp.begin());
                s.report.client_ephemeral = zmtp::to_hex(cp);
            }
            break;
        case CommandKind::Welcome:
            s.welcome_seen = true;
            break;
        case CommandKind::Message:
            if (!command.curve.box_opened) d.boxes_not_opened++;
            break;
        case CommandKind::Ping: {
            HeartbeatReport& hb = d.heartbeat;
            hb.pings++;
            hb.ttl_s = cmd.ping_ttl_ds / 10.0;
            w.ttl_s = hb.ttl_s;
            if (hb.ttl_s == 0) w.ttl_s.reset();
            if (hb.last_ping) w.ping_intervals.add(t - *hb.last_ping);
            if (!hb.first_ping) hb.first_ping = t;
            hb.last_ping = t;
            if (hb.ping_times.size() < max_timeline_points) hb.ping_times.push_back(t);
            w.pings.add(e.offset, t, options_.max_pending);
            break;
        }
        case CommandKind::Pong: {
            const size_t pinger = index_of(zmtp::opposite(e.dir));
            HeartbeatReport& hb = s.report.dirs[pinger].heartbeat;
            DirectionWork& pw = s.work[pinger];
            hb.pongs++;
            hb.last_pong = t;
            if (hb.pong_times.size() < max_timeline_points) hb.pong_times.push_back(t);
            if (command.answers_offset) {
                auto it = pw.pings.find(*command.answers_offset);
                if (it != pw.pings.end()) {
                    pw.pong_rtts.add(t - it->second);
                    pw.pings.erase(it);
                }
            }
            break;
        }
        default:
            break;
    }
}

void Analyzer::on_message(const Connection& c, State& s, const zmtp::SessionEvent& e,
                          const zmtp::MessageEvent& m, Timestamp t) {
    const size_t di = index_of(e.dir);
    DirectionReport& d = s.report.dirs[di];
    DirectionWork& w = s.work[di];
    d.messages++;
    d.frames += m.frames;
    d.bytes += m.body_bytes;
    if (m.decrypted) d.decrypted_messages++;
    if (!s.first_message_time) {
        s.first_message_time = t;
        s.report.first_message_ms = to_ms(t - s.report.start);
    }
    if (w.last_message) w.message_intervals.add(t - *w.last_message);
    w.last_message = t;

    std::optional<double> response_ms;
    if (m.answers_seq) {
        auto& requests = s.work[index_of(zmtp::opposite(e.dir))].requests;
        auto it = requests.find(*m.answers_seq);
        if (it != requests.end()) {
            const LatencySample sample{c.id, it->second, t};
            response_ms = sample.ms();
            s.latencies.add(sample.duration());
            latency_.add_slow_candidate(sample);
            latency_.points.add({sample.request_time, sample.duration()});
            requests.erase(it);
        }
    } else if (c.session && pairs_requests(c.session->info())) {
        // libzmtp decides what answers what (DEALER/ROUTER: the first reply, either way).
        w.requests.add(m.message_seq, t, options_.max_pending);
    }
    if (options_.on_message)
        options_.on_message({t, c.id, e.dir, m.frames, m.body_bytes, m.decrypted, response_ms});
}

void Analyzer::on_handshake(State& s, const zmtp::HandshakeEvent& h, Timestamp t) {
    ConnectionReport& r = s.report;
    if (h.succeeded) {
        r.handshake = "ready";
        s.handshake_time = t;
        std::optional<Timestamp> from = s.hello_time;
        if (!from && s.greeting_time[0] && s.greeting_time[1])
            from = std::max(*s.greeting_time[0], *s.greeting_time[1]);
        if (from) r.hello_to_ready_ms = to_ms(t - *from);
        r.handshake_ms = to_ms(t - r.start);
        live(t, "connection " + std::to_string(r.id) + " handshake done (" +
                    std::string(zmtp::mechanism_name(h.mechanism)) + ")");
        return;
    }
    r.handshake = "failed";
    r.failure_cause = printable(h.reason);
    r.failure = r.failure_cause;
    live(t, "connection " + std::to_string(r.id) + " handshake failed: " + r.failure);
}

namespace {

void copy_tcp_figures(const Connection& c, ConnectionReport& r) {
    r.saw_syn = c.saw_syn;
    if (c.syn_time) r.start = *c.syn_time;
    r.last = c.last_time;
    r.closed_by = c.closed_by;
    r.end = std::string(zmtp::capture::connection_end_name(c.end));
    for (Direction dir : both_directions) {
        const auto& from = c.dirs[index_of(dir)];
        DirectionReport& to = r.dirs[index_of(dir)];
        to.packets = from.packets;
        to.payload_bytes = from.payload_bytes;
        to.retransmissions = from.stream.retransmissions;
        to.out_of_order = from.stream.out_of_order;
    }
}

void copy_session_figures(const zmtp::SessionInfo& info, ConnectionReport& r) {
    for (Direction dir : both_directions)
        r.socket_types[index_of(dir)] =
            std::string(zmtp::socket_type_name(info.socket_types[index_of(dir)]));
    if (info.mechanism != zmtp::Mechanism::Unknown)
        r.mechanism = std::string(zmtp::mechanism_name(info.mechanism));
    else if (info.greetings[0])
        r.mechanism = printable(info.greetings[0]->mechanism_text);
    r.version = effective_version(info);
    r.decryption = decryption_name(info.curve);
    r.missing_key = printable(info.curve_missing);
}

void explain_failed_handshake(const Connection& c, bool hello_seen, bool welcome_seen,
                              bool greetings_done, ConnectionReport& r) {
    if (r.handshake != "incomplete") return;
    if (r.wrong_server_key) {
        r.handshake = "failed";
        r.failure_cause = "wrong server key";
        r.failure =
            "the client's HELLO does not open with the server's secret key: the client "
            "was given a wrong server public key";
        return;
    }
    if (!r.gaps.empty()) {  // the capture, not the peers, may be what failed
        r.failure =
            "the capture lost bytes before the handshake finished (" + r.gaps.front().reason + ")";
        return;
    }
    if (c.end == ConnectionEnd::Open) {
        r.failure = greetings_done ? "handshake not finished when the capture ended"
                                   : "greeting not finished when the capture ended";
        return;
    }
    r.handshake = "failed";
    const std::string closer = c.closed_by ? side_name(*c.closed_by) : "a side";
    if (!greetings_done) {
        r.failure_cause = "closed during the greeting";
        r.failure = closer + " closed the connection during the greeting";
    } else if (r.mechanism == "CURVE" && hello_seen && !welcome_seen) {
        r.failure_cause = "closed after HELLO";
        r.failure = closer +
                    " closed the connection after HELLO, without WELCOME: a wrong server "
                    "key or a rejected HELLO (give the server's secret key to tell)";
    } else {
        r.failure_cause = "closed during the handshake";
        r.failure = closer + " closed the connection during the " + r.mechanism + " handshake";
    }
}

void summarize_heartbeats(const Connection& c, DirectionWork& w, HeartbeatReport& hb) {
    hb.interval_ms = w.ping_intervals.summary();
    hb.pong_rtt_ms = w.pong_rtts.summary();
    std::optional<double> late_after;
    if (w.ping_intervals.count() >= 1)
        late_after = w.ping_intervals.percentile_ms(50);
    else if (hb.ttl_s && *hb.ttl_s > 0)
        late_after = *hb.ttl_s * 1000;
    if (late_after) hb.late = w.pong_rtts.count_above(*late_after);
    // A PING sent within one interval of the end of an open capture may still be answered.
    const double grace_ms = late_after ? *late_after : 1000.0;
    for (const auto& [offset, sent] : w.pings) {
        const bool recent = to_ms(c.last_time - sent) < grace_ms;
        if (c.end == ConnectionEnd::Open && recent)
            hb.unanswered_at_end++;
        else
            hb.missed++;
    }
}

// A side closed after its peer was silent past the heartbeat timeout (libzmq: the TTL the
// peer announced, or the closer's HEARTBEAT_TIMEOUT, by default its PING interval).
bool diagnose_heartbeat_timeout(const std::array<DirectionWork, 2>& work, ConnectionReport& r) {
    if (!r.closed_by || !r.close_time) return false;
    const Direction closer = *r.closed_by;
    const Direction peer = zmtp::opposite(closer);
    const DirectionWork& cw = work[index_of(closer)];
    const DirectionWork& pw = work[index_of(peer)];
    const auto& closer_hb = r.dirs[index_of(closer)].heartbeat;
    if (closer_hb.pings == 0 && r.dirs[index_of(peer)].heartbeat.pings == 0) return false;

    std::optional<double> timeout_s;
    if (pw.ttl_s) timeout_s = *pw.ttl_s;
    if (cw.ping_intervals.count()) {
        const double interval_s = cw.ping_intervals.percentile_ms(50) / 1000;
        timeout_s = timeout_s ? std::min(*timeout_s, interval_s) : interval_s;
    }
    if (!timeout_s) return false;
    const Timestamp silent_since = pw.last_unit.value_or(r.start);
    const double silence_s = to_seconds(*r.close_time - silent_since);
    const auto unanswered = std::count_if(cw.pings.begin(), cw.pings.end(),
                                          [&](const auto& p) { return p.second >= silent_since; });
    const bool past_ttl = pw.ttl_s && silence_s >= *pw.ttl_s;
    if (silence_s < 0.8 * *timeout_s || (unanswered == 0 && !past_ttl)) return false;

    r.end = "heartbeat-timeout";
    r.silent_since = silent_since;
    r.last_pong_before_timeout = closer_hb.last_pong;
    r.end_detail = side_name(closer) + " closed the connection after the " + side_name(peer) +
                   " was silent for " + seconds_text(silence_s) + " (" +
                   std::to_string(unanswered) + " PING(s) unanswered";
    if (pw.ttl_s) r.end_detail += ", TTL " + seconds_text(*pw.ttl_s);
    if (cw.ping_intervals.count())
        r.end_detail +=
            ", PING interval " + seconds_text(cw.ping_intervals.percentile_ms(50) / 1000);
    r.end_detail += ")";
    return true;
}

void describe_end(ConnectionReport& r) {
    if (r.end == "open") {
        r.end_detail = "still open when the capture ended";
    } else if (r.end == "replaced") {
        r.end_detail = "a new connection reused the same ports";
    } else if (r.end == "fin" || r.end == "rst") {
        const std::string how = r.end == "fin" ? "FIN" : "RST";
        r.end_detail = r.closed_by ? side_name(*r.closed_by) + " closed (" + how + ")" : how;
    }
}

}  // namespace

void Analyzer::finish_connection(const Connection& c, State& s) {
    ConnectionReport& r = s.report;
    copy_tcp_figures(c, r);
    if (c.session) copy_session_figures(c.session->info(), r);
    explain_failed_handshake(c, s.hello_seen, s.welcome_seen,
                             s.greeting_time[0] && s.greeting_time[1], r);
    for (Direction dir : both_directions) {
        DirectionWork& w = s.work[index_of(dir)];
        DirectionReport& d = r.dirs[index_of(dir)];
        summarize_heartbeats(c, w, d.heartbeat);
        d.message_interval_ms = w.message_intervals.summary();
        d.periodic = regular(w.message_intervals);
        d.keepalive_interval_ms = w.keepalive_intervals.summary();
        // The silence that ends the connection counts too.
        const Timestamp end = r.close_time.value_or(r.last);
        if (w.last_unit) {
            const double tail = to_seconds(end - *w.last_unit);
            d.longest_silence_s = std::max(d.longest_silence_s, tail);
            if (w.ttl_s && tail > *w.ttl_s)
                r.silences.push_back({dir, *w.last_unit, tail, *w.ttl_s});
        }
        r.unanswered_requests += w.requests.size();
    }
    r.latency_ms = s.latencies.summary();
    if (!diagnose_heartbeat_timeout(s.work, r)) describe_end(r);
    live(r.close_time.value_or(r.last),
         "connection " + std::to_string(r.id) + " ended: " + r.end +
             (r.end_detail.empty() ? "" : " (" + r.end_detail + ")"));
}

void Analyzer::on_connection_end(const Connection& c) {
    auto it = open_.find(c.id);
    if (it == open_.end()) return;
    finish_connection(c, *it->second);
    if (it->second->latencies.count())
        latency_.by_pair[it->second->report.pair()].merge(it->second->latencies);
    done_.push_back(std::move(it->second->report));
    if (last_state_ == it->second.get()) last_state_ = nullptr;
    open_.erase(it);
}

namespace {

std::vector<Storm> find_storms(const std::vector<ConnectionReport>& connections) {
    std::map<std::pair<std::string, std::string>, std::vector<const ConnectionReport*>> groups;
    for (const auto& c : connections) groups[{c.client_address, c.server}].push_back(&c);
    std::vector<Storm> storms;
    for (auto& group : groups) {
        const auto& key = group.first;  // not a structured binding: the lambda below uses it
        auto& list = group.second;
        std::sort(list.begin(), list.end(),
                  [](const auto* a, const auto* b) { return a->start < b->start; });
        std::vector<const ConnectionReport*> run;
        auto close_run = [&] {
            if (run.size() >= storm_min_attempts) {
                Storm s;
                s.client_address = key.first;
                s.server = key.second;
                s.attempts = run.size();
                s.first = run.front()->start;
                s.last = run.back()->start;
                s.mean_interval_ms = to_ms(s.last - s.first) / double(run.size() - 1);
                std::map<std::string, size_t> causes;
                for (const auto* c : run) {
                    causes[c->failure_cause]++;
                    s.connections.push_back(c->id);
                }
                s.cause = std::max_element(
                              causes.begin(), causes.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; })
                              ->first;
                storms.push_back(std::move(s));
            }
            run.clear();
        };
        for (const auto* c : list) {
            const bool failed = c->handshake == "failed";
            const bool soon = !run.empty() && c->start - run.back()->start <= storm_max_interval;
            if (!failed || (!run.empty() && !soon)) close_run();
            if (failed) run.push_back(c);
        }
        close_run();
    }
    std::sort(storms.begin(), storms.end(),
              [](const Storm& a, const Storm& b) { return a.first < b.first; });
    return storms;
}

// Tukey's "far out" values, above Q3 + 3 IQR, among the slowest replies.
std::vector<Outlier> find_outliers(const Distribution& all,
                                   const std::vector<LatencySample>& slowest) {
    if (all.count() < outliers_min_samples) return {};
    const double q1 = all.percentile_ms(25), q3 = all.percentile_ms(75);
    const double fence = q3 + 3 * (q3 - q1);
    std::vector<Outlier> out;
    for (const auto& s : slowest)
        if (s.ms() > fence) out.push_back({s.connection, s.request_time, s.ms()});
    return out;
}

// Connection ids 1, 2, ... in the order of the ids the analyzers gave.
void renumber(std::vector<ConnectionReport>& connections, LatencyTotals& latency) {
    std::sort(connections.begin(), connections.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    std::vector<uint64_t> old_ids;
    for (size_t i = 0; i < connections.size(); ++i) {
        old_ids.push_back(connections[i].id);
        connections[i].id = i + 1;
    }
    for (LatencySample& s : latency.slowest) {
        const auto it = std::lower_bound(old_ids.begin(), old_ids.end(), s.connection);
        if (it != old_ids.end() && *it == s.connection)
            s.connection = uint64_t(it - old_ids.begin()) + 1;
    }
}

bool slower(const LatencySample& a, const LatencySample& b) {
    if (a.duration() != b.duration()) return a.duration() > b.duration();
    if (a.request_time != b.request_time) return a.request_time < b.request_time;
    return a.connection < b.connection;
}

}  // namespace

void LatencyTotals::add_slow_candidate(const LatencySample& s) {
    if (slowest.size() == slowest_kept && !slower(s, slowest.back())) return;
    slowest.insert(std::upper_bound(slowest.begin(), slowest.end(), s, slower), s);
    if (slowest.size() > slowest_kept) slowest.pop_back();
}

void LatencyTotals::merge(const LatencyTotals& other) {
    for (const auto& [pair, d] : other.by_pair) by_pair[pair].merge(d);
    for (const auto& s : other.slowest) add_slow_candidate(s);
    points.merge(other.points);
}

bool LatencyPointSample::keeps(const LatencyPoint& p) const {
    if (level_ == 0) return true;
    const uint64_t h =
        zmtp::capture::mix64(uint64_t(p.request_time) ^ zmtp::capture::mix64(uint64_t(p.duration)));
    return (h >> (64 - level_)) == 0;
}

void LatencyPointSample::shrink() {
    while (points_.size() > latency_points_max && level_ < 63) {
        level_++;
        std::erase_if(points_, [this](const LatencyPoint& p) { return !keeps(p); });
    }
}

void LatencyPointSample::add(const LatencyPoint& p) {
    if (!keeps(p)) return;
    points_.push_back(p);
    shrink();
}

void LatencyPointSample::merge(const LatencyPointSample& other) {
    level_ = std::max(level_, other.level_);
    std::erase_if(points_, [this](const LatencyPoint& p) { return !keeps(p); });
    for (const LatencyPoint& p : other.points_)
        if (keeps(p)) points_.push_back(p);
    shrink();
}

std::vector<LatencyPoint> LatencyPointSample::sorted() const {
    std::vector<LatencyPoint> out = points_;
    std::sort(out.begin(), out.end());
    return out;
}

Analyzer::Results Analyzer::take_results() {
    Results r{std::move(done_), std::move(latency_)};
    done_.clear();
    latency_ = {};
    return r;
}

Report Analyzer::finish(Report base) {
    std::vector<Results> parts;
    parts.push_back(take_results());
    return complete_report(std::move(base), std::move(parts));
}

Report complete_report(Report report, std::vector<Analyzer::Results> parts) {
    LatencyTotals latency;
    for (auto& part : parts) {
        // Reports are big: take over the first part's vector, free each part once appended.
        if (report.connections.empty()) {
            report.connections = std::move(part.connections);
        } else {
            for (auto& c : part.connections) report.connections.push_back(std::move(c));
        }
        part.connections = {};
        latency.merge(part.latency);
    }
    parts.clear();
    renumber(report.connections, latency);

    for (const auto& c : report.connections) {
        report.handshakes[c.handshake]++;
        if (c.handshake == "failed") report.failures[c.failure_cause]++;
        report.ends[c.end]++;
    }
    Distribution all;
    for (const auto& [pair, d] : latency.by_pair) {
        all.merge(d);
        report.latency_by_pair_ms[pair] = *d.summary();
    }
    report.latency_ms = all.summary();
    report.latency_values = all.values();
    report.latency_points = latency.points.sorted();
    report.outliers = find_outliers(all, latency.slowest);
    report.storms = find_storms(report.connections);
    return report;
}

}  // namespace replay
