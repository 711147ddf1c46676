// The engine's decision glue: what the Sentinels say -> Topology -> ROLE
// confirmation -> the master announced to the parent (and Consul), and the
// per-cluster part of the API view.
//
// Flow: a link reports what its Sentinel says (SENTINEL MASTER(S), with the
// config epoch) -> Topology::report -> verdict. A Confirm verdict (and an
// EpochAdvance too) asks the candidate ROLE; only a "master" answer for a
// candidate that is still the pick makes it current, and only then is the
// parent told. Pub/sub events never decide anything: a +switch-master (which
// carries no epoch) makes us re-read SENTINEL MASTER from every trusted
// Sentinel at once, and any new report that differs from the current master
// (from an untrusted Sentinel too) makes us ask the trusted ones that do not
// say the same yet, so corroboration costs one round trip.
//
// A Decider does no I/O and reads no clock: it reaches the outside only
// through DeciderHooks, so it runs under a fake clock with fake links and a
// fake ROLE check in tests/unit/engine/test_decide.cc. The engine
// (engine_work.cc) wires the hooks to real SentinelLinks, Confirmers, timers,
// the parent channel and Consul. Sentinels are named by their id,
// "host:port".
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/proto.h"
#include "engine/api_json.h"
#include "engine/cluster.h"
#include "engine/events.h"
#include "engine/fence.h"
#include "engine/replicas.h"
#include "engine/sentinel_proto.h"
#include "engine/topology.h"

namespace rh {

struct ConfirmResult;     // engine/confirm.h
enum class ReadFreshness; // engine/sentinel.h

struct DeciderSettings {
    TopologyPolicy policy;
    bool trust_discovered = false;                // discovered Sentinels count as trusted
    size_t max_discovered = 16;                   // discovered Sentinels followed at once
    std::chrono::milliseconds backoff_max{10000}; // cap of the ROLE retry delay
    // A cluster is stale when no trusted Sentinel reachable now reports it,
    // or none answered SENTINEL MASTER for it within this window (the
    // engine sets three re-read intervals).
    std::chrono::milliseconds stale_after{15000};
};

// Failover propagation is measured from the first sign of a switch (a
// +switch-master naming another address, or a report of another master at
// a higher epoch than the announced one) to
// the parent's ApplyResult for the new master by a runtime switch or a
// reload. A sign not followed by an applied switch within this limit is
// forgotten (a forged or outdated event), so it cannot stretch the next
// real measurement beyond it.
inline constexpr std::chrono::seconds kPropagationLimit{60};

// One round of the read backend's ROLE checks (replicas.h): the master's
// offset, and each candidate replica's ROLE answer or why there is none.
struct ReplicaProbe {
    HostPort master;
    std::optional<uint64_t> master_offset; // nullopt: the master's ROLE failed or said no
    struct One {
        HostPort addr;
        std::optional<sentinel::RoleInfo> role;
        std::string error; // when role is empty
    };
    std::vector<One> replicas;
};

struct DeciderHooks {
    using RoleDone = std::function<void(const HostPort& candidate, const ConfirmResult&)>;
    using ProbeDone = std::function<void(const ReplicaProbe&)>;

    std::function<TopologyTime()> now; // steady clock
    std::function<std::time_t()> wall; // wall clock, for the API view
    // Wall clock in unix milliseconds, for the event log; when unset,
    // wall() * 1000.
    std::function<int64_t()> wall_ms;
    // Connect to a newly known Sentinel (and start it). Its reports come
    // back through the on_* methods under the same id.
    // trusted: whether the link may be given the configured secrets (rule 8
    // of the design: never to a discovered Sentinel unless trust_discovered).
    std::function<void(const std::string& id, const HostPort& addr, bool trusted)> open_link;
    // Ask Sentinel `id` SENTINEL MASTER <cluster>; `announced`: the master
    // the event that asks named (null: none, or not an event).
    std::function<void(const std::string& id, const std::string& cluster, ReadFreshness,
                       const HostPort* announced)>
        read_master;
    // Ask `candidate` ROLE; `done` runs once with the answer. A new check for
    // the same cluster replaces the one in flight (whose `done` never runs).
    std::function<void(const EngineCluster&, const HostPort& candidate, RoleDone done)> check_role;
    // Call retry_due(cluster) after `delay`.
    std::function<void(const std::string& cluster, std::chrono::milliseconds delay)> arm_retry;
    // Tell the parent; false if the message could not be queued.
    std::function<bool(const proto::Master&)> announce;
    // Tell Consul, after the parent (may do nothing when there is no Consul).
    // The epoch fences the registration against other instances' older views.
    std::function<void(const EngineCluster&, const HostPort& master, uint64_t epoch)> publish;
    // Something shown in the API changed.
    std::function<void()> changed;

