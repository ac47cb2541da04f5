#!/usr/bin/env python3
"""zmtp-replay on every derived capture of one capture of captures/ (tests/recovery/README.md).

Usage: replay_recovery.py --replay zmtp-replay --captures DIR --capture NAME --mode MODE
       [--results DIR] [--keep]
MODE: plain (NULL/PLAIN captures), full, session, none (CURVE captures).
Exit code 0 = pass, 1 = fail, 77 = skipped (the key mode needs what zmtp-replay lacks).
"""

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import capture_model  # noqa: E402
import checks  # noqa: E402
import derive  # noqa: E402

SKIP = 77
# Pieces per zmtp-replay run: small enough that a failure's output stays readable.
MAX_BATCH_PACKETS = 20000
# Runs of re-keyed pieces (derive.Plan) that are also made with the pieces unchanged.
CHECKED_BATCHES = 3
# Whole derived captures (no batching, no port rewriting) replayed to check that a piece in a
# batch shows what it shows in its own derived capture.
STANDALONE_SAMPLES = 6


class Setup(Exception):
    pass


class Skip(Exception):
    """The key mode cannot run: what is missing is the message."""


def usec(text):
    """Microseconds of a "seconds.micros" time as zmtp-replay writes it."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def packet_usec(packet):
    return int(round(packet.time * 1_000_000))


class Replay:
    def __init__(self, binary, capture, work):
        self.binary, self.capture, self.work = binary, capture, work
        self.runs = 0
        self.seconds = 0.0

    def run(self, args, what):
        start = time.time()
        proc = subprocess.run([self.binary, "-q", "--threads", "1", "--ports",
                               ",".join(str(p) for p in self.capture.server_ports())] + args,
                              capture_output=True, text=True, timeout=300)
        self.runs += 1
        self.seconds += time.time() - start
        if proc.returncode != 0:
            raise Setup("zmtp-replay exited with %d on %s: %s" % (proc.returncode, what,
                                                                  proc.stderr.strip()[-1500:]))
        return proc.stdout

    def report(self, pcap, keys):
        """(JSON report, CSV rows) of one capture."""
        key_args = ["-k", keys] if keys else []
        report = json.loads(self.run(["--json"] + key_args + [pcap], pcap))
        rows = list(csv.DictReader(io.StringIO(self.run(["--csv"] + key_args + [pcap], pcap))))
        return report, rows

    def supports(self, option):
        proc = subprocess.run([self.binary, "--help"], capture_output=True, text=True,
                              timeout=60)
        return option in proc.stdout


def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


class Shown:
    """What zmtp-replay showed of one original connection (one piece, or the original)."""

    def __init__(self):
        self.messages = [[], []]  # per original direction: dicts of CSV rows
        self.unanswered = 0
        self.missed = [0, 0]
        self.late = [0, 0]
        self.boxes = [0, 0]
        self.decrypted_messages = 0
        self.connections = 0


def shown_by_port(report, rows, client_ports):
    """{client port: Shown}: zmtp-replay's connections grouped by the original connection they
    belong to (its client port, which is unique in a batch). Directions are the original's, also
    where zmtp-replay took the other side for the client (no SYN in the capture)."""
    out = {}
    flipped = {}
    for c in report["connections"]:
        a, b = port_of(c["client"]), port_of(c["server"])
        if a in client_ports:
            port, flip = a, False
        elif b in client_ports:
            port, flip = b, True
        else:
            continue
        s = out.setdefault(port, Shown())
        s.connections += 1
        flipped[c["id"]] = (port, flip)
        s.unanswered += c.get("unanswered_requests") or 0
        for key, d in (("client_to_server", 0), ("server_to_client", 1)):
            side = c[key]
            od = 1 - d if flip else d
            s.missed[od] += (side.get("heartbeat") or {}).get("missed") or 0
            s.late[od] += (side.get("heartbeat") or {}).get("late") or 0
            s.boxes[od] += side.get("boxes_not_opened") or 0
            s.decrypted_messages += side.get("decrypted_messages") or 0
    for row in rows:
        cid = int(row["connection"])
        if cid not in flipped or partly_lost(row):
            continue
        port, flip = flipped[cid]
        d = 0 if row["direction"] == "client_to_server" else 1
        out[port].messages[1 - d if flip else d].append(row)
    return out


def partly_lost(row):
    """A row for a message the capture lost part of (a loss column, should zmtp-replay write
    one): not a message it claims whole, so neither shown nor false."""
    for name, value in row.items():
        if name and name.lower() in ("loss", "lost", "start_lost", "end_lost", "partial") and \
                value and value.lower() not in ("", "0", "no", "none", "false"):
            return True
    return False


def same_message(capture):
    """checks.match's keys: the same frames, bytes and decryption, completed by the same
    packet."""
    decrypted = "yes" if capture.is_curve else "no"
    return (lambda row: (usec(row["time"]), int(row["frames"]), int(row["bytes"]),
                         row["decrypted"]),
            lambda e: (packet_usec(e.packet), e.frames, e.bytes, decrypted))


def same_content(capture):
    decrypted = "yes" if capture.is_curve else "no"

    def same(row, e):
        return (int(row["frames"]) == e.frames and int(row["bytes"]) == e.bytes and
                row["decrypted"] == decrypted)
    return same


def show_row(row):
    return "%s frame(s), %s bytes, decrypted %s, at %s%s" % (
        row["frames"], row["bytes"], row["decrypted"], row["time"],
        ", response time %s ms" % row["response_time_ms"] if row["response_time_ms"] else "")


class Original:
    """zmtp-replay's analysis of the original capture in one key mode: the pairs, unanswered
    requests and missed PONGs a derived capture may show."""

    def __init__(self, capture, replay, keys, mode, session_keys, tally):
        report, rows = replay.report(capture.path, keys)
        shown = shown_by_port(report, rows, {c.client_port for c in capture.connections})
        self.pairs = {}
        self.unanswered = {}
        self.missed = {}
        self.late = {}
        same = same_message(capture)
        for conn in capture.connections:
            s = shown.get(conn.client_port, Shown())
            whole = derive.Piece(capture, conn, frozenset(p.index for p in conn.packets))
            whole.derivations.append("original capture")
            wanted = checks.expectations(whole, mode, session_keys)
            self.unanswered[conn.index] = s.unanswered
            self.missed[conn.index] = list(s.missed)
            self.late[conn.index] = list(s.late)
            if conn.mid_stream:
                self.baseline_of_late_start(tally, capture, conn)
            for d in (0, 1):
                found = checks.match(s.messages[d], wanted[d], same)
                missing = [e for j, e in enumerate(wanted[d])
                           if e.required and j not in found.values()]
                if missing or len(found) != len(s.messages[d]):
                    tally.fail("original capture", "%s connection %d %s: %d of %d messages "
                               "shown as expected, %d required not shown, %d rows" % (
                                   capture.name, conn.index, "client->server" if d == 0 else
                                   "server->client", len(found), len(wanted[d]), len(missing),
                                   len(s.messages[d])))
                for i, j in found.items():
                    rt = s.messages[d][i]["response_time_ms"]
                    if rt:
                        self.pairs[(conn.index, d, wanted[d][j].number)] = float(rt)


    def baseline_of_late_start(self, tally, capture, conn):
        """A capture that itself starts mid-connection has no fuller capture to compare with;
        every request and PING in it is answered (captures/README.md), so its own unanswered
        requests and missed or late PONGs are false, and the baseline is none."""
        where = "original capture %s connection %d" % (capture.name, conn.index)
        if self.unanswered[conn.index]:
            tally.counts["false_never_answered"] += self.unanswered[conn.index]
            tally.fail("false never answered", "%s: %d request(s) never answered, but every "
                       "request in it is answered" % (where, self.unanswered[conn.index]))
        for d in (0, 1):
            for what, counts, key in (("missed", self.missed, "false_missed_pongs"),
                                      ("late", self.late, "false_heartbeat")):
                if counts[conn.index][d]:
                    tally.counts[key] += counts[conn.index][d]
                    tally.fail("false %s PONG" % what, "%s %s: %d PING(s) %s, but every PING "
                               "in it is answered in time" % (
                                   where, "client->server" if d == 0 else "server->client",
                                   counts[conn.index][d], what))
        self.unanswered[conn.index] = 0
        self.missed[conn.index] = [0, 0]
        self.late[conn.index] = [0, 0]


def evaluate_piece(tally, piece, shown, original, mode, session_keys):
    tally.start_piece(piece)
    matched = check_piece(tally, piece, shown, original, mode, session_keys)
    tally.end_piece(len(piece.derivations))
    return matched


def check_piece(tally, piece, shown, original, mode, session_keys):
    capture = piece.capture
    tally.counts["pieces"] += 1
    tally.counts["derivations"] += len(piece.derivations)
    wanted = checks.expectations(piece, mode, session_keys)
    matched = checks.evaluate_messages(tally, piece, wanted, shown.messages,
                                       same_message(capture), show_row, same_content(capture))
    for d in (0, 1):
        for i, row in enumerate(shown.messages[d]):
            rt = row["response_time_ms"]
            if not rt:
                continue
            e = matched.get((d, i))
            want = original.pairs.get((piece.conn.index, d, e.number)) if e else None
            if want is not None and abs(want - float(rt)) < 0.0015:
                tally.counts["pairs_recovered"] += 1
                continue
            tally.counts["false_pairs"] += 1
            tally.fail("false pair", "%s %s: %s, a reply %s" % (
                piece.label(), "client->server" if d == 0 else "server->client", show_row(row),
                "the original pairs with a response time of %s ms" % want if want is not None
                else "the original analysis does not pair"))
    extra = shown.unanswered - original.unanswered[piece.conn.index]
    if extra > 0:
        tally.counts["false_never_answered"] += extra
        tally.fail("false never answered", "%s: %d request(s) never answered, the original "
                   "capture %d" % (piece.label(), shown.unanswered,
                                   original.unanswered[piece.conn.index]))
    for d in (0, 1):
        extra = shown.missed[d] - original.missed[piece.conn.index][d]
        if extra > 0:
            tally.counts["false_missed_pongs"] += extra
            tally.fail("false missed PONG", "%s %s: %d PING(s) missed, the original capture %d" % (
                piece.label(), "client->server" if d == 0 else "server->client", shown.missed[d],
                original.missed[piece.conn.index][d]))
        extra = shown.late[d] - original.late[piece.conn.index][d]
        if extra > 0:
            tally.counts["false_heartbeat"] += extra
            tally.fail("false late PONG", "%s %s: %d PONG(s) late, the original capture %d" % (
                piece.label(), "client->server" if d == 0 else "server->client", shown.late[d],
                original.late[piece.conn.index][d]))
    if capture.is_curve and mode == "none":
        if shown.decrypted_messages:
            tally.fail("decrypted without keys", "%s: %d message(s)" % (piece.label(),
                                                                        shown.decrypted_messages))
        for d in (0, 1):
            lower, upper = checks.box_bounds(piece, d)
            if not lower <= shown.boxes[d] <= upper:
                tally.counts["box_counts_wrong"] += 1
                tally.fail("box count", "%s %s: %d MESSAGE box(es) counted, the capture holds "
                           "%d whole, at least %d after the resync" % (
                               piece.label(), "client->server" if d == 0 else "server->client",
                               shown.boxes[d], upper, lower))
    return matched


def session_key_file(replay, capture, work, tally):
    """The mode's key log: SESSION_KEY lines only, from zmtp-replay --export-session-keys."""
    if not replay.supports("--export-session-keys"):
        raise Skip("zmtp-replay has no --export-session-keys yet, so the SESSION_KEY-only key "
                   "file cannot be made: nothing was tested in this mode")
    exported = os.path.join(work, capture.name + ".exported.keys")
    replay.run(["--export-session-keys", exported, "--keylog", capture.keylog, capture.path],
               "--export-session-keys")
    if not os.path.exists(exported):
        raise Setup("zmtp-replay --export-session-keys wrote no file")
    mode = os.stat(exported).st_mode & 0o777
    if mode & 0o077:
        tally.fail("session key export", "the exported key file has mode %o (docs/keylog.md: "
                   "0600)" % mode)
    entries = capture_model.read_keylog(exported)
    keys = {k for label, k in entries if label == "SESSION_KEY"}
    other = len(entries) - len([1 for label, _ in entries if label == "SESSION_KEY"])
    if other:
        tally.notes.append("the export also holds %d line(s) other than SESSION_KEY: left out "
                           "here" % other)
    for conn in capture.connections:
        if conn.session_key is not None and conn.session_key not in keys:
            tally.fail("session key export", "%s connection %d: its SESSION_KEY is not in the "
                       "exported file" % (capture.name, conn.index))
    wanted = {c.session_key for c in capture.connections if c.session_key is not None}
    stray = keys - wanted
    if stray:
        tally.fail("session key export", "%d exported SESSION_KEY line(s) belong to no "
                   "connection of the capture" % len(stray))
    path = os.path.join(work, capture.name + ".session.keys")
    with open(path, "w") as f:
        f.write("# SESSION_KEY lines of zmtp-replay --export-session-keys (tests/recovery)\n")
        for k in sorted(keys):
            f.write("SESSION_KEY %s\n" % k.hex())
    os.chmod(path, 0o600)
    return path, keys


