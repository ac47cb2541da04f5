// libzmtp's fast paths against its general ones, event for event (docs/protocol.md 9 for the
// gap and resync inputs). Two fast paths exist: StreamDecoder::decode_frames_inline (V2/V3
// frames that lie whole in a chunk, nothing buffered) beside decode_in_place, decode_buffered and
// skip_body; and Session's curve_message_fast (a MESSAGE that opens with the session key) beside
// curve_message. Limits::fast_paths = false switches both off.
//
// Inputs: what ConnectionTracker hands each connection's session for every capture of
// captures/ and of the fuzz capture corpus (packets read, decoded and reassembled by libcapture),
// with every key of captures/*.keys and with none; and every session fuzz input (the record
// format of tests/fuzz/session_target.cpp). Each input is fed with the fast paths on and off, in
// its own chunks, in seeded random chunks and one byte at a time (segment ends stay where they
// were). One-byte chunks alone would not force the general path: a skipped body's last byte
// still ends in the inline path. All runs must give the same session events (every field,
// bodies and plaintexts byte for byte), the same SessionInfo, and, fed to bare StreamDecoders,
// the same decoder events.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "tracker/connection_tracker.hpp"
#include "zmtp/session.hpp"

namespace fs = std::filesystem;
using zmtp::Direction;

