#include "replayer.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "capture/packet_decoder.hpp"

namespace replay {
namespace {

using zmtp::tracker::ConnectionTracker;
using zmtp::tracker::Packet;
using zmtp::tracker::TcpSegment;
using zmtp::tracker::TrackerCounters;
using zmtp::tracker::TrackerOptions;

class SerialReplayer final : public Replayer {
  public:
    SerialReplayer(TrackerOptions tracker, AnalyzerOptions analyzer)
        : analyzer_(std::move(analyzer)), tracker_(std::move(tracker), analyzer_) {}

    void add_packet(const Packet& packet) override { tracker_.add_packet(packet); }
    Report finish(Report base) override {
        tracker_.finish();
        base.counters = tracker_.counters();
        return analyzer_.finish(std::move(base));
    }
    uint64_t packets() const override { return tracker_.counters().packets; }
    size_t open_connections() const override { return tracker_.open_connections(); }

  private:
    Analyzer analyzer_;
    ConnectionTracker tracker_;
};

// Packets handed to one worker: the segments, their payloads copied into one buffer.
struct Batch {
    struct Item {
        TcpSegment segment;  // payload: set by the worker, from `bytes`
        size_t payload_at = 0, payload_size = 0;
        std::optional<zmtp::tracker::Timestamp> latest;  // see ConnectionTracker::add_segment
    };
    std::vector<Item> items;
    std::vector<uint8_t> bytes;
    uint64_t through = 0;  // the reader had read every packet up to this number

    void clear() {
        items.clear();
        bytes.clear();
        through = 0;
    }
};
using BatchPtr = std::unique_ptr<Batch>;

constexpr uint64_t finish_phase = std::numeric_limits<uint64_t>::max();

// What a worker's analyzer reported, with the key that restores the one-thread order: the
// packet being processed (finish_phase at the end of the input, where connections close in
// id order) and the order within it.
struct Record {
    enum class Kind : uint8_t { Start, Message, End };
    uint64_t packet;
    uint64_t connection;  // in the finish phase; 0 before
    uint64_t seq;
    Kind kind;
    MessageRecord message;  // message.connection: the tracker's id

    bool operator<(const Record& o) const {
        if (packet != o.packet) return packet < o.packet;
        if (connection != o.connection) return connection < o.connection;
        return seq < o.seq;
    }
};

// A bounded queue of batches; push blocks while it is full (back-pressure on the reader).
class BatchQueue {
  public:
    explicit BatchQueue(size_t capacity) : capacity_(capacity) {}
    void push(BatchPtr batch) {  // null: the end
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
        queue_.push_back(std::move(batch));
        not_empty_.notify_one();
    }
    BatchPtr pop() {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [&] { return !queue_.empty(); });
        BatchPtr batch = std::move(queue_.front());
        queue_.pop_front();
        not_full_.notify_one();
        return batch;
    }

  private:
    size_t capacity_;
    std::mutex mutex_;
    std::condition_variable not_full_, not_empty_;
    std::deque<BatchPtr> queue_;
};

// Spare batches, so their buffers are reused instead of reallocated.
class BatchPool {
  public:
    BatchPtr take() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) return std::make_unique<Batch>();
        BatchPtr batch = std::move(free_.back());
        free_.pop_back();
        return batch;
    }
    void give_back(BatchPtr batch) {
        batch->clear();
        std::lock_guard lock(mutex_);
        free_.push_back(std::move(batch));
    }

  private:
    std::mutex mutex_;
    std::vector<BatchPtr> free_;
};

constexpr size_t queue_capacity = 4;  // batches waiting per worker

// One worker thread: a tracker and an analyzer for the connections hashed to it.
class Worker final : public zmtp::tracker::ConnectionObserver {
  public:
    Worker(const TrackerOptions& tracker, const AnalyzerOptions& analyzer, bool record_messages,
           BatchPool& pool)
        : analyzer_(worker_options(analyzer, record_messages)),
          tracker_(tracker, *this),
          record_messages_(record_messages),
          pool_(pool),
          thread_([this] { run(); }) {}

    ~Worker() override {
        if (thread_.joinable()) thread_.join();
    }

    void push(BatchPtr batch) { queue_.push(std::move(batch)); }
    void join() { thread_.join(); }

