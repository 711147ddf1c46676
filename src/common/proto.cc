#include "common/proto.h"

#include <concepts>
#include <type_traits>

#include "common/validate.h"

namespace rh::proto {

const char* type_name(Type t) {
    switch (t) {
    case Type::ConfigBegin:
        return "config-begin";
    case Type::ConfigSentinel:
        return "config-sentinel";
    case Type::ConfigCluster:
        return "config-cluster";
    case Type::ConfigEnd:
        return "config-end";
    case Type::ApplyResult:
        return "apply-result";
    case Type::Shutdown:
        return "shutdown";
    case Type::ProcessStats:
        return "process-stats";
    case Type::Ready:
        return "ready";
    case Type::Master:
        return "master";
    case Type::Replicas:
        return "replicas";
    case Type::Fence:
        return "fence";
    case Type::Unfence:
        return "unfence";
    case Type::FenceState:
        return "fence-state";
    }
    return "unknown";
}

namespace {

bool known_type(uint16_t t) {
    switch (static_cast<Type>(t)) {
    case Type::ConfigBegin:
    case Type::ConfigSentinel:
    case Type::ConfigCluster:
    case Type::ConfigEnd:
    case Type::ApplyResult:
    case Type::Shutdown:
    case Type::ProcessStats:
    case Type::Ready:
    case Type::Master:
    case Type::Replicas:
    case Type::Fence:
    case Type::Unfence:
    case Type::FenceState:
        return true;
    }
    return false;
}

uint16_t get16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t get32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

template <typename T> constexpr Type type_of();
template <> constexpr Type type_of<ConfigBegin>() {
    return Type::ConfigBegin;
}
template <> constexpr Type type_of<ConfigSentinel>() {
    return Type::ConfigSentinel;
}
template <> constexpr Type type_of<ConfigCluster>() {
    return Type::ConfigCluster;
}
template <> constexpr Type type_of<ConfigEnd>() {
    return Type::ConfigEnd;
}
template <> constexpr Type type_of<ApplyResult>() {
    return Type::ApplyResult;
}
template <> constexpr Type type_of<Shutdown>() {
    return Type::Shutdown;
}
template <> constexpr Type type_of<ProcessStats>() {
    return Type::ProcessStats;
}
template <> constexpr Type type_of<Ready>() {
    return Type::Ready;
}
template <> constexpr Type type_of<Master>() {
    return Type::Master;
}
template <> constexpr Type type_of<Replicas>() {
    return Type::Replicas;
}
template <> constexpr Type type_of<Fence>() {
    return Type::Fence;
}
template <> constexpr Type type_of<Unfence>() {
    return Type::Unfence;
}
template <> constexpr Type type_of<FenceState>() {
    return Type::FenceState;
}

// ---- one description per message ------------------------------------------
//
// fields(io, m) names every field of a message once, in wire order, with its
// cap and the rule a decoded value must meet. The Encoder writes the fields
// (a value over its cap marks the writer failed); the Decoder reads them,
// checks each and stops at the first failure, naming the field. Adding a
// field to a message is one line here.

using NumRule = bool (*)(uint64_t);
using TextRule = bool (*)(std::string_view);

class Encoder {
  public:
    explicit Encoder(Writer& w) : w_(w) {}
    template <typename T> bool u8(const T& v, const char*, NumRule = nullptr, const char* = "") {
        w_.u8(static_cast<uint8_t>(v));
        return true;
    }
    template <typename T> bool u16(const T& v, const char*, NumRule = nullptr, const char* = "") {
        w_.u16(static_cast<uint16_t>(v));
        return true;
    }
    template <typename T> bool u32(const T& v, const char*, NumRule = nullptr, const char* = "") {
        w_.u32(static_cast<uint32_t>(v));
        return true;
    }
    template <typename T> bool u64(const T& v, const char*, NumRule = nullptr, const char* = "") {
        w_.u64(static_cast<uint64_t>(v));
        return true;
    }
    bool boolean(const bool& v, const char*) {
        w_.boolean(v);
        return true;
    }
    bool str(const std::string& s, const char*, size_t max, TextRule = nullptr, const char* = "") {
        w_.str(s, max);
        return true;
    }
    bool str_list(const std::vector<std::string>& v, const char*, size_t max, TextRule = nullptr,
                  const char* = "") {
        if (!count(v.size()))
            return true;
        for (auto& s : v)
            w_.str(s, max);
        return true;
    }
    bool host_port(const HostPort& hp, const char*) {
        w_.str(hp.host, kMaxHost);
        w_.u16(hp.port);
        return true;
    }
    bool host_port_list(const std::vector<HostPort>& v, const char* name) {
        if (!count(v.size()))
            return true;
        for (auto& hp : v)
            host_port(hp, name);
        return true;
    }
    bool opt_host_port(const std::optional<HostPort>& hp, const char* name) {
        w_.boolean(hp.has_value());
        return !hp || host_port(*hp, name);
    }
    bool replica_list(const std::vector<ReplicaAt>& v, const char* name) {
        if (v.size() > kMaxReplicaSlots) {
            w_.str(std::string(kMaxText + 1, ' '), kMaxText); // marks the writer failed
            return true;
        }
        w_.u16(static_cast<uint16_t>(v.size()));
        for (auto& r : v) {
            host_port(r.replica, name);
            w_.str(r.addr, kMaxHost);
            w_.u16(r.slot);
        }
        return true;
    }

