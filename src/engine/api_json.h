// Rendering of the read-only HTTP API: JSON bodies and Prometheus metrics
// from a plain view struct the engine fills. Pure, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/proto.h"
#include "engine/events.h"

namespace rh {

struct ApiSentinel {
    std::string address; // host:port
    bool configured = false;
    bool trusted = false;
    std::string state;        // "up" | "down" | "connecting"
    int64_t last_updated = 0; // unix seconds; 0 = never
    std::vector<std::string> clusters;
    std::string last_error;
    double latency_ms = 0;
    uint64_t reconnects = 0;
};

// Why a Consul request failed: a closed set, for the metrics.
enum class ConsulError : uint8_t { connect, timeout, tls, http_4xx, http_5xx, other };
inline constexpr size_t kConsulErrorCount = 6;
const char* consul_error_name(ConsulError e);
const char* apply_error_name(proto::ApplyError e);

// One filled slot of a cluster's read backend (HAProxy server
// "replica<slot+1>").
struct ApiReadServer {
    uint16_t slot = 0; // 0-based
    HostPort addr;
};

struct ApiCluster {
    std::string name;
    uint16_t external_port = 0;
    std::optional<HostPort> master;
    std::string master_addr;   // the IP literal master's host led to ("" unknown)
    std::string resolve_error; // the last lookup of a master's name failed: why
    uint64_t epoch = 0;
    bool confirmed = false;
    int64_t confirmed_at = 0;
    bool stale = false;
    std::vector<std::string> corroborated_by;
    std::vector<HostPort> replicas;
    // The read backend ([cluster] replica_backend; empty: none) and the
    // healthy replicas the engine last sent the parent for it.
    std::string read_backend;
    uint16_t read_slots = 0; // max_replicas
    std::vector<ApiReadServer> read_servers;
    std::string apply_state = "none"; // "applied" | "pending" | "error" | "none"
    std::string apply_error;
    int64_t applied_at = 0;
    uint64_t switches = 0;
    int64_t last_switch = 0;
    std::string consul_state;
    std::string consul_error;
    uint64_t apply_errors = 0;
    uint64_t consul_errors = 0;
    // By reason, indexed by proto::ApplyError / ConsulError.
    std::array<uint64_t, proto::kApplyErrorCount> apply_errors_by{};
    std::array<uint64_t, kConsulErrorCount> consul_errors_by{};
    // When a trusted Sentinel last answered SENTINEL MASTER for this cluster
    // (unix seconds, 0 = never); `stale` covers it too (see decide.h).
    int64_t last_reread = 0;
    std::string consul_detail;     // why superseded (the fence), else empty
    uint64_t consul_fenced = 0;    // writes withheld by the fence
    uint64_t consul_conflicts = 0; // check-and-set writes refused
    // Fencing (redishappy.conf(5) fence): what the parent reports it did,
    // and what the Sentinels say now.
    bool fence = false; // fence = yes
    bool fenced = false;
    std::optional<HostPort> fenced_master; // the fenced (or last fenced) master
    int64_t fenced_since = 0;              // unix seconds of the last fence change
    int64_t fence_deadline = 0;            // when fence_timeout lifts it (fenced only)
    uint64_t fences = 0;                   // fences applied since the parent started
    std::string fence_lifted_by;           // "", "unfence", "switch", "timeout", "error"
    std::string fence_error;
    std::string fence_sentinels; // "fence", "unfence" or "unknown": the Sentinels' view
};

// A Prometheus histogram with fixed buckets: failover propagation, from
// the first sign of a switch to the parent's report that it is applied.
struct ApiHistogram {
    static constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,  0.5,    1,     2.5,  5,     10};
    std::array<uint64_t, kBounds.size()> buckets{}; // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
};

