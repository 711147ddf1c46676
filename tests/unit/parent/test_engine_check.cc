// Unit tests for the parent's validation of engine messages
// (check_engine_message in src/parent/engine_check.cc): every rejection.
#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

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

// The violation, or "" when the message is not one.
std::string check(const proto::Message& m, bool ready, uint64_t gen = 3) {
    static Config cfg = two_clusters();
    EngineCheck c = check_engine_message(m, {&cfg, gen, ready});
    return c.kind == EngineCheck::Kind::violation ? c.why : "";
}

// Checks a Master for alpha against alpha applied at epoch 100, with
// max_epoch_jump 1000; this engine had epoch 100 applied when `own` is set.
EngineCheck against_applied(uint64_t epoch, bool own = true) {
    static Config cfg = two_clusters();
    cfg.max_epoch_jump = 1000;
    static MasterMap applied = {{"alpha", MasterAt{{"10.0.0.1", 6379}, 100}}};
    // By position: alpha is the first configured cluster.
    static std::vector<uint64_t> floors = {100, 0}, none = {0, 0};
    return check_engine_message(
        proto::Master{"alpha", {"10.0.0.2", 6379}, epoch, false, "10.0.0.2"},
        {&cfg, 3, true, &applied, own ? &floors : &none});
}

bool contains(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

} // namespace

static void accepts_ready_then_masters(void**) {
    assert_true(check(proto::Ready{3}, false).empty());
    assert_true(
        check(proto::Master{"alpha", {"10.0.0.1", 6379}, 4, false, "10.0.0.1"}, true).empty());
    assert_true(check(proto::Master{"beta", {"::1", 1}, 0, false, "::1"}, true).empty());
}

static void rejects_ready_twice_or_for_another_generation(void**) {
    assert_true(contains(check(proto::Ready{3}, true), "sent twice"));
    assert_true(contains(check(proto::Ready{2}, false), "generation 2, expected 3"));
}

static void rejects_master_before_ready(void**) {
    assert_true(
        contains(check(proto::Master{"alpha", {"10.0.0.1", 6379}, 1, false, "10.0.0.1"}, false),
                 "before ready"));
}

static void rejects_unconfigured_cluster(void**) {
    assert_true(
        contains(check(proto::Master{"gamma", {"10.0.0.1", 6379}, 1, false, "10.0.0.1"}, true),
                 "cluster gamma is not configured"));
}

// The same rule through the name index the parent passes.
static void rejects_unconfigured_cluster_by_index(void**) {
    static Config cfg = two_clusters();
    ClusterIndex names(cfg.clusters);
    EngineMessageContext ctx{&cfg, 3, true};
    ctx.configured = &names;
    auto gamma =
        check_engine_message(proto::Master{"gamma", {"10.0.0.1", 6379}, 1, false, "10.0.0.1"}, ctx);
    assert_int_equal(static_cast<int>(gamma.kind), static_cast<int>(EngineCheck::Kind::violation));
    assert_true(contains(gamma.why, "cluster gamma is not configured"));
    auto beta =
        check_engine_message(proto::Master{"beta", {"10.0.0.1", 6379}, 1, false, "10.0.0.1"}, ctx);
    assert_int_equal(static_cast<int>(beta.kind), static_cast<int>(EngineCheck::Kind::accept));
}

// The index finds every name of a list in any order, and no other name.
static void cluster_index_finds_names_in_any_order(void**) {
    std::vector<ClusterConfig> list(5);
    const char* names[] = {"delta", "alpha", "echo", "beta", "charlie"};
    for (size_t i = 0; i < 5; i++)
        list[i].name = names[i];
    ClusterIndex idx(list);
    for (size_t i = 0; i < 5; i++) {
        assert_true(idx.position(names[i]) == std::optional<size_t>(i));
        assert_ptr_equal(idx.find(names[i]), &list[i]);
    }
    for (const char* other : {"", "alph", "alphaa", "foxtrot", "a", "zulu"}) {
        assert_false(idx.contains(other));
        assert_null(idx.find(other));
    }
    assert_false(ClusterIndex().contains("alpha"));
    assert_false(ClusterIndex(std::vector<ClusterConfig>{}).contains("alpha"));
}

