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
    head -1 "$work/out.csv" | grep -qx 'time,connection,direction,frames,bytes,decrypted,response_time_ms,loss,after_gap' ||
        fail "CSV header"
    # Whole messages only: a complete capture has no cut message and nothing after a gap.
    cut=$(awk -F, 'NR > 1 && ($8 != "" || $9 != "no")' "$work/out.csv" | wc -l)
    [ "$cut" -eq 0 ] || fail "$cut rows of a complete capture marked as cut or after a gap"
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
many-connections)  # the text report of many connections: a summary, the first few, the problems
    "$SYNTH" -o "$work/many.pcap" -c 120 --exchanges-per-connection 3 --open-at-once 20 \
        --seed 5 2> /dev/null || fail "zmtp-synth"
    # One segment lost in the middle of the capture: one connection with a gap.
    packets=$(capinfos -Mc "$work/many.pcap" | sed -n 's/^Number of packets: *//p')
    editcap "$work/many.pcap" "$work/drop.pcap" $((packets / 2)) || fail "editcap"
    for name in many drop; do
        "$REPLAY" -q "$work/$name.pcap" > "$work/$name.txt" || fail "exit $? on $name"
        "$REPLAY" -q --json "$work/$name.pcap" > "$work/$name.json" || fail "exit $? on $name"
    done
    "$REPLAY" -q --all-connections "$work/drop.pcap" > "$work/all.txt" || fail "exit $?"
    python3 - "$work" << 'PY' || fail "text summary"
import json, re, sys
work = sys.argv[1]
dirs = ("client_to_server", "server_to_client")
def blocks(text):  # the connection ids detailed, in order
    return [int(i) for i in re.findall(r"^#(\d+) ", text, re.M)]
for name in ("many", "drop"):
    text = open(f"{work}/{name}.txt").read()
    report = json.load(open(f"{work}/{name}.json"))
    conns = report["connections"]
    n = len(conns)
    assert n == 120, n
    assert f"\nsummary of the {n} connections:\n" in text, "no summary"
    assert f"\n  mechanisms: {n} NULL 3.1\n" in text, "mechanisms"
    pairs = {}
    for c in conns:
        a, b = c["socket_types"]
        k = f"{a} -> {b}" + (" (inferred)" if c["socket_types_inferred"] else "")
        pairs[k] = pairs.get(k, 0) + 1
    line = ", ".join(f"{v} {k}" for k, v in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])))
    assert f"\n  socket types: {line}\n" in text, f"socket types: {line}"
    sent = [sum(c[d]["messages"] for c in conns) for d in dirs]
    assert f"\n  messages: {sent[0]} client->server, {sent[1]} server->client\n" in text, sent
    ready = [c["handshake"]["handshake_ms"] for c in conns if c["handshake"]["handshake_ms"] is not None]
    assert f"\n  ready after: n={len(ready)} min {min(ready):.3f} " in text, "ready after"
    lost = [c["id"] for c in conns if any(e["kind"] == "gap" for e in c["recovery"]["events"])]
    shown = blocks(text)
    if name == "many":
        assert not lost
        assert "\n  problems: none found\n" in text, "problems"
        assert shown == [1, 2, 3, 4, 5], shown
        assert f"\n({n - 5} of the {n} connections not shown;" in text, "left out"
        continue
    assert len(lost) == 1 and lost[0] > 5, lost
    bad = lost[0]
    assert "\n  problems: 1 connection(s): 1 capture lost bytes\n" in text, "problems"
    assert "\nconnections with problems (1 of 1 after #5):\n" in text, "problems section"
    assert shown == [1, 2, 3, 4, 5, bad], shown
    assert f"\n({n - 6} of the {n} connections not shown; --all-connections prints every one" in text
    detail = text.split(f"\n#{bad} ")[1].split("\n\n")[0]
    gaps = re.findall(r"gap (?:client->server|server->client) at \+[0-9.]+ s", detail)
    assert len(gaps) == 1, f"the gap is told {len(gaps)} times: {detail}"
    assert blocks(open(f"{work}/all.txt").read()) == list(range(1, n + 1)), "--all-connections"
