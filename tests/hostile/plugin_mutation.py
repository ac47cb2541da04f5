#!/usr/bin/env python3
"""The ZMQ plugin in tshark over every capture of captures/ mutated by editcap -E (with --seed: -s is the snaplen).

Each capture (with its key log) is mutated at several rates and seeds and dissected with -2 -V
under WIRESHARK_ABORT_ON_DISSECTOR_BUG=1 and the strict wmem allocator. The test fails on any
crash or abort, dissector bug, wmem error or sanitizer report. tshark runs as "nobody" when
started as root (tests/plugin/tshark_env.py). With --asan-runtime the plugin is a sanitized
build: tshark is not, so that runtime is preloaded.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import pcap_tools as pt

PROBLEMS = ("Dissector bug", "dissector bug", "wmem", "AddressSanitizer", "LeakSanitizer",
            "runtime error:", "Segmentation fault", "Aborted")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--plugin", required=True)
    p.add_argument("--abi", required=True)
    p.add_argument("--captures", required=True)
    p.add_argument("--tshark-env", required=True, help="folder of tshark_env.py")
    p.add_argument("--asan-runtime", default="")
    p.add_argument("--rates", default="0.002,0.02,0.1")
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--budget", type=float, default=300, help="seconds; stop mutating after it")
    return p.parse_args()


def mutate(tshark, capture, rate, seed):
    name = "%s-E%s-s%s.pcapng" % (os.path.basename(capture)[:-len(".pcapng")], rate, seed)
    out = os.path.join(tshark.files, name)
    subprocess.run(["editcap", "-E", rate, "--seed", seed, capture, out], check=True,
                   capture_output=True, env=pt.without_preload())
    os.chmod(out, 0o644)
    return out


def dissect(tshark, env, pcap, keys):
    args = ["-r", pcap, "-2", "-V", "-o", "tcp.check_checksum:FALSE"]
    if keys:
        args += ["-o", "zmq.keylog_file:" + keys]
    return subprocess.run(tshark.command(args), env=env, capture_output=True, text=True,
                          errors="replace", timeout=300)


def problems_of(proc):
    found = []
    if proc.returncode != 0:
        found.append("exit status %d" % proc.returncode)
    found += ["stderr mentions %r" % word for word in PROBLEMS if word in proc.stderr]
    if "Dissector bug" in proc.stdout:
        found.append("the output shows a dissector bug")
    return found



def main():
    args = parse_args()
    sys.path.insert(0, args.tshark_env)
    import tshark_env

    if args.asan_runtime:  # every tshark run, tshark_env's own too
        os.environ["LD_PRELOAD"] = args.asan_runtime
        # Its extcap helpers deadlock at exit with the ASan runtime preloaded: none.
        os.environ["WIRESHARK_EXTCAP_DIR"] = pt.empty_folder()
        # tshark's own allocations at exit are not the plugin's leaks.
        os.environ["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env = dict(os.environ, WIRESHARK_ABORT_ON_DISSECTOR_BUG="1",
               WIRESHARK_DEBUG_WMEM_OVERRIDE="strict")
    captures = sorted(glob.glob(os.path.join(args.captures, "*.pcapng")))
    if not captures:
        print("no captures under %s" % args.captures)
        return 1
    failures, runs, zmq_units = [], 0, 0
    start = time.monotonic()
    with tshark_env.Tshark(args.plugin, args.abi) as tshark:
        tshark.require_plugin()
        for capture in captures:
            keys_path = capture[:-len(".pcapng")] + ".keys"
            keys = tshark.stage(keys_path) if os.path.exists(keys_path) else None
            for rate in args.rates.split(","):
                for seed in args.seeds.split(","):
                    if time.monotonic() - start > args.budget:
                        break
                    pcap = mutate(tshark, capture, rate, seed)
                    proc = dissect(tshark, env, pcap, keys)
                    runs += 1
                    zmq_units += proc.stdout.count("ZeroMQ transport")
                    problems = problems_of(proc)
                    if problems:
                        failures.append("%s: %s\n%s" % (os.path.basename(pcap),
                                                        "; ".join(problems),
                                                        proc.stderr.strip()[-3000:]))
                    os.remove(pcap)
    elapsed = time.monotonic() - start
    print("%d mutated captures dissected in %.0f s, %d ZMQ units shown, %d failed" %
          (runs, elapsed, zmq_units, len(failures)))
    for failure in failures:
        print("FAILED " + failure)
    if runs == 0 or zmq_units == 0:
        print("nothing was dissected as ZMQ: the test did not test anything")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
