// Runs two commands alternately (the order flips every round) and reports one ratio from the
// medians of their CPU time (user + system, from wait4, so a command's own children count) or
// of their peak resident memory:
//   speed:  limit CPU / subject CPU   (1.0 = the subject is as fast as its limit)
//   cost:   subject CPU / limit CPU   (1.0 = the subject costs nothing extra)
//   memory: subject peak RSS / limit peak RSS
//   wall-speed: limit wall time / subject wall time (for several threads against one)
//
//   zmtp-run-pair --figure TEXT --limit-name TEXT --target ">= 0.5" --ratio speed
//                 [--rounds 5] [--subject-output FILE] [--limit-output FILE]
//                 -- SUBJECT ARGS... --vs LIMIT ARGS...
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/measure.hpp"

namespace {

struct RunResult {
    double cpu_seconds = 0, wall_seconds = 0;
    long peak_rss_kib = 0;
};

struct Args {
    std::string figure, limit_name, target, ratio = "speed", subject_output, limit_output;
    int rounds = 5;
    std::vector<std::string> subject, limit;
};

void usage() {
    std::fprintf(stderr,
                 "usage: zmtp-run-pair --figure TEXT --limit-name TEXT --target '>= X'|'<= X' "
                 "--ratio speed|cost|memory|wall-speed [--rounds N] [--subject-output FILE] "
                 "[--limit-output FILE] -- SUBJECT... --vs LIMIT...\n");
}

bool parse_args(int argc, char** argv, Args& a) {
    int i = 1;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc) return false;
        const std::string name = argv[i], value = argv[i + 1];
        if (name == "--figure")
            a.figure = value;
        else if (name == "--limit-name")
            a.limit_name = value;
        else if (name == "--target")
            a.target = value;
        else if (name == "--ratio")
            a.ratio = value;
        else if (name == "--subject-output")
            a.subject_output = value;
        else if (name == "--limit-output")
            a.limit_output = value;
        else if (name == "--rounds")
            a.rounds = std::atoi(value.c_str());
        else
            return false;
    }
    std::vector<std::string>* into = &a.subject;
    for (++i; i < argc; ++i) {
        if (std::strcmp(argv[i], "--vs") == 0) {
            into = &a.limit;
        } else {
            into->push_back(argv[i]);
        }
    }
    const bool known_ratio =
        a.ratio == "speed" || a.ratio == "cost" || a.ratio == "memory" || a.ratio == "wall-speed";
    const bool known_target = a.target.rfind(">= ", 0) == 0 || a.target.rfind("<= ", 0) == 0;
    return known_ratio && known_target && a.rounds > 0 && !a.subject.empty() && !a.limit.empty() &&
           !a.figure.empty();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs `command` with stdout to `output` (or /dev/null) and stderr to a temporary file, which
// is shown when the command fails.
bool run(const std::vector<std::string>& command, const std::string& output, RunResult& r) {
    char err_path[] = "/tmp/zmtp-run-pair.XXXXXX";
    const int err_fd = mkstemp(err_path);
    const int out_fd =
        ::open(output.empty() ? "/dev/null" : output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err_fd < 0 || out_fd < 0) {
        std::fprintf(stderr, "zmtp-run-pair: cannot open output files\n");
        return false;
    }
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        std::vector<char*> argv;
        for (const std::string& s : command) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    rusage usage{};
    const bool waited = pid > 0 && wait4(pid, &status, 0, &usage) == pid;
    r.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.cpu_seconds = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    r.peak_rss_kib = usage.ru_maxrss;
    ::close(out_fd);
    ::close(err_fd);
    const bool ok = waited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
        std::fprintf(stderr, "zmtp-run-pair: %s failed (status %d):\n%s\n", command[0].c_str(),
                     status, read_file(err_path).c_str());
    }
    unlink(err_path);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a)) {
        usage();
        return 2;
    }
    std::vector<double> subject_cpu, limit_cpu, subject_rss, limit_rss, subject_wall, limit_wall;
    for (int round = 0; round < a.rounds; ++round) {
        RunResult s, l;
        const bool subject_first = round % 2 == 0;
        const bool ok =
            subject_first ? run(a.subject, a.subject_output, s) && run(a.limit, a.limit_output, l)
                          : run(a.limit, a.limit_output, l) && run(a.subject, a.subject_output, s);
        if (!ok) return 1;
        subject_cpu.push_back(s.cpu_seconds);
        limit_cpu.push_back(l.cpu_seconds);
        subject_rss.push_back(double(s.peak_rss_kib));
        limit_rss.push_back(double(l.peak_rss_kib));
        subject_wall.push_back(s.wall_seconds);
        limit_wall.push_back(l.wall_seconds);
    }
    const double s_cpu = bench::median(subject_cpu), l_cpu = bench::median(limit_cpu);
    const double s_rss = bench::median(subject_rss), l_rss = bench::median(limit_rss);
    struct Times {
        double subject_cpu, limit_cpu, subject_rss, limit_rss, subject_wall, limit_wall;
    };
    // Several threads save wall time, not CPU time; the machine must be otherwise idle.
    auto ratio_of = [&](const Times& t) {
        if (a.ratio == "speed") return t.limit_cpu / t.subject_cpu;
        if (a.ratio == "cost") return t.subject_cpu / t.limit_cpu;
        if (a.ratio == "memory") return t.subject_rss / t.limit_rss;
        return t.limit_wall / t.subject_wall;  // wall-speed
    };
    const double ratio = ratio_of(
        {s_cpu, l_cpu, s_rss, l_rss, bench::median(subject_wall), bench::median(limit_wall)});
    // For judging the noise: the same ratio within each round.
    std::string per_round;
    for (size_t i = 0; i < subject_cpu.size(); ++i) {
        char text[32];
        std::snprintf(text, sizeof text, "%s%.3g", i ? " " : "",
                      ratio_of({subject_cpu[i], limit_cpu[i], subject_rss[i], limit_rss[i],
                                subject_wall[i], limit_wall[i]}));
        per_round += text;
    }
    const double target = std::atof(a.target.c_str() + 3);
    const bool met = a.target[0] == '>' ? ratio >= target : ratio <= target;
    std::printf(
        "%s: subject %.3f s CPU (%.3f s wall, %.1f MiB peak), limit %.3f s CPU (%.3f s wall, "
        "%.1f MiB peak), %d rounds, ratio %.3f (rounds: %s)\n",
        a.figure.c_str(), s_cpu, bench::median(subject_wall), s_rss / 1024, l_cpu,
        bench::median(limit_wall), l_rss / 1024, a.rounds, ratio, per_round.c_str());
    bench::print_result(a.figure, a.limit_name, ratio, a.target, met);
    return 0;
}
