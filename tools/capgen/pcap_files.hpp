// Packet capture files: reading classic pcap (what tcpdump writes), writing and reading pcapng.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capgen {

struct Packet {
    uint64_t timestamp_ns = 0;
    uint32_t original_length = 0;
    std::vector<uint8_t> data;
};

struct PacketFile {
    uint32_t link_type = 0;  // LINKTYPE_* number (1 = Ethernet, as tcpdump writes for "lo")
    uint32_t snap_length = 262144;
    bool nanosecond = false;  // timestamps were recorded with nanosecond resolution
    std::vector<Packet> packets;
};

// All readers throw std::runtime_error naming the file and what is wrong with it.
PacketFile read_pcap(const std::string& path);
PacketFile read_pcapng(const std::string& path);
// One section, one interface named `interface_name`, one Enhanced Packet Block per packet.
void write_pcapng(const std::string& path, const PacketFile& file, std::string_view interface_name,
                  std::string_view comment);

}  // namespace capgen