  private:
    // A list longer than kMaxListItems cannot be sent: the writer fails.
    bool count(size_t n) {
        if (n > kMaxListItems) {
            w_.str(std::string(kMaxText + 1, ' '), kMaxText); // marks the writer failed
            return false;
        }
        w_.u16(static_cast<uint16_t>(n));
        return true;
    }
    Writer& w_;
};

class Decoder {
  public:
    Decoder(Reader& r, std::string* err) : r_(r), err_(err) {}
    template <typename T>
    bool u8(T& v, const char* name, NumRule ok = nullptr, const char* why = "out of range") {
        uint8_t x = 0;
        return r_.u8(&x) ? accept(v, x, name, ok, why) : fail(name, "truncated");
    }
    template <typename T>
    bool u16(T& v, const char* name, NumRule ok = nullptr, const char* why = "out of range") {
        uint16_t x = 0;
        return r_.u16(&x) ? accept(v, x, name, ok, why) : fail(name, "truncated");
    }
    template <typename T>
    bool u32(T& v, const char* name, NumRule ok = nullptr, const char* why = "out of range") {
        uint32_t x = 0;
        return r_.u32(&x) ? accept(v, x, name, ok, why) : fail(name, "truncated");
    }
    template <typename T>
    bool u64(T& v, const char* name, NumRule ok = nullptr, const char* why = "out of range") {
        uint64_t x = 0;
        return r_.u64(&x) ? accept(v, x, name, ok, why) : fail(name, "truncated");
    }
    bool boolean(bool& v, const char* name) {
        return r_.boolean(&v) || fail(name, "not a boolean");
    }
    bool str(std::string& s, const char* name, size_t max, TextRule ok = nullptr,
             const char* why = "") {
        if (!r_.str(&s, max))
            return fail(name, "bad string");
        return !ok || ok(s) || fail(name, why);
    }
    bool str_list(std::vector<std::string>& v, const char* name, size_t max, TextRule ok = nullptr,
                  const char* why = "") {
        uint16_t n = 0;
        if (!count(&n, name))
            return false;
        v.assign(n, std::string());
        for (auto& s : v)
            if (!str(s, name, max, ok, why))
                return false;
        return true;
    }
    bool host_port(HostPort& hp, const char* name) {
        if (!r_.str(&hp.host, kMaxHost) || !r_.u16(&hp.port))
            return fail(name, "truncated");
        if (!valid_host(hp.host))
            return fail(name, "invalid host");
        return hp.port != 0 || fail(name, "port 0");
    }
    bool host_port_list(std::vector<HostPort>& v, const char* name) {
        uint16_t n = 0;
        if (!count(&n, name))
            return false;
        v.assign(n, HostPort{});
        for (auto& hp : v)
            if (!host_port(hp, name))
                return false;
        return true;
    }
    bool opt_host_port(std::optional<HostPort>& hp, const char* name) {
        bool present = false;
        if (!r_.boolean(&present))
            return fail(name, "bad presence flag");
        hp.reset();
        if (!present)
            return true;
        return host_port(hp.emplace(), name);
    }
    // Replicas: at most kMaxReplicaSlots, each addr empty or an IP
    // literal, each slot below kMaxReplicaSlots and used once.
    bool replica_list(std::vector<ReplicaAt>& v, const char* name) {
        uint16_t n = 0;
        if (!r_.u16(&n))
            return fail(name, "truncated");
        if (n > kMaxReplicaSlots)
            return fail(name, "too many items");
        v.assign(n, ReplicaAt{});
        uint64_t used = 0;
        for (auto& r : v) {
            if (!host_port(r.replica, name))
                return false;
            if (!r_.str(&r.addr, kMaxHost) || !r_.u16(&r.slot))
                return fail(name, "truncated");
            if (!r.addr.empty() && !is_ipv4_literal(r.addr) && !is_ipv6_literal(r.addr))
                return fail(name, "addr is not an IP literal");
            if (r.slot >= kMaxReplicaSlots || (used >> r.slot) & 1)
                return fail(name, "bad or repeated slot");
            used |= uint64_t{1} << r.slot;
        }
        return true;
    }

