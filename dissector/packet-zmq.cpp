// Registration of the ZMQ protocol (ZMTP and CurveZMQ) and its glue to TCP: ports, Decode As,
// the greeting heuristic, reassembly with tcp_dissect_pdus, preferences and key tables.
//
// Wireshark reports errors with longjmp: code that can throw (tvb accessors out of range,
// sub-dissectors) must not run while C++ objects with destructors are alive in the frames it
// would skip. Hence plain structs here, bounds checked before every tvb access, and
// sub-dissectors called from C inside TRY/CATCH (payload_call.c).
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "fields.hpp"
#include "keys.hpp"
#include "packet-zmq.hpp"
#include "state.hpp"
#include "stats.hpp"
#include "tree.hpp"
#include "ws.hpp"

#include "payload_call.h"

extern "C" {
#include <epan/prefs-int.h>  // prefs_get_bool_value: TCP's preferences
}

#include "zmtp/stream_decoder.hpp"
#include "zmtp/z85.hpp"

namespace zmqdiss {
namespace {

// ctrlX Data Layer; shared with their owners (dissector/README.md, "Ports that other dissectors
// own"): the port of ZeroMQ's own examples (SigComp's), X11's and HTTP's 8080.
constexpr const char* default_ports = "2069-2070,5555,6000-6063,8080";

dissector_handle_t zmq_handle;
// On a shared port: ZMQ or the port's previous owner, decided per conversation. It has no
// protocol, so Wireshark lists only the dissector it hands a packet to in frame.protocols.
dissector_handle_t shared_port_handle;
dissector_table_t payload_table;
heur_dissector_list_t payload_heuristics;
const char* keylog_file_pref = "";

// ---- Keys table (UAT) -------------------------------------------------------------------

struct KeyRow {
    char* label;
    char* key;
};
KeyRow* key_rows = nullptr;
guint key_row_count = 0;

UAT_CSTRING_CB_DEF(zmq_keys, label, KeyRow)
UAT_CSTRING_CB_DEF(zmq_keys, key, KeyRow)

UatCheckResult check_label(void*, const char* text, unsigned len, const void*, const void*,
                           char** err) {
    if (parse_key_label(std::string_view(text, len))) return TRUE;
    *err = g_strdup(
        "Label must be SERVER_PUBLIC, SERVER_SECRET, CLIENT_PUBLIC, CLIENT_SECRET, "
        "EPHEMERAL_SECRET or SESSION_KEY");
    return FALSE;
}

UatCheckResult check_key(void*, const char* text, unsigned len, const void*, const void*,
                         char** err) {
    if (zmtp::parse_key(std::string_view(text, len))) return TRUE;
    // Never echo the text: it may be a secret key.
    *err = g_strdup("Key must be 32 bytes: 40 Z85 characters or 64 hex digits");
    return FALSE;
}

void* copy_key_row(void* dest, const void* source, size_t) {
    auto* d = static_cast<KeyRow*>(dest);
    const auto* s = static_cast<const KeyRow*>(source);
    d->label = g_strdup(s->label);
    d->key = g_strdup(s->key);
    return d;
}

void free_key_row(void* record) {
    auto* r = static_cast<KeyRow*>(record);
    g_free(r->label);
    g_free(r->key);
}

void keys_table_changed() {
    std::vector<std::pair<zmtp::KeyLabel, zmtp::Key>> keys;
    for (guint i = 0; i < key_row_count; ++i) {
        const KeyRow& row = key_rows[i];
        const auto label = parse_key_label(row.label ? row.label : "");
        const auto key = zmtp::parse_key(row.key ? row.key : "");
        if (label && key) keys.emplace_back(*label, *key);
    }
    key_config().set_table(std::move(keys));
}

uat_t* make_keys_uat() {
    static uat_field_t columns[] = {
        UAT_FLD_CSTRING_OTHER(zmq_keys, label, "Label", check_label,
                              "SERVER_PUBLIC, SERVER_SECRET, CLIENT_PUBLIC, CLIENT_SECRET, "
                              "EPHEMERAL_SECRET or SESSION_KEY (as in a key log file)"),
        UAT_FLD_CSTRING_OTHER(zmq_keys, key, "Key", check_key,
                              "32-byte key: 40 Z85 characters or 64 hex digits"),
        UAT_END_FIELDS};
    return uat_new("ZMQ CURVE keys", sizeof(KeyRow), "zmq_curve_keys", TRUE, &key_rows,
                   &key_row_count, UAT_AFFECTS_DISSECTION, nullptr, copy_key_row, nullptr,
                   free_key_row, keys_table_changed, nullptr, columns);
}

// ---- Payload protocols by port (UAT) ----------------------------------------------------

struct PayloadRow {
    guint port;
    char* protocol;
};
PayloadRow* payload_rows = nullptr;
guint payload_row_count = 0;
std::unordered_map<uint32_t, dissector_handle_t>& payload_by_port() {
    static std::unordered_map<uint32_t, dissector_handle_t> map;
    return map;
}

UAT_DEC_CB_DEF(zmq_payload, port, PayloadRow)
UAT_CSTRING_CB_DEF(zmq_payload, protocol, PayloadRow)

void* copy_payload_row(void* dest, const void* source, size_t) {
    auto* d = static_cast<PayloadRow*>(dest);
    const auto* s = static_cast<const PayloadRow*>(source);
    d->port = s->port;
    d->protocol = g_strdup(s->protocol);
    return d;
}

void free_payload_row(void* record) {
    g_free(static_cast<PayloadRow*>(record)->protocol);
}

void payload_table_changed() {
    auto& map = payload_by_port();
    map.clear();
    for (guint i = 0; i < payload_row_count; ++i) {
        const PayloadRow& row = payload_rows[i];
        dissector_handle_t h = row.protocol ? find_dissector(row.protocol) : nullptr;
        if (h) map[row.port] = h;
    }
}

uat_t* make_payload_uat() {
    static uat_field_t columns[] = {
        UAT_FLD_DEC(zmq_payload, port, "TCP port", "Server (or client) TCP port of the connection"),
        UAT_FLD_CSTRING_OTHER(zmq_payload, protocol, "Protocol", uat_fld_chk_proto,
                              "Dissector for message bodies, e.g. json"),
        UAT_END_FIELDS};
    return uat_new("ZMQ payload protocols", sizeof(PayloadRow), "zmq_payload_protocols", TRUE,
                   &payload_rows, &payload_row_count, UAT_AFFECTS_DISSECTION, nullptr,
                   copy_payload_row, nullptr, free_payload_row, payload_table_changed, nullptr,
                   columns);
}

// ---- Decode As for message bodies -------------------------------------------------------

guint server_port_of(packet_info* pinfo) {
    conversation_t* conv = find_conversation_pinfo(pinfo, 0);
    struct tcp_analysis* tcpd = conv ? get_tcp_conversation_data(conv, pinfo) : nullptr;
    if (tcpd && tcpd->server_port) return tcpd->server_port;
    return MIN(pinfo->srcport, pinfo->destport);
}

void decode_as_prompt(packet_info* pinfo, gchar* result) {
    g_snprintf(result, MAX_DECODE_AS_PROMPT_LEN, "ZMQ message bodies on TCP port %u as",
               server_port_of(pinfo));
}

gpointer decode_as_value(packet_info* pinfo) {
    return GUINT_TO_POINTER(server_port_of(pinfo));
}

void register_payload_decode_as() {
    static build_valid_func values[] = {decode_as_value};
    static decode_as_value_t value = {decode_as_prompt, 1, values};
    static decode_as_t da = {"zmq",
                             "zmq.port",
                             1,
                             0,
                             &value,
                             nullptr,
                             nullptr,
                             decode_as_default_populate_list,
                             decode_as_default_reset,
                             decode_as_default_change,
                             nullptr};
    register_decode_as(&da);
}

// ---- Greeting recognition ---------------------------------------------------------------

// libzmtp's greeting rule (zmtp::match_greeting) on the segment's first bytes. libzmq sends 10,
// 1 and 53 bytes in separate segments, so the rule decides on as little as the signature.
zmtp::GreetingMatch match_greeting(tvbuff_t* tvb) {
    const int avail = std::min<int>(tvb_captured_length(tvb), zmtp::greeting_v3_size);
    const uint8_t* b = avail > 0 ? tvb_get_ptr(tvb, 0, avail) : nullptr;
    return zmtp::match_greeting(zmtp::Bytes(b, size_t(std::max(avail, 0))));
}

bool looks_like_greeting(tvbuff_t* tvb) {
    return match_greeting(tvb) == zmtp::GreetingMatch::Yes;
}

// ---- Ports shared with other dissectors -------------------------------------------------

// The owners of TCP ports as the other dissectors registered them, taken before ZMQ joins
// the table: adding a port to ZMQ's range (at start-up or later by preference) replaces the
// entry, and Wireshark keeps no trace of the previous owner.
std::unordered_map<uint32_t, dissector_handle_t>& owners_before_zmq() {
    static std::unordered_map<uint32_t, dissector_handle_t> owners;
    return owners;
}

void remember_port_owner(const gchar*, ftenum_t, gpointer key, gpointer entry, gpointer) {
    dissector_handle_t owner = dtbl_entry_get_handle(static_cast<dtbl_entry_t*>(entry));
    if (owner && owner != zmq_handle) owners_before_zmq()[GPOINTER_TO_UINT(key)] = owner;
}

// The dissector that owned `port` before ZMQ joined it, or nullptr.
dissector_handle_t owner_before_zmq(uint32_t port) {
    const auto& owners = owners_before_zmq();
    auto it = owners.find(port);
    return it == owners.end() ? nullptr : it->second;
}

bool in_zmq_range(uint32_t port) {
    const range_t* ours = prefs_get_range_value("zmq", "tcp.port");
    return ours && value_is_in_range(ours, port);
}

// A port of ZMQ's range that another dissector owned gets the shared-port handle; a port that
// left the range goes back to its owner (the range preference's update deleted its entry).
// The range preference gives its ports to ZMQ as Decode As does (only the current handle, the
// initial one left empty after a change of the range); a Decode As to ZMQ on a shared port
// keeps the shared-port handle as the initial one, and stays.
void share_ports() {
    dissector_table_t tcp = find_dissector_table("tcp.port");
    for (const auto& [port, owner] : owners_before_zmq()) {
        dissector_handle_t current = dissector_get_uint_handle(tcp, port);
        dissector_handle_t initial = dissector_get_default_uint_handle("tcp.port", port);
        if (in_zmq_range(port)) {
            if (current == zmq_handle && initial != shared_port_handle) {
                dissector_add_uint("tcp.port", port, shared_port_handle);
            }
        } else if (!current || (current == shared_port_handle && initial == shared_port_handle)) {
            dissector_add_uint("tcp.port", port, owner);
        }
    }
}

// Wireshark's own zmtp dissector (4.4 and later) replaces ZMQ on a port of ZMQ's range that the
// user gives it (zmtp.tcp.port, Decode As): TCP then never calls ZMQ there. Said once per port,
// at the start of a dissection (after the preferences), with how to pick ZMQ instead.
void note_ports_taken_by_zmtp() {
    static std::set<uint32_t> noted;
    dissector_handle_t zmtp = find_dissector("zmtp");
    const range_t* ours = prefs_get_range_value("zmq", "tcp.port");
    if (!zmtp || !ours) return;
    dissector_table_t tcp = find_dissector_table("tcp.port");
    for (unsigned i = 0; i < ours->nranges; ++i) {
        for (uint32_t port = ours->ranges[i].low; port <= ours->ranges[i].high; ++port) {
            if (dissector_get_uint_handle(tcp, port) != zmtp || !noted.insert(port).second) {
                continue;
            }
            report_warning(
                "ZMQ: TCP port %u is in ZMQ's port range, but Wireshark's own zmtp dissector "
                "decodes it (zmtp.tcp.port or Decode As), without CurveZMQ decryption. To decode "
                "it with ZMQ: Decode As TCP port %u as ZMQ (tshark: -d tcp.port==%u,zmq), or take "
                "%u out of zmtp.tcp.port.",
                port, port, port, port);
        }
    }
}

// On a shared port, a conversation is ZMQ's when its first payload starts a ZMTP greeting
// (decided once, so every pass agrees). Returns nullopt while too few bytes tell.
std::optional<bool> starts_with_greeting(tvbuff_t* tvb) {
    const zmtp::GreetingMatch match = match_greeting(tvb);
    if (match == zmtp::GreetingMatch::NeedMore) return std::nullopt;
    return match == zmtp::GreetingMatch::Yes;
}

// ---- TCP glue ---------------------------------------------------------------------------

// What tcp_dissect_pdus passes between its two callbacks. Plain data only.
struct PduContext {
    ConvState* conv;
    zmtp::Direction dir;
    uint32_t base_seq;  // TCP sequence number of the tvb's first byte
    uint32_t unit_seq;  // of the unit get_unit_len was last asked about
    Ports ports;
    bool first_seq_known;  // the direction's first byte has TCP sequence number first_seq
    uint32_t first_seq;
};

// TCP's boolean preferences the plugin depends on (false when Wireshark has no such one).
enum class TcpPref { AnalyzeSeq, RelativeSeq, OutOfOrder };

bool tcp_preference(TcpPref which) {
    static pref_t* prefs[3] = {};
    static bool looked_up = false;
    if (!looked_up) {  // preferences live as long as the program
        looked_up = true;
        if (module_t* tcp = prefs_find_module("tcp")) {
            prefs[0] = prefs_find_preference(tcp, "analyze_sequence_numbers");
            prefs[1] = prefs_find_preference(tcp, "relative_sequence_numbers");
            prefs[2] = prefs_find_preference(tcp, "reassemble_out_of_order");
        }
    }
    pref_t* pref = prefs[int(which)];
    return pref && prefs_get_bool_value(pref, pref_current);
}

bool same_endpoint(const ConvState& st, const address& addr, uint32_t port) {
    return port == st.client_port && addr.type == st.client_addr_type &&
           size_t(addr.len) == st.client_addr.size() &&
           (addr.len == 0 || std::memcmp(addr.data, st.client_addr.data(), addr.len) == 0);
}

bool is_zmq_port(uint32_t port) {
    dissector_handle_t h = dissector_get_uint_handle(find_dissector_table("tcp.port"), port);
    return h && (h == zmq_handle || h == shared_port_handle);
}

// The TCP client is the side that sent the SYN; without the SYN, the side that is not on a
// ZMQ port (preference or Decode As), and failing that, the first side seen.
void identify_client(ConvState& st, packet_info* pinfo, const struct tcp_analysis* tcpd) {
    st.saw_syn = tcpd->server_port != 0;
    bool from_server = false;
    if (st.saw_syn) {
        from_server = pinfo->srcport == tcpd->server_port && pinfo->destport != tcpd->server_port;
    } else {
        from_server = is_zmq_port(pinfo->srcport) && !is_zmq_port(pinfo->destport);
    }
    const address& client = from_server ? pinfo->dst : pinfo->src;
    const auto* bytes = static_cast<const uint8_t*>(client.data);
    st.client_addr.assign(bytes, bytes + client.len);
    st.client_addr_type = client.type;
    st.client_port = from_server ? pinfo->destport : pinfo->srcport;
    st.server_port = from_server ? pinfo->srcport : pinfo->destport;
    st.client_known = true;
}

int64_t abs_time_ns(const packet_info* pinfo) {
    return int64_t(pinfo->abs_ts.secs) * 1'000'000'000 + pinfo->abs_ts.nsecs;
}

// The size of the PDU at `offset`: a ZMTP unit, or (while the direction searches for a frame
// boundary after lost bytes or a late start, docs/protocol.md 9) the undecoded bytes before the
// boundary. Only the tvb's own first byte is taken for a segment's first: TCP hands the bytes
// that follow a reassembled unit (or one it could not reassemble) to a new call, starting where
// that unit ended.
guint get_unit_len(packet_info* pinfo, tvbuff_t* tvb, int offset, void* data) {
    auto* ctx = static_cast<PduContext*>(data);
    ctx->unit_seq = ctx->base_seq + uint32_t(offset);
    const bool first_pass = !PINFO_FD_VISITED(pinfo);
    const int avail = std::max(tvb_captured_length_remaining(tvb, offset), 0);
    const int reported = std::max(tvb_reported_length_remaining(tvb, offset), 0);
    // Only the head: copying all of a large reassembled buffer for each unit would be slow.
    int shown = std::min<int>(avail, ConvState::greeting_head_size);
    const uint8_t* bytes = shown > 0 ? tvb_get_ptr(tvb, offset, shown) : nullptr;
    if (first_pass &&
        ctx->conv->begin_unit(
            ctx->dir, ctx->unit_seq, zmtp::Bytes(bytes, size_t(shown)),
            ctx->first_seq_known ? std::optional<uint32_t>(ctx->first_seq) : std::nullopt,
            pinfo->num)) {
        shown = avail;  // the boundary search looks at the rest of the segment
        bytes = shown > 0 ? tvb_get_ptr(tvb, offset, shown) : nullptr;
    }
    uint64_t size =
        ctx->conv->unit_size(ctx->dir, ctx->unit_seq, zmtp::Bytes(bytes, size_t(shown)),
                             size_t(avail), size_t(reported), offset == 0, first_pass, pinfo->num);
    // Without reassembly (TCP preference off) a partial unit is all there is.
    if (size == 0 && !pinfo->can_desegment) size = guint(std::max(avail, 1));
    if (size > G_MAXINT) size = guint(std::max(avail, 1));  // tcp_dissect_pdus offsets are int
    return guint(size);
}

int dissect_unit(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void* data) {
    auto* ctx = static_cast<PduContext*>(data);
    PduRecord* rec = nullptr;
    if (!PINFO_FD_VISITED(pinfo)) {
        const guint captured = tvb_captured_length(tvb);
        const uint8_t* bytes = captured ? tvb_get_ptr(tvb, 0, int(captured)) : nullptr;
        rec = ctx->conv->process(ctx->dir, ctx->unit_seq, bytes, captured, tvb_reported_length(tvb),
                                 pinfo->num, abs_time_ns(pinfo));
        if (rec) p_add_proto_data(wmem_file_scope(), pinfo, fields.proto, ctx->unit_seq, rec);
    } else {
        rec = static_cast<PduRecord*>(
            p_get_proto_data(wmem_file_scope(), pinfo, fields.proto, ctx->unit_seq));
    }
    if (rec) {
        render_unit(tvb, pinfo, tree, *rec, ctx->ports);
    } else {  // no record from the first pass (not expected: every PDU gets one)
        render_undecoded(tvb, pinfo, tree, "not decoded", nullptr);
    }
    return int(tvb_captured_length(tvb));
}

// A conversation the capture joined late (no SYN) has no greeting to go by: it is ZMQ's from
// the first payload that begins with ZMTP frames on evidence random bytes do not give
// (libzmtp's boundary search, at the segment's first byte).
// Also after a SYN when the first payload does not start the stream (its first bytes lost).
bool joined_late(conversation_t* conv, packet_info* pinfo, const struct tcpinfo* tcp) {
    const struct tcp_analysis* tcpd = get_tcp_conversation_data(conv, pinfo);
    if (!tcpd) return false;
    if (tcpd->server_port == 0) return true;  // no SYN seen
    const bool relative =
        tcp_preference(TcpPref::AnalyzeSeq) && tcp_preference(TcpPref::RelativeSeq);
    return relative && tcp->seq != 1;
}

bool late_payload_shows_frames(tvbuff_t* tvb) {
    const int avail = tvb_captured_length(tvb);
    if (avail < 2) return false;
    const auto match = zmtp::find_frame_boundary(
        zmtp::Bytes(tvb_get_ptr(tvb, 0, avail), size_t(avail)), true, true, zmtp::ResyncHints{});
    return match && match->skip == 0;
}

// Whether a conversation on a shared port is ZMQ's at this packet: it is when its first payload
// starts a ZMTP greeting, or (joined late) from the first payload that shows ZMTP frames.
// Decided on the first pass and kept in the conversation's state. nullopt: too few bytes yet.
std::optional<bool> is_zmq_conversation(ConvState& st, conversation_t* conv, tvbuff_t* tvb,
                                        packet_info* pinfo, void* data) {
    if (!st.starts_with_greeting && !PINFO_FD_VISITED(pinfo)) {
        const std::optional<bool> greeting = starts_with_greeting(tvb);
        if (!greeting && pinfo->can_desegment) return std::nullopt;
        const bool late = !greeting.value_or(false) &&
                          joined_late(conv, pinfo, static_cast<const struct tcpinfo*>(data));
        if (greeting.value_or(false) || (late && late_payload_shows_frames(tvb))) {
            st.starts_with_greeting = true;
            st.zmq_from_frame = pinfo->num;
        } else if (!late || ++st.undecided_payloads >= ConvState::max_undecided_payloads) {
            st.starts_with_greeting = false;
        }
    }
    return st.starts_with_greeting.value_or(false) && pinfo->num >= st.zmq_from_frame;
}

// The shared-port handle's dissector: each conversation goes to ZMQ or, unchanged, to the
// port's previous owner (SigComp on 5555, X11 on 6000-6063, HTTP on 8080), as TCP would have
// called it. Exceptions reach TCP as if the callee had been called directly: nothing here has
// a destructor.
int dissect_shared_port(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void* data) {
    dissector_handle_t owner = owner_before_zmq(pinfo->match_uint);
    bool zmq = !owner;
    if (owner && data && proto_is_protocol_enabled(find_protocol_by_id(fields.proto))) {
        conversation_t* conv = find_or_create_conversation(pinfo);
        if (struct tcp_analysis* tcpd = get_tcp_conversation_data(conv, pinfo)) {
            bool created = false;
            ConvState& st = conversation_state(tcpd->stream, key_config().store(), created);
            const std::optional<bool> ours = is_zmq_conversation(st, conv, tvb, pinfo, data);
            if (!ours) {  // too few bytes to tell: ask TCP for more
                pinfo->desegment_offset = 0;
                pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
                return int(tvb_captured_length(tvb));
            }
            zmq = *ours;
        }
    }
    // Each dissector call lowers can_desegment by one: the callee gets what TCP gave us.
    pinfo->can_desegment = pinfo->saved_can_desegment;
    return call_dissector_only(zmq ? zmq_handle : owner, tvb, pinfo, tree, data);
}

int dissect_zmq(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void* data) {
    auto* tcpinfo = static_cast<struct tcpinfo*>(data);
    if (!tcpinfo) return 0;  // only TCP carries ZMTP here
    conversation_t* conv = find_or_create_conversation(pinfo);
    struct tcp_analysis* tcpd = get_tcp_conversation_data(conv, pinfo);
    if (!tcpd) return 0;
    bool created = false;
    ConvState& st = conversation_state(tcpd->stream, key_config().store(), created);
    if (!st.client_known) identify_client(st, pinfo, tcpd);
    // The key log may have grown since the last packet (a live capture).
    if (!PINFO_FD_VISITED(pinfo) && st.wants_keys()) key_config().refresh();
    if (!PINFO_FD_VISITED(pinfo)) {
        st.tcp_reassembles_out_of_order = tcp_preference(TcpPref::OutOfOrder);
    }
    // Relative sequence numbers count from the connection's first byte (1 after a SYN): a lost
    // first segment is then a gap, not the start of the stream.
    const bool relative_numbers =
        tcp_preference(TcpPref::AnalyzeSeq) && tcp_preference(TcpPref::RelativeSeq);
    const bool relative = st.saw_syn && relative_numbers;
    PduContext ctx{&st,
                   same_endpoint(st, pinfo->src, pinfo->srcport) ? zmtp::Direction::ClientToServer
                                                                 : zmtp::Direction::ServerToClient,
                   tcpinfo->seq,
                   0,
                   Ports{st.server_port, st.client_port},
                   relative,
                   1};
    // Bytes of the other direction this segment acknowledges but the capture lacks (TCP's
    // sequence analysis knows how far the other direction came without a hole). Not while TCP
    // reassembles out-of-order segments: it then waits for them, and hands them over in order.
    if (!PINFO_FD_VISITED(pinfo) && !st.tcp_reassembles_out_of_order && (tcpinfo->flags & TH_ACK) &&
        tcpd->rev && tcpd->rev->tcp_analyze_seq_info) {
        // The analysis keeps raw sequence numbers.
        // 4.4 and later move maxseqtobeacked up to an ACK beyond it (ACKed unseen segment)
        // before calling us; nextseq stays where the captured bytes end.
        const auto* other = tcpd->rev->tcp_analyze_seq_info;
        const uint32_t seen_raw = int32_t(other->nextseq - other->maxseqtobeacked) < 0
                                      ? other->nextseq
                                      : other->maxseqtobeacked;
        const uint32_t seen = seen_raw - (relative_numbers ? tcpd->rev->base_seq : 0);
        st.note_peer_ack(zmtp::opposite(ctx.dir), tcpinfo->lastackseq, seen,
                         relative ? std::optional<uint32_t>(1) : std::nullopt, pinfo->num);
    }
    tcp_dissect_pdus(tvb, pinfo, tree, TRUE, 1, get_unit_len, dissect_unit, &ctx);
    return int(tvb_captured_length(tvb));
}

// ---- Heuristic --------------------------------------------------------------------------

HeurResult dissect_zmq_heur(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void* data) {
    if (!data || !looks_like_greeting(tvb)) return FALSE;
    conversation_set_dissector(find_or_create_conversation(pinfo), zmq_handle);
    dissect_zmq(tvb, pinfo, tree, data);
    return TRUE;
}

// ---- Registration -----------------------------------------------------------------------

void apply_prefs() {
    key_config().set_keylog_path(keylog_file_pref);
    share_ports();
}

void cleanup() {
    clear_conversation_states();
}

void register_prefs() {
    module_t* module = prefs_register_protocol(fields.proto, apply_prefs);
    prefs_register_filename_preference(
        module, "keylog_file", "Key log file",
        "CurveZMQ key log (SERVER_SECRET, EPHEMERAL_SECRET, SESSION_KEY, ... lines, Z85 or hex) "
        "or a czmq/pyzmq certificate. Re-read when it changes, so it can grow during a capture. "
        "tshark: -o zmq.keylog_file:PATH",
        &keylog_file_pref, FALSE);
    prefs_register_uat_preference(module, "keys", "CURVE keys",
                                  "Keys used to decrypt CurveZMQ, in addition to the key log file",
                                  make_keys_uat());
    prefs_register_uat_preference(module, "payload_protocols", "Message body protocols",
                                  "Dissector for message bodies, by TCP port", make_payload_uat());
}

}  // namespace

bool dissect_payload(tvbuff_t* body, packet_info* pinfo, proto_tree* tree, const Ports& ports) {
    const auto& map = payload_by_port();
    dissector_handle_t chosen = nullptr;
    if (auto it = map.find(ports.server); it != map.end()) chosen = it->second;
    if (!chosen) {
        if (auto it = map.find(ports.client); it != map.end()) chosen = it->second;
    }
    // Sub-dissectors may throw (longjmp): the call is made from C, inside TRY/CATCH.
    return zmq_call_payload_dissectors(body, pinfo, tree, chosen, payload_table, payload_heuristics,
                                       ports.server, ports.client);
}

}  // namespace zmqdiss

