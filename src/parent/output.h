// The parent's outputs and the ONLY owner of what it knows about masters:
//   desired  what the engine confirmed (checked by engine_check first);
//   applied  what is in effect: in HAProxy when [haproxy] is configured,
//            else simply accepted. Loaded from the state file at start-up,
//            saved to it whenever it changes, replayed to every new engine.
// Nothing is written until something is known: every configured cluster has
// a confirmed master, or the start-up grace period is over. Confirmations
// that arrive together are applied as one batch (one render, one reload),
// logged as one line, and two applies are at least min_reload_interval
// apart: what arrives meanwhile joins the next batch. A burst the engine
// marks as one (proto::Master::more) is one batch: the apply waits for its
// last message, for at most kBurstHoldMax.
// Only configured clusters are ever in applied: a state-file entry for
// another name is dropped at start-up, and a cluster removed by SIGHUP is
// forgotten, so neither is replayed to an engine that does not know it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>

#include "common/evutil.h"
#include "common/master.h"
#include "common/proto.h"
#include "config/config.h"
#include "parent/applier.h"
#include "parent/cluster_index.h"

namespace rh {

// How long a burst's last Master may be awaited (redishappyd(8), LIMITS).
inline constexpr std::chrono::milliseconds kBurstHoldMax{1000};

class Output {
  public:
    struct Hooks {
        // A result the engine should hear (it shows them in the API).
        std::function<void(const proto::ApplyResult&)> report;
        // The first topology is in effect (systemd READY=1), with why.
        std::function<void(const char* why)> in_effect;
        // Counts, the grace period or the last error changed.
        std::function<void()> changed;
        // An apply ran the reload command (HAProxy's runtime state is lost).
        std::function<void()> reloaded = nullptr;
    };

    // config must outlive the Output; the parent swaps it only between
    // retire_removed() and reconfigure().
    Output(event_base* base, const Config& config, std::string template_text, Hooks hooks);
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    void start_grace_period();
    // A Master message the parent accepted.
    void confirmed(const proto::Master& m);
    // A Replicas message the parent accepted: the cluster's read backend.
    void replicas(const proto::Replicas& r);
    // A Master message the parent refused (engine_check.h): logged, at most
    // one line per second however many arrive.
    void refused(const std::string& why);
    // Tells a new engine what is in effect.
    void replay();
    // A new engine is ready: while it reads the Sentinels, the Applier
    // renders the skeleton of the likely first topology (each cluster at
    // the master in effect, or at some IPv4 master), a moment later, once
    // the replay is on its way (Applier::prepare).
    void prepare_first_apply();

    // SIGHUP, before the parent swaps in `fresh`: clusters dropped from the
    // file are forgotten (and the state file saved without them); with
    // [consul] they are also remembered as removed, so every engine
    // withdraws them until the name comes back.
    void retire_removed(const Config& fresh);
    // After the swap: a new Applier for the new settings, then an apply.
    void reconfigure(std::string template_text);

    const MasterMap& applied() const { return applied_; }
    // The master the engine confirmed for cluster (null: none yet):
    // engine_check.h checks that a replica is never the current master.
    const MasterAt* desired(const std::string& cluster) const;
    const ReplicaMap& applied_replicas() const { return applied_replicas_; }
    // The configured cluster names (engine_check.h looks them up).
    const ClusterIndex& configured() const { return configured_; }
    const std::map<std::string, ClusterConfig>& removed() const { return removed_; }
    size_t confirmed_count() const;
    size_t applied_count() const;
    bool grace_over() const { return grace_over_; }
    const std::string& last_error() const { return last_error_; }

  private:
    void index_configured();
    void drop_unconfigured();
    void make_applier(std::string template_text);
    bool may_apply() const;
    void on_grace_over();
    void schedule_apply();
    void apply();
    void log_batch();
    void on_refusal_window();
    std::vector<HaproxyCluster> haproxy_clusters() const;
    void prepare_now();
    void on_applied(const ApplyOutcome& r);
    void log_outcome(const ApplyOutcome& r) const;
    void apply_without_output();
    bool take_in_effect(const MasterMap& in_effect, int64_t now, proto::ApplyPath path);
    void report_errors(const std::string& error, proto::ApplyError reason, int64_t now);
    void save_state_file();
    bool is_confirmed(const std::string& cluster) const;
    void set_desired(const std::string& cluster, const MasterAt& m);

    const Config& config_;
    Hooks hooks_;
    event_base* base_;
    Timer grace_timer_;
    Timer apply_timer_;
    Timer refusal_timer_;
    Timer burst_timer_; // a burst's last Master is late: apply what came
    Timer prepare_timer_;
    bool grace_over_ = false;
    std::chrono::steady_clock::time_point last_apply_{}; // start of the last apply
    bool last_apply_reloaded_ = false;                   // it ran the reload command
    bool dirty_ = false;                                 // confirmations not yet applied
    MasterMap batch_;            // confirmed since the last apply, for its log line
    size_t batch_messages_ = 0;  // how many Master messages made batch_
    size_t refusals_hidden_ = 0; // refused in the current one-second window, not logged
    std::string last_refusal_;
    std::unique_ptr<Applier> applier_;
    // Desired and applied state, the desired kept as its difference from
    // the applied (at 10,000 clusters a second full map cost 1.6 MB, for
    // what is, once quiet, a copy): a cluster's desired master is
    //   - its entry in unapplied_ (confirmed, not what is in effect), else
    //   - its entry in applied_ unless it is in unconfirmed_, else none.
    // Invariants: unconfirmed_ is a subset of applied_'s names and shares
    // none with unapplied_; no entry of unapplied_ equals applied_'s.
    MasterMap applied_;
    MasterMap unapplied_;
    std::set<std::string> unconfirmed_; // in effect, not yet confirmed by the engine
    // The read backends: as the engine last sent them (emptied when the
    // cluster's master changes), and as in effect in HAProxy. Not in the
    // state file: a new engine sends them again within a re-read.
    ReplicaMap desired_replicas_;
    ReplicaMap applied_replicas_;
    std::map<std::string, ClusterConfig> removed_;
    ClusterIndex configured_; // of config_.clusters
    std::string last_error_;  // of the last failed apply, until one succeeds
};

// "N clusters confirmed (M messages): a H:P epoch E, b …", at most about
// max_chars long: a storm of many clusters still writes one short line.
std::string batch_summary(const MasterMap& batch, size_t messages, size_t max_chars = 300);

} // namespace rh
