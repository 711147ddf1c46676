// Unit tests for the Resolver (src/engine/resolver.h) on a private loop with
// no name server that answers: what it promises apart from the network --
// the order of addresses, IP literals and hosts-table names answered
// without a query, callbacks only from the loop and never after cancel(),
// the timeout, and bad files refused by load().
#include <event2/event.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "common/evutil.h"
#include "engine/resolver.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;
using namespace std::chrono_literals;

namespace {

struct Files {
    std::string dir, resolv, hosts;
    Files() {
        char tmpl[] = "/tmp/rh-resolver-XXXXXX";
        dir = mkdtemp(tmpl);
        resolv = dir + "/resolv.conf";
        hosts = dir + "/hosts";
        // Port 9 on loopback: nothing answers (UDP discard, normally closed).
        std::ofstream(resolv) << "nameserver 127.0.0.1:9\noptions timeout:1 attempts:1\n";
        std::ofstream(hosts) << "10.1.2.3 db-0.example.test\n"
                                "fd00::7 db-0.example.test\n"
                                "10.1.2.4 db-1.example.test\n";
    }
    ~Files() {
        unlink(resolv.c_str());
        unlink(hosts.c_str());
        rmdir(dir.c_str());
    }
};

ResolverSettings settings(const Files& f, std::chrono::milliseconds timeout = 300ms) {
    ResolverSettings s;
    s.resolv_conf = f.resolv;
    s.hosts_file = f.hosts;
    s.timeout = timeout;
    return s;
}

} // namespace

static void orders_ipv4_first_and_dedups(void**) {
    auto v = order_addresses({"fd00::2", "10.0.0.9", "10.0.0.1", "fd00::1", "10.0.0.9"}, 64);
    assert_int_equal(v.size(), 4);
    assert_string_equal(v[0].c_str(), "10.0.0.1");
    assert_string_equal(v[1].c_str(), "10.0.0.9");
    assert_string_equal(v[2].c_str(), "fd00::1");
    assert_string_equal(v[3].c_str(), "fd00::2");
    assert_int_equal(order_addresses({"10.0.0.3", "10.0.0.2", "10.0.0.1"}, 2).size(), 2);
}

// A headless-service name: every address is a Sentinel on the configured
// port; a new answer adds and forgets the difference, never one that is
// configured otherwise.
static void a_name_expands_into_sentinels(void**) {
    auto first = expand_sentinel_name({}, {"10.0.0.1", "10.0.0.2", "fd00::3"}, 26379, {});
    assert_int_equal(first.ids.size(), 3);
    assert_int_equal(first.added.size(), 3);
    assert_true(first.added[2] == (HostPort{"fd00::3", 26379}));
    assert_true(first.ids.count("[fd00::3]:26379") == 1);
    assert_true(first.removed.empty());

    auto same = expand_sentinel_name(first.ids, {"10.0.0.2", "fd00::3", "10.0.0.1"}, 26379, {});
    assert_true(same.added.empty() && same.removed.empty());
    assert_true(same.ids == first.ids);

    // A pod replaced: .2 gone, .4 new; .1 also configured as a literal.
    auto moved =
        expand_sentinel_name(first.ids, {"10.0.0.4", "fd00::3"}, 26379, {"10.0.0.1:26379"});
    assert_int_equal(moved.added.size(), 1);
    assert_true(moved.added[0] == (HostPort{"10.0.0.4", 26379}));
    assert_int_equal(moved.removed.size(), 1);
    assert_string_equal(moved.removed[0].c_str(), "10.0.0.2:26379");
    assert_int_equal(moved.ids.size(), 2);

    auto empty = expand_sentinel_name(moved.ids, {}, 26379, {});
    assert_int_equal(empty.removed.size(), 2);
    assert_true(empty.ids.empty());
}

