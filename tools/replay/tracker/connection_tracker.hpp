// Follows the TCP connections of a capture, reassembles each direction and feeds the bytes
// of every ZMTP connection to its own zmtp::Session. Observers get TCP events and session
// events, each with its capture time.
//
// Captures that lack bytes (docs/protocol.md 9): each in-order chunk goes to the session as one
// TCP segment (Session::feed_segment), a gap as Session::mark_gap with the exact number of
// lost bytes, so session offsets stay TCP stream offsets; a direction the capture joined after
// its first byte (no SYN, its first bytes are no greeting) starts with
// Session::start_mid_stream. Every direction ends with Session::finish before the connection
// is reported ended.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/hash.hpp"
#include "capture/packet.hpp"
#include "capture/packet_decoder.hpp"
#include "capture/packet_source.hpp"
#include "capture/tcp_stream.hpp"
#include "enum_names.hpp"
#include "tracker/timeline.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/session.hpp"

namespace zmtp::tracker {

using zmtp::Direction;
// The packet layer (libcapture, namespace ::capture) under the names the tracker's users know.
using ::capture::Address;
using ::capture::Bytes;
using ::capture::ChunkSink;
using ::capture::decode_packet;
using ::capture::decode_status_name;
using ::capture::DecodeStatus;
using ::capture::Endpoint;
using ::capture::gap_cause_name;
using ::capture::GapCause;
using ::capture::linktype_name;
using ::capture::linktype_supported;
using ::capture::LiveOptions;
using ::capture::mix64;
using ::capture::ns_per_ms;
using ::capture::ns_per_s;
using ::capture::Packet;
using ::capture::PacketSource;
using ::capture::SegmentKind;
using ::capture::StreamChunk;
using ::capture::StreamCounters;
using ::capture::StreamGap;
using ::capture::StreamLimits;
using ::capture::TcpSegment;
using ::capture::TcpStream;
using ::capture::Timestamp;
using ::capture::to_string;
namespace tcp_flag = ::capture::tcp_flag;

enum class TcpEventKind : uint8_t {
    Syn,          // client -> server
    SynAck,       // server -> client
    Established,  // the client's ACK of the SYN-ACK
    MidStream,    // the capture started after the connection was opened
    Fin,
    Rst,
    KeepAlive,  // a TCP keep-alive probe
    Gap,        // bytes lost (cause, offset, lost_bytes); decoding goes on after them
};
inline constexpr std::array<enum_names::Named<TcpEventKind>, 8> tcp_event_names = {{
    {TcpEventKind::Syn, "SYN"},
    {TcpEventKind::SynAck, "SYN-ACK"},
    {TcpEventKind::Established, "established"},
    {TcpEventKind::MidStream, "mid-stream"},
    {TcpEventKind::Fin, "FIN"},
    {TcpEventKind::Rst, "RST"},
    {TcpEventKind::KeepAlive, "keep-alive"},
    {TcpEventKind::Gap, "gap"},
}};
static_assert(enum_names::covers(tcp_event_names, TcpEventKind::Gap));
constexpr std::string_view tcp_event_name(TcpEventKind k) {
    return enum_names::name_of(tcp_event_names, k, "?");
}

struct TcpEvent {
    TcpEventKind kind;
    Direction dir;
    Timestamp time;    // Gap: the first evidence of the loss (StreamGap::time)
    std::string text;  // Gap, MidStream: why, for people
    // Gap only. cause StartedLate: the capture joined this direction after its first byte (its
    // first bytes are no greeting); offset is then where the capture's bytes begin and
    // lost_bytes is unknown. Every other cause: bytes [offset, offset + *lost_bytes) are lost.
    std::optional<GapCause> cause;
    uint64_t offset = 0;                 // stream offset of the first lost byte
    std::optional<uint64_t> lost_bytes;  // nullopt: unknown (StartedLate)
};

// How a connection ended.
enum class ConnectionEnd : uint8_t { Open, Fin, Rst, Replaced };
inline constexpr std::array<enum_names::Named<ConnectionEnd>, 4> connection_end_names = {{
    {ConnectionEnd::Open, "open"},
    {ConnectionEnd::Fin, "fin"},
    {ConnectionEnd::Rst, "rst"},
    {ConnectionEnd::Replaced, "replaced"},
}};
static_assert(enum_names::covers(connection_end_names, ConnectionEnd::Replaced));
constexpr std::string_view connection_end_name(ConnectionEnd e) {
    return enum_names::name_of(connection_end_names, e, "?");
}

struct DirectionStats {
    uint64_t packets = 0;
    uint64_t payload_packets = 0;
    uint64_t payload_bytes = 0;
    std::optional<Timestamp> first_payload, last_payload, last_packet;
    std::optional<Timestamp> fin_time;
    StreamCounters stream;  // filled when the connection ends (gaps, lost_bytes included)
    // The capture joined this direction after its first byte: no SYN was seen and its first
    // bytes are no greeting. The session was told (Session::start_mid_stream).
    bool started_mid_stream = false;
};

struct Connection {
    uint64_t id = 0;  // 1-based, in order of appearance
    Endpoint client, server;
    bool saw_syn = false;  // false: the capture started mid-connection
    std::optional<Timestamp> syn_time, syn_ack_time, established_time;
    Timestamp first_time = 0, last_time = 0;
    std::array<DirectionStats, 2> dirs;
    ConnectionEnd end = ConnectionEnd::Open;
    std::optional<Direction> closed_by;  // first FIN or the RST
    std::optional<Timestamp> end_time;
    const zmtp::Session* session = nullptr;  // null once the connection has ended
};

// What the tracker handed a connection's session, in order (ConnectionObserver::on_session_input).
struct SessionInput {
    enum class Kind : uint8_t {
        Bytes,           // feed (segment_end false) or feed_segment (true)
        Gap,             // mark_gap(dir, sink, size)
        StartMidStream,  // start_mid_stream
        Finish,          // finish
    };
    Kind kind;
    Direction dir;
    uint64_t offset = 0;  // Bytes: stream offset of the first byte; Gap: of the first lost byte
    uint64_t size = 0;    // Bytes: bytes fed; Gap: bytes lost
    bool segment_end = false;
    Timestamp time = 0;
    Bytes data;  // Bytes: the bytes fed (valid only during the call)
};

class ConnectionObserver {
  public:
    virtual ~ConnectionObserver() = default;
    virtual void on_connection_start(const Connection&) {}
    virtual void on_tcp_event(const Connection&, const TcpEvent&) {}
    // A segment with payload (after reassembly classification).
    virtual void on_segment(const Connection&, Direction, Timestamp, SegmentKind, uint32_t) {}
    virtual void on_session_event(const Connection&, const zmtp::SessionEvent&, Timestamp) {}
    // Before each call the tracker makes on the connection's session (for tests and tracing).
    virtual void on_session_input(const Connection&, const SessionInput&) {}
    // Called once, with the session still available; then the connection is forgotten.
    virtual void on_connection_end(const Connection&) {}
};

struct TrackerOptions {
    std::set<uint16_t> ports{zmtp::ctrlx_data_layer_ports.begin(),
                             zmtp::ctrlx_data_layer_ports.end()};
    bool detect = false;  // also follow connections that open with a ZMTP greeting
    const zmtp::KeyStore* keys = nullptr;
    zmtp::SessionOptions session;
    StreamLimits stream;
    Timestamp forget_closed_after = 240 * ns_per_s;
    // Connection ids are the number of the packet that made the connection known (unique and
    // in order of appearance across trackers that share one capture), not 1, 2, ...
    bool ids_from_packet_numbers = false;
    // Called at the end of every followed connection, after Session::finish of both directions
    // and before the observer's on_connection_end, with c.session valid (e.g. to read
    // Session::session_key()). Called on the tracker's thread: with trackers on several
    // threads, it must be thread-safe.
    std::function<void(const Connection&)> on_connection_closing;
};

struct TrackerCounters {
    uint64_t packets = 0;
    uint64_t tcp_packets = 0;
    uint64_t zmtp_packets = 0;
    uint64_t ignored_packets = 0;                // TCP, but not a followed connection
    std::map<DecodeStatus, uint64_t> undecoded;  // by reason (not TCP, fragments, ...)
    std::set<int> unsupported_linktypes;
    uint64_t connections = 0;

