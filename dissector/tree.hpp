// Turns a unit's PduRecord and its bytes into the protocol tree, the Info column, expert
// infos and a tap entry. Plaintext commands are parsed again from the tvb with libzmtp's
// stateless parser, so every field points at its bytes.
#pragma once

#include "state.hpp"
#include "ws.hpp"

namespace zmqdiss {

struct Ports {
    uint32_t server = 0;
    uint32_t client = 0;
};

// `tvb` holds exactly the unit (possibly cut short by the capture).
void render_unit(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, const PduRecord& rec,
                 const Ports& ports);

// Bytes that are not decoded (after a gap, or a retransmission); `why` is for people.
void render_undecoded(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, const char* why,
                      expert_field* ei);

// Hands a message body to a sub-dissector (by port table, Decode As or heuristics).
// Implemented next to the registration, in packet-zmq.cpp.
bool dissect_payload(tvbuff_t* body, packet_info* pinfo, proto_tree* tree, const Ports& ports);

}  // namespace zmqdiss
