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
# A socket with this local or remote port, listening or connected (TIME_WAIT aside).
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v port=":$hex" '$4 != "06" && ($2 ~ port "$" || $3 ~ port "$") { found = 1 }
                       END { exit !found }' /proc/net/tcp /proc/net/tcp6
}
for port in 2069 2070 5555; do
  if port_in_use "$port"; then
    echo "$0: port $port is in use (see: ss -tanp | grep $port)" >&2
    exit 1
  fi
done
exec timeout 600 "$capgen" --out "$out_dir" --keylog-lib "$keylog" "$@"
