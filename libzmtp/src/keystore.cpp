// The key store: key log files (docs/keylog.md), czmq/pyzmq certificates (ZPL), and the index
// from public keys to secrets.
#include "zmtp/keystore.hpp"

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "zmtp/z85.hpp"

namespace zmtp {
namespace {

void wipe(void* data, size_t size) {
    if (size > 0) sodium_memzero(data, size);
}

void wipe(Key& key) {
    wipe(key.data(), key.size());
}

// ---------------------------------------------------------------------------------------------
// Reading lines

constexpr std::string_view utf8_byte_order_mark = "\xEF\xBB\xBF";

struct Line {
    std::string_view text;  // without LF or CRLF; empty when too long
    size_t number = 0;      // 1-based
    bool too_long = false;
};

// Yields the lines of an in-memory text or of a file read in chunks. A line longer than
// KeyStore::max_line_length is never held whole: it is reported as too long.
class LineReader {
  public:
    explicit LineReader(std::string_view text) : data_(text) {}
    explicit LineReader(std::FILE* file) : file_(file), buffer_(KeyStore::format_detection_bytes) {
        std::setvbuf(file, nullptr, _IONBF, 0);  // no stdio buffer holding keys after fclose
        assembled_.reserve(KeyStore::max_line_length + 1);  // never reallocated, so always wiped
    }
    // The text read holds keys: it is not left in freed memory.
    ~LineReader() {
        wipe(buffer_.data(), buffer_.size());
        wipe(assembled_.data(), assembled_.size());
    }
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // The first bytes of the input (up to the buffer size), cut after the last complete line
    // unless the input ends there.
    std::string_view head() {
        if (file_ && !started_) fill_buffer();
        if (file_ && !at_end_) return data_.substr(0, data_.rfind('\n') + 1);
        return data_;
    }

    bool next(Line& line);
    // errno of a failed read, or 0.
    int read_error() const { return read_error_; }

  private:
    bool fill_buffer();
    void append(std::string_view piece, bool& too_long);

    std::string_view data_;  // the text, or the filled part of buffer_
    size_t position_ = 0;
    size_t line_number_ = 0;
    std::string assembled_;  // a line that spans buffer refills

    std::FILE* file_ = nullptr;
    std::vector<char> buffer_;
    bool started_ = false;
    bool at_end_ = false;
    int read_error_ = 0;
};

bool LineReader::fill_buffer() {
    started_ = true;
    if (!file_ || at_end_) return false;
    errno = 0;
    size_t filled = 0;
    while (filled < buffer_.size()) {
        const size_t got = std::fread(buffer_.data() + filled, 1, buffer_.size() - filled, file_);
        filled += got;
        if (got == 0) {
            if (std::ferror(file_)) read_error_ = errno ? errno : EIO;
            at_end_ = true;
            break;
        }
    }
    data_ = std::string_view(buffer_.data(), filled);
    position_ = 0;
    return filled > 0;
}

void LineReader::append(std::string_view piece, bool& too_long) {
    if (too_long) return;
    // One extra byte for the CR of a CRLF ending, removed later.
    if (assembled_.size() + piece.size() > KeyStore::max_line_length + 1) {
        too_long = true;
        wipe(assembled_.data(), assembled_.size());
        assembled_.clear();
        return;
    }
    assembled_.append(piece);
}

bool LineReader::next(Line& line) {
    if (file_ && !started_) fill_buffer();
    wipe(assembled_.data(), assembled_.size());
    assembled_.clear();
    bool too_long = false;
    bool spans_chunks = false;
    bool found_any = false;
    std::string_view text;
    for (;;) {
        if (position_ == data_.size() && !fill_buffer()) {
            if (!found_any) return false;
            text = assembled_;
            break;
        }
        found_any = true;
        const std::string_view rest = data_.substr(position_);
        const size_t newline = rest.find('\n');
        const std::string_view piece = rest.substr(0, newline);
        position_ += piece.size();
        if (newline != std::string_view::npos) ++position_;
        if (newline != std::string_view::npos && !spans_chunks) {
            text = piece;  // the common case: a view, no copy
            break;
        }
        spans_chunks = true;
        append(piece, too_long);
        if (newline != std::string_view::npos) {
            text = assembled_;
            break;
        }
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.size() > KeyStore::max_line_length) too_long = true;
    line.number = ++line_number_;
    if (line.number == 1 && text.starts_with(utf8_byte_order_mark)) {
        text.remove_prefix(utf8_byte_order_mark.size());  // as some Windows editors write
    }
    line.too_long = too_long;
    line.text = too_long ? std::string_view() : text;
    return true;
}

// ---------------------------------------------------------------------------------------------
// Warnings

class WarningSink {
  public:
    WarningSink(std::string_view source, std::vector<KeyWarning>& warnings)
        : source_(source), warnings_(warnings) {}
    ~WarningSink() {
        if (suppressed_ > 0) {
            warnings_.push_back(
                {source_, 0,
                 std::to_string(suppressed_) + " more problems in this file (warnings not shown)"});
        }
    }
    void warn(size_t line, std::string message) {
        if (count_++ < KeyStore::max_warnings_per_source) {
            warnings_.push_back({source_, line, std::move(message)});
        } else {
            ++suppressed_;
        }
    }
    const std::string& source() const { return source_; }

