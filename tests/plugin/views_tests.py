#!/usr/bin/env python3
"""Wireshark's own views of ZeroMQ with the plugin, with the real tshark and the real captures.

Usage: views_tests.py --plugin zmq.so --abi 4.0 --captures DIR TEST
Tests: body-text, follow, credentials, conversations, flow.
Every expectation comes from the captures' NAME.expected.json (and key logs), never from
tshark's output. Exit code 0 = pass, 1 = fail, 77 = skipped (no captures).
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

from tshark_env import SKIP, Scenario, scenarios, TestFailure, Tshark, capture_args, check, pdml_units

ENVELOPE_SOCKETS = {"REQ", "REP", "DEALER", "ROUTER"}
# The handshake commands of each mechanism, in the order the peers send them, with their sender.
HANDSHAKES = {
    "NULL": [("c", "READY"), ("s", "READY")],
    "PLAIN": [("c", "HELLO"), ("s", "WELCOME"), ("c", "INITIATE"), ("s", "READY")],
    "CURVE": [("c", "HELLO"), ("s", "WELCOME"), ("c", "INITIATE"), ("s", "READY")],
}




def messages(conn, direction):
    """The connection's messages in one direction ("c" or "s"), each a list of frame bytes."""
    key = "client_to_server" if direction == "c" else "server_to_client"
    return [[bytes.fromhex(frame) for frame in message] for message in conn[key]["messages"]]


def check_shown(where, shown, expected, starts_late):
    """`shown` must be `expected`; after a late start the first message may be missing (its
    start was not captured: not shown, never a false one)."""
    if starts_late and len(shown) == len(expected) - 1:
        expected = expected[1:]
    check(shown == expected, "%s: %d shown, %d expected; first difference at %s" % (
        where, len(shown), len(expected),
        next((i for i, (a, b) in enumerate(zip(shown, expected)) if a != b),
             min(len(shown), len(expected)))))


def tshark_text(tshark, args):
    """Runs tshark; its stderr may hold Wireshark's own warnings (4.0's flow dump prints GLib
    criticals when both ends share one address)."""
    return tshark.run(args)


# ---- body-text -----------------------------------------------------------------------------

def is_text(body):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and not any((ord(c) < 0x20 and c not in "\t\r\n") or c == "\x7f"
                                  for c in text)


def test_body_text(tshark, args):
    """zmq.frame.text is every body frame that is text, and only those."""
    checked = 0
    for s in scenarios(args.captures):
        if s.starts_late:
            continue
        units = pdml_units(tshark, capture_args(tshark.stage(s.pcap),
                                                s.keylog and tshark.stage(s.keylog)))
        shown = {}
        for unit in units:
            if not unit.has("zmq.frame.index"):
                continue
            body = bytes.fromhex(unit.values("zmq.frame.body")[-1])
            texts = unit.shows("zmq.frame.text")
            shown.setdefault((unit.stream, unit.show("zmq.direction")[0]), []).append(
                (unit.show("zmq.frame.role", ""), texts[-1] if texts else "", body))
        for i, conn in enumerate(s.connections):
            for d in "cs":
                frames = [f for m in messages(conn, d) for f in m]
                seen = shown.get((i, d), [])
                check([b for _, _, b in seen] == frames,
                      "%s #%d %s: frame bodies differ from expected.json" % (s.name, i, d))
                for role, text, body in seen:
                    want = body.decode("utf-8") if role != "delimiter" and is_text(body) else ""
                    # PDML shows the string with control characters escaped
                    got = text.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
                    check(got == want, "%s #%d %s: zmq.frame.text %r for body %r" %
                          (s.name, i, d, text[:60], body[:60]))
                    checked += 1 if want else 0
    check(checked > 100, "only %d text bodies checked" % checked)
    # The tree says it: "Body (text): ..."
    ctrlx = next(s for s in scenarios(args.captures) if s.name == "ctrlx-like")
    tree = tshark.run(capture_args(tshark.stage(ctrlx.pcap), tshark.stage(ctrlx.keylog),
                                   extra=["-V", "-Y", "zmq.frame.text"]))
    want = next(f.decode() for m in messages(ctrlx.connections[0], "c") for f in m
                if b"/" in f)
    check("Body (text): %s" % want in tree, "no 'Body (text): %s' in the tree" % want)
    print("%d text bodies shown as zmq.frame.text, binary ones not" % checked)


