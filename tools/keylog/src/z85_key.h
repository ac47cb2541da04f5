/* Z85 (ZeroMQ RFC 32) for the one size the logger needs: 40 characters <-> a 32-byte key. */
#ifndef ZMTP_KEYLOG_Z85_KEY_H
#define ZMTP_KEYLOG_Z85_KEY_H

#include <stdbool.h>

#define Z85_KEY_LENGTH 40

/* False (and `key` unspecified) on a character outside the alphabet or a group above 2^32-1. */
bool z85_decode_key(const char text[Z85_KEY_LENGTH], unsigned char key[32]);

#endif
