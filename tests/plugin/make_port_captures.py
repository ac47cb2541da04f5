#!/usr/bin/python3
"""Captures the conversations of tests/plugin/ports_tests.py: real libzmq REQ/REP (pyzmq) on
X11's ports 6000-6009 and HTTP's 8080, and, on the same ports, traffic that is not ZMTP: an
HTTP request to Python's http.server on 8080 and an X11 connection setup (answered "Failed", as
an X server without the client's authorisation does) on 6000.

  sudo /usr/bin/python3 tests/plugin/make_port_captures.py tests/plugin

writes ports-zmtp.pcapng and ports-other.pcapng there (tcpdump on lo, as root). Needs
python3-zmq, tcpdump and tshark (scripts/install-deps.sh). The ports must be free while it runs.
"""

import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import zmq

ZMTP_PORTS = list(range(6000, 6010)) + [8080]
REQUESTS = 2


def capture(path, ports, traffic):
    bpf = " or ".join("tcp port %d" % p for p in ports)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-s", "0", "-w", path, bpf],
                            stderr=subprocess.PIPE)
    # (its last lines, the packet counts, are left unread)
    # tcpdump says "listening on lo" once the capture is open.
    while b"listening on" not in dump.stderr.readline():
        if dump.poll() is not None:
            sys.exit("tcpdump failed")
    time.sleep(1)  # the filter is attached a little after that line
    try:
        traffic()
        time.sleep(1.5)  # the last packets reach tcpdump
    finally:
        dump.terminate()
        dump.wait(timeout=10)
    os.chmod(path, 0o644)


def zmtp_conversations():
    ctx = zmq.Context()
    for port in ZMTP_PORTS:
        rep = ctx.socket(zmq.REP)
        rep.bind("tcp://127.0.0.1:%d" % port)
        req = ctx.socket(zmq.REQ)
        req.connect("tcp://127.0.0.1:%d" % port)
        for i in range(REQUESTS):
            req.send(b"ping %d on %d" % (i, port))
            rep.send(b"pong " + rep.recv())
            req.recv()
        req.close(linger=1000)
        time.sleep(0.1)
        rep.close(linger=1000)
        time.sleep(0.1)
    ctx.term()


# X11 connection setup (X Window System Protocol, "Connection Setup"): byte order 'l',
# protocol 11.0, no authorisation; the server's reply: Failed, reason, 11.0.
X11_SETUP = b"l\0" + struct.pack("<HHHH", 11, 0, 0, 0) + b"\0\0"
X11_REASON = b"No protocol specified\n"


def x11_failed_reply():
    pad = (-len(X11_REASON)) % 4
    return (bytes([0, len(X11_REASON)]) + struct.pack("<HHH", 11, 0, (len(X11_REASON) + pad) // 4)
            + X11_REASON + b"\0" * pad)


def other_conversations():
    # HTTP on 8080.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 8080),
                                             http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        urllib.request.urlopen("http://127.0.0.1:8080/nonexistent-zmtpscope-test",
                               timeout=10).read()
    except urllib.error.HTTPError as e:  # 404: an ordinary HTTP answer
        e.read()
    server.shutdown()
    server.server_close()
    thread.join()
    # X11-like setup on 6000.
    listener = socket.create_server(("127.0.0.1", 6000))
    client = socket.create_connection(("127.0.0.1", 6000))
    conn, _ = listener.accept()
    client.sendall(X11_SETUP)
    got = b""
    while len(got) < len(X11_SETUP):
        got += conn.recv(64)
    conn.sendall(x11_failed_reply())
    client.recv(256)
    client.close()
    conn.close()
    listener.close()


def payload_bytes_by_port(path, ports):
    """TCP payload bytes per server port, retransmissions not counted (tshark, no plugin
    needed: every port's conversation is counted whatever decodes it)."""
    out = subprocess.run(["tshark", "-n", "-r", path, "-Y", "not tcp.analysis.retransmission",
                          "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport",
                          "-e", "tcp.len"], capture_output=True, text=True, check=True).stdout
    total = dict.fromkeys(ports, 0)
    for line in out.splitlines():
        src, dst, length = (int(v) for v in line.split("\t"))
        port = src if src in total else dst
        if port in total:
            total[port] += length
    return total


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    zmtp = os.path.join(out, "ports-zmtp.pcapng")
    # The conversations are alike (the port numbers have four digits each): a capture whose
    # conversations differ in size lost packets on a busy machine, and is taken again.
    for attempt in range(5):
        capture(zmtp, ZMTP_PORTS, zmtp_conversations)
        sizes = payload_bytes_by_port(zmtp, ZMTP_PORTS)
        if len(set(sizes.values())) == 1:
            break
        print("packets lost (payload bytes by port: %s), capturing again" % sizes)
    else:
        sys.exit("every capture lost packets")
    capture(os.path.join(out, "ports-other.pcapng"), [6000, 8080], other_conversations)


if __name__ == "__main__":
    main()
