#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "writers.hpp"

namespace replay {

double epoch_seconds(Timestamp t) {
    return double(t / 1000) / 1e6;
}

std::string utc_time(Timestamp t) {
    const time_t seconds = time_t(t / zmtp::tracker::ns_per_s);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:06d}Z", text, (t % zmtp::tracker::ns_per_s) / 1000);
}

std::string direction_key(Direction d) {
    return d == Direction::ClientToServer ? "client_to_server" : "server_to_client";
}

namespace {

constexpr size_t text_first_connections = 5;     // detailed in a summarised report
constexpr size_t text_problem_connections = 20;  // with problems, detailed after those

std::string arrow(Direction d) {
    return d == Direction::ClientToServer ? "client->server" : "server->client";
}

class TextWriter {
  public:
    TextWriter(const Report& r, std::ostream& out, TextOptions options)
        : r_(r), out_(out), options_(options) {
        origin_ = r.first_packet.value_or(0);
    }

    void write() {
        header();
        if (options_.all_connections || r_.connections.size() <= text_summary_above) {
            for (const auto& c : r_.connections) connection(c);
        } else {
            summarized_connections();
        }
        overall();
    }

  private:
    std::string rel(Timestamp t) const { return fmt::format("+{:.6f} s", to_seconds(t - origin_)); }
    static std::string ms(double v) { return fmt::format("{:.3f} ms", v); }
    static std::string summary(const Summary& s, const char* unit = "ms") {
        return fmt::format("n={} min {:.3f} p50 {:.3f} p90 {:.3f} p99 {:.3f} max {:.3f} {}",
                           s.count, s.min, s.p50, s.p90, s.p99, s.max, unit);
    }

    void header() {
        const auto& k = r_.counters;
        out_ << fmt::format(
            "zmtp-replay: {} input(s), {} packets ({} TCP, {} on followed ZMTP connections)\n",
            r_.inputs.size(), k.packets, k.tcp_packets, k.zmtp_packets);
        if (r_.first_packet && r_.last_packet)
            out_ << fmt::format(
                "capture: {} .. {} ({:.3f} s); times below are relative to the start\n",
                utc_time(*r_.first_packet), utc_time(*r_.last_packet),
                to_seconds(*r_.last_packet - *r_.first_packet));
        for (const auto& [status, count] : k.undecoded)
            out_ << fmt::format("  {} packet(s) not decoded: {}\n", count,
                                zmtp::tracker::decode_status_name(status));
        for (const auto& w : r_.input_warnings) out_ << "  warning: " << w << "\n";
        if (!r_.keys.files.empty())
            out_ << fmt::format("keys: {} key(s) from {} file(s)\n", r_.keys.keys,
                                r_.keys.files.size());
        for (const auto& w : r_.keys.warnings) out_ << "  warning: " << w << "\n";
        out_ << fmt::format("connections: {}", r_.connections.size());
        for (const auto& [state, n] : r_.handshakes) out_ << fmt::format(", {} {}", n, state);
        out_ << "; ends:";
        for (const auto& [end, n] : r_.ends) out_ << fmt::format(" {} {}", n, end);
        out_ << "\n";
    }