def keys_for_mode(replay, capture, mode, work, tally):
    """(key file or None, the SESSION_KEYs it holds)."""
    if mode in ("plain", "none"):
        return None, set()
    if mode == "full":
        keys = {k for label, k in capture.keys if label == "SESSION_KEY"}
        return capture.keylog, keys
    return session_key_file(replay, capture, work, tally)


def run(args):
    capture = capture_model.load_captures(args.captures, [args.capture])
    if not capture:
        raise Setup("no capture %s in %s" % (args.capture, args.captures))
    capture = capture[0]
    if not checks.applies(args.mode, capture.is_curve):
        raise Setup("key mode %s does not apply to %s (%s)" % (args.mode, capture.name,
                                                              capture.mechanism))
    tally = checks.Tally("zmtp-replay", capture.name, args.mode)
    work = tempfile.mkdtemp(prefix="zmtp-recovery-")
    try:
        replay = Replay(args.replay, capture, work)
        keys, session_keys = keys_for_mode(replay, capture, args.mode, work, tally)
        original = Original(capture, replay, keys, args.mode, session_keys, tally)
        all_derivations = derive.derivations(capture)
        tally.derived_captures = len(all_derivations)
        piece_list = checks.sample(derive.pieces(capture, all_derivations), args.every)
        if args.every > 1:
            tally.notes.append("every %dth piece only (--every)" % args.every)
        plan = derive.Plan(piece_list, args.mode, session_keys, MAX_BATCH_PACKETS,
                           CHECKED_BATCHES)
        results = {}

        def run_batch(batch, name, key_file, into, streams=None, rekeyed=False):
            pcap = os.path.join(work, name + ".pcapng")
            derive.write_batch(pcap, batch, streams)
            report, rows = replay.report(pcap, key_file)
            shown = shown_by_port(report, rows, {p.port for p in batch})
            if not args.keep:
                os.remove(pcap)
            out = {}
            for piece in batch:
                s = shown.get(piece.port, Shown())
                # A re-keyed piece's boxes open with its own key, which the key file holds.
                keys_here = {piece.conn.session_key} if rekeyed else session_keys
                out[id(piece)] = outcome(evaluate_piece(into, piece, s, original, args.mode,
                                                        keys_here), s)
            return out

        for n, batch in enumerate(plan.other_batches):
            results.update(run_batch(batch, "batch-%d" % n, keys, tally))
        for n, batch in enumerate(plan.rekey_batches):
            own = plan.own_keys(batch)
            key_file = os.path.join(work, "rekeyed-%d.keys" % n)
            with open(key_file, "w") as f:
                if args.mode == "full":
                    with open(capture.keylog) as base:
                        f.write(base.read())
                f.write("".join("SESSION_KEY %s\n" % k.hex() for k in own.values()))
            results.update(run_batch(batch, "rekeyed-%d" % n, key_file, tally,
                                     derive.rekeyed_streams(own), rekeyed=True))
        for n, batch in enumerate(plan.check_batches):
            unchanged = run_batch(batch, "unchanged-%d" % n, keys,
                                  checks.Tally("zmtp-replay", capture.name, args.mode))
            for piece in batch:
                # Not the number of messages shown, which differs where a decoder takes box
                # bytes, which re-keying changes, for frames (false messages, counted as such).
                got, want = unchanged[id(piece)], results[id(piece)]
                if (got[0],) + got[2:] != (want[0],) + want[2:]:
                    tally.fail("re-keyed piece differs", "%s: (matched messages, messages shown, "
                               "unanswered, missed, late) %s with the key file unchanged, %s "
                               "re-keyed" % (piece.label(), got, want))
        if plan.note():
            tally.notes.append(plan.note())
        check_standalone(tally, capture, replay, keys, session_keys, piece_list, all_derivations,
                         results, {id(p) for p in plan.rekey}, work, args)
        tally.notes.append("%d derivations, %d distinct pieces, %d zmtp-replay runs in %.1f s" %
                           (len(all_derivations), len(piece_list), replay.runs, replay.seconds))
    finally:
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return tally


