#!/usr/bin/env bash
# Quick start, command 1: install what is needed, build, and decode + decrypt + analyse the
# bundled default capture (captures/ctrlx-like.pcapng, CURVE on the ctrlX ports 2069/2070).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
build=${BUILD_DIR:-build}
capture=captures/ctrlx-like.pcapng
keys=captures/ctrlx-like.keys

echo
echo "=== tshark with the zmq plugin: $capture decoded and decrypted ==="
./scripts/zmq-tshark -r "$capture" -o "zmq.keylog_file:$keys" -Y zmq

echo
echo "=== zmtp-replay: handshakes, latency, heartbeats, connection ends ==="
"$build/tools/replay/zmtp-replay" -q --keylog "$keys" --html "$build/ctrlx-like.html" "$capture"
echo
echo "HTML report with plots: $build/ctrlx-like.html"
