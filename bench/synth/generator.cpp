// The traffic model: every connection opens and completes its handshake, then randomly chosen
// connections make one exchange after another (request, reply after a server delay; now and
// then a PING answered by a PONG) until the output reaches its target size; then every
// connection closes. Times only move forward.
#include <sodium.h>

#include <charconv>
#include <stdexcept>

#include "synth/synth.hpp"
#include "synth/zmtp_writer.hpp"

namespace zmtp::synth {

namespace {

constexpr uint16_t ping_ttl_deciseconds = 20;
constexpr size_t payload_offsets = 4096;  // payloads start at varying offsets of the pattern

enum KeyRole : uint8_t { server_role = 1, client_role, client_eph_role, server_eph_role };

struct Connection {
    uint32_t id = 0;
    uint64_t exchanges = 0;
    uint64_t heartbeats = 0;
    std::array<uint64_t, 2> next_nonce{3, 2};  // MESSAGE counters: client, server (4.7)
    Key session_key{};
};

class Generator {
  public:
    Generator(const Options& o, Transport& t, KeyLogSink* keylog)
        : o_(o), transport_(t), keylog_(keylog), rng_(o.seed), now_(o.start_time) {
        const size_t largest = std::max(o.request_size.largest(), o.reply_size.largest());
        pattern_.resize(largest + payload_offsets + 64);
        uint8_t seed[randombytes_SEEDBYTES] = {};
        for (int i = 0; i < 8; ++i) seed[i] = uint8_t(o.seed >> (8 * i));
        randombytes_buf_deterministic(pattern_.data(), pattern_.size(), seed);
        server_ = seeded_keypair(o.seed, 0, server_role);
    }

    Stats run() {
        if (keylog_ && o_.mechanism == Mechanism::Curve) {
            keylog_->key("SERVER_PUBLIC", server_.pub, "S, the server's long-term key");
            keylog_->key("SERVER_SECRET", server_.sec, "s");
        }
        conns_.resize(o_.connections);
        for (uint32_t i = 0; i < o_.connections; ++i) {
            conns_[i].id = i;
            handshake(conns_[i]);
        }
        std::uniform_int_distribution<uint32_t> pick(0, o_.connections - 1);
        while (transport_.bytes_out() < o_.target_bytes) {
            Connection& c = conns_[pick(rng_)];
            exchange(c);
            if (o_.ping_every && c.exchanges % o_.ping_every == 0) heartbeat(c);
        }
        for (Connection& c : conns_) now_ = transport_.close(c.id, pause(5, 20));
        stats_.connections = o_.connections;
        return stats_;
    }

  private:
    Micros pause(int min_us, int max_us) {
        return now_ + std::uniform_int_distribution<int>(min_us, max_us)(rng_);
    }
    Micros send(const Connection& c, Side from, Bytes data, Micros at) {
        now_ = transport_.send(c.id, from, data, at);
        return now_;
    }

    void handshake(Connection& c) {
        now_ = transport_.open(c.id, pause(5, 50));
        const std::string_view mechanism = o_.mechanism == Mechanism::Curve ? "CURVE" : "NULL";
        const auto pieces = greeting_pieces(mechanism);
        for (const Buf& piece : pieces) {
            send(c, Side::Client, piece, pause(2, 10));
            send(c, Side::Server, piece, pause(2, 10));
        }
        const bool req = o_.pattern == Pattern::ReqRep;
        const Buf client_meta =
            metadata({{"Socket-Type", req ? "REQ" : "DEALER"}, {"Identity", ""}});
        const Buf server_meta = req ? metadata({{"Socket-Type", "REP"}})
                                    : metadata({{"Socket-Type", "ROUTER"}, {"Identity", ""}});
        if (o_.mechanism == Mechanism::Curve) {
            curve_handshake(c, client_meta, server_meta);
            return;
        }
        Buf ready;
        put_command(ready, "READY", client_meta);
        send(c, Side::Client, ready, pause(2, 10));
        ready.clear();
        put_command(ready, "READY", server_meta);
        send(c, Side::Server, ready, pause(2, 10));
    }

    void curve_handshake(Connection& c, Bytes client_meta, Bytes server_meta) {
        CurveConnectionKeys k;
        k.server = server_;
        k.client = seeded_keypair(o_.seed, c.id, client_role);
        k.client_eph = seeded_keypair(o_.seed, c.id, client_eph_role);
        k.server_eph = seeded_keypair(o_.seed, c.id, server_eph_role);
        if (crypto_box_beforenm(k.session_key.data(), k.server_eph.pub.data(),
                                k.client_eph.sec.data()) != 0) {
            throw std::runtime_error("crypto_box_beforenm refused a key");
        }
        c.session_key = k.session_key;
        if (keylog_) {
            keylog_->key("EPHEMERAL_SECRET", k.client_eph.sec,
                         "c' of connection " + std::to_string(c.id + 1));
        }
        Buf cookie;
        send(c, Side::Client, curve_hello(k), pause(20, 60));
        send(c, Side::Server, curve_welcome(k, rng_, cookie), pause(40, 120));
        send(c, Side::Client, curve_initiate(k, cookie, client_meta, rng_), pause(40, 120));
        send(c, Side::Server, curve_ready(k, server_meta), pause(40, 120));
    }

    // One message: REQ/REP's empty delimiter, then the application frames.
    void exchange(Connection& c) {
        const Micros request_end = send_message(c, Side::Client, o_.request_size, pause(1, 20));
        send_message(c, Side::Server, o_.reply_size, request_end + server_delay());
        ++c.exchanges;
        ++stats_.exchanges;
    }

