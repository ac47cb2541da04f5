// Statistics and views over the tap "zmq": service response times (tshark -z zmq,srt), the
// stats trees (tshark -z zmq,tree and -z zmq_conv,tree), and the views of views.cpp and
// follow.cpp (Follow ZMQ Stream, Conversations and Endpoints, Flow Graph). The tap carries one
// const TapUnit* per wire unit, on every pass, made from the unit's PduRecord (computed once,
// on the first pass) and its bytes.
#pragma once

#include "state.hpp"
#include "ws.hpp"

namespace zmqdiss {

extern int zmq_tap;

struct TapUnit {
    const PduRecord* rec = nullptr;
    // A data frame whose body the capture holds whole (plaintext, or a decrypted MESSAGE's):
    // its bytes, valid while the packet is dissected.
    bool has_body = false;
    zmtp::Bytes body;
    const char* summary = "";  // what the Info column says of this unit (packet scope)
};

void register_stats();       // from proto_register
void register_stats_tree();  // from plugin registration (stats_tree_register_plugin)

}  // namespace zmqdiss
