"""Derived captures of a capture of captures/ (tests/recovery/README.md): cut at every packet
boundary, each payload packet dropped alone, several payload packets dropped at once. For each,
the connections the derivation changed, and what a correct decoder must and may show on them.

A derived capture is tested by its "pieces": a piece is one connection of the original capture as
the derivation left it (some of its packets dropped, some kept). A connection the derivation left
whole is the original's (checked by tests/replay and tests/plugin); one it dropped completely
shows nothing. Identical pieces of different derivations are tested once.
"""

import bisect
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, os.pardir, "plugin"))
sys.path.append(os.path.join(HERE, os.pardir, "hostile"))
from pcapng_edit import SHB, blocks, rewrite_port  # noqa: E402
from pcap_tools import tcp_payload_offset  # noqa: E402
from capture_model import rekeyed_stream  # noqa: E402


class Derivation:
    def __init__(self, name, dropped):
        self.name = name
        self.dropped = frozenset(dropped)


def derivations(capture):
    """Every derivation of the capture, deterministic and in a fixed order."""
    n = len(capture.packets)
    out = [Derivation("cut %d" % k, range(k)) for k in range(1, n)]
    payload = [p.index for p in capture.packets if p.payload]
    out += [Derivation("drop %d" % (i + 1), [i]) for i in payload]
    for step in (5, 3):
        for phase in range(step):
            out.append(Derivation("drop every %s payload packet from %d" % ({5: "5th", 3: "3rd"}[step], phase),
                                  payload[phase::step]))
    for a, b in zip(payload, payload[1:]):
        out.append(Derivation("drop %d and %d (adjacent)" % (a + 1, b + 1), [a, b]))
    for conn in capture.connections:
        for d in conn.dirs:
            mine = [p.index for p in d.packets if p.payload]
            for a, b in zip(mine, mine[1:]):
                if b != a + 1:  # adjacent in capture order: already above
                    out.append(Derivation("drop %d and %d (adjacent in a direction)" %
                                          (a + 1, b + 1), [a, b]))
            for a, b, c in zip(mine, mine[1:], mine[2:]):
                out.append(Derivation("drop %d, %d and %d (3 in a row in a direction)" %
                                      (a + 1, b + 1, c + 1), [a, b, c]))
    return out


# ---- intervals -------------------------------------------------------------------------------

def merge(intervals):
    out = []
    for start, end in sorted(intervals):
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [tuple(i) for i in out]


def complement(intervals, total):
    out, pos = [], 0
    for start, end in intervals:
        if start > pos:
            out.append((pos, start))
        pos = max(pos, end)
    if pos < total:
        out.append((pos, total))
    return out


def covered(intervals, start, end):
    if start >= end:
        return True
    return any(s <= start and end <= e for s, e in intervals)


# ---- pieces and what they must show ----------------------------------------------------------

class DirectionTruth:
    """One direction of a piece."""

    def __init__(self, conn, d, kept_packets):
        self.d = d
        direction = conn.dirs[d]
        total = len(direction.stream)
        self.kept = merge((p.offset, p.offset + len(p.payload)) for p in kept_packets
                          if p.payload)
        self.lost = complement(self.kept, total)
        self.items = direction.items
        self.mid_stream = conn.mid_stream
        self._packets = sorted((p.offset, p.index, p) for p in kept_packets if p.payload)
        self._offsets = [o for o, _, _ in self._packets]

    def whole(self, item):
        return covered(self.kept, item.start, item.end)

    def completing_packet(self, item):
        """The kept packet with which `item` is complete: the last one, in capture order, that
        brings a byte of it no earlier packet brought (None when it is not whole)."""
        if not self.whole(item):
            return None
        lo = bisect.bisect_left(self._offsets, item.start)
        while lo > 0 and self._packets[lo - 1][0] + len(self._packets[lo - 1][2].payload) > \
                item.start:
            lo -= 1
        overlapping = []
        for offset, index, p in self._packets[lo:]:
            if offset >= item.end:
                break
            if offset + len(p.payload) > item.start:
                overlapping.append(p)
        overlapping.sort(key=lambda p: p.index)
        have = []
        for p in overlapping:
            have = merge(have + [(max(p.offset, item.start),
                                  min(p.offset + len(p.payload), item.end))])
            if covered(have, item.start, item.end):
                return p
        return None

    def latest_gap_before(self, offset):
        ends = [e for s, e in self.lost if e <= offset]
        if self.mid_stream:
            ends.append(0)  # the original capture itself joined this direction late
        return max(ends) if ends else None

    def first_message_from(self, offset):
        return next((i for i in self.items if i.kind == "message" and i.start >= offset), None)

    def allowance(self, item):
        """True when `item` is the first message whose start follows a gap: it may be lost."""
        gap_end = self.latest_gap_before(item.start)
        return gap_end is not None and self.first_message_from(gap_end) is item

    def handshake_kept(self, end):
        return end is not None and covered(self.kept, 0, end)