    void add(const TrackerCounters& other);
};

// Follows every packet of `captures` (through the BPF `filter` when not empty) with one tracker,
// then finishes it. false with `error` set when a capture cannot be opened or read to its end;
// `counters`, when given, gets the tracker's counts of whatever was read.
bool track_captures(const std::vector<std::string>& captures, const std::string& filter,
                    const TrackerOptions& options, ConnectionObserver& observer, std::string& error,
                    TrackerCounters* counters = nullptr);

// The same for both directions of a connection: picks a connection's tracker when several
// share a capture.
uint64_t flow_hash(const Endpoint& a, const Endpoint& b);

class ConnectionTracker {
  public:
    ConnectionTracker(TrackerOptions options, ConnectionObserver& observer);
    ~ConnectionTracker();

    void add_packet(const Packet& packet);
    // A segment decoded by decode_packet, for trackers that share a capture (add_packet counts
    // the packet and calls this). `latest`: the latest capture time of the TCP packets before
    // this one, over the whole capture (closed connections are forgotten by it).
    void add_segment(const TcpSegment& segment, std::optional<Timestamp> latest);
    // End of the input: every connection still open ends as Open, in order of their ids.
    void finish();

    const TrackerCounters& counters() const { return counters_; }
    size_t open_connections() const;  // followed or still being identified

