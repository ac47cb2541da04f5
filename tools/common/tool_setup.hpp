// The command-line setup zmtp-replay and zmtp-send share: -k key files into a key store,
// --ports into a port set, --detect. Each tool keeps its own wording for a bad --ports.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "zmtp/keystore.hpp"

namespace tool_setup {

// The ports ZMTP is followed on without --ports, as --ports spells them: "2069,2070".
std::string default_ports();

void add_keylog_option(CLI::App& app, std::vector<std::string>& paths);
void add_detect_flag(CLI::App& app, bool& detect);

// "2069,2070", "2069-2075,5555": adds each port to `ports`. false at the first item that is no
// port or range of ports in 1-65535, with that item in `bad_item`.
bool parse_ports(const std::string& text, std::set<uint16_t>& ports, std::string& bad_item);

// Loads each key log or certificate file into `store`. A file that cannot be read stops the load
// (false) with "<tool>: cannot read key file <path>" on stderr; every warning of a file read is
// printed as "<tool>: warning: <file>[:<line>]: <message>" and, when `warnings` is given, kept
// there without the prefix.
bool load_key_files(std::string_view tool, const std::vector<std::string>& paths,
                    zmtp::KeyStore& store, std::vector<std::string>* warnings = nullptr);

// Where a tool writes its output: standard output for an empty `path`, else `file` opened on
// `path`. null, after "<tool>: cannot write <path>" on stderr, when that cannot be opened.
std::ostream* open_output(std::string_view tool, const std::string& path, std::ofstream& file);

}  // namespace tool_setup