  private:
    template <typename T, typename W>
    bool accept(T& v, W x, const char* name, NumRule ok, const char* why) {
        if (ok && !ok(x))
            return fail(name, why);
        v = static_cast<T>(x);
        return true;
    }
    bool count(uint16_t* n, const char* name) {
        if (!r_.u16(n))
            return fail(name, "truncated");
        return *n <= kMaxListItems || fail(name, "too many items");
    }
    bool fail(const char* name, const char* why) {
        *err_ = std::string(name) + ": " + why;
        return false;
    }
    Reader& r_;
    std::string* err_;
};

// The rules decoded values must meet.
bool printable_text(std::string_view s) {
    return printable(s);
}
bool cluster_name(std::string_view s) {
    return valid_cluster_name(s);
}
bool consul_mode(uint64_t v) {
    return v == static_cast<uint8_t>(ConsulMode::catalog) ||
           v == static_cast<uint8_t>(ConsulMode::agent);
}
bool log_level(uint64_t v) {
    return v <= 4;
}
bool log_facility(uint64_t v) {
    return v % 8 == 0 && v <= (23u << 3);
}
bool at_least_one(uint64_t v) {
    return v >= 1;
}
bool at_most_1024(uint64_t v) {
    return v <= 1024;
}
bool replica_slots(uint64_t v) {
    return v >= 1 && v <= kMaxReplicaSlots;
}
bool nonzero(uint64_t v) {
    return v != 0;
}
bool timer(uint64_t v) {
    return v >= 1 && v <= 24u * 3600 * 1000;
}
bool apply_state(uint64_t v) {
    return v >= 1 && v <= 4;
}
bool unix_time(uint64_t v) {
    return v <= (uint64_t{1} << 40);
}
bool unix_time_ms(uint64_t v) {
    return v <= (uint64_t{1} << 50);
}
bool apply_path(uint64_t v) {
    return v <= static_cast<uint8_t>(ApplyPath::Reload);
}
bool apply_error(uint64_t v) {
    return v < kApplyErrorCount;
}
// Sizes: below 2^56 bytes (64 PiB), the most a 64-bit Linux address space
// can hold; times below 2^50 ms (35,000 years of CPU).
bool bytes_cap(uint64_t v) {
    return v < (uint64_t{1} << 56);
}
bool cpu_ms_cap(uint64_t v) {
    return v < (uint64_t{1} << 50);
}

constexpr const char* kTimerRange = "out of range (1 ms to 24 h)";

// Each overload takes the message as M = const T (encoding) or T (decoding).
template <typename M, typename T>
concept Is = std::same_as<std::remove_const_t<M>, T>;

bool ip_literal(std::string_view s) {
    return is_ipv4_literal(s) || is_ipv6_literal(s);
}

bool empty_or_ip_literal(std::string_view s) {
    return s.empty() || ip_literal(s);
}

template <typename IO, Is<ConfigBegin> M> bool resolver_fields(IO& io, M& m) {
    return io.str(m.resolv_conf, "resolv_conf", kMaxText, printable_text, "control character") &&
           io.boolean(m.resolv_conf_set, "resolv_conf_set") &&
           io.str(m.hosts_file, "hosts_file", kMaxText, printable_text, "control character") &&
           io.u32(m.resolve_interval_ms, "resolve_interval", timer, kTimerRange) &&
           io.u32(m.resolve_timeout_ms, "resolve_timeout", timer, kTimerRange);
}

template <typename IO, Is<ConfigBegin> M> bool fields(IO& io, M& m) {
    return io.u64(m.generation, "generation") && io.u8(m.log_level, "log_level", log_level) &&
           io.u32(m.log_facility, "log_facility", log_facility) &&
           io.str(m.user, "user", kMaxName, printable_text, "control character") &&
           io.str(m.chroot_dir, "chroot", kMaxText, printable_text, "control character") &&
           io.host_port_list(m.api_listen, "api_listen") &&
           io.str(m.sentinel_password, "sentinel_password", kMaxSecret) &&
           io.u16(m.min_agreement, "min_agreement", at_least_one, "must be at least 1") &&
           io.boolean(m.trust_discovered, "trust_discovered") &&
           io.u16(m.max_discovered, "max_discovered", at_most_1024) &&
           io.u32(m.ping_interval_ms, "ping_interval", timer, kTimerRange) &&
           io.u32(m.ping_timeout_ms, "ping_timeout", timer, kTimerRange) &&
           io.u32(m.connect_timeout_ms, "connect_timeout", timer, kTimerRange) &&
           io.u32(m.reread_interval_ms, "reread_interval", timer, kTimerRange) &&
           io.u32(m.confirm_timeout_ms, "confirm_timeout", timer, kTimerRange) &&
           io.u32(m.forget_discovered_after_ms, "forget_discovered_after", timer, kTimerRange) &&
           io.u32(m.backoff_max_ms, "backoff_max", timer, kTimerRange) &&
           io.u64(m.max_epoch_jump, "max_epoch_jump") && io.boolean(m.consul, "consul") &&
           io.str(m.consul_address, "consul_address", kMaxText) &&
           io.u8(m.consul_mode, "consul_mode", consul_mode, "not catalog or agent") &&
           io.str(m.consul_token, "consul_token", kMaxSecret) &&
           io.str(m.consul_ca_pem, "consul_ca_pem", kMaxPem) &&
           io.u32(m.consul_timeout_ms, "consul_timeout") &&
           io.u32(m.consul_retry_max_ms, "consul_retry_max") &&
           io.u32(m.consul_refresh_ms, "consul_refresh") &&
           io.str(m.consul_instance, "consul_instance", kMaxConsulInstance, printable_text,
                  "control character") &&
           io.str(m.config_path, "config_path", kMaxText, printable_text, "control character") &&
           io.str(m.haproxy_template, "haproxy_template", kMaxText, printable_text,
                  "control character") &&
           io.str(m.haproxy_output, "haproxy_output", kMaxText, printable_text,
                  "control character") &&
           io.str(m.haproxy_check_command, "haproxy_check_command", kMaxText, printable_text,
                  "control character") &&
           io.str(m.haproxy_reload_command, "haproxy_reload_command", kMaxText, printable_text,
                  "control character") &&
           io.str(m.haproxy_runtime_socket, "haproxy_runtime_socket", kMaxText, printable_text,
                  "control character") &&
           io.str(m.sentinel_username, "sentinel_username", kMaxSecret) &&
           io.boolean(m.sentinel_tls, "sentinel_tls") &&
           io.str(m.tls_ca_file, "tls_ca_file", kMaxText, printable_text, "control character") &&
           io.str(m.tls_cert_file, "tls_cert_file", kMaxText, printable_text,
                  "control character") &&
           io.str(m.tls_key_file, "tls_key_file", kMaxText, printable_text, "control character") &&
           io.boolean(m.tls_verify, "tls_verify") &&
           io.str(m.tls_server_name, "tls_server_name", kMaxHost, printable_text,
                  "control character") &&
           resolver_fields(io, m);
}

template <typename IO, Is<ConfigSentinel> M> bool fields(IO& io, M& m) {
    return io.host_port(m.address, "address");
}

template <typename IO, Is<ConfigCluster> M> bool fields(IO& io, M& m) {
    constexpr const char* ctl = "control character";
    return io.str(m.name, "name", kMaxName, cluster_name, "invalid cluster name") &&
           io.u16(m.external_port, "external_port", nonzero, "port 0") &&
           io.str(m.password, "password", kMaxSecret) &&
           io.opt_host_port(m.applied_master, "applied_master") &&
           io.u64(m.applied_epoch, "applied_epoch") &&
           io.str(m.haproxy_backend, "haproxy_backend", kMaxName, printable_text, ctl) &&
           io.str(m.haproxy_server, "haproxy_server", kMaxName, printable_text, ctl) &&
           io.str(m.consul_service, "consul_service", kMaxText, printable_text, ctl) &&
           io.str(m.consul_service_id, "consul_service_id", kMaxText, printable_text, ctl) &&
           io.str(m.consul_node, "consul_node", kMaxText, printable_text, ctl) &&
           io.str(m.consul_datacenter, "consul_datacenter", kMaxText, printable_text, ctl) &&
           io.str_list(m.consul_tags, "consul_tags", kMaxText, printable_text, ctl) &&
           io.boolean(m.removed, "removed") && io.str(m.username, "username", kMaxSecret) &&
           io.boolean(m.tls, "tls") &&
           io.str(m.applied_addr, "applied_addr", kMaxIpLiteral, empty_or_ip_literal,
                  "not an IP literal") &&
           io.str(m.replica_backend, "replica_backend", kMaxName, printable_text, ctl) &&
           io.u16(m.max_replicas, "max_replicas", replica_slots, "out of range (1 to 64)") &&
           io.boolean(m.lag_limited, "lag_limited") && io.u64(m.max_replica_lag, "max_replica_lag") &&
           io.boolean(m.fence, "fence");
}

template <typename IO, Is<ConfigEnd> M> bool fields(IO& io, M& m) {
    return io.u64(m.generation, "generation") && io.u32(m.sentinels, "sentinels") &&
           io.u32(m.clusters, "clusters");
}

template <typename IO, Is<ApplyResult> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.u8(m.state, "state", apply_state) && io.opt_host_port(m.master, "master") &&
           io.u64(m.epoch, "epoch") && io.u64(m.at, "at", unix_time) &&
           io.str(m.error, "error", kMaxText) && io.u8(m.path, "path", apply_path) &&
           io.u8(m.reason, "reason", apply_error);
}

// Either side of a ProcessSample has one spelling: an absent sample is all
// zeros, so the fuzzer's re-encoding check holds and nothing stale shows.
template <typename IO, Is<ProcessSample> M> bool sample_fields(IO& io, M& m, const char* name) {
    if (!io.boolean(m.present, name))
        return false;
    if (!m.present)
        return true;
    return io.u64(m.rss_bytes, "rss", bytes_cap) && io.u64(m.vsize_bytes, "vsize", bytes_cap) &&
           io.u64(m.pss_bytes, "pss", bytes_cap) && io.u64(m.cpu_ms, "cpu", cpu_ms_cap) &&
           io.u32(m.open_fds, "open_fds") && io.u32(m.max_fds, "max_fds") &&
           io.u64(m.start_time_ms, "start_time", unix_time_ms);
}

template <typename IO, Is<ProcessStats> M> bool fields(IO& io, M& m) {
    return sample_fields(io, m.parent, "parent") && sample_fields(io, m.engine, "engine") &&
           io.u64(m.engine_restarts, "engine_restarts");
}

template <typename IO, Is<Shutdown> M> bool fields(IO&, M&) {
    return true;
}

template <typename IO, Is<Ready> M> bool fields(IO& io, M& m) {
    return io.u64(m.generation, "generation");
}

template <typename IO, Is<Master> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.host_port(m.master, "master") && io.u64(m.epoch, "epoch") &&
           io.boolean(m.more, "more") &&
           io.str(m.addr, "addr", kMaxIpLiteral, ip_literal, "not an IP literal");
}

