// Unit tests for the API renderers (src/engine/api_json.cc): field names, time
// format, redaction, health logic and the Prometheus text format.
#include <jansson.h>

#include <cstring>
#include <memory>
#include <string>

#include "engine/api_json.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;

namespace {

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

JsonPtr parse(const std::string& s) {
    json_error_t e;
    JsonPtr j(json_loads(s.c_str(), 0, &e));
    if (!j)
        fail_msg("invalid JSON (%s): %s", e.text, s.c_str());
    return j;
}

const char* sget(json_t* o, const char* k) {
    json_t* v = json_object_get(o, k);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

long long iget(json_t* o, const char* k) {
    json_t* v = json_object_get(o, k);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

ApiView sample_view() {
    ApiView v;
    ApiSentinel s;
    s.address = "127.0.0.1:26379";
    s.configured = true;
    s.trusted = true;
    s.state = "up";
    s.last_updated = 1795428000; // 2026-11-23T10:00:00Z
    s.clusters = {"main"};
    s.latency_ms = 1.5;
    s.reconnects = 3;
    v.sentinels.push_back(s);
    ApiSentinel d = s;
    d.address = "[::1]:26380";
    d.configured = false;
    d.state = "down";
    d.last_updated = 0;
    d.last_error = "connection refused";
    v.sentinels.push_back(d);
    ApiCluster c;
    c.name = "main";
    c.external_port = 6379;
    c.master = HostPort{"10.0.0.5", 7001};
    c.epoch = 7;
    c.confirmed = true;
    c.confirmed_at = 1795428000;
    c.corroborated_by = {"127.0.0.1:26379"};
    c.replicas = {HostPort{"10.0.0.6", 7002}};
    c.apply_state = "applied";
    c.applied_at = 1795428001;
    c.switches = 2;
    c.last_switch = 1795428000;
    c.consul_state = "registered";
    v.clusters.push_back(c);
    v.config.clusters = {{"main", 6379, true}};
    v.config.sentinels = {HostPort{"127.0.0.1", 26379}};
    v.config.sentinel_password_set = true;
    v.config.haproxy_template_path = "/etc/redishappy/haproxy.tmpl";
    v.config.haproxy_output_path = "/etc/haproxy/haproxy.cfg";
    v.config.haproxy_reload_command = "systemctl reload haproxy";
    v.config.consul_address = "127.0.0.1:8500";
    v.config.consul_services = {"redis-main"};
    v.config.consul_token_set = true;
    v.config.settings = {{"sentinel", "ping_interval", "1000"}};
    v.version = "0.1";
    return v;
}

// Two clusters' events, oldest first, as EventLog::last gives them.
ApiView events_view() {
    ApiView v = sample_view();
    ApiCluster other;
    other.name = "other";
    v.clusters.push_back(other);
    EventLog log;
    log.record(1795428000123, "main", EventKind::refused, EventReason::min_agreement,
               {HostPort{"10.0.0.6", 7002}, 8, "127.0.0.1:26379", true,
                "sentinel 127.0.0.1:26379 reports 10.0.0.6:7002 at epoch 8 alone; 1 of 2 "
                "required"});
    log.record(1795428000456, "other", EventKind::candidate, EventReason::untrusted,
               {HostPort{"::1", 7003}, 9, "127.0.0.2:26379", false, ""});
    log.record(1795428001789, "main", EventKind::applied, EventReason::runtime,
               {HostPort{"10.0.0.6", 7002}, 8, "", false, ""});
    log.record(1795428002000, "main", EventKind::refused, EventReason::min_agreement,
               {HostPort{"10.0.0.7", 7004}, 9, "127.0.0.1:26379", true, "again \"quoted\""});
    v.events = log.last();
    v.events_evicted = 3;
    return v;
}

json_t* events_of(const JsonPtr& j) {
    json_t* a = json_object_get(j.get(), "events");
    assert_true(json_is_array(a));
    return a;
}

} // namespace

static void formats_rfc3339_utc(void**) {
    assert_string_equal(rfc3339_utc(1795428000).c_str(), "2026-11-23T10:00:00Z");
    assert_string_equal(rfc3339_utc(1).c_str(), "1970-01-01T00:00:01Z");
    assert_string_equal(rfc3339_utc(0).c_str(), "0001-01-01T00:00:00Z");
}

static void maps_sentinel_state_codes(void**) {
    assert_int_equal(sentinel_state_code("up"), 1);
    assert_int_equal(sentinel_state_code("down"), 2);
    assert_int_equal(sentinel_state_code("connecting"), 4);
    assert_int_equal(sentinel_state_code("nonsense"), 4);
}

static void sentinels_use_original_field_names(void**) {
    auto j = parse(render_sentinels(sample_view()));
    json_t* m = json_object_get(j.get(), "sentinels");
    assert_non_null(m);
    assert_int_equal(json_object_size(m), 2);
    json_t* s = json_object_get(m, "127.0.0.1:26379");
    assert_non_null(s);
    assert_string_equal(sget(s, "sentinelLocation"), "127.0.0.1:26379");
    assert_string_equal(sget(s, "lastUpdated"), "2026-11-23T10:00:00Z");
    assert_int_equal(iget(s, "state"), 1);
    assert_string_equal(sget(s, "stateName"), "up");
    json_t* cl = json_object_get(s, "clusters");
    assert_true(json_is_array(cl));
    assert_string_equal(json_string_value(json_array_get(cl, 0)), "main");
    assert_true(json_is_true(json_object_get(s, "configured")));
    assert_true(json_is_true(json_object_get(s, "trusted")));
    assert_int_equal(iget(s, "reconnects"), 3);
    assert_true(json_real_value(json_object_get(s, "latencyMs")) == 1.5);
    json_t* d = json_object_get(m, "[::1]:26380");
    assert_non_null(d);
    assert_int_equal(iget(d, "state"), 2);
    assert_string_equal(sget(d, "lastError"), "connection refused");
    assert_string_equal(sget(d, "lastUpdated"), "0001-01-01T00:00:00Z");
}

// A Sentinel's error text that is not UTF-8 (a byte 0xff, or a sequence cut
// by the 200-byte cap) is shown escaped: jansson refuses it, and lastError
// used to vanish from the object.
static void sentinel_error_not_utf8_is_escaped(void**) {
    ApiView v = sample_view();
    v.sentinels[1].last_error = "AUTH failed: WRONGPASS bad \xff\xfe byte \xc3";
    auto j = parse(render_sentinels(v));
    json_t* d = json_object_get(json_object_get(j.get(), "sentinels"), "[::1]:26380");
    assert_non_null(d);
    assert_non_null(json_object_get(d, "lastError"));
    assert_string_equal(sget(d, "lastError"), "AUTH failed: WRONGPASS bad \\xff\\xfe byte \\xc3");
}

static void topology_fields(void**) {
    auto j = parse(render_topology(sample_view()));
    assert_true(json_is_array(j.get()));
    assert_int_equal(json_array_size(j.get()), 1);
    json_t* c = json_array_get(j.get(), 0);
    assert_string_equal(sget(c, "name"), "main");
    assert_int_equal(iget(c, "externalPort"), 6379);
    assert_string_equal(sget(c, "ip"), "10.0.0.5");
    assert_int_equal(iget(c, "port"), 7001);
    assert_int_equal(iget(c, "epoch"), 7);
    assert_true(json_is_true(json_object_get(c, "confirmed")));
    assert_string_equal(sget(c, "confirmedAt"), "2026-11-23T10:00:00Z");
    assert_true(json_is_false(json_object_get(c, "stale")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "corroboratedBy"), 0)),
                        "127.0.0.1:26379");
    json_t* r = json_array_get(json_object_get(c, "replicas"), 0);
    assert_string_equal(sget(r, "ip"), "10.0.0.6");
    assert_int_equal(iget(r, "port"), 7002);
    json_t* ap = json_object_get(c, "applied");
    assert_string_equal(sget(ap, "state"), "applied");
    assert_string_equal(sget(ap, "at"), "2026-11-23T10:00:01Z");
    assert_int_equal(iget(c, "switches"), 2);
    assert_string_equal(sget(c, "lastSwitch"), "2026-11-23T10:00:00Z");
    assert_string_equal(sget(json_object_get(c, "consul"), "state"), "registered");
}

