#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace replay {

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const double rank = std::ceil(p / 100.0 * double(sorted.size()));
    const size_t index = rank < 1 ? 0 : std::min(sorted.size(), size_t(rank)) - 1;
    return sorted[index];
}

std::optional<Summary> summarize(std::vector<double> samples) {
    if (samples.empty()) return std::nullopt;
    std::sort(samples.begin(), samples.end());
    Summary s;
    s.count = samples.size();
    s.min = samples.front();
    s.max = samples.back();
    s.p50 = percentile(samples, 50);
    s.p90 = percentile(samples, 90);
    s.p99 = percentile(samples, 99);
    s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size());
    return s;
}

}  // namespace replay
