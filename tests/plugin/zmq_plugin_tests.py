#!/usr/bin/env python3
"""Integration tests of the ZMQ Wireshark plugin with the real tshark and the real captures.

Usage: zmq_plugin_tests.py --plugin zmq.so --abi 4.0 --captures DIR TEST [--update]
Tests: loads, captures, fields, heuristic, shared-ports, two-pass, decrypted-bytes, keylog-reload, srt,
keys-table, payload, fuzz, personal-folder, late-start, lost-segment, lost-inside-unit.
Exit code 0 = pass, 1 = fail, 77 = skipped (no captures yet).

tshark runs as the user nobody when the tests run as root: see tshark_env.py.
"""

import argparse
import ctypes
import ctypes.util
import glob
import json
import os
import random
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import time

from pcapng_edit import move_capture, select_packets, write_conversations
from tshark_env import (SKIP, Scenario, TestFailure, Tshark, capture_args, check, expert_names,
                         pdml_units, scenarios)

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_DIR = os.path.join(HERE, "expected")

# Field names users can rely on (DESIGN.md, "The Wireshark plugin").
DESIGN_FIELDS = """zmq.greeting.major zmq.greeting.minor zmq.greeting.mechanism
zmq.greeting.as_server zmq.command.name zmq.metadata.name zmq.metadata.value zmq.frame.flags
zmq.frame.more zmq.frame.length zmq.frame.body zmq.message.frames zmq.ping.ttl zmq.ping.context
zmq.plain.username zmq.plain.password zmq.curve.client_ephemeral zmq.curve.server_ephemeral
zmq.curve.client_public zmq.curve.nonce zmq.curve.decrypted zmq.error.reason zmq.response_in
zmq.response_to zmq.response_time""".split()

# How tshark shows a true FT_BOOLEAN (PDML "show", -T fields): "1" up to Wireshark 4.0,
# "True" from 4.4 on (Wireshark's change, not the plugin's).
TRUE_SHOWS = ("1", "True")


def any_true(shows):
    return any(show in TRUE_SHOWS for show in shows)


# Counted per direction like captures/*.expected.json "commands".
COUNTED_COMMANDS = {"PING", "PONG", "SUBSCRIBE", "CANCEL", "JOIN", "LEAVE"}

# Selected fields of the regression files (tests/plugin/expected/NAME[.nokeys].fields).
REGRESSION_FIELDS = ["frame.number", "tcp.stream", "zmq.direction", "zmq.greeting.mechanism",
                     "zmq.command.name", "zmq.frame.length",
                     "zmq.message.frames", "zmq.curve.decrypted", "zmq.metadata.value",
                     "zmq.error.reason", "zmq.ping.ttl", "zmq.response_to", "_ws.col.Info"]


# ---- captures ------------------------------------------------------------------------------

def scenario_by_name(captures_dir, name):
    for s in scenarios(captures_dir):
        if s.name == name:
            return s
    print("capture %s not found in %s" % (name, captures_dir))
    sys.exit(SKIP)


# ---- what the plugin shows, per connection and direction ----------------------------------

class DirectionView:
    def __init__(self):
        self.messages = []
        self.message_frames = []  # (frame of the first unit, frame of the last) of each message
        # (stream offset of its first unit, stream offset after its last) of each message
        self.message_offsets = []
        self.partial = []  # ("start lost" or "end lost", frames): messages shown incomplete
        self.commands = {}
        self.socket_type = None
        self.frames = []  # frames of the message in progress
        self.first_frame = None  # the frame number of its first unit
        self.units = []  # every unit of this direction, in order

    def add(self, unit):
        self.units.append(unit)
        # Bytes not decoded are never shown as frames (zmq.frame.* is what libzmtp decoded).
        check(not (unit.has("zmq.undecoded") and unit.has("zmq.frame.body")),
              "frame %d: undecoded bytes shown as zmq.frame.body" % unit.frame)
        losses = unit.shows("zmq.message.loss")
        if "end lost" in losses:  # cut by a gap before this unit
            self.partial.append(("end lost", self.frames))
            self.frames, self.first_frame = [], None
        for name in unit.shows("zmq.command.name"):
            if name in COUNTED_COMMANDS:
                self.commands[name] = self.commands.get(name, 0) + 1
        if unit.show("zmq.socket_type"):
            self.socket_type = unit.show("zmq.socket_type")
        if not unit.has("zmq.frame.index"):
            return  # not a data frame
        # A ZMTP 3.0 subscription is a message frame (and listed as a message in the
        # expected files); the plugin also shows it as a SUBSCRIBE/CANCEL.
        subscribe = unit.show("zmq.subscription.subscribe")
        if subscribe is not None:
            name = "SUBSCRIBE" if subscribe in TRUE_SHOWS else "CANCEL"
            self.commands[name] = self.commands.get(name, 0) + 1
        self.frames.append(unit.values("zmq.frame.body")[-1])
        offset = int(unit.show("zmq.stream_offset", "0"))
        if self.first_frame is None:
            self.first_frame, self.first_offset = unit.frame, offset
        if unit.has("zmq.message.frames"):
            check(int(unit.show("zmq.message.frames")) == len(self.frames),
                  "frame %d: zmq.message.frames %s but %d frames seen" %
                  (unit.frame, unit.show("zmq.message.frames"), len(self.frames)))
            self.messages.append(self.frames)
            self.message_frames.append((self.first_frame, unit.frame))
            self.message_offsets.append((self.first_offset, offset + unit.size))
            self.frames, self.first_frame = [], None
        elif "start lost" in losses:  # a message whose first frames may be lost: not counted
            self.partial.append(("start lost", self.frames))
            self.frames, self.first_frame = [], None


class ConnectionView:
    def __init__(self, stream):
        self.stream = stream
        self.dirs = {"client->server": DirectionView(), "server->client": DirectionView()}
        self.handshake = None
        self.error_reasons = []
        self.experts = set()
        self.mechanisms = set()
        self.decrypted = []  # zmq.curve.decrypted of every CURVE box

    def add(self, unit):
        self.dirs[unit.show("zmq.direction")].add(unit)
        if unit.show("zmq.handshake"):
            self.handshake = unit.show("zmq.handshake")
        self.error_reasons += unit.shows("zmq.error.reason")
        self.experts |= expert_names(unit)
        self.mechanisms |= set(unit.shows("zmq.greeting.mechanism"))
        self.decrypted += unit.shows("zmq.curve.decrypted")


def connections(units):
    by_stream = {}
    for unit in units:
        by_stream.setdefault(unit.stream, ConnectionView(unit.stream)).add(unit)
    return [by_stream[s] for s in sorted(by_stream)]


def check_commands(where, seen, expected):
    for key, count in expected.items():
        name = key[:-4] if key.endswith("_min") else key
        got = seen.get(name, 0)
        if key.endswith("_min"):
            check(got >= count, "%s: %d %s, expected at least %d" % (where, got, name, count))
        else:
            check(got == count, "%s: %d %s, expected %d" % (where, got, name, count))


def check_connection(scenario, index, view, exp, decrypting):
    where = "%s connection %d (tcp.stream %d)" % (scenario.name, index, view.stream)
    check(view.mechanisms <= {scenario.mechanism},
          "%s: greetings name %s, expected %s" % (where, view.mechanisms, scenario.mechanism))
    handshake = exp.get("handshake", "ready")
    if handshake == "ready":
        check(view.handshake == "complete", "%s: handshake %s, expected complete" %
              (where, view.handshake))
    elif handshake == "error":
        check(exp.get("error_reason") in view.error_reasons,
              "%s: ERROR reasons %s, expected %s" % (where, view.error_reasons,
                                                     exp.get("error_reason")))
        check("zmq.expert.error" in view.experts, "%s: no ERROR expert info" % where)
    elif handshake == "not-captured":
        pass  # below
    else:
        check(view.handshake != "complete", "%s: handshake completed, expected %s" %
              (where, handshake))
        if scenario.mechanism == "CURVE" and decrypting:
            check("zmq.expert.wrong_server_key" in view.experts,
                  "%s: dropped after HELLO, but no wrong_server_key expert info" % where)
    encrypted = scenario.mechanism == "CURVE" and not decrypting
    late = scenario.starts_late
    if late:
        check(view.handshake != "complete", "%s: a handshake shown, none was captured" % where)
        check("zmq.expert.handshake_not_captured" in view.experts,
              "%s: no handshake_not_captured expert info" % where)
        check({"zmq.expert.mid_stream", "zmq.expert.resync"} <= view.experts,
              "%s: no mid_stream or resync expert info: %s" % (where, sorted(view.experts)))
    if exp.get("end") == "heartbeat-timeout" and not encrypted:
        check(view.experts & {"zmq.expert.peer_silent", "zmq.expert.ping_unanswered",
                              "zmq.expert.heartbeat_late"},
              "%s: heartbeat timeout without a heartbeat expert info (%s)" %
              (where, sorted(view.experts)))
    for direction, key in (("client->server", "client_to_server"),
                           ("server->client", "server_to_client")):
        seen, wanted = view.dirs[direction], exp.get(key, {})
        if encrypted:
            check(not seen.messages, "%s %s: messages shown without keys" % (where, direction))
            continue
        wanted_messages = wanted.get("messages", [])
        if late:  # all messages after the capture's start: the first one may be cut
            check_recovered("%s %s" % (where, direction), seen, wanted_messages, 0, 0)
        else:
            check(seen.messages == wanted_messages,
                  "%s %s: messages differ\n  shown:    %s\n  expected: %s" %
                  (where, direction, abbreviate(seen.messages), abbreviate(wanted_messages)))
        check_commands("%s %s" % (where, direction), seen.commands, wanted.get("commands", {}))
    types = exp.get("socket_types")
    if types and handshake in ("ready", "not-captured") and not encrypted:
        # ZMTP 1.0 carries no socket type: none shown is the expected "unknown".
        shown = [view.dirs[d].socket_type or "unknown" for d in ("client->server", "server->client")]
        check(shown == types, "%s: socket types %s, expected %s" % (where, shown, types))
    if encrypted and handshake in ("ready", "not-captured"):
        check(not any_true(view.decrypted), "%s: a box opened without keys" % where)
        missing = "zmq.expert.session_key_missing" if late else "zmq.expert.key_missing"
        check(missing in view.experts, "%s: no %s expert" % (where, missing))


