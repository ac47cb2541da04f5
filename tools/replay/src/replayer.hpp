// Feeds packets to connection trackers and analyzers: on the calling thread, or sharded by
// connection over worker threads. Both give the same report and the same messages, in the
// same order.
#pragma once

#include <memory>

#include "analyzer.hpp"
#include "capture/packet.hpp"
#include "tracker/connection_tracker.hpp"

namespace replay {

class Replayer {
  public:
    virtual ~Replayer() = default;
    virtual void add_packet(const zmtp::tracker::Packet& packet) = 0;
    // End of the input: the report of every connection. Call once.
    virtual Report finish(Report base) = 0;
    // For progress lines.
    virtual uint64_t packets() const = 0;
    virtual size_t open_connections() const = 0;
};

// threads == 1: everything on the calling thread. threads > 1: the calling thread decodes
// packets and hands each to the worker thread that owns its connection (a hash of its
// addresses and ports); every worker has its own tracker and analyzer. analyzer.on_message is
// always called on the calling thread, in the order one thread would call it.
// analyzer.on_live_event needs threads == 1.
std::unique_ptr<Replayer> make_replayer(size_t threads, zmtp::tracker::TrackerOptions tracker,
                                        AnalyzerOptions analyzer);

}  // namespace replay
