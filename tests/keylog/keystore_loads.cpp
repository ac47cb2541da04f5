// The project's own key store reads what the key logger wrote: no warnings, and every logged
// secret is found again by its public key.
//
//   keylog_keystore_loads KEYLOG...
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace {

// Secret keys of the log, parsed independently of the key store.
std::vector<zmtp::Key> logged_secrets(const std::string& path) {
    std::vector<zmtp::Key> secrets;
    std::ifstream in(path);
    std::string label, key_text;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        if (!(fields >> label >> key_text) || label[0] == '#') continue;
        if (label.find("SECRET") == std::string::npos) continue;
        if (auto key = zmtp::parse_key(key_text)) secrets.push_back(*key);
    }
    return secrets;
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
    auto secrets = logged_secrets(path);
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
