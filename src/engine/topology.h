// Master decision: which address each cluster's master is, from what the
// Sentinels report. Pure logic: no I/O and no clock reads (time is passed in).
//
// One rh::Topology holds every configured cluster and every known Sentinel.
// A single object rather than one per cluster, because Sentinel reachability
// and trust are properties of the Sentinel, shared by all clusters it
// monitors: sentinel_down() must affect every cluster at once.
//
// The engine feeds facts (report, no_master, sentinel_up/down, ...) and then
// asks verdict(cluster). The rules, exactly:
//
//  1. Only reports from trusted, reachable Sentinels decide. Reports from
//     untrusted (discovered) Sentinels are stored and visible but never
//     counted; the engine reacts to them by re-reading the trusted ones.
//     A report marks its Sentinel reachable (it just answered);
//     sentinel_down() marks it unreachable until sentinel_up() or its next
//     report. The reports of an unreachable Sentinel are kept but not counted.
//  2. Corroboration: a candidate (address A at config epoch E) needs at least
//     policy.min_agreement trusted reachable Sentinels reporting exactly
//     (A, E) right now.
//  3. Among corroborated (A, E) groups the highest E wins. A candidate is
//     proposed only if E is above the current confirmed epoch, or there is no
//     current master. Equal epochs never flip the current choice; lower ones
//     are stale and ignored. When two different addresses are corroborated
//     at the same winning epoch nothing is proposed (reason recorded). If the
//     winner's address is the current master's, the verdict is EpochAdvance:
//     not a switch, but the engine still asks it ROLE before confirmed(), as
//     for Confirm (a Sentinel leading a failover reports the old, possibly
//     dead, address at the new epoch; see Decider::evaluate).
//  4. A Confirm candidate becomes current only through confirmed(), and only
//     if it is still exactly what verdict() would propose at that moment.
//     EpochAdvance is applied the same way (confirmed() with the same
//     address and the new epoch); it does not count as a switch.
//  5. The only epoch ever remembered is the one of the current, confirmed (or
//     seeded) master. A trusted report whose epoch exceeds the highest epoch
//     of the other trusted reachable reports for the cluster (or, when no
//     other trusted reachable Sentinel reports, the current epoch) by more
//     than policy.max_epoch_jump is suspicious: shown in reports() but
//     excluded from decisions, with a reason in the verdict. With neither
//     other reports nor a current master there is no reference and nothing is
//     suspicious. Because it is evaluated afresh on every verdict and never
//     stored, a forged epoch cannot block later legitimate epochs.
//     Trade-off: a lone trusted Sentinel (min_agreement 1) whose epoch moved
//     more than max_epoch_jump past a seeded epoch is refused until a second
//     trusted Sentinel reports; size max_epoch_jump accordingly.
//  6. When no trusted reachable Sentinel reports the cluster (all down, or
//     none monitors it) the current master is kept, never removed or
//     guessed, and is_stale() says so.
//  7. seed() installs the last applied master from the state file as
//     current. Its epoch orders nothing until min_agreement trusted
//     Sentinels report that very master: until then any corroborated
//     report that differs from it is a candidate, whatever its epoch (the
//     Sentinels may have been replaced and restarted their epochs, or a
//     compromised engine may have written an absurd epoch before this
//     one started). Once corroborated it binds as a confirmed master does.
//  8. Reports for clusters not added with add_cluster() are ignored, as are
//     reports whose host fails valid_host() or whose port is 0.
//  9. Every verdict carries its supporters and one human-readable line per
//     refused report or group, for the engine's log and the API.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.h"