def outcome(matched, shown):
    """What a piece showed, to compare a batch with a whole derived capture: the expected
    messages matched, and how many messages were shown in each direction."""
    return (sorted((d, e.number) for (d, _), e in matched.items()),
            [len(shown.messages[0]), len(shown.messages[1])], shown.unanswered, shown.missed,
            shown.late)


def check_standalone(tally, capture, replay, keys, session_keys, piece_list, all_derivations,
                     results, rekeyed, work, args):
    """A few whole derived captures, as a user would have them: each changed connection must
    show there what its piece showed in the batch."""
    by_key = {(p.conn.index, p.kept): p for p in piece_list}
    step = max(1, len(all_derivations) // STANDALONE_SAMPLES)
    chosen = all_derivations[step // 2::step][:STANDALONE_SAMPLES]
    for derivation in chosen:
        pcap = os.path.join(work, "standalone.pcapng")
        derive.write_derived(pcap, capture, derivation)
        report, rows = replay.report(pcap, keys)
        shown = shown_by_port(report, rows, {c.client_port for c in capture.connections})
        same = same_message(capture)
        for conn in capture.connections:
            mine = frozenset(p.index for p in conn.packets)
            kept = mine - derivation.dropped
            piece = by_key.get((conn.index, kept))
            if piece is None:
                continue
            if id(piece) not in results:
                continue  # not in the sample (--every)
            s = shown.get(conn.client_port, Shown())
            wanted = checks.expectations(piece, args.mode, session_keys)
            matched = {}
            for d in (0, 1):
                for i, j in checks.match(s.messages[d], wanted[d], same).items():
                    matched[(d, i)] = wanted[d][j]
            alone, batch = outcome(matched, s), results[id(piece)]
            if id(piece) in rekeyed:  # see the check of re-keyed pieces above
                alone, batch = (alone[0],) + alone[2:], (batch[0],) + batch[2:]
            if alone != batch:
                tally.fail("batch differs from the derived capture",
                           "%s [%s] connection %d: (matched messages, messages shown, unanswered, "
                           "missed) %s in the derived capture, %s in the batch" % (
                               capture.name, derivation.name, conn.index, alone, batch))
    tally.notes.append("checked against %d whole derived captures" % len(chosen))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", required=True)
    parser.add_argument("--captures", required=True)
    parser.add_argument("--capture", required=True)
    parser.add_argument("--mode", required=True, choices=sorted(checks.MODES))
    parser.add_argument("--results", help="folder for the totals (tests/recovery/totals.py)")
    parser.add_argument("--show", type=int, default=40,
                        help="failures of each kind to list (default 40)")
    parser.add_argument("--every", type=int, default=1,
                        help="test every N-th distinct piece only (sanitized builds)")
    parser.add_argument("--keep", action="store_true", help="keep the derived captures")
    args = parser.parse_args()
    checks.forget_result(args.results, "zmtp-replay", args.capture, args.mode)
    return exit_code("zmtp-replay", args, lambda: run(args))


def exit_code(tool, args, run, failures=()):
    """ctest's exit code for one test of `tool`: `run()` returns the Tally, printed and saved."""
    start = time.time()
    try:
        tally = run()
    except Skip as e:
        print("SKIP: %s" % e)
        checks.Tally(tool, args.capture, args.mode).save(args.results, str(e))
        return SKIP
    except (Setup, capture_model.ModelError, ValueError) + tuple(failures) as e:
        print("FAIL: %s" % e)
        return 1
    tally.notes.append("%.1f s in all" % (time.time() - start))
    tally.report(args.show)
    tally.save(args.results)
    if tally.failures:
        print("FAIL")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
