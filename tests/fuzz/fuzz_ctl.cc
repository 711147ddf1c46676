// fuzz-sources: src/ctl/ctl.cc
// libFuzzer target: bytes -> every redishappyctl formatter. The API's replies
// reach the tool from the network-facing engine, so they are untrusted input.
// The first byte picks where the input is split between a topology and a
// Sentinels reply, and the HTTP status given to format_health().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ctl/ctl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    size_t cut = size > 1 ? data[0] % size : 0;
    std::string_view a = in.substr(0, cut), b = in.substr(std::min(cut, in.size()));
    (void)rh::ctl::format_status(a, b);
    (void)rh::ctl::format_topology(in);
    (void)rh::ctl::format_sentinels(in);
    (void)rh::ctl::format_events(in);
    (void)rh::ctl::error_of(in);
    bool healthy = false;
    (void)rh::ctl::format_health(in, data[0] & 1 ? 200 : 503, &healthy);
    return 0;
}
