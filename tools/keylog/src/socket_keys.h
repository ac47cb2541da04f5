/* The CURVE keys a program gives a ZeroMQ socket, labelled by the socket's role. */
#ifndef ZMTP_KEYLOG_SOCKET_KEYS_H
#define ZMTP_KEYLOG_SOCKET_KEYS_H

#include <stddef.h>

/* After a successful zmq_setsockopt: logs ZMQ_CURVE_SERVERKEY at once, and ZMQ_CURVE_PUBLICKEY /
 * ZMQ_CURVE_SECRETKEY as soon as the socket's role (ZMQ_CURVE_SERVER) is known. */
void socket_keys_on_option(void* socket, int option, const void* value, size_t size);

/* Before zmq_bind / zmq_connect: libzmq uses the options as they are now, so keys still waiting
 * for a role are logged with the role libzmq will use (client unless ZMQ_CURVE_SERVER=1). */
void socket_keys_on_endpoint(void* socket);

/* Before zmq_close: logs what is still waiting and forgets the socket. */
void socket_keys_on_close(void* socket);

void socket_keys_lock(void);
void socket_keys_unlock(void);

#endif
