// zmtp-capgen: plays ZeroMQ scenarios with real libzmq peers on loopback and records them as
// pcapng captures, key logs and expected decoder results (captures/README.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "driver.hpp"
#include "scenario.hpp"

int main(int argc, char** argv) {
    CLI::App app{"Plays ZeroMQ scenarios with real libzmq peers on loopback and captures them."};
    capgen::DriverOptions driver;
    capgen::ChildOptions child;
    std::vector<std::string> names;
    bool list = false;
    std::string sync_fds;
    driver.out_dir = ".";

    app.add_option("scenarios", names, "Scenarios to play (default: all)");
    app.add_option("-o,--out", driver.out_dir, "Output folder")->capture_default_str();
    app.add_option("--port-offset", driver.port_offset,
                   "Added to every port (2069, 2070, 5555), to keep out of others' way")
        ->check(CLI::Range(0, 60000));
    app.add_option("--keylog-lib", driver.keylog_library,
                   "libzmtp-keylog.so, preloaded into CURVE scenarios to log ephemeral keys")
        ->check(CLI::ExistingFile);
    app.add_option("--preload-first", driver.preload_first,
                   "a library preloaded before the key logger (a sanitized key logger needs the "
                   "ASan runtime first)")
        ->check(CLI::ExistingFile);
    app.add_option("--tcpdump", driver.tcpdump, "tcpdump program")->capture_default_str();
    app.add_option("--exchange-log", driver.exchange_log,
                   "Append what each receiving peer got (one line per connection direction)");
    app.add_flag("!--no-capture", driver.capture, "Play the scenarios without capturing");
    app.add_option("--attempts", driver.attempts, "Tries per scenario when a check fails")
        ->check(CLI::Range(1, 10))
        ->capture_default_str();
    app.add_flag("--list", list, "List the scenarios and exit");
    // Internal: the driver re-runs this program for each scenario.
    app.add_option("--run-scenario", child.scenario)->group("");
    app.add_option("--sync-fds", sync_fds)->group("");
    app.add_flag("--keylog-preloaded", child.keylog_preloaded)->group("");
    CLI11_PARSE(app, argc, argv);

    if (list) {
        for (const capgen::Scenario& scenario : capgen::all_scenarios()) {
            std::string ports;
            for (int port : scenario.base_ports)
                ports += (ports.empty() ? "" : ",") + std::to_string(port);
            std::cout << scenario.name << "\t" << scenario.mechanism << "\t" << ports << "\n";
        }
        return 0;
    }
    if (!child.scenario.empty()) {
        child.out_dir = driver.out_dir;
        child.port_offset = driver.port_offset;
        child.exchange_log = driver.exchange_log;
        if (std::sscanf(sync_fds.c_str(), "%d,%d", &child.sync_out_fd, &child.sync_in_fd) != 2) {
            std::cerr << "zmtp-capgen: --run-scenario needs --sync-fds OUT,IN\n";
            return 2;
        }
        return capgen::run_scenario_child(child);
    }
    for (const std::string& name : names) {
        if (!capgen::find_scenario(name)) {
            std::cerr << "zmtp-capgen: unknown scenario '" << name << "' (see --list)\n";
            return 2;
        }
    }
    if (names.empty())
        for (const capgen::Scenario& scenario : capgen::all_scenarios())
            names.emplace_back(scenario.name);
    try {
        return capgen::run_scenarios(driver, names) == 0 ? 0 : 1;
    } catch (const std::exception& error) {
        std::cerr << "zmtp-capgen: " << error.what() << "\n";
        return 1;
    }
}
