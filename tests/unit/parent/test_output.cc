// Unit tests for src/parent/output.cc, the one owner of desired and applied
// state, without an [haproxy] section (so no process is started): the
// start-up gate, batching, what the engine is told, the state file, replay
// to a new engine and clusters dropped on SIGHUP.
#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "parent/output.h"
#include "parent/statefile.h"

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;
using namespace std::chrono_literals;

namespace {

struct Fixture {
    std::string dir;
    Config config;
    EventBasePtr base{event_base_new()};
    std::vector<proto::ApplyResult> reports;
    std::vector<std::string> ready;
    int changed = 0;

    Fixture() {
        char tmpl[] = "/tmp/rh-output.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        dir = tmpl;
        config.state_file = dir + "/state.json";
        config.startup_grace = 10s;
        config.consul = true; // so removed clusters are remembered
        for (const char* name : {"alpha", "beta"}) {
            ClusterConfig c;
            c.name = name;
            c.external_port = 7000;
            config.clusters.push_back(c);
        }
    }
    ~Fixture() {
        unlink(config.state_file.c_str());
        rmdir(dir.c_str());
    }
    Output::Hooks hooks() {
        return {[this](const proto::ApplyResult& r) { reports.push_back(r); },
                [this](const char* why) { ready.push_back(why); }, [this] { changed++; }};
    }
    // Runs what is ready on the loop (the apply timer fires after 0 us).
    void settle() {
        for (int i = 0; i < 5; i++)
            event_base_loop(base.get(), EVLOOP_NONBLOCK);
    }
    // Runs the loop until pred() or a deadline of 5 s.
    template <typename P> bool run_until(P pred) {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!pred() && std::chrono::steady_clock::now() < deadline)
            event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
        return pred();
    }
};

proto::Master master(const char* cluster, uint16_t port, uint64_t epoch) {
    return proto::Master{cluster, HostPort{"127.0.0.1", port}, epoch, false, "127.0.0.1"};
}

// Nothing is in effect until every configured cluster is confirmed.
void waits_for_every_cluster(void**) {
    Fixture f;
    Output out(f.base.get(), f.config, "", f.hooks());
    out.confirmed(master("alpha", 7001, 1));
    f.settle();
    assert_int_equal(out.confirmed_count(), 1);
    assert_int_equal(out.applied_count(), 0);
    assert_true(f.reports.empty());
    assert_true(f.ready.empty());
    assert_int_equal(access(f.config.state_file.c_str(), F_OK), -1); // nothing written

    out.confirmed(master("beta", 7002, 4));
    f.settle();
    assert_int_equal(out.applied_count(), 2);
    assert_int_equal(f.reports.size(), 2);
    for (auto& r : f.reports) {
        assert_int_equal(static_cast<int>(r.state), static_cast<int>(proto::ApplyState::Applied));
        assert_true(r.master.has_value());
    }
    assert_int_equal(f.ready.size(), 1);
    assert_string_equal(f.ready[0].c_str(), "every cluster has a confirmed master");
    MasterMap saved = load_state(f.config.state_file);
    assert_true(saved == out.applied());
    assert_int_equal(saved.at("beta").epoch, 4);
}

// A burst of confirmations is one batch: each cluster reported once, at its
// last master.
void a_burst_is_one_batch(void**) {
    Fixture f;
    Output out(f.base.get(), f.config, "", f.hooks());
    out.confirmed(master("alpha", 7001, 1));
    out.confirmed(master("beta", 7002, 1));
    out.confirmed(master("alpha", 7003, 2));
    f.settle();
    assert_int_equal(f.reports.size(), 2);
    assert_int_equal(out.applied().at("alpha").master.port, 7003);
    // The same masters again change nothing and report nothing.
    f.reports.clear();
    out.confirmed(master("alpha", 7003, 2));
    f.settle();
    assert_true(f.reports.empty());
}

