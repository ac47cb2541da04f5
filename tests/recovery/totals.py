#!/usr/bin/env python3
"""The totals of the derived-capture tests (tests/recovery/README.md): the result each run of
replay_recovery.py and tshark_recovery.py left, summed per tool and key mode.

Usage: totals.py --results DIR --captures DIR --tools zmtp-replay,tshark
Exit code 0 when every run that should have left a result did (passed, failed or skipped), 1 when
one left none (it died before it could count), 77 when there is nothing at all yet.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--captures", required=True)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--scenarios", required=True,
                        help="the captures the suite derives (CMakeLists.txt), comma-separated")
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    runs = []
    for entry in sorted(os.listdir(args.captures)):
        if not entry.endswith(".expected.json"):
            continue
        with open(os.path.join(args.captures, entry)) as f:
            expected = json.load(f)
        if expected["scenario"] not in scenarios:
            continue
        curve = expected["mechanism"] == "CURVE"
        for tool in args.tools.split(","):
            for mode in ("plain", "full", "session", "none"):
                if checks.applies(mode, curve):
                    runs.append((tool, expected["scenario"], mode))
    if not runs:
        print("no captures")
        return 77
    missing, skipped, failing = [], [], []
    sums = {}
    for tool, capture, mode in runs:
        path = checks.result_path(args.results, tool, capture, mode)
        if not os.path.exists(path):
            missing.append("%s %s %s" % (tool, capture, mode))
            continue
        with open(path) as f:
            result = json.load(f)
        if result["skipped"]:
            skipped.append("%s %s %s: %s" % (tool, capture, mode, result["skipped"]))
            continue
        if result["failures"]:
            failing.append("%s %s %s: %s" % (tool, capture, mode, ", ".join(
                "%s %d" % kv for kv in sorted(result["failures"].items()))))
        total = sums.setdefault((tool, mode), {"derived": 0, "captures": 0,
                                               "counts": {k: 0 for k in checks.COUNTERS},
                                               "weighted": {k: 0 for k in checks.COUNTERS}})
        total["derived"] += result["derived_captures"]
        total["captures"] += 1
        for k in checks.COUNTERS:
            total["counts"][k] += result["counts"][k]
            total["weighted"][k] += result["weighted"][k]
    if len(missing) == len(runs):
        print("no results in %s yet: run the other recovery tests first" % args.results)
        return 77
    print("Derived-capture totals, per tool and key mode (tests/recovery/README.md)")
    print()
    print("Over all derived captures (every changed connection of every derived capture):")
    for (tool, mode), total in sorted(sums.items()):
        print("  " + checks.line(tool, mode, "%d captures, %d derived" % (total["captures"],
                                                                          total["derived"]),
                                 total["weighted"], "connections"))
    print()
    print("Over the distinct pieces (a changed connection tested once however many derived "
          "captures leave it so):")
    for (tool, mode), total in sorted(sums.items()):
        print("  " + checks.line(tool, mode, "%d captures" % total["captures"], total["counts"]))
    for title, lines in (("skipped", skipped), ("failing", failing),
                         ("left no result", missing)):
        if lines:
            print()
            print("%s:" % title)
            for line in lines:
                print("  " + line)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
