// Checks what zmtp-capgen wrote, independently of libzmtp's decoder: each NAME.expected.json is
// well-formed; NAME.pcapng is readable and holds exactly the expected TCP connections, ports and
// ends; its ZMTP frames agree with the expected messages (NULL/PLAIN: byte for byte; CURVE: one
// MESSAGE box per frame and per command); NAME.keys loads into zmtp::KeyStore and holds the
// ephemeral secret of every HELLO's C'; and the receiving peers got every message recorded.
// A connection captured after its handshake ("not-captured") must have no SYN and no greeting,
// and every box in it must open with a SESSION_KEY of NAME.keys to exactly the expected messages
// (docs/keylog.md), with nonces that go up by 1 from box to box (docs/protocol.md 4.7).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sodium.h>

#include "pcap_files.hpp"
#include "tcp_connections.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void require(bool condition, const std::string& what) {
    if (!condition) throw Failure(what);
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    require(bool(in), path.string() + ": cannot open");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string hex(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : bytes) out += {digits[byte >> 4], digits[byte & 15]};
    return out;
}

// --- the expected.json schema ---

void check_direction_schema(const json& direction, const std::string& where) {
    require(direction.is_object(), where + " is not an object");
    require(direction.contains("messages") && direction["messages"].is_array(),
            where + ".messages is not an array");
    for (const json& message : direction["messages"]) {
        require(message.is_array() && !message.empty(), where + ": a message is not a frame list");
        for (const json& frame : message) {
            require(frame.is_string(), where + ": a frame is not a string");
            const std::string& text = frame.get_ref<const std::string&>();
            require(text.size() % 2 == 0 &&
                        text.find_first_not_of("0123456789abcdef") == std::string::npos,
                    where + ": a frame is not lowercase hex");
        }
    }
    static const std::set<std::string> names = {"PING", "PONG", "SUBSCRIBE", "CANCEL"};
    require(direction.contains("commands") && direction["commands"].is_object(),
            where + ".commands is not an object");
    for (const auto& [name, count] : direction["commands"].items()) {
        std::string base =
            name.size() > 4 && name.ends_with("_min") ? name.substr(0, name.size() - 4) : name;
        require(names.count(base), where + ": unknown command count '" + name + "'");
        require(count.is_number_integer() && count.get<int>() >= 0,
                where + ": command count '" + name + "' is not a count");
    }
}

void check_schema(const json& expected, const std::string& name) {
    require(expected.value("scenario", "") == name, "scenario is not '" + name + "'");
    require(expected.value("capture", "") == name + ".pcapng", "capture is not NAME.pcapng");
    std::string mechanism = expected.value("mechanism", "");
    require(mechanism == "NULL" || mechanism == "PLAIN" || mechanism == "CURVE",
            "mechanism '" + mechanism + "'");
    json keylog = expected.value("keylog", json());
    require(mechanism == "CURVE" ? keylog == name + ".keys" : keylog.is_null(),
            "keylog must be NAME.keys for CURVE and null otherwise");
    require(expected.contains("server_port") && expected["server_port"].is_number_integer(),
            "server_port");
    require(expected.contains("notes") && expected["notes"].is_string(), "notes");
    require(expected.contains("connections") && expected["connections"].is_array() &&
                !expected["connections"].empty(),
            "connections is not a non-empty array");
    for (size_t i = 0; i < expected["connections"].size(); ++i) {
        const json& connection = expected["connections"][i];
        std::string where = "connections[" + std::to_string(i) + "]";
        const json& types = connection.value("socket_types", json());
        require(
            types.is_array() && types.size() == 2 && types[0].is_string() && types[1].is_string(),
            where + ".socket_types");
        require(connection.contains("server_port") && connection["server_port"].is_number_integer(),
                where + ".server_port");
        std::string handshake = connection.value("handshake", "");
        require(handshake == "ready" || handshake == "error" || handshake == "closed" ||
                    handshake == "not-captured",
                where + ".handshake '" + handshake + "'");
        if (handshake == "not-captured") {
            require(expected.value("capture_start", "") == "mid-connection",
                    where +
                        ": a handshake that was not captured needs capture_start "
                        "\"mid-connection\"");
            require(mechanism == "CURVE", where + ": only CURVE captures start late");
        }
        require((handshake == "error") == connection.contains("error_reason"),
                where + ": error_reason must be present exactly when handshake is error");
        std::string end = connection.value("end", "");
        require(end == "fin" || end == "rst" || end == "open" || end == "heartbeat-timeout",
                where + ".end '" + end + "'");
        check_direction_schema(connection.value("client_to_server", json()),
                               where + ".client_to_server");
        check_direction_schema(connection.value("server_to_client", json()),
                               where + ".server_to_client");
    }
    require(expected["server_port"] == expected["connections"][0]["server_port"],
            "server_port is not the first connection's");
    if (expected.contains("capture_start")) {
        require(expected["capture_start"] == "mid-connection",
                "capture_start is not \"mid-connection\"");
        bool late = false;
        for (const json& connection : expected["connections"])
            late |= connection.value("handshake", "") == "not-captured";
        require(late, "capture_start \"mid-connection\" without a not-captured handshake");
    }
}

