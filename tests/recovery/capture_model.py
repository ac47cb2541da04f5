"""What a capture of captures/ holds, byte by byte: its packets, its TCP connections, and where in
each direction's stream every greeting, command and message lies, decoded and (CURVE) decrypted
independently of libzmtp. The derived-capture tests (tests/recovery/README.md) compute from this
which expected messages a derived capture still holds.

Only what the captures use: little-endian pcapng, Ethernet, IPv4, TCP, ZMTP 3.x (docs/protocol.md
sections 1-4). The walk of the original capture is checked against NAME.expected.json before
anything else uses it.
"""

import ctypes
import ctypes.util
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, os.pardir, "plugin"))
sys.path.append(os.path.join(HERE, os.pardir, "hostile"))
from pcapng_edit import EPB, IDB, blocks  # noqa: E402
from pcap_tools import ACK, FIN, RST, SYN, tcp_payload_offset  # noqa: E402

COUNTED_COMMANDS = ("PING", "PONG", "SUBSCRIBE", "CANCEL", "JOIN", "LEAVE")


class ModelError(Exception):
    """The capture is not what this model understands, or does not match its expected.json."""


# ---- libsodium, for the ground truth of CURVE captures --------------------------------------

class Sodium:
    def __init__(self):
        path = ctypes.util.find_library("sodium") or "libsodium.so.23"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as e:
            raise ModelError("libsodium is needed to decrypt the CURVE ground truth: %s" % e)
        if self.lib.sodium_init() < 0:
            raise ModelError("sodium_init failed")

    def public(self, secret):
        out = ctypes.create_string_buffer(32)
        self.lib.crypto_scalarmult_base(out, secret)
        return out.raw

    def beforenm(self, public, secret):
        out = ctypes.create_string_buffer(32)
        if self.lib.crypto_box_beforenm(out, public, secret) != 0:
            return None
        return out.raw

    def box_afternm(self, plaintext, nonce, k):
        out = ctypes.create_string_buffer(len(plaintext) + 16)
        if self.lib.crypto_box_easy_afternm(out, plaintext, ctypes.c_ulonglong(len(plaintext)),
                                            nonce, k) != 0:
            raise ModelError("crypto_box_easy_afternm failed")
        return out.raw

    def open_afternm(self, box, nonce, k):
        """box = MAC(16) + ciphertext (docs/protocol.md 4.8); None when the MAC fails."""
        if len(box) < 16:
            return None
        out = ctypes.create_string_buffer(len(box) - 16 or 1)
        rc = self.lib.crypto_box_open_easy_afternm(out, box, ctypes.c_ulonglong(len(box)), nonce,
                                                   k)
        return out.raw[:len(box) - 16] if rc == 0 else None


_sodium = None


def sodium():
    global _sodium
    if _sodium is None:
        _sodium = Sodium()
    return _sodium


# ---- key logs (docs/keylog.md) ---------------------------------------------------------------

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def decode_key(text):
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    if len(text) == 40 and all(c in Z85 for c in text):
        out = b""
        for i in range(0, 40, 5):
            value = 0
            for c in text[i:i + 5]:
                value = value * 85 + Z85.index(c)
            out += struct.pack(">I", value)
        return out
    return None


def read_keylog(path):
    """[(LABEL, key bytes)] of a key log; lines that do not parse are left out."""
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2 or parts[0].startswith("#"):
                continue
            key = decode_key(parts[1])
            if key is not None:
                entries.append((parts[0].upper(), key))
    return entries


# ---- packets and connections -----------------------------------------------------------------