// A burst the engine marks (Master.more) is applied once its last message
// is in, and one that never ends is applied after kBurstHoldMax.
void a_marked_burst_waits_for_its_last_message(void**) {
    Fixture f;
    Output out(f.base.get(), f.config, "", f.hooks());
    auto m = master("alpha", 7001, 1);
    m.more = true;
    out.confirmed(m);
    m = master("beta", 7002, 1);
    m.more = true;
    out.confirmed(m);
    f.settle();
    assert_int_equal(out.applied_count(), 0); // the burst is not over
    out.confirmed(master("alpha", 7003, 2));  // its last message
    f.settle();
    assert_int_equal(out.applied_count(), 2);
    assert_int_equal(out.applied().at("alpha").master.port, 7003);

    m = master("beta", 7004, 2);
    m.more = true; // and nothing follows
    out.confirmed(m);
    f.settle();
    assert_int_equal(out.applied().at("beta").master.port, 7002);
    assert_true(f.run_until([&] { return out.applied().at("beta").master.port == 7004; }));
}

// Desired is what this engine confirmed, apart from what is in effect: a
// master from the state file is not confirmed until the engine says so, a
// confirmation equal to it or away from it is the cluster's desired master
// at once, applied only once everything is known.
void desired_is_what_the_engine_confirmed(void**) {
    Fixture f;
    {
        Output out(f.base.get(), f.config, "", f.hooks());
        out.confirmed(master("alpha", 7001, 3));
        out.confirmed(master("beta", 7002, 5));
        f.settle();
        assert_int_equal(out.desired("alpha")->master.port, 7001);
        assert_int_equal(out.desired("beta")->epoch, 5);
    }
    f.reports.clear();
    Output again(f.base.get(), f.config, "", f.hooks());
    assert_null(again.desired("alpha"));
    assert_null(again.desired("beta"));
    again.confirmed(master("alpha", 7001, 3)); // what is in effect
    assert_int_equal(again.confirmed_count(), 1);
    assert_int_equal(again.desired("alpha")->master.port, 7001);
    assert_null(again.desired("beta"));
    again.confirmed(master("alpha", 7009, 4)); // elsewhere: not applied while beta is unknown
    f.settle();
    assert_int_equal(again.desired("alpha")->master.port, 7009);
    assert_int_equal(again.desired("alpha")->epoch, 4);
    assert_int_equal(again.applied().at("alpha").master.port, 7001);
    assert_true(f.reports.empty());
    again.confirmed(master("beta", 7002, 5));
    f.settle();
    assert_int_equal(again.confirmed_count(), 2);
    assert_int_equal(again.applied().at("alpha").master.port, 7009);
    assert_int_equal(again.desired("alpha")->master.port, 7009);
    assert_int_equal(again.desired("beta")->master.port, 7002);
    assert_null(again.desired("gamma"));
    assert_int_equal(f.reports.size(), 1); // alpha moved, beta was in effect
    assert_string_equal(f.reports[0].cluster.c_str(), "alpha");
}

// A restart starts from the state file and tells the new engine about it.
void state_file_is_replayed(void**) {
    Fixture f;
    {
        Output out(f.base.get(), f.config, "", f.hooks());
        out.confirmed(master("alpha", 7001, 3));
        out.confirmed(master("beta", 7002, 5));
        f.settle();
    }
    f.reports.clear();
    Output again(f.base.get(), f.config, "", f.hooks());
    assert_int_equal(again.applied_count(), 2);
    assert_int_equal(again.confirmed_count(), 0);
    again.replay();
    assert_int_equal(f.reports.size(), 2);
    assert_string_equal(f.reports[0].cluster.c_str(), "alpha");
    assert_int_equal(f.reports[0].epoch, 3);
}

// With [consul], a cluster dropped from the file is forgotten and kept as
// removed (so the engine withdraws it) until the name comes back.
void dropped_clusters_are_retired(void**) {
    Fixture f;
    Output out(f.base.get(), f.config, "", f.hooks());
    out.confirmed(master("alpha", 7001, 1));
    out.confirmed(master("beta", 7002, 1));
    f.settle();
    Config fresh = f.config;
    fresh.clusters.pop_back(); // beta goes
    out.retire_removed(fresh);
    assert_int_equal(out.removed().count("beta"), 1);
    assert_int_equal(out.applied().count("beta"), 0);
    Config back = f.config; // and comes back
    out.retire_removed(back);
    assert_true(out.removed().empty());
}

