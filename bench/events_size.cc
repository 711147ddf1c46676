// The event record's worst case (bench/README): 10,000 events with every
// string at its cap, 4,000 distinct clusters, half of them decisions. Prints
// what the record holds, the heap it uses and the size of /api/events.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>

#include "engine/api_json.h"
#include "engine/events.h"

int main() {
    using namespace rh;
    std::string big(2 * kEventTextMax, 'x');
    size_t before = mallinfo2().uordblks;
    auto log = std::make_unique<EventLog>();
    for (int i = 0; i < 10000; i++) {
        std::string cluster = "cluster-" + std::to_string(i % 4000) + std::string(40, 'c');
        log->record(
            i, cluster, i % 2 ? EventKind::confirmed : EventKind::refused,
            EventReason::min_agreement,
            {HostPort{big, 1}, static_cast<uint64_t>(i), big + std::to_string(i), true, big});
    }
    size_t after = mallinfo2().uordblks;
    ApiView v;
    v.events = log->last();
    ApiResponse r = render_events(v, "");
    std::printf("event record: %zu held (capacity %zu), %llu evicted, %zu bytes of heap; "
                "/api/events body %zu bytes\n",
                log->size(), kEventCapacity, static_cast<unsigned long long>(log->evicted()),
                after - before, r.body.size());
    return 0;
}
