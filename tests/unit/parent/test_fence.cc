// Unit tests for the pure parts of the parent's fence (src/parent/fence.cc):
// which fence_timeout is in force, and the runtime commands.
#include <chrono>
#include <string>

#include "parent/fence.h"

#include "../../cmocka.h"

using namespace rh;
using std::chrono::milliseconds;

static void configured_timeout_wins(void**) {
    assert_int_equal(fence_timeout(milliseconds(2000), 180000).count(), 2000);
    assert_int_equal(fence_timeout(milliseconds(7200000), 0).count(), 7200000);
}

// Unset: Sentinel's failover-timeout as the engine read it, clamped, so a
// hostile engine cannot keep a master fenced for more than an hour.
static void default_is_sentinels_failover_timeout(void**) {
    assert_int_equal(fence_timeout(milliseconds(0), 10000).count(), 10000);
    assert_int_equal(fence_timeout(milliseconds(0), 0).count(), kFenceTimeoutDefault.count());
    assert_int_equal(fence_timeout(milliseconds(0), 1).count(), kFenceTimeoutMin.count());
    assert_int_equal(fence_timeout(milliseconds(0), 0xffffffffu).count(), kFenceTimeoutMax.count());
}

static void commands(void**) {
    auto f = fence_commands("redis_a", "master");
    assert_int_equal(f.size(), 2);
    assert_string_equal(f[0].c_str(), "set server redis_a/master state maint");
    assert_string_equal(f[1].c_str(), "shutdown sessions server redis_a/master");
    auto u = unfence_commands("redis_a", "master");
    assert_int_equal(u.size(), 1);
    assert_string_equal(u[0].c_str(), "set server redis_a/master state ready");
    assert_string_equal(fence_lift_name(proto::FenceLift::Timeout), "fence_timeout");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(configured_timeout_wins),
        cmocka_unit_test(default_is_sentinels_failover_timeout),
        cmocka_unit_test(commands),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