    void connection(const ConnectionReport& c) {
        out_ << fmt::format("\n#{} {} -> {}  {} -> {}{}  {}{}{}\n", c.id, c.client, c.server,
                            c.socket_types[0], c.socket_types[1],
                            c.socket_types_inferred ? " (inferred)" : "",
                            c.mechanism_inferred.empty() ? c.mechanism : c.mechanism_inferred,
                            c.version.empty() ? "" : " " + c.version,
                            c.mechanism == "CURVE" ? "  " + c.decryption : "");
        out_ << fmt::format("  start {}, {:.3f} s{}", rel(c.start), to_seconds(c.last - c.start),
                            c.saw_syn ? "" : " (already open when the capture started)");
        if (c.connect_rtt_ms) out_ << fmt::format(", TCP connect {}", ms(*c.connect_rtt_ms));
        out_ << "\n";
        handshake(c);
        if (c.mechanism == "CURVE" && c.decryption != "decrypted" && !c.missing_key.empty())
            out_ << "  not decrypted: " << c.missing_key << "\n";
        std::vector<bool> gap_told(c.gaps.size());
        recovery(c, gap_told);
        for (Direction d : both_directions) direction(c, d);
        if (c.latency_ms) out_ << "  request/reply latency: " << summary(*c.latency_ms) << "\n";
        if (c.unanswered_requests)
            out_ << fmt::format("  {} request(s) never answered\n", c.unanswered_requests);
        if (c.requests_dropped)
            out_ << fmt::format(
                "  {} request(s) pending at a gap: answered or not, the capture cannot tell\n",
                c.requests_dropped);
        if (c.pairing_stopped) {
            out_ << "  request/reply pairing stopped";
            for (const auto& e : c.recovery_events) {
                if (!e.gap) continue;
                out_ << fmt::format(" at the gap {} at {}", arrow(e.dir), rel(e.time));
                break;
            }
            out_ << ": " << c.pairing_stopped_reason << "\n";
        }
        for (const auto& s : c.silences)
            out_ << fmt::format("  silence: {} said nothing for {:.3f} s from {} (TTL {:.1f} s)\n",
                                arrow(s.dir), s.seconds, rel(s.start), s.ttl_s);
        for (size_t i = 0; i < c.gaps.size(); ++i)
            if (!gap_told[i])
                out_ << fmt::format("  gap {} at {}: {}\n", arrow(c.gaps[i].dir),
                                    rel(c.gaps[i].time), c.gaps[i].reason);
        end(c);
        notices(c.notices);
        if (c.notices_dropped) out_ << fmt::format("  ({} more notices)\n", c.notices_dropped);
    }

    // The TCP gap (c.gaps) that libzmtp's gap event `e` stepped over: same direction and time.
    static std::optional<size_t> tcp_gap_of(const ConnectionReport& c, const RecoveryEvent& e,
                                            const std::vector<bool>& told) {
        for (size_t i = 0; i < c.gaps.size(); ++i)
            if (!told[i] && c.gaps[i].dir == e.dir && c.gaps[i].time == e.time) return i;
        return std::nullopt;
    }

    // What the capture did not see (docs/protocol.md 9), for the connection as a whole. Each gap
    // is said once: with the TCP reason of its hole, marked in `gap_told`.
    void recovery(const ConnectionReport& c, std::vector<bool>& gap_told) {
        if (!c.started_mid_connection && c.recovery_events.empty()) return;
        out_ << "  capture " << (c.started_mid_connection ? "started mid-connection" : "lost bytes")
             << ":\n";
        for (const auto& e : c.recovery_events) {
            out_ << fmt::format("    {} {} at {}: ", e.gap ? "gap" : "resync", arrow(e.dir),
                                rel(e.time));
            if (e.gap) {
                const std::optional<size_t> tcp = tcp_gap_of(c, e, gap_told);
                if (tcp) gap_told[*tcp] = true;
                if (e.before_start)
                    out_ << "the capture started inside the stream";
                else
                    out_ << (e.lost_bytes ? fmt::format("{} byte(s) lost", *e.lost_bytes)
                                          : std::string("size unknown"));
                if (tcp && !e.before_start) out_ << " (" << c.gaps[*tcp].reason << ")";
                if (e.requests_dropped)
                    out_ << fmt::format(", {} pending request(s) dropped", e.requests_dropped);
            } else {
                out_ << fmt::format("frames found again ({}), {} byte(s) skipped", e.evidence,
                                    e.skipped_bytes);
                if (e.frames_lost) out_ << fmt::format(", {} CURVE frame(s) lost", *e.frames_lost);
            }
            out_ << "\n";
        }
        if (c.recovery_events_dropped)
            out_ << fmt::format("    ({} more gaps and resyncs)\n", c.recovery_events_dropped);
    }

