#!/usr/bin/env python3
"""Installs zmtpscope's .deb packages the way a user would and checks what they installed.

Usage (as root, inside a throw-away Debian root: scripts/wireshark-matrix.sh runs it in an
overlay of a chroot, so nothing stays installed):

  check-package.py --captures DIR [--plugin-deb FILE --abi X.Y] [--tools-deb FILE]

Plugin package: apt installs it with its dependencies; it depends on the libwireshark package
of Wireshark X.Y (installed, version X.Y.*); zmq.so is in the folder tshark reports as its
global plugin folder (and pkg-config's plugindir when libwireshark-dev is there), under epan/;
`tshark -G plugins` lists zmq.so from there; from there it decodes and decrypts
DIR/ctrlx-like.pcapng with its key log: every frame body of every expected message shown
decrypted, and none decrypted without the key log.
Tools package: apt installs it; zmtp-replay reports ctrlx-like's messages decrypted;
libzmtp-keylog.so preloads into a program.

Prints one line per check; exit status 0 when all passed, 1 otherwise.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys

CAPTURE = "ctrlx-like"


class Failed(Exception):
    pass


def run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    if proc.returncode != 0:
        raise Failed("%s failed (%d): %s" % (" ".join(args), proc.returncode,
                                             (proc.stderr or proc.stdout).strip()[-1500:]))
    return proc.stdout


def apt_install(deb):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "-q", "-y", "--no-install-recommends", "-o",
         "Acquire::Check-Valid-Until=false", "install", os.path.abspath(deb)], env=env)


def package_name(deb):
    return run(["dpkg-deb", "-f", deb, "Package"]).strip()


def installed_files(package):
    return run(["dpkg-query", "-L", package]).split()


def expected_bodies(captures):
    """Every frame body of every expected message, as hex: a multiset."""
    with open(os.path.join(captures, CAPTURE + ".expected.json")) as f:
        expected = json.load(f)
    bodies = collections.Counter()
    for conn in expected["connections"]:
        for direction in ("client_to_server", "server_to_client"):
            for message in conn[direction]["messages"]:
                bodies.update(message)
    return bodies


def shown_bodies(captures, keylog):
    """The frame bodies tshark shows in decrypted MESSAGE boxes (tshark -T fields)."""
    args = ["tshark", "-n", "-r", os.path.join(captures, CAPTURE + ".pcapng"), "-Y",
            "zmq.frame.body", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
            "-e", "zmq.curve.decrypted", "-e", "zmq.frame.body"]
    if keylog:
        args[4:4] = ["-o", "zmq.keylog_file:" + os.path.join(captures, CAPTURE + ".keys")]
    bodies = collections.Counter()
    for line in run(args).splitlines():
        decrypted, _, body = line.partition("\t")
        flags = decrypted.split(";")
        for i, value in enumerate(body.split(";") if body else []):
            if i < len(flags) and flags[i] in ("1", "True"):
                bodies[value.replace(":", "")] += 1
    return bodies


def check_plugin(deb, abi, captures, say):
    apt_install(deb)
    package = package_name(deb)
    say("installed %s (%s)" % (os.path.basename(deb), package))

    depends = run(["dpkg-query", "-W", "-f", "${Depends}", package])
    libs = sorted(set(re.findall(r"\b(libwireshark\d+)\b", depends)))
    if len(libs) != 1:
        raise Failed("Depends names no single libwireshark package: " + depends)
    lib_version = run(["dpkg-query", "-W", "-f", "${Version}", libs[0]]).strip()
    if not re.match(re.escape(abi) + r"\.", lib_version.split(":")[-1]):
        raise Failed("%s %s is not Wireshark %s" % (libs[0], lib_version, abi))
    say("depends on %s, installed: %s" % (libs[0], lib_version))

    folders = run(["tshark", "-G", "folders"])
    match = re.search(r"^Global Plugins:\s*(\S+)", folders, re.M)
    if not match:
        raise Failed("tshark -G folders names no global plugin folder:\n" + folders)
    global_plugins = match.group(1)
    wanted = os.path.join(global_plugins, "epan", "zmq.so")
    try:
        plugindir = run(["pkg-config", "--variable=plugindir", "wireshark"]).strip()
        if plugindir != global_plugins:
            raise Failed("pkg-config's plugindir %s is not tshark's %s" % (plugindir,
                                                                          global_plugins))
    except (Failed, FileNotFoundError):
        plugindir = None  # no libwireshark-dev here: tshark's word is enough
    if wanted not in installed_files(package):
        raise Failed("%s does not install %s: %s" % (package, wanted, installed_files(package)))
    say("installs %s%s" % (wanted, " (= pkg-config plugindir)" if plugindir else ""))

    listed = [line for line in run(["tshark", "-G", "plugins"]).splitlines()
              if line.startswith("zmq.so")]
    if not any(line.split()[-1] == wanted for line in listed):
        raise Failed("tshark -G plugins does not list %s: %s" % (wanted, listed))
    say("tshark -G plugins: " + " ".join(listed[0].split()))

    want = expected_bodies(captures)
    got = shown_bodies(captures, keylog=True)
    if got != want:
        missing, extra = want - got, got - want
        raise Failed("%s decrypted bodies differ from %s.expected.json: %d missing, %d extra"
                     % (CAPTURE, CAPTURE, sum(missing.values()), sum(extra.values())))
    if shown_bodies(captures, keylog=False):
        raise Failed(CAPTURE + " shows decrypted bodies without its key log")
    say("%s with its key log: all %d expected frame bodies decrypted; none without it"
        % (CAPTURE, sum(want.values())))


def check_tools(deb, captures, say):
    apt_install(deb)
    package = package_name(deb)
    files = installed_files(package)
    wanted_files = ("/usr/bin/zmtp-replay", "/usr/bin/zmtp-send", "/usr/lib/libzmtp-keylog.so")
    for wanted in wanted_files:
        if wanted not in files:
            raise Failed("%s does not install %s" % (package, wanted))
    say("installed %s: %s" % (os.path.basename(deb), ", ".join(wanted_files)))
    pcap = os.path.join(captures, CAPTURE + ".pcapng")
    keys = os.path.join(captures, CAPTURE + ".keys")
    report = json.loads(run(["zmtp-replay", "--json", "-q", "-k", keys, pcap]))
    want = sum(len(c[d]["messages"])
               for c in json.load(open(os.path.join(captures, CAPTURE + ".expected.json")))
               ["connections"] for d in ("client_to_server", "server_to_client"))
    messages, decrypted = count_messages(report)
    if messages != want or decrypted != want:
        raise Failed("zmtp-replay reports %d messages (%d decrypted) in %s, expected %d"
                     % (messages, decrypted, CAPTURE, want))
    say("zmtp-replay %s: %d messages, all decrypted, as expected" % (CAPTURE, messages))
    # zmtp-send lists, without a target, the client messages it would send: one line each.
    plan = run(["zmtp-send", "--dry-run", "-k", keys, pcap])
    listed = len(re.findall(r"^ +\+ +[0-9.]+ ms +message [0-9]+:", plan, re.M))
    want_sent = sum(len(c["client_to_server"]["messages"])
                    for c in json.load(open(os.path.join(captures, CAPTURE + ".expected.json")))
                    ["connections"])
    if listed != want_sent:
        raise Failed("zmtp-send --dry-run lists %d messages of %s, expected %d"
                     % (listed, CAPTURE, want_sent))
    say("zmtp-send --dry-run %s: the %d client messages, nothing sent" % (CAPTURE, listed))
    out = run(["env", "LD_PRELOAD=/usr/lib/libzmtp-keylog.so", "sh", "-c", "echo loaded"])
    if out.strip() != "loaded":
        raise Failed("a program with libzmtp-keylog.so preloaded did not run")
    say("LD_PRELOAD=/usr/lib/libzmtp-keylog.so runs a program")


def count_messages(report):
    """(messages, decrypted messages) over all connections of a zmtp-replay --json report."""
    directions = [c[d] for c in report["connections"]
                  for d in ("client_to_server", "server_to_client")]
    return (sum(d["messages"] for d in directions),
            sum(d["decrypted_messages"] for d in directions))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--captures", required=True)
    parser.add_argument("--plugin-deb")
    parser.add_argument("--abi")
    parser.add_argument("--tools-deb")
    args = parser.parse_args()
    if bool(args.plugin_deb) != bool(args.abi):
        parser.error("--plugin-deb and --abi go together")

    def say(text):
        print("  " + text, flush=True)

    try:
        if args.plugin_deb:
            check_plugin(args.plugin_deb, args.abi, args.captures, say)
        if args.tools_deb:
            check_tools(args.tools_deb, args.captures, say)
    except (Failed, OSError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
        print("FAILED: %s" % e, flush=True)
        return 1
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
