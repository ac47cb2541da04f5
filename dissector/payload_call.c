#include "payload_call.h"

#include <epan/exceptions.h>
#include <epan/show_exception.h>

gboolean zmq_call_payload_dissectors(tvbuff_t* body, packet_info* pinfo, proto_tree* tree,
                                     dissector_handle_t chosen, dissector_table_t table,
                                     heur_dissector_list_t heuristics, guint server_port,
                                     guint client_port) {
    volatile gboolean done = FALSE;
    TRY {
        heur_dtbl_entry_t* entry = NULL;
        if (chosen) done = call_dissector_only(chosen, body, pinfo, tree, NULL) > 0;
        if (!done) done = dissector_try_uint_new(table, server_port, body, pinfo, tree, TRUE, NULL);
        if (!done && client_port != server_port) {
            done = dissector_try_uint_new(table, client_port, body, pinfo, tree, TRUE, NULL);
        }
        if (!done) done = dissector_try_heuristic(heuristics, body, pinfo, tree, &entry, NULL);
    }
    CATCH_BOUNDS_AND_DISSECTOR_ERRORS {
        show_exception(body, pinfo, tree, EXCEPT_CODE, GET_MESSAGE);
        done = TRUE;
    }
    ENDTRY;
    return done;
}
