// Packets from capture files (pcap, pcapng; several merged in time order; "-" = stdin) or
// from a live interface, through libpcap.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "capture/packet.hpp"

namespace capture {

struct LiveOptions {
    std::string interface;
    int snaplen = int(default_snaplen);
    // libpcap's default of 2 MiB holds about 30 packets on loopback: in immediate mode each
    // slot of the ring is as large as the interface's largest packet (64 KiB on lo).
    int buffer_kib = 32768;
    bool promiscuous = false;
};

class PacketSource {
  public:
    // Opens every file (a BPF `filter` applies to each when not empty). On failure returns
    // null and sets `error` to a message naming the file.
    static std::unique_ptr<PacketSource> open_files(const std::vector<std::string>& paths,
                                                    const std::string& filter, std::string& error);
    static std::unique_ptr<PacketSource> open_live(const LiveOptions& options,
                                                   const std::string& filter, std::string& error);
    virtual ~PacketSource() = default;

    // The next packet in time order; false at the end or on a read error (see error()).
    // The packet's bytes stay valid until the next call.
    virtual bool next(Packet& packet) = 0;
    // A read error that ended the input early ("" when the input simply ended).
    virtual std::string error() const = 0;
    // Makes next() return false soon (safe to call from a signal handler).
    virtual void stop() = 0;
    // Link types of the inputs, in input order.
    virtual std::vector<int> linktypes() const = 0;
    // For progress: bytes read so far and in total (0 when unknown, e.g. stdin or live).
    virtual uint64_t bytes_read() const = 0;
    virtual uint64_t bytes_total() const = 0;
    // Live capture: what libpcap says it lost ("" when nothing, or for files), e.g. "the
    // kernel dropped 12 packets (capture buffer full)".
    virtual std::string losses() const { return {}; }
};

std::string linktype_name(int linktype);

}  // namespace capture
