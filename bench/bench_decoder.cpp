// libzmtp's StreamDecoder against the cheapest possible pass over the same bytes: a loop that
// only walks frame headers (reads each header, jumps over the body; no events, no chunks, no
// copies). Per workload: a buffer of NULL ZMTP 3.1 message frames, fed to the decoder in
// chunks of one TCP segment (1460 bytes, or 65483 on loopback) after a greeting and READY.
// The decoder, like the walk, is told it needs no bodies; a second ratio, for information,
// has every body delivered to a std::function sink.
//
// One workload loses every 64th segment: the decoder is told of each gap (mark_gap with its size)
// and of every segment end, and searches for the next frame boundary after each gap
// (docs/protocol.md 9); its throughput counts the bytes it was given.
//
// Figure: decoder throughput / header-walk throughput (CPU time, median of paired rounds).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "common/measure.hpp"
#include "synth/synth.hpp"
#include "zmtp/stream_decoder.hpp"
#include "zmtp_writer.hpp"

namespace {

using zmtp::synth::Buf;

struct Workload {
    std::string name;
    std::string sizes;      // zmtp-synth size spec
    size_t chunk = 1460;    // whole_buffer: the buffer in one call, as the header walk reads it
    size_t lose_every = 0;  // every n-th chunk is lost (0: none)
};
constexpr size_t whole_buffer = size_t(1) << 48;

struct Frames {
    Buf preamble;  // greeting + READY, fed once per decoder
    Buf frames;    // whole frames only
    uint64_t count = 0;
};

Frames make_frames(const std::string& size_spec, size_t buffer_size) {
    zmtp::synth::SizeSpec spec;
    std::string error;
    if (!zmtp::synth::parse_size_spec(size_spec, spec, error)) throw std::runtime_error(error);
    Frames f;
    for (const Buf& piece : zmtp::writer::greeting_pieces("NULL"))
        zmtp::writer::put(f.preamble, piece);
    zmtp::writer::put_command(
        f.preamble, "READY", zmtp::writer::metadata({{"Socket-Type", "DEALER"}, {"Identity", ""}}));
    zmtp::synth::Rng rng(2069);
    f.frames.reserve(buffer_size);
    for (;;) {
        const size_t body = spec.pick(rng);
        const size_t unit = body + (body > 255 ? 9 : 2);
        if (f.frames.size() + unit > buffer_size) break;
        zmtp::writer::put_frame_header(f.frames, rng() % 4 == 0 ? zmtp::writer::flag_more : 0,
                                       body);
        f.frames.resize(f.frames.size() + body, uint8_t(body));
        ++f.count;
    }
    return f;
}

// The subject: a fresh decoder over the whole buffer, chunk by chunk. Like the header walk, it
// does not need the bodies (Limits::skip_message_bodies: counted, never copied), and its sink
// is called directly (feed_with).
uint64_t decode(const Frames& f, size_t chunk) {
    uint64_t events = 0, body_bytes = 0;
    auto sink = [&](const zmtp::StreamEvent& e) {
        ++events;
        body_bytes += e.header.body_size;
    };
    zmtp::Limits limits;
    limits.skip_message_bodies = true;
    zmtp::StreamDecoder decoder(limits);
    decoder.feed_with(f.preamble, sink);
    const zmtp::Bytes frames(f.frames);
    for (size_t at = 0; at < frames.size(); at += chunk)
        decoder.feed_with(frames.subspan(at, std::min(chunk, frames.size() - at)), sink);
    if (decoder.failed() || decoder.buffered_bytes() != 0 || events != f.count + 2)
        throw std::runtime_error("the decoder lost the frames");
    return f.frames.size();
}

// The decoder over the same chunks with every `lose_every`-th one lost, segment ends marked.
// Returns the bytes it was given.
uint64_t decode_with_gaps(const Frames& f, size_t chunk, size_t lose_every) {
    uint64_t events = 0, resyncs = 0, gaps = 0;
    auto sink = [&](const zmtp::StreamEvent& e) {
        ++events;
        resyncs += e.kind == zmtp::StreamEvent::Kind::Resync;
    };
    zmtp::Limits limits;
    limits.skip_message_bodies = true;
    zmtp::StreamDecoder decoder(limits);
    zmtp::ResyncHints hints;
    hints.expect = zmtp::ResyncHints::Expect::Plaintext;  // what the session knows after NULL
    decoder.set_resync_hints(hints);
    decoder.feed_with(f.preamble, sink);
    const zmtp::Bytes frames(f.frames);
    uint64_t given = 0;
    for (size_t at = 0, i = 1; at < frames.size(); at += chunk, ++i) {
        const zmtp::Bytes segment = frames.subspan(at, std::min(chunk, frames.size() - at));
        if (i % lose_every == 0) {
            decoder.mark_gap(sink, segment.size());
            ++gaps;
            continue;
        }
        decoder.feed_with(segment, sink);
        decoder.mark_segment_end(sink);
        given += segment.size();
    }
    // A gap inside a frame larger than 64 segments has no boundary before the next gap.
    if (decoder.failed() || resyncs == 0 || resyncs > gaps || events < f.count / 2)
        throw std::runtime_error("the decoder did not resynchronise after the gaps");
    return given;
}

// For information: bodies delivered (views, or copies of the frames that span chunks) to a
// std::function sink, the way a caller that reads every body uses the decoder.
uint64_t decode_with_bodies(const Frames& f, size_t chunk) {
    uint64_t events = 0, body_bytes = 0;
    const zmtp::StreamSink sink = [&](const zmtp::StreamEvent& e) {
        ++events;
        body_bytes += e.body.size();
    };
    zmtp::StreamDecoder decoder;
    decoder.feed(f.preamble, sink);
    const zmtp::Bytes frames(f.frames);
    for (size_t at = 0; at < frames.size(); at += chunk)
        decoder.feed(frames.subspan(at, std::min(chunk, frames.size() - at)), sink);
    if (decoder.failed() || decoder.buffered_bytes() != 0 || events != f.count + 2)
        throw std::runtime_error("the decoder lost the frames");
    return f.frames.size();
}

// For information: the same walk fed the same chunks (a header split between chunks is
// collected byte by byte), the least any decoder fed segment by segment has to do.
uint64_t walk_headers_chunked(const Frames& f, size_t chunk) {
    uint64_t frames = 0, skip = 0;
    uint8_t head[9];
    size_t have = 0;
    for (size_t at = 0; at < f.frames.size(); at += chunk) {
        const uint8_t* p = f.frames.data() + at;
        const uint8_t* const end = p + std::min(chunk, f.frames.size() - at);
        while (p < end) {
            if (skip > 0) {
                const uint64_t n = std::min<uint64_t>(skip, uint64_t(end - p));
                p += n;
                skip -= n;
            } else if (have == 0 && end - p >= 9) {
                const bool long_size = (p[0] & zmtp::frame_flag::long_size) != 0;
                skip = long_size ? zmtp::read_be64(p + 1) : p[1];
                p += long_size ? 9 : 2;
                ++frames;
            } else {
                head[have++] = *p++;
                const bool long_size = (head[0] & zmtp::frame_flag::long_size) != 0;
                if (have == (long_size ? 9u : 2u)) {
                    skip = long_size ? zmtp::read_be64(head + 1) : head[1];
                    have = 0;
                    ++frames;
                }
            }
        }
    }
    if (frames != f.count) throw std::runtime_error("the chunked header walk lost sync");
    return f.frames.size();
}

// The limit: read each header, jump over the body.
uint64_t walk_headers(const Frames& f) {
    const uint8_t* p = f.frames.data();
    const uint8_t* const end = p + f.frames.size();
    uint64_t frames = 0;
    while (p < end) {
        const bool long_size = (p[0] & zmtp::frame_flag::long_size) != 0;
        const uint64_t size = long_size ? zmtp::read_be64(p + 1) : p[1];
        p += (long_size ? 9 : 2) + size;
        ++frames;
    }
    if (frames != f.count) throw std::runtime_error("the header walk lost sync");
    return f.frames.size();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"StreamDecoder vs a header-only walk over the same frames"};
    size_t mib = 64;
    int rounds = 7;
    double min_seconds = 0.2;
    app.add_option("--mib", mib, "MiB of frames per workload")->capture_default_str();
    app.add_option("--rounds", rounds, "paired rounds (median)")->capture_default_str();
    app.add_option("--min-seconds", min_seconds, "CPU seconds per measurement")
        ->capture_default_str();
    std::string profile;
    app.add_option("--profile", profile,
                   "only decode this workload once (by number, from 1), e.g. under callgrind");
    size_t only = 0;
    app.add_option("--workload", only, "only measure this workload (by number, from 1)");
    CLI11_PARSE(app, argc, argv);

