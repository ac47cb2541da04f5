/* libzmtp-keylog.so: logs CURVE keys of libsodium / libzmq programs to $ZMTP_KEYLOG_FILE
 * (format: docs/keylog.md). Each function calls the real one and returns its result unchanged. */
#include <errno.h>
#include <sodium/crypto_box.h>
#include <zmq.h>

#include "keylog_file.h"
#include "real_symbols.h"
#include "socket_keys.h"

#define EXPORTED __attribute__((visibility("default")))

typedef int (*keypair_function)(unsigned char*, unsigned char*);
typedef int (*beforenm_function)(unsigned char*, const unsigned char*, const unsigned char*);
typedef int (*setsockopt_function)(void*, int, const void*, size_t);
typedef int (*endpoint_function)(void*, const char*);
typedef int (*close_function)(void*);

static struct real_symbol real_crypto_box_keypair =
    REAL_SYMBOL("crypto_box_keypair", "libsodium.so.23");
static struct real_symbol real_crypto_box_beforenm =
    REAL_SYMBOL("crypto_box_beforenm", "libsodium.so.23");
static struct real_symbol real_zmq_setsockopt = REAL_SYMBOL("zmq_setsockopt", "libzmq.so.5");
static struct real_symbol real_zmq_bind = REAL_SYMBOL("zmq_bind", "libzmq.so.5");
static struct real_symbol real_zmq_connect = REAL_SYMBOL("zmq_connect", "libzmq.so.5");
static struct real_symbol real_zmq_close = REAL_SYMBOL("zmq_close", "libzmq.so.5");

/* libzmq makes each connection's short-term keypair with crypto_box_keypair (and so does
 * zmq_curve_keypair for long-term keys): every secret it returns is logged. */
EXPORTED int crypto_box_keypair(unsigned char* pk, unsigned char* sk) {
    int saved_errno = errno;  // finding the real function may call dlopen
    keylog_register_fork_handlers();
    keypair_function real =
        (keypair_function)real_symbol_address(&real_crypto_box_keypair, (void*)crypto_box_keypair);
    if (!real) return -1;
    errno = saved_errno;
    int result = real(pk, sk);
    if (result == 0 && keylog_enabled()) keylog_write_key("EPHEMERAL_SECRET", sk);
    return result;
}

/* Each connection's precomputed key k (docs/keylog.md, SESSION_KEY), which opens INITIATE, READY
 * and every MESSAGE of it even when a capture starts after the handshake. libzmq 4.3.4 calls
 * crypto_box_beforenm in two places only, once per connection and side: the client in
 * curve_client_tools_t::process_welcome, beforenm(S', c') right after opening WELCOME (before it
 * sends INITIATE), and the server in curve_server_t::process_initiate, beforenm(C', s') once the
 * INITIATE box and the vouch have opened (before the ZAP request, so a client that ZAP then
 * refuses still has its k logged). Both give the same k: with both ends under the logger, each
 * connection's k appears twice. Its handshake boxes use crypto_box/crypto_box_open, which in
 * libsodium go to crypto_box_curve25519xsalsa20poly1305_beforenm and never come here, and its
 * MESSAGE boxes reuse k (*_afternm). libsodium's own crypto_box_easy, crypto_box_open_easy,
 * crypto_box_detached and crypto_box_seal(_open) do call crypto_box_beforenm through the PLT, so
 * a program that uses those directly gets a SESSION_KEY line per call as well. */
EXPORTED int crypto_box_beforenm(unsigned char* k, const unsigned char* pk,
                                 const unsigned char* sk) {
    int saved_errno = errno;
    keylog_register_fork_handlers();
    beforenm_function real = (beforenm_function)real_symbol_address(&real_crypto_box_beforenm,
                                                                    (void*)crypto_box_beforenm);
    if (!real) return -1;
    errno = saved_errno;
    int result = real(k, pk, sk);
    if (result == 0 && keylog_enabled()) keylog_write_key("SESSION_KEY", k);
    return result;
}

EXPORTED int zmq_setsockopt(void* socket, int option, const void* value, size_t size) {
    keylog_register_fork_handlers();
    setsockopt_function real =
        (setsockopt_function)real_symbol_address(&real_zmq_setsockopt, (void*)zmq_setsockopt);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    int result = real(socket, option, value, size);
    if (result == 0) {
        int saved_errno = errno;
        socket_keys_on_option(socket, option, value, size);
        errno = saved_errno;
    }
    return result;
}

static int call_endpoint_function(struct real_symbol* symbol, void* self, void* socket,
                                  const char* endpoint) {
    keylog_register_fork_handlers();
    endpoint_function real = (endpoint_function)real_symbol_address(symbol, self);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    socket_keys_on_endpoint(socket);
    return real(socket, endpoint);
}

EXPORTED int zmq_bind(void* socket, const char* endpoint) {
    return call_endpoint_function(&real_zmq_bind, (void*)zmq_bind, socket, endpoint);
}

EXPORTED int zmq_connect(void* socket, const char* endpoint) {
    return call_endpoint_function(&real_zmq_connect, (void*)zmq_connect, socket, endpoint);
}

EXPORTED int zmq_close(void* socket) {
    keylog_register_fork_handlers();
    close_function real = (close_function)real_symbol_address(&real_zmq_close, (void*)zmq_close);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    socket_keys_on_close(socket);
    return real(socket);
}
