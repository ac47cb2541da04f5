#!/usr/bin/env python3
"""tshark with the ZMQ plugin on every derived capture of one capture of captures/
(tests/recovery/README.md).

Usage: tshark_recovery.py --plugin zmq.so --abi 4.0 --captures DIR --capture NAME --mode MODE
       [--replay zmtp-replay] [--results DIR] [--keep]
MODE: plain (NULL/PLAIN captures), full, session, none (CURVE captures). The session mode needs
zmtp-replay (--replay) for --export-session-keys.
Exit code 0 = pass, 1 = fail, 77 = skipped.

tshark runs as the user nobody when the tests run as root: see tests/plugin/tshark_env.py.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(HERE, os.pardir, "plugin"))
import capture_model  # noqa: E402
import checks  # noqa: E402
import derive  # noqa: E402
from replay_recovery import Replay, Setup, exit_code, session_key_file  # noqa: E402
sys.path.append(os.path.join(HERE, os.pardir, "hostile"))
from pcap_tools import empty_folder  # noqa: E402
from tshark_env import TestFailure, Tshark  # noqa: E402

# Packets per tshark run: a run costs ~0.2 s to start, and its JSON ~1 KB per ZMQ unit.
MAX_BATCH_PACKETS = 6000
STANDALONE_SAMPLES = 2
CHECKED_BATCHES = 1  # runs of re-keyed pieces also made unchanged (derive.Plan)
HEARTBEAT_EXPERTS = ("zmq.expert.ping_unanswered", "zmq.expert.peer_silent",
                     "zmq.expert.heartbeat_late")
# Where bytes went missing: the frames of the message in progress before it are not its frames.
GAP_FIELDS = ("zmq.gap", "zmq.expert.gap", "zmq.expert.mid_stream")


class ShownMessage:
    def __init__(self, frames, entry, unit, entries):
        self.frames = frames  # bodies in hex; fewer than the unit says: some were not shown
        self.declared = int(unit.show("zmq.message.frames"))
        self.packet = entry[1]  # the original packet whose copy completed it
        self.response_to = unit.show("zmq.response_to")
        # the original packet of the request it answers
        self.request = entries[int(self.response_to) - 1][1] if self.response_to else None


class Shown:
    """What the plugin showed of one piece."""

    def __init__(self):
        self.messages = [[], []]
        self.pending = [[], []]
        self.boxes = [0, 0]
        self.decrypted = 0
        self.pong_pairs = []  # (direction, PONG's original packet, response_to frame number)
        self.heartbeat = []  # (direction, original packet, expert name)


# The fields the tests read (others are skipped when the JSON tree is walked).
FIELDS = frozenset(("zmq.frame.index", "zmq.frame.body", "zmq.message.frames", "zmq.message.loss",
                    "zmq.command.name", "zmq.curve.decrypted", "zmq.response_to") +
                   HEARTBEAT_EXPERTS + GAP_FIELDS)


class JsonUnit:
    """One ZMQ unit of tshark's JSON output (-T json --no-duplicate-keys): the fields the tests
    read, in tree order, as tests/plugin/tshark_env.Unit has them from PDML."""

    def __init__(self, frame, layer):
        self.frame = frame
        self.fields = {}  # name -> [show, ...]
        self._walk(layer)

    def _walk(self, tree):
        fields = self.fields
        for name, value in tree.items():
            wanted = name in FIELDS
            for v in value if isinstance(value, list) else (value,):
                if isinstance(v, dict):
                    if wanted:
                        fields.setdefault(name, []).append("")
                    self._walk(v)
                elif wanted:
                    fields.setdefault(name, []).append(v)

    def show(self, name, default=None):
        values = self.fields.get(name)
        return values[0] if values else default

    def shows(self, name):
        return self.fields.get(name, [])

    def has(self, name):
        return name in self.fields


def body_hex(show):
    """A bytes field as JSON shows it ("68:69"), in hex ("6869")."""
    return show.replace(":", "")


def read_units(tshark, args):
    """(frame number, JsonUnit) of every ZMQ unit."""
    proc = subprocess.run(tshark.command(list(args) + [
        "-T", "json", "--no-duplicate-keys", "-Y", "zmq", "-J", "frame zmq"]),
        capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise TestFailure("tshark %s failed (%d): %s" % (" ".join(args), proc.returncode,
                                                         proc.stderr.decode(errors="replace")
                                                         .strip()[-2000:]))
    try:
        packets = json.loads(proc.stdout) if proc.stdout.strip() else []
    except ValueError as e:
        raise TestFailure("tshark's JSON does not parse: %s" % e)
    out = []
    for packet in packets:
        layers = packet["_source"]["layers"]
        frame = int(layers["frame"]["frame.number"])
        units = layers.get("zmq", [])
        for layer in units if isinstance(units, list) else [units]:
            out.append((frame, JsonUnit(frame, layer)))
    return out


def collect(units, entries):
    """{id(piece): Shown} from the units of a batch whose frames are `entries`."""
    shown = {}
    for frame, unit in units:
        piece, packet = entries[frame - 1]
        s = shown.setdefault(id(piece), Shown())
        d = packet.dir
        names = set(unit.fields)
        if names & set(GAP_FIELDS):
            s.pending[d] = []
        for name in HEARTBEAT_EXPERTS:
            if name in names:
                s.heartbeat.append((d, packet.index, name))
        commands = unit.shows("zmq.command.name")
        if commands[:1] == ["MESSAGE"]:
            s.boxes[d] += 1
        s.decrypted += unit.shows("zmq.curve.decrypted").count("1")
        if "PONG" in commands and unit.show("zmq.response_to"):
            s.pong_pairs.append((d, packet.index, int(unit.show("zmq.response_to"))))
        if unit.has("zmq.frame.index"):
            s.pending[d].append(body_hex(unit.shows("zmq.frame.body")[-1]))
        if unit.has("zmq.message.loss"):
            # A message the capture holds only part of: not one the plugin claims whole.
            s.pending[d] = []
        elif unit.has("zmq.message.frames"):
            n = int(unit.show("zmq.message.frames"))
            frames = s.pending[d][-n:] if n else []
            s.messages[d].append(ShownMessage(frames, (piece, packet), unit, entries))
            s.pending[d] = []
    return shown


def shown_key(m):
    return (m.packet.index, tuple(m.frames)) if m.declared == len(m.frames) else None


# checks.match's keys: the same frame bodies, completed by the same packet.
same = (shown_key, lambda e: (e.packet.index, e.bodies))


def same_content(shown, e):
    return shown.declared == len(shown.frames) and tuple(shown.frames) == e.bodies


def show_message(m):
    text = ",".join('"%s"' % (f[:24] + "..." if len(f) > 24 else f) for f in m.frames)
    if m.declared != len(m.frames):
        text += "] (%d frames said, %d shown" % (m.declared, len(m.frames))
    return "[%s] completed by packet %d%s" % (text, m.packet.index + 1,
                                             ", a reply to packet %d" % (m.request.index + 1)
                                             if m.request else "")


class Original:
    """The plugin's analysis of the original capture in this key mode."""

    def __init__(self, capture, tshark, pcap, keylog, mode, session_keys, tally):
        entries = [(None, p) for p in capture.packets]
        units = read_units(tshark, capture_args(pcap, keylog))
        by_conn = {}
        for frame, unit in units:
            p = capture.packets[frame - 1]
            by_conn.setdefault(p.conn.index, []).append((frame, unit))
        self.pairs = {}
        self.pong_pairs = set()
        self.heartbeat = set()
        for conn in capture.connections:
            s = collect(by_conn.get(conn.index, []), entries).get(id(None), Shown())
            whole = derive.Piece(capture, conn, frozenset(p.index for p in conn.packets))
            whole.derivations.append("original capture")
            wanted = checks.expectations(whole, mode, session_keys)
            for d in (0, 1):
                shown = s.messages[d]
                found = checks.match(shown, wanted[d], same)
                missing = [e for j, e in enumerate(wanted[d])
                           if e.required and j not in found.values()]
                if missing or len(found) != len(shown):
                    tally.fail("original capture", "%s connection %d %s: %d of %d messages "
                               "shown as expected, %d required not shown, %d shown" % (
                                   capture.name, conn.index, "client->server" if d == 0 else
                                   "server->client", len(found), len(wanted[d]), len(missing),
                                   len(shown)))
                for i, j in found.items():
                    if shown[i].response_to:
                        self.pairs[(conn.index, d, wanted[d][j].number)] = \
                            int(shown[i].response_to) - 1
            self.pong_pairs |= {(conn.index, d, p, r - 1) for d, p, r in s.pong_pairs}
            if conn.mid_stream:
                # No fuller capture to compare with; every PING in it is answered in time
                # (captures/README.md): its own heartbeat diagnoses are false, the baseline none.
                for d, packet, name in s.heartbeat:
                    key = "false_missed_pongs" if name == "zmq.expert.ping_unanswered" else \
                        "false_heartbeat"
                    tally.counts[key] += 1
                    tally.fail("false " + name.rsplit(".", 1)[-1], "original capture %s "
                               "connection %d: in packet %d" % (capture.name, conn.index,
                                                                packet + 1))
            else:
                self.heartbeat |= {(conn.index,) + h for h in s.heartbeat}


