// A synth Transport that keeps each connection's two byte streams in memory, with the pieces
// in which a capture would deliver them (one per TCP segment), the MESSAGE boxes with their
// nonces and keys, and a key store filled from the generator's key log.
#pragma once

#include <string_view>
#include <vector>

#include "synth/synth.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/session.hpp"

namespace bench {

using zmtp::synth::Buf;
using zmtp::synth::Side;

struct Piece {
    Side from;
    size_t offset, size;  // in that side's stream
};

struct MemoryConnection {
    Buf streams[2];  // indexed by Side
    std::vector<Piece> pieces;
};

struct MessageBox {
    size_t offset, size;  // in MemoryStreams::box_bytes
    std::array<uint8_t, 24> nonce;
    uint32_t conn;
};

class MemoryStreams : public zmtp::synth::Transport, public zmtp::synth::KeyLogSink {
  public:
    explicit MemoryStreams(uint32_t mss) : mss_(mss) {}

    zmtp::synth::Micros open(uint32_t conn, zmtp::synth::Micros now) override {
        if (conn >= conns.size()) conns.resize(conn + 1);
        return now;
    }
    zmtp::synth::Micros send(uint32_t conn, Side from, zmtp::synth::Bytes data,
                             zmtp::synth::Micros now) override {
        MemoryConnection& c = conns[conn];
        Buf& stream = c.streams[size_t(from)];
        for (size_t at = 0; at < data.size(); at += mss_)
            c.pieces.push_back(
                {from, stream.size() + at, std::min<size_t>(mss_, data.size() - at)});
        stream.insert(stream.end(), data.begin(), data.end());
        bytes_ += data.size();
        return now + 1;
    }
    zmtp::synth::Micros close(uint32_t, zmtp::synth::Micros now) override { return now; }
    uint64_t bytes_out() const override { return bytes_; }
    void message_box(uint32_t conn, Side, zmtp::synth::Bytes box,
                     const std::array<uint8_t, 24>& nonce, const zmtp::synth::Key& key) override {
        boxes.push_back({box_bytes.size(), box.size(), nonce, conn});
        box_bytes.insert(box_bytes.end(), box.begin(), box.end());
        if (conn >= session_keys.size()) session_keys.resize(conn + 1);
        session_keys[conn] = key;
    }
    void key(std::string_view label, const zmtp::synth::Key& key, std::string_view) override {
        if (label == "SERVER_SECRET") keys.add(zmtp::KeyLabel::ServerSecret, key, "synth");
        if (label == "SERVER_PUBLIC") keys.add(zmtp::KeyLabel::ServerPublic, key, "synth");
        if (label == "EPHEMERAL_SECRET") keys.add(zmtp::KeyLabel::EphemeralSecret, key, "synth");
    }

    // Feeds connection `conn` to `session` piece by piece, as a capture would.
    void feed(size_t conn, zmtp::Session& session, const zmtp::SessionSink& sink) const {
        const MemoryConnection& c = conns[conn];
        for (const Piece& p : c.pieces) {
            const auto dir = p.from == Side::Client ? zmtp::Direction::ClientToServer
                                                    : zmtp::Direction::ServerToClient;
            session.feed(dir, zmtp::Bytes(c.streams[size_t(p.from)].data() + p.offset, p.size),
                         sink);
        }
    }

    std::vector<MemoryConnection> conns;
    Buf box_bytes;
    std::vector<MessageBox> boxes;
    std::vector<zmtp::synth::Key> session_keys;  // by connection
    zmtp::KeyStore keys;

  private:
    uint32_t mss_;
    uint64_t bytes_ = 0;
};

}  // namespace bench
