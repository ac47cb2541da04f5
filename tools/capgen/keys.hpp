// Long-term CURVE keys of the scenarios, and the key log lines for them.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace capgen {

using CurveKey = std::array<unsigned char, 32>;

struct KeyPair {
    CurveKey public_key;
    CurveKey secret_key;
};

// A fixed key pair derived from `name` (BLAKE2b of a capgen-specific label), so that
// re-generating a capture changes only its per-connection (ephemeral) keys. These are test
// keys: anyone can derive them.
KeyPair derive_key_pair(std::string_view name);

// "SERVER_SECRET <64 hex digits>\n" (docs/keylog.md).
std::string keylog_line(std::string_view label, const CurveKey& key);

// Appends to a key log file with a single write per call.
void append_to_keylog(const std::string& path, std::string_view lines);

}  // namespace capgen
