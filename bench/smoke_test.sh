#!/usr/bin/env bash
# ctest (label bench): small zmtp-synth captures that zmtp-replay must decode completely, the
# same seed giving the same bytes, and clear errors for bad usage.
# usage: smoke_test.sh   with SYNTH, REPLAY and CHECK (check_synth_replay.py) in the environment.
set -uo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# NAME [zmtp-synth options]: synthesise, replay, compare the report with the synth's stats.
synth_and_replay() {
    local name=$1
    shift
    "$SYNTH" -o "$work/$name.pcap" --stats "$work/$name.stats" "$@" 2>/dev/null ||
        fail "zmtp-synth $name"
    local keys=()
    [ -f "$work/$name.keys" ] && keys=(-k "$work/$name.keys")
    "$REPLAY" -q --json "${keys[@]}" "$work/$name.pcap" > "$work/$name.json" ||
        fail "zmtp-replay $name"
    python3 "$CHECK" "$work/$name.json" "$work/$name.stats" || fail "report of $name"
    echo "ok: $name"
}

synth_and_replay null-req-rep -c 5 --bytes 1M --size 0-3000
synth_and_replay curve-dealer-router -m curve -p dealer-router -k "$work/curve-dealer-router.keys" \
    -c 3 --bytes 1M --size mixed --frames 2
synth_and_replay curve-req-rep -m curve -k "$work/curve-req-rep.keys" -c 20 --bytes 512K --size 64
synth_and_replay null-loopback --loopback -p dealer-router -c 2 --bytes 2M --size mixed
synth_and_replay curve-large -m curve -p dealer-router -k "$work/curve-large.keys" -c 3 \
    --size 65536-1048576 --bytes 8M
synth_and_replay curve-large-loopback -m curve -p dealer-router --loopback \
    -k "$work/curve-large-loopback.keys" -c 3 --size 65536-1048576 --bytes 8M
synth_and_replay null-short -c 1000 --exchanges-per-connection 3 --open-at-once 50
synth_and_replay curve-short -m curve -k "$work/curve-short.keys" -c 200 \
    --exchanges-per-connection 2 --open-at-once 20
synth_and_replay null-idle -c 50 --idle --heartbeat 500 --duration 60

# Short connections overlap in time, at most --open-at-once of them open together.
python3 - "$work/null-short.json" <<'PY' || fail "short connections not 50 at once"
import json, sys
ends = []
for c in json.load(open(sys.argv[1]))["connections"]:
    ends += [(c["start"], 1), (c["last"], -1)]
open_now = most = 0
for _, d in sorted(ends):
    open_now += d
    most = max(most, open_now)
sys.exit(most != 50)
PY
# Idle connections: no messages, only heartbeats, over the whole --duration.
python3 - "$work/null-idle.stats" "$work/null-idle.json" <<'PY' || fail "idle capture"
import json, sys
stats, report = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
span = max(c["last"] for c in report["connections"]) - min(c["start"] for c in report["connections"])
sys.exit(not (stats["messages"] == 0 and stats["heartbeats"] > 50 * 2 * 100 and 59 < span < 62))
PY
echo "ok: short and idle connections"

# The key log is in docs/keylog.md's form and private to its owner.
grep -q '^SERVER_SECRET  *[0-9a-f]\{64\}  #' "$work/curve-req-rep.keys" || fail "key log lines"
[ "$(grep -c '^EPHEMERAL_SECRET' "$work/curve-req-rep.keys")" = 20 ] || fail "one c' per connection"
[ "$(stat -c %a "$work/curve-req-rep.keys")" = 600 ] || fail "key log readable by others"

# The same seed, the same capture; another seed, another one.
"$SYNTH" -o "$work/a.pcap" -m curve -k "$work/a.keys" --bytes 256K --seed 7 2>/dev/null &&
    "$SYNTH" -o "$work/b.pcap" -m curve -k "$work/b.keys" --bytes 256K --seed 7 2>/dev/null &&
    "$SYNTH" -o "$work/c.pcap" -m curve -k "$work/c.keys" --bytes 256K --seed 8 2>/dev/null ||
    fail "zmtp-synth seeds"
cmp -s "$work/a.pcap" "$work/b.pcap" && cmp -s "$work/a.keys" "$work/b.keys" || fail "seed 7 twice"
cmp -s "$work/a.pcap" "$work/c.pcap" && fail "seeds 7 and 8 gave the same capture"
echo "ok: seeds"

# Bad usage: exit 2 with a message; an unwritable output: exit 1.
expect_exit() {  # CODE MESSAGE-PART ARGS...
    local code=$1 part=$2
    shift 2
    "$SYNTH" "$@" > /dev/null 2> "$work/err"
    local got=$?
    [ "$got" = "$code" ] || fail "zmtp-synth $* exited $got, not $code"
    grep -q -- "$part" "$work/err" || fail "zmtp-synth $*: no \"$part\" in: $(cat "$work/err")"
}
expect_exit 2 "bad --bytes" -o "$work/x.pcap" --bytes 12Q
expect_exit 2 "bad size" -o "$work/x.pcap" --size 9-3
expect_exit 2 "needs --mechanism curve" -o "$work/x.pcap" -k "$work/x.keys"
expect_exit 2 "connections" -o "$work/x.pcap" -c 0
expect_exit 2 "needs heartbeats" -o "$work/x.pcap" --idle --heartbeat 0
expect_exit 2 "needs --exchanges-per-connection" -o "$work/x.pcap" --open-at-once 5
expect_exit 1 "cannot create" -o "$work/no/such/dir/x.pcap"
echo "ok: errors"
