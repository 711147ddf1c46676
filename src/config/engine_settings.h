// What the engine is told: the one mapping of a Config (and what the parent
// has applied) to the configuration messages the engine receives, sent as
// ConfigBegin, one ConfigSentinel per seed, one ConfigCluster per cluster
// (removed ones last, to withdraw from Consul), ConfigEnd. Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "common/master.h"
#include "common/proto.h"
#include "config/config.h"

namespace rh {

// min_agreement as given, or by default 2 when at least two Sentinels are
// configured (no single Sentinel may move a master), else 1.
unsigned effective_min_agreement(const Config& c);

// Takes each message as it is made; false stops the transfer. (The whole
// transfer as one list was 13 MB of the parent's peak at 10,000 clusters:
// every message is the size of the largest one.)
using MessageSink = std::function<bool(const proto::Message&)>;

// The transfer for configuration generation `generation`, handed to out in
// order. applied: masters in effect, so a new engine starts from them;
// removed: clusters dropped from the file whose Consul registrations the
// engine must withdraw. False when out stopped it.
bool engine_messages(const Config& c, uint64_t generation, const MasterMap& applied,
                     const std::map<std::string, ClusterConfig>& removed, const MessageSink& out);

} // namespace rh
