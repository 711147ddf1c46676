// What every child the parent starts has in common, the engine and the
// check and reload commands alike: how it is watched (a pidfd), what it
// inherits (a minimal environment, no descriptor but its own, default signal
// dispositions, an empty signal mask) and how its end is described. The
// child is always the leader of a process group of its own, so the parent
// can kill it with whatever it started.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace rh {

// A descriptor that becomes readable when pid exits (Linux 5.3); -1 and
// errno on failure.
int pidfd_open(pid_t pid);

// "exited with status N", "killed by signal NAME".
std::string describe_wait_status(int status);

// Reaps the child `pid` watched by `pidfd` if it has ended, and returns its
// status in waitpid() form; nullopt while it runs. With kill_group, whatever
// is left in the child's process group is sent SIGKILL first: until the
// leader is reaped its pid, and so its group number, cannot be reused, so
// the signal reaches only what the child started.
std::optional<int> reap_child(int pidfd, pid_t pid, bool kill_group);

// The PATH every child gets, whatever the daemon was started with.
inline constexpr const char* kChildPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Whom an environment is for: the engine or an operator's command.
enum class ChildKind { engine, command };

// A minimal environment for execve() after a fork, never the daemon's own:
// PATH=kChildPath, and of this process's variables only TZ (log and date
// formatting) and, for commands only, LANG and LC_ALL (the language of
// their messages). Nothing else: no NOTIFY_SOCKET (only the parent speaks
// to systemd), no LD_PRELOAD, proxies, credentials or whatever else the
// starting shell had. Build it before fork(): envp() only hands out
// pointers.
class ChildEnvironment {
  public:
    explicit ChildEnvironment(ChildKind kind);
    ChildEnvironment(const ChildEnvironment&) = delete;
    ChildEnvironment& operator=(const ChildEnvironment&) = delete;
    char** envp() { return ptrs_.data(); }

  private:
    std::vector<std::string> vars_;
    std::vector<char*> ptrs_;
};

// In a child between fork() and exec(): every signal back to its default
// disposition, glibc's reserved ones included, and nothing blocked (the
// parent blocks everything across fork). Async-signal-safe.
void reset_signals_in_child();

// In a child between fork() and exec(): closes every descriptor from `first`
// up (close_range, Linux 5.9; on older kernels a loop up to RLIMIT_NOFILE),
// so nothing the daemon or whoever started it had open reaches the child.
// Async-signal-safe.
void close_descriptors_from(int first);

} // namespace rh
