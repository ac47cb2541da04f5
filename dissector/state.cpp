#include "state.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <variant>

namespace zmqdiss {
namespace {

using zmtp::Direction;
using zmtp::index_of;

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
    // Without a handshake, a SESSION_KEY (docs/keylog.md) opens the connection once the key
    // log has it: it may be written while the capture runs.
    const bool joined_late = i.handshake == zmtp::HandshakeState::NotCaptured &&
                             i.curve != zmtp::CurveKeyState::SessionKey;
    return curve_or_unknown && (i.handshake == zmtp::HandshakeState::Greeting ||
                                i.handshake == zmtp::HandshakeState::Handshake || joined_late);
}

// Without the SYN, bytes that cannot begin a ZMTP 3.x/2.0 signature are the middle of a
// connection (a ZMTP 1.0 peer would be the exception, and is rare enough to give up on).
bool ConvState::starts_mid_stream(zmtp::Bytes head) const {
    return !saw_syn && !head.empty() && head[0] != 0xFF;
}

// `by_offset`: events go to the unit they come from (the record of an earlier unit when the
// session reports on it late); else all to `rec`. What a gap or a boundary brings always belongs
// to the PDU being processed: earlier packets may have been shown already.
zmtp::SessionSink ConvState::sink_into(PduRecord& rec, bool by_offset) {
    return [this, &rec, by_offset](const zmtp::SessionEvent& ev) {
        const bool here = !by_offset || std::holds_alternative<zmtp::GapEvent>(ev.what) ||
                          std::holds_alternative<zmtp::ResyncEvent>(ev.what) ||
                          (std::holds_alternative<zmtp::MessageEvent>(ev.what) &&
                           std::get<zmtp::MessageEvent>(ev.what).loss != zmtp::MessageLoss::None);
        apply(here ? rec : *record_for(ev.dir, ev.offset, rec), ev);
    };
}

// The events waiting in `d.carry` (a gap noticed, a late start, a boundary found before this
// unit) go to its record, before the unit's own.
void ConvState::take_carry(DirectionState& d, PduRecord& rec) {
    PduRecord& c = d.carry;
    rec.notices.insert(rec.notices.begin(), c.notices.begin(), c.notices.end());
    rec.gaps.insert(rec.gaps.begin(), c.gaps.begin(), c.gaps.end());
    rec.losses.insert(rec.losses.begin(), c.losses.begin(), c.losses.end());
    if (c.resync && !rec.resync) rec.resync = c.resync;
    if (c.handshake && !rec.handshake) rec.handshake = c.handshake;
    c = PduRecord{};
}

// Bytes [at, at + lost) of `dir` never reached the plugin: the session searches for the next
// frame boundary after them (docs/protocol.md 9).
void ConvState::note_gap(Direction dir, uint64_t at, uint64_t lost, uint32_t frame_num,
                         PduRecord& into, bool cut) {
    DirectionState& d = dirs_[index_of(dir)];
    DirectionState::LostRange range;
    range.from = at;
    range.to = at + lost;
    range.frame = frame_num;
    range.cut = cut;
    d.lost.push_back(range);
    session_.mark_gap(dir, sink_into(into, false), lost);
    d.reassembling_offset.reset();
    d.searching_why = Undecoded::AfterGap;
    // ZMTP 1.0 has no frame boundaries to find again: libzmtp stops the direction (and
    // says so).
    if (session_.decoder(dir).failed()) d.stopped = true;
}

bool ConvState::begin_unit(Direction dir, uint32_t seq, zmtp::Bytes head,
                           std::optional<uint32_t> first_seq, uint32_t frame_num) {
    DirectionState& d = dirs_[index_of(dir)];
    d.carry.dir = dir;
    if (!d.started) {
        d.started = true;
        d.base_seq = first_seq.value_or(seq);
        if (!first_seq && starts_mid_stream(head)) {
            session_.start_mid_stream(dir, sink_into(d.carry, false));
            d.mid_stream = true;
            d.searching_why = Undecoded::CaptureStart;
        }
    }
    const auto pos = stream_position(dir, seq);
    if (d.stopped || !pos || *pos < d.fed) return false;
    if (*pos > d.fed) {
        const uint64_t at = d.fed;
        d.fed = *pos;
        note_gap(dir, at, *pos - at, frame_num, d.carry);
        if (d.stopped) return false;
    }
    return session_.resyncing(dir);
}

void ConvState::note_peer_ack(Direction peer, uint32_t ack, uint32_t seen_end,
                              std::optional<uint32_t> first_seq, uint32_t frame_num) {
    DirectionState& p = dirs_[index_of(peer)];
    if (p.stopped) return;
    if (!p.started) {
        if (!first_seq) return;  // without the SYN, where the peer's stream starts is unknown
        p.started = true;
        p.base_seq = *first_seq;
        p.carry.dir = peer;
    }
    const auto acked = stream_position(peer, ack);
    const auto seen = stream_position(peer, seen_end);
    // Bytes TCP keeps for a reassembly in progress are seen, though not fed yet.
    if (!acked || !seen || *acked <= std::max(*seen, p.fed)) return;
    const uint64_t at = p.fed;
    p.fed = *acked;
    note_gap(peer, at, *acked - at, frame_num, p.carry);
}

uint64_t ConvState::unit_size(Direction dir, uint32_t seq, zmtp::Bytes bytes, size_t available,
                              size_t reported, bool starts_segment, bool first_pass,
                              uint32_t frame_num) {
    // By frame and sequence number: a retransmission starts at the same sequence number as
    // the units it repeats, with PDUs of other sizes.
    auto& sizes = unit_sizes_[index_of(dir)];
    const uint64_t key = uint64_t(frame_num) << 32 | seq;
    if (!first_pass) {
        auto it = sizes.find(key);
        return it == sizes.end() ? 0 : it->second;
    }
    DirectionState& d = dirs_[index_of(dir)];
    uint64_t size = std::max(available, reported);
    const auto pos = stream_position(dir, seq);
    if (pos && *pos < d.fed && (*pos + available) > d.fed) {
        size = d.fed - *pos;  // partly retransmitted: the new bytes start a PDU of their own
    } else if (pos && *pos == d.fed && !d.stopped) {
        if (session_.resyncing(dir)) {
            const auto match = session_.find_resync(dir, bytes, starts_segment);
            if (match && match->skip == 0) {
                session_.resync_here(dir, match->evidence, sink_into(d.carry, false));
                d.searching_why = Undecoded::None;
            } else {
                // The bytes before the boundary (all of them when there is none) are one PDU
                // of undecoded bytes; process() skips them.
                d.plan_set = true;
                d.plan_seq = seq;
                d.plan_boundary.reset();
                if (match) {
                    d.plan_boundary = match->evidence;
                    size = match->skip;
                }
            }
        }
        if (!session_.resyncing(dir)) {
            size = session_.next_unit_size(dir,
                                           bytes.first(std::min(bytes.size(), greeting_head_size)));
            // An invalid header or an absurd size: hand over what is there and let the
            // session report it; the direction is not decoded further.
            if (size > max_unit_size) size = std::max<size_t>(available, 1);
            if (size > available) d.reassembling_offset = *pos;
        }
    }
    if (size) sizes[key] = size;
    return size;
}

PduRecord* ConvState::record_for(Direction dir, uint64_t offset, PduRecord& current) {
    if (dir == current.dir && offset == current.stream_offset) return &current;
    auto& units = units_[index_of(dir)];
    auto it = units.find(offset);
    return it == units.end() ? &current : &it->second;
}

PduRecord& ConvState::undecoded_record(Direction dir, uint64_t offset, Undecoded why,
                                       size_t reported, uint32_t frame_num, int64_t time_ns) {
    PduRecord& rec = undecoded_.emplace_back();
    rec.dir = dir;
    rec.tcp_stream = tcp_stream;
    rec.stream_offset = offset;
    rec.size = reported;
    rec.frame_num = frame_num;
    rec.time_ns = time_ns;
    rec.undecoded = why;
    return rec;
}

// Late bytes: a range counted as lost arrives after all (out of order, or retransmitted).
void ConvState::note_late_bytes(PduRecord& rec, uint64_t from, uint64_t to) {
    for (const auto& range : dirs_[index_of(rec.dir)].lost) {
        if (from >= range.to || to <= range.from || range.frame >= rec.frame_num) continue;
        if (range.cut) {  // the rest of a unit the tvb lacked: TCP did not reassemble it
            rec.undecoded = Undecoded::NotReassembled;
            return;
        }
        rec.notices.push_back({false, uint8_t(PluginNotice::LateSegment), zmtp::Severity::Note,
                               "counted as lost in frame " + std::to_string(range.frame) +
                                   ", these bytes only arrive late (out of order): with "
                                   "tcp.reassemble_out_of_order:TRUE they would be decoded"});
        return;
    }
}

PduRecord* ConvState::process(Direction dir, uint32_t seq, const uint8_t* data, size_t captured,
                              size_t reported, uint32_t frame_num, int64_t time_ns) {
    DirectionState& d = dirs_[index_of(dir)];
    if (!d.started) begin_unit(dir, seq, zmtp::Bytes(data, captured), std::nullopt, frame_num);
    const auto pos = stream_position(dir, seq);
    if (!pos || *pos < d.fed) {
        PduRecord& rec = undecoded_record(dir, pos.value_or(0), Undecoded::Retransmission, reported,
                                          frame_num, time_ns);
        if (pos) note_late_bytes(rec, *pos, std::min<uint64_t>(*pos + reported, d.fed));
        finish_record(rec, d.ttl_ds, false);
        return &rec;
    }
    if (*pos > d.fed) {  // not seen by begin_unit (which tcp_dissect_pdus always calls first)
        const uint64_t at = d.fed;
        d.fed = *pos;
        note_gap(dir, at, *pos - at, frame_num, d.carry);
    }
    const uint16_t ttl_before = d.ttl_ds;  // the TTL in force before this unit
    const bool planned = d.plan_set && d.plan_seq == seq;
    d.plan_set = false;
    if (d.stopped || session_.resyncing(dir)) {
        // Bytes before a frame boundary (or of a direction libzmtp gave up on): skipped.
        const Undecoded why = d.stopped                            ? Undecoded::Stopped
                              : d.searching_why == Undecoded::None ? Undecoded::Searching
                                                                   : d.searching_why;
        PduRecord& rec = undecoded_record(dir, *pos, why, reported, frame_num, time_ns);
        take_carry(d, rec);
        d.fed = *pos + reported;
        if (!d.stopped) {
            session_.skip(dir, captured);
            if (captured < reported) {
                note_gap(dir, *pos + captured, reported - captured, frame_num, rec, true);
            } else if (planned && d.plan_boundary) {
                session_.resync_here(dir, *d.plan_boundary, sink_into(rec, false));
                rec.boundary_after = zmtp::resync_evidence_name(*d.plan_boundary);
                d.searching_why = Undecoded::None;
            } else {
                d.searching_why = Undecoded::Searching;
            }
        }
        finish_record(rec, ttl_before, true);
        return &rec;
    }

    PduRecord& rec = units_[index_of(dir)][*pos];
    rec.dir = dir;
    rec.tcp_stream = tcp_stream;
    rec.stream_offset = *pos;
    rec.size = reported;
    rec.frame_num = frame_num;
    rec.time_ns = time_ns;
    take_carry(d, rec);
    session_.feed(dir, zmtp::Bytes(data, captured), sink_into(rec, true));
    d.fed = *pos + reported;
    d.reassembling_offset.reset();
    if (captured < reported) {
        rec.notices.push_back({false, uint8_t(PluginNotice::Truncated), zmtp::Severity::Warning,
                               "unit incomplete: " + std::to_string(captured) + " of " +
                                   std::to_string(reported) +
                                   " bytes (cut by the snapshot length, or TCP reassembly is "
                                   "off)"});
        note_gap(dir, *pos + captured, reported - captured, frame_num, rec, true);
    }
    if (!rec.greeting && !rec.frame && !rec.has_command) {
        // libzmtp decoded no unit from these bytes: they are not shown as one.
        rec.undecoded = captured < reported ? Undecoded::Truncated : Undecoded::Stopped;
    }
    if (session_.decoder(dir).failed()) d.stopped = true;  // libzmtp said why
    finish_record(rec, ttl_before, true);
    return &rec;
}

// What every record shows of the connection, the findings made once per connection, and the
// heartbeat checks (`traffic`: the bytes are new traffic of their side).
void ConvState::finish_record(PduRecord& rec, uint16_t ttl_before, bool traffic) {
    const zmtp::SessionInfo& info = session_.info();
    rec.mechanism = info.mechanism;
    rec.framing = session_.decoder(rec.dir).framing();
    rec.socket_types = info.socket_types;
    rec.mechanism_inferred = info.mechanism_inferred;
    rec.plaintext_without_handshake = info.plaintext_without_handshake;
    rec.socket_types_inferred = info.socket_types_inferred;
    note_connection_findings(rec);
    if (traffic) check_heartbeats(rec, ttl_before);
}

// Handshake not captured, mechanism and socket types inferred (docs/protocol.md 9): said once
// per connection, on the unit where libzmtp concluded it.
void ConvState::note_connection_findings(PduRecord& rec) {
    const zmtp::SessionInfo& info = session_.info();
    auto note = [&](PluginNotice code, std::string text) {
        rec.notices.push_back({false, uint8_t(code), zmtp::Severity::Note, std::move(text)});
    };
    if (info.handshake == zmtp::HandshakeState::NotCaptured && !reported_not_captured_) {
        reported_not_captured_ = true;
        note(PluginNotice::HandshakeNotCaptured,
             "the capture has no handshake for this connection (it started after it): ZMTP "
             "version, mechanism and socket types are not known from it");
    }
    if ((info.mechanism_inferred || info.plaintext_without_handshake) && !reported_mechanism_) {
        reported_mechanism_ = true;
        note(PluginNotice::MechanismInferred,
             info.mechanism == zmtp::Mechanism::Curve
                 ? std::string("mechanism inferred: CURVE (the frames are CURVE MESSAGE boxes)")
                 : std::string("mechanism inferred: NULL or PLAIN (plaintext frames; the "
                               "handshake was not captured)"));
    }
    if (info.socket_types_inferred && !reported_socket_types_) {
        reported_socket_types_ = true;
        note(PluginNotice::SocketTypesInferred,
             "socket types inferred from the shape of the messages: " +
                 std::string(zmtp::socket_type_name(info.socket_types[0])) + " (client) and " +
                 std::string(zmtp::socket_type_name(info.socket_types[1])) + " (server)");
    }
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
            } else if constexpr (std::is_same_v<T, zmtp::GapEvent>) {
                on_gap(rec, ev, what);
            } else if constexpr (std::is_same_v<T, zmtp::ResyncEvent>) {
                on_resync(rec, ev, what);
            }
        },
        ev.what);
}

