// The Wireshark headers the plugin uses, and the few names that differ between 4.0, 4.4
// and 4.6 (dissector/README.md, "Wireshark versions"). Wireshark's headers are C, wrapped in
// `extern "C"` here. Headers that hold C++ templates when compiled as C++ (glib's helpers;
// jtckdint.h, which 4.4's wireshark.h includes) come first, outside the block: their include
// guards keep them out of it.
#pragma once

#include <glib.h>

#include <type_traits>

#if __has_include(<jtckdint.h>)
#include <jtckdint.h>
#endif

extern "C" {
#include <wireshark.h>

#include <epan/conversation.h>
#include <epan/decode_as.h>
#include <epan/dissectors/packet-tcp.h>
#include <epan/expert.h>
#include <epan/packet.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/srt_table.h>
#include <epan/stats_tree.h>
#include <epan/tap.h>
#include <epan/uat.h>
#include <wsutil/report_message.h>
}

#define ZMQ_WS_AT_LEAST(major, minor)     \
    (WIRESHARK_VERSION_MAJOR > (major) || \
     (WIRESHARK_VERSION_MAJOR == (major) && WIRESHARK_VERSION_MINOR >= (minor)))

namespace zmqdiss {

// Callback return types changed from gboolean to bool in 4.4: take them from the typedefs.
using HeurResult =
    std::invoke_result_t<heur_dissector_t, tvbuff_t*, packet_info*, proto_tree*, void*>;
using UatCheckResult = std::invoke_result_t<uat_fld_chk_cb_t, void*, const char*, unsigned,
                                            const void*, const void*, char**>;
using UatUpdateResult = std::invoke_result_t<uat_update_cb_t, void*, char**>;

inline uint8_t tvb_u8(tvbuff_t* tvb, int offset) {
#if ZMQ_WS_AT_LEAST(4, 3)
    return tvb_get_uint8(tvb, offset);
#else
    return tvb_get_guint8(tvb, offset);
#endif
}

}  // namespace zmqdiss
