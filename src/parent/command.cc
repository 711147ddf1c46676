// CommandRunner: fork + exec of /bin/sh with a pidfd for exit notification.
#include "parent/command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "parent/process.h"

namespace rh {

namespace {

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(const std::string& cmd, int out_fd, char** envp) {
    reset_signals_in_child();
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0 && devnull != 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    close_descriptors_from(3); // out_fd too, and anything left open
    execle("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr), envp);
    _exit(127);
}

} // namespace

std::string CommandResult::describe() const {
    if (!started)
        return "not started: " + error;
    std::string held = output_abandoned ? " (a background process kept its output open)" : "";
    if (timed_out)
        return "timed out after " + std::to_string(elapsed.count() / 1000) + " ms" + held;
    if (term_signal)
        return std::string("killed by signal ") + std::to_string(term_signal) + held;
    return "exit " + std::to_string(exit_status) + held;
}

CommandRunner::CommandRunner(event_base* base)
    : base_(base), timer_(base, [this] { on_timeout(); }),
      kill_timer_(base, [this] { signal_group(SIGKILL); }),
      grace_timer_(base,
                   [this] {
                       // Stop waiting for EOF.
                       result_.output_abandoned = true;
                       eof_ = true;
                       maybe_finish();
                   }),
      fail_timer_(base, [this] {
          fail_pending_ = false;
          auto done = std::move(done_);
          done_ = nullptr;
          if (done)
              done(std::move(result_));
      }) {}

CommandRunner::~CommandRunner() {
    if (pid_ > 0 && !reaped_) {
        signal_group(SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    cleanup();
}

void CommandRunner::run(const std::string& cmd, std::chrono::milliseconds timeout, Done done) {
    result_ = CommandResult{};
    done_ = std::move(done);
    reaped_ = eof_ = false;
    timeout_ = timeout;
    start_ = std::chrono::steady_clock::now();
    auto start_failed = [this, &cmd](const char* what) {
        result_.error = "command '" + cmd + "': " + what + ": " + std::strerror(errno);
        cleanup();
        fail_pending_ = true;
        fail_timer_.arm(std::chrono::microseconds(0));
    };
    ChildEnvironment env(ChildKind::command); // built before fork
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return start_failed("pipe");
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return start_failed("fork");
    }
    if (pid == 0) {
        close(fds[0]);
        exec_child(cmd, fds[1], env.envp());
    }
    // Also from the parent, so a kill(-pid) right away cannot miss the group.
    setpgid(pid, pid);
    close(fds[1]);
    pid_ = pid;
    pipe_fd_ = fds[0];
    fcntl(pipe_fd_, F_SETFL, fcntl(pipe_fd_, F_GETFL) | O_NONBLOCK);
    pidfd_ = pidfd_open(pid);
    if (pidfd_ < 0) {
        int saved = errno;
        kill(-pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid_ = -1;
        errno = saved;
        return start_failed("pidfd_open");
    }
    result_.started = true;
    pipe_ev_.reset(event_new(base_, pipe_fd_, EV_READ | EV_PERSIST, on_pipe, this));
    exit_ev_.reset(event_new(base_, pidfd_, EV_READ, on_exit, this));
    event_add(pipe_ev_.get(), nullptr);
    event_add(exit_ev_.get(), nullptr);
    timer_.arm(timeout);
}

void CommandRunner::on_pipe(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<CommandRunner*>(arg);
    guarded("command output", [&] {
        char buf[4096];
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return; // EAGAIN: wait for more
            if (n == 0) {
                self->eof_ = true;
                event_del(self->pipe_ev_.get());
                self->maybe_finish();
                return;
            }
            auto room = CommandRunner::kOutputCap - self->result_.output.size();
            if (static_cast<size_t>(n) > room)
                self->result_.output_truncated = true;
            self->result_.output.append(buf, std::min(room, static_cast<size_t>(n)));
        }
    });
}

void CommandRunner::on_exit(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<CommandRunner*>(arg);
    guarded("command exit", [&] { self->on_shell_exit(); });
}

// The shell exited but is not reaped yet, so its process group cannot have
// been reused: kill what is left of a timed-out command, then reap.
void CommandRunner::on_shell_exit() {
    // A timed-out command's stragglers that ignored SIGTERM die with it.
    std::optional<int> ended = reap_child(pidfd_, pid_, /*kill_group=*/result_.timed_out);
    if (!ended) {
        event_add(exit_ev_.get(), nullptr); // not yet after all: keep watching
        return;
    }
    if (WIFEXITED(*ended))
        result_.exit_status = WEXITSTATUS(*ended);
    else
        result_.term_signal = WTERMSIG(*ended);
    reaped_ = true;
    timer_.cancel();
    kill_timer_.cancel();
    // A background child holding the pipe (one that escaped the group)
    // delays completion by kPipeGrace at most.
    if (!eof_)
        grace_timer_.arm(kPipeGrace);
    maybe_finish();
}

void CommandRunner::on_timeout() {
    if (pid_ <= 0 || reaped_)
        return;
    result_.timed_out = true;
    signal_group(SIGTERM);
    kill_timer_.arm(kKillGrace);
}

// Only while the leader is unreaped: see command.h.
void CommandRunner::signal_group(int sig) {
    if (pid_ > 0 && !reaped_)
        kill(-pid_, sig);
}

void CommandRunner::maybe_finish() {
    if (!reaped_ || !eof_)
        return;
    result_.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start_);
    pid_ = -1;
    cleanup();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
        done(std::move(result_));
}

void CommandRunner::cleanup() {
    timer_.cancel();
    kill_timer_.cancel();
    grace_timer_.cancel();
    pipe_ev_.reset();
    exit_ev_.reset();
    if (pipe_fd_ >= 0)
        close(pipe_fd_);
    if (pidfd_ >= 0)
        close(pidfd_);
    pipe_fd_ = pidfd_ = -1;
}

std::string shell_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
    return out;
}

std::string substitute_path(std::string_view cmd, std::string_view path) {
    std::string out;
    for (size_t i = 0; i < cmd.size(); i++) {
        if (cmd[i] == '%' && i + 1 < cmd.size() && cmd[i + 1] == 's') {
            out += shell_quote(path);
            i++;
        } else if (cmd[i] == '%' && i + 1 < cmd.size() && cmd[i + 1] == '%') {
            out += '%';
            i++;
        } else {
            out += cmd[i];
        }
    }
    return out;
}

} // namespace rh
