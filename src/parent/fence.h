// Fencing a master the Sentinels agree is down (redishappy.conf(5) fence):
// the parent owns the fence, its timer and its HAProxy commands, so an
// engine that dies cannot leave a master fenced for ever.
//
// The engine asks (proto::Fence, proto::Unfence) only after engine_check
// accepted the message: a fence = yes cluster, its applied master at the
// applied epoch. Then:
//   fence    set server B/S state maint; shutdown sessions server B/S
//   lift     set server B/S state ready, when the engine asks (-odown
//            corroborated), when another master is applied (the switch
//            itself moved and readied the server: the command is repeated
//            so a fence that raced the switch cannot stay on the new master),
//            or when fence_timeout is over (with a warning: Sentinel could
//            not fail over, and a master nobody can reach is worse than one
//            that may lose writes).
// After fence_timeout the same master at the same epoch is not fenced again
// until the Sentinels clear o_down (Unfence) or another master is applied:
// a crashing or hostile engine cannot turn a fence into an outage.
// A reload of HAProxy while a master is fenced loses the runtime state: the
// fence is applied again right after it.
// A lift that fails (socket missing, timeout, an error reply) is tried again,
// with a doubling delay, until it succeeds or a newer fence or lift of the
// cluster replaces it: a master left in maint is an outage. A fence that
// fails may have half happened (maint set, sessions not shut down): it is
// followed by a lift, tried the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "common/proto.h"
#include "config/config.h"
#include "parent/runtime.h"

namespace rh {

// Without fence_timeout and without a failover-timeout from the engine:
// Sentinel's own default (3 minutes).
inline constexpr std::chrono::milliseconds kFenceTimeoutDefault{180000};
// An engine-reported failover-timeout is clamped to this range: a hostile
// engine cannot make a fence last longer than an hour.
inline constexpr std::chrono::milliseconds kFenceTimeoutMin{1000};
inline constexpr std::chrono::milliseconds kFenceTimeoutMax{3600000};
// A failed lift is tried again after this, doubling up to the cap.
inline constexpr std::chrono::milliseconds kFenceRetryFirst{500};
inline constexpr std::chrono::milliseconds kFenceRetryCap{30000};

// The fence_timeout in force: the configured one, else the engine's
// failover-timeout (clamped), else the default. Pure.
std::chrono::milliseconds fence_timeout(std::chrono::milliseconds configured,
                                        uint32_t engine_failover_timeout_ms);

// The runtime commands of a fence and of its lift.
std::vector<std::string> fence_commands(const std::string& backend, const std::string& server);
std::vector<std::string> unfence_commands(const std::string& backend, const std::string& server);

const char* fence_lift_name(proto::FenceLift l);

class Fencer {
  public:
    // report: a cluster's fence changed; the engine should hear it.
    Fencer(event_base* base, const Config& config,
           std::function<void(const proto::FenceState&)> report);
    Fencer(const Fencer&) = delete;
    Fencer& operator=(const Fencer&) = delete;

    void fence(const proto::Fence& m);
    void unfence(const proto::Unfence& m);
    // The parent applied `master` for the cluster (Output's report).
    void applied(const std::string& cluster, const std::optional<HostPort>& master);
    // HAProxy was reloaded: runtime state is lost; fences are applied again.
    void reloaded();
    // After SIGHUP swapped the configuration: a cluster no longer fenced
    // (removed, or fence = no) is lifted and forgotten.
    void reconfigure();
    // Tells a new engine every cluster's fence.
    void replay();

    const proto::FenceState* state(const std::string& cluster) const;

  private:
    struct Cluster {
        proto::FenceState st;
        std::string backend, server; // where the fence was applied
        std::unique_ptr<Timer> timer;
        // The fence that expired: not applied again to this master and epoch.
        std::optional<HostPort> expired_master;
        uint64_t expired_epoch = 0;
    };
    struct Job {
        std::string cluster;
        std::vector<std::string> commands;
        bool fencing; // a failure of a fence (not of a lift) ends the fence
    };

    const ClusterConfig* config_of(const std::string& cluster) const;
    void lift(Cluster& c, proto::FenceLift why);
    void on_timeout(const std::string& cluster);
    void run(Job job);
    void next();
    void done(Job job, const RuntimeResult& r);
    void retry_later(Job job);
    void retry_now();

    event_base* base_;
    const Config& config_;
    std::function<void(const proto::FenceState&)> report_;
    std::map<std::string, Cluster> clusters_;
    std::unique_ptr<RuntimeClient> runtime_; // made per job, for the socket configured now
    std::deque<Job> queue_;
    bool running_ = false;
    Timer kick_; // starts the next job from the loop, never from a callback
    // Lifts that failed, by cluster, waiting for retry_timer_.
    std::map<std::string, Job> retry_;
    Timer retry_timer_;
    std::chrono::milliseconds retry_delay_ = kFenceRetryFirst;
};

} // namespace rh
