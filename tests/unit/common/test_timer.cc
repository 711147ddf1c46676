// Unit tests for Timer (src/common/evutil.h): its event exists only while it
// is armed, so the states a caller sees must not change: pending while armed,
// not after it fired or was cancelled, re-armable from its own callback.
#include <event2/event.h>

#include <chrono>

#include "common/evutil.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;
using namespace std::chrono_literals;

static void fires_once_then_idle(void**) {
    EventBasePtr base(event_base_new());
    int fired = 0;
    Timer t(base.get(), [&] { fired++; });
    assert_false(t.pending());
    t.arm(1ms);
    assert_true(t.pending());
    event_base_dispatch(base.get()); // returns when nothing is pending
    assert_int_equal(fired, 1);
    assert_false(t.pending());
    t.arm(0ms); // re-armable after it fired
    event_base_dispatch(base.get());
    assert_int_equal(fired, 2);
}

static void rearms_from_its_own_callback(void**) {
    EventBasePtr base(event_base_new());
    int fired = 0;
    bool pending_inside = true;
    Timer* self = nullptr;
    Timer t(base.get(), [&] {
        pending_inside = self->pending();
        if (++fired < 3)
            self->arm(0ms);
    });
    self = &t;
    t.arm(0ms);
    event_base_dispatch(base.get());
    assert_int_equal(fired, 3);
    assert_false(pending_inside); // a fired timer is not pending in its callback
    assert_false(t.pending());
}

static void cancel_stops_it(void**) {
    EventBasePtr base(event_base_new());
    int fired = 0;
    Timer t(base.get(), [&] { fired++; });
    t.cancel(); // harmless when idle
    t.arm(0ms);
    t.arm(1ms); // re-arming reschedules, never doubles
    t.cancel();
    assert_false(t.pending());
    event_base_dispatch(base.get());
    assert_int_equal(fired, 0);
    t.arm(1ms);
    t.arm(0ms);
    event_base_dispatch(base.get());
    assert_int_equal(fired, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_once_then_idle),
        cmocka_unit_test(rearms_from_its_own_callback),
        cmocka_unit_test(cancel_stops_it),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