# ---- follow --------------------------------------------------------------------------------

def follow_blocks(out, mode):
    """-z follow,zmq,MODE,N output -> {N: [(direction, bytes), ...]} in output order."""
    result = {}
    for section in out.split("Follow: zmq,%s\n" % mode)[1:]:
        lines = section.split("\n")
        m = re.match(r"Filter: tcp\.stream eq (\d+)$", lines[0])
        check(m, "follow output without its filter line: %r" % lines[0])
        blocks = []
        i = 3  # after Filter, Node 0, Node 1
        while i < len(lines) and not lines[i].startswith("====="):
            line = lines[i]
            server = line.startswith("\t")
            if mode == "raw":
                blocks.append(("s" if server else "c", bytes.fromhex(line.strip("\t"))))
                i += 1
            else:  # ascii: a length line, then the data and a newline
                length = int(line.strip("\t"))
                text, consumed = "", 0
                i += 1
                while len(text) < length:
                    text += ("\n" if consumed else "") + lines[i]
                    consumed += 1
                    i += 1
                blocks.append(("s" if server else "c", text.encode("latin-1")))
        result[int(m.group(1))] = blocks
    return result


def follow_expected(frames):
    return b"\n".join(frames)


def run_follow(tshark, s, mode, keylog, streams, pcap=None):
    extra = ["-q"]
    for i in streams:
        extra += ["-z", "follow,zmq,%s,%d" % (mode, i)]
    out = tshark_text(tshark, capture_args(pcap or tshark.stage(s.pcap), keylog,
                                           two_pass=False, extra=extra))
    return follow_blocks(out, mode)


def test_follow(tshark, args):
    """Every connection's follow output is exactly its expected messages, decrypted, one block
    per message, frames joined by newlines; without keys nothing of a CURVE connection."""
    total = 0
    for s in scenarios(args.captures):
        keylog = s.keylog and tshark.stage(s.keylog)
        streams = range(len(s.connections))
        shown = run_follow(tshark, s, "raw", keylog, streams)
        for i, conn in enumerate(s.connections):
            for d in "cs":
                want = [follow_expected(m) for m in messages(conn, d)]
                got = [data for who, data in shown.get(i, []) if who == d]
                check_shown("%s #%d %s follow" % (s.name, i, d), got, want, s.starts_late)
                total += len(got)
        # Without keys (a few captures: each run is a tshark start, slow under the sanitizers)
        if s.name in ("ctrlx-like", "curve-late-start", "many-connections"):
            bare = run_follow(tshark, s, "raw", None, streams)
            check(all(not blocks for blocks in bare.values()),
                  "%s without keys: follow shows messages it could not decrypt" % s.name)
    check(total > 300, "only %d messages followed" % total)
    # ascii: the same blocks, as text, with their lengths.
    s = next(s for s in scenarios(args.captures) if s.name == "ctrlx-like")
    ascii_blocks = run_follow(tshark, s, "ascii", tshark.stage(s.keylog), [0])
    raw_blocks = run_follow(tshark, s, "raw", tshark.stage(s.keylog), [0])
    printable = lambda b: bytes(c if 32 <= c < 127 or c in b"\r\n" else ord(".") for c in b)
    check([(d, printable(b)) for d, b in raw_blocks[0]] == ascii_blocks[0],
          "ascii and raw follow blocks differ")
    # Two passes (tshark -2) give the same.
    two = tshark_text(tshark, capture_args(tshark.stage(s.pcap), tshark.stage(s.keylog),
                                           extra=["-q", "-z", "follow,zmq,raw,1"]))
    check(follow_blocks(two, "raw")[1] == run_follow(tshark, s, "raw", tshark.stage(s.keylog),
                                                     [1])[1], "follow differs with tshark -2")
    check_follow_after_gap(tshark, s)
    print("%d messages followed, as expected.json lists them" % total)


def is_subsequence(shown, expected):
    remaining = iter(expected)
    return all(any(block == message for message in remaining) for block in shown)


