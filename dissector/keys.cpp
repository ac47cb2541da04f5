#include "keys.hpp"

#include <strings.h>
#include <sys/stat.h>

#include "ws.hpp"

namespace zmqdiss {

std::optional<zmtp::KeyLabel> parse_key_label(std::string_view text) {
    static constexpr std::pair<std::string_view, zmtp::KeyLabel> labels[] = {
        {"SERVER_PUBLIC", zmtp::KeyLabel::ServerPublic},
        {"SERVER_SECRET", zmtp::KeyLabel::ServerSecret},
        {"CLIENT_PUBLIC", zmtp::KeyLabel::ClientPublic},
        {"CLIENT_SECRET", zmtp::KeyLabel::ClientSecret},
        {"EPHEMERAL_SECRET", zmtp::KeyLabel::EphemeralSecret},
        {"SESSION_KEY", zmtp::KeyLabel::SessionKey},
    };
    for (const auto& [name, label] : labels) {
        if (text.size() == name.size() && strncasecmp(text.data(), name.data(), name.size()) == 0) {
            return label;
        }
    }
    return std::nullopt;
}

void KeyConfig::set_keylog_path(const char* path) {
    const std::string p = path ? path : "";
    if (p != path_) {
        path_ = p;
        dirty_ = true;
    }
}

void KeyConfig::set_table(std::vector<std::pair<zmtp::KeyLabel, zmtp::Key>> keys) {
    table_ = std::move(keys);
    dirty_ = true;
}

KeyConfig::FileStamp KeyConfig::stamp_of(const std::string& path) {
    FileStamp s;
    struct stat st {};
    if (path.empty() || stat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.size = st.st_size;
    s.mtime = st.st_mtim.tv_sec;
    s.mtime_ns = st.st_mtim.tv_nsec;
    return s;
}

void KeyConfig::refresh() {
    const FileStamp now = stamp_of(path_);
    if (dirty_ || !(now == loaded_)) reload(now);
}

void KeyConfig::reload(const FileStamp& stamp) {
    store_.clear();
    for (const auto& [label, key] : table_) store_.add(label, key, "keys table");
    if (stamp.exists) {
        std::vector<zmtp::KeyWarning> warnings;
        store_.load_file(path_, warnings);
        for (const auto& w : warnings) {
            // KeyWarning messages never contain key material (keystore.hpp).
            ws_warning("ZMQ key log %s:%zu: %s", w.file.c_str(), w.line, w.message.c_str());
        }
    } else if (!path_.empty()) {
        ws_warning("ZMQ key log %s: cannot be read", path_.c_str());
    }
    loaded_ = stamp;
    dirty_ = false;
}

KeyConfig& key_config() {
    static KeyConfig config;
    return config;
}

}  // namespace zmqdiss
