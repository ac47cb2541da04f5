// Wireshark's own views of ZeroMQ traffic (dissector/README.md, "Wireshark's views"):
// Follow ZMQ Stream (follow.cpp), Conversations and Endpoints, the Flow Graph, and the
// credentials tap (Tools > Credentials, tshark -z credentials). All of them read what the
// tap "zmq" carries (stats.hpp), or what the tree found, never the wire.
#pragma once

#include <string_view>

#include "state.hpp"
#include "ws.hpp"

namespace zmqdiss {

void register_views();   // conversation table, flow graph, credentials tap (proto_register)
void register_follow();  // follow.cpp (proto_register)

// A PLAIN HELLO's username (its password's field is fields.plain_password).
void queue_plain_credentials(packet_info* pinfo, std::string_view username);
// An opened CURVE INITIATE: the client's long-term public key C is its identity.
void queue_curve_client_key(packet_info* pinfo, const zmtp::Key& client_public);

}  // namespace zmqdiss
