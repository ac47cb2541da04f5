// CURVE decryption: zmtp::Session fed the streams of synthesised CURVE connections (segment by
// segment, keys from the generator's key log) against bare crypto_box_open_easy_afternm over
// the same MESSAGE boxes with the precomputed session keys.
//
// Figure: session throughput / bare-open throughput (CPU time, median of paired rounds).
#include <sodium.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/measure.hpp"
#include "common/memory_streams.hpp"

namespace {

struct Workload {
    std::string name;
    std::string sizes;
    zmtp::synth::Pattern pattern;
};

std::unique_ptr<bench::MemoryStreams> make_streams(const Workload& w, uint64_t bytes,
                                                   uint32_t connections) {
    zmtp::synth::Options o;
    o.mechanism = zmtp::Mechanism::Curve;
    o.pattern = w.pattern;
    o.connections = connections;
    std::string error;
    if (!zmtp::synth::parse_size_spec(w.sizes, o.request_size, error) ||
        !zmtp::synth::parse_size_spec(w.sizes, o.reply_size, error))
        throw std::runtime_error(error);
    o.target_bytes = bytes;
    auto streams = std::make_unique<bench::MemoryStreams>(o.mss);
    zmtp::synth::generate(o, *streams, streams.get());
    return streams;
}

uint64_t stream_bytes(const bench::MemoryStreams& s) {
    uint64_t n = 0;
    for (const auto& c : s.conns) n += c.streams[0].size() + c.streams[1].size();
    return n;
}

// The subject: one session per connection; every box must open.
uint64_t run_sessions(const bench::MemoryStreams& s, uint64_t bytes) {
    uint64_t decrypted = 0, payload = 0;
    const zmtp::SessionSink sink = [&](const zmtp::SessionEvent& e) {
        if (const auto* f = std::get_if<zmtp::FrameEvent>(&e.what); f && f->decrypted) {
            ++decrypted;
            payload += f->body.size();
        } else if (const auto* c = std::get_if<zmtp::CommandEvent>(&e.what); c && c->decrypted) {
            ++decrypted;
        }
    };
    for (size_t i = 0; i < s.conns.size(); ++i) {
        zmtp::Session session(&s.keys);
        s.feed(i, session, sink);
    }
    if (decrypted != s.boxes.size()) throw std::runtime_error("the session missed boxes");
    return bytes;
}

// The limit: open each box where it lies, nothing else.
uint64_t open_boxes(const bench::MemoryStreams& s, uint64_t bytes, zmtp::synth::Buf& plain) {
    uint64_t opened = 0;
    for (const bench::MessageBox& b : s.boxes) {
        if (crypto_box_open_easy_afternm(plain.data(), s.box_bytes.data() + b.offset, b.size,
                                         b.nonce.data(), s.session_keys[b.conn].data()) == 0)
            ++opened;
    }
    if (opened != s.boxes.size()) throw std::runtime_error("a box did not open");
    return bytes;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"zmtp::Session CURVE decryption vs bare crypto_box_open_easy_afternm"};
    size_t mib = 32;
    uint32_t connections = 4;
    int rounds = 7;
    double min_seconds = 0.2;
    app.add_option("--mib", mib, "MiB of streams per workload")->capture_default_str();
    app.add_option("--connections", connections, "connections per workload")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    app.add_option("--rounds", rounds, "paired rounds (median)")->capture_default_str();
    app.add_option("--min-seconds", min_seconds, "CPU seconds per measurement")
        ->capture_default_str();
    std::string profile;
    app.add_option("--profile", profile,
                   "only run the sessions of this workload once (by number, from 1), e.g. under "
                   "callgrind");
    CLI11_PARSE(app, argc, argv);
    if (sodium_init() < 0) return 1;

    const std::vector<Workload> workloads = {
        {"64 B messages", "64", zmtp::synth::Pattern::DealerRouter},
        {"1 KiB messages", "1024", zmtp::synth::Pattern::DealerRouter},
    };
    if (!profile.empty()) {
        const auto s =
            make_streams(workloads.at(std::stoul(profile) - 1), uint64_t(mib) << 20, connections);
        return run_sessions(*s, stream_bytes(*s)) > 0 ? 0 : 1;
    }
    for (const Workload& w : workloads) {
        const auto s = make_streams(w, uint64_t(mib) << 20, connections);
        const uint64_t bytes = stream_bytes(*s);
        size_t largest = 0;
        for (const auto& b : s->boxes) largest = std::max(largest, b.size);
        zmtp::synth::Buf plain(largest);
        const bench::Comparison c =
            bench::compare([&] { return open_boxes(*s, bytes, plain); },
                           [&] { return run_sessions(*s, bytes); }, rounds, min_seconds);
        std::printf(
            "curve %s: %zu connections, %zu boxes in %.1f MiB of streams: session %.1f MiB/s, "
            "bare open %.1f MiB/s, ratio %.3f (rounds:",
            w.name.c_str(), s->conns.size(), s->boxes.size(), double(bytes) / (1 << 20),
            c.subject_bytes_per_s / (1 << 20), c.limit_bytes_per_s / (1 << 20), c.ratio);
        for (double r : c.ratios) std::printf(" %.3f", r);
        std::printf(")\n");
        bench::print_result("libzmtp CURVE decryption, " + w.name, "crypto_box_open_easy_afternm",
                            c.ratio, ">= 0.85", c.ratio >= 0.85);
    }
    return 0;
}