// --- ZMTP 3.x frames of one direction ---

struct Frame {
    uint8_t flags = 0;
    std::string body;
    size_t offset = 0;  // of its header in the stream
    size_t end = 0;     // just past its body
    bool command() const { return flags & 0x04; }
    bool more() const { return flags & 0x01; }
};

// The complete frames after the 64-byte greeting, or from the first byte for a direction
// captured after its handshake (`mid_stream`); an incomplete tail (a capture stopped mid-frame)
// is ignored. A ZMTP 2.0 direction (docs/protocol.md 1.3, 1.6): its greeting is 12 bytes
// (revision 1, or libzmq's 3 after it downgraded) and its first frame the identity frame. A
// ZMTP 1.0 one (1.4): 1.0 frames from the first byte, the first the identity frame.
enum class Version { V3, V2, V1 };
std::vector<Frame> zmtp_v1_frames(const std::vector<uint8_t>& stream);
std::vector<Frame> zmtp_frames(const std::vector<uint8_t>& stream, bool mid_stream = false,
                               Version version = Version::V3) {
    std::vector<Frame> frames;
    size_t at = 0;
    const bool zmtp20 = version == Version::V2;
    if (version == Version::V1) return zmtp_v1_frames(stream);
    if (mid_stream) {
        require(stream.empty() || stream[0] != 0xff, "a greeting in a capture that starts late");
    } else if (zmtp20) {
        if (stream.size() < 12) return frames;
        require(stream[0] == 0xff && (stream[9] & 1) && (stream[10] == 1 || stream[10] == 3),
                "not a ZMTP 2.0 greeting");
        at = 12;
    } else {
        if (stream.size() < 64) return frames;
        require(stream[0] == 0xff && (stream[9] & 1) && stream[10] == 3, "not a ZMTP 3 greeting");
        at = 64;
    }
    while (at + 2 <= stream.size()) {
        Frame frame;
        frame.flags = stream[at];
        uint64_t size = stream[at + 1];
        size_t header = 2;
        if (frame.flags & 0x02) {
            if (at + 9 > stream.size()) break;
            size = 0;
            for (int i = 1; i <= 8; ++i) size = size << 8 | stream[at + size_t(i)];
            header = 9;
        }
        if (size > stream.size() - at - header) break;
        frame.offset = at;
        frame.end = at + header + size;
        frame.body.assign(stream.begin() + long(at + header),
                          stream.begin() + long(at + header + size));
        frames.push_back(std::move(frame));
        at += header + size;
    }
    return frames;
}

// RFC 13 framing: a length counting the flags byte (1 byte, or 0xFF and a u64), flags, body.
std::vector<Frame> zmtp_v1_frames(const std::vector<uint8_t>& stream) {
    std::vector<Frame> frames;
    size_t at = 0;
    while (at + 2 <= stream.size()) {
        uint64_t length = stream[at];
        size_t header = 2;
        if (length == 0xFF) {
            if (at + 10 > stream.size()) break;
            length = 0;
            for (int i = 1; i <= 8; ++i) length = length << 8 | stream[at + size_t(i)];
            header = 10;
        }
        require(length > 0, "a ZMTP 1.0 frame of length 0");
        if (length - 1 > stream.size() - at - header) break;
        Frame frame;
        frame.flags = stream[at + header - 1] & 0x01;  // the other bits are reserved
        frame.offset = at;
        frame.end = at + header + length - 1;
        frame.body.assign(stream.begin() + long(at + header), stream.begin() + long(frame.end));
        at = frame.end;
        frames.push_back(std::move(frame));
    }
    return frames;
}