class Packet:
    __slots__ = ("index", "block", "time", "frame", "src", "dst", "sport", "dport", "seq",
                 "ack", "flags", "payload", "conn", "dir", "offset")

    def __init__(self, index, block, time, frame):
        self.index, self.block, self.time, self.frame = index, block, time, frame
        self.conn = self.dir = self.offset = None
        self.payload = b""
        self.sport = self.dport = None
        off = tcp_payload_offset(frame)
        if off is None:
            return
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        tcp = 14 + ihl
        self.src, self.dst = frame[26:30], frame[30:34]
        self.sport, self.dport, self.seq, self.ack = struct.unpack("!HHII", frame[tcp:tcp + 12])
        self.flags = frame[tcp + 13]
        self.payload = frame[off:14 + total]

    @property
    def is_tcp(self):
        return self.sport is not None


class Direction:
    """One direction of a connection: its stream, and its packets' places in it."""

    def __init__(self):
        self.isn = None
        self.packets = []  # packets of this direction, capture order
        self.stream = b""
        self.items = []  # Item, stream order

    def offset_of(self, seq):
        return (seq - self.isn - 1) & 0xFFFFFFFF


class Connection:
    def __init__(self, index, first, from_server=False):
        self.index = index  # order of the SYN, as in expected.json
        if from_server:
            self.client, self.server = (first.dst, first.dport), (first.src, first.sport)
        else:
            self.client, self.server = (first.src, first.sport), (first.dst, first.dport)
        self.client_port, self.server_port = self.client[1], self.server[1]
        # The capture joined it after its handshake: no SYN, greeting or handshake command.
        self.mid_stream = False
        self.dirs = [Direction(), Direction()]  # 0: client -> server, 1: server -> client
        self.packets = []  # every packet of the connection, capture order
        self.mechanism = None
        self.greeting_minor = None
        self.handshake_end = [None, None]  # stream offset after each side's last handshake command
        self.session_key = None  # CURVE k = beforenm(S', c'), when the key log gives it
        # CURVE: the sets of handshake commands ((direction, Item), ...) from which, all of them
        # captured, a decoder finds k with the key log's secrets (docs/keylog.md, "How a secret
        # finds its connection")
        self.key_paths = []
        self.handshake = None    # "ready", "error", "closed"

    def direction_of(self, packet):
        return 0 if (packet.src, packet.sport) == self.client else 1


class Frame:
    __slots__ = ("start", "end", "body", "more", "command", "decrypted", "box")

    def __init__(self, start, end, body, more, command, decrypted=False, box=None):
        self.start, self.end, self.body = start, end, body
        self.more, self.command, self.decrypted = more, command, decrypted
        # CURVE: (stream offset, nonce) of the box in this frame that the connection's session
        # key opens (INITIATE, READY, MESSAGE: docs/protocol.md 4.3-4.6)
        self.box = box


class Item:
    """A greeting, a command or an application message, with the wire frames it took."""

    def __init__(self, kind, name, frames):
        self.kind = kind  # "greeting", "handshake", "command", "message"
        self.name = name
        self.frames = frames
        self.start = frames[0].start
        self.end = frames[-1].end
        self.number = None  # messages: index in expected.json's list of this direction
        self.curve_box = False  # carried in CURVE MESSAGE boxes

    def bodies(self):
        return [f.body.hex() for f in self.frames]

    @property
    def body_bytes(self):
        return sum(len(f.body) for f in self.frames)


