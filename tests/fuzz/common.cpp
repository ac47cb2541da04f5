#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "harness.hpp"
#include "zmtp/z85.hpp"

#ifndef ZMTPSCOPE_SOURCE_DIR
#error "ZMTPSCOPE_SOURCE_DIR must name the source tree (for captures/*.keys)"
#endif

namespace zmtp_fuzz {
namespace {

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return char(std::toupper(c)); });
    return text;
}

void add_secret_texts(KeySet& set) {
    for (const zmtp::KeyEntry& entry : set.store.entries()) {
        if (!entry.has_secret) continue;
        const std::string hex = zmtp::to_hex(entry.secret_key);
        set.secret_texts.push_back(hex);
        set.secret_texts.push_back(upper(hex));
        if (auto z85 = zmtp::z85_encode(entry.secret_key)) set.secret_texts.push_back(*z85);
    }
}

void index_prefixes(KeySet& set) {
    for (const std::string& text : set.secret_texts) {
        set.secret_prefixes.insert(std::string_view(text).substr(0, KeySet::prefix_size));
    }
}

std::vector<std::filesystem::path> key_files() {
    std::vector<std::filesystem::path> files;
    const std::filesystem::path captures = std::filesystem::path(ZMTPSCOPE_SOURCE_DIR) / "captures";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(captures, ec)) {
        if (entry.path().extension() == ".keys") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

struct AllKeySets {
    std::vector<KeySet> sets;
    KeySet all;

    AllKeySets() {
        all.name = "all";
        for (const auto& file : key_files()) {
            KeySet set;
            set.name = file.stem().string();
            std::vector<zmtp::KeyWarning> warnings;
            set.store.load_file(file.string(), warnings);
            all.store.load_file(file.string(), warnings);
            add_secret_texts(set);
            sets.push_back(std::move(set));
        }
        add_secret_texts(all);
        for (KeySet& set : sets) index_prefixes(set);
        index_prefixes(all);
        if (sets.empty()) {
            std::fprintf(stderr, "fuzz: no captures/*.keys under %s\n", ZMTPSCOPE_SOURCE_DIR);
        }
    }
};

const AllKeySets& loaded() {
    static const AllKeySets sets;
    return sets;
}

const NamedTarget named_targets[] = {
    {"session", session_target},
    {"keystore", keystore_target},
    {"capture", capture_target},
};

}  // namespace

std::span<const NamedTarget> targets() {
    return named_targets;
}

const std::vector<KeySet>& key_sets() {
    return loaded().sets;
}

const KeySet& all_keys() {
    return loaded().all;
}

void require(bool condition, std::string_view what) {
    if (condition) return;
    std::fprintf(stderr, "fuzz: invariant broken: %.*s\n", int(what.size()), what.data());
    std::abort();
}

// Every secret text is longer than the prefix: a secret in `text` starts with a known prefix.
void require_no_secret(std::string_view text, const KeySet& keys, std::string_view where) {
    for (size_t i = 0; i + KeySet::prefix_size <= text.size(); ++i) {
        if (!keys.secret_prefixes.count(text.substr(i, KeySet::prefix_size))) continue;
        for (const std::string& secret : keys.secret_texts) {
            if (text.substr(i, secret.size()) != secret) continue;
            std::fprintf(stderr, "fuzz: a secret key of %s appears in %.*s\n", keys.name.c_str(),
                         int(where.size()), where.data());
            std::abort();
        }
    }
}

MemoryFile::MemoryFile(std::span<const uint8_t> data) {
    fd_ = memfd_create("zmtp-fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) return;
    size_t written = 0;
    while (written < data.size()) {
        const ssize_t n = write(fd_, data.data() + written, data.size() - written);
        if (n <= 0) {
            close(fd_);
            fd_ = -1;
            return;
        }
        written += size_t(n);
    }
    lseek(fd_, 0, SEEK_SET);
}

MemoryFile::~MemoryFile() {
    if (fd_ >= 0) close(fd_);
}

std::string MemoryFile::path() const {
    return "/proc/self/fd/" + std::to_string(fd_);
}

}  // namespace zmtp_fuzz
