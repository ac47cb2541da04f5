// zmtp-capture-transform MODE IN_DIR OUT_DIR: rewrites every capture of IN_DIR (the ones a
// NAME.expected.json names) into OUT_DIR/NAME.pcap, copying the key logs and the expected
// files (with "capture" pointing at the new file). Modes:
//   reorder    swap every third TCP data packet with the packet after it (times kept in order)
//   duplicate  write every TCP data packet twice (retransmissions)
//   drop       drop a data packet of the first connection, among its messages (a lost segment)
//   snaplen    cut every packet to 400 bytes, as tcpdump -s 400 would
//   sll, sll2  re-encapsulate Ethernet as Linux cooked v1 / v2
//   ipv6       rewrite IPv4 as IPv6 (fd00::a.b.c.d), Ethernet framing
//   corrupt    overwrite bytes of TCP payloads at random (fixed seed): decoders must not crash
//   split      write NAME.part1.pcap and NAME.part2.pcap with alternate packets (no expected file)
#include <pcap/dlt.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "capture/capture_file.hpp"
#include "capture/packet_decoder.hpp"
#include "packet_builder.hpp"

namespace fs = std::filesystem;
using namespace ::capture;

namespace {

constexpr uint32_t snaplen_cut = 400;
constexpr size_t ethernet_header = 14;

void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
    v[at] = uint8_t(x >> 8);
    v[at + 1] = uint8_t(x);
}
void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
    for (int i = 0; i < 4; ++i) v[at + i] = uint8_t(x >> (24 - 8 * i));
}

using ::capture::CaptureFile;
using Record = ::capture::StoredPacket;

bool read_capture(const fs::path& path, CaptureFile& out) {
    std::string error;
    std::optional<CaptureFile> file = ::capture::read_capture_file(path.string(), error);
    if (!file) {
        std::cerr << error << "\n";
        return false;
    }
    out = std::move(*file);
    return true;
}

bool write_capture(const fs::path& path, CaptureFile file) {
    file.snaplen = 262144;
    file.resolution = ::capture::TimeResolution::Nano;
    std::string error;
    if (::capture::write_pcap(path.string(), file, error)) return true;
    std::cerr << error << "\n";
    return false;
}

bool decode(int linktype, const Record& r, TcpSegment& s) {
    Packet p;
    p.linktype = linktype;
    p.data = Bytes(r.data.data(), r.data.size());
    p.wire_size = r.wire_size;
    return decode_packet(p, s) == DecodeStatus::Tcp;
}

bool carries_data(int linktype, const Record& r) {
    TcpSegment s;
    return decode(linktype, r, s) && s.payload_size() > 0;
}

std::vector<size_t> data_packets(const CaptureFile& f) {
    std::vector<size_t> indices;
    for (size_t i = 0; i < f.packets.size(); ++i)
        if (carries_data(f.linktype, f.packets[i])) indices.push_back(i);
    return indices;
}

void reorder(CaptureFile& f) {
    const auto data = data_packets(f);
    for (size_t k = 0; k < data.size(); k += 3) {
        const size_t i = data[k];
        if (i + 1 >= f.packets.size()) break;
        std::swap(f.packets[i].data, f.packets[i + 1].data);
        std::swap(f.packets[i].wire_size, f.packets[i + 1].wire_size);
    }
}

void duplicate(CaptureFile& f) {
    std::vector<Record> out;
    for (const Record& r : f.packets) {
        out.push_back(r);
        if (carries_data(f.linktype, r)) out.push_back(r);
    }
    f.packets = std::move(out);
}

// Drops a data packet of the first connection's client->server direction, past its greeting
// and first handshake commands, so the gap falls among the messages.
void drop_one(CaptureFile& f) {
    std::optional<Endpoint> client, server;
    std::vector<size_t> candidates;
    for (size_t i = 0; i < f.packets.size(); ++i) {
        TcpSegment s;
        if (!decode(f.linktype, f.packets[i], s)) continue;
        if (!client) {
            client = s.source;
            server = s.destination;
        }
        if (s.source == *client && s.destination == *server && s.payload_size() > 0)
            candidates.push_back(i);
    }
    if (candidates.empty()) return;
    const size_t pick = std::min(candidates.size() - 1, std::max<size_t>(5, candidates.size() / 2));
    f.packets.erase(f.packets.begin() + long(candidates[pick]));
}

void cut(CaptureFile& f) {
    for (Record& r : f.packets) {
        if (r.data.size() <= snaplen_cut) continue;
        r.data.resize(snaplen_cut);
    }
}

