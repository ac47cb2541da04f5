#include "zmtp_writer.hpp"

#include <sodium.h>

#include <cstring>

namespace zmtp::writer {

namespace {

constexpr std::string_view message_name("\x07MESSAGE", 8);

}  // namespace

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

Buf frame(uint8_t flags, Bytes body) {
    Buf out;
    put_frame(out, flags, body);
    return out;
}

Buf command(std::string_view name, Bytes data) {
    Buf out;
    put_command(out, name, data);
    return out;
}

Buf greeting(std::string_view mechanism, uint8_t minor) {
    Buf g{0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, minor};
    put(g, mechanism);
    g.resize(64, 0);
    return g;
}

std::array<Buf, 3> greeting_pieces(std::string_view mechanism) {
    const Buf whole = greeting(mechanism);
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

KeyPair KeyPair::random() {
    KeyPair k;
    crypto_box_keypair(k.pub.data(), k.sec.data());
    return k;
}

KeyPair KeyPair::from_secret(const Key& secret) {
    KeyPair k;
    k.sec = secret;
    crypto_scalarmult_base(k.pub.data(), secret.data());
    return k;
}

KeyPair KeyPair::seeded(uint64_t seed, uint64_t index, uint8_t role) {
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

void put_box(Buf& out, Bytes plain, const curve::Nonce& nonce, const Key& to_public,
             const Key& from_secret) {
    const size_t at = out.size();
    out.resize(at + plain.size() + mac_size);
    if (crypto_box_easy(out.data() + at, plain.data(), plain.size(), nonce.data(), to_public.data(),
                        from_secret.data()) != 0) {
        out.resize(at);
    }
}

Buf curve_hello(const KeyPair& client_eph, const Key& server_public, uint64_t counter) {
    Buf d{1, 0};
    d.resize(2 + 72, 0);
    put(d, client_eph.pub);
    put_be64(d, counter);
    const Buf zeros(64, 0);
    put_box(d, zeros, curve::hello_nonce(counter), server_public, client_eph.sec);
    return command("HELLO", d);
}

Buf curve_cookie(const CurveKeys& k, Bytes cookie_key, Bytes cookie_nonce16) {
    Buf plain;
    put(plain, k.client_eph.pub);
    put(plain, k.server_eph.sec);
    curve::Nonce nonce{};
    std::memcpy(nonce.data(), "COOKIE--", 8);
    std::memcpy(nonce.data() + 8, cookie_nonce16.data(), 16);
    Buf cookie(cookie_nonce16.begin(), cookie_nonce16.end());
    cookie.resize(16 + plain.size() + crypto_secretbox_MACBYTES);
    crypto_secretbox_easy(cookie.data() + 16, plain.data(), plain.size(), nonce.data(),
                          cookie_key.data());
    sodium_memzero(plain.data(), plain.size());
    return cookie;
}

Buf curve_welcome(const CurveKeys& k, Bytes cookie, Bytes long_nonce16) {
    Buf plain;
    put(plain, k.server_eph.pub);
    put(plain, cookie);
    Buf d(long_nonce16.begin(), long_nonce16.end());
    put_box(d, plain, curve::welcome_nonce(long_nonce16), k.client_eph.pub, k.server.sec);
    return command("WELCOME", d);
}

Buf curve_initiate(const CurveKeys& k, Bytes cookie, Bytes meta, Bytes vouch_nonce16,
                   uint64_t counter) {
    Buf vouch_plain;
    put(vouch_plain, k.client_eph.pub);
    put(vouch_plain, k.server.pub);
    Buf plain;
    put(plain, k.client.pub);
    put(plain, vouch_nonce16);
    put_box(plain, vouch_plain, curve::vouch_nonce(vouch_nonce16), k.server_eph.pub, k.client.sec);
    put(plain, meta);
    Buf d(cookie.begin(), cookie.end());
    put_be64(d, counter);
    put_box(d, plain, curve::initiate_nonce(counter), k.server_eph.pub, k.client_eph.sec);
    return command("INITIATE", d);
}

Buf curve_ready(const CurveKeys& k, Bytes meta, uint64_t counter) {
    Buf d;
    put_be64(d, counter);
    put_box(d, meta, curve::ready_nonce(counter), k.client_eph.pub, k.server_eph.sec);
    return command("READY", d);
}

Buf curve_message(const CurveKeys& k, bool from_client, uint64_t counter, uint8_t inner_flags,
                  Bytes payload) {
    Buf plain{inner_flags};
    put(plain, payload);
    Buf body;
    put(body, message_name);
    put_be64(body, counter);
    const auto nonce = curve::message_nonce(from_client, counter);
    if (from_client) {
        put_box(body, plain, nonce, k.server_eph.pub, k.client_eph.sec);
    } else {
        put_box(body, plain, nonce, k.client_eph.pub, k.server_eph.sec);
    }
    // libzmq wraps every MESSAGE in a message frame: flags 0, LONG when needed (4.6).
    return frame(0, body);
}

size_t put_curve_message(Buf& out, Buf& scratch, const Key& session_key, bool from_client,
                         uint64_t counter, uint8_t inner_flags, Bytes payload) {
    scratch.resize(1 + payload.size());
    scratch[0] = inner_flags;
    if (!payload.empty()) std::memcpy(scratch.data() + 1, payload.data(), payload.size());
    put_frame_header(out, 0, message_name.size() + 8 + mac_size + scratch.size());
    put(out, message_name);
    put_be64(out, counter);
    const size_t box_at = out.size();
    out.resize(box_at + mac_size + scratch.size());
    const auto nonce = curve::message_nonce(from_client, counter);
    crypto_box_easy_afternm(out.data() + box_at, scratch.data(), scratch.size(), nonce.data(),
                            session_key.data());
    return box_at;
}

}  // namespace zmtp::writer
