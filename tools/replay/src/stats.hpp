// Order statistics of durations in bounded memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace replay {

struct Summary {
    size_t count = 0;
    double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // milliseconds
};

// The value at percentile p (0..100) of sorted samples, nearest rank.
double percentile(const std::vector<double>& sorted, double p);

class Distribution;

// Regular intervals: at least `min_count` of them, and at least 70% within 30% of their median.
bool regular(const Distribution& intervals, size_t min_count);

// Durations (nanoseconds). Count, min, max and mean are exact. Up to `exact_limit` samples are
// kept as they are, so small sets give exact nearest-rank percentiles; beyond that the samples
// are counted in logarithmic buckets (7 significant bits: a bucket's midpoint is within 0.79%
// of every value in it), so memory follows the spread of the values (a few KB), not their
// number. The state depends only on the set of samples added, never on their order or on how
// sets were merged.
class Distribution {
  public:
    static constexpr size_t exact_limit = 64;

    void add(int64_t ns);
    void merge(const Distribution& other);

    size_t count() const { return count_; }
    bool exact() const { return count_ <= exact_limit; }
    // Nearest-rank percentile in milliseconds (p in 0..100); 0 when empty.
    double percentile_ms(double p) const;
    std::optional<Summary> summary() const;
    // Samples strictly above / within [low, high] (ms); by bucket midpoint once not exact.
    size_t count_above(double ms) const;
    size_t count_within(double low_ms, double high_ms) const;
    // Every distinct value (ms; bucket midpoints once not exact) with how often it occurs,
    // in increasing order.
    std::vector<std::pair<double, uint64_t>> values() const;

  private:
    void spill();
    void add_to_bucket(int64_t ns, uint64_t n);
    int64_t value_at_rank(uint64_t rank) const;  // 1-based
    // Every non-empty bucket, in value order: f(midpoint ns, count).
    template <typename F>
    void for_each_bucket(F f) const;
    template <typename Keep>
    size_t count_ms_if(Keep keep) const;

    uint64_t count_ = 0;
    __int128 sum_ = 0;
    int64_t min_ = 0, max_ = 0;
    std::vector<int64_t> samples_;  // while exact
    // Afterwards: counts of the buckets first_key, first_key + 1, ... of values >= 0, and
    // (rare: a capture out of time order) of values < 0 by the bucket of their magnitude,
    // largest magnitude first. Allocated only then: most series of most connections are short.
    struct Buckets {
        std::vector<uint32_t> counts;
        int32_t first_key = 0;
        std::vector<std::pair<int32_t, uint64_t>> negative;
    };
    std::unique_ptr<Buckets> buckets_;
};

}  // namespace replay
