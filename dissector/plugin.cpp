// The symbols Wireshark looks up when it loads the plugin (C linkage): plugin_version,
// plugin_want_major and plugin_want_minor (checked against the running version),
// plugin_register, and from 4.2 on plugin_describe. 4.0, 4.4 and 4.6 load plugins this way
// (dissector/README.md, "Wireshark versions").
#define WS_BUILD_DLL
#include "packet-zmq.hpp"
#include "ws.hpp"

#if ZMQ_WS_AT_LEAST(4, 2)
extern "C" {
#include <wsutil/plugins.h>
}
#endif

// A loader that takes a struct ws_module from wireshark_load_module() instead (seen on
// Wireshark's development line, in no release up to 4.6) needs its own entry point, and
// the layout of that struct has changed between development snapshots: refuse to build
// rather than guess it.
#ifdef WIRESHARK_PLUGIN_REGISTER_EPAN
#error \
    "this Wireshark registers plugins through struct ws_module: see dissector/README.md, Wireshark versions"
#endif

#ifndef ZMQ_PLUGIN_VERSION
#define ZMQ_PLUGIN_VERSION "0.1.0"
#endif

extern "C" {
// Declared extern first: a C++ const at namespace scope would otherwise be internal.
WS_DLL_PUBLIC const char plugin_version[];
WS_DLL_PUBLIC const int plugin_want_major;
WS_DLL_PUBLIC const int plugin_want_minor;
const char plugin_version[] = ZMQ_PLUGIN_VERSION;
const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);
void plugin_register(void) {
    static proto_plugin plugin;
    plugin.register_protoinfo = proto_register_zmq;
    plugin.register_handoff = proto_reg_handoff_zmq;
    proto_register_plugin(&plugin);
}

#ifdef WS_PLUGIN_DESC_DISSECTOR
WS_DLL_PUBLIC uint32_t plugin_describe(void);
uint32_t plugin_describe(void) {
    return WS_PLUGIN_DESC_DISSECTOR;
}
#endif
}
