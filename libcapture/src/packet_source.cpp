#include "capture/packet_source.hpp"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "capture/packet_decoder.hpp"
#include "pcap_time.hpp"

namespace capture {
namespace {

struct PcapCloser {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

bool apply_filter(pcap_t* handle, const std::string& filter, const std::string& what,
                  std::string& error) {
    if (filter.empty()) return true;
    bpf_program program{};
    if (pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        error = what + ": bad filter \"" + filter + "\": " + pcap_geterr(handle);
        return false;
    }
    const int rc = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (rc != 0) {
        error = what + ": cannot set filter: " + pcap_geterr(handle);
        return false;
    }
    return true;
}

// One input and its look-ahead packet.
struct Input {
    PcapHandle handle;
    std::string name;
    bool nanoseconds = false;
    int linktype = 0;
    bool has_packet = false;
    bool ended = false;
    Packet packet;
};

class FileSource final : public PacketSource {
  public:
    bool open(const std::vector<std::string>& paths, const std::string& filter,
              std::string& error) {
        for (size_t i = 0; i < paths.size(); ++i) {
            if (!open_one(paths[i], i, filter, error)) return false;
        }
        return true;
    }

    bool next(Packet& packet) override {
        if (stopped_) return false;
        Input* earliest = nullptr;
        for (auto& input : inputs_) {
            if (!input.has_packet && !input.ended) read_ahead(input);
            if (!input.has_packet) continue;
            if (!earliest || input.packet.time < earliest->packet.time) earliest = &input;
        }
        if (!earliest || !error_.empty()) return false;
        packet = earliest->packet;
        packet.number = ++count_;
        earliest->has_packet = false;  // its buffer stays valid until its next read
        return true;
    }

    std::string error() const override { return error_; }
    void stop() override { stopped_ = true; }
    std::vector<int> linktypes() const override {
        std::vector<int> types;
        for (const auto& input : inputs_) types.push_back(input.linktype);
        return types;
    }
    uint64_t bytes_read() const override {
        uint64_t total = 0;
        for (const auto& input : inputs_) {
            FILE* f = pcap_file(input.handle.get());
            const long pos = f ? ftell(f) : -1;
            if (pos > 0) total += uint64_t(pos);
        }
        return total;
    }
    uint64_t bytes_total() const override { return total_size_; }