def check_recovered(where, seen, wanted, before, first_after):
    """Messages of a direction that lost bytes (a gap, or the bytes before the capture): the
    `before` expected messages that lie wholly before the gap are shown, then every expected
    message from the first wholly after it (index `first_after`) or, when the first after the
    gap is shown incomplete ("start lost"), the next one, up to the end. Nothing else is
    counted as a message; what is shown incomplete is part of an expected message in between."""
    shown = seen.messages
    check(shown[:before] == wanted[:before], "%s: messages before the gap differ\n  shown:    %s"
          "\n  expected: %s" % (where, abbreviate(shown[:before]), abbreviate(wanted[:before])))
    rest = shown[before:]
    first = len(wanted) - len(rest)
    check(first >= first_after and rest == wanted[first:],
          "%s: messages after the gap are not the expected ones from #%d on\n  shown:    %s\n"
          "  expected: %s" % (where, first_after, abbreviate(rest),
                              abbreviate(wanted[first_after:])))
    check(first <= first_after + 1, "%s: %d whole messages after the gap not recovered" %
          (where, first - first_after))
    between = wanted[before:first]
    for kind, frames in seen.partial:
        fits = [m for m in between if frames and (m[-len(frames):] == frames if kind == "start lost"
                                                  else m[:len(frames)] == frames)]
        check(fits, "%s: a message shown %s (%s) is not part of a message the gap cut" %
              (where, kind, abbreviate(frames)))
    return first


def abbreviate(messages):
    text = json.dumps(messages)
    return text if len(text) < 400 else text[:400] + "..."


def check_scenario(tshark, scenario, decrypting):
    pcap = tshark.stage(scenario.pcap)
    keylog = tshark.stage(scenario.keylog) if decrypting and scenario.keylog else None
    units = pdml_units(tshark, capture_args(pcap, keylog))
    views = connections(units)
    wanted = scenario.expected["connections"]
    check(len(views) == len(wanted), "%s: %d ZMQ connections shown, expected %d" %
          (scenario.name, len(views), len(wanted)))
    for i, (view, exp) in enumerate(zip(views, wanted)):
        check_connection(scenario, i, view, exp, decrypting)
    return len(units)


# ---- tests ---------------------------------------------------------------------------------

def test_loads(tshark, args):
    tshark.require_plugin()
    protocols = tshark.run(["-G", "protocols"]).splitlines()
    # 4.4 and later add columns (enabled, can toggle, ...) after name, short name, filter name.
    check(["ZeroMQ transport (ZMTP, CurveZMQ)", "ZMQ", "zmq"] in
          [line.split("\t")[:3] for line in protocols],
          "protocol ZMQ/zmq not registered")
    fields = {line.split("\t")[2] for line in tshark.run(["-G", "fields"]).splitlines()
              if line.startswith("F\t")}
    missing = [name for name in DESIGN_FIELDS if name not in fields]
    check(not missing, "fields missing: %s" % missing)
    ours = [line.split("\t")[2] for line in tshark.run(["-G", "fields"]).splitlines()
            if line.startswith("F\t") and line.split("\t")[4] == "zmq"]
    check(ours and all(name.startswith("zmq.") for name in ours),
          "fields outside zmq.: %s" % [n for n in ours if not n.startswith("zmq.")])
    check(not [p for p in protocols if p.split("\t")[1:2] == ["ZMTP"] and "ZMQ" in p],
          "protocol name clash")
    prefs = tshark.run(["-G", "currentprefs"])
    check("zmq.keylog_file" in prefs, "preference zmq.keylog_file missing")
    print("plugin loaded from %s; %d design fields present" % (tshark.plugins, len(DESIGN_FIELDS)))


def test_captures(tshark, args):
    tshark.require_plugin()
    reassembled = 0
    for scenario in scenarios(args.captures):
        if scenario.old_greetings:
            check_old_greetings(tshark, scenario)
        elif not scenario.starts_late:
            reassembled += check_greeting_reassembly(tshark, scenario)
        n = check_scenario(tshark, scenario, decrypting=True)
        print("%-26s with keys:    %5d ZMQ units, matches expected.json" % (scenario.name, n))
        if scenario.keylog:
            n = check_scenario(tshark, scenario, decrypting=False)
            print("%-26s without keys: %5d ZMQ units, nothing decrypted" % (scenario.name, n))
    check(reassembled, "no greeting was reassembled from several segments")
    print("%d greetings reassembled from libzmq's separate segments" % reassembled)


def greetings_shown(tshark, scenario):
    """[(tcp.stream, direction, greeting text, zmq.greeting.identity or None,
    zmq.greeting.socket_type as shown or None)] in order."""
    xml = tshark.run(capture_args(tshark.stage(scenario.pcap)) + ["-T", "pdml", "-Y", "zmq"])
    shown = []
    for packet in ET.fromstring(xml).iter("packet"):
        stream = int(packet.find("proto[@name='tcp']/field[@name='tcp.stream']").get("show"))
        for proto in packet.findall("proto[@name='zmq']"):
            direction = proto.find(".//field[@name='zmq.direction']").get("show")
            for item in proto.iter("field"):
                text = item.get("show", "")
                if item.get("name") or not text.startswith("Greeting "):
                    continue
                identity = item.find("field[@name='zmq.greeting.identity']")
                socket_type = item.find("field[@name='zmq.greeting.socket_type']")
                shown.append((stream, direction, text,
                              None if identity is None else identity.get("value", ""),
                              None if socket_type is None else socket_type.get("showname")))
    return shown


def check_old_greetings(tshark, scenario):
    """ZMTP 1.0/2.0 (docs/protocol.md 1.3-1.6): each greeting is labelled as what its side
    speaks (a libzmq side that fell back: "ZMTP 2.0 (downgraded from 3.x)", never "ZMTP 3.0")
    and carries its identity frame as zmq.greeting.identity; the identity is no message
    (check_connection compares the messages). A 2.0 greeting's zmq.greeting.socket_type shows
    the socket type's name."""
    shown = greetings_shown(tshark, scenario)
    streams = sorted({stream for stream, _, _, _, _ in shown})
    check(len(streams) == len(scenario.old_greetings), "%s: greetings shown on %d connections, "
          "expected %d" % (scenario.name, len(streams), len(scenario.old_greetings)))
    for stream, wanted in zip(streams, scenario.old_greetings):
        for direction, want in zip(("client->server", "server->client"), wanted):
            mine = [(text, identity, socket_type) for s, d, text, identity, socket_type in shown
                    if s == stream and d == direction]
            where = "%s tcp.stream %d %s" % (scenario.name, stream, direction)
            check(len(mine) == 1, "%s: %d greetings shown, expected 1" % (where, len(mine)))
            text, identity, socket_type = mine[0]
            check(text.startswith("Greeting " + want["version"]),
                  "%s: greeting shown as %r, expected %r" % (where, text, want["version"]))
            check(identity is not None, "%s: no zmq.greeting.identity" % where)
            check(identity.lower() == want["identity"],
                  "%s: zmq.greeting.identity bytes %r, expected %r (hex)" %
                  (where, identity, want["identity"]))
            if want["version"].startswith("ZMTP 2.0"):
                name = want["version"].split()[-1]  # e.g. "ZMTP 2.0 REQ"
                check(socket_type is not None and socket_type.startswith("Socket type: " + name),
                      "%s: zmq.greeting.socket_type shown as %r, expected %s" %
                      (where, socket_type, name))
            print("%s: %s" % (where, text))


def check_greeting_reassembly(tshark, scenario):
    """libzmq sends its greeting as 10 + 1 + 53 bytes: each must be reassembled to 64 (the
    first segments are too short to tell the unit's size: get_pdu_len asks for more)."""
    out = tshark.run(capture_args(tshark.stage(scenario.pcap), extra=[
        "-T", "fields", "-E", "occurrence=a", "-e", "tcp.segment.count", "-e", "tcp.reassembled.length",
        "-Y", "zmq.greeting.major >= 3"]))
    greetings = [line.split("\t") for line in out.splitlines()]
    check(greetings, "%s: no ZMTP 3 greeting shown" % scenario.name)
    # libzmq's first 10 bytes always travel alone; 1 + 53 may share a segment. (Other peers
    # may send all 64 bytes at once.)
    reassembled = 0
    for count, length in greetings:
        if not count:
            continue
        check(count in ("2", "3") and length == "64", "%s: greeting from %s segments, %s bytes" %
              (scenario.name, count, length))
        reassembled += 1
    return reassembled


def regression_output(tshark, scenario, keylog):
    extra = ["-T", "fields", "-E", "occurrence=a", "-E", "separator=|", "-Y", "zmq"]
    for name in REGRESSION_FIELDS:
        extra += ["-e", name]
    out = tshark.run(capture_args(tshark.stage(scenario.pcap), keylog, extra=extra))
    # zmq.curve.decrypted, the one boolean of REGRESSION_FIELDS, is written as 4.0 showed it
    # (1/0); 4.4 and later show True/False.
    column = REGRESSION_FIELDS.index("zmq.curve.decrypted")
    lines = []
    for line in out.splitlines(keepends=True):
        cells = line.split("|")
        if len(cells) > column:
            cells[column] = ",".join({"True": "1", "False": "0"}.get(v, v)
                                     for v in cells[column].split(","))
        lines.append("|".join(cells))
    return "".join(lines)


def test_fields(tshark, args):
    tshark.require_plugin()
    failures = []
    for scenario in scenarios(args.captures):
        variants = [("", tshark.stage(scenario.keylog) if scenario.keylog else None)]
        if scenario.keylog:
            variants.append((".nokeys", None))
        for suffix, keylog in variants:
            out = regression_output(tshark, scenario, keylog)
            path = os.path.join(EXPECTED_DIR, scenario.name + suffix + ".fields")
            if args.update:
                os.makedirs(EXPECTED_DIR, exist_ok=True)
                with open(path, "w") as f:
                    f.write(out)
                print("wrote %s" % path)
                continue
            if not os.path.exists(path):
                failures.append("%s: no expected file (run with --update)" % path)
                continue
            with open(path) as f:
                want = f.read()
            if out != want:
                failures.append("%s: output differs from %s\n%s" %
                                (scenario.name + suffix, path, first_difference(out, want)))
            else:
                print("%-34s %5d lines match" % (scenario.name + suffix, len(want.splitlines())))
    check(not failures, "\n".join(failures) +
          "\n(captures regenerated? review, then: zmq_plugin_tests.py ... fields --update)")


