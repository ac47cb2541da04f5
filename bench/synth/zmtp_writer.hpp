// ZMTP 3.1 units as libzmq 4.3.4 writes them (docs/protocol.md 1.1, 2.1-2.6, 4.1-4.8), appended
// to a buffer. Written from the byte layouts, independently of libzmtp's parser, so the
// benchmarks do not check libzmtp against itself; only the CURVE nonces come from libzmtp
// (zmtp/curve.hpp), which the real captures check.
#pragma once

#include <array>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "synth/synth.hpp"

namespace zmtp::synth {

using Nonce = std::array<uint8_t, 24>;

struct KeyPair {
    Key pub{}, sec{};
};
// A real X25519 key pair from a 32-byte seed (crypto_box_seed_keypair), so that a seed
// reproduces the same capture.
KeyPair seeded_keypair(uint64_t seed, uint64_t index, uint8_t role);

inline void put(Buf& out, Bytes bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}
inline void put(Buf& out, std::string_view text) {
    out.insert(out.end(), text.begin(), text.end());
}
void put_be32(Buf& out, uint32_t value);
void put_be64(Buf& out, uint64_t value);

// A frame header: LONG is added when the body is larger than 255 bytes, as libzmq does.
void put_frame_header(Buf& out, uint8_t flags, uint64_t body_size);
void put_frame(Buf& out, uint8_t flags, Bytes body);
void put_command(Buf& out, std::string_view name, Bytes data);

// libzmq writes its 64-byte greeting in three pieces: the 10-byte signature, the major
// version, then the remaining 53 bytes (docs/protocol.md 1.2).
std::array<Buf, 3> greeting_pieces(std::string_view mechanism);

Buf metadata(std::initializer_list<std::pair<std::string_view, std::string_view>> properties);

// PING with a TTL (deciseconds) and no context, PONG with an empty context: libzmq's forms.
Buf ping_body(uint16_t ttl_deciseconds);
Buf pong_body();

// The keys of one CURVE connection and what both peers precompute from them.
struct CurveConnectionKeys {
    KeyPair server;      // S, s (long-term, shared by all connections of a server)
    KeyPair client;      // C, c (long-term)
    KeyPair client_eph;  // C', c'
    KeyPair server_eph;  // S', s'
    Key session_key{};   // beforenm(S', c') = beforenm(C', s')
};

// The CURVE handshake commands with their real boxes; `rng` supplies the random long nonces
// and the cookie key.
Buf curve_hello(const CurveConnectionKeys& k);
// WELCOME also gives the cookie (96 bytes) that INITIATE echoes.
Buf curve_welcome(const CurveConnectionKeys& k, Rng& rng, Buf& cookie);
Buf curve_initiate(const CurveConnectionKeys& k, Bytes cookie, Bytes meta, Rng& rng);
Buf curve_ready(const CurveConnectionKeys& k, Bytes meta);

// One MESSAGE (flags + payload in a box) in a message frame, appended to `out`. Returns the
// offset of the box in `out`; `scratch` holds the plaintext meanwhile.
size_t put_curve_message(Buf& out, Buf& scratch, const Key& session_key, bool from_client,
                         uint64_t counter, uint8_t inner_flags, Bytes payload);

inline constexpr size_t mac_size = 16;
inline constexpr uint8_t flag_more = 0x01;
inline constexpr uint8_t flag_long = 0x02;
inline constexpr uint8_t flag_command = 0x04;
inline constexpr uint8_t inner_more = 0x01;
inline constexpr uint8_t inner_command = 0x02;

}  // namespace zmtp::synth
