// The configured clusters by name, in O(log N) and about 4 bytes a cluster:
// positions into a Config's cluster list, sorted by name. It refers to that
// list (no copy of the names), so it is rebuilt whenever the list changes:
// the parent does it in Output::reconfigure(), right after the SIGHUP swap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace rh {

class ClusterIndex {
  public:
    ClusterIndex() = default;
    // clusters must outlive the index, unchanged (or be indexed again).
    explicit ClusterIndex(const std::vector<ClusterConfig>& clusters);

    // The position of the cluster called name in the list, if configured.
    std::optional<size_t> position(std::string_view name) const;
    bool contains(std::string_view name) const { return position(name).has_value(); }
    // The cluster called name, or null.
    const ClusterConfig* find(std::string_view name) const;

  private:
    const std::vector<ClusterConfig>* clusters_ = nullptr;
    std::vector<uint32_t> by_name_;
};

} // namespace rh