namespace {

// One call a session gets, with its bytes.
struct Input {
    enum class Kind : uint8_t { Bytes, SegmentEnd, Gap, StartMidStream, Finish } kind;
    Direction dir;
    std::vector<uint8_t> data;     // Bytes
    std::optional<uint64_t> lost;  // Gap
};

struct Case {
    std::string name;
    const zmtp::KeyStore* keys = nullptr;
    zmtp::SessionOptions options;
    std::vector<Input> inputs;
};

// ---- text of every field of an event ----

std::string hex_or_digest(zmtp::Bytes b) {
    static const char digits[] = "0123456789abcdef";
    std::string out = std::to_string(b.size()) + ":";
    if (b.size() <= 64) {
        for (uint8_t c : b) out += {digits[c >> 4], digits[c & 15]};
        return out;
    }
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (uint8_t c : b) h = (h ^ c) * 0x100000001b3ull;
    return out + "fnv" + std::to_string(h);
}
template <class T>
std::string opt(const std::optional<T>& v) {
    if (!v) return "-";
    if constexpr (std::is_same_v<T, zmtp::Key>) {
        return hex_or_digest(*v);
    } else {
        return std::to_string(*v);
    }
}

void put_greeting(std::ostream& o, const zmtp::Greeting& g) {
    o << " framing " << int(g.framing) << " v" << int(g.major) << "." << int(g.minor) << " mech "
      << g.mechanism_text << "/" << int(g.mechanism) << " server " << g.as_server << " type "
      << int(g.socket_type) << " padding " << g.signature_padding << " size " << g.size;
}

void put_header(std::ostream& o, const zmtp::FrameHeader& h) {
    o << " flags " << int(h.flags) << " hsize " << int(h.header_size) << " bsize " << h.body_size
      << " more " << h.more << " command " << h.command << " reserved " << h.reserved_bits;
}

void put_command(std::ostream& o, const zmtp::Command& c) {
    o << " kind " << int(c.kind) << " name " << c.name << " data " << hex_or_digest(c.data)
      << " problem " << (c.problem ? c.problem : "-") << " metadata";
    for (const auto& p : c.metadata) o << " " << p.name << "=" << hex_or_digest(p.value);
    o << " error " << c.error_reason << " plain_bug " << c.libzmq_plain_error_bug << " topic "
      << hex_or_digest(c.topic) << " ttl " << c.ping_ttl_ds << " context "
      << hex_or_digest(c.ping_context) << " user " << c.plain_username << " password "
      << c.plain_password << " curve " << c.curve_version << " C' "
      << hex_or_digest(c.client_ephemeral) << " nonce " << c.short_nonce << " long "
      << hex_or_digest(c.long_nonce) << " cookie " << hex_or_digest(c.cookie) << " box "
      << hex_or_digest(c.box);
}

struct Describe {
    std::ostream& o;
    void operator()(const zmtp::GreetingEvent& e) {
        o << "greeting";
        put_greeting(o, e.greeting);
    }
    void operator()(const zmtp::CommandEvent& e) {
        o << "command";
        put_command(o, e.command);
        o << " decrypted " << e.decrypted << " opened " << e.curve.box_opened << " S' "
          << opt(e.curve.server_ephemeral) << " C " << opt(e.curve.client_public) << " vouch "
          << opt(e.curve.vouch_valid) << " plaintext " << hex_or_digest(e.plaintext) << " answers "
          << opt(e.answers_offset);
    }
    void operator()(const zmtp::FrameEvent& e) {
        o << "frame";
        put_header(o, e.header);
        o << " body " << hex_or_digest(e.body) << " skipped " << e.body_skipped << " decrypted "
          << e.decrypted << " inner " << int(e.inner_flags) << " seq " << e.message_seq << " index "
          << e.index_in_message << " last " << e.last << " sub "
          << (e.subscription ? std::to_string(e.subscription->subscribe) + "/" +
                                   hex_or_digest(e.subscription->topic)
                             : "-")
          << " start_lost " << e.start_lost;
    }
    void operator()(const zmtp::MessageEvent& e) {
        o << "message seq " << e.message_seq << " frames " << e.frames << " bytes " << e.body_bytes
          << " decrypted " << e.decrypted << " first " << e.first_offset << " answers "
          << opt(e.answers_offset) << "/" << opt(e.answers_seq) << " loss " << int(e.loss)
          << " awaits " << e.awaits_reply << " dropped " << e.requests_dropped;
    }
    void operator()(const zmtp::NoticeEvent& e) {
        o << "notice " << int(e.code) << " " << int(e.severity) << " " << e.text;
    }
    void operator()(const zmtp::HandshakeEvent& e) {
        o << "handshake " << int(e.mechanism) << " " << e.succeeded << " " << e.reason;
    }
    void operator()(const zmtp::GapEvent& e) {
        o << "gap known " << e.lost_known << " before_start " << e.before_start << " dropped "
          << e.requests_dropped;
    }
    void operator()(const zmtp::ResyncEvent& e) {
        o << "resync " << int(e.evidence) << " skipped " << e.skipped_bytes << " lost "
          << opt(e.frames_lost);
    }
};

std::string describe(const zmtp::SessionEvent& e) {
    std::ostringstream o;
    o << int(e.dir) << " @" << e.offset << "+" << e.size << " ";
    std::visit(Describe{o}, e.what);
    return o.str();
}

std::string describe(const zmtp::StreamEvent& e) {
    std::ostringstream o;
    o << int(e.kind) << " @" << e.offset << "+" << e.size;
    switch (e.kind) {
        case zmtp::StreamEvent::Kind::Greeting:
            put_greeting(o, e.greeting);
            o << " bytes " << hex_or_digest(e.body);
            break;
        case zmtp::StreamEvent::Kind::Frame:
            put_header(o, e.header);
            o << " body " << hex_or_digest(e.body) << " skipped " << e.body_skipped;
            break;
        case zmtp::StreamEvent::Kind::Error:
            o << " error " << int(e.error) << " " << e.message;
            break;
        case zmtp::StreamEvent::Kind::Gap:
            o << " known " << e.lost_known << " before_start " << e.before_start << " cut "
              << opt(e.cut_unit_offset);
            break;
        case zmtp::StreamEvent::Kind::Resync:
            o << " skipped " << e.skipped << " evidence " << int(e.evidence);
            break;
    }
    return o.str();
}

std::string describe(const zmtp::SessionInfo& i) {
    std::ostringstream o;
    o << "info mech " << int(i.mechanism) << " inferred " << i.mechanism_inferred << "/"
      << i.plaintext_without_handshake << "/" << i.socket_types_inferred << " types "
      << int(i.socket_types[0]) << "," << int(i.socket_types[1]) << " client "
      << (i.mechanism_client ? int(*i.mechanism_client) : -1) << " framing " << int(i.framing)
      << " subs " << i.subscriptions_as_commands << " handshake " << int(i.handshake) << " curve "
      << int(i.curve) << " missing " << i.curve_missing << " stopped " << i.pairing_stopped;
    for (size_t d = 0; d < 2; ++d) {
        const zmtp::RecoveryInfo& r = i.recovery[d];
        o << " | " << i.messages[d] << " " << i.decrypted_frames[d] << " " << i.requests_pending[d]
          << " " << r.started_mid_stream << " " << r.gaps << " " << r.lost_bytes << " "
          << r.gaps_of_unknown_size << " " << r.resyncs << " " << r.skipped_bytes << " "
          << r.frames_lost << " " << r.messages_cut << " " << r.messages_after_gap;
    }
    return o.str();
}

// ---- feeding ----

enum class Chunking : uint8_t { AsCaptured, Random, Bytes };
const char* chunking_name(Chunking c) {
    return c == Chunking::AsCaptured ? "as captured" : c == Chunking::Random ? "random" : "1-byte";
}

// Calls `feed` with the pieces of `data` the chunking makes.
template <class Feed>
void chunked(const std::vector<uint8_t>& data, Chunking chunking, std::mt19937_64& random,
             Feed&& feed) {
    size_t at = 0;
    while (at < data.size()) {
        size_t n = data.size() - at;
        if (chunking == Chunking::Bytes) n = 1;
        if (chunking == Chunking::Random) n = std::min(n, size_t(1 + random() % 97));
        feed(zmtp::Bytes(data.data() + at, n));
        at += n;
    }
}

struct Run {
    std::vector<std::string> session_events;
    std::vector<std::string> decoder_events[2];
};

Run run(const Case& c, bool fast_paths, Chunking chunking, uint64_t seed) {
    zmtp::SessionOptions options = c.options;
    options.limits.fast_paths = fast_paths;
    Run out;
    zmtp::Session session(c.keys, options);
    const zmtp::SessionSink sink = [&out](const zmtp::SessionEvent& e) {
        out.session_events.push_back(describe(e));
    };
    // Bare decoders, joined as Session joins them (the peer's signature decides a greeting).
    zmtp::Limits limits = options.limits;
    std::array<zmtp::StreamDecoder, 2> decoders{zmtp::StreamDecoder(limits),
                                                zmtp::StreamDecoder(limits)};
    auto decoder_sink = [&out](Direction dir) {
        return zmtp::StreamSink([&out, dir](const zmtp::StreamEvent& e) {
            out.decoder_events[zmtp::index_of(dir)].push_back(describe(e));
        });
    };
    std::mt19937_64 random(seed);
    for (const Input& in : c.inputs) {
        const size_t d = zmtp::index_of(in.dir);
        zmtp::StreamDecoder& decoder = decoders[d];
        const zmtp::StreamSink dsink = decoder_sink(in.dir);
        switch (in.kind) {
            case Input::Kind::Bytes:
                chunked(in.data, chunking, random, [&](zmtp::Bytes piece) {
                    session.feed(in.dir, piece, sink);
                    if (!decoder.greeting_done() && !decoder.failed())
                        decoder.set_peer_signature(decoders[1 - d].signature());
                    decoder.feed(piece, dsink);
                });
                break;
            case Input::Kind::SegmentEnd:
                session.mark_segment_end(in.dir, sink);
                decoder.mark_segment_end(dsink);
                break;
            case Input::Kind::Gap:
                session.mark_gap(in.dir, sink, in.lost);
                decoder.mark_gap(dsink, in.lost);
                break;
            case Input::Kind::StartMidStream:
                session.start_mid_stream(in.dir, sink);
                decoder.start_mid_stream(dsink);
                break;
            case Input::Kind::Finish:
                session.finish(in.dir, sink);
                decoder.finish(dsink);
                break;
        }
    }
    out.session_events.push_back(describe(session.info()));
    return out;
}

// The first difference between two event lists, "" when none.
std::string difference(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i])
            return "event " + std::to_string(i) + ":\n    fast, as captured: " + a[i] +
                   "\n    this run:          " + b[i];
    }
    if (a.size() != b.size())
        return std::to_string(a.size()) + " events against " + std::to_string(b.size());
    return "";
}

