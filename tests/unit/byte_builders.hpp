// Test-side byte builders shared by the unit tests: hex text to bytes, and appending strings,
// buffers and big-endian integers to a buffer.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace zmtp::test {

using Buf = std::vector<uint8_t>;

// "05 52 45" or "055245": hex digits, spaces and newlines ignored.
inline Buf hex(std::string_view text) {
    Buf out;
    int high = -1;
    for (char c : text) {
        if (c == ' ' || c == '\n') continue;
        const int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(uint8_t(high << 4 | v));
            high = -1;
        }
    }
    return out;
}

inline void put(Buf& b, std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
}
inline void put(Buf& b, const Buf& s) {
    b.insert(b.end(), s.begin(), s.end());
}
inline void put_be32(Buf& b, uint32_t v) {
    for (int i = 3; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
}
inline void put_be64(Buf& b, uint64_t v) {
    for (int i = 7; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
}

}  // namespace zmtp::test
