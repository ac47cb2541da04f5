#!/usr/bin/env bash
# Quick start, command 1: install what is needed, build, and decode + decrypt + analyse the
# bundled default capture (captures/ctrlx-like.pcapng, CURVE on the ctrlX ports 2069/2070),
# then a capture that starts after the handshake (captures/curve-late-start.pcapng).
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

late=captures/curve-late-start.pcapng
late_keys=captures/curve-late-start.keys
echo
echo "=== a capture started 1 s after the handshake ($late): found again and decrypted ==="
./scripts/zmq-tshark -r "$late" -o "zmq.keylog_file:$late_keys" -Y zmq -c 8
echo
"$build/tools/replay/zmtp-replay" -q --keylog "$late_keys" "$late"
echo
echo "HTML report with plots: $build/ctrlx-like.html"