    // Records of the packets up to `limit` (finish_phase: all), in this worker's order.
    void take_records(uint64_t limit, std::vector<Record>& into) {
        std::lock_guard lock(out_mutex_);
        auto end = std::find_if(published_.begin(), published_.end(),
                                [&](const Record& r) { return r.packet > limit; });
        into.insert(into.end(), std::make_move_iterator(published_.begin()),
                    std::make_move_iterator(end));
        published_.erase(published_.begin(), end);
    }
    uint64_t watermark() {
        std::lock_guard lock(out_mutex_);
        return watermark_;
    }
    size_t open_connections() const { return open_.load(std::memory_order_relaxed); }
    // After join().
    Analyzer::Results take_results() { return analyzer_.take_results(); }
    const TrackerCounters& counters() const { return tracker_.counters(); }

    void on_connection_start(const zmtp::tracker::Connection& c) override {
        analyzer_.on_connection_start(c);
        record(Record::Kind::Start, c.id, {});
    }
    void on_tcp_event(const zmtp::tracker::Connection& c,
                      const zmtp::tracker::TcpEvent& e) override {
        analyzer_.on_tcp_event(c, e);
    }
    void on_segment(const zmtp::tracker::Connection& c, Direction dir, Timestamp time,
                    zmtp::tracker::SegmentKind kind, uint32_t size) override {
        analyzer_.on_segment(c, dir, time, kind, size);
    }
    void on_session_event(const zmtp::tracker::Connection& c, const zmtp::SessionEvent& e,
                          Timestamp time) override {
        analyzer_.on_session_event(c, e, time);
    }
    void on_connection_end(const zmtp::tracker::Connection& c) override {
        analyzer_.on_connection_end(c);
        record(Record::Kind::End, c.id, {});
    }

  private:
    AnalyzerOptions worker_options(AnalyzerOptions options, bool record_messages) {
        options.on_live_event = nullptr;
        options.on_message = nullptr;
        if (record_messages)
            options.on_message = [this](const MessageRecord& m) {
                record(Record::Kind::Message, m.connection, m);
            };
        return options;
    }

    void record(Record::Kind kind, uint64_t connection, const MessageRecord& m) {
        if (!record_messages_) return;
        const bool finishing = current_packet_ == finish_phase;
        pending_.push_back({current_packet_, finishing ? connection : 0, seq_++, kind, m});
        pending_.back().message.connection = connection;
    }

    void publish(uint64_t through) {
        std::lock_guard lock(out_mutex_);
        published_.insert(published_.end(), std::make_move_iterator(pending_.begin()),
                          std::make_move_iterator(pending_.end()));
        pending_.clear();
        watermark_ = through;
    }

    void run() {
        while (BatchPtr batch = queue_.pop()) {
            for (Batch::Item& item : batch->items) {
                item.segment.payload = {batch->bytes.data() + item.payload_at, item.payload_size};
                current_packet_ = item.segment.packet_number;
                tracker_.add_segment(item.segment, item.latest);
            }
            open_.store(tracker_.open_connections(), std::memory_order_relaxed);
            publish(batch->through);
            pool_.give_back(std::move(batch));
        }
        current_packet_ = finish_phase;
        tracker_.finish();
        publish(finish_phase);
    }

    Analyzer analyzer_;
    ConnectionTracker tracker_;
    bool record_messages_;
    BatchPool& pool_;
    BatchQueue queue_{queue_capacity};
    uint64_t current_packet_ = 0;
    uint64_t seq_ = 0;
    std::vector<Record> pending_;  // this batch's records
    std::mutex out_mutex_;
    std::vector<Record> published_;
    uint64_t watermark_ = 0;
    std::atomic<size_t> open_{0};
    std::thread thread_;  // last: starts once everything above exists
};

constexpr size_t flush_packets = 4096;    // packets read before the batches go out
constexpr size_t flush_bytes = 1u << 20;  // or payload bytes

class ParallelReplayer final : public Replayer {
  public:
    ParallelReplayer(size_t threads, TrackerOptions tracker, AnalyzerOptions analyzer)
        : on_message_(analyzer.on_message) {
        tracker.ids_from_packet_numbers = true;
        for (size_t i = 0; i < threads; ++i) {
            workers_.push_back(
                std::make_unique<Worker>(tracker, analyzer, bool(on_message_), pool_));
            filling_.push_back(pool_.take());
        }
    }
    ~ParallelReplayer() override {
        if (!finished_) stop_workers();
    }