  private:
    std::string source_;
    std::vector<KeyWarning>& warnings_;
    size_t count_ = 0;
    size_t suppressed_ = 0;
};

// Control characters (other than tab) mean binary data. Bytes >= 0x80 are allowed: UTF-8 text
// in comments is fine, and anywhere else it makes the field invalid.
std::optional<std::string> binary_data_problem(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) return "contains a NUL byte (binary data?)";
    const bool has_control = std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = uint8_t(c);
        return (byte < 0x20 && c != '\t') || byte == 0x7F;
    });
    if (has_control) return "contains control characters (binary data?)";
    return std::nullopt;
}

std::string too_long_message() {
    return "line longer than " + std::to_string(KeyStore::max_line_length) + " characters";
}

// Never quotes the field: it may be (part of) a key.
std::string bad_key_message(std::string_view what, std::string_view field) {
    std::string message(what);
    if (field.size() == 40) return message + " is 40 characters long but not valid Z85";
    if (field.size() == 64) return message + " is 64 characters long but not valid hex";
    return message + " must be 40 Z85 characters or 64 hex digits, not " +
           std::to_string(field.size()) + " characters";
}

std::string source_at(std::string_view source, size_t line) {
    return std::string(source) + ":" + std::to_string(line);
}

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    return text;
}

// The next run of non-blank characters; `rest` moves past it.
std::string_view next_field(std::string_view& rest) {
    size_t start = 0;
    while (start < rest.size() && is_blank(rest[start])) ++start;
    size_t end = start;
    while (end < rest.size() && !is_blank(rest[end])) ++end;
    const std::string_view field = rest.substr(start, end - start);
    rest.remove_prefix(end);
    return field;
}

// X25519 secrets, whose public keys are derived and indexed. Not SessionKey.
bool is_secret_label(KeyLabel label) {
    return label == KeyLabel::ServerSecret || label == KeyLabel::ClientSecret ||
           label == KeyLabel::EphemeralSecret || label == KeyLabel::CertificateSecret;
}

// Only for public keys (a std::string is never wiped).
std::string raw_key(const Key& key) {
    return std::string(as_text(Bytes(key)));
}

// ---------------------------------------------------------------------------------------------
// Key logs

struct KeylogLabel {
    std::string_view name;
    KeyLabel label;
};
constexpr KeylogLabel keylog_labels[] = {
    {"SERVER_PUBLIC", KeyLabel::ServerPublic},       {"SERVER_SECRET", KeyLabel::ServerSecret},
    {"CLIENT_PUBLIC", KeyLabel::ClientPublic},       {"CLIENT_SECRET", KeyLabel::ClientSecret},
    {"EPHEMERAL_SECRET", KeyLabel::EphemeralSecret}, {"SESSION_KEY", KeyLabel::SessionKey},
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
               return lower(x) == lower(y);
           });
}

std::optional<KeyLabel> keylog_label(std::string_view field) {
    for (const auto& entry : keylog_labels) {
        if (equals_ignoring_case(field, entry.name)) return entry.label;
    }
    return std::nullopt;
}

