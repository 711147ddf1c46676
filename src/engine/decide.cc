// The engine's decision glue; see decide.h for the flow.
#include "engine/decide.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <utility>

#include "common/log.h"
#include "engine/confirm.h"
#include "engine/sentinel.h"

namespace rh {

using Millis = std::chrono::milliseconds;

// One cluster's state. Kept small, since there is one per configured
// cluster for the engine's life (at 10,000 clusters each byte here is
// 10 kB): what only a change under way, a failure or an option needs lives
// apart, allocated while it is needed.
struct Decider::Work {
    explicit Work(const EngineCluster& c) : config(c) {}
    const EngineCluster& config;       // in configs_
    std::optional<HostPort> announced; // last master sent to the parent
    uint64_t announced_epoch = 0;
    // The IP literal the current master was confirmed at (its name
    // resolved), and the one last sent to the parent.
    std::string addr;
    std::string announced_addr;
    std::string last_reasons; // to log each refusal once, not on every re-read
    std::vector<HostPort> replicas;
    // What the parent last reported of the cluster (proto::ApplyResult, but
    // its error text, in `failures`).
    struct Applied {
        proto::ApplyState state = proto::ApplyState::Applied;
        std::optional<HostPort> master;
        uint64_t epoch = 0;
        int64_t at = 0; // unix seconds
    } applied;
    bool retry_pending = false;   // a failed confirmation waits for retry_due
    bool published = false;       // the announced master (and epoch) was given to Consul
    bool seed_wait_noted = false; // the event log has the seeded master waiting
    // A change under way; null when none is (see settle()).
    struct Change;
    std::unique_ptr<Change> change;
    // Failures to apply or to resolve: null until the first.
    struct Failures;
    std::unique_ptr<Failures> failures;
    // The read backend and fencing: most clusters have neither, so their
    // state lives apart, allocated only where the configuration asks for it
    // (or, for fencing, once the parent reports a fence for the cluster).
    struct ReadBackend;
    struct Fencing;
    std::unique_ptr<ReadBackend> read;
    std::unique_ptr<Fencing> fencing;

    Change& changing(); // the change under way, started if none is
    const std::optional<HostPort>& confirming() const;
    Failures& failed(); // allocated at the first failure
};

// A change being confirmed, or a switch not yet applied: allocated by its
// first sign, freed by settle() once nothing of it is left.
struct Decider::Work::Change {
    std::optional<HostPort> confirming; // the candidate asked ROLE now
    uint64_t confirming_epoch = 0;
    unsigned confirm_attempts = 0; // failed confirmations since the last success
    // The first sign of a switch away from switch_from, not yet applied.
    std::optional<TopologyTime> switch_seen;
    HostPort switch_from;
    // Timing of the change being confirmed, logged with its confirmation:
    // the first +switch-master naming a new master, the first report of a
    // higher epoch, and when ROLE was asked. Reset once a master is confirmed.
    std::optional<TopologyTime> event_at;
    std::optional<TopologyTime> news_at;
    TopologyTime role_asked_at{};

