// A self-contained HTML report: tables plus inline SVG plots, no scripts, no network.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "writers.hpp"

namespace replay {
namespace {

constexpr int plot_width = 760;
constexpr int plot_height = 260;
constexpr int margin_left = 60, margin_right = 20, margin_top = 20, margin_bottom = 40;
constexpr size_t histogram_bins = 30;
constexpr size_t max_timeline_rows = 200;

std::string escape(const std::string& text) {
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

// Maps data ranges to the plot area.
struct Axes {
    double x0, x1, y0, y1;
    double inner_width() const { return plot_width - margin_left - margin_right; }
    double inner_height() const { return plot_height - margin_top - margin_bottom; }
    double x(double v) const {
        return margin_left + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * inner_width();
    }
    double y(double v) const {
        return plot_height - margin_bottom - (y1 > y0 ? (v - y0) / (y1 - y0) : 0) * inner_height();
    }
};

void axes_svg(std::ostream& out, const Axes& a, const std::string& x_label,
              const std::string& y_label) {
    const int bottom = plot_height - margin_bottom;
    out << fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/>)", margin_left,
                       bottom, plot_width - margin_right);
    out << fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#333"/>)", margin_left,
                       margin_top, bottom);
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11">{:.3g}</text>)", margin_left,
                       bottom + 14, a.x0);
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{:.3g}</text>)",
                       plot_width - margin_right, bottom + 14, a.x1);
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>)",
                       plot_width / 2, bottom + 32, escape(x_label));
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{:.3g}</text>)",
                       margin_left - 4, margin_top + 10, a.y1);
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{:.3g}</text>)",
                       margin_left - 4, bottom, a.y0);
    out << fmt::format(
        R"svg(<text x="14" y="{}" font-size="11" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>)svg",
        plot_height / 2, plot_height / 2, escape(y_label));
}

void svg_open(std::ostream& out, int height = plot_height) {
    out << fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}">)",
        plot_width, height);
}

void latency_histogram(std::ostream& out, const Report& r) {
    if (r.latency_values.empty()) return;
    const double lo = r.latency_values.front().first, hi = r.latency_values.back().first;
    const double width = (hi - lo) / histogram_bins;
    std::vector<size_t> counts(histogram_bins, 0);
    for (const auto& [v, n] : r.latency_values) {
        const size_t bin = width > 0 ? std::min(histogram_bins - 1, size_t((v - lo) / width)) : 0;
        counts[bin] += n;
    }
    const size_t peak = *std::max_element(counts.begin(), counts.end());
    const Axes a{lo, width > 0 ? hi : lo + 1, 0, double(peak)};
    out << "<h2>Request/reply latency</h2>\n";
    svg_open(out);
    axes_svg(out, a, "latency (ms)", "requests");
    const double bar = a.inner_width() / histogram_bins;
    for (size_t i = 0; i < histogram_bins; ++i) {
        if (!counts[i]) continue;
        const double top = a.y(double(counts[i]));
        out << fmt::format(
            R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#4a7ebb"><title>{}</title></rect>)",
            margin_left + i * bar, top, std::max(1.0, bar - 1), plot_height - margin_bottom - top,
            counts[i]);
    }
    out << "</svg>\n";
}

void latency_over_time(std::ostream& out, const Report& r, Timestamp origin) {
    if (r.latency_points.empty()) return;
    double max_ms = 0, max_t = 0;
    for (const auto& p : r.latency_points) {
        max_ms = std::max(max_ms, to_ms(p.duration));
        max_t = std::max(max_t, to_seconds(p.request_time - origin));
    }
    const Axes a{0, std::max(max_t, 1e-3), 0, std::max(max_ms, 1e-3)};
    out << "<h2>Latency over time</h2>\n";
    svg_open(out);
    axes_svg(out, a, "request time (s since capture start)", "latency (ms)");
    for (const auto& p : r.latency_points)
        out << fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2" fill="#c0504d"/>)",
                           a.x(to_seconds(p.request_time - origin)), a.y(to_ms(p.duration)));
    out << "</svg>\n";
}

void ticks(std::ostream& out, const Axes& a, const std::vector<Timestamp>& times, Timestamp origin,
           double y, double length, const char* color) {
    for (Timestamp t : times)
        out << fmt::format(
            R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="{3}"/>)",
            a.x(to_seconds(t - origin)), y, y + length, color);
}

std::string gap_title(const RecoveryEvent& e) {
    if (e.before_start) return "the capture started inside this stream";
    return e.lost_bytes ? fmt::format("gap: {} byte(s) lost", *e.lost_bytes)
                        : std::string("gap of unknown size");
}

