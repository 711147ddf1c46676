// What every child the parent starts has in common, the engine and the
// check and reload commands alike: how it is watched (a pidfd), what it
// inherits (the environment without NOTIFY_SOCKET, default signal
// dispositions, an empty signal mask) and how its end is described.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace rh {

// A descriptor that becomes readable when pid exits (Linux 5.3); -1 and
// errno on failure.
int pidfd_open(pid_t pid);

// "exited with status N", "killed by signal NAME".
std::string describe_wait_status(int status);

// This process's environment without NOTIFY_SOCKET, for execve() after a
// fork: only the parent speaks to systemd. Build it before fork(): envp()
// only hands out pointers.
class ChildEnvironment {
  public:
    ChildEnvironment();
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

} // namespace rh
