#include "common/proto.h"

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
    case Type::Ready:
        return "ready";
    case Type::Master:
        return "master";
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
    case Type::Ready:
    case Type::Master:
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

// ---- per-field helpers shared by encoders and decoders ----

void put_host_port(Writer& w, const HostPort& hp) {
    w.str(hp.host, kMaxHost);
    w.u16(hp.port);
}

bool get_host_port(Reader& r, HostPort* hp, const char* field, std::string* err) {
    if (!r.str(&hp->host, kMaxHost) || !r.u16(&hp->port)) {
        *err = std::string(field) + ": truncated";
        return false;
    }
    if (!valid_host(hp->host)) {
        *err = std::string(field) + ": invalid host";
        return false;
    }
    if (hp->port == 0) {
        *err = std::string(field) + ": port 0";
        return false;
    }
    return true;
}

void put_opt_host_port(Writer& w, const std::optional<HostPort>& hp) {
    w.boolean(hp.has_value());
    if (hp)
        put_host_port(w, *hp);
}

bool get_opt_host_port(Reader& r, std::optional<HostPort>* hp, const char* field,
                       std::string* err) {
    bool present = false;
    if (!r.boolean(&present)) {
        *err = std::string(field) + ": bad presence flag";
        return false;
    }
    if (!present) {
        hp->reset();
        return true;
    }
    HostPort v;
    if (!get_host_port(r, &v, field, err))
        return false;
    *hp = std::move(v);
    return true;
}

void put_str_list(Writer& w, const std::vector<std::string>& v, size_t max_len) {
    if (v.size() > kMaxListItems) {
        w.str(std::string(kMaxText + 1, ' '), kMaxText); // marks the writer failed
        return;
    }
    w.u16(static_cast<uint16_t>(v.size()));
    for (auto& s : v)
        w.str(s, max_len);
}

bool get_str_list(Reader& r, std::vector<std::string>* v, size_t max_len) {
    uint16_t n = 0;
    if (!r.u16(&n) || n > kMaxListItems)
        return false;
    v->clear();
    for (uint16_t i = 0; i < n; i++) {
        std::string s;
        if (!r.str(&s, max_len))
            return false;
        v->push_back(std::move(s));
    }
    return true;
}

// ---- encoders ----

void put(Writer& w, const ConfigBegin& m) {
    w.u64(m.generation);
    w.u8(m.log_level);
    w.u32(static_cast<uint32_t>(m.log_facility));
    w.str(m.user, kMaxName);
    w.str(m.chroot_dir, kMaxText);
    if (m.api_listen.size() > kMaxListItems) {
        w.str(std::string(kMaxText + 1, ' '), kMaxText);
        return;
    }
    w.u16(static_cast<uint16_t>(m.api_listen.size()));
    for (auto& hp : m.api_listen)
        put_host_port(w, hp);
    w.str(m.sentinel_password, kMaxSecret);
    w.u16(m.min_agreement);
    w.boolean(m.trust_discovered);
    w.u32(m.ping_interval_ms);
    w.u32(m.ping_timeout_ms);
    w.u32(m.connect_timeout_ms);
    w.u32(m.reread_interval_ms);
    w.u32(m.confirm_timeout_ms);
    w.u32(m.forget_discovered_after_ms);
    w.u32(m.backoff_max_ms);
    w.u64(m.max_epoch_jump);
    w.boolean(m.consul);
    w.str(m.consul_address, kMaxText);
    w.str(m.consul_mode, kMaxName);
    w.str(m.consul_token, kMaxSecret);
    w.str(m.consul_ca_pem, kMaxPem);
    w.u32(m.consul_timeout_ms);
    w.u32(m.consul_retry_max_ms);
    w.str(m.config_path, kMaxText);
    w.str(m.haproxy_template, kMaxText);
    w.str(m.haproxy_output, kMaxText);
    w.str(m.haproxy_check_command, kMaxText);
    w.str(m.haproxy_reload_command, kMaxText);
    w.str(m.haproxy_runtime_socket, kMaxText);
}

void put(Writer& w, const ConfigSentinel& m) {
    put_host_port(w, m.address);
}

