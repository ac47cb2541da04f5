#!/usr/bin/env python3
"""How long a zmtp-replay or zmtp-send HTML report takes to load in headless Chromium.

usage: measure_load.py PAGE [RUNS]

Each run starts a fresh headless Chromium on a copy of PAGE with a probe that records, at the
load event: the time from navigation start to the end of the plots' drawing (performance.now()
when charts.js finished), the time charts.js spent drawing, the points each series was given and
drew (after decimation), then one zoom to the middle tenth of each plot and the time its redraw
took. Prints one line a run and the median. Measures, asserts nothing beyond the plots drawing
without errors.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PROBE = """
<script>
addEventListener("load", async () => {
  const z = window.zmtpscope || {plots: []};
  const out = {ready: !!z.ready, errors: z.errors || [], readyAt: z.readyAt, drawMs: z.drawMs,
               plots: []};
  for (const p of z.plots) {
    const u = p.uplot, {min, max} = u.scales.x, t0 = performance.now();
    u.setScale("x", {min: min + (max - min) * 0.45, max: min + (max - min) * 0.55});
    for (let i = 0; i < 5; i++) await Promise.resolve();  // uPlot redraws in a microtask
    out.plots.push({id: p.id, series: p.series, decimated: p.decimated, drawn: p.drawn,
                    zoomMs: performance.now() - t0, zoomedDrawn: p.drawn});
  }
  const pre = document.createElement("pre");
  pre.id = "load-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def run_once(page, work):
    probed = os.path.join(work, "probe.html")
    html = open(page, encoding="utf-8").read()
    with open(probed, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", PROBE + "</body>"))
    profile = tempfile.mkdtemp(dir=work)
    start = time.monotonic()
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--user-data-dir=" + profile, "--window-size=1100,1200",
                          "--dump-dom", "file://" + probed],
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HOME=work)).stdout
    wall = time.monotonic() - start
    shutil.rmtree(profile, ignore_errors=True)
    match = re.search(r'<pre id="load-probe">(.*?)</pre>', dom, re.S)
    if not match:
        raise SystemExit("the probe did not run")
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                       .replace("&lt;", "<").replace("&gt;", ">"))
    if not probe["ready"] or probe["errors"]:
        raise SystemExit("plots failed: %s" % probe["errors"])
    return wall, probe


def main():
    page = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = tempfile.mkdtemp()
    try:
        results = []
        for i in range(runs):
            wall, probe = run_once(page, work)
            results.append((wall, probe))
            points = {p["id"]: [s.get("points", s.get("total")) for s in p["series"]]
                      for p in probe["plots"]}
            zooms = {p["id"]: round(p["zoomMs"], 1) for p in probe["plots"]}
            print("run %d: chromium %.2f s, plots drawn %.0f ms after navigation start "
                  "(charts.js %.0f ms); points %s; decimated %s; zoom redraw ms %s" %
                  (i + 1, wall, probe["readyAt"], probe["drawMs"], points,
                   {p["id"]: p["decimated"] for p in probe["plots"] if "decimated" in p}, zooms))
        print("median of %d: chromium %.2f s, plots drawn %.0f ms after navigation start, "
              "charts.js %.0f ms; page %.1f MB" %
              (runs, statistics.median(r[0] for r in results),
               statistics.median(r[1]["readyAt"] for r in results),
               statistics.median(r[1]["drawMs"] for r in results),
               os.path.getsize(page) / 1e6))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
