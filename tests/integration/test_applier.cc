// Applier against a real haproxy started by the test (private temp dir,
// loopback only). The two "masters" are listening sockets of this process:
// which one accepts the next connection through HAProxy shows the routing.
#include "parent/applier.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "../cmocka.h" // last: it defines fail()

using namespace rh;
using namespace std::chrono_literals;

#ifndef HAPROXY_BIN
#define HAPROXY_BIN "haproxy"
#endif

namespace {

struct Env {
    std::string dir, cfg, pidfile, sock, haproxy;
    int master_a = -1, master_b = -1; // listening sockets
    uint16_t port_a = 0, port_b = 0, front = 0;
    EventBasePtr base{event_base_new()};
};

int listen_any(uint16_t* port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) < 0 ||
        listen(fd, 16) < 0)
        return -1;
    socklen_t len = sizeof(sin);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    *port = ntohs(sin.sin_port);
    return fd;
}

uint16_t free_port() {
    uint16_t p = 0;
    int fd = listen_any(&p);
    close(fd);
    return p;
}

std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string test_template(const Env& e) {
    return "global\n  stats socket " + e.sock +
           " level admin\n"
           "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 10s\n"
           "  timeout server 10s\n"
           "{{#clusters}}listen {{name}}\n"
           "  bind 127.0.0.1:{{external_port}}\n"
           "  server {{haproxy_server}} {{master_host}}:{{master_port}}\n{{/clusters}}";
}

// Connects through HAProxy and returns 'A' or 'B' for the listener that got
// the connection, or 0 when none did within the deadline.
char route(Env& e) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(e.front);
    if (connect(c, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) < 0) {
        close(c);
        return 0;
    }
    pollfd p[2] = {{e.master_a, POLLIN, 0}, {e.master_b, POLLIN, 0}};
    char got = 0;
    if (poll(p, 2, 3000) > 0) {
        int which = (p[0].revents & POLLIN) ? 0 : 1;
        int a = accept(p[which].fd, nullptr, nullptr);
        if (a >= 0)
            close(a);
        got = which == 0 ? 'A' : 'B';
    }
    close(c);
    return got;
}

ApplyOutcome wait_result(Env& e, std::optional<ApplyOutcome>& slot) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!slot && std::chrono::steady_clock::now() < deadline)
        event_base_loop(e.base.get(), EVLOOP_ONCE);
    assert_true(slot.has_value());
    ApplyOutcome r = *slot;
    slot.reset();
    return r;
}

bool wait_for_file(const std::string& path) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    struct stat st {};
    while (stat(path.c_str(), &st) < 0) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        usleep(5000);
    }
    return true;
}

void stop_haproxy(const Env& e) {
    std::ifstream in(e.pidfile);
    pid_t pid;
    while (in >> pid)
        if (pid > 1)
            kill(pid, SIGTERM);
}

std::vector<HaproxyCluster> topo(const Env& e, uint16_t port, const std::string& backend) {
    return {{"c1", e.front, HostPort{"127.0.0.1", port}, 1, backend, "master"}};
}

} // namespace

static int teardown(void** state) {
    // Runs even when an assertion ended the test early.
    auto* e = static_cast<Env*>(*state);
    if (!e)
        return 0;
    stop_haproxy(*e);
    if (e->master_a >= 0)
        close(e->master_a);
    if (e->master_b >= 0)
        close(e->master_b);
    if (!e->dir.empty()) {
        std::string rm = "rm -rf '" + e->dir + "'";
        if (system(rm.c_str()) != 0)
            return -1;
    }
    delete e;
    return 0;
}

