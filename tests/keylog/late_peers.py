#!/usr/bin/env python3
"""A long-lived pyzmq CURVE DEALER/ROUTER connection for a capture that starts late.

Run under LD_PRELOAD=libzmtp-keylog.so with ZMTP_KEYLOG_FILE set (run_late_capture_test.sh).
Both peers are in this process. The DEALER sends ZMTP heartbeats (IVL 1 s, TTL 3 s), like a
ctrlX Data Layer client. After the first round trip (the handshake is done) it creates
DIR/connected, then keeps sending a request every 50 ms, each answered by the ROUTER, until
DIR/capturing appears; then it sends COUNT more requests, each answered, and closes.

Every message either side sent is appended to DIR/sent.jsonl, in order, as it is on the wire
(the ROUTER's routing-id frame never travels): {"phase": "before"|"after", "dir":
"client_to_server"|"server_to_client", "frames": [hex, ...]}. "after": sent once DIR/capturing
existed.

    late_peers.py PORT DIR COUNT
"""
import json
import os
import sys
import time

import zmq

from curve_pair import curve_dealer_router

PERIOD_S = 0.05
WAIT_FOR_CAPTURE_S = 60


def main():
    port, work, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ctx = zmq.Context()
    server, client = curve_dealer_router(ctx, port)
    client.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    client.setsockopt(zmq.HEARTBEAT_TTL, 3000)
    client.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
    client.rcvtimeo = server.rcvtimeo = 5000
    client.connect(f"tcp://127.0.0.1:{port}")

    sent = open(os.path.join(work, "sent.jsonl"), "w")

    def record(phase, direction, frames):
        line = {"phase": phase, "dir": direction, "frames": [f.hex() for f in frames]}
        sent.write(json.dumps(line) + "\n")

    def round_trip(phase, i):
        request = [b"read", b"framework/metrics/system/cpu-utilisation-percent", str(i).encode()]
        if i % 10 == 3:
            request.append(bytes(range(256)) * 2)  # a long frame (ZMTP size > 255)
        record(phase, "client_to_server", request)
        client.send_multipart(request)
        identity, *parts = server.recv_multipart()
        if parts != request:
            raise SystemExit(f"the ROUTER received {parts!r}, not request {i}")
        reply = [b"value", str(i).encode(), f"{10 + i % 7}.5".encode()]
        record(phase, "server_to_client", reply)
        server.send_multipart([identity] + reply)
        if client.recv_multipart() != reply:
            raise SystemExit(f"the DEALER did not receive reply {i}")

    round_trip("before", 0)  # the handshake is over once this returns
    open(os.path.join(work, "connected"), "w").close()
    i, deadline = 1, time.monotonic() + WAIT_FOR_CAPTURE_S
    while not os.path.exists(os.path.join(work, "capturing")):
        if time.monotonic() > deadline:
            raise SystemExit("the capture never started")
        round_trip("before", i)
        i += 1
        time.sleep(PERIOD_S)
    for _ in range(count):
        round_trip("after", i)
        i += 1
        time.sleep(PERIOD_S)
    sent.close()
    client.close(linger=1000)
    server.close(linger=1000)
    ctx.term()


if __name__ == "__main__":
    main()