// Parses key log lines and adds their keys in batches, so that public keys are derived in
// parallel and a huge file never needs all its keys pending at once.
class KeylogLoader {
  public:
    KeylogLoader(KeyStore& store, WarningSink& warnings) : store_(store), warnings_(warnings) {}

    void read(const Line& line) {
        if (line.too_long) return warnings_.warn(line.number, too_long_message());
        if (auto problem = binary_data_problem(line.text)) {
            return warnings_.warn(line.number, *problem);
        }
        std::string_view rest = line.text;
        const std::string_view label_field = next_field(rest);
        if (label_field.empty() || label_field.front() == '#') return;  // blank or comment
        const auto label = keylog_label(label_field);
        if (!label) {
            return warnings_.warn(line.number,
                                  "unknown label (expected SERVER_PUBLIC, SERVER_SECRET, "
                                  "CLIENT_PUBLIC, CLIENT_SECRET, EPHEMERAL_SECRET or "
                                  "SESSION_KEY)");
        }
        // Taken whole, even when it starts with or contains '#': Z85 keys may contain '#'.
        const std::string_view key_field = next_field(rest);
        if (key_field.empty()) {
            return warnings_.warn(line.number,
                                  "missing key after " + std::string(key_label_name(*label)));
        }
        auto key = parse_key(key_field);
        if (!key) return warnings_.warn(line.number, bad_key_message("key", key_field));
        const std::string_view after_key = next_field(rest);
        if (!after_key.empty() && after_key.front() != '#') {
            wipe(*key);
            return warnings_.warn(line.number,
                                  "unexpected text after the key (a comment must start with '#')");
        }
        pending_.push_back({*label, *key, source_at(warnings_.source(), line.number)});
        wipe(*key);
        if (pending_.size() >= batch_size) flush();
    }

    size_t finish() {
        flush();
        return added_;
    }

  private:
    static constexpr size_t batch_size = 8192;

    void flush() {
        added_ += store_.add_all(pending_);
        pending_.clear();  // each KeyInput wipes its key
    }

    KeyStore& store_;
    WarningSink& warnings_;
    std::vector<KeyInput> pending_;
    size_t added_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Certificates (ZPL, as czmq's zconfig and pyzmq write them)

struct ZplLine {
    enum class Kind { Blank, Entry, Malformed } kind = Kind::Blank;
    size_t level = 0;
    std::string_view name;
    std::string_view value;
    bool has_value = false;
    std::string problem;
};

bool is_zpl_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("$-_@.&+/").find(c) != std::string_view::npos;
}

ZplLine malformed(std::string problem) {
    ZplLine line;
    line.kind = ZplLine::Kind::Malformed;
    line.problem = std::move(problem);
    return line;
}

// After a value: nothing, or a comment.
bool only_comment_left(std::string_view rest) {
    rest = trim_blanks(rest);
    return rest.empty() || rest.front() == '#';
}

// `rest` starts right after '='. Quoted values keep '#'; unquoted ones are cut at '#'.
std::optional<std::string_view> parse_zpl_value(std::string_view rest, std::string& problem) {
    rest = trim_blanks(rest);
    if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
        const size_t close = rest.find(rest.front(), 1);
        if (close == std::string_view::npos) {
            problem = "unterminated quoted value";
            return std::nullopt;
        }
        if (!only_comment_left(rest.substr(close + 1))) {
            problem = "unexpected text after a quoted value";
            return std::nullopt;
        }
        return rest.substr(1, close - 1);
    }
    return trim_blanks(rest.substr(0, rest.find('#')));
}

ZplLine parse_zpl_line(std::string_view text) {
    size_t indent = 0;
    while (indent < text.size() && text[indent] == ' ') ++indent;
    std::string_view rest = text.substr(indent);
    const std::string_view content = trim_blanks(rest);
    if (content.empty() || content.front() == '#') return {};
    if (rest.front() == '\t') return malformed("indented with a tab (ZPL indents with 4 spaces)");
    if (indent % 4 != 0) return malformed("indentation is not a multiple of 4 spaces");

    ZplLine line;
    line.kind = ZplLine::Kind::Entry;
    line.level = indent / 4;
    size_t name_end = 0;
    while (name_end < rest.size() && is_zpl_name_char(rest[name_end])) ++name_end;
    line.name = rest.substr(0, name_end);
    if (line.name.empty()) return malformed("not a ZPL name or 'name = value' line");
    rest = trim_blanks(rest.substr(name_end));
    if (rest.empty() || rest.front() == '#') return line;
    if (rest.front() != '=') return malformed("unexpected text after a ZPL name");
    std::string problem;
    const auto value = parse_zpl_value(rest.substr(1), problem);
    if (!value) return malformed(std::move(problem));
    line.value = *value;
    line.has_value = true;
    return line;
}

