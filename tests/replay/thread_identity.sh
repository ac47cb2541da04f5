#!/usr/bin/env bash
# zmtp-replay gives the same text, JSON, CSV, HTML, messages on stderr and exit status with
# --threads 1, 2 and 4: on every committed capture (with and without its keys) and on
# synthesised captures of many connections.
# usage: thread_identity.sh   with REPLAY, CAPTURES and optionally SYNTH set in the environment.
set -uo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
runs=0

# Runs one zmtp-replay invocation with --threads T, into $work/T.{out,err,html,rc}.
run() {
    local threads=$1
    shift
    "$REPLAY" -q --threads "$threads" --html "$work/$threads.html" "$@" \
        > "$work/$threads.out" 2> "$work/$threads.err"
    echo $? > "$work/$threads.rc"
}

# Compares --threads 2 and 4 with --threads 1 for these zmtp-replay arguments.
compare() {
    local what=$1
    shift
    run 1 "$@"
    for threads in 2 4; do
        run "$threads" "$@"
        for part in out err html rc; do
            if ! cmp -s "$work/1.$part" "$work/$threads.$part"; then
                echo "FAIL: $what: --threads $threads differs from --threads 1 ($part)"
                diff "$work/1.$part" "$work/$threads.$part" | head -5
                failures=$((failures + 1))
            fi
        done
    done
    runs=$((runs + 1))
}

# Every output format of one capture.
compare_formats() {
    local what=$1
    shift
    compare "$what, text" "$@"
    compare "$what, JSON" --json "$@"
    compare "$what, CSV" --csv "$@"
}

for capture in "$CAPTURES"/*.pcapng; do
    name=$(basename "$capture" .pcapng)
    compare_formats "$name" --detect "$capture"
    if [ -f "$CAPTURES/$name.keys" ]; then
        compare_formats "$name with keys" --detect -k "$CAPTURES/$name.keys" "$capture"
    fi
done

# Several files merged, one of them cut short (exit status 1, a message on stderr).
head -c 30000 "$CAPTURES/many-connections.pcapng" > "$work/cut.pcapng"
compare_formats "merged files, one cut short" -k "$CAPTURES/many-connections.keys" \
    "$CAPTURES/ctrlx-like.pcapng" "$work/cut.pcapng"

if [ -n "${SYNTH:-}" ]; then
    "$SYNTH" -o "$work/curve.pcap" -k "$work/curve.keys" -m curve -c 300 --bytes 12M \
        --size 0-1024 --heartbeat 5 --seed 7 > /dev/null || { echo "FAIL: zmtp-synth"; exit 1; }
    compare_formats "zmtp-synth CURVE, 300 connections" -k "$work/curve.keys" "$work/curve.pcap"
    compare "zmtp-synth CURVE, 300 connections, no keys" --json "$work/curve.pcap"
    "$SYNTH" -o "$work/null.pcap" -c 2000 --bytes 16M --size mixed -p dealer-router --seed 8 \
        > /dev/null || { echo "FAIL: zmtp-synth"; exit 1; }
    compare_formats "zmtp-synth NULL DEALER/ROUTER, 2000 connections" "$work/null.pcap"
fi

[ "$failures" -eq 0 ] || exit 1
echo "ok: $runs comparisons, --threads 1, 2 and 4 identical"
