#!/usr/bin/env bash
# A program whose libsodium/libzmq are loaded privately under another soname still works under
# the key logger, and its keys are logged.
#   run_private_test.sh LIB LOADER CONSUMER WORKDIR
set -uo pipefail
lib=$1 loader=$2 consumer=$3 work=$4
rm -rf "$work" && mkdir -p "$work" || exit 1

ZMTP_KEYLOG_FILE="$work/keys.log" LD_PRELOAD="$lib" timeout 60 "$loader" "$consumer" 2>"$work/stderr"
status=$?
cat "$work/stderr"
[ $status -eq 0 ] || { echo "FAIL: the program exited with $status"; exit 1; }
grep -q 'zmtp-keylog:' "$work/stderr" && { echo "FAIL: the key logger complained"; exit 1; }

secret=$(printf '%02x' $(seq 160 191))  # the provider's fixed secret a0 a1 ... bf
server=54fcba24e93249969316fb617c872bb0c1d1ff14800427c594cbfacf1bc2d652  # Z85 rq:rM>}U?...
session=$(printf '%02x' $(seq 192 223))  # the provider's k c0 c1 ... df
failures=0
grep -qx "EPHEMERAL_SECRET $secret" "$work/keys.log" || { echo "FAIL: the secret was not logged"; failures=1; }
grep -qx "SERVER_PUBLIC $server" "$work/keys.log" || { echo "FAIL: the server key was not logged"; failures=1; }
grep -qx "SESSION_KEY $session" "$work/keys.log" || { echo "FAIL: the session key was not logged"; failures=1; }
grep -q "eeeeeeee" "$work/keys.log" && { echo "FAIL: a failed crypto_box_beforenm was logged"; failures=1; }
[ "$(grep -vc '^#' "$work/keys.log")" -eq 3 ] || { echo "FAIL: expected exactly 3 key lines"; failures=1; }
[ $failures -eq 0 ] && echo "private library: calls passed through, keys logged"
exit $failures
