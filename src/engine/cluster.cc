// The engine's compact copy of the configured clusters; see cluster.h.
#include "engine/cluster.h"

#include <algorithm>

namespace rh {

namespace {

const std::string kEmpty;

} // namespace

const std::string& EngineCluster::consul_service() const {
    return consul_ ? consul_->service : kEmpty;
}

const std::string& EngineCluster::consul_service_id() const {
    return consul_ ? consul_->service_id : kEmpty;
}

const std::string& EngineCluster::consul_node() const {
    return consul_ ? consul_->node : kEmpty;
}

ClusterTable::ClusterTable(std::vector<proto::ConfigCluster> clusters, bool consul)
    : consul_(consul) {
    clusters_.reserve(clusters.size());
    for (auto& c : clusters)
        add(std::move(c));
    finish();
}

void ClusterTable::add(proto::ConfigCluster&& c) {
    ClusterOptions o;
    o.password = std::move(c.password);
    o.username = std::move(c.username);
    o.tls = c.tls;
    o.replica_backend = std::move(c.replica_backend);
    o.max_replicas = c.max_replicas;
    o.lag_limited = c.lag_limited;
    o.max_replica_lag = c.lag_limited ? c.max_replica_lag : 0;
    o.fence = c.fence;
    std::unique_ptr<const ClusterConsulNames> names;
    if (consul_) {
        o.consul_datacenter = std::move(c.consul_datacenter);
        o.consul_tags = std::move(c.consul_tags);
        names = std::make_unique<const ClusterConsulNames>(ClusterConsulNames{
            std::move(c.consul_service), std::move(c.consul_service_id), std::move(c.consul_node)});
    }
    const ClusterOptions* opts = &*options_.insert(std::move(o)).first;
    if (c.applied_master) {
        seeds_.resize(clusters_.size() + 1);
        seeds_.back() =
            ClusterSeed{std::move(*c.applied_master), c.applied_epoch, std::move(c.applied_addr)};
    }
    clusters_.emplace_back(std::move(c.name), c.external_port, opts, std::move(names));
}

void ClusterTable::finish() {
    clusters_.shrink_to_fit();
    seeds_.shrink_to_fit();
    by_name_.resize(clusters_.size());
    for (size_t i = 0; i < clusters_.size(); i++)
        by_name_[i] = static_cast<uint32_t>(i);
    std::sort(by_name_.begin(), by_name_.end(),
              [this](uint32_t a, uint32_t b) { return clusters_[a].name < clusters_[b].name; });
}

std::optional<size_t> ClusterTable::find(std::string_view name) const {
    auto it = std::lower_bound(
        by_name_.begin(), by_name_.end(), name,
        [this](uint32_t i, std::string_view n) { return std::string_view(clusters_[i].name) < n; });
    if (it == by_name_.end() || clusters_[*it].name != name)
        return std::nullopt;
    return *it;
}

const std::optional<ClusterSeed>& ClusterTable::seed(size_t i) const {
    static const std::optional<ClusterSeed> none;
    return i < seeds_.size() ? seeds_[i] : none;
}

void ClusterTable::drop_seeds() {
    std::vector<std::optional<ClusterSeed>>().swap(seeds_);
}

} // namespace rh
