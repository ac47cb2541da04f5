// The time of a packet libpcap read, in ns (shared by the packet source and the file reader).
#pragma once

#include <pcap/pcap.h>

#include <algorithm>

#include "capture/packet.hpp"

namespace capture {

// A pcap(ng) timestamp can be anything up to 2^64 units. Times are clamped to about +-146
// years around 1970 (+-2^62 ns), so the difference of any two still fits in a Timestamp.
inline constexpr Timestamp latest_time = (Timestamp(1) << 62) - 1;

inline Timestamp packet_time(const pcap_pkthdr& header, bool nanoseconds) {
    const Timestamp fraction =
        nanoseconds ? Timestamp(header.ts.tv_usec) : Timestamp(header.ts.tv_usec) * 1000;
    constexpr Timestamp latest_second = latest_time / ns_per_s - 1;
    const Timestamp seconds =
        std::clamp<Timestamp>(header.ts.tv_sec, -latest_second, latest_second);
    return seconds * ns_per_s + std::clamp<Timestamp>(fraction, 0, ns_per_s - 1);
}

}  // namespace capture
