// Unit tests for configuration parsing (src/config/config.cc).
#include "config/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

// cmocka last: its macros (e.g. fail) clash with libstdc++ names.
#include "../../cmocka.h"

using namespace rh;
using namespace std::chrono_literals;

namespace {

const char* const minimal = "[sentinels]\naddress = 127.0.0.1:26379\n";

ParseResult parse(const std::string& text) {
    return parse_config(text, "t.conf");
}

void dump(const ParseResult& r) {
    for (auto& e : r.errors)
        fprintf(stderr, "  %s\n", format_error(e).c_str());
}

// Exactly one error, on `line`, whose message contains `what`.
void expect_one_error(const std::string& text, int line, const char* what) {
    auto r = parse(text);
    if (r.errors.size() != 1) {
        fprintf(stderr, "expected 1 error, got %zu for:\n%s\n", r.errors.size(), text.c_str());
        dump(r);
    }
    assert_int_equal(r.errors.size(), 1);
    auto& e = r.errors[0];
    if (e.line != line || e.message.find(what) == std::string::npos)
        dump(r);
    assert_int_equal(e.line, line);
    assert_string_equal(e.file.c_str(), "t.conf");
    assert_non_null(strstr(e.message.c_str(), what));
}

void assert_clean(const ParseResult& r) {
    if (!r.errors.empty())
        dump(r);
    assert_int_equal(r.errors.size(), 0);
}

} // namespace

// The resolver's keys: defaults, overrides, an empty hosts_file (no hosts
// table), a Sentinel named by a host name, and the new durations' checks.
static void resolver_keys(void**) {
    auto d = parse(minimal);
    assert_clean(d);
    assert_string_equal(d.config.resolv_conf.c_str(), "/etc/resolv.conf");
    assert_false(d.config.resolv_conf_set);
    assert_string_equal(d.config.hosts_file.c_str(), "/etc/hosts");
    assert_int_equal(d.config.resolve_interval.count(), 30000);
    assert_int_equal(d.config.resolve_timeout.count(), 5000);

    auto r = parse("[global]\nresolv_conf = /tmp/r.conf\nhosts_file =\n"
                   "[sentinels]\naddress = sentinels.redis.svc.example:26379\n"
                   "resolve_interval = 10s\nresolve_timeout = 1500ms\n");
    assert_clean(r);
    assert_string_equal(r.config.resolv_conf.c_str(), "/tmp/r.conf");
    assert_true(r.config.resolv_conf_set);
    assert_string_equal(r.config.hosts_file.c_str(), "");
    assert_int_equal(r.config.sentinels.size(), 1);
    assert_string_equal(r.config.sentinels[0].host.c_str(), "sentinels.redis.svc.example");
    assert_int_equal(r.config.resolve_interval.count(), 10000);
    assert_int_equal(r.config.resolve_timeout.count(), 1500);

    // check_environment (redishappyd -n): a configured file must be readable.
    auto missing = parse("[global]\nresolv_conf = /nonexistent/r.conf\n"
                         "hosts_file = /nonexistent/hosts\n" +
                         std::string(minimal));
    assert_clean(missing);
    // (The default state_file directory may be missing here too: only the
    // resolver's errors are looked at.)
    auto about = [](const std::vector<ConfigError>& errs, const char* what, int line) {
        return std::count_if(errs.begin(), errs.end(), [&](const ConfigError& e) {
            return e.line == line && e.message.find(what) != std::string::npos;
        });
    };
    auto errs = check_environment(missing.config, false);
    assert_int_equal(about(errs, "resolv_conf /nonexistent/r.conf", 2), 1);
    assert_int_equal(about(errs, "hosts_file /nonexistent/hosts", 3), 1);
    // Unset: the defaults may be missing.
    auto none = check_environment(d.config, false);
    assert_int_equal(about(none, "resolv_conf", 0) + about(none, "hosts_file", 0), 0);

    expect_one_error(std::string(minimal) + "resolve_interval = 0s\n", 3, "greater than zero");
    expect_one_error(std::string(minimal) + "resolve_timeout = soon\n", 3, "invalid duration");
}

static void minimal_config_gets_defaults(void**) {
    auto r = parse(minimal);
    assert_clean(r);
    auto& c = r.config;
    assert_string_equal(c.path.c_str(), "t.conf");
    assert_string_equal(c.chroot.c_str(), "/var/lib/redishappy");
    assert_string_equal(c.state_file.c_str(), "/var/lib/redishappy/state.json");
    assert_true(c.log_level == log::Level::info);
    assert_int_equal(c.log_facility, LOG_DAEMON);
    assert_int_equal(c.api_listen.size(), 1);
    assert_string_equal(c.api_listen[0].host.c_str(), "127.0.0.1");
    assert_int_equal(c.api_listen[0].port, 8000);
    assert_int_equal(c.startup_grace.count(), 10000);
    assert_int_equal(c.sentinels.size(), 1);
    assert_int_equal(c.min_agreement, 0);
    assert_false(c.trust_discovered);
    assert_int_equal(c.forget_discovered_after.count(), 600000);
    assert_int_equal(c.max_epoch_jump, 1000);
    assert_int_equal(c.min_reload_interval.count(), 1000);
    assert_false(c.haproxy);
    assert_false(c.consul);
    assert_true(c.clusters.empty());
}

