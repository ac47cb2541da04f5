"""Classic pcap files in and out, and Ethernet/IPv4/TCP packets, for the hostile-input tests.

Only what the tests need: microsecond pcap, link type Ethernet, no IP options.
"""
import os
import struct
import sys
import tempfile

# The Internet checksum comes from the plugin tests' pcapng tools (tests/plugin/).
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "plugin"))
from pcapng_edit import checksum  # noqa: E402

LINKTYPE_ETHERNET = 1
PCAP_MAGIC = 0xA1B2C3D4

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def pcap_header(snaplen=262144, linktype=LINKTYPE_ETHERNET):
    return struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(time_us, data, wire_size=None):
    return struct.pack("<IIII", time_us // 1_000_000, time_us % 1_000_000, len(data),
                       len(data) if wire_size is None else wire_size) + data


def read_pcap(path):
    """[(time_us, data, wire_size)] of a classic little-endian microsecond pcap."""
    with open(path, "rb") as f:
        blob = f.read()
    magic, = struct.unpack_from("<I", blob, 0)
    if magic != PCAP_MAGIC:
        raise ValueError("%s: not a little-endian microsecond pcap" % path)
    packets, pos = [], 24
    while pos + 16 <= len(blob):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", blob, pos)
        packets.append((sec * 1_000_000 + usec, blob[pos + 16:pos + 16 + caplen], wire))
        pos += 16 + caplen
    return packets


def write_pcap(path, packets, snaplen=262144):
    with open(path, "wb") as f:
        f.write(pcap_header(snaplen))
        for time_us, data, wire in packets:
            f.write(pcap_record(time_us, data, wire))


def tcp_packet(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """An Ethernet frame with IPv4 and TCP (correct checksums). src/dst: 4-byte addresses."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                      flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    ether = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return ether + ip + tcp + payload


def tcp_payload_offset(frame):
    """Offset of the TCP payload in an Ethernet/IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0F) * 4
    tcp = 14 + ihl
    if len(frame) < tcp + 20 or frame[23] != 6:
        return None
    return tcp + (frame[tcp + 12] >> 4) * 4


def tcp_ports(frame):
    off = 14 + (frame[14] & 0x0F) * 4
    return struct.unpack_from("!HH", frame, off)


def tcp_flags(frame):
    return frame[14 + (frame[14] & 0x0F) * 4 + 13]


class Conversation:
    """Writes one TCP connection packet by packet (sequence numbers kept)."""

    def __init__(self, client, server, cport, sport, time_us=1_700_000_000_000_000):
        self.client, self.server, self.cport, self.sport = client, server, cport, sport
        self.seq = {True: 1000, False: 5000}  # True: client -> server
        self.time = time_us
        self.packets = []

    def _send(self, from_client, flags, payload=b""):
        self.time += 100
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        frame = tcp_packet(src, dst, sp, dp, self.seq[from_client], self.seq[not from_client],
                           flags, payload)
        self.seq[from_client] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        self.packets.append((self.time, frame, len(frame)))

    def open(self):
        self._send(True, SYN)
        self._send(False, SYN | ACK)
        self._send(True, ACK)

    def data(self, from_client, payload):
        self._send(from_client, PSH | ACK, payload)

    def close(self):
        self._send(True, FIN | ACK)
        self._send(False, FIN | ACK)
        self._send(True, ACK)


# ZMTP 3.1 NULL greeting (docs/protocol.md 1.1) and a READY with a Socket-Type.
def zmtp_greeting(as_server=False):
    return (b"\xff" + b"\0" * 8 + b"\x7f\x03\x01" + b"NULL" + b"\0" * 16 +
            (b"\x01" if as_server else b"\x00") + b"\0" * 31)


def zmtp_ready(socket_type):
    name = b"Socket-Type"
    body = b"\x05READY" + bytes([len(name)]) + name + struct.pack("!I", len(socket_type)) + \
        socket_type
    return bytes([0x04, len(body)]) + body


def without_preload():
    """The environment for Wireshark's own tools (editcap): a preloaded ASan runtime, there for
    a sanitized plugin in tshark, makes them deadlock at exit."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def empty_folder():
    """An empty folder that tshark, also as "nobody", can read (its extcap folder)."""
    path = tempfile.mkdtemp(prefix="zmq-no-extcap-")
    os.chmod(path, 0o755)
    return path
