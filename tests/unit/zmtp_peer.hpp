// Test-side ZMTP 3.1 writer: greetings, frames and a CurveZMQ handshake built with libsodium
// exactly as libzmq lays them out (docs/protocol.md 1-4), so sessions can be tested with
// known keys and plaintexts.
#pragma once

#include <sodium.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "zmtp/bytes.hpp"
#include "zmtp/curve.hpp"

namespace zmtp::test {

using Buf = std::vector<uint8_t>;

inline void append(Buf& b, std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
}
inline void append(Buf& b, Bytes s) {
    b.insert(b.end(), s.begin(), s.end());
}
inline void append_be64(Buf& b, uint64_t v) {
    for (int i = 7; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
}
inline void append_be32(Buf& b, uint32_t v) {
    for (int i = 3; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
}

inline Buf greeting(std::string_view mechanism, uint8_t minor = 1) {
    Buf g{0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, minor};
    g.resize(64, 0);
    std::memcpy(g.data() + 12, mechanism.data(), mechanism.size());
    return g;
}

// A ZMTP 3.x frame: flags (MORE/COMMAND given, LONG added when needed) + size + body.
inline Buf frame(uint8_t flags, Bytes body) {
    Buf f;
    if (body.size() > 255) {
        f.push_back(flags | 0x02);
        append_be64(f, body.size());
    } else {
        f.push_back(flags);
        f.push_back(uint8_t(body.size()));
    }
    append(f, body);
    return f;
}
inline Buf frame(uint8_t flags, std::string_view body) {
    return frame(flags, as_bytes(body));
}

inline Buf command(std::string_view name, Bytes data) {
    Buf body{uint8_t(name.size())};
    append(body, name);
    append(body, data);
    return frame(0x04, body);
}

inline Buf metadata(std::initializer_list<std::pair<std::string_view, std::string_view>> props) {
    Buf m;
    for (auto& [name, value] : props) {
        m.push_back(uint8_t(name.size()));
        append(m, name);
        append_be32(m, uint32_t(value.size()));
        append(m, value);
    }
    return m;
}

struct KeyPair {
    Key pub{}, sec{};
    static KeyPair make() {
        KeyPair k;
        crypto_box_keypair(k.pub.data(), k.sec.data());
        return k;
    }
    static KeyPair from_secret(const Key& secret) {
        KeyPair k;
        k.sec = secret;
        crypto_scalarmult_base(k.pub.data(), secret.data());
        return k;
    }
};

// All keys of one CURVE connection: long-term S/s, C/c and transient S'/s', C'/c'.
struct CurveKeys {
    KeyPair server = KeyPair::make(), client = KeyPair::make();
    KeyPair server_eph = KeyPair::make(), client_eph = KeyPair::make();
};

inline Buf box(Bytes plain, const curve::Nonce& n, const Key& to_pub, const Key& from_sec) {
    Buf out(plain.size() + crypto_box_MACBYTES);
    if (crypto_box_easy(out.data(), plain.data(), plain.size(), n.data(), to_pub.data(),
                        from_sec.data()) != 0) {
        out.clear();  // a low-order public key: the session then fails to open it
    }
    return out;
}

inline Buf be64(uint64_t v) {
    Buf b;
    append_be64(b, v);
    return b;
}

inline Buf curve_hello(const CurveKeys& k, const Key& server_public, uint64_t nonce = 1) {
    Buf d{1, 0};
    d.resize(2 + 72, 0);
    append(d, k.client_eph.pub);
    append(d, be64(nonce));
    Buf zeros(64, 0);
    append(d, box(zeros, curve::hello_nonce(nonce), server_public, k.client_eph.sec));
    return command("HELLO", d);
}

inline Buf curve_welcome(const CurveKeys& k) {
    Buf long_nonce(16, 0x5A);
    Buf plain;
    append(plain, k.server_eph.pub);
    plain.resize(128, 0xC0);  // the cookie: opaque to everyone but the server
    Buf d = long_nonce;
    append(d, box(plain, curve::welcome_nonce(long_nonce), k.client_eph.pub, k.server.sec));
    return command("WELCOME", d);
}

inline Buf curve_initiate(const CurveKeys& k, Bytes meta, uint64_t nonce = 2) {
    Buf vouch_nonce(16, 0x33);
    Buf vouch_plain;
    append(vouch_plain, k.client_eph.pub);
    append(vouch_plain, k.server.pub);
    Buf plain;
    append(plain, k.client.pub);
    append(plain, vouch_nonce);
    append(plain,
           box(vouch_plain, curve::vouch_nonce(vouch_nonce), k.server_eph.pub, k.client.sec));
    append(plain, meta);
    Buf d(96, 0xC0);  // the cookie, echoed
    append(d, be64(nonce));
    append(d, box(plain, curve::initiate_nonce(nonce), k.server_eph.pub, k.client_eph.sec));
    return command("INITIATE", d);
}

inline Buf curve_ready(const CurveKeys& k, Bytes meta, uint64_t nonce = 1) {
    Buf d = be64(nonce);
    append(d, box(meta, curve::ready_nonce(nonce), k.client_eph.pub, k.server_eph.sec));
    return command("READY", d);
}

// One MESSAGE carrying one frame (inner flags: 0x01 MORE, 0x02 COMMAND). libzmq puts it in
// a message frame (outer flags 0, or LONG).
inline Buf curve_message(const CurveKeys& k, bool from_client, uint64_t nonce, uint8_t flags,
                         Bytes payload) {
    Buf plain{flags};
    append(plain, payload);
    Buf body;
    append(body, std::string_view("\x07MESSAGE", 8));
    append(body, be64(nonce));
    const auto n = curve::message_nonce(from_client, nonce);
    append(body, from_client ? box(plain, n, k.server_eph.pub, k.client_eph.sec)
                             : box(plain, n, k.client_eph.pub, k.server_eph.sec));
    return frame(0x00, body);
}
inline Buf curve_message(const CurveKeys& k, bool from_client, uint64_t nonce, uint8_t flags,
                         std::string_view payload) {
    return curve_message(k, from_client, nonce, flags, as_bytes(payload));
}

}  // namespace zmtp::test