def capture_args(pcap, keylog):
    args = ["-r", pcap, "-2"]
    if keylog:
        args += ["-o", "zmq.keylog_file:" + keylog]
    return args


def evaluate_piece(tally, piece, s, entries, original, mode, session_keys):
    tally.start_piece(piece)
    result = check_piece(tally, piece, s, entries, original, mode, session_keys)
    tally.end_piece(len(piece.derivations))
    return result


def check_piece(tally, piece, s, entries, original, mode, session_keys):
    tally.counts["pieces"] += 1
    tally.counts["derivations"] += len(piece.derivations)
    conn = piece.conn
    wanted = checks.expectations(piece, mode, session_keys)
    whole = s.messages
    matched = checks.evaluate_messages(tally, piece, wanted, whole, same, show_message,
                                       same_content)
    where = lambda d: "%s %s" % (piece.label(), "client->server" if d == 0 else "server->client")
    for d in (0, 1):
        for i, m in enumerate(whole[d]):
            if not m.response_to:
                continue
            e = matched.get((d, i))
            request = m.request.index
            want = original.pairs.get((conn.index, d, e.number)) if e else None
            if want is not None and want == request:
                tally.counts["pairs_recovered"] += 1
                continue
            tally.counts["false_pairs"] += 1
            tally.fail("false pair", "%s: %s, %s" % (
                where(d), show_message(m),
                "the original pairs it with packet %d" % (want + 1) if want is not None else
                "the original does not pair it"))
    for d, pong, response_to in s.pong_pairs:
        ping = entries[response_to - 1][1].index
        if (conn.index, d, pong, ping) not in original.pong_pairs:
            tally.counts["false_pairs"] += 1
            tally.fail("false pair", "%s: the PONG in packet %d answers the PING in packet %d, "
                       "not so in the original" % (where(d), pong + 1, ping + 1))
    for d, packet, name in s.heartbeat:
        if (conn.index, d, packet, name) not in original.heartbeat:
            key = "false_missed_pongs" if name == "zmq.expert.ping_unanswered" else \
                "false_heartbeat"
            tally.counts[key] += 1
            tally.fail("false " + name.rsplit(".", 1)[-1], "%s: in packet %d, not in the "
                       "original" % (where(d), packet + 1))
    if piece.capture.is_curve and mode == "none":
        if s.decrypted:
            tally.fail("decrypted without keys", "%s: %d box(es) opened" % (piece.label(),
                                                                           s.decrypted))
        for d in (0, 1):
            lower, upper = checks.box_bounds(piece, d)
            if not lower <= s.boxes[d] <= upper:
                tally.counts["box_counts_wrong"] += 1
                tally.fail("box count", "%s: %d MESSAGE box(es) shown, the capture holds %d "
                           "whole, at least %d after the resync" % (where(d), s.boxes[d], upper,
                                                                   lower))
    return outcome(matched, s)


