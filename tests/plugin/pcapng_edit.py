"""Small pcapng tools for the plugin tests: move a capture to another TCP port, write TCP
conversations with a chosen payload (traffic of other protocols on ZMQ's ports), and keep,
drop or reorder packets (segments lost by a capture, or captured out of order).

Only what the captures in captures/ use: little-endian pcapng, Ethernet link type, IPv4.
"""

import struct

SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
ETHERTYPE_IPV4 = 0x0800
PROTO_TCP = 6


def blocks(data):
    """(type, block bytes) of each pcapng block."""
    if data[:4] != b"\x0a\x0d\x0d\x0a" or data[8:12] != b"\x4d\x3c\x2b\x1a":
        raise ValueError("not a little-endian pcapng file")
    pos = 0
    while pos + 12 <= len(data):
        block_type, length = struct.unpack("<II", data[pos:pos + 8])
        if length < 12 or pos + length > len(data):
            raise ValueError("truncated pcapng block at offset %d" % pos)
        yield block_type, data[pos:pos + length]
        pos += length


def checksum(data):
    """The Internet checksum (RFC 1071) of `data`; tests/hostile/pcap_tools.py uses it too."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_checksum(ip_header, segment):
    pseudo = ip_header[12:20] + struct.pack("!BBH", 0, PROTO_TCP, len(segment))
    zeroed = segment[:16] + b"\0\0" + segment[18:]
    return checksum(pseudo + zeroed)


def rewrite_port(packet, old, new):
    """An Ethernet/IPv4/TCP packet with TCP port `old` replaced by `new` on either side (TCP
    checksum recomputed); other packets unchanged."""
    if len(packet) < 14 + 20 or struct.unpack("!H", packet[12:14])[0] != ETHERTYPE_IPV4:
        return packet
    ihl = (packet[14] & 0x0F) * 4
    if packet[14 + 9] != PROTO_TCP or len(packet) < 14 + ihl + 20:
        return packet
    total = struct.unpack("!H", packet[16:18])[0]
    ip = packet[14:14 + ihl]
    tcp = bytearray(packet[14 + ihl:14 + total])
    src, dst = struct.unpack("!HH", tcp[:4])
    tcp[0:4] = struct.pack("!HH", new if src == old else src, new if dst == old else dst)
    tcp[16:18] = struct.pack("!H", tcp_checksum(ip, bytes(tcp)))
    return packet[:14 + ihl] + bytes(tcp) + packet[14 + total:]


def move_capture(src_path, dst_path, old_port, new_port):
    """Copies a capture with every use of TCP port `old_port` moved to `new_port`."""
    with open(src_path, "rb") as f:
        data = f.read()
    out = []
    for block_type, block in blocks(data):
        if block_type == EPB:
            captured = struct.unpack("<I", block[20:24])[0]
            packet = rewrite_port(block[28:28 + captured], old_port, new_port)
            if len(packet) != captured:
                raise ValueError("port rewrite changed a packet's length")
            block = block[:28] + packet + block[28 + captured:]
        out.append(block)
    with open(dst_path, "wb") as f:
        f.write(b"".join(out))


def select_packets(src_path, dst_path, frames):
    """Copies a capture with only the packets `frames` (1-based frame numbers), in that order:
    packets left out are lost, packets moved later arrive out of order."""
    with open(src_path, "rb") as f:
        data = f.read()
    header, packets = [], []
    for block_type, block in blocks(data):
        if block_type == EPB:
            packets.append(block)
        elif not packets:
            header.append(block)
    if any(n < 1 or n > len(packets) for n in frames):
        raise ValueError("frame numbers outside 1..%d" % len(packets))
    with open(dst_path, "wb") as f:
        f.write(b"".join(header) + b"".join(packets[n - 1] for n in frames))


# ---- writing conversations ------------------------------------------------------------------

def block(block_type, body):
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def header_blocks():
    shb = block(SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(IDB, struct.pack("<HHI", 1, 0, 65535))  # Ethernet, microsecond timestamps
    return shb + idb


def ethernet_ipv4_tcp(src, dst, sport, dport, seq, ack, flags, payload, ident):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident, 0x4000, 64, PROTO_TCP, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    tcp = tcp[:16] + struct.pack("!H", tcp_checksum(ip, tcp)) + tcp[18:]
    return b"\0" * 12 + struct.pack("!H", ETHERTYPE_IPV4) + ip + tcp


def write_conversations(path, conversations, start_us=1_700_000_000_000_000):
    """Writes TCP conversations on loopback, one after the other. Each conversation is
    (client_port, server_port, [(from_client, payload), ...]): handshake, the payloads in
    order (each acknowledged), FIN both ways."""
    SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08
    packets = []
    now = start_us
    ident = 1
    for client_port, server_port, exchanges in conversations:
        seq = {True: 1000, False: 5000}
        ends = {True: ([127, 0, 0, 1], client_port), False: ([127, 0, 0, 1], server_port)}

        def send(from_client, flags, payload=b""):
            nonlocal now, ident
            (src, sport), (dst, dport) = ends[from_client], ends[not from_client]
            packets.append((now, ethernet_ipv4_tcp(src, dst, sport, dport, seq[from_client],
                                                   seq[not from_client] if flags & ACK else 0,
                                                   flags, payload, ident)))
            seq[from_client] += len(payload) + (1 if flags & (SYN | FIN) else 0)
            now += 100
            ident += 1

        send(True, SYN)
        send(False, SYN | ACK)
        send(True, ACK)
        for from_client, payload in exchanges:
            send(from_client, PSH | ACK, payload)
            send(not from_client, ACK)
        send(True, FIN | ACK)
        send(False, FIN | ACK)
        send(True, ACK)
    out = [header_blocks()]
    for ts, packet in packets:
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(packet), len(packet))
        out.append(block(EPB, body + packet))
    with open(path, "wb") as f:
        f.write(b"".join(out))