static void topology_without_master_has_null_address(void**) {
    ApiView v = sample_view();
    v.clusters[0].master.reset();
    auto j = parse(render_topology(v));
    json_t* c = json_array_get(j.get(), 0);
    assert_true(json_is_null(json_object_get(c, "ip")));
    assert_true(json_is_null(json_object_get(c, "port")));
}

static void configuration_redacts_secrets(void**) {
    std::string body = render_configuration(sample_view());
    auto j = parse(body);
    json_t* cl = json_array_get(json_object_get(j.get(), "Clusters"), 0);
    assert_string_equal(sget(cl, "Name"), "main");
    assert_int_equal(iget(cl, "ExternalPort"), 6379);
    assert_string_equal(sget(cl, "password"), "***");
    json_t* s = json_array_get(json_object_get(j.get(), "Sentinels"), 0);
    assert_string_equal(sget(s, "Host"), "127.0.0.1");
    assert_int_equal(iget(s, "Port"), 26379);
    assert_string_equal(sget(j.get(), "SentinelPassword"), "***");
    json_t* h = json_object_get(j.get(), "HAProxy");
    assert_string_equal(sget(h, "TemplatePath"), "/etc/redishappy/haproxy.tmpl");
    assert_string_equal(sget(h, "OutputPath"), "/etc/haproxy/haproxy.cfg");
    assert_string_equal(sget(h, "ReloadCommand"), "systemctl reload haproxy");
    json_t* c = json_object_get(j.get(), "Consul");
    assert_string_equal(sget(c, "Address"), "127.0.0.1:8500");
    assert_string_equal(sget(c, "token"), "***");
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Services"), 0)),
                        "redis-main");
    json_t* st = json_object_get(json_object_get(j.get(), "Settings"), "sentinel");
    assert_string_equal(sget(st, "ping_interval"), "1000");

    // Unset secrets are null, not "***".
    ApiView v = sample_view();
    v.config.clusters[0].password_set = false;
    v.config.consul_token_set = false;
    v.config.sentinel_password_set = false;
    auto k = parse(render_configuration(v));
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(k.get(), "Clusters"), 0), "password")));
    assert_true(json_is_null(json_object_get(json_object_get(k.get(), "Consul"), "token")));
    assert_true(json_is_null(json_object_get(k.get(), "SentinelPassword")));
}

