// The engine's recent decisions and refusals (see events.h).
#include "engine/events.h"

#include <algorithm>
#include <cstdio>

namespace rh {

const char* event_kind_name(EventKind k) {
    switch (k) {
    case EventKind::candidate:
        return "candidate";
    case EventKind::refused:
        return "refused";
    case EventKind::confirmed:
        return "confirmed";
    case EventKind::applied:
        return "applied";
    case EventKind::apply_error:
        return "apply-error";
    case EventKind::fence:
        return "fence";
    }
    return "unknown";
}

const char* event_reason_name(EventReason r) {
    switch (r) {
    case EventReason::trusted:
        return "trusted";
    case EventReason::untrusted:
        return "untrusted";
    case EventReason::untrusted_source:
        return "untrusted-source";
    case EventReason::epoch_jump:
        return "epoch-jump";
    case EventReason::stale_epoch:
        return "stale-epoch";
    case EventReason::equal_epoch:
        return "equal-epoch";
    case EventReason::min_agreement:
        return "min-agreement";
    case EventReason::conflict:
        return "conflict";
    case EventReason::role_not_master:
        return "role-not-master";
    case EventReason::role_failed:
        return "role-failed";
    case EventReason::no_longer_pick:
        return "no-longer-pick";
    case EventReason::seed_not_corroborated:
        return "seed-not-corroborated";
    case EventReason::failover_in_progress:
        return "failover-in-progress";
    case EventReason::discovered_by_name:
        return "discovered-by-name";
    case EventReason::max_discovered:
        return "max-discovered";
    case EventReason::initial:
        return "initial";
    case EventReason::switch_master:
        return "switch";
    case EventReason::epoch_advance:
        return "epoch-advance";
    case EventReason::seed_confirmed:
        return "seed-confirmed";
    case EventReason::readdressed:
        return "readdressed";
    case EventReason::runtime:
        return "runtime";
    case EventReason::reload:
        return "reload";
    case EventReason::no_path:
        return "none";
    case EventReason::apply_failed:
        return "error";
    case EventReason::odown:
        return "odown";
    case EventReason::odown_cleared:
        return "odown-cleared";
    case EventReason::fenced:
        return "fenced";
    case EventReason::lifted_unfence:
        return "lifted-unfence";
    case EventReason::lifted_switch:
        return "lifted-switch";
    case EventReason::lifted_timeout:
        return "lifted-timeout";
    case EventReason::fence_failed:
        return "fence-failed";
    }
    return "unknown";
}

std::string event_text(std::string_view s) {
    std::string out;
    out.reserve(std::min(s.size(), kEventTextMax));
    for (unsigned char ch : s) {
        bool plain = ch >= 0x20 && ch < 0x7f;
        if (out.size() + (plain ? 1 : 4) > kEventTextMax)
            break;
        if (plain) {
            out += static_cast<char>(ch);
        } else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", ch);
            out += buf;
        }
    }
    return out;
}

namespace {

// Room reserved up front in every slot's strings (see EventLog::EventLog):
// a cluster name, a pair of Sentinel ids, a refusal's line, as they mostly
// are. Longer ones grow their slot's buffer once.
constexpr size_t kSlotName = 47, kSlotSentinel = 47, kSlotText = 111;

// Copies e into a slot, keeping the slot's buffers (a move would hand it
// e's, allocated just now).
void store_detail(EventDetail& slot, EventDetail&& d) {
    slot.master = std::move(d.master); // an IP literal: no buffer
    slot.epoch = d.epoch;
    slot.sentinel.assign(d.sentinel);
    slot.trusted = d.trusted;
    slot.text.assign(d.text);
}

void store(Event& slot, Event&& e) {
    slot.seq = e.seq;
    slot.first_ms = e.first_ms;
    slot.last_ms = e.last_ms;
    slot.count = e.count;
    slot.cluster.assign(e.cluster);
    slot.kind = e.kind;
    slot.reason = e.reason;
    store_detail(slot.detail, std::move(e.detail));
}

} // namespace