def check_follow_after_gap(tshark, s):
    """ctrlx-like without packet 42 (a 158-byte segment of connection 1's client): the message it
    held and the first after it (its start may be lost) are not followed, every other one is,
    unchanged and in order."""
    cut = os.path.join(tshark.files, "ctrlx-drop-42.pcapng")
    # editcap is not the program under test: without the sanitizers' preloaded runtime, with
    # which it hangs at exit.
    subprocess.run(["editcap", s.pcap, cut, "42"], check=True, capture_output=True, timeout=60,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    os.chmod(cut, 0o644)
    blocks = run_follow(tshark, s, "raw", tshark.stage(s.keylog), [1], pcap=cut)[1]
    conn = s.connections[1]
    for d in "cs":
        want = [follow_expected(m) for m in messages(conn, d)]
        got = [data for who, data in blocks if who == d]
        check(is_subsequence(got, want), "ctrlx-like without packet 42, %s: a block that is "
                                         "not an expected message, or out of order" % d)
        lost = len(want) - len(got)
        check(lost == (2 if d == "c" else 0),
              "ctrlx-like without packet 42, %s: %d of %d messages followed" %
              (d, len(got), len(want)))


# ---- credentials ---------------------------------------------------------------------------

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85(data):
    out = ""
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i:i + 4], "big")
        chunk = ""
        for _ in range(5):
            value, digit = divmod(value, 85)
            chunk = Z85[digit] + chunk
        out += chunk
    return out


def key_log(path, label):
    keys = []
    with open(path) as f:
        for line in f:
            parts = line.split("#")[0].split()
            if len(parts) == 2 and parts[0] == label:
                keys.append(bytes.fromhex(parts[1]))
    return keys


def credentials(tshark, s, keylog):
    out = tshark_text(tshark, capture_args(tshark.stage(s.pcap), keylog,
                                           extra=["-q", "-z", "credentials"]))
    rows = []
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))
    return [r for r in rows if r[1] == "ZMQ"]


def test_credentials(tshark, args):
    """PLAIN HELLO usernames (the packet has the password), CURVE client keys C from every
    opened INITIATE; nothing else."""
    by_name = {s.name: s for s in scenarios(args.captures)}
    for name in ("plain-accept", "plain-reject"):
        s = by_name[name]
        # The notes name them: "username 'admin' and password 'secret'", "('admin'/'wrong')".
        notes = s.expected.get("notes", "")
        m = (re.search(r"username '([^']+)' and password '([^']+)'", notes) or
             re.search(r"'([^']+)'/'([^']+)'", notes))
        check(m, "%s: the notes of expected.json name no username and password" % name)
        user, password = m.group(1), m.group(2)
        rows = credentials(tshark, s, None)
        check(len(rows) == 1, "%s: %d credentials, expected one PLAIN HELLO" % (name, len(rows)))
        frame, _, username, info = rows[0]
        check(username == user, "%s: username %r, expected %r" % (name, username, user))
        out = tshark.run(capture_args(tshark.stage(s.pcap), extra=[
            "-Y", "frame.number == %d" % frame, "-T", "fields",
            "-e", "zmq.command.name", "-e", "zmq.plain.username", "-e", "zmq.plain.password"]))
        cmd, shown_user, shown_password = out.strip().split("\t")
        check(cmd == "HELLO" and shown_user == username and shown_password == password,
              "%s: packet %d of the credential is %r" % (name, frame, out.strip()))
        print("%s: ZMQ credential %s in packet %d (PLAIN HELLO)" % (name, username, frame))
    for s in by_name.values():
        if s.mechanism != "CURVE" or s.starts_late:
            continue
        rows = credentials(tshark, s, tshark.stage(s.keylog))
        opened = [c for c in s.connections if c["handshake"] == "ready"]
        logged = {z85(k) for k in key_log(s.keylog, "CLIENT_PUBLIC")}
        check(len(rows) == len(opened),
              "%s: %d CURVE credentials for %d INITIATEs" % (s.name, len(rows), len(opened)))
        check({r[2] for r in rows} <= logged and (not logged or len({r[2] for r in rows}) ==
                                                    min(len(logged), len(opened))),
              "%s: credentials %s are not the key log's client keys" % (s.name, rows[:3]))
        check(not credentials(tshark, s, None), "%s: credentials without keys" % s.name)
        print("%s: %d CURVE client keys C, as in the key log" % (s.name, len(rows)))


