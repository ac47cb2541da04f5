#include "pcap_files.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace capgen {

namespace {

constexpr uint32_t kPcapMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kPcapMagicNano = 0xa1b23c4d;
constexpr uint32_t kSectionHeaderBlock = 0x0a0d0d0a;
constexpr uint32_t kInterfaceBlock = 1;
constexpr uint32_t kSimplePacketBlock = 3;
constexpr uint32_t kEnhancedPacketBlock = 6;
constexpr uint32_t kByteOrderMagic = 0x1a2b3c4d;
constexpr size_t kMaxPacket = 1 << 20;  // far above any snap length tcpdump uses

std::vector<uint8_t> read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t swap32(uint32_t v) {
    return __builtin_bswap32(v);
}
uint16_t swap16(uint16_t v) {
    return __builtin_bswap16(v);
}

// Reads fixed-size fields from a byte buffer, in the file's byte order, never past its end.
class Reader {
  public:
    Reader(const std::vector<uint8_t>& bytes, std::string path) : bytes_(bytes), path_(path) {}
    bool at_end() const { return pos_ >= bytes_.size(); }
    size_t pos() const { return pos_; }
    size_t left() const { return bytes_.size() - pos_; }
    void set_swapped(bool swapped) { swapped_ = swapped; }
    void need(size_t n, std::string_view what) const {
        if (left() < n) fail("truncated " + std::string(what));
    }
    uint32_t u32_at(size_t at) const {
        uint32_t v;
        std::memcpy(&v, bytes_.data() + at, 4);
        return swapped_ ? swap32(v) : v;
    }
    uint16_t u16_at(size_t at) const {
        uint16_t v;
        std::memcpy(&v, bytes_.data() + at, 2);
        return swapped_ ? swap16(v) : v;
    }
    uint32_t u32() { return pos_ += 4, u32_at(pos_ - 4); }
    uint16_t u16() { return pos_ += 2, u16_at(pos_ - 2); }
    std::vector<uint8_t> take(size_t n) {
        std::vector<uint8_t> out(bytes_.begin() + long(pos_), bytes_.begin() + long(pos_ + n));
        pos_ += n;
        return out;
    }
    void skip(size_t n) { pos_ += n; }
    void seek(size_t at) { pos_ = at; }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(path_ + ": " + what + " at byte " + std::to_string(pos_));
    }

  private:
    const std::vector<uint8_t>& bytes_;
    std::string path_;
    size_t pos_ = 0;
    bool swapped_ = false;
};

// --- pcapng writing ---

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
    uint32_t total = uint32_t(body.size() + 12);
    put32(out, type);
    put32(out, total);
    out.insert(out.end(), body.begin(), body.end());
    put32(out, total);
}

std::vector<uint8_t> section_header(std::string_view comment) {
    std::vector<uint8_t> body;
    put32(body, kByteOrderMagic);
    put16(body, 1);
    put16(body, 0);
    put32(body, 0xffffffff);  // section length unknown (-1)
    put32(body, 0xffffffff);
    put_option(body, 1, comment);        // opt_comment
    put_option(body, 4, "zmtp-capgen");  // shb_userappl
    end_options(body);
    return body;
}

std::vector<uint8_t> interface_description(const PacketFile& file, std::string_view name) {
    std::vector<uint8_t> body;
    put16(body, uint16_t(file.link_type));
    put16(body, 0);
    put32(body, file.snap_length);
    put_option(body, 2, name);  // if_name
    std::string resolution(1, char(file.nanosecond ? 9 : 6));
    put_option(body, 9, resolution);  // if_tsresol: 10^-6 or 10^-9 seconds
    end_options(body);
    return body;
}

std::vector<uint8_t> enhanced_packet(const Packet& packet, bool nanosecond) {
    uint64_t units = nanosecond ? packet.timestamp_ns : packet.timestamp_ns / 1000;
    std::vector<uint8_t> body;
    put32(body, 0);  // interface 0
    put32(body, uint32_t(units >> 32));
    put32(body, uint32_t(units));
    put32(body, uint32_t(packet.data.size()));
    put32(body, packet.original_length);
    body.insert(body.end(), packet.data.begin(), packet.data.end());
    pad4(body);
    return body;
}

// --- pcapng reading ---

struct InterfaceInfo {
    uint32_t link_type = 0;
    uint64_t units_per_second = 1000000;
};

uint64_t units_per_second(uint8_t tsresol) {
    uint64_t base = (tsresol & 0x80) ? 2 : 10;
    uint64_t units = 1;
    for (int i = 0; i < (tsresol & 0x7f) && units < (uint64_t(1) << 40); ++i) units *= base;
    return units;
}

