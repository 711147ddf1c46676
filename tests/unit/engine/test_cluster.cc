// Unit tests for the engine's compact cluster table (src/engine/cluster.h):
// every setting the engine reads survives the conversion from the parent's
// messages, shared option sets are held once, Consul's settings only with
// [consul], names are found exactly, and the state file's seeds are handed
// over and then dropped.
#include <string>
#include <vector>

#include "engine/cluster.h"

#include "../../cmocka.h"

using namespace rh;

namespace {

proto::ConfigCluster message(const std::string& name, uint16_t port) {
    proto::ConfigCluster c;
    c.name = name;
    c.external_port = port;
    c.haproxy_backend = "redis_" + name;
    c.haproxy_server = "master";
    c.consul_service = name;
    c.consul_service_id = "redishappy-" + name;
    c.consul_node = "redishappy-" + name;
    c.consul_datacenter = "dc2";
    c.consul_tags = {"a", "b"};
    return c;
}

} // namespace

static void keeps_what_the_engine_reads(void**) {
    proto::ConfigCluster a = message("alpha", 7001);
    a.password = "secret";
    a.username = "ops";
    a.tls = true;
    a.replica_backend = "alpha_read";
    a.max_replicas = 3;
    a.lag_limited = true;
    a.max_replica_lag = 1024;
    a.fence = true;
    proto::ConfigCluster b = message("beta", 7002);
    ClusterTable t({a, b}, true);
    assert_int_equal(t.size(), 2);
    const EngineCluster& x = t[0];
    assert_string_equal(x.name.c_str(), "alpha");
    assert_int_equal(x.external_port, 7001);
    assert_string_equal(x.password().c_str(), "secret");
    assert_string_equal(x.username().c_str(), "ops");
    assert_true(x.tls());
    assert_string_equal(x.replica_backend().c_str(), "alpha_read");
    assert_int_equal(x.max_replicas(), 3);
    assert_true(x.max_replica_lag() == std::optional<uint64_t>(1024));
    assert_true(x.fence());
    assert_string_equal(x.consul_service().c_str(), "alpha");
    assert_string_equal(x.consul_service_id().c_str(), "redishappy-alpha");
    assert_string_equal(x.consul_node().c_str(), "redishappy-alpha");
    assert_string_equal(x.consul_datacenter().c_str(), "dc2");
    assert_true(x.consul_tags() == (std::vector<std::string>{"a", "b"}));
    const EngineCluster& y = t[1];
    assert_string_equal(y.name.c_str(), "beta");
    assert_true(y.password().empty());
    assert_false(y.tls());
    assert_true(y.replica_backend().empty());
    assert_int_equal(y.max_replicas(), proto::kDefaultReplicaSlots);
    assert_false(y.max_replica_lag().has_value());
    assert_false(y.fence());
    assert_string_equal(y.consul_service_id().c_str(), "redishappy-beta");
}

// Without [consul] nothing of Consul is kept (and the option sets of
// clusters differing only there are one).
static void consul_settings_only_with_consul(void**) {
    proto::ConfigCluster a = message("alpha", 7001);
    proto::ConfigCluster b = message("beta", 7002);
    b.consul_datacenter = "dc3";
    ClusterTable t({a, b}, false);
    for (const auto& c : t) {
        assert_true(c.consul_service().empty());
        assert_true(c.consul_service_id().empty());
        assert_true(c.consul_node().empty());
        assert_true(c.consul_datacenter().empty());
        assert_true(c.consul_tags().empty());
    }
    assert_int_equal(t.option_sets(), 1);
    ClusterTable with({a, b}, true);
    assert_int_equal(with.option_sets(), 2);
}

// 10,000 clusters sharing their options hold one set; a different
// password or fence setting is a set of its own.
static void options_are_interned(void**) {
    std::vector<proto::ConfigCluster> v;
    for (int i = 0; i < 10000; i++)
        v.push_back(message("c" + std::to_string(i), static_cast<uint16_t>(20000 + i)));
    v[17].password = "other";
    v[42].fence = true;
    v[43].fence = true;
    ClusterTable t(std::move(v), true);
    assert_int_equal(t.size(), 10000);
    assert_int_equal(t.option_sets(), 3);
    assert_string_equal(t[17].password().c_str(), "other");
    assert_true(t[16].password().empty());
    assert_true(t[42].fence() && t[43].fence());
    assert_false(t[41].fence());
}

static void finds_exactly_the_configured_names(void**) {
    std::vector<proto::ConfigCluster> v;
    for (const char* n : {"zeta", "alpha", "mid", "alpha-2", "a"})
        v.push_back(message(n, 1));
    ClusterTable t(std::move(v), false);
    assert_true(t.find("zeta") == std::optional<size_t>(0));
    assert_true(t.find("alpha") == std::optional<size_t>(1));
    assert_true(t.find("a") == std::optional<size_t>(4));
    for (const char* n : {"", "alph", "alpha-", "alpha-3", "zz", "b", "Zeta"})
        assert_false(t.find(n).has_value());
    std::vector<std::string> sorted;
    for (uint32_t i : t.by_name())
        sorted.push_back(t[i].name);
    assert_true(sorted == (std::vector<std::string>{"a", "alpha", "alpha-2", "mid", "zeta"}));
    ClusterTable empty;
    assert_int_equal(empty.size(), 0);
    assert_false(empty.find("a").has_value());
}

// Built one message at a time, as the engine receives them.
static void built_incrementally(void**) {
    ClusterTable t(true);
    t.add(message("b", 2));
    t.add(message("a", 1));
    t.finish();
    assert_int_equal(t.size(), 2);
    assert_true(t.find("a") == std::optional<size_t>(1));
    assert_string_equal(t[0].consul_service().c_str(), "b");
}

static void seeds_until_dropped(void**) {
    proto::ConfigCluster a = message("alpha", 1);
    proto::ConfigCluster b = message("beta", 2);
    b.applied_master = HostPort{"db.example", 6379};
    b.applied_epoch = 7;
    b.applied_addr = "10.0.0.7";
    ClusterTable t({a, b}, false);
    assert_false(t.seed(0).has_value());
    assert_true(t.seed(1).has_value());
    assert_true(t.seed(1)->master == (HostPort{"db.example", 6379}));
    assert_int_equal(t.seed(1)->epoch, 7);
    assert_string_equal(t.seed(1)->addr.c_str(), "10.0.0.7");
    assert_false(t.seed(2).has_value());
    t.drop_seeds();
    assert_false(t.seed(1).has_value());
    assert_int_equal(t.size(), 2);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_what_the_engine_reads),
        cmocka_unit_test(consul_settings_only_with_consul),
        cmocka_unit_test(options_are_interned),
        cmocka_unit_test(finds_exactly_the_configured_names),
        cmocka_unit_test(built_incrementally),
        cmocka_unit_test(seeds_until_dropped),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