void put(Writer& w, const ConfigCluster& m) {
    w.str(m.name, kMaxName);
    w.u16(m.external_port);
    w.str(m.password, kMaxSecret);
    put_opt_host_port(w, m.applied_master);
    w.u64(m.applied_epoch);
    w.str(m.haproxy_backend, kMaxName);
    w.str(m.haproxy_server, kMaxName);
    w.str(m.consul_service, kMaxText);
    w.str(m.consul_service_id, kMaxText);
    w.str(m.consul_node, kMaxText);
    w.str(m.consul_datacenter, kMaxText);
    put_str_list(w, m.consul_tags, kMaxText);
    w.boolean(m.removed);
}

void put(Writer& w, const ConfigEnd& m) {
    w.u64(m.generation);
    w.u32(m.sentinels);
    w.u32(m.clusters);
}

void put(Writer& w, const ApplyResult& m) {
    w.str(m.cluster, kMaxName);
    w.u8(static_cast<uint8_t>(m.state));
    put_opt_host_port(w, m.master);
    w.u64(m.epoch);
    w.u64(static_cast<uint64_t>(m.at));
    w.str(m.error, kMaxText);
}

void put(Writer&, const Shutdown&) {}

void put(Writer& w, const Ready& m) {
    w.u64(m.generation);
}

