// Turns the tracker's TCP and session events into a Report: handshake timing and failures,
// request/response latency, heartbeats, keep-alives, silences and how connections ended, and
// what the capture did not see (gaps, late starts, resyncs, messages cut; docs/protocol.md 9).
// Request/reply and PING/PONG pairing are libzmtp's (MessageEvent::awaits_reply/answers_seq,
// CommandEvent::answers_offset); the analyzer only times and counts them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "report.hpp"
#include "tracker/connection_tracker.hpp"

namespace replay {

// One application message, as the CSV writer prints it.
struct MessageRecord {
    Timestamp time;
    uint64_t connection;
    Direction dir;
    uint32_t frames;
    uint64_t bytes;
    bool decrypted;
    std::optional<double> response_ms;  // a reply: time since its request
    // Not None: the capture lacks part of this message (it is not counted as a message).
    zmtp::MessageLoss loss = zmtp::MessageLoss::None;
    bool after_gap = false;  // bytes of this direction were lost before it
};
using MessageSink = std::function<void(const MessageRecord&)>;

// A line for --speed's running commentary.
using LiveSink = std::function<void(Timestamp, const std::string&)>;

struct AnalyzerOptions {
    size_t max_notices_per_connection = 50;
    size_t max_pending = 4096;  // requests / PINGs remembered per direction
    MessageSink on_message;     // optional
    LiveSink on_live_event;     // optional
};

class Analyzer final : public zmtp::tracker::ConnectionObserver {
  public:
    explicit Analyzer(AnalyzerOptions options = {});
    ~Analyzer() override;

    void on_connection_start(const zmtp::tracker::Connection& c) override;
    void on_tcp_event(const zmtp::tracker::Connection& c,
                      const zmtp::tracker::TcpEvent& e) override;
    void on_segment(const zmtp::tracker::Connection& c, Direction dir, Timestamp time,
                    zmtp::tracker::SegmentKind kind, uint32_t size) override;
    void on_session_event(const zmtp::tracker::Connection& c, const zmtp::SessionEvent& e,
                          Timestamp time) override;
    void on_connection_end(const zmtp::tracker::Connection& c) override;

    // What this analyzer saw, once the tracker finished: its connections and latencies (a
    // connection that has not ended is left out).
    struct Results {
        ConnectionReports connections;
        LatencyTotals latency;
    };
    Results take_results();

    // Overall figures; call once after the tracker finished. Moves the connections out.
    Report finish(Report base);

  private:
    struct State;
    State& state(const zmtp::tracker::Connection& c);
    void on_command(State& s, const zmtp::SessionEvent& e, const zmtp::CommandEvent& command,
                    Timestamp t);
    void on_message(const zmtp::tracker::Connection& c, State& s, const zmtp::SessionEvent& e,
                    const zmtp::MessageEvent& message, Timestamp t);
    void on_handshake(State& s, const zmtp::HandshakeEvent& h, Timestamp t);
    void on_gap(State& s, const zmtp::SessionEvent& e, const zmtp::GapEvent& g, Timestamp t);
    void on_resync(State& s, const zmtp::SessionEvent& e, const zmtp::ResyncEvent& r, Timestamp t);
    void finish_connection(const zmtp::tracker::Connection& c, State& s);
    // A line for --speed's commentary: `text()` is built only when there is one.
    template <typename Text>
    void live(Timestamp t, const Text& text) const {
        if (options_.on_live_event) options_.on_live_event(t, text());
    }

    AnalyzerOptions options_;
    std::unordered_map<uint64_t, std::unique_ptr<State>> open_;
    uint64_t last_id_ = 0;  // events come in runs for one connection
    State* last_state_ = nullptr;
    // The report of every connection, made where it stays when the connection starts (State
    // refers to it), so in order of their ids.
    ConnectionReports reports_;
    LatencyTotals latency_;
};

// The report of several analyzers that saw disjoint sets of connections. Connection ids are
// renumbered 1, 2, ... in the order of the ids the analyzers gave (order of appearance).
Report complete_report(Report base, std::vector<Analyzer::Results> parts);

}  // namespace replay