std::string command_name(const Frame& frame) {
    // libzmq 4.3.4's PLAIN server writes ERROR with a bad name length (docs/protocol.md §3).
    if (frame.body.starts_with("^RROR")) return "ERROR";
    if (frame.body.empty() || size_t(uint8_t(frame.body[0])) + 1 > frame.body.size()) return "";
    return frame.body.substr(1, uint8_t(frame.body[0]));
}

std::string error_reason(const Frame& frame) {
    size_t length_at = frame.body.starts_with("^RROR") ? 5 : 6;
    if (frame.body.size() <= length_at) return "";
    return frame.body.substr(length_at + 1, uint8_t(frame.body[length_at]));
}

bool is_handshake_command(const std::string& name) {
    return name == "HELLO" || name == "WELCOME" || name == "INITIATE" || name == "READY" ||
           name == "ERROR";
}

struct Traffic {
    std::vector<std::vector<std::string>> messages;  // NULL/PLAIN (or opened CURVE) frames as hex
    std::map<std::string, int> commands;             // after the handshake
    size_t boxes = 0;                                // CURVE MESSAGE frames
    size_t split_boxes = 0;                          // ... spread over 2+ TCP segments
    std::set<std::string> handshake;                 // handshake commands seen
    std::string error_reason;
    std::vector<std::string> hello_client_keys;  // C' of each CURVE HELLO (raw)
    bool late = false;                           // captured after its handshake
    std::optional<std::string> identity;         // ZMTP 2.0: the greeting's identity frame (hex)
    std::optional<zmtp::Key> session_key;        // late: the SESSION_KEY that opened its boxes
};

bool spans_segments(const Frame& frame, const std::vector<size_t>& segment_starts) {
    auto next = std::upper_bound(segment_starts.begin(), segment_starts.end(), frame.offset);
    return next != segment_starts.end() && *next < frame.end;
}

Traffic read_traffic(const capgen::TcpDirection& direction, Version version) {
    Traffic traffic;
    std::vector<std::string> partial;
    const bool old = version != Version::V3;
    for (const Frame& frame : zmtp_frames(direction.bytes, false, version)) {
        if (old && !traffic.identity) {  // no message: the end of the greeting
            // RFC 13 leaves 1.0's idflags unchecked (libzmq's are 7F); 2.0's is 00 (RFC 15).
            require(version == Version::V1 || frame.flags == 0,
                    "a ZMTP 2.0 identity frame with flags");
            traffic.identity = hex(frame.body);
            continue;
        }
        if (old) {  // 1.0 and 2.0 have no commands (bit 2 is reserved)
            require((frame.flags & ~0x03) == 0, "reserved flags in a ZMTP 2.0 frame");
            partial.push_back(hex(frame.body));
            if (!frame.more()) traffic.messages.push_back(std::move(partial)), partial.clear();
            continue;
        }
        if (frame.body.starts_with("\x07MESSAGE") && !frame.command()) {
            ++traffic.boxes;
            traffic.split_boxes += spans_segments(frame, direction.segment_starts);
            continue;
        }
        if (!frame.command()) {
            partial.push_back(hex(frame.body));
            if (!frame.more()) traffic.messages.push_back(std::move(partial)), partial.clear();
            continue;
        }
        std::string name = command_name(frame);
        if (is_handshake_command(name)) {
            traffic.handshake.insert(name);
            if (name == "ERROR") traffic.error_reason = error_reason(frame);
            if (name == "HELLO" && frame.body.size() == 200)
                traffic.hello_client_keys.push_back(frame.body.substr(80, 32));
        } else if (name == "MESSAGE") {
            ++traffic.boxes;
        } else {
            ++traffic.commands[name];
        }
    }
    return traffic;
}

