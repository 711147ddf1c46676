// The parent's check of each message from the engine, after the codec has
// accepted its shape (OpenSSH's monitor, OpenNTPD's dispatch_imsg): the
// engine may send only Ready (once, for the current configuration
// generation) and Master (after Ready, for a configured cluster, with a
// valid address, at an epoch the applied state allows). Pure, so each
// rejection is unit-tested.
//
// Two outcomes other than acceptance:
//   violation  the engine broke the protocol (a message it may not send, a
//              cluster that is not configured, an invalid address): the
//              caller kills the engine and starts a new one.
//   refusal    a well-formed Master whose epoch the applied state forbids:
//              below the applied epoch, or more than max_epoch_jump above
//              it. The message is dropped and logged; the engine keeps
//              running. An honest engine can send such a jump (two trusted
//              Sentinels that agree on it pass the engine's own rule), so
//              killing it would restart it in a loop and stop every other
//              cluster's failovers with it; refusing costs only the
//              offending cluster.
//
// "The same Sentinel set": the floor is the epoch in the parent's applied
// state, which lasts as long as that state (the state file across restarts,
// a cluster's removal on SIGHUP ends it). The parent cannot tell a replaced
// Sentinel set from a lying engine (configured addresses are only seeds, and
// a set can be rebuilt behind the same addresses), so a Sentinel set whose
// epochs start again is introduced by the operator removing the cluster's
// entry from the state file (or the cluster from the configuration, then a
// SIGHUP): redishappy.conf(5) says so.
#pragma once

#include <cstdint>
#include <string>

#include "common/master.h"
#include "common/proto.h"

namespace rh {

struct Config;

struct EngineMessageContext {
    const Config* config = nullptr;
    uint64_t generation = 0;
    bool ready = false;                 // Ready already received
    const MasterMap* applied = nullptr; // the epoch floors; null = none
};

struct EngineCheck {
    enum class Kind { accept, refuse, violation };
    Kind kind = Kind::accept;
    std::string why; // empty when accepted
};

EngineCheck check_engine_message(const proto::Message& m, const EngineMessageContext& ctx);

// The epoch rule alone: empty when epoch may follow the applied one.
std::string check_epoch(const std::string& cluster, uint64_t epoch, const MasterAt* applied,
                        uint64_t max_epoch_jump);

} // namespace rh
