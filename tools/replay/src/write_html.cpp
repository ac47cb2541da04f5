// A self-contained HTML report: tables, and interactive plots drawn by the inlined uPlot from
// the data in the page (html_page.hpp); nothing is loaded from the network.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "html_page.hpp"
#include "writers.hpp"

namespace replay {
namespace {

constexpr size_t max_timeline_rows = 200;
using html::escape;

// Times on the plots: seconds since the capture's first packet, to the microsecond.
double seconds_since(Timestamp t, Timestamp origin) {
    return std::round(to_seconds(t - origin) * 1e6) / 1e6;
}

std::vector<double> seconds_since(const std::vector<Timestamp>& times, Timestamp origin) {
    std::vector<double> out;
    out.reserve(times.size());
    for (Timestamp t : times) out.push_back(seconds_since(t, origin));
    std::sort(out.begin(), out.end());
    return out;
}

nlohmann::json latency_histogram(const Report& r) {
    return html::histogram_plot("latency-histogram", "Request/reply latency", "latency", "ms",
                                "requests", {{"requests", "#4a7ebb", r.latency_values}});
}

nlohmann::json latency_over_time(const Report& r, Timestamp origin) {
    html::PointSeries s{"latency", "#c0504d", {}, {}};
    for (const auto& p : r.latency_points) {  // sorted by request time
        s.x.push_back(seconds_since(p.request_time, origin));
        s.y.push_back(to_ms(p.duration));
    }
    return html::points_plot("latency-time", "Latency over time",
                             "request time since capture "
                             "start",
                             "s", "latency", "ms", {s});
}

// The timeline's marks, in the order of the legend; `offset` lifts a kind above its row.
const nlohmann::json timeline_kinds = nlohmann::json::parse(R"kinds([
  {"key": "client_ping", "label": "client PING", "color": "#4a7ebb", "offset": 0.2},
  {"key": "server_ping", "label": "server PING", "color": "#3a9a4a", "offset": 0.2},
  {"key": "pong", "label": "PONG", "color": "#888888", "offset": -0.2},
  {"key": "inferred_ping", "label": "PING (inferred from box sizes)", "color": "#e08a00",
   "offset": 0.1, "size": 4
},
  {"key": "inferred_pong", "label": "PONG (inferred)", "color": "#e08a00", "offset": -0.1,
   "size": 4},
  {"key": "client_message", "label": "client message", "color": "#b03060", "offset": 0.05,
   "size": 3},
  {"key": "server_message", "label": "server message", "color": "#8064a2", "offset": -0.05,
   "size": 3},
  {"key": "first_message", "label": "first message", "color": "#7030a0", "offset": 0, "size": 8},
  {"key": "gap", "label": "bytes lost", "color": "#999999", "offset": 0, "size": 9}
])kinds");

nlohmann::json timeline_row(const ConnectionReport& c, Timestamp origin) {
    nlohmann::json marks;
    marks["client_ping"] = seconds_since(c.dirs[0].heartbeat.ping_times, origin);
    marks["server_ping"] = seconds_since(c.dirs[1].heartbeat.ping_times, origin);
    std::vector<Timestamp> pongs = c.dirs[0].heartbeat.pong_times;
    pongs.insert(pongs.end(), c.dirs[1].heartbeat.pong_times.begin(),
                 c.dirs[1].heartbeat.pong_times.end());
    marks["pong"] = seconds_since(pongs, origin);
    std::vector<Timestamp> inferred_pings, inferred_pongs;
    for (const auto& d : c.dirs) {
        if (!d.inferred_heartbeat) continue;
        const auto& h = *d.inferred_heartbeat;
        inferred_pings.insert(inferred_pings.end(), h.ping_times.begin(), h.ping_times.end());
        inferred_pongs.insert(inferred_pongs.end(), h.pong_times.begin(), h.pong_times.end());
    }
    marks["inferred_ping"] = seconds_since(inferred_pings, origin);
    marks["inferred_pong"] = seconds_since(inferred_pongs, origin);
    marks["client_message"] = seconds_since(c.dirs[0].message_times, origin);
    marks["server_message"] = seconds_since(c.dirs[1].message_times, origin);
    if (c.first_message_ms)
        marks["first_message"] = {seconds_since(c.start, origin) + *c.first_message_ms / 1000};
    std::vector<Timestamp> gaps;
    for (const auto& e : c.recovery_events)
        if (e.gap) gaps.push_back(e.time);
    marks["gap"] = seconds_since(gaps, origin);
    nlohmann::json bands = nlohmann::json::array();
    for (const auto& s : c.silences)
        bands.push_back({seconds_since(s.start, origin), seconds_since(s.start, origin) + s.seconds,
                         "silence"});
    nlohmann::json row{{"label", fmt::format("#{}", c.id)},
                       {"start", seconds_since(c.start, origin)},
                       {"last", seconds_since(c.last, origin)},
                       {"marks", marks},
                       {"bands", bands}};
    if (c.close_time) {
        row["end"] = seconds_since(*c.close_time, origin);
        row["end_text"] = c.end + (c.end_detail.empty() ? "" : ": " + c.end_detail);
    }
    return row;
}

nlohmann::json connection_timeline(const Report& r, Timestamp origin, Timestamp end) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& c : r.connections) {
        if (rows.size() == max_timeline_rows) break;
        rows.push_back(timeline_row(c, origin));
    }
    return {{"id", "timeline"},
            {"type", "timeline"},
            {"title", "Connections: heartbeats, silences past the TTL, lost bytes, end"},
            {"x_label", "time since capture start"},
            {"x_unit", "s"},
            {"start", 0.0},
            {"end", seconds_since(end, origin)},
            {"kinds", timeline_kinds},
            {"rows", rows},
            {"shown", rows.size()},
            {"connections", r.connections.size()}};
}

