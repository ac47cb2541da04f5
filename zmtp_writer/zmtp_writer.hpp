// ZMTP 3.1 and CurveZMQ units as libzmq 4.3.4 writes them (docs/protocol.md 1.1, 2.1-2.6,
// 4.1-4.8), appended to a buffer or returned as one. The unit tests (tests/unit) and zmtp-synth
// (bench/synth) both build their inputs with it.
//
// It is written from the byte layouts in docs/, independently of libzmtp's parser, on purpose:
// the tests and benchmarks must not check libzmtp against itself. Only the CURVE nonces come
// from libzmtp (zmtp/curve.hpp); the real libzmq captures check those.
//
// Every random part (cookie, long nonces) is a parameter: zmtp-synth draws them from its seeded
// generator, the tests pass fixed bytes.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "zmtp/bytes.hpp"
#include "zmtp/curve.hpp"

namespace zmtp::writer {

using Buf = std::vector<uint8_t>;

inline constexpr size_t mac_size = 16;
inline constexpr size_t cookie_size = 96;  // 16-byte nonce + box of C' and s' (4.3)
inline constexpr uint8_t flag_more = 0x01;
inline constexpr uint8_t flag_long = 0x02;
inline constexpr uint8_t flag_command = 0x04;
inline constexpr uint8_t inner_more = 0x01;
inline constexpr uint8_t inner_command = 0x02;

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
Buf frame(uint8_t flags, Bytes body);
Buf command(std::string_view name, Bytes data);

// The 64-byte greeting (1.2).
Buf greeting(std::string_view mechanism, uint8_t minor = 1);
// libzmq writes its greeting in three pieces: the 10-byte signature, the major version, then
// the remaining 53 bytes (1.2).
std::array<Buf, 3> greeting_pieces(std::string_view mechanism);

Buf metadata(std::initializer_list<std::pair<std::string_view, std::string_view>> properties);

// PING with a TTL (deciseconds) and no context, PONG with an empty context: libzmq's forms.
Buf ping_body(uint16_t ttl_deciseconds);
Buf pong_body();

struct KeyPair {
    Key pub{}, sec{};
    static KeyPair random();
    static KeyPair from_secret(const Key& secret);
    // A real X25519 key pair from a 32-byte seed derived from (seed, index, role), so that a
    // seed reproduces the same capture.
    static KeyPair seeded(uint64_t seed, uint64_t index, uint8_t role);
};

// The keys of one CURVE connection: long-term S/s, C/c and transient S'/s', C'/c'.
struct CurveKeys {
    KeyPair server, client, server_eph, client_eph;
};

// crypto_box_easy: MAC + ciphertext, exactly the bytes libzmq puts on the wire (4.8), appended
// to `out`. Appends nothing if libsodium refuses a key (a low-order public key), so that a
// reader then fails to open the box.
void put_box(Buf& out, Bytes plain, const curve::Nonce& nonce, const Key& to_public,
             const Key& from_secret);

// The handshake commands, each in its command frame.
Buf curve_hello(const KeyPair& client_eph, const Key& server_public, uint64_t counter = 1);
// The cookie only the server opens: a 16-byte nonce and a secretbox of C' and s' under the
// server's own key (4.3). libzmtp never opens it.
Buf curve_cookie(const CurveKeys& k, Bytes cookie_key, Bytes cookie_nonce16);
Buf curve_welcome(const CurveKeys& k, Bytes cookie, Bytes long_nonce16);
Buf curve_initiate(const CurveKeys& k, Bytes cookie, Bytes meta, Bytes vouch_nonce16,
                   uint64_t counter = 2);
Buf curve_ready(const CurveKeys& k, Bytes meta, uint64_t counter = 1);

// One MESSAGE carrying one frame (inner flags: inner_more, inner_command) in a message frame,
// boxed from the sender's transient secret key to the peer's transient public key.
Buf curve_message(const CurveKeys& k, bool from_client, uint64_t counter, uint8_t inner_flags,
                  Bytes payload);
// The same bytes with the precomputed session key (beforenm(S', c')), appended to `out`.
// Returns the offset of the box in `out`; `scratch` holds the plaintext meanwhile.
size_t put_curve_message(Buf& out, Buf& scratch, const Key& session_key, bool from_client,
                         uint64_t counter, uint8_t inner_flags, Bytes payload);

}  // namespace zmtp::writer
