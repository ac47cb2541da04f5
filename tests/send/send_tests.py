#!/usr/bin/env python3
"""zmtp-send against real libzmq servers (pyzmq) on 127.0.0.1, started here.

usage: send_tests.py ZMTP_SEND CAPTURES_DIR TEST

Each server records what it receives, with its own timestamps. The tests assert that it
received exactly the captured client messages (captures/*.expected.json), in order, byte for
byte, with their multipart boundaries; that the latencies zmtp-send reports agree with the
servers' clocks; and that failures give their messages and exit codes. Every wait is bounded.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import zmq
from zmq.utils import z85

SEND, CAPTURES, TEST = sys.argv[1], sys.argv[2], sys.argv[3]
EXIT_REFUSED, EXIT_HANDSHAKE, EXIT_AUTH, EXIT_TIMEOUT = 3, 4, 5, 6


def fail(text):
    print("FAIL: " + text)
    sys.exit(1)


def expected(name):
    with open(os.path.join(CAPTURES, name + ".expected.json")) as f:
        return json.load(f)


def as_bytes(message):
    return [bytes.fromhex(frame) for frame in message]


def keys_of(name):
    """The capture's key log as {label: hex key} (test keys, see the file's header)."""
    out = {}
    with open(os.path.join(CAPTURES, name + ".keys")) as f:
        for line in f:
            parts = line.split("#")[0].split()
            if len(parts) == 2:
                out.setdefault(parts[0], parts[1])
    return out


def run_send(*args, timeout=60):
    cmd = [SEND, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p


def run_json(*args, expect=0, timeout=60):
    p = run_send("--json", *args, timeout=timeout)
    if p.returncode != expect:
        fail(f"zmtp-send exited {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout), p.stderr


class Server(threading.Thread):
    """A libzmq socket bound to a random loopback port, recording (time, frames) it receives and
    answering with reply(frames, index) when that returns frames."""

    def __init__(self, context, kind, reply=None, setup=None, expect=None, timeout=20):
        super().__init__(daemon=True)
        self.socket = context.socket(kind)
        self.socket.linger = 0
        if setup:
            setup(self.socket)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.reply, self.expect, self.timeout = reply, expect, timeout
        self.received = []
        self.stop = threading.Event()

    def run(self):
        deadline = time.time() + self.timeout
        while not self.stop.is_set() and time.time() < deadline:
            if self.expect is not None and len(self.received) >= self.expect:
                break
            if not self.socket.poll(50):
                continue
            frames = self.socket.recv_multipart()
            self.received.append((time.time(), frames))
            answer = self.reply(frames, len(self.received) - 1) if self.reply else None
            if answer is not None:
                self.socket.send_multipart(answer)
        time.sleep(0.2)  # let the last reply leave before the socket closes
        self.socket.close()

    def endpoint(self):
        return f"tcp://127.0.0.1:{self.port}"


class Zap(threading.Thread):
    """A ZAP handler (RFC 27) for `context`: records each request, answers `status`."""

    def __init__(self, context, status="200"):
        super().__init__(daemon=True)
        self.socket = context.socket(zmq.REP)
        self.socket.linger = 0
        self.socket.bind("inproc://zeromq.zap.01")
        self.status = status
        self.requests = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self.socket.poll(50):
                continue
            version, request_id, domain, address, identity, mechanism, *credentials = (
                self.socket.recv_multipart())
            self.requests.append({"mechanism": mechanism, "credentials": credentials,
                                  "address": address})
            self.socket.send_multipart([version, request_id, self.status.encode(),
                                        b"OK" if self.status == "200" else b"denied", b"", b""])
        self.socket.close()


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_received(received, messages, what):
    got = [frames for _, frames in received]
    if got != messages:
        for i, (a, b) in enumerate(zip(got, messages)):
            if a != b:
                fail(f"{what}: message {i + 1} received {a!r}, captured {b!r}")
        fail(f"{what}: {len(got)} message(s) received, {len(messages)} captured")


def check_latency_against_server(report, received, what):
    """Each request left before the server got it, and its reply came after: the server's clock
    sits inside every latency zmtp-send measured, and the latency is the wall-clock span."""
    requests = [r for c in report["connections"] for r in c["requests"]]
    if len(requests) != len(received):
        fail(f"{what}: {len(requests)} request(s) timed, the server received {len(received)}")
    for r, (server_time, _) in zip(requests, received):
        if r["replayed_ms"] is None or r["reply_at"] is None:
            fail(f"{what}: request {r['seq'] + 1} has no replayed latency")
        slack = 0.002  # the two clocks are read at slightly different points
        if not (r["sent_at"] - slack <= server_time <= r["reply_at"] + slack):
            fail(f"{what}: the server got request {r['seq'] + 1} at {server_time:.6f}, outside "
                 f"[{r['sent_at']:.6f}, {r['reply_at']:.6f}]")
        wall_ms = (r["reply_at"] - r["sent_at"]) * 1000
        if abs(wall_ms - r["replayed_ms"]) > 5:  # two clocks, read one after the other
            fail(f"{what}: request {r['seq'] + 1}: replayed latency {r['replayed_ms']:.3f} ms, "
                 f"wall clock {wall_ms:.3f}")
        if r["captured_ms"] is None:
            fail(f"{what}: request {r['seq'] + 1} has no captured latency")


def test_null_req_rep():
    exp = expected("null-req-rep")["connections"][0]
    requests = as_bytes_list(exp["client_to_server"]["messages"])
    replies = as_bytes_list(exp["server_to_client"]["messages"])
    # A REP socket hands the application the message without REQ's empty delimiter frame.
    want = [m[1:] for m in requests]
    context = zmq.Context()
    server = Server(context, zmq.REP, reply=lambda frames, i: replies[i][1:],
                    setup=lambda s: None, expect=len(want))
    server.start()
    report, _ = run_json("--to", server.endpoint(), os.path.join(CAPTURES, "null-req-rep.pcapng"))
    server.join(30)
    check_received(server.received, want, "REP server")
    c = report["connections"][0]
    if c["captured"]["socket_types"] != ["REQ", "REP"]:
        fail(f"socket types {c['captured']['socket_types']}")
    if (c["messages_sent"], c["replies_received"], c["replies_equal"]) != (4, 4, 4):
        fail(f"sent/received/equal {c['messages_sent']}/{c['replies_received']}/{c['replies_equal']}")
    check_latency_against_server(report, server.received, "REP server")
    # Paced as captured: the server's arrival times keep the captured spacing (the capture's
    # requests are 0.1 ms apart; the bound is loose for a loaded machine, and tight enough to
    # fail when pacing stretched them to the reply timeout).
    gaps = [b[0] - a[0] for a, b in zip(server.received, server.received[1:])]
    if max(gaps) > 0.5:
        fail(f"requests arrived {gaps} s apart")

    # A server that answers differently: the report says which reply and where.
    context2 = zmq.Context()
    other = [r[1:] for r in replies]
    other[1] = [b"21.7"]
    server = Server(context2, zmq.REP, reply=lambda frames, i: other[i], expect=len(want))
    server.start()
    report, _ = run_json("--fast", "--to", server.endpoint(),
                         os.path.join(CAPTURES, "null-req-rep.pcapng"))
    server.join(30)
    check_received(server.received, want, "REP server, --fast")
    c = report["connections"][0]
    flags = [r["reply_equal"] for r in c["requests"]]
    if flags != [True, False, True, True]:
        fail(f"reply_equal {flags}")
    diff = c["requests"][1].get("first_difference", "")
    if "frame 1 differs at byte 3" not in diff or '"5"' not in diff or '"7"' not in diff:
        fail(f"first difference: {diff!r}")
    print("ok: the REP server received the 4 captured requests exactly, replies compared, "
          "latencies inside the server's timestamps")


def as_bytes_list(messages):
    return [as_bytes(m) for m in messages]


def curve_server_setup(secret_hex, context):
    def setup(s):
        s.curve_server = True
        s.curve_secretkey = bytes.fromhex(secret_hex)
        s.zap_domain = b"test"
    return setup


def test_curve_dealer_router():
    name = "curve-dealer-router"
    exp = expected(name)["connections"][0]
    want = as_bytes_list(exp["client_to_server"]["messages"])
    keys = keys_of(name)
    context = zmq.Context()
    zap = Zap(context)
    zap.start()
    # A ROUTER echo server: it sends every message back to its sender.
    identities = []

    def echo(frames, i):
        identities.append(frames[0])
        return frames

    server = Server(context, zmq.ROUTER, reply=echo,
                    setup=curve_server_setup(keys["SERVER_SECRET"], context), expect=len(want))
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        public, secret = zmq.curve_keypair()
        cert = os.path.join(tmp, "client.key_secret")
        with open(cert, "w") as f:
            f.write("curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n"
                    % (public.decode(), secret.decode()))
        report, _ = run_json("--fast", "-k", os.path.join(CAPTURES, name + ".keys"),
                             "--curve-server-key", keys["SERVER_PUBLIC"],
                             "--curve-client-cert", cert, "--to", server.endpoint(),
                             os.path.join(CAPTURES, name + ".pcapng"))
    server.join(30)
    zap.stop.set()
    # The ROUTER sees the routing id first, then the DEALER's frames as captured.
    check_received([(t, f[1:]) for t, f in server.received], want, "ROUTER server")
    if set(identities) != {b"dealer-1"}:
        fail(f"routing ids {set(identities)}, the capture's DEALER was 'dealer-1'")
    if not zap.requests or zap.requests[0]["mechanism"] != b"CURVE":
        fail(f"ZAP requests {zap.requests}")
    if zap.requests[0]["credentials"] != [z85.decode(public)]:
        fail("ZAP saw another client key than the certificate's")
    c = report["connections"][0]
    if report["mechanism"] != "CURVE" or c["messages_sent"] != len(want):
        fail(f"mechanism {report['mechanism']}, {c['messages_sent']} sent")
    # Echoes equal the captured replies exactly where the captured reply repeated the request.
    replies = as_bytes_list(exp["server_to_client"]["messages"])
    flags = [r["reply_equal"] for r in c["requests"]]
    truth = [want[i] == replies[i] for i in range(len(want))]
    if flags != truth:
        fail(f"reply_equal {flags}, the messages say {truth}")
    if c["replies_differ"] != truth.count(False) or c["replies_equal"] != truth.count(True):
        fail(f"equal/differ {c['replies_equal']}/{c['replies_differ']}")
    check_latency_against_server(report, server.received, "ROUTER server")
    print(f"ok: CURVE with ZAP, the ROUTER received the {len(want)} captured messages exactly")


def test_pub_sub():
    name = "pub-sub"
    exp = expected(name)["connections"][0]
    context = zmq.Context()
    # An XPUB hands over every subscription and cancel as a message: \x01 or \x00 + topic.
    server = Server(context, zmq.XPUB, setup=lambda s: s.setsockopt(zmq.XPUB_VERBOSER, 1))
    server.start()
    report, _ = run_json("--speed", "8", "--reply-timeout", "1", "--to", server.endpoint(),
                         os.path.join(CAPTURES, name + ".pcapng"))
    server.stop.set()
    server.join(30)
    got = [frames for _, frames in server.received]
    # The capture's notes: subscribe 'weather.' and 'news.', later cancel 'news.' and
    # subscribe 'alerts.'.
    want = [[b"\x01weather."], [b"\x01news."], [b"\x00news."], [b"\x01alerts."]]
    # When the SUB socket closes, libzmq cancels what it still subscribes to.
    # Those may or may not reach the server before it stops.
    closing = got[4:]
    if got[:4] != want or any(c not in [[b"\x00alerts."], [b"\x00weather."]] for c in closing):
        fail(f"XPUB received {got}")
    got = got[:4]
    commands = exp["client_to_server"]["commands"]
    if sum(1 for g in got if g[0][0] == 1) != commands["SUBSCRIBE"] or \
            sum(1 for g in got if g[0][0] == 0) != commands["CANCEL"]:
        fail(f"subscriptions {got}, expected {commands}")
    # Paced at 8x: the cancel came about 224/8 ms after the first subscriptions (as captured,
    # 224 ms: the bound tells the two apart).
    spread = server.received[2][0] - server.received[0][0]
    if not 0.015 < spread < 0.2:
        fail(f"the cancel came {spread:.3f} s after the first subscription (captured 0.224 s, "
             "at --speed 8 about 0.028 s)")
    if report["connections"][0]["subscriptions_sent"] != 4:
        fail("subscriptions_sent")
    print("ok: the XPUB server received the captured subscriptions and cancel in order")


def test_many_connections():
    name = "many-connections"
    exp = expected(name)
    want = {}
    context = zmq.Context()
    zap = Zap(context)
    zap.start()
    keys = keys_of(name)
    total = sum(len(c["client_to_server"]["messages"]) for c in exp["connections"])
    server = Server(context, zmq.ROUTER, reply=lambda frames, i: frames,
                    setup=curve_server_setup(keys["SERVER_SECRET"], context), expect=total)
    server.start()
    report, _ = run_json("-k", os.path.join(CAPTURES, name + ".keys"), "--curve-server-key",
                         os.path.join(CAPTURES, name + ".keys"), "--to", server.endpoint(),
                         os.path.join(CAPTURES, name + ".pcapng"))
    server.join(30)
    zap.stop.set()
    by_identity = {}
    for _, frames in server.received:
        by_identity.setdefault(frames[0], []).append(frames[1:])
    for i, c in enumerate(exp["connections"]):
        want[f"client-{i + 1:02d}".encode()] = as_bytes_list(c["client_to_server"]["messages"])
    if by_identity != want:
        fail(f"ROUTER got {sorted(by_identity)} with {sum(map(len, by_identity.values()))} "
             f"message(s); captured {sorted(want)}")
    if len(report["connections"]) != 20 or len(zap.requests) != 20:
        fail(f"{len(report['connections'])} connections, {len(zap.requests)} handshakes")
    # The connections ran at once, as captured: their sends overlap in time.
    spans = [(min(r["sent_at"] for r in c["requests"]), max(r["sent_at"] for r in c["requests"]))
             for c in report["connections"] if c["requests"]]
    overlapping = sum(1 for a in spans for b in spans if a is not b and a[0] < b[1] and b[0] < a[1])
    if overlapping == 0:
        fail("no two connections were sending at the same time")
    print("ok: 20 concurrent CURVE connections, each server-side identity got its messages")


def test_server_down():
    port = free_port()
    p = run_send("--connect-timeout", "1", "--to", f"tcp://127.0.0.1:{port}",
                 os.path.join(CAPTURES, "null-req-rep.pcapng"), timeout=30)
    if p.returncode != EXIT_REFUSED or "Connection refused" not in p.stderr:
        fail(f"exit {p.returncode}: {p.stderr}")
    if "FAILED (connection-refused)" not in p.stdout:
        fail(p.stdout)
    print("ok: server down: " + p.stderr.strip())


def test_wrong_server_key():
    name = "curve-dealer-router"
    keys = keys_of(name)
    context = zmq.Context()
    zap = Zap(context)
    zap.start()
    server = Server(context, zmq.ROUTER, setup=curve_server_setup(keys["SERVER_SECRET"], context))
    server.start()
    wrong_public, _ = zmq.curve_keypair()
    p = run_send("--connect-timeout", "5", "-k", os.path.join(CAPTURES, name + ".keys"),
                 "--curve-server-key", wrong_public.decode(), "--to", server.endpoint(),
                 os.path.join(CAPTURES, name + ".pcapng"), timeout=30)
    server.stop.set()
    zap.stop.set()
    if p.returncode != EXIT_HANDSHAKE or "wrong server key" not in p.stderr:
        fail(f"exit {p.returncode}: {p.stderr}")
    if server.received:
        fail("the server received messages")
    print("ok: wrong server key: " + p.stderr.strip())


def test_zap_denied():
    name = "curve-dealer-router"
    keys = keys_of(name)
    context = zmq.Context()
    zap = Zap(context, status="400")
    zap.start()
    server = Server(context, zmq.ROUTER, setup=curve_server_setup(keys["SERVER_SECRET"], context))
    server.start()
    p = run_send("-k", os.path.join(CAPTURES, name + ".keys"), "--curve-server-key",
                 keys["SERVER_PUBLIC"], "--to", server.endpoint(),
                 os.path.join(CAPTURES, name + ".pcapng"), timeout=30)
    server.stop.set()
    zap.stop.set()
    if p.returncode != EXIT_AUTH or "ZAP denied us (status code 400)" not in p.stderr:
        fail(f"exit {p.returncode}: {p.stderr}")
    if not zap.requests or server.received:
        fail("ZAP was not asked, or the server received messages")
    print("ok: ZAP denied: " + p.stderr.strip())


def test_timeout():
    context = zmq.Context()
    server = Server(context, zmq.REP)  # receives, never answers
    server.start()
    p = run_send("--reply-timeout", "1", "--to", server.endpoint(),
                 os.path.join(CAPTURES, "null-req-rep.pcapng"), timeout=30)
    server.stop.set()
    if p.returncode != EXIT_TIMEOUT or "no reply within 1.0 s" not in p.stderr:
        fail(f"exit {p.returncode}: {p.stderr}")
    if len(server.received) != 1:
        fail(f"the server received {len(server.received)} message(s); a REQ sends one and waits")
    print("ok: timeout: " + p.stderr.strip())


def test_usage():
    capture = os.path.join(CAPTURES, "null-req-rep.pcapng")
    p = run_send(capture)
    if p.returncode != 2 or "nothing is sent without --to" not in p.stderr:
        fail(f"no --to: exit {p.returncode}: {p.stderr}")
    p = run_send("--to", "ipc:///tmp/x", capture)
    if p.returncode != 2:
        fail(f"ipc endpoint: exit {p.returncode}")
    p = run_send("--dry-run", capture)
    if p.returncode != 0 or "message 2: 2 frame(s) \"GET /temperature\" | \"unit=celsius\"" \
            not in p.stdout or "nothing sent" not in p.stdout:
        fail(f"dry run: {p.stdout}")
    name = "curve-dealer-router"
    p = run_send("--dry-run", os.path.join(CAPTURES, name + ".pcapng"))
    if p.returncode != 1 or "not decrypted" not in p.stderr:
        fail(f"CURVE without keys: exit {p.returncode}: {p.stderr}")
    # Heartbeat options come from the captured PINGs (ctrlx-like: every 1.0 s, TTL 3.0 s).
    ctrlx = ["-k", os.path.join(CAPTURES, "ctrlx-like.keys"),
             os.path.join(CAPTURES, "ctrlx-like.pcapng")]
    p = run_send("--dry-run", *ctrlx)
    lines = [l.strip() for l in p.stdout.splitlines() if l.strip().startswith("heartbeat:")]
    if len(lines) != 2 or not all(l.startswith("heartbeat: IVL 100") and "TTL 3000 ms" in l
                                  for l in lines):
        fail(f"heartbeat options from the capture: {lines}")
    p = run_send("--dry-run", "--heartbeat-ivl", "250", "--heartbeat-timeout", "900", *ctrlx)
    if "heartbeat: IVL 250 ms, TTL 3000 ms, TIMEOUT 900 ms" not in p.stdout:
        fail(f"heartbeat overrides: {p.stdout}")
    p = run_send("--dry-run", "--no-heartbeat", *ctrlx)
    if "heartbeat: none" not in p.stdout:
        fail("--no-heartbeat")
    print("ok: usage errors, --dry-run and heartbeat options")


def test_html():
    """The --html report of a run of 20 concurrent CURVE connections, checked in Chromium by
    tests/browser/render_report.py against the --json report of the same run."""
    name = "many-connections"
    exp = expected(name)
    keys = keys_of(name)
    context = zmq.Context()
    zap = Zap(context)
    zap.start()
    total = sum(len(c["client_to_server"]["messages"]) for c in exp["connections"])
    server = Server(context, zmq.ROUTER, reply=lambda frames, i: frames,
                    setup=curve_server_setup(keys["SERVER_SECRET"], context), expect=total)
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = os.environ.get("SEND_TEST_KEEP", tmp)  # a folder to keep the page in, to look at it
        os.makedirs(tmp, exist_ok=True)
        page, report = os.path.join(tmp, "send.html"), os.path.join(tmp, "send.json")
        p = run_send("--json", "-o", report, "--html", page, "-k",
                     os.path.join(CAPTURES, name + ".keys"), "--curve-server-key",
                     keys["SERVER_PUBLIC"], "--to", server.endpoint(),
                     os.path.join(CAPTURES, name + ".pcapng"))
        server.join(30)
        zap.stop.set()
        if p.returncode != 0:
            fail(f"zmtp-send exited {p.returncode}: {p.stderr}")
        browser = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser",
                               "render_report.py")
        check = subprocess.run([sys.executable, browser, "--send-page", page, report,
                                os.path.join(tmp, "browser")], capture_output=True, text=True,
                               timeout=300)
        print(check.stdout)
        if check.returncode != 0:
            fail("the HTML report does not agree with the JSON report\n" + check.stderr[-2000:])
    print("ok: the send report's plots agree with its JSON report in Chromium")


TESTS = {
    "html": test_html,
    "null-req-rep": test_null_req_rep,
    "curve-dealer-router": test_curve_dealer_router,
    "pub-sub": test_pub_sub,
    "many-connections": test_many_connections,
    "server-down": test_server_down,
    "wrong-server-key": test_wrong_server_key,
    "zap-denied": test_zap_denied,
    "timeout": test_timeout,
    "usage": test_usage,
}

if __name__ == "__main__":
    TESTS[TEST]()
