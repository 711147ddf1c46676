// The engine's recent decisions and refusals, for GET /api/events and
// `redishappyctl events`: why the daemon did or did not switch.
//
// A bounded, pure record (no I/O, time passed in). Memory is fixed: two
// rings of fixed capacity, allocated once, never grown, and every string
// cut to kEventTextMax bytes and made printable ASCII when recorded.
//
// What a flood cannot do. Anyone who can publish a hello on a monitored
// server can make the engine hear made-up Sentinels and their reports, so:
//  - decisions (a master confirmed, the parent's apply result) and
//    observations (candidates seen, refusals) live in separate rings: no
//    number of refusals evicts a decision;
//  - an event repeating an entry still held, with the same key, is folded
//    into it (count + 1, first and last time kept, detail replaced by the
//    newest) and moves to the newest place. The key is (cluster, kind,
//    reason) plus the Sentinel when that Sentinel is trusted (configured, so
//    few): reports of untrusted Sentinels, whatever their address, master or
//    epoch, fold into one entry per cluster and reason. An attacker fills at
//    most one observation entry per (cluster, reason) it can provoke.
//  - confirmations are never folded (each is a real switch); apply results
//    fold when they are about the same master and epoch (a retried apply,
//    whatever each try's error text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"

namespace rh {

inline constexpr size_t kEventDecisions = 128;    // ring of confirmations and applies
inline constexpr size_t kEventObservations = 128; // ring of candidates and refusals
inline constexpr size_t kEventCapacity = kEventDecisions + kEventObservations;
inline constexpr size_t kEventTextMax = 200; // bytes of any recorded string

enum class EventKind : uint8_t {
    candidate,   // a Sentinel newly reports a master other than the current one
    refused,     // a report, group or candidate was not acted on (reason says why)
    confirmed,   // a master became current (ROLE master, corroborated)
    applied,     // the parent put the master in effect (reason: runtime, reload, none)
    apply_error, // the parent could not apply it
    fence        // fencing of the master (issue 15): asked, applied or lifted
};
const char* event_kind_name(EventKind k);

// The reasons the engine already distinguishes; each is one place in the
// code (topology.h's rules, decide.cc).
enum class EventReason : uint8_t {
    // candidate
    trusted,   // reported by a trusted Sentinel
    untrusted, // reported by an untrusted (discovered) one; never counted
    // refused (topology.h)
    untrusted_source, // rule 1: an untrusted Sentinel's report is not counted
    epoch_jump,       // rule 5: epoch too far above the others'
    stale_epoch,      // rule 3: lower than the current epoch
    equal_epoch,      // rule 3: same epoch as the current master, which stays
    min_agreement,    // rule 2: fewer than min_agreement trusted Sentinels agree
    conflict,         // rule 3: two corroborated masters at one epoch
    // refused (decide.cc)
    role_not_master,       // the candidate answered ROLE with another role
    role_failed,           // ROLE could not be asked (connect, timeout, bad reply)
    no_longer_pick,        // ROLE master, but the Sentinels moved on meanwhile
    seed_not_corroborated, // rule 7: the state file's master waits for the Sentinels
    failover_in_progress,  // the Sentinel's view is mid-failover; report not used
    discovered_by_name,    // a discovered Sentinel named by a host name: not followed
    max_discovered,        // too many discovered Sentinels: not followed
    // confirmed
    initial,        // the first master since start-up (not a switch)
    switch_master,  // a new master
    epoch_advance,  // the same master at a higher epoch
    seed_confirmed, // the state file's master, now reported by min_agreement Sentinels
    readdressed,    // the master's host name leads to a new address, ROLE master there
    // applied
    runtime, // through HAProxy's runtime socket
    reload,  // by a reload
    no_path, // without either (no [haproxy], only the file, or a replay)
    // apply_error
    apply_failed,
    // fence: what the engine asked, then what the parent did
    odown,          // min_agreement trusted Sentinels report the applied master o_down
    odown_cleared,  // ... and now report it not o_down
    fenced,         // the parent put the master in maint and shut its sessions
    lifted_unfence, // the parent lifted the fence: the Sentinels cleared o_down
    lifted_switch,  // lifted by the switch to a new master
    lifted_timeout, // lifted after fence_timeout (no failover happened)
    fence_failed,   // the parent could not apply or lift it (runtime socket)
};
const char* event_reason_name(EventReason r);

struct EventDetail {
    std::optional<HostPort> master;
    uint64_t epoch = 0;
    std::string sentinel; // "host:port", or several joined by ", "; may be empty
    bool trusted = false; // whether `sentinel` is trusted
    std::string text;     // the human-readable line (topology's reason, error)
};

struct Event {
    uint64_t seq = 0;                  // order of the last occurrence, across both rings
    int64_t first_ms = 0, last_ms = 0; // unix milliseconds
    uint64_t count = 1;
    std::string cluster; // may be empty (a Sentinel not yet tied to one)
    EventKind kind = EventKind::refused;
    EventReason reason = EventReason::min_agreement;
    EventDetail detail;
};

class EventLog {
  public:
    EventLog();

    void record(int64_t now_ms, std::string_view cluster, EventKind kind, EventReason reason,
                EventDetail detail);

    // The newest `n` events (after filtering by cluster when given), oldest
    // first. n = 0 means all.
    std::vector<Event> last(size_t n = 0, std::string_view cluster = {}) const;
    // Whether an entry of this cluster, kind and reason is still held.
    bool holds(std::string_view cluster, EventKind kind, EventReason reason) const;
    size_t size() const { return decisions_.size() + observations_.size(); }
    uint64_t evicted() const { return evicted_; } // entries dropped to make room
    uint64_t folded() const { return folded_; }   // records folded into an entry

  private:
    static bool is_decision(EventKind k);
    static bool same_key(const Event& e, std::string_view cluster, EventKind kind,
                         EventReason reason, const EventDetail& d);
    void put(std::vector<Event>& ring, size_t cap, Event e);

    std::vector<Event> decisions_;    // by slot, not age (seq orders them); reserved once
    std::vector<Event> observations_; // by slot, not age (seq orders them); reserved once
    std::vector<Event> spare_;        // slots not yet used, their strings reserved
    uint64_t seq_ = 0;
    uint64_t evicted_ = 0;
    uint64_t folded_ = 0;
};

// s cut to kEventTextMax bytes, every byte below 0x20 or from 0x7f up as
// \xNN (so a Sentinel's text can neither break JSON nor reach a terminal).
std::string event_text(std::string_view s);

} // namespace rh
