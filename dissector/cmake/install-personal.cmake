# Copies the plugin into the personal plugin folder of the user running the build.
# Usage: cmake -DPLUGIN=path/zmq.so -DABI=4.0 -P install-personal.cmake
if(NOT PLUGIN OR NOT ABI)
  message(FATAL_ERROR "usage: cmake -DPLUGIN=zmq.so -DABI=4.0 -P install-personal.cmake")
endif()
if(NOT DEFINED ENV{HOME} OR "$ENV{HOME}" STREQUAL "")
  message(FATAL_ERROR "HOME is not set: cannot find the personal plugin folder")
endif()
set(dest "$ENV{HOME}/.local/lib/wireshark/plugins/${ABI}/epan")
file(MAKE_DIRECTORY "${dest}")
file(COPY "${PLUGIN}" DESTINATION "${dest}")
message(STATUS "Installed ${dest}/zmq.so")