    // `undecodable`: CURVE boxes no key opened, so no message can be recovered.
    void direction_recovery(const RecoveryReport& r, bool undecodable) {
        if (!r.any()) return;
        out_ << fmt::format("    lost: {} gap(s)", r.gaps);
        if (r.started_mid_stream) out_ << " (one at the start of the capture)";
        if (r.lost_bytes) out_ << fmt::format(", {} byte(s) lost", r.lost_bytes);
        if (r.gaps_of_unknown_size)
            out_ << fmt::format(", {} of unknown size", r.gaps_of_unknown_size);
        out_ << fmt::format(", {} resync(s)", r.resyncs);
        if (r.resyncs) {
            out_ << fmt::format(" ({} byte(s) skipped;", r.skipped_bytes);
            for (const auto& [name, n] : r.resync_evidence) out_ << fmt::format(" {} {}", n, name);
            out_ << ")";
        }
        if (r.frames_lost) out_ << fmt::format(", {} CURVE frame(s) lost", r.frames_lost);
        if (r.messages_start_lost || r.messages_end_lost)
            out_ << fmt::format(", {} message(s) cut ({} start lost, {} end lost; not counted)",
                                r.messages_start_lost + r.messages_end_lost, r.messages_start_lost,
                                r.messages_end_lost);
        if (!undecodable)
            out_ << fmt::format(", {} message(s) recovered after the first gap",
                                r.messages_after_gap);
        if (r.resyncing_at_end) out_ << ", no frame boundary found after the last gap";
        out_ << "\n";
    }

    void boxes(const BoxReport& b) {
        out_ << fmt::format("    CURVE MESSAGE boxes: {} ({} byte(s), sizes {}..{}", b.count,
                            b.bytes, b.min_size, b.max_size);
        if (b.first_nonce && b.last_nonce)
            out_ << fmt::format(", nonces {}..{}", *b.first_nonce, *b.last_nonce);
        if (b.nonces_not_increasing)
            out_ << fmt::format(", {} nonce(s) not increasing", b.nonces_not_increasing);
        out_ << ")\n";
    }

    void inferred_heartbeat(const InferredHeartbeatReport& hb) {
        out_ << fmt::format("    heartbeat (inferred from box sizes): {} PING(s)", hb.pings);
        if (hb.interval_ms) out_ << fmt::format(" every {:.1f} ms", hb.interval_ms->p50);
        if (hb.first_ping && hb.last_ping)
            out_ << fmt::format(" from {} to {}", rel(*hb.first_ping), rel(*hb.last_ping));
        out_ << fmt::format(", {} PONG(s)", hb.pongs);
        if (hb.pong_rtt_ms) out_ << ", PONG RTT " << summary(*hb.pong_rtt_ms);
        out_ << fmt::format(", {} unanswered", hb.unanswered);
        if (hb.answer_unknown)
            out_ << fmt::format(", {} with the answer unknown", hb.answer_unknown);
        if (hb.last_pong) out_ << ", last PONG at " << rel(*hb.last_pong);
        out_ << "\n";
    }

    // Notices with the same direction, severity and text (a key missing for every box) are
    // printed once, with their count and the time of the last one.
    void notices(const std::vector<Notice>& list) {
        struct Group {
            const Notice* first;
            Timestamp last;
            size_t count;
        };
        std::vector<Group> groups;
        std::map<std::tuple<Direction, std::string, std::string>, size_t> index;
        for (const Notice& n : list) {
            auto [it, added] = index.try_emplace({n.dir, n.severity, n.text}, groups.size());
            if (added) {
                groups.push_back({&n, n.time, 1});
            } else {
                groups[it->second].last = n.time;
                groups[it->second].count++;
            }
        }
        for (const Group& g : groups) {
            const Notice& n = *g.first;
            if (g.count == 1) {
                out_ << fmt::format("  {} {} {}: {}\n", rel(n.time), arrow(n.dir), n.severity,
                                    n.text);
            } else {
                out_ << fmt::format("  {} .. {} {} {} ({} times): {}\n", rel(n.time), rel(g.last),
                                    arrow(n.dir), n.severity, g.count, n.text);
            }
        }
    }