class Capture:
    def __init__(self, expected_path):
        with open(expected_path) as f:
            self.expected = json.load(f)
        self.folder = os.path.dirname(os.path.abspath(expected_path))
        self.name = self.expected["scenario"]
        self.path = os.path.join(self.folder, self.expected["capture"])
        keylog = self.expected.get("keylog")
        self.keylog = os.path.join(self.folder, keylog) if keylog else None
        self.mechanism = self.expected["mechanism"]
        self.header = b""  # section header and interface blocks
        self.packets = []
        self.connections = []
        self._read()
        self._track()
        for conn in self.connections:
            for d in conn.dirs:
                d.stream = reassemble(d)
        if self.mechanism == "CURVE":
            self.keys = read_keylog(self.keylog) if self.keylog else []
        else:
            self.keys = []
        for conn in self.connections:
            walk_connection(self, conn)
        check_against_expected(self)

    @property
    def is_curve(self):
        return self.mechanism == "CURVE"

    def server_ports(self):
        return sorted({c.server_port for c in self.connections})

    def _read(self):
        with open(self.path, "rb") as f:
            data = f.read()
        resolution = 1e-6
        for block_type, block in blocks(data):
            if block_type == EPB:
                captured = struct.unpack("<I", block[20:24])[0]
                high, low = struct.unpack("<II", block[12:20])
                time = ((high << 32) | low) * resolution
                self.packets.append(Packet(len(self.packets), block, time,
                                           block[28:28 + captured]))
            elif not self.packets:
                self.header += block
                if block_type == IDB:
                    resolution = idb_resolution(block)
            else:
                raise ModelError("%s: a %#x block after the first packet" % (self.path,
                                                                             block_type))

    def _track(self):
        """Connections in the order of their SYN (expected.json's order). A capture that starts
        mid-connection (expected.json capture_start) has connections without one: their server
        is the side on the expected server port, and their streams start at the first byte seen
        (captures/README.md: such a capture starts at a frame boundary)."""
        late = self.expected.get("capture_start") == "mid-connection"
        server_ports = {c["server_port"] for c in self.expected["connections"]}
        by_ports = {}
        for p in self.packets:
            if not p.is_tcp:
                continue
            key = frozenset([(p.src, p.sport), (p.dst, p.dport)])
            conn = by_ports.get(key)
            if p.flags & SYN and not p.flags & ACK:
                conn = Connection(len(self.connections), p)
                self.connections.append(conn)
                by_ports[key] = conn
            if conn is None:
                if not late:
                    raise ModelError("%s: packet %d before its connection's SYN" %
                                     (self.name, p.index + 1))
                conn = Connection(len(self.connections), p,
                                  from_server=p.sport in server_ports)
                conn.mid_stream = True
                self.connections.append(conn)
                by_ports[key] = conn
            d = conn.direction_of(p)
            p.conn, p.dir = conn, d
            conn.packets.append(p)
            direction = conn.dirs[d]
            if p.flags & SYN:
                direction.isn = p.seq
            if direction.isn is None:
                if not conn.mid_stream:
                    raise ModelError("%s: packet %d before its direction's SYN" %
                                     (self.name, p.index + 1))
                direction.isn = (p.seq - 1) & 0xFFFFFFFF
            p.offset = direction.offset_of(p.seq)
            direction.packets.append(p)


