/* Calls the private provider the way pyzmq's extension module calls its bundled libzmq. */
#include <errno.h>
#include <stddef.h>

int crypto_box_keypair(unsigned char* pk, unsigned char* sk);
int crypto_box_beforenm(unsigned char* k, const unsigned char* pk, const unsigned char* sk);
int zmq_setsockopt(void* socket, int option, const void* value, size_t size);
int zmq_close(void* socket);

/* 0 when every call returned what the provider returns. */
int keylog_private_calls(void) {
    unsigned char pk[32], sk[32];
    int failures = crypto_box_keypair(pk, sk) != 0 || sk[0] != 0xa0 || pk[0] != 0x50;
    /* The result and errno pass through unchanged: a success leaves errno alone, a failure
     * keeps the provider's errno. */
    unsigned char k[32];
    errno = ENOTTY;
    failures += crypto_box_beforenm(k, pk, sk) != 0 || k[0] != 0xc0 || errno != ENOTTY;
    const unsigned char zero_pk[32] = {0};
    errno = 0;
    failures += crypto_box_beforenm(k, zero_pk, sk) != -1 || k[0] != 0xee || errno != EDOM;
    static int socket;
    const char server_key[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    failures += zmq_setsockopt(&socket, 50 /* ZMQ_CURVE_SERVERKEY */, server_key, 40) != 0;
    failures += zmq_setsockopt(&socket, 50, server_key, 39) != -1;
    failures += zmq_close(&socket) != 0;
    return failures;
}
