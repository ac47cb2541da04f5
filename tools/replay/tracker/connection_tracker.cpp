#include "tracker/connection_tracker.hpp"

#include "capture/hash.hpp"
#include "zmtp/fifo.hpp"
#include "zmtp/wire.hpp"

#include <algorithm>
#include <cstring>

namespace zmtp::tracker {
namespace {

constexpr size_t signature_size = 10;

// A direction's first chunk may start a greeting (zmtp::match_greeting, docs/protocol.md 1.1-1.5);
// with fewer bytes than the rule needs, a first byte 0xFF is taken for one (libzmq may send the
// signature in parts; no frame starts with 0xFF, its reserved flag bits are set, though a chunk
// may start inside a frame body).
bool could_be_greeting(Bytes b) {
    return zmtp::match_greeting(b) != zmtp::GreetingMatch::No;
}

uint64_t load64(const uint8_t* p) {
    uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

uint64_t flow_hash(const Endpoint& a, const Endpoint& b) {
    const bool in_order = canonical_before(a, b);
    const Endpoint& low = in_order ? a : b;
    const Endpoint& high = in_order ? b : a;
    const uint64_t ports = uint64_t(low.port) << 16 | high.port | uint64_t(low.address.v6) << 32 |
                           uint64_t(high.address.v6) << 33;
    return mix64(load64(low.address.bytes.data()) * 0x9e3779b97f4a7c15ULL ^
                 load64(low.address.bytes.data() + 8) * 0xc2b2ae3d27d4eb4fULL ^
                 load64(high.address.bytes.data()) * 0x165667b19e3779f9ULL ^
                 load64(high.address.bytes.data() + 8) * 0xd6e8feb86659fd93ULL ^ ports);
}

void TrackerCounters::add(const TrackerCounters& other) {
    packets += other.packets;
    tcp_packets += other.tcp_packets;
    zmtp_packets += other.zmtp_packets;
    ignored_packets += other.ignored_packets;
    for (const auto& [status, n] : other.undecoded) undecoded[status] += n;
    unsupported_linktypes.insert(other.unsupported_linktypes.begin(),
                                 other.unsupported_linktypes.end());
    connections += other.connections;
}

// What goes to a direction's session: bytes, or a gap (`lost` set, no bytes). Bytes wait until
// the peer bytes they acknowledge reached the session, so a capture that reordered the two
// directions still shows each reply after its cause (READY after INITIATE); a gap waits behind
// the bytes before it.
struct ConnectionTracker::Held {
    uint64_t offset;
    std::vector<uint8_t> bytes;
    Timestamp time;
    uint64_t needs_peer;  // peer stream offset this chunk's segment acknowledged
    bool segment_end;
    std::optional<uint64_t> lost;
};

struct ConnectionTracker::Flow {
    Connection info;
    std::array<TcpStream, 2> streams;
    std::array<Timeline, 2> timelines;
    std::unique_ptr<zmtp::Session> session;
    uint64_t packets = 0;
    bool closed = false;
    bool rst = false;
    bool zmtp = false;                           // known to be ZMTP (on a chosen port, or detected)
    bool announced = false;                      // the observer knows this connection
    std::array<std::vector<Held>, 2> undecided;  // --detect: chunks before the decision
    std::array<size_t, 2> undecided_bytes{0, 0};
    std::vector<TcpEvent> held_events;  // --detect: events before the decision
    std::array<bool, 2> first_chunk_seen{false, false};
    std::optional<uint32_t> client_isn;
    // Not followed: --detect and the direction gives no greeting to decide on (joined late, or
    // a gap before its first bytes).
    std::array<bool, 2> ignored{false, false};
    bool not_zmtp = false;  // --detect found no greeting
    Timestamp closed_at = 0;
    uint64_t serial = 0;  // tells this flow from a later one on the same ports
    std::array<Fifo<Held>, 2> held;
    std::array<size_t, 2> held_bytes{0, 0};
    // Stream offset up to which the session has the direction: bytes fed and gaps marked.
    std::array<uint64_t, 2> fed_end{0, 0};

    explicit Flow(const StreamLimits& limits) : streams{TcpStream(limits), TcpStream(limits)} {}
};

ConnectionTracker::ConnectionTracker(TrackerOptions options, ConnectionObserver& observer)
    : options_(std::move(options)), observer_(observer) {}

ConnectionTracker::~ConnectionTracker() = default;

ConnectionTracker::FlowKey ConnectionTracker::key_of(const TcpSegment& s) {
    return canonical_before(s.source, s.destination) ? FlowKey{s.source, s.destination}
                                                     : FlowKey{s.destination, s.source};
}

ConnectionTracker::FlowKey ConnectionTracker::key_of_flow(const Flow& flow) {
    const Endpoint& a = flow.info.client;
    const Endpoint& b = flow.info.server;
    return canonical_before(a, b) ? FlowKey{a, b} : FlowKey{b, a};
}

size_t ConnectionTracker::open_connections() const {
    return open_count_;
}

void ConnectionTracker::add_packet(const Packet& packet) {
    counters_.packets++;
    TcpSegment segment;
    const DecodeStatus status = decode_packet(packet, segment);
    if (status != DecodeStatus::Tcp) {
        counters_.undecoded[status]++;
        if (status == DecodeStatus::UnsupportedLink)
            counters_.unsupported_linktypes.insert(packet.linktype);
        return;
    }
    counters_.tcp_packets++;
    add_segment(segment, latest_);
    latest_ = std::max(latest_.value_or(packet.time), packet.time);
}

bool ConnectionTracker::wants(const TcpSegment& s) const {
    return options_.detect || options_.ports.count(s.source.port) ||
           options_.ports.count(s.destination.port);
}

ConnectionTracker::Flow* ConnectionTracker::find(const FlowKey& key) {
    if (last_flow_ && last_key_ == key) return last_flow_;
    auto it = flows_.find(key);
    if (it == flows_.end()) return nullptr;
    last_key_ = key;
    last_flow_ = it->second.get();
    return last_flow_;
}

void ConnectionTracker::forget(const FlowKey& key) {
    if (last_key_ == key) last_flow_ = nullptr;
    flows_.erase(key);
}

// A closed connection is forgotten once the capture went on for forget_closed_after.
bool ConnectionTracker::forgotten(const Flow& flow) const {
    return flow.closed && latest_ && *latest_ - flow.closed_at > options_.forget_closed_after;
}

ConnectionTracker::Flow* ConnectionTracker::find_or_create(const FlowKey& key,
                                                           const TcpSegment& segment) {
    const bool syn_only = segment.has(tcp_flag::syn) && !segment.has(tcp_flag::ack);
    Flow* found = find(key);
    if (found && forgotten(*found)) {
        forget(key);
        found = nullptr;
    }
    if (found) {
        Flow& flow = *found;
        if (!syn_only) return &flow;  // closed: its last packets (the final ACK, ...)
        const bool same_syn = !flow.closed && flow.client_isn && *flow.client_isn == segment.seq;
        if (same_syn) return &flow;  // a retransmitted SYN
        if (!flow.closed) close(flow, ConnectionEnd::Replaced);
        forget(key);  // port reuse: a new connection on the same ports
    }
    if (!wants(segment)) return nullptr;
    if (segment.has(tcp_flag::rst)) return nullptr;  // nothing to follow
    return &create(key, segment);
}

ConnectionTracker::Flow& ConnectionTracker::create(const FlowKey& key, const TcpSegment& s) {
    auto flow = std::make_unique<Flow>(options_.stream);
    Connection& c = flow->info;
    const bool syn = s.has(tcp_flag::syn);
    const bool source_is_server_port =
        options_.ports.count(s.source.port) && !options_.ports.count(s.destination.port);
    // The client opened the connection; without a SYN, the side away from a ZMTP port.
    const bool source_is_client = syn ? !s.has(tcp_flag::ack) : !source_is_server_port;
    c.client = source_is_client ? s.source : s.destination;
    c.server = source_is_client ? s.destination : s.source;
    c.saw_syn = syn;
    c.first_time = c.last_time = s.time;
    flow->zmtp = options_.ports.count(c.server.port) || options_.ports.count(c.client.port);
    if (!flow->zmtp && !options_.detect) flow->zmtp = true;
    flow->serial = next_serial_++;
    Flow& ref = *flow;
    flows_[key] = std::move(flow);
    last_key_ = key;
    last_flow_ = &ref;
    open_count_++;
    if (ref.zmtp) announce(ref);
    return ref;
}

void ConnectionTracker::announce(Flow& flow) {
    flow.announced = true;
    flow.info.id = options_.ids_from_packet_numbers ? current_packet_ : next_id_++;
    counters_.connections++;
    flow.session = std::make_unique<zmtp::Session>(options_.keys, options_.session);
    flow.info.session = flow.session.get();
    observer_.on_connection_start(flow.info);
    for (const TcpEvent& e : flow.held_events) observer_.on_tcp_event(flow.info, e);
    flow.held_events.clear();
}

void ConnectionTracker::emit(Flow& flow, TcpEventKind kind, Direction dir, Timestamp time,
                             std::string text) {
    emit(flow, TcpEvent{kind, dir, time, std::move(text), std::nullopt, 0, std::nullopt});
}

void ConnectionTracker::emit(Flow& flow, TcpEvent event) {
    if (flow.announced) {
        observer_.on_tcp_event(flow.info, event);
    } else {
        flow.held_events.push_back(std::move(event));
    }
}

void ConnectionTracker::add_segment(const TcpSegment& segment, std::optional<Timestamp> latest) {
    latest_ = latest;
    if (latest) forget_closed(*latest);
    current_packet_ = segment.packet_number;
    const FlowKey key = key_of(segment);
    Flow* found = find_or_create(key, segment);
    if (!found) {
        counters_.ignored_packets++;
        return;
    }
    Flow& flow = *found;
    if (flow.closed) {
        (flow.announced ? counters_.zmtp_packets : counters_.ignored_packets)++;
        return;
    }
    const Direction dir =
        segment.source == flow.info.client ? Direction::ClientToServer : Direction::ServerToClient;
    flow.packets++;
    flow.info.last_time = std::max(flow.info.last_time, segment.time);
    DirectionStats& stats = flow.info.dirs[index_of(dir)];
    stats.packets++;
    stats.last_packet = segment.time;
    if (flow.zmtp) counters_.zmtp_packets++;

    handle_control(flow, dir, segment);
    handle_payload(flow, dir, segment);
    if (flow.not_zmtp) close(flow, ConnectionEnd::Open);
    if (flow.closed) return;
    if (segment.has(tcp_flag::ack))
        flow.streams[index_of(opposite(dir))].peer_acked(segment.ack, segment.time, flow.packets);
    for (Direction d : {Direction::ClientToServer, Direction::ServerToClient}) {
        const std::pair<Flow*, Direction> where{&flow, d};
        flow.streams[index_of(d)].check_hole(segment.time, flow.packets, chunk_sink(where));
    }
    if (flow.not_zmtp) close(flow, ConnectionEnd::Open);
    if (flow.closed) return;
    release_held(flow, false);
    if (segment.has(tcp_flag::rst)) flow.rst = true;
    maybe_close(flow);
}

void ConnectionTracker::handle_control(Flow& flow, Direction dir, const TcpSegment& s) {
    Connection& c = flow.info;
    TcpStream& own = flow.streams[index_of(dir)];
    const bool syn = s.has(tcp_flag::syn);
    const bool ack = s.has(tcp_flag::ack);
    if (syn && !ack && dir == Direction::ClientToServer && !flow.client_isn) {
        flow.client_isn = s.seq;
        c.syn_time = s.time;
        own.start_at(s.seq + 1);
        emit(flow, TcpEventKind::Syn, dir, s.time);
    } else if (syn && ack && dir == Direction::ServerToClient && !c.syn_ack_time) {
        c.syn_ack_time = s.time;
        own.start_at(s.seq + 1);
        TcpStream& client = flow.streams[index_of(Direction::ClientToServer)];
        if (!client.started()) client.start_at(s.ack);
        emit(flow, TcpEventKind::SynAck, dir, s.time);
    } else if (!syn && ack && dir == Direction::ClientToServer && c.syn_ack_time &&
               !c.established_time) {
        c.established_time = s.time;
        emit(flow, TcpEventKind::Established, dir, s.time);
    }
    if (!own.started()) {
        own.start_at(s.seq);
        if (!c.saw_syn)
            emit(flow, TcpEventKind::MidStream, dir, s.time,
                 "the capture started after the connection was opened");
    }
    DirectionStats& stats = c.dirs[index_of(dir)];
    if (s.has(tcp_flag::fin) && !stats.fin_time) {
        stats.fin_time = s.time;
        if (!c.closed_by) c.closed_by = dir;
        emit(flow, TcpEventKind::Fin, dir, s.time);
    }
    if (s.has(tcp_flag::rst) && !flow.rst) {
        if (!c.closed_by) c.closed_by = dir;
        emit(flow, TcpEventKind::Rst, dir, s.time);
    }
}

// Two pointers: small enough for std::function to hold without allocating.
ChunkSink ConnectionTracker::chunk_sink(const std::pair<Flow*, Direction>& where) {
    return [this, &where](const StreamChunk& c) { on_chunk(*where.first, where.second, c); };
}

void ConnectionTracker::handle_payload(Flow& flow, Direction dir, const TcpSegment& s) {
    TcpStream& stream = flow.streams[index_of(dir)];
    const std::pair<Flow*, Direction> where{&flow, dir};
    const SegmentKind kind = stream.add(s, chunk_sink(where));
    if (flow.closed) return;
    DirectionStats& stats = flow.info.dirs[index_of(dir)];
    if (kind == SegmentKind::KeepAlive) {
        emit(flow, TcpEventKind::KeepAlive, dir, s.time);
        return;
    }
    if (kind == SegmentKind::Empty) return;
    stats.payload_packets++;
    stats.payload_bytes += s.payload_size();
    if (!stats.first_payload) stats.first_payload = s.time;
    stats.last_payload = s.time;
    if (flow.announced) observer_.on_segment(flow.info, dir, s.time, kind, s.payload_size());
}

void ConnectionTracker::on_chunk(Flow& flow, Direction dir, const StreamChunk& chunk) {
    const size_t d = index_of(dir);
    if (flow.not_zmtp || flow.ignored[d]) return;
    if (!flow.first_chunk_seen[d]) {
        flow.first_chunk_seen[d] = true;
        // Joined late: the direction's first bytes are no greeting (docs/protocol.md 9).
        if (!flow.info.saw_syn && (chunk.gap || !could_be_greeting(chunk.data))) {
            if (!flow.zmtp) {
                flow.ignored[d] = true;  // --detect follows a connection only from a greeting
                return;
            }
            start_mid_stream(flow, dir, chunk.offset, chunk.time);
        }
    }
    if (chunk.gap) {
        const StreamGap& gap = *chunk.gap;
        emit(flow, TcpEvent{TcpEventKind::Gap, dir, gap.time, gap.describe(), gap.cause, gap.offset,
                            gap.size});
        if (!flow.zmtp) {  // --detect: no greeting to decide on in this direction
            flow.ignored[d] = true;
            flow.undecided[d].clear();
            flow.undecided_bytes[d] = 0;
            return;
        }
        deliver(flow, dir, Piece{gap.offset, {}, gap.time, 0, true, gap.size});
        return;
    }
    uint64_t needs = 0;
    if (chunk.ack)
        needs = flow.streams[index_of(opposite(dir))].acked_offset(*chunk.ack).value_or(0);
    const Piece piece{chunk.offset, chunk.data, chunk.time, needs, chunk.segment_end, std::nullopt};
    if (!flow.zmtp) {
        flow.undecided[d].push_back(hold(piece));
        flow.undecided_bytes[d] += chunk.data.size();
        if (flow.undecided_bytes[d] >= signature_size) decide_zmtp(flow, dir);
        return;
    }
    deliver(flow, dir, piece);
}

// The capture joined `dir` after its first byte, which is `offset` (the first bytes the capture
// has, or a gap before them).
void ConnectionTracker::start_mid_stream(Flow& flow, Direction dir, uint64_t offset,
                                         Timestamp time) {
    flow.info.dirs[index_of(dir)].started_mid_stream = true;
    emit(flow, TcpEvent{TcpEventKind::Gap, dir, time,
                        StreamGap{GapCause::StartedLate, offset, 0, time}.describe(),
                        GapCause::StartedLate, offset, std::nullopt});
    if (!flow.session) return;
    flow.timelines[index_of(dir)].add(offset, time);
    SessionInput input{SessionInput::Kind::StartMidStream, dir, offset, 0, false, time, {}};
    observer_.on_session_input(flow.info, input);
    flow.session->start_mid_stream(dir, session_sink(flow));
}

void ConnectionTracker::decide_zmtp(Flow& flow, Direction dir) {
    std::array<uint8_t, zmtp::greeting_v3_size> first{};
    size_t n = 0;
    for (const Held& h : flow.undecided[index_of(dir)])
        for (uint8_t b : h.bytes)
            if (n < first.size()) first[n++] = b;
    if (zmtp::match_greeting(Bytes(first.data(), n)) != zmtp::GreetingMatch::Yes) {
        flow.not_zmtp = true;  // closed by add_segment, outside the stream's callback
        return;
    }
    flow.zmtp = true;
    announce(flow);
    for (Direction d : {Direction::ClientToServer, Direction::ServerToClient}) {
        auto pieces = std::move(flow.undecided[index_of(d)]);
        flow.undecided[index_of(d)].clear();
        flow.undecided_bytes[index_of(d)] = 0;
        for (const Held& h : pieces) deliver(flow, d, view(h));
    }
}

SessionSink ConnectionTracker::session_sink(Flow& flow) {
    return [this, &flow](const zmtp::SessionEvent& event) {
        const uint64_t last_byte = event.offset + (event.size > 0 ? event.size - 1 : 0);
        const Timestamp time =
            flow.timelines[index_of(event.dir)].time_at(last_byte).value_or(flow.info.last_time);
        observer_.on_session_event(flow.info, event, time);
    };
}

ConnectionTracker::Held ConnectionTracker::hold(const Piece& p) {
    return {p.offset,      std::vector<uint8_t>(p.data.begin(), p.data.end()),
            p.time,        p.needs_peer,
            p.segment_end, p.lost};
}

ConnectionTracker::Piece ConnectionTracker::view(const Held& h) {
    return {h.offset, h.bytes, h.time, h.needs_peer, h.segment_end, h.lost};
}

// Hands one piece to the session: bytes as one TCP segment (or its captured part), or a gap
// with the exact number of bytes lost, so that session offsets stay TCP stream offsets.
void ConnectionTracker::feed_session(Flow& flow, Direction dir, const Piece& p) {
    if (!flow.session) return;
    if (!p.lost && p.data.empty()) return;
    const size_t d = index_of(dir);
    const StreamDecoder& decoder = flow.session->decoder(dir);
    Timeline& timeline = flow.timelines[d];
    // A failed decoder reports nothing more: the marks before these bytes are of no use.
    timeline.forget_before(decoder.failed() ? p.offset : decoder.offset());
    timeline.add(p.offset, p.time);
    if (p.lost) {
        flow.fed_end[d] = p.offset + *p.lost;
        observer_.on_session_input(
            flow.info, {SessionInput::Kind::Gap, dir, p.offset, *p.lost, false, p.time, {}});
        flow.session->mark_gap(dir, session_sink(flow), *p.lost);
        return;
    }
    flow.fed_end[d] = p.offset + p.data.size();
    observer_.on_session_input(flow.info, {SessionInput::Kind::Bytes, dir, p.offset, p.data.size(),
                                           p.segment_end, p.time, p.data});
    if (p.segment_end) {
        flow.session->feed_segment(dir, p.data, session_sink(flow));
    } else {
        flow.session->feed(dir, p.data, session_sink(flow));
    }
}

// The peer will deliver no more bytes: stop waiting for it. A peer with a gap is not done: it
// steps over the gap (fed_end jumps past the lost bytes) once the gap is known. Nor is a peer
// whose stream is complete while some of its bytes still wait here: they go first (in capture
// order) when they are released.
bool ConnectionTracker::peer_done(const Flow& flow, Direction peer) const {
    const size_t p = index_of(peer);
    return flow.ignored[p] || (flow.streams[p].complete() && flow.held[p].empty());
}

void ConnectionTracker::deliver(Flow& flow, Direction dir, const Piece& piece) {
    const size_t d = index_of(dir);
    const bool waits =
        piece.needs_peer > flow.fed_end[index_of(opposite(dir))] && !peer_done(flow, opposite(dir));
    if (flow.held[d].empty() && !waits) {
        feed_session(flow, dir, piece);
        return;
    }
    if (flow.held_bytes[d] + piece.data.size() > options_.stream.max_buffered_bytes) {
        release_held(flow, true);  // give up on ordering rather than grow without bound
        feed_session(flow, dir, piece);
        return;
    }
    flow.held[d].push_back(hold(piece));
    flow.held_bytes[d] += piece.data.size();
}

void ConnectionTracker::release_held(Flow& flow, bool all) {
    auto ready = [&](size_t d) {
        const auto& front = flow.held[d].front();
        const Direction peer = opposite(Direction(d));
        return front.needs_peer <= flow.fed_end[index_of(peer)] || peer_done(flow, peer);
    };
    for (;;) {
        std::optional<size_t> next;
        for (size_t d = 0; d < 2; ++d) {
            if (flow.held[d].empty() || !(all || ready(d))) continue;
            if (!next || flow.held[d].front().time < flow.held[*next].front().time) next = d;
        }
        if (!next) return;
        Held h = std::move(flow.held[*next].front());
        flow.held[*next].pop_front();
        flow.held_bytes[*next] -= h.bytes.size();
        feed_session(flow, Direction(*next), view(h));
    }
}

void ConnectionTracker::maybe_close(Flow& flow) {
    if (flow.rst) {
        close(flow, ConnectionEnd::Rst);
        return;
    }
    const auto& dirs = flow.info.dirs;
    const bool both_fin = dirs[0].fin_time && dirs[1].fin_time;
    if (both_fin && flow.streams[0].complete() && flow.streams[1].complete())
        close(flow, ConnectionEnd::Fin);
}

// The end of a connection: the streams give up their holes (the bytes after them still reach
// the session), every held piece is fed, and each direction's session is finished, so that
// libzmtp reports what the end cut off before the observer hears of the end.
void ConnectionTracker::close(Flow& flow, ConnectionEnd end) {
    if (flow.closed) return;
    for (Direction d : {Direction::ClientToServer, Direction::ServerToClient}) {
        const std::pair<Flow*, Direction> where{&flow, d};
        flow.streams[index_of(d)].finish(flow.info.last_time, chunk_sink(where));
    }
    release_held(flow, true);
    if (flow.session) {
        for (Direction d : {Direction::ClientToServer, Direction::ServerToClient}) {
            observer_.on_session_input(flow.info, {SessionInput::Kind::Finish,
                                                   d,
                                                   flow.fed_end[index_of(d)],
                                                   0,
                                                   false,
                                                   flow.info.last_time,
                                                   {}});
            flow.session->finish(d, session_sink(flow));
        }
    }
    flow.closed = true;
    flow.closed_at = flow.info.last_time;
    open_count_--;
    closed_order_.push_back({flow.closed_at, key_of_flow(flow), flow.serial});
    Connection& c = flow.info;
    c.end = end;
    c.end_time = c.last_time;
    for (size_t d = 0; d < 2; ++d) c.dirs[d].stream = flow.streams[d].counters();
    if (flow.announced) {
        if (options_.on_connection_closing) options_.on_connection_closing(c);
        observer_.on_connection_end(c);
    }
    c.session = nullptr;
    flow.session.reset();
    flow.streams = {TcpStream(options_.stream), TcpStream(options_.stream)};
    flow.timelines = {};
    flow.held_events.clear();
    flow.undecided = {};
    flow.undecided_bytes = {0, 0};
}

void ConnectionTracker::finish() {
    std::vector<Flow*> open;
    for (auto& entry : flows_)
        if (!entry.second->closed) open.push_back(entry.second.get());
    std::sort(open.begin(), open.end(), [](const Flow* a, const Flow* b) {
        if (a->announced != b->announced) return !a->announced;
        return a->announced ? a->info.id < b->info.id : a->serial < b->serial;
    });
    for (Flow* flow : open) {
        const auto& dirs = flow->info.dirs;
        const bool fin = dirs[0].fin_time || dirs[1].fin_time;
        close(*flow, fin ? ConnectionEnd::Fin : ConnectionEnd::Open);
    }
    flows_.clear();
    last_flow_ = nullptr;
}

// Closed connections stay known for a while, so their last packets (the final ACK, a late
// retransmission) are not taken for new connections; then they are forgotten, oldest first.
void ConnectionTracker::forget_closed(Timestamp now) {
    while (!closed_order_.empty() &&
           now - closed_order_.front().time > options_.forget_closed_after) {
        const ClosedFlow old = closed_order_.front();
        closed_order_.pop_front();
        auto it = flows_.find(old.key);
        if (it != flows_.end() && it->second->serial == old.serial) forget(old.key);
    }
}

bool track_captures(const std::vector<std::string>& captures, const std::string& filter,
                    const TrackerOptions& options, ConnectionObserver& observer, std::string& error,
                    TrackerCounters* counters) {
    auto source = PacketSource::open_files(captures, filter, error);
    if (!source) return false;
    ConnectionTracker tracker(options, observer);
    Packet packet;
    while (source->next(packet)) tracker.add_packet(packet);
    tracker.finish();
    if (counters) *counters = tracker.counters();
    error = source->error();
    return error.empty();
}

}  // namespace zmtp::tracker
