// Statistics over the tap "zmq": service response times (tshark -z zmq,srt) and a stats
// tree (tshark -z zmq,tree). The tap carries one const PduRecord* per wire unit.
#pragma once

#include "ws.hpp"

namespace zmqdiss {

extern int zmq_tap;

void register_stats();       // from proto_register
void register_stats_tree();  // from plugin registration (stats_tree_register_plugin)

}  // namespace zmqdiss
