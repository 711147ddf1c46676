#include "parent/supervisor.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "parent/process.h"

namespace rh {

using namespace std::chrono_literals;

namespace {

// How long a stopping engine gets before SIGKILL, and how long one that
// closed its channel may linger.
constexpr auto kStopGrace = 5s;
constexpr auto kLingerAfterEof = 2s;

} // namespace

Supervisor::Supervisor(event_base* base, std::vector<std::string> args, Hooks hooks)
    : base_(base), args_(std::move(args)), hooks_(std::move(hooks)), backoff_(100ms, 10s, 60s),
      restart_timer_(base, [this] { start(); }),
      kill_timer_(base, [this] { kill("did not stop in time"); }) {}

Supervisor::~Supervisor() {
    if (pid_ > 0) {
        ::kill(-pid_, SIGKILL); // the engine's own group (not reaped yet)
        waitpid(pid_, nullptr, 0);
    }
    if (pidfd_ >= 0)
        close(pidfd_);
}

void Supervisor::start() {
    if (stopping_ || pid_ > 0)
        return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return schedule_restart("socketpair: " + std::string(strerror(errno)));
    std::string err;
    bool ok = spawn(sv[1], &err);
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        return schedule_restart(err);
    }
    backoff_.started(std::chrono::steady_clock::now());
    channel_ = std::make_unique<Channel>(
        base_, sv[0], [this](proto::Message&& m) { hooks_.message(std::move(m)); },
        [this](const std::string& why, bool eof) { on_channel_error(why, eof); });
    hooks_.started(*channel_);
    log::info("engine started, pid %d", static_cast<int>(pid_));
}

// fork + exec with every signal blocked across the fork, so the child
// cannot run our handlers before exec; the child unblocks them and starts
// with default dispositions. Everything the child uses is built before
// fork: it only calls async-signal-safe functions.
bool Supervisor::spawn(int child_fd, std::string* err) {
    ChildEnvironment env(ChildKind::engine);
    std::vector<std::string> args = {"redishappyd"};
    args.insert(args.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        exec_engine(child_fd, argv.data(), env.envp());
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
        *err = "fork: " + std::string(strerror(saved));
        return false;
    }
    setpgid(pid, pid); // as the child does: no race with a kill right away
    pid_ = pid;
    pidfd_ = pidfd_open(pid);
    if (pidfd_ < 0)
        log::fatal("pidfd_open");
    pidfd_ev_.reset(event_new(base_, pidfd_, EV_READ, &Supervisor::exit_cb, this));
    event_add(pidfd_ev_.get(), nullptr);
    return true;
}

void Supervisor::exec_engine(int fd, char** argv, char** envp) {
    if (fd != kEngineChannelFd) {
        if (dup2(fd, kEngineChannelFd) < 0)
            _exit(127);
    } else {
        fcntl(fd, F_SETFD, 0);
    }
    reset_signals_in_child();
    setpgid(0, 0); // a group of its own, killed as a whole
    // Nothing to read from whoever started us (stderr stays: the engine
    // logs there in the foreground).
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0)
        _exit(127);
    if (devnull != 0)
        close(devnull);
    close_descriptors_from(kEngineChannelFd + 1);
    // Re-execute ourselves: the engine starts from a fresh address space,
    // not a copy of the parent's memory (relayd, OpenNTPD). Without
    // NOTIFY_SOCKET: only the parent speaks to systemd.
    execve("/proc/self/exe", argv, envp);
    _exit(127);
}

void Supervisor::exit_cb(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Supervisor*>(arg);
    guarded("engine exit", [self] { self->on_exit(); });
}

void Supervisor::on_exit() {
    pid_t pid = pid_;
    // Whatever the engine left in its group dies with it, however it ended.
    std::optional<int> ended = reap_child(pidfd_, pid, /*kill_group=*/true);
    if (!ended)
        return;
    int status = *ended;
    pidfd_ev_.reset();
    close(pidfd_);
    pidfd_ = -1;
    pid_ = -1;
    channel_.reset();
    kill_timer_.cancel();
    if (stopping_) {
        log::info("engine %d %s", static_cast<int>(pid), describe_wait_status(status).c_str());
        if (auto gone = std::move(gone_))
            gone();
        return;
    }
    if (restart_now_) {
        restart_now_ = false;
        backoff_.reset();
        start();
        return;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        log::error("engine %d made a system call its sandbox forbids", static_cast<int>(pid));
    unexpected_exits_++;
    backoff_.failed(std::chrono::steady_clock::now());
    schedule_restart("engine " + std::to_string(pid) + " " + describe_wait_status(status));
}

void Supervisor::on_channel_error(const std::string& why, bool eof) {
    if (!eof)
        return kill("protocol violation: " + why);
    // An engine that closes its end is exiting; the pidfd reports when.
    // One that lingers without a channel is useless: give it a moment.
    log::debug("engine %d closed the channel", static_cast<int>(pid_));
    if (!kill_timer_.pending())
        kill_timer_.arm(kLingerAfterEof);
}

void Supervisor::schedule_restart(const std::string& why) {
    auto delay = backoff_.next();
    log::warn("%s; restarting it in %lld ms", why.c_str(), static_cast<long long>(delay.count()));
    restart_timer_.arm(delay);
    hooks_.changed();
}

void Supervisor::kill(const std::string& why) {
    if (pid_ <= 0)
        return;
    log::error("engine %d: %s; killing it", static_cast<int>(pid_), why.c_str());
    // Closed, not destroyed: kill() is called from inside the channel's own
    // callbacks (a violating message), which must not find it freed under
    // them. on_exit() destroys it.
    if (channel_)
        channel_->close();
    // The whole group: whatever the engine might have started with it. Its
    // leader is not reaped yet (pid_ > 0), so the group number is its own.
    ::kill(-pid_, SIGKILL);
}

void Supervisor::ask_to_stop(std::chrono::milliseconds grace) {
    if (channel_ && channel_->open())
        channel_->send(proto::Shutdown{});
    else
        ::kill(pid_, SIGTERM);
    kill_timer_.arm(grace);
}

void Supervisor::restart() {
    if (pid_ > 0) {
        restart_now_ = true;
        return ask_to_stop(kStopGrace);
    }
    restart_timer_.cancel();
    backoff_.reset();
    start();
}

void Supervisor::stop(std::function<void()> gone) {
    stopping_ = true;
    restart_timer_.cancel();
    if (pid_ <= 0)
        return gone();
    gone_ = std::move(gone);
    ask_to_stop(kStopGrace);
}

bool Supervisor::send(const proto::Message& m) {
    return channel_ && channel_->send(m);
}

} // namespace rh
