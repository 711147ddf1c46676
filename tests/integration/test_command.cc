// CommandRunner on a real libevent loop (src/parent/command.cc).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>

#include "parent/command.h"
#include "parent/process.h"

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
// notify-aware program (haproxy -Ws) must not reach the unit's socket. Nor
// does anything else of the daemon's environment but TZ, LANG and LC_ALL.
static void minimal_environment(void**) {
    assert_int_equal(setenv("NOTIFY_SOCKET", "/run/rh-test-notify", 1), 0);
    assert_int_equal(setenv("RH_TEST_DROPPED", "kept", 1), 0);
    assert_int_equal(setenv("TZ", "UTC", 1), 0);
    auto r = run_cmd("echo \"${NOTIFY_SOCKET-unset} ${RH_TEST_DROPPED-lost} $TZ $PATH\"", 5000ms);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("RH_TEST_DROPPED");
    unsetenv("TZ");
    assert_true(r.ok());
    assert_string_equal(r.output.c_str(),
                        (std::string("unset lost UTC ") + kChildPath + "\n").c_str());
}

// A descriptor the daemon had open without O_CLOEXEC is not inherited.
static void no_inherited_descriptors(void**) {
    int fd = open("/dev/null", O_RDONLY); // no O_CLOEXEC
    assert_true(fd > 2);
    auto r = run_cmd("ls /proc/self/fd", 5000ms);
    close(fd);
    assert_true(r.ok());
    // ls itself: 0, 1, 2 and the directory it reads (3).
    assert_string_equal(r.output.c_str(), "0\n1\n2\n3\n");
}

static pid_t read_pid(const std::string& file) {
    pid_t pid = 0;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (pid <= 0 && std::chrono::steady_clock::now() < deadline) {
        std::ifstream(file) >> pid;
        if (pid <= 0)
            usleep(10000);
    }
    return pid;
}

// Runs cmd, which leaves a daemonised child (its own session, out of the
// command's group) holding the output pipe and writing its pid to
// <dir>/daemon.pid; returns the result and how long it took, and kills the
// child.
static CommandResult run_leaving_daemon(const std::string& cmd_tail,
                                        std::chrono::milliseconds timeout,
                                        std::chrono::steady_clock::duration* took) {
    char dir[] = "/tmp/rh-cmd-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string pidfile = std::string(dir) + "/daemon.pid";
    std::string cmd = "setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 300' & " + cmd_tail;
    auto start = std::chrono::steady_clock::now();
    auto r = run_cmd(cmd, timeout);
    *took = std::chrono::steady_clock::now() - start;
    pid_t daemon = read_pid(pidfile);
    assert_true(daemon > 1);
    assert_false(pid_gone(daemon)); // escaped the group: still there
    kill(daemon, SIGKILL);
    unlink(pidfile.c_str());
    rmdir(dir);
    return r;
}

// The "setsid sleep 300 & echo started": the shell is done at once;
// the pipe the daemon keeps open delays completion by kPipeGrace at most,
// and the shell's status is the result.
static void daemonised_child_does_not_hang(void**) {
    std::chrono::steady_clock::duration took;
    auto r = run_leaving_daemon("echo started", 2000ms, &took);
    assert_true(r.ok());
    assert_true(r.output_abandoned);
    assert_string_equal(r.output.c_str(), "started\n");
    assert_true(took < 2000ms + 1500ms); // generous margin: behaviour, not speed
}

// A shell that does not finish: the timeout fires on time, the group is
// killed and the command finishes although the daemon still holds the pipe.
static void timeout_fires_with_pipe_held(void**) {
    std::chrono::steady_clock::duration took;
    auto r = run_leaving_daemon("sleep 300", 1000ms, &took);
    assert_true(r.timed_out);
    assert_true(r.output_abandoned);
    assert_true(took >= 1000ms);
    auto limit = 1000ms + CommandRunner::kKillGrace + CommandRunner::kPipeGrace + 1500ms;
    assert_true(took < limit);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(success_with_output),
        cmocka_unit_test(non_zero_exit),
        cmocka_unit_test(output_is_capped),
        cmocka_unit_test(timeout_kills_the_group),
        cmocka_unit_test(child_gets_clean_signal_state),
        cmocka_unit_test(own_process_group),
        cmocka_unit_test(minimal_environment),
        cmocka_unit_test(no_inherited_descriptors),
        cmocka_unit_test(daemonised_child_does_not_hang),
        cmocka_unit_test(timeout_fires_with_pipe_held),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