// --- a CURVE direction captured after its handshake (docs/keylog.md, SESSION_KEY) ---

// The distinct SESSION_KEY lines of a key log.
std::vector<zmtp::Key> read_session_keys(const fs::path& path) {
    std::vector<zmtp::Key> keys;
    std::istringstream lines(read_text(path));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string label, text;
        fields >> label >> text;
        std::transform(label.begin(), label.end(), label.begin(),
                       [](unsigned char c) { return char(std::toupper(c)); });
        if (label != "SESSION_KEY") continue;
        std::optional<zmtp::Key> key = zmtp::parse_key(text);
        require(key.has_value(), path.filename().string() + ": a SESSION_KEY that is no key");
        if (std::find(keys.begin(), keys.end(), *key) == keys.end()) keys.push_back(*key);
    }
    return keys;
}

uint64_t short_nonce(const Frame& frame) {
    uint64_t nonce = 0;
    for (size_t i = 8; i < 16; ++i) nonce = nonce << 8 | uint8_t(frame.body[i]);
    return nonce;
}

// A MESSAGE box (docs/protocol.md 4.6: 07 "MESSAGE", 8-byte short nonce, MAC + ciphertext) opened
// with the precomputed key k; nullopt when k does not open it.
std::optional<std::string> open_message(const Frame& frame, bool from_client, const zmtp::Key& k) {
    if (frame.body.size() < 33) return std::nullopt;
    unsigned char nonce[crypto_box_NONCEBYTES];
    std::memcpy(nonce, from_client ? "CurveZMQMESSAGEC" : "CurveZMQMESSAGES", 16);
    std::memcpy(nonce + 16, frame.body.data() + 8, 8);
    const auto* box = reinterpret_cast<const unsigned char*>(frame.body.data() + 16);
    std::string plaintext(frame.body.size() - 32, '\0');
    if (crypto_box_open_easy_afternm(reinterpret_cast<unsigned char*>(plaintext.data()), box,
                                     frame.body.size() - 16, nonce, k.data()) != 0)
        return std::nullopt;
    return plaintext;
}

// Every frame must be a MESSAGE box that the same session key opens, the first one starting at
// the first captured byte and the last one ending at the last (the capture starts between two
// frames and the connection closes), with short nonces going up by exactly 1.
Traffic read_late_traffic(const capgen::TcpDirection& direction, bool from_client,
                          const std::vector<zmtp::Key>& keys, const std::string& where) {
    Traffic traffic;
    traffic.late = true;
    std::vector<Frame> frames = zmtp_frames(direction.bytes, true);
    require(!frames.empty(), where + ": no frame");
    require(frames.back().end == direction.bytes.size(),
            where + ": the frames found do not cover the stream (" +
                std::to_string(frames.back().end) + " of " +
                std::to_string(direction.bytes.size()) + " bytes)");
    std::optional<uint64_t> last_nonce;
    std::vector<std::string> partial;
    for (const Frame& frame : frames) {
        std::string at = where + ", offset " + std::to_string(frame.offset);
        require((frame.flags & ~0x02) == 0 && frame.body.starts_with("\x07MESSAGE"),
                at + ": not a CURVE MESSAGE frame");
        ++traffic.boxes;
        traffic.split_boxes += spans_segments(frame, direction.segment_starts);
        if (!traffic.session_key) {
            for (const zmtp::Key& k : keys)
                if (open_message(frame, from_client, k)) traffic.session_key = k;
            require(traffic.session_key.has_value(),
                    at + ": no SESSION_KEY of the key log opens the first box");
        }
        std::optional<std::string> plaintext =
            open_message(frame, from_client, *traffic.session_key);
        require(plaintext.has_value() && !plaintext->empty(),
                at + ": the box does not open with the connection's SESSION_KEY");
        uint64_t nonce = short_nonce(frame);
        require(!last_nonce || nonce == *last_nonce + 1,
                at + ": nonce " + std::to_string(nonce) + " after " +
                    std::to_string(last_nonce.value_or(0)) + ": boxes are missing");
        last_nonce = nonce;
        uint8_t flags = uint8_t((*plaintext)[0]);  // bit 0 MORE, bit 1 COMMAND (4.6)
        std::string payload = plaintext->substr(1);
        if (flags & 0x02) {
            require(!(flags & 0x01), at + ": a command with MORE");
            Frame command;
            command.body = payload;
            ++traffic.commands[command_name(command)];
            continue;
        }
        partial.push_back(hex(payload));
        if (!(flags & 0x01)) traffic.messages.push_back(std::move(partial)), partial.clear();
    }
    require(partial.empty(), where + ": the last message is not finished");
    return traffic;
}

