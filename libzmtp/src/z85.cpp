// Z85 (ZeroMQ RFC 32) and hex encodings of keys, and Curve25519 public keys of secrets.
#include "zmtp/z85.hpp"

#include <sodium.h>

#include <array>
#include <limits>
#include <stdexcept>

namespace zmtp {
namespace {

constexpr std::string_view z85_alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
static_assert(z85_alphabet.size() == 85);

constexpr uint8_t not_a_digit = 0xFF;

constexpr std::array<uint8_t, 256> make_z85_digits() {
    std::array<uint8_t, 256> digits{};
    digits.fill(not_a_digit);
    for (size_t i = 0; i < z85_alphabet.size(); ++i) {
        digits[uint8_t(z85_alphabet[i])] = uint8_t(i);
    }
    return digits;
}
constexpr std::array<uint8_t, 256> z85_digits = make_z85_digits();

constexpr std::string_view hex_digits = "0123456789abcdef";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes into `out`, which holds text.size() / 5 * 4 bytes. Same checks as zmq_z85_decode.
bool z85_decode_into(std::string_view text, uint8_t* out) {
    if (text.size() < 5 || text.size() % 5 != 0) return false;
    constexpr uint32_t max_u32 = std::numeric_limits<uint32_t>::max();
    for (size_t group = 0; group < text.size(); group += 5) {
        uint32_t value = 0;
        for (size_t i = 0; i < 5; ++i) {
            const uint8_t digit = z85_digits[uint8_t(text[group + i])];
            if (digit == not_a_digit) return false;
            if (value > max_u32 / 85) return false;
            value *= 85;
            if (max_u32 - value < digit) return false;
            value += digit;
        }
        *out++ = uint8_t(value >> 24);
        *out++ = uint8_t(value >> 16);
        *out++ = uint8_t(value >> 8);
        *out++ = uint8_t(value);
    }
    return true;
}

// Decodes into `out`, which holds text.size() / 2 bytes.
bool hex_decode_into(std::string_view text, uint8_t* out) {
    if (text.size() % 2 != 0) return false;
    for (size_t i = 0; i < text.size(); i += 2) {
        const int high = hex_value(text[i]);
        const int low = hex_value(text[i + 1]);
        if (high < 0 || low < 0) return false;
        *out++ = uint8_t(high << 4 | low);
    }
    return true;
}

void ensure_sodium_ready() {
    // A function-local static: initialised exactly once, even with concurrent first calls.
    static const bool ready = sodium_init() >= 0;
    if (!ready) throw std::runtime_error("libsodium could not be initialised");
}

}  // namespace

std::optional<std::vector<uint8_t>> z85_decode(std::string_view text) {
    std::vector<uint8_t> bytes(text.size() / 5 * 4);
    if (!z85_decode_into(text, bytes.data())) return std::nullopt;
    return bytes;
}

std::optional<std::string> z85_encode(Bytes data) {
    if (data.size() % 4 != 0) return std::nullopt;
    std::string text;
    text.reserve(data.size() / 4 * 5);
    for (size_t offset = 0; offset < data.size(); offset += 4) {
        uint32_t value = read_be32(data.data() + offset);
        char group[5];
        for (int i = 4; i >= 0; --i) {
            group[i] = z85_alphabet[value % 85];
            value /= 85;
        }
        text.append(group, sizeof group);
    }
    return text;
}

std::string to_hex(Bytes data) {
    std::string text;
    text.reserve(data.size() * 2);
    for (const uint8_t byte : data) {
        text += hex_digits[byte >> 4];
        text += hex_digits[byte & 0x0F];
    }
    return text;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view text) {
    std::vector<uint8_t> bytes(text.size() / 2);
    if (!hex_decode_into(text, bytes.data())) return std::nullopt;
    return bytes;
}

std::optional<Key> parse_key(std::string_view text) {
    Key key{};
    const bool ok = (text.size() == 40 && z85_decode_into(text, key.data())) ||
                    (text.size() == 64 && hex_decode_into(text, key.data()));
    if (!ok) return std::nullopt;
    return key;
}

std::string public_key_id(const Key& public_key) {
    return to_hex(Bytes(public_key).first(8)) + "...";
}

Key public_key_of(const Key& secret_key) {
    ensure_sodium_ready();
    Key public_key{};
    if (crypto_scalarmult_base(public_key.data(), secret_key.data()) != 0) {
        throw std::runtime_error("crypto_scalarmult_base failed");
    }
    return public_key;
}

}  // namespace zmtp
