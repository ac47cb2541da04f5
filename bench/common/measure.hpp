// Paired measurements for ratios on a shared, noisy machine: the subject and its limit run
// alternately (the order flips every round), each round gives one ratio of CPU times per byte,
// and the median of the rounds is reported. CPU time, not wall time: other processes on the
// machine slow the wall clock of both sides unevenly.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace bench {

inline double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

inline double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// One pass of a workload; returns the bytes it processed (its unit of work).
using Pass = std::function<uint64_t()>;

struct Comparison {
    double ratio = 0;                // median of limit / subject CPU time per byte
    double subject_bytes_per_s = 0;  // medians, for information only
    double limit_bytes_per_s = 0;
    std::vector<double> ratios;
};

// Runs `pass` until it has used at least `min_seconds` of CPU; returns CPU seconds per byte.
inline double seconds_per_byte(const Pass& pass, double min_seconds) {
    uint64_t bytes = 0;
    const double start = thread_cpu_seconds();
    double used = 0;
    do {
        bytes += pass();
        used = thread_cpu_seconds() - start;
    } while (used < min_seconds);
    return used / double(bytes ? bytes : 1);
}

inline Comparison compare(const Pass& limit, const Pass& subject, int rounds = 7,
                          double min_seconds = 0.2) {
    Comparison c;
    std::vector<double> limit_rates, subject_rates;
    limit();  // warm up: page in the buffers, fill the caches
    subject();
    for (int r = 0; r < rounds; ++r) {
        double l = 0, s = 0;
        if (r % 2 == 0) {
            l = seconds_per_byte(limit, min_seconds);
            s = seconds_per_byte(subject, min_seconds);
        } else {
            s = seconds_per_byte(subject, min_seconds);
            l = seconds_per_byte(limit, min_seconds);
        }
        c.ratios.push_back(l / s);
        limit_rates.push_back(1 / l);
        subject_rates.push_back(1 / s);
    }
    c.ratio = median(c.ratios);
    c.limit_bytes_per_s = median(limit_rates);
    c.subject_bytes_per_s = median(subject_rates);
    return c;
}

// The line scripts/bench.sh collects into its table:
// RESULT <tab> figure <tab> limit <tab> ratio <tab> target <tab> met
inline void print_result(const std::string& figure, const std::string& limit, double ratio,
                         const std::string& target, bool met) {
    // Three decimals, or two significant digits for the tiny ratios of unfair limits.
    std::printf(ratio >= 0.01 ? "RESULT\t%s\t%s\t%.3f\t%s\t%s\n" : "RESULT\t%s\t%s\t%.2g\t%s\t%s\n",
                figure.c_str(), limit.c_str(), ratio, target.c_str(), met ? "yes" : "no");
    std::fflush(stdout);
}

inline double gib(double bytes) {
    return bytes / double(1ull << 30);
}

}  // namespace bench
