#!/usr/bin/env python3
"""The ZMQ plugin on TCP ports other dissectors own, with the real tshark.

Usage: ports_tests.py --plugin zmq.so --abi 4.0 TEST
Tests:
  zero-config-ports  ZMTP (real libzmq REQ/REP) on X11's 6000-6009 and HTTP's 8080 decodes with
                     no options; HTTP and X11 conversations on those ports dissect exactly as
                     without the plugin (tshark -V, frame.protocols included); with the ports
                     taken out of ZMQ's range, or ZMQ disabled, the ports are their owners' again
  zmtp-port          Wireshark's own zmtp dissector (4.4 and later) given a port of ZMQ's range:
                     the plugin says so once per port, with the Decode As that picks ZMQ, and
                     that Decode As works; skipped on 4.0, which has no zmtp dissector
Captures: ports-zmtp.pcapng and ports-other.pcapng here (make_port_captures.py made them).
Exit code 0 = pass, 1 = fail, 77 = skipped.
"""

import argparse
import os
import re
import subprocess
import sys

from tshark_env import SKIP, TestFailure, Tshark, check

HERE = os.path.dirname(os.path.abspath(__file__))
ZMTP_PORTS = list(range(6000, 6010)) + [8080]
REQUESTS = 2  # request/reply pairs per conversation (make_port_captures.py)
DEFAULT_RANGE_WITHOUT_SHARED = "2069-2070,5555"


