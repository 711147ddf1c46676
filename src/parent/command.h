// Asynchronous shell commands for the parent: "/bin/sh -c CMD" in its own
// process group, stdin from /dev/null, stdout and stderr captured through one
// pipe, no other descriptor and a minimal environment (process.h), a timeout
// that kills the whole group. Exit is learnt through a pidfd watched by
// libevent, so no SIGCHLD handler is involved.
//
// A command can never hang the parent:
//  - the timeout sends SIGTERM to the group, then SIGKILL after kKillGrace;
//  - the group is signalled only while its leader (the shell) is not yet
//    reaped: an unreaped leader, even a zombie, keeps the group's number
//    from being reused, so the signal cannot reach a stranger. The exit is
//    observed with waitid(WNOWAIT), the group killed if the command timed
//    out, and only then is the shell reaped;
//  - a descendant that escaped the group (setsid, daemon()) may keep the
//    output pipe open for ever: once the shell is reaped, the pipe gets
//    kPipeGrace more, then it is closed and the command finishes anyway
//    (output_abandoned). The escaped process is not signalled: it is in no
//    group we own, so we have no safe way to name it. Nor is what a shell
//    that exited in time left behind in its own group: the command ended,
//    and what it started in the background is the operator's business.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/evutil.h"

namespace rh {

struct CommandResult {
    bool started = false;   // false: fork/pipe/pidfd failed, see error
    bool timed_out = false; // the group was killed after the timeout
    int exit_status = -1;   // exit code, or -1 when killed by a signal
    int term_signal = 0;    // the signal that ended the shell, if any
    std::string output;     // stdout + stderr, at most kOutputCap bytes
    bool output_truncated = false;
    bool output_abandoned = false; // a background process kept the pipe open
    std::string error;             // set when !started
    std::chrono::microseconds elapsed{0};

    bool ok() const { return started && !timed_out && exit_status == 0; }
    std::string describe() const; // "exit 1", "killed by signal 9", "timed out after ..."
};

// Runs one command at a time. Completion is reported once the shell was
// reaped and the pipe hit EOF, or kPipeGrace after the reaping. Destroying a
// running CommandRunner kills the group with SIGKILL (if its leader is not
// reaped yet) and reaps the shell without calling back.
class CommandRunner {
  public:
    static constexpr size_t kOutputCap = 64 * 1024;
    static constexpr std::chrono::milliseconds kKillGrace{500};
    static constexpr std::chrono::milliseconds kPipeGrace{500};
    using Done = std::function<void(CommandResult)>;

    explicit CommandRunner(event_base* base);
    ~CommandRunner();
    CommandRunner(const CommandRunner&) = delete;
    CommandRunner& operator=(const CommandRunner&) = delete;

    // Precondition: !busy(). Never calls done synchronously; a start failure
    // is reported from the loop.
    void run(const std::string& cmd, std::chrono::milliseconds timeout, Done done);
    bool busy() const { return pid_ > 0 || fail_pending_; }
    pid_t pid() const { return pid_; } // the shell, also the process group id

  private:
    static void on_pipe(evutil_socket_t fd, short, void* arg);
    static void on_exit(evutil_socket_t fd, short, void* arg);
    void on_timeout();
    void on_shell_exit();
    void signal_group(int sig);
    void maybe_finish();
    void cleanup();

    event_base* base_;
    pid_t pid_ = -1;
    int pipe_fd_ = -1;
    int pidfd_ = -1;
    EventPtr pipe_ev_, exit_ev_;
    Timer timer_, kill_timer_, grace_timer_, fail_timer_;
    bool fail_pending_ = false;
    bool reaped_ = false, eof_ = false;
    CommandResult result_;
    Done done_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::milliseconds timeout_{0};
};

// Single-quotes s for /bin/sh.
std::string shell_quote(std::string_view s);
// Replaces every "%s" in cmd with shell_quote(path); "%%" becomes "%".
std::string substitute_path(std::string_view cmd, std::string_view path);

} // namespace rh
