// Unit tests for the conversion of the original redishappy's JSON
// configuration (src/ctl/convert.cc). Every converted text is read back with
// parse_config(), the daemon's own parser.
#include "config/config.h"
#include "ctl/convert.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

// cmocka last: its macros (e.g. fail) clash with libstdc++ names.
#include "../../cmocka.h"

using namespace rh;

namespace {

std::string data_path(const std::string& name) {
    const char* src = getenv("RH_SRCDIR");
    return std::string(src ? src : ".") + "/tests/data/original/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path.c_str());
        return {};
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void dump(const ConvertResult& r) {
    for (auto& w : r.warnings)
        fprintf(stderr, "  warning: %s\n", w.c_str());
    for (auto& e : r.errors)
        fprintf(stderr, "  error: %s\n", e.c_str());
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// The one warning that starts with prefix and contains part (fails otherwise).
void expect_warning(const ConvertResult& r, const std::string& prefix, const std::string& part) {
    int n = 0;
    for (auto& w : r.warnings)
        if (w.starts_with(prefix) && contains(w, part))
            n++;
    if (n != 1) {
        fprintf(stderr, "expected one warning '%s'...'%s', got %d\n", prefix.c_str(), part.c_str(),
                n);
        dump(r);
    }
    assert_int_equal(n, 1);
}

void expect_no_warning(const ConvertResult& r, const std::string& part) {
    for (auto& w : r.warnings)
        if (contains(w, part)) {
            fprintf(stderr, "unexpected warning: %s\n", w.c_str());
            assert_false(true);
        }
}

// Converted without errors, and parse_config() takes the text without errors.
Config parse_clean(const ConvertResult& r) {
    if (!r.errors.empty())
        dump(r);
    assert_int_equal(r.errors.size(), 0);
    assert_false(r.ini.empty());
    auto p = parse_config(r.ini, "converted.conf");
    for (auto& e : p.errors)
        fprintf(stderr, "  parse: %s\n", format_error(e).c_str());
    assert_int_equal(p.errors.size(), 0);
    return p.config;
}

// Exactly one error, equal to `expected`; no INI text.
void expect_error(const std::string& json, const std::string& expected) {
    auto r = convert_original_config(json, "t.json");
    if (r.errors.size() != 1 || r.errors[0] != expected) {
        fprintf(stderr, "for %s\nexpected error: %s\n", json.c_str(), expected.c_str());
        dump(r);
    }
    assert_int_equal(r.errors.size(), 1);
    assert_string_equal(r.errors[0].c_str(), expected.c_str());
    assert_true(r.ini.empty());
}

// Exactly one error that starts with prefix and contains part.
void expect_error_like(const std::string& json, const std::string& prefix,
                       const std::string& part) {
    auto r = convert_original_config(json, "t.json");
    bool ok =
        r.errors.size() == 1 && r.errors[0].starts_with(prefix) && contains(r.errors[0], part);
    if (!ok) {
        fprintf(stderr, "for %s\nexpected error: %s...%s\n", json.c_str(), prefix.c_str(),
                part.c_str());
        dump(r);
    }
    assert_true(ok);
    assert_true(r.ini.empty());
}

const std::string sentinels = R"("Sentinels": [{"Host": "127.0.0.1", "Port": 26379}])";
const std::string clusters = R"("Clusters": [{"Name": "c1", "ExternalPort": 6379}])";

// A document with the given members besides working Clusters and Sentinels.
std::string doc(const std::string& extra = {}) {
    return "{" + clusters + ", " + sentinels + (extra.empty() ? "" : ", " + extra) + "}";
}

std::string haproxy_with(const std::string& key, const std::string& json_value) {
    std::string tp = R"("TemplatePath": "/etc/rh/t.cfg")";
    std::string op = R"("OutputPath": "/etc/haproxy/haproxy.cfg")";
    std::string rc = R"("ReloadCommand": "/usr/local/bin/reload-haproxy")";
    std::string mine = "\"" + key + "\": " + json_value;
    if (key == "TemplatePath")
        tp = mine;
    else if (key == "OutputPath")
        op = mine;
    else
        rc = mine;
    return doc(R"("HAProxy": {)" + tp + ", " + op + ", " + rc + "}");
}

// JSON string literal.
std::string js(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// Converts tests/data/original/NAME.json and compares with NAME.ini.expected.
ConvertResult convert_sample(const std::string& name) {
    auto json = read_file(data_path(name + ".json"));
    assert_false(json.empty());
    auto r = convert_original_config(json, name + ".json");
    auto expected = read_file(data_path(name + ".ini.expected"));
    if (r.ini != expected) {
        fprintf(stderr, "%s: output differs from %s.ini.expected:\n%s", name.c_str(), name.c_str(),
                r.ini.c_str());
        dump(r);
    }
    assert_false(expected.empty());
    assert_string_equal(r.ini.c_str(), expected.c_str());
    return r;
}

} // namespace

// ---- samples ----

static void sample_haproxy(void**) {
    auto r = convert_sample("haproxy");
    auto c = parse_clean(r);
    assert_string_equal(c.user.c_str(), "redishappy");
    assert_int_equal(c.sentinels.size(), 3);
    assert_true((c.sentinels[0] == HostPort{"10.1.0.11", 26379}));
    assert_true((c.sentinels[1] == HostPort{"10.1.0.12", 26379}));
    assert_true((c.sentinels[2] == HostPort{"fd00:1::13", 26379}));
    assert_int_equal(c.clusters.size(), 2);
    assert_string_equal(c.clusters[0].name.c_str(), "orders");
    assert_int_equal(c.clusters[0].external_port, 6379);
    assert_string_equal(c.clusters[1].name.c_str(), "sessions");
    assert_int_equal(c.clusters[1].external_port, 6380);
    assert_true(c.haproxy);
    assert_true(r.has_haproxy);
    assert_string_equal(c.haproxy_template.c_str(), "/etc/redishappy/haproxy_template.mustache");
    assert_string_equal(c.haproxy_output.c_str(), "/etc/haproxy/haproxy.cfg");
    assert_string_equal(c.check_command.c_str(), "haproxy -c -q -f %s");
    assert_string_equal(c.reload_command.c_str(), "haproxy -f /etc/haproxy/haproxy.cfg -p "
                                                  "/run/haproxy.pid -sf $(cat /run/haproxy.pid)");
    assert_false(c.consul);
    expect_warning(r, "HAProxy.ReloadCommand: ", "\"-sf\"");
    expect_warning(r, "HAProxy.TemplatePath: ", "Go template cannot be used");
    expect_no_warning(r, "relative path");
    expect_no_warning(r, "only monitor");
    assert_int_equal(r.warnings.size(), 2);
}

static void sample_consul(void**) {
    auto r = convert_sample("consul");
    auto c = parse_clean(r);
    assert_false(r.has_haproxy);
    assert_int_equal(c.sentinels.size(), 2);
    assert_true((c.sentinels[0] == HostPort{"sentinel-a.example.net", 26379}));
    assert_true((c.sentinels[1] == HostPort{"sentinel-b.example.net", 26380}));
    assert_false(c.haproxy);
    assert_true(c.consul);
    assert_string_equal(c.consul_address.c_str(), "http://127.0.0.1:8500");
    assert_true(c.consul_mode == ConsulMode::catalog);
    assert_string_equal(c.consul_datacenter.c_str(), "");
    assert_int_equal(c.clusters.size(), 2);
    auto& cache = c.clusters[0];
    assert_string_equal(cache.name.c_str(), "cache");
    assert_int_equal(cache.external_port, 7000);
    assert_string_equal(cache.consul_node().c_str(), "redis-cache");
    assert_int_equal(cache.consul_tags().size(), 2);
    assert_string_equal(cache.consul_tags()[0].c_str(), "redis");
    assert_string_equal(cache.consul_tags()[1].c_str(), "master");
    assert_string_equal(cache.consul_datacenter().c_str(), "eu-west");
    assert_string_equal(cache.consul_service().c_str(), "cache");
    auto& queue = c.clusters[1];
    assert_string_equal(queue.name.c_str(), "queue");
    assert_int_equal(queue.external_port, 7001);
    assert_string_equal(queue.consul_node().c_str(), "redishappy-queue"); // no Node: the default
    assert_int_equal(queue.consul_tags().size(), 1);
    assert_string_equal(queue.consul_tags()[0].c_str(), "redis");
    assert_string_equal(queue.consul_datacenter().c_str(), "eu-west");
    expect_warning(r, "Consul.Services[0].Node: ", "anti-entropy");
    expect_warning(r, "Consul.Services[0].Node: ", "redishappy-cache");
    expect_warning(r, "Consul: ", "does not remove the catalog registrations");
    assert_int_equal(r.warnings.size(), 2);
}

static void sample_consul_old(void**) {
    // Lower-case keys throughout, as Go's decoder accepts; Datacenter on
    // the Consul object; a service for a cluster that does not exist.
    auto r = convert_sample("consul-old");
    auto c = parse_clean(r);
    assert_int_equal(c.sentinels.size(), 1);
    assert_true((c.sentinels[0] == HostPort{"192.168.7.2", 26379}));
    assert_true(c.consul);
    assert_string_equal(c.consul_address.c_str(), "https://consul.service.internal:8501");
    assert_true(c.consul_mode == ConsulMode::catalog);
    assert_string_equal(c.consul_datacenter.c_str(), "dc2");
    assert_int_equal(c.clusters.size(), 1);
    assert_string_equal(c.clusters[0].name.c_str(), "billing");
    assert_int_equal(c.clusters[0].external_port, 6390);
    assert_string_equal(c.clusters[0].consul_datacenter().c_str(), "dc2"); // inherited
    assert_string_equal(c.clusters[0].consul_node().c_str(), "redishappy-billing");
    assert_int_equal(c.clusters[0].consul_tags().size(), 1);
    assert_string_equal(c.clusters[0].consul_tags()[0].c_str(), "primary");
    assert_false(contains(r.ini, "reports"));
    expect_warning(r, "consul.services[1]: ", "\"reports\" is not in Clusters; skipped");
    expect_warning(r, "consul: ", "does not remove the catalog registrations");
    expect_no_warning(r, "unknown key");
    assert_int_equal(r.warnings.size(), 2);
}

static void sample_both(void**) {
    auto r = convert_sample("both");
    auto c = parse_clean(r);
    assert_int_equal(c.sentinels.size(), 1);
    assert_true((c.sentinels[0] == HostPort{"172.17.42.1", 26377}));
    assert_int_equal(c.clusters.size(), 1);
    auto& t = c.clusters[0];
    assert_string_equal(t.name.c_str(), "testing");
    assert_int_equal(t.external_port, 6379);
    assert_string_equal(t.consul_node().c_str(), "redis-1");
    assert_int_equal(t.consul_tags().size(), 2);
    assert_string_equal(t.consul_tags()[0].c_str(), "redis");
    assert_string_equal(t.consul_tags()[1].c_str(), "master");
    assert_string_equal(t.consul_datacenter().c_str(), "dc1");
    assert_true(c.haproxy);
    assert_string_equal(c.haproxy_template.c_str(), "haproxy_template.mustache");
    assert_string_equal(c.haproxy_output.c_str(), "haproxy.cfg");
    assert_string_equal(c.check_command.c_str(), "haproxy -c -q -f %s");
    assert_string_equal(c.reload_command.c_str(), "systemctl reload haproxy");
    assert_true(c.consul);
    assert_string_equal(c.consul_address.c_str(), "http://consul.local:8500");
    assert_true(c.consul_mode == ConsulMode::catalog);
    expect_warning(r, "HAProxy.TemplatePath: ", "relative path \"haproxy_template.cfg\"");
    expect_warning(r, "HAProxy.OutputPath: ", "relative path \"haproxy.cfg\"");
    expect_warning(r, "HAProxy.ReloadCommand: ", "master-worker reload");
    expect_warning(r, "Consul.Services[0].Node: ", "[cluster testing]");
    expect_no_warning(r, "\"-sf\"");
}

static void sample_legacy_masterport(void**) {
    auto r = convert_sample("legacy-masterport");
    auto c = parse_clean(r);
    assert_int_equal(c.clusters.size(), 1);
    assert_string_equal(c.clusters[0].name.c_str(), "legacy");
    assert_int_equal(c.clusters[0].external_port, 6500);
    assert_false(c.haproxy);
    assert_false(c.consul);
    expect_warning(r, "Clusters[0].MasterPort: ", "old name of ExternalPort");
    expect_warning(r, "LogPath: ", "unknown key");
    expect_warning(r, "Neither HAProxy nor Consul", "only monitor");
    assert_int_equal(r.warnings.size(), 3);
}

static void header_names_source(void**) {
    auto r = convert_original_config(doc(), "/etc/redishappy/config.json");
    parse_clean(r);
    assert_true(r.ini.starts_with("# redishappy.conf converted by redishappyctl convert-config\n"
                                  "# from the original redishappy's configuration "
                                  "/etc/redishappy/config.json\n"));
    // A hostile name cannot break out of the comment or overflow the line.
    r = convert_original_config(doc(), "evil\n[global]\nuser = root" + std::string(300, 'x'));
    auto c = parse_clean(r);
    assert_string_equal(c.user.c_str(), "redishappy");
    assert_true(contains(r.ini, "evil?[global]?user = root"));
}

// ---- errors ----

static void json_syntax_errors_have_position(void**) {
    auto r = convert_original_config("{\n  \"Clusters\": [,\n", "t.json");
    assert_int_equal(r.errors.size(), 1);
    // Line 2, column 16 (1-based): the ','.
    assert_string_equal(r.errors[0].c_str(), "2:16: unexpected token near ','");
    assert_true(r.ini.empty());
    r = convert_original_config("", "t.json");
    assert_int_equal(r.errors.size(), 1);
    assert_true(r.errors[0].starts_with("1:"));
    // Exact duplicate keys are a syntax error; case variants are caught below.
    r = convert_original_config("{\"Clusters\": [],\n \"Clusters\": []}", "t.json");
    assert_int_equal(r.errors.size(), 1);
    assert_true(r.errors[0].starts_with("2:"));
    assert_true(contains(r.errors[0], "duplicate"));
    expect_error("[1, 2]", "(top level): expected an object");
    // jansson quotes the offending bytes: they come out escaped.
    r = convert_original_config("{\"a\": \x1b]0;x\x07}", "t.json");
    assert_int_equal(r.errors.size(), 1);
    assert_false(contains(r.errors[0], "\x1b"));
}

static void wrong_types(void**) {
    const std::string port_msg = "Clusters[0].ExternalPort: expected an integer 1..65535";
    for (const char* bad : {"\"6379\"", "0", "65536", "-1", "6379.0", "true", "[6379]"})
        expect_error("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": " + std::string(bad) +
                         "}], " + sentinels + "}",
                     port_msg);
    expect_error("{\"Clusters\": {\"Name\": \"c1\"}, " + sentinels + "}",
                 "Clusters: expected an array of clusters");
    expect_error("{\"Clusters\": [\"c1\"], " + sentinels + "}",
                 "Clusters[0]: expected an object with Name and ExternalPort");
    expect_error("{\"Clusters\": [{\"Name\": 7, \"ExternalPort\": 1}], " + sentinels + "}",
                 "Clusters[0].Name: expected a string");
    expect_error("{" + clusters + ", \"Sentinels\": [{\"Host\": 10, \"Port\": 26379}]}",
                 "Sentinels[0].Host: expected a string");
    expect_error("{" + clusters + ", \"Sentinels\": [{\"Host\": \"h\", \"Port\": \"26379\"}]}",
                 "Sentinels[0].Port: expected an integer 1..65535");
    expect_error("{" + clusters + ", \"Sentinels\": [{\"Host\": \"bad host\", \"Port\": 1}]}",
                 "Sentinels[0].Host: \"bad host\" is not an IP address or a host name");
    expect_error("{" + clusters + ", \"Sentinels\": [{\"Port\": 1}]}",
                 "Sentinels[0].Host: missing");
    expect_error(doc(R"("HAProxy": "yes")"), "HAProxy: expected an object");
    expect_error(haproxy_with("OutputPath", "1"), "HAProxy.OutputPath: expected a string");
    expect_error(doc(R"("Consul": {"Services": {"Cluster": "c1"}})"),
                 "Consul.Services: expected an array");
    expect_error(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Tags": "redis"}]})"),
                 "Consul.Services[0].Tags: expected an array of strings");
    expect_error(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Tags": ["a", 1]}]})"),
                 "Consul.Services[0].Tags[1]: expected a string");
    expect_error(doc(R"("Consul": {"Address": 8500})"), "Consul.Address: expected a string");
    // The path follows the file's spelling of each key.
    expect_error("{\"clusters\": [{\"name\": \"c1\", \"externalPORT\": \"x\"}], " + sentinels + "}",
                 "clusters[0].externalPORT: expected an integer 1..65535");
    // Several errors are all reported.
    auto r = convert_original_config(
        "{\"Clusters\": [{\"Name\": \"a b\", \"ExternalPort\": 0}], \"Sentinels\": []}", "t.json");
    assert_int_equal(r.errors.size(), 3);
    assert_true(r.ini.empty());
}

static void bad_cluster_names(void**) {
    for (std::string name :
         std::vector<std::string>{"bad name", "a/b", "x:y", std::string(65, 'a'), "caf\xc3\xa9"})
        expect_error_like("{\"Clusters\": [{\"Name\": " + js(name) + ", \"ExternalPort\": 1}], " +
                              sentinels + "}",
                          "Clusters[0].Name: invalid cluster name", "letters, digits");
    expect_error("{\"Clusters\": [{\"Name\": \"\", \"ExternalPort\": 1}], " + sentinels + "}",
                 "Clusters[0].Name: missing: the name of the cluster Sentinel monitors");
    expect_error("{\"Clusters\": [{\"ExternalPort\": 1}], " + sentinels + "}",
                 "Clusters[0].Name: missing: the name of the cluster Sentinel monitors");
    expect_error("{\"Clusters\": [{\"Name\": \"c1\"}], " + sentinels + "}",
                 "Clusters[0].ExternalPort: missing: the port HAProxy exposes for this cluster");
    // 64 characters is the limit, and it passes parse_config().
    std::string longest(64, 'n');
    auto r = convert_original_config("{\"Clusters\": [{\"Name\": \"" + longest +
                                         "\", \"ExternalPort\": 1}], " + sentinels + "}",
                                     "t.json");
    auto c = parse_clean(r);
    assert_string_equal(c.clusters[0].name.c_str(), longest.c_str());
}

static void duplicates(void**) {
    expect_error("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 1}, {\"Name\": \"c1\", "
                 "\"ExternalPort\": 2}], " +
                     sentinels + "}",
                 "Clusters[1].Name: duplicate cluster name \"c1\" (also Clusters[0])");
    expect_error("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 6379}, {\"Name\": \"c2\", "
                 "\"ExternalPort\": 6379}], " +
                     sentinels + "}",
                 "Clusters[1].ExternalPort: port 6379 is also used by Clusters[0]");
    // Keys that differ only in case are the same key to Go.
    expect_error("{\"Clusters\": [{\"Name\": \"c1\", \"name\": \"c2\", \"ExternalPort\": 1}], " +
                     sentinels + "}",
                 "Clusters[0].name: given twice (also as \"Name\"; keys match regardless of case)");
    expect_error("{" + clusters + ", \"CLUSTERS\": [], " + sentinels + "}",
                 "CLUSTERS: given twice (also as \"Clusters\"; keys match regardless of case)");
    // A repeated Sentinel is written once (parse_config() refuses repeats).
    auto r = convert_original_config(
        "{" + clusters +
            R"(, "Sentinels": [{"Host": "::1", "Port": 26379}, {"Host": "[::1]", "Port": 26379}]})",
        "t.json");
    auto c = parse_clean(r);
    assert_int_equal(c.sentinels.size(), 1);
    assert_true((c.sentinels[0] == HostPort{"::1", 26379}));
    assert_true(contains(r.ini, "address = [::1]:26379\n"));
    expect_warning(r, "Sentinels[1]: ", "the same Sentinel as Sentinels[0]");
}

static void empty_or_missing_lists(void**) {
    expect_error("{\"Clusters\": [], " + sentinels + "}",
                 "Clusters: empty: at least one cluster is required");
    expect_error("{" + sentinels + "}", "Clusters: missing: at least one cluster is required");
    expect_error("{\"Clusters\": null, " + sentinels + "}",
                 "Clusters: missing: at least one cluster is required");
    expect_error("{" + clusters + ", \"Sentinels\": []}",
                 "Sentinels: empty: at least one Sentinel is required");
    expect_error("{" + clusters + "}", "Sentinels: missing: at least one Sentinel is required");
    auto r = convert_original_config("{}", "t.json");
    assert_int_equal(r.errors.size(), 2);
    assert_true(r.ini.empty());
}

static void unsafe_strings(void**) {
    expect_error_like(haproxy_with("ReloadCommand", js("reload\nuser = root")),
                      "HAProxy.ReloadCommand: ", "control character");
    expect_error_like(haproxy_with("ReloadCommand", js("reload\thaproxy")),
                      "HAProxy.ReloadCommand: ", "control character");
    expect_error(haproxy_with("ReloadCommand", js("reload ; rm -rf /")),
                 "HAProxy.ReloadCommand: \" ;\" would start an inline comment in the INI value");
    expect_error_like(haproxy_with("OutputPath", js(" /etc/haproxy/haproxy.cfg")),
                      "HAProxy.OutputPath: ", "leading or trailing spaces");
    expect_error_like(haproxy_with("OutputPath", js("/etc/haproxy/haproxy.cfg ")),
                      "HAProxy.OutputPath: ", "leading or trailing spaces");
    expect_error_like(haproxy_with("TemplatePath", js("/etc/rh/x\ny.cfg")),
                      "HAProxy.TemplatePath: ", "control character");
    expect_error(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Node": ";node"}]})"),
                 "Consul.Services[0].Node: a leading ';' would make the INI value a comment");
    expect_error_like(doc(R"("Consul": {"Datacenter": "dc1 ;x"})"),
                      "Consul.Datacenter: ", "inline comment");
    expect_error_like(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Tags": ["a,b"]}]})"),
                      "Consul.Services[0].Tags[0]: ", "cannot contain ','");
    expect_error(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Tags": [""]}]})"),
                 "Consul.Services[0].Tags[0]: empty tag");
    expect_error_like(doc(R"("Consul": {"Services": [{"Cluster": "c1", "Tags": ["a", ";b"]}]})"),
                      "Consul.Services[0].Tags[1]: ", "leading ';'");
    expect_error_like(doc(R"("Consul": {"Address": "consul local:8500"})"),
                      "Consul.Address: ", "white space");
    expect_error_like(doc(R"("Consul": {"Address": "unix:///run/consul.sock"})"),
                      "Consul.Address: ", "only http:// and https://");
    expect_error(doc(R"("Consul": {"Address": "http://"})"),
                 "Consul.Address: \"http://\" names no host");
    // A valid host name can still be too long for one INI line.
    std::string label(60, 'a');
    std::string host = label + "." + label + "." + label + ".example";
    expect_error_like("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 1}], "
                      "\"Sentinels\": [{\"Host\": \"" +
                          host + "\", \"Port\": 26379}]}",
                      "Sentinels[0]: ", "too long");
    expect_error("{\"Clusters\": [{\"Name\": \"c1\\n\", \"ExternalPort\": 1}], " + sentinels + "}",
                 "Clusters[0].Name: invalid cluster name \"c1\\x0a\" (1-64 of letters, digits, "
                 "'.', '_', '-')");
}

static void safe_strings_round_trip(void**) {
    // ';' not after a space, '#', '=', quotes and UTF-8 survive as they are.
    std::string reload = "kill -USR2 $(cat /run/haproxy.pid);sleep 1 # \"x\" = 'y' \xc3\xa9";
    auto r = convert_original_config(haproxy_with("ReloadCommand", js(reload)), "t.json");
    auto c = parse_clean(r);
    assert_string_equal(c.reload_command.c_str(), reload.c_str());
}

static void line_limit_matches_the_parser(void**) {
    // "output = " + value: the longest line parse_config() takes is 198.
    std::string fits = "/" + std::string(198 - 9 - 1, 'o');
    auto r = convert_original_config(haproxy_with("OutputPath", js(fits)), "t.json");
    auto c = parse_clean(r);
    assert_string_equal(c.haproxy_output.c_str(), fits.c_str());
    expect_error_like(haproxy_with("OutputPath", js(fits + "o")),
                      "HAProxy.OutputPath: ", "198 characters");
    // The template key is checked on the converted name.
    std::string tp = "/" + std::string(198 - 11 - 1 - 9, 't'); // + ".mustache"
    r = convert_original_config(haproxy_with("TemplatePath", js(tp + ".cfg")), "t.json");
    c = parse_clean(r);
    assert_string_equal(c.haproxy_template.c_str(), (tp + ".mustache").c_str());
    expect_error_like(haproxy_with("TemplatePath", js(tp + "t.cfg")),
                      "HAProxy.TemplatePath: ", "198 characters");
    // Tags are checked joined.
    std::string tags;
    for (int i = 0; i < 40; i++)
        tags += std::string(tags.empty() ? "" : ", ") + "\"tag" + std::to_string(i) + "\"";
    expect_error_like(
        doc("\"Consul\": {\"Services\": [{\"Cluster\": \"c1\", \"Tags\": [" + tags + "]}]}"),
        "Consul.Services[0].Tags: ", "198 characters");
}

// ---- mapping details and warnings ----

static void template_path_extension(void**) {
    struct Case {
        const char* in;
        const char* out;
    };
    for (auto [in, out] : {Case{"/etc/rh/haproxy.cfg", "/etc/rh/haproxy.mustache"},
                           Case{"/etc/rh/haproxy", "/etc/rh/haproxy.mustache"},
                           Case{"/etc/rh.d/haproxy", "/etc/rh.d/haproxy.mustache"},
                           Case{"/etc/rh/.haproxy", "/etc/rh/.haproxy.mustache"},
                           Case{"/etc/rh/t.tar.tmpl", "/etc/rh/t.tar.mustache"}}) {
        auto r = convert_original_config(haproxy_with("TemplatePath", js(in)), "t.json");
        auto c = parse_clean(r);
        assert_string_equal(c.haproxy_template.c_str(), out);
    }
}

static void consul_address_forms(void**) {
    struct Case {
        const char* in;
        const char* out;
    };
    for (auto [in, out] : {Case{"127.0.0.1:8500", "http://127.0.0.1:8500"},
                           Case{"consul:8500", "http://consul:8500"},
                           Case{"http://10.0.0.5:8500", "http://10.0.0.5:8500"},
                           Case{"https://consul.example:8501", "https://consul.example:8501"}}) {
        auto r = convert_original_config(
            doc("\"Consul\": {\"Address\": " + js(in) + ", \"Services\": []}"), "t.json");
        auto c = parse_clean(r);
        assert_string_equal(c.consul_address.c_str(), out);
        expect_no_warning(r, "not given");
    }
    auto r = convert_original_config(
        doc(R"("Consul": {"Services": [{"Cluster": "c1", "Node": "ext-redis"}]})"), "t.json");
    auto c = parse_clean(r);
    assert_string_equal(c.consul_address.c_str(), "http://127.0.0.1:8500");
    assert_string_equal(c.clusters[0].consul_node().c_str(), "ext-redis");
    expect_warning(r, "Consul.Address: ", "not given");
}

static void consul_service_warnings(void**) {
    std::string json = "{\"Clusters\": [{\"Name\": \"a\", \"ExternalPort\": 1}, {\"Name\": \"b\", "
                       "\"ExternalPort\": 2}], " +
                       sentinels + R"(, "Consul": {"Address": "127.0.0.1:8500", "Services": [)" +
                       R"({"Cluster": "a", "Node": "n1"}, {"Cluster": "a", "Node": "n2"}, )" +
                       R"({"Cluster": "zzz"}, {"Node": "n3"}]}})";
    auto r = convert_original_config(json, "t.json");
    auto c = parse_clean(r);
    assert_int_equal(c.clusters.size(), 2);
    assert_string_equal(c.clusters[0].consul_node().c_str(), "n1"); // the first entry wins
    assert_string_equal(c.clusters[1].consul_node().c_str(), "redishappy-b");
    assert_false(contains(r.ini, "n2"));
    expect_warning(r, "Consul.Services[0].Node: ", "\"n1\"");
    expect_warning(r, "Consul.Services[1]: ", "second entry for cluster \"a\"");
    expect_warning(r, "Consul.Services[2]: ", "\"zzz\" is not in Clusters; skipped");
    expect_warning(r, "Consul.Services[3]: ", "no Cluster given; skipped");
    expect_warning(r, "Clusters[1]: ", "no entry in Consul.Services");
    expect_no_warning(r, "n2\"");
    // An empty Consul object is left out, with a warning.
    r = convert_original_config(doc(R"("Consul": {})"), "t.json");
    c = parse_clean(r);
    assert_false(c.consul);
    expect_warning(r, "Consul: ", "no [consul] section is written");
    expect_warning(r, "Neither HAProxy nor Consul", "only monitor");
}

static void haproxy_warnings_and_omissions(void**) {
    // -sf as a word only.
    auto r = convert_original_config(
        haproxy_with("ReloadCommand", js("/usr/local/bin/reload-haproxy -sfx")), "t.json");
    parse_clean(r);
    expect_no_warning(r, "\"-sf\"");
    r = convert_original_config(haproxy_with("ReloadCommand", js("haproxy -D -sf 1 2")), "t.json");
    parse_clean(r);
    expect_warning(r, "HAProxy.ReloadCommand: ", "\"-sf\"");
    // No reload command: the file is only written.
    r = convert_original_config(
        doc(R"("HAProxy": {"TemplatePath": "/a/t.cfg", "OutputPath": "/b/h.cfg"})"), "t.json");
    auto c = parse_clean(r);
    assert_true(c.haproxy);
    assert_string_equal(c.reload_command.c_str(), "");
    expect_warning(r, "HAProxy.ReloadCommand: ", "not given");
    // An empty HAProxy object (Go's zero value) means no [haproxy] section.
    r = convert_original_config(doc(R"("HAProxy": {"ReloadCommand": ""})"), "t.json");
    c = parse_clean(r);
    assert_false(c.haproxy);
    expect_warning(r, "HAProxy: ", "no [haproxy] section is written");
    expect_error(doc(R"("HAProxy": {"TemplatePath": "/a/t.cfg"})"),
                 "HAProxy.OutputPath: missing: needed with TemplatePath");
    expect_error(doc(R"("HAProxy": {"OutputPath": "/a/h.cfg"})"),
                 "HAProxy.TemplatePath: missing: needed with OutputPath");
}

static void unknown_keys_are_warnings(void**) {
    auto r = convert_original_config(
        "{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 1, \"Weight\": 3}], " + sentinels +
            R"(, "Consul": {"Address": "a:1", "Token": "t", "Services": [{"Cluster": "c1", )" +
            R"("Port": 6379}]}, "Extra": {"x": 1}})",
        "t.json");
    parse_clean(r);
    expect_warning(r, "Clusters[0].Weight: ", "unknown key, ignored");
    expect_warning(r, "Consul.Token: ", "unknown key, ignored");
    expect_warning(r, "Consul.Services[0].Port: ", "unknown key, ignored");
    expect_warning(r, "Extra: ", "unknown key, ignored");
    // A key with control or non-ASCII bytes is quoted and escaped, never
    // printed raw to the operator's terminal.
    r = convert_original_config("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 1}], " +
                                    sentinels + ", \"\\u001b[31mX\\u009b\": 1}",
                                "t.json");
    parse_clean(r);
    expect_warning(r, "\"\\x1b[31mX\\xc2\\x9b\": ", "unknown key, ignored");
    // MasterPort next to ExternalPort is ignored.
    r = convert_original_config("{\"Clusters\": [{\"Name\": \"c1\", \"ExternalPort\": 1, "
                                "\"MasterPort\": 2}], " +
                                    sentinels + "}",
                                "t.json");
    auto c = parse_clean(r);
    assert_int_equal(c.clusters[0].external_port, 1);
    expect_warning(r, "Clusters[0].MasterPort: ", "ignored: ExternalPort is given");
}

static void guidance_text(void**) {
    auto g = template_guidance();
    for (const char* part :
         {"{{range .Clusters}}", "{{#clusters}}", "{{/clusters}}", "{{ .Name }}", "{{name}}",
          "{{ .Ip }}", "{{master_host}}", "{{ .Port }}", "{{master_port}}", "{{ .ExternalPort }}",
          "{{external_port}}", "{{#has_master}}", "{{^has_master}}", "etc/haproxy.cfg.mustache",
          "TEMPLATE", "redishappy.conf(5)"}) {
        if (!contains(g, part))
            fprintf(stderr, "guidance lacks %s\n", part);
        assert_true(contains(g, part));
    }
    // Every Go construct of the sample template is covered by the guidance.
    auto tmpl = read_file(data_path("haproxy_template.cfg"));
    assert_false(tmpl.empty());
    for (size_t at = tmpl.find("{{"); at != std::string::npos; at = tmpl.find("{{", at + 2)) {
        auto end = tmpl.find("}}", at);
        assert_true(end != std::string::npos);
        auto construct = tmpl.substr(at, end + 2 - at);
        if (!contains(g, construct))
            fprintf(stderr, "guidance lacks %s\n", construct.c_str());
        assert_true(contains(g, construct));
    }
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sample_haproxy),
        cmocka_unit_test(sample_consul),
        cmocka_unit_test(sample_consul_old),
        cmocka_unit_test(sample_both),
        cmocka_unit_test(sample_legacy_masterport),
        cmocka_unit_test(header_names_source),
        cmocka_unit_test(json_syntax_errors_have_position),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(bad_cluster_names),
        cmocka_unit_test(duplicates),
        cmocka_unit_test(empty_or_missing_lists),
        cmocka_unit_test(unsafe_strings),
        cmocka_unit_test(safe_strings_round_trip),
        cmocka_unit_test(line_limit_matches_the_parser),
        cmocka_unit_test(template_path_extension),
        cmocka_unit_test(consul_address_forms),
        cmocka_unit_test(consul_service_warnings),
        cmocka_unit_test(haproxy_warnings_and_omissions),
        cmocka_unit_test(unknown_keys_are_warnings),
        cmocka_unit_test(guidance_text),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