static void full_config_round_trip(void**) {
    auto r = parse("[global]\n"
                   "user = redishappy\n"
                   "chroot =\n"
                   "state_file = /tmp/s.json\n"
                   "log_level = debug\n"
                   "log_facility = local3\n"
                   "api_listen = 127.0.0.1:8001\n"
                   "api_listen = [::1]:8001\n"
                   "pid_file = /run/rh.pid\n"
                   "startup_grace = 2m\n"
                   "[sentinels]\n"
                   "address = 10.0.0.1:26379\n"
                   "address = [2001:db8::1]:26380\n"
                   "address = sentinel.local:26381\n"
                   "password = s3cret;x\n"
                   "min_agreement = 3\n"
                   "trust_discovered = on\n"
                   "ping_interval = 250ms\n"
                   "ping_timeout = 2s\n"
                   "connect_timeout = 3s\n"
                   "reread_interval = 1m\n"
                   "confirm_timeout = 400ms\n"
                   "forget_discovered_after = 5m\n"
                   "backoff_max = 20s\n"
                   "max_epoch_jump = 50\n"
                   "[cluster zeta]\n"
                   "external_port = 7000\n"
                   "[cluster alpha]\n"
                   "external_port = 6379\n"
                   "password = pw\n"
                   "haproxy_backend = be_alpha\n"
                   "haproxy_server = srv:1\n"
                   "consul_service = redis-alpha\n"
                   "consul_service_id = id-alpha\n"
                   "consul_tags = a , b\n"
                   "consul_node = n1\n"
                   "consul_datacenter = dc9\n"
                   "[haproxy]\n"
                   "template = /etc/t.mustache\n"
                   "output = /etc/h.cfg\n"
                   "check_command = haproxy -c -q -f %s\n"
                   "reload_command = systemctl reload haproxy\n"
                   "runtime_socket = /run/haproxy/admin.sock\n"
                   "reload_timeout = 5s\n"
                   "runtime_timeout = 100ms\n"
                   "min_reload_interval = 250ms\n"
                   "[consul]\n"
                   "address = https://127.0.0.1:8501\n"
                   "mode = agent\n"
                   "token_file = /etc/tok\n"
                   "ca_file = /etc/ca.pem\n"
                   "datacenter = dc1\n"
                   "node = node0\n"
                   "tags = redis, master\n"
                   "timeout = 1s\n"
                   "retry_max = 1m\n"
                   "refresh = 30s\n"
                   "instance = haproxy-2\n");
    assert_clean(r);
    auto& c = r.config;
    assert_string_equal(c.user.c_str(), "redishappy");
    assert_string_equal(c.chroot.c_str(), "");
    assert_string_equal(c.state_file.c_str(), "/tmp/s.json");
    assert_true(c.log_level == log::Level::debug);
    assert_int_equal(c.log_facility, LOG_LOCAL3);
    assert_int_equal(c.api_listen.size(), 2);
    assert_string_equal(c.api_listen[1].host.c_str(), "::1");
    assert_string_equal(c.pid_file.c_str(), "/run/rh.pid");
    assert_int_equal(c.startup_grace.count(), 120000);
    assert_int_equal(c.sentinels.size(), 3);
    assert_string_equal(c.sentinels[1].host.c_str(), "2001:db8::1");
    assert_int_equal(c.sentinels[1].port, 26380);
    assert_string_equal(c.sentinels[2].host.c_str(), "sentinel.local");
    assert_string_equal(c.sentinel_password.c_str(), "s3cret;x");
    assert_int_equal(c.min_agreement, 3);
    assert_true(c.trust_discovered);
    assert_int_equal(c.ping_interval.count(), 250);
    assert_int_equal(c.ping_timeout.count(), 2000);
    assert_int_equal(c.connect_timeout.count(), 3000);
    assert_int_equal(c.reread_interval.count(), 60000);
    assert_int_equal(c.confirm_timeout.count(), 400);
    assert_int_equal(c.forget_discovered_after.count(), 300000);
    assert_int_equal(c.backoff_max.count(), 20000);
    assert_int_equal(c.max_epoch_jump, 50);

    assert_int_equal(c.clusters.size(), 2);
    auto& a = c.clusters[0]; // sorted by name
    assert_string_equal(a.name.c_str(), "alpha");
    assert_int_equal(a.line, 28);
    assert_int_equal(a.external_port, 6379);
    assert_string_equal(a.password().c_str(), "pw");
    assert_string_equal(a.haproxy_backend().c_str(), "be_alpha");
    assert_string_equal(a.haproxy_server().c_str(), "srv:1");
    assert_string_equal(a.consul_service().c_str(), "redis-alpha");
    assert_string_equal(a.consul_service_id().c_str(), "id-alpha");
    assert_int_equal(a.consul_tags().size(), 2);
    assert_string_equal(a.consul_tags()[0].c_str(), "a");
    assert_string_equal(a.consul_tags()[1].c_str(), "b");
    assert_string_equal(a.consul_node().c_str(), "n1");
    assert_string_equal(a.consul_datacenter().c_str(), "dc9");
    auto& z = c.clusters[1]; // defaults, some from [consul]
    assert_string_equal(z.name.c_str(), "zeta");
    assert_int_equal(z.line, 26);
    assert_int_equal(z.external_port, 7000);
    assert_string_equal(z.password().c_str(), "");
    assert_string_equal(z.haproxy_backend().c_str(), "redis_zeta");
    assert_string_equal(z.haproxy_server().c_str(), "master");
    assert_string_equal(z.consul_service().c_str(), "zeta");
    assert_string_equal(z.consul_service_id().c_str(), "redishappy-zeta");
    assert_int_equal(z.consul_tags().size(), 2);
    assert_string_equal(z.consul_tags()[0].c_str(), "redis");
    assert_string_equal(z.consul_tags()[1].c_str(), "master");
    assert_string_equal(z.consul_node().c_str(), "node0");
    assert_string_equal(z.consul_datacenter().c_str(), "dc1");

    assert_true(c.haproxy);
    assert_string_equal(c.haproxy_template.c_str(), "/etc/t.mustache");
    assert_string_equal(c.haproxy_output.c_str(), "/etc/h.cfg");
    assert_string_equal(c.check_command.c_str(), "haproxy -c -q -f %s");
    assert_string_equal(c.reload_command.c_str(), "systemctl reload haproxy");
    assert_string_equal(c.runtime_socket.c_str(), "/run/haproxy/admin.sock");
    assert_int_equal(c.reload_timeout.count(), 5000);
    assert_int_equal(c.runtime_timeout.count(), 100);
    assert_int_equal(c.min_reload_interval.count(), 250);
    assert_true(c.consul);
    assert_string_equal(c.consul_address.c_str(), "https://127.0.0.1:8501");
    assert_true(c.consul_mode == ConsulMode::agent);
    assert_string_equal(c.consul_token_file.c_str(), "/etc/tok");
    assert_string_equal(c.consul_ca_file.c_str(), "/etc/ca.pem");
    assert_int_equal(c.consul_timeout.count(), 1000);
    assert_int_equal(c.consul_retry_max.count(), 60000);
    assert_int_equal(c.consul_refresh.count(), 30000);
    assert_string_equal(c.consul_instance.c_str(), "haproxy-2");
    assert_string_equal(c.consul_token.c_str(), ""); // never filled by the parser
}

