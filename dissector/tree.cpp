#include "tree.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "fields.hpp"
#include "stats.hpp"
#include "views.hpp"

namespace zmqdiss {
namespace {

using zmtp::CommandKind;

proto_item* generated(proto_item* item) {
    if (item) proto_item_set_generated(item);
    return item;
}

// A command or frame body held in a tvb, and where libzmtp's views into it lie.
struct Body {
    tvbuff_t* tvb = nullptr;
    int offset = 0;                 // of the body in the tvb
    const uint8_t* data = nullptr;  // the same bytes, for libzmtp
    size_t size = 0;

    zmtp::Bytes bytes() const { return {data, size}; }
    int at(const void* p) const { return offset + int(static_cast<const uint8_t*>(p) - data); }
    int at(std::string_view v) const { return at(static_cast<const void*>(v.data())); }
    int at(zmtp::Bytes v) const { return at(static_cast<const void*>(v.data())); }
};

// Whole bodies only: a body the capture cut short is shown as bytes and not parsed.
bool body_of(tvbuff_t* tvb, int offset, uint64_t size, Body& out) {
    const uint64_t avail = tvb_captured_length_remaining(tvb, offset);
    if (size > avail) return false;
    out.tvb = tvb;
    out.offset = offset;
    out.size = size;
    out.data = size ? tvb_get_ptr(tvb, offset, int(size)) : nullptr;
    return true;
}

std::string quoted(zmtp::Bytes b) {
    return body_preview(b);
}

std::string socket_types_text(const PduRecord& rec) {
    const auto mine = rec.socket_types[size_t(rec.dir)];
    const auto theirs = rec.socket_types[size_t(zmtp::opposite(rec.dir))];
    if (mine == zmtp::SocketType::Unknown && theirs == zmtp::SocketType::Unknown) return {};
    return std::string(zmtp::socket_type_name(mine)) + "->" +
           std::string(zmtp::socket_type_name(theirs)) + " ";
}

std::string socket_type_property(const std::vector<zmtp::Property>& metadata) {
    for (const auto& p : metadata) {
        if (p.name.size() == 11 && g_ascii_strncasecmp(p.name.data(), "Socket-Type", 11) == 0) {
            return " Socket-Type=" + printable(zmtp::as_text(p.value));
        }
    }
    return {};
}

// Where a part of an opened box's plaintext (a view into it) starts in it.
int offset_in(zmtp::Bytes whole, zmtp::Bytes part) {
    return int(part.data() - whole.data());
}

// Where an opened INITIATE's or READY's metadata starts in rec.plaintext; nullopt when the
// box holds none (another command, or a plaintext too short).
std::optional<size_t> box_metadata_at(const PduRecord& rec) {
    if (rec.plaintext.empty()) return std::nullopt;
    if (rec.command_kind == CommandKind::Ready) return 0;
    if (rec.command_kind == CommandKind::Initiate) {
        if (const auto p = zmtp::parse_initiate_plaintext(rec.plaintext))
            return size_t(offset_in(rec.plaintext, p->metadata));
    }
    return std::nullopt;
}

// The metadata of an opened CURVE INITIATE or READY (views into rec.plaintext).
std::vector<zmtp::Property> box_metadata(const PduRecord& rec) {
    std::vector<zmtp::Property> metadata;
    if (const auto at = box_metadata_at(rec)) {
        (void)zmtp::parse_metadata(zmtp::Bytes(rec.plaintext).subspan(*at),
                                   metadata);  // as far as it parses
    }
    return metadata;
}

std::string ttl_text(uint16_t ds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%u.%us", ds / 10, ds % 10);
    return buf;
}

std::string command_summary(const zmtp::Command& cmd, const PduRecord& rec, bool inner) {
    std::string name = cmd.name.empty() ? "(unnamed command)" : printable(cmd.name);
    const bool curve = rec.mechanism == zmtp::Mechanism::Curve && !inner;
    switch (cmd.kind) {
        case CommandKind::Ready:
        case CommandKind::Initiate:
            if (curve) return name + socket_type_property(box_metadata(rec));
            return name + socket_type_property(cmd.metadata);
        case CommandKind::Hello:
            if (rec.mechanism == zmtp::Mechanism::Plain) {
                return name + " username=\"" + printable(cmd.plain_username) + "\"";
            }
            return name;
        case CommandKind::Error:  // also libzmq 4.3's PLAIN "^RROR"
            return "ERROR \"" + printable(cmd.error_reason) + "\"";
        case CommandKind::Ping:
            return name + " ttl=" + ttl_text(cmd.ping_ttl_ds);
        case CommandKind::Subscribe:
        case CommandKind::Cancel:
        case CommandKind::Join:
        case CommandKind::Leave:
            return name + " " + quoted(cmd.topic);
        default:
            return name;
    }
}

std::string message_summary(const PduRecord& rec) {
    const MessageInfo& m = *rec.message;
    std::string text =
        socket_types_text(rec) + std::to_string(m.frames) + (m.frames == 1 ? " frame" : " frames");
    if (!m.preview.empty()) text += " " + m.preview;
    return text;
}

// A message the capture has only part of (MessageLoss): counted by nobody.
const LossInfo* start_lost_here(const PduRecord& rec) {
    for (const LossInfo& l : rec.losses) {
        if (l.loss == zmtp::MessageLoss::StartLost) return &l;
    }
    return nullptr;
}

// A data frame: its message when it completes one, else its place in the message.
std::string frame_summary(const PduRecord& rec) {
    if (rec.message) return message_summary(rec);
    if (const LossInfo* l = start_lost_here(rec); l && rec.frame && rec.frame->last) {
        std::string text = socket_types_text(rec) + std::to_string(l->frames) +
                           (l->frames == 1 ? " frame" : " frames") + " (start lost)";
        if (!l->preview.empty()) text += " " + l->preview;
        return text;
    }
    return socket_types_text(rec) + "frame " + std::to_string(rec.frame->index + 1) + " (more)";
}

std::string subscription_summary(bool subscribe, zmtp::Bytes body) {
    return std::string(subscribe ? "SUBSCRIBE " : "CANCEL ") + quoted(body.subspan(1));
}

// Info column: the units of one packet, separated by commas. A "weak" text (a frame in the
// middle of a message) only shows when nothing else in the packet says more.
void append_info(packet_info* pinfo, const std::string& text, bool weak) {
    if (text.empty()) return;
    constexpr guint32 info_state_key = 0;
    enum : uintptr_t { none = 0, weak_text = 1, strong_text = 2 };
    const auto state =
        uintptr_t(p_get_proto_data(pinfo->pool, pinfo, fields.proto, info_state_key));
    if (weak && state != none) return;
    if (state == strong_text) {
        col_append_sep_str(pinfo->cinfo, COL_INFO, ", ", text.c_str());
        return;
    }
    col_clear(pinfo->cinfo, COL_INFO);
    col_add_str(pinfo->cinfo, COL_INFO, text.c_str());
    p_set_proto_data(pinfo->pool, pinfo, fields.proto, info_state_key,
                     reinterpret_cast<void*>(weak ? weak_text : strong_text));
}

void add_string(proto_tree* tree, int hf, tvbuff_t* tvb, int offset, int length,
                const std::string& value) {
    proto_tree_add_string(tree, hf, tvb, offset, length, value.c_str());
}

void render_metadata(proto_tree* tree, const Body& body,
                     const std::vector<zmtp::Property>& metadata) {
    for (const auto& p : metadata) {
        const int start = body.at(p.name) - 1;
        const int end = body.at(p.value) + int(p.value.size());
        proto_tree* sub = proto_tree_add_subtree_format(
            tree, body.tvb, start, end - start, fields.ett_metadata, nullptr, "%s = %s",
            printable(p.name).c_str(), printable(zmtp::as_text(p.value)).c_str());
        proto_tree_add_item(sub, fields.metadata_name, body.tvb, body.at(p.name),
                            int(p.name.size()), ENC_ASCII);
        proto_tree_add_item(sub, fields.metadata_value, body.tvb, body.at(p.value),
                            int(p.value.size()), ENC_UTF_8);
    }
}

void add_key(proto_tree* tree, int hf, tvbuff_t* tvb, const zmtp::Key& key) {
    generated(proto_tree_add_bytes_with_length(tree, hf, tvb, 0, 0, key.data(), int(key.size())));
}

void add_bytes(proto_tree* tree, int hf, const Body& body, zmtp::Bytes view) {
    if (view.data() == nullptr || view.empty()) return;
    proto_tree_add_item(tree, hf, body.tvb, body.at(view), int(view.size()), ENC_NA);
}

// Metadata inside a decrypted box, each property where its bytes are. Bytes that do not
// parse (the session reported them) are shown as data.
void render_box_metadata(proto_tree* tree, const Body& box, size_t at) {
    Body md;
    if (!body_of(box.tvb, box.offset + int(at), box.size - at, md)) return;
    std::vector<zmtp::Property> metadata;
    const bool whole = zmtp::parse_metadata(md.bytes(), metadata);
    render_metadata(tree, md, metadata);
    if (whole) return;
    const int parsed_end = metadata.empty()
                               ? md.offset
                               : md.at(metadata.back().value) + int(metadata.back().value.size());
    proto_tree_add_item(tree, fields.command_data, md.tvb, parsed_end,
                        md.offset + int(md.size) - parsed_end, ENC_NA);
}

// An opened handshake box's plaintext, in the "Decrypted ZMQ" data source.
// A field over a part (a view) of the plaintext `whole` shown in `child`.
void add_part(proto_tree* tree, int field, tvbuff_t* child, zmtp::Bytes whole, zmtp::Bytes part) {
    proto_tree_add_item(tree, field, child, offset_in(whole, part), int(part.size()), ENC_NA);
}

void render_box_plaintext(proto_tree* tree, packet_info* pinfo, tvbuff_t* tvb,
                          const PduRecord& rec) {
    const auto& pt = rec.plaintext;
    tvbuff_t* child = tvb_new_child_real_data(tvb, pt.data(), guint(pt.size()), gint(pt.size()));
    add_new_data_source(pinfo, child, "Decrypted ZMQ");
    proto_tree* sub = proto_tree_add_subtree_format(tree, child, 0, -1, fields.ett_decrypted,
                                                    nullptr, "Decrypted box: %zu bytes", pt.size());
    Body box;
    body_of(child, 0, pt.size(), box);
    switch (rec.command_kind) {
        case CommandKind::Welcome: {
            const auto p = zmtp::parse_welcome_plaintext(pt);
            if (!p) break;
            add_part(sub, fields.curve_server_ephemeral, child, pt, p->server_ephemeral);
            add_part(sub, fields.curve_cookie, child, pt, p->cookie);
            return;
        }
        case CommandKind::Initiate: {
            const auto p = zmtp::parse_initiate_plaintext(pt);
            if (!p) break;
            add_part(sub, fields.curve_client_public, child, pt, p->client_public);
            add_part(sub, fields.curve_vouch_nonce, child, pt, p->vouch_nonce);
            add_part(sub, fields.curve_vouch_box, child, pt, p->vouch_box);
            render_box_metadata(sub, box, size_t(offset_in(pt, p->metadata)));
            return;
        }
        case CommandKind::Ready:
            render_box_metadata(sub, box, 0);
            return;
        default:
            break;
    }
    proto_tree_add_item(sub, fields.command_data, child, 0, -1, ENC_NA);
}

void add_short_nonce(proto_tree* tree, const Body& body, const zmtp::Command& cmd) {
    if (cmd.box.data() == nullptr || body.at(cmd.box) - 8 < body.offset) return;
    proto_tree_add_uint64(tree, fields.curve_nonce, body.tvb, body.at(cmd.box) - 8, 8,
                          cmd.short_nonce);
}

void render_curve_fields(proto_tree* tree, const Body& body, const zmtp::Command& cmd) {
    switch (cmd.kind) {
        case CommandKind::Hello:
            if (cmd.data.size() >= 2) {
                proto_tree_add_item(tree, fields.curve_version, body.tvb, body.at(cmd.data), 2,
                                    ENC_BIG_ENDIAN);
            }
            add_bytes(tree, fields.curve_client_ephemeral, body, cmd.client_ephemeral);
            add_short_nonce(tree, body, cmd);
            break;
        case CommandKind::Welcome:
            add_bytes(tree, fields.curve_long_nonce, body, cmd.long_nonce);
            break;
        case CommandKind::Initiate:
            add_bytes(tree, fields.curve_cookie, body, cmd.cookie);
            add_short_nonce(tree, body, cmd);
            break;
        case CommandKind::Ready:
        case CommandKind::Message:
            add_short_nonce(tree, body, cmd);
            break;
        default:
            return;
    }
    add_bytes(tree, fields.curve_box, body, cmd.box);
}

// What opening a handshake box revealed. Keys from the box itself are shown where they lie
// in its plaintext; S' on INITIATE (learnt from WELCOME) is a generated field.
void render_curve_results(proto_tree* tree, packet_info* pinfo, tvbuff_t* tvb,
                          const PduRecord& rec) {
    generated(
        proto_tree_add_boolean(tree, fields.curve_decrypted, tvb, 0, 0, rec.curve.box_opened));
    const bool box_shown = !rec.plaintext.empty() && rec.command_kind != CommandKind::Message;
    if (rec.curve.server_ephemeral && !(box_shown && rec.command_kind == CommandKind::Welcome)) {
        add_key(tree, fields.curve_server_ephemeral, tvb, *rec.curve.server_ephemeral);
    }
    if (rec.curve.client_public && !box_shown) {
        add_key(tree, fields.curve_client_public, tvb, *rec.curve.client_public);
    }
    if (rec.curve.client_public && rec.command_kind == CommandKind::Initiate) {
        queue_curve_client_key(pinfo, *rec.curve.client_public);
    }
    if (rec.curve.vouch_valid) {
        generated(proto_tree_add_boolean(tree, fields.curve_vouch_valid, tvb, 0, 0,
                                         *rec.curve.vouch_valid));
    }
    if (box_shown) render_box_plaintext(tree, pinfo, tvb, rec);
}

void render_command_fields(proto_tree* tree, const Body& body, const zmtp::Command& cmd,
                           bool curve_layout) {
    if (curve_layout && cmd.kind != CommandKind::Error) {
        render_curve_fields(tree, body, cmd);
        return;
    }
    switch (cmd.kind) {
        case CommandKind::Ready:
        case CommandKind::Initiate:
            render_metadata(tree, body, cmd.metadata);
            break;
        case CommandKind::Hello:
            if (!cmd.plain_username.empty() || !cmd.plain_password.empty()) {
                proto_tree_add_item(tree, fields.plain_username, body.tvb,
                                    body.at(cmd.plain_username), int(cmd.plain_username.size()),
                                    ENC_UTF_8);
                proto_tree_add_item(tree, fields.plain_password, body.tvb,
                                    body.at(cmd.plain_password), int(cmd.plain_password.size()),
                                    ENC_UTF_8);
            }
            break;
        case CommandKind::Error:
            if (cmd.error_reason.data()) {
                proto_tree_add_item(tree, fields.error_reason, body.tvb, body.at(cmd.error_reason),
                                    int(cmd.error_reason.size()), ENC_ASCII);
            }
            break;
        case CommandKind::Ping:
            if (cmd.data.size() >= 2) {
                proto_tree_add_item(tree, fields.ping_ttl, body.tvb, body.at(cmd.data), 2,
                                    ENC_BIG_ENDIAN);
            }
            add_bytes(tree, fields.ping_context, body, cmd.ping_context);
            break;
        case CommandKind::Pong:
            add_bytes(tree, fields.ping_context, body, cmd.ping_context);
            break;
        case CommandKind::Subscribe:
        case CommandKind::Cancel:
            generated(proto_tree_add_boolean(tree, fields.subscription_subscribe, body.tvb,
                                             body.offset, 0, cmd.kind == CommandKind::Subscribe));
            add_bytes(tree, fields.subscription_topic, body, cmd.topic);
            break;
        case CommandKind::Join:
        case CommandKind::Leave:
            if (cmd.topic.data()) {
                proto_tree_add_item(tree, fields.group, body.tvb, body.at(cmd.topic),
                                    int(cmd.topic.size()), ENC_UTF_8);
            }
            break;
        default:
            if (!cmd.data.empty()) add_bytes(tree, fields.command_data, body, cmd.data);
            break;
    }
}

// A command body (plaintext, or the payload of a decrypted CURVE MESSAGE).
zmtp::Command render_command(proto_tree* tree, packet_info* pinfo, const Body& body,
                             const PduRecord& rec, bool inner) {
    const zmtp::Mechanism layout = inner ? zmtp::Mechanism::Null : rec.mechanism;
    zmtp::Command cmd = zmtp::parse_command(body.bytes(), layout);
    proto_tree* sub = proto_tree_add_subtree_format(
        tree, body.tvb, body.offset, int(body.size), fields.ett_command, nullptr, "Command: %s",
        cmd.name.empty() ? "(unnamed)" : printable(cmd.name).c_str());
    if (!cmd.name.empty()) {
        const int name_at = body.at(cmd.name);
        if (name_at > body.offset) {
            proto_tree_add_item(sub, fields.command_name_length, body.tvb, name_at - 1, 1, ENC_NA);
        }
        proto_tree_add_item(sub, fields.command_name, body.tvb, name_at, int(cmd.name.size()),
                            ENC_ASCII);
    }
    if (cmd.problem) return cmd;  // the session reported it as an expert info
    render_command_fields(sub, body, cmd, layout == zmtp::Mechanism::Curve);
    if (!inner && cmd.kind == CommandKind::Hello && rec.mechanism == zmtp::Mechanism::Plain) {
        queue_plain_credentials(pinfo, cmd.plain_username);
    }
    if (!inner && rec.mechanism == zmtp::Mechanism::Curve) {
        render_curve_results(sub, pinfo, body.tvb, rec);
    }
    return cmd;
}

struct Header {
    zmtp::FrameHeader h;
    int flags_at = 0;
    int size_at = 1;
};

bool parse_header(tvbuff_t* tvb, zmtp::Framing framing, Header& out) {
    const int avail = std::min<int>(tvb_captured_length(tvb), 10);
    if (avail <= 0) return false;
    const zmtp::Bytes bytes(tvb_get_ptr(tvb, 0, avail), size_t(avail));
    if (zmtp::parse_frame_header(framing, bytes, out.h) != zmtp::ParseStatus::Ok) return false;
    const bool v1 = framing == zmtp::Framing::V1;
    out.flags_at = v1 ? out.h.header_size - 1 : 0;
    out.size_at = v1 ? 0 : 1;
    return true;
}

proto_tree* render_header(proto_tree* tree, tvbuff_t* tvb, const PduRecord& rec, const Header& hd) {
    const auto& h = hd.h;
    proto_item* frame_item = proto_tree_add_item(tree, fields.frame, tvb, 0, -1, ENC_NA);
    proto_item_append_text(frame_item, ": %" PRIu64 " bytes%s%s", h.body_size,
                           h.command ? ", COMMAND" : "", h.more ? ", MORE" : "");
    proto_tree* sub = proto_item_add_subtree(frame_item, fields.ett_frame);
    proto_item* flags = proto_tree_add_item(sub, fields.frame_flags, tvb, hd.flags_at, 1, ENC_NA);
    proto_tree* flags_tree = proto_item_add_subtree(flags, fields.ett_flags);
    proto_tree_add_item(flags_tree, fields.frame_more, tvb, hd.flags_at, 1, ENC_NA);
    if (rec.framing != zmtp::Framing::V1) {
        proto_tree_add_item(flags_tree, fields.frame_long, tvb, hd.flags_at, 1, ENC_NA);
    }
    if (rec.framing == zmtp::Framing::V3) {
        proto_tree_add_item(flags_tree, fields.frame_command, tvb, hd.flags_at, 1, ENC_NA);
        proto_tree_add_item(flags_tree, fields.frame_reserved, tvb, hd.flags_at, 1, ENC_NA);
    }
    const int size_bytes = h.header_size - 1;
    proto_tree_add_uint64(sub, fields.frame_length, tvb, hd.size_at, size_bytes, h.body_size);
    return sub;
}

void add_body(proto_tree* tree, tvbuff_t* tvb, int offset, int length) {
    if (length > 0) {
        proto_tree_add_item(tree, fields.frame_body, tvb, offset, length, ENC_NA);
    } else {
        proto_tree_add_bytes_format_value(tree, fields.frame_body, tvb, offset, 0, nullptr,
                                          "<empty>");
    }
}

// Text people can read: valid UTF-8 without control characters other than tab, CR and LF.
bool is_text(zmtp::Bytes b) {
    if (b.empty()) return false;
    const auto* chars = reinterpret_cast<const gchar*>(b.data());
    if (!g_utf8_validate(chars, gssize(b.size()), nullptr)) return false;
    return std::none_of(b.begin(), b.end(), [](uint8_t c) {
        return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
    });
}

// `body`: set to the body's bytes when the capture holds it whole.
void render_frame_body(proto_tree* tree, packet_info* pinfo, tvbuff_t* tvb, int offset,
                       uint64_t size, const FrameInfo& fi, const Ports& ports,
                       std::optional<zmtp::Bytes>& body) {
    generated(proto_tree_add_uint(tree, fields.frame_index, tvb, offset, 0, fi.index));
    if (fi.start_lost) {
        generated(proto_tree_add_boolean(tree, fields.frame_start_lost, tvb, offset, 0, TRUE));
    }
    if (fi.role != FrameInfo::Role::Unknown) {
        generated(
            proto_tree_add_string(tree, fields.frame_role, tvb, offset, 0,
                                  fi.role == FrameInfo::Role::Delimiter ? "delimiter" : "body"));
    }
    const int avail = tvb_captured_length_remaining(tvb, offset);
    const int shown = int(std::min<uint64_t>(size, uint64_t(std::max(avail, 0))));
    if (uint64_t(shown) == size) {
        body = zmtp::Bytes(shown ? tvb_get_ptr(tvb, offset, shown) : nullptr, size_t(shown));
    }
    if (fi.body_skipped) {
        add_body(tree, tvb, offset, shown);
        return;
    }
    if (fi.subscription && shown >= 1) {
        generated(proto_tree_add_boolean(tree, fields.subscription_subscribe, tvb, offset, 1,
                                         *fi.subscription));
        proto_tree_add_item(tree, fields.subscription_topic, tvb, offset + 1, shown - 1, ENC_NA);
    }
    add_body(tree, tvb, offset, shown);
    if (body && fi.role != FrameInfo::Role::Delimiter && is_text(*body)) {
        proto_tree_add_item(tree, fields.frame_text, tvb, offset, shown, ENC_UTF_8);
    }
    const bool payload = fi.role != FrameInfo::Role::Delimiter && !fi.subscription && shown > 0;
    if (payload) dissect_payload(tvb_new_subset_length(tvb, offset, shown), pinfo, tree, ports);
}

void render_message(proto_tree* tree, tvbuff_t* tvb, const MessageInfo& m) {
    proto_tree* sub = proto_tree_add_subtree_format(
        tree, tvb, 0, 0, fields.ett_message, nullptr, "Message: %u frame%s, %" PRIu64 " bytes",
        m.frames, m.frames == 1 ? "" : "s", m.body_bytes);
    generated(proto_tree_add_uint(sub, fields.message_frames, tvb, 0, 0, m.frames));
    generated(proto_tree_add_uint64(sub, fields.message_size, tvb, 0, 0, m.body_bytes));
    if (!m.has_delimiter) return;
    generated(proto_tree_add_uint(sub, fields.envelope_identities, tvb, 0, 0,
                                  guint32(m.identities.size())));
    for (const auto& id : m.identities) {
        generated(proto_tree_add_bytes_with_length(sub, fields.envelope_identity, tvb, 0, 0,
                                                   id.data(), int(id.size())));
    }
}

void render_pairing(proto_tree* tree, tvbuff_t* tvb, const Pairing& p) {
    if (p.response_in) {
        generated(proto_tree_add_uint(tree, fields.response_in, tvb, 0, 0, p.response_in));
    }
    if (p.response_to) {
        generated(proto_tree_add_uint(tree, fields.response_to, tvb, 0, 0, p.response_to));
        nstime_t delta;
        delta.secs = time_t(p.response_time_ns / 1'000'000'000);
        delta.nsecs = int(p.response_time_ns % 1'000'000'000);
        generated(proto_tree_add_time(tree, fields.response_time, tvb, 0, 0, &delta));
    }
}

expert_field* expert_for(const Notice& n) {
    if (!n.from_session) {
        switch (PluginNotice(n.code)) {
            case PluginNotice::HeartbeatLate:
                return &fields.ei_heartbeat_late;
            case PluginNotice::PeerSilent:
                return &fields.ei_peer_silent;
            case PluginNotice::PingUnanswered:
                return &fields.ei_ping_unanswered;
            case PluginNotice::Gap:
                return &fields.ei_gap;
            case PluginNotice::Truncated:
                return &fields.ei_truncated;
            case PluginNotice::MidStream:
                return &fields.ei_mid_stream;
            case PluginNotice::Resync:
                return &fields.ei_resync;
            case PluginNotice::MessageLoss:
                return &fields.ei_message_loss;
            case PluginNotice::HandshakeNotCaptured:
                return &fields.ei_handshake_not_captured;
            case PluginNotice::MechanismInferred:
                return &fields.ei_mechanism_inferred;
            case PluginNotice::SocketTypesInferred:
                return &fields.ei_socket_types_inferred;
            case PluginNotice::GapHint:
                return &fields.ei_gap_hint;
            case PluginNotice::LateSegment:
                return &fields.ei_late_segment;
            case PluginNotice::Undecoded:
                return &fields.ei_undecoded;
        }
        return &fields.ei_stream_error;
    }
    switch (zmtp::NoticeCode(n.code)) {
        case zmtp::NoticeCode::KeyMissing:
            return &fields.ei_key_missing;
        case zmtp::NoticeCode::WrongServerKey:
            return &fields.ei_wrong_server_key;
        case zmtp::NoticeCode::BoxNotOpened:
            return &fields.ei_box_not_opened;
        case zmtp::NoticeCode::NonceNotIncreasing:
            return &fields.ei_nonce;
        case zmtp::NoticeCode::TrialLimit:
            return &fields.ei_trial_limit;
        case zmtp::NoticeCode::MalformedCommand:
            return &fields.ei_malformed;
        case zmtp::NoticeCode::ReservedFlags:
            return &fields.ei_reserved_flags;
        case zmtp::NoticeCode::CommandWithMore:
            return &fields.ei_command_with_more;
        case zmtp::NoticeCode::MechanismMismatch:
            return &fields.ei_mechanism_mismatch;
        case zmtp::NoticeCode::ErrorCommand:
            return &fields.ei_error_command;
        case zmtp::NoticeCode::UnexpectedCommand:
            return &fields.ei_unexpected_command;
        case zmtp::NoticeCode::StreamError:
            return &fields.ei_stream_error;
        case zmtp::NoticeCode::SessionKeyMissing:
            return &fields.ei_session_key_missing;
    }
    return &fields.ei_stream_error;
}

std::string greeting_summary(const zmtp::Greeting& g) {
    std::string summary = "Greeting " + zmtp::greeting_label(g);
    if (g.identity)
        summary += g.identity->empty() ? ", anonymous" : ", identity " + printable(*g.identity);
    return summary;
}

std::string render_greeting(proto_tree* tree, tvbuff_t* tvb, const zmtp::Greeting& g) {
    const int avail = tvb_captured_length(tvb);
    const std::string summary = greeting_summary(g);
    proto_tree* sub = proto_tree_add_subtree(tree, tvb, 0, std::min<int>(avail, int(g.size)),
                                             fields.ett_greeting, nullptr, summary.c_str());
    // docs/protocol.md 1.5 and 1.6: a 64- or 12-byte fixed part, or a 1.0 identity frame only.
    const bool v3 = g.framing == zmtp::Framing::V3;
    const bool fixed_part = g.versioned && (v3 || g.identity_offset >= 12);
    if (g.versioned && avail >= 10) {
        proto_tree_add_uint64(sub, fields.greeting_padding, tvb, 1, 8, g.signature_padding);
    }
    if (fixed_part && avail >= 12) {
        proto_tree_add_uint(sub, fields.greeting_major, tvb, 10, 1, g.major);
        if (v3) {
            proto_tree_add_uint(sub, fields.greeting_minor, tvb, 11, 1, g.minor);
        } else {
            proto_tree_add_item(sub, fields.greeting_socket_type, tvb, 11, 1, ENC_NA);
        }
    }
    if (v3 && g.size >= 64 && avail >= 64) {
        add_string(sub, fields.greeting_mechanism, tvb, 12, 20, printable(g.mechanism_text));
        proto_tree_add_boolean(sub, fields.greeting_as_server, tvb, 32, 1, g.as_server);
    }
    if (g.identity && avail >= int(g.size)) {
        add_string(sub, fields.greeting_identity, tvb, int(g.identity_offset),
                   int(g.size - g.identity_offset), printable(*g.identity));
    }
    return summary;
}

// The decrypted content of a CURVE MESSAGE, in its own data source.
std::string render_plaintext(proto_tree* tree, packet_info* pinfo, tvbuff_t* tvb,
                             const PduRecord& rec, const Ports& ports,
                             std::optional<zmtp::Bytes>& frame_body) {
    const auto& pt = rec.plaintext;
    tvbuff_t* child = tvb_new_child_real_data(tvb, pt.data(), guint(pt.size()), gint(pt.size()));
    add_new_data_source(pinfo, child, "Decrypted ZMQ");
    proto_item* item = proto_tree_add_item(tree, fields.frame, child, 0, -1, ENC_NA);
    proto_item_append_text(item, " (decrypted): %zu bytes", pt.size() - 1);
    proto_tree* sub = proto_item_add_subtree(item, fields.ett_decrypted);
    proto_item* flags = proto_tree_add_item(sub, fields.frame_inner_flags, child, 0, 1, ENC_NA);
    proto_tree* flags_tree = proto_item_add_subtree(flags, fields.ett_flags);
    proto_tree_add_item(flags_tree, fields.frame_inner_more, child, 0, 1, ENC_NA);
    proto_tree_add_item(flags_tree, fields.frame_inner_command, child, 0, 1, ENC_NA);
    proto_tree_add_item(sub, fields.frame_more, child, 0, 1, ENC_NA);
    generated(proto_tree_add_uint64(sub, fields.frame_length, child, 1, 0, pt.size() - 1));

    Body body;
    body_of(child, 1, pt.size() - 1, body);
    if (rec.plaintext_is_command) {
        const zmtp::Command cmd = render_command(sub, pinfo, body, rec, true);
        return command_summary(cmd, rec, true);
    }
    if (rec.frame) {
        render_frame_body(sub, pinfo, child, 1, pt.size() - 1, *rec.frame, ports, frame_body);
    }
    if (rec.frame && rec.frame->subscription) {
        return subscription_summary(*rec.frame->subscription, body.bytes());
    }
    return rec.frame ? frame_summary(rec) : "";
}

// A frame unit: header, then a command or a data frame, then what decryption revealed.
std::string render_frame_unit(proto_tree* tree, packet_info* pinfo, tvbuff_t* tvb,
                              const PduRecord& rec, const Ports& ports,
                              std::optional<zmtp::Bytes>& frame_body) {
    Header hd;
    if (!parse_header(tvb, rec.framing, hd)) {  // libzmtp reported why
        proto_tree_add_item(tree, fields.undecoded, tvb, 0, -1, ENC_NA);
        return "";
    }
    proto_tree* sub = render_header(tree, tvb, rec, hd);
    std::string summary;
    Body body;
    const bool whole = body_of(tvb, hd.h.header_size, hd.h.body_size, body);
    if (rec.has_command && whole) {
        const zmtp::Command cmd = render_command(sub, pinfo, body, rec, false);
        if (cmd.kind == CommandKind::Message) {
            summary = rec.curve.box_opened ? "CURVE MESSAGE (decrypted)"
                                           : "CURVE MESSAGE (not decrypted)";
        } else {
            summary = command_summary(cmd, rec, false);
        }
    } else if (rec.frame && !rec.frame->decrypted) {
        render_frame_body(sub, pinfo, tvb, hd.h.header_size, hd.h.body_size, *rec.frame, ports,
                          frame_body);
        if (rec.frame->subscription && whole) {
            summary = subscription_summary(*rec.frame->subscription, body.bytes());
        } else {
            summary = frame_summary(rec);
        }
    } else {  // not decoded as a frame (the capture cut it short)
        proto_tree_add_item(sub, fields.undecoded, tvb, hd.h.header_size, -1, ENC_NA);
    }
    if (rec.has_plaintext) {
        const std::string inner = render_plaintext(tree, pinfo, tvb, rec, ports, frame_body);
        if (!inner.empty()) summary += " " + inner;
    }
    return summary;
}

// A data frame that does not complete its message says little on its own.
bool is_weak_summary(const PduRecord& rec) {
    return rec.frame && !rec.frame->last && !rec.frame->subscription && rec.gaps.empty() &&
           !rec.resync;
}

void render_context(proto_tree* tree, tvbuff_t* tvb, const PduRecord& rec) {
    generated(proto_tree_add_string(tree, fields.direction, tvb, 0, 0,
                                    std::string(zmtp::direction_name(rec.dir)).c_str()));
    const auto mine = rec.socket_types[size_t(rec.dir)];
    const auto theirs = rec.socket_types[size_t(zmtp::opposite(rec.dir))];
    if (mine != zmtp::SocketType::Unknown) {
        generated(proto_tree_add_string(tree, fields.socket_type, tvb, 0, 0,
                                        std::string(zmtp::socket_type_name(mine)).c_str()));
    }
    if (theirs != zmtp::SocketType::Unknown) {
        generated(proto_tree_add_string(tree, fields.peer_socket_type, tvb, 0, 0,
                                        std::string(zmtp::socket_type_name(theirs)).c_str()));
    }
    if (rec.mechanism != zmtp::Mechanism::Unknown) {
        generated(proto_tree_add_string(tree, fields.mechanism, tvb, 0, 0,
                                        std::string(zmtp::mechanism_name(rec.mechanism)).c_str()));
    } else if (rec.plaintext_without_handshake) {
        generated(proto_tree_add_string(tree, fields.mechanism, tvb, 0, 0,
                                        "NULL or PLAIN (handshake not captured)"));
    }
    if (rec.mechanism_inferred || rec.plaintext_without_handshake) {
        generated(proto_tree_add_boolean(tree, fields.mechanism_inferred, tvb, 0, 0, TRUE));
    }
    if (rec.socket_types_inferred &&
        (mine != zmtp::SocketType::Unknown || theirs != zmtp::SocketType::Unknown)) {
        generated(proto_tree_add_boolean(tree, fields.socket_types_inferred, tvb, 0, 0, TRUE));
    }
    generated(proto_tree_add_uint64(tree, fields.stream_offset, tvb, 0, 0, rec.stream_offset));
}

// What the capture lacked before this unit, where decoding resumed, and the messages it has
// only part of (docs/protocol.md 9).
void render_recovery(proto_tree* tree, tvbuff_t* tvb, const PduRecord& rec) {
    for (const GapInfo& g : rec.gaps) {
        proto_item* item = proto_tree_add_item(tree, fields.gap, tvb, 0, 0, ENC_NA);
        proto_item_set_generated(item);
        if (g.before_start) {
            proto_item_append_text(item, ": the capture started inside the connection");
        } else if (g.lost_known) {
            proto_item_append_text(item, ": %" PRIu64 " bytes at stream offset %" PRIu64,
                                   g.lost_bytes, g.offset);
        } else {
            proto_item_append_text(item, " at stream offset %" PRIu64, g.offset);
        }
        proto_tree* sub = proto_item_add_subtree(item, fields.ett_recovery);
        if (g.before_start) {
            generated(proto_tree_add_boolean(sub, fields.gap_before_start, tvb, 0, 0, TRUE));
        } else {
            generated(proto_tree_add_uint64(sub, fields.gap_offset, tvb, 0, 0, g.offset));
            if (g.lost_known) {
                generated(proto_tree_add_uint64(sub, fields.gap_bytes, tvb, 0, 0, g.lost_bytes));
            }
        }
        if (g.requests_dropped) {
            generated(proto_tree_add_uint64(sub, fields.gap_requests_dropped, tvb, 0, 0,
                                            g.requests_dropped));
        }
    }
    if (rec.resync) {
        const ResyncInfo& r = *rec.resync;
        proto_item* item =
            generated(proto_tree_add_uint64(tree, fields.resync, tvb, 0, 0, r.offset));
        proto_item_append_text(item, " (%s)", r.evidence.c_str());
        proto_tree* sub = proto_item_add_subtree(item, fields.ett_recovery);
        generated(
            proto_tree_add_string(sub, fields.resync_evidence, tvb, 0, 0, r.evidence.c_str()));
        generated(proto_tree_add_uint64(sub, fields.resync_skipped, tvb, 0, 0, r.skipped_bytes));
        if (r.frames_lost) {
            generated(
                proto_tree_add_uint64(sub, fields.gap_frames_lost, tvb, 0, 0, *r.frames_lost));
        }
    }
    for (const LossInfo& l : rec.losses) {
        const char* what = l.loss == zmtp::MessageLoss::StartLost ? "start lost" : "end lost";
        proto_item* item =
            generated(proto_tree_add_string(tree, fields.message_loss, tvb, 0, 0, what));
        proto_item_append_text(item, " (%u frame%s captured)", l.frames, l.frames == 1 ? "" : "s");
        proto_tree* sub = proto_item_add_subtree(item, fields.ett_recovery);
        generated(proto_tree_add_uint(sub, fields.message_loss_frames, tvb, 0, 0, l.frames));
        generated(proto_tree_add_uint64(sub, fields.message_loss_size, tvb, 0, 0, l.body_bytes));
    }
}

// Why the bytes of an undecoded PDU were not decoded, for the tree and the Info column.
std::string undecoded_reason(const PduRecord& rec) {
    std::string text;
    switch (rec.undecoded) {
        case Undecoded::CaptureStart:
            text = "capture started inside the connection";
            break;
        case Undecoded::AfterGap: {
            uint64_t lost = 0;
            bool known = !rec.gaps.empty();
            for (const GapInfo& g : rec.gaps) {
                lost += g.lost_bytes;
                known = known && g.lost_known;
            }
            text = known ? std::to_string(lost) + " bytes lost before this"
                         : std::string("bytes lost before this");
            break;
        }
        case Undecoded::Searching:
            text = "searching for a frame boundary";
            break;
        case Undecoded::Retransmission:
            text = "retransmitted bytes";
            break;
        case Undecoded::NotReassembled:
            text = "rest of a unit TCP did not reassemble (its reassembly is off)";
            break;
        case Undecoded::Truncated:
            text = "unit cut short by the capture";
            break;
        case Undecoded::Stopped:
        case Undecoded::None:
            text = "this direction is not decoded further";
            break;
    }
    if (!rec.boundary_after.empty()) text += "; a frame boundary follows";
    return text;
}

}  // namespace

void render_unit(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, const PduRecord& rec,
                 const Ports& ports) {
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "ZMQ");
    proto_item* top = proto_tree_add_item(tree, fields.proto, tvb, 0, -1, ENC_NA);
    proto_tree* sub = proto_item_add_subtree(top, fields.ett_zmq);
    render_context(sub, tvb, rec);

    std::string summary;
    std::optional<zmtp::Bytes> frame_body;
    if (rec.undecoded != Undecoded::None) {
        // Never shown as ZMTP units: zmq.frame.* holds only what libzmtp decoded.
        const std::string why = undecoded_reason(rec);
        proto_item* item = proto_tree_add_item(sub, fields.undecoded, tvb, 0, -1, ENC_NA);
        proto_item_append_text(item, " (%s)", why.c_str());
        generated(proto_tree_add_string(sub, fields.undecoded_reason, tvb, 0, 0, why.c_str()));
        summary = rec.undecoded == Undecoded::Retransmission ? why : "not decoded: " + why;
        if (rec.undecoded == Undecoded::Retransmission) {
            expert_add_info_format(pinfo, top, &fields.ei_retransmission, "%s", why.c_str());
        } else if (rec.undecoded == Undecoded::Searching || rec.undecoded == Undecoded::Stopped) {
            expert_add_info_format(pinfo, top, &fields.ei_undecoded, "not decoded: %s",
                                   why.c_str());
        }
    } else if (rec.greeting) {
        summary = render_greeting(sub, tvb, *rec.greeting);
    } else if (rec.frame || rec.has_command) {
        summary = render_frame_unit(sub, pinfo, tvb, rec, ports, frame_body);
    } else {
        proto_tree_add_item(sub, fields.undecoded, tvb, 0, -1, ENC_NA);
        summary = "not decoded";
    }
    render_recovery(sub, tvb, rec);
    if (rec.message) render_message(sub, tvb, *rec.message);
    render_pairing(sub, tvb, rec.pairing);
    if (rec.handshake) {
        const std::string text =
            rec.handshake->succeeded ? "complete" : "failed: " + rec.handshake->reason;
        generated(proto_tree_add_string(sub, fields.handshake, tvb, 0, 0, text.c_str()));
    }
    for (const Notice& n : rec.notices) {
        expert_add_info_format(pinfo, top, expert_for(n), "%s", n.text.c_str());
    }
    if (!summary.empty()) proto_item_append_text(top, ", %s", summary.c_str());
    append_info(pinfo, summary, is_weak_summary(rec));
    auto* unit = wmem_new0(pinfo->pool, TapUnit);
    unit->rec = &rec;
    unit->has_body = frame_body.has_value() && rec.frame;
    if (unit->has_body) unit->body = *frame_body;
    unit->summary = wmem_strdup(pinfo->pool, summary.c_str());
    tap_queue_packet(zmq_tap, pinfo, unit);
}

void render_undecoded(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, const char* why,
                      expert_field* ei) {
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "ZMQ");
    proto_item* top = proto_tree_add_item(tree, fields.proto, tvb, 0, -1, ENC_NA);
    proto_item_append_text(top, ", %s", why);
    proto_tree* sub = proto_item_add_subtree(top, fields.ett_zmq);
    proto_tree_add_item(sub, fields.undecoded, tvb, 0, -1, ENC_NA);
    generated(proto_tree_add_string(sub, fields.undecoded_reason, tvb, 0, 0, why));
    if (ei) expert_add_info_format(pinfo, top, ei, "%s", why);
    append_info(pinfo, why, false);
}

}  // namespace zmqdiss
