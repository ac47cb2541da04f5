#!/usr/bin/env bash
# Plays every capgen scenario into a temporary folder and checks the result.
# Usage: run_capgen.sh ZMTP_CAPGEN ZMTP_CAPGEN_CHECK LIBZMTP_KEYLOG [ZMTP_CAPTURE_CHECK]
# Exit 77 (skipped) when capturing is impossible here: not root, or no tcpdump.
set -euo pipefail

capgen=$1 checker=$2 keylog=$3 capture_check=${4:-}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: capturing on lo needs root (tcpdump)"
  exit 77
fi
if ! command -v tcpdump >/dev/null; then
  echo "SKIP: tcpdump is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi

# Ports 22069, 22070, 25555: clear of the real ports other tests use, and below the kernel's
# ephemeral range, so no client connection of another program can use them.
port_offset=20000
out=$(mktemp -d /tmp/zmtp-capgen-test.XXXXXX)
trap 'rm -rf "$out"' EXIT

scenarios=$("$capgen" --list | cut -f1)
echo "== zmtp-capgen into $out (port offset $port_offset)"
timeout 500 "$capgen" --out "$out" --port-offset "$port_offset" --keylog-lib "$keylog" \
  --exchange-log "$out/exchange.log"
echo "== zmtp-capgen-check"
# shellcheck disable=SC2086
timeout 60 "$checker" --require-ephemeral --exchange-log "$out/exchange.log" "$out" $scenarios
if [ -n "$capture_check" ]; then
  echo "== libzmtp decodes the fresh captures (zmtp-capture-check)"
  timeout 300 "$capture_check" "$out"
fi
