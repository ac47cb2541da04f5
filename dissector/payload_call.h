/* Calls the sub-dissectors of a message body inside Wireshark's TRY/CATCH. Written in C
 * because Wireshark's exceptions are setjmp/longjmp macros made for C. */
#pragma once

#include <glib.h>

#ifdef __cplusplus
extern "C" {
#else
#include <stdbool.h>
#endif

#include <epan/packet.h>

/* Tries `chosen` (may be NULL), then the dissector table by server and client port, then
 * the heuristic list. Returns true when one of them took the body or threw (the exception is
 * shown in the tree). */
bool zmq_call_payload_dissectors(tvbuff_t* body, packet_info* pinfo, proto_tree* tree,
                                 dissector_handle_t chosen, dissector_table_t table,
                                 heur_dissector_list_t heuristics, unsigned server_port,
                                 unsigned client_port);

#ifdef __cplusplus
}
#endif
