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
    HostPort master;
    uint64_t epoch = 0;
    bool operator==(const MasterAt&) const = default;
};

using MasterMap = std::map<std::string, MasterAt>; // by cluster name

} // namespace rh