class Piece:
    """One connection of the original capture as one or more derivations left it."""

    def __init__(self, capture, conn, kept):
        self.capture, self.conn = capture, conn
        self.kept = kept  # frozenset of original packet indices (of this connection)
        self.derivations = []
        kept_packets = [p for p in conn.packets if p.index in kept]
        self.packets = kept_packets
        self.dirs = [DirectionTruth(conn, d, [p for p in kept_packets if p.dir == d])
                     for d in (0, 1)]
        self.port = None  # the client port it gets in a batch

    def label(self):
        more = len(self.derivations) - 1
        return "%s [%s%s] connection %d" % (self.capture.name, self.derivations[0],
                                            " and %d more" % more if more else "",
                                            self.conn.index)

    def handshake_kept(self):
        return all(self.dirs[d].handshake_kept(self.conn.handshake_end[d]) for d in (0, 1))


def pieces(capture, derivation_list=None):
    """The distinct pieces of every derivation, in first-seen order."""
    found = {}
    for derivation in derivation_list or derivations(capture):
        for conn in capture.connections:
            mine = frozenset(p.index for p in conn.packets)
            kept = mine - derivation.dropped
            if not kept or kept == mine:
                continue
            key = (conn.index, kept)
            piece = found.get(key)
            if piece is None:
                piece = found[key] = Piece(capture, conn, kept)
            piece.derivations.append(derivation.name)
    return list(found.values())


# ---- batches: many pieces in one capture -----------------------------------------------------

# Client ports given to the pieces of a batch: a range in which Wireshark 4.0 registers no TCP
# dissector (tshark -G decodes), so that only the server port decides the dissector.
FIRST_PORT, LAST_PORT = 35000, 44000


def batches(piece_list, exclusive, max_packets):
    """Pieces grouped into captures of at most `max_packets` packets. `exclusive`: at most one
    piece of each original connection per batch (a SESSION_KEY, once bound to a connection, is
    not tried on another: docs/keylog.md)."""
    out = []
    for piece in piece_list:
        for batch in out:
            if batch["packets"] + len(piece.packets) > max_packets:
                continue
            if exclusive and (piece.capture.name, piece.conn.index) in batch["conns"]:
                continue
            break
        else:
            batch = {"packets": 0, "conns": set(), "pieces": []}
            out.append(batch)
        batch["pieces"].append(piece)
        batch["packets"] += len(piece.packets)
        batch["conns"].add((piece.capture.name, piece.conn.index))
    return [b["pieces"] for b in out]