// Clusters with equal text settings share one copy (at 10,000 clusters a
// copy each was most of the configuration's memory); a cluster with its
// own keeps its own, and a change to a shared one is a private copy.
static void equal_cluster_texts_are_shared(void**) {
    auto r = parse(std::string(minimal) + "[consul]\naddress = http://127.0.0.1:8500\n"
                                          "tags = redis\ndatacenter = dc1\n"
                                          "[cluster c1]\nexternal_port = 1\npassword = pw\n"
                                          "[cluster c2]\nexternal_port = 2\npassword = pw\n"
                                          "[cluster c3]\nexternal_port = 3\npassword = other\n"
                                          "[cluster c4]\nexternal_port = 4\npassword = pw\n"
                                          "consul_node = n4\n");
    assert_clean(r);
    auto& cl = r.config.clusters;
    assert_int_equal(cl.size(), 4);
    assert_ptr_equal(&cl[0].text(), &cl[1].text());
    assert_ptr_not_equal(&cl[0].text(), &cl[2].text());
    assert_ptr_not_equal(&cl[0].text(), &cl[3].text());
    // Shared, each still derives its own name-made defaults.
    assert_string_equal(cl[0].consul_node().c_str(), "redishappy-c1");
    assert_string_equal(cl[1].consul_node().c_str(), "redishappy-c2");
    assert_string_equal(cl[1].consul_service_id().c_str(), "redishappy-c2");
    assert_string_equal(cl[1].haproxy_backend().c_str(), "redis_c2");
    assert_string_equal(cl[1].consul_datacenter().c_str(), "dc1");
    assert_string_equal(cl[3].consul_node().c_str(), "n4");
    // Copy on write.
    cl[1].edit_text().password = "changed";
    assert_string_equal(cl[0].password().c_str(), "pw");
    assert_string_equal(cl[1].password().c_str(), "changed");
    // A cluster given nothing has no text of its own, and shares with no one.
    ClusterConfig plain;
    plain.share_text_of(cl[0]);
    assert_string_equal(plain.password().c_str(), "");
    assert_string_equal(plain.haproxy_server().c_str(), "master");
}

static void cluster_node_defaults_without_consul(void**) {
    auto r = parse(std::string(minimal) + "[cluster c1]\nexternal_port = 1\n");
    assert_clean(r);
    assert_string_equal(r.config.clusters[0].consul_node().c_str(), "redishappy-c1");
    assert_string_equal(r.config.clusters[0].consul_datacenter().c_str(), "");
    assert_true(r.config.clusters[0].consul_tags().empty());
}

static void line_numbers_survive_comments_and_blanks(void**) {
    expect_one_error("# comment\n"
                     "; another\n"
                     "\n"
                     "   \n"
                     "[sentinels]\n"
                     "  # indented comment\n"
                     "address = 127.0.0.1:26379 ; inline comment\n"
                     "\n"
                     "bogus = 1\n",
                     9, "unknown key 'bogus' in [sentinels]");
    // CRLF line ends and indented keys count the same.
    expect_one_error("[sentinels]\r\n\r\n  address = 127.0.0.1:26379\r\n\r\n  nope = 2\r\n", 5,
                     "unknown key 'nope'");
}

static void inline_comments_and_semicolons(void**) {
    auto r = parse("[sentinels]\naddress = 127.0.0.1:1 ; first\npassword = a;b ; c\n");
    assert_clean(r);
    assert_string_equal(r.config.sentinel_password.c_str(), "a;b");
}

static void indented_line_is_not_a_continuation(void**) {
    // inih would append "  junk" to the previous key; here it is a syntax error.
    expect_one_error(std::string(minimal) + "  junk\n", 3, "expected \"key = value\"");
}

static void syntax_errors_all_reported(void**) {
    auto r = parse("[sentinels\n"
                   "address = 127.0.0.1:1\n"
                   "[sentinels]\n"
                   "no equals here\n"
                   "address = 127.0.0.1:2\n"
                   "[global] trailing\n"
                   "also bad\n");
    if (r.errors.size() != 4)
        dump(r);
    assert_int_equal(r.errors.size(), 4);
    assert_int_equal(r.errors[0].line, 1);
    assert_non_null(strstr(r.errors[0].message.c_str(), "without ']'"));
    assert_int_equal(r.errors[1].line, 4);
    assert_non_null(strstr(r.errors[1].message.c_str(), "key = value"));
    assert_int_equal(r.errors[2].line, 6);
    assert_non_null(strstr(r.errors[2].message.c_str(), "text after section header"));
    assert_int_equal(r.errors[3].line, 7); // malformed even under a broken header
    // the key under the broken header is ignored, not misfiled
    assert_int_equal(r.config.sentinels.size(), 1);
    assert_int_equal(r.config.sentinels[0].port, 2);
}

static void key_outside_section(void**) {
    expect_one_error(std::string("x = 1\n") + minimal, 1, "outside of any section");
}

static void too_long_line_is_an_error(void**) {
    std::string ok = std::string(minimal) + "password = " + std::string(187, 'p') + "\n";
    auto r = parse(ok); // 198 characters: the longest accepted
    assert_clean(r);
    assert_int_equal(r.config.sentinel_password.size(), 187);
    std::string bad = std::string(minimal) + "password = " + std::string(188, 'p') + "\n" +
                      "[global]\nlog_level = loud\n";
    auto r2 = parse(bad);
    assert_int_equal(r2.errors.size(), 2);
    assert_int_equal(r2.errors[0].line, 3);
    assert_non_null(strstr(r2.errors[0].message.c_str(), "line too long"));
    assert_int_equal(r2.errors[1].line, 5); // lines after it are still counted right
    assert_string_equal(r2.config.sentinel_password.c_str(), ""); // not truncated into place
}

static void nul_byte_is_an_error(void**) {
    expect_one_error(std::string(minimal) + std::string("password = a\0b\n", 15), 3, "NUL");
}

static void unknown_section(void**) {
    expect_one_error(std::string(minimal) + "\n[globall]\nuser = x\n", 4,
                     "unknown section [globall]");
}

static void duplicate_sections(void**) {
    expect_one_error(std::string(minimal) + "[global]\n[global]\n", 4,
                     "duplicate section [global] (first at line 3)");
    expect_one_error(std::string(minimal) + "[cluster a]\nexternal_port = 1\n[cluster a]\n", 5,
                     "duplicate section [cluster a] (first at line 3)");
}

