#!/usr/bin/env bash
# zmtp-replay integration tests (run by ctest; see CMakeLists.txt).
# usage: replay_tests.sh TEST [ARG]   with REPLAY, REPLAY_CHECK, CAPTURE_CHECK, TRANSFORM and
# CAPTURES set in the environment.
set -uo pipefail

test_name=$1
arg=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# Options to replay capture NAME of folder DIR: its key log and the heuristic for odd ports.
replay_args() {
    local dir=$1 name=$2 keylog
    keylog=$(sed -n 's/^ *"keylog": "\(.*\)",$/\1/p' "$dir/$name.expected.json")
    echo "--detect${keylog:+ -k $dir/$keylog}"
}

capture_of() {
    sed -n 's/^ *"capture": "\(.*\)",$/\1/p' "$1/$2.expected.json"
}

check_replay() {  # DIR NAME [extra replay args...]
    local dir=$1 name=$2
    shift 2
    # shellcheck disable=SC2046
    "$REPLAY" --json $(replay_args "$dir" "$name") "$@" > "$work/$name.json" ||
        fail "zmtp-replay exited with $? on $name"
    "$REPLAY_CHECK" "$work/$name.json" "$dir/$name.expected.json"
}

scenarios() {
    for f in "$1"/*.expected.json; do basename "$f" .expected.json; done
}

case $test_name in
capture)  # zmtp-replay's report of one committed capture matches its expected.json
    check_replay "$CAPTURES" "$arg" "$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    ;;
transformed)  # every capture, rewritten: lossless rewrites decode exactly, lossy ones up to a gap
    "$TRANSFORM" "$arg" "$CAPTURES" "$work/t" || fail "cannot transform the captures ($arg)"
    case $arg in
    drop) "$CAPTURE_CHECK" --expect-gap "$work/t" || fail "dropped segments" ;;
    snaplen) "$CAPTURE_CHECK" --gaps "$work/t" || fail "cut packets" ;;
    *)
        "$CAPTURE_CHECK" "$work/t" || fail "$arg"
        for name in $(scenarios "$work/t"); do
            check_replay "$work/t" "$name" "$work/t/$name.pcap" || fail "zmtp-replay on $arg $name"
        done
        ;;
    esac
    ;;
corrupt)  # random bytes in every payload: a report and exit 0, never a crash
    "$TRANSFORM" corrupt "$CAPTURES" "$work/t" || fail "cannot corrupt the captures"
    for name in $(scenarios "$work/t"); do
        # shellcheck disable=SC2046
        "$REPLAY" --json --html "$work/$name.html" $(replay_args "$work/t" "$name") "$work/t/$name.pcap" \
            > "$work/$name.json" 2> "$work/$name.err"
        rc=$?
        [ "$rc" -eq 0 ] || fail "zmtp-replay exited with $rc on corrupted $name: $(head -c 500 "$work/$name.err")"
        grep -q '"schema": "zmtp-replay/1"' "$work/$name.json" || fail "no report for corrupted $name"
        "$CAPTURE_CHECK" --gaps "$work/t" "$name" > /dev/null
        rc=$?
        [ "$rc" -le 1 ] || fail "zmtp-capture-check exited with $rc on corrupted $name"
    done
    echo "ok"
    ;;
merge)  # a capture split into two files, given together, reads as the original
    "$TRANSFORM" split "$CAPTURES" "$work/t" || fail "cannot split the captures"
    for name in $(scenarios "$CAPTURES"); do
        check_replay "$CAPTURES" "$name" "$work/t/$name.part2.pcap" "$work/t/$name.part1.pcap" ||
            fail "merged $name"
    done
    ;;
stdin)  # "-" reads the capture from standard input
    capture="$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    check_replay "$CAPTURES" "$arg" - < "$capture" || fail "stdin"
    ;;
csv)  # one row per message, response times on replies
    capture="$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    # shellcheck disable=SC2046
    "$REPLAY" --csv $(replay_args "$CAPTURES" "$arg") "$capture" > "$work/out.csv" || fail "exit $?"
    # shellcheck disable=SC2046
    "$REPLAY" --json $(replay_args "$CAPTURES" "$arg") "$capture" > "$work/out.json" || fail "exit $?"
    head -1 "$work/out.csv" | grep -qx 'time,connection,direction,frames,bytes,decrypted,response_time_ms' ||
        fail "CSV header"
    rows=$(($(wc -l < "$work/out.csv") - 1))
    replies=$(awk -F, 'NR > 1 && $7 != ""' "$work/out.csv" | wc -l)
    read -r messages pairs < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
m = sum(c[d]["messages"] for c in r["connections"] for d in ("client_to_server", "server_to_client"))
p = r["latency"]["overall_ms"]["count"] if r["latency"]["overall_ms"] else 0
print(m, p)' "$work/out.json")
    [ "$rows" -eq "$messages" ] || fail "CSV has $rows rows, the report counts $messages messages"
    [ "$replies" -eq "$pairs" ] || fail "CSV has $replies response times, the report $pairs pairs"
    [ "$rows" -gt 0 ] || fail "no messages"
    echo "ok: $rows rows, $replies with a response time"
    ;;
html)  # a self-contained report with the plots
    capture="$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    # shellcheck disable=SC2046
    "$REPLAY" -q --html "$work/r.html" $(replay_args "$CAPTURES" "$arg") "$capture" > /dev/null || fail "exit $?"
    for part in '<svg' 'Request/reply latency' 'Latency over time' 'Heartbeats' '</html>'; do
        grep -q "$part" "$work/r.html" || fail "the HTML report lacks $part"
    done
    if grep -Eo '(src|href)="[^"]*"' "$work/r.html" | grep -q .; then fail "the HTML report loads something"; fi
    if grep -q '<script' "$work/r.html"; then fail "the HTML report has a script"; fi
    echo "ok: $(wc -c < "$work/r.html") bytes of HTML"
    ;;
exit-codes)  # 0 success, 2 bad usage, 1 unreadable input
    expect() {
        local want=$1
        shift
        "$@" > /dev/null 2> "$work/err"
        local got=$?
        [ "$got" -eq "$want" ] || fail "exit $got (expected $want): $* ($(head -c 300 "$work/err"))"
    }
    good="$CAPTURES/null-req-rep.pcapng"
    expect 0 "$REPLAY" "$good"
    expect 2 "$REPLAY"
    expect 2 "$REPLAY" --no-such-option "$good"
    expect 2 "$REPLAY" --json --csv "$good"
    expect 2 "$REPLAY" --ports 70000 "$good"
    expect 2 "$REPLAY" -i lo "$good"
    expect 2 "$REPLAY" - -
    expect 1 "$REPLAY" "$work/missing.pcapng"
    head -c 1000 /dev/urandom > "$work/garbage.pcapng"
    expect 1 "$REPLAY" "$work/garbage.pcapng"
    expect 1 "$REPLAY" -k "$work/missing.keys" "$good"
    head -c 5000 "$CAPTURES/curve-dealer-router.pcapng" > "$work/cut.pcapng"
    expect 1 "$REPLAY" "$work/cut.pcapng"
    grep -q "cut.pcapng" "$work/err" || fail "a truncated file is not named in the error"
    echo "ok"
    ;;
keylog-warnings)  # bad key log lines are reported with file:line, never with the key
    secret=$(sed -n 's/^EPHEMERAL_SECRET *\([0-9a-f]*\).*/\1/p' "$CAPTURES/curve-heartbeat.keys" | head -1)
    [ -n "$secret" ] || fail "no secret in curve-heartbeat.keys"
    { echo "# test"; echo "EPHEMERAL_SECRET ${secret:0:60}"; echo "NOT_A_LABEL $secret"; } > "$work/bad.keys"
    "$REPLAY" -k "$work/bad.keys" -k "$CAPTURES/curve-heartbeat.keys" \
        "$CAPTURES/curve-heartbeat.pcapng" > "$work/out.txt" 2> "$work/err" || fail "exit $?"
    grep -q "bad.keys:2" "$work/err" || fail "no warning for line 2: $(cat "$work/err")"
    grep -q "bad.keys:3" "$work/err" || fail "no warning for line 3: $(cat "$work/err")"
    if grep -q "${secret:0:16}" "$work/err" "$work/out.txt"; then fail "a secret key was printed"; fi
    grep -q "decrypted" "$work/out.txt" || fail "the good key log did not decrypt"
    echo "ok"
    ;;
speed)  # --speed paces the replay and narrates events on stderr
    start=$(date +%s%N)
    "$REPLAY" --speed 4 -k "$CAPTURES/curve-heartbeat.keys" "$CAPTURES/curve-heartbeat.pcapng" \
        > /dev/null 2> "$work/err" || fail "exit $?"
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    [ "$elapsed_ms" -ge 400 ] || fail "a 2 s capture at 4x took only $elapsed_ms ms"
    grep -q "handshake done" "$work/err" || fail "no narration: $(cat "$work/err")"
    grep -q "ended: fin" "$work/err" || fail "no end narrated"
    echo "ok: ${elapsed_ms} ms"
    ;;
