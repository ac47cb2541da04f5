// Checks a key log written by libzmtp-keylog.so: the exact line format, file mode 0600, the
// keys a test program says it set, and that the logged keys open the handshakes it captured.
//
//   keylog_verify --keylog FILE [--expect FILE] [--absent FILE] [--publics FILE]
//                 [--processes N] [--connections N] [--session-keys-per-connection N]
//                 [CAPTURE.c2s ...]
//
// --expect: lines "LABEL hex" that must be in the log with that label.
// --absent: keys (same format) that must not be anywhere in the log.
// --publics: one public key (hex) per line; the publics of the EPHEMERAL_SECRET lines must be
//            exactly these, once each.
// --processes: the number of processes that wrote (one header line each).
// CAPTURE.c2s: the client-to-server bytes of one CURVE connection (greeting, HELLO, INITIATE...);
//              CAPTURE.s2c beside it, when present, holds the server-to-client bytes.
// --connections: how many captures must hold a complete handshake (at least).
// --session-keys-per-connection N: every complete connection's k = beforenm(S', c') is logged as
//              SESSION_KEY exactly N times (2 when both peers run under the logger), no other
//              SESSION_KEY is logged, and k alone opens the connection's READY and MESSAGE boxes.
#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Key = std::array<unsigned char, 32>;

struct LoggedKey {
    std::string label;
    Key key;
};

struct KeyLog {
    std::vector<LoggedKey> keys;
    std::vector<long> header_pids;
};

int failures = 0;

void fail(const std::string& message) {
    std::fprintf(stderr, "FAIL: %s\n", message.c_str());
    ++failures;
}

std::string hex(const unsigned char* data, size_t size) {
    static const char digits[] = "0123456789abcdef";
    std::string text;
    for (size_t i = 0; i < size; ++i) {
        text += digits[data[i] >> 4];
        text += digits[data[i] & 15];
    }
    return text;
}

// Only for public keys: a short name for messages.
std::string public_id(const Key& key) {
    return hex(key.data(), 8) + "...";
}

std::optional<Key> parse_hex_key(const std::string& text) {
    if (text.size() != 64) return std::nullopt;
    Key key{};
    for (size_t i = 0; i < 64; ++i) {
        char c = text[i];
        int value = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (value < 0) return std::nullopt;  // the logger writes lowercase only
        key[i / 2] = static_cast<unsigned char>(key[i / 2] << 4 | value);
    }
    return key;
}

Key public_of(const Key& secret) {
    Key result{};
    crypto_scalarmult_base(result.data(), secret.data());
    return result;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

const std::set<std::string> labels = {"SERVER_PUBLIC", "SERVER_SECRET",    "CLIENT_PUBLIC",
                                      "CLIENT_SECRET", "EPHEMERAL_SECRET", "SESSION_KEY"};

bool is_secret_label(const std::string& label) {
    return label.find("SECRET") != std::string::npos || label == "SESSION_KEY";
}

bool parse_header(const std::string& line, KeyLog& log) {
    const std::string prefix = "# zmtp keylog pid=";
    if (line.rfind(prefix, 0) != 0) return false;
    std::string digits = line.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    log.header_pids.push_back(std::stol(digits));
    return true;
}

bool parse_key_line(const std::string& line, std::vector<LoggedKey>& keys) {
    size_t space = line.find(' ');
    if (space == std::string::npos || !labels.count(line.substr(0, space))) return false;
    auto key = parse_hex_key(line.substr(space + 1));
    if (!key) return false;
    keys.push_back({line.substr(0, space), *key});
    return true;
}

// The strict form the logger writes: every line complete, nothing else in the file.
std::optional<KeyLog> load_strict(const std::string& path, bool allow_headers) {
    auto text = read_file(path);
    if (!text) {
        fail("cannot read " + path);
        return std::nullopt;
    }
    if (!text->empty() && text->back() != '\n') fail(path + ": the last line is incomplete");
    KeyLog log;
    std::istringstream lines(*text);
    std::string line;
    for (size_t number = 1; std::getline(lines, line); ++number) {
        bool ok = (allow_headers && parse_header(line, log)) || parse_key_line(line, log.keys);
        if (!ok) fail(path + ":" + std::to_string(number) + ": malformed line");
    }
    return log;
}

void check_file_mode(const std::string& path) {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0) return fail("cannot stat " + path);
    if (!S_ISREG(info.st_mode)) fail(path + " is not a regular file");
    if ((info.st_mode & 0777) != 0600) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%03o", info.st_mode & 0777);
        fail(path + " has mode " + mode + ", expected 600");
    }
}