    Micros server_delay() { return std::uniform_int_distribution<int>(30, 400)(rng_); }

    Micros send_message(Connection& c, Side from, const SizeSpec& sizes, Micros at) {
        out_.clear();
        boxes_.clear();
        if (o_.pattern == Pattern::ReqRep) put_unit(c, from, flag_more, {}, false);
        for (uint32_t i = 0; i < o_.frames; ++i) {
            const size_t size = sizes.pick(rng_);
            const size_t offset = std::uniform_int_distribution<size_t>(0, payload_offsets)(rng_);
            const bool last = i + 1 == o_.frames;
            put_unit(c, from, last ? 0 : flag_more, Bytes(pattern_.data() + offset, size), false);
            ++stats_.frames;
            stats_.payload_bytes += size;
        }
        ++stats_.messages;
        return send_units(c, from, at);
    }

    void heartbeat(Connection& c) {
        const Side pinger = c.heartbeats % 2 == 0 ? Side::Client : Side::Server;
        const Side ponger = pinger == Side::Client ? Side::Server : Side::Client;
        out_.clear();
        boxes_.clear();
        put_unit(c, pinger, 0, ping_body(ping_ttl_deciseconds), true);
        const Micros ping_end = send_units(c, pinger, pause(1, 20));
        out_.clear();
        boxes_.clear();
        put_unit(c, ponger, 0, pong_body(), true);
        send_units(c, ponger, ping_end + std::uniform_int_distribution<int>(20, 80)(rng_));
        ++c.heartbeats;
        ++stats_.heartbeats;
    }

    // A frame (NULL) or a MESSAGE box holding it (CURVE), appended to out_.
    void put_unit(Connection& c, Side from, uint8_t more, Bytes body, bool command) {
        if (o_.mechanism == Mechanism::Null) {
            if (command) {
                put_frame(out_, flag_command, body);
            } else {
                put_frame(out_, more, body);
            }
            return;
        }
        const uint8_t inner = uint8_t((more ? inner_more : 0) | (command ? inner_command : 0));
        uint64_t& counter = c.next_nonce[size_t(from)];
        const size_t box_at = put_curve_message(out_, scratch_, c.session_key, from == Side::Client,
                                                counter, inner, body);
        boxes_.push_back({box_at, out_.size() - box_at, counter});
        ++stats_.box_sizes[out_.size() - box_at];
        ++counter;
    }

    Micros send_units(const Connection& c, Side from, Micros at) {
        const Micros end = send(c, from, out_, at);
        for (const BoxAt& b : boxes_) {
            transport_.message_box(c.id, from, Bytes(out_.data() + b.offset, b.size),
                                   nonce::message(from == Side::Client, b.counter), c.session_key);
        }
        return end;
    }

    struct BoxAt {
        size_t offset, size;
        uint64_t counter;
    };

    const Options& o_;
    Transport& transport_;
    KeyLogSink* keylog_;
    Rng rng_;
    Micros now_;
    KeyPair server_;
    Buf pattern_, out_, scratch_;
    std::vector<BoxAt> boxes_;
    std::vector<Connection> conns_;
    Stats stats_;
};

bool parse_number(std::string_view text, size_t& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

size_t SizeSpec::pick(Rng& rng) const {
    if (kind == Kind::Range) {
        return min == max ? min : std::uniform_int_distribution<size_t>(min, max)(rng);
    }
    // Mixed: 60% up to 64 B, 30% up to 1 KiB, 9% up to 16 KiB, 1% up to 256 KiB.
    const unsigned p = std::uniform_int_distribution<unsigned>(0, 99)(rng);
    auto in = [&](size_t lo, size_t hi) {
        return std::uniform_int_distribution<size_t>(lo, hi)(rng);
    };
    if (p < 60) return in(0, 64);
    if (p < 90) return in(65, 1024);
    if (p < 99) return in(1025, 16384);
    return in(16385, 262144);
}

size_t SizeSpec::largest() const {
    return kind == Kind::Mixed ? 262144 : max;
}

bool parse_size_spec(std::string_view text, SizeSpec& spec, std::string& error) {
    if (text == "mixed") {
        spec = {SizeSpec::Kind::Mixed, 0, 262144};
        return true;
    }
    const size_t dash = text.find('-');
    size_t lo = 0, hi = 0;
    const bool ok =
        dash == std::string_view::npos
            ? parse_number(text, lo) && parse_number(text, hi)
            : parse_number(text.substr(0, dash), lo) && parse_number(text.substr(dash + 1), hi);
    if (!ok || lo > hi) {
        error = "bad size \"" + std::string(text) + "\": expected N, MIN-MAX or mixed";
        return false;
    }
    if (hi > max_body_size) {
        error = "size " + std::to_string(hi) + " is above the limit of " +
                std::to_string(max_body_size) + " bytes";
        return false;
    }
    spec = {SizeSpec::Kind::Range, lo, hi};
    return true;
}

Stats generate(const Options& options, Transport& transport, KeyLogSink* keylog) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    if (options.connections == 0) throw std::invalid_argument("at least one connection");
    return Generator(options, transport, keylog).run();
}

std::string_view mechanism_name(Mechanism m) {
    return m == Mechanism::Curve ? "CURVE" : "NULL";
}

std::string_view pattern_name(Pattern p) {
    return p == Pattern::ReqRep ? "req-rep" : "dealer-router";
}

}  // namespace zmtp::synth
