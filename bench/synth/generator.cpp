// The traffic model (synth.hpp): handshakes one after the other, then exchanges and heartbeats
// of all connections from one event queue, until the output reaches its target size; then
// what is under way completes and every connection closes. Times only move forward.
#include <sodium.h>

#include <charconv>
#include <deque>
#include <queue>
#include <stdexcept>

#include "synth/synth.hpp"
#include "zmtp/curve.hpp"
#include "zmtp_writer.hpp"

namespace zmtp::synth {

namespace {

using namespace zmtp::writer;

constexpr size_t payload_offsets = 4096;  // payloads start at varying offsets of the pattern
constexpr size_t burst_size = 64 * 1024;  // one TCP window

enum KeyRole : uint8_t { server_role = 1, client_role, client_eph_role, server_eph_role };

// What happens once a queued unit has gone out completely.
enum class Then : uint8_t { Nothing, Reply, NextExchange, Pong };

struct BoxAt {
    size_t offset, size;
    uint64_t counter;
};

struct Outgoing {
    Buf bytes;
    std::vector<BoxAt> boxes;
    Then then = Then::Nothing;
    size_t sent = 0;
};

struct Outbox {
    std::deque<Outgoing> queue;
    bool busy = false;  // a Burst event is scheduled
};

struct Connection {
    uint32_t id = 0;
    std::array<uint64_t, 2> next_nonce{3, 2};  // MESSAGE counters: client, server (4.7)
    Key session_key{};
    std::array<Outbox, 2> out;  // by Side
    uint32_t exchanges = 0;     // completed (short connections)
    uint32_t pending = 0;       // Reply and Pong events scheduled, not yet queued
    bool closing = false;       // short connection: its exchanges are done
    bool closed = false;
};

enum class EventKind : uint8_t { Exchange, Reply, Ping, Pong, Burst };

struct Event {
    Micros time;
    uint64_t order;  // FIFO among equal times
    uint32_t conn;
    EventKind kind;
    Side side;
    bool operator>(const Event& o) const {
        return time != o.time ? time > o.time : order > o.order;
    }
};

Side other(Side s) {
    return s == Side::Client ? Side::Server : Side::Client;
}

class Generator {
  public:
    Generator(const Options& o, Transport& t, KeyLogSink* keylog)
        : o_(o), transport_(t), keylog_(keylog), rng_(o.seed), clock_(o.start_time) {
        const size_t largest = std::max(o.request_size.largest(), o.reply_size.largest());
        pattern_.resize(largest + payload_offsets + 64);
        uint8_t seed[randombytes_SEEDBYTES] = {};
        for (int i = 0; i < 8; ++i) seed[i] = uint8_t(o.seed >> (8 * i));
        randombytes_buf_deterministic(pattern_.data(), pattern_.size(), seed);
        server_ = KeyPair::seeded(o.seed, 0, server_role);
        // TTL: three intervals, in deciseconds (libzmq's ZMQ_HEARTBEAT_TTL).
        ttl_ds_ = uint16_t(std::min<uint32_t>(65535, o.heartbeat_ms * 3 / 100));
    }

    Stats run() {
        if (keylog_ && o_.mechanism == Mechanism::Curve) {
            keylog_->key("SERVER_PUBLIC", server_.pub, "S, the server's long-term key");
            keylog_->key("SERVER_SECRET", server_.sec, "s");
        }
        conns_.resize(o_.connections);
        while (opened_ < open_at_once()) open_next();
        const Micros end = o_.start_time + Micros(o_.duration_s) * 1'000'000;
        while (!events_.empty()) {
            const Event e = events_.top();
            events_.pop();
            stopping_ = stopping_ || transport_.bytes_out() >= o_.target_bytes ||
                        (o_.duration_s && e.time >= end);
            if (!conns_[e.conn].closed) handle(e, std::max(e.time, clock_));
        }
        for (uint32_t i = 0; i < opened_; ++i) {
            if (!conns_[i].closed) clock_ = transport_.close(i, clock_ + random(5, 20));
        }
        stats_.connections = opened_;
        return stats_;
    }

  private:
    Micros random(Micros min, Micros max) {
        return std::uniform_int_distribution<Micros>(min, max)(rng_);
    }
    Buf random_bytes(size_t count) {
        Buf b(count);
        for (auto& byte : b) byte = uint8_t(rng_());
        return b;
    }
    Micros think_time() { return random(0, 2 * Micros(o_.exchange_gap_us) * open_at_once()); }
    uint32_t open_at_once() const {
        return o_.exchanges_per_connection && o_.open_at_once
                   ? std::min(o_.open_at_once, o_.connections)
                   : o_.connections;
    }