static void literals_and_hosts_answer_from_the_loop(void**) {
    Files f;
    EventBasePtr base(event_base_new());
    Resolver r(base.get(), settings(f));
    std::string err;
    assert_true(r.load(true, &err));
    ResolveResult lit, host;
    int calls = 0;
    r.resolve("192.0.2.1", [&](const ResolveResult& x) {
        lit = x;
        calls++;
    });
    r.resolve("DB-0.example.test", [&](const ResolveResult& x) {
        host = x;
        calls++;
    });
    assert_int_equal(calls, 0); // never inside resolve()
    event_base_loop(base.get(), EVLOOP_ONCE);
    event_base_loop(base.get(), EVLOOP_NONBLOCK);
    assert_int_equal(calls, 2);
    assert_true(lit.ok());
    assert_int_equal(lit.addrs.size(), 1);
    assert_string_equal(lit.addrs[0].c_str(), "192.0.2.1");
    assert_true(host.ok());
    assert_int_equal(host.addrs.size(), 2);
    assert_string_equal(host.addrs[0].c_str(), "10.1.2.3");
    assert_string_equal(host.addrs[1].c_str(), "fd00::7");
}

static void cancel_means_no_callback(void**) {
    Files f;
    EventBasePtr base(event_base_new());
    Resolver r(base.get(), settings(f));
    std::string err;
    assert_true(r.load(true, &err));
    int calls = 0;
    auto a = r.resolve("db-1.example.test", [&](const ResolveResult&) { calls++; });
    auto b = r.resolve("nowhere.example.test", [&](const ResolveResult&) { calls++; });
    r.cancel(a);
    r.cancel(b);
    // The abandoned query still ends (by its timeout at the latest).
    Timer stop(base.get(), [&] { event_base_loopbreak(base.get()); });
    stop.arm(800ms);
    event_base_dispatch(base.get());
    assert_int_equal(calls, 0);
}

static void a_silent_name_server_times_out(void**) {
    Files f;
    EventBasePtr base(event_base_new());
    Resolver r(base.get(), settings(f, 200ms));
    std::string err;
    assert_true(r.load(true, &err));
    ResolveResult got;
    int calls = 0;
    // Two lookups of one name share one query and both hear its end.
    for (int i = 0; i < 2; i++)
        r.resolve("nowhere.example.test", [&](const ResolveResult& x) {
            got = x;
            calls++;
        });
    assert_int_equal(r.in_flight(), 1);
    Timer stop(base.get(), [&] { event_base_loopbreak(base.get()); });
    stop.arm(3s);
    while (calls < 2 && stop.pending())
        event_base_loop(base.get(), EVLOOP_ONCE);
    assert_int_equal(calls, 2);
    assert_false(got.ok());
    assert_true(got.addrs.empty());
    // Failures are cached too: asked again at once, no new query.
    r.resolve("nowhere.example.test", [&](const ResolveResult&) { calls++; });
    assert_int_equal(r.in_flight(), 0);
}

static void load_refuses_a_missing_configured_file(void**) {
    Files f;
    EventBasePtr base(event_base_new());
    ResolverSettings s = settings(f);
    s.resolv_conf = f.dir + "/missing.conf";
    Resolver r(base.get(), s);
    std::string err;
    assert_false(r.load(true, &err));
    assert_non_null(strstr(err.c_str(), "missing.conf"));

    ResolverSettings h = settings(f);
    h.hosts_file = f.dir + "/no-hosts";
    Resolver r2(base.get(), h);
    err.clear();
    assert_false(r2.load(true, &err));
    assert_non_null(strstr(err.c_str(), "no-hosts"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orders_ipv4_first_and_dedups),
        cmocka_unit_test(a_name_expands_into_sentinels),
        cmocka_unit_test(literals_and_hosts_answer_from_the_loop),
        cmocka_unit_test(cancel_means_no_callback),
        cmocka_unit_test(a_silent_name_server_times_out),
        cmocka_unit_test(load_refuses_a_missing_configured_file),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
