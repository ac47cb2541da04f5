// Replays the client side of captured connections against a live endpoint with real libzmq:
// one socket per connection, of the captured client's type, connected to `--to`, sending the
// captured messages with their multipart framing at the captured pace (or faster), and timing
// the replies against the captured ones.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "enum_names.hpp"
#include "script.hpp"
#include "zmtp/bytes.hpp"

namespace zmtpsend {

struct CurveOptions {
    zmtp::Key server_public{};
    zmtp::Key client_public{}, client_secret{};
    bool client_generated = false;
};

struct HeartbeatOptions {
    std::optional<int> ivl_ms, ttl_ms, timeout_ms;  // set on the socket when present
    bool from_capture = false;                      // ivl/ttl taken from the captured PINGs
};

struct SendOptions {
    std::string to;           // tcp://HOST:PORT
    double speed = 1;         // times the captured pace
    bool fast = false;        // as fast as the server answers
    size_t max_messages = 0;  // per connection; 0: all
    double duration_s = 0;    // stop sending after this long; 0: no bound
    double reply_timeout_s = 5;
    double connect_timeout_s = 5;
    std::optional<CurveOptions> curve;
    std::optional<int> heartbeat_ivl_ms, heartbeat_ttl_ms, heartbeat_timeout_ms;
    bool no_heartbeat = false;
};

// Why a connection stopped early. The values are zmtp-send's exit codes (see main.cpp).
enum class Failure : int {
    None = 0,
    ConnectionRefused = 3,
    HandshakeFailed = 4,  // protocol error, or CURVE: the server dropped our HELLO (wrong key)
    AuthDenied = 5,       // ZAP refused us (ERROR from the server, status code)
    Timeout = 6,          // no reply, or no handshake, in time
    Disconnected = 7,     // the server closed the connection while we were sending
};
inline constexpr std::array<enum_names::Named<Failure>, 6> failure_names = {{
    {Failure::None, "none"},
    {Failure::ConnectionRefused, "connection-refused"},
    {Failure::HandshakeFailed, "handshake-failed"},
    {Failure::AuthDenied, "auth-denied"},
    {Failure::Timeout, "timeout"},
    {Failure::Disconnected, "disconnected"},
}};
static_assert(enum_names::covers_in_order(failure_names, Failure::Disconnected));
constexpr std::string_view failure_name(Failure f) {
    return enum_names::name_of(failure_names, f, "unknown");
}

struct RequestResult {
    uint64_t seq = 0;  // the captured client message's seq
    std::optional<double> captured_ms, replayed_ms;
    // Wall clock (seconds since the Unix epoch) when the request left, and its reply arrived:
    // for comparing with a server's own timestamps.
    double sent_at = 0;
    std::optional<double> reply_at;
    std::optional<bool> reply_equal;  // compared with the captured reply
    std::string first_difference;     // when not equal
};

struct ConnectionResult {
    uint64_t id = 0;
    std::string client_type, server_type, mechanism;
    std::string captured_client, captured_server;
    HeartbeatOptions heartbeat;
    size_t messages_to_send = 0;  // after --max-messages
    size_t messages_sent = 0;
    size_t subscriptions_sent = 0;
    size_t replies_expected = 0;  // captured replies to what was sent
    size_t replies_received = 0;
    size_t replies_equal = 0, replies_differ = 0;
    size_t unexpected_replies = 0;  // received beyond the captured ones
    std::vector<RequestResult> requests;
    std::vector<double> send_offsets_ms;  // each message sent, from the run's start
    std::vector<double> reply_offsets_ms;
    std::optional<double> handshake_ms;  // connect() to the handshake's end
    Failure failure = Failure::None;
    std::string failure_text;
    std::vector<std::string> monitor_events;  // as libzmq reported them, in order
    bool stopped_by_duration = false;
};

struct RunResult {
    std::string to;
    std::string pacing;         // "captured", "speed N", "fast"
    std::string mechanism;      // NULL or CURVE
    std::string client_key_id;  // a public key's short id, never a secret
    double started_at = 0;      // wall clock
    double elapsed_ms = 0;
    std::vector<ConnectionResult> connections;
};

// Runs every script at once (each on its own thread, started at its captured offset).
RunResult run_scripts(const std::vector<const ConnectionScript*>& scripts,
                      const SendOptions& options);

// The heartbeat options a connection gets: the overrides, else from the captured PINGs.
HeartbeatOptions heartbeat_for(const ConnectionScript& script, const SendOptions& options);

// The frames libzmq's socket of `type` is given to put `wire` on the wire: a REQ socket adds
// the empty delimiter frame itself.
Frames frames_to_send(zmtp::SocketType type, const Frames& wire);
// What a socket of `type` hands the application for `wire` (a REQ drops the delimiter).
Frames frames_received(zmtp::SocketType type, const Frames& wire);

}  // namespace zmtpsend