    // ---- the read backend (clusters with a replica_backend only) ----
    // Ask trusted Sentinel `id` SENTINEL REPLICAS <cluster>; the answer comes
    // back through on_replicas.
    std::function<void(const std::string& id, const std::string& cluster)> read_replicas;
    // Ask `master` and each of `replicas` ROLE; `done` runs once with every
    // answer. A new probe for the same cluster replaces the one in flight
    // (whose `done` never runs).
    std::function<void(const EngineCluster&, const HostPort& master,
                       const std::vector<HostPort>& replicas, ProbeDone done)>
        probe_replicas;
    // Tell the parent the cluster's read backend; false if not queued. Sent
    // after any Master of the same cluster announced before it.
    std::function<bool(const proto::Replicas&)> announce_replicas;
    // Tell the parent to fence or unfence (proto::Fence / proto::Unfence);
    // false if the message could not be queued. Unset: fencing is off.
    std::function<bool(const proto::Message&)> fence;
};

class Decider {
  public:
    // What we know of one Sentinel.
    struct Sentinel {
        bool configured = false;
        bool trusted = false;
        // Which configured clusters it monitors, one bit per cluster in
        // configs() order (a set of names cost 80 bytes per cluster and
        // Sentinel): read through monitors() and monitored().
        std::vector<bool> clusters;
    };

    // Seeds each cluster's last applied master (from the state file). The
    // Decider keeps the clusters' configuration (configs()); there is one
    // copy of it in the engine, not one per cluster's state and another
    // beside it.
    Decider(DeciderSettings settings, ClusterTable clusters, DeciderHooks hooks);
    ~Decider();
    Decider(const Decider&) = delete;
    Decider& operator=(const Decider&) = delete;

    // Sentinels. add_sentinel ignores one already known; otherwise it calls
    // open_link. forget_sentinel drops it and all its reports. `cluster`:
    // whose Sentinel list named it, for the event log (empty: configured).
    void add_sentinel(const HostPort& addr, bool configured, const std::string& cluster = {});
    void forget_sentinel(const std::string& id);
    size_t discovered_count() const;
    const Sentinel* sentinel(const std::string& id) const;
    const std::map<std::string, Sentinel>& sentinels() const { return sentinels_; }
    // Whether Sentinel `id` reported monitoring configured cluster `cluster`
    // (its last SENTINEL MASTER(S) answer named it).
    bool monitors(const std::string& id, const std::string& cluster) const;
    // The configured clusters Sentinel `id` monitors, sorted by name.
    std::vector<std::string> monitored(const std::string& id) const;

    // What Sentinel `id` said or did.
    void on_master_info(const std::string& id, const sentinel::MasterInfo& m);
    void on_not_monitored(const std::string& id, const std::string& cluster);
    // SENTINEL REPLICAS from Sentinel `id`; only a trusted one's list can
    // put a replica in the read backend.
    void on_replicas(const std::string& id, const std::string& cluster,
                     const std::vector<sentinel::ReplicaInfo>& r);
    void on_discovered(const std::string& cluster, const std::vector<sentinel::SentinelInfo>& s);
    void on_event(const std::string& id, const sentinel::Event& e);
    void on_link_up(const std::string& id);
    void on_link_down(const std::string& id, const std::string& err);