# ---- conversations -------------------------------------------------------------------------

def parse_size(text):
    number, unit = text.split()
    scale = {"bytes": 1, "kB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}[unit]
    return int(number), scale


def size_matches(text, value):
    number, scale = parse_size(text)
    return number == value // scale


def conv_rows(out):
    rows = []
    size = r"(\d+ (?:bytes|kB|MB|GB))"
    pattern = re.compile(r"^\S+\s+<->\s+\S+\s+(\d+)\s+%s\s+(\d+)\s+%s\s+(\d+)\s+%s" %
                         (size, size, size))
    for line in out.splitlines():
        m = pattern.match(line)
        if m:
            rows.append(m.groups())
    return rows


def conv_tree(out):
    """-z zmq_conv,tree -> {stream: {item: count}}."""
    streams, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^ tcp\.stream (\d+): \S+ -> \S+\s+(\d+)", line)
        if m:
            current = streams.setdefault(int(m.group(1)), {})
            continue
        m = re.match(r"^  (\S.*?)\s{2,}(\d+)\s", line)
        if m and current is not None:
            current[m.group(1)] = int(m.group(2))
        elif not line.startswith("   "):
            current = None if not line.startswith("  ") else current
    return streams


SIZE_UNITS = {"bytes": 1, "kB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}


def endpoint_rows(out):
    """-z endpoints,zmq -> [(tx messages, tx bytes, rx messages, rx bytes)], one per endpoint
    (address and port). tshark prints no port column for a table other than TCP's, UDP's or
    SCTP's, and from 4.6 on writes sizes with a unit ("858 bytes", "12 kB"); each size is
    (number, scale)."""
    rows, inside = [], False
    for line in out.splitlines():
        if line.startswith("ZMQ Endpoints"):
            inside = True
            continue
        if not inside or not line or line[0] in "=F |":
            inside = inside and not line.startswith("=")
            continue
        values, tokens = [], line.split()[1:]
        for token in tokens:
            if token in SIZE_UNITS:
                values[-1] = (values[-1][0], SIZE_UNITS[token])
            else:
                values.append((int(token), 1))
        packets_and_sizes = values[-6:]  # Packets, Bytes, Tx Packets, Tx Bytes, Rx ..., Rx ...
        rows.append(tuple(packets_and_sizes[2:]))
    return rows


def endpoint_matches(row, want):
    """`row` as endpoint_rows gives it against exact (messages, bytes, messages, bytes)."""
    return all(number == value // scale if i % 2 else number == value
               for i, ((number, scale), value) in enumerate(zip(row, want)))


def check_endpoints(s, out):
    """Each client is an endpoint of its own; a server port's endpoint adds up its
    connections. Messages and frame-body bytes sent (tx) and received (rx)."""
    want, servers = [], {}
    for conn in s.connections:
        c, sv = messages(conn, "c"), messages(conn, "s")
        if not (c or sv):
            continue
        sent, received = (len(c), sum(len(f) for m in c for f in m)), \
            (len(sv), sum(len(f) for m in sv for f in m))
        want.append(sent + received)
        server = servers.setdefault(conn.get("server_port", s.port), [0, 0, 0, 0])
        for i, value in enumerate(received + sent):
            server[i] += value
    want += [tuple(v) for v in servers.values()]
    rows = endpoint_rows(out)
    check(len(rows) == len(want), "%s: %d endpoint rows, expected %d" %
          (s.name, len(rows), len(want)))
    for w in want:
        match = [r for r in rows if endpoint_matches(r, w)]
        check(match, "%s: no endpoint with %s (tx messages, bytes, rx messages, bytes) in %s" %
              (s.name, w, rows))
        rows.remove(match[0])


def test_conversations(tshark, args):
    """-z conv,zmq: a row per connection with messages, the client as A, messages and body
    bytes each way; -z endpoints,zmq: the same per endpoint; -z zmq_conv,tree: mechanism,
    socket types, decrypted."""
    for s in scenarios(args.captures):
        keylog = s.keylog and tshark.stage(s.keylog)
        out = tshark_text(tshark, capture_args(tshark.stage(s.pcap), keylog, extra=[
            "-q", "-z", "conv,zmq", "-z", "zmq_conv,tree", "-z", "endpoints,zmq"]))
        want, tree_want = [], {}
        for i, conn in enumerate(s.connections):
            c, sv = messages(conn, "c"), messages(conn, "s")
            if s.starts_late:  # checked below against what is shown
                continue
            if c or sv:
                want.append((len(sv), sum(map(len, (f for m in sv for f in m))),
                             len(c), sum(map(len, (f for m in c for f in m)))))
                tree_want[i] = (conn, c, sv)
        rows = conv_rows(out)
        if s.starts_late:  # one row; per direction the expected messages, the first maybe not
            check(len(rows) == len(s.connections), "%s: %d rows" % (s.name, len(rows)))
            conn = s.connections[0]
            for shown, msgs in ((int(rows[0][2]), messages(conn, "c")),
                                (int(rows[0][0]), messages(conn, "s"))):
                check(len(msgs) - 1 <= shown <= len(msgs),
                      "%s: %d messages in a row, expected %d" % (s.name, shown, len(msgs)))
        else:
            got = sorted(rows)
            check(len(rows) == len(want), "%s: %d conversation rows, expected %d" %
                  (s.name, len(rows), len(want)))
            for w in sorted(want):
                match = [r for r in rows if int(r[0]) == w[0] and int(r[2]) == w[2] and
                         size_matches(r[1], w[1]) and size_matches(r[3], w[3])]
                check(match, "%s: no conversation row with %s (server->client messages, "
                             "bytes, client->server messages, bytes) in %s" % (s.name, w, got))
                rows.remove(match[0])
            check_endpoints(s, out)
        tree = conv_tree(out)
        for i, (conn, c, sv) in tree_want.items():
            items = tree.get(i)
            check(items, "%s: no tcp.stream %d in -z zmq_conv,tree" % (s.name, i))
            what = "%s, %s -> %s" % (s.mechanism, conn["socket_types"][0], conn["socket_types"][1])
            kind = "decrypted" if s.mechanism == "CURVE" else "plaintext"
            for d, msgs in (("client -> server", c), ("server -> client", sv)):
                if not msgs:
                    continue
                check(items.get(d + ": messages") == len(msgs) and
                      items.get(d + ": bytes", 0) == sum(len(f) for m in msgs for f in m),
                      "%s #%d %s: %s" % (s.name, i, d, items))
            check(items.get(what) == len(c) + len(sv), "%s #%d: no %r in %s" %
                  (s.name, i, what, items))
        if s.mechanism == "CURVE" and not s.starts_late:
            bare = tshark_text(tshark, capture_args(tshark.stage(s.pcap), None, extra=[
                "-q", "-z", "conv,zmq", "-z", "zmq_conv,tree"]))
            check(not conv_rows(bare), "%s without keys: conversation rows of messages "
                                       "that were not decrypted" % s.name)
            closed = [v for items in conv_tree(bare).values() for k, v in items.items()
                      if k.endswith("CURVE boxes not decrypted")]
            check(not tree_want or sum(closed) >= sum(len(c) + len(sv)
                                                      for _, c, sv in tree_want.values()),
                  "%s without keys: fewer closed boxes than messages: %s" % (s.name, closed))
        print("%-24s %d conversation rows, counts as in expected.json" %
              (s.name, len(conv_rows(out))))


# ---- flow ----------------------------------------------------------------------------------

def preview(body):
    shown = body[:32]
    if all(0x20 <= c < 0x7F for c in shown):
        text = '"' + shown.decode() + ('..."' if len(body) > 32 else '"')
        return text
    return shown[:16].hex() + ("..." if len(shown) > 16 else "")


def message_preview(frames, sender):
    if sender in ENVELOPE_SOCKETS and b"" in frames:
        after = frames[frames.index(b"") + 1:]
        return next((preview(f) for f in after if f), "")
    return next((preview(f) for f in frames if f), "")


def flow_items(out, server_port):
    """-z flow,zmq,standard -> [(direction, label, comment)] in order."""
    lines = out.splitlines()
    items = []
    for line, arrow in zip(lines, lines[1:]):
        if not re.match(r"^\|\d+\.\d+ *\|", line) or "--" not in arrow:
            continue
        _, _, label, comment = line.split("|", 3)
        ports = [int(p) for p in re.findall(r"\((\d+)\)", arrow)]
        src = ports[1] if "<--" in arrow else ports[0]
        items.append(("s" if src == server_port else "c", label.strip(), comment.strip()))
    return items


def test_flow(tshark, args):
    """The flow graph of every connection: the two greetings, the handshake commands in
    order, every message with its first frame's text, PINGs and PONGs."""
    checked = 0
    for s in scenarios(args.captures):
        keylog = s.keylog and tshark.stage(s.keylog)
        for i, conn in enumerate(s.connections[:3]):
            out = tshark_text(tshark, capture_args(tshark.stage(s.pcap), keylog, extra=[
                "-q", "-z", "flow,zmq,standard,tcp.stream==%d" % i]))
            items = flow_items(out, conn["server_port"])
            where = "%s #%d flow" % (s.name, i)
            check(items, "%s: empty" % where)
            if "greetings" in conn:  # ZMTP 1.0/2.0: the greeting ends with an identity frame
                greetings = {d: c for d, _, c in items[:2]}
                want = {"c": conn["greetings"][0]["version"], "s": conn["greetings"][1]["version"]}
                check(sorted(greetings) == ["c", "s"] and
                      all(greetings[d].startswith("Greeting " + want[d]) for d in "cs"),
                      "%s: greetings %s, expected %s" % (where, greetings, want))
                commands = [label for _, label, _ in items[2:] if not label.startswith("MESSAGE")]
                check(not commands, "%s: commands in a 2.0 connection: %s" % (where, commands))
            elif not s.starts_late:
                greetings = items[:2]
                check(sorted(d for d, _, _ in greetings) == ["c", "s"] and
                      all(c.startswith("Greeting ZMTP 3") and c.endswith(s.mechanism)
                          for _, _, c in greetings), "%s: greetings %s" % (where, greetings))
                commands = [(d, label) for d, label, _ in items[2:]
                            if label in ("HELLO", "WELCOME", "INITIATE", "READY", "ERROR")]
                want = HANDSHAKES[s.mechanism]
                if conn["handshake"] == "error":
                    want = want[:1] + [("s", "ERROR")]
                elif conn["handshake"] != "ready":
                    want = want[:1]  # HELLO, then the server closed
                if s.mechanism == "NULL":
                    check(sorted(commands) == sorted(want), "%s: %s" % (where, commands))
                else:
                    check(commands == want, "%s: handshake %s, expected %s" %
                          (where, commands, want))
            for d in "cs":
                sender = conn["socket_types"][0 if d == "c" else 1]
                want = ["MESSAGE " + (message_preview(m, sender) or "(empty)")
                        for m in messages(conn, d)]
                got = [label for who, label, _ in items if who == d and
                       label.startswith("MESSAGE")]
                # The dump cuts long labels to the arrow's width: a prefix must match.
                if s.starts_late and len(got) == len(want) - 1:
                    want = want[1:]
                check(len(got) == len(want) and all(w.startswith(g) and len(g) >= 8
                                                    for g, w in zip(got, want)),
                      "%s %s: messages %s, expected %s" % (where, d, got[:4], want[:4]))
                commands = conn["client_to_server" if d == "c" else "server_to_client"][
                    "commands"]
                for name, count in commands.items():
                    seen = sum(1 for who, label, _ in items if who == d and
                               label == name.replace("_min", ""))
                    ok = seen >= count if name.endswith("_min") else seen == count
                    check(ok, "%s %s: %d %s, expected %s" % (where, d, seen, name, count))
                checked += len(got)
    check(checked > 200, "only %d messages in flow graphs" % checked)
    print("%d messages in flow graphs, with the greetings and handshakes" % checked)


TESTS = {"body-text": test_body_text, "follow": test_follow, "credentials": test_credentials,
         "conversations": test_conversations, "flow": test_flow}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--abi", required=True)
    parser.add_argument("--captures", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    try:
        with Tshark(args.plugin, args.abi, keep=args.keep) as tshark:
            tshark.require_plugin()
            TESTS[args.test](tshark, args)
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