void ConvState::on_gap(PduRecord& rec, const zmtp::SessionEvent& ev, const zmtp::GapEvent& gap) {
    DirectionState& d = dirs_[index_of(ev.dir)];
    GapInfo g;
    g.offset = ev.offset;
    g.lost_known = gap.lost_known;
    g.lost_bytes = gap.lost_known ? ev.size : 0;
    g.before_start = gap.before_start;
    g.requests_dropped = gap.requests_dropped;
    rec.gaps.push_back(g);
    if (gap.before_start) {
        rec.notices.push_back({false, uint8_t(PluginNotice::MidStream), zmtp::Severity::Note,
                               "the capture starts inside this connection (no SYN, no "
                               "greeting): the bytes before the first frame boundary found are "
                               "not decoded"});
    } else {
        // Expert info texts are cut at 240 characters: the numbers are in fields too.
        const std::string bytes =
            gap.lost_known ? std::to_string(ev.size) + " bytes" : std::string("bytes");
        std::string text;
        if (d.reassembling_offset && *d.reassembling_offset == ev.offset) {
            // Some of them may be in the capture, held by TCP for a reassembly a lost segment
            // left incomplete.
            text = bytes + " of this direction from stream offset " + std::to_string(ev.offset) +
                   " not decoded: TCP could not reassemble the unit there (a segment is missing)";
        } else {
            text = "the capture lost " + bytes + " of this direction at stream offset " +
                   std::to_string(ev.offset);
        }
        text += "; decoding resumes at the next frame boundary";
        if (gap.requests_dropped) {
            text += "; " + std::to_string(gap.requests_dropped) +
                    " waiting request(s) no longer paired";
        }
        rec.notices.push_back(
            {false, uint8_t(PluginNotice::Gap), zmtp::Severity::Warning, std::move(text)});
        if (!tcp_reassembles_out_of_order) {
            rec.notices.push_back({false, uint8_t(PluginNotice::GapHint), zmtp::Severity::Note,
                                   "if the missing bytes come later in the capture (out of "
                                   "order), tcp.reassemble_out_of_order:TRUE avoids this gap"});
        }
    }
    // What the lost bytes held is unknown: a PONG, a PING, this side's traffic, the rest of
    // the routing envelope.
    for (DirectionState& each : dirs_) each.last_ping = nullptr;
    d.last_traffic_ns = -1;
    d.silence_reported = false;
    d.delimiter_seen = false;
    d.before_delimiter.clear();
    d.first_preview.clear();
    d.body_preview.clear();
}

