// A Transport that writes a classic pcap file (Ethernet, IPv4, TCP): SYN/SYN-ACK/ACK,
// segments of at most the MSS with running sequence and acknowledgement numbers, a delayed ACK
// every second full segment, FIN/FIN/ACK at the end, correct IP and TCP checksums.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "synth/synth.hpp"

namespace zmtp::synth {

// Buffered pcap output; large writes, no per-packet system call.
class PcapWriter {
  public:
    PcapWriter() = default;
    ~PcapWriter();
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    // "-" writes to standard output. False with `error` set when the file cannot be made.
    bool open(const std::string& path, std::string& error);
    // Room for one packet of `size` bytes captured at `time`; fill it before the next call.
    uint8_t* add_packet(Micros time, size_t size);
    // Flushes and closes; false with `error` set when any write failed (e.g. disk full).
    bool close(std::string& error);
    uint64_t bytes() const { return bytes_; }

  private:
    void flush();

    std::FILE* file_ = nullptr;
    bool owns_file_ = false;
    std::string path_;
    std::vector<uint8_t> buffer_;
    size_t used_ = 0;
    uint64_t bytes_ = 0;
    std::string error_;
};

class TcpCapture : public Transport {
  public:
    // mss above 1460 means loopback: 127.0.0.1 on both sides, zero MAC addresses.
    TcpCapture(PcapWriter& writer, uint32_t mss, uint16_t server_port, uint64_t seed);
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

    PcapWriter& writer_;
    uint32_t mss_;
    uint16_t server_port_;
    uint64_t seed_;
    bool loopback_;
    std::vector<std::unique_ptr<Flow>> flows_;
    uint64_t packets_ = 0;
};

}  // namespace zmtp::synth
