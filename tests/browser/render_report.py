#!/usr/bin/env python3
"""Opens zmtp-replay's --html report in headless Chromium and checks that its plots render.

For each capture: zmtp-replay writes the report and its JSON; a copy of the report gets a
probe script (the report itself has none) and a Content-Security-Policy that forbids every
network load. Chromium lays the copy out and the probe writes what the browser made of each
plot into the DOM (--dump-dom): its box on the page, and every shape the browser gave a
nonzero size, by colour. The figures must match the JSON report: one histogram bar count per
latency sample, a point per sample, a tick per PING and PONG, a row per connection with
heartbeats. A screenshot of the same page must show each plot's colours inside its box, so the
plots were painted, not only parsed.

usage: render_report.py REPLAY CAPTURES_DIR WORK_DIR SCENARIO...
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
addEventListener("load", () => {
  const heading = svg => {
    for (let e = svg.previousElementSibling; e; e = e.previousElementSibling)
      if (e.tagName === "H2") return e.textContent;
    return "";
  };
  const colour = e => (e.getAttribute("fill") || e.getAttribute("stroke") || "").toLowerCase();
  const plots = [...document.querySelectorAll("svg")].map(svg => {
    const box = svg.getBoundingClientRect();
    const shapes = {};
    let titled = 0;
    for (const e of svg.querySelectorAll("rect, circle, line")) {
      const b = e.getBBox();
      const r = e.getBoundingClientRect();
      if (!(r.width > 0 || r.height > 0) || !(b.width > 0 || b.height > 0)) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
          r.bottom > box.bottom + 1) continue;  // drawn outside its plot
      const key = e.tagName + " " + colour(e);
      shapes[key] = (shapes[key] || 0) + 1;
      const t = e.querySelector("title");
      if (e.tagName === "rect" && t && /^[0-9]+$/.test(t.textContent)) titled += +t.textContent;
    }
    return {heading: heading(svg), left: box.left + scrollX, top: box.top + scrollY,
            width: box.width, height: box.height, shapes, titled};
  });
  const out = document.createElement("pre");
  out.id = "render-probe";
  out.textContent = JSON.stringify({plots, violations: window.violations || [],
                                    width: document.documentElement.scrollWidth,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>
"""
CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
       'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">')

BAR, POINT = "#4a7ebb", "#c0504d"
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
    rows, pings, pongs = 0, [0, 0], 0
    for c in report["connections"]:
        beats = [c[d]["heartbeat"] for d in ("client_to_server", "server_to_client")]
        has = any(b and b["pings"] for b in beats)
        if has or c["end"]["kind"] == "heartbeat-timeout" or c["silences"]:
            rows += 1
            for i, b in enumerate(beats):
                if b:
                    pings[i] += b["pings"]
                    pongs += b["pongs"]
    return {"samples": latency["count"] if latency else 0, "rows": rows, "pings": pings,
            "pongs": pongs}


def plot(probe, title):
    found = [p for p in probe["plots"] if p["heading"] == title]
    return found[0] if check(len(found) == 1, "%d plots titled %r" % (len(found), title)) else None


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
    check("<script" not in html.lower(), scenario + ": the report has a script")

    probed = os.path.join(work, scenario + ".probe.html")
    with open(probed, "w", encoding="utf-8") as f:
        f.write(html.replace("<head>", "<head>" + CSP, 1).replace("</body>", PROBE + "</body>"))
    dom = chromium(work, "--dump-dom", "file://" + probed)
    match = re.search(r'<pre id="render-probe">(.*?)</pre>', dom, re.S)
    if not check(match, scenario + ": the probe did not run (Chromium did not load the page)"):
        return
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                       .replace("&lt;", "<").replace("&gt;", ">"))
    check(not probe["violations"], scenario + ": blocked loads %s" % probe["violations"])

    shot = os.path.join(work, scenario + ".png")
    chromium(work, "--screenshot=" + shot,
             "--window-size=%d,%d" % (max(900, probe["width"]), probe["height"] + 20),
             "file://" + probed)
    png = read_png(shot)
    want = expected_figures(report)
    name = lambda what: "%s: %s" % (scenario, what)
    print("%s: %s" % (scenario, json.dumps(want)))

    if want["samples"]:
        histogram = plot(probe, "Request/reply latency")
        if histogram:
            check(histogram["width"] > 0 and histogram["height"] > 0, name("histogram has no box"))
            check(histogram["titled"] == want["samples"],
                  name("histogram bars count %d samples, the report %d" %
                       (histogram["titled"], want["samples"])))
            check(pixels_near(png, histogram, BAR) > 0, name("no histogram bar painted"))
        scatter = plot(probe, "Latency over time")
        if scatter:
            points = scatter["shapes"].get("circle " + POINT, 0)
            check(0 < points <= want["samples"],
                  name("%d points laid out for %d samples" % (points, want["samples"])))
            check(pixels_near(png, scatter, POINT) > 0, name("no latency point painted"))
    if want["rows"]:
        beats = plot(probe, "Heartbeats")
        if beats:
            shapes = beats["shapes"]
            check(shapes.get("line " + CLIENT_PING, 0) == want["pings"][0],
                  name("client PING ticks %s, report %d" %
                       (shapes.get("line " + CLIENT_PING), want["pings"][0])))
            check(shapes.get("line " + SERVER_PING, 0) == want["pings"][1],
                  name("server PING ticks %s, report %d" %
                       (shapes.get("line " + SERVER_PING), want["pings"][1])))
            check(shapes.get("line " + PONG, 0) == want["pongs"],
                  name("PONG ticks %s, report %d" % (shapes.get("line " + PONG), want["pongs"])))
            check(shapes.get("line #bbb", 0) == want["rows"],
                  name("%s connection rows, report %d" % (shapes.get("line #bbb"), want["rows"])))
            for colour in ([CLIENT_PING] if want["pings"][0] else []) + \
                    ([SERVER_PING] if want["pings"][1] else []):
                check(pixels_near(png, beats, colour) > 0, name("no %s tick painted" % colour))
    for p in probe["plots"]:
        check(p["width"] > 0 and p["height"] > 0, name("plot %r has no box" % p["heading"]))


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    replay, captures, work, scenarios = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if not shutil.which("chromium"):
        raise SystemExit("chromium is not installed (scripts/install-deps.sh installs it)")
    os.makedirs(work, exist_ok=True)
    # The check itself must see a broken plot: a histogram drawn in a tag SVG does not know.
    check_scenario(replay, captures, work, scenarios[0],
                   spoil=lambda html: html.replace("<rect", "<rectangle", 3))
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