    const std::vector<Workload> workloads = {
        {"64 B frames", "64"},
        {"0-1 KiB frames", "0-1024"},
        {"mixed frames", "mixed"},
        {"64 KiB-1 MiB frames", "65536-1048576"},
        {"mixed frames, loopback chunks", "mixed", 65483},
        {"64 KiB-1 MiB frames", "65536-1048576", whole_buffer},
        {"0-1 KiB frames, every 64th segment lost", "0-1024", 1460, 64},
        {"mixed frames, every 64th segment lost", "mixed", 1460, 64},
    };
    if (!profile.empty()) {
        const Workload& w = workloads.at(std::stoul(profile) - 1);
        return decode(make_frames(w.sizes, mib << 20), w.chunk) > 0 ? 0 : 1;
    }
    const double target = 0.7;
    for (size_t i = 0; i < workloads.size(); ++i) {
        if (only != 0 && only != i + 1) continue;
        const Workload& w = workloads[i];
        const Frames f = make_frames(w.sizes, mib << 20);
        if (w.lose_every) {
            const bench::Comparison c = bench::compare(
                [&] { return walk_headers(f); },
                [&] { return decode_with_gaps(f, w.chunk, w.lose_every); }, rounds, min_seconds);
            std::printf(
                "decoder %s: %llu frames in %zu MiB, %zu-byte chunks: decoder %.2f GiB/s (of the "
                "bytes it was given), header walk over all %.2f GiB/s, ratio %.3g\n",
                w.name.c_str(), (unsigned long long)f.count, mib, w.chunk,
                bench::gib(c.subject_bytes_per_s), bench::gib(c.limit_bytes_per_s), c.ratio);
            bench::print_result("libzmtp StreamDecoder, " + w.name + " (resync after each gap)",
                                "header walk", c.ratio, ">= 0.7", c.ratio >= target);
            continue;
        }
        const bench::Comparison c =
            bench::compare([&] { return walk_headers(f); }, [&] { return decode(f, w.chunk); },
                           rounds, min_seconds);
        const bench::Comparison chunked =
            bench::compare([&] { return walk_headers_chunked(f, w.chunk); },
                           [&] { return decode(f, w.chunk); }, rounds, min_seconds);
        const bench::Comparison with_bodies =
            bench::compare([&] { return walk_headers(f); },
                           [&] { return decode_with_bodies(f, w.chunk); }, rounds, min_seconds);
        std::printf(
            "decoder %s: %llu frames in %zu MiB, mean body %.0f B, %zu-byte chunks: decoder %.2f "
            "GiB/s, header walk %.2f GiB/s, ratio %.3g (rounds:",
            w.name.c_str(), (unsigned long long)f.count, mib,
            double(f.frames.size()) / double(f.count), w.chunk, bench::gib(c.subject_bytes_per_s),
            bench::gib(c.limit_bytes_per_s), c.ratio);
        for (double r : c.ratios) std::printf(" %.3g", r);
        std::printf(
            "); header walk over the same chunks %.2f GiB/s, ratio %.3g; bodies delivered to a "
            "std::function sink %.2f GiB/s, ratio %.3g\n",
            bench::gib(chunked.limit_bytes_per_s), chunked.ratio,
            bench::gib(with_bodies.subject_bytes_per_s), with_bodies.ratio);
        bench::print_result(
            "libzmtp StreamDecoder, " + w.name +
                (w.chunk == whole_buffer ? " (whole buffer in one call)"
                                         : " (" + std::to_string(w.chunk) + "-byte chunks)"),
            "header walk", c.ratio, ">= 0.7", c.ratio >= target);
    }
    return 0;
}