template <typename IO, Is<Replicas> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.replica_list(m.replicas, "replicas") && io.boolean(m.more, "more");
}

bool fence_lift(uint64_t v) {
    return v < kFenceLiftCount;
}

template <typename IO, Is<Fence> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.host_port(m.master, "master") && io.u64(m.epoch, "epoch") &&
           io.u32(m.failover_timeout_ms, "failover_timeout");
}

template <typename IO, Is<Unfence> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.host_port(m.master, "master") && io.u64(m.epoch, "epoch");
}

template <typename IO, Is<FenceState> M> bool fields(IO& io, M& m) {
    return io.str(m.cluster, "cluster", kMaxName, cluster_name, "invalid cluster name") &&
           io.boolean(m.fenced, "fenced") && io.opt_host_port(m.master, "master") &&
           io.u64(m.epoch, "epoch") && io.u64(m.since, "since", unix_time) &&
           io.u64(m.deadline, "deadline", unix_time) && io.u64(m.fences, "fences") &&
           io.u8(m.lifted_by, "lifted_by", fence_lift) && io.str(m.error, "error", kMaxText);
}

template <typename T>
std::optional<Message> decode_as(std::span<const uint8_t> payload, std::string* err) {
    Reader r(payload);
    Decoder d(r, err);
    T m{};
    if (!fields(d, m))
        return std::nullopt;
    if (!r.end()) {
        *err = std::to_string(r.remaining()) + " bytes left over";
        return std::nullopt;
    }
    return std::optional<Message>(std::in_place, std::in_place_type<T>, std::move(m));
}

} // namespace