void check_headers(const KeyLog& log, int processes) {
    std::set<long> pids(log.header_pids.begin(), log.header_pids.end());
    if (pids.size() != log.header_pids.size()) fail("a process wrote more than one header line");
    if (log.header_pids.empty() && !log.keys.empty()) fail("no '# zmtp keylog pid=' header");
    if (processes >= 0 && static_cast<int>(pids.size()) != processes)
        fail("headers from " + std::to_string(pids.size()) + " processes, expected " +
             std::to_string(processes));
}

std::set<Key> keys_labelled(const KeyLog& log, const std::string& label) {
    std::set<Key> result;
    for (const auto& entry : log.keys)
        if (entry.label == label) result.insert(entry.key);
    return result;
}

// A long-term secret's public key is logged with the matching label.
void check_secret_public_pairs(const KeyLog& log) {
    for (const char* role : {"SERVER", "CLIENT"}) {
        auto publics = keys_labelled(log, std::string(role) + "_PUBLIC");
        for (const auto& secret : keys_labelled(log, std::string(role) + "_SECRET")) {
            Key derived = public_of(secret);
            if (!publics.count(derived))
                fail(std::string(role) + "_SECRET whose public key " + public_id(derived) +
                     " is not logged as " + role + "_PUBLIC");
        }
    }
}

void check_expected(const KeyLog& log, const std::string& path) {
    auto expected = load_strict(path, false);
    if (!expected) return;
    for (const auto& want : expected->keys) {
        bool found = false;
        for (const auto& entry : log.keys)
            found |= entry.label == want.label && entry.key == want.key;
        if (!found) {
            std::string what = is_secret_label(want.label)
                                   ? "(public " + public_id(public_of(want.key)) + ")"
                                   : public_id(want.key);
            fail("missing " + want.label + " " + what);
        }
    }
    std::printf("expected keys: %zu checked\n", expected->keys.size());
}

void check_absent(const KeyLog& log, const std::string& path) {
    auto absent = load_strict(path, false);
    if (!absent) return;
    for (const auto& unwanted : absent->keys)
        for (const auto& entry : log.keys)
            if (entry.key == unwanted.key) fail("a key of a rejected zmq_setsockopt was logged");
    std::printf("rejected keys: %zu checked\n", absent->keys.size());
}

void check_publics(const KeyLog& log, const std::string& path) {
    auto text = read_file(path);
    if (!text) return fail("cannot read " + path);
    std::multiset<Key> wanted;
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
        auto key = parse_hex_key(line);
        if (!key) return fail(path + ": malformed public key line");
        wanted.insert(*key);
    }
    std::multiset<Key> logged;
    for (const auto& secret : keys_labelled(log, "EPHEMERAL_SECRET"))
        logged.insert(public_of(secret));
    size_t ephemeral_lines = 0;
    for (const auto& entry : log.keys) ephemeral_lines += entry.label == "EPHEMERAL_SECRET";
    if (ephemeral_lines != wanted.size())
        fail(std::to_string(ephemeral_lines) + " EPHEMERAL_SECRET lines for " +
             std::to_string(wanted.size()) + " keypairs made");
    if (logged != wanted) fail("the logged secrets do not match the keypairs the program got");
    std::printf("keypairs: %zu made, %zu logged\n", wanted.size(), ephemeral_lines);
}