def outcome(matched, s):
    return (sorted((d, e.number) for (d, _), e in matched.items()),
            [len(s.messages[0]), len(s.messages[1])], sorted(s.heartbeat))


def run(args, tshark):
    capture = capture_model.load_captures(args.captures, [args.capture])
    if not capture:
        raise Setup("no capture %s in %s" % (args.capture, args.captures))
    capture = capture[0]
    if not checks.applies(args.mode, capture.is_curve):
        raise Setup("key mode %s does not apply to %s (%s)" % (args.mode, capture.name,
                                                              capture.mechanism))
    tally = checks.Tally("tshark", capture.name, args.mode)
    keylog, session_keys = None, set()
    if args.mode == "full":
        keylog = tshark.stage(capture.keylog)
        session_keys = {k for label, k in capture.keys if label == "SESSION_KEY"}
    elif args.mode == "session":
        if not args.replay:
            raise Setup("the session mode needs --replay (zmtp-replay --export-session-keys)")
        work = os.path.join(tshark.root, "work")
        os.makedirs(work, exist_ok=True)
        path, session_keys = session_key_file(Replay(args.replay, capture, work), capture, work,
                                              tally)
        keylog = tshark.stage(path)
    pcap = tshark.stage(capture.path)
    original = Original(capture, tshark, pcap, keylog, args.mode, session_keys, tally)
    all_derivations = derive.derivations(capture)
    tally.derived_captures = len(all_derivations)
    piece_list = checks.sample(derive.pieces(capture, all_derivations), args.every)
    if args.every > 1:
        tally.notes.append("every %dth piece only (--every)" % args.every)
    runs = 0
    results = {}

    def run_batch(batch, name, keys, streams=None):
        nonlocal runs
        path = os.path.join(tshark.files, name)
        entries = derive.write_batch(path, batch, streams)
        os.chmod(path, 0o644)
        shown = collect(read_units(tshark, capture_args(path, keys)), entries)
        runs += 1
        if not args.keep:
            os.remove(path)
        return entries, shown

    plan = derive.Plan(piece_list, args.mode, session_keys, MAX_BATCH_PACKETS, CHECKED_BATCHES)
    for n, batch in enumerate(plan.other_batches):
        entries, shown = run_batch(batch, "batch-%d.pcapng" % n, keylog)
        for piece in batch:
            results[id(piece)] = evaluate_piece(tally, piece, shown.get(id(piece), Shown()),
                                                entries, original, args.mode, session_keys)
    base = ""
    if args.mode == "full":
        with open(capture.keylog) as f:
            base = f.read()
    for n, batch in enumerate(plan.rekey_batches):
        own = plan.own_keys(batch)
        keys = tshark.writable("rekeyed-%d.keys" % n, base + "".join(
            "SESSION_KEY %s\n" % k.hex() for k in own.values()))
        entries, shown = run_batch(batch, "rekeyed-%d.pcapng" % n, keys,
                                   derive.rekeyed_streams(own))
        for piece in batch:
            # Its boxes open with its own key, which the key file holds.
            results[id(piece)] = evaluate_piece(tally, piece, shown.get(id(piece), Shown()),
                                                entries, original, args.mode,
                                                {piece.conn.session_key})
    for n, batch in enumerate(plan.check_batches):
        entries, shown = run_batch(batch, "unchanged-%d.pcapng" % n, keylog)
        for piece in batch:
            check = checks.Tally("tshark", capture.name, args.mode)
            got = evaluate_piece(check, piece, shown.get(id(piece), Shown()), entries, original,
                                 args.mode, session_keys)
            # Messages and heartbeat diagnoses; not the number of messages shown, which differs
            # where a plugin takes box bytes, which re-keying changes, for frames (those are
            # false messages, counted as such).
            want = results[id(piece)]
            if (got[0], got[2]) != (want[0], want[2]):
                tally.fail("re-keyed piece differs", "%s: %s with the key file unchanged, %s "
                           "re-keyed" % (piece.label(), got, want))
    if plan.note():
        tally.notes.append(plan.note())
    runs += check_standalone(tally, capture, tshark, keylog, session_keys, piece_list,
                             all_derivations, results, {id(p) for p in plan.rekey}, original,
                             args)
    tally.notes.append("%d derivations, %d distinct pieces, %d tshark runs" %
                       (len(all_derivations), len(piece_list), runs))
    return tally