// Ethernet -> Linux cooked capture v1 or v2 (the ethertype is kept).
bool cooked(CaptureFile& f, bool v2) {
    if (f.linktype != DLT_EN10MB) return false;
    for (Record& r : f.packets) {
        if (r.data.size() < ethernet_header) continue;
        const uint16_t ethertype = uint16_t(r.data[12] << 8 | r.data[13]);
        std::vector<uint8_t> h(v2 ? 20 : 16, 0);
        if (v2) {
            put16(h, 0, ethertype);
            put32(h, 4, 1);    // interface index
            put16(h, 8, 772);  // ARPHRD_LOOPBACK
            h[11] = 6;
            std::copy_n(r.data.begin() + 6, 6, h.begin() + 12);
        } else {
            put16(h, 2, 772);
            put16(h, 4, 6);
            std::copy_n(r.data.begin() + 6, 6, h.begin() + 6);
            put16(h, 14, ethertype);
        }
        const uint32_t link_header = uint32_t(h.size());
        h.insert(h.end(), r.data.begin() + ethernet_header, r.data.end());
        r.wire_size = r.wire_size - uint32_t(ethernet_header) + link_header;
        r.data = std::move(h);
    }
    f.linktype = v2 ? DLT_LINUX_SLL2 : DLT_LINUX_SLL;
    return true;
}

bool to_ipv6(CaptureFile& f) {
    for (Record& r : f.packets) {
        Packet p;
        p.linktype = f.linktype;
        p.data = Bytes(r.data.data(), r.data.size());
        p.wire_size = r.wire_size;
        TcpSegment s;
        if (decode_packet(p, s) != DecodeStatus::Tcp || s.payload_missing) return false;
        zmtp::tracker::testing::SegmentSpec spec;
        spec.v6 = true;
        spec.source = {0xfd, 0};
        spec.destination = {0xfd, 0};
        std::copy_n(s.source.address.bytes.begin(), 4, spec.source.begin() + 12);
        std::copy_n(s.destination.address.bytes.begin(), 4, spec.destination.begin() + 12);
        spec.source_port = s.source.port;
        spec.destination_port = s.destination.port;
        spec.seq = s.seq;
        spec.ack = s.ack;
        spec.flags = s.flags;
        spec.payload.assign(s.payload.begin(), s.payload.end());
        r.data = zmtp::tracker::testing::build_ethernet(spec);
        r.wire_size = uint32_t(r.data.size());
    }
    f.linktype = DLT_EN10MB;
    return true;
}

// Payload bytes replaced at random: lengths, flags, command names and boxes all get hit.
void corrupt(CaptureFile& f) {
    std::mt19937 random(2069);
    for (Record& r : f.packets) {
        TcpSegment s;
        if (!decode(f.linktype, r, s) || s.payload.empty()) continue;
        const size_t start = size_t(s.payload.data() - r.data.data());
        const size_t flips = 1 + random() % 4;
        for (size_t i = 0; i < flips; ++i)
            r.data[start + random() % s.payload.size()] = uint8_t(random());
    }
}

bool split(const CaptureFile& f, const fs::path& out_dir, const std::string& name) {
    CaptureFile parts[2];
    for (size_t i = 0; i < f.packets.size(); ++i) {
        parts[i % 2].linktype = f.linktype;
        parts[i % 2].packets.push_back(f.packets[i]);
    }
    return write_capture(out_dir / (name + ".part1.pcap"), parts[0]) &&
           write_capture(out_dir / (name + ".part2.pcap"), parts[1]);
}

bool transform(const std::string& mode, CaptureFile& f) {
    if (mode == "reorder")
        reorder(f);
    else if (mode == "duplicate")
        duplicate(f);
    else if (mode == "drop")
        drop_one(f);
    else if (mode == "corrupt")
        corrupt(f);
    else if (mode == "snaplen")
        cut(f);
    else if (mode == "sll")
        return cooked(f, false);
    else if (mode == "sll2")
        return cooked(f, true);
    else if (mode == "ipv6")
        return to_ipv6(f);
    else
        return false;
    return true;
}

bool process(const std::string& mode, const fs::path& in_dir, const fs::path& out_dir,
             const fs::path& expected_path) {
    nlohmann::json expected;
    std::ifstream(expected_path) >> expected;
    const std::string name = expected.at("scenario").get<std::string>();
    CaptureFile file;
    if (!read_capture(in_dir / expected.at("capture").get<std::string>(), file)) return false;
    if (mode == "split") return split(file, out_dir, name);
    if (!transform(mode, file)) {
        std::cerr << name << ": cannot apply " << mode << "\n";
        return false;
    }
    expected["capture"] = name + ".pcap";
    if (!write_capture(out_dir / (name + ".pcap"), file)) return false;
    std::ofstream(out_dir / (name + ".expected.json")) << expected.dump(1) << "\n";
    if (expected.contains("keylog") && expected["keylog"].is_string()) {
        const std::string keys = expected["keylog"].get<std::string>();
        fs::copy_file(in_dir / keys, out_dir / keys, fs::copy_options::overwrite_existing);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: zmtp-capture-transform "
                     "reorder|duplicate|drop|snaplen|sll|sll2|ipv6|split IN_DIR "
                     "OUT_DIR\n";
        return 2;
    }
    const std::string mode = argv[1];
    const fs::path in_dir = argv[2], out_dir = argv[3];
    fs::create_directories(out_dir);
    size_t done = 0;
    for (const auto& entry : fs::directory_iterator(in_dir)) {
        if (!entry.path().filename().string().ends_with(".expected.json")) continue;
        if (!process(mode, in_dir, out_dir, entry.path())) return 1;
        ++done;
    }
    if (done == 0) {
        std::cerr << "no *.expected.json in " << in_dir.string() << "\n";
        return 1;
    }
    return 0;
}
