// The engine process: Sentinel monitoring, master confirmation, Consul and
// the read-only API, on one libevent loop, unprivileged and chrooted.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/evutil.h"
#include "common/proto.h"
#include "engine/cluster.h"
#include "engine/tls.h"

namespace rh {

class Api;
class Channel;
class ClusterNames;
class Consul;
class CurlLibrary;
class Decider;
class Resolver;
class SentinelLink;
struct ApiConfig;
struct ApiView;
struct ConfirmResult;
struct ReplicaProbe;

// What the parent sent: the global settings, the seeds, the clusters.
struct EngineConfig {
    proto::ConfigBegin global;
    std::vector<HostPort> sentinels;
    ClusterTable clusters;
    ClusterTable removed{true}; // to withdraw from Consul only
};

class Engine {
  public:
    explicit Engine(bool foreground);
    ~Engine();
    int run();
    int exit_status() const { return exit_status_; }

  private:
    void on_message(proto::Message&& m);
    void configure(EngineConfig cfg);
    void before_drop();
    void load_tls();
    const TlsContext* tls_for(bool tls, bool trusted) const;
    void after_drop();
    void on_apply_result(const proto::ApplyResult& r);
    void on_fence_state(const proto::FenceState& st);
    void on_process_stats(const proto::ProcessStats& st);
    void fail(const std::string& why);
    // The configured clusters: config_'s until the decider takes them.
    const ClusterTable& clusters() const;

    // ---- the wiring (engine_work.cc): real links, ROLE checks, Consul and
    // the API around the decision glue (decide.h) ----
    struct RoleCheck; // a cluster's Confirmer and its retry timer
    void start_decider();
    void start_consul();
    void open_link(const std::string& id, const HostPort& addr, bool trusted);
    using RoleDone = std::function<void(const HostPort&, const ConfirmResult&)>;
    void check_role(const EngineCluster& c, const HostPort& candidate, RoleDone done);
    RoleCheck& role_check_for(const std::string& cluster);
    void sweep_role_checks();
    void sweep_finished_role_checks();
    void start_role_check(const EngineCluster& c, const HostPort& candidate, RoleDone done);
    void start_queued_role_checks();
    void housekeeping();
    // Names (engine_work.cc): Sentinel addresses given by name, resolved
    // into configured Sentinels, and masters' names looked up again.
    struct SentinelName;
    void resolve_sentinel_name(SentinelName& n);
    void sentinel_name_resolved(SentinelName& n, const struct ResolveResult& r);
    void readdress_masters();
    bool announce(const proto::Master& m);
    // The read backend: a ROLE round per cluster, and the Replicas sent
    // after the Masters they follow.
    struct ReplicaRound;
    void probe_replicas(const EngineCluster& c, const HostPort& master,
                        const std::vector<HostPort>& replicas,
                        std::function<void(const ReplicaProbe&)> done);
    void finish_replica_round(const std::string& cluster);
    bool announce_replicas(const proto::Replicas& r);
    void confirm_progress();
    void flush_announcements();
    void mark_dirty();
    void publish_view();
    ApiView build_view(unsigned parts) const; // ApiParts
    void view_sentinels(ApiView& v, bool monitored) const;
    ApiConfig view_config() const;

    bool foreground_;
    EventBasePtr base_;
    std::unique_ptr<Channel> channel_;
    std::vector<EventPtr> signals_;
    bool receiving_ = false;
    bool configured_ = false;
    EngineConfig pending_;
    EngineConfig config_;
    int exit_status_ = 0;

    // OpenSSL, loaded only when some link is TLS (tls_lib.h); it outlives
    // the contexts it made.
    std::unique_ptr<TlsLibrary> tls_lib_;
    // TLS client contexts (null: no TLS); the anonymous one has no client
    // certificate, for Sentinels we do not trust. They outlive every link.
    std::unique_ptr<TlsContext> tls_ctx_, tls_anon_ctx_;
    std::unique_ptr<Resolver> resolver_; // configured before the drop
    std::vector<std::unique_ptr<SentinelName>> sentinel_names_;
    std::unique_ptr<Timer> readdress_timer_;
    std::unique_ptr<Decider> decider_;
    // Every link's list of cluster names, built once; declared before the
    // links, so it outlives them.
    std::unique_ptr<const ClusterNames> link_clusters_;
    std::map<std::string, std::unique_ptr<SentinelLink>> links_; // by id, as decider_'s
    std::map<std::string, std::unique_ptr<RoleCheck>> roles_;    // by cluster, while in use
    std::unique_ptr<Timer> role_sweep_;      // frees the idle ones once their callbacks returned
    std::vector<std::string> role_finished_; // clusters whose check ended since the last sweep
    std::unique_ptr<Api> api_;
    std::unique_ptr<CurlLibrary> curl_; // outlives consul_
    std::unique_ptr<Consul> consul_;
    std::unique_ptr<Timer> view_timer_;
    // How long after a change the API view is rebuilt: 20 ms, or four times
    // what the builds since the last change took together when that is
    // longer (at 10,000 clusters a whole build takes about 150 ms), so
    // rebuilding never takes more than a fifth of the loop, and a cheap
    // build of one part (ApiParts) after an expensive one does not shorten
    // the wait.
    std::chrono::milliseconds view_delay_{20};
    std::chrono::microseconds view_built_{0}; // build time since the last change
    // Confirmed masters not yet sent to the parent. A storm is sent as one
    // burst, so the parent applies it as one batch (one render, one reload)
    // instead of one per min_reload_interval: masters confirmed while other
    // ROLE checks are in flight wait until none is, until no check started
    // or ended for kAnnounceStall (what is left is slow, not a burst), or
    // at most kAnnounceHoldMax. With no other check in flight (a single
    // failover) a master is sent at once.
    std::vector<proto::Master> outbox_;
    // The newest read backend per cluster not yet sent: sent with (after)
    // the masters in outbox_, or at once when no master waits.
    std::map<std::string, proto::Replicas> replica_outbox_;
    std::map<std::string, std::unique_ptr<ReplicaRound>> replica_rounds_; // by cluster
    // ROLE checks: at most kMaxRoleChecks connections at once (10,000
    // clusters switching together must not open 10,000 connections in one
    // go); the others wait in order, the newest check per cluster only.
    struct QueuedRoleCheck {
        const EngineCluster* cluster;
        HostPort candidate;
        RoleDone done;
    };
    size_t role_checks_running_ = 0;
    std::deque<std::string> role_queue_;                            // cluster names, in order
    std::unordered_map<std::string, QueuedRoleCheck> role_waiting_; // by cluster
    std::unique_ptr<Timer> hold_timer_;  // kAnnounceHoldMax since the first in outbox_
    std::unique_ptr<Timer> stall_timer_; // kAnnounceStall since the last check started/ended
    std::unique_ptr<Timer> housekeeping_timer_;
    std::unique_ptr<Timer> trim_timer_; // release_free_heap once work is quiet
    std::minstd_rand rng_;
    int64_t started_at_ = 0;
};

} // namespace rh
