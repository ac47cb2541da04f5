// libFuzzer's entry point for one target, chosen at build time (ZMTP_FUZZ_TARGET).
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return zmtp_fuzz::ZMTP_FUZZ_TARGET(data, size);
}
