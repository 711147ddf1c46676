// Unit tests for the pure parts of the parent's fence (src/parent/fence.cc):
// which fence_timeout is in force, and the runtime commands.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "parent/fence.h"

#include "../../cmocka.h"

using namespace rh;
using std::chrono::milliseconds;

static void configured_timeout_wins(void**) {
    assert_int_equal(fence_timeout(milliseconds(2000), 180000).count(), 2000);
    assert_int_equal(fence_timeout(milliseconds(7200000), 0).count(), 7200000);
}

// Unset: Sentinel's failover-timeout as the engine read it, clamped, so a
// hostile engine cannot keep a master fenced for more than an hour.
static void default_is_sentinels_failover_timeout(void**) {
    assert_int_equal(fence_timeout(milliseconds(0), 10000).count(), 10000);
    assert_int_equal(fence_timeout(milliseconds(0), 0).count(), kFenceTimeoutDefault.count());
    assert_int_equal(fence_timeout(milliseconds(0), 1).count(), kFenceTimeoutMin.count());
    assert_int_equal(fence_timeout(milliseconds(0), 0xffffffffu).count(), kFenceTimeoutMax.count());
}

static void commands(void**) {
    auto f = fence_commands("redis_a", "master");
    assert_int_equal(f.size(), 2);
    assert_string_equal(f[0].c_str(), "set server redis_a/master state maint");
    assert_string_equal(f[1].c_str(), "shutdown sessions server redis_a/master");
    auto u = unfence_commands("redis_a", "master");
    assert_int_equal(u.size(), 1);
    assert_string_equal(u[0].c_str(), "set server redis_a/master state ready");
    assert_string_equal(fence_lift_name(proto::FenceLift::Timeout), "fence_timeout");
}

namespace {

// HAProxy's admin socket as far as the Fencer uses it: one line of
// commands per connection, an empty reply to each, then EOF.
struct FakeAdmin {
    event_base* base;
    std::string dir, path;
    evconnlistener* listener = nullptr;
    std::vector<std::string> lines;
    bool fail = false; // answer every command with an error, as for a wrong server name

    explicit FakeAdmin(event_base* b) : base(b) {
        char tmpl[] = "/tmp/rh-fence-test.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        dir = tmpl;
        path = dir + "/admin.sock";
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, path.c_str());
        listener = evconnlistener_new_bind(base, &FakeAdmin::on_accept, this, LEV_OPT_CLOSE_ON_FREE,
                                           4, reinterpret_cast<sockaddr*>(&sun), sizeof(sun));
        assert_non_null(listener);
    }
    ~FakeAdmin() {
        evconnlistener_free(listener);
        unlink(path.c_str());
        rmdir(dir.c_str());
    }
    static void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
        auto* self = static_cast<FakeAdmin*>(arg);
        bufferevent* bev = bufferevent_socket_new(self->base, fd, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(bev, &FakeAdmin::on_read, nullptr, nullptr, self);
        bufferevent_enable(bev, EV_READ);
    }
    static void on_read(bufferevent* bev, void* arg) {
        auto* self = static_cast<FakeAdmin*>(arg);
        size_t n = 0;
        char* line = evbuffer_readln(bufferevent_get_input(bev), &n, EVBUFFER_EOL_LF);
        if (!line)
            return;
        std::string cmds(line, n);
        free(line);
        self->lines.push_back(cmds);
        std::string out;
        for (size_t at = 0; at != std::string::npos; at = cmds.find("; ", at + 1))
            out += self->fail ? "No such server.\n\n" : "\n";
        // Answer, then close once the answer is written.
        bufferevent_write(bev, out.data(), out.size());
        bufferevent_setcb(
            bev, nullptr, [](bufferevent* b, void*) { bufferevent_free(b); }, nullptr, nullptr);
    }
};

// Runs the loop until done() or 5 s have passed.
bool run_until(event_base* base, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return true;
}