    void add_packet(const Packet& packet) override {
        counters_.packets++;
        TcpSegment segment;
        const zmtp::tracker::DecodeStatus status = zmtp::tracker::decode_packet(packet, segment);
        if (status != zmtp::tracker::DecodeStatus::Tcp) {
            counters_.undecoded[status]++;
            if (status == zmtp::tracker::DecodeStatus::UnsupportedLink)
                counters_.unsupported_linktypes.insert(packet.linktype);
            return;
        }
        counters_.tcp_packets++;
        const size_t w =
            size_t(zmtp::tracker::flow_hash(segment.source, segment.destination) % workers_.size());
        Batch& batch = *filling_[w];
        Batch::Item item{segment, batch.bytes.size(), segment.payload.size(), latest_};
        item.segment.payload = {};
        batch.bytes.insert(batch.bytes.end(), segment.payload.begin(), segment.payload.end());
        batch.items.push_back(item);
        latest_ = std::max(latest_.value_or(packet.time), packet.time);
        last_packet_ = packet.number;
        pending_bytes_ += segment.payload.size();
        if (++pending_packets_ >= flush_packets || pending_bytes_ >= flush_bytes) flush();
    }

    Report finish(Report base) override {
        stop_workers();
        base.counters = counters_;
        std::vector<Analyzer::Results> parts(workers_.size());  // sized: see Analyzer::finish
        for (size_t w = 0; w < workers_.size(); ++w) {
            base.counters.add(workers_[w]->counters());
            parts[w] = workers_[w]->take_results();
        }
        return complete_report(std::move(base), std::move(parts));
    }

    uint64_t packets() const override { return counters_.packets; }
    size_t open_connections() const override {
        size_t n = 0;
        for (const auto& worker : workers_) n += worker->open_connections();
        return n;
    }

  private:
    void flush() {
        for (size_t w = 0; w < workers_.size(); ++w) {
            filling_[w]->through = last_packet_;
            workers_[w]->push(std::move(filling_[w]));
            filling_[w] = pool_.take();
        }
        pending_packets_ = pending_bytes_ = 0;
        if (on_message_) deliver_messages(false);
    }

    void stop_workers() {
        finished_ = true;
        flush();
        for (auto& worker : workers_) worker->push(nullptr);
        for (auto& worker : workers_) worker->join();
        if (on_message_) deliver_messages(true);
    }

    // Passes on the messages every worker is done with, in the one-thread order, with the
    // connection ids one thread gives (1, 2, ... in order of appearance).
    void deliver_messages(bool all) {
        uint64_t limit = finish_phase;
        if (!all)
            for (auto& worker : workers_) limit = std::min(limit, worker->watermark());
        std::vector<Record> ready;
        for (auto& worker : workers_) worker->take_records(limit, ready);
        std::sort(ready.begin(), ready.end());
        for (Record& r : ready) {
            const uint64_t id = r.message.connection;
            switch (r.kind) {
                case Record::Kind::Start:
                    ids_[id] = ++next_id_;
                    break;
                case Record::Kind::Message:
                    r.message.connection = ids_[id];
                    on_message_(r.message);
                    break;
                case Record::Kind::End:
                    ids_.erase(id);
                    break;
            }
        }
    }

    MessageSink on_message_;
    BatchPool pool_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<BatchPtr> filling_;
    TrackerCounters counters_;  // of the packets; the workers count connections
    std::optional<zmtp::tracker::Timestamp> latest_;
    uint64_t last_packet_ = 0;
    size_t pending_packets_ = 0, pending_bytes_ = 0;
    std::unordered_map<uint64_t, uint64_t> ids_;  // tracker id -> id
    uint64_t next_id_ = 0;
    bool finished_ = false;
};

}  // namespace

std::unique_ptr<Replayer> make_replayer(size_t threads, TrackerOptions tracker,
                                        AnalyzerOptions analyzer) {
    if (threads <= 1)
        return std::make_unique<SerialReplayer>(std::move(tracker), std::move(analyzer));
    return std::make_unique<ParallelReplayer>(threads, std::move(tracker), std::move(analyzer));
}

}  // namespace replay
