#include "send_report.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>

#include "html_page.hpp"
#include "stats.hpp"
#include "zmtp/wire.hpp"

namespace zmtpsend {
namespace {

std::vector<const RequestResult*> requests_of(const ConnectionResult& c) {
    std::vector<const RequestResult*> out;
    for (const RequestResult& r : c.requests) out.push_back(&r);
    return out;
}

std::vector<const RequestResult*> requests_of(const RunResult& run) {
    std::vector<const RequestResult*> out;
    for (const ConnectionResult& c : run.connections)
        for (const RequestResult& r : c.requests) out.push_back(&r);
    return out;
}

nlohmann::json comparison_json(const Comparison& c) {
    return {{"count", c.count},
            {"captured_ms",
             {{"p50", c.captured_p50},
              {"p90", c.captured_p90},
              {"p99", c.captured_p99},
              {"max", c.captured_max}}},
            {"replayed_ms",
             {{"p50", c.replayed_p50},
              {"p90", c.replayed_p90},
              {"p99", c.replayed_p99},
              {"max", c.replayed_max}}}};
}

nlohmann::json optional_json(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

void write_comparison(const Comparison& c, std::string_view indent, std::ostream& out) {
    if (c.count == 0) return;
    out << fmt::format("{}latency (ms, {} request(s))     p50      p90      p99      max\n", indent,
                       c.count);
    out << fmt::format("{}  captured             {:8.3f} {:8.3f} {:8.3f} {:8.3f}\n", indent,
                       c.captured_p50, c.captured_p90, c.captured_p99, c.captured_max);
    out << fmt::format("{}  replayed             {:8.3f} {:8.3f} {:8.3f} {:8.3f}\n", indent,
                       c.replayed_p50, c.replayed_p90, c.replayed_p99, c.replayed_max);
}

std::string heartbeat_text(const HeartbeatOptions& hb) {
    if (!hb.ivl_ms && !hb.ttl_ms && !hb.timeout_ms) return "none";
    std::string text;
    if (hb.ivl_ms) text += fmt::format("IVL {} ms", *hb.ivl_ms);
    if (hb.ttl_ms) text += fmt::format("{}TTL {} ms", text.empty() ? "" : ", ", *hb.ttl_ms);
    if (hb.timeout_ms)
        text += fmt::format("{}TIMEOUT {} ms", text.empty() ? "" : ", ", *hb.timeout_ms);
    if (hb.from_capture) text += " (from the captured PINGs unless overridden)";
    return text;
}

std::string frames_text(const Frames& frames) {
    std::string text;
    for (size_t i = 0; i < frames.size(); ++i) {
        std::string_view f = frames[i];
        std::string shown = zmtp::printable(f.substr(0, 40));
        if (f.size() > 40) shown += "...";
        text += fmt::format("{}\"{}\"", i ? " | " : "", shown);
    }
    return text;
}

void html_comparison_row(std::ostream& out, const std::string& name, const Comparison& c) {
    out << fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td>"
        "<td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td></tr>\n",
        replay::html::escape(name), c.count, c.captured_p50, c.replayed_p50, c.captured_p90,
        c.replayed_p90, c.captured_p99, c.replayed_p99, c.captured_max, c.replayed_max);
}

// (value, 1) pairs, sorted, for a histogram.
std::vector<std::pair<double, uint64_t>> histogram_values(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::vector<std::pair<double, uint64_t>> out;
    for (double x : v) {
        if (!out.empty() && out.back().first == x)
            out.back().second++;
        else
            out.emplace_back(x, 1);
    }
    return out;
}

nlohmann::json comparison_plots(const RunResult& run) {
    std::vector<double> captured, replayed;
    replay::html::PointSeries cap{"captured latency", "#4a7ebb", {}, {}};
    replay::html::PointSeries rep{"replayed latency", "#c0504d", {}, {}};
    std::vector<std::pair<double, const RequestResult*>> by_time;
    for (const RequestResult* r : requests_of(run))
        if (r->captured_ms && r->replayed_ms) by_time.emplace_back(r->sent_at - run.started_at, r);
    std::sort(by_time.begin(), by_time.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // To the microsecond (times) and the tenth of one (latencies): shorter page data, and no
    // plot tells the difference.
    auto round_to = [](double v, double unit) { return std::round(v / unit) * unit; };
    for (const auto& [t, r] : by_time) {
        const double c = round_to(*r->captured_ms, 1e-4), p = round_to(*r->replayed_ms, 1e-4);
        captured.push_back(c);
        replayed.push_back(p);
        cap.x.push_back(round_to(t, 1e-6));
        cap.y.push_back(c);
        rep.x.push_back(round_to(t, 1e-6));
        rep.y.push_back(p);
    }
    return nlohmann::json::array(
        {replay::html::histogram_plot("latency-histogram",
                                      "Request/reply latency, captured and replayed", "latency",
                                      "ms", "requests",
                                      {{"captured", "#4a7ebb", histogram_values(captured)},
                                       {"replayed", "#c0504d", histogram_values(replayed)}}),
         replay::html::points_plot("latency-time", "Latency of each request, captured and replayed",
                                   "sent, since the run's start", "s", "latency", "ms",
                                   {cap, rep})});
}

nlohmann::json send_timeline(const RunResult& run) {
    nlohmann::json rows = nlohmann::json::array();
    double end = 0;
    auto seconds = [](const std::vector<double>& ms) {
        std::vector<double> s;
        for (double v : ms) s.push_back(v / 1000);
        std::sort(s.begin(), s.end());
        return s;
    };
    for (const ConnectionResult& c : run.connections) {
        nlohmann::json marks{{"sent", seconds(c.send_offsets_ms)},
                             {"reply", seconds(c.reply_offsets_ms)}};
        double first = 0, last = 0;
        for (const auto* v : {&c.send_offsets_ms, &c.reply_offsets_ms})
            for (double ms : *v) {
                last = std::max(last, ms / 1000);
                first = first == 0 ? ms / 1000 : std::min(first, ms / 1000);
            }
        end = std::max(end, last);
        nlohmann::json row{{"label", fmt::format("#{}", c.id)},
                           {"start", first},
                           {"last", last},
                           {"marks", marks},
                           {"bands", nlohmann::json::array()}};
        if (c.failure != Failure::None) {
            row["end"] = last;
            row["end_text"] = std::string(failure_name(c.failure)) + ": " + c.failure_text;
        }
        rows.push_back(std::move(row));
    }
    const nlohmann::json kinds = nlohmann::json::array(
        {{{"key", "sent"}, {"label", "message sent"}, {"color", "#4a7ebb"}, {"offset", 0.15}},
         {{"key", "reply"}, {"label", "reply received"}, {"color", "#3a9a4a"}, {"offset", -0.15}}});
    return {{"id", "timeline"},
            {"type", "timeline"},
            {"title", "Connections: messages sent, replies, failures"},
            {"x_label", "time since the run's start"},
            {"x_unit", "s"},
            {"start", 0.0},
            {"end", end},
            {"kinds", kinds},
            {"rows", rows},
            {"end_color", "#d00000"}};
}

}  // namespace

void write_html(const RunResult& run, std::ostream& out) {
    using replay::html::escape;
    replay::html::write_page_start(out, "zmtp-send report");
    out << "<h1>zmtp-send report</h1>\n";
    out << fmt::format("<p>{} connection(s) to {}, pacing {}, {}; {:.1f} ms; result: {}.</p>\n",
                       run.connections.size(), escape(run.to), escape(run.pacing),
                       escape(run.mechanism), run.elapsed_ms,
                       exit_status(run) == 0
                           ? std::string("ok")
                           : fmt::format("failed (exit status {})", exit_status(run)));
    out << "<h2>Connections</h2>\n<table>\n<tr><th>#</th><th>captured</th><th>sockets</th>"
           "<th>sent</th><th>replies received / captured</th><th>equal</th><th>differ</th>"
           "<th>heartbeat</th><th>result</th></tr>\n";
    for (const ConnectionResult& c : run.connections) {
        out << fmt::format(
            "<tr><td>{}</td><td>{} &rarr; {}</td><td>{} &rarr; {}</td><td>{} / {}</td><td>{} / "
            "{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            c.id, escape(c.captured_client), escape(c.captured_server), escape(c.client_type),
            escape(c.server_type), c.messages_sent, c.messages_to_send,
            c.replies_received - c.unexpected_replies, c.replies_expected, c.replies_equal,
            c.replies_differ, escape(heartbeat_text(c.heartbeat)),
            c.failure == Failure::None
                ? std::string("ok")
                : escape(std::string(failure_name(c.failure)) + ": " + c.failure_text));
    }
    out << "</table>\n<h2>Latency, captured and replayed</h2>\n<table>\n<tr><th></th><th>"
           "requests</th><th>p50 captured</th><th>p50 replayed</th><th>p90 captured</th><th>p90 "
           "replayed</th><th>p99 captured</th><th>p99 replayed</th><th>max captured</th><th>max "
           "replayed</th></tr>\n";
    html_comparison_row(out, "all", compare(requests_of(run)));
    for (const ConnectionResult& c : run.connections)
        html_comparison_row(out, fmt::format("#{}", c.id), compare(requests_of(c)));
    out << "</table>\n";
    std::vector<std::string> differ;
    for (const ConnectionResult& c : run.connections)
        for (const RequestResult& r : c.requests)
            if (!r.first_difference.empty() && differ.size() < 20)
                differ.push_back(fmt::format("#{} reply to message {}: {}", c.id, r.seq + 1,
                                             r.first_difference));
    if (!differ.empty()) {
        out << "<h2>Replies that differ from the captured ones</h2>\n<ul>\n";
        for (const std::string& d : differ) out << "<li>" << escape(d) << "</li>\n";
        out << "</ul>\n";
    }
    nlohmann::json plots = comparison_plots(run);
    out << "<h2>Request/reply latency</h2>\n";
    replay::html::write_plot_box(out, "latency-histogram");
    out << "<h2>Latency over time</h2>\n";
    replay::html::write_plot_box(out, "latency-time");
    out << "<h2>Connection timeline</h2>\n";
    replay::html::write_plot_box(out, "timeline");
    plots.push_back(send_timeline(run));
    replay::html::write_page_end(out, {{"kind", "send"}, {"plots", plots}});
}

Comparison compare(const std::vector<const RequestResult*>& requests) {
    std::vector<double> captured, replayed;
    for (const RequestResult* r : requests) {
        if (!r->captured_ms || !r->replayed_ms) continue;
        captured.push_back(*r->captured_ms);
        replayed.push_back(*r->replayed_ms);
    }
    Comparison c;
    c.count = captured.size();
    if (c.count == 0) return c;
    std::sort(captured.begin(), captured.end());
    std::sort(replayed.begin(), replayed.end());
    c.captured_p50 = replay::percentile(captured, 50);
    c.captured_p90 = replay::percentile(captured, 90);
    c.captured_p99 = replay::percentile(captured, 99);
    c.captured_max = captured.back();
    c.replayed_p50 = replay::percentile(replayed, 50);
    c.replayed_p90 = replay::percentile(replayed, 90);
    c.replayed_p99 = replay::percentile(replayed, 99);
    c.replayed_max = replayed.back();
    return c;
}

int exit_status(const RunResult& run) {
    for (const ConnectionResult& c : run.connections)
        if (c.failure != Failure::None) return int(c.failure);
    return 0;
}

nlohmann::json to_json(const RunResult& run) {
    nlohmann::json j;
    j["to"] = run.to;
    j["pacing"] = run.pacing;
    j["mechanism"] = run.mechanism;
    if (!run.client_key_id.empty()) j["client_public_key_id"] = run.client_key_id;
    j["started_at"] = run.started_at;
    j["elapsed_ms"] = run.elapsed_ms;
    j["exit_status"] = exit_status(run);
    j["latency"] = comparison_json(compare(requests_of(run)));
    nlohmann::json& conns = j["connections"] = nlohmann::json::array();
    for (const ConnectionResult& c : run.connections) {
        nlohmann::json cj;
        cj["id"] = c.id;
        cj["captured"] = {{"client", c.captured_client},
                          {"server", c.captured_server},
                          {"socket_types", {c.client_type, c.server_type}},
                          {"mechanism", c.mechanism}};
        cj["heartbeat"] = {
            {"ivl_ms",
             c.heartbeat.ivl_ms ? nlohmann::json(*c.heartbeat.ivl_ms) : nlohmann::json(nullptr)},
            {"ttl_ms",
             c.heartbeat.ttl_ms ? nlohmann::json(*c.heartbeat.ttl_ms) : nlohmann::json(nullptr)},
            {"timeout_ms", c.heartbeat.timeout_ms ? nlohmann::json(*c.heartbeat.timeout_ms)
                                                  : nlohmann::json(nullptr)},
            {"from_capture", c.heartbeat.from_capture}};
        cj["handshake_ms"] = optional_json(c.handshake_ms);
        cj["messages_to_send"] = c.messages_to_send;
        cj["messages_sent"] = c.messages_sent;
        cj["subscriptions_sent"] = c.subscriptions_sent;
        cj["replies_expected"] = c.replies_expected;
        cj["replies_received"] = c.replies_received;
        cj["replies_equal"] = c.replies_equal;
        cj["replies_differ"] = c.replies_differ;
        cj["unexpected_replies"] = c.unexpected_replies;
        cj["stopped_by_duration"] = c.stopped_by_duration;
        cj["failure"] = failure_name(c.failure);
        if (c.failure != Failure::None) cj["failure_text"] = c.failure_text;
        cj["monitor_events"] = c.monitor_events;
        cj["latency"] = comparison_json(compare(requests_of(c)));
        nlohmann::json& reqs = cj["requests"] = nlohmann::json::array();
        for (const RequestResult& r : c.requests) {
            nlohmann::json rj{{"seq", r.seq},
                              {"captured_ms", optional_json(r.captured_ms)},
                              {"replayed_ms", optional_json(r.replayed_ms)},
                              {"sent_at", r.sent_at},
                              {"reply_at", optional_json(r.reply_at)}};
            rj["reply_equal"] =
                r.reply_equal ? nlohmann::json(*r.reply_equal) : nlohmann::json(nullptr);
            if (!r.first_difference.empty()) rj["first_difference"] = r.first_difference;
            reqs.push_back(std::move(rj));
        }
        cj["send_offsets_ms"] = c.send_offsets_ms;
        cj["reply_offsets_ms"] = c.reply_offsets_ms;
        conns.push_back(std::move(cj));
    }
    return j;
}

void write_text(const RunResult& run, std::ostream& out) {
    out << fmt::format("zmtp-send: {} connection(s) to {}, pacing {}, {}; {:.1f} ms\n",
                       run.connections.size(), run.to, run.pacing, run.mechanism, run.elapsed_ms);
    if (!run.client_key_id.empty()) out << fmt::format("client public key {}\n", run.client_key_id);
    for (const ConnectionResult& c : run.connections) {
        out << fmt::format("#{} {} -> {} (captured)  {} -> {}  {}\n", c.id, c.captured_client,
                           c.captured_server, c.client_type, c.server_type, c.mechanism);
        out << fmt::format("  sent {}/{} message(s)", c.messages_sent, c.messages_to_send);
        if (c.subscriptions_sent) out << fmt::format(", {} subscription(s)", c.subscriptions_sent);
        out << fmt::format(", {}/{} captured repl(ies) received ({} equal, {} differ)",
                           c.replies_received - c.unexpected_replies, c.replies_expected,
                           c.replies_equal, c.replies_differ);
        if (c.unexpected_replies)
            out << fmt::format(", {} more than captured", c.unexpected_replies);
        if (c.handshake_ms) out << fmt::format(", handshake {:.3f} ms", *c.handshake_ms);
        out << "\n";
        out << "  heartbeat: " << heartbeat_text(c.heartbeat) << "\n";
        write_comparison(compare(requests_of(c)), "  ", out);
        size_t shown = 0;
        for (const RequestResult& r : c.requests) {
            if (r.first_difference.empty()) continue;
            if (shown++ == 5) {
                out << "  (more replies differ: see --json)\n";
                break;
            }
            out << fmt::format("  reply to message {} differs: {}\n", r.seq + 1,
                               r.first_difference);
        }
        if (c.stopped_by_duration) out << "  stopped by --duration\n";
        if (c.failure != Failure::None)
            out << fmt::format("  FAILED ({}): {}\n", failure_name(c.failure), c.failure_text);
    }
    if (run.connections.size() > 1) {
        out << "overall\n";
        write_comparison(compare(requests_of(run)), "  ", out);
    }
    const int status = exit_status(run);
    out << (status == 0 ? std::string("result: ok\n")
                        : fmt::format("result: failed (exit status {})\n", status));
}

void write_csv(const RunResult& run, std::ostream& out) {
    out << "connection,message,captured_ms,replayed_ms,sent_at,reply_at,reply_equal\n";
    auto opt = [](const std::optional<double>& v) {
        return v ? fmt::format("{:.6f}", *v) : std::string();
    };
    for (const ConnectionResult& c : run.connections) {
        for (const RequestResult& r : c.requests) {
            out << fmt::format("{},{},{},{},{:.6f},{},{}\n", c.id, r.seq + 1, opt(r.captured_ms),
                               opt(r.replayed_ms), r.sent_at, opt(r.reply_at),
                               r.reply_equal ? (*r.reply_equal ? "yes" : "no") : "");
        }
    }
}

void write_plan(const std::vector<const ConnectionScript*>& scripts, const SendOptions& options,
                std::ostream& out) {
    out << fmt::format("zmtp-send --dry-run: {} connection(s), nothing sent\n", scripts.size());
    Timestamp origin = scripts.empty() ? 0 : scripts.front()->start;
    for (const ConnectionScript* s : scripts) origin = std::min(origin, s->start);
    for (const ConnectionScript* s : scripts) {
        out << fmt::format("#{} {} -> {} (captured)  {} socket, {}\n", s->id, s->client, s->server,
                           zmtp::socket_type_name(s->client_type),
                           zmtp::mechanism_name(s->mechanism));
        if (!s->routing_id.empty())
            out << fmt::format("  routing id \"{}\"\n", zmtp::printable(s->routing_id));
        out << "  heartbeat: " << heartbeat_text(heartbeat_for(*s, options)) << "\n";
        if (s->messages_cut)
            out << fmt::format("  {} message(s) the capture lacks part of: not sent\n",
                               s->messages_cut);
        for (const Subscription& sub : s->subscriptions)
            out << fmt::format("  +{:10.3f} ms  {} \"{}\"\n", double(sub.time - origin) / 1e6,
                               sub.subscribe ? "subscribe" : "unsubscribe",
                               zmtp::printable(sub.topic));
        const size_t n =
            options.max_messages ? std::min(options.max_messages, s->sent.size()) : s->sent.size();
        for (size_t i = 0; i < n; ++i) {
            const CapturedMessage& m = s->sent[i];
            const Frames frames = frames_to_send(s->client_type, m.frames);
            out << fmt::format("  +{:10.3f} ms  message {}: {} frame(s) {}\n",
                               double(m.time - origin) / 1e6, m.seq + 1, frames.size(),
                               frames_text(frames));
        }
    }
}

}  // namespace zmtpsend