static void duplicate_key(void**) {
    expect_one_error(std::string(minimal) + "[global]\nuser = a\nuser = b\n", 5,
                     "duplicate key 'user' in [global] (first at line 4)");
}

static void repeatable_keys_all_arrive(void**) {
    auto r = parse("[sentinels]\naddress = 127.0.0.1:1\naddress = 127.0.0.1:2\n"
                   "address = [::1]:3\n[global]\napi_listen = 127.0.0.1:1\napi_listen = [::1]:2\n");
    assert_clean(r);
    assert_int_equal(r.config.sentinels.size(), 3);
    assert_int_equal(r.config.sentinels[2].port, 3);
    assert_string_equal(r.config.sentinels[2].host.c_str(), "::1");
    assert_int_equal(r.config.api_listen.size(), 2);
    expect_one_error("[sentinels]\naddress = 127.0.0.1:1\naddress = 127.0.0.1:1\n", 3,
                     "duplicate sentinel 127.0.0.1:1");
}

static void bad_host_port(void**) {
    expect_one_error("[sentinels]\naddress = 2001:db8::1:26379\n", 2, "address: '2001:db8::1");
    expect_one_error("[sentinels]\naddress = 127.0.0.1\n", 2, "address: '127.0.0.1'");
    expect_one_error(std::string(minimal) + "[global]\napi_listen = host:99999\n", 4,
                     "api_listen: 'host:99999'");
}

static void api_listen_none(void**) {
    auto r = parse(std::string(minimal) + "[global]\napi_listen = none\n");
    assert_clean(r);
    assert_true(r.config.api_listen.empty());
    expect_one_error(std::string(minimal) + "[global]\napi_listen = none\napi_listen = [::1]:1\n",
                     5, "mixed with 'none' (line 4)");
    expect_one_error(std::string(minimal) + "[global]\napi_listen = [::1]:1\napi_listen = none\n",
                     5, "'none' mixed with an address (line 4)");
}

static void bad_values(void**) {
    std::string g = std::string(minimal) + "[global]\n";
    expect_one_error(g + "log_level = loud\n", 4, "log_level: invalid level 'loud'");
    expect_one_error(g + "log_facility = mail2\n", 4, "log_facility: invalid facility");
    expect_one_error(g + "startup_grace = 10\n", 4, "startup_grace: invalid duration '10'");
    expect_one_error(g + "startup_grace = 0s\n", 4, "greater than zero");
    std::string s = "[sentinels]\naddress = 127.0.0.1:1\n";
    expect_one_error(s + "trust_discovered = maybe\n", 3, "trust_discovered: invalid boolean");
    expect_one_error(s + "max_epoch_jump = -1\n", 3, "max_epoch_jump: must be a number");
    expect_one_error(s + "max_epoch_jump = 99999999999999999999999\n", 3, "max_epoch_jump");
    expect_one_error(s + "ping_timeout = 1h\n", 3, "ping_timeout: invalid duration");
    expect_one_error(s + "backoff_max = s\n", 3, "backoff_max: invalid duration");
}

// [cluster] replica_backend, max_replicas (default 8, 1..64), max_replica_lag.
static void read_backend_keys(void**) {
    std::string m = std::string(minimal) + "[cluster a]\nexternal_port = 1\n";
    auto r = parse(m);
    assert_clean(r);
    assert_true(r.config.clusters[0].replica_backend().empty());
    assert_int_equal(r.config.clusters[0].max_replicas, 8);
    assert_false(r.config.clusters[0].max_replica_lag.has_value());
    r = parse(m + "replica_backend = a_read\nmax_replicas = 64\nmax_replica_lag = 1048576\n");
    assert_clean(r);
    assert_string_equal(r.config.clusters[0].replica_backend().c_str(), "a_read");
    assert_int_equal(r.config.clusters[0].max_replicas, 64);
    assert_int_equal(*r.config.clusters[0].max_replica_lag, 1048576);
    assert_clean(parse(m + "max_replica_lag = 0\n"));
    expect_one_error(m + "max_replicas = 0\n", 5, "max_replicas: must be a number from 1 to 64");
    expect_one_error(m + "max_replicas = 65\n", 5, "max_replicas: must be a number from 1 to 64");
    expect_one_error(m + "max_replica_lag = 1k\n", 5, "max_replica_lag: must be a number");
    expect_one_error(m + "replica_backend = a b\n", 5, "replica_backend: invalid HAProxy name");
    expect_one_error(m + "replica_backend = redis_a\n", 3,
                     "replica_backend must differ from haproxy_backend");
    r = parse(m + "replica_port = 2\n");
    assert_clean(r);
    assert_int_equal(r.config.clusters[0].replica_port, 2);
    expect_one_error(m + "replica_port = 1\n", 5, "replica_port 1 already used by cluster a");
    expect_one_error(m + "replica_port = 0\n", 5, "replica_port: invalid port");
}

static void min_agreement_limits(void**) {
    std::string s = "[sentinels]\naddress = 127.0.0.1:1\naddress = 127.0.0.1:2\n";
    expect_one_error(s + "min_agreement = 0\n", 4, "min_agreement: must be a number from 1");
    expect_one_error(s + "min_agreement = 3\n", 4, "more than the 2 configured sentinels");
    auto r = parse(s + "min_agreement = 3\ntrust_discovered = yes\n");
    assert_clean(r);
    assert_int_equal(r.config.min_agreement, 3);
    assert_clean(parse(s + "min_agreement = 2\n"));
}

static void missing_sentinels(void**) {
    expect_one_error("[global]\nuser = x\n", 0, "missing section [sentinels]");
    expect_one_error("[global]\n\n[sentinels]\npassword = x\n", 3,
                     "[sentinels]: missing required key 'address'");
}

