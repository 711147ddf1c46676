// The configured clusters as the engine keeps them: what it needs of each
// [cluster] section, compactly, for the engine's lifetime.
//
// The parent sends a proto::ConfigCluster per cluster (480 bytes and a dozen
// strings): kept as such, 10,000 clusters cost about 5 MB of the engine's
// memory for settings it never reads (the HAProxy backend and server are the
// parent's business) or that every cluster shares (password, ACL user, TLS,
// read backend and fence settings, Consul datacenter and tags). Here a
// cluster is its name, its port, a pointer to its options -- interned: one
// copy per distinct set, however many clusters share it -- and its Consul
// names only when [consul] is configured. The state file's master, which
// only seeds the decider, is handed over once and then dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/proto.h"

namespace rh {

// Settings that most clusters share; compared whole, so one copy per
// distinct combination (ClusterTable interns them).
struct ClusterOptions {
    std::string password;
    std::string username; // ACL user for ROLE
    bool tls = false;     // ROLE over TLS
    // The read backend (replicas.h): empty, no read backend.
    std::string replica_backend;
    uint16_t max_replicas = proto::kDefaultReplicaSlots;
    bool lag_limited = false;
    uint64_t max_replica_lag = 0;
    bool fence = false;
    // Consul (empty without [consul]).
    std::string consul_datacenter;
    std::vector<std::string> consul_tags;

    auto operator<=>(const ClusterOptions&) const = default;
};

// Consul's names for one cluster (empty: Consul's default for it).
struct ClusterConsulNames {
    std::string service, service_id, node;
};

class EngineCluster {
  public:
    EngineCluster(std::string name, uint16_t external_port, const ClusterOptions* options,
                  std::unique_ptr<const ClusterConsulNames> consul)
        : name(std::move(name)), external_port(external_port), options_(options),
          consul_(std::move(consul)) {}

    std::string name;
    uint16_t external_port = 0;

    const std::string& password() const { return options_->password; }
    const std::string& username() const { return options_->username; }
    bool tls() const { return options_->tls; }
    const std::string& replica_backend() const { return options_->replica_backend; }
    uint16_t max_replicas() const { return options_->max_replicas; }
    // The replication lag beyond which a replica leaves the read backend.
    std::optional<uint64_t> max_replica_lag() const {
        return options_->lag_limited ? std::optional<uint64_t>(options_->max_replica_lag)
                                     : std::nullopt;
    }
    bool fence() const { return options_->fence; }
    // Consul's names; empty strings without [consul] (or for Consul's default).
    const std::string& consul_service() const;
    const std::string& consul_service_id() const;
    const std::string& consul_node() const;
    const std::string& consul_datacenter() const { return options_->consul_datacenter; }
    const std::vector<std::string>& consul_tags() const { return options_->consul_tags; }

  private:
    const ClusterOptions* options_;                    // in the table's set; never null
    std::unique_ptr<const ClusterConsulNames> consul_; // null without [consul]
};

// The last master the parent applied for a cluster (its state file).
struct ClusterSeed {
    HostPort master;
    uint64_t epoch = 0;
    std::string addr; // the IP literal it was reached at; empty: not known
};

class ClusterTable {
  public:
    // consul: whether [consul] is configured (without it, Consul's
    // settings are not kept).
    ClusterTable() = default;
    explicit ClusterTable(bool consul) : consul_(consul) {}
    // From the parent's messages, in their order.
    ClusterTable(std::vector<proto::ConfigCluster> clusters, bool consul);
    // Built one message at a time, as they arrive (so that all of them are
    // never held at once); the names are looked up only after finish().
    void add(proto::ConfigCluster&& c);
    void finish();
    ClusterTable(ClusterTable&&) = default;
    ClusterTable& operator=(ClusterTable&&) = default;

    size_t size() const { return clusters_.size(); }
    bool empty() const { return clusters_.empty(); }
    // In configuration order; an index stays valid for the table's life.
    const EngineCluster& operator[](size_t i) const { return clusters_[i]; }
    std::vector<EngineCluster>::const_iterator begin() const { return clusters_.begin(); }
    std::vector<EngineCluster>::const_iterator end() const { return clusters_.end(); }
    // The index of the cluster named `name`, if configured.
    std::optional<size_t> find(std::string_view name) const;
    // Indexes sorted by cluster name.
    const std::vector<uint32_t>& by_name() const { return by_name_; }
    // Distinct option sets held (for tests and benchmarks).
    size_t option_sets() const { return options_.size(); }

    // The state file's master of cluster i, if the parent sent one; until
    // drop_seeds().
    const std::optional<ClusterSeed>& seed(size_t i) const;
    void drop_seeds();

  private:
    bool consul_ = false;
    std::set<ClusterOptions> options_; // nodes: their addresses are stable
    std::vector<EngineCluster> clusters_;
    std::vector<uint32_t> by_name_;
    std::vector<std::optional<ClusterSeed>> seeds_;
};

} // namespace rh
