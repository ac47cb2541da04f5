// Conversations and Endpoints, the Flow Graph and the credentials tap (dissector/README.md,
// "Wireshark's views"). Everything comes from the records libzmtp's events filled on the first
// pass (TapUnit, stats.hpp), so every pass shows the same.
#include "views.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <string>
#include <type_traits>

#include "fields.hpp"
#include "stats.hpp"

extern "C" {
#include <epan/conversation_table.h>
}

#include "zmtp/z85.hpp"

// Wireshark's epan/sequence_analysis.h is not among the installed development headers
// (Debian's wireshark-dev, 4.0 to 4.6), though libwireshark exports its functions: the part of
// it the plugin uses is declared here. seq_analysis_item_t's flags became C99 bools in 4.4 (the
// offsets below were read from libwireshark 4.0.17 and 4.4.19, where frame_label, comment and
// has_color_filter are written by sequence_analysis_use_col_info_as_label_comment and
// sequence_analysis_use_color_filter); the items are allocated by libwireshark itself.
namespace zmqdiss::seq {

using Flag = std::conditional_t<ZMQ_WS_AT_LEAST(4, 4), bool, gboolean>;

struct Item {  // the leading members of seq_analysis_item_t
    guint32 frame_number;
    address src_addr;
    guint16 port_src;
    address dst_addr;
    guint16 port_dst;
    gchar* frame_label;
    gchar* time_str;
    gchar* comment;
    guint16 conv_num;
    unsigned fg_color;
    unsigned bg_color;
    Flag has_color_filter;
    Flag display;
    unsigned src_node;
    unsigned dst_node;
    guint16 line_style;
};
static_assert(offsetof(Item, frame_label) == 0x48 && offsetof(Item, comment) == 0x58 &&
                  offsetof(Item, has_color_filter) == 0x6c,
              "seq_analysis_item_t as libwireshark lays it out");

struct Info {  // the leading members of seq_analysis_info_t
    const char* name;
    Flag any_addr;
    int nconv;
    GQueue* items;
};

}  // namespace zmqdiss::seq

extern "C" {
WS_DLL_PUBLIC void register_seq_analysis(const char* name, const char* ui_name, const int proto_id,
                                         const char* tap_listener, guint tap_flags,
                                         tap_packet_cb tap_func);
WS_DLL_PUBLIC zmqdiss::seq::Item* sequence_analysis_create_sai_with_addresses(
    packet_info* pinfo, zmqdiss::seq::Info* sainfo);
}

