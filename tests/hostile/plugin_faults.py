#!/usr/bin/env python3
"""The ZMQ plugin in tshark under faults, each with an exact expectation.

  keylog-replaced  tshark reads a capture from a pipe; after the first connection (keys A)
                   has been dissected, the key log is replaced (renamed over, then rewritten in
                   place) with keys B: the second connection decrypts with B (and, as a
                   control, does not when the key log is kept)
  keylog-junk      a key log of binary junk and a 10 MB line before the real keys: decrypts
  huge-frame       frames declaring 2^63 and 2^63-1 bytes: no crash, no abort, the invalid
                   size is reported
  snaplen          every packet cut to 100 bytes: no crash, no abort
  reversed         data segments in reverse order: no crash, no abort
Every run has WIRESHARK_ABORT_ON_DISSECTOR_BUG=1. tshark runs as "nobody" when started as root
(tests/plugin/tshark_env.py); --asan-runtime preloads a sanitized plugin's runtime.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

import pcap_tools as pt
import replay_faults as rf


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def decrypted_rows(fields_output):
    """Frame numbers whose zmq.curve.decrypted is set (-e frame.number -e zmq.curve.decrypted)."""
    frames = set()
    for line in fields_output.splitlines():
        number, _, flags = line.partition("\t")
        if any(v in ("1", "True") for v in flags.split(",")):
            frames.add(int(number))
    return frames


class PluginFaults:
    def __init__(self, tshark, env, captures, work):
        self.tshark, self.env, self.captures, self.work = tshark, env, captures, work

    def run(self, args, stdin=None):
        proc = subprocess.run(self.tshark.command(args), env=self.env, input=stdin,
                              capture_output=True, timeout=600)
        err = proc.stderr.decode("utf-8", "replace")
        check(proc.returncode == 0, "tshark %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                                                err[-2000:]))
        check("Dissector bug" not in err, "dissector bug: %s" % err[-2000:])
        out = proc.stdout.decode("utf-8", "replace")
        check("Dissector bug" not in out, "the output shows a dissector bug")
        return out

    def stage_pcap(self, name, packets):
        path = os.path.join(self.tshark.files, name)
        pt.write_pcap(path, packets)
        os.chmod(path, 0o644)
        return path

    def classic(self, scenario):
        path = os.path.join(self.work, scenario + ".pcap")
        rf.to_pcap(os.path.join(self.captures, scenario + ".pcapng"), path)
        return pt.read_pcap(path)

    def keys(self, scenario):
        with open(os.path.join(self.captures, scenario + ".keys")) as f:
            return f.read()

    def keylog_replaced(self):
        first, second = self.classic("curve-heartbeat"), self.classic("ctrlx-like")
        shift = first[-1][0] + 1_000_000 - second[0][0]
        second = [(t + shift, data, wire) for t, data, wire in second]
        results = []
        for how in ("kept", "renamed", "rewritten"):
            keylog = self.tshark.writable("replaced-%s.keys" % how, self.keys("curve-heartbeat"))
            args = ["-r", "-", "-l", "-o", "zmq.keylog_file:" + keylog, "-T", "fields",
                    "-e", "frame.number", "-e", "zmq.curve.decrypted"]
            proc = subprocess.Popen(self.tshark.command(args), env=self.env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            proc.stdin.write(pt.pcap_header())
            for packet in first:
                proc.stdin.write(pt.pcap_record(*packet))
            proc.stdin.flush()
            seen = []
            while len(seen) < len(first):  # tshark -l prints each packet once dissected
                line = proc.stdout.readline().decode()
                check(line, "tshark stopped after %d packets" % len(seen))
                seen.append(line)
            self.replace(keylog, self.keys("ctrlx-like"), how)
            for packet in second:
                proc.stdin.write(pt.pcap_record(*packet))
            proc.stdin.close()
            rest = proc.stdout.read().decode()
            err = proc.stderr.read().decode("utf-8", "replace")
            check(proc.wait(timeout=300) == 0, "tshark failed: %s" % err[-2000:])
            frames = decrypted_rows("".join(seen) + rest)
            before = {f for f in frames if f <= len(first)}
            after = {f for f in frames if f > len(first)}
            check(before, "%s: the first connection was not decrypted with keys A" % how)
            if how == "kept":  # the control: keys A do not open the second connection
                check(not after, "keys A decrypted the second connection")
            else:
                check(after, "%s: after the key log was replaced, keys B decrypted nothing" % how)
            results.append("%s: %d+%d decrypted" % (how, len(before), len(after)))
        return "; ".join(results)

    def replace(self, keylog, content, how):
        if how == "kept":
            return
        if how == "renamed":
            fresh = keylog + ".new"
            with open(fresh, "w") as f:
                f.write(content)
            os.chmod(fresh, 0o644)
            os.replace(fresh, keylog)
        else:
            with open(keylog, "r+") as f:
                f.truncate(0)
                f.write(content)
        later = time.time() + 2  # a new mtime even on file systems with coarse times
        os.utime(keylog, (later, later))

    def keylog_junk(self):
        rng = random.Random(7)
        junk = bytes(rng.getrandbits(8) for _ in range(64 * 1024))
        content = junk + b"\nSERVER_SECRET " + b"B" * (10 << 20) + b"\n" + \
            self.keys("ctrlx-like").encode()
        keylog = os.path.join(self.tshark.files, "junk.keys")
        with open(keylog, "wb") as f:
            f.write(content)
        os.chmod(keylog, 0o644)
        capture = self.tshark.stage(os.path.join(self.captures, "ctrlx-like.pcapng"))
        out = self.run(["-r", capture, "-2", "-o", "zmq.keylog_file:" + keylog, "-T", "fields",
                        "-e", "frame.number", "-e", "zmq.curve.decrypted"])
        frames = decrypted_rows(out)
        check(frames, "the keys after the junk decrypted nothing")
        return "%d packets decrypted with keys after 64 KiB of junk and a 10 MB line" % len(frames)

    def huge_frame(self):
        invalid = rf.greeted_conversation(40001)
        invalid.data(True, b"\x02" + (1 << 63).to_bytes(8, "big") + b"x" * 100)
        invalid.close()
        largest = rf.greeted_conversation(40002)
        largest.data(True, b"\x02" + ((1 << 63) - 1).to_bytes(8, "big") + b"y" * 1000)
        largest.data(True, b"z" * 1400)
        largest.close()
        path = self.stage_pcap("huge.pcap", invalid.packets + largest.packets)
        out = self.run(["-r", path, "-2", "-V"])
        check("9223372036854775808" in out, "the invalid 2^63 size is not shown")
        return "2^63 and 2^63-1: no crash, the invalid size is shown"

    def snaplen(self):
        cut = os.path.join(self.tshark.files, "snap.pcapng")
        subprocess.run(["editcap", "-s", "100", os.path.join(self.captures, "ctrlx-like.pcapng"),
                        cut], check=True, capture_output=True,
                   env=pt.without_preload())
        os.chmod(cut, 0o644)
        keys = self.tshark.stage(os.path.join(self.captures, "ctrlx-like.keys"))
        out = self.run(["-r", cut, "-2", "-V", "-o", "zmq.keylog_file:" + keys])
        check("ZeroMQ transport" in out, "nothing shown as ZMQ")
        return "no crash"

    def reversed(self):
        packets = self.classic("null-req-rep")
        data = [p for p in packets if pt.tcp_payload_offset(p[1]) < len(p[1])]
        others = [p for p in packets if p not in data]
        order = others[:3] + list(reversed(data)) + others[3:]
        times = [p[0] for p in packets]
        path = self.stage_pcap("reversed.pcap",
                               [(t, p[1], p[2]) for t, p in zip(times, order)])
        self.run(["-r", path, "-2", "-V"])
        return "%d data segments reversed: no crash" % len(data)


CASES = ["keylog-replaced", "keylog-junk", "huge-frame", "snaplen", "reversed"]



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--plugin", required=True)
    p.add_argument("--abi", required=True)
    p.add_argument("--captures", required=True)
    p.add_argument("--tshark-env", required=True)
    p.add_argument("--asan-runtime", default="")
    p.add_argument("cases", nargs="*")
    args = p.parse_args()
    sys.path.insert(0, args.tshark_env)
    import tshark_env

    if args.asan_runtime:  # every tshark run, tshark_env's own too
        os.environ["LD_PRELOAD"] = args.asan_runtime
        # Its extcap helpers deadlock at exit with the ASan runtime preloaded: none.
        os.environ["WIRESHARK_EXTCAP_DIR"] = pt.empty_folder()
        os.environ["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env = dict(os.environ, WIRESHARK_ABORT_ON_DISSECTOR_BUG="1")
    failed = 0
    with tshark_env.Tshark(args.plugin, args.abi) as tshark:
        tshark.require_plugin()
        faults = PluginFaults(tshark, env, args.captures, tempfile.mkdtemp(prefix="zmq-faults-"))
        for name in args.cases or CASES:
            try:
                result = getattr(faults, name.replace("-", "_"))()
                print("%s: ok: %s" % (name, result), flush=True)
            except (Failure, subprocess.TimeoutExpired) as e:
                print("%s: FAILED: %s" % (name, e), flush=True)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