// What the capture of a connection lacked, in a few words ("complete" when nothing).
std::string capture_summary(const ConnectionReport& c) {
    uint64_t gaps = 0, lost = 0, resyncs = 0, frames_lost = 0, cut = 0, after = 0;
    for (const auto& d : c.dirs) {
        gaps += d.recovery.gaps - (d.recovery.started_mid_stream ? 1 : 0);
        lost += d.recovery.lost_bytes;
        resyncs += d.recovery.resyncs;
        frames_lost += d.recovery.frames_lost;
        cut += d.recovery.messages_start_lost + d.recovery.messages_end_lost;
        after += d.recovery.messages_after_gap;
    }
    if (!c.started_mid_connection && !gaps && !resyncs && !cut) return "complete";
    std::string text = c.started_mid_connection ? "started mid-connection" : "";
    auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
    if (gaps) add(fmt::format("{} gap(s), {} byte(s) lost", gaps, lost));
    if (resyncs) add(fmt::format("{} resync(s)", resyncs));
    if (frames_lost) add(fmt::format("{} CURVE frame(s) lost", frames_lost));
    if (cut) add(fmt::format("{} message(s) cut", cut));
    add(fmt::format("{} message(s) recovered", after));
    return text;
}

// Per direction: the gaps, resyncs and messages of connections whose capture lacks bytes.
void recovery_table(std::ostream& out, const Report& r) {
    std::vector<const ConnectionReport*> rows;
    for (const auto& c : r.connections)
        if (c.started_mid_connection || c.dirs[0].recovery.any() || c.dirs[1].recovery.any())
            rows.push_back(&c);
    if (rows.empty()) return;
    out << "<h2>Lost bytes and recovery</h2>\n<p>Messages the capture lacks part of are not "
           "counted as messages; requests pending at a gap are never reported as "
           "unanswered.</p>\n<table>\n<tr><th>#</th><th>direction</th><th>started "
           "mid-stream</th><th>gaps</th><th>bytes lost</th><th>resyncs (evidence)</th>"
           "<th>bytes skipped</th><th>CURVE frames lost</th><th>messages cut (start / end "
           "lost)</th><th>messages after the first gap</th><th>requests dropped</th>"
           "<th>pairing</th></tr>\n";
    for (const ConnectionReport* c : rows) {
        for (Direction dir : both_directions) {
            const RecoveryReport& rec = c->dirs[index_of(dir)].recovery;
            std::string evidence;
            for (const auto& [name, n] : rec.resync_evidence)
                evidence += (evidence.empty() ? "" : ", ") + fmt::format("{} {}", n, name);
            out << fmt::format(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}{}</td>"
                "<td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                c->id, direction_key(dir), rec.started_mid_stream ? "yes" : "no", rec.gaps,
                rec.lost_bytes,
                rec.gaps_of_unknown_size
                    ? fmt::format(" (+{} gap(s) of unknown size)", rec.gaps_of_unknown_size)
                    : "",
                rec.resyncs, evidence.empty() ? "" : " (" + escape(evidence) + ")",
                rec.skipped_bytes, rec.frames_lost, rec.messages_start_lost, rec.messages_end_lost,
                rec.messages_after_gap,
                dir == Direction::ClientToServer ? std::to_string(c->requests_dropped) : "",
                dir == Direction::ClientToServer && c->pairing_stopped
                    ? "stopped: " + escape(c->pairing_stopped_reason)
                    : "");
        }
    }
    out << "</table>\n";
}

