// Order statistics of a set of durations.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace replay {

struct Summary {
    size_t count = 0;
    double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // same unit as the samples
};

// Nearest-rank percentiles. Empty input gives nullopt.
std::optional<Summary> summarize(std::vector<double> samples);

// The value at percentile p (0..100) of sorted samples, nearest rank.
double percentile(const std::vector<double>& sorted, double p);

}  // namespace replay
