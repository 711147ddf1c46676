// fuzz-sources: src/engine/sentinel_proto.cc src/engine/replicas.cc src/engine/redis_async.cc src/common/address.cc src/common/log.cc
// libFuzzer target: bytes -> hiredis redisReader -> every sentinel_proto parser,
// and the read backend's rules (replicas.cc) on what parses as SENTINEL REPLICAS.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -I<builddir>/src
//   tests/fuzz/fuzz_sentinel_proto.cc src/engine/sentinel_proto.cc src/engine/replicas.cc
//   src/engine/redis_async.cc src/common/address.cc src/common/log.cc -lhiredis -levent
//   -o fuzz_sentinel_proto
// The first byte picks how the input is split between a channel name and an
// event payload, so parse_event sees arbitrary text too.
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/redis_async.h"
#include "engine/replicas.h"
#include "engine/sentinel_proto.h"

using namespace rh::sentinel;

static void parse_all(const redisReply* r) {
    (void)parse_master(r);
    (void)parse_masters(r);
    (void)reply_names_master(r, {"127.0.0.1", 6379});
    if (auto reps = parse_replicas(r)) {
        // What the read backend makes of a hostile list: candidates, slots.
        auto c = rh::replica_candidates({{"s", *reps.value}}, {"127.0.0.1", 6379});
        (void)rh::assign_slots({}, c, rh::kDefaultMaxReplicas);
    }
    (void)parse_sentinels(r);
    (void)parse_role(r);
    (void)parse_role_info(r);
    auto p = parse_push(r);
    if (p && p.value->has_value())
        (void)parse_event((*p.value)->channel, (*p.value)->payload);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 0) {
        std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
        size_t cut = data[0] % (all.size() + 1);
        (void)parse_event(all.substr(0, cut), all.substr(cut));
        const auto& chs = event_channels();
        (void)parse_event(chs[data[0] % chs.size()], all);
    }
    // The engine's reader: every reply charged to a budget, in an arena.
    rh::ReplyReader rd;
    rd.feed(reinterpret_cast<const char*>(data), size);
    for (int i = 0; i < 16; i++) {
        redisReply* out = nullptr;
        if (rd.get(&out) != REDIS_OK || !rd.check_pending() || !out)
            break;
        parse_all(out);
    }
    return 0;
}