    void handshake(const ConnectionReport& c) {
        if (c.handshake == "not-captured") {
            out_ << "  handshake not captured (the capture started after it)";
            if (c.first_message_ms) out_ << ", first message after " << ms(*c.first_message_ms);
            out_ << "\n";
            return;
        }
        out_ << "  handshake " << c.handshake;
        if (!c.failure.empty()) out_ << ": " << c.failure;
        if (c.greeting_ms) out_ << ", greeting " << ms(*c.greeting_ms);
        if (c.hello_to_ready_ms)
            out_ << (c.mechanism == "NULL" ? ", READY " : ", HELLO->READY ")
                 << ms(*c.hello_to_ready_ms);
        if (c.handshake_ms) out_ << ", ready after " << ms(*c.handshake_ms);
        if (c.first_message_ms) out_ << ", first message after " << ms(*c.first_message_ms);
        out_ << "\n";
    }

    void direction(const ConnectionReport& c, Direction dir) {
        const DirectionReport& d = c.dirs[index_of(dir)];
        out_ << fmt::format("  {}: {} message(s), {} frame(s), {} byte(s)", arrow(dir), d.messages,
                            d.frames, d.bytes);
        if (c.mechanism == "CURVE") out_ << fmt::format(", {} decrypted", d.decrypted_messages);
        if (d.boxes_not_opened)
            out_ << fmt::format(", {} MESSAGE box(es) not opened", d.boxes_not_opened);
        for (const auto& [name, n] : d.commands) out_ << fmt::format(", {} {}", n, name);
        out_ << "\n";
        if (d.identity)  // ZMTP 1.0/2.0: the greeting carries an identity, which is no message
            out_ << fmt::format(
                "    greeting {}, {}\n", d.greeting,
                d.identity->empty() ? "anonymous" : "identity \"" + *d.identity + "\"");
        if (d.periodic && d.message_interval_ms)
            out_ << fmt::format(
                "    periodic messages every {:.1f} ms (they keep the connection alive)\n",
                d.message_interval_ms->p50);
        const HeartbeatReport& hb = d.heartbeat;
        if (hb.pings) {
            out_ << fmt::format("    heartbeat: {} PING(s)", hb.pings);
            if (hb.interval_ms) out_ << fmt::format(" every {:.1f} ms", hb.interval_ms->p50);
            if (hb.ttl_s) out_ << fmt::format(", TTL {:.1f} s", *hb.ttl_s);
            out_ << fmt::format(", {} PONG(s)", hb.pongs);
            if (hb.pong_rtt_ms) out_ << ", PONG RTT " << summary(*hb.pong_rtt_ms);
            out_ << fmt::format(", {} missed, {} late", hb.missed, hb.late);
            if (hb.unanswered_at_end)
                out_ << fmt::format(", {} unanswered at the end", hb.unanswered_at_end);
            if (hb.answer_unknown)
                out_ << fmt::format(", {} pending at a gap (answer unknown)", hb.answer_unknown);
            out_ << "\n";
        }
        if (d.inferred_heartbeat) inferred_heartbeat(*d.inferred_heartbeat);
        if (d.boxes_not_opened) boxes(d.boxes);
        direction_recovery(d.recovery, d.boxes_not_opened && !d.decrypted_messages);
        if (d.keepalives) {
            out_ << fmt::format("    TCP keep-alive probes: {}", d.keepalives);
            if (d.keepalive_interval_ms)
                out_ << fmt::format(" every {:.1f} s", d.keepalive_interval_ms->p50 / 1000);
            out_ << "\n";
        }
        if (d.retransmissions || d.out_of_order)
            out_ << fmt::format("    TCP: {} retransmission(s), {} out of order\n",
                                d.retransmissions, d.out_of_order);
    }