static void against_real_haproxy(void** state) {
    if (access(HAPROXY_BIN, X_OK) < 0 && access("/usr/sbin/haproxy", X_OK) < 0) {
        printf("SKIP: haproxy is not installed\n");
        skip();
    }
    auto* env = new Env;
    *state = env;
    Env& e = *env;
    e.haproxy = access(HAPROXY_BIN, X_OK) == 0 ? HAPROXY_BIN : "/usr/sbin/haproxy";
    char dir[] = "/tmp/rh-applier-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    e.dir = dir;
    e.cfg = e.dir + "/haproxy.cfg";
    e.pidfile = e.dir + "/haproxy.pid";
    e.sock = e.dir + "/admin.sock";
    e.master_a = listen_any(&e.port_a);
    e.master_b = listen_any(&e.port_b);
    assert_true(e.master_a >= 0 && e.master_b >= 0);
    e.front = free_port();

    ApplierSettings s;
    s.template_text = test_template(e);
    s.output = e.cfg;
    s.check_command = e.haproxy + " -c -q -f %s";
    // Starts haproxy the first time, then reloads it keeping no old process.
    s.reload_command = "if [ -s " + e.pidfile + " ]; then sf=\"-sf $(cat " + e.pidfile +
                       ")\"; fi; " + e.haproxy + " -f " + e.cfg + " -D -p " + e.pidfile + " $sf";
    s.runtime_socket = e.sock;
    std::optional<ApplyOutcome> slot;
    int applies = 0;
    MasterMap applied; // the owner's state, as parent/output.cc keeps it
    Applier ap(e.base.get(), s, applied, [&](const ApplyOutcome& r) {
        slot = r;
        applied = r.in_effect;
        applies++;
    });

    // 1. First apply: no file yet, so write + check + reload (which starts haproxy).
    ap.submit(topo(e, e.port_a, "c1"));
    auto r = wait_result(e, slot);
    if (!r.ok)
        fail_msg("first apply: %s\n%s", r.error.c_str(), r.command_output.c_str());
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::reload));
    assert_false(r.check_skipped); // nothing was checked before
    assert_true(wait_for_file(e.sock));
    assert_int_equal(route(e), 'A');
    assert_true(applied.at("c1").master.port == e.port_a);

    // 2. Same topology again: nothing to do.
    ap.submit(topo(e, e.port_a, "c1"));
    r = wait_result(e, slot);
    assert_true(r.ok);
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::unchanged));

    // 3. Master moves to B: runtime switch, the next connection lands on B,
    // the file names B, no reload.
    std::string pid_before = slurp(e.pidfile);
    // A client session opened before the switch must be closed by it.
    int old_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons(e.front);
        assert_int_equal(connect(old_client, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    }
    pollfd pa{e.master_a, POLLIN, 0};
    assert_int_equal(poll(&pa, 1, 3000), 1);
    int old_server_side = accept(e.master_a, nullptr, nullptr);
    assert_true(old_server_side >= 0);
    ap.submit(topo(e, e.port_b, "c1"));
    r = wait_result(e, slot);
    if (!r.ok)
        fail_msg("runtime apply: %s", r.error.c_str());
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::runtime));
    assert_false(r.runtime_fallback);
    // Only the master's port moved since the checked file: no check, and the
    // file it installed passes HAProxy's check all the same.
    assert_true(r.check_skipped);
    assert_int_equal(system((e.haproxy + " -c -q -f " + e.cfg).c_str()), 0);
    printf("runtime switch took %.3f ms (check %.1f ms, write %.2f ms)\n", r.switch_ms, r.check_ms,
           r.write_ms);
    assert_int_equal(route(e), 'B');
    assert_non_null(
        strstr(slurp(e.cfg).c_str(), ("127.0.0.1:" + std::to_string(e.port_b)).c_str()));
    assert_string_equal(slurp(e.pidfile).c_str(), pid_before.c_str()); // not reloaded
    // The old master's side of the pre-switch session sees EOF.
    pollfd po{old_server_side, POLLIN, 0};
    assert_int_equal(poll(&po, 1, 3000), 1);
    char byte;
    assert_true(read(old_server_side, &byte, 1) <= 0);
    close(old_server_side);
    close(old_client);

    // 4. Coalescing: three submissions before the loop runs are one apply
    // of the newest.
    // 5. Unknown backend on the runtime socket: falls back to a reload.
    std::vector<HaproxyCluster> renamed = topo(e, e.port_a, "c1");
    ap.submit(topo(e, e.port_a, "nosuch")); // replaced before it runs
    ap.submit(renamed);
    renamed[0].backend = "nosuch";
    // Only the master differs from the file, but the socket names an unknown backend.
    ap.submit(renamed);
    r = wait_result(e, slot);
    if (!r.ok)
        fail_msg("fallback apply: %s\n%s", r.error.c_str(), r.command_output.c_str());
    assert_true(r.runtime_fallback);
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::reload));
    // The socket's backend name is not in this template's file: the file's
    // skeleton is unchanged, so the check may be skipped; the file passes it.
    assert_int_equal(system((e.haproxy + " -c -q -f " + e.cfg).c_str()), 0);
    assert_false(ap.busy());
    assert_int_equal(applies, 4); // first, unchanged, runtime, coalesced fallback
    assert_int_equal(route(e), 'A');

    // A restarted daemon (new Applier, state from the file) with the same
    // topology writes nothing and reloads nothing.
    {
        std::string pid_now = slurp(e.pidfile), cfg_now = slurp(e.cfg);
        MasterMap restored = applied; // what the state file would give back
        Applier again(e.base.get(), s, restored, [&](const ApplyOutcome& res) { slot = res; });
        again.submit(renamed);
        r = wait_result(e, slot);
        assert_true(r.ok);
        assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::unchanged));
        assert_string_equal(slurp(e.pidfile).c_str(), pid_now.c_str());
        assert_string_equal(slurp(e.cfg).c_str(), cfg_now.c_str());
    }

    // 6. A failing check_command keeps the old file and HAProxy where it was.
    std::string before = slurp(e.cfg);
    ApplierSettings bad = s;
    bad.check_command = "echo rejected by test; exit 1";
    bad.runtime_socket.clear();
    Applier ap2(e.base.get(), bad, applied, [&](const ApplyOutcome& res) {
        slot = res;
        applied = res.in_effect;
    });
    ap2.submit(topo(e, e.port_b, "c1"));
    r = wait_result(e, slot);
    assert_false(r.ok);
    assert_non_null(strstr(r.error.c_str(), "check_command exit 1"));
    assert_string_equal(r.command_output.c_str(), "rejected by test\n");
    assert_string_equal(slurp(e.cfg).c_str(), before.c_str());
    assert_int_equal(route(e), 'A');
    // No candidate file is left behind.
    std::string ls = "test $(ls -A " + e.dir + " | grep -c tmp) -eq 0";
    assert_int_equal(system(ls.c_str()), 0);
}

