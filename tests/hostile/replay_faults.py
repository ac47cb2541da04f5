#!/usr/bin/env python3
"""zmtp-replay under faults, each with an exact expectation.

  cut          a capture cut in the middle of a record (pcap and pcapng): exit 1 (README:
               "a capture cut short"), the report of every whole packet before the cut is
               printed, stderr names the file and the truncation
  snaplen      every packet cut to 100 bytes: exit 0, every payload direction reports a gap
  keylog-junk  a key log of binary junk, then the real keys: warnings with line numbers (at
               most 100, then one summary), the keys after the junk still decrypt
  keylog-long  a 10 MB line, then the real keys: one warning for that line, keys decrypt
  keylog-100k  100 000 keys plus the real ones: loads within a time bound and decrypts
  huge-frame   frames declaring 2^63 (invalid) and 2^63-1 bytes: exit 0, a stream error for
               the first, no memory for the second's body (peak RSS bounded), which the end of
               the connection cuts (a warning that says so)
  reversed     a connection whose data segments arrive in reverse order: the same messages
               as in order
  many         100 000 short connections: all counted, each handshake ready, peak RSS bounded
Prints the measured times and peak RSS. Usage: replay_faults.py --replay PATH --captures DIR
[CASE...]
"""
import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pcap_tools as pt

KEYS_WARNING_CAP = 100
# Time and memory bounds are multiplied by this (--slow-factor; sanitized builds).
SLOW = 1.0


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Replay:
    def __init__(self, path, work):
        self.path, self.work = path, work

    def run(self, args, timeout=600):
        """(exit code, stdout, stderr, seconds, peak RSS in MB) of one zmtp-replay run."""
        rusage = os.path.join(self.work, "rusage.txt")
        # A helper process of our own, so that RUSAGE_CHILDREN is this run's alone.
        measure = ("import resource,subprocess,sys,time\n"
                   "t=time.monotonic()\n"
                   "p=subprocess.run(sys.argv[2:],stdout=open(sys.argv[1]+'.out','wb'),"
                   "stderr=open(sys.argv[1]+'.err','wb'))\n"
                   "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
                   "open(sys.argv[1],'w').write('%d %d %f'%(p.returncode,r,time.monotonic()-t))\n")
        helper = subprocess.Popen([sys.executable, "-c", measure, rusage, self.path, "-q"] + args,
                                  start_new_session=True)
        try:
            helper.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(helper.pid, signal.SIGKILL)  # zmtp-replay too
            helper.wait()
            raise
        with open(rusage) as f:
            rc, rss_kb, seconds = f.read().split()
        with open(rusage + ".out", "rb") as f:
            out = f.read().decode("utf-8", "replace")
        with open(rusage + ".err", "rb") as f:
            err = f.read().decode("utf-8", "replace")
        return int(rc), out, err, float(seconds), int(rss_kb) / 1024

    def json(self, args, expect_rc=0):
        rc, out, err, seconds, rss = self.run(["--json"] + args)
        check(rc == expect_rc, "zmtp-replay %s: exit %d, expected %d: %s" %
              (" ".join(args), rc, expect_rc, err[-1000:]))
        return json.loads(out), err, seconds, rss


def to_pcap(src, dest):
    subprocess.run(["editcap", "-F", "pcap", src, dest], check=True, capture_output=True,
                   env=pt.without_preload())


def whole_record_boundaries(path):
    """Offsets where each record of a classic pcap starts."""
    with open(path, "rb") as f:
        blob = f.read()
    offsets, pos = [], 24
    while pos + 16 <= len(blob):
        offsets.append(pos)
        pos += 16 + int.from_bytes(blob[pos + 8:pos + 12], "little")
    return offsets


def pcapng_block_boundaries(path):
    with open(path, "rb") as f:
        blob = f.read()
    offsets, pos = [], 0
    while pos + 12 <= len(blob):
        offsets.append(pos)
        pos += int.from_bytes(blob[pos + 4:pos + 8], "little")
    return offsets, blob


def count_packets(replay, path):
    report, _, _, _ = replay.json([path])
    return report["capture"]["packets"]


