#include "parent/process.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string_view>

extern char** environ;

namespace rh {

namespace {

// glibc keeps signals 32 and 33 for itself and will not touch them, yet an
// ignored disposition inherited from our own parent survives exec. Reset
// them with the raw system call (kernel sigaction layout on Linux).
void reset_reserved_signal(int sig) {
    struct {
        void* handler;
        unsigned long flags;
        void* restorer;
        uint64_t mask;
    } ksa{};
    ksa.handler = nullptr; // SIG_DFL
    syscall(SYS_rt_sigaction, sig, &ksa, nullptr, sizeof(ksa.mask));
}

} // namespace

int pidfd_open(pid_t pid) {
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "stopped";
}

std::optional<int> reap_child(int pidfd, pid_t pid, bool kill_group) {
    siginfo_t info{};
    if (waitid(P_PIDFD, pidfd, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0)
        return std::nullopt;
    if (kill_group)
        kill(-pid, SIGKILL);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid)
        return std::nullopt;
    return status;
}

ChildEnvironment::ChildEnvironment(ChildKind kind) {
    vars_.push_back(std::string("PATH=") + kChildPath);
    auto kept = [kind](std::string_view name) {
        if (name == "TZ")
            return true;
        return kind == ChildKind::command && (name == "LANG" || name == "LC_ALL");
    };
    for (char** e = environ; e && *e; e++) {
        std::string_view var(*e);
        auto eq = var.find('=');
        if (eq != std::string_view::npos && kept(var.substr(0, eq)))
            vars_.emplace_back(var);
    }
    for (auto& v : vars_)
        ptrs_.push_back(v.data());
    ptrs_.push_back(nullptr);
}

void reset_signals_in_child() {
    for (int sig = 1; sig < NSIG; sig++)
        if (signal(sig, SIG_DFL) == SIG_ERR)
            reset_reserved_signal(sig); // glibc refuses its own (32, 33)
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

void close_descriptors_from(int first) {
    if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0) == 0)
        return;
    // ENOSYS (before Linux 5.9): every possible descriptor, one by one.
    // /proc/self/fd would need opendir(), which is not async-signal-safe.
    rlimit rl{};
    long max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
        max = static_cast<long>(rl.rlim_max);
    for (long fd = first; fd < max; fd++)
        close(static_cast<int>(fd));
}

} // namespace rh