// A floor is kept by position: it binds its own cluster and no other.
static void floors_bind_by_position(void**) {
    static Config cfg = two_clusters();
    ClusterIndex idx(cfg.clusters);
    std::vector<uint64_t> floors = {0, 50}; // beta had epoch 50 applied
    EngineMessageContext ctx{&cfg, 3, true};
    ctx.floors = &floors;
    ctx.configured = &idx;
    auto beta =
        check_engine_message(proto::Master{"beta", {"10.0.0.1", 6379}, 49, false, "10.0.0.1"}, ctx);
    assert_int_equal(static_cast<int>(beta.kind), static_cast<int>(EngineCheck::Kind::refuse));
    assert_true(contains(beta.why, "below the epoch 50"));
    auto alpha =
        check_engine_message(proto::Master{"alpha", {"10.0.0.1", 6379}, 1, false, "10.0.0.1"}, ctx);
    assert_int_equal(static_cast<int>(alpha.kind), static_cast<int>(EngineCheck::Kind::accept));
    ctx.configured = nullptr; // the same through the scan of config->clusters
    beta =
        check_engine_message(proto::Master{"beta", {"10.0.0.1", 6379}, 49, false, "10.0.0.1"}, ctx);
    assert_int_equal(static_cast<int>(beta.kind), static_cast<int>(EngineCheck::Kind::refuse));
}

static void rejects_invalid_address(void**) {
    assert_true(contains(
        check(proto::Master{"alpha", {"10.0.0.1\nserver x", 6379}, 1, false, "10.0.0.1\nserver x"},
              true),
        "invalid address"));
    assert_true(contains(check(proto::Master{"alpha", {"10.0.0.1", 0}, 1, false, "10.0.0.1"}, true),
                         "invalid address"));
}

static void rejects_parent_only_types(void**) {
    assert_true(contains(check(proto::ConfigBegin{}, true), "unexpected message config-begin"));
    assert_true(contains(check(proto::ConfigEnd{}, true), "config-end"));
    assert_true(contains(check(proto::ConfigCluster{}, true), "config-cluster"));
    assert_true(contains(check(proto::ConfigSentinel{}, true), "config-sentinel"));
    assert_true(contains(check(proto::ApplyResult{}, true), "apply-result"));
    assert_true(contains(check(proto::Shutdown{}, true), "shutdown"));
}

static void epoch_rules_against_the_applied_epoch(void**) {
    using K = EngineCheck::Kind;
    assert_int_equal(static_cast<int>(against_applied(100).kind), static_cast<int>(K::accept));
    assert_int_equal(static_cast<int>(against_applied(1100).kind), static_cast<int>(K::accept));
    EngineCheck below = against_applied(99);
    assert_int_equal(static_cast<int>(below.kind), static_cast<int>(K::refuse));
    assert_true(contains(below.why, "epoch 99 is below the epoch 100 this engine"));
    EngineCheck jump = against_applied(1101);
    assert_int_equal(static_cast<int>(jump.kind), static_cast<int>(K::refuse));
    assert_true(contains(jump.why, "max_epoch_jump (1000)"));
    // 2^63+5 and 2^64-1: unsigned all the way, no wrap-around.
    assert_int_equal(static_cast<int>(against_applied(9223372036854775813ULL).kind),
                     static_cast<int>(K::refuse));
    assert_int_equal(static_cast<int>(against_applied(UINT64_MAX).kind),
                     static_cast<int>(K::refuse));
    assert_int_equal(static_cast<int>(against_applied(0).kind), static_cast<int>(K::refuse));
    // A new engine has no floor: a lower epoch (a Sentinel set that
    // restarted its epochs, or a state file a compromised engine left) is
    // taken; the jump rule still counts from what is applied.
    assert_int_equal(static_cast<int>(against_applied(0, false).kind), static_cast<int>(K::accept));
    assert_int_equal(static_cast<int>(against_applied(1101, false).kind),
                     static_cast<int>(K::refuse));
}

static void epoch_rules_without_reference(void**) {
    // Nothing applied for beta: any epoch, as the engine's rule 5.
    assert_true(check_epoch("beta", UINT64_MAX, nullptr, nullptr, 1000).empty());
    MasterAt top{{"h", 1}, UINT64_MAX - 1};
    assert_true(check_epoch("beta", UINT64_MAX, nullptr, &top, 1).empty());
    MasterAt zero{{"h", 1}, 0};
    assert_true(check_epoch("beta", UINT64_MAX, nullptr, &zero, UINT64_MAX).empty());
    assert_false(check_epoch("beta", UINT64_MAX, nullptr, &zero, UINT64_MAX - 1).empty());
    // Below what is applied but above this engine's floor: taken.
    uint64_t floor = 5;
    assert_true(check_epoch("beta", 7, &floor, &top, 1000).empty());
    assert_false(check_epoch("beta", 4, &floor, &top, 1000).empty());
}