// Settings are grouped by section in the order sections first appear; a key
// given twice keeps its first place and its last value. At 10,000 clusters
// (two settings each, a section per cluster) the grouping stays linear: the
// first JsonWriter version compared every pair and took minutes.
static void configuration_groups_settings_in_order(void**) {
    ApiView v = sample_view();
    v.config.settings = {{"a", "x", "1"}, {"b", "y", "2"}, {"a", "z", "3"}, {"a", "x", "4"}};
    std::string body = render_configuration(v);
    assert_non_null(strstr(body.c_str(), R"("Settings":{"a":{"x":"4","z":"3"},"b":{"y":"2"}})"));
    v.config.settings.clear();
    for (int i = 0; i < 10000; i++) {
        std::string sec = "cluster c" + std::to_string(i);
        v.config.settings.push_back({sec, "tls", "no"});
        v.config.settings.push_back({sec, "username", ""});
    }
    auto j = parse(render_configuration(v));
    json_t* st = json_object_get(j.get(), "Settings");
    assert_int_equal(json_object_size(st), 10000);
    assert_string_equal(sget(json_object_get(st, "cluster c9999"), "tls"), "no");
}

static void health_ok_when_applied_and_sentinel_up(void**) {
    ApiResponse r = render_health(sample_view());
    assert_int_equal(r.status, 200);
    auto j = parse(r.body);
    assert_string_equal(sget(j.get(), "status"), "ok");
}

