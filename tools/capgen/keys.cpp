#include "keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "expected.hpp"

namespace capgen {

KeyPair derive_key_pair(std::string_view name) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    std::string label = "zmtpscope capgen test key: " + std::string(name);
    KeyPair pair;
    crypto_generichash(pair.secret_key.data(), pair.secret_key.size(),
                       reinterpret_cast<const unsigned char*>(label.data()), label.size(), nullptr,
                       0);
    crypto_scalarmult_base(pair.public_key.data(), pair.secret_key.data());
    return pair;
}

std::string keylog_line(std::string_view label, const CurveKey& key) {
    std::string_view bytes(reinterpret_cast<const char*>(key.data()), key.size());
    return std::string(label) + " " + to_hex(bytes) + "\n";
}

void append_to_keylog(const std::string& path, std::string_view lines) {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw std::runtime_error(path + ": cannot open key log: " + strerror(errno));
    ssize_t written = write(fd, lines.data(), lines.size());
    int saved = errno;
    close(fd);
    if (written != ssize_t(lines.size()))
        throw std::runtime_error(path + ": cannot write key log: " + strerror(saved));
}

}  // namespace capgen