// EngineMessageContext::desired over a map (null: nothing confirmed).
std::function<const MasterAt*(const std::string&)> lookup(const MasterMap* d) {
    return [d](const std::string& c) -> const MasterAt* {
        if (!d)
            return nullptr;
        auto it = d->find(c);
        return it == d->end() ? nullptr : &it->second;
    };
}

// The read backend: only for a cluster with a replica_backend, after a
// confirmed master, within max_replicas, IP literals, never the master.
static void replicas_checked_against_state(void**) {
    Config cfg = two_clusters();
    cfg.clusters[0].edit_text().replica_backend = "alpha_read";
    cfg.clusters[0].max_replicas = 2;
    MasterMap desired = {{"alpha", MasterAt{{"10.0.0.1", 6379}, 4}}};
    auto run = [&](const proto::Replicas& r, const MasterMap* d) {
        EngineCheck c =
            check_engine_message(r, {&cfg, 3, true, nullptr, nullptr, nullptr, lookup(d)});
        return c.kind == EngineCheck::Kind::violation ? c.why : "";
    };
    using R = proto::ReplicaAt;
    assert_string_equal(
        run({"alpha", {R{{"10.0.0.2", 6379}, "", 0}, R{{"10.0.0.3", 6379}, "", 1}}}, &desired)
            .c_str(),
        "");
    assert_string_equal(run({"alpha", {}}, nullptr).c_str(), ""); // empty: always fine
    // A host name with the IP its ROLE check used is fine; without, not.
    assert_string_equal(run({"alpha", {R{{"r.example", 6379}, "10.0.0.5", 0}}}, &desired).c_str(),
                        "");
    assert_true(
        contains(run({"alpha", {R{{"r.example", 6379}, "", 0}}}, &desired), "no valid IP address"));
    assert_true(contains(run({"beta", {}}, &desired), "no replica_backend"));
    assert_true(contains(run({"gamma", {}}, &desired), "not configured"));
    assert_true(contains(run({"alpha", {R{{"10.0.0.2", 6379}, "", 0}}}, nullptr),
                         "before a confirmed master"));
    assert_true(contains(run({"alpha", {R{{"10.0.0.2", 6379}, "", 2}}}, &desired), "out of range"));
    assert_true(contains(run({"alpha",
                              {R{{"10.0.0.2", 6379}, "", 0}, R{{"10.0.0.3", 6379}, "", 1},
                               R{{"10.0.0.4", 6379}, "", 1}}},
                             &desired),
                         "max_replicas is 2"));
    assert_true(contains(
        run({"alpha", {R{{"10.0.0.2", 6379}, "", 0}, R{{"10.0.0.2", 6379}, "", 1}}}, &desired),
        "listed twice"));
    assert_true(contains(run({"alpha", {R{{"10.0.0.1", 6379}, "", 0}}}, &desired),
                         "is the current master"));
    assert_true(contains(run({"alpha", {R{{"m.example", 6379}, "10.0.0.1", 0}}}, &desired),
                         "is the current master"));
    // The master by another spelling of its address, or by the address its
    // ROLE check reached when it was announced by host name.
    assert_true(contains(run({"alpha", {R{{"::ffff:10.0.0.1", 6379}, "", 0}}}, &desired),
                         "is the current master"));
    assert_true(contains(run({"alpha", {R{{"r.example", 6379}, "::ffff:a00:1", 0}}}, &desired),
                         "is the current master"));
    MasterMap named = {{"alpha", MasterAt{{"m.example", 6379}, 4, "10.0.0.9"}}};
    assert_true(
        contains(run({"alpha", {R{{"10.0.0.9", 6379}, "", 0}}}, &named), "is the current master"));
    MasterMap v6 = {{"alpha", MasterAt{{"fd00::1", 6379}, 4, "fd00::1"}}};
    assert_true(contains(run({"alpha", {R{{"fd00:0:0:0:0:0:0:1", 6379}, "", 0}}}, &v6),
                         "is the current master"));
    assert_true(
        contains(run({"alpha", {R{{"fd00::2", 6379}, "", 0}, R{{"FD00::2", 6379}, "", 1}}}, &v6),
                 "listed twice"));
    assert_string_equal(run({"alpha", {R{{"fd00::2", 6379}, "", 0}}}, &v6).c_str(), "");
    // After a refused Master the engine follows another master: refused,
    // not a violation (its replicas may include the parent's master).
    std::unordered_set<std::string> refused = {"alpha"};
    EngineCheck diverged = check_engine_message(
        proto::Replicas{"alpha", {R{{"10.0.0.1", 6379}, "", 0}}},
        {&cfg, 3, true, nullptr, nullptr, nullptr, lookup(&desired), &refused});
    assert_true(diverged.kind == EngineCheck::Kind::refuse);
    assert_true(contains(diverged.why, "refused"));
    EngineCheck before = check_engine_message(proto::Replicas{"alpha", {}}, {&cfg, 3, false});
    assert_true(contains(before.why, "before ready"));
}