// Runs whatever is ready now, so a test can check that nothing was sent.
void settle(event_base* base) {
    for (int i = 0; i < 50; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

} // namespace

// The Fencer against a fake admin socket: fence, fence_timeout (and no
// second fence of the expired master until -odown), the switch, and a
// fence and lift queued together sending only the lift.
static void fencer_against_an_admin_socket(void**) {
    event_base* base = event_base_new();
    {
        FakeAdmin admin(base);
        Config cfg;
        cfg.haproxy = true;
        cfg.runtime_socket = admin.path;
        ClusterConfig a;
        a.name = "alpha";
        a.edit_text().haproxy_backend = "redis_alpha";
        a.edit_text().haproxy_server = "master";
        a.fence = true;
        a.fence_timeout = milliseconds(100);
        cfg.clusters = {a};
        std::vector<proto::FenceState> reports;
        Fencer f(base, cfg, [&](const proto::FenceState& st) { reports.push_back(st); });
        const HostPort A{"10.0.0.1", 6379}, B{"10.0.0.2", 6379};
        const std::string maint = "set server redis_alpha/master state maint; shutdown sessions "
                                  "server redis_alpha/master";
        const std::string ready = "set server redis_alpha/master state ready";

        f.fence(proto::Fence{"alpha", A, 5, 0});
        assert_true(reports.back().fenced && reports.back().fences == 1);
        assert_true(reports.back().deadline > reports.back().since - 1);
        assert_true(run_until(base, [&] { return admin.lines.size() == 1; }));
        assert_string_equal(admin.lines[0].c_str(), maint.c_str());
        // fence_timeout: lifted, with the reason.
        assert_true(run_until(base, [&] { return admin.lines.size() == 2; }));
        assert_string_equal(admin.lines[1].c_str(), ready.c_str());
        assert_false(reports.back().fenced);
        assert_true(reports.back().lifted_by == proto::FenceLift::Timeout);
        // The same master at the same epoch is not fenced again...
        size_t n = reports.size();
        f.fence(proto::Fence{"alpha", A, 5, 0});
        settle(base);
        assert_int_equal(admin.lines.size(), 2);
        assert_int_equal(reports.size(), n);
        // ... until the Sentinels clear o_down.
        f.unfence(proto::Unfence{"alpha", A, 5});
        f.fence(proto::Fence{"alpha", A, 5, 0});
        assert_true(reports.back().fenced && reports.back().fences == 2);
        assert_true(run_until(base, [&] { return admin.lines.size() == 3; }));
        assert_string_equal(admin.lines[2].c_str(), maint.c_str());
        // The switch lifts it (and readies the server again).
        f.applied("alpha", B);
        assert_true(reports.back().lifted_by == proto::FenceLift::Switch);
        assert_true(run_until(base, [&] { return admin.lines.size() == 4; }));
        assert_string_equal(admin.lines[3].c_str(), ready.c_str());
        // A fence and its lift queued together: only the last state is sent.
        f.fence(proto::Fence{"alpha", B, 6, 0});
        f.unfence(proto::Unfence{"alpha", B, 6});
        assert_true(run_until(base, [&] { return admin.lines.size() == 5; }));
        settle(base);
        assert_int_equal(admin.lines.size(), 5);
        assert_string_equal(admin.lines[4].c_str(), ready.c_str());
        assert_true(reports.back().lifted_by == proto::FenceLift::Unfence);
        assert_true(f.state("alpha") && !f.state("alpha")->fenced);
    }
    event_base_free(base);
}

// A lift that fails must be tried again until HAProxy takes it: a master
// left in maint is an outage. A fence that fails may have set maint before
// its error, so it is followed by a lift too.
static void failed_lift_is_retried(void**) {
    event_base* base = event_base_new();
    {
        FakeAdmin admin(base);
        Config cfg;
        cfg.haproxy = true;
        cfg.runtime_socket = admin.path;
        ClusterConfig a;
        a.name = "alpha";
        a.edit_text().haproxy_backend = "redis_alpha";
        a.edit_text().haproxy_server = "master";
        a.fence = true;
        a.fence_timeout = milliseconds(60000);
        cfg.clusters = {a};
        std::vector<proto::FenceState> reports;
        Fencer f(base, cfg, [&](const proto::FenceState& st) { reports.push_back(st); });
        const HostPort A{"10.0.0.1", 6379};
        const std::string ready = "set server redis_alpha/master state ready";

        f.fence(proto::Fence{"alpha", A, 5, 0});
        assert_true(run_until(base, [&] { return admin.lines.size() == 1; }));
        // The lift meets an error: the fence is reported lifted, the lift retried.
        admin.fail = true;
        f.unfence(proto::Unfence{"alpha", A, 5});
        assert_true(run_until(base, [&] { return admin.lines.size() == 2; }));
        assert_true(run_until(base, [&] { return !reports.back().error.empty(); }));
        assert_false(reports.back().fenced);
        admin.fail = false;
        assert_true(run_until(base, [&] { return admin.lines.size() >= 3; }));
        assert_string_equal(admin.lines.back().c_str(), ready.c_str());
        assert_true(run_until(base, [&] { return reports.back().error.empty(); }));
        settle(base);
        size_t n = admin.lines.size();

        // A fence that fails: not claimed, and followed by a lift.
        admin.fail = true;
        f.fence(proto::Fence{"alpha", A, 6, 0});
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 1; }));
        assert_true(run_until(base, [&] { return !reports.back().error.empty(); }));
        assert_false(reports.back().fenced);
        assert_true(reports.back().lifted_by == proto::FenceLift::Error);
        admin.fail = false;
        assert_true(run_until(base, [&] { return admin.lines.size() >= n + 2; }));
        assert_string_equal(admin.lines.back().c_str(), ready.c_str());
        settle(base);
        // Once a lift went through, nothing more is sent.
        n = admin.lines.size();
        settle(base);
        assert_int_equal(admin.lines.size(), n);

        // SIGHUP renamed the server: a lift owed to the old name is dropped
        // by the reload (that server is gone), and a fence goes to the new name.
        f.fence(proto::Fence{"alpha", A, 7, 0});
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 1; }));
        admin.fail = true;
        f.unfence(proto::Unfence{"alpha", A, 7});
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 2; }));
        assert_true(run_until(base, [&] { return !reports.back().error.empty(); }));
        admin.fail = false;
        cfg.clusters[0].edit_text().haproxy_server = "primary";
        f.reloaded();
        auto quiet_until = std::chrono::steady_clock::now() + kFenceRetryFirst * 3;
        while (std::chrono::steady_clock::now() < quiet_until)
            settle(base);
        assert_int_equal(admin.lines.size(), n + 2);
        f.fence(proto::Fence{"alpha", A, 8, 0});
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 3; }));
        cfg.clusters[0].edit_text().haproxy_server = "primary2";
        f.reloaded();
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 4; }));
        assert_string_equal(admin.lines.back().c_str(),
                            "set server redis_alpha/primary2 state maint; shutdown sessions "
                            "server redis_alpha/primary2");
        f.unfence(proto::Unfence{"alpha", A, 8});
        assert_true(run_until(base, [&] { return admin.lines.size() == n + 5; }));
        assert_string_equal(admin.lines.back().c_str(),
                            "set server redis_alpha/primary2 state ready");
        settle(base); // the fake's last connection is closed and freed
    }
    event_base_free(base);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(configured_timeout_wins),
        cmocka_unit_test(default_is_sentinels_failover_timeout),
        cmocka_unit_test(commands),
        cmocka_unit_test(fencer_against_an_admin_socket),
        cmocka_unit_test(failed_lift_is_retried),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