  private:
    bool open_one(const std::string& path, size_t index, const std::string& filter,
                  std::string& error) {
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        PcapHandle handle(pcap_open_offline_with_tstamp_precision(
            path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
        const std::string name = path == "-" ? "standard input" : path;
        if (!handle) {
            error = name + ": " + errbuf;
            return false;
        }
        if (!apply_filter(handle.get(), filter, name, error)) return false;
        Input input;
        input.name = name;
        input.linktype = pcap_datalink(handle.get());
        input.nanoseconds = pcap_get_tstamp_precision(handle.get()) == PCAP_TSTAMP_PRECISION_NANO;
        input.packet.input = index;
        input.packet.linktype = input.linktype;
        input.handle = std::move(handle);
        struct stat st {};
        if (path != "-" && stat(path.c_str(), &st) == 0) total_size_ += uint64_t(st.st_size);
        inputs_.push_back(std::move(input));
        return true;
    }

    void read_ahead(Input& input) {
        pcap_pkthdr* header = nullptr;
        const u_char* data = nullptr;
        const int rc = pcap_next_ex(input.handle.get(), &header, &data);
        if (rc == 1) {
            input.packet.time = packet_time(*header, input.nanoseconds);
            input.packet.data = Bytes(data, header->caplen);
            input.packet.wire_size = header->len;
            input.has_packet = true;
            return;
        }
        input.ended = true;
        if (rc == PCAP_ERROR)
            error_ = input.name + ": read error: " + pcap_geterr(input.handle.get());
    }

    std::vector<Input> inputs_;
    std::string error_;
    uint64_t count_ = 0;
    uint64_t total_size_ = 0;
    std::atomic<bool> stopped_{false};
};

class LiveSource final : public PacketSource {
  public:
    bool open(const LiveOptions& options, const std::string& filter, std::string& error) {
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        name_ = options.interface;
        handle_.reset(pcap_create(options.interface.c_str(), errbuf));
        if (!handle_) {
            error = options.interface + ": " + errbuf;
            return false;
        }
        pcap_t* p = handle_.get();
        // The setters fail only on a handle already activated; newer libpcaps (Debian 14's)
        // insist that their results are read.
        if (pcap_set_snaplen(p, options.snaplen) != 0 ||
            pcap_set_promisc(p, options.promiscuous ? 1 : 0) != 0 ||
            pcap_set_timeout(p, 100) != 0 || pcap_set_immediate_mode(p, 1) != 0 ||
            pcap_set_buffer_size(p, options.buffer_kib * 1024) != 0) {
            error = options.interface + ": libpcap refused the capture options";
            return false;
        }
        // Nanosecond time stamps where the device gives them, else microseconds.
        const bool nanoseconds_asked =
            pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
        const int rc = pcap_activate(p);
        if (rc < 0) {
            error = options.interface + ": " + pcap_statustostr(rc) + " " + pcap_geterr(p);
            return false;
        }
        nanoseconds_ =
            nanoseconds_asked && pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
        linktype_ = pcap_datalink(p);
        return apply_filter(p, filter, options.interface, error);
    }

    bool next(Packet& packet) override {
        while (!stopped_) {
            pcap_pkthdr* header = nullptr;
            const u_char* data = nullptr;
            const int rc = pcap_next_ex(handle_.get(), &header, &data);
            if (rc == 0) continue;  // read timeout: check stopped_ again
            if (rc != 1) {
                if (rc == PCAP_ERROR) error_ = name_ + ": " + pcap_geterr(handle_.get());
                return false;
            }
            packet.time = packet_time(*header, nanoseconds_);
            packet.linktype = linktype_;
            packet.data = Bytes(data, header->caplen);
            packet.wire_size = header->len;
            packet.input = 0;
            packet.number = ++count_;
            bytes_ += header->caplen;
            return true;
        }
        return false;
    }

    std::string error() const override { return error_; }
    void stop() override {
        stopped_ = true;
        pcap_breakloop(handle_.get());
    }
    std::vector<int> linktypes() const override { return {linktype_}; }
    uint64_t bytes_read() const override { return bytes_; }
    uint64_t bytes_total() const override { return 0; }
    std::string losses() const override {
        pcap_stat stats{};
        if (pcap_stats(handle_.get(), &stats) != 0) return {};
        std::string text;
        if (stats.ps_drop > 0)
            text = "the kernel dropped " + std::to_string(stats.ps_drop) +
                   " packets (capture buffer full)";
        if (stats.ps_ifdrop > 0)
            text += (text.empty() ? "" : "; ") + name_ + " dropped " +
                    std::to_string(stats.ps_ifdrop) + " packets";
        return text;
    }

  private:
    PcapHandle handle_;
    std::string name_;
    std::string error_;
    bool nanoseconds_ = false;
    int linktype_ = 0;
    uint64_t count_ = 0;
    uint64_t bytes_ = 0;
    std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<PacketSource> PacketSource::open_files(const std::vector<std::string>& paths,
                                                       const std::string& filter,
                                                       std::string& error) {
    if (paths.empty()) {
        error = "no capture file given";
        return nullptr;
    }
    auto source = std::make_unique<FileSource>();
    if (!source->open(paths, filter, error)) return nullptr;
    return source;
}

std::unique_ptr<PacketSource> PacketSource::open_live(const LiveOptions& options,
                                                      const std::string& filter,
                                                      std::string& error) {
    auto source = std::make_unique<LiveSource>();
    if (!source->open(options, filter, error)) return nullptr;
    return source;
}

std::string linktype_name(int linktype) {
    const char* name = pcap_datalink_val_to_name(linktype);
    std::string text = name ? name : "DLT " + std::to_string(linktype);
    if (!linktype_supported(linktype)) text += " (unsupported)";
    return text;
}

}  // namespace capture
