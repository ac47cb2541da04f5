// Input: one options byte, then records. A record is a control byte: bit 0 is the direction,
// the rest (n = byte >> 1) the chunk size: n < 120 takes n bytes, 120..126 take a 16-bit
// big-endian size that follows, and 127 marks a gap in that direction. A short last record
// takes what is left.
//
// Options byte: bits 0-3 choose the key set (captures/*.keys in name order; past the last: no
// keys); bit 4 makes bodies above 64 bytes "too large" (the skip path).
#include <algorithm>
#include <optional>

#include "harness.hpp"
#include "zmtp/session.hpp"

namespace zmtp_fuzz {
namespace {

constexpr uint8_t gap_code = 127;
constexpr uint8_t long_size_code = 120;
constexpr size_t small_body_limit = 64;
// Memory a direction may reserve beyond the bytes it was given (one header, rounding).
constexpr size_t buffer_slack = 64 * 1024;

const KeySet* chosen_keys(uint8_t options) {
    const size_t index = options & 0x0F;
    const auto& sets = key_sets();
    return index < sets.size() ? &sets[index] : nullptr;
}

// Touches what every event carries and checks what must hold whatever the input.
class Checker {
  public:
    explicit Checker(const KeySet* keys) : keys_(keys) {}

    void fed(zmtp::Direction dir, size_t bytes) { fed_[index(dir)] += bytes; }

    void operator()(const zmtp::SessionEvent& e) {
        const size_t i = index(e.dir);
        if (const auto* frame = std::get_if<zmtp::FrameEvent>(&e.what)) {
            check_frame(*frame);
        } else if (const auto* command = std::get_if<zmtp::CommandEvent>(&e.what)) {
            check_command(*command);
        } else if (const auto* notice = std::get_if<zmtp::NoticeEvent>(&e.what)) {
            check_text(notice->text, "a notice");
        } else if (const auto* handshake = std::get_if<zmtp::HandshakeEvent>(&e.what)) {
            check_text(handshake->reason, "a handshake failure reason");
        }
        const bool unit = std::holds_alternative<zmtp::CommandEvent>(e.what) ||
                          std::holds_alternative<zmtp::GreetingEvent>(e.what);
        if (unit) require(e.offset + e.size <= fed_[i], "a unit ends past the bytes fed");
    }

    void check_buffers(const zmtp::Session& session) const {
        for (auto dir : {zmtp::Direction::ClientToServer, zmtp::Direction::ServerToClient}) {
            const auto& decoder = session.decoder(dir);
            require(decoder.buffer_capacity() <= 2 * fed_[index(dir)] + buffer_slack,
                    "a decoder reserved memory for bytes that do not exist");
        }
    }

    uint64_t checksum() const { return checksum_; }

  private:
    static size_t index(zmtp::Direction dir) {
        return dir == zmtp::Direction::ClientToServer ? 0 : 1;
    }

    void check_frame(const zmtp::FrameEvent& frame) {
        require(frame.body.size() <= frame.header.body_size || frame.decrypted,
                "a frame body longer than its header says");
        for (uint8_t byte : frame.body) checksum_ += byte;
    }

    void check_command(const zmtp::CommandEvent& event) {
        const zmtp::Command& c = event.command;
        checksum_ += c.name.size() + c.data.size() + c.box.size() + c.cookie.size();
        for (const auto& property : c.metadata) {
            checksum_ += property.name.size() + property.value.size();
        }
        if (!c.error_reason.empty()) check_text(c.error_reason, "an ERROR reason");
    }

    void check_text(std::string_view text, std::string_view where) const {
        if (keys_) require_no_secret(text, *keys_, where);
    }

    const KeySet* keys_;
    uint64_t fed_[2] = {0, 0};
    uint64_t checksum_ = 0;
};

}  // namespace

std::optional<SessionRecord> next_session_record(zmtp::Bytes& rest) {
    if (rest.empty()) return std::nullopt;
    const uint8_t control = rest[0];
    rest = rest.subspan(1);
    SessionRecord record;
    record.dir = control & 1 ? zmtp::Direction::ServerToClient : zmtp::Direction::ClientToServer;
    const uint8_t code = control >> 1;
    if (code == gap_code) {  // the next byte, if any, is the number of bytes lost
        record.gap = true;
        if (!rest.empty()) {
            record.lost = rest[0];
            rest = rest.subspan(1);
        }
        return record;
    }
    size_t size = code;
    if (code >= long_size_code) {
        if (rest.size() < 2) return std::nullopt;
        size = size_t(rest[0]) << 8 | rest[1];
        rest = rest.subspan(2);
    }
    size = std::min(size, rest.size());
    record.data = rest.first(size);
    rest = rest.subspan(size);
    return record;
}

int session_target(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t options = data[0];
    const KeySet* keys = chosen_keys(options);
    zmtp::SessionOptions session_options;
    if (options & 0x10) session_options.limits.max_body_size = small_body_limit;
    zmtp::Session session(keys ? &keys->store : nullptr, session_options);
    Checker checker(keys);
    const zmtp::SessionSink sink = [&checker](const zmtp::SessionEvent& e) { checker(e); };

    // Option 0x20: the capture joined both directions late; 0x40: every record ends a TCP
    // segment (the boundary search's evidence). Records of code gap_code lose bytes.
    if (options & 0x20) {
        session.start_mid_stream(zmtp::Direction::ClientToServer, sink);
        session.start_mid_stream(zmtp::Direction::ServerToClient, sink);
    }
    zmtp::Bytes rest(data + 1, size - 1);
    while (auto record = next_session_record(rest)) {
        if (record->gap) {
            checker.fed(record->dir, record->lost.value_or(0));
            session.mark_gap(record->dir, sink, record->lost);
            continue;
        }
        checker.fed(record->dir, record->data.size());
        (void)session.next_unit_size(record->dir, record->data);
        if (session.resyncing(record->dir))
            (void)session.find_resync(record->dir, record->data, true);
        session.feed(record->dir, record->data, sink);
        if (options & 0x40) session.mark_segment_end(record->dir, sink);
        checker.check_buffers(session);
    }
    session.finish(zmtp::Direction::ClientToServer, sink);
    session.finish(zmtp::Direction::ServerToClient, sink);
    const zmtp::SessionInfo& info = session.info();
    if (keys) require_no_secret(info.curve_missing, *keys, "SessionInfo::curve_missing");
    return 0;
}

}  // namespace zmtp_fuzz
