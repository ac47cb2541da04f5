// Z85 (ZeroMQ RFC 32) and hex encodings of keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zmtp/bytes.hpp"

namespace zmtp {

// Z85 text -> bytes. Rejects lengths that are not a multiple of 5, characters outside the
// alphabet and 5-character groups that overflow 32 bits (as libzmq's zmq_z85_decode does).
[[nodiscard]] std::optional<std::vector<uint8_t>> z85_decode(std::string_view text);

// Bytes -> Z85 text. The size must be a multiple of 4; otherwise returns nullopt.
[[nodiscard]] std::optional<std::string> z85_encode(Bytes data);

std::string to_hex(Bytes data);
// Hex text (either case, even length, no separators) -> bytes.
[[nodiscard]] std::optional<std::vector<uint8_t>> from_hex(std::string_view text);

// A 32-byte key written as 40 Z85 characters or 64 hex digits.
[[nodiscard]] std::optional<Key> parse_key(std::string_view text);

// A short, printable name for a PUBLIC key ("a16357296f88..."), for messages and trees.
// Never call it with a secret key.
std::string public_key_id(const Key& public_key);

// crypto_scalarmult_base: the public key of a Curve25519 secret.
Key public_key_of(const Key& secret_key);

}  // namespace zmtp
