# Debian packages (cpack -G DEB in a build folder), one per component that the build has:
#   zmtpscope-wireshark-plugin  zmq.so in the system plugin folder of the Wireshark it was
#                               built against (Wireshark_PLUGIN_LIBDIR, e.g.
#                               /usr/lib/x86_64-linux-gnu/wireshark/plugins/4.0/epan), depending
#                               on that Wireshark's libwireshark package, major.minor pinned
#   zmtpscope-tools             zmtp-replay, zmtp-send and the key logger libzmtp-keylog.so
# Included from the top-level CMakeLists.txt after every target exists. packaging/README.md
# says how to build and install them; scripts/wireshark-matrix.sh builds and checks them.

set(zmtpscope_components "")
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE zmtpscope_arch
                RESULT_VARIABLE zmtpscope_status ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT zmtpscope_status EQUAL 0)
  set(zmtpscope_arch "${CMAKE_SYSTEM_PROCESSOR}")
endif()

if(TARGET zmq_plugin)
  list(APPEND zmtpscope_components wireshark-plugin)
  # The package that holds the libwireshark this plugin links (libwireshark16 for 4.0, ...):
  # a plugin loads only into the major.minor it was built for, so the dependency stops there.
  file(REAL_PATH "${ZMQ_WIRESHARK_LIB_DIR}/libwireshark.so" zmtpscope_libwireshark)
  execute_process(COMMAND dpkg-query -S "${zmtpscope_libwireshark}"
                  OUTPUT_VARIABLE zmtpscope_owner RESULT_VARIABLE zmtpscope_status
                  ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(zmtpscope_status EQUAL 0 AND zmtpscope_owner MATCHES "^([^:]+)(:[^:]+)?: ")
    set(zmtpscope_libwireshark_package "${CMAKE_MATCH_1}")
    string(REPLACE "." ";" zmtpscope_abi "${ZMQ_PLUGIN_ABI}")
    list(GET zmtpscope_abi 0 zmtpscope_major)
    list(GET zmtpscope_abi 1 zmtpscope_minor)
    math(EXPR zmtpscope_minor "${zmtpscope_minor} + 1")
    set(zmtpscope_next_abi "${zmtpscope_major}.${zmtpscope_minor}")
    set(CPACK_DEBIAN_WIRESHARK-PLUGIN_PACKAGE_DEPENDS
        "${zmtpscope_libwireshark_package} (>= ${ZMQ_WIRESHARK_VERSION}), ${zmtpscope_libwireshark_package} (<< ${zmtpscope_next_abi}~)")
  else()
    message(STATUS "packaging: ${zmtpscope_libwireshark} belongs to no Debian package: "
                   "the plugin package names no libwireshark dependency")
  endif()
  set(CPACK_DEBIAN_WIRESHARK-PLUGIN_PACKAGE_NAME zmtpscope-wireshark-plugin)
  set(CPACK_DEBIAN_WIRESHARK-PLUGIN_FILE_NAME
      "zmtpscope-wireshark-plugin_${PROJECT_VERSION}_wireshark${ZMQ_PLUGIN_ABI}_${zmtpscope_arch}.deb")
  set(CPACK_DEBIAN_WIRESHARK-PLUGIN_PACKAGE_SECTION net)
  set(CPACK_COMPONENT_WIRESHARK-PLUGIN_DESCRIPTION
      "ZeroMQ (ZMTP, CurveZMQ) plugin for Wireshark ${ZMQ_PLUGIN_ABI}
Shows ZMTP 1.0-3.1 greetings, handshakes and messages in Wireshark and tshark and
decrypts CurveZMQ with a key log (protocol zmq, fields zmq.*).")
endif()

if(TARGET zmtp_replay AND TARGET zmtp_send AND TARGET zmtp_keylog)
  list(APPEND zmtpscope_components tools)
  # The tools' own install rules are in the default component; these name theirs.
  install(TARGETS zmtp_replay zmtp_send RUNTIME DESTINATION bin COMPONENT tools EXCLUDE_FROM_ALL)
  install(TARGETS zmtp_keylog LIBRARY DESTINATION lib COMPONENT tools EXCLUDE_FROM_ALL)
  set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME zmtpscope-tools)
  set(CPACK_DEBIAN_TOOLS_FILE_NAME "zmtpscope-tools_${PROJECT_VERSION}_${zmtpscope_arch}.deb")
  set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION net)
  set(CPACK_COMPONENT_TOOLS_DESCRIPTION
      "ZeroMQ capture analysis: zmtp-replay, zmtp-send and the CurveZMQ key logger
zmtp-replay decodes ZMTP in pcap/pcapng captures (messages, request/reply latency,
CurveZMQ decryption); zmtp-send sends a capture's client messages to a live endpoint
and compares the replies; /usr/lib/libzmtp-keylog.so, preloaded into a libzmq program,
writes its CURVE keys to a key log.")
endif()

if(zmtpscope_components)
  set(CPACK_GENERATOR DEB)
  set(CPACK_DEB_COMPONENT_INSTALL ON)
  set(CPACK_COMPONENTS_ALL ${zmtpscope_components})
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
  set(CPACK_PACKAGE_CONTACT "zmtpscope maintainers <zmtpscope@localhost>")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${zmtpscope_arch}")
  # Library dependencies (libsodium, libc, libstdc++, ...) from the binaries, by dpkg-shlibdeps.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_STRIP_FILES ON)
  set(CPACK_OUTPUT_FILE_PREFIX "${PROJECT_BINARY_DIR}/packages")
  include(CPack)
endif()
