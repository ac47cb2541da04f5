#!/usr/bin/env bash
# Regenerates the committed captures: every scenario on the real ports (2069, 2070, 5555),
# CURVE ones under the key logger so their ephemeral keys are in NAME.keys.
# Usage: tools/capgen/regenerate.sh BUILD_DIR [OUT_DIR] [SCENARIO...]
# Needs root (tcpdump on lo) and the ports free. OUT_DIR defaults to captures/.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [OUT_DIR] [SCENARIO...]" >&2
  exit 2
fi
build_dir=$1
out_dir=${2:-$(dirname "$0")/../../captures}
shift $(( $# >= 2 ? 2 : 1 ))

capgen=$build_dir/tools/capgen/zmtp-capgen
keylog=$build_dir/tools/keylog/libzmtp-keylog.so
for f in "$capgen" "$keylog"; do
  if [ ! -e "$f" ]; then
    echo "$0: $f is missing: build the project first (cmake --build $build_dir)" >&2
    exit 1
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: tcpdump needs root to capture on lo" >&2
  exit 1
fi
busy=$(ss -Htln '( sport = :2069 or sport = :2070 or sport = :5555 )' || true)
if [ -n "$busy" ]; then
  echo "$0: a program already listens on 2069, 2070 or 5555:" >&2
  echo "$busy" >&2
  exit 1
fi
exec timeout 600 "$capgen" --out "$out_dir" --keylog-lib "$keylog" "$@"