static void cluster_errors(void**) {
    std::string m = minimal;
    expect_one_error(m + "[cluster]\nexternal_port = 1\n", 3, "[cluster] section without a name");
    expect_one_error(m + "[cluster bad/name]\nexternal_port = 1\n", 3,
                     "invalid cluster name 'bad/name'");
    expect_one_error(m + "[cluster " + std::string(65, 'x') + "]\nexternal_port = 1\n", 3,
                     "invalid cluster name");
    assert_clean(parse(m + "[cluster " + std::string(64, 'x') + "]\nexternal_port = 1\n"));
    expect_one_error(m + "[cluster a]\npassword = x\n", 3,
                     "[cluster a]: missing required key 'external_port'");
    expect_one_error(m + "[cluster a]\nexternal_port = 0\n", 4, "external_port: invalid port '0'");
    expect_one_error(m + "[cluster a]\nexternal_port = 1\nhaproxy_backend = a b\n", 5,
                     "haproxy_backend: invalid HAProxy name 'a b'");
    expect_one_error(m + "[cluster a]\nexternal_port = 1\nhaproxy_server = x\"y\n", 5,
                     "haproxy_server: invalid HAProxy name");
    expect_one_error(m + "[cluster a]\nexternal_port = 1\nconsul_tags = a,,b\n", 5,
                     "consul_tags: empty or invalid tag");
    expect_one_error(m + "[cluster a]\nexternal_port = 1\nfoo = 1\n", 5,
                     "unknown key 'foo' in [cluster a]");
}

static void external_port_conflict_names_both(void**) {
    expect_one_error(std::string(minimal) +
                         "[cluster b]\nexternal_port = 6379\n[cluster a]\nexternal_port = 6379\n",
                     6, "cluster a: external_port 6379 already used by cluster b (line 4)");
}

static void haproxy_errors(void**) {
    std::string m = minimal;
    expect_one_error(m + "[haproxy]\noutput = /x\n", 3,
                     "[haproxy]: missing required key 'template'");
    expect_one_error(m + "[haproxy]\ntemplate = /x\n", 3,
                     "[haproxy]: missing required key 'output'");
    auto r = parse(m + "[haproxy]\n");
    assert_int_equal(r.errors.size(), 2); // both missing keys reported
    expect_one_error(m + "[haproxy]\ntemplate = /t\noutput = /o\nreload_timeout = 5\n", 6,
                     "reload_timeout: invalid duration");
}

// fence (issue 15): off by default; needs the runtime socket, which is how
// the fence is applied, or it is an error on the fence line.
static void fence_keys(void**) {
    std::string m = minimal;
    auto r = parse(m + "[cluster a]\nexternal_port = 7000\n");
    assert_clean(r);
    assert_false(r.config.clusters[0].fence);
    assert_int_equal(r.config.clusters[0].fence_timeout.count(), 0);
    std::string hap = "[haproxy]\ntemplate = /t\noutput = /o\nruntime_socket = /run/h.sock\n";
    r = parse(m + hap + "[cluster a]\nexternal_port = 7000\nfence = yes\nfence_timeout = 90s\n");
    assert_clean(r);
    assert_true(r.config.clusters[0].fence);
    assert_int_equal(r.config.clusters[0].fence_timeout.count(), 90000);
    expect_one_error(m + "[cluster a]\nexternal_port = 7000\nfence = yes\n", 5,
                     "fence = yes needs [haproxy] runtime_socket");
    expect_one_error(m + "[haproxy]\ntemplate = /t\noutput = /o\n[cluster a]\n"
                         "external_port = 7000\nfence = yes\n",
                     8, "fence = yes needs [haproxy] runtime_socket");
    expect_one_error(m + hap + "[cluster a]\nexternal_port = 7000\nfence = maybe\n", 9,
                     "fence: invalid boolean");
    expect_one_error(m + hap + "[cluster a]\nexternal_port = 7000\nfence_timeout = 0s\n", 9,
                     "fence_timeout: duration must be greater than zero");
}

static void consul_errors(void**) {
    std::string m = minimal;
    expect_one_error(m + "[consul]\nmode = agent\n", 3, "[consul]: missing required key 'address'");
    expect_one_error(m + "[consul]\naddress = ftp://x\n", 4, "not an http:// or https:// URL");
    expect_one_error(m + "[consul]\naddress = http://\n", 4, "not an http:// or https:// URL");
    expect_one_error(m + "[consul]\naddress = http://admin:pw@127.0.0.1:8500\n", 4,
                     "user information in the URL is not supported");
    expect_one_error(m + "[consul]\naddress = http://x\nmode = server\n", 5,
                     "mode: 'server' is neither catalog nor agent");
    expect_one_error(m + "[consul]\naddress = http://x\ntimeout = 1\n", 5,
                     "timeout: invalid duration");
    expect_one_error(m + "[consul]\naddress = http://x\nrefresh = 1\n", 5,
                     "refresh: invalid duration");
    expect_one_error(m + "[consul]\naddress = http://x\ninstance = a\x01b\n", 5,
                     "instance: control character");
}

// By default an instance is named after its host, and refresh is off.
static void consul_instance_and_refresh_defaults(void**) {
    auto r = parse(std::string(minimal) + "[consul]\naddress = http://x\n");
    assert_clean(r);
    char host[256] = {};
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    assert_string_equal(r.config.consul_instance.c_str(), host);
    assert_int_equal(r.config.consul_refresh.count(), 0);
    r = parse(std::string(minimal) + "[consul]\naddress = http://x\nrefresh = 0\n");
    assert_clean(r);
    assert_int_equal(r.config.consul_refresh.count(), 0);
}

static void empty_optional_value_means_unset(void**) {
    auto r = parse(std::string(minimal) +
                   "password =\n[global]\nstate_file =\nlog_level =\nstartup_grace =\n");
    assert_clean(r);
    assert_string_equal(r.config.state_file.c_str(), "/var/lib/redishappy/state.json");
    assert_int_equal(r.config.startup_grace.count(), 10000);
    assert_string_equal(r.config.sentinel_password.c_str(), "");
}

static void all_errors_collected(void**) {
    auto r = parse("[global]\nlog_level = x\nbogus = 1\n[cluster]\n[haproxy]\n");
    // log_level, bogus, nameless cluster, 2 missing haproxy keys, missing [sentinels]
    assert_int_equal(r.errors.size(), 6);
    assert_int_equal(r.errors[0].line, 0); // sorted by line
    assert_int_equal(r.errors[1].line, 2);
    assert_int_equal(r.errors[2].line, 3);
    assert_int_equal(r.errors[3].line, 4);
}

