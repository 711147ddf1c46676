// Fencing a master; see fence.h.
#include "parent/fence.h"

#include <algorithm>
#include <ctime>

#include "common/log.h"

namespace rh {

using Millis = std::chrono::milliseconds;

namespace {

int64_t wall_now() {
    return static_cast<int64_t>(time(nullptr));
}

} // namespace

Millis fence_timeout(Millis configured, uint32_t engine_failover_timeout_ms) {
    if (configured.count() > 0)
        return configured;
    if (engine_failover_timeout_ms == 0)
        return kFenceTimeoutDefault;
    Millis t(engine_failover_timeout_ms);
    return std::clamp(t, kFenceTimeoutMin, kFenceTimeoutMax);
}

std::vector<std::string> fence_commands(const std::string& backend, const std::string& server) {
    std::string bs = backend + "/" + server;
    return {"set server " + bs + " state maint", "shutdown sessions server " + bs};
}

std::vector<std::string> unfence_commands(const std::string& backend, const std::string& server) {
    return {"set server " + backend + "/" + server + " state ready"};
}

const char* fence_lift_name(proto::FenceLift l) {
    switch (l) {
    case proto::FenceLift::None:
        return "none";
    case proto::FenceLift::Unfence:
        return "-odown";
    case proto::FenceLift::Switch:
        return "the switch";
    case proto::FenceLift::Timeout:
        return "fence_timeout";
    case proto::FenceLift::Error:
        return "an error";
    }
    return "none";
}

Fencer::Fencer(event_base* base, const Config& config,
               std::function<void(const proto::FenceState&)> report)
    : base_(base), config_(config), report_(std::move(report)), kick_(base, [this] { next(); }),
      retry_timer_(base, [this] { retry_now(); }) {}

const ClusterConfig* Fencer::config_of(const std::string& cluster) const {
    for (auto& c : config_.clusters)
        if (c.name == cluster)
            return &c;
    return nullptr;
}

const proto::FenceState* Fencer::state(const std::string& cluster) const {
    auto it = clusters_.find(cluster);
    return it == clusters_.end() ? nullptr : &it->second.st;
}

void Fencer::fence(const proto::Fence& m) {
    const ClusterConfig* cc = config_of(m.cluster);
    if (!cc || !cc->fence)
        return; // engine_check refuses these first
    Cluster& c = clusters_[m.cluster];
    c.st.cluster = m.cluster;
    if (c.st.fenced && c.st.master == m.master)
        return; // a new engine asking again
    if (c.expired_master == m.master && c.expired_epoch == m.epoch) {
        log::notice("cluster %s: master %s still o_down, but its fence_timeout is over; "
                    "not fenced again until the Sentinels clear o_down or fail over",
                    m.cluster.c_str(), format_host_port(m.master).c_str());
        return;
    }
    Millis timeout = fence_timeout(cc->fence_timeout, m.failover_timeout_ms);
    int64_t now = wall_now();
    c.st.fenced = true;
    c.st.master = m.master;
    c.st.epoch = m.epoch;
    c.st.since = now;
    c.st.deadline = now + (timeout.count() + 999) / 1000;
    c.st.fences++;
    c.st.lifted_by = proto::FenceLift::None;
    c.st.error.clear();
    c.backend = cc->haproxy_backend();
    c.server = cc->haproxy_server();
    std::string name = m.cluster;
    c.timer = std::make_unique<Timer>(base_, [this, name] { on_timeout(name); });
    c.timer->arm(timeout);
    log::warn("cluster %s: fencing master %s (the Sentinels agree it is down): %s/%s in maint, "
              "its sessions shut down, until the switch, -odown or %lld ms",
              name.c_str(), format_host_port(m.master).c_str(), c.backend.c_str(), c.server.c_str(),
              static_cast<long long>(timeout.count()));
    report_(c.st);
    run({name, fence_commands(c.backend, c.server), true});
}

void Fencer::unfence(const proto::Unfence& m) {
    auto it = clusters_.find(m.cluster);
    if (it == clusters_.end())
        return;
    Cluster& c = it->second;
    if (c.expired_master == m.master && c.expired_epoch == m.epoch)
        c.expired_master.reset(); // o_down cleared: a new episode may fence again
    if (!c.st.fenced || c.st.master != m.master)
        return;
    log::notice("cluster %s: the Sentinels no longer report %s o_down; lifting the fence",
                m.cluster.c_str(), format_host_port(m.master).c_str());
    lift(c, proto::FenceLift::Unfence);
}

void Fencer::applied(const std::string& cluster, const std::optional<HostPort>& master) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return;
    Cluster& c = it->second;
    if (c.expired_master && c.expired_master != master)
        c.expired_master.reset();
    if (!c.st.fenced || c.st.master == master)
        return;
    log::notice("cluster %s: switched to %s; the fence of %s is lifted", cluster.c_str(),
                master ? format_host_port(*master).c_str() : "no master",
                format_host_port(*c.st.master).c_str());
    lift(c, proto::FenceLift::Switch);
}

void Fencer::lift(Cluster& c, proto::FenceLift why) {
    c.timer.reset();
    c.st.fenced = false;
    c.st.lifted_by = why;
    c.st.since = wall_now();
    c.st.deadline = 0;
    report_(c.st);
    run({c.st.cluster, unfence_commands(c.backend, c.server), false});
}