def case_cut(replay, captures, work):
    original = os.path.join(captures, "ctrlx-like.pcapng")
    pcap = os.path.join(work, "ctrlx.pcap")
    to_pcap(original, pcap)
    # pcap: cut inside the data of the 40th record.
    records = whole_record_boundaries(pcap)
    with open(pcap, "rb") as f:
        blob = f.read()
    cut = os.path.join(work, "cut.pcap")
    with open(cut, "wb") as f:
        f.write(blob[:records[39] + 16 + 10])
    # pcapng: cut inside the 40th block (an enhanced packet block well after the headers).
    blocks, ng_blob = pcapng_block_boundaries(original)
    cut_ng = os.path.join(work, "cut.pcapng")
    with open(cut_ng, "wb") as f:
        f.write(ng_blob[:blocks[41] + 20])
    for path, whole in ((cut, 39), (cut_ng, count_packets(replay, _prefix(original, blocks[41],
                                                                         work)))):
        report, err, _, _ = replay.json([path], expect_rc=1)
        check(report["capture"]["packets"] == whole,
              "%s: %d packets reported, %d whole ones before the cut" %
              (os.path.basename(path), report["capture"]["packets"], whole))
        check(report["summary"]["connections"] >= 1, "the report of what was read is empty")
        check(path in err and "truncated" in err,
              "stderr does not name the file and the truncation: %r" % err)
    return "pcap and pcapng cut inside a record: exit 1, whole packets kept, truncation named"


def _prefix(path, length, work):
    dest = os.path.join(work, "prefix.pcapng")
    with open(path, "rb") as f, open(dest, "wb") as out:
        out.write(f.read(length))
    return dest


def case_snaplen(replay, captures, work):
    cut = os.path.join(work, "snap.pcapng")
    subprocess.run(["editcap", "-s", "100", os.path.join(captures, "ctrlx-like.pcapng"), cut],
                   check=True, capture_output=True,
                   env=pt.without_preload())
    report, err, _, _ = replay.json(["--keylog", os.path.join(captures, "ctrlx-like.keys"), cut])
    check(report["summary"]["connections"] == 2, "expected the 2 connections of ctrlx-like")
    for c in report["connections"]:
        check(c["tcp"]["gaps"], "connection %d: snaplen cut bytes but no gap reported" % c["id"])
    return "every connection reports its gap, exit 0"


def real_keys(captures):
    with open(os.path.join(captures, "ctrlx-like.keys"), "rb") as f:
        return f.read()


def decrypted(report):
    return sum(1 for c in report["connections"] if c["decryption"]["state"] == "decrypted")


def warning_lines(err):
    return [line for line in err.splitlines() if line.startswith("zmtp-replay: warning: ")]


