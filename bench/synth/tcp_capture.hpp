// A Transport that writes a classic pcap file (Ethernet, IPv4, TCP): SYN/SYN-ACK/ACK,
// segments of at most the MSS with running sequence and acknowledgement numbers, a delayed ACK
// every second full segment, FIN/FIN/ACK at the end, correct IP and TCP checksums. Packets are
// built and written by libcapture (capture/packet_builder.hpp, capture/capture_file.hpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "capture/capture_file.hpp"
#include "synth/synth.hpp"

namespace zmtp::synth {

// Opens `writer` as TcpCapture writes: Ethernet, whole packets, microseconds.
bool open_pcap(::capture::PcapWriter& writer, const std::string& path, std::string& error);

class TcpCapture : public Transport {
  public:
    // mss above 1460 means loopback: 127.0.0.1 on both sides, zero MAC addresses.
    // `writer`: opened by open_pcap.
    TcpCapture(::capture::PcapWriter& writer, uint32_t mss, uint16_t server_port, uint64_t seed);
    ~TcpCapture() override;

    Micros open(uint32_t conn, Micros now) override;
    Micros send(uint32_t conn, Side from, Bytes data, Micros now) override;
    Micros close(uint32_t conn, Micros now) override;
    uint64_t bytes_out() const override { return writer_.bytes(); }
    uint64_t packets() const { return packets_; }

  private:
    struct Flow;
    Flow& flow(uint32_t conn);
    void segment(Flow& f, Side from, uint8_t flags, Bytes payload, Micros time);
    Micros segment_time(size_t bytes) const;

    ::capture::PcapWriter& writer_;
    std::vector<uint8_t> packet_;  // the packet being built
    uint32_t mss_;
    uint16_t server_port_;
    uint64_t seed_;
    bool loopback_;
    std::vector<std::unique_ptr<Flow>> flows_;
    uint64_t packets_ = 0;
};

}  // namespace zmtp::synth
