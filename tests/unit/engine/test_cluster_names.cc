// Unit tests for the cluster-name list every SentinelLink shares
// (ClusterNames in src/engine/sentinel.h): configuration order kept, and a
// lookup by name that finds exactly the configured names.
#include <string>
#include <vector>

#include "engine/sentinel.h"

#include "../../cmocka.h"

using namespace rh;

static void keeps_configuration_order(void**) {
    ClusterNames n({"zeta", "alpha", "mid"});
    assert_int_equal(n.size(), 3);
    assert_true(n.names() == (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

static void finds_exactly_the_configured_names(void**) {
    ClusterNames n({"zeta", "alpha", "mid", "alpha-2", "a"});
    for (const char* name : {"zeta", "alpha", "mid", "alpha-2", "a"})
        assert_true(n.contains(name));
    for (const char* name : {"", "alph", "alpha-", "alpha-3", "zz", "b", "Zeta"})
        assert_false(n.contains(name));
}

static void empty_list_contains_nothing(void**) {
    ClusterNames n;
    assert_int_equal(n.size(), 0);
    assert_false(n.contains(""));
    assert_false(n.contains("mymaster"));
}

// At the scale the list is shared for: every name found, neighbours not.
static void ten_thousand_names(void**) {
    std::vector<std::string> v;
    for (int i = 9999; i >= 0; i--)
        v.push_back("c" + std::to_string(i));
    ClusterNames n(v);
    assert_int_equal(n.size(), 10000);
    assert_string_equal(n.names().front().c_str(), "c9999");
    for (int i = 0; i < 10000; i++) {
        assert_true(n.contains("c" + std::to_string(i)));
        assert_false(n.contains("c" + std::to_string(i) + "x"));
    }
    assert_false(n.contains("c10000"));
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_configuration_order),
        cmocka_unit_test(finds_exactly_the_configured_names),
        cmocka_unit_test(empty_list_contains_nothing),
        cmocka_unit_test(ten_thousand_names),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
