// The parent/engine message protocol. A pure codec: no I/O, so it can be
// unit-tested and fuzzed.
//
// A frame is a 12-byte header followed by the payload, all integers in network
// byte order:
//
//     u16 type | u16 version | u32 payload length | u32 sequence number
//
// The payload is a sequence of typed fields. Strings are a u16 length and that
// many bytes (never NUL-terminated on the wire); lists are a u16 count and that
// many items. Every field is read with a bounds-checked getter and every
// decoder ends by checking that no byte is left over. A frame whose version
// differs from ours is refused, so a parent and an engine from different
// builds refuse each other cleanly.
//
// The engine only ever sends facts (Ready, Master): never a path, a command or
// template text. The parent validates each fact again against its own
// configuration before acting on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/address.h"
#include "common/validate.h"

namespace rh::proto {

// 2: ApplyResult gained path and reason; ProcessStats. 3: Master.more.
// 4: Master.addr; ConfigBegin's resolver and TLS settings; ConfigCluster's
//    username, tls, read backend settings and fence; Replicas, Fence,
//    Unfence, FenceState.
inline constexpr uint16_t kVersion = 4;
inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxPayload = 64 * 1024;

// Caps on individual fields, checked on both ends.
inline constexpr size_t kMaxName = kMaxClusterName; // cluster names
inline constexpr size_t kMaxHost = 253;             // RFC 1123
inline constexpr size_t kMaxIpLiteral = 45;         // INET6_ADDRSTRLEN - 1
inline constexpr size_t kMaxSecret = 4096;          // passwords, tokens
inline constexpr size_t kMaxText = 1024;            // error texts, display strings
inline constexpr size_t kMaxPem = 48 * 1024;
inline constexpr size_t kMaxListItems = 1024;
// Read-backend slots per cluster: the most [cluster] max_replicas may be.
inline constexpr uint16_t kMaxReplicaSlots = 64;
inline constexpr uint16_t kDefaultReplicaSlots = 8;

enum class Type : uint16_t {
    // parent -> engine
    ConfigBegin = 1,    // global settings; starts a configuration transfer
    ConfigSentinel = 2, // one configured Sentinel
    ConfigCluster = 3,  // one configured cluster
    ConfigEnd = 4,      // the transfer is complete
    ApplyResult = 5,    // what the parent did with a cluster's master
    Shutdown = 6,
    ProcessStats = 7, // the parent's samples of both processes, for /metrics
    FenceState = 8,   // whether a cluster's master is fenced, and why (issue 15)
    // engine -> parent
    Ready = 32,    // configuration received and privileges dropped
    Master = 33,   // a cluster's confirmed master
    Replicas = 34, // a cluster's healthy replicas (the read backend)
    Fence = 35,    // the trusted Sentinels agree the applied master is o_down
    Unfence = 36,  // ... and now agree it is not
};

const char* type_name(Type t);

struct Header {
    Type type = Type::Shutdown;
    uint16_t version = kVersion;
    uint32_t length = 0;
    uint32_t seq = 0;
};

// ---- typed messages --------------------------------------------------------

struct ConfigBegin {
    uint64_t generation = 0;
    uint8_t log_level = 1;         // log::Level
    int32_t log_facility = 3 << 3; // LOG_DAEMON
    // Privilege drop: the engine chroots here (empty: no chroot) and becomes
    // this user when started as root.
    std::string user;
    std::string chroot_dir;
    std::vector<HostPort> api_listen;
    std::string sentinel_password;
    uint16_t min_agreement = 2;
    bool trust_discovered = false;
    uint16_t max_discovered = 16;
    uint32_t ping_interval_ms = 1000;
    uint32_t ping_timeout_ms = 1000;
    uint32_t connect_timeout_ms = 1000;
    uint32_t reread_interval_ms = 5000;
    uint32_t confirm_timeout_ms = 1000;
    uint32_t forget_discovered_after_ms = 600000;
    uint32_t backoff_max_ms = 10000;
    uint64_t max_epoch_jump = 1000;
    // Consul: the engine talks to it, the parent read the secrets for it.
    bool consul = false;
    std::string consul_address;
    ConsulMode consul_mode = ConsulMode::catalog;
    std::string consul_token;
    std::string consul_ca_pem;
    uint32_t consul_timeout_ms = 5000;
    uint32_t consul_retry_max_ms = 30000;
    uint32_t consul_refresh_ms = 0; // 0: never
    std::string consul_instance;
    // For /api/configuration only: what the parent does with the results.
    std::string config_path;
    std::string haproxy_template;
    std::string haproxy_output;
    std::string haproxy_check_command;
    std::string haproxy_reload_command;
    std::string haproxy_runtime_socket;
    // TLS ([tls]) and the ACL user of the Sentinels. The engine reads the
    // files before it drops privileges (it is re-executed on every reload).
    std::string sentinel_username;
    bool sentinel_tls = false;
    std::string tls_ca_file, tls_cert_file, tls_key_file;
    bool tls_verify = true;
    std::string tls_server_name;
    // The resolver, read by the engine before its chroot; the interval at
    // which Sentinel addresses given by name are looked up again.
    std::string resolv_conf = "/etc/resolv.conf";
    bool resolv_conf_set = false; // given in the configuration: unreadable is fatal
    std::string hosts_file = "/etc/hosts";
    uint32_t resolve_interval_ms = 30000;
    uint32_t resolve_timeout_ms = 5000;

