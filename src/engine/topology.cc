// Master decision rules; see topology.h for the rules this file implements.
#include "engine/topology.h"

#include <algorithm>
#include <utility>

namespace rh {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty())
            out += ", ";
        out += s;
    }
    return out;
}

std::string at(const HostPort& hp, uint64_t epoch) {
    return format_host_port(hp) + " at epoch " + std::to_string(epoch);
}

// "sentinel X reports" / "sentinels X, Y report"
std::string who_reports(const std::vector<std::string>& ids) {
    if (ids.size() == 1)
        return "sentinel " + ids[0] + " reports ";
    return "sentinels " + join(ids) + " report ";
}

using GroupKey = std::pair<uint64_t, HostPort>; // (epoch, address)

} // namespace

const char* verdict_kind_name(VerdictKind k) {
    switch (k) {
    case VerdictKind::None:
        return "none";
    case VerdictKind::Confirm:
        return "confirm";
    case VerdictKind::EpochAdvance:
        return "epoch-advance";
    }
    return "unknown";
}

Topology::Topology(TopologyPolicy policy) : policy_(policy) {
    if (policy_.min_agreement == 0)
        policy_.min_agreement = 1;
}

bool Topology::add_cluster(const std::string& name) {
    auto [it, added] = clusters_.try_emplace(name);
    // Room for the reports of the min_agreement Sentinels any decision
    // needs, now: allocated as they arrive, the lists were scattered among
    // the replies' short-lived allocations and kept their pages resident.
    if (added)
        it->second.reports.reserve(std::min(policy_.min_agreement, 4u));
    return added;
}

bool Topology::remove_cluster(const std::string& name) {
    return clusters_.erase(name) > 0;
}

bool Topology::has_cluster(const std::string& name) const {
    return clusters_.count(name) > 0;
}

void Topology::sentinel_up(const std::string& id) {
    sentinels_[id].reachable = true;
}

void Topology::sentinel_down(const std::string& id) {
    sentinels_[id].reachable = false;
}

void Topology::forget_sentinel(const std::string& id) {
    for (auto& [name, c] : clusters_)
        erase_report(c, id);
    sentinels_.erase(id);
}

std::vector<Topology::SentinelReport>::const_iterator
Topology::find_report(const Cluster& c, const std::string& sentinel) {
    auto it = std::lower_bound(
        c.reports.begin(), c.reports.end(), sentinel,
        [](const SentinelReport& r, const std::string& id) { return r.sentinel->first < id; });
    return it != c.reports.end() && it->sentinel->first == sentinel ? it : c.reports.end();
}

void Topology::erase_report(Cluster& c, const std::string& sentinel) {
    auto it = find_report(c, sentinel);
    if (it != c.reports.end())
        c.reports.erase(it);
}

void Topology::set_trusted(const std::string& id, bool trusted) {
    sentinels_[id].trusted = trusted;
}

bool Topology::is_reachable(const std::string& id) const {
    auto it = sentinels_.find(id);
    return it != sentinels_.end() && it->second.reachable;
}

bool Topology::is_trusted(const std::string& id) const {
    auto it = sentinels_.find(id);
    return it != sentinels_.end() && it->second.trusted;
}

size_t Topology::trusted_count() const {
    return std::count_if(sentinels_.begin(), sentinels_.end(),
                         [](const auto& kv) { return kv.second.trusted; });
}

bool Topology::report(const std::string& cluster, const std::string& sentinel, bool trusted,
                      const HostPort& master, uint64_t epoch, TopologyTime now) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return false;
    if (master.port == 0 || !valid_host(master.host))
        return false;
    SentinelEntry& s = *sentinels_.try_emplace(sentinel).first;
    s.second.trusted = trusted;
    s.second.reachable = true;
    auto& reports = it->second.reports;
    auto pos = std::lower_bound(
        reports.begin(), reports.end(), sentinel,
        [](const SentinelReport& r, const std::string& id) { return r.sentinel->first < id; });
    if (pos != reports.end() && pos->sentinel == &s)
        pos->report = Report{master, epoch, now};
    else
        reports.insert(pos, SentinelReport{&s, Report{master, epoch, now}});
    note_seed_support(it->second);
    return true;
}