def first_difference(got, want):
    got_lines, want_lines = got.splitlines(), want.splitlines()
    for i, (g, w) in enumerate(zip(got_lines, want_lines)):
        if g != w:
            return "  line %d\n  shown:    %s\n  expected: %s" % (i + 1, g[:300], w[:300])
    return "  %d lines shown, %d expected" % (len(got_lines), len(want_lines))


FREE_PORT = 40123  # no dissector registers it


def moved_capture(tshark, scenario, port):
    """A copy of the scenario's capture with its server port moved to `port`."""
    path = os.path.join(tshark.files, "%s-on-%d.pcapng" % (scenario.name, port))
    move_capture(scenario.pcap, path, scenario.port, port)
    os.chmod(path, 0o644)
    return path


def test_heuristic(tshark, args):
    tshark.require_plugin()
    scenario = scenario_by_name(args.captures, "null-port-5555")
    n = check_scenario(tshark, scenario, decrypting=True)
    pcap = moved_capture(tshark, scenario, FREE_PORT)
    found = pdml_units(tshark, capture_args(pcap))
    check(len(found) == n, "port %d: the heuristic finds %d units, port %d shows %d" %
          (FREE_PORT, len(found), scenario.port, n))
    off = pdml_units(tshark, capture_args(pcap, extra=["--disable-heuristic", "zmq_tcp"]))
    check(not off, "ZMQ shown on port %d with the heuristic disabled" % FREE_PORT)
    by_port = pdml_units(tshark, capture_args(pcap, extra=["-d", "tcp.port==%d,zmq" % FREE_PORT]))
    check(len(by_port) == n, "Decode As shows %d units, the heuristic %d" % (len(by_port), n))
    print("port %d: heuristic finds %d units, no configuration (none when disabled; Decode As "
          "agrees)" % (FREE_PORT, n))
    # The default ports do not depend on the heuristic.
    for s in scenarios(args.captures):
        units = pdml_units(tshark, capture_args(tshark.stage(s.pcap), extra=[
            "--disable-heuristic", "zmq_tcp"]))
        check(units, "%s: nothing on port %d without the heuristic" % (s.name, s.port))


# ---- ports shared with other dissectors ----------------------------------------------------

HTTP_REQUEST = (b"GET /status HTTP/1.1\r\nHost: localhost\r\nUser-Agent: zmq-plugin-test\r\n"
                b"\r\n")
HTTP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"
                 b"ok")
# A SigComp message as SigComp over TCP frames it (RFC 3320: 11111 prefix, 0xFFFF delimiter).
SIGCOMP_MESSAGE = bytes([0xF8, 0x00, 0x40]) + bytes(range(64)) + b"\xff\xff"


def zmtp_null_greeting(as_server):
    return (b"\xff" + b"\0" * 8 + b"\x7f" + bytes([3, 1]) + b"NULL".ljust(20, b"\0") +
            bytes([as_server]) + b"\0" * 31)


def zmtp_ready(socket_type):
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return bytes([0x04, len(body)]) + body


def trickled_zmtp_capture(tshark, name, port):
    """A ZMTP conversation whose client sends its greeting's first byte alone: too little
    to tell ZMTP from the port's other protocol, so ZMQ waits for more."""
    path = os.path.join(tshark.files, name)
    greeting = zmtp_null_greeting(0)
    write_conversations(path, [(41004, port, [
        (True, greeting[:1]), (True, greeting[1:]), (False, zmtp_null_greeting(1)),
        (True, zmtp_ready(b"DEALER")), (False, zmtp_ready(b"ROUTER")),
        (True, b"\x00\x05hello"), (False, b"\x00\x05world")])])
    os.chmod(path, 0o644)
    return path


def other_protocols_capture(tshark, name, port):
    """Conversations of other protocols (HTTP, SigComp) to `port`, none of them ZMTP."""
    path = os.path.join(tshark.files, name)
    write_conversations(path, [
        (41001, port, [(True, HTTP_REQUEST), (False, HTTP_RESPONSE)]),
        (41002, port, [(True, SIGCOMP_MESSAGE)]),
        (41003, port, [(True, HTTP_REQUEST[:20]), (True, HTTP_REQUEST[20:]),
                       (False, HTTP_RESPONSE)]),
    ])
    os.chmod(path, 0o644)
    return path


def dissected_as_without_plugin(tshark, pcap, extra=()):
    """What Wireshark shows for these packets without the plugin: -V, less the list of
    protocols a frame went through (the plugin was asked first on its ports)."""
    def tree(text):
        return [line for line in text.splitlines() if "[Protocols in frame:" not in line]
    ours = tree(tshark.run(["-r", pcap, "-V"] + list(extra)))
    plain = tree(tshark.run_without_plugin(["-r", pcap, "-V"]))
    if ours != plain:
        i = next(i for i, (a, b) in enumerate(zip(ours + [""], plain + [""])) if a != b)
        raise TestFailure("%s: with the plugin, line %d differs:\n  with:    %s\n  without: %s" %
                          (os.path.basename(pcap), i + 1, ours[i:i + 1], plain[i:i + 1]))
    return len(ours)


def protocol_columns(tshark, pcap, extra=()):
    out = tshark.run(["-r", pcap, "-T", "fields", "-e", "_ws.col.Protocol"] + list(extra))
    counts = {}
    for name in out.split():
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_shared_ports(tshark, args):
    """ZMQ's ports that other dissectors own too (5555: SigComp; 8080: HTTP)."""
    tshark.require_plugin()
    check("zmq.so" not in tshark.run_without_plugin(["-G", "plugins"]),
          "tshark loads a zmq.so of its own: cannot compare with Wireshark without the plugin")
    scenario = scenario_by_name(args.captures, "null-port-5555")
    check(scenario.port == 5555, "null-port-5555 is on port %d" % scenario.port)
    pcap = tshark.stage(scenario.pcap)
    n = len(pdml_units(tshark, capture_args(pcap)))
    no_heuristic = pdml_units(tshark, capture_args(pcap, extra=["--disable-heuristic", "zmq_tcp"]))
    check(n and len(no_heuristic) == n, "port 5555: %d units, %d by the port range alone" %
          (n, len(no_heuristic)))
    print("port 5555: %d ZMQ units with no options, also without the heuristic" % n)

    # Other protocols on 5555 look exactly as they do without the plugin.
    other = other_protocols_capture(tshark, "other-5555.pcapng", 5555)
    lines = dissected_as_without_plugin(tshark, other)
    shown = protocol_columns(tshark, other)
    check("ZMQ" not in shown and shown.get("HTTP") and shown.get("SIGCOMP"),
          "port 5555, other protocols: %s" % shown)
    print("port 5555: HTTP and SigComp conversations as without the plugin (%d lines of -V): %s"
          % (lines, shown))
    trickled = trickled_zmtp_capture(tshark, "trickled-5555.pcapng", 5555)
    infos = tshark.run(["-r", trickled, "-Y", "zmq", "-T", "fields", "-e", "_ws.col.Info"])
    want = ["Greeting ZMTP 3.1 NULL", "READY Socket-Type=DEALER", "READY Socket-Type=ROUTER",
            'DEALER->ROUTER 1 frame "hello"', 'ROUTER->DEALER 1 frame "world"']
    check(all(text in infos for text in want),
          "port 5555, greeting's first byte alone: ZMQ shows\n%s" % infos)
    print("port 5555: a greeting whose first byte comes alone is still ZMQ's")

    # 8080 is HTTP's, shared: ZMTP there is ZMQ's with no options and with each of three; HTTP
    # stays HTTP.
    zmtp_8080 = moved_capture(tshark, scenario, 8080)
    other_8080 = other_protocols_capture(tshark, "other-8080.pcapng", 8080)
    mixed = os.path.join(tshark.files, "mixed-8080.pcapng")
    # Without a preloaded ASan runtime (there for a sanitized plugin): mergecap deadlocks at
    # exit with it.
    subprocess.run(["mergecap", "-a", "-w", mixed, zmtp_8080, other_8080], check=True,
                   timeout=60, env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    os.chmod(mixed, 0o644)
    check(len(pdml_units(tshark, capture_args(zmtp_8080))) == n,
          "port 8080: ZMQ not shown with no options (a shared port)")
    dissected_as_without_plugin(tshark, other_8080)
    for option in (["-o", "zmq.tcp.port:2069-2070,5555,8080"], ["-d", "tcp.port==8080,zmq"],
                   ["-o", "tcp.try_heuristic_first:TRUE"]):
        units = pdml_units(tshark, capture_args(mixed, extra=option))
        check(len(units) == n, "port 8080 with %s: %d ZMQ units, expected %d" %
              (" ".join(option), len(units), n))
        if option[0] == "-d":
            continue  # Decode As: everything on the port is ZMQ's, as asked
        dissected_as_without_plugin(tshark, other_8080, option)
        shown = protocol_columns(tshark, mixed, option)
        check(shown.get("HTTP"), "port 8080 with %s: the HTTP conversations are not HTTP: %s" %
              (" ".join(option), shown))
        print("port 8080 with %s: %d ZMQ units, HTTP and SigComp as without the plugin" %
              (" ".join(option), n))
    print("port 8080 with -d tcp.port==8080,zmq: %d ZMQ units" % n)


def verbose_zmq(tshark, pcap, keylog, two_pass, extra):
    out = tshark.run(capture_args(pcap, keylog, two_pass=two_pass, extra=extra +
                                  ["-V", "-O", "zmq"]))
    # zmq.response_in names a later frame: a single pass cannot know it yet.
    return [line for line in out.splitlines() if "[Response in:" not in line]


def test_two_pass(tshark, args):
    tshark.require_plugin()
    for scenario in scenarios(args.captures):
        pcap = tshark.stage(scenario.pcap)
        keylog = tshark.stage(scenario.keylog) if scenario.keylog else None
        one = verbose_zmq(tshark, pcap, keylog, False, [])
        two = verbose_zmq(tshark, pcap, keylog, True, [])
        if one != two:
            diff = next(i for i, (a, b) in enumerate(zip(one + [""], two + [""])) if a != b)
            raise TestFailure("%s: one-pass and two-pass trees differ at line %d:\n  %s\n  %s" %
                              (scenario.name, diff + 1, one[diff:diff + 1], two[diff:diff + 1]))
        check(any("ZeroMQ transport" in line for line in one), "%s: no ZMQ" % scenario.name)
        print("%-26s one pass == two passes (%d lines)" % (scenario.name, len(one)))


def curve_scenario(captures):
    """The CURVE capture with the most connections (a key log that grows matters there)."""
    best = None
    for s in scenarios(captures):
        if s.mechanism != "CURVE" or not s.keylog:
            continue
        ready = [c for c in s.expected["connections"] if c.get("handshake") == "ready"]
        if ready and (best is None or len(ready) > best[0]):
            best = (len(ready), s)
    if not best:
        print("no CURVE capture with a key log yet")
        sys.exit(SKIP)
    return best[1]


def decrypted_frames(units):
    return sum(1 for u in units if any_true(u.shows("zmq.curve.decrypted"))
               and u.has("zmq.frame.index"))


# ---- decrypted bytes ---------------------------------------------------------------------

MAC_SIZE = 16  # crypto_box: an opened box's plaintext is 16 bytes shorter than the box


class DecryptedBox:
    """A decrypted CURVE box of one ZMQ unit: the unit's fields, and those that point into
    the "Decrypted ZMQ" data source, with their positions there."""

    def __init__(self, frame, stream, proto):
        self.frame, self.stream = frame, stream
        self.outer, self.inner = [], []
        box_root = None
        for el in proto.iter("field"):
            label = el.get("showname") or el.get("show") or ""
            if label.startswith("Decrypted box") or label.startswith("Frame (decrypted)"):
                box_root = el
        inside = set(box_root.iter("field")) if box_root is not None else set()
        for el in proto.iter("field"):
            if el.get("name"):
                record = (el.get("name"), el.get("show", ""), el.get("value", ""),
                          int(el.get("pos", "0")), int(el.get("size", "0")))
                (self.inner if el in inside else self.outer).append(record)
        self.plaintext = None

    def first(self, name, where):
        return next((r for r in where if r[0] == name), None)


def decrypted_boxes(tshark, pcap, keylog):
    """Units whose box opened, in capture order, each with the bytes of its data source."""
    xml = tshark.run(capture_args(pcap, keylog, extra=["-T", "pdml", "-Y",
                                                       "zmq.curve.decrypted == 1"]))
    boxes = {}
    for packet in ET.fromstring(xml).iter("packet"):
        frame = int(packet.find("proto[@name='geninfo']/field[@name='num']").get("show"))
        stream = int(packet.find("proto[@name='tcp']/field[@name='tcp.stream']").get("show"))
        for proto in packet.findall("proto[@name='zmq']"):
            unit = DecryptedBox(frame, stream, proto)
            opened = unit.first("zmq.curve.decrypted", unit.outer)
            name = unit.first("zmq.command.name", unit.outer)
            # HELLO's box holds 64 zero bytes: nothing to show.
            if opened and opened[1] in TRUE_SHOWS and name and name[1] != "HELLO":
                boxes.setdefault(frame, []).append(unit)
    sources = data_sources(tshark, pcap, keylog)
    for frame, units in boxes.items():
        got = sources.get(frame, [])
        check(len(got) == len(units), "frame %d: %d decrypted boxes, %d \"Decrypted ZMQ\" "
              "data sources" % (frame, len(units), len(got)))
        for unit, data in zip(units, got):
            unit.plaintext = data
    extra = set(sources) - set(boxes)
    check(not extra, "\"Decrypted ZMQ\" data sources without a decrypted box: frames %s" %
          sorted(extra)[:10])
    return [u for frame in sorted(boxes) for u in boxes[frame]]


def data_sources(tshark, pcap, keylog):
    """frame number -> bytes of each "Decrypted ZMQ" data source (tshark -x)."""
    out = tshark.run(capture_args(pcap, keylog, extra=["-P", "-x", "-Y", "zmq"]))
    sources, frame, current = {}, None, None
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+)\s+\d+\.\d+\s", line)
        if m and not re.match(r"^[0-9a-f]{4,}  ", line):
            frame, current = int(m.group(1)), None
            continue
        m = re.match(r"^Decrypted ZMQ \((\d+) bytes?\):$", line)
        if m:
            current = bytearray()
            sources.setdefault(frame, []).append(current)
            continue
        m = re.match(r"^([0-9a-f]{4,})  ((?:[0-9a-f]{2} )+)", line)
        if m and current is not None:
            current += bytes.fromhex(m.group(2).replace(" ", ""))
        elif not m:
            current = None
    return {frame: [bytes(b) for b in blocks] for frame, blocks in sources.items()}


