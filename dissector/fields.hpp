// Registered ids of the protocol, its fields, subtrees and expert infos.
#pragma once

#include "ws.hpp"

namespace zmqdiss {

struct Fields {
    int proto = -1;

    int greeting = -1, greeting_padding = -1, greeting_major = -1, greeting_minor = -1,
        greeting_mechanism = -1, greeting_as_server = -1, greeting_socket_type = -1,
        greeting_identity = -1;

    int frame = -1, frame_flags = -1, frame_more = -1, frame_long = -1, frame_command = -1,
        frame_reserved = -1, frame_length = -1, frame_body = -1, frame_index = -1, frame_role = -1,
        frame_inner_flags = -1, frame_inner_more = -1, frame_inner_command = -1, frame_text = -1;

    int message_frames = -1, message_size = -1, envelope_identity = -1, envelope_identities = -1;

    int command_name = -1, command_name_length = -1, command_data = -1;
    int metadata = -1, metadata_name = -1, metadata_value = -1;
    int plain_username = -1, plain_password = -1;
    int ping_ttl = -1, ping_context = -1;
    int error_reason = -1;
    int subscription_subscribe = -1, subscription_topic = -1, group = -1;

    int curve_version = -1, curve_nonce = -1, curve_long_nonce = -1, curve_client_ephemeral = -1,
        curve_server_ephemeral = -1, curve_client_public = -1, curve_cookie = -1, curve_box = -1,
        curve_decrypted = -1, curve_vouch_valid = -1, curve_vouch_nonce = -1, curve_vouch_box = -1;

    int response_in = -1, response_to = -1, response_time = -1;

    int direction = -1, socket_type = -1, peer_socket_type = -1, mechanism = -1, stream_offset = -1,
        handshake = -1;

    // Recovery from lost bytes and late starts (docs/protocol.md 9).
    int undecoded = -1, undecoded_reason = -1, gap = -1, gap_offset = -1, gap_bytes = -1,
        gap_before_start = -1, gap_requests_dropped = -1, gap_frames_lost = -1, resync = -1,
        resync_evidence = -1, resync_skipped = -1, message_loss = -1, message_loss_frames = -1,
        message_loss_size = -1, frame_start_lost = -1, mechanism_inferred = -1,
        socket_types_inferred = -1;

    gint ett_zmq = -1, ett_greeting = -1, ett_frame = -1, ett_flags = -1, ett_command = -1,
         ett_metadata = -1, ett_curve = -1, ett_decrypted = -1, ett_message = -1, ett_recovery = -1;

    expert_field ei_key_missing = EI_INIT, ei_wrong_server_key = EI_INIT,
                 ei_box_not_opened = EI_INIT, ei_nonce = EI_INIT, ei_trial_limit = EI_INIT,
                 ei_malformed = EI_INIT, ei_reserved_flags = EI_INIT,
                 ei_command_with_more = EI_INIT, ei_mechanism_mismatch = EI_INIT,
                 ei_error_command = EI_INIT, ei_unexpected_command = EI_INIT,
                 ei_stream_error = EI_INIT, ei_heartbeat_late = EI_INIT, ei_peer_silent = EI_INIT,
                 ei_ping_unanswered = EI_INIT, ei_gap = EI_INIT, ei_truncated = EI_INIT,
                 ei_retransmission = EI_INIT, ei_mid_stream = EI_INIT, ei_resync = EI_INIT,
                 ei_message_loss = EI_INIT, ei_handshake_not_captured = EI_INIT,
                 ei_mechanism_inferred = EI_INIT, ei_socket_types_inferred = EI_INIT,
                 ei_session_key_missing = EI_INIT, ei_late_segment = EI_INIT, ei_gap_hint = EI_INIT,
                 ei_undecoded = EI_INIT;
};

// The ids Wireshark gave the protocol, its fields, subtrees and expert infos at registration.
extern Fields fields;

void register_fields();

}  // namespace zmqdiss
