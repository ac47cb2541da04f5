#!/usr/bin/env bash
# Runs a CURVE peers program under the key logger, then checks the key log it produced. Both
# peers run in one process under the logger, so each connection's SESSION_KEY is logged twice.
#   run_curve_test.sh LIB VERIFY WORKDIR CLIENTS PEER_COMMAND...
set -uo pipefail
lib=$1 verify=$2 work=$3 clients=$4
shift 4

rm -rf "$work" && mkdir -p "$work" || exit 1
ZMTP_KEYLOG_FILE="$work/keys.log" LD_PRELOAD="$lib" timeout 120 "$@" --dir "$work" --clients "$clients" \
  >"$work/peer.stdout" 2>"$work/peer.stderr"
status=$?
cat "$work/peer.stdout" "$work/peer.stderr"
[ $status -eq 0 ] || { echo "FAIL: the peers exited with $status"; exit 1; }
if grep -q 'zmtp-keylog:' "$work/peer.stderr"; then
  echo "FAIL: the key logger complained"; exit 1
fi
if grep -Eq '[0-9a-fA-F]{64}' "$work/peer.stdout" "$work/peer.stderr"; then
  echo "FAIL: a key was printed"; exit 1
fi

absent=()
[ -f "$work/absent.keylog" ] && absent=(--absent "$work/absent.keylog")
shopt -s nullglob
exec "$verify" --keylog "$work/keys.log" --expect "$work/expect.keylog" "${absent[@]}" \
  --connections "$clients" --session-keys-per-connection 2 "$work"/conn-*.c2s