void ConvState::on_resync(PduRecord& rec, const zmtp::SessionEvent& ev,
                          const zmtp::ResyncEvent& r) {
    ResyncInfo info;
    info.offset = ev.offset;
    info.evidence = std::string(zmtp::resync_evidence_name(r.evidence));
    info.skipped_bytes = r.skipped_bytes;
    info.frames_lost = r.frames_lost;
    std::string text = "decoding resumes at a frame boundary, stream offset " +
                       std::to_string(ev.offset) + " (" + info.evidence + ")";
    if (r.skipped_bytes) {
        text += "; the " + std::to_string(r.skipped_bytes) + " bytes before it are not decoded";
    }
    if (r.frames_lost) {
        text += "; the CURVE nonce jumped: " + std::to_string(*r.frames_lost) + " frame" +
                (*r.frames_lost == 1 ? "" : "s") + " lost";
    }
    rec.resync = std::move(info);
    rec.notices.push_back(
        {false, uint8_t(PluginNotice::Resync), zmtp::Severity::Note, std::move(text)});
}

ConvState::ConvState(const zmtp::KeyStore* keys, uint32_t tcp_stream)
    : tcp_stream(tcp_stream), session_(keys) {
    // MESSAGE boxes open into a buffer their record then keeps: no copy of the plaintext.
    // `size` is that of a box already in memory.
    session_.set_plaintext_allocator([this](size_t size) {
        opened_box_.bytes.reset(new uint8_t[size]);
        opened_box_.length = size;
        return opened_box_.bytes.get();
    });
}

