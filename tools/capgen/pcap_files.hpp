// Capture files for capgen and its checker, through libcapture: tcpdump's classic pcap read,
// the committed pcapng written (capture/capture_file.hpp).
#pragma once

#include <string>
#include <string_view>

#include "capture/capture_file.hpp"

namespace capgen {

using PacketFile = ::capture::CaptureFile;

// pcap or pcapng; throws std::runtime_error naming the file and what is wrong with it.
PacketFile read_capture(const std::string& path);
// One section (its comment `comment`, written by zmtp-capgen), one interface named
// `interface_name`, one Enhanced Packet Block per packet; throws when it cannot write.
void write_pcapng(const std::string& path, const PacketFile& file, std::string_view interface_name,
                  std::string_view comment);

}  // namespace capgen
