// What each client connection of a capture sent, in order, with its capture times: the
// messages (whole ones only, decrypted), subscriptions, PINGs, and the server's replies with
// the request each answers. Built from libzmtp's session events (the ConnectionTracker feeding
// one zmtp::Session per connection); zmtp-send parses no ZMTP of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tracker/connection_tracker.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/wire.hpp"

namespace zmtpsend {

using zmtp::tracker::Timestamp;
using Frames = std::vector<std::string>;  // one message: its frames, each a byte string

struct CapturedMessage {
    uint64_t seq = 0;                     // per direction, libzmtp's message_seq
    Timestamp time = 0;                   // capture time of its last frame
    Frames frames;                        // as on the wire (a REQ's empty delimiter included)
    std::optional<uint64_t> answers_seq;  // a reply: the client message it answers
    bool awaits_reply = false;            // a request
};

struct Subscription {
    Timestamp time = 0;
    bool subscribe = true;  // false: CANCEL
    std::string topic;
};

struct Heartbeat {
    size_t pings = 0;
    std::optional<double> interval_ms;  // median interval between the client's PINGs
    std::optional<uint32_t> ttl_ms;     // from the first PING's TTL
};

struct ConnectionScript {
    uint64_t id = 0;  // 1-based, in order of appearance (as zmtp-replay numbers them)
    std::string client, server;
    zmtp::SocketType client_type = zmtp::SocketType::Unknown;
    zmtp::SocketType server_type = zmtp::SocketType::Unknown;
    zmtp::Mechanism mechanism = zmtp::Mechanism::Unknown;
    bool handshake_ready = false;
    bool decrypted = true;                 // CURVE: every box opened
    std::string not_decrypted_why;         // which key would open it
    Timestamp start = 0;                   // the connection's first packet
    Timestamp ready = 0;                   // its handshake ended (not captured: its first packet)
    std::vector<CapturedMessage> sent;     // client -> server
    std::vector<CapturedMessage> replies;  // server -> client
    std::vector<Subscription> subscriptions;
    Heartbeat heartbeat;
    std::string routing_id;     // the client's READY Identity property, when it had one
    uint64_t messages_cut = 0;  // messages the capture lacks part of: never sent
};

struct ScriptOptions {
    std::vector<std::string> captures;
    std::string filter;
    std::set<uint16_t> ports;
    bool detect = false;
    const zmtp::KeyStore* keys = nullptr;
};

// Every ZMTP connection of the captures, in order of appearance. false and `error` when a
// capture cannot be read.
bool read_scripts(const ScriptOptions& options, std::vector<ConnectionScript>& scripts,
                  std::string& error);

}  // namespace zmtpsend
