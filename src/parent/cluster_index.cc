#include "parent/cluster_index.h"

#include <algorithm>

namespace rh {

ClusterIndex::ClusterIndex(const std::vector<ClusterConfig>& clusters) : clusters_(&clusters) {
    by_name_.resize(clusters.size());
    for (size_t i = 0; i < clusters.size(); i++)
        by_name_[i] = static_cast<uint32_t>(i);
    // The parser already sorts the list, but nothing here relies on it.
    std::sort(by_name_.begin(), by_name_.end(),
              [&](uint32_t a, uint32_t b) { return clusters[a].name < clusters[b].name; });
}

std::optional<size_t> ClusterIndex::position(std::string_view name) const {
    if (!clusters_)
        return std::nullopt;
    const auto& list = *clusters_;
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                               [&](uint32_t i, std::string_view n) { return list[i].name < n; });
    if (it == by_name_.end() || list[*it].name != name)
        return std::nullopt;
    return *it;
}

const ClusterConfig* ClusterIndex::find(std::string_view name) const {
    auto i = position(name);
    return i ? &(*clusters_)[*i] : nullptr;
}

} // namespace rh
