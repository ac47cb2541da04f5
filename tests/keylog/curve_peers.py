#!/usr/bin/env python3
"""A CURVE REQ/REP exchange with pyzmq (Debian's python3-zmq) on loopback, for the key logger.

Run under LD_PRELOAD=libzmtp-keylog.so with ZMTP_KEYLOG_FILE set. pyzmq loads libzmq and
libsodium privately (RTLD_LOCAL), which is the case this test exists for. Writes to DIR:
expect.keylog (the long-term keys given to libzmq, hex, labelled by role), conn-N.c2s (the
client-to-server bytes of each connection, recorded by a relay) and conn-N.s2c (the
server-to-client bytes of the same connection).

    curve_peers.py --dir DIR [--clients N]
"""
import argparse
import os
import select
import socket
import sys
import threading

import zmq
from zmq.utils import z85


class RecordingRelay:
    """Forwards each TCP connection to target_port and records what each side sent."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.recorded = []
        self.replies = []
        self.stopping = threading.Event()
        self.pumps = []
        self.acceptor = threading.Thread(target=self._accept_loop)
        self.acceptor.start()

    def _accept_loop(self):
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            record, reply = bytearray(), bytearray()
            self.recorded.append(record)
            self.replies.append(reply)
            pump = threading.Thread(target=self._pump, args=(client, server, record, reply))
            self.pumps.append(pump)
            pump.start()

    def _pump(self, client, server, record, reply):
        idle_after_stop = 0
        with client, server:
            while True:
                readable, _, _ = select.select([client, server], [], [], 0.1)
                if not readable:
                    idle_after_stop += self.stopping.is_set()
                    if idle_after_stop > 20:
                        return
                    continue
                for side in readable:
                    data = side.recv(65536)
                    if not data:
                        return
                    (record if side is client else reply).extend(data)
                    (server if side is client else client).sendall(data)

    def stop(self):
        self.stopping.set()
        self.acceptor.join()
        self.listener.close()
        for pump in self.pumps:
            pump.join()


def make_server(context, public, secret, expected):
    server = context.socket(zmq.REP)
    server.curve_secretkey = secret
    server.curve_publickey = public
    server.curve_server = True  # the role after the keys, as pyzmq's examples do
    server.linger = 0
    server.rcvtimeo = server.sndtimeo = 10000
    expected += [("SERVER_SECRET", z85.decode(secret)), ("SERVER_PUBLIC", z85.decode(public))]
    return server


def make_client(context, index, server_public, expected):
    public, secret = zmq.curve_keypair()
    client = context.socket(zmq.REQ)
    if index % 2 == 0:
        client.curve_serverkey = server_public
        client.curve_publickey = public
        client.curve_secretkey = secret
    else:  # binary keys, the server key last
        client.setsockopt(zmq.CURVE_PUBLICKEY, z85.decode(public))
        client.setsockopt(zmq.CURVE_SECRETKEY, z85.decode(secret))
        client.setsockopt(zmq.CURVE_SERVERKEY, z85.decode(server_public))
    client.linger = 0
    client.rcvtimeo = client.sndtimeo = 10000
    expected += [("CLIENT_SECRET", z85.decode(secret)), ("CLIENT_PUBLIC", z85.decode(public))]
    return client


def exchange(server, clients):
    for index, client in enumerate(clients):
        request = b"request %d" % index
        client.send(request)
        if server.recv() != request:
            raise RuntimeError("server got the wrong request")
        server.send(b"reply %d" % index)
        if client.recv() != b"reply %d" % index:
            raise RuntimeError("client got the wrong reply")


def run(directory, client_count):
    expected = []
    context = zmq.Context()
    server_public, server_secret = zmq.curve_keypair()
    server = make_server(context, server_public, server_secret, expected)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    relay = RecordingRelay(port)
    clients = []
    for index in range(client_count):
        clients.append(make_client(context, index, server_public, expected))
        clients[-1].connect("tcp://127.0.0.1:%d" % relay.port)
    exchange(server, clients)
    for sock in clients + [server]:
        sock.close()
    context.term()
    relay.stop()

    for index, (record, reply) in enumerate(zip(relay.recorded, relay.replies)):
        with open(os.path.join(directory, "conn-%d.c2s" % index), "wb") as capture:
            capture.write(record)
        with open(os.path.join(directory, "conn-%d.s2c" % index), "wb") as capture:
            capture.write(reply)
    with open(os.path.join(directory, "expect.keylog"), "w") as keys:
        keys.writelines("%s %s\n" % (label, key.hex()) for label, key in expected)
    print("%d pyzmq CURVE clients exchanged messages, %d connections captured"
          % (client_count, len(relay.recorded)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    try:
        run(args.dir, args.clients)
    except (RuntimeError, zmq.ZMQError) as error:
        print("curve_peers.py: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