// --- comparing with expected.json ---

struct CommandCounts {
    int total = 0;      // what the exact and _min counts add up to
    bool exact = true;  // no _min key
};

CommandCounts command_counts(const json& direction) {
    CommandCounts counts;
    for (const auto& [name, count] : direction["commands"].items()) {
        counts.total += count.get<int>();
        if (name.ends_with("_min")) counts.exact = false;
    }
    return counts;
}

void check_commands(const json& direction, const Traffic& traffic, const std::string& where) {
    std::map<std::string, int> seen = traffic.commands;
    for (const auto& [name, count] : direction["commands"].items()) {
        bool minimum = name.ends_with("_min");
        std::string base = minimum ? name.substr(0, name.size() - 4) : name;
        int got = seen[base];
        seen.erase(base);
        if (minimum)
            require(got >= count.get<int>(), where + ": " + std::to_string(got) + " " + base +
                                                 ", at least " + std::to_string(count.get<int>()) +
                                                 " expected");
        else
            require(got == count.get<int>(), where + ": " + std::to_string(got) + " " + base +
                                                 ", " + std::to_string(count.get<int>()) +
                                                 " expected");
    }
    for (const auto& [name, count] : seen)
        require(count == 0, where + ": unexpected command " + name);
}

// NULL/PLAIN messages as on the wire, or those opened from a late capture's boxes.
void check_plaintext(const json& direction, const Traffic& traffic, const std::string& where) {
    require(traffic.late || traffic.boxes == 0, where + ": CURVE boxes in a plaintext capture");
    auto expected = direction["messages"].get<std::vector<std::vector<std::string>>>();
    require(traffic.messages.size() == expected.size(),
            where + ": " + std::to_string(traffic.messages.size()) + " messages on the wire, " +
                std::to_string(expected.size()) + " expected");
    for (size_t i = 0; i < expected.size(); ++i)
        require(traffic.messages[i] == expected[i],
                where + ": message " + std::to_string(i) + " differs");
    check_commands(direction, traffic, where);
}

// Under CURVE every frame of every message, and every command after the handshake, is one box.
void check_boxes(const json& direction, const Traffic& traffic, const std::string& where) {
    size_t frames = 0;
    for (const json& message : direction["messages"]) frames += message.size();
    CommandCounts commands = command_counts(direction);
    size_t least = frames + size_t(commands.total);
    std::string counts = std::to_string(traffic.boxes) + " MESSAGE boxes for " +
                         std::to_string(frames) + " frames and " + std::to_string(commands.total) +
                         (commands.exact ? "" : "+") + " commands";
    require(commands.exact ? traffic.boxes == least : traffic.boxes >= least,
            where + ": " + counts);
    require(traffic.messages.empty(), where + ": plaintext messages in a CURVE capture");
}

void check_handshake(const json& connection, const Traffic& client, const Traffic& server,
                     const std::string& where) {
    std::string handshake = connection["handshake"];
    if (handshake == "ready") {
        bool null_ready = client.handshake.count("READY") && server.handshake.count("READY");
        bool secure_ready = client.handshake.count("HELLO") && client.handshake.count("INITIATE") &&
                            server.handshake.count("WELCOME") && server.handshake.count("READY");
        require(null_ready || secure_ready, where + ": no complete handshake");
    } else if (handshake == "error") {
        require(server.handshake.count("ERROR") == 1, where + ": no ERROR from the server");
        require(server.error_reason == connection["error_reason"],
                where + ": ERROR reason '" + server.error_reason + "'");
    } else {
        require(client.handshake.count("HELLO") && server.handshake.empty(),
                where + ": expected HELLO and nothing from the server");
    }
}