static void many_clusters_sorted(void**) {
    std::string text = minimal;
    for (int i = 999; i >= 0; i--)
        text += "[cluster c" + std::to_string(i) +
                "]\nexternal_port = " + std::to_string(10000 + i) + "\n";
    auto r = parse(text);
    assert_clean(r);
    assert_int_equal(r.config.clusters.size(), 1000);
    for (size_t i = 1; i < r.config.clusters.size(); i++)
        assert_true(r.config.clusters[i - 1].name < r.config.clusters[i].name);
    assert_string_equal(r.config.clusters[0].name.c_str(), "c0");
    assert_int_equal(r.config.clusters[0].line, 2 * 999 + 3);
}

static void durations(void**) {
    Millis m{};
    assert_true(parse_duration("500ms", &m));
    assert_int_equal(m.count(), 500);
    assert_true(parse_duration("10s", &m));
    assert_int_equal(m.count(), 10000);
    assert_true(parse_duration("2m", &m));
    assert_int_equal(m.count(), 120000);
    assert_true(parse_duration("0ms", &m));
    assert_int_equal(m.count(), 0);
    assert_false(parse_duration("10", &m));
    assert_false(parse_duration("", &m));
    assert_false(parse_duration("ms", &m));
    assert_false(parse_duration("-1s", &m));
    assert_false(parse_duration("1.5s", &m));
    assert_false(parse_duration("1 s", &m));
    assert_false(parse_duration("1h", &m));
    assert_false(parse_duration("1S", &m));
    assert_false(parse_duration("1234567890s", &m)); // too many digits
}

static void booleans(void**) {
    bool b = false;
    for (const char* t : {"yes", "true", "on", "1"}) {
        b = false;
        assert_true(parse_bool(t, &b));
        assert_true(b);
    }
    for (const char* f : {"no", "false", "off", "0"}) {
        b = true;
        assert_true(parse_bool(f, &b));
        assert_false(b);
    }
    assert_false(parse_bool("Yes", &b));
    assert_false(parse_bool("", &b));
    assert_false(parse_bool("2", &b));
}

static void format_errors(void**) {
    assert_string_equal(format_error({"a.conf", 3, "bad"}).c_str(), "a.conf:3: bad");
    assert_string_equal(format_error({"a.conf", 0, "bad"}).c_str(), "a.conf: bad");
}

static void sample_file_parses(void**) {
    const char* src = getenv("RH_SRCDIR");
    std::string path = std::string(src ? src : ".") + "/etc/redishappy.conf.sample";
    auto r = load_config(path);
    assert_clean(r);
    assert_string_equal(r.config.user.c_str(), "redishappy");
    assert_int_equal(r.config.sentinels.size(), 1);
    assert_int_equal(r.config.clusters.size(), 1);
    assert_true(r.config.haproxy);
    assert_false(r.config.consul);
}

// ---- file-system helpers: private temp dir, removed at the end ----

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/rh-config-test.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
    std::string write(const std::string& name, const std::string& content) {
        std::string p = path + "/" + name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
};

} // namespace

static void load_missing_file(void**) {
    auto r = load_config("/nonexistent/redishappy.conf");
    assert_int_equal(r.errors.size(), 1);
    assert_int_equal(r.errors[0].line, 0);
    assert_string_equal(format_error(r.errors[0]).c_str(),
                        "/nonexistent/redishappy.conf: No such file or directory");
}

static void load_file_reports_its_path(void**) {
    TempDir d;
    auto p = d.write("r.conf", std::string(minimal) + "bad = 1\n");
    auto r = load_config(p);
    assert_int_equal(r.errors.size(), 1);
    assert_string_equal(format_error(r.errors[0]).c_str(),
                        (p + ":3: unknown key 'bad' in [sentinels]").c_str());
}

static void secret_files(void**) {
    TempDir d;
    std::string err;
    assert_string_equal(load_secret_file(d.write("a", "tok\n"), &err).c_str(), "tok");
    assert_string_equal(load_secret_file(d.write("b", "tok\r\n"), &err).c_str(), "tok");
    assert_string_equal(load_secret_file(d.write("c", "tok"), &err).c_str(), "tok");
    assert_string_equal(load_secret_file(d.write("d", std::string(4096, 't')), &err).c_str(),
                        std::string(4096, 't').c_str());
    err.clear();
    assert_string_equal(load_secret_file(d.write("e", ""), &err).c_str(), "");
    assert_non_null(strstr(err.c_str(), "empty"));
    err.clear();
    assert_string_equal(load_secret_file(d.write("f", "\n"), &err).c_str(), "");
    assert_non_null(strstr(err.c_str(), "empty"));
    err.clear();
    load_secret_file(d.write("g", std::string(4097, 't')), &err);
    assert_non_null(strstr(err.c_str(), "4 KiB"));
    err.clear();
    load_secret_file(d.path + "/missing", &err);
    assert_non_null(strstr(err.c_str(), "No such file"));
}

static void environment_checks(void**) {
    TempDir d;
    auto text = "[global]\n"
                "user = no-such-user-rh\n"
                "chroot = " +
                d.path + "/nochroot\n" + "state_file = " + d.path +
                "/missing/state.json\n"
                "[sentinels]\naddress = 127.0.0.1:1\n"
                "[haproxy]\n"
                "template = " +
                d.path + "/missing.mustache\n" + "output = " + d.path + "/nodir/haproxy.cfg\n" +
                "[consul]\naddress = http://127.0.0.1:1\n"
                "token_file = " +
                d.path + "/tok\nca_file = " + d.path + "/ca\n";
    auto r = parse_config(text, "e.conf");
    assert_clean(r);
    auto errs = check_environment(r.config, true);
    for (auto& e : errs)
        fprintf(stderr, "  %s\n", format_error(e).c_str());
    assert_int_equal(errs.size(), 7);
    int lines[] = {2, 3, 4, 8, 9, 12, 13}; // user, chroot, state_file, template, output, ...
    for (auto& e : errs) {
        bool found = false;
        for (int l : lines)
            found = found || e.line == l;
        assert_true(found);
    }

    // Not as root: user and chroot are not checked.
    assert_int_equal(check_environment(r.config, false).size(), 5);

    // Everything present.
    mkdir((d.path + "/missing").c_str(), 0755);
    mkdir((d.path + "/nodir").c_str(), 0755);
    d.write("missing.mustache", "x");
    d.write("tok", "t\n");
    d.write("ca", "c\n");
    assert_int_equal(check_environment(r.config, false).size(), 0);
}

