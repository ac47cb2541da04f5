/* Stands in for a bundled libsodium/libzmq (a pyzmq wheel's libzmq-<hash>.so): a library with
 * another soname, loaded with RTLD_LOCAL, so the key logger finds it only by scanning. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

int crypto_box_keypair(unsigned char* pk, unsigned char* sk) {
    for (int i = 0; i < 32; ++i) {
        sk[i] = (unsigned char)(0xa0 + i);
        pk[i] = (unsigned char)(0x50 + i);
    }
    return 0;
}

/* k = c0 c1 ... df; an all-zero public key fails with errno EDOM and k = ee ee ... (which
 * must then not be logged). */
int crypto_box_beforenm(unsigned char* k, const unsigned char* pk, const unsigned char* sk) {
    (void)sk;
    int zero = 1;
    for (int i = 0; i < 32; ++i) zero &= pk[i] == 0;
    for (int i = 0; i < 32; ++i) k[i] = zero ? 0xee : (unsigned char)(0xc0 + i);
    if (zero) {
        errno = EDOM;
        return -1;
    }
    return 0;
}

int zmq_setsockopt(void* socket, int option, const void* value, size_t size) {
    (void)option;
    if (!socket || !value || size != 40) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int zmq_close(void* socket) {
    return socket ? 0 : -1;
}
