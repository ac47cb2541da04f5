// Byte views, keys and big-endian helpers shared by every part of libzmtp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace zmtp {

using Bytes = std::span<const uint8_t>;
using Key = std::array<uint8_t, 32>;

inline uint16_t read_be16(const uint8_t* p) {
    return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t read_be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t read_be64(const uint8_t* p) {
    return uint64_t(read_be32(p)) << 32 | read_be32(p + 4);
}

inline Bytes as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_text(Bytes b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace zmtp
