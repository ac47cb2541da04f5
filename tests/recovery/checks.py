"""What each tool must show on each piece of a derived capture, and the tally of what it showed
(tests/recovery/README.md states the rules).

Per piece and direction, the messages a correct decoder must show ("required") are those that
lie wholly in kept bytes, are not the first message that starts after a gap (the one the resync
may take: "within one message of the cut or gap"), and whose boxes the key mode opens. Those it may
show ("optional") are the other wholly kept ones. Every message a tool shows must be one of the
two, with its exact content, at the packet that completes it.
"""

import json
import os

MODES = {"plain": "no keys needed (NULL/PLAIN)", "full": "full key log (NAME.keys)",
         "session": "SESSION_KEY lines only", "none": "no keys"}

COUNTERS = ["pieces", "derivations", "recoverable", "recovered", "optional_shown",
            "false_messages", "false_pairs", "false_never_answered", "false_missed_pongs",
            "false_heartbeat", "box_counts_wrong", "pairs_recovered"]


class Expectation:
    """One message the tool may show on a piece."""

    def __init__(self, item, packet, required, why):
        self.item, self.packet, self.required, self.why = item, packet, required, why
        self.number = item.number
        self.frames = len(item.frames)
        self.bytes = item.body_bytes
        self.bodies = tuple(item.bodies())


def decryptable(piece, mode, session_keys):
    """(guaranteed, possible): can the mode's keys open this connection's messages?"""
    if not piece.capture.is_curve:
        return True, True
    conn = piece.conn
    if mode == "none" or conn.session_key is None:
        return False, False
    if conn.session_key in session_keys:
        return True, True
    if mode == "session":
        return False, False
    # Full key log without this connection's SESSION_KEY: its secrets open it once the handshake
    # commands they are found by are there (HELLO, and WELCOME or INITIATE: docs/keylog.md);
    # without them, a decoder may or may not find the key.
    if piece.handshake_kept():
        return True, True
    for path in conn.key_paths:
        if all(piece.dirs[d].whole(item) for d, item in path):
            return True, True
    return False, True


def expectations(piece, mode, session_keys):
    guaranteed, possible = decryptable(piece, mode, session_keys)
    out = []
    for d in (0, 1):
        truth = piece.dirs[d]
        mine = []
        for item in truth.items:
            if item.kind != "message" or not truth.whole(item):
                continue
            packet = truth.completing_packet(item)
            if truth.allowance(item):
                mine.append(Expectation(item, packet, False, "first message after a gap"))
            elif guaranteed:
                mine.append(Expectation(item, packet, True, ""))
            elif possible:
                mine.append(Expectation(item, packet, False, "key not guaranteed"))
        out.append(mine)
    return out


def box_bounds(piece, d):
    """(lower, upper) of the CURVE MESSAGE boxes a decoder without keys must count in direction
    d: every wholly kept box at most; at least those that do not start between a gap and the end
    of the first unit (message or command) that starts after it."""
    truth = piece.dirs[d]
    units = [i for i in truth.items if i.curve_box]
    excused = []
    for start, end in truth.lost:
        first = next((u for u in units if u.start >= end), None)
        excused.append((end, first.end if first else end))
    upper = lower = 0
    for unit in units:
        for frame in unit.frames:
            if not (truth.kept and any(s <= frame.start and frame.end <= e
                                       for s, e in truth.kept)):
                continue
            upper += 1
            if not any(s <= frame.start < e for s, e in excused):
                lower += 1
    return lower, upper