// Rule 7: once min_agreement trusted Sentinels have reported the seeded
// master itself, its epoch binds (for the rest of this engine's life).
void Topology::note_seed_support(Cluster& c) {
    ClusterState& st = c.state;
    if (!st.seeded || st.seed_corroborated)
        return;
    size_t n = 0;
    for (const auto& [s, r] : c.reports)
        n += counts(*s) && r.master == st.master && r.epoch == st.epoch ? 1 : 0;
    st.seed_corroborated = n >= policy_.min_agreement;
}

bool Topology::reports_same(const std::string& cluster, const std::string& sentinel,
                            const HostPort& master, uint64_t epoch) const {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return false;
    auto r = find_report(it->second, sentinel);
    return r != it->second.reports.end() && r->report.master == master && r->report.epoch == epoch;
}

void Topology::no_master(const std::string& cluster, const std::string& sentinel) {
    auto it = clusters_.find(cluster);
    if (it != clusters_.end())
        erase_report(it->second, sentinel);
}

bool Topology::seed(const std::string& cluster, const HostPort& master, uint64_t epoch,
                    TopologyTime now) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return false;
    if (master.port == 0 || !valid_host(master.host))
        return false;
    ClusterState& st = it->second.state;
    st.has_master = true;
    st.master = master;
    st.epoch = epoch;
    st.seeded = true;
    st.seed_corroborated = false;
    st.confirmed_at = now;
    st.supporters = {};
    return true;
}

// Rule 5. The reference is the highest epoch among the other counting
// reports, or the current epoch when there are none.
bool Topology::suspicious(const Cluster& c, const SentinelEntry* sentinel, const Report& r,
                          uint64_t* reference) const {
    bool have_ref = false;
    uint64_t ref = 0;
    for (const auto& [s, other] : c.reports) {
        if (s == sentinel || !counts(*s))
            continue;
        ref = have_ref ? std::max(ref, other.epoch) : other.epoch;
        have_ref = true;
    }
    if (!have_ref && c.state.has_master) {
        ref = c.state.epoch;
        have_ref = true;
    }
    if (reference != nullptr)
        *reference = ref;
    return have_ref && r.epoch > ref && r.epoch - ref > policy_.max_epoch_jump;
}

Verdict Topology::decide(const Cluster& c) const {
    Verdict v;
    const ClusterState& st = c.state;
    std::map<GroupKey, std::vector<std::string>> groups;

    for (const auto& [s, r] : c.reports) {
        const std::string& id = s->first;
        if (!counts(*s)) {
            if (!s->second.trusted && !(st.has_master && r.master == st.master))
                v.reasons.push_back({RefusalKind::untrusted,
                                     {id},
                                     r.master,
                                     r.epoch,
                                     "untrusted sentinel " + id + " reports " +
                                         at(r.master, r.epoch) + "; not counted"});
            continue;
        }
        uint64_t ref = 0;
        if (suspicious(c, s, r, &ref)) {
            v.reasons.push_back({RefusalKind::epoch_jump,
                                 {id},
                                 r.master,
                                 r.epoch,
                                 "sentinel " + id + " reports " + at(r.master, r.epoch) +
                                     ": epoch jump of " + std::to_string(r.epoch - ref) +
                                     " above trusted maximum " + std::to_string(ref) +
                                     ", ignored"});
            continue;
        }
        groups[{r.epoch, r.master}].push_back(id);
    }

    const size_t need = policy_.min_agreement;
    // Rule 7: a seeded epoch orders nothing until the Sentinels corroborate
    // the seeded master itself.
    bool binds = st.has_master && (!st.seeded || st.seed_corroborated);
    const GroupKey* best = nullptr;
    bool tie = false;
    for (const auto& [key, ids] : groups) {
        const auto& [epoch, addr] = key;
        if (st.has_master && epoch == st.epoch && addr == st.master) {
            v.supporters = ids;
            continue;
        }
        if (binds && epoch < st.epoch) {
            v.reasons.push_back({RefusalKind::stale_epoch, ids, addr, epoch,
                                 who_reports(ids) + at(addr, epoch) + "; stale, current is " +
                                     at(st.master, st.epoch)});
            continue;
        }
        if (binds && epoch == st.epoch) {
            v.reasons.push_back({RefusalKind::equal_epoch, ids, addr, epoch,
                                 who_reports(ids) + at(addr, epoch) + "; equal to the epoch of " +
                                     format_host_port(st.master) + ", which stays"});
            continue;
        }
        if (ids.size() < need) {
            v.reasons.push_back(
                {RefusalKind::min_agreement, ids, addr, epoch,
                 who_reports(ids) + at(addr, epoch) + (ids.size() == 1 ? " alone; " : "; ") +
                     std::to_string(ids.size()) + " of " + std::to_string(need) + " required"});
            continue;
        }
        // groups iterate by ascending epoch: a later group is at least as high
        tie = best != nullptr && best->first == epoch;
        best = &key;
    }
    if (best == nullptr)
        return v;
    if (tie) {
        std::vector<std::string> addrs, who;
        const HostPort* first = nullptr;
        for (const auto& [key, ids] : groups) {
            if (key.first != best->first || ids.size() < need)
                continue;
            first = first ? first : &key.second;
            addrs.push_back(format_host_port(key.second));
            who.insert(who.end(), ids.begin(), ids.end());
        }
        std::sort(who.begin(), who.end());
        v.reasons.push_back({RefusalKind::conflict, who, *first, best->first,
                             "conflicting corroborated masters at epoch " +
                                 std::to_string(best->first) + ": " + join(addrs) + "; waiting"});
        return v;
    }
    v.kind = (st.has_master && best->second == st.master) ? VerdictKind::EpochAdvance
                                                          : VerdictKind::Confirm;
    v.candidate = best->second;
    v.epoch = best->first;
    v.supporters = groups.at(*best);
    return v;
}

