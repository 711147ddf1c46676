// Consul HTTP API request bodies: which method, path and JSON body register or
// deregister one cluster's master; the parser of the registration read back
// from Consul and the fence that decides whether to overwrite it. Pure, no I/O.
//
// The fence (catalog mode). Several redishappyd instances may register the
// same cluster: one catalog entry, (node, service ID), that all of them
// write. Each write carries, in the service's Meta, the Sentinel config epoch
// of the master it names and the instance that wrote it. An instance reads
// the entry and its ModifyIndex first, decides with consul_fence(), and
// writes through /v1/txn with a Service "cas" on that ModifyIndex: if anyone
// wrote in between, the transaction is rolled back (HTTP 409) and the
// instance reads again. So a registration only ever moves to a higher epoch
// (or is rewritten at the same epoch by the instance that wrote it), however
// the writes of several instances interleave.
#pragma once

#include <cstdint>
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
    uint64_t epoch = 0;   // Sentinel config epoch of the master (Meta)
    std::string instance; // who writes it (Meta); see [consul] instance

    bool operator==(const ConsulService&) const = default;
};

std::string consul_service_id(const ConsulService& s);   // "redishappy-<cluster>" by default
std::string consul_service_name(const ConsulService& s); // the cluster name by default
// Synthetic node, so no agent's anti-entropy removes the catalog entry.
std::string consul_node(const ConsulService& s); // "redishappy-<cluster>" by default

// The service Meta keys the fence reads and writes (Consul allows
// [A-Za-z0-9_-] keys of up to 64 bytes, values up to 512).
inline constexpr const char* kMetaEpoch = "redishappy_epoch";
inline constexpr const char* kMetaInstance = "redishappy_instance";
inline constexpr size_t kMaxInstance = kMaxConsulInstance;

struct ConsulRequest {
    std::string method; // "GET" or "PUT"
    std::string path;   // e.g. "/v1/txn?dc=dc2"
    std::string body;   // JSON; empty for GET and agent deregistration
};

// Agent mode: PUT /v1/agent/service/register (the service with its Meta)
// and PUT /v1/agent/service/deregister/<id>. The agent API has no
// check-and-set; see consul.h for why agent mode needs none.
ConsulRequest consul_agent_register_request(const ConsulService& s);
ConsulRequest consul_agent_deregister_request(const ConsulService& s);

// Catalog mode, fenced:
// GET /v1/catalog/service/<name>[?dc=] -- every instance of the service name;
// consul_parse_read picks ours, (node, service ID).
ConsulRequest consul_read_request(const ConsulService& s);
// PUT /v1/txn[?dc=]: Node "set" (the synthetic node, so the service has one
// to live on) then Service "cas" at modify_index (0: only if absent). The
// transaction is atomic: a failed cas rolls the node back too.
ConsulRequest consul_cas_register_request(const ConsulService& s, uint64_t modify_index);
// PUT /v1/txn[?dc=]: Service "delete-cas" at modify_index.
ConsulRequest consul_cas_deregister_request(const ConsulService& s, uint64_t modify_index);

// Our catalog entry as read back from Consul.
struct ConsulEntry {
    uint64_t modify_index = 0;
    std::string address; // ServiceAddress (or the node's Address when empty)
    long port = 0;
    std::optional<uint64_t> epoch; // none: no (or no valid) redishappy_epoch
    std::string instance;          // redishappy_instance, empty if none
    std::vector<std::string> tags;
};

struct ConsulRead {
    bool ok = false;
    std::string error;                // why the body was refused, when !ok
    std::optional<ConsulEntry> entry; // none: Consul has no such entry
};

// Parses the body of GET /v1/catalog/service/<name> (a JSON array of
// service nodes) and picks the entry of `node` with ServiceID `service_id`.
// The body comes from the network: anything malformed is refused, never
// guessed. Bounded: a body over 64 KiB is cut by the caller and then
// refused here as malformed.
ConsulRead consul_parse_read(std::string_view body, const std::string& node,
                             const std::string& service_id);

enum class FenceVerdict {
    write,    // absent, older, or ours: write with cas at cas_index
    current,  // Consul already says exactly this: nothing to write
    newer,    // Consul holds a higher epoch: never overwrite it
    conflict, // same epoch, another address, written by another instance
};
const char* fence_verdict_name(FenceVerdict v);

struct FenceDecision {
    FenceVerdict verdict = FenceVerdict::write;
    uint64_t cas_index = 0; // ModifyIndex to write at (0: create only)
    std::string reason;     // for the log and the API, empty for write/current
};

// Whether `desired` may replace what Consul holds (`now`, none if absent):
//  - absent: write, create-only (cas index 0);
//  - no valid epoch in its Meta (a registration by hand, or by a version
//    without the fence): write over it;
//  - a lower epoch: write;
//  - a higher epoch: never (newer) -- another instance saw a later failover;
//  - the same epoch, same address, port and tags: nothing to do (current);
//  - the same epoch, another address or tags: write only if this instance
//    wrote it (its own view moved on, as its topology decided; two unnamed
//    instances cannot be told apart, so the later wins); written by another
//    instance it is left alone (conflict), as Topology never lets an equal
//    epoch flip a choice either -- the writer corrects it itself.
FenceDecision consul_fence(const std::optional<ConsulEntry>& now, const ConsulService& desired);

// Whether a cluster removed from the configuration may be withdrawn: only
// an entry this instance wrote (or one without a writer): another instance
// may still serve the cluster. cas_index is set when it may.
bool consul_may_withdraw(const ConsulEntry& now, const ConsulService& s);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_path_escape(std::string_view s);
// The first line of a response body, without CR, at most 200 bytes; for logs.
std::string first_line(std::string_view body);

} // namespace rh
