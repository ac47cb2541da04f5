#include "capture/capture_file.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "pcap_time.hpp"

namespace capture {
namespace {

constexpr uint32_t pcap_magic_nano = 0xa1b23c4d;
constexpr int linktype_raw = 101;
constexpr size_t pcap_file_header_size = 24;
constexpr size_t pcap_record_header_size = 16;
constexpr size_t write_buffer_size = 8u << 20;

// libpcap converts timestamps to the precision asked for and does not say which one the file
// holds: a classic pcap file says it in its magic number, in either byte order.
TimeResolution classic_pcap_resolution(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    uint8_t magic[4] = {};
    if (!in.read(reinterpret_cast<char*>(magic), sizeof magic)) return TimeResolution::Micro;
    const uint32_t big =
        uint32_t(magic[0]) << 24 | uint32_t(magic[1]) << 16 | uint32_t(magic[2]) << 8 | magic[3];
    const uint32_t little = __builtin_bswap32(big);
    return big == pcap_magic_nano || little == pcap_magic_nano ? TimeResolution::Nano
                                                               : TimeResolution::Micro;
}

pcap_pkthdr record_header(Timestamp time, size_t caplen, uint32_t wire_size,
                          TimeResolution resolution) {
    pcap_pkthdr h{};
    h.ts.tv_sec = time_t(time / ns_per_s);
    const Timestamp fraction = time % ns_per_s;
    h.ts.tv_usec = suseconds_t(resolution == TimeResolution::Nano ? fraction : fraction / 1000);
    h.caplen = uint32_t(caplen);
    h.len = wire_size;
    return h;
}

// --- pcapng (little-endian, as the reader's byte-order magic tells) ---

constexpr uint32_t section_header_block = 0x0a0d0d0a;
constexpr uint32_t interface_block = 1;
constexpr uint32_t enhanced_packet_block = 6;
constexpr uint32_t byte_order_magic = 0x1a2b3c4d;
constexpr uint16_t opt_comment = 1, shb_userappl = 4, if_name = 2, if_tsresol = 9;

void put32(std::vector<uint8_t>& out, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    out.insert(out.end(), b, b + 4);
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
    uint8_t b[2];
    std::memcpy(b, &v, 2);
    out.insert(out.end(), b, b + 2);
}
void pad4(std::vector<uint8_t>& out) {
    while (out.size() % 4) out.push_back(0);
}
void put_option(std::vector<uint8_t>& out, uint16_t code, std::string_view value) {
    put16(out, code);
    put16(out, uint16_t(value.size()));
    out.insert(out.end(), value.begin(), value.end());
    pad4(out);
}
void end_options(std::vector<uint8_t>& out) {
    put32(out, 0);
}

// Wraps a block body: type, total length, body, total length.
void put_block(std::vector<uint8_t>& out, uint32_t type, const std::vector<uint8_t>& body) {
    const uint32_t total = uint32_t(body.size() + 12);
    put32(out, type);
    put32(out, total);
    out.insert(out.end(), body.begin(), body.end());
    put32(out, total);
}

std::vector<uint8_t> section_header(const PcapngHeader& header) {
    std::vector<uint8_t> body;
    put32(body, byte_order_magic);
    put16(body, 1);  // version 1.0
    put16(body, 0);
    put32(body, 0xffffffff);  // section length unknown (-1)
    put32(body, 0xffffffff);
    put_option(body, opt_comment, header.comment);
    put_option(body, shb_userappl, header.application);
    end_options(body);
    return body;
}

std::vector<uint8_t> interface_description(const CaptureFile& file, std::string_view name) {
    std::vector<uint8_t> body;
    put16(body, uint16_t(linktype_of_dlt(file.linktype)));
    put16(body, 0);
    put32(body, file.snaplen);
    put_option(body, if_name, name);
    const bool nano = file.resolution == TimeResolution::Nano;
    put_option(body, if_tsresol, std::string(1, char(nano ? 9 : 6)));  // 10^-9 or 10^-6 s
    end_options(body);
    return body;
}

std::vector<uint8_t> enhanced_packet(const StoredPacket& packet, TimeResolution resolution) {
    const uint64_t units =
        uint64_t(resolution == TimeResolution::Nano ? packet.time : packet.time / 1000);
    std::vector<uint8_t> body;
    put32(body, 0);  // interface 0
    put32(body, uint32_t(units >> 32));
    put32(body, uint32_t(units));
    put32(body, uint32_t(packet.data.size()));
    put32(body, packet.wire_size);
    body.insert(body.end(), packet.data.begin(), packet.data.end());
    pad4(body);
    return body;
}

}  // namespace

uint32_t linktype_of_dlt(int dlt) {
    return dlt == DLT_RAW ? linktype_raw : uint32_t(dlt);
}

std::optional<CaptureFile> read_capture_file(const std::string& path, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p) {
        error = path + ": " + errbuf;
        return std::nullopt;
    }
    CaptureFile file;
    file.linktype = pcap_datalink(p);
    file.snaplen = uint32_t(pcap_snapshot(p));
    // A pcapng file's resolution is per interface, which libpcap does not tell.
    const bool pcapng = pcap_major_version(p) != 2;
    file.resolution = pcapng ? TimeResolution::Nano : classic_pcap_resolution(path);
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc;
    while ((rc = pcap_next_ex(p, &header, &data)) == 1) {
        StoredPacket& packet = file.packets.emplace_back();
        packet.time = packet_time(*header, true);  // opened at nanosecond precision
        packet.wire_size = header->len;
        packet.data.assign(data, data + header->caplen);
    }
    if (rc == PCAP_ERROR) {
        error = path + ": " + pcap_geterr(p);
        pcap_close(p);
        return std::nullopt;
    }
    pcap_close(p);
    return file;
}