    void end(const ConnectionReport& c) {
        out_ << "  end: " << c.end;
        if (c.close_time) out_ << " at " << rel(*c.close_time);
        if (!c.end_detail.empty()) out_ << ": " << c.end_detail;
        if (c.end == "heartbeat-timeout")
            out_ << (c.last_pong_before_timeout
                         ? "; last PONG at " + rel(*c.last_pong_before_timeout)
                         : "; no PONG ever");
        out_ << "\n";
        if (c.inferred_end.empty()) return;
        out_ << "  inferred end: " << c.inferred_end << ": ";
        if (c.inferred_pings_stopped && c.closed_by && c.close_time) {
            const Direction peer = zmtp::opposite(*c.closed_by);
            const auto& hb = c.dirs[index_of(peer)].inferred_heartbeat;
            out_ << fmt::format("{} PINGs (inferred)", side(peer));
            if (hb && hb->interval_ms)
                out_ << fmt::format(" every {:.1f} s", hb->interval_ms->p50 / 1000);
            out_ << fmt::format(" stopped at {}; the {} closed {:.1f} s later\n",
                                rel(*c.inferred_pings_stopped), side(*c.closed_by),
                                to_seconds(*c.close_time - *c.inferred_pings_stopped));
        } else {
            out_ << c.inferred_end_detail << "\n";
        }
    }

    static std::string side(Direction d) {
        return d == Direction::ClientToServer ? "client" : "server";
    }

    // Many connections: what they did as a whole, then the details of the first few and of
    // those with problems, and how many were left out.
    void summarized_connections() {
        const auto& all = r_.connections;
        std::map<std::string, uint64_t> mechanisms, socket_types, problem_counts;
        Distribution ready_after, duration;
        uint64_t messages[2] = {0, 0}, never_answered = 0;
        std::vector<const ConnectionReport*> with_problems;
        for (const auto& c : all) {
            mechanisms[mechanism_label(c)]++;
            socket_types[c.socket_types[0] + " -> " + c.socket_types[1] +
                         (c.socket_types_inferred ? " (inferred)" : "")]++;
            if (c.handshake_ms) ready_after.add(int64_t(*c.handshake_ms * 1e6));
            duration.add(c.last - c.start);
            for (Direction d : both_directions)
                messages[index_of(d)] += c.dirs[index_of(d)].messages;
            never_answered += c.unanswered_requests;
            const std::vector<std::string> problems = problems_of(c);
            for (const auto& p : problems) problem_counts[p]++;
            if (!problems.empty()) with_problems.push_back(&c);
        }
        out_ << fmt::format("\nsummary of the {} connections:\n", all.size());
        out_ << "  mechanisms: " << counts(mechanisms) << "\n";
        out_ << "  socket types: " << counts(socket_types) << "\n";
        out_ << fmt::format("  messages: {} client->server, {} server->client\n", messages[0],
                            messages[1]);
        if (const auto s = ready_after.summary()) out_ << "  ready after: " << summary(*s) << "\n";
        if (const auto s = duration.summary()) out_ << "  duration: " << summary(*s) << "\n";
        if (never_answered) out_ << fmt::format("  {} request(s) never answered\n", never_answered);
        if (with_problems.empty()) {
            out_ << "  problems: none found\n";
        } else {
            out_ << fmt::format("  problems: {} connection(s): {}\n", with_problems.size(),
                                counts(problem_counts));
        }

        const size_t first = std::min(all.size(), text_first_connections);
        out_ << fmt::format("\nthe first {} connections:\n", first);
        for (size_t i = 0; i < first; ++i) connection(all[i]);
        size_t shown = first, problems_shown = 0;
        std::erase_if(with_problems, [&](const ConnectionReport* c) { return c->id <= first; });
        if (!with_problems.empty()) {
            problems_shown = std::min(with_problems.size(), text_problem_connections);
            out_ << fmt::format("\nconnections with problems ({} of {}{}):\n", problems_shown,
                                with_problems.size(),
                                first ? fmt::format(" after #{}", first) : std::string());
            for (size_t i = 0; i < problems_shown; ++i) connection(*with_problems[i]);
            shown += problems_shown;
        }
        out_ << fmt::format(
            "\n({} of the {} connections not shown{}; --all-connections prints every one, "
            "--json every figure of each)\n",
            all.size() - shown, all.size(),
            with_problems.size() > problems_shown
                ? fmt::format(", {} of them with problems", with_problems.size() - problems_shown)
                : std::string());
    }

    static std::string mechanism_label(const ConnectionReport& c) {
        if (!c.mechanism_inferred.empty()) return c.mechanism_inferred;
        return c.version.empty() ? c.mechanism : c.mechanism + " " + c.version;
    }

