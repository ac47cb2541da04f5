// Runs committed fuzz inputs (corpus seeds and regression inputs) through a fuzz target, so
// the normal test suite keeps every finding fixed: replay_inputs TARGET PATH... (files or
// folders). A broken invariant or a crash fails the run; an empty set of inputs does too.
//
// replay_inputs --self-test checks that the targets' leak check catches every secret.
// replay_inputs --open-bugs TARGET PATH... runs each input in a child process and passes
// while every one still fails: inputs of bugs reported but not fixed yet. Once one passes it
// says so and fails, so that its input moves to regressions/.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

std::vector<std::filesystem::path> input_files(const std::vector<std::string>& paths) {
    std::vector<std::filesystem::path> files;
    for (const std::string& path : paths) {
        if (!std::filesystem::is_directory(path)) {
            files.emplace_back(path);
            continue;
        }
        for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
            if (entry.is_regular_file() && entry.path().filename() != "README.md") {
                files.push_back(entry.path());
            }
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

zmtp_fuzz::Target find_target(std::string_view name) {
    for (const auto& target : zmtp_fuzz::targets()) {
        if (target.name == name) return target.run;
    }
    return nullptr;
}

std::optional<std::vector<uint8_t>> read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "replay_inputs: cannot read %s\n", file.c_str());
        return std::nullopt;
    }
    return std::vector<uint8_t>{std::istreambuf_iterator<char>(in), {}};
}

// True when running `data` through `target` crashes or aborts a child process.
bool fails_in_child(zmtp_fuzz::Target target, const std::vector<uint8_t>& data, bool quiet) {
    std::fflush(nullptr);
    const pid_t child = fork();
    if (child == 0) {
        if (quiet && !std::freopen("/dev/null", "w", stderr)) _exit(3);
        target(data.data(), data.size());
        _exit(0);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return false;
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int run_inputs(zmtp_fuzz::Target target, const std::vector<std::filesystem::path>& files) {
    for (const auto& file : files) {
        const auto data = read_file(file);
        if (!data) return 1;
        std::fprintf(stderr, "%s\n", file.c_str());
        target(data->data(), data->size());
    }
    return 0;
}

// The leak check must catch a secret in any of its forms, else the targets prove nothing.
int self_test() {
    const zmtp_fuzz::KeySet& keys = zmtp_fuzz::all_keys();
    if (keys.secret_texts.empty()) {
        std::fprintf(stderr, "replay_inputs: no secrets loaded from captures/*.keys\n");
        return 1;
    }
    int missed = 0;
    for (const std::string& secret : keys.secret_texts) {
        const std::string text = "notice: " + secret + " (test)";
        const zmtp_fuzz::Target leak = [](const uint8_t* data, size_t size) {
            const std::string_view view(reinterpret_cast<const char*>(data), size);
            zmtp_fuzz::require_no_secret(view, zmtp_fuzz::all_keys(), "a self test");
            return 0;
        };
        const std::vector<uint8_t> bytes(text.begin(), text.end());
        if (!fails_in_child(leak, bytes, true)) ++missed;
    }
    std::printf("self test: %zu secret texts, %d not caught\n", keys.secret_texts.size(), missed);
    return missed == 0 ? 0 : 1;
}

int run_open_bugs(zmtp_fuzz::Target target, const std::vector<std::filesystem::path>& files) {
    int fixed = 0;
    for (const auto& file : files) {
        const auto data = read_file(file);
        if (!data) return 1;
        if (fails_in_child(target, *data, false)) {
            std::printf("still open: %s\n", file.c_str());
        } else {
            std::printf("FIXED: %s passes now: move it into regressions/\n", file.c_str());
            ++fixed;
        }
    }
    return fixed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--self-test") return self_test();
    const bool open_bugs = !args.empty() && args[0] == "--open-bugs";
    if (open_bugs) args.erase(args.begin());
    if (args.size() < 2) {
        std::fprintf(stderr, "usage: %s [--open-bugs] session|keystore|capture PATH...\n", argv[0]);
        return 2;
    }
    const zmtp_fuzz::Target target = find_target(args[0]);
    if (!target) {
        std::fprintf(stderr, "replay_inputs: no fuzz target named %s\n", args[0].c_str());
        return 2;
    }
    const auto files = input_files({args.begin() + 1, args.end()});
    const int status = open_bugs ? run_open_bugs(target, files) : run_inputs(target, files);
    std::printf("%s: %zu inputs ran\n", args[0].c_str(), files.size());
    return status != 0 || files.empty() ? 1 : 0;
}
