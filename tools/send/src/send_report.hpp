// zmtp-send's report of a run: text, JSON, CSV (one row a request) and HTML.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "script.hpp"
#include "sender.hpp"

namespace zmtpsend {

// Latency distribution (ms) of the requests that have both a captured and a replayed latency.
struct Comparison {
    size_t count = 0;
    double captured_p50 = 0, captured_p90 = 0, captured_p99 = 0, captured_max = 0;
    double replayed_p50 = 0, replayed_p90 = 0, replayed_p99 = 0, replayed_max = 0;
};
Comparison compare(const std::vector<const RequestResult*>& requests);

// The run's overall result as an exit status: 0, or the Failure of the first connection that
// failed (by connection order).
int exit_status(const RunResult& run);

nlohmann::json to_json(const RunResult& run);
void write_text(const RunResult& run, std::ostream& out);
void write_csv(const RunResult& run, std::ostream& out);
// The comparison as a self-contained HTML page with interactive plots (html_page.hpp).
void write_html(const RunResult& run, std::ostream& out);

// --dry-run: what would be sent, connection by connection.
void write_plan(const std::vector<const ConnectionScript*>& scripts, const SendOptions& options,
                std::ostream& out);

}  // namespace zmtpsend