bool is_curve_section_line(std::string_view text) {
    const ZplLine line = parse_zpl_line(text);
    return line.kind == ZplLine::Kind::Entry && line.level == 0 && line.name == "curve";
}

bool has_curve_section_line(std::string_view text) {
    LineReader lines(text);
    Line line;
    while (lines.next(line)) {
        if (!line.too_long && is_curve_section_line(line.text)) return true;
    }
    return false;
}

// Collects `curve/public-key` and `curve/secret-key`, then adds the certificate's key.
class CertificateLoader {
  public:
    CertificateLoader(KeyStore& store, WarningSink& warnings)
        : store_(store), warnings_(warnings) {}
    ~CertificateLoader() {
        if (secret_key_.key) wipe(*secret_key_.key);
    }
    CertificateLoader(const CertificateLoader&) = delete;
    CertificateLoader& operator=(const CertificateLoader&) = delete;

    void read(const Line& line) {
        if (line.too_long) return warnings_.warn(line.number, too_long_message());
        if (auto problem = binary_data_problem(line.text)) {
            return warnings_.warn(line.number, *problem);
        }
        const ZplLine zpl = parse_zpl_line(line.text);
        if (zpl.kind == ZplLine::Kind::Malformed) return warnings_.warn(line.number, zpl.problem);
        if (zpl.kind == ZplLine::Kind::Blank) return;
        if (zpl.level == 0) {
            in_curve_ = zpl.name == "curve";
            seen_curve_ = seen_curve_ || in_curve_;
        } else if (zpl.level == 1 && in_curve_ && zpl.has_value) {
            if (zpl.name == "public-key") keep(public_key_, zpl, line.number);
            if (zpl.name == "secret-key") keep(secret_key_, zpl, line.number);
        }
    }

    size_t finish();

  private:
    struct Value {
        std::optional<Key> key;
        size_t line = 0;
    };

    void keep(Value& value, const ZplLine& zpl, size_t line_number) {
        if (value.line != 0) {
            return warnings_.warn(line_number,
                                  "duplicate " + std::string(zpl.name) + "; the first one is used");
        }
        value.line = line_number;
        value.key = parse_key(zpl.value);
        if (!value.key) warnings_.warn(line_number, bad_key_message(zpl.name, zpl.value));
    }

    KeyStore& store_;
    WarningSink& warnings_;
    bool in_curve_ = false;
    bool seen_curve_ = false;
    Value public_key_;
    Value secret_key_;
};

