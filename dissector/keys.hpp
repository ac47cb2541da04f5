// The CURVE keys the dissector decrypts with: the "Key log file" preference (docs/keylog.md
// format, or a czmq/pyzmq certificate) and the keys table (UAT), merged into one KeyStore.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zmtp/keystore.hpp"

namespace zmqdiss {

// "SERVER_SECRET" etc., case-insensitive, as in docs/keylog.md.
std::optional<zmtp::KeyLabel> parse_key_label(std::string_view text);

class KeyConfig {
  public:
    // The store sessions decrypt with. Its address never changes; its content does.
    const zmtp::KeyStore* store() const { return &store_; }

    void set_keylog_path(const char* path);
    void set_table(std::vector<std::pair<zmtp::KeyLabel, zmtp::Key>> keys);

    // Reloads everything when the table or the path changed, or the key log file's size or
    // modification time changed since the last load (it grows while a capture runs).
    void refresh();

  private:
    struct FileStamp {
        bool exists = false;
        long long size = 0;
        std::time_t mtime = 0;
        long mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    static FileStamp stamp_of(const std::string& path);
    void reload(const FileStamp& stamp);

    zmtp::KeyStore store_;
    std::string path_;
    std::vector<std::pair<zmtp::KeyLabel, zmtp::Key>> table_;
    bool dirty_ = true;
    FileStamp loaded_;
};

KeyConfig& key_config();

}  // namespace zmqdiss