def match(reported, wanted, keys):
    """An order-preserving matching of reported messages to wanted ones with the most matches,
    and among those the most required ones. keys = (key of a reported message, key of a wanted
    one): the two match when their keys are equal (a key None matches nothing). Returns
    {reported index: wanted index}."""
    rkey, wkey = keys
    where = {}
    for j, w in enumerate(wanted):
        where.setdefault(wkey(w), []).append(j)
    pairs = []
    for i, r in enumerate(reported):
        k = rkey(r)
        if k is not None:
            pairs += [(i, j) for j in where.get(k, ())]
    # The heaviest chain of pairs increasing in both indices: pairs taken by i, and for one i by
    # falling j, so that no two of one i chain; the best chain ending below each j is kept in a
    # Fenwick tree of prefix maxima.
    pairs.sort(key=lambda p: (p[0], -p[1]))
    big = 1 << 20
    tree = [(0, -1)] * (len(wanted) + 1)
    best, prev = [], []
    for p, (i, j) in enumerate(pairs):
        score, back, k = 0, -1, j  # positions 1..j hold wanted indices below j
        while k > 0:
            if tree[k][0] > score:
                score, back = tree[k]
            k -= k & -k
        best.append(score + big + (1 if wanted[j].required else 0))
        prev.append(back)
        k = j + 1
        while k <= len(wanted):
            if best[p] > tree[k][0]:
                tree[k] = (best[p], p)
            k += k & -k
    out = {}
    if best:
        p = max(range(len(best)), key=lambda k: (best[k], -k))
        while p >= 0:
            out[pairs[p][0]] = pairs[p][1]
            p = prev[p]
    return out


def line(tool, mode, capture, c, unit="pieces"):
    return ("%-11s %-7s %-23s %s %5d  recoverable %5d  recovered %5d  false: messages %d, "
            "pairs %d, never answered %d, missed PONGs %d, heartbeat %d%s" %
            (tool, mode, capture, unit, c["pieces"], c["recoverable"], c["recovered"],
             c["false_messages"], c["false_pairs"], c["false_never_answered"],
             c["false_missed_pongs"], c["false_heartbeat"],
             ", box counts wrong %d" % c["box_counts_wrong"] if mode == "none" else ""))


class Tally:
    """Counts per distinct piece (`counts`) and over all derived captures (`weighted`: a piece
    counts once for each derivation that leaves its connection so)."""

    def __init__(self, tool, capture, mode):
        self.tool, self.capture, self.mode = tool, capture, mode
        self.counts = {k: 0 for k in COUNTERS}
        self.weighted = {k: 0 for k in COUNTERS}
        self.failures = []  # (kind, text)
        self.notes = []
        self.derived_captures = 0
        self._before = None
        self._piece = None
        self.failed_pieces = {}  # kind -> {id(piece): piece}

    def start_piece(self, piece):
        self._before = dict(self.counts)
        self._piece = piece

    def end_piece(self, weight):
        for k in COUNTERS:
            self.weighted[k] += (self.counts[k] - self._before[k]) * weight
        self._piece = None

    def fail(self, kind, text):
        self.failures.append((kind, text))
        if self._piece is not None:
            self.failed_pieces.setdefault(kind, {})[id(self._piece)] = self._piece

    def by_derivation(self):
        """Per failure kind and connection: the derivations whose pieces failed, cuts and single
        drops as ranges of K and N."""
        lines = []
        for kind, found in self.failed_pieces.items():
            lines.append("%s:" % kind)
            by_conn = {}
            for piece in found.values():
                by_conn.setdefault(piece.conn.index, []).extend(piece.derivations)
            for conn in sorted(by_conn):
                cuts, drops, other = [], [], []
                for name in by_conn[conn]:
                    words = name.split()
                    if len(words) == 2 and words[0] in ("cut", "drop") and words[1].isdigit():
                        (cuts if words[0] == "cut" else drops).append(int(words[1]))
                    else:
                        other.append(name)
                parts = []
                if cuts:
                    parts.append("cut " + ranges(cuts))
                if drops:
                    parts.append("drop " + ranges(drops))
                if other:
                    parts.append("; ".join(other[:12]) + (" and %d more" % (len(other) - 12)
                                                          if len(other) > 12 else ""))
                lines.append("  connection %d: %s" % (conn, "; ".join(parts)))
        return lines

    def kinds(self):
        out = {}
        for kind, _ in self.failures:
            out[kind] = out.get(kind, 0) + 1
        return out

    def line(self):
        c = self.counts
        return line(self.tool, self.mode, self.capture, c)

    def report(self, limit=40):
        print()
        print("== %s, %s, key mode %s (%s)" % (self.tool, self.capture, self.mode,
                                               MODES[self.mode]))
        for note in self.notes:
            print("note: " + note)
        if self.failures:
            print("%d failure(s): %s" % (len(self.failures), ", ".join(
                "%s %d" % kv for kv in sorted(self.kinds().items()))))
            shown = {}
            for kind, text in self.failures:
                shown[kind] = shown.get(kind, 0) + 1
                if shown[kind] <= limit:
                    print("  %s: %s" % (kind, text))
                elif shown[kind] == limit + 1:
                    print("  %s: ... (%d more not shown)" % (kind, self.kinds()[kind] - limit))
        if self.failed_pieces:
            print("failing derivations, by kind and connection (cut K: packets 1..K dropped; "
                  "drop N: packet N dropped):")
            for text in self.by_derivation():
                print("  " + text)
        print("TOTALS, the changed connections of all %d derived captures:" %
              self.derived_captures)
        print("  " + line(self.tool, self.mode, self.capture, self.weighted, "connections"))
        print("TOTALS, each distinct piece once:")
        print("  " + self.line())

    def save(self, folder, skipped=None):
        if not folder:
            return
        os.makedirs(folder, exist_ok=True)
        with open(result_path(folder, self.tool, self.capture, self.mode), "w") as f:
            json.dump({"tool": self.tool, "capture": self.capture, "mode": self.mode,
                       "skipped": skipped, "derived_captures": self.derived_captures,
                       "counts": self.counts, "weighted": self.weighted,
                       "failures": self.kinds(), "notes": self.notes}, f, indent=1)