def parse_metadata(data):
    """ZMTP metadata: (name, value) pairs, or None when malformed."""
    props = []
    while data:
        n = data[0]
        if len(data) < 1 + n + 4:
            return None
        size = struct.unpack(">I", data[1 + n:5 + n])[0]
        if len(data) < 5 + n + size:
            return None
        props.append((data[1:1 + n].decode("ascii", "replace"),
                      data[5 + n:5 + n + size].decode("utf-8", "replace")))
        data = data[5 + n + size:]
    return props


def check_box(unit, cookies):
    """Checks one decrypted box against its own bytes; returns what kind it was."""
    where = "frame %d" % unit.frame
    pt = unit.plaintext
    box = unit.first("zmq.curve.box", unit.outer)
    name = unit.first("zmq.command.name", unit.outer)[1]
    check(box and len(pt) == box[4] - MAC_SIZE, "%s %s: %d plaintext bytes from a %s-byte box" %
          (where, name, len(pt), box and box[4]))
    for field, show, value, pos, size in unit.inner:
        if size and len(value) == 2 * size:  # not a bit field
            check(pt[pos:pos + size].hex() == value, "%s %s: %s at %d..%d is not its bytes" %
                  (where, name, field, pos, pos + size))
    inner = {field: (show, value) for field, show, value, _, _ in unit.inner}
    metadata_at = {"INITIATE": 128, "READY": 0}.get(name)
    if name == "WELCOME":
        check(inner.get("zmq.curve.server_ephemeral", ("", ""))[1] == pt[:32].hex(),
              "%s: S' is not the box's first 32 bytes" % where)
        cookies.setdefault(unit.stream, []).append(pt[32:128].hex())
    elif name == "INITIATE":
        check(inner.get("zmq.curve.client_public", ("", ""))[1] == pt[:32].hex(),
              "%s: C is not the box's first 32 bytes" % where)
        sent = unit.first("zmq.curve.cookie", unit.outer)[2]
        check(sent in cookies.get(unit.stream, []),
              "%s: INITIATE's cookie is not the one WELCOME's box held" % where)
    elif name == "MESSAGE":
        check(inner["zmq.frame.inner_flags"][1] == "%02x" % pt[0],
              "%s: inner flags %s, plaintext starts %02x" % (where,
                                                             inner["zmq.frame.inner_flags"], pt[0]))
        if pt[0] & 0x02:
            check(inner["zmq.command.name"][0] == pt[2:2 + pt[1]].decode(),
                  "%s: decrypted command name differs from the plaintext" % where)
            return "MESSAGE/" + inner["zmq.command.name"][0]
        body = inner["zmq.frame.body"][1]
        check(body == pt[1:].hex(), "%s: decrypted body differs from the plaintext" % where)
        return "MESSAGE/frame"
    if metadata_at is not None:
        shown = [(n[1], v[1]) for n, v in zip(
            [r for r in unit.inner if r[0] == "zmq.metadata.name"],
            [r for r in unit.inner if r[0] == "zmq.metadata.value"])]
        check(shown and shown == parse_metadata(pt[metadata_at:]),
              "%s %s: metadata shown %s, the box holds %s" %
              (where, name, shown, parse_metadata(pt[metadata_at:])))
        sender = unit.first("zmq.socket_type", unit.outer)
        socket_type = dict(shown).get("Socket-Type")
        check(sender is None or sender[1] == socket_type,
              "%s: sender %s but Socket-Type %s" % (where, sender, socket_type))
    return name


def test_decrypted_bytes(tshark, args):
    """Every opened box but HELLO's is a "Decrypted ZMQ" data source holding exactly its
    plaintext (box size - 16), and the fields shown from it point at their bytes there."""
    tshark.require_plugin()
    kinds = {}
    for scenario in scenarios(args.captures):
        if scenario.mechanism != "CURVE" or not scenario.keylog:
            continue
        pcap = tshark.stage(scenario.pcap)
        cookies = {}
        units = decrypted_boxes(tshark, pcap, tshark.stage(scenario.keylog))
        for unit in units:
            kind = check_box(unit, cookies)
            kinds[kind] = kinds.get(kind, 0) + 1
        check(not data_sources(tshark, pcap, None),
              "%s: \"Decrypted ZMQ\" data sources without keys" % scenario.name)
        print("%-26s %5d decrypted boxes match their data sources" % (scenario.name, len(units)))
    for kind in ("WELCOME", "INITIATE", "READY", "MESSAGE/frame", "MESSAGE/PING"):
        check(kinds.get(kind), "no decrypted %s checked (%s)" % (kind, kinds))
    print("checked: %s" % ", ".join("%s %d" % kv for kv in sorted(kinds.items())))


def test_keylog_reload(tshark, args):
    tshark.require_plugin()
    scenario = curve_scenario(args.captures)
    pcap = tshark.stage(scenario.pcap)
    with open(scenario.keylog) as f:
        keys = f.read()
    keylog = tshark.writable("changing.keys", "# no keys yet\n")

    # Between runs: the same preference, a file that gained its keys.
    before = pdml_units(tshark, capture_args(pcap, keylog))
    check(decrypted_frames(before) == 0, "frames decrypted with an empty key log")
    tshark.writable("changing.keys", "# no keys yet\n" + keys)
    after = pdml_units(tshark, capture_args(pcap, keylog))
    check(decrypted_frames(after) > 0, "nothing decrypted after the key log gained its keys")
    print("between runs: 0 -> %d decrypted frames" % decrypted_frames(after))

    # Within one run (a live capture): keys appended while tshark reads the capture from a
    # pipe open the connections whose handshake comes after they appear, and only those.
    tshark.writable("changing.keys", "# no keys yet\n")
    hello, initiate = handshake_frames(tshark, pcap)
    split = max(hello.values())  # the HELLO of the last connection
    before = {s for s, frame in initiate.items() if frame < split}
    check(before, "%s: no handshake completes before the last HELLO" % scenario.name)
    proc = tshark.popen(["-l", "-r", "-", "-o", "zmq.keylog_file:" + keylog, "-T", "fields",
                         "-E", "occurrence=a", "-e", "frame.number", "-e", "tcp.stream",
                         "-e", "zmq.curve.decrypted", "-e", "zmq.frame.index"])
    header, packets = pcapng_blocks(pcap)
    proc.stdin.write(header + b"".join(packets[:split - 1]))
    proc.stdin.flush()
    lines = read_until_frame(proc, split - 1)
    tshark.writable("changing.keys", "# keys appended mid-capture\n" + keys)
    proc.stdin.write(b"".join(packets[split - 1:]))
    proc.stdin.close()
    lines += proc.stdout.read().decode().splitlines()
    proc.wait(timeout=120)
    opened = set()
    for line in lines:
        frame, stream, decrypted, index = (line.split("\t") + ["", "", "", ""])[:4]
        if index and any_true(decrypted.split(",")):
            opened.add(int(stream))
    late = {s for s, frame in hello.items() if frame >= split}
    check(not (opened & before), "connections keyed before the keys appeared were decrypted")
    check(late <= opened, "connections after the keys appeared were not decrypted: %s" %
          sorted(late - opened))
    print("within one run: %d connections before the keys stay encrypted, %d after decrypt" %
          (len(before), len(late)))


