// Distribution: exact summaries of small sets, bounded error on large ones, and a state that
// depends only on the set of samples (so replays sharded over threads report the same).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "report.hpp"
#include "stats.hpp"

using replay::Distribution;

namespace {

std::vector<int64_t> log_uniform(size_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> exponent(3, 10);  // 1 us .. 10 s in ns
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(int64_t(std::pow(10.0, exponent(rng))));
    return v;
}

double exact_percentile_ms(std::vector<int64_t> v, double p) {
    std::sort(v.begin(), v.end());
    const double rank = std::ceil(p / 100.0 * double(v.size()));
    return double(v[size_t(std::max(1.0, rank)) - 1]) / 1e6;
}

bool same(const replay::Summary& a, const replay::Summary& b) {
    return a.count == b.count && a.min == b.min && a.p50 == b.p50 && a.p90 == b.p90 &&
           a.p99 == b.p99 && a.max == b.max && a.mean == b.mean;
}

}  // namespace

TEST_CASE("a small set gives exact nearest-rank percentiles", "[replay][stats]") {
    Distribution d;
    CHECK_FALSE(d.summary());
    for (int64_t ns : {5'000'000, 1'000'000, 3'000'000, 2'000'000, 4'000'000}) d.add(ns);
    const auto s = d.summary();
    REQUIRE(s);
    CHECK(s->count == 5);
    CHECK(s->min == 1.0);
    CHECK(s->p50 == 3.0);
    CHECK(s->p90 == 5.0);
    CHECK(s->max == 5.0);
    CHECK(s->mean == 3.0);
    CHECK(d.count_above(3.0) == 2);
    CHECK(d.count_within(2.0, 4.0) == 3);
}

TEST_CASE("a large set: exact count, min, max, mean; percentiles within 0.8%", "[replay][stats]") {
    const auto values = log_uniform(100000, 1);
    Distribution d;
    for (int64_t v : values) d.add(v);
    REQUIRE_FALSE(d.exact());
    const auto s = d.summary();
    REQUIRE(s);
    CHECK(s->count == values.size());
    CHECK(s->min == double(*std::min_element(values.begin(), values.end())) / 1e6);
    CHECK(s->max == double(*std::max_element(values.begin(), values.end())) / 1e6);
    long double sum = 0;
    for (int64_t v : values) sum += v;
    CHECK(s->mean == Approx(double(sum / values.size()) / 1e6).epsilon(1e-12));
    for (double p : {50.0, 90.0, 99.0}) {
        const double exact = exact_percentile_ms(values, p);
        CHECK(std::abs(d.percentile_ms(p) - exact) <= 0.0079 * exact);
    }
}

TEST_CASE("the same set gives the same state, in any order and any split", "[replay][stats]") {
    for (size_t n : {40u, 64u, 65u, 5000u}) {
        auto values = log_uniform(n, uint32_t(n));
        values.push_back(0);
        values.push_back(-1500);  // a reordered capture can give negative durations
        Distribution one;
        for (int64_t v : values) one.add(v);

        std::shuffle(values.begin(), values.end(), std::mt19937(3));
        Distribution parts[3], merged;
        for (size_t i = 0; i < values.size(); ++i) parts[i % 3].add(values[i]);
        merged.merge(parts[2]);
        merged.merge(parts[0]);
        merged.merge(parts[1]);
        INFO("samples: " << values.size());
        CHECK(same(*one.summary(), *merged.summary()));
        CHECK(one.values() == merged.values());
        CHECK(one.summary()->min == -0.0015);
    }
}

TEST_CASE("latency points: a bounded sample, the same however it was split", "[replay][stats]") {
    std::vector<replay::LatencyPoint> points;
    std::mt19937_64 rng(5);
    for (int i = 0; i < 100000; ++i) points.push_back({int64_t(rng() >> 20), int64_t(rng() >> 40)});
    replay::LatencyPointSample whole;
    for (const auto& p : points) whole.add(p);
    const auto kept = whole.sorted();
    CHECK(kept.size() <= replay::latency_points_max);
    CHECK(kept.size() >= replay::latency_points_max / 4);

    replay::LatencyPointSample a, b;
    for (size_t i = 0; i < points.size(); ++i) (i % 7 == 0 ? a : b).add(points[i]);
    b.merge(a);
    CHECK(b.sorted() == kept);
}

TEST_CASE("the slowest replies are kept, slowest first", "[replay][stats]") {
    replay::LatencyTotals totals;
    for (int64_t i = 0; i < 1000; ++i) totals.add_slow_candidate({uint64_t(i % 10), i, i + i * 7});
    REQUIRE(totals.slowest.size() == replay::slowest_kept);
    CHECK(totals.slowest.front().request_time == 999);
    CHECK(totals.slowest.back().request_time == 1000 - int64_t(replay::slowest_kept));
}

TEST_CASE("regular intervals: 70% within 30% of the median, and enough of them",
          "[replay][stats]") {
    constexpr int64_t ms = 1'000'000;
    Distribution steady, irregular, few;
    for (int64_t v : {1000, 990, 1010, 1005, 995, 1400}) steady.add(v * ms);  // 5 of 6 close
    for (int64_t v : {1600, 400, 1600, 400, 1600}) irregular.add(v * ms);     // 3 of 5 close
    for (int64_t v : {1000, 1000}) few.add(v * ms);
    CHECK(replay::regular(steady, 5));
    CHECK_FALSE(replay::regular(irregular, 2));
    CHECK(replay::regular(few, 2));
    CHECK_FALSE(replay::regular(few, 3));
    CHECK_FALSE(replay::regular(Distribution{}, 0));
}
