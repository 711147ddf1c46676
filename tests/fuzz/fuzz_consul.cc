// fuzz-sources: src/engine/consul_json.cc src/common/address.cc
// libFuzzer target: bytes -> the parser of Consul's GET /v1/catalog/service
// reply and the fence's decision on it. The reply comes from the network
// (Consul, or anything answering at its address), so it is untrusted input.
// Invariants checked: a refused reply says why; the fence never writes over
// a higher epoch, and a write is a check-and-set on the index read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/consul_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1)
        return 0;
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    rh::ConsulRead r = rh::consul_parse_read(body, "n", "s");
    if (!r.ok) {
        if (r.error.empty() || r.entry)
            abort();
        return 0;
    }
    rh::ConsulService ours;
    ours.cluster = "c";
    ours.node = "n";
    ours.service_id = "s";
    ours.address = rh::HostPort{"10.0.0.1", 6379};
    ours.epoch = data[0];
    ours.instance = data[0] & 1 ? "a" : "";
    rh::FenceDecision d = rh::consul_fence(r.entry, ours);
    if (d.verdict == rh::FenceVerdict::write) {
        if (r.entry && r.entry->epoch && *r.entry->epoch > ours.epoch)
            abort(); // would move the registration back
        if (d.cas_index != (r.entry ? r.entry->modify_index : 0))
            abort();
        (void)rh::consul_cas_register_request(ours, d.cas_index);
    }
    if (r.entry)
        (void)rh::consul_may_withdraw(*r.entry, ours);
    return 0;
}
