// Runs scenarios under capture: one child process per scenario (under the key logger when one
// is given), tcpdump around it, then pcap -> pcapng and a check of the result.
#pragma once

#include <string>
#include <vector>

namespace capgen {

struct DriverOptions {
    std::string out_dir;
    int port_offset = 0;
    std::string keylog_library;  // libzmtp-keylog.so; empty: long-term keys only
    std::string preload_first;   // preloaded before it (the ASan runtime of a sanitized build)
    std::string tcpdump = "tcpdump";
    std::string exchange_log;  // optional: what the receiving peers got, per connection
    bool capture = true;
    int attempts = 3;
};

// Returns the number of scenarios that failed.
int run_scenarios(const DriverOptions& options, const std::vector<std::string>& names);

struct ChildOptions {
    std::string scenario;
    std::string out_dir;
    int port_offset = 0;
    bool keylog_preloaded = false;
    int sync_out_fd = -1;  // tells the driver "stop capturing now"
    int sync_in_fd = -1;   // the driver's answer: "capture stopped"
    std::string exchange_log;
};

// The scenario process: plays one scenario and writes NAME.expected.json. Returns an exit code.
int run_scenario_child(const ChildOptions& options);

}  // namespace capgen
