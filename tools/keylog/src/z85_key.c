#include "z85_key.h"

#include <stdint.h>
#include <string.h>

static const char z85_alphabet[85] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int z85_digit(char c) {
    if (c == '\0') return -1;
    const char* found = memchr(z85_alphabet, c, sizeof z85_alphabet);
    return found ? (int)(found - z85_alphabet) : -1;
}

bool z85_decode_key(const char text[Z85_KEY_LENGTH], unsigned char key[32]) {
    for (int group = 0; group < Z85_KEY_LENGTH / 5; ++group) {
        uint64_t value = 0;
        for (int i = 0; i < 5; ++i) {
            int digit = z85_digit(text[group * 5 + i]);
            if (digit < 0) return false;
            value = value * 85 + (uint64_t)digit;
        }
        if (value > UINT32_MAX) return false;
        for (int i = 0; i < 4; ++i) key[group * 4 + i] = (unsigned char)(value >> (24 - 8 * i));
    }
    return true;
}