// --- one scenario ---

// The framing of a connection's side: 1.0 and 2.0 connections list their greetings.
Version version_of(const json& connection, size_t side) {
    if (!connection.contains("greetings")) return Version::V3;
    const std::string label = connection["greetings"][side]["version"];
    return label.starts_with("ZMTP 1.0") ? Version::V1 : Version::V2;
}

std::map<std::string, int> read_exchange_log(const fs::path& path) {
    std::map<std::string, int> received;
    std::istringstream lines(read_text(path));
    std::string scenario, direction;
    int index = 0, count = 0;
    while (lines >> scenario >> index >> direction >> count)
        received[scenario + " " + std::to_string(index) + " " + direction] = count;
    return received;
}

void check_keys(const fs::path& path, const std::vector<Traffic>& clients, bool need_ephemeral) {
    zmtp::KeyStore keys;
    std::vector<zmtp::KeyWarning> warnings;
    size_t loaded = keys.load_file(path.string(), warnings);
    require(warnings.empty(), path.filename().string() + ": " +
                                  (warnings.empty() ? "" : warnings[0].message) + " (line " +
                                  (warnings.empty() ? "" : std::to_string(warnings[0].line)) + ")");
    require(loaded >= 2, path.filename().string() + ": only " + std::to_string(loaded) + " keys");
    if (!need_ephemeral) return;
    for (size_t i = 0; i < clients.size(); ++i) {
        if (clients[i].late) continue;  // no HELLO in the capture: its boxes were opened above
        require(!clients[i].hello_client_keys.empty(),
                "connection " + std::to_string(i) + ": no HELLO");
        for (const std::string& raw : clients[i].hello_client_keys) {
            zmtp::Key client_ephemeral;
            std::copy(raw.begin(), raw.end(), client_ephemeral.begin());
            require(keys.find_secret(client_ephemeral) != nullptr,
                    "connection " + std::to_string(i) + ": the key log lacks c' for C' " +
                        zmtp::public_key_id(client_ephemeral));
        }
    }
}

