// Registration entry points of the ZMQ protocol, called through the plugin interface.
#pragma once

void proto_register_zmq();
void proto_reg_handoff_zmq();
