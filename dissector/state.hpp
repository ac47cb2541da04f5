// What the plugin remembers of a ZMTP connection between dissection passes.
//
// On the first pass every wire unit (greeting or frame) is fed to a zmtp::Session in stream
// order and the session's events are kept in a PduRecord per unit. Later passes (and the
// GUI's re-dissection) only read the records, so every pass shows the same tree.
// Nothing here touches a tvb or a proto_tree.
#pragma once

#include <array>
#include <cstdint>
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
    HeartbeatLate,   // a side sent nothing for longer than the TTL of its own last PING
    PeerSilent,      // the other side has been silent for longer than its PING TTL
    PingUnanswered,  // a PING went out while the previous one still had no PONG
    Gap,             // the capture lost bytes of this direction
    Truncated,       // the unit was cut short by the capture's snapshot length
    MidStream,       // the capture starts inside the connection: no greeting to start from
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

// One wire unit (greeting or frame) of one direction.
struct PduRecord {
    zmtp::Direction dir = zmtp::Direction::ClientToServer;
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
    std::vector<uint8_t> plaintext;
    // A decrypted MESSAGE: what its plaintext carries.
    bool has_plaintext = false;
    bool plaintext_is_command = false;
    zmtp::CommandKind inner_command_kind = zmtp::CommandKind::Unknown;

    std::optional<FrameInfo> frame;
    std::optional<MessageInfo> message;
    std::optional<zmtp::HandshakeEvent> handshake;
    std::vector<Notice> notices;
    Pairing pairing;
};

// Per-direction bookkeeping of the adapter (TCP positions, heartbeats, envelopes).
struct DirectionState {
    bool started = false;
    uint32_t base_seq = 0;         // TCP sequence number of stream offset 0
    uint64_t fed = 0;              // bytes given to the session so far
    bool stopped = false;          // nothing more is decoded...
    const char* stop_reason = "";  // ...because of this

    int64_t last_traffic_ns = -1;  // time of the last unit
    uint16_t ttl_ds = 0;           // TTL of this side's last PING, deciseconds
    bool silence_reported = false;
    PduRecord* last_ping = nullptr;

    // The message in progress (envelope and preview).
    bool delimiter_seen = false;
    std::vector<std::vector<uint8_t>> before_delimiter;
    std::string first_preview;
    std::string body_preview;
};

class ConvState {
  public:
    explicit ConvState(const zmtp::KeyStore* keys) : session_(keys) {}

    // First pass: feeds the unit that starts at TCP sequence number `seq`. `captured` bytes
    // of its `reported` are present. Returns the unit's record, or nullptr when the bytes
    // repeat ones already fed (retransmission) or the direction stopped after a gap.
    PduRecord* process(zmtp::Direction dir, uint32_t seq, const uint8_t* data, size_t captured,
                       size_t reported, uint32_t frame_num, int64_t time_ns);

    // The size of the unit starting at `seq` (first pass: from the session; later: as it
    // was then). 0 = more bytes needed. `head` holds the first bytes of what is there
    // (enough for any header: greeting_head_size), `available` counts all of them.
    uint64_t unit_size(zmtp::Direction dir, uint32_t seq, zmtp::Bytes head, size_t available,
                       bool first_pass);
    static constexpr size_t greeting_head_size = 64;
    bool stopped(zmtp::Direction dir) const { return dirs_[size_t(dir)].stopped; }
    const char* stop_reason(zmtp::Direction dir) const { return dirs_[size_t(dir)].stop_reason; }

    // CURVE keys may still be needed: the handshake is not over and may be CURVE's.
    bool wants_keys() const;

    const zmtp::SessionInfo& info() const { return session_.info(); }

    // The capture has the connection's SYN: its first bytes are the greetings.
    bool saw_syn = false;

    // On a TCP port shared with another dissector: whether the first payload starts a ZMTP
    // greeting (else the conversation is the other dissector's). Unset until decided.
    std::optional<bool> starts_with_greeting;

    // Which side opened the TCP connection.
    bool client_known = false;
    std::vector<uint8_t> client_addr;  // address bytes and type, for comparison only
    int client_addr_type = 0;
    uint32_t client_port = 0;
    uint32_t server_port = 0;

  private:
    PduRecord* record_for(zmtp::Direction dir, uint64_t offset, PduRecord& current);
    void apply(PduRecord& rec, const zmtp::SessionEvent& ev);
    void on_command(PduRecord& rec, const zmtp::CommandEvent& ev);
    void on_frame(PduRecord& rec, const zmtp::FrameEvent& ev);
    void on_message(PduRecord& rec, const zmtp::MessageEvent& ev);
    void pair(PduRecord& answer, zmtp::Direction answer_dir, uint64_t request_offset,
              Pairing::Kind kind);
    void track_ping(PduRecord& rec, uint16_t ttl_ds);
    void check_heartbeats(PduRecord& rec, uint16_t ttl_before);
    std::optional<uint64_t> stream_position(zmtp::Direction dir, uint32_t seq) const;
    bool starts_mid_stream(const uint8_t* data, size_t captured) const;

    zmtp::Session session_;
    std::array<DirectionState, 2> dirs_;
    std::array<std::map<uint64_t, PduRecord>, 2> units_;
    std::array<std::unordered_map<uint32_t, uint64_t>, 2> unit_sizes_;
};

// All connections of the open capture, by TCP stream index. Cleared when the capture closes
// or is dissected again.
ConvState& conversation_state(uint32_t tcp_stream, const zmtp::KeyStore* keys, bool& created);
void clear_conversation_states();

// Text from the wire made safe for labels and the Info column: bytes outside printable
// ASCII become \xNN.
std::string printable(std::string_view text);

// A short, printable preview of a frame body: "hello" in quotes when it is text, else hex.
std::string body_preview(zmtp::Bytes body);

bool is_envelope_socket(zmtp::SocketType t);

}  // namespace zmqdiss
