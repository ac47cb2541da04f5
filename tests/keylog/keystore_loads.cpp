// The project's own key store reads what the key logger wrote: no warnings, every logged
// secret is found again by its public key, and every logged SESSION_KEY is in session_keys()
// and nowhere else.
//
//   keylog_keystore_loads KEYLOG...
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace {

// Keys of the log whose label contains `word`, parsed independently of the key store.
std::vector<zmtp::Key> logged_keys(const std::string& path, const std::string& word) {
    std::vector<zmtp::Key> keys;
    std::ifstream in(path);
    std::string label, key_text;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        if (!(fields >> label >> key_text) || label[0] == '#') continue;
        if (label.find(word) == std::string::npos) continue;
        if (auto key = zmtp::parse_key(key_text)) keys.push_back(*key);
    }
    return keys;
}

// A session key k is no X25519 secret: it is listed once in session_keys() and in no other
// candidate list, and no public key is derived from it or indexed.
int check_session_keys(const std::string& path, const zmtp::KeyStore& store) {
    int failures = 0;
    const auto problem = [&](const char* what) {
        std::fprintf(stderr, "FAIL: %s: %s\n", path.c_str(), what);
        ++failures;
    };
    const auto logged = logged_keys(path, "SESSION_KEY");
    const std::set<zmtp::Key> distinct(logged.begin(), logged.end());
    std::set<zmtp::Key> listed;
    for (const zmtp::KeyEntry* entry : store.session_keys()) {
        if (entry->label != zmtp::KeyLabel::SessionKey || !entry->has_secret ||
            entry->public_key != zmtp::Key{})
            problem("a session_keys() entry is not a SESSION_KEY as logged");
        if (!listed.insert(entry->secret_key).second) problem("a session key is listed twice");
    }
    if (listed != distinct) problem("session_keys() is not the log's SESSION_KEY lines");
    for (const zmtp::KeyEntry* entry : store.secret_candidates())
        if (distinct.count(entry->secret_key)) problem("a session key is a secret candidate");
    for (const zmtp::Key& k : distinct) {
        if (store.find_secret(zmtp::public_key_of(k))) problem("a session key is indexed");
        const auto& publics = store.server_public_candidates();
        if (std::find(publics.begin(), publics.end(), zmtp::public_key_of(k)) != publics.end())
            problem("a session key's public key is a server public candidate");
    }
    std::printf("%s: %zu SESSION_KEY lines, %zu distinct, all in session_keys() only\n",
                path.c_str(), logged.size(), distinct.size());
    return failures;
}

int check(const std::string& path) {
    zmtp::KeyStore store;
    std::vector<zmtp::KeyWarning> warnings;
    size_t added = store.load_file(path, warnings);
    int failures = 0;
    for (const auto& warning : warnings) {
        std::fprintf(stderr, "FAIL: %s:%zu: %s\n", warning.file.c_str(), warning.line,
                     warning.message.c_str());
        ++failures;
    }
    auto secrets = logged_keys(path, "SECRET");
    for (const auto& secret : secrets) {
        if (!store.find_secret(zmtp::public_key_of(secret))) {
            std::fprintf(stderr, "FAIL: %s: a logged secret (public %s) is not in the key store\n",
                         path.c_str(), zmtp::public_key_id(zmtp::public_key_of(secret)).c_str());
            ++failures;
        }
    }
    std::printf("%s: %zu keys loaded, %zu secrets found again\n", path.c_str(), added,
                secrets.size());
    if (added == 0 || secrets.empty()) {
        std::fprintf(stderr, "FAIL: %s: nothing loaded\n", path.c_str());
        ++failures;
    }
    failures += check_session_keys(path, store);
    return failures;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: keylog_keystore_loads KEYLOG...\n");
        return 2;
    }
    int failures = 0;
    for (int i = 1; i < argc; ++i) failures += check(argv[i]);
    return failures ? 1 : 0;
}