// Without haproxy: a hanging reload_command is killed and reported, the
// file stays written, and the next apply of the same topology reloads again
// instead of calling it unchanged.
static void reload_timeout_is_reported_and_retried(void**) {
    char dir[] = "/tmp/rh-applier-reload.XXXXXX";
    assert_non_null(mkdtemp(dir));
    EventBasePtr base{event_base_new()};
    ApplierSettings s;
    s.template_text = "{{#clusters}}{{name}} {{master_host}}:{{master_port}}\n{{/clusters}}";
    s.output = std::string(dir) + "/out.cfg";
    s.reload_command = "sleep 30";
    s.reload_timeout = 200ms;
    std::optional<ApplyOutcome> slot;
    MasterMap applied;
    Applier ap(base.get(), s, applied, [&](const ApplyOutcome& r) {
        slot = r;
        applied = r.in_effect;
    });
    std::vector<HaproxyCluster> t{{"c1", 7000, HostPort{"127.0.0.1", 7001}, 1, "b", "s"}};
    for (int round = 0; round < 2; round++) {
        ap.submit(t);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!slot && std::chrono::steady_clock::now() < deadline)
            event_base_loop(base.get(), EVLOOP_ONCE);
        assert_true(slot.has_value());
        assert_false(slot->ok);
        assert_int_equal(static_cast<int>(slot->path), static_cast<int>(ApplyPath::reload));
        if (!strstr(slot->error.c_str(), "reload_command timed out"))
            fail_msg("round %d: %s", round, slot->error.c_str());
        assert_true(slot->reload_ms < 5000);
        slot.reset();
    }
    assert_true(file_has_content(s.output, "c1 127.0.0.1:7001\n"));
    assert_true(applied.empty()); // never acknowledged
    s.reload_command = "true";
    MasterMap fresh;
    Applier ok(base.get(), s, fresh, [&](const ApplyOutcome& r) {
        slot = r;
        fresh = r.in_effect;
    });
    ok.submit(t);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!slot && std::chrono::steady_clock::now() < deadline)
        event_base_loop(base.get(), EVLOOP_ONCE);
    assert_true(slot && slot->ok);
    // The file already matched: an Applier with no debt calls it unchanged.
    assert_int_equal(static_cast<int>(slot->path), static_cast<int>(ApplyPath::unchanged));
    assert_int_equal(fresh.at("c1").master.port, 7001);
    unlink(s.output.c_str());
    rmdir(dir);
}

static ApplyOutcome apply_once(event_base* base, Applier& ap, std::optional<ApplyOutcome>& slot,
                               std::vector<HaproxyCluster> t) {
    ap.submit(std::move(t));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!slot && std::chrono::steady_clock::now() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    assert_true(slot.has_value());
    ApplyOutcome r = *slot;
    slot.reset();
    return r;
}

