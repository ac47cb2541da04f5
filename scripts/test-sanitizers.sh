#!/usr/bin/env bash
# Builds the CMake preset "sanitize" (ASan + UBSan, build-asan/) and runs the whole ctest suite
# in it. Run after the normal suite (.ci/run); extra ctest arguments are passed on.
#
# The suite runs in two parts:
# 1. every test but the plugin's, with leak detection;
# 2. the plugin's tests (label "plugin"): tshark itself is not instrumented, so the ASan
#    runtime must be the first library it loads (LD_PRELOAD); leak detection is off there,
#    since it would report tshark's and python's own allocations at exit, not the plugin's.
#    tests/hostile's mutation test loads the sanitized plugin the same way, by itself.
# tshark starts its extcap helpers (androiddump, ...) at start-up; with the ASan runtime
# preloaded they deadlock at exit (glibc's locale lock in libp11-kit's destructor), so tshark
# gets an empty extcap folder (WIRESHARK_EXTCAP_DIR, which it honours as "nobody" too).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-asan
start=$(date +%s)

cmake --preset sanitize >/dev/null
cmake --build --preset sanitize

compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
asan_runtime=$("$compiler" -print-file-name=libasan.so)
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
common_asan=abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
ctest_args=(--test-dir "$build_dir" --output-on-failure -j2 --timeout 900 "$@")

extcap_dir=$(mktemp -d /tmp/zmtp-no-extcap.XXXXXX)
chmod 755 "$extcap_dir"
trap 'rmdir "$extcap_dir"' EXIT
export WIRESHARK_EXTCAP_DIR=$extcap_dir

status=0
echo "== sanitizers: all tests except the plugin's (ASan + UBSan, leaks checked)"
ASAN_OPTIONS=$common_asan:detect_leaks=1 ctest "${ctest_args[@]}" -LE '^plugin$' || status=1

echo "== sanitizers: plugin tests (sanitized zmq.so in tshark, ASan runtime preloaded)"
ASAN_OPTIONS=$common_asan:detect_leaks=0 LD_PRELOAD=$asan_runtime \
  ctest "${ctest_args[@]}" -L '^plugin$' || status=1

echo "test-sanitizers: $(( $(date +%s) - start )) s (build and tests), status $status"
exit $status
