#include "tool_setup.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "zmtp/wire.hpp"

namespace tool_setup {

void add_keylog_option(CLI::App& app, std::vector<std::string>& paths) {
    app.add_option("-k,--keylog", paths, "key log or certificate file (repeatable)")
        ->allow_extra_args(false);
}

void add_detect_flag(CLI::App& app, bool& detect) {
    app.add_flag("--detect", detect,
                 "also follow connections on any port that start with a ZMTP greeting");
}

std::string default_ports() {
    std::string text;
    for (const uint16_t port : zmtp::ctrlx_data_layer_ports)
        text += (text.empty() ? "" : ",") + std::to_string(port);
    return text;
}

bool parse_ports(const std::string& text, std::set<uint16_t>& ports, std::string& bad_item) {
    size_t pos = 0;
    while (pos <= text.size()) {
        const size_t comma = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, comma - pos);
        unsigned first = 0, last = 0;
        char extra = 0;
        const int n = std::sscanf(item.c_str(), "%u-%u%c", &first, &last, &extra);
        if (n == 1) last = first;
        if ((n != 1 && n != 2) || first == 0 || last < first || last > 65535) {
            bad_item = item;
            return false;
        }
        for (unsigned p = first; p <= last; ++p) ports.insert(uint16_t(p));
        pos = comma + 1;
    }
    return true;
}

bool load_key_files(std::string_view tool, const std::vector<std::string>& paths,
                    zmtp::KeyStore& store, std::vector<std::string>* warnings) {
    for (const std::string& path : paths) {
        if (!std::ifstream(path)) {
            std::cerr << tool << ": cannot read key file " << path << "\n";
            return false;
        }
        std::vector<zmtp::KeyWarning> file_warnings;
        store.load_file(path, file_warnings);
        for (const auto& w : file_warnings) {
            std::string text =
                w.file + (w.line ? ":" + std::to_string(w.line) : "") + ": " + w.message;
            std::cerr << tool << ": warning: " << text << "\n";
            if (warnings) warnings->push_back(std::move(text));
        }
    }
    return true;
}

std::ostream* open_output(std::string_view tool, const std::string& path, std::ofstream& file) {
    if (path.empty()) return &std::cout;
    file.open(path);
    if (file) return &file;
    std::cerr << tool << ": cannot write " << path << "\n";
    return nullptr;
}

}  // namespace tool_setup