    bool operator==(const ConfigBegin&) const = default;
};

struct ConfigSentinel {
    HostPort address;
    bool operator==(const ConfigSentinel&) const = default;
};

struct ConfigCluster {
    std::string name;
    uint16_t external_port = 0;
    std::string password;
    // The last master the parent applied (from its state file), if any.
    std::optional<HostPort> applied_master;
    uint64_t applied_epoch = 0;
    std::string haproxy_backend;
    std::string haproxy_server;
    std::string consul_service;
    std::string consul_service_id;
    std::string consul_node;
    std::string consul_datacenter;
    std::vector<std::string> consul_tags;
    // A cluster removed from the configuration by a reload: the engine only
    // withdraws it from Consul, and neither monitors nor reports it.
    bool removed = false;
    std::string username; // ACL user for ROLE
    bool tls = false;     // ROLE over TLS
    // The IP literal applied_master was reached at (empty: not known, as
    // from a state file written before names were resolved).
    std::string applied_addr;
    // The read backend (replicas.h in the engine): the HAProxy backend
    // whose slots hold the healthy replicas (empty: no read backend, the
    // engine sends no Replicas), its slot count, and the replication lag
    // beyond which a replica leaves it (when lag_limited).
    std::string replica_backend;
    uint16_t max_replicas = kDefaultReplicaSlots;
    bool lag_limited = false;
    uint64_t max_replica_lag = 0; // bytes of replication offset
    // [cluster NAME] fence: the engine reports o_down of the applied master.
    bool fence = false;

