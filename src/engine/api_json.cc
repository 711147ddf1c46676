// Rendering of the read-only HTTP API (see api_json.h).
#include "engine/api_json.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "common/validate.h"
#include "engine/json_writer.h"

namespace rh {

namespace {

void host_port_obj(JsonWriter& w, const HostPort& hp) {
    w.begin_object().key("Host").string(hp.host).key("Port").integer(hp.port).end_object();
}

void secret(JsonWriter& w, bool set) {
    set ? w.string("***") : w.null();
}

void string_array(JsonWriter& w, const std::vector<std::string>& v) {
    w.begin_array();
    for (const auto& s : v)
        w.string(s);
    w.end_array();
}

// A string, or null when empty.
void string_or_null(JsonWriter& w, const std::string& s) {
    s.empty() ? w.null() : w.string(s);
}

void config_clusters(JsonWriter& w, const ApiConfig& c) {
    w.begin_array();
    for (const auto& cl : c.clusters) {
        w.begin_object().key("Name").string(cl.name);
        w.key("ExternalPort").integer(cl.external_port).key("password");
        secret(w, cl.password_set);
        w.end_object();
    }
    w.end_array();
}

// {"section": {"key": "value", ...}, ...}: sections in the order they first
// appear; a key given twice keeps its first place and its last value (as
// jansson's object set did). One pass to group, linear in the settings:
// the engine adds two per cluster, each cluster a section of its own.
void config_settings(JsonWriter& w, const ApiConfig& c) {
    struct Section {
        std::vector<const ApiConfigEntry*> entries; // first place of each key
        std::unordered_map<std::string_view, size_t> by_key;
    };
    std::vector<Section> sections;
    std::unordered_map<std::string_view, size_t> by_name;
    for (const auto& e : c.settings) {
        auto [it, fresh] = by_name.try_emplace(e.section, sections.size());
        if (fresh)
            sections.emplace_back();
        Section& s = sections[it->second];
        auto [k, new_key] = s.by_key.try_emplace(e.key, s.entries.size());
        if (new_key)
            s.entries.push_back(&e);
        else
            s.entries[k->second] = &e; // the last value, at the first place
    }
    w.begin_object();
    for (const auto& s : sections) {
        w.key(s.entries.front()->section).begin_object();
        for (const ApiConfigEntry* e : s.entries)
            w.key(e->key).string(e->value);
        w.end_object();
    }
    w.end_object();
}

void sentinel_obj(JsonWriter& w, const ApiSentinel& s) {
    w.begin_object();
    w.key("sentinelLocation").string(s.address);
    w.key("lastUpdated").string(rfc3339_utc(s.last_updated));
    w.key("clusters");
    string_array(w, s.clusters);
    w.key("state").integer(sentinel_state_code(s.state));
    w.key("stateName").string(s.state);
    w.key("configured").boolean(s.configured);
    w.key("trusted").boolean(s.trusted);
    w.key("lastError").string(s.last_error);
    w.key("latencyMs").real(s.latency_ms);
    w.key("reconnects").integer(static_cast<int64_t>(s.reconnects));
    w.end_object();
}

// {"backend", "slots", "servers": [{"server", "slot", "ip", "port"}]}, or
// null without a replica_backend.
void read_backend_obj(JsonWriter& w, const ApiCluster& c) {
    if (c.read_backend.empty()) {
        w.null();
        return;
    }
    w.begin_object().key("backend").string(c.read_backend).key("slots").integer(c.read_slots);
    w.key("servers").begin_array();
    for (const auto& s : c.read_servers) {
        w.begin_object().key("server").string("replica" + std::to_string(s.slot + 1));
        w.key("slot").integer(s.slot + 1).key("ip").string(s.addr.host);
        w.key("port").integer(s.addr.port).end_object();
    }
    w.end_array().end_object();
}

void cluster_obj(JsonWriter& w, const ApiCluster& c) {
    w.begin_object();
    w.key("name").string(c.name);
    w.key("externalPort").integer(c.external_port);
    w.key("ip");
    c.master ? w.string(c.master->host) : w.null();
    w.key("port");
    c.master ? w.integer(c.master->port) : w.null();
    w.key("addr");
    c.master && !c.master_addr.empty() ? w.string(c.master_addr) : w.null();
    w.key("resolveError");
    string_or_null(w, c.resolve_error);
    w.key("epoch").integer(static_cast<int64_t>(c.epoch));
    w.key("confirmed").boolean(c.confirmed);
    w.key("confirmedAt").string(rfc3339_utc(c.confirmed_at));
    w.key("stale").boolean(c.stale);
    w.key("corroboratedBy");
    string_array(w, c.corroborated_by);
    w.key("replicas").begin_array();
    for (const auto& r : c.replicas)
        w.begin_object().key("ip").string(r.host).key("port").integer(r.port).end_object();
    w.end_array();
    w.key("readBackend");
    read_backend_obj(w, c);
    w.key("applied").begin_object();
    w.key("state").string(c.apply_state);
    w.key("error").string(c.apply_error);
    w.key("at").string(rfc3339_utc(c.applied_at));
    w.key("errors").integer(static_cast<int64_t>(c.apply_errors));
    w.end_object();
    w.key("switches").integer(static_cast<int64_t>(c.switches));
    w.key("lastSwitch").string(rfc3339_utc(c.last_switch));
    w.key("consul").begin_object();
    w.key("state").string(c.consul_state);
    w.key("error").string(c.consul_error);
    w.key("errors").integer(static_cast<int64_t>(c.consul_errors));
    w.key("detail").string(c.consul_detail);
    w.key("fenced").integer(static_cast<int64_t>(c.consul_fenced));
    w.key("casConflicts").integer(static_cast<int64_t>(c.consul_conflicts));
    w.end_object();
    if (c.fence) {
        w.key("fence").begin_object();
        w.key("fenced").boolean(c.fenced);
        w.key("ip");
        c.fenced_master ? w.string(c.fenced_master->host) : w.null();
        w.key("port");
        c.fenced_master ? w.integer(c.fenced_master->port) : w.null();
        w.key("since").string(rfc3339_utc(c.fenced_since));
        w.key("deadline").string(rfc3339_utc(c.fence_deadline));
        w.key("fences").integer(static_cast<int64_t>(c.fences));
        w.key("liftedBy").string(c.fence_lifted_by);
        w.key("error").string(c.fence_error);
        w.key("sentinels").string(c.fence_sentinels);
        w.end_object();
    }
    w.end_object();
}

// Metrics: one HELP/TYPE header then the samples of one family.
void family(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string label(const char* k, std::string_view v) {
    std::string s = k;
    s += "=\"";
    s += prom_escape_label(v);
    s += '"';
    return s;
}

// One exposition line: name{labels} value.
void sample_text(std::string& out, const char* name, const std::string& labels,
                 std::string_view value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

// The shortest of %.15g..%.17g that reads back as the same double:
// 0.04, not 0.040000000000000001.
void sample(std::string& out, const char* name, const std::string& labels, double value) {
    char buf[64];
    for (int precision = 15; precision <= 17; precision++) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (std::strtod(buf, nullptr) == value)
            break;
    }
    sample_text(out, name, labels, buf);
}

void sample_u(std::string& out, const char* name, const std::string& labels, uint64_t value) {
    sample_text(out, name, labels, std::to_string(value));
}

} // namespace

std::string rfc3339_utc(int64_t t) {
    if (t == 0)
        return "0001-01-01T00:00:00Z";
    time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    if (!gmtime_r(&tt, &tm))
        return "0001-01-01T00:00:00Z";
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int sentinel_state_code(std::string_view state) {
    if (state == "up")
        return 1;
    if (state == "down")
        return 2;
    return 4;
}

std::string render_configuration(const ApiView& v) {
    const ApiConfig& c = v.config;
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("Clusters");
    config_clusters(w, c);
    w.key("Sentinels").begin_array();
    for (const auto& s : c.sentinels)
        host_port_obj(w, s);
    w.end_array().key("SentinelPassword");
    secret(w, c.sentinel_password_set);
    w.key("HAProxy").begin_object();
    w.key("TemplatePath").string(c.haproxy_template_path);
    w.key("OutputPath").string(c.haproxy_output_path);
    w.key("ReloadCommand").string(c.haproxy_reload_command);
    w.end_object();
    w.key("Consul").begin_object().key("Address").string(c.consul_address).key("Services");
    string_array(w, c.consul_services);
    w.key("token");
    secret(w, c.consul_token_set);
    w.end_object();
    w.key("ApiListen").begin_array();
    for (const auto& l : c.api_listen)
        w.string(format_host_port(l));
    w.end_array().key("Settings");
    config_settings(w, c);
    w.key("version").string(v.version);
    w.key("startedAt").string(rfc3339_utc(v.started_at));
    w.end_object();
    return out + '\n';
}

std::string render_sentinels(const ApiView& v) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("sentinels").begin_object();
    for (const auto& s : v.sentinels) {
        w.key(s.address);
        sentinel_obj(w, s);
    }
    w.end_object();
    // Sentinels configured by name: each name's last answer, or why it
    // does not resolve (retried with backoff).
    w.key("names").begin_object();
    for (const auto& n : v.sentinel_names) {
        w.key(n.name).begin_object().key("sentinels");
        string_array(w, n.sentinels);
        w.key("resolveError");
        string_or_null(w, n.resolve_error);
        w.key("resolvedAt").string(rfc3339_utc(n.resolved_at));
        w.end_object();
    }
    w.end_object().end_object();
    return out + '\n';
}

std::string render_topology(const ApiView& v) {
    std::string out;
    // About 700 bytes a cluster: one allocation for most answers.
    out.reserve(1024 + v.clusters.size() * 768);
    JsonWriter w(out);
    w.begin_array();
    for (const auto& c : v.clusters)
        cluster_obj(w, c);
    w.end_array();
    out += '\n';
    return out;
}

ApiResponse render_health(const ApiView& v) {
    std::vector<std::string> reasons;
    bool any_up = false;
    for (const auto& s : v.sentinels)
        any_up = any_up || s.state == "up";
    if (!any_up)
        reasons.push_back("no sentinel is up");
    for (const auto& c : v.clusters) {
        if (!c.master)
            reasons.push_back("cluster " + c.name + ": no confirmed master");
        else if (c.apply_state != "applied")
            reasons.push_back("cluster " + c.name + ": master not applied (" + c.apply_state + ")");
    }
    ApiResponse r;
    JsonWriter w(r.body);
    w.begin_object().key("status");
    if (reasons.empty()) {
        w.string("ok");
        r.status = 200;
    } else {
        w.string("unhealthy").key("reasons");
        string_array(w, reasons);
        r.status = 503;
    }
    w.end_object();
    r.body += '\n';
    return r;
}

std::string prom_escape_label(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        if (ch == '\\')
            out += "\\\\";
        else if (ch == '"')
            out += "\\\"";
        else if (ch == '\n')
            out += "\\n";
        else
            out += ch;
    }
    return out;
}

const char* consul_error_name(ConsulError e) {
    switch (e) {
    case ConsulError::connect:
        return "connect";
    case ConsulError::timeout:
        return "timeout";
    case ConsulError::tls:
        return "tls";
    case ConsulError::http_4xx:
        return "http_4xx";
    case ConsulError::http_5xx:
        return "http_5xx";
    case ConsulError::other:
        break;
    }
    return "other";
}

const char* apply_error_name(proto::ApplyError e) {
    switch (e) {
    case proto::ApplyError::Render:
        return "render";
    case proto::ApplyError::Write:
        return "write";
    case proto::ApplyError::Check:
        return "check";
    case proto::ApplyError::Reload:
        return "reload";
    case proto::ApplyError::None:
        break;
    }
    return "none";
}

void ApiHistogram::observe(double seconds) {
    if (!(seconds >= 0)) // negative or NaN: a clock step, not a measurement
        return;
    for (size_t i = 0; i < kBounds.size(); i++) {
        if (seconds <= kBounds[i]) {
            buckets[i]++;
            break;
        }
    }
    count++;
    sum += seconds;
}

namespace {

void histogram(std::string& out, const char* name, const std::string& labels,
               const ApiHistogram& h) {
    std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    char le[32];
    for (size_t i = 0; i < h.kBounds.size(); i++) {
        cumulative += h.buckets[i];
        std::snprintf(le, sizeof le, "%g", h.kBounds[i]);
        sample_u(out, bucket.c_str(), labels + "," + label("le", le), cumulative);
    }
    sample_u(out, bucket.c_str(), labels + "," + label("le", "+Inf"), h.count);
    sample(out, (std::string(name) + "_sum").c_str(), labels, h.sum);
    sample_u(out, (std::string(name) + "_count").c_str(), labels, h.count);
}

} // namespace

std::string render_metrics(const ApiView& v) {
    std::string out;
    family(out, "redishappy_build_info", "gauge", "The running version; always 1.");
    sample_u(out, "redishappy_build_info", label("version", v.version), 1);
    family(out, "redishappy_cluster_switches_total", "counter", "Confirmed master switches.");
    for (const auto& c : v.clusters)
        sample_u(out, "redishappy_cluster_switches_total", label("cluster", c.name), c.switches);
    family(out, "redishappy_cluster_last_switch_timestamp_seconds", "gauge",
           "Unix time of the last confirmed switch (0 = never).");
    for (const auto& c : v.clusters)
        sample(out, "redishappy_cluster_last_switch_timestamp_seconds", label("cluster", c.name),
               static_cast<double>(c.last_switch));
    family(out, "redishappy_cluster_master_info", "gauge", "The confirmed master of a cluster.");
    for (const auto& c : v.clusters) {
        if (!c.master)
            continue;
        std::string l = label("cluster", c.name) + "," + label("host", c.master->host) + "," +
                        label("port", std::to_string(c.master->port));
        sample_u(out, "redishappy_cluster_master_info", l, 1);
    }
    family(out, "redishappy_cluster_epoch", "gauge", "Sentinel config epoch of the master.");
    for (const auto& c : v.clusters)
        sample_u(out, "redishappy_cluster_epoch", label("cluster", c.name), c.epoch);
    family(out, "redishappy_cluster_applied", "gauge",
           "1 when the parent has applied the current master.");
    for (const auto& c : v.clusters)
        sample_u(out, "redishappy_cluster_applied", label("cluster", c.name),
                 c.apply_state == "applied" ? 1 : 0);
    family(out, "redishappy_cluster_last_reread_timestamp_seconds", "gauge",
           "Unix time a trusted Sentinel last answered SENTINEL MASTER for the cluster "
           "(0 = never).");
    for (const auto& c : v.clusters)
        sample(out, "redishappy_cluster_last_reread_timestamp_seconds", label("cluster", c.name),
               static_cast<double>(c.last_reread));
    family(out, "redishappy_cluster_stale", "gauge",
           "1 when no trusted Sentinel re-read succeeded within the staleness window.");
    for (const auto& c : v.clusters)
        sample_u(out, "redishappy_cluster_stale", label("cluster", c.name), c.stale ? 1 : 0);
    family(out, "redishappy_fenced", "gauge",
           "1 while the cluster's master is fenced (fence = yes clusters only).");
    for (const auto& c : v.clusters)
        if (c.fence)
            sample_u(out, "redishappy_fenced", label("cluster", c.name), c.fenced ? 1 : 0);
    family(out, "redishappy_fences_total", "counter",
           "Fences applied to the cluster's master since the parent started.");
    for (const auto& c : v.clusters)
        if (c.fence)
            sample_u(out, "redishappy_fences_total", label("cluster", c.name), c.fences);
    family(out, "redishappy_failover_propagation_seconds", "histogram",
           "From the first sign of a switch to the new master applied, by path.");
    histogram(out, "redishappy_failover_propagation_seconds", label("path", "runtime"),
              v.propagation_runtime);
    histogram(out, "redishappy_failover_propagation_seconds", label("path", "reload"),
              v.propagation_reload);
    // Per cluster one total (the family's original shape); the step that
    // failed is counted over all clusters, so 10,000 clusters cost 10,000
    // lines here, not 10,000 per reason.
    family(out, "redishappy_apply_errors_total", "counter",
           "Failed applies of the cluster's master to HAProxy.");
    std::array<uint64_t, proto::kApplyErrorCount> apply_by{};
    for (const auto& c : v.clusters) {
        sample_u(out, "redishappy_apply_errors_total", label("cluster", c.name), c.apply_errors);
        for (size_t r = 0; r < apply_by.size(); r++)
            apply_by[r] += c.apply_errors_by[r];
    }
    family(out, "redishappy_apply_errors_by_reason_total", "counter",
           "Failed applies of a cluster's master, over all clusters, by the step that failed.");
    for (uint8_t r = 1; r < proto::kApplyErrorCount; r++)
        sample_u(out, "redishappy_apply_errors_by_reason_total",
                 label("reason", apply_error_name(static_cast<proto::ApplyError>(r))), apply_by[r]);
    bool consul = false;
    std::array<uint64_t, kConsulErrorCount> consul_by{};
    for (const auto& c : v.clusters) {
        if (c.consul_state.empty())
            continue; // no [consul]
        if (!consul)
            family(out, "redishappy_consul_errors_total", "counter", "Failed Consul requests.");
        consul = true;
        sample_u(out, "redishappy_consul_errors_total", label("cluster", c.name), c.consul_errors);
        for (size_t r = 0; r < consul_by.size(); r++)
            consul_by[r] += c.consul_errors_by[r];
    }
    if (consul) {
        family(out, "redishappy_consul_errors_by_reason_total", "counter",
               "Failed Consul requests, over all clusters, by reason.");
        for (size_t r = 0; r < kConsulErrorCount; r++)
            sample_u(out, "redishappy_consul_errors_by_reason_total",
                     label("reason", consul_error_name(static_cast<ConsulError>(r))), consul_by[r]);
        uint64_t fenced = 0, conflicts = 0, superseded = 0;
        for (const auto& c : v.clusters) {
            fenced += c.consul_fenced;
            conflicts += c.consul_conflicts;
            superseded += c.consul_state == "superseded" ? 1 : 0;
        }
        family(out, "redishappy_consul_fenced_writes_total", "counter",
               "Consul writes withheld because Consul held a newer epoch (another instance's).");
        sample_u(out, "redishappy_consul_fenced_writes_total", "", fenced);
        family(out, "redishappy_consul_cas_conflicts_total", "counter",
               "Consul check-and-set writes refused because another writer came first.");
        sample_u(out, "redishappy_consul_cas_conflicts_total", "", conflicts);
        family(out, "redishappy_consul_superseded_clusters", "gauge",
               "Clusters whose Consul registration another instance holds at a newer epoch.");
        sample_u(out, "redishappy_consul_superseded_clusters", "", superseded);
    }
    family(out, "redishappy_sentinel_up", "gauge", "1 when the Sentinel answers.");
    uint64_t up = 0;
    uint64_t links[2][2] = {}; // [discovered][up]
    for (const auto& s : v.sentinels) {
        bool is_up = s.state == "up";
        up += is_up ? 1 : 0;
        links[s.configured ? 0 : 1][is_up ? 1 : 0]++;
        sample_u(out, "redishappy_sentinel_up", label("sentinel", s.address), is_up ? 1 : 0);
    }
    family(out, "redishappy_sentinels_up", "gauge", "Sentinels currently up.");
    sample_u(out, "redishappy_sentinels_up", "", up);
    family(out, "redishappy_sentinel_links", "gauge",
           "Sentinel links by trust (configured or discovered) and state (up, or down "
           "including connecting).");
    for (int d = 0; d < 2; d++)
        for (int u = 1; u >= 0; u--)
            sample_u(out, "redishappy_sentinel_links",
                     label("trust", d ? "discovered" : "configured") + "," +
                         label("state", u ? "up" : "down"),
                     links[d][u]);
    family(out, "redishappy_sentinel_reconnects_total", "counter", "Reconnects per Sentinel.");
    for (const auto& s : v.sentinels)
        sample_u(out, "redishappy_sentinel_reconnects_total", label("sentinel", s.address),
                 s.reconnects);
    family(out, "redishappy_sentinel_latency_seconds", "gauge", "Last PING round trip.");
    for (const auto& s : v.sentinels)
        sample(out, "redishappy_sentinel_latency_seconds", label("sentinel", s.address),
               s.latency_ms / 1000.0);
    return out;
}

std::string render_process_metrics(const std::optional<proto::ProcessStats>& st) {
    std::string out;
    if (!st)
        return out; // not sampled yet: absent rather than zero
    struct Proc {
        const char* name;
        const proto::ProcessSample& s;
    };
    const Proc procs[] = {{"parent", st->parent}, {"engine", st->engine}};
    auto each = [&](const char* name, const char* type, const char* help, auto value,
                    bool (*shown)(const proto::ProcessSample&)) {
        family(out, name, type, help);
        for (const auto& p : procs)
            if (p.s.present && shown(p.s))
                sample(out, name, label("process", p.name), value(p.s));
    };
    auto always = [](const proto::ProcessSample&) { return true; };
    each(
        "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.rss_bytes); }, always);
    each(
        "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.vsize_bytes); }, always);
    each(
        "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.cpu_ms) / 1000.0; },
        always);
    each(
        "process_open_fds", "gauge", "Number of open file descriptors.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.open_fds); }, always);
    each(
        "process_max_fds", "gauge", "Maximum number of open file descriptors.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.max_fds); }, always);
    each(
        "process_start_time_seconds", "gauge", "Start time of the process since unix epoch.",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.start_time_ms) / 1000.0; },
        always);
    each(
        "redishappy_process_pss_bytes", "gauge",
        "Proportional set size in bytes (shared pages divided among their users).",
        [](const proto::ProcessSample& s) { return static_cast<double>(s.pss_bytes); },
        [](const proto::ProcessSample& s) { return s.pss_bytes != 0; });
    family(out, "redishappy_engine_restarts_total", "counter",
           "Engines that exited unasked and were restarted by the parent.");
    sample_u(out, "redishappy_engine_restarts_total", "", st->engine_restarts);
    return out;
}

std::string render_error(std::string_view msg) {
    std::string out;
    JsonWriter(out).begin_object().key("error").string(msg).end_object();
    return out + '\n';
}

} // namespace rh

namespace rh {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// %XX-decodes s; false on a malformed escape.
bool url_decode(std::string_view s, std::string* out) {
    out->clear();
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            *out += s[i];
            continue;
        }
        if (i + 2 >= s.size())
            return false;
        int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
        if (hi < 0 || lo < 0)
            return false;
        *out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

void event_obj(JsonWriter& w, const Event& e) {
    w.begin_object();
    w.key("time").integer(e.last_ms / 1000).key("timeMs").integer(e.last_ms);
    w.key("firstTime").integer(e.first_ms / 1000).key("firstTimeMs").integer(e.first_ms);
    w.key("count").integer(static_cast<int64_t>(e.count));
    w.key("cluster").string(e.cluster);
    w.key("kind").string(event_kind_name(e.kind));
    w.key("reason").string(event_reason_name(e.reason));
    w.key("detail").begin_object().key("master");
    e.detail.master ? w.string(format_host_port(*e.detail.master)) : w.null();
    w.key("epoch").integer(static_cast<int64_t>(e.detail.epoch));
    w.key("sentinel").string(e.detail.sentinel);
    w.key("trusted").boolean(e.detail.trusted);
    w.key("text").string(e.detail.text);
    w.end_object().end_object();
}

ApiResponse bad_query(const std::string& why) {
    return {400, render_error(why)};
}

} // namespace

std::optional<EventsQuery> parse_events_query(std::string_view query, std::string* err) {
    EventsQuery q;
    bool have_n = false, have_cluster = false;
    if (query.size() > 512) {
        *err = "query too long";
        return std::nullopt;
    }
    // Every &-separated part, the empty ones too ("n=1&" is malformed).
    bool more = !query.empty();
    while (more) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        more = amp != std::string_view::npos;
        query = more ? query.substr(amp + 1) : std::string_view{};
        size_t eq = pair.find('=');
        std::string key, value;
        if (eq == std::string_view::npos || !url_decode(pair.substr(0, eq), &key) ||
            !url_decode(pair.substr(eq + 1), &value)) {
            *err = "malformed query: expected n=N and/or cluster=NAME";
            return std::nullopt;
        }
        if (key == "n") {
            bool digits = !value.empty() && value.size() <= 6 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
            unsigned long n = digits ? std::strtoul(value.c_str(), nullptr, 10) : 0;
            if (have_n || n < 1 || n > kEventCapacity) {
                *err = have_n ? std::string("n given twice")
                              : "n must be an integer from 1 to " + std::to_string(kEventCapacity);
                return std::nullopt;
            }
            q.n = n;
            have_n = true;
        } else if (key == "cluster") {
            if (have_cluster || !valid_cluster_name(value)) {
                *err = have_cluster ? "cluster given twice" : "cluster must be a cluster name";
                return std::nullopt;
            }
            q.cluster = value;
            have_cluster = true;
        } else {
            *err = "unknown query parameter (expected n and cluster)";
            return std::nullopt;
        }
    }
    return q;
}

ApiResponse render_events(const ApiView& v, std::string_view query) {
    std::string err;
    auto q = parse_events_query(query, &err);
    if (!q)
        return bad_query(err);
    if (!q->cluster.empty()) {
        bool known = false;
        for (const auto& c : v.clusters)
            known = known || c.name == q->cluster;
        if (!known)
            return bad_query("no cluster named " + q->cluster + " is configured");
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("events").begin_array();
    // v.events is oldest first: keep the newest n that match.
    size_t matching = 0;
    for (const auto& e : v.events)
        matching += q->cluster.empty() || e.cluster == q->cluster;
    size_t skip = q->n != 0 && matching > q->n ? matching - q->n : 0;
    for (const auto& e : v.events) {
        if (!q->cluster.empty() && e.cluster != q->cluster)
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        event_obj(w, e);
    }
    w.end_array();
    w.key("capacity").integer(static_cast<int64_t>(kEventCapacity));
    w.key("evicted").integer(static_cast<int64_t>(v.events_evicted));
    w.end_object();
    return {200, out + '\n'};
}

} // namespace rh
