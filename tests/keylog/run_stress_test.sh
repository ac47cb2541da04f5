#!/usr/bin/env bash
# Two programs at once, each forking two children, each process with 8 threads making keypairs,
# all logging to one file: every line must be whole and every keypair logged exactly once. The
# children of the second program close every inherited descriptor and open a decoy file that
# gets the key log's old number: the decoy must stay empty.
#   run_stress_test.sh LIB VERIFY STRESS WORKDIR
set -uo pipefail
lib=$1 verify=$2 stress=$3 work=$4
threads=8 keys=150 forks=2 instances=2

rm -rf "$work" && mkdir -p "$work" || exit 1
pids=()
for i in $(seq "$instances"); do
  decoy=()
  [ "$i" -eq 2 ] && decoy=(--decoy "$work/decoy.txt")
  ZMTP_KEYLOG_FILE="$work/keys.log" LD_PRELOAD="$lib" timeout 120 "$stress" --threads $threads \
    --keys $keys --forks $forks --publics "$work/publics.txt" "${decoy[@]}" >"$work/stress-$i.out" 2>&1 &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
cat "$work"/stress-*.out
[ $failed -eq 0 ] || { echo "FAIL: a stress program failed"; exit 1; }
if grep -q 'zmtp-keylog:' "$work"/stress-*.out; then echo "FAIL: the key logger complained"; exit 1; fi
[ -f "$work/decoy.txt" ] || { echo "FAIL: no decoy file"; exit 1; }
[ -s "$work/decoy.txt" ] && { echo "FAIL: keys were written to the program's own file"; exit 1; }

exec "$verify" --keylog "$work/keys.log" --publics "$work/publics.txt" \
  --processes $((instances * (forks + 1)))
