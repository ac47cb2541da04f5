#include "payload_call.h"

#include <epan/exceptions.h>
#include <epan/show_exception.h>
#include <ws_version.h>

/* Wireshark 4.6 renamed dissector_try_uint_new to dissector_try_uint_with_data and deprecated
 * the old name; 4.0 and 4.4 have only the old one. Same arguments, same result. */
#if WIRESHARK_VERSION_MAJOR > 4 || (WIRESHARK_VERSION_MAJOR == 4 && WIRESHARK_VERSION_MINOR >= 5)
#define zmq_try_uint dissector_try_uint_with_data
#else
#define zmq_try_uint dissector_try_uint_new
#endif

bool zmq_call_payload_dissectors(tvbuff_t* body, packet_info* pinfo, proto_tree* tree,
                                 dissector_handle_t chosen, dissector_table_t table,
                                 heur_dissector_list_t heuristics, unsigned server_port,
                                 unsigned client_port) {
    volatile bool done = false;
    TRY {
        heur_dtbl_entry_t* entry = NULL;
        if (chosen) done = call_dissector_only(chosen, body, pinfo, tree, NULL) > 0;
        if (!done) done = zmq_try_uint(table, server_port, body, pinfo, tree, true, NULL);
        if (!done && client_port != server_port) {
            done = zmq_try_uint(table, client_port, body, pinfo, tree, true, NULL);
        }
        if (!done) done = dissector_try_heuristic(heuristics, body, pinfo, tree, &entry, NULL);
    }
    CATCH_BOUNDS_AND_DISSECTOR_ERRORS {
        show_exception(body, pinfo, tree, EXCEPT_CODE, GET_MESSAGE);
        done = true;
    }
    ENDTRY;
    return done;
}