def check_standalone(tally, capture, tshark, keylog, session_keys, piece_list, all_derivations,
                     results, rekeyed, original, args):
    """A few whole derived captures as a user would have them: each changed connection must
    show there what its piece showed in the batch."""
    by_key = {(p.conn.index, p.kept): p for p in piece_list}
    step = max(1, len(all_derivations) // STANDALONE_SAMPLES)
    sample = all_derivations[step // 2::step][:STANDALONE_SAMPLES]
    for derivation in sample:
        path = os.path.join(tshark.files, "standalone.pcapng")
        derive.write_derived(path, capture, derivation)
        os.chmod(path, 0o644)
        kept = [p for p in capture.packets if p.index not in derivation.dropped]
        units = read_units(tshark, capture_args(path, keylog))
        pieces_here = {}
        for conn in capture.connections:
            mine = frozenset(p.index for p in conn.packets)
            piece = by_key.get((conn.index, mine - derivation.dropped))
            if piece is not None:
                pieces_here[conn.index] = piece
        entries = [(pieces_here.get(p.conn.index), p) for p in kept]
        shown = collect([(f, u) for f, u in units if entries[f - 1][0] is not None], entries)
        for piece in pieces_here.values():
            if id(piece) not in results:
                continue  # not in the sample (--every)
            check = checks.Tally("tshark", capture.name, args.mode)
            got = evaluate_piece(check, piece, shown.get(id(piece), Shown()), entries, original,
                                 args.mode, session_keys)
            want = results[id(piece)]
            if id(piece) in rekeyed:  # see the check of re-keyed pieces in run()
                got, want = (got[0], got[2]), (want[0], want[2])
            if got != want:
                tally.fail("batch differs from the derived capture", "%s [%s]: %s in the "
                           "derived capture, %s in the batch" % (
                               piece.label(), derivation.name, got, want))
    tally.notes.append("checked against %d whole derived captures" % len(sample))
    return len(sample)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--abi", required=True)
    parser.add_argument("--captures", required=True)
    parser.add_argument("--capture", required=True)
    parser.add_argument("--mode", required=True, choices=sorted(checks.MODES))
    parser.add_argument("--replay", help="zmtp-replay, for the session mode's key file")
    parser.add_argument("--results", help="folder for the totals (tests/recovery/totals.py)")
    parser.add_argument("--show", type=int, default=40,
                        help="failures of each kind to list (default 40)")
    parser.add_argument("--every", type=int, default=1,
                        help="test every N-th distinct piece only (sanitized builds)")
    parser.add_argument("--asan-runtime", default="",
                        help="preloaded into tshark for a sanitized plugin")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    checks.forget_result(args.results, "tshark", args.capture, args.mode)
    if args.asan_runtime:  # as tests/hostile/plugin_faults.py: every tshark run
        os.environ["LD_PRELOAD"] = args.asan_runtime
        os.environ["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        # Its extcap helpers deadlock at exit with the ASan runtime preloaded: none.
        os.environ["WIRESHARK_EXTCAP_DIR"] = empty_folder()
    def run_with_tshark():
        with Tshark(args.plugin, args.abi, keep=args.keep) as tshark:
            tshark.require_plugin()
            return run(args, tshark)

    return exit_code("tshark", args, run_with_tshark, failures=(TestFailure,))


if __name__ == "__main__":
    sys.exit(main())
