"""Runs the real tshark with the ZMQ plugin from the build tree, in a way that also works as root.

Wireshark 4.0 skips the personal plugin folder when started as root, and ignores
WIRESHARK_PLUGIN_DIR then too (it only honours it without special privileges). CI runs
as root, so tshark is started as the user "nobody" (setpriv) with HOME and
WIRESHARK_PLUGIN_DIR pointing at a private folder laid out as plugins/<abi>/epan/zmq.so.
Inputs (captures, key logs) are copied into that folder so nobody can read them.
"""

import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SKIP = 77  # ctest SKIP_RETURN_CODE


class TestFailure(Exception):
    pass


class Scenario:
    """A capture of captures/ and what its expected.json says a correct decoder shows."""

    def __init__(self, expected_path):
        with open(expected_path) as f:
            self.expected = json.load(f)
        folder = os.path.dirname(expected_path)
        self.name = self.expected["scenario"]
        self.pcap = os.path.join(folder, self.expected["capture"])
        keylog = self.expected.get("keylog")
        self.keylog = os.path.join(folder, keylog) if keylog else None
        self.mechanism = self.expected["mechanism"]
        self.port = self.expected["server_port"]
        self.connections = self.expected["connections"]
        # The capture starts after the connection's handshake (no SYN, no greetings).
        self.starts_late = self.expected.get("capture_start") == "mid-connection"
        # ZMTP 1.0/2.0 connections list each side's greeting: its label and identity (hex).
        self.old_greetings = [c.get("greetings") for c in self.connections if c.get("greetings")]


def scenarios(captures_dir):
    found = [Scenario(p) for p in sorted(glob.glob(os.path.join(captures_dir,
                                                                "*.expected.json")))]
    if not found:
        print("no captures/*.expected.json yet: nothing to test")
        sys.exit(SKIP)
    return found


def check(condition, message):
    if not condition:
        raise TestFailure(message)


class Tshark:
    def __init__(self, plugin, abi, keep=False):
        if not shutil.which("tshark"):
            raise TestFailure("tshark is not installed (scripts/install-deps.sh)")
        self.as_root = os.geteuid() == 0
        if self.as_root and not shutil.which("setpriv"):
            raise TestFailure("running as root needs setpriv (util-linux) to drop privileges")
        self.root = tempfile.mkdtemp(prefix="zmq-plugin-test-")
        self.keep = keep
        self.plugins = os.path.join(self.root, "plugins")
        epan = os.path.join(self.plugins, abi, "epan")
        os.makedirs(epan)
        shutil.copy(plugin, os.path.join(epan, "zmq.so"))
        self.home = os.path.join(self.root, "home")
        os.makedirs(self.home)
        self.plain_home = os.path.join(self.root, "plain-home")
        os.makedirs(self.plain_home)
        self.files = os.path.join(self.root, "files")
        os.makedirs(self.files)
        self._make_readable()

    def close(self):
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _make_readable(self):
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        os.chmod(self.home, 0o777)  # tshark may write its config here as nobody
        os.chmod(self.plain_home, 0o777)

    def stage(self, path, name=None):
        """Copies an input file where the unprivileged tshark can read it."""
        dest = os.path.join(self.files, name or os.path.basename(path))
        shutil.copy(path, dest)
        os.chmod(dest, 0o644)
        return dest

    def writable(self, name, content=""):
        """A file the test rewrites between runs (a key log that changes)."""
        path = os.path.join(self.files, name)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, 0o644)
        return path

    def command(self, args, plugin=True):
        env_args = ["HOME=" + self.home]
        if plugin:
            env_args.append("WIRESHARK_PLUGIN_DIR=" + self.plugins)
        else:
            env_args = ["HOME=" + self.plain_home]  # no personal plugins either
        if self.as_root:
            return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    "env"] + env_args + ["tshark"] + list(args)
        return ["env"] + env_args + ["tshark"] + list(args)

    def run(self, args, timeout=300, check_rc=True, plugin=True):
        proc = subprocess.run(self.command(args, plugin), capture_output=True, text=True,
                              timeout=timeout)
        if check_rc and proc.returncode != 0:
            raise TestFailure("tshark %s failed (%d): %s" % (" ".join(args), proc.returncode,
                                                            proc.stderr.strip()[-2000:]))
        return proc.stdout

    def run_without_plugin(self, args, timeout=300):
        """tshark as Wireshark ships it: the comparison for traffic that is not ZMQ's."""
        return self.run(args, timeout=timeout, plugin=False)

    def popen(self, args):
        return subprocess.Popen(self.command(args), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def require_plugin(self):
        out = self.run(["-G", "plugins"])
        check(any(line.startswith("zmq.so") and self.plugins in line
                  for line in out.splitlines()),
              "tshark did not load zmq.so from %s:\n%s" % (self.plugins, out))


def capture_args(pcap, keylog=None, two_pass=True, extra=()):
    args = ["-r", pcap]
    if two_pass:
        args.append("-2")
    if keylog:
        args += ["-o", "zmq.keylog_file:" + keylog]
    return args + list(extra)


# ---- PDML: one record per ZMQ wire unit ----------------------------------------------------

class Unit:
    """What one <proto name="zmq"> element of a packet shows."""

    def __init__(self, frame, stream, proto):
        self.frame = frame
        self.stream = stream
        self.size = int(proto.get("size", "0"))  # bytes of the unit (or undecoded bytes)
        self.fields = {}  # name -> list of (show, value) in document order
        for field in proto.iter("field"):
            name = field.get("name")
            if name:
                self.fields.setdefault(name, []).append((field.get("show", ""),
                                                         field.get("value", "")))

    def show(self, name, default=None):
        values = self.fields.get(name)
        return values[0][0] if values else default

    def shows(self, name):
        return [show for show, _ in self.fields.get(name, [])]

    def values(self, name):
        return [value for _, value in self.fields.get(name, [])]

    def has(self, name):
        return name in self.fields


def pdml_units(tshark, args):
    xml = tshark.run(list(args) + ["-T", "pdml", "-Y", "zmq"])
    units = []
    for packet in ET.fromstring(xml).iter("packet"):
        frame = stream = None
        for proto in packet.findall("proto"):
            name = proto.get("name")
            if name == "geninfo":
                frame = int(proto.find("field[@name='num']").get("show"))
            elif name == "tcp":
                stream = int(proto.find("field[@name='tcp.stream']").get("show"))
            elif name == "zmq":
                units.append(Unit(frame, stream, proto))
    return units


def expert_names(unit):
    return {name for name in unit.fields if name.startswith("zmq.expert.")}


def is_readable_by_others(path):
    return bool(os.stat(path).st_mode & stat.S_IROTH)
