// The symbols Wireshark looks up when it loads the plugin (C linkage). Wireshark 4.0 wants
// plugin_version / plugin_want_* / plugin_register; 4.2 and 4.4 also plugin_describe; later
// versions a ws_module registered with WIRESHARK_PLUGIN_REGISTER_EPAN.
#define WS_BUILD_DLL
#include "packet-zmq.hpp"
#include "ws.hpp"

#if ZMQ_WS_AT_LEAST(4, 2)
extern "C" {
#include <wsutil/plugins.h>
}
#endif

#ifndef ZMQ_PLUGIN_VERSION
#define ZMQ_PLUGIN_VERSION "0.1.0"
#endif

namespace {
void register_zmq_plugin() {
    static proto_plugin plugin;
    plugin.register_protoinfo = proto_register_zmq;
    plugin.register_handoff = proto_reg_handoff_zmq;
    proto_register_plugin(&plugin);
}
}  // namespace

#ifdef WIRESHARK_PLUGIN_REGISTER_EPAN
static struct ws_module zmq_module = {
    WS_PLUGIN_DESC_DISSECTOR,
    ZMQ_PLUGIN_VERSION,
    "GPL-2.0-or-later",
    "",
    "ZeroMQ transport (ZMTP, CurveZMQ) with decryption",
    &register_zmq_plugin,
};
extern "C" {
WIRESHARK_PLUGIN_REGISTER_EPAN(&zmq_module, 0)
}
#else
extern "C" {
// Declared extern first: a C++ const at namespace scope would otherwise be internal.
WS_DLL_PUBLIC const gchar plugin_version[];
WS_DLL_PUBLIC const int plugin_want_major;
WS_DLL_PUBLIC const int plugin_want_minor;
const gchar plugin_version[] = ZMQ_PLUGIN_VERSION;
const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);
void plugin_register(void) {
    register_zmq_plugin();
}

#ifdef WS_PLUGIN_DESC_DISSECTOR
WS_DLL_PUBLIC uint32_t plugin_describe(void);
uint32_t plugin_describe(void) {
    return WS_PLUGIN_DESC_DISSECTOR;
}
#endif
}
#endif
