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

static void child_environment_drops_notify_socket(void**) {
    assert_int_equal(setenv("NOTIFY_SOCKET", "/run/x", 1), 0);
    assert_int_equal(setenv("RH_NOTIFY_TEST", "1", 1), 0);
    bool kept = false, notify = false;
    {
        ChildEnvironment env;
        for (char** e = env.envp(); *e; e++) {
            kept = kept || strcmp(*e, "RH_NOTIFY_TEST=1") == 0;
            notify = notify || strncmp(*e, "NOTIFY_SOCKET=", 14) == 0;
        }
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("RH_NOTIFY_TEST");
    assert_true(kept);
    assert_false(notify);
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
        cmocka_unit_test(child_environment_drops_notify_socket),
        cmocka_unit_test(wait_status_is_described),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