// ---- Writer / Reader ----

void Writer::u16(uint16_t v) {
    buf_.push_back(static_cast<uint8_t>(v >> 8));
    buf_.push_back(static_cast<uint8_t>(v));
}

void Writer::u32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        buf_.push_back(static_cast<uint8_t>(v >> shift));
}

void Writer::u64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        buf_.push_back(static_cast<uint8_t>(v >> shift));
}

void Writer::str(std::string_view s, size_t max) {
    if (s.size() > max || s.size() > 0xffff) {
        ok_ = false;
        return;
    }
    u16(static_cast<uint16_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
}

bool Reader::take(size_t n, const uint8_t** p) {
    if (n > remaining())
        return false;
    *p = data_.data() + pos_;
    pos_ += n;
    return true;
}

bool Reader::u8(uint8_t* v) {
    const uint8_t* p = nullptr;
    if (!take(1, &p))
        return false;
    *v = p[0];
    return true;
}

bool Reader::u16(uint16_t* v) {
    const uint8_t* p = nullptr;
    if (!take(2, &p))
        return false;
    *v = get16(p);
    return true;
}

bool Reader::u32(uint32_t* v) {
    const uint8_t* p = nullptr;
    if (!take(4, &p))
        return false;
    *v = get32(p);
    return true;
}

bool Reader::u64(uint64_t* v) {
    const uint8_t* p = nullptr;
    if (!take(8, &p))
        return false;
    *v = (uint64_t{get32(p)} << 32) | get32(p + 4);
    return true;
}

bool Reader::boolean(bool* v) {
    uint8_t b = 0;
    if (!u8(&b) || b > 1)
        return false;
    *v = b == 1;
    return true;
}

bool Reader::str(std::string* s, size_t max) {
    uint16_t n = 0;
    if (!u16(&n) || n > max)
        return false;
    const uint8_t* p = nullptr;
    if (!take(n, &p))
        return false;
    s->assign(reinterpret_cast<const char*>(p), n);
    return true;
}

// ---- frames ----

std::optional<std::vector<uint8_t>> encode(const Message& m, uint32_t seq, std::string* err) {
    Writer payload;
    Type type = Type::Shutdown;
    std::visit(
        [&](const auto& msg) {
            type = type_of<std::decay_t<decltype(msg)>>();
            Encoder enc(payload);
            fields(enc, msg);
        },
        m);
    if (!payload.ok() || payload.bytes().size() > kMaxPayload) {
        if (err)
            *err = std::string(type_name(type)) + ": message exceeds protocol limits";
        return std::nullopt;
    }
    Writer frame;
    frame.u16(static_cast<uint16_t>(type));
    frame.u16(kVersion);
    frame.u32(static_cast<uint32_t>(payload.bytes().size()));
    frame.u32(seq);
    std::vector<uint8_t> out = frame.bytes();
    out.insert(out.end(), payload.bytes().begin(), payload.bytes().end());
    return out;
}

FrameStatus parse_header(std::span<const uint8_t> buf, Header* hdr, std::string* err) {
    if (buf.size() < kHeaderSize)
        return FrameStatus::Incomplete;
    uint16_t type = get16(buf.data());
    uint16_t version = get16(buf.data() + 2);
    uint32_t length = get32(buf.data() + 4);
    uint32_t seq = get32(buf.data() + 8);
    if (version != kVersion) {
        *err = "protocol version " + std::to_string(version) + ", expected " +
               std::to_string(kVersion);
        return FrameStatus::Invalid;
    }
    if (!known_type(type)) {
        *err = "unknown message type " + std::to_string(type);
        return FrameStatus::Invalid;
    }
    if (length > kMaxPayload) {
        *err = std::string(type_name(static_cast<Type>(type))) + ": payload of " +
               std::to_string(length) + " bytes exceeds the cap";
        return FrameStatus::Invalid;
    }
    hdr->type = static_cast<Type>(type);
    hdr->version = version;
    hdr->length = length;
    hdr->seq = seq;
    if (buf.size() - kHeaderSize < length)
        return FrameStatus::Incomplete;
    return FrameStatus::Complete;
}

std::optional<Message> decode(const Header& hdr, std::span<const uint8_t> payload,
                              std::string* err) {
    std::string why;
    std::optional<Message> m;
    if (payload.size() != hdr.length) {
        why = "payload length does not match the header";
    } else {
        switch (hdr.type) {
        case Type::ConfigBegin:
            m = decode_as<ConfigBegin>(payload, &why);
            break;
        case Type::ConfigSentinel:
            m = decode_as<ConfigSentinel>(payload, &why);
            break;
        case Type::ConfigCluster:
            m = decode_as<ConfigCluster>(payload, &why);
            break;
        case Type::ConfigEnd:
            m = decode_as<ConfigEnd>(payload, &why);
            break;
        case Type::ApplyResult:
            m = decode_as<ApplyResult>(payload, &why);
            break;
        case Type::Shutdown:
            m = decode_as<Shutdown>(payload, &why);
            break;
        case Type::ProcessStats:
            m = decode_as<ProcessStats>(payload, &why);
            break;
        case Type::Ready:
            m = decode_as<Ready>(payload, &why);
            break;
        case Type::Master:
            m = decode_as<Master>(payload, &why);
            break;
        case Type::Replicas:
            m = decode_as<Replicas>(payload, &why);
            break;
        case Type::Fence:
            m = decode_as<Fence>(payload, &why);
            break;
        case Type::Unfence:
            m = decode_as<Unfence>(payload, &why);
            break;
        case Type::FenceState:
            m = decode_as<FenceState>(payload, &why);
            break;
        default:
            why = "unknown message type";
        }
    }
    if (!m && err)
        *err = std::string(type_name(hdr.type)) + ": " + why;
    return m;
}

Type message_type(const Message& m) {
    return std::visit([](const auto& x) { return type_of<std::decay_t<decltype(x)>>(); }, m);
}

} // namespace rh::proto
