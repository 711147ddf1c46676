// Unit tests for src/parent/process.cc: what every child of the parent
// inherits, and how its end is described.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <string>

#include "parent/process.h"

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

// Only PATH, TZ and (for commands) LANG and LC_ALL reach a child: nothing
// else of the daemon's environment, NOTIFY_SOCKET least of all.
static bool has(ChildEnvironment& env, const char* var) {
    for (char** e = env.envp(); *e; e++)
        if (strcmp(*e, var) == 0)
            return true;
    return false;
}

static size_t count(ChildEnvironment& env) {
    size_t n = 0;
    for (char** e = env.envp(); *e; e++)
        n++;
    return n;
}

static void child_environment_is_minimal(void**) {
    assert_int_equal(setenv("NOTIFY_SOCKET", "/run/x", 1), 0);
    assert_int_equal(setenv("RH_ENV_TEST", "1", 1), 0);
    assert_int_equal(setenv("PATH", "/home/someone/bin", 1), 0);
    assert_int_equal(setenv("TZ", "Europe/Paris", 1), 0);
    assert_int_equal(setenv("LANG", "fr_FR.UTF-8", 1), 0);
    std::string path = std::string("PATH=") + kChildPath;
    ChildEnvironment cmd(ChildKind::command), engine(ChildKind::engine);
    for (const char* v : {"NOTIFY_SOCKET", "RH_ENV_TEST", "TZ", "LANG"})
        unsetenv(v);
    assert_true(has(cmd, path.c_str()));
    assert_true(has(cmd, "TZ=Europe/Paris"));
    assert_true(has(cmd, "LANG=fr_FR.UTF-8"));
    assert_int_equal(count(cmd), 3);
    assert_true(has(engine, path.c_str()));
    assert_true(has(engine, "TZ=Europe/Paris"));
    assert_int_equal(count(engine), 2);
}

// Wait statuses are built the way the kernel reports them (W_EXITCODE,
// W_STOPCODE and a bare signal number), so no child is started.
static void wait_status_is_described(void**) {
    assert_string_equal(describe_wait_status(W_EXITCODE(3, 0)).c_str(), "exited with status 3");
    assert_string_equal(describe_wait_status(W_EXITCODE(0, 0)).c_str(), "exited with status 0");
    std::string killed = describe_wait_status(SIGKILL);
    assert_string_equal(killed.c_str(),
                        (std::string("killed by signal ") + strsignal(SIGKILL)).c_str());
    assert_string_equal(describe_wait_status(W_STOPCODE(SIGSTOP)).c_str(), "stopped");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(child_environment_is_minimal),
        cmocka_unit_test(wait_status_is_described),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