void Fencer::on_timeout(const std::string& cluster) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end() || !it->second.st.fenced)
        return;
    Cluster& c = it->second;
    log::warn("cluster %s: master %s fenced for fence_timeout and no failover happened; "
              "lifting the fence so clients reach it again",
              cluster.c_str(), format_host_port(*c.st.master).c_str());
    c.expired_master = c.st.master;
    c.expired_epoch = c.st.epoch;
    lift(c, proto::FenceLift::Timeout);
}

// The reloaded HAProxy has the servers the configuration names now: a
// fence goes to the master's server by its current name, and a lift still
// owed to a server that was renamed or removed is dropped (that server is
// gone; its successor starts as the file says).
void Fencer::reloaded() {
    for (auto it = retry_.begin(); it != retry_.end();) {
        const ClusterConfig* cc = config_of(it->first);
        if (cc &&
            it->second.commands == unfence_commands(cc->haproxy_backend(), cc->haproxy_server())) {
            ++it;
            continue;
        }
        log::notice("cluster %s: haproxy reloaded without the server of an owed lift; dropped",
                    it->first.c_str());
        it = retry_.erase(it);
    }
    for (auto& [name, c] : clusters_)
        if (c.st.fenced) {
            if (const ClusterConfig* cc = config_of(name)) {
                c.backend = cc->haproxy_backend();
                c.server = cc->haproxy_server();
            }
            log::notice("cluster %s: haproxy reloaded; applying the fence of %s again",
                        name.c_str(), format_host_port(*c.st.master).c_str());
            run({name, fence_commands(c.backend, c.server), true});
        }
}

void Fencer::reconfigure() {
    for (auto it = clusters_.begin(); it != clusters_.end();) {
        const ClusterConfig* cc = config_of(it->first);
        if (cc && cc->fence) {
            ++it;
            continue;
        }
        if (it->second.st.fenced) {
            log::notice("cluster %s: no longer fenced by the configuration; lifting the fence",
                        it->first.c_str());
            it->second.timer.reset();
            run({it->first, unfence_commands(it->second.backend, it->second.server), false});
        }
        it = clusters_.erase(it);
    }
}

void Fencer::replay() {
    for (auto& [name, c] : clusters_)
        if (config_of(name))
            report_(c.st);
}

// A cluster's queued job is replaced by its newer one (the last state
// wins), so the queue holds at most one job per cluster plus the running
// one, however fast an engine alternates Fence and Unfence.
void Fencer::run(Job job) {
    retry_.erase(job.cluster);
    for (auto it = queue_.begin() + (running_ ? 1 : 0); it != queue_.end();)
        it = it->cluster == job.cluster ? queue_.erase(it) : it + 1;
    queue_.push_back(std::move(job));
    if (!running_ && !kick_.pending())
        kick_.arm(Millis(0));
}

// One exchange at a time, in order: a lift never overtakes its fence.
void Fencer::next() {
    if (running_ || queue_.empty())
        return;
    if (!config_.haproxy || config_.runtime_socket.empty()) {
        log::error("fence: no [haproxy] runtime_socket; %zu fence commands dropped", queue_.size());
        queue_.clear();
        return;
    }
    running_ = true;
    runtime_ = std::make_unique<RuntimeClient>(base_, config_.runtime_socket);
    std::vector<std::string> cmds = queue_.front().commands;
    runtime_->run(std::move(cmds), config_.runtime_timeout, [this](RuntimeResult r) {
        Job job = std::move(queue_.front());
        queue_.pop_front();
        running_ = false;
        kick_.arm(Millis(0)); // runtime_ is replaced from the loop, not from here
        done(std::move(job), r);
    });
}

void Fencer::done(Job job, const RuntimeResult& r) {
    auto it = clusters_.find(job.cluster);
    if (r.ok) {
        retry_delay_ = kFenceRetryFirst;
        if (it != clusters_.end() && !it->second.st.error.empty()) {
            it->second.st.error.clear();
            report_(it->second.st);
        }
        return;
    }
    log::error("cluster %s: %s: %s", job.cluster.c_str(),
               job.fencing ? "cannot fence the master" : "cannot lift the fence", r.error.c_str());
    // A newer fence or lift of this cluster is queued: it decides the state.
    bool superseded = std::any_of(queue_.begin(), queue_.end(),
                                  [&](const Job& q) { return q.cluster == job.cluster; });
    if (!job.fencing) {
        if (!superseded)
            retry_later(std::move(job));
    } else if (!superseded && it != clusters_.end()) {
        // Maint may be set even though the exchange failed: lift it.
        retry_later({job.cluster, unfence_commands(it->second.backend, it->second.server), false});
    }
    if (it == clusters_.end())
        return;
    Cluster& c = it->second;
    c.st.error = r.error.substr(0, proto::kMaxText);
    if (job.fencing && c.st.fenced && !superseded) {
        // Not in maint (or not sure): do not claim a fence.
        c.timer.reset();
        c.st.fenced = false;
        c.st.lifted_by = proto::FenceLift::Error;
        c.st.deadline = 0;
    }
    report_(c.st);
}

void Fencer::retry_later(Job job) {
    log::warn("cluster %s: trying the lift again in %lld ms", job.cluster.c_str(),
              static_cast<long long>(retry_delay_.count()));
    std::string name = job.cluster;
    retry_[name] = std::move(job);
    if (!retry_timer_.pending()) {
        retry_timer_.arm(retry_delay_);
        retry_delay_ = std::min(retry_delay_ * 2, kFenceRetryCap);
    }
}

void Fencer::retry_now() {
    auto jobs = std::move(retry_);
    retry_.clear();
    for (auto& [name, job] : jobs)
        run(std::move(job));
}

} // namespace rh
