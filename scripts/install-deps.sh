#!/usr/bin/env bash
# Installs every Debian 12 package zmtpscope needs to build, test and run.
# Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format git
  libsodium-dev libpcap-dev libglib2.0-dev libzmq3-dev
  wireshark-dev libwireshark-dev tshark
  catch2 libcli11-dev nlohmann-json3-dev libfmt-dev
  tcpdump python3 python3-zmq util-linux clang libclang-rt-14-dev valgrind chromium
  debootstrap
  dpkg-dev file
  libjeromq-java default-jdk-headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