    void open_next() {
        const uint32_t i = opened_++;
        conns_[i].id = i;
        handshake(conns_[i]);
        if (!o_.idle) schedule(clock_ + think_time(), i, EventKind::Exchange);
        if (o_.heartbeat_ms) {
            for (Side side : {Side::Client, Side::Server})
                schedule(clock_ + random(0, heartbeat_us()), i, EventKind::Ping, side);
        }
    }

    // A short connection closes once its last reply and every PONG owed have gone out; the
    // next connection takes its place.
    void close_if_done(Connection& c) {
        if (!c.closing || c.pending || c.out[0].busy || c.out[1].busy) return;
        c.closed = true;
        clock_ = transport_.close(c.id, clock_ + random(5, 20));
        if (!stopping_ && opened_ < o_.connections) open_next();
    }
    Micros heartbeat_us() const { return Micros(o_.heartbeat_ms) * 1000; }

    void schedule(Micros at, uint32_t conn, EventKind kind, Side side = Side::Client) {
        events_.push({at, next_order_++, conn, kind, side});
    }

    void handle(const Event& e, Micros at) {
        Connection& c = conns_[e.conn];
        switch (e.kind) {
            case EventKind::Exchange:
                if (!stopping_) queue(c, Side::Client, message(c, Side::Client), Then::Reply, at);
                break;
            case EventKind::Reply:
                --c.pending;
                queue(c, Side::Server, message(c, Side::Server), Then::NextExchange, at);
                ++stats_.exchanges;
                break;
            case EventKind::Ping:
                if (stopping_ || c.closing) break;
                queue(c, e.side, command(c, e.side, ping_body(ttl_ds_)), Then::Pong, at);
                schedule(at + heartbeat_us(), c.id, EventKind::Ping, e.side);
                ++stats_.heartbeats;
                break;
            case EventKind::Pong:
                --c.pending;
                queue(c, e.side, command(c, e.side, pong_body()), Then::Nothing, at);
                break;
            case EventKind::Burst:
                burst(c, e.side, at);
                break;
        }
    }

    void queue(Connection& c, Side from, Outgoing unit, Then then, Micros at) {
        unit.then = then;
        Outbox& box = c.out[size_t(from)];
        box.queue.push_back(std::move(unit));
        if (!box.busy) {
            box.busy = true;
            schedule(at, c.id, EventKind::Burst, from);
        }
    }

    // Sends up to one window of the first queued unit; the link is busy meanwhile.
    void burst(Connection& c, Side from, Micros at) {
        Outbox& box = c.out[size_t(from)];
        Outgoing& unit = box.queue.front();
        const size_t n = std::min(burst_size, unit.bytes.size() - unit.sent);
        clock_ = transport_.send(c.id, from, Bytes(unit.bytes.data() + unit.sent, n), at);
        unit.sent += n;
        if (unit.sent < unit.bytes.size()) {
            schedule(clock_ + random(1, 5), c.id, EventKind::Burst, from);
            return;
        }
        for (const BoxAt& b : unit.boxes) {
            transport_.message_box(c.id, from, Bytes(unit.bytes.data() + b.offset, b.size),
                                   curve::message_nonce(from == Side::Client, b.counter),
                                   c.session_key);
        }
        after_sent(c, from, unit.then);
        box.queue.pop_front();
        box.busy = !box.queue.empty();
        if (box.busy) schedule(clock_, c.id, EventKind::Burst, from);
        close_if_done(c);
    }

    void after_sent(Connection& c, Side from, Then then) {
        switch (then) {
            case Then::Reply:
                ++c.pending;
                schedule(clock_ + random(30, 400), c.id, EventKind::Reply);
                break;
            case Then::NextExchange:
                if (o_.exchanges_per_connection && ++c.exchanges == o_.exchanges_per_connection) {
                    c.closing = true;
                    break;
                }
                schedule(clock_ + think_time(), c.id, EventKind::Exchange);
                break;
            case Then::Pong:
                ++c.pending;
                schedule(clock_ + random(20, 80), c.id, EventKind::Pong, other(from));
                break;
            case Then::Nothing:
                break;
        }
    }

