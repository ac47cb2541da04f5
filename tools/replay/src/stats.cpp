#include "stats.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace replay {
namespace {

constexpr int significant_bits = 7;
constexpr uint64_t exact_below = uint64_t(1) << significant_bits;  // own bucket each
constexpr uint64_t per_octave = exact_below / 2;

// Buckets of non-negative values, in value order: values below 128 are their own bucket,
// larger ones share a bucket with those of the same top 7 bits.
int32_t bucket_key(uint64_t v) {
    if (v < exact_below) return int32_t(v);
    const int shift = std::bit_width(v) - significant_bits;
    return int32_t(uint64_t(shift) * per_octave + (v >> shift));
}

int64_t bucket_midpoint(int32_t key) {
    if (uint64_t(key) < exact_below) return key;
    const int shift = int(uint64_t(key) / per_octave) - 1;
    const uint64_t top = uint64_t(key) % per_octave + per_octave;
    return int64_t((top << shift) + ((uint64_t(1) << shift) >> 1));
}

uint64_t magnitude(int64_t ns) {
    return ns == std::numeric_limits<int64_t>::min() ? uint64_t(1) << 63 : uint64_t(-ns);
}

double ns_to_ms(int64_t ns) {
    return double(ns) / 1e6;
}

}  // namespace

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const double rank = std::ceil(p / 100.0 * double(sorted.size()));
    const size_t index = rank < 1 ? 0 : std::min(sorted.size(), size_t(rank)) - 1;
    return sorted[index];
}

void Distribution::add(int64_t ns) {
    if (count_ == 0 || ns < min_) min_ = ns;
    if (count_ == 0 || ns > max_) max_ = ns;
    count_++;
    sum_ += ns;
    if (count_ <= exact_limit) {
        samples_.push_back(ns);
        return;
    }
    if (!buckets_) spill();
    add_to_bucket(ns, 1);
}

void Distribution::merge(const Distribution& other) {
    if (other.count_ == 0) return;
    if (count_ == 0 || other.min_ < min_) min_ = other.min_;
    if (count_ == 0 || other.max_ > max_) max_ = other.max_;
    count_ += other.count_;
    sum_ += other.sum_;
    if (count_ <= exact_limit) {
        samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
        return;
    }
    if (!buckets_) spill();
    for (int64_t ns : other.samples_) add_to_bucket(ns, 1);
    other.for_each_bucket([this](int64_t midpoint, uint64_t n) { add_to_bucket(midpoint, n); });
}

void Distribution::spill() {
    buckets_ = std::make_unique<Buckets>();
    for (int64_t ns : samples_) add_to_bucket(ns, 1);
    samples_.clear();
    samples_.shrink_to_fit();
}

void Distribution::add_to_bucket(int64_t ns, uint64_t n) {
    auto& negative = buckets_->negative;
    auto& counts = buckets_->counts;
    auto& first_key = buckets_->first_key;
    if (ns < 0) {
        const int32_t key = bucket_key(magnitude(ns));
        auto it = std::lower_bound(negative.begin(), negative.end(), key,
                                   [](const auto& b, int32_t k) { return b.first > k; });
        if (it != negative.end() && it->first == key) {
            it->second += n;
        } else {
            negative.insert(it, {key, n});
        }
        return;
    }
    const int32_t key = bucket_key(uint64_t(ns));
    if (counts.empty()) first_key = key;
    if (key < first_key) {
        counts.insert(counts.begin(), size_t(first_key - key), 0);
        first_key = key;
    }
    const size_t i = size_t(key - first_key);
    if (i >= counts.size()) counts.resize(i + 1, 0);
    // A bucket counts up to 2^32 - 1 samples (hundreds of GB of capture of one value); past
    // that it saturates, and the exact count, min, max and mean stay right.
    counts[i] = uint32_t(std::min<uint64_t>(uint64_t(counts[i]) + n, UINT32_MAX));
}

template <typename F>
void Distribution::for_each_bucket(F f) const {
    if (!buckets_) return;
    for (const auto& [key, n] : buckets_->negative) f(-bucket_midpoint(key), n);
    const auto& counts = buckets_->counts;
    for (size_t i = 0; i < counts.size(); ++i)
        if (counts[i]) f(bucket_midpoint(buckets_->first_key + int32_t(i)), uint64_t(counts[i]));
}

int64_t Distribution::value_at_rank(uint64_t rank) const {
    if (rank <= 1) return min_;
    if (rank >= count_) return max_;
    if (exact()) {  // a copy on the stack: a summary asks for three ranks
        std::array<int64_t, exact_limit> sorted;
        const auto end = std::copy(samples_.begin(), samples_.end(), sorted.begin());
        std::nth_element(sorted.begin(), sorted.begin() + long(rank - 1), end);
        return sorted[rank - 1];
    }
    uint64_t seen = 0;
    std::optional<int64_t> found;
    for_each_bucket([&](int64_t midpoint, uint64_t n) {
        seen += n;
        if (!found && seen >= rank) found = std::clamp(midpoint, min_, max_);
    });
    return found.value_or(max_);
}

double Distribution::percentile_ms(double p) const {
    if (count_ == 0) return 0;
    const double rank = std::ceil(p / 100.0 * double(count_));
    return ns_to_ms(value_at_rank(rank < 1 ? 1 : uint64_t(rank)));
}

std::optional<Summary> Distribution::summary() const {
    if (count_ == 0) return std::nullopt;
    Summary s;
    s.count = count_;
    s.min = ns_to_ms(min_);
    s.max = ns_to_ms(max_);
    s.p50 = percentile_ms(50);
    s.p90 = percentile_ms(90);
    s.p99 = percentile_ms(99);
    s.mean = double(sum_) / double(count_) / 1e6;
    return s;
}

std::vector<std::pair<double, uint64_t>> Distribution::values() const {
    std::vector<std::pair<double, uint64_t>> out;
    if (exact()) {
        std::vector<int64_t> sorted = samples_;
        std::sort(sorted.begin(), sorted.end());
        for (int64_t ns : sorted) {
            if (!out.empty() && out.back().first == ns_to_ms(ns)) {
                out.back().second++;
            } else {
                out.push_back({ns_to_ms(ns), 1});
            }
        }
        return out;
    }
    for_each_bucket([&](int64_t midpoint, uint64_t n) {
        out.push_back({ns_to_ms(std::clamp(midpoint, min_, max_)), n});
    });
    return out;
}

bool regular(const Distribution& intervals, size_t min_count) {
    if (intervals.count() < std::max<size_t>(min_count, 1)) return false;
    const double mid = intervals.percentile_ms(50);
    if (mid <= 0) return false;
    const size_t close = intervals.count_within(0.7 * mid, 1.3 * mid);
    return double(close) >= 0.7 * double(intervals.count());
}

// The samples whose value in ms, as values() gives it, passes `keep`; without building values().
template <typename Keep>
size_t Distribution::count_ms_if(Keep keep) const {
    if (exact())
        return size_t(std::count_if(samples_.begin(), samples_.end(),
                                    [&](int64_t ns) { return keep(ns_to_ms(ns)); }));
    size_t n = 0;
    for_each_bucket([&](int64_t midpoint, uint64_t times) {
        if (keep(ns_to_ms(std::clamp(midpoint, min_, max_)))) n += times;
    });
    return n;
}

size_t Distribution::count_above(double ms) const {
    return count_ms_if([ms](double value) { return value > ms; });
}

size_t Distribution::count_within(double low_ms, double high_ms) const {
    return count_ms_if([=](double value) { return value >= low_ms && value <= high_ms; });
}

}  // namespace replay
