#include "synth/tcp_capture.hpp"

#include <cerrno>
#include <cstring>

namespace zmtp::synth {

namespace {

constexpr uint32_t pcap_magic = 0xa1b2c3d4;  // microsecond timestamps
constexpr uint32_t linktype_ethernet = 1;
constexpr uint32_t snaplen = 262144;
constexpr size_t record_header_size = 16;
constexpr size_t buffer_size = 8u << 20;

constexpr size_t ethernet_size = 14;
constexpr size_t ipv4_size = 20;
constexpr size_t tcp_size = 20;
constexpr size_t mss_option_size = 4;

namespace flag {
constexpr uint8_t fin = 0x01, syn = 0x02, psh = 0x08, ack = 0x10;
}

void store_be16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
void store_be32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
void store_le32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

// RFC 1071: the ones' complement sum over words read in native byte order; the folded and
// complemented result, stored in native order, is the checksum in network order.
uint64_t native_sum(const uint8_t* p, size_t n, uint64_t sum = 0) {
    for (; n >= 4; p += 4, n -= 4) {
        uint32_t word;
        std::memcpy(&word, p, 4);
        sum += word;
    }
    if (n >= 2) {
        uint16_t half;
        std::memcpy(&half, p, 2);
        sum += half;
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        const uint8_t pad[2] = {p[0], 0};
        uint16_t half;
        std::memcpy(&half, pad, 2);
        sum += half;
    }
    return sum;
}

void store_checksum(uint8_t* field, uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    const uint16_t checksum = uint16_t(~sum);
    std::memcpy(field, &checksum, 2);
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

// ---- PcapWriter ------------------------------------------------------------------------------

PcapWriter::~PcapWriter() {
    std::string ignored;
    close(ignored);
}

bool PcapWriter::open(const std::string& path, std::string& error) {
    path_ = path;
    if (path == "-") {
        file_ = stdout;
    } else {
        file_ = std::fopen(path.c_str(), "wb");
        owns_file_ = true;
    }
    if (!file_) {
        error = "cannot create " + path + ": " + std::strerror(errno);
        return false;
    }
    buffer_.resize(buffer_size);
    uint8_t* h = buffer_.data();
    store_le32(h, pcap_magic);
    h[4] = 2, h[5] = 0, h[6] = 4, h[7] = 0;  // version 2.4
    std::memset(h + 8, 0, 8);                // thiszone, sigfigs
    store_le32(h + 16, snaplen);
    store_le32(h + 20, linktype_ethernet);
    used_ = bytes_ = 24;
    return true;
}

uint8_t* PcapWriter::add_packet(Micros time, size_t size) {
    const size_t need = record_header_size + size;
    if (used_ + need > buffer_.size()) flush();
    if (need > buffer_.size()) buffer_.resize(need);
    uint8_t* r = buffer_.data() + used_;
    store_le32(r, uint32_t(time / 1'000'000));
    store_le32(r + 4, uint32_t(time % 1'000'000));
    store_le32(r + 8, uint32_t(size));
    store_le32(r + 12, uint32_t(size));
    used_ += need;
    bytes_ += need;
    return r + record_header_size;
}

void PcapWriter::flush() {
    if (file_ && error_.empty() && used_ > 0 &&
        std::fwrite(buffer_.data(), 1, used_, file_) != used_)
        error_ = "cannot write " + path_ + ": " + std::strerror(errno);
    used_ = 0;
}

bool PcapWriter::close(std::string& error) {
    if (!file_) return error_.empty();
    flush();
    if (std::fflush(file_) != 0 && error_.empty())
        error_ = "cannot write " + path_ + ": " + std::strerror(errno);
    if (owns_file_ && std::fclose(file_) != 0 && error_.empty())
        error_ = "cannot close " + path_ + ": " + std::strerror(errno);
    file_ = nullptr;
    error = error_;
    return error_.empty();
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

TcpCapture::TcpCapture(PcapWriter& writer, uint32_t mss, uint16_t server_port, uint64_t seed)
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
    const size_t tcp_header = tcp_size + ((flags & flag::syn) ? mss_option_size : 0);
    const size_t ip_total = ipv4_size + tcp_header + payload.size();
    uint8_t* p = writer_.add_packet(time, ethernet_size + ip_total);

    std::memcpy(p, f.mac[d].data(), 6);
    std::memcpy(p + 6, f.mac[s].data(), 6);
    store_be16(p + 12, 0x0800);

    uint8_t* ip = p + ethernet_size;
    ip[0] = 0x45;
    ip[1] = 0;
    store_be16(ip + 2, uint16_t(ip_total));
    store_be16(ip + 4, f.ip_id[s]++);
    store_be16(ip + 6, 0x4000);  // don't fragment
    ip[8] = 64;
    ip[9] = 6;
    ip[10] = ip[11] = 0;
    std::memcpy(ip + 12, f.ip[s].data(), 4);
    std::memcpy(ip + 16, f.ip[d].data(), 4);
    store_checksum(ip + 10, native_sum(ip, ipv4_size));

    uint8_t* tcp = ip + ipv4_size;
    store_be16(tcp, f.port[s]);
    store_be16(tcp + 2, f.port[d]);
    store_be32(tcp + 4, f.next_seq[s]);
    store_be32(tcp + 8, (flags & flag::ack) ? f.next_seq[d] : 0);
    tcp[12] = uint8_t((tcp_header / 4) << 4);
    tcp[13] = flags;
    store_be16(tcp + 14, 0xFFFF);  // window
    tcp[16] = tcp[17] = tcp[18] = tcp[19] = 0;
    if (flags & flag::syn) {
        tcp[20] = 2;  // MSS option
        tcp[21] = 4;
        store_be16(tcp + 22, uint16_t(mss_ > 65535 ? 65535 : mss_));
    }
    if (!payload.empty()) std::memcpy(tcp + tcp_header, payload.data(), payload.size());

    uint8_t pseudo[12];
    std::memcpy(pseudo, f.ip[s].data(), 4);
    std::memcpy(pseudo + 4, f.ip[d].data(), 4);
    pseudo[8] = 0;
    pseudo[9] = 6;
    store_be16(pseudo + 10, uint16_t(tcp_header + payload.size()));
    store_checksum(tcp + 16, native_sum(tcp, tcp_header + payload.size(), native_sum(pseudo, 12)));

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