InterfaceInfo parse_interface(Reader& in, size_t body_end) {
    InterfaceInfo info;
    if (body_end - in.pos() < 8) in.fail("truncated interface description block");
    info.link_type = in.u16();
    in.skip(2);
    in.u32();  // snap length
    while (in.pos() + 4 <= body_end) {
        uint16_t code = in.u16();
        uint16_t length = in.u16();
        if (code == 0) break;
        if (in.pos() + length > body_end) in.fail("option runs past its block");
        if (code == 9 && length >= 1)
            info.units_per_second = units_per_second(in.take(1)[0]);
        else
            in.skip(length);
        in.seek((in.pos() + 3) & ~size_t(3));
    }
    return info;
}

Packet parse_enhanced_packet(Reader& in, size_t body_end, const std::vector<InterfaceInfo>& ifs) {
    if (body_end - in.pos() < 20) in.fail("truncated enhanced packet block");
    uint32_t interface = in.u32();
    if (interface >= ifs.size()) in.fail("packet on an undeclared interface");
    uint64_t units = uint64_t(in.u32()) << 32;
    units |= in.u32();
    uint32_t captured = in.u32();
    Packet packet;
    packet.original_length = in.u32();
    if (captured > kMaxPacket || captured > body_end - in.pos())
        in.fail("packet runs past its block");
    packet.data = in.take(captured);
    uint64_t per_second = ifs[interface].units_per_second;
    packet.timestamp_ns =
        units / per_second * 1000000000 + units % per_second * 1000000000 / per_second;
    return packet;
}

}  // namespace

PacketFile read_pcap(const std::string& path) {
    std::vector<uint8_t> bytes = read_whole_file(path);
    Reader in(bytes, path);
    in.need(24, "pcap file header");
    uint32_t magic = in.u32_at(0);
    bool swapped = magic == swap32(kPcapMagicMicro) || magic == swap32(kPcapMagicNano);
    in.set_swapped(swapped);
    magic = in.u32_at(0);
    if (magic != kPcapMagicMicro && magic != kPcapMagicNano) in.fail("not a pcap file");
    PacketFile file;
    file.nanosecond = magic == kPcapMagicNano;
    file.snap_length = in.u32_at(16);
    file.link_type = in.u32_at(20) & 0x0fffffff;
    in.seek(24);
    while (!in.at_end()) {
        in.need(16, "packet header");
        uint32_t seconds = in.u32();
        uint32_t fraction = in.u32();
        uint32_t captured = in.u32();
        Packet packet;
        packet.original_length = in.u32();
        if (captured > kMaxPacket) in.fail("implausible packet length");
        in.need(captured, "packet data");
        packet.data = in.take(captured);
        packet.timestamp_ns = uint64_t(seconds) * 1000000000 +
                              (file.nanosecond ? fraction : uint64_t(fraction) * 1000);
        file.packets.push_back(std::move(packet));
    }
    return file;
}

void write_pcapng(const std::string& path, const PacketFile& file, std::string_view interface_name,
                  std::string_view comment) {
    std::vector<uint8_t> out;
    put_block(out, kSectionHeaderBlock, section_header(comment));
    put_block(out, kInterfaceBlock, interface_description(file, interface_name));
    for (const Packet& packet : file.packets)
        put_block(out, kEnhancedPacketBlock, enhanced_packet(packet, file.nanosecond));
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
    if (!stream.flush()) throw std::runtime_error(path + ": cannot write");
}

PacketFile read_pcapng(const std::string& path) {
    std::vector<uint8_t> bytes = read_whole_file(path);
    Reader in(bytes, path);
    in.need(12, "section header block");
    if (in.u32_at(0) != kSectionHeaderBlock) in.fail("not a pcapng file");
    PacketFile file;
    std::vector<InterfaceInfo> interfaces;
    while (!in.at_end()) {
        size_t start = in.pos();
        in.need(12, "block header");
        if (in.u32_at(start) == kSectionHeaderBlock) {
            in.set_swapped(false);
            if (in.u32_at(start + 8) != kByteOrderMagic) in.set_swapped(true);
            if (in.u32_at(start + 8) != kByteOrderMagic) in.fail("bad byte-order magic");
            interfaces.clear();
        }
        uint32_t type = in.u32();
        uint32_t total = in.u32();
        if (total < 12 || total % 4 || total > in.left() + 8) in.fail("bad block length");
        size_t body_end = start + total - 4;
        if (type == kInterfaceBlock) {
            interfaces.push_back(parse_interface(in, body_end));
            if (file.link_type == 0) file.link_type = interfaces.back().link_type;
        } else if (type == kEnhancedPacketBlock) {
            file.packets.push_back(parse_enhanced_packet(in, body_end, interfaces));
        } else if (type == kSimplePacketBlock && !interfaces.empty()) {
            if (body_end - in.pos() < 4) in.fail("truncated simple packet block");
            Packet packet;
            packet.original_length = in.u32();
            packet.data = in.take(std::min<size_t>(packet.original_length, body_end - in.pos()));
            file.packets.push_back(std::move(packet));
        }
        if (in.u32_at(body_end) != total) in.fail("block length trailer does not match");
        in.seek(start + total);
    }
    return file;
}

}  // namespace capgen
