#include "analyzer.hpp"
#include "capture/hash.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <unordered_set>

#include "enum_names.hpp"
#include "zmtp/curve.hpp"
#include "zmtp/z85.hpp"

namespace replay {
namespace {

using zmtp::CommandKind;
using zmtp::MessageLoss;
using zmtp::tracker::Connection;
using zmtp::tracker::ConnectionEnd;
using zmtp::tracker::TcpEventKind;

constexpr Timestamp storm_max_interval = 60 * zmtp::tracker::ns_per_s;
constexpr size_t storm_min_attempts = 3;
constexpr size_t periodic_min_intervals = 5;
constexpr size_t outliers_min_samples = 10;
constexpr size_t max_recovery_events = 50;  // gaps and resyncs listed per connection
constexpr size_t max_blind_spans = 1024;    // per direction; beyond, every time may be blind
// CURVE boxes of a PING's or a PONG's size remembered per direction, for the inference.
constexpr size_t max_sized_boxes = 100000;

// CURVE heartbeats without a key (docs/protocol.md 4.6 and 9): the MESSAGE body of a libzmq
// PING with an empty context is 33 + 7 bytes (04 "PING" and the 2-byte TTL), of a PONG 33 + 5.
constexpr uint64_t ping_box_body = zmtp::curve::ping_message_body_size;
constexpr uint64_t pong_box_body = zmtp::curve::pong_message_body_size;
constexpr uint64_t box_prefix_size = 16;  // 07 "MESSAGE" and the 8-byte nonce before the box
constexpr size_t inferred_min_pings = 3;
constexpr size_t inferred_min_intervals = 2;
constexpr size_t inferred_min_answers = 2;

bool counted_command(CommandKind k) {
    return k == CommandKind::Ping || k == CommandKind::Pong || k == CommandKind::Subscribe ||
           k == CommandKind::Cancel || k == CommandKind::Join || k == CommandKind::Leave;
}

std::string side_name(Direction sender) {
    return sender == Direction::ClientToServer ? "client" : "server";
}

std::string arrow_name(Direction d) {
    return d == Direction::ClientToServer ? "client->server" : "server->client";
}

std::string version_of(const zmtp::Greeting& g) {
    if (g.framing == zmtp::Framing::V3)
        return std::to_string(g.major) + "." + std::to_string(g.minor);
    return g.framing == zmtp::Framing::V2 ? "2.0" : "1.0";  // a downgraded 3.x side included
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

// The reports' words for a connection's decryption and a notice's severity.
constexpr std::array<enum_names::Named<zmtp::CurveKeyState>, 5> decryption_names = {{
    {zmtp::CurveKeyState::NotCurve, "not-curve"},
    {zmtp::CurveKeyState::Unknown, "unknown"},
    {zmtp::CurveKeyState::HelloOnly, "handshake-only"},
    {zmtp::CurveKeyState::SessionKey, "decrypted"},
    {zmtp::CurveKeyState::NoKey, "no-key"},
}};
static_assert(enum_names::covers(decryption_names, zmtp::CurveKeyState::NoKey));
std::string decryption_name(zmtp::CurveKeyState s) {
    return std::string(enum_names::name_of(decryption_names, s, "unknown"));
}

constexpr std::array<enum_names::Named<zmtp::Severity>, 3> severity_names = {{
    {zmtp::Severity::Note, "note"},
    {zmtp::Severity::Warning, "warning"},
    {zmtp::Severity::Error, "error"},
}};
static_assert(enum_names::covers(severity_names, zmtp::Severity::Error));
std::string severity_name(zmtp::Severity s) {
    return std::string(enum_names::name_of(severity_names, s, "note"));
}

// Text that came off the wire (command names, ERROR reasons, mechanism names) may hold any
// byte: libzmtp's printable() escapes it, so every output stays valid text.
using zmtp::printable;

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
    void clear() {
        entries_.clear();
        head_ = 0;
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

// A time in which a direction's bytes were lost: from its last unit before a gap to its first
// unit after it. What that side sent then is unknown (docs/protocol.md 9).
struct BlindSpan {
    Timestamp from;
    std::optional<Timestamp> to;  // none: nothing decoded since the gap
};

struct DirectionWork {
    // libzmtp's requests (MessageEvent::awaits_reply) of this direction not yet answered:
    // message_seq -> time. A reply names its request by answers_seq; a gap drops them all.
    Pending requests;
    Pending pings;  // stream offset -> time, awaiting a PONG
    Distribution ping_intervals, pong_rtts, message_intervals, keepalive_intervals;
    std::optional<Timestamp> last_message, last_keepalive, last_unit, last_ping;
    std::optional<double> ttl_s;
    std::vector<BlindSpan> blind;
    bool blind_overflow = false;
    bool gap_seen = false;   // bytes of this direction were lost at least once
    bool resyncing = false;  // since the last gap, no frame boundary found
    // CURVE MESSAGE boxes no key opened, of a PING's and of a PONG's size: their times.
    std::vector<Timestamp> ping_sized, pong_sized;
    bool sized_overflow = false;
    // libzmtp pairs by order. Since the last gap, the answer to one of this side's requests or
    // PINGs may have been in lost bytes without libzmtp knowing: its later pairs are then off by
    // one, so they are neither timed nor trusted to tell what was never answered. Suspects:
    // requests and PINGs seen while the other side was losing bytes (its answer may be among
    // them). An answer paired with a suspect is plausible while no later request or PING was
    // sent before it; otherwise (or when a reply cut at its start may have answered a request)
    // the pairs are no longer trusted.
    bool requests_untrusted = false;
    bool pings_untrusted = false;
    std::vector<uint64_t> suspect_requests, suspect_pings;  // message_seq / offset, bounded
    // PONGs of the other side libzmtp paired with no PING since the last gap: answers to PINGs
    // the capture lost, or that reached the decoder after them. As many pending PINGs of this
    // side may have been answered.
    uint64_t pongs_unpaired = 0;

    bool blind_now() const { return blind_overflow || (!blind.empty() && !blind.back().to); }
    // Whether this direction's bytes may have been lost at some time in [from, to].
    bool blind_during(Timestamp from, Timestamp to) const {
        if (blind_overflow) return true;
        for (const BlindSpan& b : blind)
            if (b.from <= to && b.to.value_or(std::numeric_limits<Timestamp>::max()) >= from)
                return true;
        return false;
    }
};

struct Analyzer::State {
    explicit State(ConnectionReport& r) : report(r) {}
    ConnectionReport& report;  // in Analyzer::reports_
    std::array<DirectionWork, 2> work;
    std::array<std::optional<Timestamp>, 2> greeting_time;
    std::optional<Timestamp> hello_time, handshake_time, first_message_time;
    bool hello_seen = false, welcome_seen = false;
    bool pairing_untrusted = false;  // a direction's pairs were not trusted (DirectionWork)
    Distribution latencies;
};

Analyzer::Analyzer(AnalyzerOptions options) : options_(std::move(options)) {}
Analyzer::~Analyzer() = default;

Analyzer::State& Analyzer::state(const Connection& c) {
    if (last_state_ && last_id_ == c.id) return *last_state_;
    auto& slot = open_[c.id];
    if (!slot) slot = std::make_unique<State>(reports_.emplace_back());
    last_id_ = c.id;
    last_state_ = slot.get();
    return *slot;
}

void Analyzer::on_connection_start(const Connection& c) {
    State& s = state(c);
    ConnectionReport& r = s.report;
    r.id = c.id;
    r.client = zmtp::tracker::to_string(c.client);
    r.server = zmtp::tracker::to_string(c.server);
    r.client_address = zmtp::tracker::to_string(c.client.address);
    r.start = c.first_time;
    r.saw_syn = c.saw_syn;
    live(c.first_time, [&] {
        return "connection " + std::to_string(c.id) + " " + r.client + " -> " + r.server +
               (c.saw_syn ? " opened" : " (already open)");
    });
}

void Analyzer::on_tcp_event(const Connection& c, const zmtp::tracker::TcpEvent& e) {
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

void Analyzer::on_segment(const Connection&, Direction, Timestamp, zmtp::tracker::SegmentKind,
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
        } else if (!w.blind.empty() && !w.blind.back().to) {
            w.blind.back().to = t;  // the first unit after a gap: no silence measured across it
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
        if (notice->code == zmtp::NoticeCode::NonceNotIncreasing)
            r.dirs[di].boxes.nonces_not_increasing++;
        if (r.notices.size() < options_.max_notices_per_connection) {
            r.notices.push_back({t, e.dir, std::string(zmtp::notice_code_name(notice->code)),
                                 severity_name(notice->severity), printable(notice->text)});
        } else {
            r.notices_dropped++;
        }
    } else if (const auto* handshake = std::get_if<zmtp::HandshakeEvent>(&e.what)) {
        on_handshake(s, *handshake, t);
    } else if (const auto* gap = std::get_if<zmtp::GapEvent>(&e.what)) {
        on_gap(s, e, *gap, t);
    } else if (const auto* resync = std::get_if<zmtp::ResyncEvent>(&e.what)) {
        on_resync(s, e, *resync, t);
    }
}

namespace {

// How long after the end of an open capture a PING may still be answered, when the connection
// shows no PING interval or TTL to go by.
constexpr double default_pong_grace_ms = 1000;

constexpr size_t max_suspects = 64;

// Beyond max_suspects, the pairs are simply not trusted.
void mark_suspect(std::vector<uint64_t>& suspects, uint64_t key, bool& untrusted) {
    if (suspects.size() < max_suspects) {
        suspects.push_back(key);
    } else {
        untrusted = true;
    }
}

bool is_suspect(const std::vector<uint64_t>& suspects, uint64_t key) {
    return std::find(suspects.begin(), suspects.end(), key) != suspects.end();
}

// Pending entries that are suspects (see DirectionWork): their answer may have been lost.
size_t pending_suspects(const Pending& pending, const std::vector<uint64_t>& suspects) {
    return size_t(std::count_if(pending.begin(), pending.end(),
                                [&](const auto& p) { return is_suspect(suspects, p.first); }));
}

}  // namespace

namespace {

void add_recovery_event(ConnectionReport& r, RecoveryEvent event) {
    if (r.recovery_events.size() < max_recovery_events) {
        r.recovery_events.push_back(std::move(event));
    } else {
        r.recovery_events_dropped++;
    }
}

}  // namespace

// Bytes of e.dir were lost (docs/protocol.md 9). libzmtp dropped the requests and PINGs of both
// directions that were waiting for an answer: the answer may have been in the lost bytes, so
// they are neither answered nor "never answered". What this side sent in the lost bytes is
// unknown, so no silence, message interval or PING interval is measured across the gap.
void Analyzer::on_gap(State& s, const zmtp::SessionEvent& e, const zmtp::GapEvent& g, Timestamp t) {
    ConnectionReport& r = s.report;
    const size_t di = index_of(e.dir);
    DirectionWork& w = s.work[di];
    RecoveryReport& rec = r.dirs[di].recovery;
    rec.gaps++;
    if (g.before_start) rec.started_mid_stream = true;
    if (g.lost_known) {
        rec.lost_bytes += e.size;
    } else if (!g.before_start) {
        rec.gaps_of_unknown_size++;
    }
    w.gap_seen = true;
    w.resyncing = true;
    if (!w.blind_now()) {
        if (w.blind.size() < max_blind_spans) {
            w.blind.push_back({w.last_unit.value_or(r.start), std::nullopt});
        } else {
            w.blind_overflow = true;
        }
    }
    w.last_unit.reset();
    w.last_message.reset();
    w.last_ping.reset();
    r.requests_dropped += g.requests_dropped;
    for (Direction dir : both_directions) {
        DirectionWork& each = s.work[index_of(dir)];
        each.requests.clear();
        r.dirs[index_of(dir)].heartbeat.answer_unknown += each.pings.size();
        each.pings.clear();
        each.requests_untrusted = each.pings_untrusted = false;
        each.pongs_unpaired = 0;
        each.suspect_requests.clear();
        each.suspect_pings.clear();
    }
    RecoveryEvent event;
    event.time = t;
    event.dir = e.dir;
    event.gap = true;
    event.offset = e.offset;
    if (g.lost_known) event.lost_bytes = e.size;
    event.before_start = g.before_start;
    event.requests_dropped = g.requests_dropped;
    add_recovery_event(r, std::move(event));
    live(t, [&] {
        return "connection " + std::to_string(r.id) + " " + arrow_name(e.dir) +
               (g.before_start ? ": the capture started inside the stream"
                : g.lost_known ? ": gap, " + std::to_string(e.size) + " byte(s) lost"
                               : ": gap of unknown size");
    });
}

void Analyzer::on_resync(State& s, const zmtp::SessionEvent& e, const zmtp::ResyncEvent& rs,
                         Timestamp t) {
    ConnectionReport& r = s.report;
    const size_t di = index_of(e.dir);
    RecoveryReport& rec = r.dirs[di].recovery;
    const std::string evidence(zmtp::resync_evidence_name(rs.evidence));
    rec.resyncs++;
    rec.skipped_bytes += rs.skipped_bytes;
    if (rs.frames_lost) rec.frames_lost += *rs.frames_lost;
    rec.resync_evidence[evidence]++;
    s.work[di].resyncing = false;
    RecoveryEvent event;
    event.time = t;
    event.dir = e.dir;
    event.gap = false;
    event.offset = e.offset;
    event.skipped_bytes = rs.skipped_bytes;
    event.evidence = evidence;
    event.frames_lost = rs.frames_lost;
    add_recovery_event(r, std::move(event));
    live(t, [&] {
        return "connection " + std::to_string(r.id) + " " + arrow_name(e.dir) +
               ": frames found again (" + evidence + ")";
    });
}

namespace {

// A CURVE MESSAGE box: what is known of it without a key (docs/protocol.md 4.6, 4.7).
void note_box(BoxReport& b, DirectionWork& w, const zmtp::CommandEvent& command, Timestamp t) {
    const uint64_t body = box_prefix_size + command.command.box.size();
    if (b.count == 0 || body < b.min_size) b.min_size = body;
    if (b.count == 0 || body > b.max_size) b.max_size = body;
    b.count++;
    b.bytes += body;
    if (b.sizes.size() < box_sizes_kept || b.sizes.count(body)) {
        b.sizes[body]++;
    } else {
        b.sizes_other++;
    }
    if (!b.first_nonce) b.first_nonce = command.command.short_nonce;
    b.last_nonce = command.command.short_nonce;
    if (command.curve.box_opened) return;
    std::vector<Timestamp>* sized = body == ping_box_body   ? &w.ping_sized
                                    : body == pong_box_body ? &w.pong_sized
                                                            : nullptr;
    if (!sized) return;
    if (sized->size() < max_sized_boxes) {
        sized->push_back(t);
    } else {
        w.sized_overflow = true;
    }
}

}  // namespace

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
            if (!command.decrypted) note_box(d.boxes, w, command, t);
            break;
        case CommandKind::Ping: {
            HeartbeatReport& hb = d.heartbeat;
            hb.pings++;
            hb.ttl_s = cmd.ping_ttl_ds / 10.0;
            w.ttl_s = hb.ttl_s;
            if (hb.ttl_s == 0) w.ttl_s.reset();
            if (w.last_ping) w.ping_intervals.add(t - *w.last_ping);
            w.last_ping = t;
            if (!hb.first_ping) hb.first_ping = t;
            hb.last_ping = t;
            if (hb.ping_times.size() < timeline_points_max) hb.ping_times.push_back(t);
            w.pings.add(e.offset, t, options_.max_pending);
            // Its PONG may be in bytes the other side is losing now, after libzmtp dropped the
            // PINGs of that gap: the next PONG would be paired with it.
            if (s.work[index_of(zmtp::opposite(e.dir))].blind_now())
                mark_suspect(w.suspect_pings, e.offset, w.pings_untrusted);
            break;
        }
        case CommandKind::Pong: {
            // libzmtp pairs a PONG with the PING it answers (CommandEvent::answers_offset).
            const size_t pinger = index_of(zmtp::opposite(e.dir));
            HeartbeatReport& hb = s.report.dirs[pinger].heartbeat;
            DirectionWork& pw = s.work[pinger];
            hb.pongs++;
            hb.last_pong = t;
            if (hb.pong_times.size() < timeline_points_max) hb.pong_times.push_back(t);
            if (command.answers_offset) {
                auto it = pw.pings.find(*command.answers_offset);
                if (it != pw.pings.end()) {
                    // A later PING was sent before this PONG: it may be the later one's.
                    const bool latest = std::prev(pw.pings.end())->first == it->first;
                    if (!latest && is_suspect(pw.suspect_pings, it->first))
                        pw.pings_untrusted = true;
                    if (!pw.pings_untrusted) pw.pong_rtts.add(t - it->second);
                    pw.pings.erase(it);
                }
            } else {
                pw.pongs_unpaired++;
            }
            break;
        }
        default:
            break;
    }
}

// Pairing is libzmtp's (docs/protocol.md 9): a request is a message with awaits_reply, a reply
// names its request by answers_seq. Messages the capture lacks part of (loss) are reported on
// their own: never counted, paired or timed.
void Analyzer::on_message(const Connection& c, State& s, const zmtp::SessionEvent& e,
                          const zmtp::MessageEvent& m, Timestamp t) {
    const size_t di = index_of(e.dir);
    DirectionReport& d = s.report.dirs[di];
    DirectionWork& w = s.work[di];
    if (m.loss != MessageLoss::None) {
        // A message whose start was lost may be the reply to a request still waiting: libzmtp
        // does not pair it, so it would pair the next reply with that request.
        DirectionWork& peer = s.work[index_of(zmtp::opposite(e.dir))];
        if (m.loss == MessageLoss::StartLost && peer.requests.size())
            peer.requests_untrusted = true;
        RecoveryReport& rec = d.recovery;
        (m.loss == MessageLoss::StartLost ? rec.messages_start_lost : rec.messages_end_lost)++;
        rec.cut_frames += m.frames;
        rec.cut_bytes += m.body_bytes;
        if (options_.on_message)
            options_.on_message(
                {t, c.id, e.dir, m.frames, m.body_bytes, m.decrypted, {}, m.loss, w.gap_seen});
        return;
    }
    d.messages++;
    d.frames += m.frames;
    d.bytes += m.body_bytes;
    if (m.decrypted) d.decrypted_messages++;
    if (d.message_times.size() < timeline_points_max) d.message_times.push_back(t);
    if (w.gap_seen) d.recovery.messages_after_gap++;
    if (!s.first_message_time) {
        s.first_message_time = t;
        s.report.first_message_ms = to_ms(t - s.report.start);
    }
    if (w.last_message) w.message_intervals.add(t - *w.last_message);
    w.last_message = t;

    std::optional<double> response_ms;
    if (m.answers_seq) {
        DirectionWork& requester = s.work[index_of(zmtp::opposite(e.dir))];
        auto& requests = requester.requests;
        auto it = requests.find(*m.answers_seq);
        if (it != requests.end() && it != std::prev(requests.end()) &&
            is_suspect(requester.suspect_requests, it->first))
            requester.requests_untrusted = true;
        if (it != requests.end() && requester.requests_untrusted) {
            requests.erase(it);
        } else if (it != requests.end()) {
            const LatencySample sample{c.id, it->second, t};
            response_ms = sample.ms();
            s.latencies.add(sample.duration());
            latency_.add_slow_candidate(sample);
            latency_.points.add({sample.request_time, sample.duration()});
            requests.erase(it);
        }
    }
    if (m.awaits_reply) {
        w.requests.add(m.message_seq, t, options_.max_pending);
        // Its reply may be in bytes the other side is losing now (docs/protocol.md 9).
        if (s.work[index_of(zmtp::opposite(e.dir))].blind_now())
            mark_suspect(w.suspect_requests, m.message_seq, w.requests_untrusted);
    }
    if (options_.on_message)
        options_.on_message({t, c.id, e.dir, m.frames, m.body_bytes, m.decrypted, response_ms,
                             MessageLoss::None, w.gap_seen});
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
        live(t, [&] {
            return "connection " + std::to_string(r.id) + " handshake done (" +
                   std::string(zmtp::mechanism_name(h.mechanism)) + ")";
        });
        return;
    }
    r.handshake = "failed";
    r.failure_cause = printable(h.reason);
    r.failure = r.failure_cause;
    live(t,
         [&] { return "connection " + std::to_string(r.id) + " handshake failed: " + r.failure; });
}

namespace {

void copy_tcp_figures(const Connection& c, ConnectionReport& r) {
    r.saw_syn = c.saw_syn;
    if (c.syn_time) r.start = *c.syn_time;
    r.last = c.last_time;
    r.closed_by = c.closed_by;
    r.end = std::string(zmtp::tracker::connection_end_name(c.end));
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
    r.socket_types_inferred = info.socket_types_inferred;
    if (info.mechanism != zmtp::Mechanism::Unknown)
        r.mechanism = std::string(zmtp::mechanism_name(info.mechanism));
    else if (info.greetings[0])
        r.mechanism = printable(info.greetings[0]->mechanism_text);
    if (info.mechanism_inferred && info.mechanism == zmtp::Mechanism::Curve)
        r.mechanism_inferred = "CURVE (inferred from MESSAGE frames)";
    else if (info.plaintext_without_handshake)
        r.mechanism_inferred = "NULL or PLAIN, handshake not captured";
    if (info.handshake == zmtp::HandshakeState::NotCaptured && r.handshake == "incomplete")
        r.handshake = "not-captured";
    r.version = effective_version(info);
    for (Direction dir : both_directions) {
        const auto& g = info.greetings[index_of(dir)];
        if (!g) continue;
        r.dirs[index_of(dir)].greeting = zmtp::greeting_label(*g);
        if (g->identity) r.dirs[index_of(dir)].identity = printable(*g->identity);
    }
    r.decryption = decryption_name(info.curve);
    r.missing_key = printable(info.curve_missing);
    r.pairing_stopped = info.pairing_stopped;
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
    const double grace_ms = late_after ? *late_after : default_pong_grace_ms;
    // PINGs whose answer the capture may have lost (suspects, or all once the pairs are not
    // trusted), and as many as PONGs libzmtp could pair with no PING, oldest first.
    uint64_t unpaired = w.pongs_unpaired;
    for (const auto& [offset, sent] : w.pings) {
        if (w.pings_untrusted || is_suspect(w.suspect_pings, offset) || unpaired) {
            if (!w.pings_untrusted && !is_suspect(w.suspect_pings, offset)) --unpaired;
            hb.answer_unknown++;
            continue;
        }
        const bool recent = to_ms(c.last_time - sent) < grace_ms;
        if (c.end == ConnectionEnd::Open && recent)
            hb.unanswered_at_end++;
        else
            hb.missed++;
    }
}

// PINGs and PONGs of a CURVE connection no key opens, inferred from the sizes of the boxes
// (docs/protocol.md 9): this side's 40-byte boxes are PINGs when they come at a steady period
// and the peer answers them with 38-byte boxes within half a period. Size alone proves
// nothing (data frames of 7 and 5 bytes have the same sizes), so all three must hold: at least
// inferred_min_pings boxes, regular intervals (across no gap of this side), and at least
// inferred_min_answers answers, 70% of the PINGs up to the last answered one. A PING whose
// answer may have been in the peer's lost bytes, or after the end of the capture, is neither
// answered nor unanswered.
std::optional<InferredHeartbeatReport> infer_heartbeats(const DirectionWork& own,
                                                        const DirectionWork& peer, Timestamp end) {
    std::vector<Timestamp> pings = own.ping_sized, pongs = peer.pong_sized;
    if (pings.size() < inferred_min_pings) return std::nullopt;
    std::sort(pings.begin(), pings.end());
    std::sort(pongs.begin(), pongs.end());
    Distribution intervals;
    for (size_t i = 1; i < pings.size(); ++i)
        if (!own.blind_during(pings[i - 1], pings[i])) intervals.add(pings[i] - pings[i - 1]);
    if (!regular(intervals, inferred_min_intervals)) return std::nullopt;
    const Timestamp window = Timestamp(intervals.percentile_ms(50) * 1e6 / 2);

    InferredHeartbeatReport hb;
    Distribution rtts;
    size_t next_pong = 0, answered_upto = 0, unanswered_upto = 0;
    for (const Timestamp sent : pings) {
        while (next_pong < pongs.size() && pongs[next_pong] < sent) ++next_pong;
        if (next_pong < pongs.size() && pongs[next_pong] - sent <= window) {
            hb.pongs++;
            rtts.add(pongs[next_pong] - sent);
            hb.last_pong = pongs[next_pong];
            if (hb.pong_times.size() < timeline_points_max)
                hb.pong_times.push_back(pongs[next_pong]);
            ++next_pong;
            answered_upto = hb.pongs;
            unanswered_upto = hb.unanswered;
        } else if (sent + window > end || peer.blind_during(sent, sent + window)) {
            hb.answer_unknown++;
        } else {
            hb.unanswered++;
        }
    }
    if (answered_upto < inferred_min_answers ||
        double(answered_upto) < 0.7 * double(answered_upto + unanswered_upto))
        return std::nullopt;
    hb.pings = pings.size();
    hb.interval_ms = intervals.summary();
    hb.pong_rtt_ms = rtts.summary();
    hb.first_ping = pings.front();
    hb.last_ping = pings.back();
    const size_t kept = std::min(pings.size(), timeline_points_max);
    hb.ping_times.assign(pings.begin(), pings.begin() + long(kept));
    return hb;
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
    // The peer's last bytes were lost: its silence is not known (docs/protocol.md 9).
    if (pw.blind_now()) return false;

    std::optional<double> timeout_s;
    if (pw.ttl_s) timeout_s = *pw.ttl_s;
    if (cw.ping_intervals.count()) {
        const double interval_s = cw.ping_intervals.percentile_ms(50) / 1000;
        timeout_s = timeout_s ? std::min(*timeout_s, interval_s) : interval_s;
    }
    if (!timeout_s) return false;
    const Timestamp silent_since = pw.last_unit.value_or(r.start);
    const double silence_s = to_seconds(*r.close_time - silent_since);
    const auto unanswered =
        cw.pings_untrusted
            ? 0
            : std::max<int64_t>(0,
                                std::count_if(cw.pings.begin(), cw.pings.end(), [&](const auto& p) {
                                    return p.second >= silent_since;
                                }) - int64_t(cw.pongs_unpaired));
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

// The same diagnosis from heartbeats inferred from box sizes (no key, no TTL): the closer's
// PINGs (inferred) went unanswered while the peer was silent for 80% of their interval, or
// the peer's own PINGs (inferred) stopped for at least two of their intervals before the
// close (the TTL it announced ran out). Reported beside `end`, never in it.
void diagnose_inferred_end(const std::array<DirectionWork, 2>& work, ConnectionReport& r) {
    if (!r.closed_by || !r.close_time) return;
    const Direction closer = *r.closed_by;
    const Direction peer = zmtp::opposite(closer);
    const DirectionWork& cw = work[index_of(closer)];
    const DirectionWork& pw = work[index_of(peer)];
    const auto& closer_hb = r.dirs[index_of(closer)].inferred_heartbeat;
    const auto& peer_hb = r.dirs[index_of(peer)].inferred_heartbeat;
    // Past max_sized_boxes the times of later boxes are not known: no end is inferred.
    if ((!closer_hb && !peer_hb) || pw.blind_now() || cw.sized_overflow || pw.sized_overflow)
        return;
    const Timestamp silent_since = pw.last_unit.value_or(r.start);
    const double silence_s = to_seconds(*r.close_time - silent_since);
    if (closer_hb && closer_hb->interval_ms) {
        const double interval_s = closer_hb->interval_ms->p50 / 1000;
        const auto unanswered = std::count_if(cw.ping_sized.begin(), cw.ping_sized.end(),
                                              [&](Timestamp t) { return t > silent_since; });
        if (unanswered > 0 && silence_s >= 0.8 * interval_s) {
            r.inferred_end = "heartbeat-timeout";
            r.inferred_silent_since = silent_since;
            r.inferred_last_pong = closer_hb->last_pong;
            r.inferred_end_detail = side_name(closer) + " closed the connection after the " +
                                    side_name(peer) + " was silent for " + seconds_text(silence_s) +
                                    " (" + std::to_string(unanswered) +
                                    " PING(s) (inferred) unanswered, PING interval (inferred) " +
                                    seconds_text(interval_s) + ")";
            return;
        }
    }
    if (peer_hb && peer_hb->interval_ms && peer_hb->last_ping) {
        const double interval_s = peer_hb->interval_ms->p50 / 1000;
        if (silence_s >= 2 * interval_s) {
            r.inferred_end = "heartbeat-timeout";
            r.inferred_pings_stopped = peer_hb->last_ping;
            r.inferred_silent_since = silent_since;
            if (closer_hb) r.inferred_last_pong = closer_hb->last_pong;
            r.inferred_end_detail = "the " + side_name(peer) + "'s PINGs (inferred, every " +
                                    seconds_text(interval_s) + ") stopped; the " + side_name(peer) +
                                    " was then silent for " + seconds_text(silence_s) +
                                    " until the " + side_name(closer) + " closed " +
                                    seconds_text(to_seconds(*r.close_time - *peer_hb->last_ping)) +
                                    " after the last PING (inferred)";
        }
    }
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
    const Timestamp end = r.close_time.value_or(r.last);
    for (Direction dir : both_directions) {
        DirectionWork& w = s.work[index_of(dir)];
        DirectionReport& d = r.dirs[index_of(dir)];
        summarize_heartbeats(c, w, d.heartbeat);
        d.message_interval_ms = w.message_intervals.summary();
        d.periodic = regular(w.message_intervals, periodic_min_intervals);
        d.keepalive_interval_ms = w.keepalive_intervals.summary();
        // The silence that ends the connection counts too (unless bytes were lost since).
        if (w.last_unit) {
            const double tail = to_seconds(end - *w.last_unit);
            d.longest_silence_s = std::max(d.longest_silence_s, tail);
            if (w.ttl_s && tail > *w.ttl_s)
                r.silences.push_back({dir, *w.last_unit, tail, *w.ttl_s});
        }
        // libzmtp's requests still waiting: never answered (those of a gap were dropped, and
        // so are those whose pairing may have been off since).
        if (w.requests_untrusted) {
            r.requests_dropped += w.requests.size();
            s.pairing_untrusted = true;
        } else {
            const size_t suspects = pending_suspects(w.requests, w.suspect_requests);
            r.requests_dropped += suspects;
            r.unanswered_requests += w.requests.size() - suspects;
        }
        d.recovery.resyncing_at_end = w.resyncing;
        if (d.recovery.started_mid_stream) r.started_mid_connection = true;
        d.inferred_heartbeat =
            infer_heartbeats(w, s.work[index_of(zmtp::opposite(dir))], c.last_time);
    }
    if (r.pairing_stopped) {
        r.pairing_stopped_reason = r.pair() +
                                   " pair replies by their order; after a gap the capture cannot "
                                   "tell which requests or replies the lost bytes held";
    } else if (s.pairing_untrusted) {
        r.pairing_stopped = true;
        r.pairing_stopped_reason =
            "a reply may have been in lost bytes after its request was seen, and replies are "
            "paired by their order: the replies after it were not timed, and the requests "
            "still waiting are not called unanswered";
    }
    r.latency_ms = s.latencies.summary();
    if (!diagnose_heartbeat_timeout(s.work, r)) {
        describe_end(r);
        if (!r.dirs[0].heartbeat.pings && !r.dirs[1].heartbeat.pings)
            diagnose_inferred_end(s.work, r);
    }
    live(r.close_time.value_or(r.last), [&] {
        return "connection " + std::to_string(r.id) + " ended: " + r.end +
               (r.end_detail.empty() ? "" : " (" + r.end_detail + ")") +
               (r.inferred_end.empty() ? "" : "; inferred: " + r.inferred_end);
    });
}

void Analyzer::on_connection_end(const Connection& c) {
    auto it = open_.find(c.id);
    if (it == open_.end()) return;
    finish_connection(c, *it->second);
    if (it->second->latencies.count())
        latency_.by_pair[it->second->report.pair()].merge(it->second->latencies);
    if (last_state_ == it->second.get()) last_state_ = nullptr;
    open_.erase(it);
}

namespace {

std::vector<Storm> find_storms(const ConnectionReports& connections) {
    // Only the client-server pairs with a failed handshake can have a storm.
    std::set<std::pair<std::string, std::string>> failing;
    for (const auto& c : connections)
        if (c.handshake == "failed") failing.insert({c.client_address, c.server});
    if (failing.empty()) return {};
    std::map<std::pair<std::string, std::string>, std::vector<const ConnectionReport*>> groups;
    for (const auto& c : connections) {
        std::pair<std::string, std::string> key{c.client_address, c.server};
        if (failing.count(key)) groups[std::move(key)].push_back(&c);
    }
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

// Puts the reports in the order of their ids. A report is large to move: the ids are sorted with
// the reports' positions, then each report is moved once, into a new list in that order. One
// analyzer's reports are in id order already.
void sort_by_id(ConnectionReports& connections) {
    const auto by_id = [](const ConnectionReport& a, const ConnectionReport& b) {
        return a.id < b.id;
    };
    if (std::is_sorted(connections.begin(), connections.end(), by_id)) return;
    std::vector<std::pair<uint64_t, size_t>> order;  // (id, position now), by id
    order.reserve(connections.size());
    for (size_t i = 0; i < connections.size(); ++i) order.emplace_back(connections[i].id, i);
    std::sort(order.begin(), order.end());
    ConnectionReports sorted;
    for (const auto& [id, at] : order) sorted.push_back(std::move(connections[at]));
    connections = std::move(sorted);
}

// Connection ids 1, 2, ... in the order of the ids the analyzers gave.
void renumber(ConnectionReports& connections, LatencyTotals& latency) {
    sort_by_id(connections);
    std::vector<uint64_t> old_ids;
    old_ids.reserve(connections.size());
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
        zmtp::tracker::mix64(uint64_t(p.request_time) ^ zmtp::tracker::mix64(uint64_t(p.duration)));
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
    if (!open_.empty()) {
        std::unordered_set<uint64_t> open_ids;
        for (const auto& [id, state] : open_) open_ids.insert(id);
        std::erase_if(reports_, [&](const ConnectionReport& r) { return open_ids.count(r.id); });
        open_.clear();
        last_state_ = nullptr;
    }
    Results r{std::move(reports_), std::move(latency_)};
    reports_.clear();
    latency_ = {};
    return r;
}

Report Analyzer::finish(Report base) {
    std::vector<Results> parts(1);  // sized, not grown: a deque may not move without throwing
    parts[0] = take_results();
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
