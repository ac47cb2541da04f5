// CurveZMQ boxes with libsodium (docs/protocol.md 4.8): nonces and opening.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "zmtp/bytes.hpp"

namespace zmtp::curve {

inline constexpr size_t mac_size = 16;
// MESSAGE frame bodies of libzmq's PING (empty context) and PONG: 33 + 7 and 33 + 5 bytes
// (docs/protocol.md 9). Data frames of 7 and 5 bytes have the same sizes: evidence, not proof.
inline constexpr uint64_t ping_message_body_size = 40;
inline constexpr uint64_t pong_message_body_size = 38;
using Nonce = std::array<uint8_t, 24>;

// The precomputed key of a box pair: crypto_box_beforenm(public, secret). One per
// connection (or per trial); never recompute it per message. It wipes itself
// (sodium_memzero) when destroyed, so a session that lets go of it leaves no key behind.
struct SharedKey {
    std::array<uint8_t, 32> bytes{};

    SharedKey() = default;
    SharedKey(const SharedKey&) = default;
    SharedKey& operator=(const SharedKey&) = default;
    ~SharedKey();
};
[[nodiscard]] SharedKey precompute(const Key& their_public, const Key& my_secret);

Nonce hello_nonce(uint64_t short_nonce);
Nonce initiate_nonce(uint64_t short_nonce);
Nonce ready_nonce(uint64_t short_nonce);
Nonce message_nonce(bool from_mechanism_client, uint64_t short_nonce);
Nonce welcome_nonce(Bytes long_nonce16);
Nonce vouch_nonce(Bytes long_nonce16);

// Opens `box` (MAC + ciphertext, as on the wire) into `plaintext`, which must hold
// box.size() - mac_size bytes. False when the box is shorter than the MAC or does not open.
[[nodiscard]] bool open(const SharedKey& key, const Nonce& nonce, Bytes box, uint8_t* plaintext);

}  // namespace zmtp::curve