Verdict Topology::verdict(const std::string& cluster) const {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return Verdict{};
    return decide(it->second);
}

bool Topology::confirmed(const std::string& cluster, const HostPort& candidate, uint64_t epoch,
                         TopologyTime now) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return false;
    Verdict v = decide(it->second);
    if (v.kind == VerdictKind::None || v.candidate != candidate || v.epoch != epoch)
        return false;
    ClusterState& st = it->second.state;
    if (v.kind == VerdictKind::Confirm) {
        st.switches++;
        st.last_switch = now;
        st.confirmed_at = now;
    }
    st.has_master = true;
    st.master = candidate;
    st.epoch = epoch;
    st.seeded = false;
    st.supporters = shared_ids(std::move(v.supporters));
    return true;
}

SentinelIds Topology::shared_ids(std::vector<std::string> ids) {
    auto it = id_lists_.find(ids);
    if (it == id_lists_.end()) {
        if (++id_lists_added_ % kIdListSweep == 0)
            std::erase_if(id_lists_, [](const SentinelIds::List& l) { return l.refs == 0; });
        it = id_lists_.insert(SentinelIds::List{std::move(ids)}).first;
    }
    return SentinelIds(&*it);
}

void Topology::confirm_failed(const std::string& cluster, const HostPort& candidate, uint64_t epoch,
                              std::string_view why) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return;
    ClusterState& st = it->second.state;
    st.confirm_failures++;
    st.last_confirm_error = at(candidate, epoch) + ": " + std::string(why);
}

const ClusterState* Topology::state(const std::string& cluster) const {
    auto it = clusters_.find(cluster);
    return it == clusters_.end() ? nullptr : &it->second.state;
}

bool Topology::is_stale(const std::string& cluster) const {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return true;
    for (const auto& sr : it->second.reports)
        if (counts(*sr.sentinel))
            return false;
    return true;
}

TopologyTime Topology::last_trusted_report(const std::string& cluster) const {
    TopologyTime newest{};
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return newest;
    for (const auto& [s, r] : it->second.reports)
        if (s->second.trusted && r.when > newest)
            newest = r.when;
    return newest;
}

std::vector<ReportView> Topology::reports(const std::string& cluster) const {
    std::vector<ReportView> out;
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return out;
    for (const auto& [s, r] : it->second.reports) {
        ReportView rv;
        rv.sentinel = s->first;
        rv.master = r.master;
        rv.epoch = r.epoch;
        rv.when = r.when;
        rv.trusted = s->second.trusted;
        rv.reachable = s->second.reachable;
        rv.suspicious = counts(*s) && suspicious(it->second, s, r, nullptr);
        out.push_back(std::move(rv));
    }
    return out;
}

std::vector<std::string> Topology::clusters() const {
    std::vector<std::string> out;
    for (const auto& kv : clusters_)
        out.push_back(kv.first);
    return out;
}

} // namespace rh
