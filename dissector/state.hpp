// What the plugin remembers of a ZMTP connection between dissection passes.
//
// On the first pass every wire unit (greeting or frame) is fed to a zmtp::Session in stream
// order and the session's events are kept in a PduRecord per unit. Later passes (and the
// GUI's re-dissection) only read the records, so every pass shows the same tree.
// Nothing here touches a tvb or a proto_tree.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "zmtp/session.hpp"

namespace zmqdiss {

// Findings of the plugin itself, next to libzmtp's NoticeCode.
enum class PluginNotice : uint8_t {
    HeartbeatLate,         // a side sent nothing for longer than the TTL of its own last PING
    PeerSilent,            // the other side has been silent for longer than its PING TTL
    PingUnanswered,        // a PING went out while the previous one still had no PONG
    Gap,                   // the capture lost bytes of this direction
    Truncated,             // the unit was cut short by the capture's snapshot length
    MidStream,             // the capture starts inside the connection: no greeting to start from
    Resync,                // decoding resumes at a frame boundary after a gap or a late start
    MessageLoss,           // a message the capture holds only part of (not counted, not paired)
    HandshakeNotCaptured,  // the capture joined the connection after its handshake
    MechanismInferred,     // the mechanism comes from the frames, not from the greetings
    SocketTypesInferred,   // the socket types come from message shapes, not from READY
    GapHint,               // TCP's out-of-order reassembly would avoid a gap of late bytes
    LateSegment,           // bytes counted as lost earlier arrive now (out of order)
    Undecoded,             // bytes not decoded while searching for a frame boundary
};

struct Notice {
    bool from_session = true;  // code is a zmtp::NoticeCode, else a PluginNotice
    uint8_t code = 0;
    zmtp::Severity severity = zmtp::Severity::Note;
    std::string text;  // never contains a secret key
};

// Request/response and PING/PONG pairs, both ends.
struct Pairing {
    enum class Kind : uint8_t { None, Message, Ping };
    Kind kind = Kind::None;
    uint32_t response_in = 0;      // on a request or PING: the frame of its answer
    uint32_t response_to = 0;      // on an answer: the frame of its request or PING
    int64_t request_time_ns = 0;   // on an answer: absolute time of the request or PING
    int64_t response_time_ns = 0;  // on an answer: time since the request or PING
};

struct FrameInfo {
    enum class Role : uint8_t { Unknown, Delimiter, Body };
    bool decrypted = false;
    uint8_t inner_flags = 0;
    uint64_t message_seq = 0;
    uint32_t index = 0;
    bool last = false;
    bool body_skipped = false;
    bool start_lost = false;  // its message may lack its first frames (after a gap)
    Role role = Role::Unknown;
    std::optional<bool> subscription;  // a ZMTP 2.0/3.0 SUB frame: true = subscribe
};

struct MessageInfo {
    uint64_t seq = 0;
    uint32_t frames = 0;
    uint64_t body_bytes = 0;
    bool decrypted = false;
    bool has_delimiter = false;
    std::vector<std::vector<uint8_t>> identities;  // routing envelope, first bytes of each
    std::string preview;                           // of the first body frame
    bool subscription_only = false;                // a single 2.0/3.0 subscription frame
};

// Why bytes are shown as undecoded (zmq.undecoded) instead of as ZMTP units.
enum class Undecoded : uint8_t {
    None,
    CaptureStart,    // the capture started inside the connection; before the first boundary
    AfterGap,        // bytes were lost just before these; before the next boundary
    Searching,       // still searching for a frame boundary (a later segment)
    Retransmission,  // bytes already decoded (or given up on) once
    NotReassembled,  // the rest of a unit TCP did not reassemble (its reassembly is off)
    Truncated,       // a unit cut short by the snapshot length (or TCP reassembly is off)
    Stopped,         // the direction cannot be decoded further (libzmtp gave up)
};

// Bytes of a direction the plugin never saw (TCP sequence numbers jumped, or the capture
// joined late), as libzmtp's GapEvent reports them.
struct GapInfo {
    uint64_t offset = 0;  // stream offset where bytes went missing
    bool lost_known = false;
    uint64_t lost_bytes = 0;  // when lost_known
    bool before_start = false;
    uint64_t requests_dropped = 0;
};

// Where decoding resumed (libzmtp's ResyncEvent), on the first unit after the boundary.
struct ResyncInfo {
    uint64_t offset = 0;  // stream offset of the boundary
    std::string evidence;
    uint64_t skipped_bytes = 0;
    std::optional<uint64_t> frames_lost;  // CURVE: exactly, from the nonce jump
};

// A message libzmtp reported with MessageLoss other than None.
struct LossInfo {
    zmtp::MessageLoss loss = zmtp::MessageLoss::None;
    uint32_t frames = 0;  // frames of it the capture holds
    uint64_t body_bytes = 0;
    std::string preview;
};

// Bytes a record owns: an opened box's plaintext (libzmtp opens MESSAGE boxes straight into
// it, ConvState's plaintext allocator).
struct OwnedBytes {
    std::unique_ptr<uint8_t[]> bytes;
    size_t length = 0;

