#!/usr/bin/env python3
"""Opens zmtp-replay's --html report in headless Chromium and checks its plots and interactions.

For each capture: zmtp-replay writes the report and its JSON; a copy of the report gets a probe
script and a Content-Security-Policy that forbids every network load (the report's own scripts,
uPlot and the plotting code, are inline). Chromium runs the page and the probe writes into the
DOM (--dump-dom) what the page drew: for each plot, its canvas box, the points and bars handed
to each series, the axis tick labels; then it drives the plots as a person would (drag to zoom,
the wheel, shift-drag to pan, hover for values, double-click to reset) and records what each did.
The figures must match the JSON report: histogram bars counting every latency sample, a point
per sample, a mark per PING and PONG, a row per connection. A screenshot of the same page must
show each plot's colours inside its box, so the plots were painted, not only computed.

usage: render_report.py REPLAY CAPTURES_DIR WORK_DIR SCENARIO...
       render_report.py --send-page HTML JSON WORK_DIR     (zmtp-send's --html, tests/send)
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

PROBE = """
<script>
addEventListener("securitypolicyviolation", e => {
  (window.violations = window.violations || []).push(e.blockedURI + " " + e.violatedDirective);
});
addEventListener("load", () => setTimeout(async () => {
  // uPlot applies scale changes in a microtask: let it before reading them.
  const settle = () => new Promise(r => setTimeout(r, 10));
  const z = window.zmtpscope || {plots: []};
  const mouse = (u, type, fx, opts) => {
    const r = u.over.getBoundingClientRect();
    // uPlot ignores a mousemove without movement while dragging (a stray-event guard).
    const init = Object.assign({bubbles: true, cancelable: true, view: window, button: 0,
                                movementX: type === "mousemove" ? 5 : 0,
                                clientX: r.left + r.width * fx, clientY: r.top + r.height * 0.5},
                               opts || {});
    u.over.dispatchEvent(new MouseEvent(type, init));
  };
  const range = u => [u.scales.x.min, u.scales.x.max];
  const plots = [];
  for (const p of z.plots) {
    const u = p.uplot;
    const box = u.root.querySelector("canvas").getBoundingClientRect();
    const out = {id: p.id, title: p.title, type: p.type, series: p.series, rows: p.rows,
                 bands: p.bands, decimated: p.decimated, drawn: p.drawn,
                 left: box.left + scrollX, top: box.top + scrollY, width: box.width,
                 height: box.height,
                 ticks: u.axes.map(a => (a._values || []).filter(v => v !== "" && v != null))};
    const full = range(u);
    mouse(u, "mousedown", 0.25); mouse(u, "mousemove", 0.5); mouse(u, "mousemove", 0.75);
    mouse(u, "mouseup", 0.75);
    await settle();
    out.drag = {before: full, after: range(u)};
    u.setScale("x", {min: full[0], max: full[1]});
    await settle();
    const w = new WheelEvent("wheel", {bubbles: true, cancelable: true, deltaY: -100,
        clientX: u.over.getBoundingClientRect().left + u.over.getBoundingClientRect().width / 2,
        clientY: u.over.getBoundingClientRect().top + 5});
    Object.defineProperty(w, "offsetX", {value: u.over.getBoundingClientRect().width / 2});
    u.over.dispatchEvent(w);
    await settle();
    out.wheel = range(u);
    const zoomed = range(u);
    mouse(u, "mousedown", 0.5, {shiftKey: true}); mouse(u, "mousemove", 0.3, {shiftKey: true});
    mouse(u, "mouseup", 0.3);
    await settle();
    out.pan = {before: zoomed, after: range(u)};
    u.over.dispatchEvent(new MouseEvent("dblclick", {bubbles: true}));
    await settle();
    out.reset = range(u);
    // Hover: the pointer over the first point of the first series with points.
    let hover = null;
    for (let si = 1; si < u.data.length && hover == null; si++) {
      const i = u.data[si].findIndex(v => v != null);
      if (i < 0) continue;
      const left = u.valToPos(u.data[0][i], "x"), top = u.valToPos(u.data[si][i], "y");
      const r = u.over.getBoundingClientRect();
      const at = {bubbles: true, clientX: r.left + left, clientY: r.top + top, movementX: 1};
      u.over.dispatchEvent(new MouseEvent("mouseenter", at));
      u.over.dispatchEvent(new MouseEvent("mousemove", at));
      await settle();
      hover = {index: u.cursor.idx, values: [...u.root.querySelectorAll(".u-series .u-value")]
                 .map(e => e.textContent)};
    }
    out.hover = hover;
    plots.push(out);
  }
  const out = document.createElement("pre");
  out.id = "render-probe";
  out.textContent = JSON.stringify({plots, errors: z.errors || [], ready: !!z.ready,
                                    violations: window.violations || [],
                                    width: document.documentElement.scrollWidth,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
}, 100));
</script>
"""
CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
       'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">')

BAR, POINT = "#4a7ebb", "#c0504d"
MAX_TIMELINE_ROWS = 200  # write_html.cpp
PAGE_WIDTH = 1100  # the browser window's, for the probe and the screenshot alike
LATENCY_POINTS_MAX = 20000  # report.hpp
TIMELINE_POINTS_MAX = 10000  # report.hpp: the marks of one kind kept per connection side
CLIENT_PING, SERVER_PING, PONG = "#4a7ebb", "#3a9a4a", "#888"

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def chromium(work, *args):
    profile = os.path.join(work, "chromium-profile")
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-background-networking", "--disable-component-update",
               "--disable-default-apps", "--disable-extensions", "--disable-sync",
               "--no-first-run", "--no-default-browser-check", "--mute-audio",
               "--force-device-scale-factor=1", "--user-data-dir=" + profile, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, HOME=work))
    shutil.rmtree(profile, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit("chromium failed (%d): %s" % (result.returncode, result.stderr[-2000:]))
    return result.stdout


def read_png(path):
    """(width, height, rows of (r, g, b) bytes) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, "unexpected PNG format"
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if channels == 3 else
                    bytes(v for j, v in enumerate(line) if j % 4 != 3))
        previous = line
    return width, height, rows


def pixels_near(png, box, colour):
    """Pixels inside box painted in colour over the white page, at least 30% opaque (thin lines
    at fractional positions are antialiased into lighter shades of their colour)."""
    width, height, rows = png
    target = [int(colour[i:i + 2], 16) for i in (1, 3, 5)] if len(colour) == 7 else \
        [int(colour[i] * 2, 16) for i in (1, 2, 3)]
    count = 0
    for y in range(max(0, int(box["top"])), min(height, int(box["top"] + box["height"]))):
        row = rows[y]
        for x in range(max(0, int(box["left"])), min(width, int(box["left"] + box["width"]))):
            pixel = row[3 * x:3 * x + 3]
            if pixel == b"\xff\xff\xff":
                continue
            alphas = [(255 - p) / (255 - t) for p, t in zip(pixel, target)]
            if min(alphas) >= 0.3 and max(alphas) - min(alphas) <= 0.12:
                count += 1
    return count


def expected_figures(report):
    latency = report["latency"]["overall_ms"]
    pings, pongs, messages = [0, 0], 0, [0, 0]
    connections = report["connections"][:MAX_TIMELINE_ROWS]
    for c in connections:
        for i, d in enumerate(("client_to_server", "server_to_client")):
            messages[i] += min(c[d]["messages"], TIMELINE_POINTS_MAX)
        beats = [c[d]["heartbeat"] for d in ("client_to_server", "server_to_client")]
        for i, b in enumerate(beats):
            if b:
                pings[i] += b["pings"]
                pongs += b["pongs"]
    return {"samples": latency["count"] if latency else 0, "rows": len(connections),
            "pings": pings, "pongs": pongs, "messages": messages,
            "silences": sum(len(c["silences"]) for c in connections)}


def plot(probe, plot_id):
    found = [p for p in probe["plots"] if p["id"] == plot_id]
    return found[0] if check(len(found) == 1, "%d plots %r" % (len(found), plot_id)) else None


def series(p, label):
    found = [s for s in p["series"] if s["label"] == label]
    return found[0] if found else {}


def check_interactions(name, p):
    """What dragging, the wheel, shift-drag, double-click and hovering did to plot p."""
    lo, hi = p["drag"]["before"]
    span = hi - lo
    a, b = p["drag"]["after"]
    check(lo - 1e-9 <= a < b <= hi + 1e-9 and (b - a) < 0.8 * span,
          name("%s: dragging over half the plot did not zoom in (%s -> %s)" %
               (p["id"], p["drag"]["before"], p["drag"]["after"])))
    a, b = p["wheel"]
    check(abs((b - a) - 0.75 * span) < 0.01 * span,
          name("%s: the wheel did not zoom to 75%% (%s)" % (p["id"], p["wheel"])))
    (a0, b0), (a1, b1) = p["pan"]["before"], p["pan"]["after"]
    check(a1 > a0 and abs((b1 - a1) - (b0 - a0)) < 1e-6 * max(1, span),
          name("%s: shift-drag did not pan right by the same width (%s -> %s)" %
               (p["id"], p["pan"]["before"], p["pan"]["after"])))
    a, b = p["reset"]
    check(abs(a - lo) < 1e-9 * max(1, span) + 1e-9 and abs(b - hi) < 1e-9 * max(1, span) + 1e-9,
          name("%s: double-click did not reset the zoom (%s, full %s)" % (p["id"], p["reset"],
                                                                          [lo, hi])))
    hover = p["hover"]
    check(hover and hover["index"] is not None and
          any(v not in ("-", "--", "") for v in hover["values"][1:]),
          name("%s: hovering a point showed no value (%s)" % (p["id"], hover)))


def check_scenario(replay, captures, work, scenario, spoil=lambda html: html):
    capture = os.path.join(captures, scenario + ".pcapng")
    keys = os.path.join(captures, scenario + ".keys")
    args = [replay, "-q"] + (["--keylog", keys] if os.path.exists(keys) else [])
    page = os.path.join(work, scenario + ".html")
    subprocess.run(args + ["--html", page, capture], check=True, capture_output=True)
    report = json.loads(subprocess.run(args + ["--json", capture], check=True,
                                       capture_output=True).stdout)
    html = spoil(open(page, encoding="utf-8").read())
    check(not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html, re.I),
          scenario + ": the report refers to something on the network")
    probe = load(work, scenario, html)
    if not probe:
        return
    want = expected_figures(report)
    name = lambda what: "%s: %s" % (scenario, what)
    print("%s: %s" % (scenario, json.dumps(want)))
    png = screenshot(work, scenario, probe)
    check(probe["ready"] and not probe["errors"], name("plots failed: %s" % probe["errors"]))

    if want["samples"]:
        histogram = plot(probe, "latency-histogram")
        if histogram:
            bars = series(histogram, "requests")
            check(bars.get("total") == want["samples"],
                  name("histogram bars count %s samples, the report %d" %
                       (bars.get("total"), want["samples"])))
            check(pixels_near(png, histogram, BAR) > 0, name("no histogram bar painted"))
        scatter = plot(probe, "latency-time")
        if scatter:
            points = series(scatter, "latency").get("points", 0)
            # zmtp-replay keeps every point up to its sample size (report.hpp)
            check(points == min(want["samples"], LATENCY_POINTS_MAX),
                  name("%d points for %d samples" % (points, want["samples"])))
            check(pixels_near(png, scatter, POINT) > 0, name("no latency point painted"))
    beats = plot(probe, "timeline")
    if beats:
        check(beats["rows"] == want["rows"],
              name("%s connection rows, report %d" % (beats["rows"], want["rows"])))
        for label, count in (("client PING", want["pings"][0]), ("server PING", want["pings"][1]),
                             ("PONG", want["pongs"]), ("client message", want["messages"][0]),
                             ("server message", want["messages"][1])):
            got = series(beats, label).get("points")
            check(got == count, name("%s marks %s, report %d" % (label, got, count)))
        check(beats["bands"] == want["silences"],
              name("%s silence bands, report %d" % (beats["bands"], want["silences"])))
        for colour in ([CLIENT_PING] if want["pings"][0] else []) + \
                ([SERVER_PING] if want["pings"][1] else []):
            check(pixels_near(png, beats, colour) > 0, name("no %s mark painted" % colour))
    for p in probe["plots"]:
        check(p["width"] > 0 and p["height"] > 0, name("plot %r has no box" % p["id"]))
        # Real axis ticks: more than the two ends, with units on the x axis.
        y_ticks = p["rows"] if p["type"] == "timeline" else 2  # a timeline: one per row
        check(len(p["ticks"][0]) >= 3 and len(p["ticks"][1]) >= y_ticks,
              name("plot %r has ticks %s" % (p["id"], p["ticks"])))
        check(p["type"] == "histogram" or all(t.endswith(" s") or t.endswith(" ms")
                                              for t in p["ticks"][0]),
              name("plot %r: x ticks without a unit %s" % (p["id"], p["ticks"][0])))
        check_interactions(name, p)


