// Unit tests for the backoff schedule (src/common/backoff.cc): the engine restart
// schedule is 100 ms doubling to 10 s, reset after a minute of good health.
#include "../../cmocka.h"

#include "common/backoff.h"

using namespace rh;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

static void doubles_to_the_cap(void**) {
    Backoff b(100ms, 10s, 60s);
    const long expected[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
    for (long e : expected)
        assert_int_equal(b.next().count(), e);
}

static void resets_after_healthy_period(void**) {
    Backoff b(100ms, 10s, 60s);
    Backoff::Clock::time_point t0{};
    t0 += 1000s;
    for (int i = 0; i < 5; i++)
        b.next();
    b.started(t0);
    b.failed(t0 + 59s); // not healthy long enough: keep growing
    assert_int_equal(b.next().count(), 3200);
    b.started(t0 + 100s);
    b.failed(t0 + 160s); // a full minute of health
    assert_int_equal(b.next().count(), 100);
}

static void jitter_stays_within_bounds(void**) {
    for (uint32_t r : {0u, 1u, 7u, 19u, 20u, 12345u, 0xffffffffu}) {
        Backoff b(100ms, 10s, 60s);
        auto d = b.next_with_jitter(r, 20);
        assert_true(d.count() >= 80 && d.count() <= 100);
    }
    Backoff b(100ms, 10s, 60s);
    assert_int_equal(b.next_with_jitter(5, 0).count(), 100);
}

static void never_overflows(void**) {
    Backoff b(100ms, 10s, 60s);
    for (int i = 0; i < 1000; i++)
        assert_true(b.next() <= 10s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doubles_to_the_cap),
        cmocka_unit_test(resets_after_healthy_period),
        cmocka_unit_test(jitter_stays_within_bounds),
        cmocka_unit_test(never_overflows),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
