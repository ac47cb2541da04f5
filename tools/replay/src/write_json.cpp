#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "writers.hpp"

namespace replay {
namespace {

using nlohmann::ordered_json;

ordered_json optional_number(const std::optional<double>& v) {
    return v ? ordered_json(std::round(*v * 1000) / 1000) : ordered_json();
}

ordered_json time_json(const std::optional<Timestamp>& t) {
    return t ? ordered_json(epoch_seconds(*t)) : ordered_json();
}

ordered_json summary_json(const std::optional<Summary>& s) {
    if (!s) return nullptr;
    auto r = [](double v) { return std::round(v * 1000) / 1000; };
    return {{"count", s->count}, {"min", r(s->min)}, {"p50", r(s->p50)},  {"p90", r(s->p90)},
            {"p99", r(s->p99)},  {"max", r(s->max)}, {"mean", r(s->mean)}};
}

ordered_json heartbeat_json(const HeartbeatReport& hb) {
    return {{"pings", hb.pings},
            {"pongs", hb.pongs},
            {"missed", hb.missed},
            {"late", hb.late},
            {"unanswered_at_end", hb.unanswered_at_end},
            {"ttl_s", optional_number(hb.ttl_s)},
            {"interval_ms", summary_json(hb.interval_ms)},
            {"pong_rtt_ms", summary_json(hb.pong_rtt_ms)},
            {"first_ping", time_json(hb.first_ping)},
            {"last_ping", time_json(hb.last_ping)},
            {"last_pong", time_json(hb.last_pong)},
            {"answer_unknown", hb.answer_unknown}};
}

ordered_json inferred_heartbeat_json(const std::optional<InferredHeartbeatReport>& hb) {
    if (!hb) return nullptr;
    return {{"pings", hb->pings},
            {"pongs", hb->pongs},
            {"unanswered", hb->unanswered},
            {"answer_unknown", hb->answer_unknown},
            {"interval_ms", summary_json(hb->interval_ms)},
            {"pong_rtt_ms", summary_json(hb->pong_rtt_ms)},
            {"first_ping", time_json(hb->first_ping)},
            {"last_ping", time_json(hb->last_ping)},
            {"last_pong", time_json(hb->last_pong)}};
}

ordered_json optional_count(const std::optional<uint64_t>& v) {
    return v ? ordered_json(*v) : ordered_json();
}

ordered_json boxes_json(const BoxReport& b) {
    if (b.count == 0) return nullptr;
    ordered_json sizes = ordered_json::object();
    for (const auto& [size, count] : b.sizes) sizes[std::to_string(size)] = count;
    return {{"count", b.count},
            {"bytes", b.bytes},
            {"min_size", b.min_size},
            {"max_size", b.max_size},
            {"sizes", sizes},
            {"sizes_other", b.sizes_other},
            {"first_nonce", optional_count(b.first_nonce)},
            {"last_nonce", optional_count(b.last_nonce)},
            {"nonces_not_increasing", b.nonces_not_increasing}};
}

ordered_json recovery_json(const RecoveryReport& r) {
    ordered_json evidence = ordered_json::object();
    for (const auto& [name, count] : r.resync_evidence) evidence[name] = count;
    return {{"started_mid_stream", r.started_mid_stream},
            {"gaps", r.gaps},
            {"lost_bytes", r.lost_bytes},
            {"gaps_of_unknown_size", r.gaps_of_unknown_size},
            {"resyncs", r.resyncs},
            {"skipped_bytes", r.skipped_bytes},
            {"resync_evidence", evidence},
            {"frames_lost", r.frames_lost},
            {"messages_cut",
             {{"start_lost", r.messages_start_lost},
              {"end_lost", r.messages_end_lost},
              {"frames", r.cut_frames},
              {"bytes", r.cut_bytes}}},
            {"messages_after_gap", r.messages_after_gap},
            {"resyncing_at_end", r.resyncing_at_end}};
}

ordered_json direction_json(const DirectionReport& d) {
    ordered_json commands = ordered_json::object();
    for (const auto& [name, count] : d.commands) commands[name] = count;
    return {{"greeting", d.greeting.empty() ? ordered_json() : ordered_json(d.greeting)},
            {"identity", d.identity ? ordered_json(*d.identity) : ordered_json()},
            {"messages", d.messages},
            {"frames", d.frames},
            {"bytes", d.bytes},
            {"decrypted_messages", d.decrypted_messages},
            {"boxes_not_opened", d.boxes_not_opened},
            {"commands", commands},
            {"message_interval_ms", summary_json(d.message_interval_ms)},
            {"periodic", d.periodic},
            {"heartbeat", heartbeat_json(d.heartbeat)},
            {"tcp_keepalives", d.keepalives},
            {"tcp_keepalive_interval_ms", summary_json(d.keepalive_interval_ms)},
            {"packets", d.packets},
            {"payload_bytes", d.payload_bytes},
            {"retransmissions", d.retransmissions},
            {"out_of_order", d.out_of_order},
            {"longest_silence_s", std::round(d.longest_silence_s * 1000) / 1000},
            {"inferred_heartbeat", inferred_heartbeat_json(d.inferred_heartbeat)},
            {"boxes", boxes_json(d.boxes)},
            {"recovery", recovery_json(d.recovery)}};
}

ordered_json connection_recovery_json(const ConnectionReport& c) {
    ordered_json events = ordered_json::array();
    for (const auto& e : c.recovery_events) {
        ordered_json j = {{"time", epoch_seconds(e.time)},
                          {"direction", direction_key(e.dir)},
                          {"kind", e.gap ? "gap" : "resync"},
                          {"offset", e.offset}};
        if (e.gap) {
            j["lost_bytes"] = optional_count(e.lost_bytes);
            j["before_start"] = e.before_start;
            j["requests_dropped"] = e.requests_dropped;
        } else {
            j["skipped_bytes"] = e.skipped_bytes;
            j["evidence"] = e.evidence;
            j["frames_lost"] = optional_count(e.frames_lost);
        }
        events.push_back(std::move(j));
    }
    return {{"started_mid_connection", c.started_mid_connection},
            {"requests_dropped", c.requests_dropped},
            {"pairing_stopped", c.pairing_stopped},
            {"pairing_stopped_reason", c.pairing_stopped_reason.empty()
                                           ? ordered_json()
                                           : ordered_json(c.pairing_stopped_reason)},
            {"events", events},
            {"events_dropped", c.recovery_events_dropped}};
}

ordered_json connection_json(const ConnectionReport& c) {
    ordered_json silences = ordered_json::array();
    for (const auto& s : c.silences)
        silences.push_back({{"direction", direction_key(s.dir)},
                            {"start", epoch_seconds(s.start)},
                            {"seconds", std::round(s.seconds * 1000) / 1000},
                            {"ttl_s", s.ttl_s}});
    ordered_json notices = ordered_json::array();
    for (const auto& n : c.notices)
        notices.push_back({{"time", epoch_seconds(n.time)},
                           {"direction", direction_key(n.dir)},
                           {"code", n.code},
                           {"severity", n.severity},
                           {"text", n.text}});
    ordered_json gaps = ordered_json::array();
    for (const auto& g : c.gaps)
        gaps.push_back({{"time", epoch_seconds(g.time)},
                        {"direction", direction_key(g.dir)},
                        {"reason", g.reason}});
    auto text_or_null = [](const std::string& s) {
        return s.empty() ? ordered_json() : ordered_json(s);
    };
    return {
        {"id", c.id},
        {"client", c.client},
        {"server", c.server},
        {"socket_types", {c.socket_types[0], c.socket_types[1]}},
        {"mechanism", c.mechanism},
        {"version", text_or_null(c.version)},
        {"start", epoch_seconds(c.start)},
        {"last", epoch_seconds(c.last)},
        {"duration_s", std::round(to_seconds(c.last - c.start) * 1e6) / 1e6},
        {"tcp",
         {{"syn_seen", c.saw_syn},
          {"connect_rtt_ms", optional_number(c.connect_rtt_ms)},
          {"gaps", gaps}}},
        {"handshake",
         {{"state", c.handshake},
          {"cause", text_or_null(c.failure_cause)},
          {"failure", text_or_null(c.failure)},
          {"greeting_ms", optional_number(c.greeting_ms)},
          {"hello_to_ready_ms", optional_number(c.hello_to_ready_ms)},
          {"handshake_ms", optional_number(c.handshake_ms)},
          {"first_message_ms", optional_number(c.first_message_ms)},
          {"wrong_server_key", c.wrong_server_key}}},
        {"decryption",
         {{"state", c.decryption},
          {"missing_key", text_or_null(c.missing_key)},
          {"client_ephemeral", text_or_null(c.client_ephemeral)}}},
        {"client_to_server", direction_json(c.dirs[0])},
        {"server_to_client", direction_json(c.dirs[1])},
        {"latency_ms", summary_json(c.latency_ms)},
        {"unanswered_requests", c.unanswered_requests},
        {"silences", silences},
        {"end",
         {{"kind", c.end},
          {"closed_by",
           c.closed_by
               ? ordered_json(*c.closed_by == Direction::ClientToServer ? "client" : "server")
               : ordered_json()},
          {"time", time_json(c.close_time)},
          {"detail", text_or_null(c.end_detail)},
          {"silent_since", time_json(c.silent_since)},
          {"last_pong", time_json(c.last_pong_before_timeout)},
          {"inferred", c.inferred_end.empty()
                           ? ordered_json()
                           : ordered_json{{"cause", c.inferred_end},
                                          {"detail", c.inferred_end_detail},
                                          {"pings_stopped", time_json(c.inferred_pings_stopped)},
                                          {"silent_since", time_json(c.inferred_silent_since)},
                                          {"last_pong", time_json(c.inferred_last_pong)}}}}},
        {"notices", notices},
        {"notices_dropped", c.notices_dropped},
        {"socket_types_inferred", c.socket_types_inferred},
        {"mechanism_inferred", text_or_null(c.mechanism_inferred)},
        {"recovery", connection_recovery_json(c)},
    };
}

ordered_json capture_json(const Report& r) {
    ordered_json undecoded = ordered_json::object();
    for (const auto& [status, count] : r.counters.undecoded)
        undecoded[std::string(zmtp::tracker::decode_status_name(status))] = count;
    const double duration =
        r.first_packet && r.last_packet ? to_seconds(*r.last_packet - *r.first_packet) : 0;
    return {{"inputs", r.inputs},
            {"first_packet", time_json(r.first_packet)},
            {"last_packet", time_json(r.last_packet)},
            {"duration_s", std::round(duration * 1e6) / 1e6},
            {"packets", r.counters.packets},
            {"tcp_packets", r.counters.tcp_packets},
            {"zmtp_packets", r.counters.zmtp_packets},
            {"ignored_packets", r.counters.ignored_packets},
            {"undecoded", undecoded},
            {"warnings", r.input_warnings}};
}

ordered_json latency_json(const Report& r) {
    ordered_json by_pair = ordered_json::object();
    for (const auto& [pair, s] : r.latency_by_pair_ms) by_pair[pair] = summary_json(s);
    ordered_json outliers = ordered_json::array();
    for (const auto& o : r.outliers)
        outliers.push_back({{"connection", o.connection},
                            {"request_time", epoch_seconds(o.request_time)},
                            {"latency_ms", std::round(o.latency_ms * 1000) / 1000}});
    return {{"overall_ms", summary_json(r.latency_ms)},
            {"by_socket_types_ms", by_pair},
            {"outliers", outliers}};
}

ordered_json storms_json(const Report& r) {
    ordered_json storms = ordered_json::array();
    for (const auto& s : r.storms)
        storms.push_back({{"client", s.client_address},
                          {"server", s.server},
                          {"attempts", s.attempts},
                          {"first", epoch_seconds(s.first)},
                          {"last", epoch_seconds(s.last)},
                          {"mean_interval_ms", std::round(s.mean_interval_ms * 1000) / 1000},
                          {"cause", s.cause},
                          {"connections", s.connections}});
    return storms;
}

template <typename Map>
ordered_json counts_json(const Map& m) {
    ordered_json j = ordered_json::object();
    for (const auto& [k, v] : m) j[k] = v;
    return j;
}

}  // namespace

void write_json(const Report& report, std::ostream& out) {
    ordered_json root = {
        {"schema", "zmtp-replay/1"},
        {"capture", capture_json(report)},
        {"keys",
         {{"files", report.keys.files},
          {"loaded", report.keys.keys},
          {"warnings", report.keys.warnings}}},
        {"summary",
         {{"connections", report.connections.size()},
          {"handshakes", counts_json(report.handshakes)},
          {"failures", counts_json(report.failures)},
          {"ends", counts_json(report.ends)}}},
        {"latency", latency_json(report)},
        {"reconnect_storms", storms_json(report)},
    };
    // Strings are printable ASCII already; replacing stays a safety net for any other byte.
    const auto dump = [](const ordered_json& j) {
        return j.dump(2, ' ', false, ordered_json::error_handler_t::replace);
    };
    // The connections go out one at a time, so memory does not grow with their number.
    std::string head = dump(root);
    head.resize(head.size() - 2);  // the closing "\n}"
    out << head << ",\n  \"connections\": [";
    bool first = true;
    for (const auto& c : report.connections) {
        std::string text = dump(connection_json(c));
        out << (first ? "\n    " : ",\n    ");
        first = false;
        size_t from = 0;
        for (size_t newline; (newline = text.find('\n', from)) != std::string::npos;
             from = newline + 1)
            out.write(text.data() + from, std::streamsize(newline + 1 - from)) << "    ";
        out.write(text.data() + from, std::streamsize(text.size() - from));
    }
    out << (first ? "]\n}\n" : "\n  ]\n}\n");
}

}  // namespace replay
