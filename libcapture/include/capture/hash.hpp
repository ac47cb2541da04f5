// A cheap, well-spread 64-bit hash step for flow tables and stable sampling.
#pragma once

#include <cstdint>

namespace capture {

inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace capture
