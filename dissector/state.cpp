#include "state.hpp"

#include <algorithm>
#include <cstdio>
#include <variant>

namespace zmqdiss {
namespace {

using zmtp::Direction;

size_t index_of(Direction d) {
    return static_cast<size_t>(d);
}

// Units larger than this are not reassembled: the direction is shown undecoded from there.
constexpr uint64_t max_unit_size = (256ull << 20) + 9;
constexpr size_t identity_bytes_kept = 64;
constexpr size_t preview_chars = 32;

std::vector<uint8_t> first_bytes(zmtp::Bytes body, size_t n) {
    return {body.begin(), body.begin() + std::min(n, body.size())};
}

std::string seconds_text(int64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f s", double(ns) / 1e9);
    return buf;
}

constexpr int64_t ns_per_decisecond = 100'000'000;

}  // namespace

bool is_envelope_socket(zmtp::SocketType t) {
    using zmtp::SocketType;
    return t == SocketType::Req || t == SocketType::Rep || t == SocketType::Dealer ||
           t == SocketType::Router;
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7F) {
            out += char(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

std::string body_preview(zmtp::Bytes body) {
    const auto shown = body.first(std::min(body.size(), preview_chars));
    const bool text =
        std::all_of(shown.begin(), shown.end(), [](uint8_t c) { return c >= 0x20 && c < 0x7F; });
    std::string out;
    if (text) {
        out = "\"" + std::string(zmtp::as_text(shown)) + "\"";
    } else {
        char hex[3];
        for (uint8_t c : shown.first(std::min<size_t>(shown.size(), 16))) {
            std::snprintf(hex, sizeof hex, "%02x", c);
            out += hex;
        }
        if (shown.size() > 16) out += "...";
        return out;
    }
    if (body.size() > shown.size()) out.insert(out.size() - 1, "...");
    return out;
}

std::optional<uint64_t> ConvState::stream_position(Direction dir, uint32_t seq) const {
    const DirectionState& d = dirs_[index_of(dir)];
    const uint32_t expected = d.base_seq + uint32_t(d.fed);
    const int64_t delta = int32_t(seq - expected);
    if (delta < 0 && uint64_t(-delta) > d.fed) return std::nullopt;
    return d.fed + delta;
}

bool ConvState::wants_keys() const {
    const zmtp::SessionInfo& i = session_.info();
    const bool curve_or_unknown =
        i.mechanism == zmtp::Mechanism::Curve || i.mechanism == zmtp::Mechanism::Unknown;
    return curve_or_unknown && (i.handshake == zmtp::HandshakeState::Greeting ||
                                i.handshake == zmtp::HandshakeState::Handshake);
}

// Without the SYN, bytes that cannot begin a ZMTP 3.x/2.0 signature are the middle of a
// connection (a ZMTP 1.0 peer would be the exception, and is rare enough to give up on).
bool ConvState::starts_mid_stream(const uint8_t* data, size_t captured) const {
    return !saw_syn && captured > 0 && data[0] != 0xFF;
}

uint64_t ConvState::unit_size(Direction dir, uint32_t seq, zmtp::Bytes head, size_t available,
                              bool first_pass) {
    auto& sizes = unit_sizes_[index_of(dir)];
    if (!first_pass) {
        auto it = sizes.find(seq);
        return it == sizes.end() ? 0 : it->second;
    }
    DirectionState& d = dirs_[index_of(dir)];
    if (!d.started) {
        d.started = true;
        d.base_seq = seq;
    }
    uint64_t size = available;
    const auto pos = stream_position(dir, seq);
    const bool mid_stream = d.fed == 0 && starts_mid_stream(head.data(), head.size());
    if (!d.stopped && !mid_stream && pos && *pos == d.fed) {
        size = session_.next_unit_size(dir, head);
        // An invalid header or an absurd size: hand over what is there and let the
        // session report it; the direction is not decoded further.
        if (size > max_unit_size) size = std::max<size_t>(available, 1);
    }
    if (size) sizes[seq] = size;
    return size;
}

PduRecord* ConvState::record_for(Direction dir, uint64_t offset, PduRecord& current) {
    if (dir == current.dir && offset == current.stream_offset) return &current;
    auto& units = units_[index_of(dir)];
    auto it = units.find(offset);
    return it == units.end() ? &current : &it->second;
}

PduRecord* ConvState::process(Direction dir, uint32_t seq, const uint8_t* data, size_t captured,
                              size_t reported, uint32_t frame_num, int64_t time_ns) {
    DirectionState& d = dirs_[index_of(dir)];
    if (!d.started) {
        d.started = true;
        d.base_seq = seq;
    }
    const auto pos = stream_position(dir, seq);
    if (d.stopped || !pos || *pos < d.fed) return nullptr;

    PduRecord& rec = units_[index_of(dir)][*pos];
    rec.dir = dir;
    rec.stream_offset = *pos;
    rec.size = reported;
    rec.frame_num = frame_num;
    rec.time_ns = time_ns;
    const zmtp::SessionSink sink = [&](const zmtp::SessionEvent& ev) {
        apply(*record_for(ev.dir, ev.offset, rec), ev);
    };
    if (*pos == 0 && starts_mid_stream(data, captured)) {
        rec.notices.push_back({false, uint8_t(PluginNotice::MidStream), zmtp::Severity::Note,
                               "the capture starts inside this connection (no SYN, no "
                               "greeting): this direction is not decoded"});
        d.stopped = true;
        d.stop_reason = "not decoded: the capture starts inside the connection";
        return &rec;
    }
    if (*pos > d.fed) {
        rec.notices.push_back({false, uint8_t(PluginNotice::Gap), zmtp::Severity::Warning,
                               "the capture lost " + std::to_string(*pos - d.fed) +
                                   " bytes of this direction: not decoded from here on"});
        session_.mark_gap(dir, sink);
        d.stopped = true;
        d.stop_reason = "not decoded: bytes of this direction were lost";
        return &rec;
    }
    const uint16_t ttl_before = d.ttl_ds;  // the TTL in force before this unit
    session_.feed(dir, zmtp::Bytes(data, captured), sink);
    if (captured < reported) {
        rec.notices.push_back({false, uint8_t(PluginNotice::Truncated), zmtp::Severity::Warning,
                               "unit incomplete: " + std::to_string(captured) + " of " +
                                   std::to_string(reported) +
                                   " bytes (cut by the snapshot length, or TCP reassembly is "
                                   "off)"});
        session_.mark_gap(dir, sink);
        d.stopped = true;
        d.stop_reason = "not decoded: an earlier unit was incomplete";
    }
    d.fed = *pos + reported;

    const zmtp::SessionInfo& info = session_.info();
    rec.mechanism = info.mechanism;
    rec.framing = session_.decoder(dir).framing();
    rec.socket_types = info.socket_types;
    check_heartbeats(rec, ttl_before);
    return &rec;
}

void ConvState::apply(PduRecord& rec, const zmtp::SessionEvent& ev) {
    std::visit(
        [&](const auto& what) {
            using T = std::decay_t<decltype(what)>;
            if constexpr (std::is_same_v<T, zmtp::GreetingEvent>) {
                rec.greeting = what.greeting;
            } else if constexpr (std::is_same_v<T, zmtp::CommandEvent>) {
                on_command(rec, what);
            } else if constexpr (std::is_same_v<T, zmtp::FrameEvent>) {
                on_frame(rec, what);
            } else if constexpr (std::is_same_v<T, zmtp::MessageEvent>) {
                on_message(rec, what);
            } else if constexpr (std::is_same_v<T, zmtp::NoticeEvent>) {
                rec.notices.push_back({true, uint8_t(what.code), what.severity, what.text});
            } else if constexpr (std::is_same_v<T, zmtp::HandshakeEvent>) {
                rec.handshake = what;
            }
        },
        ev.what);
}

void ConvState::on_command(PduRecord& rec, const zmtp::CommandEvent& ev) {
    const zmtp::Command& cmd = ev.command;
    if (ev.decrypted) {
        rec.plaintext_is_command = true;
        rec.inner_command_kind = cmd.kind;
    } else {
        rec.has_command = true;
        rec.command_kind = cmd.kind;
        rec.curve = ev.curve;
        rec.plaintext.assign(ev.plaintext.begin(), ev.plaintext.end());
        rec.has_plaintext = cmd.kind == zmtp::CommandKind::Message && !rec.plaintext.empty();
    }
    if (cmd.kind == zmtp::CommandKind::Ping) track_ping(rec, cmd.ping_ttl_ds);
    if (cmd.kind == zmtp::CommandKind::Pong && ev.answers_offset) {
        pair(rec, rec.dir, *ev.answers_offset, Pairing::Kind::Ping);
    }
}

void ConvState::on_frame(PduRecord& rec, const zmtp::FrameEvent& ev) {
    FrameInfo f;
    f.decrypted = ev.decrypted;
    f.inner_flags = ev.inner_flags;
    f.message_seq = ev.message_seq;
    f.index = ev.index_in_message;
    f.last = ev.last;
    f.body_skipped = ev.body_skipped;
    if (ev.subscription) f.subscription = ev.subscription->subscribe;

    // The routing envelope (identities, empty delimiter) of REQ/REP/DEALER/ROUTER traffic.
    DirectionState& d = dirs_[index_of(rec.dir)];
    if (ev.index_in_message == 0) {
        d.delimiter_seen = false;
        d.before_delimiter.clear();
        d.first_preview.clear();
        d.body_preview.clear();
    }
    const auto sender = session_.info().socket_types[index_of(rec.dir)];
    if (!is_envelope_socket(sender) || d.delimiter_seen) {
        f.role = FrameInfo::Role::Body;
    } else if (ev.body.empty() && !ev.body_skipped) {
        f.role = FrameInfo::Role::Delimiter;
        d.delimiter_seen = true;
    } else {
        d.before_delimiter.push_back(first_bytes(ev.body, identity_bytes_kept));
    }
    // The preview shows the first frame with something in it.
    if (d.first_preview.empty() && !ev.body.empty()) d.first_preview = body_preview(ev.body);
    if (f.role == FrameInfo::Role::Body && d.body_preview.empty() && !ev.body.empty()) {
        d.body_preview = body_preview(ev.body);
    }
    rec.frame = f;
}

void ConvState::on_message(PduRecord& rec, const zmtp::MessageEvent& ev) {
    DirectionState& d = dirs_[index_of(rec.dir)];
    MessageInfo m;
    m.seq = ev.message_seq;
    m.frames = ev.frames;
    m.body_bytes = ev.body_bytes;
    m.decrypted = ev.decrypted;
    m.has_delimiter = d.delimiter_seen;
    if (d.delimiter_seen) {
        m.identities = d.before_delimiter;
        m.preview = d.body_preview;
    } else {
        m.preview = d.first_preview;
    }
    m.subscription_only = ev.frames == 1 && rec.frame && rec.frame->subscription.has_value();
    rec.message = std::move(m);
    if (ev.answers_offset) pair(rec, rec.dir, *ev.answers_offset, Pairing::Kind::Message);
}

void ConvState::pair(PduRecord& answer, Direction answer_dir, uint64_t request_offset,
                     Pairing::Kind kind) {
    auto& requests = units_[index_of(zmtp::opposite(answer_dir))];
    auto it = requests.find(request_offset);
    if (it == requests.end()) return;
    PduRecord& request = it->second;
    request.pairing.kind = kind;
    request.pairing.response_in = answer.frame_num;
    answer.pairing.kind = kind;
    answer.pairing.response_to = request.frame_num;
    answer.pairing.request_time_ns = request.time_ns;
    answer.pairing.response_time_ns = answer.time_ns - request.time_ns;
}

void ConvState::track_ping(PduRecord& rec, uint16_t ttl_ds) {
    DirectionState& d = dirs_[index_of(rec.dir)];
    if (d.last_ping && d.last_ping->pairing.response_in == 0) {
        rec.notices.push_back({false, uint8_t(PluginNotice::PingUnanswered),
                               zmtp::Severity::Warning,
                               "the previous PING (frame " +
                                   std::to_string(d.last_ping->frame_num) + ") has no PONG yet"});
    }
    d.last_ping = &rec;
    d.ttl_ds = ttl_ds;
}

// ZMTP 3.1 heartbeats: a PING's TTL tells the peer to give up after that long without any
// traffic from the PING's sender.
void ConvState::check_heartbeats(PduRecord& rec, uint16_t ttl_before) {
    DirectionState& mine = dirs_[index_of(rec.dir)];
    DirectionState& peer = dirs_[index_of(zmtp::opposite(rec.dir))];
    const int64_t own_gap = rec.time_ns - mine.last_traffic_ns;
    if (mine.last_traffic_ns >= 0 && ttl_before > 0 && own_gap > ttl_before * ns_per_decisecond) {
        rec.notices.push_back({false, uint8_t(PluginNotice::HeartbeatLate), zmtp::Severity::Warning,
                               "heartbeat late: " + seconds_text(own_gap) +
                                   " since this side's previous traffic, "
                                   "longer than its PING TTL of " +
                                   seconds_text(ttl_before * ns_per_decisecond) +
                                   " (the peer may have closed the connection)"});
    }
    const int64_t peer_gap = rec.time_ns - peer.last_traffic_ns;
    if (peer.last_traffic_ns >= 0 && peer.ttl_ds > 0 && !peer.silence_reported &&
        peer_gap > peer.ttl_ds * ns_per_decisecond) {
        rec.notices.push_back({false, uint8_t(PluginNotice::PeerSilent), zmtp::Severity::Warning,
                               "the other side has been silent for " + seconds_text(peer_gap) +
                                   ", longer than the TTL of its last PING (" +
                                   seconds_text(peer.ttl_ds * ns_per_decisecond) +
                                   "): heartbeat timeout"});
        peer.silence_reported = true;
    }
    mine.last_traffic_ns = rec.time_ns;
    mine.silence_reported = false;
}

namespace {
std::unordered_map<uint32_t, std::unique_ptr<ConvState>>& all_states() {
    static std::unordered_map<uint32_t, std::unique_ptr<ConvState>> states;
    return states;
}
}  // namespace

ConvState& conversation_state(uint32_t tcp_stream, const zmtp::KeyStore* keys, bool& created) {
    auto& slot = all_states()[tcp_stream];
    created = !slot;
    if (!slot) slot = std::make_unique<ConvState>(keys);
    return *slot;
}

void clear_conversation_states() {
    all_states().clear();
}

}  // namespace zmqdiss
