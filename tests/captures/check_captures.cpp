// zmtp-capture-check: decodes every NAME.pcapng of a captures folder with libzmtp (through
// zmtp_capture) and checks it against NAME.expected.json (schema: captures/README.md).
// CURVE captures are checked with the whole key log and again with each key set of
// docs/keylog.md's table: client side (c' + S), server side (s'), and s alone. A capture that
// starts after the handshake (capture_start "mid-connection", captures/README.md) is checked with
// its SESSION_KEY lines alone, and with every other key but them, which must open nothing.
//
// usage: zmtp-capture-check [-v] [--gaps | --expect-gap] DIR [NAME...]
//   --gaps        the captures lost bytes (e.g. cut by a snapshot length): in a connection with
//                 a gap, each direction's decoded messages must be expected ones, in order
//   --expect-gap  the same, and every capture must report at least one gap
// exit 0 = all good, 1 = failures, 2 = usage
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "capture_decoding.hpp"
#include "zmtp/z85.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace capture_check;

namespace {

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr size_t max_problems_shown = 25;

const char* const direction_keys[2] = {"client_to_server", "server_to_client"};

struct Problems {
    std::vector<std::string> list;
    void add(std::string text) { list.push_back(std::move(text)); }
    bool empty() const { return list.empty(); }
};

std::string short_hex(const std::string& hex, size_t from = 0) {
    const size_t shown = 32;
    std::string text = hex.substr(from, shown);
    if (from > 0) text = "..." + text;
    if (hex.size() > from + shown) text += "...";
    return "\"" + text + "\" (" + std::to_string(hex.size() / 2) + " bytes)";
}

// Where two messages (frames in hex) first differ, for people.
std::string difference(const json& want, const json& got) {
    if (want.size() != got.size())
        return "expected " + std::to_string(want.size()) + " frame(s), decoded " +
               std::to_string(got.size());
    for (size_t i = 0; i < want.size(); ++i) {
        const std::string a = want[i].get<std::string>(), b = got[i].get<std::string>();
        if (a == b) continue;
        size_t at = 0;
        while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
        at -= at % 2;
        return "frame " + std::to_string(i) + " differs at byte " + std::to_string(at / 2) +
               ": expected " + short_hex(a, at) + ", decoded " + short_hex(b, at);
    }
    return "equal";
}

struct Mode {
    bool verbose = false;
    bool gaps_allowed = false;
    bool gap_expected = false;
};

// What a key set is expected to open. SessionKeyNeeded: nothing, in a capture without the
// handshake, and the decoder says that only a SESSION_KEY would open it.
enum class Expect { Everything, HandshakeOnly, Nothing, SessionKeyNeeded };

struct KeySet {
    std::string name;
    zmtp::KeyStore store;
    Expect expect = Expect::Everything;
};

void compare_messages(const json& expected, const DirectionResult& got, const std::string& where,
                      bool cut_short, bool joined_late, Problems& problems) {
    json want = expected.at("messages");
    // Joined late, the first message may lack its start for all the decoder knows (the MORE
    // flags before it are unknown): it is reported as lost, not as a message.
    if (joined_late && !want.empty() && got.messages.size() + 1 == want.size())
        want.erase(want.begin());
    if (cut_short) {
        // Bytes were lost: what is decoded must be expected messages, in order (docs/protocol.md
        // 9: messages a gap cut are reported as lost, never as messages).
        size_t next = 0;
        for (size_t i = 0; i < got.messages.size(); ++i) {
            const json message(got.messages[i]);
            while (next < want.size() && want[next] != message) ++next;
            if (next == want.size()) {
                problems.add(where + " message " + std::to_string(i) +
                             " is not one of the expected messages, in order: " + message.dump());
                return;
            }
            ++next;
        }
        return;
    }
    const size_t common = std::min(want.size(), got.messages.size());
    for (size_t i = 0; i < common; ++i) {
        if (json(got.messages[i]) == want[i]) continue;
        problems.add(where + " message " + std::to_string(i) + ": " +
                     difference(want[i], json(got.messages[i])));
        return;  // later messages would only repeat the shift
    }
    const bool fewer_allowed = cut_short && got.messages.size() < want.size();
    if (want.size() != got.messages.size() && !fewer_allowed)
        problems.add(where + ": expected " + std::to_string(want.size()) + " messages, decoded " +
                     std::to_string(got.messages.size()));
    if (!got.partial.empty() && !cut_short)
        problems.add(where + ": a message of " + std::to_string(got.partial.size()) +
                     " frame(s) was never finished");
}

void compare_commands(const json& expected, const DirectionResult& got, const std::string& where,
                      bool cut_short, Problems& problems) {
    const json& want = expected.value("commands", json::object());
    std::set<std::string> named;
    for (const auto& [key, value] : want.items()) {
        const bool minimum = key.ends_with("_min");
        const std::string name = minimum ? key.substr(0, key.size() - 4) : key;
        named.insert(name);
        const auto it = got.commands.find(name);
        const int count = it == got.commands.end() ? 0 : it->second;
        const int wanted = value.get<int>();
        const bool ok = cut_short ? minimum || count <= wanted
                        : minimum ? count >= wanted
                                  : count == wanted;
        if (!ok)
            problems.add(where + ": " + name + " expected " + (minimum ? "at least " : "") +
                         std::to_string(wanted) + ", decoded " + std::to_string(count));
    }
    for (const auto& [name, count] : got.commands) {
        if (!named.count(name))
            problems.add(where + ": decoded " + std::to_string(count) + " " + name +
                         " that expected.json does not list");
    }
}

bool handshake_matches(const std::string& want, const ConnectionResult& got) {
    if (want == "closed") return got.handshake == "closed" || got.handshake == "failed";
    return want == got.handshake;
}

bool end_matches(const std::string& want, const std::string& got) {
    // A heartbeat timeout is a TCP close; zmtp-replay's tests check the diagnosis.
    if (want == "heartbeat-timeout") return got == "fin" || got == "rst";
    return want == got;
}

// ZMTP 1.0/2.0 connections list each side's greeting (version label, identity in hex): the
// identity belongs to the greeting (docs/protocol.md 1.3, 1.4). Every other greeting is 3.x,
// without one.
void compare_greetings(const json& want, const ConnectionResult& got, const std::string& where,
                       Problems& problems) {
    for (size_t i = 0; i < 2; ++i) {
        const std::string side = where + (i ? " server" : " client") + " greeting";
        if (!want.contains("greetings")) {
            if (got.greeting_identities[i])
                problems.add(side + ": an identity frame, but the capture is ZMTP 3.x");
            continue;
        }
        const json& g = want["greetings"][i];
        if (g.at("version").get<std::string>() != got.greeting_labels[i])
            problems.add(side + " expected \"" + g.at("version").get<std::string>() +
                         "\", decoded \"" + got.greeting_labels[i] + "\"");
        const std::string identity = g.at("identity").get<std::string>();
        if (got.greeting_identities[i] != identity)
            problems.add(side + ": identity expected " +
                         (identity.empty() ? "(anonymous)" : identity) + ", decoded " +
                         got.greeting_identities[i].value_or("none"));
    }
}

void compare_connection(const json& want, const ConnectionResult& got, const std::string& where,
                        const Mode& mode, Problems& problems) {
    // A gap stops decoding: what follows it (handshake, end) may be unknown.
    const bool cut_short = mode.gaps_allowed && got.has_gap();
    const std::string handshake = want.value("handshake", "ready");
    const bool handshake_unknown =
        cut_short && (got.handshake == "incomplete" || got.handshake == "closed");
    if (!handshake_matches(handshake, got) && !handshake_unknown)
        problems.add(where + ": handshake expected " + handshake + ", decoded " + got.handshake +
                     (got.failure.empty() ? "" : " (" + got.failure + ")"));
    if (handshake == "error" && got.handshake == "error" &&
        want.value("error_reason", "") != got.error_reason)
        problems.add(where + ": ERROR reason expected \"" + want.value("error_reason", "") +
                     "\", decoded \"" + got.error_reason + "\"");
    const std::string end = want.value("end", "fin");
    if (!end_matches(end, got.end) && !cut_short)
        problems.add(where + ": end expected " + end + ", decoded " + got.end);
    if (handshake == "ready" && !cut_short && want.contains("socket_types")) {
        for (size_t i = 0; i < 2; ++i) {
            const std::string type = want["socket_types"][i].get<std::string>();
            if (type != got.socket_types[i])
                problems.add(where + ": socket type of the " + (i ? "server" : "client") +
                             " side expected " + type + ", decoded " + got.socket_types[i]);
        }
    }
    compare_greetings(want, got, where, problems);
    for (size_t d = 0; d < 2; ++d) {
        const std::string dir_where = where + " " + direction_keys[d];
        // A connection captured after its handshake has one gap per direction: the start.
        const size_t start_gaps =
            handshake == "not-captured" && got.dirs[d].started_mid_stream ? 1 : 0;
        if (!mode.gaps_allowed)
            for (size_t g = start_gaps; g < got.dirs[d].gaps.size(); ++g)
                problems.add(dir_where + ": gap: " + got.dirs[d].gaps[g]);
        compare_messages(want.at(direction_keys[d]), got.dirs[d], dir_where, cut_short,
                         start_gaps > 0, problems);
        compare_commands(want.at(direction_keys[d]), got.dirs[d], dir_where, cut_short, problems);
    }
}

size_t frame_count(const json& direction) {
    size_t n = 0;
    for (const json& message : direction.at("messages")) n += message.size();
    return n;
}

// Long-term keys alone: HELLO/WELCOME open, nothing after; the decoder says what is missing.
void check_handshake_only(const json& want, const ConnectionResult& got, const std::string& where,
                          Problems& problems, bool show_missing) {
    if (want.value("handshake", "ready") != "ready") return;
    if (got.curve != zmtp::CurveKeyState::HelloOnly)
        problems.add(where + ": expected HELLO/WELCOME to open and nothing after (state " +
                     std::to_string(int(got.curve)) + ")");
    if (got.curve_missing.find("ephemeral") == std::string::npos)
        problems.add(where + ": the decoder does not say which key is missing (\"" +
                     got.curve_missing + "\")");
    else if (show_missing)
        std::cout << "    " << where << ": " << got.curve_missing << "\n";
    for (size_t d = 0; d < 2; ++d) {
        if (got.dirs[d].decrypted_frames != 0)
            problems.add(where + " " + direction_keys[d] + ": frames decrypted without the keys");
        const size_t frames = frame_count(want.at(direction_keys[d]));
        if (got.dirs[d].boxes_not_opened < frames)
            problems.add(where + " " + direction_keys[d] + ": " +
                         std::to_string(got.dirs[d].boxes_not_opened) +
                         " MESSAGE boxes seen, expected at least " + std::to_string(frames));
    }
}

// A capture without the handshake and without its SESSION_KEY: nothing opens, nothing is made up,
// and the decoder says which key is missing (docs/keylog.md, SESSION_KEY).
void check_session_key_needed(const ConnectionResult& got, const std::string& where,
                              Problems& problems) {
    const bool said = std::any_of(got.notices.begin(), got.notices.end(), [](const auto& n) {
        return n.first == zmtp::NoticeCode::SessionKeyMissing;
    });
    if (!said)
        problems.add(where + ": the decoder does not say that only a SESSION_KEY would open it");
    for (size_t d = 0; d < 2; ++d) {
        if (got.dirs[d].decrypted_frames != 0 || !got.dirs[d].messages.empty())
            problems.add(where + " " + direction_keys[d] + ": " +
                         std::to_string(got.dirs[d].messages.size()) +
                         " message(s) decoded without the session key");
    }
}

Problems check_with(const json& expected, const DecodeResult& decoded, Expect expect,
                    const Mode& mode) {
    Problems problems;
    if (!decoded.error.empty()) {
        problems.add(decoded.error);
        return problems;
    }
    const json& connections = expected.at("connections");
    if (connections.size() != decoded.connections.size())
        problems.add("expected " + std::to_string(connections.size()) + " connections, decoded " +
                     std::to_string(decoded.connections.size()));
    const size_t common = std::min(connections.size(), decoded.connections.size());
    size_t gaps = 0;
    for (size_t i = 0; i < common; ++i) {
        const ConnectionResult& got = decoded.connections[i];
        gaps += got.has_gap();
        const std::string where = "connection " + std::to_string(i) + " (" +
                                  zmtp::tracker::to_string(got.client) + " -> " +
                                  zmtp::tracker::to_string(got.server) + ")";
        if (expect == Expect::Everything)
            compare_connection(connections[i], got, where, mode, problems);
        else if (expect == Expect::SessionKeyNeeded)
            check_session_key_needed(got, where, problems);
        else if (!got.has_gap())
            check_handshake_only(connections[i], got, where, problems, mode.verbose && i == 0);
    }
    if (mode.gap_expected && gaps == 0)
        problems.add("no gap reported, but bytes were removed from the capture");
    return problems;
}

// The key log's secrets, sorted by role with what the whole-key-log run revealed.
struct KeyRoles {
    std::vector<zmtp::Key> client_ephemeral;  // c'
    std::vector<zmtp::Key> server_ephemeral;  // s'
    std::vector<zmtp::Key> server_secret;     // s
    std::vector<zmtp::Key> server_public;     // S
    std::vector<zmtp::Key> session;           // k (SESSION_KEY)
    std::vector<zmtp::Key> other_secrets;     // every secret but the session keys
};

bool contains(const std::vector<zmtp::Key>& keys, const zmtp::Key& k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
}

KeyRoles sort_keys(const zmtp::KeyStore& all, const DecodeResult& decoded) {
    std::vector<zmtp::Key> hello_keys, welcome_keys;
    for (const auto& c : decoded.connections) {
        hello_keys.insert(hello_keys.end(), c.client_ephemerals.begin(), c.client_ephemerals.end());
        welcome_keys.insert(welcome_keys.end(), c.server_ephemerals.begin(),
                            c.server_ephemerals.end());
    }
    KeyRoles roles;
    auto add_unique = [](std::vector<zmtp::Key>& to, const zmtp::Key& k) {
        if (!contains(to, k)) to.push_back(k);
    };
    for (const zmtp::KeyEntry& e : all.entries()) {
        if (e.label == zmtp::KeyLabel::ServerPublic) add_unique(roles.server_public, e.public_key);
        if (!e.has_secret) continue;
        if (e.label == zmtp::KeyLabel::SessionKey) {
            add_unique(roles.session, e.secret_key);
            continue;
        }
        add_unique(roles.other_secrets, e.secret_key);
        if (e.label == zmtp::KeyLabel::ServerSecret) {
            add_unique(roles.server_secret, e.secret_key);
            add_unique(roles.server_public, e.public_key);
        }
        if (contains(hello_keys, e.public_key)) add_unique(roles.client_ephemeral, e.secret_key);
        if (contains(welcome_keys, e.public_key)) add_unique(roles.server_ephemeral, e.secret_key);
    }
    return roles;
}

std::vector<KeySet> key_sets(const KeyRoles& roles) {
    std::vector<KeySet> sets(3);
    sets[0].name = "client side: c' + S";
    for (const auto& k : roles.client_ephemeral)
        sets[0].store.add(zmtp::KeyLabel::EphemeralSecret, k);
    for (const auto& k : roles.server_public) sets[0].store.add(zmtp::KeyLabel::ServerPublic, k);
    sets[1].name = "server side: s'";
    for (const auto& k : roles.server_ephemeral)
        sets[1].store.add(zmtp::KeyLabel::EphemeralSecret, k);
    sets[2].name = "server long-term s alone";
    sets[2].expect = Expect::HandshakeOnly;
    for (const auto& k : roles.server_secret) sets[2].store.add(zmtp::KeyLabel::ServerSecret, k);
    return sets;
}

// Without the handshake, only the SESSION_KEY opens anything.
std::vector<KeySet> mid_connection_key_sets(const KeyRoles& roles) {
    std::vector<KeySet> sets(2);
    sets[0].name = "SESSION_KEY alone";
    for (const auto& k : roles.session) sets[0].store.add(zmtp::KeyLabel::SessionKey, k);
    sets[1].name = "every key but SESSION_KEY";
    sets[1].expect = Expect::SessionKeyNeeded;
    for (const auto& k : roles.other_secrets) sets[1].store.add(zmtp::KeyLabel::EphemeralSecret, k);
    for (const auto& k : roles.server_public) sets[1].store.add(zmtp::KeyLabel::ServerPublic, k);
    return sets;
}

bool report(const std::string& scenario, const std::string& key_set, const Problems& problems,
            const DecodeResult& decoded) {
    size_t messages = 0;
    for (const auto& c : decoded.connections)
        for (const auto& d : c.dirs) messages += d.messages.size();
    if (problems.empty()) {
        std::cout << "ok   " << scenario << " [" << key_set << "]: " << decoded.connections.size()
                  << " connection(s), " << messages << " message(s)\n";
        return true;
    }
    std::cout << "FAIL " << scenario << " [" << key_set << "]\n";
    for (size_t i = 0; i < problems.list.size() && i < max_problems_shown; ++i)
        std::cout << "    " << problems.list[i] << "\n";
    if (problems.list.size() > max_problems_shown)
        std::cout << "    ... " << problems.list.size() - max_problems_shown << " more\n";
    return false;
}

bool check_scenario(const fs::path& dir, const std::string& name, const Mode& mode) {
    const fs::path expected_path = dir / (name + ".expected.json");
    json expected;
    try {
        std::ifstream in(expected_path);
        if (!in) throw std::runtime_error("cannot open");
        expected = json::parse(in);
    } catch (const std::exception& e) {
        std::cout << "FAIL " << name << ": " << expected_path.string() << ": " << e.what() << "\n";
        return false;
    }
    const fs::path capture = dir / expected.value("capture", name + ".pcapng");
    DecodeOptions options;
    if (expected.contains("server_port"))
        options.ports.insert(expected["server_port"].get<uint16_t>());

    const bool has_keylog = expected.contains("keylog") && expected["keylog"].is_string();
    zmtp::KeyStore all_keys;
    if (has_keylog) {
        std::vector<zmtp::KeyWarning> warnings;
        const fs::path keylog = dir / expected["keylog"].get<std::string>();
        all_keys.load_file(keylog.string(), warnings);
        for (const auto& w : warnings)
            std::cout << "    warning: " << w.file << ":" << w.line << ": " << w.message << "\n";
        options.keys = &all_keys;
    }
    const DecodeResult decoded = decode_capture(capture.string(), options);
    bool ok = report(name, has_keylog ? "whole key log" : "no keys",
                     check_with(expected, decoded, Expect::Everything, mode), decoded);
    if (!has_keylog || !decoded.error.empty()) return ok;

    const bool mid_connection = expected.value("capture_start", "") == "mid-connection";
    const KeyRoles roles = sort_keys(all_keys, decoded);
    for (KeySet& set : mid_connection ? mid_connection_key_sets(roles) : key_sets(roles)) {
        options.keys = &set.store;
        const DecodeResult partial = decode_capture(capture.string(), options);
        ok &= report(name, set.name, check_with(expected, partial, set.expect, mode), partial);
    }
    return ok;
}

std::vector<std::string> scenarios_in(const fs::path& dir) {
    std::vector<std::string> names;
    const std::string suffix = ".expected.json";
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string file = entry.path().filename().string();
        if (file.ends_with(suffix)) names.push_back(file.substr(0, file.size() - suffix.size()));
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    Mode mode;
    while (!args.empty() && args[0].starts_with("-")) {
        if (args[0] == "-v") {
            mode.verbose = true;
        } else if (args[0] == "--gaps") {
            mode.gaps_allowed = true;
        } else if (args[0] == "--expect-gap") {
            mode.gaps_allowed = mode.gap_expected = true;
        } else {
            args.clear();  // -h, --help or an unknown option
            break;
        }
        args.erase(args.begin());
    }
    if (args.empty()) {
        std::cerr << "usage: zmtp-capture-check [-v] [--gaps | --expect-gap] DIR [NAME...]\n"
                     "Checks each DIR/NAME capture against DIR/NAME.expected.json (all of them "
                     "when no NAME is given).\n";
        return exit_usage;
    }
    const fs::path dir = args[0];
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        std::cerr << "zmtp-capture-check: " << dir.string() << " is not a folder\n";
        return exit_usage;
    }
    std::vector<std::string> names(args.begin() + 1, args.end());
    if (names.empty()) names = scenarios_in(dir);
    if (names.empty()) {
        std::cerr << "zmtp-capture-check: no *.expected.json in " << dir.string() << "\n";
        return exit_failed;
    }
    bool ok = true;
    for (const std::string& name : names) ok &= check_scenario(dir, name, mode);
    return ok ? 0 : exit_failed;
}
