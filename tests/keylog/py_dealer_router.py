"""A pyzmq CURVE DEALER/ROUTER exchange on 127.0.0.1:PORT: COUNT requests, each answered."""
import sys
import zmq

port, count = int(sys.argv[1]), int(sys.argv[2])
ctx = zmq.Context()
server_public, server_secret = zmq.curve_keypair()
client_public, client_secret = zmq.curve_keypair()
server = ctx.socket(zmq.ROUTER)
server.curve_server = True
server.curve_secretkey = server_secret
server.curve_publickey = server_public
server.bind(f"tcp://127.0.0.1:{port}")
client = ctx.socket(zmq.DEALER)
client.curve_serverkey = server_public
client.curve_publickey = client_public
client.curve_secretkey = client_secret
client.connect(f"tcp://127.0.0.1:{port}")
for i in range(count):
    client.send_multipart([b"request", str(i).encode()])
    identity, *parts = server.recv_multipart()
    server.send_multipart([identity, b"reply"] + parts[1:])
    client.recv_multipart()
client.close(linger=1000)
server.close(linger=1000)
ctx.term()
