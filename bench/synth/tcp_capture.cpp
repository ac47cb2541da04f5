#include "synth/tcp_capture.hpp"

#include <pcap/dlt.h>

#include "capture/packet_builder.hpp"

namespace zmtp::synth {

namespace {

constexpr uint32_t snaplen = 262144;
constexpr size_t ethernet_size = 14;
constexpr size_t ipv4_size = 20;
constexpr size_t tcp_size = 20;

namespace flag {
constexpr uint8_t fin = 0x01, syn = 0x02, psh = 0x08, ack = 0x10;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

bool open_pcap(::capture::PcapWriter& writer, const std::string& path, std::string& error) {
    return writer.open(path, DLT_EN10MB, snaplen, ::capture::TimeResolution::Micro, error);
}

// ---- TcpCapture ------------------------------------------------------------------------------

struct TcpCapture::Flow {
    std::array<std::array<uint8_t, 6>, 2> mac{};
    std::array<std::array<uint8_t, 4>, 2> ip{};
    std::array<uint16_t, 2> port{};
    std::array<uint32_t, 2> next_seq{};
    std::array<uint16_t, 2> ip_id{};
    std::array<uint32_t, 2> unacked{};  // segments sent since the peer last acknowledged
};

TcpCapture::TcpCapture(::capture::PcapWriter& writer, uint32_t mss, uint16_t server_port,
                       uint64_t seed)
    : writer_(writer), mss_(mss), server_port_(server_port), seed_(seed), loopback_(mss > 1460) {}

TcpCapture::~TcpCapture() = default;

TcpCapture::Flow& TcpCapture::flow(uint32_t conn) {
    if (conn >= flows_.size()) flows_.resize(conn + 1);
    auto& f = flows_[conn];
    if (f) return *f;
    f = std::make_unique<Flow>();
    const auto client = size_t(Side::Client), server = size_t(Side::Server);
    if (loopback_) {
        f->ip[client] = f->ip[server] = {127, 0, 0, 1};
    } else {
        f->ip[client] = {10, 0, uint8_t(1 + conn / 250), uint8_t(1 + conn % 250)};
        f->ip[server] = {10, 0, 0, 1};
        f->mac[client] = {0x02, 0, 10, 0, f->ip[client][2], f->ip[client][3]};
        f->mac[server] = {0x02, 0, 10, 0, 0, 1};
    }
    f->port[client] = uint16_t(30000 + conn % 30000);
    f->port[server] = server_port_;
    const uint64_t isn = splitmix64(seed_ ^ (uint64_t(conn) << 20));
    f->next_seq = {uint32_t(isn), uint32_t(isn >> 32)};
    f->ip_id = {uint16_t(isn >> 16), uint16_t(isn >> 48)};
    return *f;
}

Micros TcpCapture::segment_time(size_t bytes) const {
    // 1 Gbit/s Ethernet (125 bytes/us); loopback moves about 4 GB/s.
    const Micros t =
        Micros(bytes + ethernet_size + ipv4_size + tcp_size) / (loopback_ ? 4000 : 125);
    return t > 0 ? t : 1;
}

// One Ethernet/IPv4/TCP packet; SYNs carry the MSS option.
void TcpCapture::segment(Flow& f, Side from, uint8_t flags, Bytes payload, Micros time) {
    const size_t s = size_t(from), d = 1 - s;
    ::capture::TcpPacketSpec spec;
    std::copy(f.ip[s].begin(), f.ip[s].end(), spec.source.begin());
    std::copy(f.ip[d].begin(), f.ip[d].end(), spec.destination.begin());
    spec.source_mac = f.mac[s];
    spec.destination_mac = f.mac[d];
    spec.source_port = f.port[s];
    spec.destination_port = f.port[d];
    spec.seq = f.next_seq[s];
    spec.ack = (flags & flag::ack) ? f.next_seq[d] : 0;
    spec.flags = flags;
    spec.window = 0xFFFF;
    if (flags & flag::syn) spec.mss = uint16_t(mss_ > 65535 ? 65535 : mss_);
    spec.payload = payload;
    spec.ip_id = f.ip_id[s]++;
    packet_.resize(::capture::tcp_packet_size(spec, ::capture::Link::Ethernet));
    ::capture::write_tcp_packet(spec, ::capture::Link::Ethernet, packet_.data());
    writer_.write(::capture::Timestamp(time) * 1000, packet_, uint32_t(packet_.size()));

    f.next_seq[s] += uint32_t(payload.size()) + ((flags & (flag::syn | flag::fin)) ? 1 : 0);
    if (flags & flag::ack) f.unacked[d] = 0;
    ++packets_;
}

Micros TcpCapture::open(uint32_t conn, Micros now) {
    Flow& f = flow(conn);
    segment(f, Side::Client, flag::syn, {}, now);
    segment(f, Side::Server, flag::syn | flag::ack, {}, now + 20);
    segment(f, Side::Client, flag::ack, {}, now + 40);
    return now + 40;
}

Micros TcpCapture::send(uint32_t conn, Side from, Bytes data, Micros now) {
    Flow& f = flow(conn);
    const Side peer = from == Side::Client ? Side::Server : Side::Client;
    Micros t = now;
    for (size_t at = 0; at < data.size();) {
        const size_t n = std::min<size_t>(mss_, data.size() - at);
        const bool last = at + n == data.size();
        segment(f, from, flag::ack | (last ? flag::psh : 0), data.subspan(at, n), t);
        at += n;
        t += segment_time(n);
        // Delayed ACK: the receiver acknowledges every second full segment.
        if (++f.unacked[size_t(from)] >= 2 && !last) segment(f, peer, flag::ack, {}, t);
    }
    return t;
}

Micros TcpCapture::close(uint32_t conn, Micros now) {
    Flow& f = flow(conn);
    segment(f, Side::Client, flag::fin | flag::ack, {}, now);
    segment(f, Side::Server, flag::fin | flag::ack, {}, now + 20);
    segment(f, Side::Client, flag::ack, {}, now + 40);
    return now + 40;
}

}  // namespace zmtp::synth