struct Totals {
    size_t cases = 0, runs = 0, session_events = 0, decoder_events = 0, failures = 0;
};

void check(const Case& c, uint64_t seed, Totals& totals) {
    const Run reference = run(c, true, Chunking::AsCaptured, seed);
    ++totals.cases;
    totals.session_events += reference.session_events.size();
    totals.decoder_events +=
        reference.decoder_events[0].size() + reference.decoder_events[1].size();
    for (bool fast : {true, false}) {
        for (Chunking chunking : {Chunking::AsCaptured, Chunking::Random, Chunking::Bytes}) {
            if (fast && chunking == Chunking::AsCaptured) continue;
            const Run other = run(c, fast, chunking, seed);
            ++totals.runs;
            std::string problem = difference(reference.session_events, other.session_events);
            for (size_t d = 0; d < 2 && problem.empty(); ++d) {
                problem = difference(reference.decoder_events[d], other.decoder_events[d]);
                if (!problem.empty()) problem = "decoder " + std::to_string(d) + ", " + problem;
            }
            if (problem.empty()) continue;
            ++totals.failures;
            std::cerr << "FAIL " << c.name << " (fast paths " << (fast ? "on" : "off") << ", "
                      << chunking_name(chunking) << " chunks): " << problem << "\n";
        }
    }
}

// ---- inputs from captures, through ConnectionTracker ----

class Recorder final : public zmtp::tracker::ConnectionObserver {
  public:
    std::map<uint64_t, std::vector<Input>> inputs;  // by connection id
    void on_session_input(const zmtp::tracker::Connection& c,
                          const zmtp::tracker::SessionInput& in) override {
        using Kind = zmtp::tracker::SessionInput::Kind;
        std::vector<Input>& list = inputs[c.id];
        switch (in.kind) {
            case Kind::Bytes:
                list.push_back({Input::Kind::Bytes, in.dir, {in.data.begin(), in.data.end()}, {}});
                if (in.segment_end) list.push_back({Input::Kind::SegmentEnd, in.dir, {}, {}});
                break;
            case Kind::Gap:
                list.push_back({Input::Kind::Gap, in.dir, {}, in.size});
                break;
            case Kind::StartMidStream:
                list.push_back({Input::Kind::StartMidStream, in.dir, {}, {}});
                break;
            case Kind::Finish:
                list.push_back({Input::Kind::Finish, in.dir, {}, {}});
                break;
        }
    }
};