def case_keylog_junk(replay, captures, work):
    junk = os.path.join(work, "junk.keys")
    rng = random.Random(6)
    with open(junk, "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(256 * 1024)))
        f.write(b"\n" + real_keys(captures))
    capture = os.path.join(captures, "ctrlx-like.pcapng")
    report, err, _, _ = replay.json(["--keylog", junk, capture])
    warnings = warning_lines(err)
    check(decrypted(report) == 2, "the keys after the junk did not decrypt both connections")
    check(len(warnings) == KEYS_WARNING_CAP + 1,
          "%d warnings, expected %d and a summary" % (len(warnings), KEYS_WARNING_CAP))
    check(all(w.startswith("zmtp-replay: warning: %s:" % junk) for w in warnings),
          "a warning without the file name: %r" % warnings[:3])
    prefix = "zmtp-replay: warning: %s:" % junk
    check(all(w[len(prefix):].split(":")[0].isdigit() for w in warnings[:-1]),
          "a warning without a line number: %r" % warnings[:3])
    check("more problems" in warnings[-1], "no summary after the first 100 warnings")
    return "%d warnings with line numbers, then a summary; keys after the junk decrypt" % (
        len(warnings) - 1)


def case_keylog_long(replay, captures, work):
    long_log = os.path.join(work, "long.keys")
    with open(long_log, "wb") as f:
        f.write(b"# a 10 MB line follows\nSERVER_SECRET " + b"A" * (10 << 20) + b"\n")
        f.write(real_keys(captures))
    report, err, seconds, rss = replay.json(["--keylog", long_log,
                                             os.path.join(captures, "ctrlx-like.pcapng")])
    warnings = warning_lines(err)
    check(len(warnings) == 1 and (":2: line longer than" in warnings[0]),
          "expected one warning for line 2: %r" % warnings)
    check(decrypted(report) == 2, "the keys after the long line did not decrypt")
    check(rss < 200 * SLOW, "peak RSS %.0f MB while skipping a 10 MB line" % rss)
    return "one warning (line 2), keys decrypt; %.2f s, peak RSS %.0f MB" % (seconds, rss)


def case_keylog_100k(replay, captures, work):
    big = os.path.join(work, "100k.keys")
    rng = random.Random(100)
    with open(big, "w") as f:
        for _ in range(100_000):
            f.write("EPHEMERAL_SECRET %064x\n" % rng.getrandbits(256))
    with open(big, "ab") as f:
        f.write(real_keys(captures))
    report, err, seconds, rss = replay.json(["--keylog", big,
                                             os.path.join(captures, "ctrlx-like.pcapng")])
    check(report["keys"]["loaded"] >= 100_000, "loaded %d keys" % report["keys"]["loaded"])
    check(not warning_lines(err), "warnings for a clean key log: %r" % warning_lines(err)[:3])
    check(decrypted(report) == 2, "the real keys among 100 000 did not decrypt")
    check(seconds < 60 * SLOW, "loading 100 000 keys and decoding took %.1f s" % seconds)
    return "%d keys loaded, decrypts; %.2f s, peak RSS %.0f MB" % (report["keys"]["loaded"],
                                                                   seconds, rss)


def greeted_conversation(cport):
    conv = pt.Conversation(b"\x7f\0\0\x01", b"\x7f\0\0\x02", cport, 2069)
    conv.open()
    conv.data(True, pt.zmtp_greeting() + pt.zmtp_ready(b"DEALER"))
    conv.data(False, pt.zmtp_greeting(True) + pt.zmtp_ready(b"ROUTER"))
    return conv


def case_huge_frame(replay, captures, work):
    path = os.path.join(work, "huge.pcap")
    invalid = greeted_conversation(40001)
    invalid.data(True, b"\x02" + (1 << 63).to_bytes(8, "big") + b"x" * 100)
    invalid.close()
    largest = greeted_conversation(40002)
    largest.data(True, b"\x02" + ((1 << 63) - 1).to_bytes(8, "big") + b"y" * 1000)
    largest.data(True, b"z" * 1400)
    largest.close()
    pt.write_pcap(path, invalid.packets + largest.packets)
    report, err, seconds, rss = replay.json([path])
    check(report["summary"]["connections"] == 2, "expected 2 connections")
    first, second = report["connections"]
    check(first["handshake"]["state"] == "ready" and second["handshake"]["state"] == "ready",
          "the handshakes before the huge frames should be ready")
    errors = [n for n in first["notices"] if n["code"] == "stream error"]
    check(len(errors) == 1 and errors[0]["direction"] == "client_to_server" and
          "declares 9223372036854775808 bytes, more than 2^63-1" in errors[0]["text"],
          "connection 1 should have one stream error about the size: %s" % first["notices"])
    # The 2^63-1 frame is valid; the connection closes inside it, and only that is said.
    cut = [n for n in second["notices"] if n["code"] == "stream error"]
    check(len(cut) == len(second["notices"]) == 1 and
          "ended inside a frame" in cut[0]["text"] and cut[0]["severity"] != "error",
          "the 2^63-1 frame is valid and only cut by the end: %s" % second["notices"])
    check(second["client_to_server"]["frames"] == 0, "a 2^63-1 byte frame cannot be complete")
    check(rss < 200 * SLOW, "peak RSS %.0f MB for frames that declare 2^63 bytes" % rss)
    return "stream error for 2^63, nothing held for 2^63-1; peak RSS %.0f MB" % rss


def case_reversed(replay, captures, work):
    pcap = os.path.join(work, "null.pcap")
    to_pcap(os.path.join(captures, "null-req-rep.pcapng"), pcap)
    packets = pt.read_pcap(pcap)
    handshake = [p for p in packets if pt.tcp_flags(p[1]) & pt.SYN or
                 pt.tcp_payload_offset(p[1]) == len(p[1]) and not pt.tcp_flags(p[1]) & pt.FIN]
    rest = [p for p in packets if p not in handshake]
    handshake_head = handshake[:3]
    others = handshake[3:]  # pure ACKs after the handshake
    times = [p[0] for p in packets]
    reordered = handshake_head + others + list(reversed(rest))
    reordered = [(t, p[1], p[2]) for t, p in zip(times, reordered)]
    path = os.path.join(work, "reversed.pcap")
    pt.write_pcap(path, reordered)
    expected, _, _, _ = replay.json([pcap])
    report, err, _, _ = replay.json([path])
    want = expected["connections"][0]
    got = report["connections"][0]
    for side in ("client_to_server", "server_to_client"):
        check(got[side]["messages"] == want[side]["messages"],
              "%s: %d messages reversed, %d in order" % (side, got[side]["messages"],
                                                          want[side]["messages"]))
    check(got["handshake"]["state"] == "ready", "handshake %s" % got["handshake"]["state"])
    return "%d data segments reversed: same %d+%d messages" % (
        len(rest), want["client_to_server"]["messages"], want["server_to_client"]["messages"])


def many_connections_pcap(path, count):
    """count NULL DEALER/ROUTER connections, one every 10 ms, each: handshake, one message each
    way, FIN. Made from one template connection with addresses, ports and times patched (the
    checksums are left stale: zmtp-replay does not check them)."""
    template = greeted_conversation(10000)
    template.data(True, b"\x00\x02hi")
    template.data(False, b"\x00\x02ok")
    template.close()
    base = template.packets[0][0]
    frames = [(t - base, bytearray(frame), frame[26:30] == template.client)
              for t, frame, _ in template.packets]
    with open(path, "wb") as f:
        f.write(pt.pcap_header())
        for i in range(count):
            client = bytes([10, 1 + (i >> 16), i >> 8 & 0xFF, i & 0xFF])
            port = (10000 + i % 50000).to_bytes(2, "big")
            start = base + i * 10_000
            for offset, frame, from_client in frames:
                ip, tcp_port = (26, 34) if from_client else (30, 36)
                frame[ip:ip + 4] = client
                frame[tcp_port:tcp_port + 2] = port
                f.write(pt.pcap_record(start + offset, bytes(frame)))
    return count * len(frames)


def case_many(replay, captures, work, count=100_000):
    path = os.path.join(work, "many.pcap")
    packets = many_connections_pcap(path, count)
    seconds_allowed = int(120 * SLOW)
    try:
        rc, out, err, seconds, rss = replay.run(["--csv", path], timeout=seconds_allowed)
    except subprocess.TimeoutExpired:
        raise Failure("zmtp-replay took more than %d s for %d connections (%d packets)" %
                      (seconds_allowed, count, packets))
    check(rc == 0, "exit %d: %s" % (rc, err[-1000:]))
    rows = out.count("\n") - 1
    check(rows == 2 * count, "%d CSV rows, expected one per message: %d" % (rows, 2 * count))
    check(rss < 1024 * SLOW, "peak RSS %.0f MB for %d connections" % (rss, count))
    return "%d connections (%d packets, %.0f MB): %.1f s, peak RSS %.0f MB" % (
        count, packets, os.path.getsize(path) / 1e6, seconds, rss)


CASES = {
    "cut": case_cut, "snaplen": case_snaplen, "keylog-junk": case_keylog_junk,
    "keylog-long": case_keylog_long, "keylog-100k": case_keylog_100k,
    "huge-frame": case_huge_frame, "reversed": case_reversed, "many": case_many,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--replay", required=True)
    p.add_argument("--captures", required=True)
    p.add_argument("--slow-factor", type=float, default=1.0)
    p.add_argument("cases", nargs="*")
    args = p.parse_args()
    global SLOW
    SLOW = args.slow_factor
    work = tempfile.mkdtemp(prefix="zmtp-faults-")
    replay = Replay(args.replay, work)
    failed = 0
    try:
        for name in args.cases or list(CASES):
            try:
                print("%s: ok: %s" % (name, CASES[name](replay, args.captures, work)), flush=True)
            except Failure as e:
                print("%s: FAILED: %s" % (name, e), flush=True)
                failed += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
