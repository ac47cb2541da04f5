// StreamDecoder throughput on a NULL-mechanism ZMTP 3.1 stream, against the cheapest possible
// pass over the same bytes (a loop that only walks frame headers) and against memcpy.
//
// 1 GiB per iteration: a 64 MiB buffer of message frames of mixed sizes, fed 16 times in
// 1460-byte chunks (one Ethernet MSS) after a greeting and READY. The peak RSS is printed
// before and after to show that decoding does not grow memory.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "zmtp/stream_decoder.hpp"

namespace {

using Buf = std::vector<uint8_t>;

constexpr size_t buffer_size = 64ull << 20;
constexpr size_t passes = 16;  // 16 x 64 MiB = 1 GiB per iteration
constexpr size_t chunk_size = 1460;
constexpr double bytes_per_iteration = double(buffer_size) * passes;

void put_frame_header(Buf& out, uint8_t flags, uint64_t size) {
    if (size > 255) {
        out.push_back(flags | zmtp::frame_flag::long_size);
        for (int i = 7; i >= 0; --i) out.push_back(uint8_t(size >> (8 * i)));
    } else {
        out.push_back(flags);
        out.push_back(uint8_t(size));
    }
}

enum Mix : int { Mixed = 0, Small = 1 };
const char* const mix_names[] = {"mixed", "small"};

// Mixed: mostly small frames, some medium, a few large ones that span many chunks (those
// carry most of the bytes). Small: up to 1 KiB, like ctrlX Data Layer requests and replies.
size_t pick_body_size(std::mt19937& rng, Mix mix) {
    if (mix == Small) return rng() % 1025;
    const unsigned p = rng() % 100;
    if (p < 60) return rng() % 65;
    if (p < 90) return 65 + rng() % 960;
    if (p < 99) return 1025 + rng() % 15360;
    return 16385 + rng() % 245760;
}

struct Workload {
    Buf preamble;  // greeting + READY, fed once per decoder
    Buf frames;    // whole frames only, so the buffer can be fed again and again
    size_t frame_count = 0;
};

Workload make_workload(Mix mix) {
    Workload w;
    w.preamble = {0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1, 'N', 'U', 'L', 'L'};
    w.preamble.resize(64, 0);
    const std::string ready =
        "\x05READY\x0bSocket-Type\x00\x00\x00\x06"
        "DEALER";
    put_frame_header(w.preamble, zmtp::frame_flag::command, ready.size());
    w.preamble.insert(w.preamble.end(), ready.begin(), ready.end());

    std::mt19937 rng(2069);
    w.frames.reserve(buffer_size);
    for (;;) {
        const size_t body = pick_body_size(rng, mix);
        const size_t unit = body + (body > 255 ? 9 : 2);
        if (w.frames.size() + unit > buffer_size) break;
        const uint8_t flags = rng() % 4 == 0 ? zmtp::frame_flag::more : 0;
        put_frame_header(w.frames, flags, body);
        w.frames.resize(w.frames.size() + body, uint8_t(body));
        ++w.frame_count;
    }
    // Pad to exactly 64 MiB with one last frame so every pass is the same size.
    const size_t rest = buffer_size - w.frames.size();
    const size_t body = rest > 257 ? rest - 9 : rest - 2;
    put_frame_header(w.frames, 0, body);
    w.frames.resize(buffer_size, 0);
    ++w.frame_count;
    return w;
}

const Workload& workload(Mix mix) {
    static const Workload workloads[] = {make_workload(Mixed), make_workload(Small)};
    return workloads[mix];
}

Mix mix_of(const benchmark::State& state) {
    return static_cast<Mix>(state.range(0));
}

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

size_t last_decoder_capacity = 0;

void BM_StreamDecoder(benchmark::State& state) {
    const Workload& w = workload(mix_of(state));
    const zmtp::Bytes frames(w.frames);
    uint64_t events = 0, body_bytes = 0;
    const zmtp::StreamSink sink = [&](const zmtp::StreamEvent& e) {
        ++events;
        body_bytes += e.body.size();
    };
    for (auto _ : state) {
        zmtp::StreamDecoder decoder;
        decoder.feed(w.preamble, sink);
        for (size_t pass = 0; pass < passes; ++pass)
            for (size_t at = 0; at < frames.size(); at += chunk_size)
                decoder.feed(frames.subspan(at, std::min(chunk_size, frames.size() - at)), sink);
        if (decoder.failed() || decoder.buffered_bytes() != 0) state.SkipWithError("bad stream");
        last_decoder_capacity = decoder.buffer_capacity();
    }
    benchmark::DoNotOptimize(body_bytes);
    const double expected_events = double(2 + passes * w.frame_count) * double(state.iterations());
    if (double(events) != expected_events) state.SkipWithError("wrong number of events");
    state.SetBytesProcessed(int64_t(bytes_per_iteration) * state.iterations());
    state.counters["frames_per_second"] = benchmark::Counter(
        double(passes * w.frame_count) * double(state.iterations()), benchmark::Counter::kIsRate);
}

// The floor: read each header, jump over the body. No events, no chunks, no copies.
void BM_HeaderWalk(benchmark::State& state) {
    const Workload& w = workload(mix_of(state));
    const uint8_t* const begin = w.frames.data();
    const uint8_t* const end = begin + w.frames.size();
    uint64_t frames = 0;
    for (auto _ : state) {
        for (size_t pass = 0; pass < passes; ++pass) {
            for (const uint8_t* p = begin; p < end; ++frames) {
                const bool long_size = (p[0] & zmtp::frame_flag::long_size) != 0;
                const uint64_t size = long_size ? zmtp::read_be64(p + 1) : p[1];
                p += (long_size ? 9 : 2) + size;
            }
        }
        benchmark::DoNotOptimize(frames);
    }
    if (frames != passes * w.frame_count * uint64_t(state.iterations()))
        state.SkipWithError("header walk lost sync");
    state.SetBytesProcessed(int64_t(bytes_per_iteration) * state.iterations());
}

// Memory bandwidth: copy the same bytes chunk by chunk into a small buffer.
void BM_Memcpy(benchmark::State& state) {
    const Workload& w = workload(mix_of(state));
    Buf scratch(chunk_size);
    for (auto _ : state) {
        for (size_t pass = 0; pass < passes; ++pass)
            for (size_t at = 0; at < w.frames.size(); at += chunk_size) {
                const size_t n = std::min(chunk_size, w.frames.size() - at);
                std::memcpy(scratch.data(), w.frames.data() + at, n);
                benchmark::ClobberMemory();
            }
    }
    state.SetBytesProcessed(int64_t(bytes_per_iteration) * state.iterations());
}

// Rates use CPU time (the default): every benchmark is single-threaded, and on a shared
// machine wall-clock time measures the other processes as much as this one.
BENCHMARK(BM_StreamDecoder)->Unit(benchmark::kMillisecond)->MinTime(2.0)->Arg(Mixed)->Arg(Small);
BENCHMARK(BM_HeaderWalk)->Unit(benchmark::kMillisecond)->MinTime(2.0)->Arg(Mixed)->Arg(Small);
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->MinTime(2.0)->Arg(Mixed);

// Prints the usual table and remembers each benchmark's throughput for the summary.
class RecordingReporter : public benchmark::ConsoleReporter {
  public:
    std::map<std::string, double> bytes_per_second;

    RecordingReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
            const double seconds = run.cpu_accumulated_time / double(run.iterations);
            bytes_per_second[run.run_name.function_name + "/" + run.run_name.args] =
                bytes_per_iteration / seconds;
        }
    }
};

double gib(double bytes) {
    return bytes / double(1ull << 30);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

    for (Mix mix : {Mixed, Small}) {
        const Workload& w = workload(mix);
        std::printf(
            "workload %d (%s): %zu MiB of %zu NULL ZMTP 3.1 message frames (mean body "
            "%.0f bytes), fed %zu times per iteration in %zu-byte chunks\n",
            mix, mix_names[mix], buffer_size >> 20, w.frame_count,
            double(buffer_size) / double(w.frame_count), passes, chunk_size);
    }
    const long rss_before = peak_rss_kib();
    std::printf("peak RSS before: %ld KiB (the two 64 MiB workloads)\n", rss_before);

    RecordingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);

    const long rss_after = peak_rss_kib();
    std::printf(
        "peak RSS after:  %ld KiB (%+ld KiB); decoder buffer capacity at the end: %zu "
        "bytes\n",
        rss_after, rss_after - rss_before, last_decoder_capacity);
    const auto& r = reporter.bytes_per_second;
    for (Mix mix : {Mixed, Small}) {
        const std::string arg = "/" + std::to_string(mix);
        if (!r.count("BM_StreamDecoder" + arg) || !r.count("BM_HeaderWalk" + arg)) continue;
        const double decoder = r.at("BM_StreamDecoder" + arg);
        const double walk = r.at("BM_HeaderWalk" + arg);
        std::printf("%s: decoder %.2f GiB/s, header walk %.2f GiB/s, decoder/walk ratio %.3f\n",
                    mix_names[mix], gib(decoder), gib(walk), decoder / walk);
        if (r.count("BM_Memcpy" + arg))
            std::printf("%s: memcpy of the same chunks %.2f GiB/s, decoder/memcpy ratio %.3f\n",
                        mix_names[mix], gib(r.at("BM_Memcpy" + arg)),
                        decoder / r.at("BM_Memcpy" + arg));
    }
    benchmark::Shutdown();
    return 0;
}