    const uint8_t* data() const { return bytes.get(); }
    size_t size() const { return length; }
    bool empty() const { return length == 0; }
    operator zmtp::Bytes() const { return {bytes.get(), length}; }
};

// One wire unit (greeting or frame) of one direction.
struct PduRecord {
    zmtp::Direction dir = zmtp::Direction::ClientToServer;
    uint32_t tcp_stream = 0;  // TCP's stream index of the connection (tcp.stream)
    uint64_t stream_offset = 0;
    uint64_t size = 0;
    uint32_t frame_num = 0;
    int64_t time_ns = 0;  // the packet's absolute time
    zmtp::Mechanism mechanism = zmtp::Mechanism::Unknown;
    zmtp::Framing framing = zmtp::Framing::Unknown;
    std::array<zmtp::SocketType, 2> socket_types{zmtp::SocketType::Unknown,
                                                 zmtp::SocketType::Unknown};

    std::optional<zmtp::Greeting> greeting;

    // The unit's own body is a command (plaintext, or a CURVE command such as MESSAGE).
    bool has_command = false;
    zmtp::CommandKind command_kind = zmtp::CommandKind::Unknown;
    zmtp::CurveOpened curve;

    // The whole plaintext of an opened CURVE box, as libzmtp decrypted it. WELCOME: S' and
    // the cookie; INITIATE: C, the vouch and metadata; READY: metadata; MESSAGE: inner flags,
    // then the frame or command it carries.
    OwnedBytes plaintext;
    // A decrypted MESSAGE: what its plaintext carries.
    bool has_plaintext = false;
    bool plaintext_is_command = false;
    zmtp::CommandKind inner_command_kind = zmtp::CommandKind::Unknown;

    std::optional<FrameInfo> frame;
    std::optional<MessageInfo> message;
    std::optional<zmtp::HandshakeEvent> handshake;
    std::vector<Notice> notices;
    Pairing pairing;

    // Recovery from lost bytes (docs/protocol.md 9).
    Undecoded undecoded = Undecoded::None;  // not None: the unit is bytes libzmtp did not decode
    std::string boundary_after;  // undecoded bytes that end at a frame boundary: its evidence
    std::vector<GapInfo> gaps;   // noticed just before this unit
    std::optional<ResyncInfo> resync;
    std::vector<LossInfo> losses;              // messages cut by a gap, or whose start was lost
    bool mechanism_inferred = false;           // SessionInfo::mechanism_inferred
    bool plaintext_without_handshake = false;  // NULL or PLAIN, the handshake not captured
    bool socket_types_inferred = false;
};

// Per-direction bookkeeping of the adapter (TCP positions, heartbeats, envelopes).
struct DirectionState {
    bool started = false;
    uint32_t base_seq = 0;  // TCP sequence number of stream offset 0
    uint64_t fed = 0;       // stream offset up to which bytes were given to the session or skipped
    bool stopped = false;   // libzmtp decodes nothing more of this direction

    int64_t last_traffic_ns = -1;  // time of the last unit (-1: unknown, e.g. after a gap)
    uint16_t ttl_ds = 0;           // TTL of this side's last PING, deciseconds
    bool silence_reported = false;
    PduRecord* last_ping = nullptr;

    // The message in progress (envelope and preview).
    bool delimiter_seen = false;
    std::vector<std::vector<uint8_t>> before_delimiter;
    std::string first_preview;
    std::string body_preview;