    void handshake(Connection& c) {
        clock_ = transport_.open(c.id, clock_ + random(5, 50));
        for (const Buf& piece : greeting_pieces(mechanism_name(o_.mechanism))) {
            send_now(c, Side::Client, piece, random(2, 10));
            send_now(c, Side::Server, piece, random(2, 10));
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
        send_now(c, Side::Client, ready, random(2, 10));
        ready.clear();
        put_command(ready, "READY", server_meta);
        send_now(c, Side::Server, ready, random(2, 10));
    }

    void send_now(const Connection& c, Side from, Bytes data, Micros delay) {
        clock_ = transport_.send(c.id, from, data, clock_ + delay);
    }

    void curve_handshake(Connection& c, Bytes client_meta, Bytes server_meta) {
        CurveKeys k;
        k.server = server_;
        k.client = KeyPair::seeded(o_.seed, c.id, client_role);
        k.client_eph = KeyPair::seeded(o_.seed, c.id, client_eph_role);
        k.server_eph = KeyPair::seeded(o_.seed, c.id, server_eph_role);
        if (crypto_box_beforenm(c.session_key.data(), k.server_eph.pub.data(),
                                k.client_eph.sec.data()) != 0) {
            throw std::runtime_error("crypto_box_beforenm refused a key");
        }
        if (keylog_) {
            keylog_->key("EPHEMERAL_SECRET", k.client_eph.sec,
                         "c' of connection " + std::to_string(c.id + 1));
        }
        // Each command's delay is drawn before its random bytes (the server's cookie key and
        // nonce, WELCOME's and the vouch's long nonces), so that a seed gives the same capture.
        send_now(c, Side::Client, curve_hello(k.client_eph, k.server.pub), random(20, 60));
        const Micros welcome_delay = random(40, 120);
        const Buf cookie_key = random_bytes(crypto_secretbox_KEYBYTES);
        const Buf cookie_nonce = random_bytes(16);
        const Buf cookie = curve_cookie(k, cookie_key, cookie_nonce);
        const Buf welcome_nonce = random_bytes(16);
        send_now(c, Side::Server, curve_welcome(k, cookie, welcome_nonce), welcome_delay);
        const Micros initiate_delay = random(40, 120);
        const Buf vouch_nonce = random_bytes(16);
        send_now(c, Side::Client, curve_initiate(k, cookie, client_meta, vouch_nonce),
                 initiate_delay);
        send_now(c, Side::Server, curve_ready(k, server_meta), random(40, 120));
    }

    // A request or a reply: REQ/REP's empty delimiter, then the application frames.
    Outgoing message(Connection& c, Side from) {
        const SizeSpec& sizes = from == Side::Client ? o_.request_size : o_.reply_size;
        Outgoing unit;
        if (o_.pattern == Pattern::ReqRep) put_unit(c, from, flag_more, {}, false, unit);
        for (uint32_t i = 0; i < o_.frames; ++i) {
            const size_t size = sizes.pick(rng_);
            const size_t offset = std::uniform_int_distribution<size_t>(0, payload_offsets)(rng_);
            const bool last = i + 1 == o_.frames;
            put_unit(c, from, last ? 0 : flag_more, Bytes(pattern_.data() + offset, size), false,
                     unit);
            ++stats_.frames;
            stats_.payload_bytes += size;
        }
        ++stats_.messages;
        return unit;
    }

    Outgoing command(Connection& c, Side from, Bytes body) {
        Outgoing unit;
        put_unit(c, from, 0, body, true, unit);
        return unit;
    }

    // A frame (NULL) or a MESSAGE box holding it (CURVE).
    void put_unit(Connection& c, Side from, uint8_t more, Bytes body, bool is_command,
                  Outgoing& unit) {
        if (o_.mechanism == Mechanism::Null) {
            put_frame(unit.bytes, is_command ? flag_command : more, body);
            return;
        }
        const uint8_t inner = uint8_t((more ? inner_more : 0) | (is_command ? inner_command : 0));
        uint64_t& counter = c.next_nonce[size_t(from)];
        const size_t box_at = put_curve_message(unit.bytes, scratch_, c.session_key,
                                                from == Side::Client, counter, inner, body);
        const size_t box_size = unit.bytes.size() - box_at;
        unit.boxes.push_back({box_at, box_size, counter});
        ++stats_.box_sizes[box_size];
        ++counter;
    }

    const Options& o_;
    Transport& transport_;
    KeyLogSink* keylog_;
    Rng rng_;
    Micros clock_;  // when the link is free again
    KeyPair server_;
    uint16_t ttl_ds_ = 0;
    Buf pattern_, scratch_;
    std::vector<Connection> conns_;
    uint32_t opened_ = 0;
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
    uint64_t next_order_ = 0;
    bool stopping_ = false;
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
    if (options.mechanism != Mechanism::Null && options.mechanism != Mechanism::Curve)
        throw std::invalid_argument("NULL or CURVE connections only");
    return Generator(options, transport, keylog).run();
}

}  // namespace zmtp::synth
