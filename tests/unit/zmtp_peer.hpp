// The unit tests' CURVE peer: zmtp_writer's units (the independent writer, see
// zmtp_writer/zmtp_writer.hpp) with random keys per connection and fixed bytes where libzmq
// draws random ones, so sessions can be tested with known keys and plaintexts.
#pragma once

#include <string_view>

#include "zmtp_writer.hpp"

namespace zmtp::test {

using Buf = writer::Buf;
using writer::command;
using writer::greeting;
using writer::KeyPair;
using writer::metadata;

inline void append(Buf& b, std::string_view s) {
    writer::put(b, s);
}
inline void append(Buf& b, Bytes s) {
    writer::put(b, s);
}

inline Buf frame(uint8_t flags, Bytes body) {
    return writer::frame(flags, body);
}
inline Buf frame(uint8_t flags, std::string_view body) {
    return writer::frame(flags, as_bytes(body));
}

// All keys of one CURVE connection, fresh for each test.
struct CurveKeys : writer::CurveKeys {
    CurveKeys()
        : writer::CurveKeys{KeyPair::random(), KeyPair::random(), KeyPair::random(),
                            KeyPair::random()} {}
};

// Opaque to everyone but the server, and echoed by INITIATE: filler bytes do.
inline const Buf fixed_cookie(writer::cookie_size, 0xC0);
inline const Buf fixed_welcome_nonce(16, 0x5A);
inline const Buf fixed_vouch_nonce(16, 0x33);

inline Buf curve_hello(const CurveKeys& k, const Key& server_public, uint64_t nonce = 1) {
    return writer::curve_hello(k.client_eph, server_public, nonce);
}
inline Buf curve_welcome(const CurveKeys& k) {
    return writer::curve_welcome(k, fixed_cookie, fixed_welcome_nonce);
}
inline Buf curve_initiate(const CurveKeys& k, Bytes meta, uint64_t nonce = 2) {
    return writer::curve_initiate(k, fixed_cookie, meta, fixed_vouch_nonce, nonce);
}
inline Buf curve_ready(const CurveKeys& k, Bytes meta, uint64_t nonce = 1) {
    return writer::curve_ready(k, meta, nonce);
}
inline Buf curve_message(const CurveKeys& k, bool from_client, uint64_t nonce, uint8_t flags,
                         Bytes payload) {
    return writer::curve_message(k, from_client, nonce, flags, payload);
}
inline Buf curve_message(const CurveKeys& k, bool from_client, uint64_t nonce, uint8_t flags,
                         std::string_view payload) {
    return writer::curve_message(k, from_client, nonce, flags, as_bytes(payload));
}

}  // namespace zmtp::test