    // Recovery (docs/protocol.md 9). Events the session emits between two units (a gap noticed,
    // a late start, a boundary found) wait here for the next unit's record.
    PduRecord carry;
    bool mid_stream = false;                    // the capture joined this direction late
    Undecoded searching_why = Undecoded::None;  // why the bytes before the next boundary are lost
    // The unit TCP was asked to reassemble (its size exceeded the segment), while it waits.
    std::optional<uint64_t> reassembling_offset;
    uint32_t reassembling_frame = 0;
    // The undecoded PDU planned at `plan_seq` by unit_size(): skipped, then (with evidence)
    // the boundary that follows it.
    bool plan_set = false;
    uint32_t plan_seq = 0;
    std::optional<zmtp::ResyncEvidence> plan_boundary;
    // Stream ranges the capture lacked, and the frame where each was noticed.
    struct LostRange {
        uint64_t from = 0, to = 0;
        uint32_t frame = 0;  // where the gap was noticed
        bool cut = false;    // the rest of a unit the tvb lacked (snapshot length, or TCP
                             // reassembly off), not a jump of the sequence numbers
    };
    std::vector<LostRange> lost;
};

class ConvState {
  public:
    ConvState(const zmtp::KeyStore* keys, uint32_t tcp_stream);
    ConvState(const ConvState&) = delete;  // the session's plaintext allocator holds `this`
    ConvState& operator=(const ConvState&) = delete;

    // First pass, before unit_size(): notices a capture that starts inside the connection
    // (no SYN, and no greeting at the direction's first byte) or bytes lost before `seq` (the
    // TCP sequence number jumped), and makes the direction search for the next frame boundary
    // (docs/protocol.md 9). `first_seq`: when known, the TCP sequence number of the
    // direction's first byte (relative sequence numbers after a SYN). Returns true when the
    // direction searches at `seq`: unit_size() then needs the rest of the segment.
    bool begin_unit(zmtp::Direction dir, uint32_t seq, zmtp::Bytes head,
                    std::optional<uint32_t> first_seq, uint32_t frame_num);

    // First pass: a segment of the other direction acknowledges `peer`'s bytes up to TCP
    // sequence number `ack`, while TCP's analysis saw them without a hole only up to
    // `seen_end`. Bytes the peer acknowledged that the capture does not have ("ACKed unseen
    // segment") are a gap of `peer`, noticed now rather than at its next segment: the session
    // learns of it before it decodes what this packet says about them (a HELLO whose greeting
    // answer was lost).
    void note_peer_ack(zmtp::Direction peer, uint32_t ack, uint32_t seen_end,
                       std::optional<uint32_t> first_seq, uint32_t frame_num);

    // The size of the PDU starting at `seq` (first pass: from the session; later: as it was
    // then). 0 = more bytes needed. `bytes` holds the first bytes there: enough for any header
    // (greeting_head_size), and all captured bytes of the rest of the segment when
    // begin_unit() returned true. `available` counts the captured bytes from `seq` on,
    // `reported` the bytes the packet had (more when the snapshot length cut it).
    // `starts_segment`: `seq` is the first byte of a TCP segment. While searching, the PDU is
    // the bytes before the boundary found in the rest of the segment (all of them when none).
    uint64_t unit_size(zmtp::Direction dir, uint32_t seq, zmtp::Bytes bytes, size_t available,
                       size_t reported, bool starts_segment, bool first_pass, uint32_t frame_num);
    static constexpr size_t greeting_head_size = 64;

    // First pass: feeds (or skips) the PDU that starts at TCP sequence number `seq`. `captured`
    // bytes of its `reported` are present. Returns the PDU's record: a unit libzmtp decoded,
    // or bytes it did not (Undecoded: retransmitted, before a frame boundary, ...).
    PduRecord* process(zmtp::Direction dir, uint32_t seq, const uint8_t* data, size_t captured,
                       size_t reported, uint32_t frame_num, int64_t time_ns);

    // CURVE keys may still be needed: the handshake is not over and may be CURVE's.
    bool wants_keys() const;

    const zmtp::SessionInfo& info() const { return session_.info(); }

    const uint32_t tcp_stream;  // TCP's stream index (tcp.stream), copied into every record