def handshake_frames(tshark, pcap):
    """HELLO and INITIATE frame numbers, by TCP stream."""
    out = tshark.run(["-r", pcap, "-T", "fields", "-E", "occurrence=a", "-e", "frame.number",
                      "-e", "tcp.stream", "-e", "zmq.command.name", "-Y", "zmq.command.name"])
    hello, initiate = {}, {}
    for line in out.splitlines():
        frame, stream, names = line.split("\t")
        names = names.split(",")
        if "HELLO" in names:
            hello.setdefault(int(stream), int(frame))
        if "INITIATE" in names:
            initiate.setdefault(int(stream), int(frame))
    return hello, initiate


def pcapng_blocks(path):
    """(section header + interface blocks, [packet blocks]) of a pcapng file."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:4] == b"\x0a\x0d\x0d\x0a", "%s is not pcapng" % path)
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    header, packets, pos = b"", [], 0
    while pos + 12 <= len(data):
        block_type, length = struct.unpack(order + "II", data[pos:pos + 8])
        block = data[pos:pos + length]
        if block_type in (0x00000006, 0x00000003):  # enhanced / simple packet
            packets.append(block)
        elif not packets:
            header += block
        pos += length
    return header, packets


def read_until_frame(proc, frame, timeout=60):
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if int(line.split("\t")[0]) >= frame:
            return lines
    raise TestFailure("tshark did not report frame %d in time" % frame)


def test_srt(tshark, args):
    tshark.require_plugin()
    checked = 0
    for scenario in scenarios(args.captures):
        pcap = tshark.stage(scenario.pcap)
        keylog = tshark.stage(scenario.keylog) if scenario.keylog else None
        base = capture_args(pcap, keylog)
        times = {}
        pairs = {"Request/Reply": [], "PING/PONG": []}
        out = tshark.run(base + ["-T", "fields", "-E", "occurrence=a", "-e", "frame.number",
                                 "-e", "frame.time_epoch", "-e", "zmq.response_to",
                                 "-e", "zmq.command.name"])
        for line in out.splitlines():
            num, epoch, response_to, commands = line.split("\t")
            times[int(num)] = float(epoch)
            if not response_to:
                continue
            for request in response_to.split(","):
                kind = "PING/PONG" if "PONG" in commands.split(",") else "Request/Reply"
                pairs[kind].append(times[int(num)] - times[int(request)])
        srt = parse_srt(tshark.run(base + ["-q", "-z", "zmq,srt"]))
        for kind, deltas in pairs.items():
            if not deltas:
                check(kind not in srt or srt[kind]["calls"] == 0,
                      "%s: SRT counts %s without pairs" % (scenario.name, kind))
                continue
            row = srt.get(kind)
            check(row is not None, "%s: SRT has no %s row:\n%s" % (scenario.name, kind, srt))
            check(row["calls"] == len(deltas), "%s %s: SRT %d calls, frames show %d pairs" %
                  (scenario.name, kind, row["calls"], len(deltas)))
            for stat, value in (("min", min(deltas)), ("max", max(deltas)),
                                ("avg", sum(deltas) / len(deltas))):
                check(abs(row[stat] - value) < 2e-6, "%s %s: SRT %s %.6f, frame times %.6f" %
                      (scenario.name, kind, stat, row[stat], value))
            checked += 1
            print("%-26s %-13s %4d pairs, min %.6f max %.6f s agree with frame times" %
                  (scenario.name, kind, len(deltas), min(deltas), max(deltas)))
    check(checked, "no capture had request/response or PING/PONG pairs")
    check_stats_tree(tshark, scenario_by_name(args.captures, "null-req-rep"))


def check_stats_tree(tshark, scenario):
    """-z zmq,tree counts the commands and messages the tree shows."""
    pcap = tshark.stage(scenario.pcap)
    out = tshark.run(["-r", pcap, "-T", "fields", "-E", "occurrence=a", "-e",
                      "zmq.command.name", "-e", "zmq.message.frames", "-Y", "zmq"])
    commands = messages = 0
    for line in out.splitlines():
        names, frames = line.split("\t")
        commands += len([n for n in names.split(",") if n])
        messages += len([m for m in frames.split(",") if m])
    tree = tshark.run(["-r", pcap, "-q", "-z", "zmq,tree"])
    rows = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^(Commands|Messages)\s+(\d+)", tree, re.M)}
    check(rows.get("Commands") == commands and rows.get("Messages") == messages,
          "stats tree %s, the tree shows %d commands and %d messages" %
          (rows, commands, messages))
    print("%-26s stats tree: %d commands, %d messages" % (scenario.name, commands, messages))


def parse_srt(text):
    """Rows of tshark's SRT table: name -> calls, min, max, avg (seconds)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s*\d+\s+(Request/Reply|PING/PONG)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+"
                     r"([\d.]+)\s+([\d.]+)", line)
        if m:
            rows[m.group(1)] = {"calls": int(m.group(2)), "min": float(m.group(3)),
                                "max": float(m.group(4)), "avg": float(m.group(5))}
    return rows


def keylog_entries(path):
    """(label, key) of each key line of a docs/keylog.md file."""
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#"):
                entries.append((parts[0], parts[1]))
    return entries


def test_keys_table(tshark, args):
    tshark.require_plugin()
    scenario = curve_scenario(args.captures)
    pcap = tshark.stage(scenario.pcap)
    by_file = decrypted_frames(pdml_units(tshark, capture_args(pcap, tshark.stage(
        scenario.keylog))))
    table = []
    for label, key in keylog_entries(scenario.keylog):
        table += ["-o", 'uat:zmq_curve_keys:"%s","%s"' % (label, key)]
    by_table = decrypted_frames(pdml_units(tshark, capture_args(pcap, extra=table)))
    check(by_file > 0 and by_table == by_file,
          "keys table decrypts %d frames, the key log file %d" % (by_table, by_file))
    print("%s: keys table and key log file both decrypt %d frames" % (scenario.name, by_file))

    # A malformed key log: warnings name the file and line, never the key; good lines load.
    label, key = keylog_entries(scenario.keylog)[-1]
    secret = key[:20]
    bad = tshark.writable("bad.keys", "".join([
        "NOT_A_LABEL %s\n" % key,
        "EPHEMERAL_SECRET %szz\n" % secret,
        "SERVER_SECRET\n",
    ]) + open(scenario.keylog).read())
    proc = tshark.run(capture_args(pcap, bad, extra=["-T", "fields", "-e", "frame.number"]),
                      check_rc=True)
    check(proc.strip(), "no output with a malformed key log")
    stderr = run_stderr(tshark, capture_args(pcap, bad))
    check("bad.keys" in stderr, "no warning about the malformed key log:\n%s" % stderr)
    check(secret not in stderr, "a warning printed key material")
    check(decrypted_frames(pdml_units(tshark, capture_args(pcap, bad))) == by_file,
          "the good lines of a partly malformed key log were not all used")
    print("malformed key log lines: warned by file and line, key never printed")


def run_stderr(tshark, args):
    proc = subprocess.run(tshark.command(list(args) + ["-T", "fields", "-e", "frame.number"]),
                          capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, "tshark failed: %s" % proc.stderr[-2000:])
    return proc.stderr


def test_payload(tshark, args):
    tshark.require_plugin()
    scenario = scenario_by_name(args.captures, "null-req-rep")
    pcap = tshark.stage(scenario.pcap)
    bodies = set()
    for conn in scenario.expected["connections"]:
        for direction in ("client_to_server", "server_to_client"):
            for message in conn[direction]["messages"]:
                for frame in message[1:]:
                    text = bytes.fromhex(frame)
                    if text and all(32 <= c < 127 for c in text):
                        bodies.add(text.decode())
    check(bodies, "no text bodies in %s" % scenario.name)
    port = str(scenario.port)
    for how, extra in (("Decode As", ["-d", "zmq.port==%s,data-text-lines" % port]),
                       ("body protocols table",
                        ["-o", 'uat:zmq_payload_protocols:"%s","data-text-lines"' % port])):
        lines = text_lines(tshark, capture_args(pcap, extra=extra))
        check(bodies <= lines, "%s: bodies not handed to data-text-lines: %s" %
              (how, sorted(bodies - lines)))
        print("%s: %d text bodies dissected as data-text-lines" % (how, len(bodies)))
    check(not text_lines(tshark, capture_args(pcap)),
          "bodies handed to data-text-lines without being asked")


def text_lines(tshark, args):
    """The lines data-text-lines shows, from PDML."""
    xml = tshark.run(list(args) + ["-T", "pdml", "-Y", "data-text-lines"])
    lines = set()
    for proto in ET.fromstring(xml).iter("proto"):
        if proto.get("name") == "data-text-lines":
            lines |= {f.get("show", "").replace("\\n", "") for f in proto.iter("field")}
    return lines


def mutate_pcapng(path, out_path, rng, rate):
    """Flips random bytes in the TCP payload area of each packet (after 66 bytes of headers)."""
    header, packets = pcapng_blocks(path)
    order = "<"
    mutated = []
    for block in packets:
        block = bytearray(block)
        captured = struct.unpack(order + "I", block[20:24])[0]
        data_start, skip = 28, 66
        for i in range(data_start + skip, data_start + captured):
            if rng.random() < rate:
                block[i] = rng.randrange(256)
        mutated.append(bytes(block))
    with open(out_path, "wb") as f:
        f.write(header + b"".join(mutated))


