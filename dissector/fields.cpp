#include "fields.hpp"

#include <array>
#include <cstdio>

#include "zmtp/wire.hpp"

namespace zmqdiss {

Fields fields;

namespace {

// ZMTP 2.0 greeting socket types (libzmq's ZMQ_* numbers), from libzmtp's list (string
// literals, so each name ends in NUL); the last entry stays {0, nullptr}, the end Wireshark
// looks for.
constexpr auto socket_type_values = [] {
    std::array<value_string, zmtp::socket_type_names.size() + 1> values{};
    for (size_t i = 0; i < zmtp::socket_type_names.size(); ++i)
        values[i] = {static_cast<guint32>(i), zmtp::socket_type_names[i].data()};
    return values;
}();

void format_ttl(gchar* out, guint32 deciseconds) {
    std::snprintf(out, ITEM_LABEL_LENGTH, "%u.%u s (%u deciseconds)", deciseconds / 10,
                  deciseconds % 10, deciseconds);
}

void register_hf() {
    // clang-format off
    static hf_register_info hf[] = {
        {&fields.greeting, {"Greeting", "zmq.greeting", FT_NONE, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.greeting_padding, {"Signature padding", "zmq.greeting.padding", FT_UINT64, BASE_DEC, nullptr, 0,
            "Bytes 1-8 of the signature; libzmq writes its routing-id size + 1", HFILL}},
        {&fields.greeting_major, {"Major version", "zmq.greeting.major", FT_UINT8, BASE_DEC, nullptr, 0, nullptr, HFILL}},
        {&fields.greeting_minor, {"Minor version", "zmq.greeting.minor", FT_UINT8, BASE_DEC, nullptr, 0, nullptr, HFILL}},
        {&fields.greeting_mechanism, {"Mechanism", "zmq.greeting.mechanism", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.greeting_as_server, {"As server", "zmq.greeting.as_server", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "libzmq always sends 0, even on servers", HFILL}},
        {&fields.greeting_socket_type, {"Socket type", "zmq.greeting.socket_type", FT_UINT8, BASE_DEC,
            VALS(socket_type_values.data()), 0, "ZMTP 2.0 greeting", HFILL}},
        {&fields.greeting_identity, {"Identity", "zmq.greeting.identity", FT_STRING, BASE_NONE, nullptr, 0,
            "ZMTP 1.0/2.0: the identity frame that ends the greeting (empty: anonymous); no message", HFILL}},

        {&fields.frame, {"Frame", "zmq.frame", FT_NONE, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.frame_flags, {"Flags", "zmq.frame.flags", FT_UINT8, BASE_HEX, nullptr, 0, nullptr, HFILL}},
        {&fields.frame_more, {"More", "zmq.frame.more", FT_BOOLEAN, 8, nullptr, 0x01,
            "More frames of this message follow", HFILL}},
        {&fields.frame_long, {"Long", "zmq.frame.long", FT_BOOLEAN, 8, nullptr, 0x02, "8-byte size", HFILL}},
        {&fields.frame_command, {"Command", "zmq.frame.command", FT_BOOLEAN, 8, nullptr, 0x04, nullptr, HFILL}},
        {&fields.frame_reserved, {"Reserved", "zmq.frame.reserved", FT_UINT8, BASE_HEX, nullptr, 0xF8, nullptr, HFILL}},
        {&fields.frame_length, {"Length", "zmq.frame.length", FT_UINT64, BASE_DEC, nullptr, 0, "Body size", HFILL}},
        {&fields.frame_body, {"Body", "zmq.frame.body", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.frame_text, {"Body (text)", "zmq.frame.text", FT_STRING, BASE_NONE, nullptr, 0,
            "The body again, as text, when it is printable UTF-8", HFILL}},
        {&fields.frame_index, {"Index in message", "zmq.frame.index", FT_UINT32, BASE_DEC, nullptr, 0,
            "0 for the first frame of a multipart message", HFILL}},
        {&fields.frame_role, {"Role", "zmq.frame.role", FT_STRING, BASE_NONE, nullptr, 0,
            "Envelope delimiter or body (REQ/REP/DEALER/ROUTER)", HFILL}},
        {&fields.frame_inner_flags, {"Inner flags", "zmq.frame.inner_flags", FT_UINT8, BASE_HEX, nullptr, 0,
            "Flags inside a CURVE MESSAGE box", HFILL}},
        {&fields.frame_inner_more, {"More", "zmq.frame.inner_flags.more", FT_BOOLEAN, 8, nullptr, 0x01, nullptr, HFILL}},
        {&fields.frame_inner_command, {"Command", "zmq.frame.inner_flags.command", FT_BOOLEAN, 8, nullptr, 0x02, nullptr, HFILL}},

        {&fields.message_frames, {"Frames in message", "zmq.message.frames", FT_UINT32, BASE_DEC, nullptr, 0,
            "Frames of the multipart message this frame completes", HFILL}},
        {&fields.message_size, {"Message size", "zmq.message.size", FT_UINT64, BASE_DEC, nullptr, 0,
            "Body bytes of all frames of the message", HFILL}},
        {&fields.envelope_identities, {"Routing identities", "zmq.envelope.identities", FT_UINT32, BASE_DEC, nullptr, 0,
            "Frames before the empty delimiter", HFILL}},
        {&fields.envelope_identity, {"Routing identity", "zmq.envelope.identity", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},

        {&fields.command_name, {"Name", "zmq.command.name", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.command_name_length, {"Name length", "zmq.command.name_length", FT_UINT8, BASE_DEC, nullptr, 0, nullptr, HFILL}},
        {&fields.command_data, {"Data", "zmq.command.data", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.metadata, {"Property", "zmq.metadata", FT_NONE, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.metadata_name, {"Name", "zmq.metadata.name", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.metadata_value, {"Value", "zmq.metadata.value", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.plain_username, {"Username", "zmq.plain.username", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.plain_password, {"Password", "zmq.plain.password", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.ping_ttl, {"TTL", "zmq.ping.ttl", FT_UINT16, BASE_CUSTOM, CF_FUNC(format_ttl), 0,
            "Deciseconds the peer may wait for traffic before closing", HFILL}},
        {&fields.ping_context, {"Context", "zmq.ping.context", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.error_reason, {"Reason", "zmq.error.reason", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.subscription_subscribe, {"Subscribe", "zmq.subscription.subscribe", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "True for SUBSCRIBE, false for CANCEL", HFILL}},
        {&fields.subscription_topic, {"Topic", "zmq.subscription.topic", FT_BYTES, BASE_SHOW_ASCII_PRINTABLE, nullptr, 0, nullptr, HFILL}},
        {&fields.group, {"Group", "zmq.group", FT_STRING, BASE_NONE, nullptr, 0, "JOIN/LEAVE group", HFILL}},

        {&fields.curve_version, {"Version", "zmq.curve.version", FT_UINT16, BASE_HEX, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_nonce, {"Short nonce", "zmq.curve.nonce", FT_UINT64, BASE_DEC, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_long_nonce, {"Long nonce", "zmq.curve.long_nonce", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_client_ephemeral, {"Client ephemeral public key (C')", "zmq.curve.client_ephemeral", FT_BYTES,
            BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_server_ephemeral, {"Server ephemeral public key (S')", "zmq.curve.server_ephemeral", FT_BYTES,
            BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_client_public, {"Client long-term public key (C)", "zmq.curve.client_public", FT_BYTES,
            BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_cookie, {"Cookie", "zmq.curve.cookie", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_box, {"Box", "zmq.curve.box", FT_BYTES, BASE_NONE, nullptr, 0, "MAC and ciphertext", HFILL}},
        {&fields.curve_decrypted, {"Decrypted", "zmq.curve.decrypted", FT_BOOLEAN, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.curve_vouch_nonce, {"Vouch nonce", "zmq.curve.vouch_nonce", FT_BYTES, BASE_NONE, nullptr, 0,
            "Last 16 bytes of the vouch's nonce (after \"VOUCH---\")", HFILL}},
        {&fields.curve_vouch_box, {"Vouch box", "zmq.curve.vouch_box", FT_BYTES, BASE_NONE, nullptr, 0,
            "C' and S, boxed from C to S'", HFILL}},
        {&fields.curve_vouch_valid, {"Vouch valid", "zmq.curve.vouch_valid", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "The vouch opened and names this connection's C' and the server key S", HFILL}},

        {&fields.response_in, {"Response in", "zmq.response_in", FT_FRAMENUM, BASE_NONE,
            FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0, nullptr, HFILL}},
        {&fields.response_to, {"Response to", "zmq.response_to", FT_FRAMENUM, BASE_NONE,
            FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0, nullptr, HFILL}},
        {&fields.response_time, {"Response time", "zmq.response_time", FT_RELATIVE_TIME, BASE_NONE, nullptr, 0,
            "Time since the request (or PING)", HFILL}},

        {&fields.direction, {"Direction", "zmq.direction", FT_STRING, BASE_NONE, nullptr, 0,
            "Client = the side that opened the TCP connection", HFILL}},
        {&fields.socket_type, {"Sender socket type", "zmq.socket_type", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.peer_socket_type, {"Receiver socket type", "zmq.peer_socket_type", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.mechanism, {"Mechanism", "zmq.mechanism", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.stream_offset, {"Stream offset", "zmq.stream_offset", FT_UINT64, BASE_DEC, nullptr, 0,
            "Offset of this unit in its direction of the TCP stream", HFILL}},
        {&fields.handshake, {"Handshake", "zmq.handshake", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},

        {&fields.undecoded, {"Undecoded bytes", "zmq.undecoded", FT_BYTES, BASE_NONE, nullptr, 0,
            "Bytes libzmtp did not decode as ZMTP units (before a frame boundary, retransmitted, ...)", HFILL}},
        {&fields.undecoded_reason, {"Not decoded because", "zmq.undecoded.reason", FT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
        {&fields.gap, {"Bytes missing", "zmq.gap", FT_NONE, BASE_NONE, nullptr, 0,
            "The capture lacks bytes of this direction before this unit", HFILL}},
        {&fields.gap_offset, {"At stream offset", "zmq.gap.offset", FT_UINT64, BASE_DEC, nullptr, 0,
            "Where the missing bytes start", HFILL}},
        {&fields.gap_bytes, {"Bytes lost", "zmq.gap.bytes", FT_UINT64, BASE_DEC, nullptr, 0,
            "From the TCP sequence numbers", HFILL}},
        {&fields.gap_before_start, {"Capture started inside the connection", "zmq.gap.before_start", FT_BOOLEAN, BASE_NONE,
            nullptr, 0, "No SYN and no greeting: the bytes before the capture are missing", HFILL}},
        {&fields.gap_requests_dropped, {"Requests no longer paired", "zmq.gap.requests_dropped", FT_UINT64, BASE_DEC, nullptr, 0,
            "Requests still waiting for a reply at the gap: their replies cannot be told apart any more", HFILL}},
        {&fields.gap_frames_lost, {"Frames lost", "zmq.gap.frames_lost", FT_UINT64, BASE_DEC, nullptr, 0,
            "CURVE: frames missing before the resync point, from the nonce jump", HFILL}},
        {&fields.resync, {"Resynchronised at stream offset", "zmq.resync", FT_UINT64, BASE_DEC, nullptr, 0,
            "The frame boundary where decoding resumed after lost bytes or a late start", HFILL}},
        {&fields.resync_evidence, {"Evidence", "zmq.resync.evidence", FT_STRING, BASE_NONE, nullptr, 0,
            "Why this position was taken for a frame boundary", HFILL}},
        {&fields.resync_skipped, {"Bytes skipped", "zmq.resync.skipped", FT_UINT64, BASE_DEC, nullptr, 0,
            "Bytes after the gap and before the boundary, not decoded", HFILL}},
        {&fields.message_loss, {"Message incomplete", "zmq.message.loss", FT_STRING, BASE_NONE, nullptr, 0,
            "\"start lost\" or \"end lost\": a message the capture has only part of (not counted, not paired)", HFILL}},
        {&fields.message_loss_frames, {"Frames captured", "zmq.message.loss.frames", FT_UINT32, BASE_DEC, nullptr, 0,
            "Frames of the incomplete message the capture holds", HFILL}},
        {&fields.message_loss_size, {"Bytes captured", "zmq.message.loss.size", FT_UINT64, BASE_DEC, nullptr, 0,
            "Body bytes of those frames", HFILL}},
        {&fields.frame_start_lost, {"Message start may be lost", "zmq.frame.start_lost", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "The first frame after a gap: earlier frames of its message may be in the lost bytes", HFILL}},
        {&fields.mechanism_inferred, {"Mechanism inferred", "zmq.mechanism_inferred", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "Not from the greetings (not captured): from the frames", HFILL}},
        {&fields.socket_types_inferred, {"Socket types inferred", "zmq.socket_types_inferred", FT_BOOLEAN, BASE_NONE, nullptr, 0,
            "Not from READY metadata (not captured): from the shape of the messages", HFILL}},
    };
    // clang-format on
    proto_register_field_array(fields.proto, hf, array_length(hf));

    static gint* ett[] = {&fields.ett_zmq,     &fields.ett_greeting,  &fields.ett_frame,
                          &fields.ett_flags,   &fields.ett_command,   &fields.ett_metadata,
                          &fields.ett_curve,   &fields.ett_decrypted, &fields.ett_message,
                          &fields.ett_recovery};
    proto_register_subtree_array(ett, array_length(ett));
}

void register_expert() {
    // clang-format off
    static ei_register_info ei[] = {
        {&fields.ei_key_missing, {"zmq.expert.key_missing", PI_DECRYPTION, PI_NOTE, "Box not opened: a key is missing", EXPFILL}},
        {&fields.ei_wrong_server_key, {"zmq.expert.wrong_server_key", PI_DECRYPTION, PI_WARN, "HELLO does not open with the server's secret key", EXPFILL}},
        {&fields.ei_box_not_opened, {"zmq.expert.box_not_opened", PI_DECRYPTION, PI_WARN, "Box does not open with the session key", EXPFILL}},
        {&fields.ei_nonce, {"zmq.expert.nonce_not_increasing", PI_SEQUENCE, PI_WARN, "CURVE nonce does not increase", EXPFILL}},
        {&fields.ei_trial_limit, {"zmq.expert.trial_limit", PI_DECRYPTION, PI_NOTE, "Gave up trying candidate keys", EXPFILL}},
        {&fields.ei_malformed, {"zmq.expert.malformed", PI_MALFORMED, PI_WARN, "Malformed command", EXPFILL}},
        {&fields.ei_reserved_flags, {"zmq.expert.reserved_flags", PI_PROTOCOL, PI_WARN, "Reserved flag bits set", EXPFILL}},
        {&fields.ei_command_with_more, {"zmq.expert.command_with_more", PI_PROTOCOL, PI_WARN, "Command frame with MORE set", EXPFILL}},
        {&fields.ei_mechanism_mismatch, {"zmq.expert.mechanism_mismatch", PI_PROTOCOL, PI_ERROR, "Security mechanisms differ", EXPFILL}},
        {&fields.ei_error_command, {"zmq.expert.error", PI_RESPONSE_CODE, PI_WARN, "ERROR command: handshake refused", EXPFILL}},
        {&fields.ei_unexpected_command, {"zmq.expert.unexpected_command", PI_PROTOCOL, PI_WARN, "Command out of place", EXPFILL}},
        {&fields.ei_stream_error, {"zmq.expert.stream_error", PI_MALFORMED, PI_ERROR, "Stream cannot be decoded further", EXPFILL}},
        {&fields.ei_heartbeat_late, {"zmq.expert.heartbeat_late", PI_SEQUENCE, PI_WARN, "Heartbeat late against the PING TTL", EXPFILL}},
        {&fields.ei_peer_silent, {"zmq.expert.peer_silent", PI_SEQUENCE, PI_WARN, "Peer silent for longer than its PING TTL", EXPFILL}},
        {&fields.ei_ping_unanswered, {"zmq.expert.ping_unanswered", PI_SEQUENCE, PI_WARN, "Previous PING not answered", EXPFILL}},
        {&fields.ei_gap, {"zmq.expert.gap", PI_SEQUENCE, PI_WARN, "Bytes missing from the capture", EXPFILL}},
        {&fields.ei_truncated, {"zmq.expert.truncated", PI_MALFORMED, PI_WARN, "Unit cut short by the capture", EXPFILL}},
        {&fields.ei_mid_stream, {"zmq.expert.mid_stream", PI_UNDECODED, PI_NOTE, "Capture starts inside the connection", EXPFILL}},
        {&fields.ei_retransmission, {"zmq.expert.retransmission", PI_SEQUENCE, PI_NOTE, "Bytes already seen (retransmission)", EXPFILL}},
        {&fields.ei_resync, {"zmq.expert.resync", PI_SEQUENCE, PI_NOTE, "Decoding resumes at a frame boundary", EXPFILL}},
        {&fields.ei_message_loss, {"zmq.expert.message_loss", PI_SEQUENCE, PI_WARN, "Message cut by lost bytes", EXPFILL}},
        {&fields.ei_handshake_not_captured, {"zmq.expert.handshake_not_captured", PI_PROTOCOL, PI_NOTE, "Handshake not captured", EXPFILL}},
        {&fields.ei_mechanism_inferred, {"zmq.expert.mechanism_inferred", PI_PROTOCOL, PI_NOTE, "Mechanism inferred from the frames", EXPFILL}},
        {&fields.ei_socket_types_inferred, {"zmq.expert.socket_types_inferred", PI_PROTOCOL, PI_NOTE, "Socket types inferred from the messages", EXPFILL}},
        {&fields.ei_session_key_missing, {"zmq.expert.session_key_missing", PI_DECRYPTION, PI_NOTE, "A SESSION_KEY would open this connection", EXPFILL}},
        {&fields.ei_gap_hint, {"zmq.expert.gap_out_of_order", PI_SEQUENCE, PI_CHAT, "A late segment would not be a gap with out-of-order reassembly", EXPFILL}},
        {&fields.ei_late_segment, {"zmq.expert.late_segment", PI_SEQUENCE, PI_NOTE, "Bytes counted as lost arrive late (out of order)", EXPFILL}},
        {&fields.ei_undecoded, {"zmq.expert.undecoded", PI_UNDECODED, PI_NOTE, "Bytes not decoded", EXPFILL}},
    };
    // clang-format on
    expert_module_t* module = expert_register_protocol(fields.proto);
    expert_register_field_array(module, ei, array_length(ei));
}

}  // namespace

void register_fields() {
    register_hf();
    register_expert();
}

}  // namespace zmqdiss
