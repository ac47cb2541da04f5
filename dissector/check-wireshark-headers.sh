#!/usr/bin/env bash
# Compiles the plugin's sources (syntax only, -Werror) against another Wireshark's headers,
# to keep the version guards right without installing that Wireshark.
#
#   dissector/check-wireshark-headers.sh INCLUDE_DIR       e.g. /usr/include/wireshark
#   dissector/check-wireshark-headers.sh --fetch SUITE     e.g. trixie (4.4), forky (4.6)
#
# --fetch downloads libwireshark-dev, libwsutil-dev, libwiretap-dev and wireshark-dev of a
# Debian suite with a temporary apt configuration under /tmp (the system's apt sources are
# not touched) and unpacks them there. Nothing here is part of the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

fetch() {
  local suite=$1 work
  work=$(mktemp -d /tmp/zmq-ws-headers.XXXXXX)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  echo "deb http://deb.debian.org/debian $suite main" >"$work/sources.list"
  # Testing's Release file (forky) can be past its Valid-Until date on the mirror; these are
  # headers for a syntax check, so the date is not checked.
  local apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
             -o "Dir::State::lists=$work/lists" -o "Dir::Cache=$work/cache"
             -o "Acquire::Check-Valid-Until=false")
  timeout 300 apt-get -q "${apt[@]}" update >&2
  (cd "$work/debs" && timeout 300 apt-get -q "${apt[@]}" download \
    libwireshark-dev libwsutil-dev libwiretap-dev wireshark-dev >&2)
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done
  echo "$work/root/usr/include/wireshark"
}

if [ "${1:-}" = --fetch ]; then
  include=$(fetch "${2:?--fetch needs a Debian suite, e.g. trixie}")
else
  include=${1:?usage: $0 INCLUDE_DIR | --fetch SUITE}
fi
[ -f "$include/ws_version.h" ] || { echo "no ws_version.h in $include" >&2; exit 2; }
echo "Wireshark $(sed -n 's/#define WIRESHARK_VERSION_\(MAJOR\|MINOR\|MICRO\) //p' \
  "$include/ws_version.h" | paste -sd.) headers in $include"

common=(-fsyntax-only -Wall -Wextra -Werror -DZMQ_PLUGIN_VERSION='"check"'
        -I"$here/../libzmtp/include" $(pkg-config --cflags-only-I glib-2.0) -isystem "$include")
failed=0
for source in "$here"/*.cpp "$here"/*.c; do
  case $source in
    *.c) compiler=(cc -std=c11) ;;
    *) compiler=(c++ -std=c++20) ;;
  esac
  if "${compiler[@]}" "${common[@]}" "$source"; then
    echo "ok   $(basename "$source")"
  else
    echo "FAIL $(basename "$source")"
    failed=1
  fi
done
exit $failed