void connection_table(std::ostream& out, const Report& r) {
    out << "<h2>Connections</h2>\n<table>\n<tr><th>#</th><th>client</th><th>server</"
           "th><th>sockets</th>"
           "<th>mechanism</th><th>decryption</th><th>handshake</th><th>messages c&rarr;s / "
           "s&rarr;c</th>"
           "<th>latency p50 / p99 (ms)</th><th>PINGs c / s</th><th>end</th><th>capture</th>"
           "</tr>\n";
    for (const auto& c : r.connections) {
        const std::string handshake = c.handshake + (c.failure.empty() ? "" : ": " + c.failure);
        const std::string latency =
            c.latency_ms ? fmt::format("{:.3f} / {:.3f}", c.latency_ms->p50, c.latency_ms->p99)
                         : "";
        std::string end = c.end + (c.end_detail.empty() ? "" : ": " + c.end_detail);
        if (!c.inferred_end.empty())
            end += "; inferred: " + c.inferred_end + ": " + c.inferred_end_detail;
        auto pings = [](const DirectionReport& d) {
            return d.inferred_heartbeat ? fmt::format("{} ({} inferred)", d.heartbeat.pings,
                                                      d.inferred_heartbeat->pings)
                                        : std::to_string(d.heartbeat.pings);
        };
        out << fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} "
            "{}</td><td>{}</td><td>{}</td><td>{} / "
            "{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>\n",
            c.id, escape(c.client), escape(c.server),
            escape(c.pair() + (c.socket_types_inferred ? " (inferred)" : "")),
            escape(c.mechanism_inferred.empty() ? c.mechanism : c.mechanism_inferred),
            escape(c.version),
            escape(c.decryption == "not-curve"
                       ? ""
                       : c.decryption + (c.missing_key.empty() ? "" : ": " + c.missing_key)),
            escape(handshake), c.dirs[0].messages, c.dirs[1].messages, latency, pings(c.dirs[0]),
            pings(c.dirs[1]), escape(end), escape(capture_summary(c)));
    }
    out << "</table>\n";
}

void latency_table(std::ostream& out, const Report& r) {
    if (!r.latency_ms) return;
    out << "<table>\n<tr><th>socket "
           "types</th><th>count</th><th>min</th><th>p50</th><th>p90</th><th>p99</th>"
           "<th>max</th></tr>\n";
    auto row = [&](const std::string& name, const Summary& s) {
        out << fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td>"
            "<td>{:.3f}</td></tr>\n",
            escape(name), s.count, s.min, s.p50, s.p90, s.p99, s.max);
    };
    row("all", *r.latency_ms);
    for (const auto& [pair, s] : r.latency_by_pair_ms) row(pair, s);
    out << "</table>\n";
}

void storms_list(std::ostream& out, const Report& r) {
    if (r.storms.empty()) return;
    out << "<h2>Reconnect storms</h2>\n<ul>\n";
    for (const auto& s : r.storms)
        out << fmt::format(
            "<li>{} &rarr; {}: {} failed attempts, every {:.1f} ms on average: {}</li>\n",
            escape(s.client_address), escape(s.server), s.attempts, s.mean_interval_ms,
            escape(s.cause));
    out << "</ul>\n";
}

}  // namespace

