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