  private:
    struct Flow;
    struct FlowKey {
        Endpoint low, high;
        bool operator==(const FlowKey&) const = default;
    };
    struct FlowKeyHash {
        size_t operator()(const FlowKey& k) const { return size_t(flow_hash(k.low, k.high)); }
    };
    static FlowKey key_of(const TcpSegment& s);
    static FlowKey key_of_flow(const Flow& flow);

    Flow* find(const FlowKey& key);
    void forget(const FlowKey& key);
    Flow* find_or_create(const FlowKey& key, const TcpSegment& segment);
    bool forgotten(const Flow& flow) const;
    bool wants(const TcpSegment& segment) const;
    Flow& create(const FlowKey& key, const TcpSegment& segment);
    void announce(Flow& flow);
    void decide_zmtp(Flow& flow, Direction dir);
    void handle_control(Flow& flow, Direction dir, const TcpSegment& segment);
    void handle_payload(Flow& flow, Direction dir, const TcpSegment& segment);
    ChunkSink chunk_sink(const std::pair<Flow*, Direction>& where);
    void on_chunk(Flow& flow, Direction dir, const StreamChunk& chunk);
    void start_mid_stream(Flow& flow, Direction dir, uint64_t offset, Timestamp time);
    // Bytes for a direction's session, or a gap (`lost` set).
    struct Piece {
        uint64_t offset;
        Bytes data;
        Timestamp time;
        uint64_t needs_peer;
        bool segment_end;
        std::optional<uint64_t> lost;
    };
    struct Held;  // a Piece with its bytes copied
    static Held hold(const Piece& piece);
    static Piece view(const Held& held);
    void deliver(Flow& flow, Direction dir, const Piece& piece);
    void feed_session(Flow& flow, Direction dir, const Piece& piece);
    void release_held(Flow& flow, bool all);
    bool peer_done(const Flow& flow, Direction peer) const;
    zmtp::SessionSink session_sink(Flow& flow);
    void maybe_close(Flow& flow);
    void close(Flow& flow, ConnectionEnd end);
    void forget_closed(Timestamp now);
    void emit(Flow& flow, TcpEventKind kind, Direction dir, Timestamp time, std::string text = {});
    void emit(Flow& flow, TcpEvent event);

    TrackerOptions options_;
    ConnectionObserver& observer_;
    std::unordered_map<FlowKey, std::unique_ptr<Flow>, FlowKeyHash> flows_;
    // Consecutive packets mostly belong to the same connection.
    std::optional<FlowKey> last_key_;
    Flow* last_flow_ = nullptr;
    std::optional<Timestamp> latest_;  // add_packet: latest TCP packet time so far
    uint64_t current_packet_ = 0;
    TrackerCounters counters_;
    uint64_t next_id_ = 1;
    size_t open_count_ = 0;
    uint64_t next_serial_ = 1;
    struct ClosedFlow {
        Timestamp time;
        FlowKey key;
        uint64_t serial;
    };
    std::deque<ClosedFlow> closed_order_;
};

}  // namespace zmtp::tracker
