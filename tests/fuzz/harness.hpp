// Fuzz targets of zmtpscope. The same functions back the libFuzzer binaries (ZMTPSCOPE_FUZZ,
// clang) and the corpus replay test of the normal suite, so every committed input keeps
// passing. A target aborts (with a message on stderr) when an invariant breaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "zmtp/keystore.hpp"
#include "zmtp/session.hpp"

namespace zmtp_fuzz {

using Target = int (*)(const uint8_t* data, size_t size);

// The two directions of a connection, chunked by control bytes, through a zmtp::Session.
int session_target(const uint8_t* data, size_t size);
// One record of a session input (the format above session_target in session_target.cpp): bytes
// of one direction, or a gap.
struct SessionRecord {
    zmtp::Direction dir = zmtp::Direction::ClientToServer;
    bool gap = false;
    std::optional<uint64_t> lost;  // a gap of known size
    zmtp::Bytes data;
};
// The next record of `rest` (consumed from it), or nullopt at the end.
std::optional<SessionRecord> next_session_record(zmtp::Bytes& rest);
// Key logs, certificates, Z85 and hex through the KeyStore and the key codecs.
int keystore_target(const uint8_t* data, size_t size);
// A pcap/pcapng file through zmtp_capture (reader, reassembly) and zmtp-replay's analysis
// and writers.
int capture_target(const uint8_t* data, size_t size);

struct NamedTarget {
    std::string_view name;
    Target run;
};
std::span<const NamedTarget> targets();

// The key sets of captures/*.keys, loaded once, in file name order.
struct KeySet {
    std::string name;
    zmtp::KeyStore store;
    std::vector<std::string> secret_texts;  // hex (both cases) and Z85 of every secret
    // Their first prefix_size characters, for a scan that is one hash look-up per position.
    static constexpr size_t prefix_size = 16;
    std::unordered_set<std::string_view> secret_prefixes;
};
const std::vector<KeySet>& key_sets();
// Every key of every set in one store.
const KeySet& all_keys();

// Aborts with `what` when `condition` is false.
void require(bool condition, std::string_view what);
// Aborts when `text` contains any secret of `keys`.
void require_no_secret(std::string_view text, const KeySet& keys, std::string_view where);

// A file descriptor holding `data`, readable by path as /proc/self/fd/N; closed on destruction.
class MemoryFile {
  public:
    explicit MemoryFile(std::span<const uint8_t> data);
    ~MemoryFile();
    MemoryFile(const MemoryFile&) = delete;
    MemoryFile& operator=(const MemoryFile&) = delete;
    bool ok() const { return fd_ >= 0; }
    std::string path() const;

  private:
    int fd_ = -1;
};

}  // namespace zmtp_fuzz