def ranges(numbers):
    numbers = sorted(set(numbers))
    out, i = [], 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(str(numbers[i]) if i == j else "%d-%d" % (numbers[i], numbers[j]))
        i = j + 1
    return ",".join(out)


def result_path(folder, tool, capture, mode):
    return os.path.join(folder, "%s--%s--%s.json" % (tool, capture, mode))


def forget_result(folder, tool, capture, mode):
    """A run starts by removing its old result, so that a run that dies leaves none."""
    if folder and os.path.exists(result_path(folder, tool, capture, mode)):
        os.remove(result_path(folder, tool, capture, mode))


def applies(mode, is_curve):
    return (mode == "plain") != is_curve


def sample(piece_list, every):
    """Every `every`-th piece (sanitized builds run a share of them)."""
    return piece_list[::every] if every > 1 else piece_list


def describe(piece, d, e):
    return "%s %s message #%d (%d frame(s), %d bytes, completed by packet %d)" % (
        piece.label(), "client->server" if d == 0 else "server->client", e.number, e.frames,
        e.bytes, e.packet.index + 1)


def evaluate_messages(tally, piece, wanted, reported, same, show, same_content):
    """Matches one piece direction's reported messages; counts recovered and false ones.
    Returns {(direction, reported index): Expectation}."""
    result = {}
    for d in (0, 1):
        pairs = match(reported[d], wanted[d], same)
        for i, r in enumerate(reported[d]):
            if i in pairs:
                e = wanted[d][pairs[i]]
                result[(d, i)] = e
                if not e.required:
                    tally.counts["optional_shown"] += 1
                continue
            tally.counts["false_messages"] += 1
            alike = [e for e in wanted[d] if same_content(r, e)]
            hint = ""
            if alike:
                hint = " (the content of expected message #%d, which packet %d completes)" % (
                    alike[0].number, alike[0].packet.index + 1)
            tally.fail("false message", "%s %s: %s%s" % (
                piece.label(), "client->server" if d == 0 else "server->client", show(r), hint))
        hit = {pairs[i] for i in pairs}
        for j, e in enumerate(wanted[d]):
            if not e.required:
                continue
            tally.counts["recoverable"] += 1
            if j in hit:
                tally.counts["recovered"] += 1
            else:
                tally.fail("not recovered", describe(piece, d, e))
    return result