static void tls_and_acl_keys(void**) {
    // Defaults: no TLS, no user, verification on.
    auto r = parse(minimal);
    assert_clean(r);
    assert_false(r.config.sentinel_tls);
    assert_true(r.config.tls.verify);
    assert_true(r.config.sentinel_username.empty());

    r = parse("[tls]\n"
              "ca_file = /etc/redis/ca.crt\n"
              "cert_file = /c.crt\n"
              "key_file = /c.key\n"
              "verify = no\n"
              "server_name = redis.example\n"
              "[sentinels]\naddress = 127.0.0.1:1\ntls = yes\nusername = rhs\npassword = p\n"
              "[cluster a]\nexternal_port = 7000\n"
              "[cluster b]\nexternal_port = 7001\ntls = no\nusername = rh\npassword = q\n");
    assert_clean(r);
    auto& c = r.config;
    assert_string_equal(c.tls.ca_file.c_str(), "/etc/redis/ca.crt");
    assert_int_equal(c.tls.ca_file_line, 2);
    assert_string_equal(c.tls.cert_file.c_str(), "/c.crt");
    assert_int_equal(c.tls.key_file_line, 4);
    assert_false(c.tls.verify);
    assert_string_equal(c.tls.server_name.c_str(), "redis.example");
    assert_true(c.sentinel_tls);
    assert_string_equal(c.sentinel_username.c_str(), "rhs");
    assert_true(c.clusters[0].tls); // a: the [sentinels] value
    assert_true(c.clusters[0].username().empty());
    assert_false(c.clusters[1].tls); // b: its own
    assert_string_equal(c.clusters[1].username().c_str(), "rh");

    // A cluster may use TLS when the Sentinels do not.
    r = parse(std::string("[tls]\nca_file = /ca\n") + minimal +
              "[cluster a]\nexternal_port = 7000\ntls = yes\n");
    assert_clean(r);
    assert_true(r.config.clusters[0].tls);

    expect_one_error(std::string(minimal) + "tls = maybe\n", 3, "tls");
    expect_one_error("[tls]\nserver_name = bad_name!\n" + std::string(minimal), 2, "server_name");
    expect_one_error("[tls]\nca_file = /ca\ncert_file = /c\n" + std::string(minimal), 1,
                     "cert_file and key_file go together");
    expect_one_error("[tls]\nbogus = 1\n" + std::string(minimal), 2, "unknown key 'bogus'");
    // Verifying needs trust anchors: the chroot hides the system's.
    expect_one_error("[tls]\nverify = yes\n" + std::string(minimal) + "tls = yes\n", 1,
                     "no ca_file");
    expect_one_error(std::string(minimal) + "username = rhs\n", 3, "needs a password");
    expect_one_error(std::string(minimal) + "[cluster a]\nexternal_port = 1\nusername = u\n", 5,
                     "needs a password");
    auto nv = parse("[tls]\nverify = no\n" + std::string(minimal) + "tls = yes\n");
    assert_clean(nv);
}

// check_environment's errors for a [tls] section with these three files
// (lines 2, 3 and 4) and TLS towards the Sentinels; printed, for a failure.
static std::vector<ConfigError> tls_errors(const TempDir& d, const std::string& ca,
                                           const std::string& cert, const std::string& key) {
    auto text = "[tls]\nca_file = " + ca + "\ncert_file = " + cert + "\nkey_file = " + key + "\n" +
                minimal + "tls = yes\n[global]\nstate_file = " + d.path + "/s.json\n";
    auto r = parse_config(text, "e.conf");
    assert_clean(r);
    auto errs = check_environment(r.config, false);
    for (auto& e : errs)
        fprintf(stderr, "  %s\n", format_error(e).c_str());
    return errs;
}

static void tls_files_checked(void**) {
    TempDir d;
    auto errs = tls_errors(
        d, d.write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
        d.path + "/missing.crt", d.write("der.key", std::string("\x30\x82\x01", 3)));
    assert_int_equal(errs.size(), 2);
    assert_int_equal(errs[0].line, 3);
    assert_non_null(strstr(errs[0].message.c_str(), "cert_file"));
    assert_int_equal(errs[1].line, 4);
    assert_non_null(strstr(errs[1].message.c_str(), "not a PEM file"));
    // The error never shows the key's bytes.
    assert_null(strstr(errs[1].message.c_str(), "\x30\x82"));
}

// A configured resolv_conf must name a name server evdns takes: without one
// the engine asked 127.0.0.1 instead, with only a warning.
static void resolv_conf_needs_a_nameserver(void**) {
    TempDir dir;
    auto about = [](const std::vector<ConfigError>& errs, const char* what, int line) {
        return std::count_if(errs.begin(), errs.end(), [&](const ConfigError& e) {
            return e.line == line && e.message.find(what) != std::string::npos;
        });
    };
    auto rc_errors = [&](const std::string& text) {
        auto conf = parse("[global]\nresolv_conf = " + dir.write("r.conf", text) +
                          "\nhosts_file =\n" + std::string(minimal));
        assert_clean(conf);
        return about(check_environment(conf.config, false), "no 'nameserver IP' line", 2);
    };
    assert_int_equal(rc_errors("nameserver 10.0.0.1\n"), 0);
    assert_int_equal(rc_errors("# c\nsearch x\n  nameserver\t127.0.0.1:5353  # local\n"), 0);
    assert_int_equal(rc_errors("nameserver [::1]:53\n"), 0);
    assert_int_equal(rc_errors("nameserver ::1\n"), 0);
    assert_int_equal(rc_errors("nameserver fe80::1%eth0\n"), 0);
    assert_int_equal(rc_errors("nameserver dns.example\n"), 1);
    assert_int_equal(rc_errors("nameserver 10.0.0.1:99999\n"), 1);
    assert_int_equal(rc_errors("nameservr 10.0.0.1\n"), 1);
    assert_int_equal(rc_errors(std::string("\x7f\x45\x4c\x46\0\0garbage", 13)), 1);
    assert_int_equal(rc_errors(""), 1);
}