live)  # -i: a live capture on loopback of real libzmq peers (root and python3-zmq needed)
    python=/usr/bin/python3
    if [ "$(id -u)" -ne 0 ] || ! "$python" -c 'import zmq' 2> /dev/null; then
        echo "SKIP: live capture needs root and python3-zmq"
        exit 77
    fi
    port=$((20000 + RANDOM % 10000))
    # Stopped with SIGINT once the peers are done; --duration only bounds a test gone wrong.
    "$REPLAY" -i lo --ports "$port" --duration 120 --json -q > "$work/live.json" 2> "$work/err" &
    replay_pid=$!
    for _ in $(seq 600); do
        grep -q "capturing on lo" "$work/err" && break
        kill -0 "$replay_pid" 2> /dev/null || fail "zmtp-replay -i lo stopped: $(cat "$work/err")"
        sleep 0.1
    done
    grep -q "capturing on lo" "$work/err" || fail "zmtp-replay -i lo did not start capturing in 60 s"
    timeout 20 "$python" - "$port" << 'PY' || fail "the libzmq peers failed"
import sys, zmq
port = int(sys.argv[1])
ctx = zmq.Context()
rep = ctx.socket(zmq.REP); rep.bind(f"tcp://127.0.0.1:{port}")
req = ctx.socket(zmq.REQ); req.connect(f"tcp://127.0.0.1:{port}")
for i in range(5):
    req.send(b"ping %d" % i)
    rep.send(rep.recv() + b" pong")
    req.recv()
