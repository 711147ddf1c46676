// CommandRunner on a real libevent loop (src/parent/command.cc).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>

#include "parent/command.h"

#include <cstring>

#include "../cmocka.h" // last: it defines fail()

using namespace rh;
using namespace std::chrono_literals;

// Runs cmd and spins the loop until it completes (or a 10 s safety deadline).
static CommandResult run_cmd(const std::string& cmd, std::chrono::milliseconds timeout) {
    EventBasePtr base{event_base_new()};
    std::optional<CommandResult> got;
    {
        CommandRunner r(base.get());
        r.run(cmd, timeout, [&](CommandResult res) { got = std::move(res); });
        assert_true(r.busy());
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!got && std::chrono::steady_clock::now() < deadline)
            event_base_loop(base.get(), EVLOOP_ONCE);
        assert_false(r.busy());
    }
    assert_true(got.has_value());
    return *got;
}

static void success_with_output(void**) {
    auto r = run_cmd("echo out; echo err >&2; cat", 5000ms);
    assert_true(r.ok());
    assert_true(r.started);
    assert_int_equal(r.exit_status, 0);
    assert_string_equal(r.output.c_str(), "out\nerr\n"); // cat read /dev/null
    assert_string_equal(r.describe().c_str(), "exit 0");
}

static void non_zero_exit(void**) {
    auto r = run_cmd("echo bad config; exit 3", 5000ms);
    assert_false(r.ok());
    assert_int_equal(r.exit_status, 3);
    assert_false(r.timed_out);
    assert_string_equal(r.output.c_str(), "bad config\n");
    assert_string_equal(r.describe().c_str(), "exit 3");
    auto k = run_cmd("kill -9 $$", 5000ms);
    assert_false(k.ok());
    assert_int_equal(k.term_signal, 9);
}

static void output_is_capped(void**) {
    auto r = run_cmd("head -c 200000 /dev/zero", 5000ms);
    assert_true(r.ok());
    assert_int_equal(r.output.size(), CommandRunner::kOutputCap);
    assert_true(r.output_truncated);
}

static bool pid_gone(pid_t pid) {
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string pidtok, comm, state;
    st >> pidtok >> comm >> state;
    return state == "Z"; // dead, waiting for its new parent to reap it
}

static void timeout_kills_the_group(void**) {
    char dir[] = "/tmp/rh-cmd-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string pidfile = std::string(dir) + "/gc.pid";
    // The grandchild ignores SIGTERM, so only the group SIGKILL ends it.
    std::string cmd = "sh -c 'trap \"\" TERM; echo $$ > " + pidfile + "; exec sleep 60' & wait";
    auto start = std::chrono::steady_clock::now();
    auto r = run_cmd(cmd, 300ms);
    auto took = std::chrono::steady_clock::now() - start;
    assert_true(r.timed_out);
    assert_false(r.ok());
    assert_true(took < 5s);
    pid_t gc = 0;
    std::ifstream(pidfile) >> gc;
    assert_true(gc > 1);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!pid_gone(gc) && std::chrono::steady_clock::now() < deadline)
        usleep(10000);
    assert_true(pid_gone(gc));
    unlink(pidfile.c_str());
    rmdir(dir);
}

static void child_gets_clean_signal_state(void**) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    auto prev = signal(SIGINT, SIG_IGN);
    auto r = run_cmd("grep -E '^Sig(Blk|Ign)' /proc/self/status", 5000ms);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    signal(SIGINT, prev);
    assert_true(r.ok());
    assert_non_null(strstr(r.output.c_str(), "SigBlk:\t0000000000000000"));
    if (!strstr(r.output.c_str(), "SigIgn:\t0000000000000000"))
        fail_msg("signal state: %s", r.output.c_str());
}

static void own_process_group(void**) {
    auto r = run_cmd("ps -o pgid= -p $$; echo $$", 5000ms);
    assert_true(r.ok());
    long pgid = 0, pid = 0;
    assert_int_equal(sscanf(r.output.c_str(), " %ld %ld", &pgid, &pid), 2);
    assert_int_equal(pgid, pid);
    assert_int_not_equal(pgid, getpgrp());
}

// Only the main PID talks to systemd: a reload_command that starts a
// notify-aware program (haproxy -Ws) must not reach the unit's socket.
static void notify_socket_not_inherited(void**) {
    assert_int_equal(setenv("NOTIFY_SOCKET", "/run/rh-test-notify", 1), 0);
    assert_int_equal(setenv("RH_TEST_KEPT", "kept", 1), 0);
    auto r = run_cmd("echo \"${NOTIFY_SOCKET-unset} ${RH_TEST_KEPT-lost}\"", 5000ms);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("RH_TEST_KEPT");
    assert_true(r.ok());
    assert_string_equal(r.output.c_str(), "unset kept\n");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(success_with_output),
        cmocka_unit_test(non_zero_exit),
        cmocka_unit_test(output_is_capped),
        cmocka_unit_test(timeout_kills_the_group),
        cmocka_unit_test(child_gets_clean_signal_state),
        cmocka_unit_test(own_process_group),
        cmocka_unit_test(notify_socket_not_inherited),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