namespace zmqdiss {
namespace {

// ---- Credentials ------------------------------------------------------------------------

int credentials_tap = -1;

// tap_credential_t of Wireshark's ui/tap-credentials.h (not installed either; the same on
// 4.0, 4.4 and 4.6), which the credentials tap carries.
struct TapCredential {
    unsigned num;
    unsigned username_num;
    unsigned password_hf_id;
    char* username;
    const char* proto;
    char* info;
};

void queue_credential(packet_info* pinfo, const std::string& username, int field,
                      const char* info) {
    auto* c = wmem_new0(pinfo->pool, TapCredential);
    c->num = pinfo->num;
    c->username_num = pinfo->num;
    c->password_hf_id = unsigned(field);
    c->username = wmem_strdup(pinfo->pool, username.c_str());
    c->proto = "ZMQ";
    c->info = wmem_strdup(pinfo->pool, info);
    tap_queue_packet(credentials_tap, pinfo, c);
}

// ---- Conversations and endpoints --------------------------------------------------------

// The filters of a ZMQ conversation are its TCP connection's.
const char* filter_type(const address& addr, conv_filter_type_e filter) {
    const bool v6 = addr.type == AT_IPv6;
    switch (filter) {
        case CONV_FT_SRC_PORT:
            return "tcp.srcport";
        case CONV_FT_DST_PORT:
            return "tcp.dstport";
        case CONV_FT_ANY_PORT:
            return "tcp.port";
        case CONV_FT_SRC_ADDRESS:
            return v6 ? "ipv6.src" : "ip.src";
        case CONV_FT_DST_ADDRESS:
            return v6 ? "ipv6.dst" : "ip.dst";
        case CONV_FT_ANY_ADDRESS:
            return v6 ? "ipv6.addr" : "ip.addr";
        default:
            return CONV_FILTER_INVALID;
    }
}

const char* conv_filter_type(conv_item_t* conv, conv_filter_type_e filter) {
    if (!conv) {
        return filter == CONV_FT_SRC_PORT || filter == CONV_FT_DST_PORT ||
                       filter == CONV_FT_ANY_PORT
                   ? filter_type(address{}, filter)
                   : CONV_FILTER_INVALID;
    }
    if (conv->src_address.type != AT_IPv4 && conv->src_address.type != AT_IPv6) {
        return CONV_FILTER_INVALID;
    }
    return filter_type(conv->src_address, filter);
}

const char* endpoint_filter_type(endpoint_item_t* endpoint, conv_filter_type_e filter) {
    if (!endpoint) {
        return filter == CONV_FT_SRC_PORT || filter == CONV_FT_DST_PORT ||
                       filter == CONV_FT_ANY_PORT
                   ? filter_type(address{}, filter)
                   : CONV_FILTER_INVALID;
    }
    if (endpoint->myaddress.type != AT_IPv4 && endpoint->myaddress.type != AT_IPv6) {
        return CONV_FILTER_INVALID;
    }
    return filter_type(endpoint->myaddress, filter);
}

ct_dissector_info_t conv_info = {&conv_filter_type};
et_dissector_info_t endpoint_info = {&endpoint_filter_type};

int message_bytes(const MessageInfo& m) {
    return int(std::min<uint64_t>(m.body_bytes, INT_MAX));
}

// One row per connection (its TCP stream), the client as A; packets are ZMQ messages, bytes
// their body bytes.
tap_packet_status conv_packet(void* tapdata, packet_info* pinfo, epan_dissect_t*, const void* data,
                              tap_flags_t flags) {
    auto* hash = static_cast<conv_hash_t*>(tapdata);
    hash->flags = flags;
    const PduRecord& rec = *static_cast<const TapUnit*>(data)->rec;
    if (!rec.message) return TAP_PACKET_DONT_REDRAW;
    const bool from_client = rec.dir == zmtp::Direction::ClientToServer;
    // A row takes its A side from the first data added to it: the client, whoever sends first.
    add_conversation_table_data_with_conv_id(
        hash, from_client ? &pinfo->src : &pinfo->dst, from_client ? &pinfo->dst : &pinfo->src,
        from_client ? pinfo->srcport : pinfo->destport,
        from_client ? pinfo->destport : pinfo->srcport, conv_id_t(rec.tcp_stream), 0, 0,
        &pinfo->rel_ts, &pinfo->abs_ts, &conv_info, CONVERSATION_TCP);
    add_conversation_table_data_with_conv_id(hash, &pinfo->src, &pinfo->dst, pinfo->srcport,
                                             pinfo->destport, conv_id_t(rec.tcp_stream), 1,
                                             message_bytes(*rec.message), &pinfo->rel_ts,
                                             &pinfo->abs_ts, &conv_info, CONVERSATION_TCP);
    return TAP_PACKET_REDRAW;
}

tap_packet_status endpoint_packet(void* tapdata, packet_info* pinfo, epan_dissect_t*,
                                  const void* data, tap_flags_t flags) {
    auto* hash = static_cast<conv_hash_t*>(tapdata);
    hash->flags = flags;
    const PduRecord& rec = *static_cast<const TapUnit*>(data)->rec;
    if (!rec.message) return TAP_PACKET_DONT_REDRAW;
    const int bytes = message_bytes(*rec.message);
    add_endpoint_table_data(hash, &pinfo->src, pinfo->srcport, TRUE, 1, bytes, &endpoint_info,
                            ENDPOINT_TCP);
    add_endpoint_table_data(hash, &pinfo->dst, pinfo->destport, FALSE, 1, bytes, &endpoint_info,
                            ENDPOINT_TCP);
    return TAP_PACKET_REDRAW;
}

// ---- Flow graph -------------------------------------------------------------------------

// The arrow's label: the greeting, the command's name, or a message with its first frame's
// text. Empty for units that say nothing on their own (a frame inside a message, bytes not
// decoded, a message the capture has only part of).
std::string flow_label(const TapUnit& unit) {
    const PduRecord& rec = *unit.rec;
    if (rec.undecoded != Undecoded::None) return {};
    if (rec.greeting) return unit.summary;
    if (rec.has_command && rec.command_kind != zmtp::CommandKind::Message) {
        return std::string(zmtp::command_kind_name(rec.command_kind));
    }
    if (rec.has_plaintext && rec.plaintext_is_command) {  // a command inside a CURVE MESSAGE
        return std::string(zmtp::command_kind_name(rec.inner_command_kind));
    }
    if (rec.message) {
        const MessageInfo& m = *rec.message;
        return m.preview.empty() ? std::string("MESSAGE (empty)") : "MESSAGE " + m.preview;
    }
    if (rec.has_command && !rec.curve.box_opened) return "MESSAGE (not decrypted)";
    return {};
}

tap_packet_status flow_packet(void* tapdata, packet_info* pinfo, epan_dissect_t*, const void* data,
                              tap_flags_t) {
    auto* sainfo = static_cast<seq::Info*>(tapdata);
    const auto& unit = *static_cast<const TapUnit*>(data);
    const std::string label = flow_label(unit);
    if (label.empty()) return TAP_PACKET_DONT_REDRAW;
    seq::Item* sai = sequence_analysis_create_sai_with_addresses(pinfo, sainfo);
    if (!sai) return TAP_PACKET_DONT_REDRAW;
    // The item as libwireshark filled it: its addresses and time where the layout puts them.
    const address& src = sainfo->any_addr ? pinfo->net_src : pinfo->src;
    if (sai->src_addr.type != src.type || sai->time_str == nullptr) return TAP_PACKET_DONT_REDRAW;
    sai->frame_number = pinfo->num;
    sai->port_src = guint16(pinfo->srcport);
    sai->port_dst = guint16(pinfo->destport);
    sai->frame_label = g_strdup(label.c_str());
    sai->comment = g_strdup(unit.summary);
    sai->line_style = 1;
    sai->conv_num = guint16(unit.rec->tcp_stream);
    sai->display = TRUE;
    g_queue_push_tail(sainfo->items, sai);
    return TAP_PACKET_REDRAW;
}

}  // namespace

void queue_plain_credentials(packet_info* pinfo, std::string_view username) {
    queue_credential(pinfo, printable(username), fields.plain_password, "PLAIN HELLO");
}

void queue_curve_client_key(packet_info* pinfo, const zmtp::Key& client_public) {
    const auto z85 = zmtp::z85_encode(client_public);
    if (!z85) return;
    queue_credential(pinfo, *z85, fields.curve_client_public,
                     "CURVE client public key (C), from INITIATE");
}

void register_views() {
    credentials_tap = register_tap("credentials");  // Wireshark's own, shared by dissectors
    register_conversation_table(fields.proto, FALSE, conv_packet, endpoint_packet);
    register_seq_analysis("zmq", "ZMQ Flows", fields.proto, "zmq", TL_REQUIRES_NOTHING,
                          flow_packet);
    register_follow();
}

}  // namespace zmqdiss