req.close(linger=0); rep.close(linger=0); ctx.term()
PY
    sleep 0.5  # the last FIN/ACKs reach the capture
    kill -INT "$replay_pid"
    wait "$replay_pid" || fail "zmtp-replay -i lo exited with $?: $(cat "$work/err")"
    "$python" - "$work/live.json" << 'PY' || fail "live report: $(head -c 2000 "$work/live.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["capture"]["warnings"] == [], r["capture"]["warnings"]  # e.g. packets the kernel dropped
c = r["connections"]
assert len(c) == 1, f"{len(c)} connections"
c = c[0]
assert c["socket_types"] == ["REQ", "REP"], c["socket_types"]
assert c["client_to_server"]["messages"] == 5 and c["server_to_client"]["messages"] == 5
assert c["latency_ms"]["count"] == 5
assert c["handshake"]["state"] == "ready"
print("ok: live capture decoded 5 request/replies, p50", c["latency_ms"]["p50"], "ms")
PY
    ;;
export-session-keys)  # --export-session-keys: a SESSION_KEY file that alone decrypts what the key log did
    capture="$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    keylog="$CAPTURES/$arg.keys"
    keys="$work/session.keys"
    echo "an older file" > "$keys"
    chmod 644 "$keys"
    "$REPLAY" -q --json -k "$keylog" --export-session-keys "$keys" "$capture" > "$work/full.json" ||
        fail "exit $? with --export-session-keys"
    mode=$(stat -c %a "$keys")
    [ "$mode" = 600 ] || fail "the session key file has mode $mode, not 600"
    if grep -q "an older file" "$keys"; then fail "the existing file was not replaced"; fi
    for left in "$work"/session.keys.?*; do
        [ -e "$left" ] && fail "a temporary file was left beside it: $left"
    done
    if grep -Evq '^(#.*|SESSION_KEY [0-9a-f]{64} # connection [0-9]+ [^ ]+ -> [^ ]+)$' "$keys"; then
        fail "lines that are neither comments nor commented SESSION_KEY lines: $(grep -Ev '^#' "$keys" | sed 's/[0-9a-f]\{64\}/<key>/' | head -3)"
    fi
    while read -r secret; do
        if grep -q "$secret" "$keys"; then fail "a key of the key log was copied into the session key file"; fi
    done < <(grep -Eo '\b[0-9a-f]{64}\b' "$keylog")
    "$REPLAY" -q --json -k "$keys" "$capture" > "$work/session.json" || fail "exit $? with the session keys alone"
    python3 - "$work/full.json" "$work/session.json" "$keys" << 'PY' || fail "the session keys alone do not decrypt as the key log did"
import json, re, sys
full, alone = (json.load(open(p)) for p in sys.argv[1:3])
lines = [l for l in open(sys.argv[3]) if l.startswith("SESSION_KEY")]
dirs = ("client_to_server", "server_to_client")
decrypted = lambda r: [sum(c[d]["decrypted_messages"] for d in dirs) for c in r["connections"]]
curve = [c for c in full["connections"] if c["decryption"]["state"] == "decrypted"]
assert curve, "the key log decrypts no connection"
assert len(lines) == len(curve), f"{len(lines)} SESSION_KEY lines for {len(curve)} decrypted connections"
by_id = {c["id"]: c for c in full["connections"]}
for line in lines:
    n, client, server = re.search(r"# connection (\d+) (\S+) -> (\S+)$", line.strip()).groups()
    c = by_id[int(n)]
    assert (c["client"], c["server"]) == (client, server), f"connection {n} is {c['client']} -> {c['server']}"
    assert c["decryption"]["state"] == "decrypted", f"connection {n} was not decrypted"
assert decrypted(alone) == decrypted(full), f"decrypted messages: {decrypted(alone)} with the session keys, {decrypted(full)} with the key log"
assert [c["decryption"]["state"] for c in alone["connections"]] == [c["decryption"]["state"] for c in full["connections"]]
print(f"ok: {len(lines)} session key(s), {sum(decrypted(alone))} messages decrypted with them alone")
PY
    "$REPLAY" -q --export-session-keys "$work/missing/dir/out.keys" "$capture" > /dev/null 2> "$work/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "exit $rc (expected 1) for a session key file that cannot be written"
    grep -q "missing/dir/out.keys" "$work/err" || fail "the error does not name the file: $(cat "$work/err")"
    ;;
*)
    fail "unknown test $test_name"
    ;;
esac
