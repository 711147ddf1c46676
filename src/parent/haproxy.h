// The HAProxy configuration file: template data and rendering (pure; the
// atomic replacement of the output is in outfile.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/proto.h"

namespace rh {

struct HaproxyCluster {
    std::string name;
    uint16_t external_port = 0;
    std::optional<HostPort> master; // nullopt: rendered with has_master false
    uint64_t epoch = 0;
    std::string backend, server; // runtime-socket names of the cluster's server line
    // The IP literal master's host led to (the template's master_addr);
    // empty: master->host, an IP literal itself.
    std::string addr{};
    const std::string& address() const { return addr.empty() ? master->host : addr; }
    // The read backend ([cluster] replica_backend; empty: none): its slots
    // are servers replica1 .. replica<max_replicas>; replicas holds the
    // filled ones (slot 0-based, as in proto::ReplicaAt).
    std::string replica_backend{};
    uint16_t replica_port = 0; // [cluster] replica_port, for the template; 0: none
    uint16_t max_replicas = proto::kDefaultReplicaSlots;
    std::vector<proto::ReplicaAt> replicas{};

    bool operator==(const HaproxyCluster&) const = default;
};

// The read backends in effect or desired, by cluster.
using ReplicaMap = std::map<std::string, std::vector<proto::ReplicaAt>>;

// The HAProxy server name of read-backend slot `slot` (0-based): "replica<slot+1>".
std::string replica_server(uint16_t slot);

// The runtime-socket commands that turn the read backend `from` into `to`
// (both of one cluster): a slot that empties goes to maint with its
// sessions shut down; a slot that gets another replica is switched like a
// master (maint, shutdown sessions, addr, ready). Unchanged slots: nothing.
std::vector<std::string> replica_commands(const std::string& backend,
                                          const std::vector<proto::ReplicaAt>& from,
                                          const std::vector<proto::ReplicaAt>& to);

// Parses the template; on failure says why in *err (when given).
bool check_template(const std::string& text, std::string* err);

// Renders text with clusters sorted by name. Values are inserted verbatim:
// {{x}} and {{{x}}} are the same (no HTML escaping). Hosts are not re-checked
// here; callers only pass hosts that went through valid_host().
std::optional<std::string> render(const std::string& text,
                                  const std::vector<HaproxyCluster>& clusters, std::string* err);

// The shape of a rendering: the same text with every master's address,
// port and epoch replaced by a placeholder that names the cluster's position
// and the address family. Two desired topologies with equal skeletons render
// to files that differ only in IP literals of the same family, ports and
// epochs, all validated by the parent; so a file whose skeleton equals that
// of a file HAProxy's check accepted cannot be rejected for a new reason
// (the Applier then skips the check). nullopt when a master is a host name
// (a name can be refused by HAProxy's resolver), the template fails, or the
// template itself holds a placeholder delimiter (\x01 or \x02).
std::optional<std::string> render_skeleton(const std::string& text,
                                           const std::vector<HaproxyCluster>& clusters);

// Whether two topologies have the same shape: the same clusters in the same
// order, with the same names, ports, backends and servers, each with or
// without a master, and each master's address of the same family, and the
// same read backends with the very same replicas (replica values are not
// placeholders: a change of replicas changes the skeleton, so the check
// runs for it). Equal
// shapes give equal skeletons for one template: the skeleton is rendered
// once per shape, not once per apply.
bool same_shape(const std::vector<HaproxyCluster>& a, const std::vector<HaproxyCluster>& b);

// The shape of a topology as a compact key (about 50 bytes a cluster, where
// a copy of the topology costs about 250): same_shape(a, b) exactly when
// shape_key(a) == shape_key(b). What the Applier keeps of the last shape.
std::string shape_key(const std::vector<HaproxyCluster>& clusters);
// Whether shape_key(clusters) == key, without building the key: a
// comparison of a 10,000-cluster topology allocates nothing.
bool has_shape_key(const std::vector<HaproxyCluster>& clusters, std::string_view key);

// The skeleton of clusters' shape with their values put back in place of
// the placeholders: the same bytes render() gives, in time linear in the
// file, without rendering the template (so a batch of N moved masters costs
// no mustache render). nullopt if a placeholder names no cluster of this
// shape (then render()).
std::optional<std::string> fill_skeleton(const std::string& skeleton,
                                         const std::vector<HaproxyCluster>& clusters);

} // namespace rh