def test_fuzz(tshark, args):
    """Damaged captures: no crash and no dissector bug, only malformed-packet reports."""
    tshark.require_plugin()
    rng = random.Random(2069)
    runs = 0
    for scenario in scenarios(args.captures):
        if scenario.name not in ("null-req-rep", "curve-dealer-router", "pub-sub",
                                 "plain-accept", "ctrlx-like"):
            continue
        keylog = tshark.stage(scenario.keylog) if scenario.keylog else None
        for i in range(6):
            path = os.path.join(tshark.files, "%s-fuzz%d.pcapng" % (scenario.name, i))
            mutate_pcapng(scenario.pcap, path, rng, rate=[0.001, 0.005, 0.02][i % 3])
            os.chmod(path, 0o644)
            proc = subprocess.run(tshark.command(capture_args(path, keylog) + ["-V"]),
                                  capture_output=True, text=True, errors="replace",
                                  timeout=300)
            check(proc.returncode == 0, "%s: tshark exited %d: %s" %
                  (path, proc.returncode, proc.stderr[-1000:]))
            check("Dissector bug" not in proc.stdout and "Dissector bug" not in proc.stderr,
                  "%s: dissector bug:\n%s" % (path, [l for l in proc.stdout.splitlines()
                                                       if "Dissector bug" in l][:3]))
            runs += 1
    check(runs, "no capture to damage")
    print("%d damaged captures dissected without a crash or dissector bug" % runs)


