// The engine's sandbox (src/engine/sandbox.cc), for real: each case forks a
// child that installs the sandbox and then makes one system call. What the
// engine's loop needs works; fork, exec, writing a file, ptrace and
// executable memory kill the child with SIGSYS.
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "common/evutil.h"
#include "engine/sandbox.h"

#include "../cmocka.h" // last: it defines fail()

using namespace rh;
using namespace std::chrono_literals;

// Runs body in a sandboxed child; returns its wait status.
static int in_sandbox(const std::function<int()>& body, SandboxOptions opts = {}) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        std::string err;
        if (!install_sandbox(opts, &err))
            _exit(100);
        _exit(body());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_killed_by_sigsys(int status) {
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
        fail_msg("expected SIGSYS, got wait status 0x%x", status);
}

// A libevent loop with a timer and a socketpair, as the engine runs (its
// base, like the engine's, made before the sandbox).
static int event_loop_round(event_base* base) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 2;
    int got = 0;
    Timer t(base, [&] {
        char c = 'x';
        if (write(sv[0], &c, 1) == 1 && read(sv[1], &c, 1) == 1)
            got = c;
        event_base_loopexit(base, nullptr);
    });
    t.arm(10ms);
    event_base_dispatch(base);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    void* p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rd = open("/etc/hosts", O_RDONLY | O_CLOEXEC); // the resolver's read
    if (tcp < 0 || p == MAP_FAILED || rd < 0)
        return 3;
    munmap(p, 1 << 20);
    close(rd);
    close(tcp);
    return got == 'x' ? 0 : 4;
}

static void allowed_calls_work(void**) {
    EventBasePtr base{event_base_new()};
    assert_non_null(base.get());
    int status = in_sandbox([&] { return event_loop_round(base.get()); });
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

// The standard descriptors are the parent's log too: their flags, offset
// and socket state are not the engine's to change; its own are.
static void standard_descriptors_are_not_the_engines(void**) {
    assert_killed_by_sigsys(in_sandbox([] { return fcntl(2, F_SETFL, 0) < 0 ? 1 : 0; }));
    assert_killed_by_sigsys(in_sandbox([] { return lseek(2, 0, SEEK_SET) < 0 ? 1 : 0; }));
    assert_killed_by_sigsys(in_sandbox([] { return shutdown(2, SHUT_RDWR) < 0 ? 1 : 0; }));
    assert_killed_by_sigsys(in_sandbox(
        [] { return socket(AF_NETLINK, SOCK_RAW, 4 /* NETLINK_SOCK_DIAG */) < 0 ? 1 : 0; }));
    int status = in_sandbox([] {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return 1;
        int fl = fcntl(sv[0], F_GETFL);
        return fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == 0 && shutdown(sv[0], SHUT_WR) == 0 &&
                       socket(AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */) >= 0
                   ? 0
                   : 2;
    });
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void fork_is_killed(void**) {
    assert_killed_by_sigsys(in_sandbox([] { return fork() < 0 ? 1 : 0; }));
}

static void exec_is_killed(void**) {
    assert_killed_by_sigsys(in_sandbox([] {
        char* argv[] = {const_cast<char*>("true"), nullptr};
        execve("/bin/true", argv, nullptr);
        return 1;
    }));
}

static void writing_a_file_is_killed(void**) {
    assert_killed_by_sigsys(in_sandbox([] {
        int fd = open("/tmp/rh-seccomp-test", O_WRONLY | O_CREAT, 0600);
        return fd < 0 ? 1 : 0;
    }));
    assert_killed_by_sigsys(in_sandbox([] { return open("/etc/hosts", O_RDWR) < 0 ? 1 : 0; }));
    assert_int_equal(access("/tmp/rh-seccomp-test", F_OK), -1);
}

static void ptrace_is_killed(void**) {
    assert_killed_by_sigsys(
        in_sandbox([] { return ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0 ? 1 : 0; }));
}

static void executable_memory_is_killed(void**) {
    assert_killed_by_sigsys(in_sandbox([] {
        void* p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? 1 : 0;
    }));
}

static void* thread_body(void*) {
    return nullptr;
}

static int start_thread() {
    pthread_t t;
    if (pthread_create(&t, nullptr, thread_body, nullptr) != 0)
        return 1;
    return pthread_join(t, nullptr) == 0 ? 0 : 2;
}

// With [consul]: threads for libcurl's resolver, still no process.
static void threads_only_when_asked(void**) {
    int status = in_sandbox(start_thread, SandboxOptions{.threads = true});
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_killed_by_sigsys(
        in_sandbox([] { return fork() < 0 ? 1 : 0; }, SandboxOptions{.threads = true}));
    assert_killed_by_sigsys(in_sandbox(start_thread));
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allowed_calls_work),
        cmocka_unit_test(standard_descriptors_are_not_the_engines),
        cmocka_unit_test(fork_is_killed),
        cmocka_unit_test(exec_is_killed),
        cmocka_unit_test(writing_a_file_is_killed),
        cmocka_unit_test(ptrace_is_killed),
        cmocka_unit_test(executable_memory_is_killed),
        cmocka_unit_test(threads_only_when_asked),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
