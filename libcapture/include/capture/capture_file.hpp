// Capture files as a whole: read into memory (pcap or pcapng, through libpcap), written as
// classic pcap (libpcap's dumper) or as pcapng (one section, one interface; libpcap writes no
// pcapng).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/packet.hpp"

namespace capture {

enum class TimeResolution : uint8_t { Micro, Nano };

struct StoredPacket {
    Timestamp time = 0;
    uint32_t wire_size = 0;  // the packet's size on the wire (caplen is data.size())
    std::vector<uint8_t> data;
};

struct CaptureFile {
    int linktype = 0;  // DLT_*
    uint32_t snaplen = default_snaplen;
    // A classic pcap file's own resolution (its magic number); pcapng files read as Nano.
    TimeResolution resolution = TimeResolution::Micro;
    std::vector<StoredPacket> packets;
};

// nullopt with `error` naming the file and what is wrong with it.
std::optional<CaptureFile> read_capture_file(const std::string& path, std::string& error);

// Writes classic pcap through libpcap (its dumper), packet by packet; "-" is standard output.
class PcapWriter {
  public:
    PcapWriter() = default;
    ~PcapWriter();
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    bool open(const std::string& path, int linktype, uint32_t snaplen, TimeResolution resolution,
              std::string& error);
    void write(Timestamp time, Bytes data, uint32_t wire_size);
    // Flushes and closes; false with `error` set when any write failed (e.g. disk full).
    bool close(std::string& error);
    uint64_t bytes() const { return bytes_; }  // written so far, the file header included

  private:
    struct Handles;
    Handles* handles_ = nullptr;
    std::FILE* file_ = nullptr;
    std::string path_;
    std::vector<char> buffer_;
    uint64_t bytes_ = 0;
};

bool write_pcap(const std::string& path, const CaptureFile& file, std::string& error);

struct PcapngHeader {
    std::string_view interface_name;  // if_name
    std::string_view comment;         // the section's opt_comment
    std::string_view application;     // shb_userappl
};
// One section, one interface, one Enhanced Packet Block per packet, with the file's resolution.
bool write_pcapng(const std::string& path, const CaptureFile& file, const PcapngHeader& header,
                  std::string& error);

// LINKTYPE_* (the number files store) of a DLT_* (what libpcap hands out).
uint32_t linktype_of_dlt(int dlt);

}  // namespace capture