void proto_register_zmq() {
    using namespace zmqdiss;
    fields.proto = proto_register_protocol("ZeroMQ transport (ZMTP, CurveZMQ)", "ZMQ", "zmq");
    register_fields();
    zmq_handle = register_dissector("zmq", dissect_zmq, fields.proto);
    shared_port_handle = create_dissector_handle_with_name_and_description(
        dissect_shared_port, -1, "zmq_shared_port",
        "ZMQ if it starts with a ZMTP greeting, else the port's own dissector");
    register_prefs();
    payload_table = register_dissector_table("zmq.port", "ZMQ message body (by TCP port)",
                                             fields.proto, FT_UINT16, BASE_DEC);
    payload_heuristics = register_heur_dissector_list("zmq", fields.proto);
    register_payload_decode_as();
    register_stats();
    register_stats_tree();
    register_cleanup_routine(cleanup);
    register_init_routine(note_ports_taken_by_zmtp);
}

void proto_reg_handoff_zmq() {
    using namespace zmqdiss;
    dissector_table_foreach("tcp.port", remember_port_owner, nullptr);  // before ZMQ joins
    dissector_add_uint_range_with_preference("tcp.port", default_ports, zmq_handle);
    heur_dissector_add("tcp", dissect_zmq_heur, "ZMTP greeting on any TCP port", "zmq_tcp",
                       fields.proto, HEURISTIC_ENABLE);
    for (const char* name :
         {"json", "xml", "protobuf", "data-text-lines", "msgpack", "cbor", "bson", "data"}) {
        if (dissector_handle_t h = find_dissector(name)) {
            dissector_add_for_decode_as("zmq.port", h);
        }
    }
    apply_prefs();
}
