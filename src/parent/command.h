// Asynchronous shell commands for the parent: "/bin/sh -c CMD" in its own
// process group, stdin from /dev/null, stdout and stderr captured through one
// pipe, the environment without NOTIFY_SOCKET (only the main PID notifies
// systemd), a timeout that kills the whole group. Exit is learnt through a pidfd
// watched by libevent, so no SIGCHLD handler is involved.
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
    std::string error; // set when !started
    std::chrono::microseconds elapsed{0};

    bool ok() const { return started && !timed_out && exit_status == 0; }
    std::string describe() const; // "exit 1", "killed by signal 9", "timed out after ..."
};

// Runs one command at a time. Completion is reported only once the pipe hit
// EOF and the shell was reaped. Destroying a running CommandRunner kills the
// group with SIGKILL and reaps the shell without calling back.
class CommandRunner {
  public:
    static constexpr size_t kOutputCap = 64 * 1024;
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
    void maybe_finish();
    void cleanup();

    event_base* base_;
    pid_t pid_ = -1;
    int pipe_fd_ = -1;
    int pidfd_ = -1;
    EventPtr pipe_ev_, exit_ev_;
    Timer timer_, kill_timer_, fail_timer_;
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