// What each [tls] file holds is checked by the parent too, so that -n and a
// SIGHUP refuse what the engine could not load (it would exit at every
// restart): broken PEM, a key where a certificate belongs and the reverse,
// and an encrypted key (OpenSSL would ask for its passphrase on a terminal).
static void tls_file_contents_checked(void**) {
    TempDir d;
    const std::string cert = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
    const std::string key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
    auto errors_for = [&](const std::string& ca, const std::string& crt, const std::string& k) {
        return tls_errors(d, d.write("ca.pem", ca), d.write("c.pem", crt), d.write("k.pem", k));
    };
    auto one = [&](const std::vector<ConfigError>& errs, int line, const char* what) {
        assert_int_equal(errs.size(), 1);
        assert_int_equal(errs[0].line, line);
        assert_non_null(strstr(errs[0].message.c_str(), what));
    };
    // Good: text around blocks, CRLF, a bundle, a certificate and key in one file.
    assert_int_equal(errors_for("subject=x\r\n" + cert + cert, cert + key, key).size(), 0);
    assert_int_equal(errors_for(cert, cert + key, cert + key).size(), 0);
    one(errors_for("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", cert, key),
        2, "ca_file");
    one(errors_for(cert, "-----BEGIN CERTIFICATE-----\nMII*\n-----END CERTIFICATE-----\n", key), 3,
        "not base64");
    one(errors_for(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n", key), 3, "without its END");
    one(errors_for(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n", key), 3,
        "ends with END PRIVATE KEY");
    one(errors_for(key, cert, key), 2, "holds no CERTIFICATE");
    one(errors_for(cert, cert, cert), 4, "holds no PRIVATE KEY");
    one(errors_for(cert, cert,
                   "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n"
                   "-----END ENCRYPTED PRIVATE KEY-----\n"),
        4, "encrypted");
    one(errors_for(cert, cert,
                   "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                   "DEK-Info: AES-256-CBC,B60D\n\nMIIB\n-----END EC PRIVATE KEY-----\n"),
        4, "encrypted");
    // Never the key's bytes in the message.
    auto errs =
        errors_for(cert, cert, "-----BEGIN PRIVATE KEY-----\nSECRET*\n-----END PRIVATE KEY-----\n");
    one(errs, 4, "not base64");
    assert_null(strstr(errs[0].message.c_str(), "SECRET"));
}

static void chroot_must_be_safe(void**) {
    TempDir d;
    Config c;
    c.path = "c.conf";
    c.state_file = "";
    c.user = "root";
    c.chroot = d.path;
    c.chroot_line = 7;
    auto errs = check_environment(c, true);
    // mkdtemp makes a 0700 directory owned by the test's user
    if (geteuid() == 0) {
        assert_int_equal(errs.size(), 0);
        chmod(d.path.c_str(), 0777);
        errs = check_environment(c, true);
        assert_int_equal(errs.size(), 1);
        assert_non_null(strstr(errs[0].message.c_str(), "group or world writable"));
    } else {
        assert_int_equal(errs.size(), 1);
        assert_non_null(strstr(errs[0].message.c_str(), "not owned by root"));
    }
    assert_int_equal(errs[0].line, 7);
    c.chroot = d.write("file", "x");
    errs = check_environment(c, true);
    assert_int_equal(errs.size(), 1);
    assert_non_null(strstr(errs[0].message.c_str(), "not a directory"));
}

// A token over plain http is flagged unless the agent is on loopback.
static void consul_token_in_clear_is_flagged(void**) {
    auto conf = [](const std::string& address, bool token) {
        std::string text =
            "[global]\n[sentinels]\naddress = 127.0.0.1:1\n[consul]\naddress = " + address + "\n" +
            (token ? "token_file = /t\n" : "");
        auto r = parse_config(text, "c.conf");
        assert_clean(r);
        return consul_token_in_clear(r.config);
    };
    assert_true(conf("http://10.0.0.5:8500", true));
    assert_true(conf("http://consul.example.com", true));
    assert_true(conf("http://[2001:db8::1]:8500/", true));
    assert_false(conf("http://10.0.0.5:8500", false));
    assert_false(conf("https://10.0.0.5:8500", true));
    assert_false(conf("http://127.0.0.1:8500", true));
    assert_false(conf("http://localhost:8500", true));
    assert_false(conf("http://[::1]:8500", true));
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_backend_keys),
        cmocka_unit_test(minimal_config_gets_defaults),
        cmocka_unit_test(full_config_round_trip),
        cmocka_unit_test(cluster_node_defaults_without_consul),
        cmocka_unit_test(equal_cluster_texts_are_shared),
        cmocka_unit_test(line_numbers_survive_comments_and_blanks),
        cmocka_unit_test(inline_comments_and_semicolons),
        cmocka_unit_test(indented_line_is_not_a_continuation),
        cmocka_unit_test(syntax_errors_all_reported),
        cmocka_unit_test(key_outside_section),
        cmocka_unit_test(too_long_line_is_an_error),
        cmocka_unit_test(nul_byte_is_an_error),
        cmocka_unit_test(unknown_section),
        cmocka_unit_test(duplicate_sections),
        cmocka_unit_test(duplicate_key),
        cmocka_unit_test(repeatable_keys_all_arrive),
        cmocka_unit_test(bad_host_port),
        cmocka_unit_test(api_listen_none),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(min_agreement_limits),
        cmocka_unit_test(missing_sentinels),
        cmocka_unit_test(cluster_errors),
        cmocka_unit_test(external_port_conflict_names_both),
        cmocka_unit_test(haproxy_errors),
        cmocka_unit_test(fence_keys),
        cmocka_unit_test(consul_errors),
        cmocka_unit_test(consul_instance_and_refresh_defaults),
        cmocka_unit_test(empty_optional_value_means_unset),
        cmocka_unit_test(all_errors_collected),
        cmocka_unit_test(many_clusters_sorted),
        cmocka_unit_test(durations),
        cmocka_unit_test(booleans),
        cmocka_unit_test(format_errors),
        cmocka_unit_test(sample_file_parses),
        cmocka_unit_test(load_missing_file),
        cmocka_unit_test(load_file_reports_its_path),
        cmocka_unit_test(secret_files),
        cmocka_unit_test(environment_checks),
        cmocka_unit_test(consul_token_in_clear_is_flagged),
        cmocka_unit_test(chroot_must_be_safe),
        cmocka_unit_test(resolver_keys),
        cmocka_unit_test(tls_and_acl_keys),
        cmocka_unit_test(tls_files_checked),
        cmocka_unit_test(tls_file_contents_checked),
        cmocka_unit_test(resolv_conf_needs_a_nameserver),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