namespace rh {

using TopologyClock = std::chrono::steady_clock;
using TopologyTime = TopologyClock::time_point;

struct TopologyPolicy {
    unsigned min_agreement = 2;     // >= 1; 0 is treated as 1
    uint64_t max_epoch_jump = 1000; // see rule 5
};

enum class VerdictKind {
    None,         // keep what is current (or nothing to do yet)
    Confirm,      // ask `candidate` ROLE; then confirmed() or confirm_failed()
    EpochAdvance, // current master, higher corroborated epoch; ask ROLE, then
                  // confirmed() (not counted as a switch)
};

const char* verdict_kind_name(VerdictKind k);

// Why a report or a group of reports was not acted on: one per rule that
// refuses (the rule numbers above).
enum class RefusalKind {
    untrusted,     // rule 1: an untrusted Sentinel's report is never counted
    epoch_jump,    // rule 5: suspicious epoch, excluded
    stale_epoch,   // rule 3: below the current epoch
    equal_epoch,   // rule 3: equal to the current epoch, which stays
    min_agreement, // rule 2: fewer than min_agreement trusted Sentinels agree
    conflict,      // rule 3: two corroborated masters at the winning epoch
};

struct Refusal {
    RefusalKind kind = RefusalKind::min_agreement;
    std::vector<std::string> sentinels; // who reported it (sorted)
    HostPort master;                    // what they reported (conflict: the first)
    uint64_t epoch = 0;
    std::string text; // the human-readable line, for the log and the API
    bool operator==(const Refusal&) const = default;
};

struct Verdict {
    VerdictKind kind = VerdictKind::None;
    HostPort candidate;                  // Confirm/EpochAdvance only
    uint64_t epoch = 0;                  // Confirm/EpochAdvance only
    std::vector<std::string> supporters; // sentinel ids, sorted; for None:
                                         // those reporting the current master
    std::vector<Refusal> reasons;        // refusals, each with its line
};

// One Sentinel's latest report for one cluster, as shown to the API.
struct ReportView {
    std::string sentinel; // "host:port"
    HostPort master;
    uint64_t epoch = 0;
    TopologyTime when{};
    bool trusted = false;
    bool reachable = false;
    bool suspicious = false; // rule 5, evaluated now
};

// A sorted list of Sentinel ids, shared: the Sentinels that corroborated a
// master are, for most clusters, the same few, so a Topology holds each
// distinct list once (at 10,000 clusters a list per cluster cost about
// 1 MB, allocated during a storm among its short-lived allocations).
//
// Counted by hand, not by std::shared_ptr: the engine runs under seccomp,
// and a UBSan build checks the virtual calls of shared_ptr's control block
// with a pipe, which the sandbox forbids (sentinel.h's ClusterNames, for
// the same reason). The Topology owns the lists and frees the unused ones;
// a SentinelIds must not outlive its Topology.
class SentinelIds {
  public:
    struct List {
        std::vector<std::string> ids;
        mutable size_t refs = 0; // SentinelIds holding it
    };

    SentinelIds() = default;
    SentinelIds(const SentinelIds& o) : list_(o.list_) { hold(); }
    SentinelIds(SentinelIds&& o) noexcept : list_(std::exchange(o.list_, nullptr)) {}
    SentinelIds& operator=(const SentinelIds& o) {
        if (o.list_)
            o.list_->refs++;
        release();
        list_ = o.list_;
        return *this;
    }
    SentinelIds& operator=(SentinelIds&& o) noexcept {
        if (this != &o) {
            release();
            list_ = std::exchange(o.list_, nullptr);
        }
        return *this;
    }
    ~SentinelIds() { release(); }

    const std::vector<std::string>& ids() const { return list_ ? list_->ids : kNone; }
    size_t size() const { return ids().size(); }
    bool empty() const { return ids().empty(); }
    std::vector<std::string>::const_iterator begin() const { return ids().begin(); }
    std::vector<std::string>::const_iterator end() const { return ids().end(); }
    bool operator==(const SentinelIds& o) const { return ids() == o.ids(); }

  private:
    friend class Topology;
    explicit SentinelIds(const List* l) : list_(l) { hold(); }
    void hold() {
        if (list_)
            list_->refs++;
    }
    void release() {
        if (list_)
            list_->refs--;
        list_ = nullptr;
    }
    static inline const std::vector<std::string> kNone{};
    const List* list_ = nullptr; // null: none
};

// Per-cluster state, as shown to the API.
struct ClusterState {
    bool has_master = false;
    HostPort master;
    uint64_t epoch = 0;
    bool seeded = false;            // current master came from seed()
    bool seed_corroborated = false; // ... and min_agreement Sentinels reported it
    TopologyTime confirmed_at{};    // when it became current
    SentinelIds supporters;         // who corroborated it (empty if seeded)
    uint64_t switches = 0;          // times a Confirm candidate became current
    TopologyTime last_switch{};
    uint64_t confirm_failures = 0;
    std::string last_confirm_error; // "10.0.0.2:6379 at epoch 5: why"
};

class Topology {
  public:
    explicit Topology(TopologyPolicy policy = {});
    // Reports point into sentinels_: moving keeps the nodes, a copy would not.
    Topology(const Topology&) = delete;
    Topology& operator=(const Topology&) = delete;
    Topology(Topology&&) = default;
    Topology& operator=(Topology&&) = default;