// A record's copy of an opened box's plaintext: the session's buffer for it when the box
// opened into one of ours, else (a handshake box, in the session's own buffer) a copy.
OwnedBytes ConvState::take_plaintext(zmtp::Bytes plaintext) {
    OwnedBytes out;
    if (plaintext.empty()) return out;
    if (plaintext.data() == opened_box_.data() && plaintext.size() == opened_box_.size()) {
        return std::move(opened_box_);
    }
    out.bytes.reset(new uint8_t[plaintext.size()]);
    out.length = plaintext.size();
    std::memcpy(out.bytes.get(), plaintext.data(), plaintext.size());
    return out;
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
        rec.plaintext = take_plaintext(ev.plaintext);
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
    f.start_lost = ev.start_lost;
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
    if (ev.loss != zmtp::MessageLoss::None) {
        // Not a message of the connection: counted, numbered and paired by nobody.
        LossInfo loss;
        loss.loss = ev.loss;
        loss.frames = ev.frames;
        loss.body_bytes = ev.body_bytes;
        loss.preview = d.delimiter_seen ? d.body_preview : d.first_preview;
        const std::string frames =
            std::to_string(ev.frames) + (ev.frames == 1 ? " frame" : " frames");
        rec.notices.push_back(
            {false, uint8_t(PluginNotice::MessageLoss), zmtp::Severity::Warning,
             ev.loss == zmtp::MessageLoss::StartLost
                 ? "a message whose first frames may be in the lost bytes (" + frames +
                       " after the boundary): not counted as a message, not paired"
                 : "a message cut by lost bytes (" + frames +
                       " before the gap): not counted as a message, not paired"});
        rec.losses.push_back(std::move(loss));
        d.delimiter_seen = false;
        d.before_delimiter.clear();
        d.first_preview.clear();
        d.body_preview.clear();
        return;
    }
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
    if (!slot) slot = std::make_unique<ConvState>(keys, tcp_stream);
    return *slot;
}

bool has_conversation_state(uint32_t tcp_stream) {
    const auto it = all_states().find(tcp_stream);
    // A conversation on a shared port that did not start with a greeting is another
    // dissector's.
    return it != all_states().end() && it->second->starts_with_greeting.value_or(true);
}

void clear_conversation_states() {
    all_states().clear();
}

}  // namespace zmqdiss