struct Frame {
    bool command;
    std::string body;
};

// ZMTP 3 frames after the 64-byte greeting (docs/protocol.md 2.1); stops at a truncated frame.
std::vector<Frame> parse_frames(const std::string& bytes) {
    std::vector<Frame> frames;
    size_t at = 64;
    while (at < bytes.size()) {
        auto flags = static_cast<unsigned char>(bytes[at]);
        size_t header = (flags & 2) ? 9 : 2;
        if (at + header > bytes.size()) break;
        uint64_t size = 0;
        for (size_t i = 1; i < header; ++i)
            size = size << 8 | static_cast<unsigned char>(bytes[at + i]);
        if (size > bytes.size() - at - header) break;
        frames.push_back({(flags & 4) != 0, bytes.substr(at + header, size)});
        at += header + size;
    }
    return frames;
}

std::optional<std::string> command_body(const std::vector<Frame>& frames, const std::string& name) {
    for (const auto& frame : frames) {
        if (frame.command && frame.body.size() > name.size() &&
            static_cast<unsigned char>(frame.body[0]) == name.size() &&
            frame.body.compare(1, name.size(), name) == 0)
            return frame.body;
    }
    return std::nullopt;
}

const unsigned char* bytes_of(const std::string& s, size_t offset) {
    return reinterpret_cast<const unsigned char*>(s.data()) + offset;
}

// Opens a CurveZMQ box (MAC + ciphertext, as on the wire) with the secret `mine`.
std::optional<std::string> open_box(const std::string& prefix, const unsigned char* nonce_tail,
                                    const unsigned char* box, size_t box_size, const Key& theirs,
                                    const Key& mine) {
    if (box_size < crypto_box_MACBYTES) return std::nullopt;
    unsigned char nonce[crypto_box_NONCEBYTES];
    std::memcpy(nonce, prefix.data(), prefix.size());
    std::memcpy(nonce + prefix.size(), nonce_tail, sizeof nonce - prefix.size());
    std::string plain(box_size - crypto_box_MACBYTES, '\0');
    if (crypto_box_open_easy(reinterpret_cast<unsigned char*>(plain.data()), box, box_size, nonce,
                             theirs.data(), mine.data()) != 0)
        return std::nullopt;
    return plain;
}

Key key_at(const std::string& s, size_t offset) {
    Key key{};
    std::memcpy(key.data(), s.data() + offset, key.size());
    return key;
}

class HandshakeCheck {
  public:
    HandshakeCheck(const KeyLog& log, std::string name)
        : name_(std::move(name)),
          ephemeral_(keys_labelled(log, "EPHEMERAL_SECRET")),
          server_secrets_(keys_labelled(log, "SERVER_SECRET")),
          server_publics_(keys_labelled(log, "SERVER_PUBLIC")),
          client_secrets_(keys_labelled(log, "CLIENT_SECRET")),
          client_publics_(keys_labelled(log, "CLIENT_PUBLIC")) {}

    // True when the capture holds HELLO and INITIATE and every key of the handshake is logged.
    bool run(const std::string& bytes) {
        auto frames = parse_frames(bytes);
        auto hello = command_body(frames, "HELLO");
        auto initiate = command_body(frames, "INITIATE");
        if (!hello || !initiate) {
            std::printf("%s: no complete handshake (%zu bytes), skipped\n", name_.c_str(),
                        bytes.size());
            return false;
        }
        if (hello->size() != 200 || initiate->size() < 257) {
            fail(name_ + ": HELLO or INITIATE has the wrong size");
            return false;
        }
        Key client_ephemeral_public = key_at(*hello, 80);
        check_client_ephemeral(client_ephemeral_public);
        check_hello(*hello, client_ephemeral_public);
        check_initiate(*initiate, client_ephemeral_public);
        return true;
    }

    const std::set<Key>& matched_client_ephemerals() const { return matched_client_; }
    const std::set<Key>& matched_server_ephemerals() const { return matched_server_; }