// Every connection of `path` the tracker follows (ports of captures/ and --detect).
std::vector<Case> capture_cases(const fs::path& path, const zmtp::KeyStore* keys) {
    std::string error;
    auto source = zmtp::tracker::PacketSource::open_files({path.string()}, "", error);
    if (!source) return {};  // a fuzz input libpcap does not read
    zmtp::tracker::TrackerOptions options;
    options.ports = {2069, 2070, 5555};
    options.detect = true;
    options.keys = keys;
    Recorder recorder;
    zmtp::tracker::ConnectionTracker tracker(options, recorder);
    zmtp::tracker::Packet packet;
    while (source->next(packet)) tracker.add_packet(packet);
    tracker.finish();
    std::vector<Case> cases;
    for (auto& [id, inputs] : recorder.inputs) {
        Case c;
        c.name = path.filename().string() + " connection " + std::to_string(id) +
                 (keys ? " (all keys)" : " (no keys)");
        c.keys = keys;
        c.options = options.session;
        c.inputs = std::move(inputs);
        cases.push_back(std::move(c));
    }
    return cases;
}

// ---- inputs from the session fuzz corpus ----

Case session_case(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    Case c;
    c.name = path.parent_path().parent_path().filename().string() + "/session/" +
             path.filename().string();
    if (bytes.empty()) return c;
    // The options byte, as session_target reads it.
    const uint8_t options = bytes[0];
    const auto& sets = zmtp_fuzz::key_sets();
    if (size_t(options & 0x0F) < sets.size()) c.keys = &sets[options & 0x0F].store;
    if (options & 0x10) c.options.limits.max_body_size = 64;
    for (Direction d : {Direction::ClientToServer, Direction::ServerToClient})
        if (options & 0x20) c.inputs.push_back({Input::Kind::StartMidStream, d, {}, {}});
    zmtp::Bytes rest(bytes.data() + 1, bytes.size() - 1);
    while (auto record = zmtp_fuzz::next_session_record(rest)) {
        if (record->gap) {
            c.inputs.push_back({Input::Kind::Gap, record->dir, {}, record->lost});
            continue;
        }
        c.inputs.push_back(
            {Input::Kind::Bytes, record->dir, {record->data.begin(), record->data.end()}, {}});
        if (options & 0x40) c.inputs.push_back({Input::Kind::SegmentEnd, record->dir, {}, {}});
    }
    for (Direction d : {Direction::ClientToServer, Direction::ServerToClient})
        c.inputs.push_back({Input::Kind::Finish, d, {}, {}});
    return c;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::vector<std::string>& extensions) {
    std::vector<fs::path> files;
    if (!fs::is_directory(dir)) return files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        const std::string ext = entry.path().extension().string();
        if (extensions.empty() ||
            std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: zmtp-fast-path-check CAPTURES_DIR FUZZ_DIR\n";
        return 2;
    }
    const fs::path captures = argv[1], fuzz = argv[2];
    Totals totals;
    uint64_t seed = 2069;
    std::vector<fs::path> capture_files = files_in(captures, {".pcapng", ".pcap"});
    for (const char* set : {"corpus", "regressions"})
        for (const fs::path& f : files_in(fuzz / set / "capture", {})) capture_files.push_back(f);
    for (const fs::path& file : capture_files) {
        for (const zmtp::KeyStore* keys :
             {&zmtp_fuzz::all_keys().store, static_cast<const zmtp::KeyStore*>(nullptr)}) {
            for (const Case& c : capture_cases(file, keys)) check(c, ++seed, totals);
        }
    }
    const size_t from_captures = totals.cases;
    for (const char* set : {"corpus", "regressions"})
        for (const fs::path& f : files_in(fuzz / set / "session", {}))
            check(session_case(f), ++seed, totals);
    std::cout << totals.cases << " inputs (" << from_captures << " connections of "
              << capture_files.size() << " capture files, " << totals.cases - from_captures
              << " session fuzz inputs), " << totals.runs << " runs compared with the fast, "
              << "as-captured run: " << totals.session_events << " session events, "
              << totals.decoder_events << " decoder events each; " << totals.failures
              << " differ\n";
    if (from_captures == 0 || totals.cases == from_captures) {
        std::cerr << "no inputs found: wrong folders?\n";
        return 1;
    }
    return totals.failures == 0 ? 0 : 1;
}