static void health_503_reasons(void**) {
    ApiView v = sample_view();
    for (auto& s : v.sentinels)
        s.state = "down";
    ApiResponse r = render_health(v);
    assert_int_equal(r.status, 503);
    auto j = parse(r.body);
    assert_string_equal(sget(j.get(), "status"), "unhealthy");
    json_t* reasons = json_object_get(j.get(), "reasons");
    assert_int_equal(json_array_size(reasons), 1);
    assert_string_equal(json_string_value(json_array_get(reasons, 0)), "no sentinel is up");

    v = sample_view();
    v.clusters[0].apply_state = "pending";
    r = render_health(v);
    assert_int_equal(r.status, 503);
    assert_non_null(std::strstr(r.body.c_str(), "cluster main: master not applied (pending)"));

    v = sample_view();
    v.clusters[0].master.reset();
    r = render_health(v);
    assert_int_equal(r.status, 503);
    assert_non_null(std::strstr(r.body.c_str(), "cluster main: no confirmed master"));

    // No sentinels at all is unhealthy too.
    v = sample_view();
    v.sentinels.clear();
    assert_int_equal(render_health(v).status, 503);
}

static void escapes_prometheus_labels(void**) {
    assert_string_equal(prom_escape_label("plain").c_str(), "plain");
    assert_string_equal(prom_escape_label("a\"b").c_str(), "a\\\"b");
    assert_string_equal(prom_escape_label("a\\b").c_str(), "a\\\\b");
    assert_string_equal(prom_escape_label("a\nb").c_str(), "a\\nb");
}

static void metrics_format(void**) {
    ApiView v = sample_view();
    v.clusters[0].name = "we\"ird\\na\nme";
    std::string m = render_metrics(v);
    const char* fams[] = {"redishappy_cluster_switches_total counter",
                          "redishappy_cluster_last_switch_timestamp_seconds gauge",
                          "redishappy_cluster_master_info gauge",
                          "redishappy_cluster_epoch gauge",
                          "redishappy_cluster_applied gauge",
                          "redishappy_apply_errors_total counter",
                          "redishappy_consul_errors_total counter",
                          "redishappy_sentinel_up gauge",
                          "redishappy_sentinels_up gauge",
                          "redishappy_sentinel_reconnects_total counter",
                          "redishappy_sentinel_latency_seconds gauge",
                          "redishappy_build_info gauge",
                          "redishappy_cluster_last_reread_timestamp_seconds gauge",
                          "redishappy_cluster_stale gauge",
                          "redishappy_failover_propagation_seconds histogram",
                          "redishappy_sentinel_links gauge"};
    for (const char* f : fams) {
        std::string type = std::string("# TYPE ") + f + "\n";
        assert_non_null(std::strstr(m.c_str(), type.c_str()));
        std::string help = std::string("# HELP ") + std::string(f).substr(0, std::strcspn(f, " "));
        assert_non_null(std::strstr(m.c_str(), help.c_str()));
    }
    const char* lines[] = {
        "redishappy_cluster_switches_total{cluster=\"we\\\"ird\\\\na\\nme\"} 2\n",
        "redishappy_cluster_master_info{cluster=\"we\\\"ird\\\\na\\nme\",host=\"10.0.0.5\","
        "port=\"7001\"} 1\n",
        "redishappy_cluster_epoch{cluster=\"we\\\"ird\\\\na\\nme\"} 7\n",
        "redishappy_cluster_applied{cluster=\"we\\\"ird\\\\na\\nme\"} 1\n",
        "redishappy_cluster_last_switch_timestamp_seconds{cluster=\"we\\\"ird\\\\na\\nme\"} "
        "1795428000\n",
        "redishappy_sentinel_up{sentinel=\"127.0.0.1:26379\"} 1\n",
        "redishappy_sentinel_up{sentinel=\"[::1]:26380\"} 0\n",
        "redishappy_sentinels_up 1\n",
        "redishappy_sentinel_reconnects_total{sentinel=\"127.0.0.1:26379\"} 3\n",
        "redishappy_sentinel_latency_seconds{sentinel=\"127.0.0.1:26379\"} 0.0015\n",
    };
    for (const char* l : lines)
        if (!std::strstr(m.c_str(), l))
            fail_msg("missing metrics line %s in:\n%s", l, m.c_str());
    // Every line is a comment or ends in a number; no raw newline leaked
    // from a label value.
    size_t pos = 0;
    while (pos < m.size()) {
        size_t nl = m.find('\n', pos);
        assert_true(nl != std::string::npos);
        std::string line = m.substr(pos, nl - pos);
        if (line[0] != '#') {
            assert_true(line.rfind("redishappy_", 0) == 0);
            char last = line.back();
            assert_true(last >= '0' && last <= '9');
        }
        pos = nl + 1;
    }
}