def test_personal_folder(tshark, args):
    """The install-plugin target's script puts zmq.so where Wireshark finds it unaided."""
    home = os.path.join(tshark.root, "user-home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home)
    script = os.path.join(HERE, "..", "..", "dissector", "cmake", "install-personal.cmake")
    proc = subprocess.run([args.cmake, "-DPLUGIN=" + args.plugin, "-DABI=" + args.abi, "-P",
                           script], env=env, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "install-personal.cmake failed: %s" % proc.stderr)
    installed = os.path.join(home, ".local", "lib", "wireshark", "plugins", args.abi, "epan",
                             "zmq.so")
    check(os.path.exists(installed), "%s not created" % installed)
    for dirpath, _, filenames in os.walk(home):
        os.chmod(dirpath, 0o777)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    cmd = ["env", "HOME=" + home, "tshark", "-G", "plugins"]
    if tshark.as_root:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    check(installed in out, "tshark did not load %s:\n%s" % (installed, out))
    print("installed and loaded from %s" % installed)


# ---- recovery: captures that start late or lose bytes (docs/protocol.md 9) ---------------

HEARTBEAT_EXPERTS = {"zmq.expert.peer_silent", "zmq.expert.ping_unanswered",
                     "zmq.expert.heartbeat_late"}
DIRECTIONS = (("client->server", "client_to_server"), ("server->client", "server_to_client"))


def run_editcap(tshark, src, name, options, packets):
    """`editcap OPTIONS src out PACKETS` into the folder tshark reads; returns the new capture."""
    path = os.path.join(tshark.files, name)
    subprocess.run(["editcap"] + options + [src, path] + packets, check=True, timeout=60,
                   capture_output=True,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    os.chmod(path, 0o644)
    return path


def segments(tshark, pcap):
    """frame number -> (ports (sorted), source port, TCP payload length, TCP stream offset of
    the payload: relative sequence number - 1 after the SYN) of every TCP packet."""
    out = tshark.run(["-r", pcap, "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport",
                      "-e", "tcp.dstport", "-e", "tcp.len", "-e", "tcp.seq"], plugin=False)
    rows = {}
    for line in out.splitlines():
        frame, src, dst, length, seq = line.split("\t")
        rows[int(frame)] = (tuple(sorted((int(src), int(dst)))), int(src), int(length or 0),
                            int(seq) - 1)
    return rows


class CaptureView:
    """What the plugin shows of a capture, by connection (its two ports) and direction, with
    frame numbers (and those zmq.response_to names) given as in the original capture."""

    def __init__(self, tshark, pcap, keylog=None, kept=None, extra=()):
        self.units = pdml_units(tshark, capture_args(pcap, keylog, extra=extra))
        to_original = (lambda n: kept[n - 1]) if kept else (lambda n: n)
        out = tshark.run(["-r", pcap, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
                          "-e", "tcp.dstport"], plugin=False)
        ports_of = {}
        for line in out.splitlines():
            stream, a, b = line.split("\t")
            ports_of.setdefault(int(stream), tuple(sorted((int(a), int(b)))))
        for unit in self.units:
            unit.frame = to_original(unit.frame)
            unit.response_to = [to_original(int(n)) for n in unit.shows("zmq.response_to")]
        self.connections = {ports_of[v.stream]: v for v in connections(self.units)}
        self.pairs = {(u.frame, r) for u in self.units for r in u.response_to}
        self.experts = set().union(*(v.experts for v in self.connections.values())) \
            if self.connections else set()


def first_resync(units):
    """Index of the unit where decoding resumed (zmq.resync), or None."""
    return next((i for i, u in enumerate(units) if u.has("zmq.resync")), None)


def message_units(units):
    return [u for u in units if "MESSAGE" in u.shows("zmq.command.name")]


def check_edited(name, full, edited, wanted_by_ports, rows, kept, decrypting, curve=True,
                 from_resync=False):
    """An edited capture (only the original frames `kept`) against the full one: per
    connection and direction, a gap where segments are missing, undecoded bytes (never frames)
    up to the resync point, the gap or late-start expert infos, every expected message wholly
    after the resync point recovered (with keys) and nothing else, the TCP stream offsets of
    the full capture after a gap, CURVE boxes and lost frames counted (without keys), no
    request/reply pair or heartbeat warning the full capture does not have. `from_resync`:
    "wholly after" counts from the resync point, not from the missing bytes (the plaintext
    boundary search may pass over captured frames it cannot confirm, docs/protocol.md 9).
    Returns (messages recovered after gaps, expected messages wholly after them)."""
    kept_set = set(kept)
    recovered = expected_after = 0
    # Connections of which the edited capture keeps payload: the plugin shows each of them.
    kept_ports = {row[0] for f, row in rows.items() if f in kept_set and row[2] > 0}
    check(set(edited.connections) == set(full.connections) & kept_ports,
          "%s: connections %s, expected %s" %
          (name, sorted(edited.connections), sorted(set(full.connections) & kept_ports)))
    for ports, view in sorted(edited.connections.items()):
        whole = full.connections[ports]
        for direction, key in DIRECTIONS:
            where = "%s %s %s" % (name, "-".join(map(str, ports)), direction)
            seen, ref = view.dirs[direction], whole.dirs[direction]
            wanted = wanted_by_ports[ports][key]
            server = wanted_by_ports[ports]["server_port"]
            sent = [f for f, (p, src, n, _) in sorted(rows.items())
                    if p == ports and n > 0 and (src != server) == (direction == "client->server")]
            missing = [f for f in sent if f not in kept_set]
            # Late: the edited capture lacks the connection's first packet (its SYN).
            late = min(f for f, row in rows.items() if row[0] == ports) not in kept_set
            after = [f for f in sent if f in kept_set and missing and f > missing[-1]]
            if missing and not after:  # lost at the end: only what came before is shown
                if decrypting:
                    before = 0 if late else sum(1 for first, end in ref.message_offsets
                                                if end <= rows[missing[0]][3])
                    check(seen.messages == wanted[:before], "%s: messages differ (nothing after "
                          "the gap)" % where)
                continue
            if not missing:
                check(first_resync(seen.units) is None,
                      "%s: a resync, but the capture lacks no bytes of it" % where)
                if decrypting:
                    check(seen.messages == wanted, "%s: messages differ (no gap)" % where)
                continue
            gap_at = after[0]
            check(all(f not in kept_set for f in sent if missing[0] <= f <= missing[-1]),
                  "%s: the test expects one gap per direction" % where)
            at = first_resync(seen.units)
            check(at is not None, "%s: no resync after the gap before frame %d" % (where, gap_at))
            resync_frame = seen.units[at].frame
            after_gap = [u for u in seen.units[:at] if u.frame >= gap_at]
            for u in after_gap:
                check(not u.has("zmq.frame.index") and u.has("zmq.undecoded"),
                      "%s: frame %d, before the resync point, is not shown as undecoded bytes" %
                      (where, u.frame))
            experts = set().union(*(expert_names(u) for u in after_gap + [seen.units[at]]))
            check({"zmq.expert.mid_stream" if late else "zmq.expert.gap",
                   "zmq.expert.resync"} <= experts,
                  "%s: expert infos up to the resync point: %s" % (where, sorted(experts)))
            if not late:
                gap_bytes = sum(int(n) for u in after_gap + [seen.units[at]]
                                for n in u.shows("zmq.gap.bytes"))
                lost = sum(rows[f][2] for f in missing)
                check(gap_bytes >= lost, "%s: zmq.gap.bytes %d, the capture lacks %d" %
                      (where, gap_bytes, lost))
                # The same units at the same TCP stream offsets as in the full capture.
                resync_offset = int(seen.units[at].show("zmq.resync"))
                mine = {(u.frame, int(u.show("zmq.stream_offset"))) for u in seen.units[at:]}
                theirs = {(u.frame, int(u.show("zmq.stream_offset"))) for u in ref.units
                          if u.frame >= resync_frame and
                          int(u.show("zmq.stream_offset")) >= resync_offset}
                check(mine == theirs, "%s: units after the gap at other stream offsets than in "
                      "the full capture: %s" % (where, sorted(mine ^ theirs)[:4]))
                # CURVE: the nonce jump counts the frames lost, once a nonce came before.
                nonces = [u for u in ref.units if u.has("zmq.curve.nonce")]
                if curve and any(u.frame < missing[0] for u in nonces):
                    boxes = len([u for u in nonces if u.frame in missing])
                    shown = seen.units[at].shows("zmq.gap.frames_lost")
                    check(shown == [str(boxes)], "%s: zmq.gap.frames_lost %s, %d CURVE frames "
                          "lost" % (where, shown, boxes))
            if decrypting:
                # Wholly before or after the missing bytes, by TCP stream offsets (a unit TCP
                # reassembled is shown in its last segment's frame).
                lost_from, lost_to = rows[missing[0]][3], rows[gap_at][3]
                if from_resync:  # the edited capture's offsets start at its first byte if late
                    lost_to = int(seen.units[at].show("zmq.resync")) + (
                        rows[gap_at][3] if late else 0)
                before = 0 if late else sum(1 for first, end in ref.message_offsets
                                            if end <= lost_from)
                first_after = next((i for i, (first, end) in enumerate(ref.message_offsets)
                                    if first >= lost_to), len(wanted))
                check_recovered(where, seen, wanted, before, first_after)
                recovered += len(seen.messages) - before
                expected_after += len(wanted) - first_after
            else:
                check(not any(u.has("zmq.frame.index") or u.has("zmq.message.frames") or
                              any_true(u.shows("zmq.curve.decrypted")) for u in seen.units),
                      "%s: something decrypted without keys" % where)
                mine = len(message_units(seen.units[at:]))
                theirs = len([u for u in message_units(ref.units) if u.frame >= resync_frame])
                check(mine == theirs, "%s: %d CURVE boxes after the resync point, the full "
                      "capture has %d" % (where, mine, theirs))
    check(edited.pairs <= full.pairs, "%s: request/reply pairs the full capture does not have: "
          "%s" % (name, sorted(edited.pairs - full.pairs)[:5]))
    false_heartbeat = (edited.experts - full.experts) & HEARTBEAT_EXPERTS
    check(not false_heartbeat, "%s: heartbeat warnings caused by the gap: %s" %
          (name, sorted(false_heartbeat)))
    return recovered, expected_after


def check_one_pass_is_two(tshark, name, pcap, keylog, extra=()):
    one = verbose_zmq(tshark, pcap, keylog, False, list(extra))
    two = verbose_zmq(tshark, pcap, keylog, True, list(extra))
    if one != two:
        diff = next(i for i, (a, b) in enumerate(zip(one + [""], two + [""])) if a != b)
        raise TestFailure("%s: one-pass and two-pass trees differ at line %d:\n  %s\n  %s" %
                          (name, diff + 1, one[diff:diff + 1], two[diff:diff + 1]))


def session_keys_from(tshark, keylog, name):
    """A key log of SESSION_KEY lines for a capture without handshakes: the lines of `keylog`
    when it has them, else k = crypto_box_beforenm(public(b), a) for every pair of its
    EPHEMERAL_SECRET lines (docs/keylog.md; pairs of different connections open nothing).
    The result of libsodium's own functions is checked against docs/protocol.md 4.9."""
    entries = keylog_entries(keylog)
    lines = ["SESSION_KEY %s" % key for label, key in entries if label == "SESSION_KEY"]
    if not lines:
        sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        check(sodium.sodium_init() >= 0, "libsodium does not initialise")

        def beforenm(public, secret):
            k = ctypes.create_string_buffer(32)
            check(sodium.crypto_box_beforenm(k, public, secret) == 0, "beforenm failed")
            return k.raw

        def public_of(secret):
            p = ctypes.create_string_buffer(32)
            check(sodium.crypto_scalarmult_base(p, secret) == 0, "scalarmult failed")
            return p.raw

        vector = beforenm(bytes.fromhex("3340dd4004b7dd6d09fc037b20145ec2de3cbcc13e2cff742ab0ec"
                                        "597e1dc84e"),
                          bytes.fromhex("c226018bfe4c6a7fe68218ebc225c79e39e836e870ed36bab56bc9"
                                        "e8248afd78"))
        check(vector.hex() == "b7f74c0ade3a4957cb4042f5c114c1751d6ea3349488c021ed40ba26a9cec44d",
              "crypto_box_beforenm does not give protocol.md 4.9's k")
        secrets = [bytes.fromhex(key) for label, key in entries if label == "EPHEMERAL_SECRET"]
        for i, a in enumerate(secrets):
            for b in secrets[i + 1:]:
                lines.append("SESSION_KEY %s" % beforenm(public_of(b), a).hex())
    return tshark.writable(name, "\n".join(lines) + "\n")


def recovery_case(tshark, scenario, name, kept, edited_pcap, keylogs):
    """Runs check_edited for each key log in `keylogs` ((label, path or None, decrypting))."""
    full_pcap = tshark.stage(scenario.pcap)
    rows = segments(tshark, full_pcap)
    wanted = {}
    for conn in scenario.expected["connections"]:
        ports = next(row[0] for row in rows.values() if conn["server_port"] in row[0])
        wanted[ports] = conn
    full_keys = tshark.stage(scenario.keylog)
    full = {True: CaptureView(tshark, full_pcap, full_keys), False: CaptureView(tshark, full_pcap)}
    totals = []
    for label, keylog, decrypting in keylogs:
        edited = CaptureView(tshark, edited_pcap, keylog, kept)
        got = check_edited("%s (%s)" % (name, label), full[decrypting], edited,
                           {p: dict({k: c[k]["messages"] for _, k in DIRECTIONS},
                                    server_port=c["server_port"]) for p, c in wanted.items()},
                           rows, kept, decrypting)
        if decrypting:
            totals.append(got)
            print("%-34s %-22s %d of %d messages after the gaps recovered, 0 false" %
                  (name, label, got[0], got[1]))
        else:
            print("%-34s %-22s boxes counted, nothing decrypted, no false message" %
                  (name, label))
    return edited


def test_late_start(tshark, args):
    """ctrlx-like cut to start 0.2 s after its handshakes (editcap -r ... 40-148)."""
    tshark.require_plugin()
    scenario = scenario_by_name(args.captures, "ctrlx-like")
    full = tshark.stage(scenario.pcap)
    count = len(segments(tshark, full))
    kept = list(range(40, min(148, count) + 1))
    late = run_editcap(tshark, full, "ctrlx-late.pcapng", ["-r"], ["40-148"])
    keys = tshark.stage(scenario.keylog)
    session = session_keys_from(tshark, scenario.keylog, "ctrlx-session.keys")
    recovery_case(tshark, scenario, "ctrlx-like late", kept, late,
                  [("SESSION_KEY lines", session, True), ("no keys", None, False),
                   ("key log, no SESSION_KEY", keys if not any(
                       label == "SESSION_KEY" for label, _ in keylog_entries(scenario.keylog))
                    else None, False)])
    # Without a SESSION_KEY, each connection says that one would open it.
    for keylog in (None, keys):
        view = CaptureView(tshark, late, keylog, kept)
        for ports, conn in view.connections.items():
            check({"zmq.expert.session_key_missing", "zmq.expert.handshake_not_captured",
                   "zmq.expert.mechanism_inferred"} <= conn.experts,
                  "ctrlx-like late %s, no SESSION_KEY: expert infos %s" % (ports,
                                                                          sorted(conn.experts)))
    with_keys = CaptureView(tshark, late, session, kept)
    for ports, conn in with_keys.connections.items():
        check("zmq.expert.socket_types_inferred" in conn.experts,
              "ctrlx-like late %s: socket types not inferred" % (ports,))
        mechanisms = {u.show("zmq.mechanism") for d in conn.dirs.values() for u in d.units}
        check(mechanisms == {"CURVE"}, "ctrlx-like late %s: mechanisms %s" % (ports, mechanisms))
    check_one_pass_is_two(tshark, "ctrlx-like late", late, session)
    print("ctrlx-like late: one pass == two passes")


def test_lost_segment(tshark, args):
    """ctrlx-like with one 158-byte segment dropped (editcap ... 42)."""
    tshark.require_plugin()
    scenario = scenario_by_name(args.captures, "ctrlx-like")
    full = tshark.stage(scenario.pcap)
    rows = segments(tshark, full)
    check(rows[42][2] > 0, "ctrlx-like frame 42 carries no ZMTP bytes: the test needs new numbers")
    kept = [n for n in sorted(rows) if n != 42]
    drop = run_editcap(tshark, full, "ctrlx-drop.pcapng", [], ["42"])
    keys = tshark.stage(scenario.keylog)
    recovery_case(tshark, scenario, "ctrlx-like drop 42", kept, drop,
                  [("key log", keys, True), ("no keys", None, False)])
    check_one_pass_is_two(tshark, "ctrlx-like drop 42", drop, keys)
    print("ctrlx-like drop 42: one pass == two passes")
    # The server's greeting loses its last 53 bytes (frame 10): the client's next segment
    # acknowledges them, so the gap is known before its HELLO is decoded, and the client's
    # handshake and messages still decrypt (check_edited: its direction shows every message).
    check(rows[10][2] == 53 and rows[10][1] == 2070, "ctrlx-like frame 10 is not the server's "
          "53 greeting bytes: the test needs new numbers")
    kept = [n for n in sorted(rows) if n != 10]
    drop = run_editcap(tshark, full, "ctrlx-drop-greeting.pcapng", [], ["10"])
    recovery_case(tshark, scenario, "ctrlx-like drop 10", kept, drop, [("key log", keys, True)])
    check_one_pass_is_two(tshark, "ctrlx-like drop 10", drop, keys)
    print("ctrlx-like drop 10: one pass == two passes")


def zmtp_frame(body, more=False):
    if len(body) < 256:
        return bytes([1 if more else 0, len(body)]) + body
    return bytes([3 if more else 2]) + struct.pack(">Q", len(body)) + body


# A NULL DEALER/ROUTER conversation on port 2069 whose segments the recovery test drops,
# cuts or reorders: (name, from client, payload). BIG is one 3000-byte frame in three
# segments (the last one also holds "tail-1"); PART is a 3-frame message, a frame a segment.
BIG = zmtp_frame(b"B" * 3000)
PLAINTEXT_SEGMENTS = [
    ("greeting-c", True, zmtp_null_greeting(0)), ("greeting-s", False, zmtp_null_greeting(1)),
    ("ready-c", True, zmtp_ready(b"DEALER")), ("ready-s", False, zmtp_ready(b"ROUTER")),
    ("hello", True, zmtp_frame(b"hello")), ("world", False, zmtp_frame(b"world")),
    ("big-1", True, BIG[:1000]), ("big-2", True, BIG[1000:2000]),
    ("big-3", True, BIG[2000:] + zmtp_frame(b"tail-1")),
    ("after-1", True, zmtp_frame(b"after-1")), ("reply-1", False, zmtp_frame(b"reply-1")),
    ("after-2", True, zmtp_frame(b"after-2")),
    ("after-3", True, zmtp_frame(b"after-3") + zmtp_frame(b"after-4")),
    ("part-1", True, zmtp_frame(b"part-1", more=True)),
    ("part-2", True, zmtp_frame(b"part-2", more=True)), ("part-3", True, zmtp_frame(b"part-3")),
    ("reply-2", False, zmtp_frame(b"reply-2")), ("after-5", True, zmtp_frame(b"after-5")),
    ("reply-3", False, zmtp_frame(b"reply-3")), ("after-6", True, zmtp_frame(b"after-6")),
    ("reply-4", False, zmtp_frame(b"reply-4")),
]
PLAINTEXT_MESSAGES = {
    "client_to_server": [[b"hello"], [b"B" * 3000], [b"tail-1"]] +
    [[b"after-%d" % i] for i in (1, 2, 3, 4)] + [[b"part-1", b"part-2", b"part-3"]] +
    [[b"after-5"], [b"after-6"]],
    "server_to_client": [[b"world"]] + [[b"reply-%d" % i] for i in (1, 2, 3, 4)],
}


def plaintext_capture(tshark):
    """The conversation, and the frame number of each named segment (write_conversations: SYN,
    SYN-ACK, ACK, then each payload followed by its ACK)."""
    path = os.path.join(tshark.files, "null-recovery.pcapng")
    # 2069, not 5555: a capture that starts inside a conversation on a port ZMQ shares with
    # another dissector (SigComp on 5555) goes to that dissector (dissector/README.md).
    write_conversations(path, [(41020, 2069, [(c, p) for _, c, p in PLAINTEXT_SEGMENTS])])
    os.chmod(path, 0o644)
    frames = {name: 4 + 2 * i for i, (name, _, _) in enumerate(PLAINTEXT_SEGMENTS)}
    return path, frames


def edited_plaintext(tshark, full, name, kept):
    path = os.path.join(tshark.files, name + ".pcapng")
    select_packets(full, path, kept)
    os.chmod(path, 0o644)
    return path


def filtered_frames(tshark, pcap, display_filter, extra=()):
    out = tshark.run(["-r", pcap, "-2", "-Y", display_filter, "-T", "fields", "-e",
                      "frame.number"] + list(extra))
    return [int(n) for n in out.split()]


def test_lost_inside_unit(tshark, args):
    """NULL/PLAIN recovery against a conversation whose every message is known: a segment
    lost inside a frame TCP was reassembling, a segment lost inside a multipart message, a
    capture that starts inside a frame, a segment captured out of order."""
    tshark.require_plugin()
    full, at = plaintext_capture(tshark)
    rows = segments(tshark, full)
    frames = sorted(rows)
    hexed = {key: [[b.hex() for b in m] for m in messages]
             for key, messages in PLAINTEXT_MESSAGES.items()}
    ports = (2069, 41020)
    whole = CaptureView(tshark, full)
    for direction, key in DIRECTIONS:
        check(whole.connections[ports].dirs[direction].messages == hexed[key],
              "the full conversation shows other messages than it holds (%s)" % direction)
    check(filtered_frames(tshark, full, 'zmq.frame.body contains "tail-1"') == [at["big-3"]],
          "the full conversation: tail-1 is not found by zmq.frame.body")
    wanted = {ports: dict(hexed, server_port=2069)}
    totals = [0, 0]

    def case(name, kept, extra=(), from_resync=False):
        pcap = edited_plaintext(tshark, full, name, kept)
        view = CaptureView(tshark, pcap, kept=kept, extra=extra)
        got = check_edited(name, whole, view, wanted, rows, kept, True, curve=False,
                           from_resync=from_resync)
        totals[0] += got[0]
        totals[1] += got[1]
        check_one_pass_is_two(tshark, name, pcap, None, extra)
        print("%-28s %d of %d messages after the gap recovered, 0 false; one pass == two" %
              (name, got[0], got[1]))
        return pcap, view

    # A segment lost inside the 3000-byte frame: TCP keeps the next segment in the pending
    # reassembly and hands over only what follows the frame's declared end. Nothing is glued.
    pcap, view = case("lost inside a frame", [n for n in frames if n != at["big-2"]])
    check(not filtered_frames(tshark, pcap, 'zmq.frame.body contains "BBBBBBBB"'),
          "bytes of the frame that lost a segment shown as zmq.frame.body")
    check(not filtered_frames(tshark, pcap, "zmq.frame.length == 3000"),
          "the frame that lost a segment is shown")
    texts = [u.fields["zmq.expert.gap"][0] for u in view.units if u.has("zmq.expert.gap")]
    check(len(texts) == 1, "lost inside a frame: %d gap expert infos" % len(texts))
    gap_text = next(name for name in ET.fromstring(tshark.run(
        ["-r", pcap, "-Y", "zmq.expert.gap", "-T", "pdml"])).iter("field")
        if name.get("name") == "zmq.expert.gap").get("showname")
    check("could not reassemble" in gap_text, "the gap expert info does not say that the unit "
          "could not be reassembled: %s" % gap_text)

    # A segment lost inside a 3-frame message: its first frame is "end lost", its last
    # "start lost", neither counted.
    pcap, view = case("lost inside a message", [n for n in frames if n != at["part-2"]])
    partial = view.connections[ports].dirs["client->server"].partial
    check(partial == [("end lost", [b"part-1".hex()]), ("start lost", [b"part-3".hex()])],
          "lost inside a message: shown incomplete %s" % partial)

    # The capture starts inside the big frame: its bytes and tail-1 (one frame after them,
    # too little to be sure of) are undecoded bytes of their own field, never frames; the
    # mechanism is "NULL or PLAIN", the socket types inferred.
    start = at["big-2"] - 1  # the server's ACK before it
    pcap, view = case("starts inside a frame", [n for n in frames if n >= start],
                      from_resync=True)
    check(not filtered_frames(tshark, pcap, 'zmq.frame.body contains "tail-1"'),
          "starts inside a frame: tail-1 (not decoded) matches zmq.frame.body")
    check(filtered_frames(tshark, pcap, 'zmq.undecoded contains "tail-1"') == [at["big-3"] -
                                                                              start + 1],
          "starts inside a frame: tail-1 is not in zmq.undecoded")
    reasons = [u.show("zmq.undecoded.reason") for u in view.units if u.has("zmq.undecoded")]
    check(reasons[:2] == ["capture started inside the connection",
                          "searching for a frame boundary"],
          "starts inside a frame: undecoded because %s" % reasons)
    conn = view.connections[ports]
    mechanisms = {u.show("zmq.mechanism") for d in conn.dirs.values() for u in d.units
                  if not u.has("zmq.undecoded")}
    check(mechanisms == {"NULL or PLAIN (handshake not captured)"},
          "starts inside a frame: mechanism %s" % mechanisms)
    types = [conn.dirs["client->server"].socket_type, conn.dirs["server->client"].socket_type]
    check(types == ["DEALER", "ROUTER"] and "zmq.expert.socket_types_inferred" in conn.experts,
          "starts inside a frame: socket types %s (%s)" % (types, sorted(conn.experts)))

    # A segment captured late (out of order, with the ACK that follows it). TCP as configured
    # by default hands ZMQ nothing of it: a gap, whose expert infos name the preference that
    # avoids it; with that preference, no gap at all. When TCP hands the late bytes over
    # (without its reassembly) they are shown as late, never decoded twice.
    late = [n for n in frames if n not in (at["after-1"], at["after-1"] + 1)]
    moved_to = late.index(at["after-2"]) + 1
    late[moved_to:moved_to] = [at["after-1"], at["after-1"] + 1]
    pcap = edited_plaintext(tshark, full, "late segment", late)
    view = CaptureView(tshark, pcap, kept=late)
    gapped = [u for u in view.units if u.has("zmq.expert.gap")]
    check(len(gapped) == 1 and gapped[0].frame == at["after-2"] and
          "zmq.expert.gap_out_of_order" in expert_names(gapped[0]),
          "late segment: the gap and its hint are not on after-2's frame: %s" %
          [(u.frame, sorted(expert_names(u))) for u in gapped])
    check_one_pass_is_two(tshark, "late segment", pcap, None)
    reordered = CaptureView(tshark, pcap, kept=late, extra=["-o",
                                                            "tcp.reassemble_out_of_order:TRUE"])
    check(not reordered.experts & {"zmq.expert.gap", "zmq.expert.resync"},
          "late segment with out-of-order reassembly: %s" % sorted(reordered.experts))
    for direction, key in DIRECTIONS:
        check(reordered.connections[ports].dirs[direction].messages == hexed[key],
              "late segment with out-of-order reassembly: messages differ (%s)" % direction)
    unassembled = CaptureView(tshark, pcap, kept=late,
                              extra=["-o", "tcp.desegment_tcp_streams:FALSE",
                                     # 4.6's TCP hands no segment it marks a retransmission
                                     # to a subdissector while this is TRUE (the default).
                                     "-o", "tcp.no_subdissector_on_error:FALSE"])
    late_units = [u for u in unassembled.units if u.frame == at["after-1"]]
    check(late_units and all("zmq.expert.late_segment" in expert_names(u) and
                             not u.has("zmq.frame.index") for u in late_units),
          "late segment handed to ZMQ: not shown as late bytes: %s" %
          [sorted(expert_names(u)) for u in late_units])
    print("late segment: a gap whose expert infos name tcp.reassemble_out_of_order; none with "
          "that preference; late bytes handed over are shown as late")
    print("%d of %d messages after gaps recovered, 0 false" % tuple(totals))


TESTS = {"loads": test_loads, "captures": test_captures, "fields": test_fields,
         "heuristic": test_heuristic,
         "shared-ports": test_shared_ports, "two-pass": test_two_pass,
         "keylog-reload": test_keylog_reload, "srt": test_srt, "keys-table": test_keys_table,
         "payload": test_payload, "decrypted-bytes": test_decrypted_bytes, "fuzz": test_fuzz,
         "personal-folder": test_personal_folder, "late-start": test_late_start,
         "lost-segment": test_lost_segment, "lost-inside-unit": test_lost_inside_unit}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--abi", required=True)
    parser.add_argument("--captures", required=True)
    parser.add_argument("--cmake", default="cmake", help="for the personal-folder test")
    parser.add_argument("--update", action="store_true", help="rewrite the regression files")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("test", choices=sorted(TESTS))
    args = parser.parse_args()
    try:
        with Tshark(args.plugin, args.abi, keep=args.keep) as tshark:
            TESTS[args.test](tshark, args)
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