size_t CertificateLoader::finish() {
    if (!seen_curve_) {
        warnings_.warn(0, "not a certificate: no 'curve' section");
        return 0;
    }
    if (public_key_.line == 0 && secret_key_.line == 0) {
        warnings_.warn(0, "the 'curve' section has neither public-key nor secret-key");
        return 0;
    }
    if (secret_key_.key) {
        if (public_key_.key && *public_key_.key != public_key_of(*secret_key_.key)) {
            warnings_.warn(public_key_.line,
                           "public-key does not match secret-key; using the public key "
                           "derived from secret-key");
        }
        return store_.add(KeyLabel::CertificateSecret, *secret_key_.key,
                          source_at(warnings_.source(), secret_key_.line));
    }
    if (public_key_.key) {
        return store_.add(KeyLabel::CertificatePublic, *public_key_.key,
                          source_at(warnings_.source(), public_key_.line));
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Deriving public keys

// One scalarmult per secret is the whole cost of loading a big key log, so spread it over the
// cores when there are enough secrets to be worth a thread.
std::vector<Key> derive_public_keys(const std::vector<Key>& secrets) {
    constexpr size_t min_secrets_per_thread = 256;
    std::vector<Key> publics(secrets.size());
    const auto derive = [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) publics[i] = public_key_of(secrets[i]);
    };
    const size_t cores = std::max(1u, std::thread::hardware_concurrency());
    const size_t threads = std::clamp<size_t>(secrets.size() / min_secrets_per_thread, 1, cores);
    const size_t chunk = (secrets.size() + threads - 1) / threads;
    if (threads > 1) public_key_of(secrets.front());  // initialise libsodium before the threads
    std::vector<std::jthread> workers;
    size_t begin = chunk;  // the first chunk is done on this thread
    for (; begin < secrets.size(); begin += chunk) {
        try {
            workers.emplace_back(derive, begin, std::min(secrets.size(), begin + chunk));
        } catch (const std::system_error&) {
            break;  // no more threads: do the rest here
        }
    }
    derive(0, std::min(chunk, secrets.size()));
    derive(begin, secrets.size());
    return publics;  // the workers join when `workers` is destroyed, before this returns
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// KeyStore

KeyEntry::~KeyEntry() {
    wipe(secret_key);
}

KeyInput::~KeyInput() {
    wipe(key);
}

KeyStore::LabelledKey::~LabelledKey() {
    wipe(key);
}

size_t KeyStore::LabelledKeyHash::operator()(const LabelledKey& k) const {
    return std::hash<std::string_view>()(as_text(Bytes(k.key))) ^ size_t(k.label);
}

size_t KeyStore::load_file(const std::string& path, std::vector<KeyWarning>& warnings) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                               &std::fclose);
    if (!file) {
        warnings.push_back({path, 0, "cannot open: " + std::generic_category().message(errno)});
        return 0;
    }
    LineReader lines(file.get());
    const bool certificate = has_curve_section_line(lines.head());
    WarningSink sink(path, warnings);
    size_t added = 0;
    Line line;
    if (certificate) {
        CertificateLoader loader(*this, sink);
        while (lines.next(line)) loader.read(line);
        if (!lines.read_error()) added = loader.finish();
    } else {
        KeylogLoader loader(*this, sink);
        while (lines.next(line)) loader.read(line);
        added = loader.finish();
    }
    if (lines.read_error()) {
        warnings.push_back(
            {path, 0, "cannot read: " + std::generic_category().message(lines.read_error())});
    }
    return added;
}

size_t KeyStore::load_keylog_text(std::string_view text, std::string_view source_name,
                                  std::vector<KeyWarning>& warnings) {
    WarningSink sink(source_name, warnings);
    KeylogLoader loader(*this, sink);
    LineReader lines(text);
    Line line;
    while (lines.next(line)) loader.read(line);
    return loader.finish();
}

size_t KeyStore::load_certificate_text(std::string_view text, std::string_view source_name,
                                       std::vector<KeyWarning>& warnings) {
    WarningSink sink(source_name, warnings);
    CertificateLoader loader(*this, sink);
    LineReader lines(text);
    Line line;
    while (lines.next(line)) loader.read(line);
    return loader.finish();
}

bool KeyStore::add(KeyLabel label, const Key& key, std::string source) {
    const KeyInput input{label, key, std::move(source)};
    return add_all(std::span(&input, 1)) == 1;
}

size_t KeyStore::add_all(std::span<const KeyInput> keys) {
    // Copies of the secrets, wiped however this returns.
    struct WipedKeys {
        std::vector<Key> keys;
        ~WipedKeys() { wipe(keys.data(), keys.size() * sizeof(Key)); }
    } secrets;
    for (const KeyInput& input : keys) {
        if (is_secret_label(input.label)) secrets.keys.push_back(input.key);
    }
    const std::vector<Key> derived = derive_public_keys(secrets.keys);
    size_t next_derived = 0;
    size_t added = 0;
    for (const KeyInput& input : keys) {
        KeyEntry entry{input.label, input.key, {}, false, input.source};
        if (is_secret_label(input.label)) {
            entry.public_key = derived[next_derived++];
            entry.secret_key = input.key;
            entry.has_secret = true;
        } else if (input.label == KeyLabel::SessionKey) {
            // k is no X25519 secret: nothing is derived from it (docs/keylog.md SESSION_KEY).
            entry.public_key = Key{};
            entry.secret_key = input.key;
            entry.has_secret = true;
        }
        added += insert(std::move(entry)) ? 1 : 0;
    }
    return added;
}

