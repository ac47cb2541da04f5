// Input: a pcap or pcapng file. It goes through zmtp_capture's reader (libpcap, from a memory
// file), decoder, reassembly and sessions (every captures/*.keys key, --detect on), then
// zmtp-replay's analyzer and its text, JSON, CSV and HTML writers. No output may hold a secret.
#include <sstream>

#include "analyzer.hpp"
#include "capture/packet_source.hpp"
#include "harness.hpp"
#include "tracker/connection_tracker.hpp"
#include "writers.hpp"

namespace zmtp_fuzz {
namespace {

constexpr size_t max_buffered = 1 << 20;
// Few X25519 trials per box keep mutated CURVE handshakes fast; the trial limit path still runs.
constexpr size_t trial_limit = 8;

zmtp::tracker::TrackerOptions tracker_options(const zmtp::KeyStore& keys) {
    zmtp::tracker::TrackerOptions options;
    options.ports = {2069, 2070, 5555};
    options.detect = true;
    options.keys = &keys;
    options.stream.max_buffered_bytes = max_buffered;
    options.session.max_trials = trial_limit;
    return options;
}

}  // namespace

int capture_target(const uint8_t* data, size_t size) {
    MemoryFile file({data, size});
    if (!file.ok()) return 0;
    std::string error;
    auto source = zmtp::tracker::PacketSource::open_files({file.path()}, "", error);
    if (!source) return 0;

    const KeySet& keys = all_keys();
    std::ostringstream csv;
    replay::AnalyzerOptions analyzer_options;
    analyzer_options.on_message = [&csv](const replay::MessageRecord& m) {
        replay::write_csv_row(m, csv);
    };
    replay::Analyzer analyzer(analyzer_options);
    zmtp::tracker::ConnectionTracker tracker(tracker_options(keys.store), analyzer);
    zmtp::tracker::Packet packet;
    while (source->next(packet)) tracker.add_packet(packet);
    tracker.finish();

    replay::Report report;
    report.inputs = {"fuzz"};
    report.counters = tracker.counters();
    report = analyzer.finish(std::move(report));
    std::ostringstream text, json, html;
    replay::write_text(report, text);
    replay::write_json(report, json);
    replay::write_html(report, html);
    require_no_secret(text.str(), keys, "the text report");
    require_no_secret(json.str(), keys, "the JSON report");
    require_no_secret(csv.str(), keys, "the CSV report");
    require_no_secret(html.str(), keys, "the HTML report");
    return 0;
}

}  // namespace zmtp_fuzz