def load(work, label, html):
    """Runs the page with the probe in Chromium; the probe's findings, or None."""
    probed = os.path.join(work, label + ".probe.html")
    with open(probed, "w", encoding="utf-8") as f:
        f.write(html.replace("<head>", "<head>" + CSP, 1).replace("</body>", PROBE + "</body>"))
    # The same width as the screenshot's, so that the plots are laid out the same.
    dom = chromium(work, "--virtual-time-budget=10000", "--window-size=%d,1200" % PAGE_WIDTH,
                   "--dump-dom", "file://" + probed)
    match = re.search(r'<pre id="render-probe">(.*?)</pre>', dom, re.S)
    if not check(match, label + ": the probe did not run (Chromium did not load the page)"):
        return None
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                       .replace("&lt;", "<").replace("&gt;", ">"))
    check(not probe["violations"], label + ": blocked loads %s" % probe["violations"])
    return probe


def screenshot(work, label, probe):
    shot = os.path.join(work, label + ".png")
    chromium(work, "--virtual-time-budget=10000", "--screenshot=" + shot,
             "--window-size=%d,%d" % (PAGE_WIDTH, probe["height"] + 20),
             "file://" + os.path.join(work, label + ".probe.html"))
    return read_png(shot)


def check_send_page(page, report_path, work):
    """zmtp-send's --html page against its --json report: both latency series of every compared
    request, a mark per message sent and per reply, a row per connection, and the same
    interactions as the analysis report's plots."""
    os.makedirs(work, exist_ok=True)
    report = json.load(open(report_path))
    html = open(page, encoding="utf-8").read()
    check(not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html, re.I),
          "send: the report refers to something on the network")
    probe = load(work, "send", html)
    if not probe:
        return
    png = screenshot(work, "send", probe)
    name = lambda what: "send: " + what
    check(probe["ready"] and not probe["errors"], name("plots failed: %s" % probe["errors"]))
    compared = report["latency"]["count"]
    histogram = plot(probe, "latency-histogram")
    if histogram:
        for label in ("captured", "replayed"):
            check(series(histogram, label).get("total") == compared,
                  name("%s histogram counts %s, the report compares %d" %
                       (label, series(histogram, label).get("total"), compared)))
        for colour in ("#4a7ebb", "#c0504d"):
            check(pixels_near(png, histogram, colour) > 0, name("no %s bar painted" % colour))
    scatter = plot(probe, "latency-time")
    if scatter:
        for label in ("captured latency", "replayed latency"):
            check(series(scatter, label).get("points") == compared,
                  name("%s: %s points, %d compared" %
                       (label, series(scatter, label).get("points"), compared)))
        check(pixels_near(png, scatter, "#c0504d") > 0, name("no replayed point painted"))
    timeline = plot(probe, "timeline")
    if timeline:
        connections = report["connections"]
        check(timeline["rows"] == len(connections), name("%s rows" % timeline["rows"]))
        sent = sum(c["messages_sent"] for c in connections)
        replies = sum(c["replies_received"] for c in connections)
        check(series(timeline, "message sent").get("points") == sent,
              name("%s sent marks, %d sent" % (series(timeline, "message sent").get("points"),
                                              sent)))
        check(series(timeline, "reply received").get("points") == replies,
              name("%s reply marks, %d received" %
                   (series(timeline, "reply received").get("points"), replies)))
    for p in probe["plots"]:
        check(p["width"] > 0 and p["height"] > 0, name("plot %r has no box" % p["id"]))
        check_interactions(name, p)
    for f in failures:
        print("FAIL:", f)
    print("send page: %d plot(s), %d failure(s)" % (len(probe["plots"]), len(failures)))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--send-page":
        check_send_page(*sys.argv[2:])
        return 1 if failures else 0
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    replay, captures, work, scenarios = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if not shutil.which("chromium"):
        raise SystemExit("chromium is not installed (scripts/install-deps.sh installs it)")
    os.makedirs(work, exist_ok=True)
    # The check itself must see a wrong plot: a histogram given 5 samples the report lacks.
    check_scenario(replay, captures, work, scenarios[0],
                   spoil=lambda html: html.replace('"values":[[', '"values":[[0.001,5],[', 1))
    caught = len(failures)
    print("self-check: a report with spoiled bars gives %d failure(s)" % caught)
    failures.clear()
    check(caught > 0, "a report with broken histogram bars passed the check")
    for scenario in scenarios:
        check_scenario(replay, captures, work, scenario)
    for f in failures:
        print("FAIL:", f)
    print("%d scenario(s), %d failure(s)" % (len(scenarios), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
