// The HAProxy configuration file: template data and rendering (pure; the
// atomic replacement of the output is in outfile.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"

namespace rh {

struct HaproxyCluster {
    std::string name;
    uint16_t external_port = 0;
    std::optional<HostPort> master; // nullopt: rendered with has_master false
    uint64_t epoch = 0;
    std::string backend, server; // runtime-socket names of the cluster's server line

    bool operator==(const HaproxyCluster&) const = default;
};

// Parses the template; on failure says why in *err (when given).
bool check_template(const std::string& text, std::string* err);

// Renders text with clusters sorted by name. Values are inserted verbatim:
// {{x}} and {{{x}}} are the same (no HTML escaping). Hosts are not re-checked
// here; callers only pass hosts that went through valid_host().
std::optional<std::string> render(const std::string& text, std::vector<HaproxyCluster> clusters,
                                  std::string* err);

// The shape of a rendering: the same text with every master's address,
// port and epoch replaced by a placeholder that names the cluster's position
// and the address family. Two desired topologies with equal skeletons render
// to files that differ only in IP literals of the same family, ports and
// epochs, all validated by the parent; so a file whose skeleton equals that
// of a file HAProxy's check accepted cannot be rejected for a new reason
// (the Applier then skips the check). nullopt when a master is a host name
// (a name can be refused by HAProxy's resolver) or the template fails.
std::optional<std::string> render_skeleton(const std::string& text,
                                           std::vector<HaproxyCluster> clusters);

} // namespace rh
