#!/usr/bin/env bash
# Builds the libFuzzer binaries (CMake preset "fuzz": clang, ASan + UBSan, build-fuzz/) and runs
# each fuzz target for a given time: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: session keystore capture (default: all). PARALLEL=2 runs two at a time.
#
# Each target starts from its committed seeds (tests/fuzz/corpus/TARGET) plus what earlier
# runs found (build-fuzz/fuzz/TARGET/corpus). Findings land in build-fuzz/fuzz/TARGET/: the
# crashing input (crash-*, leak-*, timeout-*, oom-*) and log.txt. Copy a finding into
# tests/fuzz/regressions/TARGET/ once it is fixed, so the normal suite keeps it fixed.
# A run stops at its first finding; FORK=1 uses libFuzzer's fork mode, which goes on after
# findings (so one known bug does not hide the next) but runs several times slower.
# Exit code: 0 when no run found anything, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(session keystore capture)
parallel=${PARALLEL:-1}
fork_args=()
[ "${FORK:-0}" = 1 ] && fork_args=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)

declare -A max_len=([session]=16384 [keystore]=16384 [capture]=262144)
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "fuzz.sh: unknown target $t (session keystore capture)" >&2; exit 2; }
done

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz >/dev/null

run_target() {
  local t=$1 work=build-fuzz/fuzz/$1
  mkdir -p "$work/corpus"
  # Leaks are checked by the replay test; here they would stop a run on the first one.
  ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n 10 "build-fuzz/tests/fuzz/fuzz_$t" "$work/corpus" "tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/" "${fork_args[@]}" >"$work/log.txt" 2>&1
}

summary() {
  local t=$1 work=build-fuzz/fuzz/$1 last
  last=$(grep -E "^#[0-9]+" "$work/log.txt" | tail -1 || true)
  echo "$t: ${last:-no progress line}"
  local findings
  findings=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o \
             -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
  echo "$t: $findings finding(s) in $work/"
  [ "$findings" -eq 0 ]
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  echo "fuzz.sh: $t for ${seconds}s (log: build-fuzz/fuzz/$t/log.txt)"
  run_target "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$parallel" ]; then
    wait "${pids[0]}" || true
    summary "${names[0]}" || status=1
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || true
  summary "${names[$i]}" || status=1
done
exit $status
