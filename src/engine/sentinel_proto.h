// Pure parsing of Sentinel replies and pub/sub messages. No I/O.
//
// Every parser checks type and shape before use and returns either a value or
// a reason naming what was wrong ("field 'ip': invalid host"). Hosts pass
// through rh::valid_host(), so injected text never leaves this module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/address.h"

struct redisReply;

namespace rh::sentinel {

// Limits on what a Sentinel may send us.
inline constexpr size_t max_masters = 10000;
inline constexpr size_t max_fields = 256;    // elements of one flat key/value array
inline constexpr size_t max_entries = 10000; // replicas or sentinels per cluster
inline constexpr size_t max_string = 4096;

template <typename T> struct Parsed {
    std::optional<T> value;
    std::string error; // set when value is empty

    static Parsed failure(std::string why) { return Parsed{std::nullopt, std::move(why)}; }
    static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
    explicit operator bool() const { return value.has_value(); }
};

struct MasterInfo {
    std::string name;
    HostPort addr;
    uint64_t config_epoch = 0;
    std::vector<std::string> flags;
    uint64_t num_slaves = 0;
    uint64_t num_other_sentinels = 0;
    uint64_t quorum = 0;
    // "failover-timeout" (ms), the default of fence_timeout; 0 when absent.
    uint64_t failover_timeout_ms = 0;

    bool has_flag(std::string_view f) const;
};

struct ReplicaInfo {
    HostPort addr;
    std::vector<std::string> flags;
    std::string master_link_status;
    // "slave-repl-offset", when the Sentinel reports it (Redis 2.8+ does).
    std::optional<uint64_t> repl_offset;

    bool has_flag(std::string_view f) const;
};

struct SentinelInfo {
    HostPort addr;
    std::string runid;
    std::vector<std::string> flags;
};

// Reply to SENTINEL MASTER <name>: one flat key/value array.
Parsed<MasterInfo> parse_master(const redisReply* r);
// Whether a SENTINEL MASTER <name> reply names addr as the master (its
// "ip" and "port" fields, byte for byte). Cheap, and no validation: a reply
// that passes is still parsed and judged by parse_master.
bool reply_names_master(const redisReply* r, const HostPort& addr);
// Reply to SENTINEL MASTERS: an array of flat key/value arrays.
Parsed<std::vector<MasterInfo>> parse_masters(const redisReply* r);
Parsed<std::vector<ReplicaInfo>> parse_replicas(const redisReply* r);
Parsed<std::vector<SentinelInfo>> parse_sentinels(const redisReply* r);
// Reply to ROLE: the first element, e.g. "master", "slave", "sentinel".
Parsed<std::string> parse_role(const redisReply* r);

// Reply to ROLE, with what the read backend needs (redis.io ROLE):
//   master:  ["master", offset, [[ip, port, offset], ...]]
//   replica: ["slave", master_ip, master_port, state, offset]
// Other roles ("sentinel") carry only the role.
struct RoleInfo {
    std::string role;
    uint64_t offset = 0; // master: its replication offset; replica: what it processed
    HostPort master;     // replica: the master it follows (host as it was configured)
    std::string state;   // replica: "connect", "connecting", "sync", "connected", ...
};
Parsed<RoleInfo> parse_role_info(const redisReply* r);

// Splits "s_down,o_down" into its flags (empty parts dropped).
std::vector<std::string> split_flags(std::string_view s);
// Strict decimal u64: digits only, no sign, no overflow.
std::optional<uint64_t> parse_u64(std::string_view s);

// ---- pub/sub events --------------------------------------------------

// "+switch-master <name> <oldip> <oldport> <newip> <newport>" (a hint: no epoch).
struct SwitchMaster {
    std::string master;
    HostPort from;
    HostPort to;
};

// "<type> <name> <ip> <port> [@ <master> <mip> <mport>]" as carried by
// +sdown/-sdown/+odown/-odown, +sentinel, +failover-end, +config-update-from.
struct InstanceEvent {
    std::string channel; // "+sdown", "+sentinel", ...
    std::string kind;    // "master", "slave" or "sentinel"
    std::string name;    // instance name (runid for sentinels, ip:port for slaves)
    HostPort addr;
    std::optional<std::string> master; // set when the "@ ..." part is present
    std::optional<HostPort> master_addr;
    std::string extra; // trailing text after the known fields (e.g. "#quorum 2/2")
};

using Event = std::variant<SwitchMaster, InstanceEvent>;

// The channels SentinelLink subscribes to.
const std::vector<std::string>& event_channels();

// Parses a message published on channel. Unknown channels are rejected.
Parsed<Event> parse_event(std::string_view channel, std::string_view payload);

// A pub/sub push: ["message", channel, payload]. Returns nullopt (and no
// error) for subscribe confirmations; an error for anything malformed.
struct PushMessage {
    std::string channel;
    std::string payload;
};
Parsed<std::optional<PushMessage>> parse_push(const redisReply* r);

} // namespace rh::sentinel
