#!/usr/bin/env bash
# Takes docs/wireshark-curve-decrypted.png: the real Wireshark (Qt) window, under Xvfb, with
# captures/ctrlx-like.pcapng opened with its key log, a CurveZMQ MESSAGE selected, its ZMQ
# tree and decrypted frame expanded and the "Decrypted ZMQ" bytes tab showing.
#
#   docs/make-screenshot.sh [BUILD_DIR]      (default: build; the plugin must be built)
#
# The GUI is not needed to build or test the project, so its packages are installed here
# (as root, with apt-get) rather than by scripts/install-deps.sh. Wireshark refuses personal
# plugins as root, so as root it runs as "nobody" with a private copy of the plugin.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
out=$top/docs/wireshark-curve-decrypted.png
capture=$top/captures/ctrlx-like.pcapng
keys=$top/captures/ctrlx-like.keys
frame=35  # DEALER->ROUTER "read" request: three decrypted MESSAGE boxes in one packet
width=1600
height=1000

plugin=$(ls "$build"/dissector/plugins/*/epan/zmq.so 2>/dev/null | head -1 || true)
[ -n "$plugin" ] || { echo "no zmq.so under $build/dissector/plugins: build it first" >&2; exit 2; }
abi=$(basename "$(dirname "$(dirname "$plugin")")")

install_gui_tools() {
  local missing=()
  command -v wireshark >/dev/null || missing+=(wireshark-qt)
  command -v Xvfb >/dev/null || missing+=(xvfb)
  command -v xdotool >/dev/null || missing+=(xdotool)
  [ -x /usr/bin/import ] || missing+=(imagemagick)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 2
  fi
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends \
    "${missing[@]}" fonts-dejavu-core
}
install_gui_tools

work=$(mktemp -d /tmp/zmq-screenshot.XXXXXX)
xvfb_pid=
wireshark_pid=
cleanup() {
  [ -n "$wireshark_pid" ] && kill "$wireshark_pid" 2>/dev/null || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/plugins/$abi/epan" "$work/home"
cp "$plugin" "$work/plugins/$abi/epan/zmq.so"
cp "$capture" "$keys" "$work/"
chmod -R a+rX "$work"
chmod 0777 "$work/home"

# Xvfb picks a free display and writes its number to fd 3.
Xvfb -displayfd 3 -screen 0 "${width}x${height}x24" -nolisten tcp 3>"$work/display" \
  2>"$work/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 50); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || { echo "Xvfb did not start:" >&2; cat "$work/xvfb.log" >&2; exit 1; }
export DISPLAY=":$(cat "$work/display")"

run_as_user=()
[ "$(id -u)" -eq 0 ] && run_as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
(cd "$work" && exec "${run_as_user[@]}" env HOME="$work/home" \
  WIRESHARK_PLUGIN_DIR="$work/plugins" wireshark \
  -r "$work/$(basename "$capture")" -o "zmq.keylog_file:$work/$(basename "$keys")" \
  -o 'gui.column.format:"No.","%m","Time","%t","Protocol","%p","Length","%L","Info","%i"' \
  -Y zmq -g "$frame" >"$work/wireshark.log" 2>&1) &
wireshark_pid=$!

window=
for _ in $(seq 120); do
  window=$(xdotool search --name "$(basename "$capture")" 2>/dev/null | head -1 || true)
  [ -n "$window" ] && break
  sleep 0.5
done
[ -n "$window" ] || { echo "no Wireshark window:" >&2; cat "$work/wireshark.log" >&2; exit 1; }
xdotool windowmove --sync "$window" 0 0
xdotool windowsize --sync "$window" "$width" "$height"
sleep 3  # dissection and layout

# Packet details pane (lower left at this size): its first row is "Frame 35"; then Ethernet,
# IP, TCP and the packet's three ZMQ units. Open the second unit (its decrypted frame is the
# data path) one level, then its "Frame (decrypted)" item with all its subtrees: selecting
# it brings up its "Decrypted ZMQ" bytes tab.
xdotool mousemove 200 548 click 1
sleep 0.5
xdotool key --delay 150 Down Down Down Down Down Right
xdotool key --delay 150 Down Down Down Down Down Down Down shift+Right
sleep 2
import -window root "$out"
echo "wrote $out"
