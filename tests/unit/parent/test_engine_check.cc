// Unit tests for the parent's validation of engine messages
// (check_engine_message in src/parent/engine_check.cc): every rejection.
#include <string>

#include "config/config.h"
#include "parent/engine_check.h"

#include "../../cmocka.h"

using namespace rh;

namespace {

Config two_clusters() {
    Config c;
    ClusterConfig a;
    a.name = "alpha";
    a.external_port = 7000;
    ClusterConfig b;
    b.name = "beta";
    b.external_port = 7001;
    c.clusters = {a, b};
    return c;
}

std::string check(const proto::Message& m, bool ready, uint64_t gen = 3) {
    static Config cfg = two_clusters();
    return check_engine_message(m, {&cfg, gen, ready});
}

bool contains(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

} // namespace

static void accepts_ready_then_masters(void**) {
    assert_true(check(proto::Ready{3}, false).empty());
    assert_true(check(proto::Master{"alpha", {"10.0.0.1", 6379}, 4}, true).empty());
    assert_true(check(proto::Master{"beta", {"::1", 1}, 0}, true).empty());
}

static void rejects_ready_twice_or_for_another_generation(void**) {
    assert_true(contains(check(proto::Ready{3}, true), "sent twice"));
    assert_true(contains(check(proto::Ready{2}, false), "generation 2, expected 3"));
}

static void rejects_master_before_ready(void**) {
    assert_true(
        contains(check(proto::Master{"alpha", {"10.0.0.1", 6379}, 1}, false), "before ready"));
}

static void rejects_unconfigured_cluster(void**) {
    assert_true(contains(check(proto::Master{"gamma", {"10.0.0.1", 6379}, 1}, true),
                         "cluster gamma is not configured"));
}

static void rejects_invalid_address(void**) {
    assert_true(contains(check(proto::Master{"alpha", {"10.0.0.1\nserver x", 6379}, 1}, true),
                         "invalid address"));
    assert_true(
        contains(check(proto::Master{"alpha", {"10.0.0.1", 0}, 1}, true), "invalid address"));
}

static void rejects_parent_only_types(void**) {
    assert_true(contains(check(proto::ConfigBegin{}, true), "unexpected message config-begin"));
    assert_true(contains(check(proto::ConfigEnd{}, true), "config-end"));
    assert_true(contains(check(proto::ConfigCluster{}, true), "config-cluster"));
    assert_true(contains(check(proto::ConfigSentinel{}, true), "config-sentinel"));
    assert_true(contains(check(proto::ApplyResult{}, true), "apply-result"));
    assert_true(contains(check(proto::Shutdown{}, true), "shutdown"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_ready_then_masters),
        cmocka_unit_test(rejects_ready_twice_or_for_another_generation),
        cmocka_unit_test(rejects_master_before_ready),
        cmocka_unit_test(rejects_unconfigured_cluster),
        cmocka_unit_test(rejects_invalid_address),
        cmocka_unit_test(rejects_parent_only_types),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
