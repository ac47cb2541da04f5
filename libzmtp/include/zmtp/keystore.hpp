// The key store: CURVE keys from key log files (docs/keylog.md) and czmq/pyzmq certificates,
// indexed by public key, answering "which secret opens this box".
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "enum_names.hpp"
#include "zmtp/bytes.hpp"

namespace zmtp {

// The label a key was given. Labels are hints for people: every secret is tried in every role
// (SessionKey aside: it is no X25519 secret, it opens one connection's boxes directly).
enum class KeyLabel : uint8_t {
    ServerPublic,
    ServerSecret,
    ClientPublic,
    ClientSecret,
    EphemeralSecret,
    CertificateSecret,  // zcert / pyzmq certificate: role unknown
    CertificatePublic,
    SessionKey,  // a connection's precomputed key k = beforenm(S', c') (docs/keylog.md SESSION_KEY)
};

// The key log's labels (docs/keylog.md); the certificate ones name keys from certificate files.
inline constexpr std::array<enum_names::Named<KeyLabel>, 8> key_label_names = {{
    {KeyLabel::ServerPublic, "SERVER_PUBLIC"},
    {KeyLabel::ServerSecret, "SERVER_SECRET"},
    {KeyLabel::ClientPublic, "CLIENT_PUBLIC"},
    {KeyLabel::ClientSecret, "CLIENT_SECRET"},
    {KeyLabel::EphemeralSecret, "EPHEMERAL_SECRET"},
    {KeyLabel::CertificateSecret, "CERTIFICATE_SECRET"},
    {KeyLabel::CertificatePublic, "CERTIFICATE_PUBLIC"},
    {KeyLabel::SessionKey, "SESSION_KEY"},
}};
static_assert(enum_names::covers(key_label_names, KeyLabel::SessionKey));
constexpr std::string_view key_label_name(KeyLabel label) {
    return enum_names::name_of(key_label_names, label, "UNKNOWN");
}

// Both wipe their key (sodium_memzero) when destroyed, so a store never leaves secrets behind in
// freed memory: not at clear(), not in its destructor, not when a vector of them grows.
struct KeyEntry {
    KeyLabel label;
    Key public_key;    // given, or derived from the secret; all zero for SessionKey
    Key secret_key{};  // valid when has_secret; for SessionKey, k itself
    bool has_secret = false;
    std::string source;  // "file:line", for messages (never the key itself)
    ~KeyEntry();
};

// One key to add: for secret labels `key` is the secret, for SessionKey it is k.
struct KeyInput {
    KeyLabel label;
    Key key;
    std::string source;
    ~KeyInput();
};

// Warnings never contain key material, not even part of a malformed key.
struct KeyWarning {
    std::string file;
    size_t line = 0;  // 0: about the whole file
    std::string message;
};

class KeyStore {
  public:
    // Longer lines are skipped with a warning.
    static constexpr size_t max_line_length = 4096;
    // Per loaded file or text; past this, one summary warning counts the rest.
    static constexpr size_t max_warnings_per_source = 100;
    // A file is a certificate when a `curve` section line appears in its first this many bytes.
    static constexpr size_t format_detection_bytes = 64 * 1024;

    // Loads a key log or a certificate file (the format is detected from the content). The file
    // is read in chunks, never whole. Returns the number of keys added; problems are appended
    // to `warnings` (an unreadable file: one warning with line 0).
    size_t load_file(const std::string& path, std::vector<KeyWarning>& warnings);
    size_t load_keylog_text(std::string_view text, std::string_view source_name,
                            std::vector<KeyWarning>& warnings);
    size_t load_certificate_text(std::string_view text, std::string_view source_name,
                                 std::vector<KeyWarning>& warnings);

    // Adds one key; for secret labels `key` is the secret and the public key is derived. A
    // SessionKey is stored as it is (secret_key = k, public_key zero): no public key is derived
    // from it, and it is in neither find_secret's index nor the two lists of candidates below.
    // Duplicates (same label and key) are ignored. Returns true when the key was new.
    bool add(KeyLabel label, const Key& key, std::string source = {});
    // The same for many keys; public keys of secrets are derived on all cores. Returns the
    // number of new keys.
    size_t add_all(std::span<const KeyInput> keys);

    void clear();
    size_t size() const { return entries_.size(); }
    const std::vector<KeyEntry>& entries() const { return entries_; }
    // Increases whenever the content changes, so callers can notice a reload.
    uint64_t generation() const { return generation_; }

    // The secret whose public key is `public_key`, or nullptr (never a SessionKey).
    const KeyEntry* find_secret(const Key& public_key) const;

    // Candidates, most likely first, without duplicates:
    // server public keys S (labelled S, then publics of s and certificate secrets, then
    // public-only certificates, then the publics of every other secret);
    const std::vector<Key>& server_public_candidates() const;
    // every secret, ordered server/certificate secrets first, then ephemeral, then client.
    const std::vector<const KeyEntry*>& secret_candidates() const;
    // Every SessionKey entry, in load order: the keys to try on the first MESSAGE of a connection
    // whose handshake is not in the capture (docs/keylog.md SESSION_KEY).
    const std::vector<const KeyEntry*>& session_keys() const;
    // The lists are built once per change of the store, not per call: a session asks at every
    // HELLO, and a key log holds a key per connection (building them each time was quadratic).
    // Safe to call from several threads while nobody changes the store.

  private:
    struct Candidates {
        uint64_t generation = ~uint64_t(0);
        std::vector<Key> server_publics;
        std::vector<const KeyEntry*> secrets;  // into entries_
        std::vector<const KeyEntry*> session_keys;
    };
    // A copied or moved store starts with an empty cache: it points into its own entries.
    struct CandidateCache {
        std::mutex mutex;
        Candidates lists;
        CandidateCache() = default;
        CandidateCache(const CandidateCache&) {}
        CandidateCache& operator=(const CandidateCache&) {
            std::lock_guard lock(mutex);
            lists = {};
            return *this;
        }
    };
    bool insert(KeyEntry entry);
    const Candidates& candidates() const;

    // A label and a key (secret or public): what duplicates are detected by. Wiped when dropped.
    struct LabelledKey {
        KeyLabel label;
        Key key;
        bool operator==(const LabelledKey&) const = default;
        ~LabelledKey();
    };
    struct LabelledKeyHash {
        size_t operator()(const LabelledKey& k) const;
    };

    std::vector<KeyEntry> entries_;
    std::unordered_set<LabelledKey, LabelledKeyHash> labelled_keys_;
    std::unordered_map<std::string, size_t> secret_by_public_;  // key: 32 raw bytes
    uint64_t generation_ = 0;
    mutable CandidateCache candidates_;
};

}  // namespace zmtp
