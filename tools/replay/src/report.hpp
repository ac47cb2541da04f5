// What zmtp-replay found: one report per connection plus overall figures. Built by the
// Analyzer, printed by the text, JSON, CSV and HTML writers.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "capture/connection_tracker.hpp"
#include "stats.hpp"

namespace replay {

using zmtp::Direction;
using zmtp::capture::Timestamp;

inline size_t index_of(Direction d) {
    return static_cast<size_t>(d);
}
inline constexpr std::array<Direction, 2> both_directions{Direction::ClientToServer,
                                                          Direction::ServerToClient};

double to_ms(Timestamp duration);
double to_seconds(Timestamp duration);

struct HeartbeatReport {  // PINGs sent by one side and the PONGs it got back
    uint64_t pings = 0;
    uint64_t pongs = 0;
    uint64_t missed = 0;             // never answered, the connection went on or closed
    uint64_t late = 0;               // answered after the next PING was due (or after TTL)
    uint64_t unanswered_at_end = 0;  // sent just before the capture ended
    std::optional<double> ttl_s;     // TTL announced in the PINGs (the last one)
    std::optional<Summary> interval_ms;
    std::optional<Summary> pong_rtt_ms;
    std::optional<Timestamp> first_ping, last_ping, last_pong;
    std::vector<Timestamp> ping_times, pong_times;  // for the HTML timeline (bounded)
};

struct DirectionReport {
    uint64_t messages = 0;
    uint64_t frames = 0;
    uint64_t bytes = 0;  // message body bytes
    uint64_t decrypted_messages = 0;
    uint64_t boxes_not_opened = 0;             // CURVE MESSAGE boxes no key opened
    std::map<std::string, uint64_t> commands;  // after the handshake: PING, PONG, SUBSCRIBE, ...
    std::optional<Summary> message_interval_ms;
    bool periodic = false;  // regular application messages (they keep the connection alive)
    HeartbeatReport heartbeat;
    uint64_t keepalives = 0;  // TCP keep-alive probes
    std::optional<Summary> keepalive_interval_ms;
    uint64_t packets = 0, payload_bytes = 0, retransmissions = 0, out_of_order = 0;
    double longest_silence_s = 0;  // longest time without a ZMTP unit from this side
};

struct Silence {  // a side said nothing for longer than the TTL it announced
    Direction dir;
    Timestamp start;
    double seconds;
    double ttl_s;
};

struct Notice {
    Timestamp time;
    Direction dir;
    std::string code;
    std::string severity;
    std::string text;
};

struct Gap {
    Timestamp time;
    Direction dir;
    std::string reason;
};

struct LatencySample {
    uint64_t connection;
    Timestamp request_time;
    Timestamp reply_time;
    Timestamp duration() const { return reply_time - request_time; }
    double ms() const { return to_ms(duration()); }
};

struct LatencyPoint {  // for the plot of latency over time
    Timestamp request_time;
    Timestamp duration;
    auto operator<=>(const LatencyPoint&) const = default;
};

inline constexpr size_t latency_points_max = 20000;
inline constexpr size_t slowest_kept = 20;

// A sample of at most latency_points_max points, chosen by a hash of each point, so the same
// points are kept whatever order they came in and however the sets were split and merged.
class LatencyPointSample {
  public:
    void add(const LatencyPoint& p);
    void merge(const LatencyPointSample& other);
    std::vector<LatencyPoint> sorted() const;

  private:
    bool keeps(const LatencyPoint& p) const;
    void shrink();
    int level_ = 0;  // a point is kept when the top `level_` bits of its hash are zero
    std::vector<LatencyPoint> points_;
};

// Every request/reply latency of a set of connections, in bounded memory.
struct LatencyTotals {
    std::map<std::string, Distribution> by_pair;
    std::vector<LatencySample> slowest;  // the slowest_kept slowest, slowest first
    LatencyPointSample points;

    void add_slow_candidate(const LatencySample& s);
    void merge(const LatencyTotals& other);
};

struct ConnectionReport {
    uint64_t id = 0;
    std::string client, server;  // "addr:port"
    std::string client_address;  // without the port, to group reconnects
    std::array<std::string, 2> socket_types{"unknown", "unknown"};  // client side, server side
    std::string mechanism = "unknown";
    std::string version;  // "3.1", "3.0", "2.0", "1.0" (the effective one)
    Timestamp start = 0, last = 0;
    std::optional<Timestamp> close_time;  // first FIN or RST
    bool saw_syn = false;
    std::optional<double> connect_rtt_ms;  // SYN -> SYN-ACK as seen at the capture point

    std::string handshake = "incomplete";     // ready | failed | incomplete
    std::string failure_cause;                // short: "wrong server key", "ERROR 400", ...
    std::string failure;                      // for people
    std::optional<double> greeting_ms;        // first payload byte -> both greetings complete
    std::optional<double> hello_to_ready_ms;  // HELLO (NULL: greetings) -> handshake done
    std::optional<double> handshake_ms;       // connection start -> handshake done
    std::optional<double> first_message_ms;   // connection start -> first message
    bool wrong_server_key = false;

    std::string decryption =
        "not-curve";               // not-curve | decrypted | handshake-only | no-key | unknown
    std::string missing_key;       // which key would open the boxes
    std::string client_ephemeral;  // C' (public), to find the key log line

    std::array<DirectionReport, 2> dirs;
    std::optional<Summary> latency_ms;
    uint64_t unanswered_requests = 0;
    std::vector<Silence> silences;
    std::vector<Notice> notices;
    uint64_t notices_dropped = 0;
    std::vector<Gap> gaps;

    std::string end = "open";  // fin | rst | open | heartbeat-timeout | replaced
    std::optional<Direction> closed_by;
    std::string end_detail;
    std::optional<Timestamp>
        last_pong_before_timeout;           // heartbeat-timeout: last PONG the closer got
    std::optional<Timestamp> silent_since;  // heartbeat-timeout: peer's last unit

    std::string pair() const { return socket_types[0] + "-" + socket_types[1]; }
};

struct Storm {  // failed handshakes repeated by one client against one server
    std::string client_address, server;
    size_t attempts = 0;
    Timestamp first = 0, last = 0;
    double mean_interval_ms = 0;
    std::string cause;
    std::vector<uint64_t> connections;
};

struct Outlier {
    uint64_t connection;
    Timestamp request_time;
    double latency_ms;
};

struct KeyInfo {
    std::vector<std::string> files;
    size_t keys = 0;
    std::vector<std::string> warnings;  // "file:line: message", never a key
};

struct Report {
    std::vector<std::string> inputs;
    KeyInfo keys;
    std::optional<Timestamp> first_packet, last_packet;
    zmtp::capture::TrackerCounters counters;
    std::vector<std::string> input_warnings;
    std::vector<ConnectionReport> connections;  // by id
    std::optional<Summary> latency_ms;
    std::vector<std::pair<double, uint64_t>> latency_values;  // (ms, count), for the histogram
    std::vector<LatencyPoint> latency_points;                 // a sample, by request time
    std::map<std::string, Summary> latency_by_pair_ms;
    std::vector<Outlier> outliers;
    std::vector<Storm> storms;
    std::map<std::string, uint64_t> handshakes;  // ready / failed / incomplete
    std::map<std::string, uint64_t> failures;    // by cause
    std::map<std::string, uint64_t> ends;
};

}  // namespace replay
