// The parent's HAProxy apply pipeline: render, compare, then either switch
// masters through the runtime socket (and rewrite the file without a
// reload), or write + check + rename + reload. Submissions made while an
// apply runs are coalesced: the newest one is applied right after.
// Everything is asynchronous on the parent's event loop. The Applier keeps
// no state of its own about masters: it reads what is in effect from its
// owner (output.h) when an apply starts, and reports what is in effect
// after it in the outcome.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "common/master.h"
#include "common/proto.h"
#include "parent/command.h"
#include "parent/haproxy.h"
#include "parent/outfile.h"
#include "parent/runtime.h"

namespace rh {

struct ApplierSettings {
    std::string template_text;
    std::string output;
    std::string check_command; // optional; %s = the candidate file
    // Run the check for every candidate, even one that differs from the
    // last checked file only in validated masters (see render_skeleton).
    bool check_always = false;
    std::string reload_command; // optional
    std::chrono::milliseconds check_timeout{10000};
    std::chrono::milliseconds reload_timeout{10000};
    std::string runtime_socket; // optional
    std::chrono::milliseconds runtime_timeout{1000};
};

enum class ApplyPath { unchanged, runtime, reload, file_only };
const char* apply_path_name(ApplyPath p);

struct ApplyOutcome {
    bool ok = false;
    std::string error;                                  // names the failing step and object
    proto::ApplyError reason = proto::ApplyError::None; // the failing step, when !ok
    ApplyPath path = ApplyPath::unchanged;
    bool runtime_fallback = false;     // the runtime switch failed, the reload path was used
    bool check_skipped = false;        // same skeleton as the last file that passed the check
    std::vector<std::string> switched; // clusters whose master changed (or appeared/vanished)
    std::string command_output;        // of the failing check/reload, for the log
    double render_ms = 0, write_ms = 0, check_ms = 0, switch_ms = 0, reload_ms = 0;
    // What HAProxy routes to now: after a success, every desired master;
    // after a failure, what was in effect plus any runtime switch that went
    // through before a later step failed.
    MasterMap in_effect;
    // The read backends likewise (clusters with a replica_backend).
    ReplicaMap in_effect_replicas;
    std::vector<std::string> replicas_changed; // clusters whose read backend changed
};

class Applier {
  public:
    using Done = std::function<void(const ApplyOutcome&)>;
    // in_effect: the owner's applied state, read when an apply starts to
    // tell what changed; it must outlive the Applier.
    Applier(event_base* base, ApplierSettings settings, const MasterMap& in_effect, Done done);
    Applier(event_base*, ApplierSettings, const MasterMap&&, Done) = delete; // would dangle
    // With the read backends in effect too (same lifetime rule).
    Applier(event_base* base, ApplierSettings settings, const MasterMap& in_effect,
            const ReplicaMap& in_effect_replicas, Done done);
    Applier(const Applier&) = delete;
    Applier& operator=(const Applier&) = delete;

    void submit(std::vector<HaproxyCluster> desired);
    bool busy() const { return running_ || pending_.has_value(); }
    // Renders the skeleton of a likely shape ahead of the first apply, when
    // no shape is known yet and nothing runs: at start the parent is idle
    // while the engine reads the Sentinels, and an apply whose topology has
    // that shape then only fills it in (at 10,000 clusters a template
    // render is 100-250 ms of the start). A wrong guess costs that render
    // once, and the apply renders as it would have.
    void prepare(const std::vector<HaproxyCluster>& likely);

  private:
    void start();
    void try_runtime();
    void write_and_check(bool reload_after);
    void after_check(bool reload_after);
    void commit_file(bool reload_after);
    void reload();
    void succeed();
    void finish();
    void fail_apply(proto::ApplyError reason, std::string why, std::string output = {});
    bool compute_switches(const std::string& current);
    using Skeleton = std::shared_ptr<const std::string>; // null: none
    const Skeleton& skeleton_of(const std::vector<HaproxyCluster>& clusters);
    std::optional<std::string> rendering(const std::vector<HaproxyCluster>& clusters,
                                         std::string* err);

    event_base* base_;
    ApplierSettings s_;
    const MasterMap& in_effect_;
    const ReplicaMap& in_effect_replicas_;
    Done done_;
    CommandRunner runner_;
    RuntimeClient runtime_;
    Timer kick_;

    bool running_ = false;
    bool reload_owed_ = false; // a renamed file whose reload failed
    // The skeletons are shared, not copied: one is a file's size (about
    // 0.7 MB at 10,000 clusters).
    // The skeleton of the last file the check_command accepted.
    Skeleton checked_skeleton_;
    // The last shape rendered (its shape_key, not a copy of the topology)
    // and its skeleton: while the shape stays, a rendering is its skeleton
    // filled in (haproxy.h), not a mustache render.
    std::optional<std::string> shape_;
    Skeleton shape_skeleton_;
    std::optional<std::vector<HaproxyCluster>> pending_;
    // The apply in progress.
    std::vector<HaproxyCluster> desired_;
    std::string bytes_;
    Skeleton skeleton_; // of bytes_; null: cannot skip the check
    std::optional<PendingFile> temp_;
    std::vector<const HaproxyCluster*> to_switch_;
    // Clusters whose read backend changes, switched over the runtime socket
    // with the masters when the rest of the file is unchanged.
    std::vector<const HaproxyCluster*> replicas_to_switch_;
    ApplyOutcome result_;
    std::chrono::steady_clock::time_point t_;
};

} // namespace rh
