#!/usr/bin/env python3
"""No output of the project ever shows a secret key.

Runs, over every capture of captures/ with its key log (the union of all key logs for
captures without one): tshark with the plugin (-2 -V -x -z expert, and -T fields with every
zmq.* field), zmtp-replay (text, --json, --csv, --html, --speed narration), and both again
with a hostile key log whose malformed lines are built from the secrets (junk after a key, a
cut key, a key with a bad character, a key in place of a label, a key in a line too long).
Everything they write, stdout, stderr and files, is searched for every secret of
captures/*.keys: hex (either case, with or without ':' between bytes), Z85, the raw bytes, and
any 12-character piece of those texts (24 for the ':' form).
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import pcap_tools as pt

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
WINDOW = 12


def z85_encode(data):
    out = []
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i:i + 4], "big")
        chunk = []
        for _ in range(5):
            chunk.append(Z85[value % 85])
            value //= 85
        out.extend(reversed(chunk))
    return "".join(out)


def parse_key(text):
    if len(text) == 64:
        return bytes.fromhex(text)
    if len(text) == 40:
        value = 0
        out = bytearray()
        for i, c in enumerate(text):
            value = value * 85 + Z85.index(c)
            if i % 5 == 4:
                out += value.to_bytes(4, "big")
                value = 0
        return bytes(out)
    raise ValueError("not a key")


def secrets_of(key_files):
    secrets = set()
    for path in key_files:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 2 and fields[0].upper().endswith("_SECRET"):
                    secrets.add(parse_key(fields[1]))
    return sorted(secrets)


class SecretIndex:
    """Every form of every secret, and every WINDOW-character piece of them."""

    def __init__(self, secrets):
        self.windows = {}
        self.raw = secrets
        for secret in secrets:
            forms = [secret.hex(), secret.hex().upper(), z85_encode(secret)]
            for form in forms:
                for i in range(len(form) - WINDOW + 1):
                    self.windows.setdefault(form[i:i + WINDOW], form)
            for colon in (":".join("%02x" % b for b in secret), ":".join("%02X" % b for b in secret)):
                for i in range(0, len(colon) - 2 * WINDOW + 1, 3):
                    self.windows.setdefault(colon[i:i + 2 * WINDOW], colon)

    def leaks(self, text):
        found = set()
        for size in (WINDOW, 2 * WINDOW):
            for i in range(len(text) - size + 1):
                piece = text[i:i + size]
                if piece in self.windows:
                    found.add(piece)
        return found

    def raw_leaks(self, blob):
        return [s.hex()[:8] + "..." for s in self.raw if s[:WINDOW] in blob or s[-WINDOW:] in blob]


def hostile_keylog(secrets, path):
    """Malformed lines made of the secrets: none may be echoed in a warning."""
    lines = ["# hostile key log: every line but the last few is malformed"]
    for secret in secrets:
        hex_key, z85_key = secret.hex(), z85_encode(secret)
        lines += [
            "SERVER_SECRET %s trailing-junk" % hex_key,
            "CLIENT_SECRET %s" % hex_key[:-1],
            "EPHEMERAL_SECRET %sZ" % hex_key[:-1],
            "EPHEMERAL_SECRET %s" % z85_key[:-1],
            "%s %s" % (hex_key, hex_key),
            "SERVER_SECRET %s %s" % (hex_key, "x" * 5000),
            "SERVER_SECRET %s\x01" % z85_key,
        ]
    lines += ["EPHEMERAL_SECRET %s" % s.hex() for s in secrets]  # good lines, still secret
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)


def run(command, env=None):
    proc = subprocess.run(command, capture_output=True, env=env, timeout=600)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), \
        proc.stderr.decode("utf-8", "replace")


class Outputs:
    def __init__(self, index):
        self.index = index
        self.checked = 0
        self.bytes = 0
        self.problems = []
        self.decrypted_connections = 0

    def check(self, what, text):
        self.checked += 1
        self.bytes += len(text)
        leaks = self.index.leaks(text)
        if leaks:
            self.problems.append("%s shows secret key text: %s" % (what, sorted(leaks)[:3]))

    def check_file(self, what, path):
        with open(path, "rb") as f:
            blob = f.read()
        raw = self.index.raw_leaks(blob)
        if raw:
            self.problems.append("%s holds raw secret bytes (%s)" % (what, raw))
        self.check(what, blob.decode("utf-8", "replace"))


def zmq_fields(tshark):
    fields = []
    for line in tshark.run(["-G", "fields"]).splitlines():
        parts = line.split("\t")
        if len(parts) > 2 and parts[0] == "F" and parts[2].startswith("zmq."):
            fields.append(parts[2])
    return fields


def check_plugin(tshark, outputs, capture, keys, fields):
    name = os.path.basename(capture)
    staged = tshark.stage(capture)
    staged_keys = tshark.stage(keys, "keys-" + os.path.basename(keys))
    base = ["-r", staged, "-2", "-o", "zmq.keylog_file:" + staged_keys]
    rc, out, err = run(tshark.command(base + ["-V", "-x", "-z", "expert"]))
    outputs.check("tshark -V -x -z expert on %s (stdout)" % name, out)
    outputs.check("tshark -V on %s (stderr)" % name, err)
    if rc != 0:
        outputs.problems.append("tshark -V failed on %s: %s" % (name, err[-500:]))
    field_args = ["-T", "fields", "-E", "occurrence=a"]
    for field in fields:
        field_args += ["-e", field]
    rc, out, err = run(tshark.command(base + field_args))
    outputs.check("tshark -T fields on %s (stdout)" % name, out)
    outputs.check("tshark -T fields on %s (stderr)" % name, err)
    column = fields.index("zmq.curve.decrypted") if "zmq.curve.decrypted" in fields else None
    rows = [line.split("\t") for line in out.splitlines()]
    return sum(1 for row in rows if column is not None and column < len(row) and
               any(v in ("1", "True") for v in row[column].split(",")))


def check_replay(replay, outputs, capture, keys, work):
    name = os.path.basename(capture)
    html = os.path.join(work, "report.html")
    for mode in ([], ["--json"], ["--csv"], ["--html", html], ["--speed", "1000000"]):
        rc, out, err = run([replay, "--detect", "-q", "--keylog", keys] + mode + [capture])
        label = "zmtp-replay %s on %s" % (" ".join(mode[:1]) or "text", name)
        if mode == ["--json"]:
            outputs.decrypted_connections += out.count('"state": "decrypted"')
        outputs.check(label + " (stdout)", out)
        outputs.check(label + " (stderr)", err)
        if rc != 0:
            outputs.problems.append("%s exited %d: %s" % (label, rc, err[-500:]))
    outputs.check_file("zmtp-replay --html on %s" % name, html)



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--captures", required=True)
    p.add_argument("--replay", required=True)
    p.add_argument("--plugin", default="")
    p.add_argument("--abi", default="")
    p.add_argument("--tshark-env", default="")
    p.add_argument("--asan-runtime", default="")
    args = p.parse_args()

    key_files = sorted(glob.glob(os.path.join(args.captures, "*.keys")))
    secrets = secrets_of(key_files)
    if not secrets:
        print("no secret keys in %s/*.keys: nothing to look for" % args.captures)
        return 1
    index = SecretIndex(secrets)
    outputs = Outputs(index)
    work = tempfile.mkdtemp(prefix="zmtp-secrets-")
    all_keys = os.path.join(work, "all.keys")
    with open(all_keys, "w") as out:
        for path in key_files:
            with open(path) as f:
                out.write(f.read())
    os.chmod(all_keys, 0o644)
    hostile = os.path.join(work, "hostile.keys")
    hostile_keylog(secrets, hostile)

    captures = sorted(glob.glob(os.path.join(args.captures, "*.pcapng")))
    runs = []
    for capture in captures:
        keys = capture[:-len(".pcapng")] + ".keys"
        runs.append((capture, keys if os.path.exists(keys) else all_keys))
    runs.append((os.path.join(args.captures, "ctrlx-like.pcapng"), hostile))

    for capture, keys in runs:
        check_replay(args.replay, outputs, capture, keys, work)
    decrypted = 0
    if args.plugin:
        sys.path.insert(0, args.tshark_env)
        import tshark_env
        if args.asan_runtime:
            os.environ["LD_PRELOAD"] = args.asan_runtime
            # Its extcap helpers deadlock at exit with the ASan runtime preloaded: none.
            os.environ["WIRESHARK_EXTCAP_DIR"] = pt.empty_folder()
            os.environ["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        with tshark_env.Tshark(args.plugin, args.abi) as tshark:
            tshark.require_plugin()
            fields = zmq_fields(tshark)
            if "zmq.curve.decrypted" not in fields:
                outputs.problems.append("the plugin has no zmq.curve.decrypted field")
            for capture, keys in runs:
                decrypted += check_plugin(tshark, outputs, capture, keys, fields)

    print("%d secrets looked for in %d outputs (%.1f MB) of %d captures; zmtp-replay decrypted "
          "%d connections, the plugin %d packets" % (len(secrets), outputs.checked,
                                                     outputs.bytes / 1e6, len(runs),
                                                     outputs.decrypted_connections, decrypted))
    # Without decryption the secrets would never be used, and the test would prove nothing.
    if outputs.decrypted_connections == 0:
        outputs.problems.append("zmtp-replay decrypted no connection")
    if args.plugin and decrypted == 0:
        outputs.problems.append("the plugin decrypted no packet")
    for problem in outputs.problems:
        print("FAILED " + problem)
    return 1 if outputs.problems else 0


if __name__ == "__main__":
    sys.exit(main())