print(f"ok: 120 connections summarised; connection {bad}'s gap detailed once")
PY
    ;;
html)  # a self-contained report with the plots
    capture="$CAPTURES/$(capture_of "$CAPTURES" "$arg")"
    # shellcheck disable=SC2046
    "$REPLAY" -q --html "$work/r.html" $(replay_args "$CAPTURES" "$arg") "$capture" > /dev/null || fail "exit $?"
    for part in 'id="latency-histogram"' 'Request/reply latency' 'Latency over time' 'Connection timeline' 'id="zmtp-data"' '</html>'; do
        grep -q "$part" "$work/r.html" || fail "the HTML report lacks $part"
    done
    if grep -Eo '(src|href)="[^"]*"' "$work/r.html" | grep -q .; then fail "the HTML report loads something"; fi
    # Its scripts (uPlot and the plotting code) are inline: none is loaded.
    if grep -Eq '<script[^>]* src' "$work/r.html"; then fail "the HTML report loads a script"; fi
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
recovered)  # the issue-12 commands: a capture started late, and one with a lost segment
    # Checks a report of a capture that lost bytes against the complete capture's expected file
    # and report (docs/protocol.md 9): no false message, no false "never answered", and the
    # messages counted are exactly the expected ones before the first gap and after it.
    check_recovered() {  # REPORT.json FULL-REPORT.json EXPECTED.json FULL.csv
        python3 - "$@" << 'PY'
import csv, json, sys
got, full, expected = (json.load(open(p)) for p in sys.argv[1:4])
rows = list(csv.DictReader(open(sys.argv[4])))
start = got["capture"]["first_packet"]
dirs = ("client_to_server", "server_to_client")
frames = lambda ms: sum(len(m) for m in ms)
size = lambda ms: sum(len(f) // 2 for m in ms for f in m)
assert len(got["connections"]) == len(expected["connections"]), "connections"
for i, (c, f, e) in enumerate(zip(got["connections"], full["connections"], expected["connections"])):
    where = f"connection {i + 1}"
    assert c["unanswered_requests"] <= f["unanswered_requests"], \
        f'{where}: {c["unanswered_requests"]} request(s) never answered, {f["unanswered_requests"]} in the complete capture'
    for d in dirs:
        want, g, rec = e[d]["messages"], c[d], c[d]["recovery"]
        w = f"{where} {d}"
        cut = rec["messages_cut"]["start_lost"] + rec["messages_cut"]["end_lost"]
        if rec["gaps"] == 0:
            assert g["messages"] == len(want), f'{w}: {g["messages"]} messages, expected {len(want)}'
            continue
        assert rec["gaps"] == 1, f"{w}: {rec['gaps']} gaps"
        if g["decrypted_messages"] == 0 and c["mechanism"] == "CURVE":
            assert g["messages"] == 0, f"{w}: messages without a key"
            continue
        after = rec["messages_after_gap"]
        before = g["messages"] - after
        kept = want[:before] + want[len(want) - after:]
        assert before + after + cut <= len(want), f"{w}: more messages than sent"
        assert frames(kept) == g["frames"] and size(kept) == g["bytes"], \
            f'{w}: frames/bytes {g["frames"]}/{g["bytes"]} are not those of expected messages [0, {before}) and the last {after}'
        if rec["started_mid_stream"]:
            # Every message that ended after the capture started, but perhaps the first.
            sent = sum(1 for r in rows if r["connection"] == str(i + 1) and r["direction"] == d
                       and float(r["time"]) >= start)
            assert before == 0 and sent - 1 <= after <= sent, \
                f"{w}: {after} messages recovered, {sent} sent after the capture started"
        else:
            missing = len(want) - before - after
            assert missing <= cut + rec["frames_lost"] + 1, f"{w}: {missing} messages not recovered"
        assert after > 0, f"{w}: nothing recovered after the gap"
        for k in ("pings", "pongs"):
            assert g["heartbeat"][k] <= f[d]["heartbeat"][k], f"{w}: more {k} than sent"
        assert g["heartbeat"]["missed"] == 0, f"{w}: PINGs missed in a capture where all were answered"
        print(f"ok   {w}: {before} + {after} of {len(want)} messages, {cut} cut, "
              f'{rec["lost_bytes"]} bytes / {rec["frames_lost"]} frames lost')
PY
    }
    capture="$CAPTURES/ctrlx-like.pcapng"
    keys="$CAPTURES/ctrlx-like.keys"
    "$REPLAY" --json -k "$keys" "$capture" > "$work/full.json" || fail "exit $?"
    "$REPLAY" --csv -k "$keys" "$capture" > "$work/full.csv" || fail "exit $?"
    # One 158-byte segment of connection 2's client lost.
    editcap "$capture" "$work/drop.pcapng" 42 || fail "editcap"
    "$REPLAY" --json -k "$keys" "$work/drop.pcapng" > "$work/drop.json" || fail "exit $?"
    check_recovered "$work/drop.json" "$work/full.json" "$CAPTURES/ctrlx-like.expected.json" "$work/full.csv" ||
        fail "lost segment"
    "$REPLAY" -k "$keys" "$work/drop.pcapng" > "$work/drop.txt" || fail "exit $?"
    if grep -q "never answered" "$work/drop.txt"; then fail "never answered: $(grep "never answered" "$work/drop.txt")"; fi
    grep -q "message(s) recovered after the first gap" "$work/drop.txt" || fail "no recovered messages in the text"
    # Each gap is told once, with its TCP reason (it used to be printed twice).
    dup=$(grep -o '^ *gap [a-z>-]* at +[0-9.]* s' "$work/drop.txt" | sed 's/^ *//' | sort | uniq -d)
    [ -z "$dup" ] || fail "gap printed twice: $dup"
    grep -q "gap client->server at +[0-9.]* s: 158 byte(s) lost (the peer acknowledged 158 bytes" \
        "$work/drop.txt" || fail "no gap with its reason in the text"
    # The capture starts 0.2 s after the handshakes: no key opens the boxes (no SESSION_KEY in
    # this key log), and the heartbeats inferred from box sizes are the decoded ones.
    editcap -r "$capture" "$work/late.pcapng" 40-148 || fail "editcap"
    "$REPLAY" --json -k "$keys" "$work/late.pcapng" > "$work/late.json" || fail "exit $?"
    "$REPLAY" -k "$keys" "$work/late.pcapng" > "$work/late.txt" || fail "exit $?"
    dup=$(grep -o '^ *gap [a-z>-]* at +[0-9.]* s' "$work/late.txt" | sed 's/^ *//' | sort | uniq -d)
    [ -z "$dup" ] || fail "late start: gap printed twice: $dup"
    python3 - "$work/late.json" "$work/full.json" << 'PY' || fail "late start"
import json, sys
late, full = (json.load(open(p)) for p in sys.argv[1:3])
assert len(late["connections"]) == 2
for c, f in zip(late["connections"], full["connections"]):
    where = f'connection {c["id"]}'
    assert c["recovery"]["started_mid_connection"], where
    assert c["handshake"]["state"] == "not-captured", c["handshake"]
    assert c["mechanism_inferred"] == "CURVE (inferred from MESSAGE frames)", c["mechanism_inferred"]
    assert c["unanswered_requests"] == 0, f'{where}: {c["unanswered_requests"]} never answered'
    for d in ("client_to_server", "server_to_client"):
        g, hb = c[d], f[d]["heartbeat"]
        assert g["recovery"]["started_mid_stream"] and g["recovery"]["resyncs"] == 1, (where, d)
        assert g["messages"] == 0 and g["heartbeat"]["pings"] == 0, (where, d, "decoded without a key")
        assert g["boxes"]["count"] > 0, (where, d)
        ih = g["inferred_heartbeat"]
        if hb["pings"] == 0:
            assert ih is None, (where, d, ih)
            continue
        assert hb["first_ping"] >= late["capture"]["first_packet"]
        assert ih is not None, (where, d, "no heartbeat inferred")
        assert (ih["pings"], ih["pongs"], ih["unanswered"]) == (hb["pings"], hb["pongs"], hb["missed"]), (where, d, ih, hb)
        print(f'ok   {where} {d}: {ih["pings"]} PINGs (inferred) every {ih["interval_ms"]["p50"]} ms, as decoded')
PY
    # With the SESSION_KEYs exported from the complete capture: the messages after the start.
    "$REPLAY" -q -k "$keys" --export-session-keys "$work/session.keys" "$capture" > /dev/null ||
        fail "--export-session-keys"
    "$REPLAY" --json -k "$work/session.keys" "$work/late.pcapng" > "$work/late-k.json" || fail "exit $?"
    check_recovered "$work/late-k.json" "$work/full.json" "$CAPTURES/ctrlx-like.expected.json" "$work/full.csv" ||
        fail "late start with SESSION_KEY lines"
    ;;
inferred-heartbeats)  # CURVE without a key: inferred heartbeats are the decoded ones, no others
    for expected in "$CAPTURES"/*.expected.json; do
        name=$(basename "$expected" .expected.json)
        grep -q '"mechanism": "CURVE"' "$expected" || continue
        capture="$CAPTURES/$(capture_of "$CAPTURES" "$name")"
        "$REPLAY" --json --detect -k "$CAPTURES/$name.keys" "$capture" > "$work/keys.json" || fail "exit $?"
        "$REPLAY" --json --detect "$capture" > "$work/none.json" || fail "exit $?"
        python3 - "$work/keys.json" "$work/none.json" "$name" << 'PY' || fail "$name"
import json, sys
keys, none = (json.load(open(p)) for p in sys.argv[1:3])
name = sys.argv[3]
inferred = 0
for k, n in zip(keys["connections"], none["connections"]):
    where = f'{name} connection {k["id"]}'
    for d in ("client_to_server", "server_to_client"):
        hb, ih = k[d]["heartbeat"], n[d]["inferred_heartbeat"]
        assert n[d]["heartbeat"]["pings"] == 0, (where, d, "decoded PINGs without a key")
        if hb["pings"] == 0:
            assert ih is None, (where, d, "heartbeats inferred where there are none", ih)
            continue
        assert ih is not None, (where, d, "no heartbeat inferred")
        assert (ih["pings"], ih["pongs"], ih["unanswered"]) == (hb["pings"], hb["pongs"], hb["missed"] + hb["unanswered_at_end"]), (where, d, ih, hb)
        inferred += 1
    timeout = k["end"]["kind"] == "heartbeat-timeout"
    got = n["end"]["inferred"]
    assert (got is not None and got["cause"] == "heartbeat-timeout") == timeout, (where, k["end"], n["end"])
    assert n["end"]["kind"] != "heartbeat-timeout", (where, "an inferred diagnosis in end.kind")
print(f"ok   {name}: {inferred} direction(s) with heartbeats, inferred as decoded")
PY
    done
    ;;
late-heartbeat-timeout)  # curve-heartbeat-timeout captured late, or missing packets: still diagnosed
    capture="$CAPTURES/curve-heartbeat-timeout.pcapng"
    keys="$CAPTURES/curve-heartbeat-timeout.keys"
    "$REPLAY" --json -k "$keys" "$capture" > "$work/full.json" || fail "exit $?"
    # Packets 1-14 are the handshake, 15-18 the two echoed messages, then PINGs: the capture
    # starts at packet 16, inside the exchange. No SESSION_KEY: inferred from box sizes.
    editcap -r "$capture" "$work/late.pcapng" 16-35 || fail "editcap"
    for with_keys in no yes; do
        args=()
        [ "$with_keys" = yes ] && args=(-k "$keys")
        "$REPLAY" --json "${args[@]}" "$work/late.pcapng" > "$work/late.json" || fail "exit $?"
        python3 - "$work/late.json" "$work/full.json" << 'PY' || fail "late start, keys: $with_keys"
import json, sys
late, full = (json.load(open(p)) for p in sys.argv[1:3])
c, f = late["connections"][0], full["connections"][0]
assert c["recovery"]["started_mid_connection"] and c["handshake"]["state"] == "not-captured"
assert c["end"]["kind"] == "fin" and c["end"]["closed_by"] == "client", c["end"]
assert c["end"]["inferred"] and c["end"]["inferred"]["cause"] == "heartbeat-timeout", c["end"]
ih, hb = c["client_to_server"]["inferred_heartbeat"], f["client_to_server"]["heartbeat"]
assert (ih["pings"], ih["pongs"], ih["unanswered"]) == (hb["pings"], hb["pongs"], hb["missed"]), (ih, hb)
assert ih["last_pong"] == hb["last_pong"], (ih["last_pong"], hb["last_pong"])
assert c["end"]["inferred"]["last_pong"] == f["end"]["last_pong"], (c["end"], f["end"])
assert c["end"]["inferred"]["silent_since"] == f["end"]["silent_since"], (c["end"], f["end"])
print("ok  ", c["end"]["inferred"]["detail"])
PY
    done
    # With the connection's SESSION_KEY (exported from the complete capture), the late capture
    # is decrypted and the timeout diagnosed from the PINGs themselves, as in the complete one.
    "$REPLAY" -q -k "$keys" --export-session-keys "$work/session.keys" "$capture" > /dev/null ||
        fail "--export-session-keys"
    "$REPLAY" --json -k "$work/session.keys" "$work/late.pcapng" > "$work/late-k.json" || fail "exit $?"
    python3 - "$work/late-k.json" "$work/full.json" << 'PY' || fail "late start with its SESSION_KEY"
import json, sys
late, full = (json.load(open(p)) for p in sys.argv[1:3])
c, f = late["connections"][0], full["connections"][0]
assert c["handshake"]["state"] == "not-captured" and c["decryption"]["state"] == "decrypted"
assert c["end"]["kind"] == "heartbeat-timeout", c["end"]
for k in ("closed_by", "time", "last_pong", "silent_since"):
    assert c["end"][k] == f["end"][k], (k, c["end"][k], f["end"][k])
hb, fhb = c["client_to_server"]["heartbeat"], f["client_to_server"]["heartbeat"]
assert (hb["pings"], hb["pongs"], hb["missed"], hb["ttl_s"]) == (fhb["pings"], fhb["pongs"], fhb["missed"], fhb["ttl_s"]), (hb, fhb)
assert c["client_to_server"]["inferred_heartbeat"] is None, "inferred beside decoded"
assert c["end"]["inferred"] is None
assert c["unanswered_requests"] == 0
print("ok  ", c["end"]["detail"])
PY
    # The two client messages after the handshake lost (a gap, the handshake captured): the
    # PINGs are decrypted and the timeout diagnosed as in the complete capture.
    editcap "$capture" "$work/gap.pcapng" 15 17 || fail "editcap"
    "$REPLAY" --json -k "$keys" "$work/gap.pcapng" > "$work/gap.json" || fail "exit $?"
    python3 - "$work/gap.json" "$work/full.json" << 'PY' || fail "gap after the handshake"
import json, sys
gap, full = (json.load(open(p)) for p in sys.argv[1:3])
c, f = gap["connections"][0], full["connections"][0]
assert c["client_to_server"]["recovery"]["gaps"] == 1, c["client_to_server"]["recovery"]
assert c["end"]["kind"] == "heartbeat-timeout", c["end"]
for k in ("closed_by", "time", "last_pong", "silent_since"):
    assert c["end"][k] == f["end"][k], (k, c["end"][k], f["end"][k])
hb, fhb = c["client_to_server"]["heartbeat"], f["client_to_server"]["heartbeat"]
assert (hb["pings"], hb["pongs"], hb["missed"]) == (fhb["pings"], fhb["pongs"], fhb["missed"]), (hb, fhb)
assert c["unanswered_requests"] == 0
print("ok  ", c["end"]["detail"])
PY
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
