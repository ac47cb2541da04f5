"""A pyzmq CURVE DEALER/ROUTER exchange on 127.0.0.1:PORT: COUNT requests, each answered."""
import sys
import zmq

from curve_pair import curve_dealer_router

port, count = int(sys.argv[1]), int(sys.argv[2])
ctx = zmq.Context()
server, client = curve_dealer_router(ctx, port)
client.connect(f"tcp://127.0.0.1:{port}")
for i in range(count):
    client.send_multipart([b"request", str(i).encode()])
    identity, *parts = server.recv_multipart()
    server.send_multipart([identity, b"reply"] + parts[1:])
    client.recv_multipart()
client.close(linger=1000)
server.close(linger=1000)
ctx.term()