static void metrics_new_families(void**) {
    ApiView v = sample_view();
    v.clusters[0].apply_errors = 4;
    v.clusters[0].apply_errors_by[static_cast<size_t>(proto::ApplyError::Check)] = 4;
    v.clusters[0].consul_errors = 2;
    v.clusters[0].consul_errors_by[static_cast<size_t>(ConsulError::http_5xx)] = 2;
    v.clusters.push_back(v.clusters[0]);
    v.clusters[1].name = "other";
    v.clusters[1].apply_errors = 1;
    v.clusters[1].apply_errors_by = {};
    v.clusters[1].apply_errors_by[static_cast<size_t>(proto::ApplyError::Check)] = 1;
    v.clusters[1].consul_errors = 0;
    v.clusters[1].consul_errors_by = {};
    v.clusters[0].consul_fenced = 5;
    v.clusters[1].consul_fenced = 2;
    v.clusters[1].consul_conflicts = 3;
    v.clusters[1].consul_state = "superseded";
    v.clusters[0].last_reread = 1795428005;
    v.clusters[0].stale = true;
    v.propagation_runtime.observe(0.002);
    v.propagation_runtime.observe(0.3);
    v.propagation_runtime.observe(42); // over the last bound: only +Inf
    v.propagation_reload.observe(-1);  // a clock step: ignored
    std::string m = render_metrics(v);
    const char* lines[] = {
        "redishappy_build_info{version=\"0.1\"} 1\n",
        "redishappy_apply_errors_total{cluster=\"main\"} 4\n",
        "redishappy_apply_errors_total{cluster=\"other\"} 1\n",
        "redishappy_apply_errors_by_reason_total{reason=\"check\"} 5\n",
        "redishappy_apply_errors_by_reason_total{reason=\"render\"} 0\n",
        "redishappy_apply_errors_by_reason_total{reason=\"write\"} 0\n",
        "redishappy_apply_errors_by_reason_total{reason=\"reload\"} 0\n",
        "redishappy_consul_errors_total{cluster=\"main\"} 2\n",
        "redishappy_consul_errors_by_reason_total{reason=\"http_5xx\"} 2\n",
        "redishappy_consul_errors_by_reason_total{reason=\"connect\"} 0\n",
        "redishappy_consul_fenced_writes_total 7\n",
        "redishappy_consul_cas_conflicts_total 3\n",
        "redishappy_consul_superseded_clusters 1\n",
        "redishappy_cluster_last_reread_timestamp_seconds{cluster=\"main\"} 1795428005\n",
        "redishappy_cluster_stale{cluster=\"main\"} 1\n",
        "redishappy_sentinel_links{trust=\"configured\",state=\"up\"} 1\n",
        "redishappy_sentinel_links{trust=\"configured\",state=\"down\"} 0\n",
        "redishappy_sentinel_links{trust=\"discovered\",state=\"up\"} 0\n",
        "redishappy_sentinel_links{trust=\"discovered\",state=\"down\"} 1\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"0.001\"} 0\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"0.0025\"} 1\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"0.25\"} 1\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"0.5\"} 2\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"10\"} 2\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"runtime\",le=\"+Inf\"} 3\n",
        "redishappy_failover_propagation_seconds_count{path=\"runtime\"} 3\n",
        "redishappy_failover_propagation_seconds_sum{path=\"runtime\"} 42.302\n",
        "redishappy_failover_propagation_seconds_bucket{path=\"reload\",le=\"+Inf\"} 0\n",
        "redishappy_failover_propagation_seconds_count{path=\"reload\"} 0\n",
    };
    for (const char* l : lines)
        if (!std::strstr(m.c_str(), l))
            fail_msg("missing metrics line %s in:\n%s", l, m.c_str());
    // Without [consul] there are no Consul error series.
    for (auto& c : v.clusters)
        c.consul_state.clear();
    m = render_metrics(v);
    assert_null(std::strstr(m.c_str(), "redishappy_consul_errors"));
}

