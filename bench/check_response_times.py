#!/usr/bin/env python3
"""Checks that zmtp-replay and tshark with the plugin found the same response times on a
zmtp-synth capture: zmtp-replay one per exchange (its --csv, response_time_ms), tshark one
per exchange plus one per PONG (-T fields -e zmq.response_time, seconds; the plugin times
PONGs too), and every zmtp-replay time among tshark's, to the microsecond.

usage: check_response_times.py REPLAY.csv TSHARK.txt STATS.json
Exit status 0 when they agree; otherwise 1 with one line per difference.
"""
import collections
import csv
import json
import sys


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        replay = [round(float(row["response_time_ms"]) * 1000)
                  for row in csv.DictReader(f) if row["response_time_ms"]]
    with open(sys.argv[2]) as f:
        tshark = [round(float(t) * 1e6) for line in f for t in line.split(",") if t.strip()]
    with open(sys.argv[3]) as f:
        stats = json.load(f)
    problems = []
    if len(replay) != stats["exchanges"]:
        problems.append(f"zmtp-replay gave {len(replay)} response times for "
                        f"{stats['exchanges']} exchanges")
    if len(tshark) != stats["exchanges"] + stats["heartbeats"]:
        problems.append(f"tshark gave {len(tshark)} response times for {stats['exchanges']} "
                        f"exchanges and {stats['heartbeats']} PONGs")
    missing = collections.Counter(replay) - collections.Counter(tshark)
    if missing:
        problems.append(f"{sum(missing.values())} of zmtp-replay's response times are not "
                        f"among tshark's, e.g. {min(missing) / 1000} ms")
    for p in problems:
        print(f"check_response_times: {p}")
    print(f"response times: zmtp-replay {len(replay)}, tshark {len(tshark)} "
          f"(exchanges {stats['exchanges']}, PONGs {stats['heartbeats']})"
          + ("" if problems else ", the same"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