    bool operator==(const ConfigCluster&) const = default;
};

struct ConfigEnd {
    uint64_t generation = 0;
    uint32_t sentinels = 0; // counts, so a truncated transfer is detected
    uint32_t clusters = 0;
    bool operator==(const ConfigEnd&) const = default;
};

enum class ApplyState : uint8_t { Applied = 1, Error = 2, Pending = 3, None = 4 };

// How an Applied master reached HAProxy: through the runtime socket, by a
// reload, or neither (no [haproxy], only the file changed, or a replay of
// what was already in effect).
enum class ApplyPath : uint8_t { None = 0, Runtime = 1, Reload = 2 };
// Which step of an apply failed (state Error); None otherwise. A closed set,
// so the engine can count errors by reason without reading error texts.
enum class ApplyError : uint8_t { None = 0, Render = 1, Write = 2, Check = 3, Reload = 4 };
inline constexpr uint8_t kApplyErrorCount = 5;

struct ApplyResult {
    std::string cluster;
    ApplyState state = ApplyState::Applied;
    std::optional<HostPort> master; // what HAProxy now points at
    uint64_t epoch = 0;
    int64_t at = 0; // unix seconds
    std::string error;
    ApplyPath path = ApplyPath::None;
    ApplyError reason = ApplyError::None;
    bool operator==(const ApplyResult&) const = default;
};

// One process as the parent sampled it from /proc (the engine, chrooted,
// cannot read its own). Sizes in bytes, times in milliseconds.
struct ProcessSample {
    bool present = false; // false: not sampled (no engine running, /proc unreadable)
    uint64_t rss_bytes = 0;
    uint64_t vsize_bytes = 0;
    uint64_t pss_bytes = 0; // 0: unknown (no smaps_rollup)
    uint64_t cpu_ms = 0;    // user + system
    uint32_t open_fds = 0;
    uint32_t max_fds = 0;       // soft RLIMIT_NOFILE
    uint64_t start_time_ms = 0; // unix time
    bool operator==(const ProcessSample&) const = default;
};

struct ProcessStats {
    ProcessSample parent;
    ProcessSample engine;
    uint64_t engine_restarts = 0; // engines that exited unasked since the parent started
    bool operator==(const ProcessStats&) const = default;
};

struct Shutdown {
    bool operator==(const Shutdown&) const = default;
};

struct Ready {
    uint64_t generation = 0;
    bool operator==(const Ready&) const = default;
};

struct Master {
    std::string cluster;
    HostPort master; // as the Sentinels announced it: an IP literal or a host name
    uint64_t epoch = 0;
    // More Masters of the same burst follow at once (the engine sends a
    // storm as one burst): the parent waits for the last before it applies,
    // for at most a bounded time (output.h), so a burst is one batch.
    bool more = false;
    // The IP literal the ROLE check reached (master.host itself when that is
    // one): what HAProxy's runtime switch is given. Required on the wire.
    std::string addr{};
    bool operator==(const Master&) const = default;
};

// One healthy replica in the read backend.
struct ReplicaAt {
    HostPort replica;  // as Sentinel announced it
    std::string addr;  // the IP literal its ROLE check used; empty: replica.host is one
    uint16_t slot = 0; // 0-based, below the cluster's max_replicas
    bool operator==(const ReplicaAt&) const = default;
};

// The complete read backend of a cluster (not a change): every healthy
// replica of the current master, with its slot. Sent after the Master it
// belongs to, and coalesced with masters: `more` as in Master.
struct Replicas {
    std::string cluster;
    std::vector<ReplicaAt> replicas; // at most kMaxReplicaSlots, distinct slots
    bool more = false;
    bool operator==(const Replicas&) const = default;
};

// The trusted Sentinels (min_agreement of them) report the cluster's
// applied master (master at epoch) objectively down: the parent fences it
// (maint, shutdown sessions). failover_timeout_ms: Sentinel's
// failover-timeout for the cluster as the engine read it (0: unknown), the
// default of fence_timeout.
struct Fence {
    std::string cluster;
    HostPort master;
    uint64_t epoch = 0;
    uint32_t failover_timeout_ms = 0;
    bool operator==(const Fence&) const = default;
};

// The trusted Sentinels agree master at epoch is no longer objectively down.
struct Unfence {
    std::string cluster;
    HostPort master;
    uint64_t epoch = 0;
    bool operator==(const Unfence&) const = default;
};

// What the parent did about fencing a cluster (it owns the fence and its
// timer): sent when it changes, and replayed to a new engine.
enum class FenceLift : uint8_t { None = 0, Unfence = 1, Switch = 2, Timeout = 3, Error = 4 };
inline constexpr uint8_t kFenceLiftCount = 5;

struct FenceState {
    std::string cluster;
    bool fenced = false;
    std::optional<HostPort> master; // the fenced (or last fenced) master
    uint64_t epoch = 0;
    int64_t since = 0;                     // unix seconds of the last change
    int64_t deadline = 0;                  // unix seconds the fence_timeout ends (fenced only)
    uint64_t fences = 0;                   // fences applied since the parent started
    FenceLift lifted_by = FenceLift::None; // why the last fence ended
    std::string error;                     // the runtime socket's failure, if any
    bool operator==(const FenceState&) const = default;
};

using Message = std::variant<ConfigBegin, ConfigSentinel, ConfigCluster, ConfigEnd, ApplyResult,
                             Shutdown, ProcessStats, Ready, Master, Replicas, Fence, Unfence,
                             FenceState>;

// The wire type of m; with type_name(), how logs name a message.
Type message_type(const Message& m);

// ---- encoding --------------------------------------------------------------

// Encodes a complete frame. Fails (nullopt) only if the message does not fit
// the caps; callers treat that as a programming or configuration error.
std::optional<std::vector<uint8_t>> encode(const Message& m, uint32_t seq, std::string* err);

// ---- decoding --------------------------------------------------------------

enum class FrameStatus { Incomplete, Complete, Invalid };

// Looks at the start of buf. Complete: *hdr is set and the frame occupies
// kHeaderSize + hdr->length bytes. Invalid: *err says why (bad version,
// unknown type, length over the cap); the stream cannot be trusted further.
FrameStatus parse_header(std::span<const uint8_t> buf, Header* hdr, std::string* err);

// Decodes the payload of a frame whose header parse_header accepted. Every
// field is range-checked; leftover bytes are an error.
std::optional<Message> decode(const Header& hdr, std::span<const uint8_t> payload,
                              std::string* err);

// The shared rule (common/validate.h), as every decoder applies it.
using rh::valid_cluster_name;

// ---- field-level reader and writer (exposed for tests) ---------------------

class Writer {
  public:
    void u8(uint8_t v) { buf_.push_back(v); }
    void u16(uint16_t v);
    void u32(uint32_t v);
    void u64(uint64_t v);
    void boolean(bool v) { u8(v ? 1 : 0); }
    // Marks the writer failed (see ok()) if s is longer than max.
    void str(std::string_view s, size_t max);
    bool ok() const { return ok_; }
    const std::vector<uint8_t>& bytes() const { return buf_; }

  private:
    std::vector<uint8_t> buf_;
    bool ok_ = true;
};

class Reader {
  public:
    explicit Reader(std::span<const uint8_t> data) : data_(data) {}
    bool u8(uint8_t* v);
    bool u16(uint16_t* v);
    bool u32(uint32_t* v);
    bool u64(uint64_t* v);
    bool boolean(bool* v); // only 0 or 1
    bool str(std::string* s, size_t max);
    // True when every byte was consumed.
    bool end() const { return pos_ == data_.size(); }
    size_t remaining() const { return data_.size() - pos_; }

  private:
    bool take(size_t n, const uint8_t** p);
    std::span<const uint8_t> data_;
    size_t pos_ = 0;
};

} // namespace rh::proto