void write_html(const Report& r, std::ostream& out) {
    const Timestamp origin = r.first_packet.value_or(0);
    const Timestamp end = r.last_packet.value_or(origin);
    html::write_page_start(out, "zmtp-replay report");
    out << "<h1>zmtp-replay report</h1>\n";
    std::string inputs;
    for (const auto& i : r.inputs) inputs += (inputs.empty() ? "" : ", ") + i;
    out << fmt::format("<p>{}: {} packets, {} connection(s), from {} to {}.</p>\n", escape(inputs),
                       r.counters.packets, r.connections.size(), utc_time(origin), utc_time(end));
    connection_table(out, r);
    recovery_table(out, r);
    nlohmann::json plots = nlohmann::json::array();
    if (!r.latency_values.empty()) {
        out << "<h2>Request/reply latency</h2>\n";
        html::write_plot_box(out, "latency-histogram");
        plots.push_back(latency_histogram(r));
        latency_table(out, r);
        out << fmt::format("<h2>Latency over time</h2>\n<p>{} request(s){}.</p>\n",
                           r.latency_points.size(),
                           r.latency_ms && r.latency_ms->count > r.latency_points.size()
                               ? fmt::format(", a sample of the {}", r.latency_ms->count)
                               : "");
        html::write_plot_box(out, "latency-time");
        plots.push_back(latency_over_time(r, origin));
    }
    if (!r.connections.empty()) {
        out << "<h2>Connection timeline</h2>\n<p>One row a connection: client PINGs (blue) and "
               "server PINGs (green) above the line, PONGs (grey) below, PINGs and PONGs "
               "inferred from CURVE box sizes (orange), messages (small dots: client crimson, "
               "server "
               "violet), the first message (purple), lost bytes (grey dot), silences past the "
               "announced TTL (red band), and the end (black).";
        const bool marks_cut = std::any_of(r.connections.begin(), r.connections.end(), [](auto& c) {
            return c.dirs[0].messages > timeline_points_max ||
                   c.dirs[1].messages > timeline_points_max;
        });
        if (marks_cut)
            out << fmt::format(" Each side's first {} messages are marked.", timeline_points_max);
        if (r.connections.size() > max_timeline_rows)
            out << fmt::format(" The first {} of {} connections.", max_timeline_rows,
                               r.connections.size());
        out << "</p>\n";
        html::write_plot_box(out, "timeline");
        plots.push_back(connection_timeline(r, origin, end));
    }
    storms_list(out, r);
    html::write_page_end(out, {{"kind", "analysis"}, {"plots", plots}});
}

namespace html {

std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

// The vendored uPlot (html/LICENSE.uPlot) and the plotting code, as raw string literals.
constexpr std::string_view uplot_js =
#include "html/uPlot.iife.min.js.inc"
    ;
constexpr std::string_view uplot_css =
#include "html/uPlot.min.css.inc"
    ;
constexpr std::string_view charts_js =
#include "html/charts.js.inc"
    ;

}  // namespace

void write_page_start(std::ostream& out, std::string_view title) {
    out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escape(title)
        << "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
           "collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}th{background:"
           "#eee}.zmtp-plot{margin:1em 0}.zmtp-help{color:#555;font-size:13px}</style>\n<style>"
        << uplot_css << "</style>\n<script>" << uplot_js << "</script>\n<script>" << charts_js
        << "</script>\n</head><body>\n<p class=\"zmtp-help\">Plots: drag to zoom, mouse wheel "
           "to zoom around the pointer, shift-drag to pan, double-click to reset; values under "
           "the pointer are in each plot's legend.</p>\n";
}

void write_plot_box(std::ostream& out, std::string_view id) {
    out << "<div id=\"" << escape(id) << "\"></div>\n";
}

void write_page_end(std::ostream& out, const nlohmann::json& data) {
    // "</" inside the JSON would end the script element early.
    std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 2))
        text.replace(at, 2, "<\\/");
    out << "<script type=\"application/json\" id=\"zmtp-data\">" << text
        << "</script>\n</body></html>\n";
}

nlohmann::json points_plot(std::string_view id, std::string_view title, std::string_view x_label,
                           std::string_view x_unit, std::string_view y_label,
                           std::string_view y_unit, const std::vector<PointSeries>& series) {
    nlohmann::json s = nlohmann::json::array();
    for (const PointSeries& p : series)
        s.push_back({{"label", p.label}, {"color", p.color}, {"x", p.x}, {"y", p.y}});
    return {{"id", id},         {"type", "points"},   {"title", title},   {"x_label", x_label},
            {"x_unit", x_unit}, {"y_label", y_label}, {"y_unit", y_unit}, {"series", s}};
}

nlohmann::json histogram_plot(std::string_view id, std::string_view title, std::string_view x_label,
                              std::string_view x_unit, std::string_view y_label,
                              const std::vector<HistogramSeries>& series) {
    nlohmann::json s = nlohmann::json::array();
    for (const HistogramSeries& h : series)
        s.push_back({{"label", h.label}, {"color", h.color}, {"values", h.values}});
    return {{"id", id},         {"type", "histogram"}, {"title", title}, {"x_label", x_label},
            {"x_unit", x_unit}, {"y_label", y_label},  {"series", s}};
}

}  // namespace html
}  // namespace replay