std::string check_scenario(const fs::path& dir, const std::string& name,
                           const std::map<std::string, int>* exchanged, bool need_ephemeral) {
    json expected;
    try {
        expected = json::parse(read_text(dir / (name + ".expected.json")));
    } catch (const json::exception& error) {
        throw Failure(name + ".expected.json: " + error.what());
    }
    check_schema(expected, name);
    const json& connections = expected["connections"];
    bool curve = expected["mechanism"] == "CURVE";

    std::set<uint16_t> late_servers;
    for (const json& connection : connections)
        if (connection["handshake"] == "not-captured")
            late_servers.insert(connection["server_port"].get<uint16_t>());
    std::vector<zmtp::Key> session_keys;
    if (!late_servers.empty()) {
        session_keys = read_session_keys(dir / (name + ".keys"));
        require(!session_keys.empty(), name + ".keys has no SESSION_KEY");
    }

    capgen::PacketFile packets = capgen::read_capture((dir / (name + ".pcapng")).string());
    capgen::TcpSummary tcp = capgen::summarize_tcp(packets, late_servers);
    require(tcp.connections.size() == connections.size(),
            std::to_string(tcp.connections.size()) + " TCP connections, " +
                std::to_string(connections.size()) + " expected");
    require(tcp.stray_packets == 0 && tcp.other_packets == 0, "packets of other traffic");

    std::vector<Traffic> clients;
    size_t split_boxes = 0;
    for (size_t i = 0; i < connections.size(); ++i) {
        const json& connection = connections[i];
        const capgen::TcpConnection& stream = tcp.connections[i];
        std::string where = "connection " + std::to_string(i);
        require(stream.server_port == connection["server_port"].get<int>(),
                where + ": server port");
        require(!stream.client_to_server.gap && !stream.server_to_client.gap, where + ": TCP gap");
        bool late = connection["handshake"] == "not-captured";
        const bool old_version = connection.contains("greetings");
        require(stream.syn_seen != late,
                where + (late ? ": the SYN is in a capture that should start late" : ": no SYN"));
        std::string end = connection["end"];
        if (end == "heartbeat-timeout")
            require(stream.client_to_server.fin && !stream.server_to_client.fin, where + ": end");
        else
            require(stream.end() == end, where + ": ends with " + stream.end() + ", not " + end);

        Traffic client = late ? read_late_traffic(stream.client_to_server, true, session_keys,
                                                  where + " client->server")
                              : read_traffic(stream.client_to_server, version_of(connection, 0));
        Traffic server = late ? read_late_traffic(stream.server_to_client, false, session_keys,
                                                  where + " server->client")
                              : read_traffic(stream.server_to_client, version_of(connection, 1));
        split_boxes += client.split_boxes + server.split_boxes;
        if (late) {
            // One k per connection opens both directions (docs/protocol.md 4.8); the opened
            // messages are compared like plaintext ones.
            require(client.session_key == server.session_key,
                    where + ": the two directions open with different session keys");
        } else if (old_version) {  // no handshake commands: each greeting ends with an identity
            const json& greetings = connection["greetings"];
            require(client.handshake.empty() && server.handshake.empty(),
                    where + ": handshake commands in ZMTP 2.0");
            require(client.identity == greetings[0]["identity"].get<std::string>(),
                    where + ": the client's identity frame differs");
            require(server.identity == greetings[1]["identity"].get<std::string>(),
                    where + ": the server's identity frame differs");
        } else {
            check_handshake(connection, client, server, where);
        }
        if (curve && !late) {
            check_boxes(connection["client_to_server"], client, where + " client->server");
            check_boxes(connection["server_to_client"], server, where + " server->client");
        } else {
            check_plaintext(connection["client_to_server"], client, where + " client->server");
            check_plaintext(connection["server_to_client"], server, where + " server->client");
        }
        if (exchanged) {
            for (const char* direction : {"c2s", "s2c"}) {
                std::string key = name + " " + std::to_string(i) + " " + direction;
                const json& messages =
                    connection[direction == std::string("c2s") ? "client_to_server"
                                                               : "server_to_client"]["messages"];
                auto found = exchanged->find(key);
                require(found != exchanged->end(), "the exchange log lacks '" + key + "'");
                require(size_t(found->second) == messages.size(),
                        key + ": the peer received " + std::to_string(found->second) + " of " +
                            std::to_string(messages.size()) + " messages");
            }
        }
        clients.push_back(std::move(client));
    }
    // This scenario exists to put boxes across TCP segment boundaries.
    if (name == "curve-dealer-router") require(split_boxes > 0, "no box spans TCP segments");
    if (curve) check_keys(dir / (name + ".keys"), clients, need_ephemeral);
    std::string summary = std::to_string(connections.size()) + " connection(s), " +
                          std::to_string(packets.packets.size()) + " packets";
    if (curve) summary += ", " + std::to_string(split_boxes) + " box(es) across TCP segments";
    return summary;
}

int usage() {
    std::cerr << "usage: zmtp-capgen-check [--exchange-log FILE] [--require-ephemeral] DIR "
                 "SCENARIO...\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::optional<std::map<std::string, int>> exchanged;
    bool need_ephemeral = false;
    std::vector<std::string> positional;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--exchange-log" && i + 1 < args.size()) {
            exchanged = read_exchange_log(args[++i]);
        } else if (args[i] == "--require-ephemeral") {
            need_ephemeral = true;
        } else if (args[i].starts_with("-")) {
            return usage();
        } else {
            positional.push_back(args[i]);
        }
    }
    if (positional.size() < 2) return usage();
    fs::path dir = positional[0];
    int failures = 0;
    for (size_t i = 1; i < positional.size(); ++i) {
        const std::string& name = positional[i];
        try {
            std::string summary =
                check_scenario(dir, name, exchanged ? &*exchanged : nullptr, need_ephemeral);
            std::cout << "ok   " << name << ": " << summary << "\n";
        } catch (const std::exception& error) {
            std::cout << "FAIL " << name << ": " << error.what() << "\n";
            ++failures;
        }
    }
    return failures == 0 ? 0 : 1;
}