  private:
    void check_client_ephemeral(const Key& client_ephemeral_public) {
        for (const auto& secret : ephemeral_) {
            if (public_of(secret) == client_ephemeral_public) {
                matched_client_.insert(secret);
                return;
            }
        }
        fail(name_ + ": no EPHEMERAL_SECRET for C' " + public_id(client_ephemeral_public));
    }

    void check_hello(const std::string& hello, const Key& client_ephemeral_public) {
        for (const auto& secret : server_secrets_)
            if (open_box("CurveZMQHELLO---", bytes_of(hello, 112), bytes_of(hello, 120), 80,
                         client_ephemeral_public, secret))
                return;
        fail(name_ + ": HELLO does not open with any SERVER_SECRET");
    }

    void check_initiate(const std::string& initiate, const Key& client_ephemeral_public) {
        for (const auto& secret : ephemeral_) {
            auto plain =
                open_box("CurveZMQINITIATE", bytes_of(initiate, 105), bytes_of(initiate, 113),
                         initiate.size() - 113, client_ephemeral_public, secret);
            if (!plain) continue;
            matched_server_.insert(secret);
            check_vouch(*plain, client_ephemeral_public, public_of(secret));
            return;
        }
        fail(name_ + ": INITIATE does not open with any EPHEMERAL_SECRET (s' missing)");
    }

    // The vouch box proves the client's long-term secret c: it opens with DH(c, S').
    void check_vouch(const std::string& plain, const Key& client_ephemeral_public,
                     const Key& server_ephemeral_public) {
        Key client_public = key_at(plain, 0);
        if (!client_publics_.count(client_public))
            return fail(name_ + ": the client's C " + public_id(client_public) + " is not logged");
        for (const auto& secret : client_secrets_) {
            if (public_of(secret) != client_public) continue;
            auto vouch = open_box("VOUCH---", bytes_of(plain, 32), bytes_of(plain, 48), 80,
                                  server_ephemeral_public, secret);
            if (!vouch)
                return fail(name_ + ": the vouch does not open with the logged CLIENT_SECRET");
            if (key_at(*vouch, 0) != client_ephemeral_public ||
                !server_publics_.count(key_at(*vouch, 32)))
                fail(name_ + ": the vouch does not hold C' and a logged SERVER_PUBLIC");
            return;
        }
        fail(name_ + ": no CLIENT_SECRET for C " + public_id(client_public));
    }

    std::string name_;
    std::set<Key> ephemeral_, server_secrets_, server_publics_, client_secrets_, client_publics_;
    std::set<Key> matched_client_, matched_server_;
};

// The bodies of MESSAGE commands (docs/protocol.md 4.6). libzmq sends them in message frames,
// not command frames, so the outer flags are not looked at.
std::vector<std::string> message_bodies(const std::vector<Frame>& frames) {
    std::vector<std::string> bodies;
    for (const auto& frame : frames) {
        if (frame.body.size() >= 33 && frame.body.compare(0, 8, "\x07MESSAGE") == 0)
            bodies.push_back(frame.body);
    }
    return bodies;
}

// Opens a box made with a precomputed key k (crypto_box_easy_afternm, docs/protocol.md 4.8).
std::optional<std::string> open_with_session_key(const std::string& prefix,
                                                 const unsigned char* nonce_tail,
                                                 const unsigned char* box, size_t box_size,
                                                 const Key& k) {
    if (box_size < crypto_box_MACBYTES) return std::nullopt;
    unsigned char nonce[crypto_box_NONCEBYTES];
    std::memcpy(nonce, prefix.data(), prefix.size());
    std::memcpy(nonce + prefix.size(), nonce_tail, sizeof nonce - prefix.size());
    std::string plain(box_size - crypto_box_MACBYTES, '\0');
    if (crypto_box_open_easy_afternm(reinterpret_cast<unsigned char*>(plain.data()), box, box_size,
                                     nonce, k.data()) != 0)
        return std::nullopt;
    return plain;
}

