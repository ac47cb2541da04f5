// Follow ZMQ Stream (tshark -z follow,zmq,MODE,N; dissector/README.md, "Wireshark's views"):
// connection N's application messages, decrypted where keys allow, one follow record (block) per
// message, its frames joined by a newline. N is the connection's TCP stream index (tcp.stream).
//
// The tap "zmq" hands over one unit at a time; a message's frames may span several packets, so
// each direction's message in progress is kept by follow_info until libzmtp reports it
// complete (MessageEvent). Messages the capture has only part of are not shown.
#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "fields.hpp"
#include "stats.hpp"
#include "views.hpp"

extern "C" {
#include <epan/addr_resolv.h>
#include <epan/follow.h>
}

namespace zmqdiss {
namespace {

struct FollowState {
    uint32_t last_frame = 0;  // a lower frame number starts a new pass (the GUI retaps)
    std::array<bool, 2> pending{};
    std::array<std::vector<uint8_t>, 2> data;  // each direction's message in progress
};

std::unordered_map<const follow_info_t*, FollowState>& follow_states() {
    static std::unordered_map<const follow_info_t*, FollowState> states;
    return states;
}

FollowState& state_for(const follow_info_t* info, uint32_t frame) {
    FollowState& st = follow_states()[info];
    if (frame < st.last_frame) st = FollowState{};
    st.last_frame = frame;
    return st;
}

void note_endpoints(follow_info_t* info, packet_info* pinfo, bool from_client) {
    if (info->client_port != 0) return;
    copy_address(&info->client_ip, from_client ? &pinfo->src : &pinfo->dst);
    copy_address(&info->server_ip, from_client ? &pinfo->dst : &pinfo->src);
    info->client_port = from_client ? pinfo->srcport : pinfo->destport;
    info->server_port = from_client ? pinfo->destport : pinfo->srcport;
}

void add_record(follow_info_t* info, packet_info* pinfo, bool from_client,
                const std::vector<uint8_t>& data) {
    auto* record = g_new0(follow_record_t, 1);
    record->is_server = !from_client;
    record->packet_num = pinfo->num;
    record->abs_ts = pinfo->abs_ts;
    record->data = g_byte_array_sized_new(guint(data.size()));
    g_byte_array_append(record->data, data.data(), guint(data.size()));
    info->payload = g_list_prepend(info->payload, record);
    info->bytes_written[from_client ? FROM_CLIENT : FROM_SERVER] += guint(data.size());
}

tap_packet_status follow_packet(void* tapdata, packet_info* pinfo, epan_dissect_t*,
                                const void* data, tap_flags_t) {
    auto* info = static_cast<follow_info_t*>(tapdata);
    const auto& unit = *static_cast<const TapUnit*>(data);
    const PduRecord& rec = *unit.rec;
    FollowState& st = state_for(info, pinfo->num);
    const size_t d = zmtp::index_of(rec.dir);
    // Bytes lost before this unit, or a message they cut: what was in progress is not whole.
    if (!rec.gaps.empty() || !rec.losses.empty()) st.pending[d] = false;
    if (!rec.frame || rec.undecoded != Undecoded::None) return TAP_PACKET_DONT_REDRAW;
    const FrameInfo& frame = *rec.frame;
    if (frame.index == 0) {
        st.pending[d] = !frame.start_lost;
        st.data[d].clear();
    }
    if (!st.pending[d]) return TAP_PACKET_DONT_REDRAW;
    if (!unit.has_body) {  // a body the capture cut short: the message is not whole
        st.pending[d] = false;
        return TAP_PACKET_DONT_REDRAW;
    }
    if (frame.index > 0) st.data[d].push_back('\n');
    st.data[d].insert(st.data[d].end(), unit.body.begin(), unit.body.end());
    if (!frame.last) return TAP_PACKET_DONT_REDRAW;
    st.pending[d] = false;
    if (!rec.message) return TAP_PACKET_DONT_REDRAW;  // libzmtp did not count it
    const bool from_client = rec.dir == zmtp::Direction::ClientToServer;
    note_endpoints(info, pinfo, from_client);
    add_record(info, pinfo, from_client, st.data[d]);
    return TAP_PACKET_REDRAW;
}

// The TCP stream of the packet's connection, when it is one the plugin decodes.
bool zmq_stream_of(packet_info* pinfo, unsigned& stream) {
    const bool ip = (pinfo->net_src.type == AT_IPv4 && pinfo->net_dst.type == AT_IPv4) ||
                    (pinfo->net_src.type == AT_IPv6 && pinfo->net_dst.type == AT_IPv6);
    if (!ip || pinfo->ptype != PT_TCP) return false;
    conversation_t* conv = find_conversation(pinfo->num, &pinfo->net_src, &pinfo->net_dst,
                                             CONVERSATION_TCP, pinfo->srcport, pinfo->destport, 0);
    static const int proto_tcp = proto_get_id_by_filter_name("tcp");
    const auto* tcpd =
        conv ? static_cast<const tcp_analysis*>(conversation_get_proto_data(conv, proto_tcp))
             : nullptr;
    if (!tcpd || !has_conversation_state(tcpd->stream)) return false;
    stream = tcpd->stream;
    return true;
}

gchar* follow_conv_filter(epan_dissect_t*, packet_info* pinfo, unsigned* stream,
                          unsigned* sub_stream) {
    unsigned found = 0;
    if (!zmq_stream_of(pinfo, found)) return nullptr;
    if (stream) *stream = found;
    if (sub_stream) *sub_stream = 0;
    return g_strdup_printf("tcp.stream eq %u", found);
}

gchar* follow_index_filter(unsigned stream, unsigned) {
    return g_strdup_printf("tcp.stream eq %u", stream);
}

gchar* follow_address_filter(address* src, address* dst, int src_port, int dst_port) {
    const char* ip = src->type == AT_IPv6 ? "ipv6" : "ip";
    gchar* s = address_to_str(nullptr, src);
    gchar* d = address_to_str(nullptr, dst);
    gchar* filter = g_strdup_printf(
        "((%s.src eq %s and tcp.srcport eq %d) and (%s.dst eq %s and tcp.dstport eq %d)) or "
        "((%s.src eq %s and tcp.srcport eq %d) and (%s.dst eq %s and tcp.dstport eq %d))",
        ip, s, src_port, ip, d, dst_port, ip, d, dst_port, ip, s, src_port);
    wmem_free(nullptr, s);
    wmem_free(nullptr, d);
    return filter;
}

}  // namespace

void register_follow() {
    register_follow_stream(fields.proto, "zmq", follow_conv_filter, follow_index_filter,
                           follow_address_filter, tcp_port_to_display, follow_packet
#if ZMQ_WS_AT_LEAST(4, 4)
                           ,
                           get_tcp_stream_count, nullptr
#endif
    );
}

}  // namespace zmqdiss
