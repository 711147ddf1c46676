// Unit tests for src/parent/output.cc, the one owner of desired and applied
// state, without an [haproxy] section (so no process is started): the
// start-up gate, batching, what the engine is told, the state file, replay
// to a new engine and clusters dropped on SIGHUP.
#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

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
};

proto::Master master(const char* cluster, uint16_t port, uint64_t epoch) {
    return proto::Master{cluster, HostPort{"127.0.0.1", port}, epoch};
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

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(waits_for_every_cluster),
        cmocka_unit_test(a_burst_is_one_batch),
        cmocka_unit_test(state_file_is_replayed),
        cmocka_unit_test(dropped_clusters_are_retired),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