void put(Writer& w, const Master& m) {
    w.str(m.cluster, kMaxName);
    put_host_port(w, m.master);
    w.u64(m.epoch);
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
template <> constexpr Type type_of<Ready>() {
    return Type::Ready;
}
template <> constexpr Type type_of<Master>() {
    return Type::Master;
}

// ---- decoders ----
// Each returns false with *err set; the caller adds the message type.

#define NEED(expr, what)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            *err = what;                                                                           \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

bool get(Reader& r, ConfigBegin* m, std::string* err) {
    NEED(r.u64(&m->generation), "generation: truncated");
    NEED(r.u8(&m->log_level), "log_level: truncated");
    NEED(m->log_level <= 4, "log_level: out of range");
    uint32_t facility = 0;
    NEED(r.u32(&facility), "log_facility: truncated");
    NEED(facility % 8 == 0 && facility <= (23u << 3), "log_facility: out of range");
    m->log_facility = static_cast<int32_t>(facility);
    NEED(r.str(&m->user, kMaxName), "user: bad string");
    NEED(printable(m->user), "user: control character");
    NEED(r.str(&m->chroot_dir, kMaxText), "chroot: bad string");
    NEED(printable(m->chroot_dir), "chroot: control character");
    uint16_t n = 0;
    NEED(r.u16(&n), "api_listen: truncated");
    NEED(n <= kMaxListItems, "api_listen: too many addresses");
    for (uint16_t i = 0; i < n; i++) {
        HostPort hp;
        if (!get_host_port(r, &hp, "api_listen", err))
            return false;
        m->api_listen.push_back(std::move(hp));
    }
    NEED(r.str(&m->sentinel_password, kMaxSecret), "sentinel_password: bad string");
    NEED(r.u16(&m->min_agreement), "min_agreement: truncated");
    NEED(m->min_agreement >= 1, "min_agreement: must be at least 1");
    NEED(r.boolean(&m->trust_discovered), "trust_discovered: not a boolean");
    uint32_t* timers[] = {&m->ping_interval_ms,   &m->ping_timeout_ms,
                          &m->connect_timeout_ms, &m->reread_interval_ms,
                          &m->confirm_timeout_ms, &m->forget_discovered_after_ms,
                          &m->backoff_max_ms};
    for (uint32_t* t : timers) {
        NEED(r.u32(t), "timer: truncated");
        NEED(*t >= 1 && *t <= 24u * 3600 * 1000, "timer: out of range (1 ms to 24 h)");
    }
    NEED(r.u64(&m->max_epoch_jump), "max_epoch_jump: truncated");
    NEED(r.boolean(&m->consul), "consul: not a boolean");
    NEED(r.str(&m->consul_address, kMaxText), "consul_address: bad string");
    NEED(r.str(&m->consul_mode, kMaxName), "consul_mode: bad string");
    NEED(m->consul_mode.empty() || m->consul_mode == "catalog" || m->consul_mode == "agent",
         "consul_mode: not catalog or agent");
    NEED(r.str(&m->consul_token, kMaxSecret), "consul_token: bad string");
    NEED(r.str(&m->consul_ca_pem, kMaxPem), "consul_ca_pem: bad string");
    NEED(r.u32(&m->consul_timeout_ms), "consul_timeout: truncated");
    NEED(r.u32(&m->consul_retry_max_ms), "consul_retry_max: truncated");
    std::string* texts[] = {
        &m->config_path,           &m->haproxy_template,       &m->haproxy_output,
        &m->haproxy_check_command, &m->haproxy_reload_command, &m->haproxy_runtime_socket};
    for (std::string* s : texts) {
        NEED(r.str(s, kMaxText), "display string: bad string");
        NEED(printable(*s), "display string: control character");
    }
    return true;
}

bool get(Reader& r, ConfigSentinel* m, std::string* err) {
    return get_host_port(r, &m->address, "address", err);
}

bool get(Reader& r, ConfigCluster* m, std::string* err) {
    NEED(r.str(&m->name, kMaxName), "name: bad string");
    NEED(valid_cluster_name(m->name), "name: invalid cluster name");
    NEED(r.u16(&m->external_port), "external_port: truncated");
    NEED(m->external_port != 0, "external_port: port 0");
    NEED(r.str(&m->password, kMaxSecret), "password: bad string");
    if (!get_opt_host_port(r, &m->applied_master, "applied_master", err))
        return false;
    NEED(r.u64(&m->applied_epoch), "applied_epoch: truncated");
    std::string* texts[] = {&m->haproxy_backend,   &m->haproxy_server, &m->consul_service,
                            &m->consul_service_id, &m->consul_node,    &m->consul_datacenter};
    for (std::string* s : texts) {
        NEED(r.str(s, s == &m->haproxy_backend || s == &m->haproxy_server ? kMaxName : kMaxText),
             "identifier: bad string");
        NEED(printable(*s), "identifier: control character");
    }
    NEED(get_str_list(r, &m->consul_tags, kMaxText), "consul_tags: bad list");
    for (auto& t : m->consul_tags)
        NEED(printable(t), "consul_tags: control character");
    NEED(r.boolean(&m->removed), "removed: not a boolean");
    return true;
}

bool get(Reader& r, ConfigEnd* m, std::string* err) {
    NEED(r.u64(&m->generation), "generation: truncated");
    NEED(r.u32(&m->sentinels), "sentinels: truncated");
    NEED(r.u32(&m->clusters), "clusters: truncated");
    return true;
}

bool get(Reader& r, ApplyResult* m, std::string* err) {
    NEED(r.str(&m->cluster, kMaxName), "cluster: bad string");
    NEED(valid_cluster_name(m->cluster), "cluster: invalid cluster name");
    uint8_t state = 0;
    NEED(r.u8(&state), "state: truncated");
    NEED(state >= 1 && state <= 4, "state: out of range");
    m->state = static_cast<ApplyState>(state);
    if (!get_opt_host_port(r, &m->master, "master", err))
        return false;
    NEED(r.u64(&m->epoch), "epoch: truncated");
    uint64_t at = 0;
    NEED(r.u64(&at), "at: truncated");
    NEED(at <= (uint64_t{1} << 40), "at: out of range");
    m->at = static_cast<int64_t>(at);
    NEED(r.str(&m->error, kMaxText), "error: bad string");
    return true;
}

bool get(Reader&, Shutdown*, std::string*) {
    return true;
}

bool get(Reader& r, Ready* m, std::string* err) {
    NEED(r.u64(&m->generation), "generation: truncated");
    return true;
}

bool get(Reader& r, Master* m, std::string* err) {
    NEED(r.str(&m->cluster, kMaxName), "cluster: bad string");
    NEED(valid_cluster_name(m->cluster), "cluster: invalid cluster name");
    if (!get_host_port(r, &m->master, "master", err))
        return false;
    NEED(r.u64(&m->epoch), "epoch: truncated");
    return true;
}

#undef NEED

template <typename T>
std::optional<Message> decode_as(std::span<const uint8_t> payload, std::string* err) {
    Reader r(payload);
    T m{};
    if (!get(r, &m, err))
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
            put(payload, msg);
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
        case Type::Ready:
            m = decode_as<Ready>(payload, &why);
            break;
        case Type::Master:
            m = decode_as<Master>(payload, &why);
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