bool KeyStore::insert(KeyEntry entry) {
    const Key& identity = entry.has_secret ? entry.secret_key : entry.public_key;
    if (!labelled_keys_.insert(LabelledKey{entry.label, identity}).second) return false;
    if (is_secret_label(entry.label)) {
        secret_by_public_.try_emplace(raw_key(entry.public_key), entries_.size());
    }
    entries_.push_back(std::move(entry));
    ++generation_;
    return true;
}

// KeyEntry and LabelledKey wipe their keys as they are destroyed, here and in the destructor.
void KeyStore::clear() {
    if (entries_.empty()) return;
    entries_.clear();
    labelled_keys_.clear();
    secret_by_public_.clear();
    ++generation_;
}

const KeyEntry* KeyStore::find_secret(const Key& public_key) const {
    const auto found = secret_by_public_.find(raw_key(public_key));
    return found == secret_by_public_.end() ? nullptr : &entries_[found->second];
}

const std::vector<Key>& KeyStore::server_public_candidates() const {
    return candidates().server_publics;
}

const std::vector<const KeyEntry*>& KeyStore::secret_candidates() const {
    return candidates().secrets;
}

const std::vector<const KeyEntry*>& KeyStore::session_keys() const {
    return candidates().session_keys;
}

namespace {

// Keys already listed, by address into the entries: no copy of a secret is made.
struct KeyPointerHash {
    size_t operator()(const Key* key) const {
        return std::hash<std::string_view>()(as_text(Bytes(*key)));
    }
};
struct KeyPointerEqual {
    bool operator()(const Key* a, const Key* b) const { return *a == *b; }
};
using SeenKeys = std::unordered_set<const Key*, KeyPointerHash, KeyPointerEqual>;

// Keys of the entries with these labels, in store order, each key once across calls (`seen`).
template <class KeyOf, class Push>
void add_labelled(const std::vector<KeyEntry>& entries, std::initializer_list<KeyLabel> labels,
                  SeenKeys& seen, KeyOf key_of, Push push) {
    for (const KeyEntry& entry : entries) {
        const bool wanted = std::find(labels.begin(), labels.end(), entry.label) != labels.end();
        if (wanted && seen.insert(&key_of(entry)).second) push(entry);
    }
}

}  // namespace

const KeyStore::Candidates& KeyStore::candidates() const {
    std::lock_guard lock(candidates_.mutex);
    Candidates& c = candidates_.lists;
    if (c.generation == generation_) return c;
    c = Candidates{};

    SeenKeys seen;
    const auto public_key = [](const KeyEntry& e) -> const Key& { return e.public_key; };
    const auto add_public = [&](const KeyEntry& e) { c.server_publics.push_back(e.public_key); };
    add_labelled(entries_, {KeyLabel::ServerPublic}, seen, public_key, add_public);
    add_labelled(entries_, {KeyLabel::ServerSecret, KeyLabel::CertificateSecret}, seen, public_key,
                 add_public);
    add_labelled(entries_, {KeyLabel::CertificatePublic}, seen, public_key, add_public);
    add_labelled(entries_, {KeyLabel::EphemeralSecret, KeyLabel::ClientSecret}, seen, public_key,
                 add_public);

    seen.clear();
    const auto secret_key = [](const KeyEntry& e) -> const Key& { return e.secret_key; };
    const auto add_secret = [&](const KeyEntry& e) { c.secrets.push_back(&e); };
    add_labelled(entries_, {KeyLabel::ServerSecret, KeyLabel::CertificateSecret}, seen, secret_key,
                 add_secret);
    add_labelled(entries_, {KeyLabel::EphemeralSecret}, seen, secret_key, add_secret);
    add_labelled(entries_, {KeyLabel::ClientSecret}, seen, secret_key, add_secret);

    // Session keys are only ever tried as k, never as X25519 secrets or public keys.
    seen.clear();
    const auto add_session_key = [&](const KeyEntry& e) { c.session_keys.push_back(&e); };
    add_labelled(entries_, {KeyLabel::SessionKey}, seen, secret_key, add_session_key);
    c.generation = generation_;  // only once every list is complete
    return c;
}

}  // namespace zmtp
