#include "pcap_files.hpp"

#include <stdexcept>

namespace capgen {

PacketFile read_capture(const std::string& path) {
    std::string error;
    std::optional<PacketFile> file = ::capture::read_capture_file(path, error);
    if (!file) throw std::runtime_error(error);
    return std::move(*file);
}

void write_pcapng(const std::string& path, const PacketFile& file, std::string_view interface_name,
                  std::string_view comment) {
    std::string error;
    if (!::capture::write_pcapng(path, file, {interface_name, comment, "zmtp-capgen"}, error))
        throw std::runtime_error(error);
}

}  // namespace capgen
