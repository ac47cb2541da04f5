// Report writers: text summary, JSON (schema in tools/replay/README.md), CSV, HTML.
#pragma once

#include <ostream>
#include <string>

#include "analyzer.hpp"
#include "report.hpp"

namespace replay {

// The text report details every connection up to text_summary_above of them; beyond, it
// summarises them and details the first few and those with problems (all_connections: every
// one, as for few).
inline constexpr size_t text_summary_above = 50;
struct TextOptions {
    bool all_connections = false;
};
void write_text(const Report& report, std::ostream& out, TextOptions options = {});
void write_json(const Report& report, std::ostream& out);
void write_html(const Report& report, std::ostream& out);

// CSV: the header, then one row per message as the analyzer reports it (messages the capture
// lacks part of too, with their loss).
void write_csv_header(std::ostream& out);
void write_csv_row(const MessageRecord& m, std::ostream& out);

// "2024-05-12T14:15:15.123456Z"
std::string utc_time(Timestamp t);
// Epoch seconds with microseconds, for JSON and CSV.
double epoch_seconds(Timestamp t);
std::string direction_key(Direction d);  // "client_to_server" / "server_to_client"
// "" (the whole message), "start-lost", "end-lost"
std::string loss_name(zmtp::MessageLoss loss);

}  // namespace replay
