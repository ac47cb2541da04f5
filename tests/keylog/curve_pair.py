"""A pyzmq CURVE ROUTER bound on 127.0.0.1:PORT and a DEALER connected to it, with fresh keys."""
import zmq


def curve_dealer_router(ctx, port):
    """Returns (router, dealer); the DEALER is connected, the handshake not yet done."""
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
    return server, client
