// Unit tests for src/parent/notify.cc: the STATUS= line systemctl status shows.
#include <string>

#include "parent/notify.h"

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

static std::string line(size_t clusters, size_t confirmed, size_t applied, bool grace_over,
                        bool engine = true, std::string_view error = {}) {
    StatusFacts f;
    f.clusters = clusters;
    f.confirmed = confirmed;
    f.applied = applied;
    f.grace_over = grace_over;
    f.engine_running = engine;
    f.error = error;
    return status_line(f);
}

static void waiting_then_applied(void**) {
    assert_string_equal(line(2, 0, 0, false).c_str(),
                        "waiting for masters: 0 of 2 clusters confirmed");
    assert_string_equal(line(1, 0, 0, false).c_str(),
                        "waiting for masters: 0 of 1 cluster confirmed");
    assert_string_equal(line(2, 2, 1, false).c_str(), "2 clusters, 1 applied");
    assert_string_equal(line(2, 2, 2, false).c_str(), "2 clusters, 2 applied");
    assert_string_equal(line(1, 1, 1, true).c_str(), "1 cluster, 1 applied");
}

static void grace_over_with_unknown_clusters(void**) {
    assert_string_equal(line(3, 1, 1, true).c_str(),
                        "3 clusters, 1 applied, 2 without a confirmed master");
}

static void engine_and_error_are_shown(void**) {
    assert_string_equal(line(2, 2, 2, true, false).c_str(),
                        "engine restarting; 2 clusters, 2 applied");
    assert_string_equal(line(1, 1, 0, false, true, "haproxy: check_command exited 1").c_str(),
                        "1 cluster, 0 applied; last apply failed: haproxy: check_command exited 1");
    std::string long_error(500, 'x');
    std::string s = line(1, 1, 0, false, true, long_error);
    assert_true(s.size() < 260);
    assert_true(s.size() > 3 && s.compare(s.size() - 3, 3, "...") == 0);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(waiting_then_applied),
        cmocka_unit_test(grace_over_with_unknown_clusters),
        cmocka_unit_test(engine_and_error_are_shown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
