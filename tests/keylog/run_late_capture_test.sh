#!/usr/bin/env bash
# A CURVE program runs under the key logger; tcpdump starts 1 s after its connection is up, so
# the capture has no SYN and no handshake. With the program's key file (its SESSION_KEY lines,
# docs/keylog.md) zmtp-replay and libzmtp must decrypt every message it sent after the capture
# started, exactly as sent (keylog_late_capture_check); with the key file stripped of its
# SESSION_KEY lines (an older key logger's), they must decrypt nothing and say that a SESSION_KEY
# would open the connection.
# usage: run_late_capture_test.sh KEYLOG_LIB ZMTP_REPLAY CHECKER WORKDIR PROGRAM [ARG...]
#   PROGRAM [ARG...] PORT DIR COUNT is late_peers.py (with its interpreter) or keylog_late_peers.
set -euo pipefail
lib=$1 replay=$2 checker=$3 work=$4
shift 4
count=40
if [ "$(id -u)" -ne 0 ] || ! command -v tcpdump >/dev/null; then
  echo "SKIP: capturing on loopback needs root and tcpdump"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
port=$((42000 + RANDOM % 8000))

program_pid="" tcpdump_pid=""
cleanup() {
  if [ -n "$program_pid" ] && kill -0 "$program_pid" 2>/dev/null; then kill "$program_pid"; fi
  if [ -n "$tcpdump_pid" ] && kill -0 "$tcpdump_pid" 2>/dev/null; then kill "$tcpdump_pid"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- program output:"
  cat "$work/program.log" 2>/dev/null || true
  exit 1
}
# Waits up to 30 s for a file (or a line in it); fails if the program died meanwhile.
wait_for() {
  local what=$1 pattern=${2:-}
  for _ in $(seq 300); do
    if [ -z "$pattern" ] && [ -e "$what" ]; then return 0; fi
    if [ -n "$pattern" ] && grep -q "$pattern" "$what" 2>/dev/null; then return 0; fi
    kill -0 "$program_pid" 2>/dev/null || fail "the program exited early"
    sleep 0.1
  done
  return 1
}

ZMTP_KEYLOG_FILE="$work/keys.log" LD_PRELOAD="$lib" timeout 120 \
  "$@" "$port" "$work" "$count" >"$work/program.log" 2>&1 &
program_pid=$!
wait_for "$work/connected" || fail "the program never connected"
sleep 1  # the connection has been up for 1 s, its traffic going on, when the capture starts
# -Z root: tcpdump would otherwise drop to its own user before creating the file in $work.
timeout 120 tcpdump -i lo -n -U -Z root -w "$work/late.pcap" "tcp port $port" \
  2>"$work/tcpdump.log" &
tcpdump_pid=$!
wait_for "$work/tcpdump.log" listening || fail "tcpdump did not start: $(cat "$work/tcpdump.log")"
# The program goes on for a moment (these messages are captured too: the first one a decoder
# sees in each direction cannot be known to be whole), then is told that the capture runs; what
# it sends from then on is "after" in sent.jsonl.
sleep 0.5
touch "$work/capturing"
status=0
wait "$program_pid" || status=$?
program_pid=""
[ "$status" -eq 0 ] || fail "the program failed (exit status $status)"
sleep 1.5  # tcpdump hands packets over in blocks, at least once a second
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=""

syns=$(tcpdump -r "$work/late.pcap" -n 'tcp[tcpflags] & tcp-syn != 0' 2>/dev/null | wc -l)
[ "$syns" -eq 0 ] || fail "the capture holds $syns SYN packet(s): it did not start late"
session_keys=$(grep -c '^SESSION_KEY' "$work/keys.log" || true)
[ "$session_keys" -ge 2 ] || fail "the key logger wrote $session_keys SESSION_KEY line(s), not 2"

echo "== with the key file (SESSION_KEY lines)"
"$replay" -q --ports "$port" --keylog "$work/keys.log" --json "$work/late.pcap" \
  >"$work/report.json" || fail "zmtp-replay failed"
"$checker" "$work/late.pcap" "$port" "$work/keys.log" "$work/sent.jsonl" "$work/report.json" ||
  fail "the late capture is not fully decrypted from the key file"

echo "== with the key file without its SESSION_KEY lines"
(umask 077 && grep -v '^SESSION_KEY' "$work/keys.log" >"$work/no-session-keys.log")
"$replay" -q --ports "$port" --keylog "$work/no-session-keys.log" --json "$work/late.pcap" \
  >"$work/report-no-session-keys.json" || fail "zmtp-replay failed"
"$checker" --no-session-key "$work/late.pcap" "$port" "$work/no-session-keys.log" \
  "$work/sent.jsonl" "$work/report-no-session-keys.json" ||
  fail "without SESSION_KEY lines, the tools do not say what is missing"
echo "ok: a capture that started 1 s after connect, decrypted from the program's key file"
