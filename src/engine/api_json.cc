// Rendering of the read-only HTTP API (see api_json.h).
#include "engine/api_json.h"

#include <jansson.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "common/log.h"
#include "common/validate.h"

namespace rh {

namespace {

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// Text from the network (a Sentinel's error, an announced name) may be
// anything; jansson refuses a string that is not UTF-8 (null: the key
// would silently vanish from the object). Such text is shown escaped, as
// the log shows it.
json_t* str(std::string_view s) {
    if (json_t* j = json_stringn(s.data(), s.size()))
        return j;
    std::string escaped;
    log::escape(s, &escaped);
    return json_stringn(escaped.data(), escaped.size());
}

json_t* str_array(const std::vector<std::string>& v) {
    json_t* a = json_array();
    for (const auto& s : v)
        json_array_append_new(a, str(s));
    return a;
}

json_t* host_port_obj(const HostPort& hp) {
    json_t* o = json_object();
    json_object_set_new(o, "Host", str(hp.host));
    json_object_set_new(o, "Port", json_integer(hp.port));
    return o;
}

json_t* secret(bool set) {
    return set ? json_string("***") : json_null();
}

std::string dump(const JsonPtr& j) {
    char* s = json_dumps(j.get(), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return "null";
    std::string out(s);
    std::free(s);
    out += '\n';
    return out;
}

json_t* config_clusters(const ApiConfig& c) {
    json_t* a = json_array();
    for (const auto& cl : c.clusters) {
        json_t* o = json_object();
        json_object_set_new(o, "Name", str(cl.name));
        json_object_set_new(o, "ExternalPort", json_integer(cl.external_port));
        json_object_set_new(o, "password", secret(cl.password_set));
        json_array_append_new(a, o);
    }
    return a;
}

json_t* config_settings(const ApiConfig& c) {
    json_t* o = json_object();
    for (const auto& e : c.settings) {
        json_t* sec = json_object_get(o, e.section.c_str());
        if (!sec) {
            sec = json_object();
            json_object_set_new(o, e.section.c_str(), sec);
        }
        json_object_set_new(sec, e.key.c_str(), str(e.value));
    }
    return o;
}

json_t* sentinel_obj(const ApiSentinel& s) {
    json_t* o = json_object();
    json_object_set_new(o, "sentinelLocation", str(s.address));
    json_object_set_new(o, "lastUpdated", str(rfc3339_utc(s.last_updated)));
    json_object_set_new(o, "clusters", str_array(s.clusters));
    json_object_set_new(o, "state", json_integer(sentinel_state_code(s.state)));
    json_object_set_new(o, "stateName", str(s.state));
    json_object_set_new(o, "configured", json_boolean(s.configured));
    json_object_set_new(o, "trusted", json_boolean(s.trusted));
    json_object_set_new(o, "lastError", str(s.last_error));
    json_object_set_new(o, "latencyMs", json_real(s.latency_ms));
    json_object_set_new(o, "reconnects", json_integer(static_cast<json_int_t>(s.reconnects)));
    return o;
}

// {"backend", "slots", "servers": [{"server", "slot", "ip", "port"}]}, or
// null without a replica_backend.
json_t* read_backend_obj(const ApiCluster& c) {
    if (c.read_backend.empty())
        return json_null();
    json_t* o = json_object();
    json_object_set_new(o, "backend", str(c.read_backend));
    json_object_set_new(o, "slots", json_integer(c.read_slots));
    json_t* servers = json_array();
    for (const auto& s : c.read_servers) {
        json_t* so = json_object();
        json_object_set_new(so, "server", str("replica" + std::to_string(s.slot + 1)));
        json_object_set_new(so, "slot", json_integer(s.slot + 1));
        json_object_set_new(so, "ip", str(s.addr.host));
        json_object_set_new(so, "port", json_integer(s.addr.port));
        json_array_append_new(servers, so);
    }
    json_object_set_new(o, "servers", servers);
    return o;
}

json_t* cluster_obj(const ApiCluster& c) {
    json_t* o = json_object();
    json_object_set_new(o, "name", str(c.name));
    json_object_set_new(o, "externalPort", json_integer(c.external_port));
    json_object_set_new(o, "ip", c.master ? str(c.master->host) : json_null());
    json_object_set_new(o, "port", c.master ? json_integer(c.master->port) : json_null());
    json_object_set_new(o, "addr",
                        c.master && !c.master_addr.empty() ? str(c.master_addr) : json_null());
    json_object_set_new(o, "resolveError",
                        c.resolve_error.empty() ? json_null() : str(c.resolve_error));
    json_object_set_new(o, "epoch", json_integer(static_cast<json_int_t>(c.epoch)));
    json_object_set_new(o, "confirmed", json_boolean(c.confirmed));
    json_object_set_new(o, "confirmedAt", str(rfc3339_utc(c.confirmed_at)));
    json_object_set_new(o, "stale", json_boolean(c.stale));
    json_object_set_new(o, "corroboratedBy", str_array(c.corroborated_by));
    json_t* reps = json_array();
    for (const auto& r : c.replicas) {
        json_t* ro = json_object();
        json_object_set_new(ro, "ip", str(r.host));
        json_object_set_new(ro, "port", json_integer(r.port));
        json_array_append_new(reps, ro);
    }
    json_object_set_new(o, "replicas", reps);
    json_object_set_new(o, "readBackend", read_backend_obj(c));
    json_t* ap = json_object();
    json_object_set_new(ap, "state", str(c.apply_state));
    json_object_set_new(ap, "error", str(c.apply_error));
    json_object_set_new(ap, "at", str(rfc3339_utc(c.applied_at)));
    json_object_set_new(ap, "errors", json_integer(static_cast<json_int_t>(c.apply_errors)));
    json_object_set_new(o, "applied", ap);
    json_object_set_new(o, "switches", json_integer(static_cast<json_int_t>(c.switches)));
    json_object_set_new(o, "lastSwitch", str(rfc3339_utc(c.last_switch)));
    json_t* co = json_object();
    json_object_set_new(co, "state", str(c.consul_state));
    json_object_set_new(co, "error", str(c.consul_error));
    json_object_set_new(co, "errors", json_integer(static_cast<json_int_t>(c.consul_errors)));
    json_object_set_new(co, "detail", str(c.consul_detail));
    json_object_set_new(co, "fenced", json_integer(static_cast<json_int_t>(c.consul_fenced)));
    json_object_set_new(co, "casConflicts",
                        json_integer(static_cast<json_int_t>(c.consul_conflicts)));
    json_object_set_new(o, "consul", co);
    if (c.fence) {
        json_t* fo = json_object();
        json_object_set_new(fo, "fenced", json_boolean(c.fenced));
        json_object_set_new(fo, "ip", c.fenced_master ? str(c.fenced_master->host) : json_null());
        json_object_set_new(fo, "port",
                            c.fenced_master ? json_integer(c.fenced_master->port) : json_null());
        json_object_set_new(fo, "since", str(rfc3339_utc(c.fenced_since)));
        json_object_set_new(fo, "deadline", str(rfc3339_utc(c.fence_deadline)));
        json_object_set_new(fo, "fences", json_integer(static_cast<json_int_t>(c.fences)));
        json_object_set_new(fo, "liftedBy", str(c.fence_lifted_by));
        json_object_set_new(fo, "error", str(c.fence_error));
        json_object_set_new(fo, "sentinels", str(c.fence_sentinels));
        json_object_set_new(o, "fence", fo);
    }
    return o;
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
    JsonPtr o(json_object());
    json_object_set_new(o.get(), "Clusters", config_clusters(c));
    json_t* sents = json_array();
    for (const auto& s : c.sentinels)
        json_array_append_new(sents, host_port_obj(s));
    json_object_set_new(o.get(), "Sentinels", sents);
    json_object_set_new(o.get(), "SentinelPassword", secret(c.sentinel_password_set));
    json_t* hap = json_object();
    json_object_set_new(hap, "TemplatePath", str(c.haproxy_template_path));
    json_object_set_new(hap, "OutputPath", str(c.haproxy_output_path));
    json_object_set_new(hap, "ReloadCommand", str(c.haproxy_reload_command));
    json_object_set_new(o.get(), "HAProxy", hap);
    json_t* con = json_object();
    json_object_set_new(con, "Address", str(c.consul_address));
    json_object_set_new(con, "Services", str_array(c.consul_services));
    json_object_set_new(con, "token", secret(c.consul_token_set));
    json_object_set_new(o.get(), "Consul", con);
    json_t* api = json_array();
    for (const auto& l : c.api_listen)
        json_array_append_new(api, str(format_host_port(l)));
    json_object_set_new(o.get(), "ApiListen", api);
    json_object_set_new(o.get(), "Settings", config_settings(c));
    json_object_set_new(o.get(), "version", str(v.version));
    json_object_set_new(o.get(), "startedAt", str(rfc3339_utc(v.started_at)));
    return dump(o);
}

std::string render_sentinels(const ApiView& v) {
    JsonPtr o(json_object());
    json_t* m = json_object();
    for (const auto& s : v.sentinels)
        json_object_set_new(m, s.address.c_str(), sentinel_obj(s));
    json_object_set_new(o.get(), "sentinels", m);
    // Sentinels configured by name: each name's last answer, or why it
    // does not resolve (retried with backoff).
    json_t* names = json_object();
    for (const auto& n : v.sentinel_names) {
        json_t* no = json_object();
        json_t* ids = json_array();
        for (const auto& id : n.sentinels)
            json_array_append_new(ids, str(id));
        json_object_set_new(no, "sentinels", ids);
        json_object_set_new(no, "resolveError",
                            n.resolve_error.empty() ? json_null() : str(n.resolve_error));
        json_object_set_new(no, "resolvedAt", str(rfc3339_utc(n.resolved_at)));
        json_object_set_new(names, n.name.c_str(), no);
    }
    json_object_set_new(o.get(), "names", names);
    return dump(o);
}

std::string render_topology(const ApiView& v) {
    JsonPtr a(json_array());
    for (const auto& c : v.clusters)
        json_array_append_new(a.get(), cluster_obj(c));
    return dump(a);
}

ApiResponse render_health(const ApiView& v) {
    JsonPtr reasons(json_array());
    bool any_up = false;
    for (const auto& s : v.sentinels)
        any_up = any_up || s.state == "up";
    if (!any_up)
        json_array_append_new(reasons.get(), json_string("no sentinel is up"));
    for (const auto& c : v.clusters) {
        if (!c.master)
            json_array_append_new(reasons.get(),
                                  str("cluster " + c.name + ": no confirmed master"));
        else if (c.apply_state != "applied")
            json_array_append_new(
                reasons.get(),
                str("cluster " + c.name + ": master not applied (" + c.apply_state + ")"));
    }
    JsonPtr o(json_object());
    ApiResponse r;
    if (json_array_size(reasons.get()) == 0) {
        json_object_set_new(o.get(), "status", json_string("ok"));
        r.status = 200;
    } else {
        json_object_set_new(o.get(), "status", json_string("unhealthy"));
        json_object_set(o.get(), "reasons", reasons.get());
        r.status = 503;
    }
    r.body = dump(o);
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
    JsonPtr o(json_object());
    json_object_set_new(o.get(), "error", str(msg));
    return dump(o);
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

json_t* event_obj(const Event& e) {
    json_t* o = json_object();
    json_object_set_new(o, "time", json_integer(e.last_ms / 1000));
    json_object_set_new(o, "timeMs", json_integer(e.last_ms));
    json_object_set_new(o, "firstTime", json_integer(e.first_ms / 1000));
    json_object_set_new(o, "firstTimeMs", json_integer(e.first_ms));
    json_object_set_new(o, "count", json_integer(static_cast<json_int_t>(e.count)));
    json_object_set_new(o, "cluster", str(e.cluster));
    json_object_set_new(o, "kind", json_string(event_kind_name(e.kind)));
    json_object_set_new(o, "reason", json_string(event_reason_name(e.reason)));
    json_t* d = json_object();
    json_object_set_new(d, "master",
                        e.detail.master ? str(format_host_port(*e.detail.master)) : json_null());
    json_object_set_new(d, "epoch", json_integer(static_cast<json_int_t>(e.detail.epoch)));
    json_object_set_new(d, "sentinel", str(e.detail.sentinel));
    json_object_set_new(d, "trusted", json_boolean(e.detail.trusted));
    json_object_set_new(d, "text", str(e.detail.text));
    json_object_set_new(o, "detail", d);
    return o;
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
    JsonPtr a(json_array());
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
        json_array_append_new(a.get(), event_obj(e));
    }
    JsonPtr o(json_object());
    json_object_set(o.get(), "events", a.get());
    json_object_set_new(o.get(), "capacity", json_integer(static_cast<json_int_t>(kEventCapacity)));
    json_object_set_new(o.get(), "evicted",
                        json_integer(static_cast<json_int_t>(v.events_evicted)));
    return {200, dump(o)};
}

} // namespace rh
