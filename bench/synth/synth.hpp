// zmtp-synth's generator: many ZMTP 3.1 connections (NULL or CURVE, REQ/REP or DEALER/ROUTER,
// heartbeats) laid out byte for byte as libzmq 4.3.4 does (docs/protocol.md 1, 2, 4), with real
// libsodium boxes. The generator only decides what each side writes and when; a Transport
// turns that into packets (TcpCapture, a pcap file) or keeps the streams in memory (the
// benchmarks).
//
// Timeline: connections open and complete their handshakes one after the other; then each
// connection makes exchanges (a request, the reply after a server delay, the next request
// after a pause) and each side PINGs on its own timer, all connections at once. One link
// carries everything: a send starts when the link is free, and messages longer than a TCP
// window go out in window-sized bursts between which other connections' packets pass.
// Short connections (Options::exchanges_per_connection) close after their exchanges and the
// next connection opens in their place, while the others go on, as a busy server sees them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "enum_names.hpp"
#include "zmtp/wire.hpp"

namespace zmtp::synth {

using Bytes = std::span<const uint8_t>;
using Buf = std::vector<uint8_t>;
using Key = std::array<uint8_t, 32>;
using Rng = std::mt19937_64;
using Micros = int64_t;  // capture time in microseconds since the Unix epoch

// The synthesiser writes zmtp::Mechanism::Null or ::Curve connections.
enum class Pattern : uint8_t { ReqRep, DealerRouter };
// As zmtp-synth's --pattern and its --stats spell them.
inline constexpr std::array<enum_names::Named<Pattern>, 2> pattern_names = {{
    {Pattern::ReqRep, "req-rep"},
    {Pattern::DealerRouter, "dealer-router"},
}};
static_assert(enum_names::covers(pattern_names, Pattern::DealerRouter));
enum class Side : uint8_t { Client = 0, Server = 1 };

// Body sizes of the application frames: one size, a uniform range, or "mixed" (mostly
// small, some medium, a few large frames that carry most of the bytes).
struct SizeSpec {
    enum class Kind : uint8_t { Range, Mixed };
    Kind kind = Kind::Range;
    size_t min = 64, max = 64;
    size_t pick(Rng& rng) const;
    size_t largest() const;
};
// "64", "0-1024", "mixed"; false with `error` set otherwise.
bool parse_size_spec(std::string_view text, SizeSpec& spec, std::string& error);
inline constexpr size_t max_body_size = 16u << 20;

struct Options {
    Mechanism mechanism = Mechanism::Null;
    Pattern pattern = Pattern::ReqRep;
    uint32_t connections = 10;
    SizeSpec request_size, reply_size;
    uint32_t frames = 1;  // application frames per message (plus REQ/REP's delimiter)
    // Each side sends a PING this often (libzmq's ZMQ_HEARTBEAT_IVL), with a TTL of three
    // intervals; 0 = no heartbeats.
    uint32_t heartbeat_ms = 1000;
    // Mean time between the starts of two exchanges, over all connections.
    uint32_t exchange_gap_us = 20;
    uint32_t mss = 1460;                  // TCP payload per segment (65483 on loopback)
    uint64_t target_bytes = 64ull << 20;  // exchanges stop once the output is this big
    // Capture seconds after which no exchange or PING starts (0: no limit).
    uint32_t duration_s = 0;
    // Short connections: each makes this many exchanges, then closes with FIN, and the next
    // connection opens in its place (0: connections stay open until the end).
    uint32_t exchanges_per_connection = 0;
    // With exchanges_per_connection: connections open at once (0: all of them).
    uint32_t open_at_once = 0;
    bool idle = false;  // no exchanges: heartbeats only
    uint64_t seed = 1;
    uint16_t server_port = 2069;
    Micros start_time = 1'700'000'000'000'000;
};

// What was generated. box_sizes: CURVE MESSAGE boxes (MAC + ciphertext) by size.
struct Stats {
    uint64_t connections = 0;
    uint64_t exchanges = 0;      // request/reply pairs
    uint64_t messages = 0;       // application messages, both directions
    uint64_t frames = 0;         // application frames, both directions
    uint64_t heartbeats = 0;     // PING/PONG pairs
    uint64_t payload_bytes = 0;  // application frame bodies
    std::map<size_t, uint64_t> box_sizes;
};

// Where the bytes go. Calls come in capture order; each returns the time its last byte left.
class Transport {
  public:
    virtual ~Transport() = default;
    virtual Micros open(uint32_t conn, Micros now) = 0;
    virtual Micros send(uint32_t conn, Side from, Bytes data, Micros now) = 0;
    virtual Micros close(uint32_t conn, Micros now) = 0;
    // Output so far (file bytes for a capture, stream bytes in memory).
    virtual uint64_t bytes_out() const = 0;
    // A CURVE MESSAGE box that is part of the data just sent (for the decryption floor).
    virtual void message_box(uint32_t, Side, Bytes /*box*/, const std::array<uint8_t, 24>&,
                             const Key& /*session key*/) {}
};

// Receives the key log lines (docs/keylog.md): the server's long-term secret and each
// connection's client ephemeral secret c', which together open every box.
class KeyLogSink {
  public:
    virtual ~KeyLogSink() = default;
    virtual void key(std::string_view label, const Key& key, std::string_view comment) = 0;
};

Stats generate(const Options& options, Transport& transport, KeyLogSink* keylog);

constexpr std::string_view pattern_name(Pattern p) {
    return enum_names::name_of(pattern_names, p, "unknown");
}

}  // namespace zmtp::synth