    // The capture has the connection's SYN: its first bytes are the greetings.
    bool saw_syn = false;
    // TCP's "Reassemble out-of-order segments" preference, for the text of gap notices.
    bool tcp_reassembles_out_of_order = false;

    // On a TCP port shared with another dissector: whether the first payload starts a ZMTP
    // greeting (else the conversation is the other dissector's). Unset until decided.
    std::optional<bool> starts_with_greeting;
    // Joined late without a greeting, the decision waits for a payload that shows ZMTP frames
    // (at most max_undecided_payloads of them): packets before that one stay the other
    // dissector's on every pass.
    uint32_t zmq_from_frame = 0;
    uint8_t undecided_payloads = 0;
    static constexpr uint8_t max_undecided_payloads = 8;

    // Which side opened the TCP connection.
    bool client_known = false;
    std::vector<uint8_t> client_addr;  // address bytes and type, for comparison only
    int client_addr_type = 0;
    uint32_t client_port = 0;
    uint32_t server_port = 0;

  private:
    PduRecord* record_for(zmtp::Direction dir, uint64_t offset, PduRecord& current);
    PduRecord& undecoded_record(zmtp::Direction dir, uint64_t offset, Undecoded why,
                                size_t reported, uint32_t frame_num, int64_t time_ns);
    zmtp::SessionSink sink_into(PduRecord& rec, bool by_offset);
    void take_carry(DirectionState& d, PduRecord& rec);
    void note_gap(zmtp::Direction dir, uint64_t at, uint64_t lost, uint32_t frame_num,
                  PduRecord& into, bool cut = false);
    void note_late_bytes(PduRecord& rec, uint64_t from, uint64_t to);
    void note_connection_findings(PduRecord& rec);
    void finish_record(PduRecord& rec, uint16_t ttl_before, bool traffic);
    void apply(PduRecord& rec, const zmtp::SessionEvent& ev);
    void on_command(PduRecord& rec, const zmtp::CommandEvent& ev);
    OwnedBytes take_plaintext(zmtp::Bytes plaintext);
    void on_frame(PduRecord& rec, const zmtp::FrameEvent& ev);
    void on_message(PduRecord& rec, const zmtp::MessageEvent& ev);
    void on_gap(PduRecord& rec, const zmtp::SessionEvent& ev, const zmtp::GapEvent& gap);
    void on_resync(PduRecord& rec, const zmtp::SessionEvent& ev, const zmtp::ResyncEvent& r);
    void pair(PduRecord& answer, zmtp::Direction answer_dir, uint64_t request_offset,
              Pairing::Kind kind);
    void track_ping(PduRecord& rec, uint16_t ttl_ds);
    void check_heartbeats(PduRecord& rec, uint16_t ttl_before);
    std::optional<uint64_t> stream_position(zmtp::Direction dir, uint32_t seq) const;
    bool starts_mid_stream(zmtp::Bytes head) const;

    zmtp::Session session_;
    // The buffer the session opened the last MESSAGE box into, until its record takes it.
    OwnedBytes opened_box_;
    std::array<DirectionState, 2> dirs_;
    std::array<std::map<uint64_t, PduRecord>, 2> units_;
    std::deque<PduRecord> undecoded_;  // records of undecoded PDUs (stable addresses)
    std::array<std::unordered_map<uint64_t, uint64_t>, 2> unit_sizes_;  // frame << 32 | seq
    bool reported_not_captured_ = false;
    bool reported_mechanism_ = false;
    bool reported_socket_types_ = false;
};

// All connections of the open capture, by TCP stream index. Cleared when the capture closes
// or is dissected again.
ConvState& conversation_state(uint32_t tcp_stream, const zmtp::KeyStore* keys, bool& created);
void clear_conversation_states();
// Whether the plugin decodes TCP stream `tcp_stream` (it has a ConvState for it).
bool has_conversation_state(uint32_t tcp_stream);

// Text from the wire made safe for labels and the Info column (libzmtp's rule).
using zmtp::printable;

// A short, printable preview of a frame body: "hello" in quotes when it is text, else hex.
std::string body_preview(zmtp::Bytes body);

bool is_envelope_socket(zmtp::SocketType t);

}  // namespace zmqdiss
