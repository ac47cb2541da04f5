#!/usr/bin/env bash
# Takes docs/wireshark-curve-decrypted.png: the real Wireshark (Qt) window, under Xvfb, with
# captures/ctrlx-like.pcapng opened with its key log, a CurveZMQ MESSAGE selected, its ZMQ
# tree and decrypted frame expanded and the "Decrypted ZMQ" bytes tab showing.
#
#   docs/make-screenshot.sh [BUILD_DIR]      (default: build; the plugin must be built)
#   docs/make-screenshot.sh --wireshark 4.6  docs/wireshark-4.6-curve-decrypted.png, with
#                                            Wireshark 4.6's GUI
#   docs/make-screenshot.sh --out FILE [BUILD_DIR]
#
# --wireshark 4.6 (or 4.4) runs this script again inside the Debian chroot of that version
# that scripts/wireshark-matrix.sh made (and built the plugin in: run the matrix first), in an
# overlay whose changes (the GUI packages) are gone afterwards: the chroot stays as it was.
#
# The GUI is not needed to build or test the project, so its packages are installed here
# (as root, with apt-get) rather than by scripts/install-deps.sh. Wireshark refuses personal
# plugins as root, so as root it runs as "nobody" with a private copy of the plugin.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/docs/wireshark-curve-decrypted.png
version=""
while [ $# -gt 0 ]; do
  case $1 in
    --wireshark) version=${2:?--wireshark needs a version (4.4, 4.6)}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    *) break ;;
  esac
done
build=${1:-$top/build}

# The same picture with another Wireshark: this script, in an overlay of the matrix's chroot.
if [ -n "$version" ]; then
  . "$top/scripts/chroots.sh"  # chroot_of
  root=$(chroot_of "$version")
  [ -n "$root" ] || { echo "make-screenshot: no chroot for Wireshark $version (4.4, 4.6)" >&2; exit 2; }
  [ "$(id -u)" -eq 0 ] || { echo "make-screenshot: --wireshark needs root (chroot)" >&2; exit 2; }
  cache=$chroot_cache
  chroot_build=/var/tmp/zmtpscope-build
  [ -f "$root$chroot_build/dissector/plugins/$version/epan/zmq.so" ] || {
    echo "make-screenshot: no $version plugin in $root$chroot_build: run" \
      "scripts/wireshark-matrix.sh $version first" >&2
    exit 2
  }
  final=$top/docs/wireshark-$version-curve-decrypted.png
  [ "$out" = "$top/docs/wireshark-curve-decrypted.png" ] || final=$out
  result=$(mktemp -d /tmp/zmq-screenshot-out.XXXXXX)
  mkdir -p "$cache/.overlay"
  exec 9>"$cache/.lock"
  flock -w 3600 9 || { echo "make-screenshot: $cache/.lock stays taken" >&2; exit 1; }
  unshare --mount --propagation private -- /bin/bash -euc '
    lower=$1 src=$2 result=$3 top=$4 build=$5; shift 5
    mount -t tmpfs -o size=4g zmtpscope-overlay "$top"
    mkdir "$top/upper" "$top/work" "$top/root"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$top/upper,workdir=$top/work" "$top/root"
    root=$top/root
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mkdir -p "$root/src" "$root/out"
    mount --bind "$src" "$root/src"
    mount -o remount,bind,ro "$root/src"
    mount --bind "$result" "$root/out"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -ec "
        apt-get -q -o Acquire::Check-Valid-Until=false update >/dev/null
        /src/docs/make-screenshot.sh --out /out/shot.png $build"' \
    make-screenshot "$root" "$top" "$result" "$cache/.overlay" "$chroot_build"
  cp "$result/shot.png" "$final"
  rm -rf "$result"
  echo "wrote $final"
  exit 0
fi
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
  command -v wireshark >/dev/null || missing+=(wireshark)  # the Qt GUI (wireshark-qt up to 4.4)
  command -v Xvfb >/dev/null || missing+=(xvfb)
  command -v xdotool >/dev/null || missing+=(xdotool)
  [ -x /usr/bin/import ] || missing+=(imagemagick)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 2
  fi
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends \
    -o Acquire::Check-Valid-Until=false "${missing[@]}" fonts-dejavu-core
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