// Renamed or removed while stopped: a state-file entry no configured
// cluster matches is dropped at start-up, never replayed to the engine.
void unconfigured_state_entries_are_dropped(void**) {
    Fixture f;
    MasterMap old = {{"alpha", MasterAt{{"127.0.0.1", 7001}, 2}},
                     {"gone", MasterAt{{"127.0.0.1", 7009}, 9}}};
    std::string err;
    assert_true(save_state(f.config.state_file, old, &err));
    Output out(f.base.get(), f.config, "", f.hooks());
    assert_int_equal(out.applied().size(), 1);
    assert_int_equal(out.applied().count("gone"), 0);
    out.replay();
    assert_int_equal(f.reports.size(), 1);
    assert_string_equal(f.reports[0].cluster.c_str(), "alpha");
}

// Without [consul] a cluster dropped by SIGHUP is forgotten all the same
// (and not remembered as removed: there is nothing to withdraw), and the
// state file no longer has it.
void dropped_clusters_are_forgotten_without_consul(void**) {
    Fixture f;
    f.config.consul = false;
    Output out(f.base.get(), f.config, "", f.hooks());
    out.confirmed(master("alpha", 7001, 1));
    out.confirmed(master("beta", 7002, 1));
    f.settle();
    Config fresh = f.config;
    fresh.clusters.pop_back(); // beta goes
    out.retire_removed(fresh);
    assert_int_equal(out.applied().count("beta"), 0);
    assert_true(out.removed().empty());
    assert_int_equal(load_state(f.config.state_file).count("beta"), 0);
    f.reports.clear();
    out.replay();
    assert_int_equal(f.reports.size(), 1);
}

// min_reload_interval spaces reloads only (test_engine_guard's flood checks
// that, with a reload command): without [haproxy] nothing reloads, so each
// batch is applied at once, however soon after the previous one.
void without_reloads_nothing_waits(void**) {
    Fixture f;
    f.config.min_reload_interval = 10s;
    Output out(f.base.get(), f.config, "", f.hooks());
    out.confirmed(master("alpha", 7001, 1));
    out.confirmed(master("beta", 7002, 1));
    f.settle();
    assert_int_equal(f.reports.size(), 2);
    for (uint16_t i = 0; i < 100; i++) {
        f.reports.clear();
        out.confirmed(master("alpha", static_cast<uint16_t>(7100 + i), 2 + i));
        f.settle();
        assert_int_equal(f.reports.size(), 1); // not held back
    }
    assert_int_equal(out.applied().at("alpha").epoch, 101);
}

void batch_summary_is_short(void**) {
    MasterMap one = {{"alpha", MasterAt{{"10.0.0.1", 6379}, 4}}};
    assert_string_equal(batch_summary(one, 1).c_str(),
                        "1 cluster confirmed: alpha 10.0.0.1:6379 epoch 4");
    MasterMap many;
    for (int i = 0; i < 1000; i++)
        many["c" + std::to_string(1000 + i)] = MasterAt{{"10.0.0.1", 6379}, 4};
    std::string line = batch_summary(many, 250000, 120);
    assert_true(line.size() < 160);
    assert_non_null(strstr(line.c_str(), "1000 clusters confirmed (250000 messages): c1000 "));
    assert_non_null(strstr(line.c_str(), "more"));
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(waits_for_every_cluster),
        cmocka_unit_test(a_burst_is_one_batch),
        cmocka_unit_test(a_marked_burst_waits_for_its_last_message),
        cmocka_unit_test(state_file_is_replayed),
        cmocka_unit_test(desired_is_what_the_engine_confirmed),
        cmocka_unit_test(dropped_clusters_are_retired),
        cmocka_unit_test(unconfigured_state_entries_are_dropped),
        cmocka_unit_test(dropped_clusters_are_forgotten_without_consul),
        cmocka_unit_test(without_reloads_nothing_waits),
        cmocka_unit_test(batch_summary_is_short),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
