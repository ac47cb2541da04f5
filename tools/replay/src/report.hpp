// What zmtp-replay found: one report per connection plus overall figures. Built by the
// Analyzer, printed by the text, JSON, CSV and HTML writers.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stats.hpp"
#include "tracker/connection_tracker.hpp"

namespace replay {

using zmtp::Direction;
using zmtp::tracker::Timestamp;

using zmtp::index_of;
inline constexpr std::array<Direction, 2> both_directions{Direction::ClientToServer,
                                                          Direction::ServerToClient};

double to_ms(Timestamp duration);
double to_seconds(Timestamp duration);

struct HeartbeatReport {  // PINGs sent by one side and the PONGs it got back
    uint64_t pings = 0;
    uint64_t pongs = 0;
    uint64_t missed = 0;  // never answered, the connection went on or closed
    // Pending at a gap: their PONGs may have been in the lost bytes (libzmtp pairs no PONG with
    // a PING from before a gap), so they are neither missed nor answered.
    uint64_t answer_unknown = 0;
    uint64_t late = 0;               // answered after the next PING was due (or after TTL)
    uint64_t unanswered_at_end = 0;  // sent just before the capture ended
    std::optional<double> ttl_s;     // TTL announced in the PINGs (the last one)
    std::optional<Summary> interval_ms;
    std::optional<Summary> pong_rtt_ms;
    std::optional<Timestamp> first_ping, last_ping, last_pong;
    std::vector<Timestamp> ping_times, pong_times;  // for the HTML timeline (bounded)
};

// CURVE heartbeats seen without any key, from the sizes of MESSAGE boxes no key opened
// (docs/protocol.md 9): a 40-byte MESSAGE body is a PING with an empty context, a 38-byte one a
// PONG. Reported only when the sizes come with a steady period and answers of the matching size
// from the other direction; never mixed with decoded PINGs.
struct InferredHeartbeatReport {
    uint64_t pings = 0;           // this side's 40-byte boxes
    uint64_t pongs = 0;           // 38-byte boxes of the peer that answered one of them in time
    uint64_t unanswered = 0;      // pings without such an answer
    uint64_t answer_unknown = 0;  // the answer may have been in lost bytes, or after the end
    std::optional<Summary> interval_ms;
    std::optional<Summary> pong_rtt_ms;
    std::optional<Timestamp> first_ping, last_ping, last_pong;
    std::vector<Timestamp> ping_times, pong_times;  // for the HTML timeline (bounded)
};

// The CURVE MESSAGE boxes of one direction (opened or not): what is known without a key.
struct BoxReport {
    uint64_t count = 0;
    uint64_t bytes = 0;  // MESSAGE bodies (07 "MESSAGE", nonce, box)
    uint64_t min_size = 0, max_size = 0;
    std::map<uint64_t, uint64_t> sizes;  // body size -> count (the first box_sizes_kept sizes)
    uint64_t sizes_other = 0;            // boxes of sizes beyond those
    std::optional<uint64_t> first_nonce, last_nonce;
    uint64_t nonces_not_increasing = 0;  // replayed or reordered (NonceNotIncreasing)
};
inline constexpr size_t box_sizes_kept = 64;

// What one direction's stream lacked and what was recovered (libzmtp's GapEvent, ResyncEvent
// and MessageEvent::loss; docs/protocol.md 9).
struct RecoveryReport {
    bool started_mid_stream = false;  // the capture joined this direction after its first byte
    uint64_t gaps = 0;
    uint64_t lost_bytes = 0;            // in the gaps whose size is known
    uint64_t gaps_of_unknown_size = 0;  // besides a late start, whose size is never known
    uint64_t resyncs = 0;
    uint64_t skipped_bytes = 0;  // after gaps, before the frame boundaries found
    uint64_t frames_lost = 0;    // CURVE: counted exactly from the nonce jumps
    std::map<std::string, uint64_t> resync_evidence;  // by evidence name
    uint64_t messages_start_lost = 0;        // the first frames were in lost bytes: not counted
    uint64_t messages_end_lost = 0;          // a gap or the end cut them off: not counted
    uint64_t cut_frames = 0, cut_bytes = 0;  // what the capture has of those messages
    uint64_t messages_after_gap = 0;         // whole messages decoded after the first gap
    bool resyncing_at_end = false;           // no frame boundary found since the last gap
    bool any() const { return gaps || resyncs || messages_start_lost || messages_end_lost; }
};

// One gap or resync of a connection, in order.
struct RecoveryEvent {
    Timestamp time = 0;
    Direction dir = Direction::ClientToServer;
    bool gap = true;      // else a resync
    uint64_t offset = 0;  // stream offset where bytes went missing / decoding resumed
    std::optional<uint64_t> lost_bytes;   // gap: when known
    bool before_start = false;            // gap: the capture joined the stream late
    uint64_t requests_dropped = 0;        // gap
    uint64_t skipped_bytes = 0;           // resync
    std::string evidence;                 // resync
    std::optional<uint64_t> frames_lost;  // resync, CURVE
};

struct DirectionReport {
    std::string greeting;  // zmtp::greeting_label: "ZMTP 2.0 (downgraded from 3.x) REP"
    std::optional<std::string> identity;  // ZMTP 1.0/2.0: the greeting's identity (printable)
    uint64_t messages = 0;
    uint64_t frames = 0;
    uint64_t bytes = 0;  // message body bytes
    uint64_t decrypted_messages = 0;
    std::vector<Timestamp> message_times;      // for the HTML timeline (the first ones, bounded)
    uint64_t boxes_not_opened = 0;             // CURVE MESSAGE boxes no key opened
    std::map<std::string, uint64_t> commands;  // after the handshake: PING, PONG, SUBSCRIBE, ...
    std::optional<Summary> message_interval_ms;
    bool periodic = false;  // regular application messages (they keep the connection alive)
    HeartbeatReport heartbeat;
    std::optional<InferredHeartbeatReport> inferred_heartbeat;  // CURVE without a key
    BoxReport boxes;                                            // CURVE MESSAGE boxes
    RecoveryReport recovery;
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
// The HTML timeline's marks of one kind (PINGs, PONGs, messages) kept per connection side:
// the first ones.
inline constexpr size_t timeline_points_max = 10000;
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
    bool socket_types_inferred = false;  // from message shapes: READY was not captured
    std::string mechanism = "unknown";
    // Not from the greetings, which the capture lacks: "CURVE (inferred from MESSAGE frames)"
    // or "NULL or PLAIN, handshake not captured"; empty otherwise.
    std::string mechanism_inferred;
    std::string version;  // "3.1", "3.0", "2.0", "1.0" (the effective one)
    Timestamp start = 0, last = 0;
    std::optional<Timestamp> close_time;  // first FIN or RST
    bool saw_syn = false;
    std::optional<double> connect_rtt_ms;  // SYN -> SYN-ACK as seen at the capture point