// Fence and Unfence: alpha has fence = yes, beta not; alpha's applied
// master is 10.0.0.1:6379 at epoch 100.
EngineCheck fence_check(const proto::Message& m, bool ready = true) {
    static Config cfg = [] {
        Config c = two_clusters();
        c.clusters[0].fence = true;
        return c;
    }();
    static MasterMap applied = {{"alpha", MasterAt{{"10.0.0.1", 6379}, 100}},
                                {"beta", MasterAt{{"10.0.0.9", 6379}, 7}}};
    return check_engine_message(m, {&cfg, 3, ready, &applied});
}

static void fence_only_for_the_applied_master_of_a_fenced_cluster(void**) {
    using K = EngineCheck::Kind;
    assert_true(fence_check(proto::Fence{"alpha", {"10.0.0.1", 6379}, 100, 5000}).kind ==
                K::accept);
    assert_true(fence_check(proto::Unfence{"alpha", {"10.0.0.1", 6379}, 100}).kind == K::accept);
    auto early = fence_check(proto::Fence{"alpha", {"10.0.0.1", 6379}, 100, 0}, false);
    assert_true(early.kind == K::violation && contains(early.why, "before ready"));
    auto off = fence_check(proto::Fence{"beta", {"10.0.0.9", 6379}, 7, 0});
    assert_true(off.kind == K::violation && contains(off.why, "fence = no"));
    auto unknown = fence_check(proto::Unfence{"gamma", {"10.0.0.1", 6379}, 100});
    assert_true(unknown.kind == K::violation && contains(unknown.why, "not configured"));
    auto other = fence_check(proto::Fence{"alpha", {"10.0.0.2", 6379}, 100, 0});
    assert_true(other.kind == K::violation && contains(other.why, "not the applied master"));
    auto ahead = fence_check(proto::Fence{"alpha", {"10.0.0.1", 6379}, 101, 0});
    assert_true(ahead.kind == K::violation && contains(ahead.why, "not the applied master"));
    auto port = fence_check(proto::Unfence{"alpha", {"10.0.0.1", 6380}, 100});
    assert_true(port.kind == K::violation);
}

// The engine may not have heard of a switch the parent just applied.
static void fence_of_an_older_epoch_is_a_refused_race(void**) {
    auto stale = fence_check(proto::Fence{"alpha", {"10.0.0.7", 6379}, 99, 0});
    assert_true(stale.kind == EngineCheck::Kind::refuse);
    assert_true(contains(stale.why, "stale"));
    auto unfence = fence_check(proto::Unfence{"alpha", {"10.0.0.7", 6379}, 3});
    assert_true(unfence.kind == EngineCheck::Kind::refuse);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicas_checked_against_state),
        cmocka_unit_test(accepts_ready_then_masters),
        cmocka_unit_test(rejects_ready_twice_or_for_another_generation),
        cmocka_unit_test(rejects_master_before_ready),
        cmocka_unit_test(rejects_unconfigured_cluster),
        cmocka_unit_test(rejects_unconfigured_cluster_by_index),
        cmocka_unit_test(cluster_index_finds_names_in_any_order),
        cmocka_unit_test(floors_bind_by_position),
        cmocka_unit_test(rejects_invalid_address),
        cmocka_unit_test(rejects_parent_only_types),
        cmocka_unit_test(epoch_rules_against_the_applied_epoch),
        cmocka_unit_test(epoch_rules_without_reference),
        cmocka_unit_test(fence_only_for_the_applied_master_of_a_fenced_cluster),
        cmocka_unit_test(fence_of_an_older_epoch_is_a_refused_race),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
