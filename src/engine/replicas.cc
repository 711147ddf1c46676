// The read backend's rules; see replicas.h.
#include "engine/replicas.h"

#include <algorithm>
#include <set>

namespace rh {

bool sentinel_says_healthy(const sentinel::ReplicaInfo& r, std::string* why) {
    for (const char* f : {"s_down", "o_down", "disconnected"})
        if (r.has_flag(f)) {
            *why = std::string("Sentinel flags it ") + f;
            return false;
        }
    if (r.master_link_status != "ok") {
        *why = "master link " + r.master_link_status.substr(0, 32);
        return false;
    }
    return true;
}

std::vector<HostPort>
replica_candidates(const std::map<std::string, std::vector<sentinel::ReplicaInfo>>& by_sentinel,
                   const HostPort& master) {
    std::set<HostPort> healthy, unhealthy;
    for (const auto& [id, list] : by_sentinel)
        for (const auto& r : list) {
            std::string why;
            (sentinel_says_healthy(r, &why) ? healthy : unhealthy).insert(r.addr);
        }
    std::vector<HostPort> out;
    for (const auto& hp : healthy)
        if (!unhealthy.count(hp) && hp != master &&
            (is_ipv4_literal(hp.host) || is_ipv6_literal(hp.host)))
            out.push_back(hp);
    return out;
}

bool role_says_healthy(const sentinel::RoleInfo& role, const HostPort& master,
                       std::optional<uint64_t> master_offset, std::optional<uint64_t> max_lag,
                       std::string* why) {
    if (role.role != "slave") {
        *why = "ROLE " + role.role;
        return false;
    }
    if (role.master != master) {
        *why = "ROLE slave of " + format_host_port(role.master) + ", not of the master";
        return false;
    }
    if (role.state != "connected") {
        *why = "ROLE slave in state " + role.state;
        return false;
    }
    if (!max_lag)
        return true;
    if (!master_offset) {
        *why = "the master's offset is unknown";
        return false;
    }
    uint64_t lag = *master_offset > role.offset ? *master_offset - role.offset : 0;
    if (lag > *max_lag) {
        *why = "lags " + std::to_string(lag) + " bytes behind the master (max_replica_lag " +
               std::to_string(*max_lag) + ")";
        return false;
    }
    return true;
}

std::vector<ReplicaSlot> assign_slots(const std::vector<ReplicaSlot>& current,
                                      const std::vector<HostPort>& healthy, size_t max_slots) {
    std::set<HostPort> want(healthy.begin(), healthy.end());
    std::vector<ReplicaSlot> out;
    std::set<uint16_t> used;
    for (const auto& s : current)
        if (s.slot < max_slots && want.count(s.addr) && !used.count(s.slot)) {
            out.push_back(s);
            used.insert(s.slot);
            want.erase(s.addr);
        }
    uint16_t next = 0;
    for (const auto& hp : want) { // std::set: address order
        while (next < max_slots && used.count(next))
            next++;
        if (next >= max_slots)
            break;
        out.push_back({hp, next});
        used.insert(next);
    }
    std::sort(out.begin(), out.end(),
              [](const ReplicaSlot& a, const ReplicaSlot& b) { return a.slot < b.slot; });
    return out;
}

} // namespace rh
