// Input: one mode byte, then text. Modes (byte % 4): a key log, a certificate, a file of
// either kind through KeyStore::load_file (format detection, chunked reading), and the key
// codecs (Z85, hex, parse_key) with their round trips.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "harness.hpp"
#include "zmtp/z85.hpp"

namespace zmtp_fuzz {
namespace {

constexpr size_t leak_window = 12;

bool z85_character(char c) {
    static constexpr std::string_view alphabet =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return alphabet.find(c) != std::string_view::npos;
}

// Key text mixes digits and letters; the words of a message ("certificate:") do not.
bool key_like(std::string_view window) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    const auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
    return std::any_of(window.begin(), window.end(), digit) &&
           std::any_of(window.begin(), window.end(), letter);
}

// A warning must not repeat key text of the input: any run of 12 Z85 characters (hex digits
// are Z85 characters too) of a warning that looks like key text and also appears in the input
// is a leak.
void require_no_input_key_text(const zmtp::KeyWarning& warning, std::string_view input) {
    const std::string& message = warning.message;
    size_t run = 0;
    for (size_t i = 0; i < message.size(); ++i) {
        run = z85_character(message[i]) ? run + 1 : 0;
        if (run < leak_window) continue;
        const std::string_view window(message.data() + i + 1 - leak_window, leak_window);
        if (!key_like(window)) continue;
        require(input.find(window) == std::string_view::npos,
                "a key store warning repeats key-like text of its input");
    }
}

void check_store(const zmtp::KeyStore& store, const std::vector<zmtp::KeyWarning>& warnings,
                 std::string_view input) {
    for (const zmtp::KeyWarning& warning : warnings) require_no_input_key_text(warning, input);
    size_t secrets = 0;
    for (const zmtp::KeyEntry& entry : store.entries()) {
        if (!entry.has_secret) continue;
        if (entry.label == zmtp::KeyLabel::SessionKey) {  // k itself: no public key to check
            require(store.find_secret(entry.public_key) == nullptr ||
                        store.find_secret(entry.public_key)->label != zmtp::KeyLabel::SessionKey,
                    "a session key is indexed as an X25519 secret");
            continue;
        }
        ++secrets;
        require(zmtp::public_key_of(entry.secret_key) == entry.public_key,
                "a secret's public key is not derived from it");
        require(store.find_secret(entry.public_key) != nullptr, "a secret is not indexed");
    }
    require(store.secret_candidates().size() <= secrets, "more secret candidates than secrets");
    (void)store.server_public_candidates();
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

void check_codecs(std::string_view text) {
    if (auto bytes = zmtp::z85_decode(text)) {
        const auto again = zmtp::z85_encode(*bytes);
        require(again && *again == text, "Z85 decode/encode does not round-trip");
    }
    if (auto bytes = zmtp::from_hex(text)) {
        require(zmtp::to_hex(*bytes) == lower(text), "hex decode/encode does not round-trip");
    }
    if (auto key = zmtp::parse_key(text)) {
        require(text.size() == 40 || text.size() == 64, "a key parsed from text of odd length");
    }
    // Like libzmq, z85_encode makes "" of no bytes but z85_decode wants at least one group.
    const zmtp::Bytes raw = zmtp::as_bytes(text);
    if (auto z85 = raw.empty() ? std::nullopt : zmtp::z85_encode(raw)) {
        const auto back = zmtp::z85_decode(*z85);
        require(back && std::equal(back->begin(), back->end(), raw.begin(), raw.end()),
                "Z85 encode/decode does not round-trip");
    }
}

}  // namespace

int keystore_target(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0] % 4;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    zmtp::KeyStore store;
    std::vector<zmtp::KeyWarning> warnings;
    switch (mode) {
        case 0:
            store.load_keylog_text(text, "fuzz", warnings);
            break;
        case 1:
            store.load_certificate_text(text, "fuzz", warnings);
            break;
        case 2: {
            MemoryFile file(zmtp::as_bytes(text));
            if (!file.ok()) return 0;
            store.load_file(file.path(), warnings);
            break;
        }
        default:
            check_codecs(text);
            return 0;
    }
    check_store(store, warnings, text);
    return 0;
}

}  // namespace zmtp_fuzz
