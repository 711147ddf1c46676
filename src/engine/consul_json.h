// Consul HTTP API request bodies: which method, path and JSON body register or
// deregister one cluster's master. Pure, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/validate.h"

namespace rh {

// "catalog" or "agent".

// What one cluster's master looks like in Consul. Empty service_id, service
// and node take the defaults below; an empty datacenter is left out.
struct ConsulService {
    std::string cluster;
    std::string service;
    std::string service_id;
    std::string node;
    std::string datacenter;
    std::vector<std::string> tags;
    HostPort address;

    bool operator==(const ConsulService&) const = default;
};

std::string consul_service_id(const ConsulService& s);   // "redishappy-<cluster>" by default
std::string consul_service_name(const ConsulService& s); // the cluster name by default
// Synthetic node, so no agent's anti-entropy removes the catalog entry.
std::string consul_node(const ConsulService& s); // "redishappy-<cluster>" by default

struct ConsulRequest {
    std::string method; // always "PUT" today
    std::string path;   // e.g. "/v1/catalog/register"
    std::string body;   // JSON, empty for agent deregistration
};

ConsulRequest consul_register_request(ConsulMode mode, const ConsulService& s);
ConsulRequest consul_deregister_request(ConsulMode mode, const ConsulService& s);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_path_escape(std::string_view s);
// The first line of a response body, without CR, at most 200 bytes; for logs.
std::string first_line(std::string_view body);

} // namespace rh
