// The floor for reading a capture: a bare libpcap loop that reads every packet and touches
// its bytes, nothing else. With --decrypt-stats (zmtp-synth --stats of a CURVE capture) it
// also does the bare decryption of that capture: one crypto_box_beforenm per connection and
// one crypto_box_open_easy_afternm per MESSAGE box, with the same box sizes and counts.
//
//   zmtp-pcap-floor CAPTURE [--decrypt-stats STATS.json]
#include <pcap/pcap.h>
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

struct ReadTotals {
    uint64_t packets = 0, bytes = 0, touched = 0;
};

bool read_all(const char* path, ReadTotals& t) {
    char error[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_open_offline(path, error);
    if (!p) {
        std::fprintf(stderr, "zmtp-pcap-floor: %s\n", error);
        return false;
    }
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int status = 0;
    while ((status = pcap_next_ex(p, &header, &data)) == 1) {
        ++t.packets;
        t.bytes += header->caplen;
        if (header->caplen) t.touched += data[0] ^ data[header->caplen - 1];
    }
    const bool ok = status == PCAP_ERROR_BREAK;
    if (!ok) std::fprintf(stderr, "zmtp-pcap-floor: %s: %s\n", path, pcap_geterr(p));
    pcap_close(p);
    return ok;
}

// One real box of each size, opened as many times as the capture has boxes of that size.
bool decrypt_like(const nlohmann::json& stats, uint64_t& opened) {
    uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    uint8_t key[crypto_box_BEFORENMBYTES], nonce[crypto_box_NONCEBYTES] = {};
    crypto_box_keypair(pk, sk);
    const uint64_t connections = stats.at("connections").get<uint64_t>();
    for (uint64_t i = 0; i < connections; ++i)
        if (crypto_box_beforenm(key, pk, sk) != 0) return false;
    std::vector<uint8_t> plain, box;
    for (const auto& [size_text, count] : stats.at("message_boxes_by_size").items()) {
        const size_t size = std::stoul(size_text);
        if (size < crypto_box_MACBYTES) return false;
        plain.assign(size - crypto_box_MACBYTES, 0x5A);
        box.resize(size);
        crypto_box_easy_afternm(box.data(), plain.data(), plain.size(), nonce, key);
        for (uint64_t n = count.get<uint64_t>(); n > 0; --n) {
            if (crypto_box_open_easy_afternm(plain.data(), box.data(), size, nonce, key) == 0)
                ++opened;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--decrypt-stats") == 0)) {
        std::fprintf(stderr, "usage: zmtp-pcap-floor CAPTURE [--decrypt-stats STATS.json]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    ReadTotals t;
    if (!read_all(argv[1], t)) return 1;
    uint64_t opened = 0;
    if (argc == 4) {
        std::ifstream in(argv[3]);
        nlohmann::json stats = nlohmann::json::parse(in, nullptr, false);
        if (stats.is_discarded() || !decrypt_like(stats, opened)) {
            std::fprintf(stderr, "zmtp-pcap-floor: cannot use %s\n", argv[3]);
            return 1;
        }
    }
    std::printf("%llu packets, %llu bytes, %llu boxes opened (%llu)\n",
                (unsigned long long)t.packets, (unsigned long long)t.bytes,
                (unsigned long long)opened, (unsigned long long)(t.touched & 1));
    return 0;
}