void heartbeat_timeline(std::ostream& out, const Report& r, Timestamp origin, Timestamp end) {
    std::vector<const ConnectionReport*> rows;
    for (const auto& c : r.connections) {
        const bool beats = c.dirs[0].heartbeat.pings || c.dirs[1].heartbeat.pings ||
                           c.dirs[0].inferred_heartbeat || c.dirs[1].inferred_heartbeat;
        if (beats || c.end == "heartbeat-timeout" || !c.silences.empty()) rows.push_back(&c);
        if (rows.size() == max_timeline_rows) break;
    }
    if (rows.empty()) return;
    const int row_height = 28;
    const int height = margin_top + int(rows.size()) * row_height + margin_bottom;
    const Axes a{0, std::max(to_seconds(end - origin), 1e-3), 0, 1};
    out << "<h2>Heartbeats</h2>\n<p>Per connection: client PINGs (blue, up), server PINGs (green, "
           "up), PONGs "
           "(grey, down), silences past the TTL (red band), end (black bar; red for a heartbeat "
           "timeout). CURVE without a key: PINGs and PONGs inferred from box sizes (orange, "
           "short ticks; an inferred heartbeat timeout is an orange bar), and times whose bytes "
           "the capture lost (grey band).</p>\n";
    svg_open(out, height);
    for (size_t i = 0; i < rows.size(); ++i) {
        const ConnectionReport& c = *rows[i];
        const double mid = margin_top + double(i) * row_height + row_height / 2.0;
        out << fmt::format(R"(<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">#{}</text>)",
                           margin_left - 4, mid + 4, c.id);
        const Timestamp stop = c.close_time.value_or(c.last);
        out << fmt::format(
            R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#bbb"/>)",
            a.x(to_seconds(c.start - origin)), mid, a.x(to_seconds(stop - origin)), mid);
        for (const auto& s : c.silences) {
            const double x0 = a.x(to_seconds(s.start - origin));
            const double x1 = a.x(to_seconds(s.start - origin) + s.seconds);
            out << fmt::format(
                R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="8" fill="#f4b6b6"/>)", x0,
                mid - 4, std::max(1.0, x1 - x0));
        }
        ticks(out, a, c.dirs[0].heartbeat.ping_times, origin, mid - 10, 8, "#4a7ebb");
        ticks(out, a, c.dirs[1].heartbeat.ping_times, origin, mid - 10, 8, "#3a9a4a");
        ticks(out, a, c.dirs[0].heartbeat.pong_times, origin, mid + 2, 8, "#888");
        ticks(out, a, c.dirs[1].heartbeat.pong_times, origin, mid + 2, 8, "#888");
        for (const auto& d : c.dirs) {
            if (!d.inferred_heartbeat) continue;
            ticks(out, a, d.inferred_heartbeat->ping_times, origin, mid - 7, 5, "#e08a00");
            ticks(out, a, d.inferred_heartbeat->pong_times, origin, mid + 2, 5, "#e08a00");
        }
        for (const auto& e : c.recovery_events)
            if (e.gap)
                out << fmt::format(
                    R"(<rect x="{:.1f}" y="{:.1f}" width="2" height="20" fill="#999"><title>{}</title></rect>)",
                    a.x(to_seconds(e.time - origin)) - 1, mid - 10, escape(gap_title(e)));
        if (c.close_time) {
            const char* color = c.end == "heartbeat-timeout"            ? "#d00"
                                : c.inferred_end == "heartbeat-timeout" ? "#e08a00"
                                                                        : "#000";
            out << fmt::format(
                R"(<rect x="{:.1f}" y="{:.1f}" width="3" height="20" fill="{}"><title>{}</title></rect>)",
                a.x(to_seconds(*c.close_time - origin)) - 1, mid - 10, color, escape(c.end_detail));
        }
    }
    const Axes labels{a.x0, a.x1, 0, 0};
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11">0</text>)", margin_left,
                       height - margin_bottom + 14);
    out << fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="end">{:.3g} s</text>)",
                       plot_width - margin_right, height - margin_bottom + 14, labels.x1);
    out << "</svg>\n";
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
    out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>zmtp-replay "
           "report</title>\n"
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:2px "
           "6px;font-size:13px}th{background:#eee}</style>\n"
           "</head><body>\n<h1>zmtp-replay report</h1>\n";
    std::string inputs;
    for (const auto& i : r.inputs) inputs += (inputs.empty() ? "" : ", ") + i;
    out << fmt::format("<p>{}: {} packets, {} connection(s), from {} to {}.</p>\n", escape(inputs),
                       r.counters.packets, r.connections.size(), utc_time(origin), utc_time(end));
    connection_table(out, r);
    recovery_table(out, r);
    latency_histogram(out, r);
    latency_table(out, r);
    latency_over_time(out, r, origin);
    heartbeat_timeline(out, r, origin, end);
    storms_list(out, r);
    out << "</body></html>\n";
}

}  // namespace replay