    // What the parent did. False (and nothing recorded) for a cluster that is
    // not configured: a protocol violation for the caller to handle.
    bool on_apply_result(const proto::ApplyResult& r);
    // What the parent did about a fence. False for an unknown cluster.
    bool on_fence_state(const proto::FenceState& st);

    void retry_due(const std::string& cluster); // the arm_retry delay is over
    // The current master's host name now resolves to addrs: when the
    // address it was confirmed at is not among them, ROLE-check it again
    // (where the name leads now) and announce the new address if it is
    // master there. Nothing for a master named by an IP literal.
    void readdress(const std::string& cluster, const std::vector<std::string>& addrs);
    // The last lookup of the master's host name failed with `error`, or
    // ("") succeeded: shown per cluster in the API until the next lookup.
    void resolved(const std::string& cluster, const std::string& error);
    // The IP literal the current master was confirmed at ("" if none).
    const std::string* master_addr(const std::string& cluster) const;
    void evaluate_all();

    size_t cluster_count() const { return configs_.size(); }
    // The configured clusters, in configuration order.
    const ClusterTable& configs() const { return configs_; }
    // ROLE checks in flight, all clusters together.
    size_t confirming_count() const { return confirming_count_; }
    const Topology& topology() const { return topology_; }
    // The clusters as the API shows them, by name; Consul fields left empty.
    std::vector<ApiCluster> view_clusters() const;
    // Recent decisions and refusals (GET /api/events).
    const EventLog& events() const { return events_; }
    const ApiHistogram& propagation(proto::ApplyPath p) const {
        return p == proto::ApplyPath::Reload ? propagation_reload_ : propagation_runtime_;
    }

  private:
    struct Work;                          // one cluster's confirmation and output state
    Work* work(std::string_view cluster); // null: not configured
    const Work* work(std::string_view cluster) const;

    void reread_trusted(const std::string& cluster, const HostPort* announced = nullptr);
    void corroborate(const std::string& cluster, const std::string& from, const HostPort& addr,
                     uint64_t epoch);
    void evaluate(const std::string& cluster);
    void log_reasons(Work& w, const Verdict& v);
    static void settle(Work& w);
    static const std::string& resolve_error(const Work& w);
    static void set_resolve_error(Work& w, const std::string& error);
    void start_confirm(Work& w, const HostPort& candidate, uint64_t epoch);
    void on_role(const std::string& cluster, uint64_t epoch, const HostPort& c,
                 const ConfirmResult& r);
    bool readdressed(Work& w, const HostPort& c, uint64_t epoch, const ConfirmResult& r);
    void role_refused(Work& w, const HostPort& c, uint64_t epoch, const ConfirmResult& r);
    void announce(Work& w);
    void publish_if_applied(Work& w);
    void note(const std::string& cluster, EventKind kind, EventReason reason, EventDetail d);
    void note_refusals(const std::string& cluster, const Verdict& v, const std::string& before);
    static EventReason refusal_reason(RefusalKind kind);
    void switch_sign(Work& w, const HostPort& to);
    void reread_replicas(const std::string& cluster);
    void probe_replicas(Work& w);
    void on_probe(const std::string& cluster, const ReplicaProbe& p);
    void set_read_backend(Work& w, std::vector<ReplicaSlot> slots, const char* why);
    void observe_propagation(Work& w, const proto::ApplyResult& r);
    void fence_report(Work& w, const std::string& id, const sentinel::MasterInfo& m);
    void fence_check(Work& w);
    int64_t wall(TopologyTime t) const;
    size_t index_of(const Work& w) const;
    ApiCluster view_cluster(const Work& w) const;

    DeciderSettings settings_;
    DeciderHooks hooks_;
    ClusterTable configs_; // its seeds dropped once read; otherwise never changed
    Topology topology_;
    std::map<std::string, Sentinel> sentinels_;
    // One per cluster, in configs_ order (the same index); never resized:
    // each refers to its configuration, and callers to it.
    std::vector<Work> works_;
    EventLog events_;
    ApiHistogram propagation_runtime_;
    ApiHistogram propagation_reload_;
    size_t confirming_count_ = 0;
};

} // namespace rh