EventLog::EventLog() {
    // The whole budget up front: recording never allocates a ring again,
    // nor, mostly, a slot's strings. Allocated while they came, during the
    // bursts of a start or a storm, the strings of the events held were
    // scattered among short-lived allocations and kept hundreds of pages
    // resident after those were freed.
    decisions_.reserve(kEventDecisions);
    observations_.reserve(kEventObservations);
    spare_.resize(kEventCapacity);
    for (auto& e : spare_) {
        e.cluster.reserve(kSlotName);
        e.detail.sentinel.reserve(kSlotSentinel);
        e.detail.text.reserve(kSlotText);
    }
}

bool EventLog::holds(std::string_view cluster, EventKind kind, EventReason reason) const {
    const auto& ring = is_decision(kind) ? decisions_ : observations_;
    std::string key = event_text(cluster);
    return std::any_of(ring.begin(), ring.end(), [&](const Event& e) {
        return e.kind == kind && e.reason == reason && e.cluster == key;
    });
}

bool EventLog::is_decision(EventKind k) {
    return k == EventKind::confirmed || k == EventKind::applied || k == EventKind::apply_error ||
           k == EventKind::fence;
}

bool EventLog::same_key(const Event& e, std::string_view cluster, EventKind kind,
                        EventReason reason, const EventDetail& d) {
    if (e.kind != kind || e.reason != reason || e.cluster != cluster)
        return false;
    switch (kind) {
    case EventKind::confirmed:
    case EventKind::fence:
        return false; // every switch, and every fence and lift, is its own event
    case EventKind::applied:
    case EventKind::apply_error:
        // The same master retried: one entry, whose text is the newest
        // (error texts vary from one try to the next: "timed out after N ms").
        return e.detail.master == d.master && e.detail.epoch == d.epoch;
    case EventKind::candidate:
    case EventKind::refused:
        break;
    }
    // An untrusted Sentinel's address is the attacker's to choose: its
    // reports fold whoever sent them.
    if (e.detail.trusted != d.trusted)
        return false;
    return !d.trusted || e.detail.sentinel == d.sentinel;
}

void EventLog::record(int64_t now_ms, std::string_view cluster, EventKind kind, EventReason reason,
                      EventDetail detail) {
    Event e;
    e.cluster = event_text(cluster);
    detail.sentinel = event_text(detail.sentinel);
    detail.text = event_text(detail.text);
    if (detail.master)
        detail.master->host = event_text(detail.master->host);
    auto& ring = is_decision(kind) ? decisions_ : observations_;
    size_t cap = is_decision(kind) ? kEventDecisions : kEventObservations;
    // Switches and fences never fold (same_key): no search for them.
    bool folds = kind != EventKind::confirmed && kind != EventKind::fence;
    auto it = !folds ? ring.end() : std::find_if(ring.begin(), ring.end(), [&](const Event& x) {
        return same_key(x, e.cluster, kind, reason, detail);
    });
    if (it != ring.end()) { // folded in place; its seq makes it the newest
        it->count++;
        it->last_ms = now_ms;
        it->seq = ++seq_;
        store_detail(it->detail, std::move(detail));
        folded_++;
        return;
    }
    e.first_ms = e.last_ms = now_ms;
    e.kind = kind;
    e.reason = reason;
    e.seq = ++seq_;
    e.detail = std::move(detail);
    put(ring, cap, std::move(e));
}

// Rings in place: an entry never moves once stored (a fold updates it, a
// new entry takes the oldest's slot when full); last() orders by seq. At
// 10,000 clusters a storm records tens of thousands of events, and shifting
// the whole ring for each (erase at the front) was the engine's top item.
void EventLog::put(std::vector<Event>& ring, size_t cap, Event e) {
    if (ring.size() < cap) {
        ring.push_back(std::move(spare_.back())); // with its buffers
        spare_.pop_back();
        store(ring.back(), std::move(e));
        if (spare_.empty())
            std::vector<Event>().swap(spare_);
        return;
    }
    auto oldest = std::min_element(ring.begin(), ring.end(),
                                   [](const Event& a, const Event& b) { return a.seq < b.seq; });
    store(*oldest, std::move(e));
    evicted_++;
}

std::vector<Event> EventLog::last(size_t n, std::string_view cluster) const {
    std::vector<Event> out;
    out.reserve(size());
    for (const auto* ring : {&decisions_, &observations_})
        for (const auto& e : *ring)
            if (cluster.empty() || e.cluster == cluster)
                out.push_back(e);
    std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.seq < b.seq; });
    if (n != 0 && out.size() > n)
        out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
    return out;
}

} // namespace rh