class Plan:
    """How the pieces of one capture and key mode are run. A SESSION_KEY is bound to the first
    connection it opens (docs/keylog.md), so two pieces of one connection cannot share a run with
    the same key file. Pieces that only a SESSION_KEY opens are therefore sealed again, each with
    a key of its own (`rekey`, capture_model.rekeyed_stream) and share runs; the other pieces of
    connections whose SESSION_KEY the key file holds run one piece per connection (`exclusive`);
    `check` holds pieces of `rekey` that are also run unchanged with the mode's key file, one of
    each connection per run."""

    def __init__(self, piece_list, mode, session_keys, max_packets, checked_batches):
        if mode == "session":
            self.rekey = [p for p in piece_list if p.conn.session_key is not None]
        elif mode == "full" and session_keys:
            self.rekey = [p for p in piece_list
                          if p.conn.mid_stream and p.conn.session_key is not None]
        else:
            self.rekey = []
        rekeyed = {id(p) for p in self.rekey}
        self.others = [p for p in piece_list if id(p) not in rekeyed]
        self.exclusive = mode == "full" and bool(session_keys)
        self.other_batches = batches(self.others, self.exclusive, max_packets)
        self.rekey_batches = batches(self.rekey, False, max_packets)
        one_each = batches(self.rekey, True, max_packets)
        if len(one_each) > checked_batches:
            step = len(one_each) / checked_batches
            one_each = [one_each[int(step * i + step / 2)] for i in range(checked_batches)]
        self.check_batches = one_each

    def own_keys(self, batch):
        """{id(piece): its own key} of a batch of `rekey`: deterministic test keys, nobody's."""
        out = {}
        for piece in batch:
            h = hashlib.blake2b(digest_size=32)
            h.update(b"zmtpscope recovery test: re-keyed piece ")
            h.update(("%s %d %s" % (piece.capture.name, piece.conn.index,
                                    ",".join(map(str, sorted(piece.kept))))).encode())
            out[id(piece)] = h.digest()
        return out

    def note(self):
        if not self.rekey:
            return None
        return ("%d piece(s) that only a SESSION_KEY opens sealed again with a key of their own; "
                "%d of them also run unchanged with the mode's key file" %
                (len(self.rekey), sum(len(b) for b in self.check_batches)))


def rekeyed_streams(own):
    """The `streams` argument of write_batch for pieces with keys of their own."""
    def streams(piece):
        return [rekeyed_stream(piece.conn, d, own[id(piece)]) for d in (0, 1)]
    return streams


def with_payload(frame, payload):
    """An Ethernet/IPv4/TCP packet with its TCP payload replaced by as many other bytes (the
    checksum is recomputed by rewrite_port afterwards)."""
    off = tcp_payload_offset(frame)
    total = 14 + struct.unpack("!H", frame[16:18])[0]
    if off is None or total - off != len(payload):
        raise ValueError("a payload of another size")
    return frame[:off] + payload + frame[total:]


def write_batch(path, batch, streams=None):
    """A pcapng of the pieces, each with its own client port (piece.port), every packet at its
    original time, in time order (ties in original order). `streams(piece)`: None, or the two
    streams whose bytes the piece's packets carry instead of the original ones. Returns
    [(piece, original packet)] in file order: frame number n is entry n - 1."""
    used = set()
    for piece in batch:
        used |= {piece.conn.server_port}
    port = FIRST_PORT
    for piece in batch:
        while port in used:
            port += 1
        if port > LAST_PORT:
            raise ValueError("more pieces in a batch than client ports for them")
        piece.port = port
        port += 1
    order = sorted(((p.time, p.index, n, piece, p) for n, piece in enumerate(batch)
                    for p in piece.packets), key=lambda t: t[:3])
    header = batch[0].capture.header
    for piece in batch:
        if interface_blocks(piece.capture.header) != interface_blocks(header):
            raise ValueError("%s and %s have different interfaces: not one batch" %
                             (piece.capture.name, batch[0].capture.name))
    out = [header]
    entries = []
    replaced = {id(piece): streams(piece) if streams else None for piece in batch}
    for _, _, _, piece, p in order:
        frame = p.frame
        new = replaced[id(piece)]
        if new is not None and p.payload:
            frame = with_payload(frame, new[p.dir][p.offset:p.offset + len(p.payload)])
        frame = rewrite_port(frame, piece.conn.client_port, piece.port)
        if len(frame) != len(p.frame):
            raise ValueError("port rewrite changed a packet's length")
        block = p.block[:28] + frame + p.block[28 + len(frame):]
        out.append(block)
        entries.append((piece, p))
    with open(path, "wb") as f:
        f.write(b"".join(out))
    return entries


def interface_blocks(header):
    return [b for t, b in blocks(header) if t != SHB]


def write_derived(path, capture, derivation):
    """The whole derived capture, as a user would have it (no port rewriting)."""
    out = [capture.header]
    for p in capture.packets:
        if p.index not in derivation.dropped:
            out.append(p.block)
    with open(path, "wb") as f:
        f.write(b"".join(out))
