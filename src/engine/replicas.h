// The read backend's rules (pure, no I/O): which replicas of a cluster's
// current master are healthy, and which HAProxy slot each one takes.
//
// A replica is in the read backend when all of these hold:
//   1. a trusted Sentinel reports it (an untrusted one never adds one) and
//      no trusted Sentinel reports it unhealthy: no s_down, o_down or
//      disconnected flag, master-link-status "ok";
//   2. it answers ROLE as "slave" of the current master (IP and port) in
//      state "connected";
//   3. with max_replica_lag set, the master's offset (from its own ROLE,
//      asked in the same round) is at most that many bytes ahead of the
//      replica's;
//   4. it is not the current master itself.
// Slots are stable: a replica keeps its slot while it stays; a new one
// takes the lowest free slot; at most max_replicas slots, and replicas
// beyond that wait (in address order) for a slot to free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/proto.h"
#include "engine/sentinel_proto.h"

namespace rh {

inline constexpr size_t kDefaultMaxReplicas = proto::kDefaultReplicaSlots;

// Rule 1 for one Sentinel's report of one replica; *why says what failed.
bool sentinel_says_healthy(const sentinel::ReplicaInfo& r, std::string* why);

// What the trusted Sentinels' latest SENTINEL REPLICAS replies make of the
// replicas: those at least one reports healthy and none reports otherwise,
// sorted by address, the current master and host names left out (a replica
// is asked ROLE at its address, which must be an IP literal).
std::vector<HostPort>
replica_candidates(const std::map<std::string, std::vector<sentinel::ReplicaInfo>>& by_sentinel,
                   const HostPort& master);

// Rules 2 and 3 for one replica's ROLE answer; *why says what failed.
// master_offset: the master's offset in the same round (nullopt: unknown,
// which fails the lag rule when max_lag is set).
bool role_says_healthy(const sentinel::RoleInfo& role, const HostPort& master,
                       std::optional<uint64_t> master_offset, std::optional<uint64_t> max_lag,
                       std::string* why);

struct ReplicaSlot {
    HostPort addr;
    uint16_t slot = 0; // 0-based; HAProxy server "replica<slot+1>"
    bool operator==(const ReplicaSlot&) const = default;
};

// The new slot table for `healthy` (in any order), given the current one:
// members that stay keep their slot, new ones take the lowest free slots in
// address order, at most max_slots. The result is sorted by slot.
std::vector<ReplicaSlot> assign_slots(const std::vector<ReplicaSlot>& current,
                                      const std::vector<HostPort>& healthy, size_t max_slots);

} // namespace rh