std::optional<std::string> open_message(const std::string& body, const std::string& prefix,
                                        const Key& k) {
    return open_with_session_key(prefix, bytes_of(body, 8), bytes_of(body, 16), body.size() - 16,
                                 k);
}

uint64_t short_nonce(const std::string& body, size_t offset) {
    uint64_t value = 0;
    for (size_t i = 0; i < 8; ++i)
        value = value << 8 | static_cast<unsigned char>(body[offset + i]);
    return value;
}

// Every MESSAGE of one direction opens with k, with strictly increasing nonces, and one of them
// carries `text` (what the peers program sent). Returns how many opened.
size_t open_all_messages(const std::string& name, const std::vector<std::string>& bodies,
                         const std::string& prefix, const Key& k, const std::string& text) {
    size_t opened = 0;
    uint64_t last_nonce = 0;
    bool found_text = false;
    for (const auto& body : bodies) {
        auto plain = open_message(body, prefix, k);
        if (!plain) continue;
        ++opened;
        if (short_nonce(body, 8) <= last_nonce) fail(name + ": MESSAGE nonces do not increase");
        last_nonce = short_nonce(body, 8);
        found_text |= plain->find(text) != std::string::npos;
    }
    if (opened != bodies.size())
        fail(name + ": " + std::to_string(bodies.size() - opened) + " of " +
             std::to_string(bodies.size()) + " " + prefix + " boxes do not open with the k");
    if (!found_text) fail(name + ": no " + prefix + " plaintext holds \"" + text + "\"");
    return opened;
}

// What a decoder does with a capture that starts after the handshake (docs/keylog.md
// SESSION_KEY): find the k that opens the first MESSAGE by trial over every SESSION_KEY line,
// then open the rest with it. The k must also be beforenm(S', c') = beforenm(C', s') of the
// handshake's ephemeral keys, and open INITIATE and READY.
class SessionKeyCheck {
  public:
    SessionKeyCheck(const KeyLog& log, std::string name)
        : name_(std::move(name)), session_keys_(keys_labelled(log, "SESSION_KEY")) {}

    std::optional<Key> run(const std::string& c2s, const std::optional<std::string>& s2c,
                           const Key& client_ephemeral, const Key& server_ephemeral) {
        const auto frames = parse_frames(c2s);
        const auto messages = message_bodies(frames);
        if (messages.empty()) {
            fail(name_ + ": no MESSAGE captured from the client");
            return std::nullopt;
        }
        auto k = find_by_trial(messages.front());
        if (!k) return std::nullopt;
        check_is_beforenm(*k, client_ephemeral, server_ephemeral);
        auto initiate = command_body(frames, "INITIATE");
        if (!initiate ||
            !open_with_session_key("CurveZMQINITIATE", bytes_of(*initiate, 105),
                                   bytes_of(*initiate, 113), initiate->size() - 113, *k))
            fail(name_ + ": INITIATE does not open with the SESSION_KEY");
        opened_ += open_all_messages(name_, messages, "CurveZMQMESSAGEC", *k, "request ");
        if (s2c) check_server_to_client(*s2c, *k);
        return k;
    }

    size_t opened_boxes() const { return opened_; }

  private:
    std::optional<Key> find_by_trial(const std::string& first_message) {
        std::vector<Key> openers;
        for (const auto& k : session_keys_)
            if (open_message(first_message, "CurveZMQMESSAGEC", k)) openers.push_back(k);
        if (openers.size() == 1) return openers.front();
        fail(name_ + ": " + std::to_string(openers.size()) +
             " SESSION_KEY lines open the first MESSAGE, expected exactly 1");
        return std::nullopt;
    }