static void process_metrics(void**) {
    assert_string_equal(render_process_metrics(std::nullopt).c_str(), "");
    proto::ProcessStats st;
    st.parent = {true, 4u << 20, 20u << 20, 3u << 20, 1250, 7, 1024, 1700000000123};
    st.engine = {true, 2u << 20, 30u << 20, 0, 40, 12, 65536, 1700000001000};
    st.engine_restarts = 3;
    std::string m = render_process_metrics(st);
    const char* lines[] = {
        "# TYPE process_resident_memory_bytes gauge\n",
        "process_resident_memory_bytes{process=\"parent\"} 4194304\n",
        "process_resident_memory_bytes{process=\"engine\"} 2097152\n",
        "process_virtual_memory_bytes{process=\"engine\"} 31457280\n",
        "# TYPE process_cpu_seconds_total counter\n",
        "process_cpu_seconds_total{process=\"parent\"} 1.25\n",
        "process_cpu_seconds_total{process=\"engine\"} 0.04\n",
        "process_open_fds{process=\"engine\"} 12\n",
        "process_max_fds{process=\"parent\"} 1024\n",
        "process_start_time_seconds{process=\"parent\"} 1700000000.123\n",
        "redishappy_process_pss_bytes{process=\"parent\"} 3145728\n",
        "# TYPE redishappy_engine_restarts_total counter\n",
        "redishappy_engine_restarts_total 3\n",
    };
    for (const char* l : lines)
        if (!std::strstr(m.c_str(), l))
            fail_msg("missing metrics line %s in:\n%s", l, m.c_str());
    // Unknown PSS (0) and an absent engine sample are left out, not zero.
    assert_null(std::strstr(m.c_str(), "redishappy_process_pss_bytes{process=\"engine\"}"));
    st.engine = {};
    m = render_process_metrics(st);
    assert_null(std::strstr(m.c_str(), "process=\"engine\""));
}

static void metrics_omit_master_info_without_master(void**) {
    ApiView v = sample_view();
    v.clusters[0].master.reset();
    v.clusters[0].apply_state = "none";
    std::string m = render_metrics(v);
    assert_null(std::strstr(m.c_str(), "redishappy_cluster_master_info{"));
    assert_non_null(std::strstr(m.c_str(), "redishappy_cluster_applied{cluster=\"main\"} 0\n"));
}

static void error_body_is_json(void**) {
    auto j = parse(render_error("not \"found\""));
    assert_string_equal(sget(j.get(), "error"), "not \"found\"");
}

static void events_fields_newest_last(void**) {
    ApiResponse r = render_events(events_view(), "");
    assert_int_equal(r.status, 200);
    auto j = parse(r.body);
    assert_int_equal(iget(j.get(), "capacity"), kEventCapacity);
    assert_int_equal(iget(j.get(), "evicted"), 3);
    json_t* a = events_of(j);
    assert_int_equal(json_array_size(a), 3);
    json_t* e0 = json_array_get(a, 0);
    assert_string_equal(sget(e0, "kind"), "candidate");
    assert_string_equal(sget(e0, "reason"), "untrusted");
    assert_string_equal(sget(e0, "cluster"), "other");
    json_t* d0 = json_object_get(e0, "detail");
    assert_string_equal(sget(d0, "master"), "[::1]:7003");
    assert_int_equal(iget(d0, "epoch"), 9);
    assert_string_equal(sget(d0, "sentinel"), "127.0.0.2:26379");
    assert_true(json_is_false(json_object_get(d0, "trusted")));
    json_t* e1 = json_array_get(a, 1);
    assert_string_equal(sget(e1, "kind"), "applied");
    assert_string_equal(sget(e1, "reason"), "runtime");
    assert_int_equal(iget(e1, "time"), 1795428001);
    assert_int_equal(iget(e1, "timeMs"), 1795428001789);
    // The refusal repeated: folded, moved to the newest place.
    json_t* e2 = json_array_get(a, 2);
    assert_string_equal(sget(e2, "kind"), "refused");
    assert_string_equal(sget(e2, "reason"), "min-agreement");
    assert_int_equal(iget(e2, "count"), 2);
    assert_int_equal(iget(e2, "firstTimeMs"), 1795428000123);
    assert_int_equal(iget(e2, "firstTime"), 1795428000);
    assert_int_equal(iget(e2, "timeMs"), 1795428002000);
    json_t* d2 = json_object_get(e2, "detail");
    assert_string_equal(sget(d2, "master"), "10.0.0.7:7004");
    assert_string_equal(sget(d2, "text"), "again \"quoted\"");
    assert_true(json_is_true(json_object_get(d2, "trusted")));
}

