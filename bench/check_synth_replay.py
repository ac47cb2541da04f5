#!/usr/bin/env python3
"""Checks a zmtp-replay JSON report of a zmtp-synth capture against what zmtp-synth says it
wrote (its --stats file): every connection ready and closed with FIN, every message, frame,
payload byte, PING and PONG seen, one latency sample per exchange, and under CURVE every
message decrypted.

usage: check_synth_replay.py REPORT.json STATS.json
Exit status 0 when everything matches; otherwise 1 with one line per difference.
"""
import json
import sys


def totals(report):
    t = {"messages": 0, "frames": 0, "bytes": 0, "decrypted": 0, "PING": 0, "PONG": 0}
    for c in report["connections"]:
        for side in ("client_to_server", "server_to_client"):
            d = c[side]
            t["messages"] += d["messages"]
            t["frames"] += d["frames"]
            t["bytes"] += d["bytes"]
            t["decrypted"] += d["decrypted_messages"]
            for name in ("PING", "PONG"):
                t[name] += d["commands"].get(name, 0)
    return t


def differences(report, stats):
    n = stats["connections"]
    t = totals(report)
    # REQ/REP messages start with an empty delimiter frame.
    delimiters = stats["messages"] if stats["pattern"] == "req-rep" else 0
    expected = [
        ("connections", report["summary"]["connections"], n),
        ("ready handshakes", report["summary"]["handshakes"].get("ready", 0), n),
        ("FIN ends", report["summary"]["ends"].get("fin", 0), n),
        ("messages", t["messages"], stats["messages"]),
        ("frames", t["frames"], stats["frames"] + delimiters),
        ("payload bytes", t["bytes"], stats["payload_bytes"]),
        ("PINGs", t["PING"], stats["heartbeats"]),
        ("PONGs", t["PONG"], stats["heartbeats"]),
        ("latency samples", (report["latency"]["overall_ms"] or {}).get("count", 0),
         stats["exchanges"]),
    ]
    if stats["mechanism"] == "CURVE":
        decrypted = sum(c["decryption"]["state"] == "decrypted" for c in report["connections"])
        expected += [("decrypted connections", decrypted, n),
                     ("decrypted messages", t["decrypted"], stats["messages"])]
    return [f"{what}: zmtp-replay reports {got}, zmtp-synth wrote {want}"
            for what, got, want in expected if got != want]


def main():
    if len(sys.argv) != 3:
        print("usage: check_synth_replay.py REPORT.json STATS.json", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as r, open(sys.argv[2]) as s:
        report, stats = json.load(r), json.load(s)
    problems = differences(report, stats)
    for p in problems:
        print(f"check_synth_replay: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
