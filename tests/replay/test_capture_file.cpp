// libcapture's capture files: what PcapWriter and write_pcapng write, libpcap reads back.
#include <pcap/dlt.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "capture/capture_file.hpp"
#include "capture/packet_decoder.hpp"
#include "capture/packet_source.hpp"
#include "packet_builder.hpp"

using namespace ::capture;

namespace {

CaptureFile sample_file(TimeResolution resolution) {
    CaptureFile file;
    file.linktype = DLT_EN10MB;
    file.resolution = resolution;
    zmtp::tracker::testing::SegmentSpec spec;
    spec.source_port = 40000;
    spec.destination_port = 2069;
    spec.flags = tcp_flag::ack | tcp_flag::psh;
    for (uint32_t i = 0; i < 3; ++i) {
        spec.seq = 1000 + 10 * i;
        spec.payload.assign(10, uint8_t('a' + i));
        StoredPacket& p = file.packets.emplace_back();
        p.data = zmtp::tracker::testing::build_ethernet(spec);
        p.wire_size = uint32_t(p.data.size());
        p.time = 1'700'000'000'000'000'000 + i * 1'234'567;  // ns; 567 ns below 1 us
    }
    return file;
}

std::string temporary(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("zmtp-capture-file-" + std::to_string(getpid()) + "-" + name))
        .string();
}

// The time a file of this resolution keeps.
Timestamp kept(Timestamp t, TimeResolution resolution) {
    return resolution == TimeResolution::Nano ? t : t / 1000 * 1000;
}

void check_read_back(const std::string& path, const CaptureFile& written) {
    std::string error;
    const auto read = read_capture_file(path, error);
    REQUIRE(read.has_value());
    CHECK(read->linktype == DLT_EN10MB);
    REQUIRE(read->packets.size() == written.packets.size());
    for (size_t i = 0; i < read->packets.size(); ++i) {
        CHECK(read->packets[i].data == written.packets[i].data);
        CHECK(read->packets[i].wire_size == written.packets[i].wire_size);
        CHECK(read->packets[i].time == kept(written.packets[i].time, written.resolution));
    }
    // The packet source reads the same file the same way, and its packets decode.
    auto source = PacketSource::open_files({path}, "", error);
    REQUIRE(source);
    Packet packet;
    size_t n = 0;
    while (source->next(packet)) {
        TcpSegment segment;
        CHECK(decode_packet(packet, segment) == DecodeStatus::Tcp);
        CHECK(segment.payload.size() == 10);
        CHECK(packet.time == kept(written.packets[n].time, written.resolution));
        ++n;
    }
    CHECK(n == written.packets.size());
}

}  // namespace

TEST_CASE("pcap written by libcapture reads back at its resolution", "[capture][file]") {
    for (TimeResolution resolution : {TimeResolution::Micro, TimeResolution::Nano}) {
        const CaptureFile file = sample_file(resolution);
        const std::string path = temporary("w.pcap");
        std::string error;
        PcapWriter writer;
        REQUIRE(writer.open(path, file.linktype, file.snaplen, resolution, error));
        for (const StoredPacket& p : file.packets) writer.write(p.time, p.data, p.wire_size);
        const uint64_t bytes = writer.bytes();
        REQUIRE(writer.close(error));
        CHECK(bytes == std::filesystem::file_size(path));
        check_read_back(path, file);
        std::string read_error;
        const auto read = read_capture_file(path, read_error);
        REQUIRE(read.has_value());
        CHECK(read->resolution == resolution);
        std::filesystem::remove(path);
    }
}

TEST_CASE("pcapng written by libcapture reads back through libpcap", "[capture][file]") {
    for (TimeResolution resolution : {TimeResolution::Micro, TimeResolution::Nano}) {
        const CaptureFile file = sample_file(resolution);
        const std::string path = temporary("w.pcapng");
        std::string error;
        REQUIRE(write_pcapng(path, file, {"lo", "a comment", "zmtpscope tests"}, error));
        check_read_back(path, file);
        std::filesystem::remove(path);
    }
}

TEST_CASE("a capture file that cannot be read is named in the error", "[capture][file]") {
    std::string error;
    CHECK_FALSE(read_capture_file("/nonexistent/x.pcap", error).has_value());
    CHECK(error.find("/nonexistent/x.pcap") != std::string::npos);
    PcapWriter writer;
    CHECK_FALSE(
        writer.open("/nonexistent/dir/x.pcap", DLT_EN10MB, 65535, TimeResolution::Micro, error));
    CHECK(error.find("/nonexistent/dir/x.pcap") != std::string::npos);
}