    void check_is_beforenm(const Key& k, const Key& client_ephemeral, const Key& server_ephemeral) {
        Key client_side{}, server_side{};
        const Key server_ephemeral_public = public_of(server_ephemeral);
        const Key client_ephemeral_public = public_of(client_ephemeral);
        if (crypto_box_beforenm(client_side.data(), server_ephemeral_public.data(),
                                client_ephemeral.data()) != 0 ||
            crypto_box_beforenm(server_side.data(), client_ephemeral_public.data(),
                                server_ephemeral.data()) != 0)
            return fail(name_ + ": crypto_box_beforenm failed");
        if (client_side != k) fail(name_ + ": the SESSION_KEY is not beforenm(S', c')");
        if (server_side != k) fail(name_ + ": the SESSION_KEY is not beforenm(C', s')");
        sodium_memzero(client_side.data(), client_side.size());
        sodium_memzero(server_side.data(), server_side.size());
    }

    void check_server_to_client(const std::string& s2c, const Key& k) {
        const auto frames = parse_frames(s2c);
        auto ready = command_body(frames, "READY");
        if (!ready || ready->size() < 30 ||
            !open_with_session_key("CurveZMQREADY---", bytes_of(*ready, 6), bytes_of(*ready, 14),
                                   ready->size() - 14, k))
            fail(name_ + ": READY does not open with the SESSION_KEY");
        const auto messages = message_bodies(frames);
        if (messages.empty()) return fail(name_ + ": no MESSAGE captured from the server");
        opened_ += open_all_messages(name_, messages, "CurveZMQMESSAGES", k, "reply ");
    }

    std::string name_;
    std::set<Key> session_keys_;
    size_t opened_ = 0;
};

std::string server_to_client_path(const std::string& c2s_path) {
    const std::string suffix = ".c2s";
    if (c2s_path.size() < suffix.size() ||
        c2s_path.compare(c2s_path.size() - suffix.size(), suffix.size(), suffix) != 0)
        return "";
    return c2s_path.substr(0, c2s_path.size() - suffix.size()) + ".s2c";
}

// Each connection's k is logged `per_connection` times (once by each peer under the logger), and
// every SESSION_KEY line belongs to a captured connection.
void check_session_key_counts(const KeyLog& log, const std::vector<Key>& connection_keys,
                              int per_connection) {
    std::map<Key, int> logged;
    size_t lines = 0;
    for (const auto& entry : log.keys) {
        if (entry.label != "SESSION_KEY") continue;
        ++logged[entry.key];
        ++lines;
    }
    std::set<Key> distinct(connection_keys.begin(), connection_keys.end());
    if (distinct.size() != connection_keys.size()) fail("connections share a SESSION_KEY");
    for (const auto& k : distinct)
        if (logged[k] != per_connection)
            fail("a connection's SESSION_KEY is logged " + std::to_string(logged[k]) +
                 " times, expected " + std::to_string(per_connection));
    if (lines != connection_keys.size() * static_cast<size_t>(per_connection))
        fail(std::to_string(lines) + " SESSION_KEY lines for " +
             std::to_string(connection_keys.size()) + " connections, expected " +
             std::to_string(per_connection) + " each");
}