    std::string handshake = "incomplete";     // ready | failed | incomplete | not-captured
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
    uint64_t unanswered_requests = 0;  // still waiting when the connection ended (libzmtp)
    // Lost bytes (docs/protocol.md 9): the capture joined after the connection's first bytes.
    bool started_mid_connection = false;
    // Requests pending at a gap: answered or not, nobody can tell; never "unanswered".
    uint64_t requests_dropped = 0;
    bool pairing_stopped = false;                // libzmtp stopped pairing at a gap
    std::string pairing_stopped_reason;          // for people
    std::vector<RecoveryEvent> recovery_events;  // gaps and resyncs (bounded)
    uint64_t recovery_events_dropped = 0;
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
    // CURVE without a key: how the connection ended, as far as heartbeats inferred from box
    // sizes tell ("heartbeat-timeout"); `end` is never changed by an inference.
    std::string inferred_end;
    std::string inferred_end_detail;
    std::optional<Timestamp> inferred_pings_stopped;  // the silent side's last PING (inferred)
    std::optional<Timestamp> inferred_silent_since;   // the silent side's last unit
    std::optional<Timestamp> inferred_last_pong;      // the closer's last PONG (inferred)

    std::string pair() const { return socket_types[0] + "-" + socket_types[1]; }
};

// A deque: a report never moves once made (it is large; a vector would move it as it grows).
using ConnectionReports = std::deque<ConnectionReport>;

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
    zmtp::tracker::TrackerCounters counters;
    std::vector<std::string> input_warnings;
    ConnectionReports connections;  // by id
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