struct PcapWriter::Handles {
    pcap_t* dead = nullptr;
    pcap_dumper_t* dumper = nullptr;
    TimeResolution resolution = TimeResolution::Micro;
};

PcapWriter::~PcapWriter() {
    std::string ignored;
    close(ignored);
}

bool PcapWriter::open(const std::string& path, int linktype, uint32_t snaplen,
                      TimeResolution resolution, std::string& error) {
    path_ = path;
    file_ = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
    if (!file_) {
        error = "cannot create " + path + ": " + std::strerror(errno);
        return false;
    }
    // Large writes, no system call per packet.
    buffer_.resize(write_buffer_size);
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
    handles_ = new Handles;
    handles_->resolution = resolution;
    handles_->dead = pcap_open_dead_with_tstamp_precision(linktype, int(snaplen),
                                                          resolution == TimeResolution::Nano
                                                              ? PCAP_TSTAMP_PRECISION_NANO
                                                              : PCAP_TSTAMP_PRECISION_MICRO);
    handles_->dumper = handles_->dead ? pcap_dump_fopen(handles_->dead, file_) : nullptr;
    if (!handles_->dumper) {
        error = "cannot write " + path + ": " +
                (handles_->dead ? pcap_geterr(handles_->dead) : "libpcap has no memory");
        if (file_ != stdout) std::fclose(file_);
        file_ = nullptr;
        if (handles_->dead) pcap_close(handles_->dead);
        delete handles_;
        handles_ = nullptr;
        return false;
    }
    bytes_ = pcap_file_header_size;
    return true;
}

void PcapWriter::write(Timestamp time, Bytes data, uint32_t wire_size) {
    if (!handles_) return;  // not open
    const pcap_pkthdr h = record_header(time, data.size(), wire_size, handles_->resolution);
    pcap_dump(reinterpret_cast<u_char*>(handles_->dumper), &h, data.data());
    bytes_ += pcap_record_header_size + data.size();
}

bool PcapWriter::close(std::string& error) {
    if (!handles_) return true;
    const bool failed = pcap_dump_flush(handles_->dumper) != 0 || std::ferror(file_) != 0;
    if (failed) error = "cannot write " + path_ + ": " + std::strerror(errno);
    pcap_dump_close(handles_->dumper);  // closes the file too
    pcap_close(handles_->dead);
    delete handles_;
    handles_ = nullptr;
    file_ = nullptr;
    return !failed;
}

bool write_pcap(const std::string& path, const CaptureFile& file, std::string& error) {
    PcapWriter writer;
    if (!writer.open(path, file.linktype, file.snaplen, file.resolution, error)) return false;
    for (const StoredPacket& packet : file.packets)
        writer.write(packet.time, packet.data, packet.wire_size);
    return writer.close(error);
}

bool write_pcapng(const std::string& path, const CaptureFile& file, const PcapngHeader& header,
                  std::string& error) {
    std::vector<uint8_t> out;
    put_block(out, section_header_block, section_header(header));
    put_block(out, interface_block, interface_description(file, header.interface_name));
    for (const StoredPacket& packet : file.packets)
        put_block(out, enhanced_packet_block, enhanced_packet(packet, file.resolution));
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
    if (!stream.flush()) {
        error = path + ": cannot write";
        return false;
    }
    return true;
}

}  // namespace capture