void check_captures(const KeyLog& log, const std::vector<std::string>& captures, int connections,
                    int session_keys_per_connection) {
    int complete = 0;
    std::set<Key> client_ephemerals, server_ephemerals;
    std::vector<Key> connection_keys;
    size_t session_key_boxes = 0;
    for (const auto& path : captures) {
        auto bytes = read_file(path);
        if (!bytes) {
            fail("cannot read " + path);
            continue;
        }
        HandshakeCheck check(log, path);
        if (!check.run(*bytes)) continue;
        ++complete;
        for (const auto& key : check.matched_client_ephemerals()) client_ephemerals.insert(key);
        for (const auto& key : check.matched_server_ephemerals()) server_ephemerals.insert(key);
        if (session_keys_per_connection <= 0) continue;
        if (check.matched_client_ephemerals().size() != 1 ||
            check.matched_server_ephemerals().size() != 1)
            continue;  // already failed: without c' and s' there is no k to compare with
        const std::string s2c_path = server_to_client_path(path);
        const auto s2c = s2c_path.empty() ? std::nullopt : read_file(s2c_path);
        SessionKeyCheck session(log, path);
        auto k = session.run(*bytes, s2c, *check.matched_client_ephemerals().begin(),
                             *check.matched_server_ephemerals().begin());
        if (k) connection_keys.push_back(*k);
        session_key_boxes += session.opened_boxes();
    }
    if (complete < connections)
        fail(std::to_string(complete) + " complete handshakes captured, expected " +
             std::to_string(connections));
    for (const auto& key : client_ephemerals)
        if (server_ephemerals.count(key)) fail("one ephemeral secret matched both c' and s'");
    if (static_cast<int>(client_ephemerals.size()) < complete ||
        static_cast<int>(server_ephemerals.size()) < complete)
        fail("connections share ephemeral keys");
    size_t ephemeral_lines = keys_labelled(log, "EPHEMERAL_SECRET").size();
    if (ephemeral_lines < 2 * static_cast<size_t>(connections))
        fail(std::to_string(ephemeral_lines) + " EPHEMERAL_SECRET keys for " +
             std::to_string(connections) + " connections");
    std::printf("handshakes: %d complete, each opened with logged c', s', s and c\n", complete);
    if (session_keys_per_connection <= 0) return;
    if (connection_keys.size() != static_cast<size_t>(complete))
        fail(std::to_string(complete - static_cast<int>(connection_keys.size())) +
             " connections without a SESSION_KEY that opens them");
    check_session_key_counts(log, connection_keys, session_keys_per_connection);
    std::printf(
        "session keys: %zu connections found by trial on their first MESSAGE, each k = "
        "beforenm(S', c') logged %d times; INITIATE, READY and %zu MESSAGE boxes opened with k\n",
        connection_keys.size(), session_keys_per_connection, session_key_boxes);
}

struct Options {
    std::string keylog, expect, absent, publics;
    int processes = -1;
    int connections = 0;
    int session_keys_per_connection = 0;
    std::vector<std::string> captures;
};

std::optional<Options> parse_arguments(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        bool has_value = i + 1 < argc;
        if (arg == "--keylog" && has_value)
            options.keylog = argv[++i];
        else if (arg == "--expect" && has_value)
            options.expect = argv[++i];
        else if (arg == "--absent" && has_value)
            options.absent = argv[++i];
        else if (arg == "--publics" && has_value)
            options.publics = argv[++i];
        else if (arg == "--processes" && has_value)
            options.processes = std::atoi(argv[++i]);
        else if (arg == "--connections" && has_value)
            options.connections = std::atoi(argv[++i]);
        else if (arg == "--session-keys-per-connection" && has_value)
            options.session_keys_per_connection = std::atoi(argv[++i]);
        else if (arg.rfind("--", 0) == 0)
            return std::nullopt;
        else
            options.captures.push_back(arg);
    }
    if (options.keylog.empty()) return std::nullopt;
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_arguments(argc, argv);
    if (!options) {
        std::fprintf(stderr,
                     "usage: keylog_verify --keylog FILE [--expect FILE] [--absent FILE] "
                     "[--publics FILE] [--processes N] [--connections N] "
                     "[--session-keys-per-connection N] [CAPTURE.c2s ...]\n");
        return 2;
    }
    if (sodium_init() < 0) return 2;
    check_file_mode(options->keylog);
    auto log = load_strict(options->keylog, true);
    if (!log) return 1;
    std::printf("%s: %zu keys, %zu header lines\n", options->keylog.c_str(), log->keys.size(),
                log->header_pids.size());
    check_headers(*log, options->processes);
    check_secret_public_pairs(*log);
    if (!options->expect.empty()) check_expected(*log, options->expect);
    if (!options->absent.empty()) check_absent(*log, options->absent);
    if (!options->publics.empty()) check_publics(*log, options->publics);
    if (options->connections > 0 || !options->captures.empty())
        check_captures(*log, options->captures, options->connections,
                       options->session_keys_per_connection);
    std::printf(failures ? "%d check(s) failed\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