    bool idle() const {
        return !confirming && confirm_attempts == 0 && !switch_seen && !event_at && !news_at;
    }
};

struct Decider::Work::Failures {
    std::string apply_error; // the parent's last error (while in state Error)
    uint64_t apply_errors = 0;
    std::array<uint64_t, proto::kApplyErrorCount> apply_errors_by{};
    std::string resolve_error; // the last lookup of a master's name failed: why
};

Decider::Work::Change& Decider::Work::changing() {
    if (!change)
        change = std::make_unique<Change>();
    return *change;
}

const std::optional<HostPort>& Decider::Work::confirming() const {
    static const std::optional<HostPort> none;
    return change ? change->confirming : none;
}

Decider::Work::Failures& Decider::Work::failed() {
    if (!failures)
        failures = std::make_unique<Failures>();
    return *failures;
}

// The read backend (replicas.h): the trusted Sentinels' last SENTINEL
// REPLICAS lists, by Sentinel id; the slots the parent was last told
// (sent: told since the current master was announced); a ROLE round in
// flight, and whether another is owed when it ends.
struct Decider::Work::ReadBackend {
    std::map<std::string, std::vector<sentinel::ReplicaInfo>> reports;
    std::vector<ReplicaSlot> slots;
    bool sent = false;
    bool probing = false;
    bool probe_again = false;
    std::string refusals; // the last round's refusals, logged when they change
};

// Fencing (fence.h): the Sentinels' o_down view, what was last asked of the
// parent (and about which master), and what it reports it did.
struct Decider::Work::Fencing {
    FenceRule rule;
    FenceWant asked = FenceWant::unknown;
    HostPort asked_for;
    uint64_t asked_epoch = 0;
    FenceWant now = FenceWant::unknown; // the last decision, for the API
    uint32_t failover_timeout_ms = 0;   // Sentinel's, as a trusted one reported it
    proto::FenceState state;
};

namespace {

// Replaces `to` with `text`. An empty text also gives back the buffer of
// the longer one it replaces (assigning "" keeps the capacity): a refusal
// line cleared once a storm is over would otherwise keep about 100 bytes per
// cluster for the rest of the engine's life.
void keep_line(std::string& to, std::string text) {
    if (text.empty())
        std::string().swap(to);
    else
        to = std::move(text);
}

double ms_between(TopologyTime from, TopologyTime to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// " (+switch-master to first report 0.41 ms, to corroboration 0.12 ms,
// ROLE 0.30 ms)": where the time of a runtime-path switch went, in the
// engine. Parts whose start was not seen (no event, a seeded master) are left out.
std::string confirm_timing(const std::optional<TopologyTime>& event_at,
                           const std::optional<TopologyTime>& news_at, TopologyTime role_asked_at,
                           TopologyTime now) {
    char buf[160];
    std::string out = " (";
    if (event_at && news_at && *event_at <= *news_at) {
        snprintf(buf, sizeof buf, "+switch-master to first report %.2f ms, ",
                 ms_between(*event_at, *news_at));
        out += buf;
    }
    if (news_at && *news_at <= role_asked_at) {
        snprintf(buf, sizeof buf, "to corroboration %.2f ms, ",
                 ms_between(*news_at, role_asked_at));
        out += buf;
    }
    snprintf(buf, sizeof buf, "ROLE %.2f ms)", ms_between(role_asked_at, now));
    return out + buf;
}

} // namespace

Decider::Decider(DeciderSettings settings, ClusterTable clusters, DeciderHooks hooks)
    : settings_(std::move(settings)), hooks_(std::move(hooks)), configs_(std::move(clusters)),
      topology_(settings_.policy) {
    auto now = hooks_.now();
    works_.reserve(configs_.size()); // never grows again: Work is referred to
    for (size_t i = 0; i < configs_.size(); i++) {
        const EngineCluster& c = configs_[i];
        topology_.add_cluster(c.name);
        Work& w = works_.emplace_back(c);
        if (!c.replica_backend().empty())
            w.read = std::make_unique<Work::ReadBackend>();
        if (c.fence())
            w.fencing = std::make_unique<Work::Fencing>();
        if (const auto& seed = configs_.seed(i)) {
            topology_.seed(c.name, seed->master, seed->epoch, now);
            w.addr = seed->addr;
            w.applied = {proto::ApplyState::Applied, seed->master, seed->epoch, 0};
        }
    }
    configs_.drop_seeds();
}

Decider::Work* Decider::work(std::string_view cluster) {
    auto i = configs_.find(cluster);
    return i ? &works_[*i] : nullptr;
}

const Decider::Work* Decider::work(std::string_view cluster) const {
    auto i = configs_.find(cluster);
    return i ? &works_[*i] : nullptr;
}

Decider::~Decider() = default;

void Decider::add_sentinel(const HostPort& addr, bool configured, const std::string& cluster) {
    std::string id = format_host_port(addr);
    if (sentinels_.count(id))
        return;
    // A discovered Sentinel named by a host name would be resolved with a
    // blocking lookup on the loop (hiredis 0.14): a forged announcement
    // could stall every cluster for as long as its name server likes.
    if (!configured && !is_ipv4_literal(addr.host) && !is_ipv6_literal(addr.host)) {
        log::notice("sentinel %s: discovered under a host name; only IP literals are "
                    "followed (configure it by name to trust its DNS)",
                    id.c_str());
        note(
            cluster, EventKind::refused, EventReason::discovered_by_name,
            {std::nullopt, 0, id, false, "discovered Sentinel named by a host name; not followed"});
        hooks_.changed();
        return;
    }
    if (!configured && discovered_count() >= settings_.max_discovered) {
        // Anyone who can publish a hello on a monitored server can make the
        // Sentinels list made-up Sentinels: the excess costs only a line.
        log::notice("sentinel %s: discovered, but %zu discovered Sentinels are followed "
                    "already (max_discovered); ignored",
                    id.c_str(), settings_.max_discovered);
        note(cluster, EventKind::refused, EventReason::max_discovered,
             {std::nullopt, 0, id, false,
              std::to_string(settings_.max_discovered) +
                  " discovered Sentinels followed already; not followed"});
        hooks_.changed();
        return;
    }
    Sentinel& s = sentinels_[id];
    s.configured = configured;
    s.trusted = configured || settings_.trust_discovered;
    topology_.set_trusted(id, s.trusted);
    log::info("sentinel %s: %s%s", id.c_str(), configured ? "configured" : "discovered",
              s.trusted ? "" : " (untrusted: never decides)");
    hooks_.open_link(id, addr, s.trusted);
    hooks_.changed();
}

size_t Decider::discovered_count() const {
    size_t n = 0;
    for (auto& [id, s] : sentinels_)
        n += s.configured ? 0 : 1;
    return n;
}

void Decider::forget_sentinel(const std::string& id) {
    for (auto& w : works_) {
        if (w.read)
            w.read->reports.erase(id);
        if (w.fencing)
            w.fencing->rule.forget(id);
    }
    topology_.forget_sentinel(id);
    sentinels_.erase(id);
}

const Decider::Sentinel* Decider::sentinel(const std::string& id) const {
    auto it = sentinels_.find(id);
    return it == sentinels_.end() ? nullptr : &it->second;
}

size_t Decider::index_of(const Work& w) const {
    return static_cast<size_t>(&w - works_.data());
}

bool Decider::monitors(const std::string& id, const std::string& cluster) const {
    auto s = sentinels_.find(id);
    const Work* w = work(cluster);
    if (s == sentinels_.end() || !w || s->second.clusters.empty())
        return false;
    return s->second.clusters[index_of(*w)];
}

std::vector<std::string> Decider::monitored(const std::string& id) const {
    std::vector<std::string> out;
    auto s = sentinels_.find(id);
    if (s == sentinels_.end() || s->second.clusters.empty())
        return out;
    for (uint32_t i : configs_.by_name())
        if (s->second.clusters[i])
            out.push_back(configs_[i].name);
    return out;
}

void Decider::on_master_info(const std::string& id, const sentinel::MasterInfo& m) {
    auto s = sentinels_.find(id);
    Work* found = work(m.name);
    if (s == sentinels_.end() || !found)
        return;
    Work& known = *found; // one lookup: at 10,000 clusters this runs 10,000 times a re-read
    std::vector<bool>& bits = s->second.clusters;
    bits.resize(configs_.size());
    bits[index_of(known)] = true;
    fence_report(known, id, m);
    // While a Sentinel runs a failover its view mixes old and new (the
    // leader shows the old address at the new epoch until +failover-end):
    // not a fact to act on. Its next report, after the failover, is.
    if (m.has_flag("failover_in_progress")) {
        log::debug("sentinel %s: cluster %s: failover in progress, report not used", id.c_str(),
                   m.name.c_str());
        note(m.name, EventKind::refused, EventReason::failover_in_progress,
             {m.addr, m.config_epoch, id, s->second.trusted,
              "the Sentinel is in the middle of a failover; report not used"});
        hooks_.changed();
        return;
    }
    const ClusterState* before = topology_.state(m.name);
    bool differs = !before || !before->has_master || before->master != m.addr ||
                   before->epoch != m.config_epoch;
    if ((!known.change || !known.change->news_at) &&
        (!before || !before->has_master || m.config_epoch > before->epoch))
        known.changing().news_at = hooks_.now();
    // Only news is worth corroborating: a Sentinel repeating itself was
    // corroborated when it first said it, and what the others learned since
    // reaches us through their events and re-reads.
    bool news = !topology_.reports_same(m.name, id, m.addr, m.config_epoch);
    topology_.report(m.name, id, s->second.trusted, m.addr, m.config_epoch, hooks_.now());
    if (news && differs)
        note(m.name, EventKind::candidate,
             s->second.trusted ? EventReason::trusted : EventReason::untrusted,
             {m.addr, m.config_epoch, id, s->second.trusted, ""});
    // An untrusted Sentinel never decides; what it says only makes us ask
    // the trusted ones.
    if (news && differs)
        corroborate(m.name, id, m.addr, m.config_epoch);
    // A report of another master at a higher epoch is a sign of a switch; a
    // lagging Sentinel still naming the old master at its old epoch is not.
    if (m.config_epoch > known.announced_epoch)
        switch_sign(known, m.addr);
    evaluate(m.name);
}

void Decider::on_not_monitored(const std::string& id, const std::string& cluster) {
    auto s = sentinels_.find(id);
    const Work* w = work(cluster);
    if (s != sentinels_.end() && w && !s->second.clusters.empty())
        s->second.clusters[index_of(*w)] = false;
    topology_.no_master(cluster, id);
    evaluate(cluster);
}

void Decider::on_replicas(const std::string& id, const std::string& cluster,
                          const std::vector<sentinel::ReplicaInfo>& r) {
    Work* found = work(cluster);
    auto s = sentinels_.find(id);
    // An untrusted Sentinel never adds a replica, to the API's list or to
    // the read backend: anyone can announce one.
    if (!found || s == sentinels_.end() || !s->second.trusted)
        return;
    Work& w = *found;
    std::vector<HostPort> v;
    for (auto& x : r)
        v.push_back(x.addr);
    w.replicas = std::move(v);
    hooks_.changed();
    if (!w.read)
        return;
    w.read->reports[id] = r;
    probe_replicas(w);
}

// Something happened to a replica (an event): every trusted Sentinel's
// list again, then a ROLE round.
void Decider::reread_replicas(const std::string& cluster) {
    const Work* w = work(cluster);
    if (!w || w->config.replica_backend().empty() || !hooks_.read_replicas)
        return;
    for (auto& [id, s] : sentinels_)
        if (s.trusted)
            hooks_.read_replicas(id, cluster);
}

// A ROLE round over the candidates the trusted Sentinels report healthy,
// against the announced master. One round per cluster at a time; what
// arrives meanwhile makes one more round when it ends.
void Decider::probe_replicas(Work& w) {
    if (!w.read || !w.announced || !hooks_.probe_replicas)
        return;
    Work::ReadBackend& rb = *w.read;
    if (rb.probing) {
        rb.probe_again = true;
        return;
    }
    auto cands = replica_candidates(rb.reports, *w.announced);
    // The members first, so a crowd of new candidates cannot push them out
    // of the round; at most twice the slots are asked.
    std::stable_partition(cands.begin(), cands.end(), [&](const HostPort& hp) {
        return std::any_of(rb.slots.begin(), rb.slots.end(),
                           [&](const ReplicaSlot& s) { return s.addr == hp; });
    });
    if (cands.size() > 2u * w.config.max_replicas())
        cands.resize(2u * w.config.max_replicas());
    if (cands.empty()) {
        set_read_backend(w, {}, "no replica the trusted Sentinels report healthy");
        return;
    }
    rb.probing = true;
    std::string name = w.config.name;
    hooks_.probe_replicas(w.config, *w.announced, cands,
                          [this, name](const ReplicaProbe& p) { on_probe(name, p); });
}

void Decider::on_probe(const std::string& cluster, const ReplicaProbe& p) {
    Work* found = work(cluster);
    if (!found || !found->read)
        return;
    Work& w = *found;
    Work::ReadBackend& rb = *w.read;
    rb.probing = false;
    bool current = w.announced && p.master == *w.announced;
    if (current) {
        std::optional<uint64_t> lag = w.config.max_replica_lag();
        std::vector<HostPort> healthy;
        std::string refusals;
        for (const auto& one : p.replicas) {
            std::string why = one.error;
            if (one.role && role_says_healthy(*one.role, p.master, p.master_offset, lag, &why))
                healthy.push_back(one.addr);
            else
                refusals += format_host_port(one.addr) + ": " + why + "; ";
        }
        if (refusals != rb.refusals && !refusals.empty())
            log::info("cluster %s: read backend leaves out %s", cluster.c_str(),
                      refusals.substr(0, 600).c_str());
        keep_line(rb.refusals, std::move(refusals));
        set_read_backend(w, assign_slots(rb.slots, healthy, w.config.max_replicas()), "ROLE round");
    }
    if (std::exchange(rb.probe_again, false) || !current)
        probe_replicas(w);
}

// Tells the parent the read backend when it changed (or was not told since
// the master was announced).
void Decider::set_read_backend(Work& w, std::vector<ReplicaSlot> slots, const char* why) {
    Work::ReadBackend& rb = *w.read;
    if (rb.sent && slots == rb.slots)
        return;
    std::string list;
    proto::Replicas msg;
    msg.cluster = w.config.name;
    for (const auto& s : slots) {
        list += (list.empty() ? "" : ", ") + format_host_port(s.addr) + " in replica" +
                std::to_string(s.slot + 1);
        msg.replicas.push_back({s.addr, "", s.slot});
    }
    log::info("cluster %s: read backend %s: %s (%s)", w.config.name.c_str(),
              w.config.replica_backend().c_str(), list.empty() ? "empty" : list.c_str(), why);
    rb.slots = std::move(slots);
    rb.sent = true;
    if (!hooks_.announce_replicas || !hooks_.announce_replicas(msg))
        log::error("cluster %s: cannot tell the parent its read backend", w.config.name.c_str());
    hooks_.changed();
}

void Decider::on_discovered(const std::string& cluster,
                            const std::vector<sentinel::SentinelInfo>& s) {
    if (!work(cluster))
        return;
    for (auto& x : s)
        add_sentinel(x.addr, false, cluster);
}

void Decider::on_event(const std::string& id, const sentinel::Event& e) {
    if (auto* sw = std::get_if<sentinel::SwitchMaster>(&e)) {
        Work* w = work(sw->master);
        if (!w)
            return;
        // Only an event naming another master starts a change to time (the
        // leader Sentinel publishes its own about a second after the others).
        const ClusterState* st = topology_.state(sw->master);
        if ((!w->change || !w->change->event_at) &&
            (!st || !st->has_master || st->master != sw->to))
            w->changing().event_at = hooks_.now();
        log::info("sentinel %s: +switch-master %s to %s; asking the trusted Sentinels", id.c_str(),
                  sw->master.c_str(), format_host_port(sw->to).c_str());
        switch_sign(*w, sw->to);
        return reread_trusted(sw->master, &sw->to);
    }
    auto& ie = std::get<sentinel::InstanceEvent>(e);
    // +odown/-odown of a master name it in the event itself, with no "@" part.
    if ((ie.channel == "+odown" || ie.channel == "-odown") && ie.kind == "master" && !ie.master) {
        if (const Work* w = work(ie.name); w && w->config.fence())
            reread_trusted(ie.name);
        return;
    }
    if (!ie.master || !work(*ie.master))
        return;
    if (ie.channel == "+sentinel" && ie.kind == "sentinel")
        add_sentinel(ie.addr, false, *ie.master);
    if (ie.channel == "+failover-end" || ie.channel == "+config-update-from" ||
        ie.channel == "-odown")
        reread_trusted(*ie.master);
    // A replica went down, came back or attached: the read backend follows.
    if (ie.kind == "slave" && (ie.channel == "+sdown" || ie.channel == "-sdown" ||
                               ie.channel == "+odown" || ie.channel == "+slave"))
        reread_replicas(*ie.master);
}

void Decider::on_link_up(const std::string& id) {
    log::info("sentinel %s: up", id.c_str());
    topology_.sentinel_up(id);
    evaluate_all();
}

void Decider::on_link_down(const std::string& id, const std::string& err) {
    log::warn("sentinel %s: down: %s", id.c_str(), err.c_str());
    topology_.sentinel_down(id);
    // Its last list of replicas stands, as the last master does (every
    // replica is still asked ROLE against the master in each round): an
    // outage of the Sentinels does not empty the read backend.
    evaluate_all();
}

// Something happened to the cluster (an event, which carries no epoch):
// re-read it from every trusted Sentinel, by reads sent from now on. Each
// link keeps at most one read per cluster outstanding and one more queued,
// so a storm of events costs a bounded number of reads; a +switch-master
// passes the master it announces, so a read whose reply names it suffices.
void Decider::reread_trusted(const std::string& cluster, const HostPort* announced) {
    for (auto& [id, s] : sentinels_)
        if (s.trusted)
            hooks_.read_master(id, cluster, ReadFreshness::after_now, announced);
}

// Corroboration at once: `from` newly reports (addr, epoch); ask every other
// trusted Sentinel that does not already say the same. A read of theirs
// still unanswered will do: it reports their view after it was sent.
void Decider::corroborate(const std::string& cluster, const std::string& from, const HostPort& addr,
                          uint64_t epoch) {
    for (auto& [id, s] : sentinels_)
        if (s.trusted && id != from && !topology_.reports_same(cluster, id, addr, epoch))
            hooks_.read_master(id, cluster, ReadFreshness::in_flight_ok, nullptr);
}

bool Decider::on_apply_result(const proto::ApplyResult& r) {
    Work* w = work(r.cluster);
    if (!w)
        return false;
    if (r.state == proto::ApplyState::Error) {
        Work::Failures& f = w->failed();
        f.apply_errors++;
        f.apply_errors_by[static_cast<size_t>(r.reason)]++;
        log::warn("cluster %s: parent could not apply: %s", r.cluster.c_str(), r.error.c_str());
        note(r.cluster, EventKind::apply_error, EventReason::apply_failed,
             {r.master, r.epoch, "", false, r.error});
    } else if (r.state == proto::ApplyState::Applied) {
        EventReason path = r.path == proto::ApplyPath::Runtime  ? EventReason::runtime
                           : r.path == proto::ApplyPath::Reload ? EventReason::reload
                                                                : EventReason::no_path;
        note(r.cluster, EventKind::applied, path, {r.master, r.epoch, "", false, ""});
    }
    w->applied = {r.state, r.master, r.epoch, r.at};
    if (!r.error.empty())
        w->failed().apply_error = r.error;
    else if (w->failures)
        keep_line(w->failures->apply_error, "");
    observe_propagation(*w, r);
    publish_if_applied(*w);
    fence_check(*w);
    settle(*w);
    hooks_.changed();
    return true;
}

// A Sentinel's o_down view of the master it names, even mid-failover (the
// leader's report still says whether the old master is down).
void Decider::fence_report(Work& w, const std::string& id, const sentinel::MasterInfo& m) {
    if (!w.config.fence())
        return;
    w.fencing->rule.report(id, m.addr, m.has_flag("o_down"));
    if (topology_.is_trusted(id) && m.failover_timeout_ms > 0)
        w.fencing->failover_timeout_ms =
            static_cast<uint32_t>(std::min<uint64_t>(m.failover_timeout_ms, UINT32_MAX));
}

// Asks the parent to fence the applied master when min_agreement trusted
// Sentinels report it o_down, and to lift the fence when as many report
// it is not (fence.h). A fenced cluster learns of o_down from the trusted
// Sentinels' replies (the flags of SENTINEL MASTER), re-read at once on a
// +odown event, never from the event itself. Each request is sent once per applied master; a new
// engine's first request about a master may be an Unfence of a fence its
// predecessor asked for.
void Decider::fence_check(Work& w) {
    if (!w.config.fence() || !hooks_.fence || w.applied.state != proto::ApplyState::Applied ||
        !w.applied.master)
        return;
    const HostPort& applied = *w.applied.master;
    Work::Fencing& f = *w.fencing;
    FenceAsk d = f.rule.decide(
        applied,
        [this](const std::string& id) {
            return topology_.is_trusted(id) && topology_.is_reachable(id);
        },
        topology_.policy().min_agreement);
    if (d.want != FenceWant::unknown)
        f.now = d.want;
    if (d.want == FenceWant::unknown ||
        (f.asked == d.want && f.asked_for == applied && f.asked_epoch == w.applied.epoch))
        return;
    // Nothing to lift: only a master this engine asked to fence, or any
    // master the parent reports fenced, is worth an Unfence; and so is one
    // whose fence ran out (fence_timeout), since the parent fences that
    // master again only once it heard o_down clear (a predecessor engine
    // may have asked for that fence and died before o_down cleared).
    bool asked_here = f.asked == FenceWant::fence && f.asked_for == applied;
    bool parent_owes = f.state.master == applied &&
                       (f.state.fenced || f.state.lifted_by == proto::FenceLift::Timeout);
    if (d.want == FenceWant::unfence && !asked_here && !parent_owes) {
        f.asked = FenceWant::unfence;
        f.asked_for = applied;
        f.asked_epoch = w.applied.epoch;
        return;
    }
    f.asked = d.want;
    f.asked_for = applied;
    f.asked_epoch = w.applied.epoch;
    std::string who;
    for (auto& s : d.supporters)
        who += (who.empty() ? "" : ", ") + s;
    const std::string& name = w.config.name;
    bool fence = d.want == FenceWant::fence;
    if (fence)
        log::warn("cluster %s: master %s is o_down for %s; asking the parent to fence it",
                  name.c_str(), format_host_port(applied).c_str(), who.c_str());
    else
        log::notice("cluster %s: master %s is no longer o_down for %s; asking the parent to "
                    "lift the fence",
                    name.c_str(), format_host_port(applied).c_str(), who.c_str());
    note(name, EventKind::fence, fence ? EventReason::odown : EventReason::odown_cleared,
         {applied, w.applied.epoch, who, true,
          fence ? "o_down corroborated; fence asked" : "o_down cleared; unfence asked"});
    proto::Message m =
        fence ? proto::Message(proto::Fence{name, applied, w.applied.epoch, f.failover_timeout_ms})
              : proto::Message(proto::Unfence{name, applied, w.applied.epoch});
    if (!hooks_.fence(m))
        log::error("cluster %s: cannot tell the parent", name.c_str());
}

bool Decider::on_fence_state(const proto::FenceState& st) {
    Work* found = work(st.cluster);
    if (!found)
        return false;
    Work& w = *found;
    if (!w.fencing)
        w.fencing = std::make_unique<Work::Fencing>();
    Work::Fencing& f = *w.fencing;
    bool first = f.state.cluster.empty(); // the parent's replay to a new engine
    f.state = st;
    // The Sentinels may have cleared o_down before this report came (a new
    // engine hears of the parent's fences after its first decisions): an
    // Unfence held back because nothing seemed fenced is owed now.
    if (f.asked == FenceWant::unfence && w.applied.master && st.master == w.applied.master &&
        (st.fenced || st.lifted_by == proto::FenceLift::Timeout))
        f.asked = FenceWant::unknown;
    fence_check(w);
    if (first && !st.fenced) {
        hooks_.changed();
        return true;
    }
    EventReason why = EventReason::fenced;
    const char* text = "the master is in maint and its sessions were shut down";
    if (st.lifted_by == proto::FenceLift::Error) {
        why = EventReason::fence_failed;
        text = "the parent could not apply the fence";
    } else if (!st.fenced && st.lifted_by == proto::FenceLift::Switch) {
        why = EventReason::lifted_switch;
        text = "lifted by the switch to a new master";
    } else if (!st.fenced && st.lifted_by == proto::FenceLift::Timeout) {
        why = EventReason::lifted_timeout;
        text = "lifted after fence_timeout: no failover happened";
    } else if (!st.fenced) {
        why = EventReason::lifted_unfence;
        text = "lifted: the Sentinels no longer report the master o_down";
    }
    note(st.cluster, EventKind::fence, why,
         {st.master, st.epoch, "", false,
          st.error.empty() ? std::string(text) : std::string(text) + ": " + st.error});
    hooks_.changed();
    return true;
}

// A sign that `to` may be the cluster's new master: starts the propagation
// clock, unless it already runs. Only a cluster whose master this engine
// already announced can switch: the first master after start-up is not a
// switch.
void Decider::switch_sign(Work& w, const HostPort& to) {
    if (!w.announced || to == *w.announced)
        return;
    auto now = hooks_.now();
    if (w.change && w.change->switch_seen && now - *w.change->switch_seen <= kPropagationLimit)
        return;
    Work::Change& ch = w.changing();
    ch.switch_seen = now;
    ch.switch_from = *w.announced;
}

// The parent applied a master other than the one the clock started from,
// and it is the one announced: the switch is in front of clients.
void Decider::observe_propagation(Work& w, const proto::ApplyResult& r) {
    if (!w.change || !w.change->switch_seen || r.state != proto::ApplyState::Applied || !r.master ||
        *r.master == w.change->switch_from || !w.announced || *r.master != *w.announced)
        return;
    auto took = hooks_.now() - *w.change->switch_seen;
    w.change->switch_seen.reset();
    if (took > kPropagationLimit || r.path == proto::ApplyPath::None)
        return;
    double seconds = std::chrono::duration<double>(took).count();
    (r.path == proto::ApplyPath::Reload ? propagation_reload_ : propagation_runtime_)
        .observe(seconds);
}

void Decider::retry_due(const std::string& cluster) {
    Work* w = work(cluster);
    if (!w)
        return;
    w->retry_pending = false;
    evaluate(cluster);
}

void Decider::evaluate_all() {
    for (uint32_t i : configs_.by_name())
        evaluate(configs_[i].name);
    hooks_.changed();
}

void Decider::evaluate(const std::string& cluster) {
    Work* found = work(cluster);
    if (!found)
        return;
    Work& w = *found;
    Verdict v = topology_.verdict(cluster);
    log_reasons(w, v);
    switch (v.kind) {
    case VerdictKind::None:
        break;
    case VerdictKind::EpochAdvance:
        // The same address at a higher epoch is still asked ROLE: a leader
        // Sentinel in the middle of a failover reports the old (possibly
        // dead) address at the new epoch, and accepting that unconfirmed
        // would then make the real new master, at the same epoch, lose.
    case VerdictKind::Confirm:
        if (w.confirming() && *w.confirming() == v.candidate &&
            w.change->confirming_epoch == v.epoch)
            break; // already asking it
        if (w.retry_pending)
            break; // a failed confirmation is retried on its timer
        start_confirm(w, v.candidate, v.epoch);
        break;
    }
    announce(w);
    fence_check(w);
    settle(w);
    hooks_.changed();
}

// Frees the change under way once nothing of it is left.
void Decider::settle(Work& w) {
    if (w.change && w.change->idle())
        w.change.reset();
}

// Logs the verdict's refusals when they differ from the last ones logged.
void Decider::log_reasons(Work& w, const Verdict& v) {
    std::string reasons;
    for (auto& r : v.reasons)
        reasons += r.text + "; ";
    note_refusals(w.config.name, v, w.last_reasons);
    if (reasons == w.last_reasons)
        return;
    const std::string& cluster = w.config.name;
    const ClusterState* st = topology_.state(cluster);
    bool starting = !st || !st->has_master;
    for (auto& r : v.reasons) {
        if (starting)
            log::debug("cluster %s: not yet: %s", cluster.c_str(), r.text.c_str());
        else
            log::warn("cluster %s: refused: %s", cluster.c_str(), r.text.c_str());
    }
    keep_line(w.last_reasons, std::move(reasons));
}

void Decider::start_confirm(Work& w, const HostPort& candidate, uint64_t epoch) {
    Work::Change& ch = w.changing();
    if (!ch.confirming)
        confirming_count_++; // else the check in flight is replaced
    ch.confirming = candidate;
    ch.confirming_epoch = epoch;
    ch.role_asked_at = hooks_.now();
    std::string name = w.config.name;
    log::info("cluster %s: confirming %s at epoch %llu with ROLE", name.c_str(),
              format_host_port(candidate).c_str(), static_cast<unsigned long long>(epoch));
    hooks_.check_role(w.config, candidate,
                      [this, name, epoch](const HostPort& c, const ConfirmResult& r) {
                          on_role(name, epoch, c, r);
                      });
}

void Decider::on_role(const std::string& name, uint64_t epoch, const HostPort& c,
                      const ConfirmResult& r) {
    Work* found = work(name);
    if (!found)
        return;
    Work& w = *found;
    if (w.confirming())
        confirming_count_--;
    if (w.change)
        w.change->confirming.reset();
    if (!is_ip_literal(c.host))
        set_resolve_error(w, r.resolve_error);
    if (r.role != ConfirmResult::Role::master)
        return role_refused(w, c, epoch, r);
    if (readdressed(w, c, epoch, r))
        return evaluate(name);
    Verdict v = topology_.verdict(name);
    TopologyTime now = hooks_.now();
    const ClusterState* before = topology_.state(name);
    bool initial = !before || !before->has_master; // the first since start-up is no switch
    if (topology_.confirmed(name, c, epoch, now)) {
        Work::Change& ch = w.changing();
        w.addr = r.addr.empty() ? c.host : r.addr;
        std::string who;
        for (auto& s : v.supporters)
            who += (who.empty() ? "" : ", ") + s;
        EventReason why = initial                          ? EventReason::initial
                          : v.kind == VerdictKind::Confirm ? EventReason::switch_master
                                                           : EventReason::epoch_advance;
        note(name, EventKind::confirmed, why,
             {c, epoch, who, true, "ROLE master; corroborated by " + who});
        log::notice("cluster %s: new master %s at epoch %llu, confirmed by ROLE, "
                    "corroborated by %s%s",
                    name.c_str(), format_host_port(c).c_str(),
                    static_cast<unsigned long long>(epoch), who.c_str(),
                    confirm_timing(ch.event_at, ch.news_at, ch.role_asked_at, now).c_str());
        ch.confirm_attempts = 0;
        ch.event_at.reset();
        ch.news_at.reset();
    } else {
        log::info("cluster %s: %s confirmed but no longer the pick", name.c_str(),
                  format_host_port(c).c_str());
        note(name, EventKind::refused, EventReason::no_longer_pick,
             {c, epoch, "", false, "ROLE master, but the Sentinels no longer agree on it"});
    }
    evaluate(name);
}

// The current master, named by a host name, answered ROLE master at
// another address than the one it was confirmed at (its name now leads
// elsewhere: a pod restarted faster than Sentinel's down-after): the new
// address is announced like a failover. True when that was the case.
bool Decider::readdressed(Work& w, const HostPort& c, uint64_t epoch, const ConfirmResult& r) {
    const ClusterState* st = topology_.state(w.config.name);
    if (!st || !st->has_master || st->master != c || st->epoch != epoch || r.addr.empty() ||
        r.addr == w.addr)
        return false;
    if (!w.addr.empty()) {
        log::notice("cluster %s: master %s now at %s (was %s), confirmed by ROLE",
                    w.config.name.c_str(), format_host_port(c).c_str(), r.addr.c_str(),
                    w.addr.c_str());
        note(w.config.name, EventKind::confirmed, EventReason::readdressed,
             {c, epoch, "", true, "ROLE master at " + r.addr + " (was " + w.addr + ")"});
    }
    w.addr = r.addr;
    if (w.change)
        w.change->confirm_attempts = 0;
    return true;
}

void Decider::readdress(const std::string& cluster, const std::vector<std::string>& addrs) {
    Work* found = work(cluster);
    if (!found)
        return;
    Work& w = *found;
    const ClusterState* st = topology_.state(cluster);
    if (!st || !st->has_master || is_ip_literal(st->master.host) || w.confirming() ||
        addrs.empty() || std::find(addrs.begin(), addrs.end(), w.addr) != addrs.end())
        return;
    log::info("cluster %s: %s now resolves to %s, not %s", cluster.c_str(),
              format_host_port(st->master).c_str(), addrs.front().c_str(), w.addr.c_str());
    start_confirm(w, st->master, st->epoch);
}

void Decider::resolved(const std::string& cluster, const std::string& error) {
    Work* w = work(cluster);
    if (!w || resolve_error(*w) == error)
        return;
    set_resolve_error(*w, error);
    hooks_.changed();
}

const std::string& Decider::resolve_error(const Work& w) {
    static const std::string none;
    return w.failures ? w.failures->resolve_error : none;
}

void Decider::set_resolve_error(Work& w, const std::string& error) {
    if (error.empty() && !w.failures)
        return;
    keep_line(w.failed().resolve_error, error);
}

const std::string* Decider::master_addr(const std::string& cluster) const {
    const Work* w = work(cluster);
    return w ? &w->addr : nullptr;
}

// The candidate is not (or not yet) a master: never shown; asked again after
// a backoff of 100 ms doubling up to backoff_max.
void Decider::role_refused(Work& w, const HostPort& c, uint64_t epoch, const ConfirmResult& r) {
    const std::string& name = w.config.name;
    std::string why =
        std::string(confirm_role_name(r.role)) + (r.detail.empty() ? "" : ": " + r.detail);
    topology_.confirm_failed(name, c, epoch, why);
    log::warn("cluster %s: candidate %s at epoch %llu not confirmed (%s); not shown, "
              "retrying",
              name.c_str(), format_host_port(c).c_str(), static_cast<unsigned long long>(epoch),
              why.c_str());
    note(name, EventKind::refused,
         r.role == ConfirmResult::Role::not_master ? EventReason::role_not_master
                                                   : EventReason::role_failed,
         {c, epoch, "", false, "ROLE " + why});
    auto cap = static_cast<uint64_t>(settings_.backoff_max.count());
    Work::Change& ch = w.changing();
    auto delay = Millis(std::min<uint64_t>(100ull << std::min(ch.confirm_attempts, 6u), cap));
    ch.confirm_attempts++;
    w.retry_pending = true;
    hooks_.arm_retry(name, delay);
    hooks_.changed();
}

// Tells the parent about the current master when it differs from what it
// was last told. A seeded master (from the state file) is only announced
// once enough trusted Sentinels report it again.
void Decider::announce(Work& w) {
    const ClusterState* st = topology_.state(w.config.name);
    if (!st || !st->has_master)
        return;
    if (w.addr.empty() && is_ip_literal(st->master.host))
        w.addr = st->master.host;
    if (w.addr.empty()) {
        // A master named by a host name, seeded without its address (an
        // older state file): ROLE-check it where its name leads first.
        if (!w.confirming())
            start_confirm(w, st->master, st->epoch);
        return;
    }
    if (w.announced && *w.announced == st->master && w.announced_epoch == st->epoch &&
        w.announced_addr == w.addr)
        return;
    if (st->seeded) {
        Verdict v = topology_.verdict(w.config.name);
        if (v.kind != VerdictKind::None || v.supporters.size() < topology_.policy().min_agreement) {
            if (v.kind == VerdictKind::None && !w.seed_wait_noted) {
                w.seed_wait_noted = true;
                note(w.config.name, EventKind::refused, EventReason::seed_not_corroborated,
                     {st->master, st->epoch, "", false,
                      "the state file's master waits for " +
                          std::to_string(topology_.policy().min_agreement) +
                          " trusted Sentinels to report it (" +
                          std::to_string(v.supporters.size()) + " do)"});
            }
            return;
        }
        std::string who;
        for (auto& s : v.supporters)
            who += (who.empty() ? "" : ", ") + s;
        note(w.config.name, EventKind::confirmed, EventReason::seed_confirmed,
             {st->master, st->epoch, who, true, "the state file's master, reported by " + who});
    }
    bool moved = !w.announced || *w.announced != st->master;
    if (moved || w.announced_epoch != st->epoch)
        w.published = false;
    w.announced = st->master;
    w.announced_epoch = st->epoch;
    w.announced_addr = w.addr;
    proto::Master m{w.config.name, st->master, st->epoch, false, w.addr};
    if (!hooks_.announce(m))
        log::error("cluster %s: cannot tell the parent", w.config.name.c_str());
    // Replicas were checked against the old master: the parent empties the
    // read backend on a new master, and the next round against the new one
    // (at once, and again once the Sentinels' lists are re-read) fills it.
    // Replicas that stay keep their slots.
    if (moved && w.read) {
        w.read->sent = false;
        probe_replicas(w);
        reread_replicas(w.config.name);
    }
    publish_if_applied(w); // already in effect (a restarted engine)
}

// Outputs in order (design rule 11): Consul hears of a master only once it
// is both confirmed here and in effect in HAProxy, that is once the parent
// reported it applied, after its start-up gate. Either may come first.
void Decider::publish_if_applied(Work& w) {
    const auto& a = w.applied;
    if (!w.announced || a.state != proto::ApplyState::Applied || !a.master ||
        *a.master != *w.announced || w.published)
        return;
    w.published = true;
    hooks_.publish(w.config, *w.announced, w.announced_epoch);
}

void Decider::note(const std::string& cluster, EventKind kind, EventReason reason, EventDetail d) {
    int64_t ms = hooks_.wall_ms ? hooks_.wall_ms() : static_cast<int64_t>(hooks_.wall()) * 1000;
    events_.record(ms, cluster, kind, reason, std::move(d));
}

// Each refusal of a verdict that was not among the `before` ones (the
// last set, joined with "; "), as the rule that made it (topology.h): a
// refusal that stands while others come and go is one event, not one per
// change of the others.
void Decider::note_refusals(const std::string& cluster, const Verdict& v,
                            const std::string& before) {
    std::string held = "; " + before;
    for (const auto& r : v.reasons) {
        EventReason why = refusal_reason(r.kind);
        // A standing refusal is recorded once, and again only if other
        // clusters' events pushed it out of the log: "why does it not
        // switch" must stay answerable however busy the rest is.
        if (held.find("; " + r.text + "; ") != std::string::npos &&
            events_.holds(cluster, EventKind::refused, why))
            continue;
        std::string who;
        for (auto& s : r.sentinels)
            who += (who.empty() ? "" : ", ") + s;
        note(cluster, EventKind::refused, why,
             {r.master, r.epoch, who, r.kind != RefusalKind::untrusted, r.text});
    }
}

EventReason Decider::refusal_reason(RefusalKind kind) {
    EventReason why = EventReason::min_agreement;
    switch (kind) {
    case RefusalKind::untrusted:
        why = EventReason::untrusted_source;
        break;
    case RefusalKind::epoch_jump:
        why = EventReason::epoch_jump;
        break;
    case RefusalKind::stale_epoch:
        why = EventReason::stale_epoch;
        break;
    case RefusalKind::equal_epoch:
        why = EventReason::equal_epoch;
        break;
    case RefusalKind::min_agreement:
        why = EventReason::min_agreement;
        break;
    case RefusalKind::conflict:
        why = EventReason::conflict;
        break;
    }
    return why;
}

namespace {

const char* apply_state_name(proto::ApplyState s) {
    switch (s) {
    case proto::ApplyState::Applied:
        return "applied";
    case proto::ApplyState::Error:
        return "error";
    case proto::ApplyState::Pending:
        return "pending";
    case proto::ApplyState::None:
        return "none";
    }
    return "none";
}

} // namespace

int64_t Decider::wall(TopologyTime t) const {
    if (t == TopologyTime{})
        return 0;
    auto ago = std::chrono::duration_cast<std::chrono::seconds>(hooks_.now() - t);
    return static_cast<int64_t>(hooks_.wall()) - ago.count();
}

std::vector<ApiCluster> Decider::view_clusters() const {
    std::vector<ApiCluster> out;
    out.reserve(works_.size());
    for (uint32_t i : configs_.by_name())
        out.push_back(view_cluster(works_[i]));
    return out;
}

ApiCluster Decider::view_cluster(const Work& w) const {
    ApiCluster c;
    c.name = w.config.name;
    c.external_port = w.config.external_port;
    c.resolve_error = resolve_error(w);
    if (const ClusterState* st = topology_.state(c.name); st && st->has_master) {
        c.master = st->master;
        c.master_addr = w.addr;
        c.epoch = st->epoch;
        c.confirmed = !st->seeded;
        c.confirmed_at = wall(st->confirmed_at);
        c.corroborated_by = st->supporters.ids();
        c.switches = st->switches;
        c.last_switch = wall(st->last_switch);
    }
    TopologyTime reread = topology_.last_trusted_report(c.name);
    c.last_reread = wall(reread);
    c.stale = topology_.is_stale(c.name) || reread == TopologyTime{} ||
              hooks_.now() - reread > settings_.stale_after;
    // Right after a failover a Sentinel may still list the promoted server
    // among the replicas: never show a master as its own replica.
    for (auto& r : w.replicas)
        if (!c.master || r != *c.master)
            c.replicas.push_back(r);
    c.read_backend = w.config.replica_backend();
    c.read_slots = w.config.max_replicas();
    if (w.read && w.read->sent)
        for (const auto& s : w.read->slots)
            c.read_servers.push_back({s.slot, s.addr});
    c.apply_state = apply_state_name(w.applied.state);
    // "applied" means the parent applied this very master; until then the
    // switch is pending (or failed, with the parent's error).
    bool same = c.master && w.applied.master == c.master && w.applied.epoch == c.epoch;
    if (w.applied.state == proto::ApplyState::Applied && !same)
        c.apply_state = "pending";
    if (w.applied.at == 0 && !w.applied.master)
        c.apply_state = "pending";
    c.applied_at = w.applied.at;
    if (w.failures) {
        c.apply_error = w.failures->apply_error;
        c.apply_errors = w.failures->apply_errors;
        c.apply_errors_by = w.failures->apply_errors_by;
    }
    c.fence = w.config.fence();
    if (c.fence) {
        const auto& f = w.fencing->state;
        c.fenced = f.fenced;
        c.fenced_master = f.master;
        c.fenced_since = f.since;
        c.fence_deadline = f.fenced ? f.deadline : 0;
        c.fences = f.fences;
        static constexpr const char* kLift[] = {"", "unfence", "switch", "timeout", "error"};
        c.fence_lifted_by = kLift[static_cast<size_t>(f.lifted_by) % proto::kFenceLiftCount];
        c.fence_error = f.error;
        c.fence_sentinels = fence_want_name(w.fencing->now);
    }
    return c;
}

} // namespace rh
