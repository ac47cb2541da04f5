#include "zmtp/curve.hpp"

#include <sodium.h>

#include <cstring>
#include <string_view>

namespace zmtp::curve {
namespace {

Nonce short_form(std::string_view prefix16, uint64_t short_nonce) {
    Nonce n{};
    std::memcpy(n.data(), prefix16.data(), 16);
    for (int i = 0; i < 8; ++i) n[16 + i] = uint8_t(short_nonce >> (56 - 8 * i));
    return n;
}

Nonce long_form(std::string_view prefix8, Bytes long_nonce16) {
    Nonce n{};
    std::memcpy(n.data(), prefix8.data(), 8);
    if (long_nonce16.size() == 16) std::memcpy(n.data() + 8, long_nonce16.data(), 16);
    return n;
}

}  // namespace

SharedKey::~SharedKey() {
    sodium_memzero(bytes.data(), bytes.size());
}

SharedKey precompute(const Key& their_public, const Key& my_secret) {
    SharedKey k;
    if (crypto_box_beforenm(k.bytes.data(), their_public.data(), my_secret.data()) != 0) {
        k.bytes.fill(0);  // low-order point: the zero key opens nothing real
    }
    return k;
}

Nonce hello_nonce(uint64_t n) {
    return short_form("CurveZMQHELLO---", n);
}
Nonce initiate_nonce(uint64_t n) {
    return short_form("CurveZMQINITIATE", n);
}
Nonce ready_nonce(uint64_t n) {
    return short_form("CurveZMQREADY---", n);
}
Nonce message_nonce(bool from_client, uint64_t n) {
    return short_form(from_client ? "CurveZMQMESSAGEC" : "CurveZMQMESSAGES", n);
}
Nonce welcome_nonce(Bytes long_nonce16) {
    return long_form("WELCOME-", long_nonce16);
}
Nonce vouch_nonce(Bytes long_nonce16) {
    return long_form("VOUCH---", long_nonce16);
}

bool open(const SharedKey& key, const Nonce& nonce, Bytes box, uint8_t* plaintext) {
    if (box.size() < mac_size) return false;
    return crypto_box_open_easy_afternm(plaintext, box.data(), box.size(), nonce.data(),
                                        key.bytes.data()) == 0;
}

}  // namespace zmtp::curve