def idb_resolution(block):
    """Seconds per timestamp unit of an interface description block (if_tsresol)."""
    pos = 16
    while pos + 4 <= len(block) - 4:
        code, length = struct.unpack("<HH", block[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and length == 1:
            value = block[pos + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        pos += 4 + length + (-length % 4)
    return 1e-6


def reassemble(direction):
    """The direction's stream; the original captures hold every byte once (capgen checks)."""
    data = bytearray()
    for p in direction.packets:
        if not p.payload:
            continue
        if p.offset > len(data):
            raise ModelError("bytes missing before stream offset %d" % p.offset)
        end = p.offset + len(p.payload)
        if end > len(data):
            data += p.payload[len(data) - p.offset:]
    return bytes(data)


# ---- the ZMTP walk ---------------------------------------------------------------------------

def frames_of(stream, start):
    """(start, end, flags, body) of each ZMTP 3.x frame from `start` to the end (2.1)."""
    pos = start
    while pos < len(stream):
        flags = stream[pos]
        if flags & 0x02:
            if pos + 9 > len(stream):
                raise ModelError("a frame header cut at stream offset %d" % pos)
            size = struct.unpack(">Q", stream[pos + 1:pos + 9])[0]
            head = 9
        else:
            if pos + 2 > len(stream):
                raise ModelError("a frame header cut at stream offset %d" % pos)
            size = stream[pos + 1]
            head = 2
        end = pos + head + size
        if end > len(stream):
            raise ModelError("a frame cut at stream offset %d" % pos)
        yield pos, end, flags, stream[pos + head:end]
        pos = end


def command_name(body):
    if body.startswith(b"^RROR"):
        return "ERROR"  # libzmq 4.3.4's PLAIN ERROR, its name length overwritten (protocol.md 3)
    n = body[0] if body else 0
    return body[1:1 + n].decode("ascii", "replace")


HANDSHAKE = {
    "NULL": {"READY", "ERROR"},
    "PLAIN": {"HELLO", "WELCOME", "INITIATE", "READY", "ERROR"},
    "CURVE": {"HELLO", "WELCOME", "INITIATE", "READY", "ERROR"},
}
# The command that ends each side's handshake (0: client side, 1: server side).
LAST_HANDSHAKE = {"NULL": ("READY", "READY"), "PLAIN": ("INITIATE", "READY"),
                  "CURVE": ("INITIATE", "READY")}


def walk_connection(capture, conn):
    streams = [d.stream for d in conn.dirs]
    if conn.mid_stream:
        conn.mechanism = capture.mechanism
        conn.handshake = "not-captured"
        raw = [list(frames_of(s, 0)) for s in streams]
        if conn.mechanism == "CURVE":
            conn.session_key = curve_session_key_by_trial(capture, conn, raw)
        for d in (0, 1):
            walk_direction(capture, conn, d, raw[d], in_handshake=False)
        return
    for d, stream in enumerate(streams):
        if len(stream) < 64:
            if stream:
                raise ModelError("%s connection %d: a greeting of %d bytes" %
                                 (capture.name, conn.index, len(stream)))
            continue
        if stream[0] != 0xFF or stream[9] != 0x7F or stream[10] != 3:
            raise ModelError("%s connection %d: not a ZMTP 3 greeting" % (capture.name,
                                                                          conn.index))
        mechanism = stream[12:32].rstrip(b"\0").decode("ascii")
        conn.mechanism = conn.mechanism or mechanism
        minor = stream[11]
        conn.greeting_minor = minor if conn.greeting_minor is None else min(conn.greeting_minor,
                                                                            minor)
        conn.dirs[d].items.append(Item("greeting", "greeting", [Frame(0, 64, b"", False, False)]))
    raw = [list(frames_of(s, 64)) if len(s) >= 64 else [] for s in streams]
    if conn.mechanism == "CURVE":
        conn.session_key = curve_session_key(capture, conn, raw)
    for d in (0, 1):
        walk_direction(capture, conn, d, raw[d])
    if conn.session_key is not None:
        conn.key_paths = curve_key_paths(capture, conn)
    names = {i.name for d in conn.dirs for i in d.items if i.kind == "handshake"}
    if "ERROR" in names:
        conn.handshake = "error"
    elif all(e is not None for e in conn.handshake_end):
        conn.handshake = "ready"
    else:
        conn.handshake = "closed"


def walk_direction(capture, conn, d, frames, in_handshake=True):
    direction = conn.dirs[d]
    mech = conn.mechanism
    pending = []  # frames of the message in progress
    for start, end, flags, body in frames:
        command = bool(flags & 0x04)
        if in_handshake:
            if not command:
                raise ModelError("%s connection %d: a data frame in the handshake" %
                                 (capture.name, conn.index))
            name = command_name(body)
            frame = Frame(start, end, body, False, True)
            body_start = end - len(body)
            if mech == "CURVE" and name == "INITIATE" and len(body) >= 113 + 16:
                frame.box = (body_start + 113, b"CurveZMQINITIATE" + body[105:113])
            elif mech == "CURVE" and name == "READY" and len(body) >= 14 + 16:
                frame.box = (body_start + 14, b"CurveZMQREADY---" + body[6:14])
            direction.items.append(Item("handshake", name, [frame]))
            if name == LAST_HANDSHAKE[mech][d] or name == "ERROR":
                in_handshake = False
                conn.handshake_end[d] = end
            continue
        if mech == "CURVE" and body[:8] == b"\x07MESSAGE":
            frame = curve_message_frame(capture, conn, d, start, end, body)
            if frame is None:
                raise ModelError("%s connection %d: a MESSAGE box at %d that the key log does "
                                 "not open" % (capture.name, conn.index, start))
            if frame.command:
                direction.items.append(Item("command", command_name(frame.body), [frame]))
                direction.items[-1].curve_box = True
                continue
        elif command:
            direction.items.append(Item("command", command_name(body),
                                        [Frame(start, end, body, False, True)]))
            continue
        else:
            frame = Frame(start, end, body, bool(flags & 0x01), False)
        pending.append(frame)
        if not frame.more:
            direction.items.append(Item("message", "message", pending))
            direction.items[-1].curve_box = mech == "CURVE"
            pending = []
    if pending:
        raise ModelError("%s connection %d: the capture ends inside a message" %
                         (capture.name, conn.index))


def curve_session_key(capture, conn, raw):
    """k = beforenm(S', c') of a CURVE connection, from the key log's ephemeral secrets: c' is
    the one whose public key is C' in HELLO, S' the one whose k opens INITIATE's box
    (docs/protocol.md 4.1, 4.3, 5)."""
    hello = next((b for _, _, _, b in raw[0] if command_name(b) == "HELLO"), None)
    initiate = next((b for _, _, _, b in raw[0] if command_name(b) == "INITIATE"), None)
    if hello is None or initiate is None or len(hello) < 112 or len(initiate) < 113 + 16:
        return None
    na = sodium()
    client_ephemeral = hello[80:112]
    secrets = [k for label, k in capture.keys if label in ("EPHEMERAL_SECRET", "SERVER_SECRET",
                                                             "CLIENT_SECRET")]
    c = next((s for s in secrets if na.public(s) == client_ephemeral), None)
    if c is None:
        return None
    nonce = b"CurveZMQINITIATE" + initiate[105:113]
    for s in secrets:
        if s == c:
            continue
        k = na.beforenm(na.public(s), c)
        if k and na.open_afternm(initiate[113:], nonce, k) is not None:
            return k
    return None


def curve_key_paths(capture, conn):
    """c' by C' in HELLO; then S' from WELCOME opened with c' and a server public key the key
    log gives (S, or the public key of one of its secrets), or s' (logged) by opening INITIATE:
    [(HELLO, WELCOME)] and/or [(HELLO, INITIATE)] (docs/keylog.md)."""
    def item(d, name):
        return next(((d, i) for i in conn.dirs[d].items if i.kind == "handshake" and
                     i.name == name), None)
    hello, welcome, initiate = item(0, "HELLO"), item(1, "WELCOME"), item(0, "INITIATE")
    if hello is None:
        return []
    na = sodium()
    secrets = [k for label, k in capture.keys if label in ("EPHEMERAL_SECRET", "SERVER_SECRET",
                                                             "CLIENT_SECRET")]
    client_ephemeral = hello[1].frames[0].body[80:112]
    c = next((x for x in secrets if na.public(x) == client_ephemeral), None)
    if c is None:
        return []
    paths = []
    if initiate is not None:
        paths.append((hello, initiate))  # the k found for the connection came this way
    if welcome is not None:
        body = welcome[1].frames[0].body
        servers = [k for label, k in capture.keys if label == "SERVER_PUBLIC"]
        servers += [na.public(x) for x in secrets]
        nonce = b"WELCOME-" + body[8:24]
        for server in servers:
            k = na.beforenm(server, c)
            if k and na.open_afternm(body[24:], nonce, k) is not None:
                paths.append((hello, welcome))
                break
    return paths


def curve_session_key_by_trial(capture, conn, raw):
    """The key log's SESSION_KEY that opens the connection's first MESSAGE box (docs/keylog.md)."""
    for d in (0, 1):
        for start, end, _, body in raw[d]:
            if body[:8] != b"\x07MESSAGE" or len(body) < 33:
                continue
            nonce = (b"CurveZMQMESSAGEC" if d == 0 else b"CurveZMQMESSAGES") + body[8:16]
            for label, k in capture.keys:
                if label == "SESSION_KEY" and sodium().open_afternm(body[16:], nonce, k):
                    return k
            return None
    return None


def curve_message_frame(capture, conn, d, start, end, body):
    if conn.session_key is None or len(body) < 33:
        return None
    nonce = (b"CurveZMQMESSAGEC" if d == 0 else b"CurveZMQMESSAGES") + body[8:16]
    plain = sodium().open_afternm(body[16:], nonce, conn.session_key)
    if plain is None or not plain:
        return None
    flags = plain[0]
    return Frame(start, end, plain[1:], bool(flags & 0x01), bool(flags & 0x02), decrypted=True,
                 box=(end - len(body) + 16, nonce))


def check_against_expected(capture):
    """The walk must find exactly what expected.json lists; each message gets its number."""
    wanted = capture.expected["connections"]
    if len(wanted) != len(capture.connections):
        raise ModelError("%s: %d connections in the capture, %d in expected.json" %
                         (capture.name, len(capture.connections), len(wanted)))
    for conn, exp in zip(capture.connections, wanted):
        where = "%s connection %d" % (capture.name, conn.index)
        if conn.server_port != exp["server_port"]:
            raise ModelError("%s: server port %d, expected %d" % (where, conn.server_port,
                                                                  exp["server_port"]))
        if conn.handshake != exp["handshake"]:
            raise ModelError("%s: handshake %s, expected %s" % (where, conn.handshake,
                                                                exp["handshake"]))
        for d, key in ((0, "client_to_server"), (1, "server_to_client")):
            messages = [i for i in conn.dirs[d].items if i.kind == "message"]
            want = exp[key]["messages"]
            if [m.bodies() for m in messages] != want:
                raise ModelError("%s %s: the walk finds other messages than expected.json" %
                                 (where, key))
            for n, m in enumerate(messages):
                m.number = n
            counts = {}
            for i in conn.dirs[d].items:
                if i.kind == "command":
                    counts[i.name] = counts.get(i.name, 0) + 1
            for name, count in exp[key].get("commands", {}).items():
                base = name[:-4] if name.endswith("_min") else name
                got = counts.get(base, 0)
                if (got < count) if name.endswith("_min") else (got != count):
                    raise ModelError("%s %s: %d %s, expected.json says %s" %
                                     (where, key, got, base, count))


def rekeyed_stream(conn, d, new_key):
    """Direction d's stream with every box the session key opens sealed again with `new_key`
    (same nonces, same plaintexts, same sizes): a connection of its own for a decoder that
    binds a SESSION_KEY to the first connection it opens."""
    na = sodium()
    stream = bytearray(conn.dirs[d].stream)
    for item in conn.dirs[d].items:
        for frame in item.frames:
            if frame.box is None:
                continue
            offset, nonce = frame.box
            box = bytes(stream[offset:frame.end])
            plain = na.open_afternm(box, nonce, conn.session_key)
            if plain is None:
                raise ModelError("a box at stream offset %d does not open" % offset)
            stream[offset:frame.end] = na.box_afternm(plain, nonce, new_key)
    return bytes(stream)


def load_captures(folder, names=None):
    found = []
    for entry in sorted(os.listdir(folder)):
        if entry.endswith(".expected.json"):
            name = entry[:-len(".expected.json")]
            if names is None or name in names:
                found.append(Capture(os.path.join(folder, entry)))
    return found