static void events_without_master_have_null(void**) {
    ApiView v = sample_view();
    EventLog log;
    log.record(1, "", EventKind::refused, EventReason::max_discovered,
               {std::nullopt, 0, "10.0.0.9:26379", false, "too many"});
    v.events = log.last();
    auto j = parse(render_events(v, "").body);
    json_t* d = json_object_get(json_array_get(events_of(j), 0), "detail");
    assert_true(json_is_null(json_object_get(d, "master")));
}

static void events_query_n_and_cluster(void**) {
    ApiView v = events_view();
    auto j = parse(render_events(v, "n=1").body);
    assert_int_equal(json_array_size(events_of(j)), 1);
    assert_string_equal(sget(json_array_get(events_of(j), 0), "reason"), "min-agreement");
    j = parse(render_events(v, "cluster=main").body);
    assert_int_equal(json_array_size(events_of(j)), 2);
    j = parse(render_events(v, "cluster=main&n=1").body);
    assert_int_equal(json_array_size(events_of(j)), 1);
    assert_string_equal(sget(json_array_get(events_of(j), 0), "kind"), "refused");
    j = parse(render_events(v, "n=256&cluster=%6Fther").body); // percent-encoded "o"
    assert_int_equal(json_array_size(events_of(j)), 1);
    assert_string_equal(sget(json_array_get(events_of(j), 0), "cluster"), "other");
}

static void events_bad_queries_are_400(void**) {
    ApiView v = events_view();
    const char* bad[] = {"n=0",
                         "n=257",
                         "n=-1",
                         "n=abc",
                         "n=",
                         "n=1&n=2",
                         "n=1e3",
                         "n=99999999999999999999",
                         "cluster=",
                         "cluster=a%20b",
                         "cluster=%zz",
                         "cluster=%4",
                         "foo=1",
                         "n",
                         "cluster=x&cluster=y",
                         "cluster=nope",
                         "&",
                         "n=1&"};
    for (const char* q : bad) {
        ApiResponse r = render_events(v, q);
        if (r.status != 400)
            fail_msg("query %s answered %d", q, r.status);
        auto j = parse(r.body);
        assert_true(json_is_string(json_object_get(j.get(), "error")));
    }
    std::string err;
    assert_false(parse_events_query("cluster=nope", &err) == std::nullopt); // syntax is fine
    assert_true(parse_events_query("n=300", &err) == std::nullopt);
    assert_string_equal(err.c_str(), "n must be an integer from 1 to 256");
    auto q = parse_events_query("n=12&cluster=a.b-c_d", &err);
    assert_true(q.has_value());
    assert_int_equal(q->n, 12);
    assert_string_equal(q->cluster.c_str(), "a.b-c_d");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sentinel_error_not_utf8_is_escaped),
        cmocka_unit_test(events_fields_newest_last),
        cmocka_unit_test(events_without_master_have_null),
        cmocka_unit_test(events_query_n_and_cluster),
        cmocka_unit_test(events_bad_queries_are_400),
        cmocka_unit_test(formats_rfc3339_utc),
        cmocka_unit_test(maps_sentinel_state_codes),
        cmocka_unit_test(sentinels_use_original_field_names),
        cmocka_unit_test(topology_fields),
        cmocka_unit_test(topology_without_master_has_null_address),
        cmocka_unit_test(configuration_redacts_secrets),
        cmocka_unit_test(configuration_groups_settings_in_order),
        cmocka_unit_test(health_ok_when_applied_and_sentinel_up),
        cmocka_unit_test(health_503_reasons),
        cmocka_unit_test(escapes_prometheus_labels),
        cmocka_unit_test(metrics_format),
        cmocka_unit_test(metrics_new_families),
        cmocka_unit_test(process_metrics),
        cmocka_unit_test(metrics_omit_master_info_without_master),
        cmocka_unit_test(error_body_is_json),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
