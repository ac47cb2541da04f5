#!/usr/bin/env bash
# A pyzmq program runs under the key logger while tcpdump captures it; zmtp-replay must then
# decrypt every one of its CURVE messages with the key file alone.
# usage: run_capture_decrypt_test.sh KEYLOG_LIB ZMTP_REPLAY PYTHON WORKDIR
set -euo pipefail
lib=$1 replay=$2 python=$3 work=$4
count=40
if [ "$(id -u)" -ne 0 ] || ! command -v tcpdump >/dev/null; then
  echo "SKIP: capturing on loopback needs root and tcpdump"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
port=$(( 42000 + RANDOM % 8000 ))
timeout 60 tcpdump -i lo -U -w "$work/py.pcap" "tcp port $port" 2>"$work/tcpdump.log" &
tcpdump_pid=$!
for _ in $(seq 300); do grep -q listening "$work/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$work/tcpdump.log" || { echo "FAIL: tcpdump did not start: $(cat "$work/tcpdump.log")"; exit 1; }
ZMTP_KEYLOG_FILE="$work/py.keys" LD_PRELOAD="$lib" timeout 60 \
  "$python" "$(dirname "$0")/py_dealer_router.py" "$port" "$count"
sleep 1.5
kill "$tcpdump_pid"; wait "$tcpdump_pid" || true

"$replay" -q --ports "$port" --keylog "$work/py.keys" --json "$work/py.pcap" >"$work/report.json"
"$python" - "$work/report.json" "$count" <<'PY'
import json, sys
report, count = json.load(open(sys.argv[1])), int(sys.argv[2])
conns = report["connections"]
assert len(conns) == 1, f"expected 1 connection, got {len(conns)}"
c = conns[0]
assert c["decryption"]["state"] == "decrypted", c["decryption"]
for d in ("client_to_server", "server_to_client"):
    s = c[d]
    assert s["messages"] == count, f"{d}: {s['messages']} messages, expected {count}"
    assert s["decrypted_messages"] == count, f"{d}: {s['decrypted_messages']} decrypted of {count}"
    assert s["boxes_not_opened"] == 0, f"{d}: {s['boxes_not_opened']} boxes not opened"
print(f"ok: {count} + {count} CURVE messages of a pyzmq program decrypted from its key log")
PY
