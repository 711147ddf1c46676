// The parent's check of each message from the engine, after the codec has
// accepted its shape (OpenSSH's monitor, OpenNTPD's dispatch_imsg): the
// engine may send only Ready (once, for the current configuration
// generation) and Master (after Ready, for a configured cluster, with a
// valid address, at an epoch the applied state allows), and Fence/Unfence
// (after Ready, for a fence = yes cluster, about its applied master at the
// applied epoch; an older epoch is refused as a race with a switch). Pure,
// so each rejection is unit-tested.
//
// Two outcomes other than acceptance:
//   violation  the engine broke the protocol (a message it may not send, a
//              cluster that is not configured, an invalid address): the
//              caller kills the engine and starts a new one.
//   refusal    a well-formed Master whose epoch is below the last one this
//              engine got applied for the cluster, or more than
//              max_epoch_jump above the applied epoch. The message is dropped and logged; the
//              engine keeps running. An honest engine can send such a jump (two trusted Sentinels
//              that agree on it pass the engine's own rule), so killing it would restart it in a
//              loop and stop every other cluster's failovers with it; refusing costs only the
//              offending cluster.
//
// "While the same Sentinel set reports them": the floor is the epoch this
// engine instance got applied, and a new engine starts without floors. A
// whole Sentinel set replaced (epochs restart) is followed once a fresh
// engine sees it, as the engine's own seed rule does (topology.h, rule 7);
// an epoch left in the state file by a compromised engine binds nothing
// after it is replaced. The jump rule still counts from what is applied,
// whoever applied it, so one message cannot carry an epoch far ahead.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/master.h"
#include "common/proto.h"
#include "parent/cluster_index.h"

namespace rh {

struct EngineMessageContext {
    const Config* config = nullptr;
    uint64_t generation = 0;
    bool ready = false;                 // Ready already received
    const MasterMap* applied = nullptr; // what is in effect: the jump reference
    // This engine's floors, by position in config->clusters (0: none, as no
    // epoch is below 0); a list of another size is no floors at all.
    const std::vector<uint64_t>* floors = nullptr;
    // The configured clusters by name, for a lookup in O(log N) (a storm
    // of N messages must not cost N x N); without it config->clusters is
    // scanned.
    const ClusterIndex* configured = nullptr;
    // The master the engine confirmed for a cluster (null: none): a
    // replica in a Replicas message is never the current master.
    std::function<const MasterAt*(const std::string&)> desired = nullptr;
    // Clusters whose last Master from this engine was refused (an epoch
    // rule): their Replicas are refused too, not a violation, since they
    // follow the master the engine believes in.
    const std::unordered_set<std::string>* master_refused = nullptr;
};

struct EngineCheck {
    enum class Kind { accept, refuse, violation };
    Kind kind = Kind::accept;
    std::string why; // empty when accepted
};

EngineCheck check_engine_message(const proto::Message& m, const EngineMessageContext& ctx);

// The epoch rules alone: empty when epoch may follow. floor: the last epoch
// this engine got applied (null: none yet); applied: what is in effect.
std::string check_epoch(const std::string& cluster, uint64_t epoch, const uint64_t* floor,
                        const MasterAt* applied, uint64_t max_epoch_jump);

} // namespace rh