    const TopologyPolicy& policy() const { return policy_; }

    // Clusters. add_cluster returns false if it already exists.
    bool add_cluster(const std::string& name);
    bool remove_cluster(const std::string& name);
    bool has_cluster(const std::string& name) const;

    // Sentinels, by id "host:port". Unknown ids are created by sentinel_up,
    // set_trusted and report.
    void sentinel_up(const std::string& id);
    void sentinel_down(const std::string& id);
    void forget_sentinel(const std::string& id); // drops all its reports
    void set_trusted(const std::string& id, bool trusted);
    bool is_reachable(const std::string& id) const;
    bool is_trusted(const std::string& id) const;
    size_t trusted_count() const;

    // Facts. report returns false when ignored (unknown cluster, bad address).
    bool report(const std::string& cluster, const std::string& sentinel, bool trusted,
                const HostPort& master, uint64_t epoch, TopologyTime now);
    void no_master(const std::string& cluster, const std::string& sentinel);
    bool seed(const std::string& cluster, const HostPort& master, uint64_t epoch, TopologyTime now);

    // Decision.
    Verdict verdict(const std::string& cluster) const;
    bool confirmed(const std::string& cluster, const HostPort& candidate, uint64_t epoch,
                   TopologyTime now);
    void confirm_failed(const std::string& cluster, const HostPort& candidate, uint64_t epoch,
                        std::string_view why);

    // Read access for the API. state() is null for unknown clusters.
    const ClusterState* state(const std::string& cluster) const;
    bool is_stale(const std::string& cluster) const;
    // The newest report of a trusted Sentinel for the cluster (reachable
    // now or not); the epoch of TopologyTime when there is none.
    TopologyTime last_trusted_report(const std::string& cluster) const;
    std::vector<ReportView> reports(const std::string& cluster) const; // by sentinel id
    // Whether `sentinel`'s latest report for `cluster` is exactly (master, epoch).
    bool reports_same(const std::string& cluster, const std::string& sentinel,
                      const HostPort& master, uint64_t epoch) const;
    std::vector<std::string> clusters() const; // sorted

  private:
    struct Report {
        HostPort master;
        uint64_t epoch = 0;
        TopologyTime when{};
    };
    struct Sentinel {
        bool reachable = true;
        bool trusted = false;
    };
    using SentinelEntry = std::pair<const std::string, Sentinel>; // a node of sentinels_
    // A Sentinel's latest report, naming the Sentinel by its entry in
    // sentinels_: an id is stored once, not once per cluster it reports.
    // Every report's Sentinel is in sentinels_ (report() adds it, and
    // forget_sentinel() drops its reports before it).
    struct SentinelReport {
        const SentinelEntry* sentinel;
        Report report;
    };
    struct Cluster {
        ClusterState state;
        std::vector<SentinelReport> reports; // sorted by sentinel id
    };

    static bool counts(const SentinelEntry& s) { return s.second.trusted && s.second.reachable; }
    static std::vector<SentinelReport>::const_iterator find_report(const Cluster& c,
                                                                   const std::string& sentinel);
    static void erase_report(Cluster& c, const std::string& sentinel);
    void note_seed_support(Cluster& c);
    bool suspicious(const Cluster& c, const SentinelEntry* sentinel, const Report& r,
                    uint64_t* reference) const;
    Verdict decide(const Cluster& c) const;
    SentinelIds shared_ids(std::vector<std::string> ids);

    TopologyPolicy policy_;
    std::map<std::string, Sentinel> sentinels_;
    // Every distinct list of supporters in use, by its contents: usually a
    // few, but as many as there are sets of Sentinels (with discovered ones
    // trusted, thousands), so looked up, not searched. Lists no SentinelIds
    // holds are freed every kIdListSweep new lists.
    struct ByIds {
        using is_transparent = void;
        static const std::vector<std::string>& of(const SentinelIds::List& l) { return l.ids; }
        static const std::vector<std::string>& of(const std::vector<std::string>& v) { return v; }
        template <class A, class B> bool operator()(const A& a, const B& b) const {
            return of(a) < of(b);
        }
    };
    static constexpr size_t kIdListSweep = 1024;
    // Before clusters_: destroyed after the SentinelIds in it.
    std::set<SentinelIds::List, ByIds> id_lists_; // nodes never move
    size_t id_lists_added_ = 0;
    std::map<std::string, Cluster> clusters_;
};

} // namespace rh
