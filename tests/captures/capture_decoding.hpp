// Decodes a capture with zmtp_capture and libzmtp and records, per connection and direction,
// what the applications exchanged: messages (frames in hex), post-handshake commands, the
// handshake outcome, how the connection ended and how far CURVE decryption got.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tracker/connection_tracker.hpp"
#include "zmtp/keystore.hpp"

namespace capture_check {

using Frames = std::vector<std::string>;  // hex, one string per frame

struct DirectionResult {
    std::vector<Frames> messages;
    Frames partial;                       // frames of a message not finished yet
    std::map<std::string, int> commands;  // PING, PONG, SUBSCRIBE, CANCEL, JOIN, LEAVE
    uint64_t decrypted_frames = 0;
    uint64_t boxes_not_opened = 0;    // CURVE MESSAGE boxes no key opened
    std::vector<std::string> gaps;    // why this direction stopped decoding
    bool started_mid_stream = false;  // no greeting: the capture joined the stream late
};

struct ConnectionResult {
    uint64_t id = 0;
    zmtp::tracker::Endpoint client, server;
    std::array<DirectionResult, 2> dirs;
    std::array<std::string, 2> socket_types;  // by direction of the sender
    std::string handshake = "incomplete";     // ready | error | failed | closed | incomplete
    std::string error_reason;                 // handshake == error: the ERROR reason
    std::string failure;                      // handshake == failed: the session's reason
    std::string end;                          // fin | rst | open | replaced
    zmtp::CurveKeyState curve = zmtp::CurveKeyState::NotCurve;
    std::string curve_missing;
    std::vector<std::pair<zmtp::NoticeCode, std::string>> notices;
    std::vector<zmtp::Key> client_ephemerals;  // C' from HELLO
    std::vector<zmtp::Key> server_ephemerals;  // S' from WELCOME or a trial-opened INITIATE
    // Per direction: zmtp::greeting_label and, for ZMTP 1.0/2.0, the greeting's identity (hex).
    std::array<std::string, 2> greeting_labels;
    std::array<std::optional<std::string>, 2> greeting_identities;
    bool has_gap() const { return !dirs[0].gaps.empty() || !dirs[1].gaps.empty(); }
};

struct DecodeResult {
    std::string error;                          // the capture could not be read
    std::vector<ConnectionResult> connections;  // in order of their first packet
    zmtp::tracker::TrackerCounters counters;
};

struct DecodeOptions {
    std::set<uint16_t> ports{2069, 2070};
    bool detect = true;
    const zmtp::KeyStore* keys = nullptr;
};

DecodeResult decode_capture(const std::string& path, const DecodeOptions& options);

}  // namespace capture_check