def zmq_units_by_port(tshark, pcap, extra=()):
    """Info column of every ZMQ unit, by the conversation's server port."""
    out = tshark.run(["-r", pcap, "-Y", "zmq", "-T", "fields", "-E", "occurrence=f",
                      "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "_ws.col.Info"] +
                     list(extra))
    units = {}
    for line in out.splitlines():
        src, dst, info = line.split("\t", 2)
        port = int(src) if int(src) in ZMTP_PORTS else int(dst)
        units.setdefault(port, []).append(info)
    return units


def expected_infos(port):
    infos = ["Greeting ZMTP 3.1 NULL", "Greeting ZMTP 3.1 NULL", "READY Socket-Type=REQ",
             "READY Socket-Type=REP"]
    for i in range(REQUESTS):
        infos.append('REQ->REP 2 frames "ping %d on %d"' % (i, port))
        infos.append('REP->REQ 2 frames "pong ping %d on %d"' % (i, port))
    return sorted(infos)


def protocols(tshark, pcap, extra=(), plugin=True):
    args = ["-r", pcap, "-T", "fields", "-e", "frame.protocols"] + list(extra)
    out = tshark.run(args) if plugin else tshark.run_without_plugin(args)
    return out.splitlines()


def same_as_without_plugin(tshark, pcap, extra=()):
    """tshark -V with the plugin (and `extra`) is exactly tshark -V without it."""
    ours = tshark.run(["-r", pcap, "-V"] + list(extra)).splitlines()
    plain = tshark.run_without_plugin(["-r", pcap, "-V"]).splitlines()
    if ours != plain:
        i = next(i for i, (a, b) in enumerate(zip(ours + [""], plain + [""])) if a != b)
        raise TestFailure("%s %s: with the plugin, line %d of -V differs:\n  with:    %r\n"
                          "  without: %r" % (os.path.basename(pcap), " ".join(extra), i + 1,
                                             ours[i:i + 1], plain[i:i + 1]))
    return len(ours)


def test_zero_config_ports(tshark):
    tshark.require_plugin()
    zmtp = tshark.stage(os.path.join(HERE, "ports-zmtp.pcapng"))
    other = tshark.stage(os.path.join(HERE, "ports-other.pcapng"))

    units = zmq_units_by_port(tshark, zmtp)
    for port in ZMTP_PORTS:
        got = sorted(units.get(port, []))
        check(got == expected_infos(port), "port %d, no options: ZMQ shows %s, expected %s" %
              (port, got, expected_infos(port)))
    print("ZMTP on %s: all %d conversations decoded with no options (%d units each)" %
          (",".join(map(str, ZMTP_PORTS)), len(ZMTP_PORTS), len(expected_infos(6000))))

    lines = same_as_without_plugin(tshark, other)
    layers = set(protocols(tshark, other))
    check(any(p.endswith(":x11") for p in layers) and any(":http" in p for p in layers),
          "ports-other.pcapng: no X11 or HTTP shown: %s" % sorted(layers))
    print("HTTP on 8080 and X11 on 6000: tshark -V identical with and without the plugin "
          "(%d lines, frame.protocols included)" % lines)

    # Both at once: each conversation decided on its own.
    mixed = os.path.join(tshark.files, "ports-mixed.pcapng")
    subprocess.run(["mergecap", "-a", "-w", mixed, zmtp, other], check=True, timeout=60,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    os.chmod(mixed, 0o644)
    both = protocols(tshark, mixed)
    counts = {name: sum(1 for p in both if p.split(":")[-1] == name)
              for name in ("zmq", "x11", "http", "data-text-lines")}
    alone = sum(1 for p in protocols(tshark, zmtp) if p.endswith(":zmq"))
    check(counts["zmq"] == alone, "mixed capture: %d ZMQ frames, %d in ports-zmtp.pcapng alone"
          % (counts["zmq"], alone))
    check(counts["x11"] == 2 and counts["http"] + counts["data-text-lines"] >= 2,
          "mixed capture: the X11 and HTTP conversations are not theirs: %s" % counts)
    print("mixed capture: %s" % counts)

    # Opting out restores the owners: the ports leave ZMQ's range (its preference), or ZMQ is
    # disabled. Then ZMTP there is the owners' (no ZMQ), the rest exactly as without the plugin.
    for extra in (["-o", "zmq.tcp.port:" + DEFAULT_RANGE_WITHOUT_SHARED],
                  ["--disable-protocol", "zmq"]):
        same_as_without_plugin(tshark, other, extra)
        check(not zmq_units_by_port(tshark, zmtp, extra),
              "%s: ZMQ still shown on X11's and HTTP's ports" % " ".join(extra))
        same_as_without_plugin(tshark, zmtp, extra)
        print("%s: ZMTP and the other conversations dissect as without the plugin" %
              " ".join(extra))


def has_builtin_zmtp(tshark):
    out = tshark.run_without_plugin(["-G", "protocols"])
    return any(line.split("\t")[2:3] == ["zmtp"] for line in out.splitlines())


def warnings_for(stderr):
    return re.findall(r"ZMQ: TCP port (\d+) is in ZMQ's port range, but Wireshark's own zmtp "
                      r"dissector decodes it", stderr)


def test_zmtp_port(tshark):
    tshark.require_plugin()
    if not has_builtin_zmtp(tshark):
        print("skipped: this Wireshark has no built-in zmtp dissector (it came with 4.4)")
        return SKIP
    zmtp = tshark.stage(os.path.join(HERE, "ports-zmtp.pcapng"))

    def run(extra):
        proc = subprocess.run(tshark.command(["-r", zmtp, "-Y", "zmq or zmtp", "-T", "fields",
                                              "-e", "tcp.dstport", "-e", "frame.protocols"] +
                                             extra), capture_output=True, text=True, timeout=300)
        check(proc.returncode == 0, "tshark %s failed: %s" % (extra, proc.stderr[-1000:]))
        by_port = {}
        for line in proc.stdout.splitlines():
            port, layers = line.split("\t")
            by_port.setdefault(layers.split(":")[-1], set()).add(int(port))
        return by_port, warnings_for(proc.stderr)

    shown, said = run([])
    check(not said and "zmtp" not in shown, "no options: zmtp %s, warnings %s" %
          (shown.get("zmtp"), said))

    shown, said = run(["-o", "zmtp.tcp.port:6000-6001"])
    check(said == ["6000", "6001"],
          "zmtp.tcp.port:6000-6001: expected one warning for each port, got %s" % said)
    check({6000, 6001} <= shown.get("zmtp", set()) and
          not {6000, 6001} & shown.get("zmq", set()) and 6002 in shown.get("zmq", set()),
          "zmtp.tcp.port:6000-6001: %s" % shown)
    proc = subprocess.run(tshark.command(["-r", zmtp, "-o", "zmtp.tcp.port:6000"]),
                          capture_output=True, text=True, timeout=300)
    hint = [line for line in proc.stderr.splitlines() if "6000" in line]
    check(hint and "-d tcp.port==6000,zmq" in proc.stderr and "zmtp.tcp.port" in proc.stderr,
          "the warning does not say how to pick ZMQ: %s" % proc.stderr[-800:])
    print("zmtp.tcp.port:6000-6001: zmtp decodes 6000 and 6001, ZMQ the rest; said once per "
          "port: %s" % hint[0].strip())

    shown, said = run(["-o", "zmtp.tcp.port:6000", "-d", "tcp.port==6000,zmq"])
    check(not said and 6000 in shown.get("zmq", set()) and "zmtp" not in shown,
          "zmtp.tcp.port:6000 with -d tcp.port==6000,zmq: %s, warnings %s" % (shown, said))
    print("zmtp.tcp.port:6000 -d tcp.port==6000,zmq: ZMQ decodes 6000, no warning")


TESTS = {"zero-config-ports": test_zero_config_ports, "zmtp-port": test_zmtp_port}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--abi", required=True)
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    try:
        with Tshark(args.plugin, args.abi) as tshark:
            result = TESTS[args.test](tshark)
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    if result == SKIP:
        return SKIP
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
