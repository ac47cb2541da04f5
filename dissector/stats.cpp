#include "stats.hpp"

#include <algorithm>
#include <string>

#include "fields.hpp"
#include "state.hpp"
#include "views.hpp"

extern "C" {
#include <epan/to_str.h>
}

namespace zmqdiss {

int zmq_tap = -1;

namespace {

enum SrtRow : int { srt_request_reply = 0, srt_ping_pong = 1 };

void srt_init(struct register_srt* srt, GArray* srt_array) {
    (void)srt;
    srt_stat_table* table =
        init_srt_table("ZMQ", nullptr, srt_array, 2, nullptr, "zmq.response_to", nullptr);
    init_srt_table_row(table, srt_request_reply, "Request/Reply");
    init_srt_table_row(table, srt_ping_pong, "PING/PONG");
}

tap_packet_status srt_packet(void* tapdata, packet_info* pinfo, epan_dissect_t*, const void* data,
                             tap_flags_t) {
    const PduRecord* rec = static_cast<const TapUnit*>(data)->rec;
    if (rec->pairing.response_to == 0) return TAP_PACKET_DONT_REDRAW;
    auto* srt = static_cast<srt_data_t*>(tapdata);
    auto* table = g_array_index(srt->srt_array, srt_stat_table*, 0);
    const int row = rec->pairing.kind == Pairing::Kind::Ping ? srt_ping_pong : srt_request_reply;
    nstime_t request_time;
    request_time.secs = time_t(rec->pairing.request_time_ns / 1'000'000'000);
    request_time.nsecs = int(rec->pairing.request_time_ns % 1'000'000'000);
    add_srt_table_data(table, row, &request_time, pinfo);
    return TAP_PACKET_REDRAW;
}

// Stats tree nodes.
int st_commands = -1, st_mechanisms = -1, st_socket_types = -1, st_sizes = -1, st_messages = -1;

void tree_init(stats_tree* st) {
    st_commands = stats_tree_create_node(st, "Commands", 0, STAT_DT_INT, TRUE);
    st_mechanisms = stats_tree_create_node(st, "Mechanisms (greetings)", 0, STAT_DT_INT, TRUE);
    st_socket_types = stats_tree_create_node(st, "Socket types (handshakes)", 0, STAT_DT_INT, TRUE);
    st_messages = stats_tree_create_node(st, "Messages", 0, STAT_DT_INT, TRUE);
    st_sizes = stats_tree_create_range_node(st, "Message sizes (bytes)", 0, "0-15", "16-255",
                                            "256-4095", "4096-65535", "65536-", nullptr);
}

void tick_command(stats_tree* st, const std::string& name) {
    tick_stat_node(st, "Commands", 0, TRUE);
    tick_stat_node(st, name.c_str(), st_commands, FALSE);
}

tap_packet_status tree_packet(stats_tree* st, packet_info*, epan_dissect_t*, const void* data,
                              tap_flags_t) {
    const PduRecord* rec = static_cast<const TapUnit*>(data)->rec;
    if (rec->greeting) {
        tick_stat_node(st, "Mechanisms (greetings)", 0, TRUE);
        const std::string& m = rec->greeting->mechanism_text;
        tick_stat_node(st, m.empty() ? "(ZMTP 1.0/2.0)" : m.c_str(), st_mechanisms, FALSE);
    }
    if (rec->has_command) tick_command(st, std::string(zmtp::command_kind_name(rec->command_kind)));
    if (rec->has_plaintext && rec->plaintext_is_command) {
        tick_command(
            st, std::string(zmtp::command_kind_name(rec->inner_command_kind)) + " (decrypted)");
    }
    if (rec->handshake && rec->handshake->succeeded) {
        for (auto t : rec->socket_types) {
            tick_stat_node(st, "Socket types (handshakes)", 0, TRUE);
            tick_stat_node(st, std::string(zmtp::socket_type_name(t)).c_str(), st_socket_types,
                           FALSE);
        }
    }
    if (rec->message && !rec->message->subscription_only) {
        tick_stat_node(st, "Messages", 0, TRUE);
        tick_stat_node(st, rec->message->decrypted ? "decrypted" : "plaintext", st_messages, FALSE);
        const uint64_t size = std::min<uint64_t>(rec->message->body_bytes, INT32_MAX);
        tick_stat_node(st, "Message sizes (bytes)", 0, TRUE);
        stats_tree_tick_range(st, "Message sizes (bytes)", 0, int(size));
    }
    return TAP_PACKET_REDRAW;
}

// Connections (tshark -z zmq_conv,tree): what the Conversations table has no column for, per
// connection (TCP stream): mechanism and socket types, messages and bytes each way, decrypted
// or not, and CURVE boxes that did not open.
int st_connections = -1;

void conv_tree_init(stats_tree* st) {
    st_connections = stats_tree_create_node(st, "Connections", 0, STAT_DT_INT, TRUE);
}

std::string mechanism_text(const PduRecord& rec) {
    if (rec.mechanism == zmtp::Mechanism::Unknown) {
        return rec.plaintext_without_handshake ? "NULL or PLAIN (handshake not captured)"
                                               : "mechanism unknown";
    }
    std::string text(zmtp::mechanism_name(rec.mechanism));
    return rec.mechanism_inferred ? text + " (inferred)" : text;
}

std::string connection_text(const PduRecord& rec, packet_info* pinfo, bool from_client) {
    const address& client = from_client ? pinfo->src : pinfo->dst;
    const address& server = from_client ? pinfo->dst : pinfo->src;
    const uint32_t client_port = from_client ? pinfo->srcport : pinfo->destport;
    const uint32_t server_port = from_client ? pinfo->destport : pinfo->srcport;
    return "tcp.stream " + std::to_string(rec.tcp_stream) + ": " +
           address_to_str(pinfo->pool, &client) + ":" + std::to_string(client_port) + " -> " +
           address_to_str(pinfo->pool, &server) + ":" + std::to_string(server_port);
}

tap_packet_status conv_tree_packet(stats_tree* st, packet_info* pinfo, epan_dissect_t*,
                                   const void* data, tap_flags_t) {
    const PduRecord& rec = *static_cast<const TapUnit*>(data)->rec;
    const bool closed_box =
        rec.has_command && rec.command_kind == zmtp::CommandKind::Message && !rec.curve.box_opened;
    if (!rec.message && !closed_box) return TAP_PACKET_DONT_REDRAW;
    const bool from_client = rec.dir == zmtp::Direction::ClientToServer;
    tick_stat_node(st, "Connections", 0, TRUE);
    const int conn =
        tick_stat_node(st, connection_text(rec, pinfo, from_client).c_str(), st_connections, TRUE);
    const auto client_type = rec.socket_types[zmtp::index_of(zmtp::Direction::ClientToServer)];
    const auto server_type = rec.socket_types[zmtp::index_of(zmtp::Direction::ServerToClient)];
    std::string what = mechanism_text(rec) + ", " +
                       std::string(zmtp::socket_type_name(client_type)) + " -> " +
                       std::string(zmtp::socket_type_name(server_type));
    if (rec.socket_types_inferred) what += " (inferred)";
    tick_stat_node(st, what.c_str(), conn, FALSE);
    const std::string dir = from_client ? "client -> server" : "server -> client";
    if (closed_box) {
        tick_stat_node(st, (dir + ": CURVE boxes not decrypted").c_str(), conn, FALSE);
        return TAP_PACKET_REDRAW;
    }
    const int messages = tick_stat_node(st, (dir + ": messages").c_str(), conn, TRUE);
    tick_stat_node(st, rec.message->decrypted ? "decrypted" : "plaintext", messages, FALSE);
    increase_stat_node(st, (dir + ": bytes").c_str(), conn, FALSE,
                       int(std::min<uint64_t>(rec.message->body_bytes, INT32_MAX)));
    return TAP_PACKET_REDRAW;
}

}  // namespace

void register_stats() {
    zmq_tap = register_tap("zmq");
    register_srt_table(fields.proto, "zmq", 1, srt_packet, srt_init, nullptr);
    register_views();
}

void register_stats_tree() {
    stats_tree_register_plugin("zmq", "zmq", "ZeroMQ (ZMTP)/Overview", 0, tree_packet, tree_init,
                               nullptr);
    stats_tree_register_plugin("zmq", "zmq_conv", "ZeroMQ (ZMTP)/Connections", 0, conv_tree_packet,
                               conv_tree_init, nullptr);
}

}  // namespace zmqdiss
