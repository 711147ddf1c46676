// A cluster's master as the parent knows it: the address and the config
// epoch Sentinel chose it at. The parent's desired and applied state, the
// state file and the configuration sent to the engine all use this one type.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/address.h"

namespace rh {

struct MasterAt {
    HostPort master; // as the Sentinels announced it: IP literal or host name
    uint64_t epoch = 0;
    // The IP literal the engine's ROLE check reached master.host at: what
    // the runtime socket is given and the template's master_addr. Empty
    // only for a state file of an older version (then master.host).
    std::string addr{};
    const std::string& address() const { return addr.empty() ? master.host : addr; }
    bool operator==(const MasterAt&) const = default;
};

using MasterMap = std::map<std::string, MasterAt>; // by cluster name

} // namespace rh