// The effective configuration as the engine knows it. Secrets are never
// stored here: only whether one is set (rendered as "***").
struct ApiConfigCluster {
    std::string name;
    uint16_t external_port = 0;
    bool password_set = false;
};
struct ApiConfigEntry { // anything else, rendered under "Settings"
    std::string section, key, value;
};
struct ApiConfig {
    std::vector<ApiConfigCluster> clusters;
    std::vector<HostPort> sentinels;
    bool sentinel_password_set = false;
    std::string haproxy_template_path, haproxy_output_path, haproxy_reload_command;
    std::string consul_address;
    std::vector<std::string> consul_services;
    bool consul_token_set = false;
    std::vector<HostPort> api_listen;
    std::vector<ApiConfigEntry> settings;
};

// A configured Sentinel address given by name, and what it resolved to.
struct ApiSentinelName {
    std::string name;                   // host:port as configured
    std::vector<std::string> sentinels; // the host:port ids of its last answer
    std::string resolve_error;          // the last lookup's failure, "" after a success
    int64_t resolved_at = 0;            // unix seconds; 0 = never
};

// The parts of a view a rendering needs (a bit set). Building all of it
// for every answer cost, at 10,000 clusters, a settings list of 20,000
// entries and each Sentinel's list of 10,000 names for an /api/topology
// that shows neither.
enum ApiParts : unsigned {
    kViewSentinels = 1u << 0, // sentinels (without their cluster lists), sentinel_names
    kViewMonitored = 1u << 1, // each Sentinel's clusters (with kViewSentinels)
    kViewClusters = 1u << 2,  // clusters, propagation histograms
    kViewEvents = 1u << 3,    // events, events_evicted
    kViewConfig = 1u << 4,    // config
    kViewAll = (1u << 5) - 1,
};

// What each rendering below reads of the view.
inline constexpr unsigned kConfigurationParts = kViewConfig;
inline constexpr unsigned kSentinelsParts = kViewSentinels | kViewMonitored;
inline constexpr unsigned kTopologyParts = kViewClusters;
inline constexpr unsigned kHealthParts = kViewSentinels | kViewClusters;
inline constexpr unsigned kMetricsParts = kViewSentinels | kViewClusters;
inline constexpr unsigned kEventsParts = kViewEvents | kViewClusters;

struct ApiView {
    std::vector<ApiSentinel> sentinels;
    std::vector<ApiSentinelName> sentinel_names;
    std::vector<ApiCluster> clusters;
    ApiConfig config;
    std::string version;
    int64_t started_at = 0;
    uint64_t sentinel_reconnects = 0;
    std::vector<Event> events; // oldest first (EventLog::last)
    uint64_t events_evicted = 0;
    ApiHistogram propagation_runtime;
    ApiHistogram propagation_reload;
};

struct ApiResponse {
    int status = 200;
    std::string body;
};

// "2026-11-23T10:00:00Z"; 0 (never) renders as Go's zero time
// "0001-01-01T00:00:00Z", as the original did.
std::string rfc3339_utc(int64_t unix_seconds);

// The original's numeric sentinel state: 1 up, 2 down, 4 unknown.
int sentinel_state_code(std::string_view state);

std::string render_configuration(const ApiView& v);
std::string render_sentinels(const ApiView& v);
std::string render_topology(const ApiView& v);
ApiResponse render_health(const ApiView& v);
std::string render_metrics(const ApiView& v);
// The process_* families of both processes (as the parent sampled them),
// the engine restarts and the API's own counters: what changes without a
// change of the view, rendered when /metrics is asked for.
std::string render_process_metrics(const std::optional<proto::ProcessStats>& st);

// Prometheus label value escaping: backslash, double quote and newline.
std::string prom_escape_label(std::string_view s);

// {"error": msg} with the given status (used for 404/405).
std::string render_error(std::string_view msg);

// GET /api/events's query: n (1 to kEventCapacity: the newest n) and cluster
// (a cluster name), each optional, at most once; nothing else. nullopt and
// *err for anything else.
struct EventsQuery {
    size_t n = 0; // 0: all
    std::string cluster;
};
std::optional<EventsQuery> parse_events_query(std::string_view query, std::string* err);

// The /api/events reply for a raw query string ("" for none): 200 with
// {"events": [...oldest first...], "capacity", "evicted"}, or 400 with
// {"error"} for a bad query or a cluster that is not configured.
ApiResponse render_events(const ApiView& v, std::string_view query);

} // namespace rh
