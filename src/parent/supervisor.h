// Supervision of the engine: fork and re-execute ourselves as the engine
// (-E) with the channel on kEngineChannelFd, learn of its exit through a
// pidfd, restart it with capped backoff, stop it on request and kill it on
// a protocol violation. It knows nothing of what the messages mean: the
// parent's hooks do.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/channel.h"
#include "common/evutil.h"

namespace rh {

class Supervisor {
  public:
    struct Hooks {
        // A new engine runs: send it its configuration on ch.
        std::function<void(Channel& ch)> started;
        // Every message the codec accepted; the parent validates it.
        std::function<void(proto::Message&&)> message;
        // Running, waiting to restart or gone: the status line may change.
        std::function<void()> changed;
    };

    // args: the engine's command line after argv[0] ("-E", "-f", path, ...).
    Supervisor(event_base* base, std::vector<std::string> args, Hooks hooks);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    void start();
    // A fresh engine at once (SIGHUP): the running one is asked to stop and
    // a new one starts as soon as it is gone, without backoff.
    void restart();
    // For good (SIGTERM): asks the engine to stop, kills it after a grace
    // period, then calls gone. Calls gone at once when none runs.
    void stop(std::function<void()> gone);
    // A protocol violation: SIGKILL, then a restart with backoff.
    void kill(const std::string& why);
    // False when no engine has an open channel.
    bool send(const proto::Message& m);

    // Bytes queued to the engine and not yet written to it.
    size_t queued() const { return channel_ ? channel_->pending_output() : 0; }
    bool waiting_to_restart() const { return restart_timer_.pending(); }
    pid_t pid() const { return pid_; }
    // Engines that exited without being asked to (crashes, kills for a
    // protocol violation) since the parent started.
    uint64_t unexpected_exits() const { return unexpected_exits_; }

  private:
    bool spawn(int child_fd, std::string* err);
    [[noreturn]] static void exec_engine(int fd, char** argv, char** envp);
    static void exit_cb(evutil_socket_t, short, void* arg);
    void on_exit();
    void on_channel_error(const std::string& why, bool eof);
    void schedule_restart(const std::string& why);
    void ask_to_stop(std::chrono::milliseconds grace);

    event_base* base_;
    std::vector<std::string> args_;
    Hooks hooks_;
    Backoff backoff_;
    Timer restart_timer_;
    Timer kill_timer_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    EventPtr pidfd_ev_;
    std::unique_ptr<Channel> channel_;
    bool stopping_ = false;
    bool restart_now_ = false;
    uint64_t unexpected_exits_ = 0;
    std::function<void()> gone_;
};

} // namespace rh