    // "20000 NULL 3.1, 3 CURVE 3.1": most frequent first.
    static std::string counts(const std::map<std::string, uint64_t>& by_name) {
        std::vector<std::pair<std::string, uint64_t>> list(by_name.begin(), by_name.end());
        std::stable_sort(list.begin(), list.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        std::string text;
        for (const auto& [name, n] : list)
            text += fmt::format("{}{} {}", text.empty() ? "" : ", ", n, name);
        return text;
    }

    // What went wrong on a connection, as far as the capture shows: the reasons to detail it
    // among many. A late start alone is the capture's, not the connection's.
    static std::vector<std::string> problems_of(const ConnectionReport& c) {
        std::vector<std::string> problems;
        if (c.handshake == "failed") problems.push_back("failed handshake");
        if (c.end == "heartbeat-timeout" || c.inferred_end == "heartbeat-timeout")
            problems.push_back("heartbeat timeout");
        if (c.unanswered_requests) problems.push_back("requests never answered");
        size_t late_starts = 0;
        bool missed = false, lost = false;
        for (const DirectionReport& d : c.dirs) {
            missed = missed || d.heartbeat.missed;
            late_starts += d.recovery.started_mid_stream;
            lost = lost || d.recovery.gaps > (d.recovery.started_mid_stream ? 1u : 0u);
        }
        if (missed) problems.push_back("PINGs missed");
        if (!c.silences.empty()) problems.push_back("silent past the TTL");
        if (lost || c.gaps.size() > late_starts) problems.push_back("capture lost bytes");
        if (std::any_of(c.notices.begin(), c.notices.end(),
                        [](const Notice& n) { return n.severity == "error"; }))
            problems.push_back("protocol errors");
        return problems;
    }

    void overall() {
        out_ << "\n";
        if (r_.latency_ms) {
            out_ << "request/reply latency, all connections: " << summary(*r_.latency_ms) << "\n";
            for (const auto& [pair, s] : r_.latency_by_pair_ms)
                out_ << "  " << pair << ": " << summary(s) << "\n";
        } else {
            out_ << "request/reply latency: no request/reply pairs\n";
        }
        const size_t shown = std::min<size_t>(r_.outliers.size(), 5);
        for (size_t i = 0; i < shown; ++i) {
            const Outlier& o = r_.outliers[i];
            out_ << fmt::format("  outlier: connection {} request at {} took {:.3f} ms\n",
                                o.connection, rel(o.request_time), o.latency_ms);
        }
        if (r_.outliers.size() > shown)
            out_ << fmt::format("  ({} more outliers in the JSON report)\n",
                                r_.outliers.size() - shown);
        for (const auto& [cause, n] : r_.failures)
            out_ << fmt::format("failed handshakes: {} {}\n", n, cause);
        for (const auto& s : r_.storms)
            out_ << fmt::format(
                "reconnect storm: {} -> {}: {} failed attempts from {} to {}, every {:.1f} ms on "
                "average: {}\n",
                s.client_address, s.server, s.attempts, rel(s.first), rel(s.last),
                s.mean_interval_ms, s.cause);
    }

    const Report& r_;
    std::ostream& out_;
    TextOptions options_;
    Timestamp origin_ = 0;
};

}  // namespace

void write_text(const Report& report, std::ostream& out, TextOptions options) {
    TextWriter(report, out, options).write();
}

void write_csv_header(std::ostream& out) {
    out << "time,connection,direction,frames,bytes,decrypted,response_time_ms,loss,after_gap\n";
}

void write_csv_row(const MessageRecord& m, std::ostream& out) {
    out << fmt::format("{:.6f},{},{},{},{},{},", epoch_seconds(m.time), m.connection,
                       direction_key(m.dir), m.frames, m.bytes, m.decrypted ? "yes" : "no");
    if (m.response_ms) out << fmt::format("{:.3f}", *m.response_ms);
    out << "," << loss_name(m.loss) << "," << (m.after_gap ? "yes" : "no") << "\n";
}

std::string loss_name(zmtp::MessageLoss loss) {
    if (loss == zmtp::MessageLoss::None) return "";
    return std::string(zmtp::message_loss_name(loss));
}

}  // namespace replay
