// Capture times of the bytes of one stream direction: which packet made stream offset X
// available. Session events carry offsets; this turns them into times.
#pragma once

#include <cstdint>
#include <optional>

#include "capture/packet.hpp"
#include "zmtp/fifo.hpp"

namespace zmtp::tracker {

using ::capture::Timestamp;

class Timeline {
  public:
    // Bytes from `offset` on became available at `time` (offsets only grow).
    void add(uint64_t offset, Timestamp time) {
        if (!marks_.empty() && marks_.back().time == time) return;
        marks_.push_back({offset, time});
    }
    // The time of the byte at `offset`, if still known.
    std::optional<Timestamp> time_at(uint64_t offset) const {
        for (size_t i = marks_.size(); i-- > 0;) {
            if (marks_[i].offset <= offset) return marks_[i].time;
        }
        return std::nullopt;
    }
    // Forgets marks that only describe bytes before `offset`.
    void forget_before(uint64_t offset) {
        while (marks_.size() > 1 && marks_[1].offset <= offset) marks_.pop_front();
    }
    size_t size() const { return marks_.size(); }

  private:
    struct Mark {
        uint64_t offset;
        Timestamp time;
    };
    Fifo<Mark> marks_;
};

}  // namespace zmtp::tracker
