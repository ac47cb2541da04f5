#include "synth/zmtp_writer.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "zmtp/curve.hpp"

namespace zmtp::synth {

namespace {

Nonce long_nonce(std::string_view prefix8, Bytes wire16) {
    Nonce n{};
    std::memcpy(n.data(), prefix8.data(), 8);
    std::memcpy(n.data() + 8, wire16.data(), 16);
    return n;
}

Buf random_bytes(Rng& rng, size_t count) {
    Buf b(count);
    for (auto& byte : b) byte = uint8_t(rng());
    return b;
}

// crypto_box_easy: MAC + ciphertext, exactly the bytes libzmq puts on the wire (4.8).
void put_box(Buf& out, Bytes plain, const Nonce& n, const Key& to_public, const Key& from_secret) {
    const size_t at = out.size();
    out.resize(at + plain.size() + mac_size);
    if (crypto_box_easy(out.data() + at, plain.data(), plain.size(), n.data(), to_public.data(),
                        from_secret.data()) != 0) {
        throw std::runtime_error("crypto_box_easy refused a key");
    }
}

}  // namespace

KeyPair seeded_keypair(uint64_t seed, uint64_t index, uint8_t role) {
    uint8_t material[17];
    for (int i = 0; i < 8; ++i) {
        material[i] = uint8_t(seed >> (8 * i));
        material[8 + i] = uint8_t(index >> (8 * i));
    }
    material[16] = role;
    uint8_t key_seed[crypto_box_SEEDBYTES];
    crypto_generichash(key_seed, sizeof key_seed, material, sizeof material, nullptr, 0);
    KeyPair k;
    crypto_box_seed_keypair(k.pub.data(), k.sec.data(), key_seed);
    sodium_memzero(key_seed, sizeof key_seed);
    return k;
}

void put_be32(Buf& out, uint32_t value) {
    for (int i = 3; i >= 0; --i) out.push_back(uint8_t(value >> (8 * i)));
}

void put_be64(Buf& out, uint64_t value) {
    for (int i = 7; i >= 0; --i) out.push_back(uint8_t(value >> (8 * i)));
}

void put_frame_header(Buf& out, uint8_t flags, uint64_t body_size) {
    if (body_size > 255) {
        out.push_back(flags | flag_long);
        put_be64(out, body_size);
    } else {
        out.push_back(flags);
        out.push_back(uint8_t(body_size));
    }
}

void put_frame(Buf& out, uint8_t flags, Bytes body) {
    put_frame_header(out, flags, body.size());
    put(out, body);
}

void put_command(Buf& out, std::string_view name, Bytes data) {
    put_frame_header(out, flag_command, 1 + name.size() + data.size());
    out.push_back(uint8_t(name.size()));
    put(out, name);
    put(out, data);
}

std::array<Buf, 3> greeting_pieces(std::string_view mechanism) {
    Buf whole{0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1};
    put(whole, mechanism);
    whole.resize(64, 0);
    return {Buf(whole.begin(), whole.begin() + 10), Buf(whole.begin() + 10, whole.begin() + 11),
            Buf(whole.begin() + 11, whole.end())};
}

Buf metadata(std::initializer_list<std::pair<std::string_view, std::string_view>> properties) {
    Buf m;
    for (const auto& [name, value] : properties) {
        m.push_back(uint8_t(name.size()));
        put(m, name);
        put_be32(m, uint32_t(value.size()));
        put(m, value);
    }
    return m;
}

Buf ping_body(uint16_t ttl_deciseconds) {
    Buf b;
    put(b, std::string_view("\x04PING", 5));
    b.push_back(uint8_t(ttl_deciseconds >> 8));
    b.push_back(uint8_t(ttl_deciseconds));
    return b;
}

Buf pong_body() {
    Buf b;
    put(b, std::string_view("\x04PONG", 5));
    return b;
}

// The cookie's nonce is the server's own business; libzmtp never opens a cookie.
Nonce cookie_box_nonce(Bytes long_nonce16) {
    return long_nonce("COOKIE--", long_nonce16);
}

Buf curve_hello(const CurveConnectionKeys& k) {
    constexpr uint64_t counter = 1;
    Buf d{1, 0};
    d.resize(2 + 72, 0);
    put(d, k.client_eph.pub);
    put_be64(d, counter);
    const Buf zeros(64, 0);
    put_box(d, zeros, curve::hello_nonce(counter), k.server.pub, k.client_eph.sec);
    Buf frame;
    put_command(frame, "HELLO", d);
    return frame;
}

Buf curve_welcome(const CurveConnectionKeys& k, Rng& rng, Buf& cookie) {
    // The cookie: only the server can open it (K lives in its memory alone).
    const Buf cookie_key = random_bytes(rng, crypto_secretbox_KEYBYTES);
    const Buf cookie_nonce = random_bytes(rng, 16);
    Buf cookie_plain;
    put(cookie_plain, k.client_eph.pub);
    put(cookie_plain, k.server_eph.sec);
    cookie = cookie_nonce;
    cookie.resize(16 + cookie_plain.size() + crypto_secretbox_MACBYTES);
    crypto_secretbox_easy(cookie.data() + 16, cookie_plain.data(), cookie_plain.size(),
                          cookie_box_nonce(cookie_nonce).data(), cookie_key.data());
    sodium_memzero(cookie_plain.data(), cookie_plain.size());

    Buf plain;
    put(plain, k.server_eph.pub);
    put(plain, cookie);
    const Buf welcome_nonce = random_bytes(rng, 16);
    Buf d = welcome_nonce;
    put_box(d, plain, curve::welcome_nonce(welcome_nonce), k.client_eph.pub, k.server.sec);
    Buf frame;
    put_command(frame, "WELCOME", d);
    return frame;
}

Buf curve_initiate(const CurveConnectionKeys& k, Bytes cookie, Bytes meta, Rng& rng) {
    constexpr uint64_t counter = 2;
    const Buf vouch_nonce = random_bytes(rng, 16);
    Buf vouch_plain;
    put(vouch_plain, k.client_eph.pub);
    put(vouch_plain, k.server.pub);
    Buf plain;
    put(plain, k.client.pub);
    put(plain, vouch_nonce);
    put_box(plain, vouch_plain, curve::vouch_nonce(vouch_nonce), k.server_eph.pub, k.client.sec);
    put(plain, meta);
    Buf d(cookie.begin(), cookie.end());
    put_be64(d, counter);
    put_box(d, plain, curve::initiate_nonce(counter), k.server_eph.pub, k.client_eph.sec);
    Buf frame;
    put_command(frame, "INITIATE", d);
    return frame;
}

Buf curve_ready(const CurveConnectionKeys& k, Bytes meta) {
    constexpr uint64_t counter = 1;
    Buf d;
    put_be64(d, counter);
    put_box(d, meta, curve::ready_nonce(counter), k.client_eph.pub, k.server_eph.sec);
    Buf frame;
    put_command(frame, "READY", d);
    return frame;
}

size_t put_curve_message(Buf& out, Buf& scratch, const Key& session_key, bool from_client,
                         uint64_t counter, uint8_t inner_flags, Bytes payload) {
    scratch.resize(1 + payload.size());
    scratch[0] = inner_flags;
    if (!payload.empty()) std::memcpy(scratch.data() + 1, payload.data(), payload.size());
    // libzmq wraps every MESSAGE in a message frame: flags 0, LONG when needed (4.6).
    put_frame_header(out, 0, 8 + 8 + mac_size + scratch.size());
    put(out, std::string_view("\x07MESSAGE", 8));
    put_be64(out, counter);
    const size_t box_at = out.size();
    out.resize(box_at + mac_size + scratch.size());
    const Nonce n = curve::message_nonce(from_client, counter);
    crypto_box_easy_afternm(out.data() + box_at, scratch.data(), scratch.size(), n.data(),
                            session_key.data());
    return box_at;
}

}  // namespace zmtp::synth