// Without haproxy: an epoch-only change rewrites the file without a reload;
// a missing runtime socket falls back to the reload path.
static void epoch_only_and_missing_socket(void**) {
    char dir[] = "/tmp/rh-applier-paths.XXXXXX";
    assert_non_null(mkdtemp(dir));
    EventBasePtr base{event_base_new()};
    ApplierSettings s;
    s.template_text =
        "{{#clusters}}{{name}} {{master_host}}:{{master_port}} e{{epoch}}\n{{/clusters}}";
    s.output = std::string(dir) + "/out.cfg";
    s.runtime_socket = std::string(dir) + "/no-such.sock";
    s.reload_command = "echo reloaded >> " + std::string(dir) + "/reloads";
    std::string reloads = std::string(dir) + "/reloads";
    assert_true(write_file_atomic(s.output, "c1 127.0.0.1:7001 e1\n", nullptr));
    MasterMap st;
    st["c1"] = {HostPort{"127.0.0.1", 7001}, 1};
    std::optional<ApplyOutcome> slot;
    Applier ap(base.get(), s, st, [&](const ApplyOutcome& r) {
        slot = r;
        st = r.in_effect;
    });

    auto r =
        apply_once(base.get(), ap, slot, {{"c1", 7000, HostPort{"127.0.0.1", 7001}, 2, "b", "s"}});
    assert_true(r.ok);
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::file_only));
    assert_true(file_has_content(s.output, "c1 127.0.0.1:7001 e2\n"));
    assert_int_equal(access(reloads.c_str(), F_OK), -1); // no reload ran

    r = apply_once(base.get(), ap, slot, {{"c1", 7000, HostPort{"127.0.0.1", 7002}, 3, "b", "s"}});
    assert_true(r.ok);
    assert_true(r.runtime_fallback);
    assert_int_equal(static_cast<int>(r.path), static_cast<int>(ApplyPath::reload));
    assert_true(file_has_content(s.output, "c1 127.0.0.1:7002 e3\n"));
    assert_true(file_has_content(reloads, "reloaded\n"));
    assert_int_equal(r.switched.size(), 1);
    assert_int_equal(st.at("c1").master.port, 7002);
    std::string rm = "rm -rf '" + std::string(dir) + "'";
    assert_int_equal(system(rm.c_str()), 0);
}

// A skeleton rendered ahead of the first apply (Applier::prepare) gives the
// very bytes a render would, whether the guessed shape is the one applied
// (only filled in) or not (rendered again).
static void a_prepared_skeleton_gives_the_same_file(void**) {
    const std::string tmpl = "{{#clusters}}listen {{name}}\n"
                             "{{#has_master}}  server m {{master_host}}:{{master_port}} "
                             "e{{epoch}}\n{{/has_master}}{{^has_master}}  # none\n"
                             "{{/has_master}}{{/clusters}}";
    std::vector<HaproxyCluster> want = {{"c1", 7000, HostPort{"10.0.0.1", 6379}, 4, "b1", "s"},
                                        {"c2", 7001, HostPort{"10.0.0.2", 6380}, 9, "b2", "s"}};
    std::string expected = *render(tmpl, want, nullptr);
    for (const char* guess : {"0.0.0.0", "::1"}) { // the shape applied, then another
        char dir[] = "/tmp/rh-applier-prepare.XXXXXX";
        assert_non_null(mkdtemp(dir));
        EventBasePtr base{event_base_new()};
        ApplierSettings s;
        s.template_text = tmpl;
        s.output = std::string(dir) + "/out.cfg";
        s.reload_command = "true";
        MasterMap st;
        std::optional<ApplyOutcome> slot;
        Applier ap(base.get(), s, st, [&](const ApplyOutcome& r) {
            slot = r;
            st = r.in_effect;
        });
        std::vector<HaproxyCluster> likely = want;
        for (auto& c : likely)
            c.master = HostPort{guess, 1};
        ap.prepare(likely);
        auto r = apply_once(base.get(), ap, slot, want);
        assert_true(r.ok);
        assert_true(file_has_content(s.output, expected));
        std::string rm = "rm -rf '" + std::string(dir) + "'";
        assert_int_equal(system(rm.c_str()), 0);
    }
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(against_real_haproxy, nullptr, teardown),
        cmocka_unit_test(reload_timeout_is_reported_and_retried),
        cmocka_unit_test(epoch_only_and_missing_socket),
        cmocka_unit_test(a_prepared_skeleton_gives_the_same_file),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
