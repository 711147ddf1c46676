// Unit tests for redishappyctl's formatting (src/ctl/ctl.cc). The input is what
// the daemon's own renderers (src/engine/api_json.cc) produce, so a change to the
// API that the tool does not follow fails here; plus the original
// redishappy's sparser replies and broken or hostile ones.
#include <algorithm>
#include <cstring>
#include <string>

#include "ctl/ctl.h"
#include "engine/api_json.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;

namespace {

bool contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!contains((hay), (needle)))                                                            \
            fail_msg("expected \"%s\" in:\n%s", std::string(needle).c_str(),                       \
                     std::string(hay).c_str());                                                    \
    } while (0)

// Two clusters: one applied with a replica, one with no master and a failed
// apply; two Sentinels, one down with an error.
ApiView sample() {
    ApiView v;
    ApiCluster a;
    a.name = "alpha";
    a.external_port = 6379;
    a.master = HostPort{"10.0.0.5", 6380};
    a.epoch = 7;
    a.confirmed = true;
    a.confirmed_at = 1795000000;
    a.corroborated_by = {"10.0.0.1:26379", "10.0.0.2:26379"};
    a.replicas = {HostPort{"10.0.0.6", 6380}, HostPort{"2001:db8::7", 6380}};
    a.apply_state = "applied";
    a.applied_at = 1795000001;
    a.switches = 2;
    a.last_switch = 1795000000;
    ApiCluster b;
    b.name = "beta";
    b.external_port = 6390;
    b.apply_state = "error";
    b.apply_error = "check_command exited with status 1";
    b.apply_errors = 3;
    v.clusters = {a, b};
    ApiSentinel s1;
    s1.address = "10.0.0.2:26379";
    s1.configured = true;
    s1.trusted = true;
    s1.state = "up";
    s1.clusters = {"alpha", "beta"};
    s1.latency_ms = 0.25;
    ApiSentinel s2;
    s2.address = "10.0.0.1:26379";
    s2.state = "down";
    s2.last_error = "connection refused";
    s2.reconnects = 4;
    v.sentinels = {s1, s2};
    return v;
}

// Each line of a table, split on runs of two or more spaces.
std::vector<std::string> row_of(const std::string& text, const std::string& first) {
    size_t at = text.find("\n" + first + " ");
    if (at == std::string::npos && text.rfind(first + " ", 0) == 0)
        at = 0;
    else if (at != std::string::npos)
        at++;
    if (at == std::string::npos)
        return {};
    std::string line = text.substr(at, text.find('\n', at) - at);
    std::vector<std::string> cells;
    size_t i = 0;
    while (i < line.size()) {
        size_t gap = line.find("  ", i);
        cells.push_back(line.substr(i, gap == std::string::npos ? std::string::npos : gap - i));
        if (gap == std::string::npos)
            break;
        i = line.find_first_not_of(' ', gap);
    }
    return cells;
}

void assert_row(const std::string& text, const std::vector<std::string>& expect) {
    auto got = row_of(text, expect[0]);
    if (got != expect) {
        std::string g;
        for (auto& c : got)
            g += "[" + c + "]";
        fail_msg("row %s: got %s in:\n%s", expect[0].c_str(), g.c_str(), text.c_str());
    }
}

void status_table(void**) {
    ApiView v = sample();
    auto f = ctl::format_status(render_topology(v), render_sentinels(v));
    assert_true(f.error.empty());
    assert_contains(f.text, "2 clusters: 1 with a master, 1 applied; 1 of 2 Sentinels up\n");
    assert_row(f.text,
               {"CLUSTER", "PORT", "MASTER", "EPOCH", "CONFIRMED", "APPLIED", "REPLICAS", "ERROR"});
    assert_row(f.text, {"alpha", "6379", "10.0.0.5:6380", "7", "yes", "applied",
                        "10.0.0.6:6380,[2001:db8::7]:6380", "-"});
    assert_row(f.text, {"beta", "6390", "-", "0", "no", "error", "-",
                        "check_command exited with status 1"});
    // Sentinels sorted by address, whatever order the API used.
    assert_true(f.text.find("10.0.0.1:26379") < f.text.find("10.0.0.2:26379"));
    assert_row(f.text, {"10.0.0.1:26379", "down", "discovered", "no", "-", "connection refused"});
    assert_row(f.text, {"10.0.0.2:26379", "up", "configured", "yes", "0.25ms", "-"});
}

void stale_cluster_says_so(void**) {
    ApiView v = sample();
    v.clusters[0].stale = true;
    auto f = ctl::format_status(render_topology(v), render_sentinels(v));
    assert_true(f.error.empty());
    assert_row(f.text, {"alpha", "6379", "10.0.0.5:6380", "7", "stale", "applied",
                        "10.0.0.6:6380,[2001:db8::7]:6380", "-"});
}

// A fenced cluster: a line after the cluster table, and a fence row in
// its topology block; a cluster with fence = no has neither.
void fenced_cluster_says_so(void**) {
    ApiView v = sample();
    auto& a = v.clusters[0];
    a.fence = true;
    a.fenced = true;
    a.fenced_master = HostPort{"10.0.0.5", 6380};
    a.fenced_since = 1795000000;
    a.fence_deadline = 1795000180;
    a.fences = 1;
    auto f = ctl::format_status(render_topology(v), render_sentinels(v));
    assert_true(f.error.empty());
    assert_contains(f.text, "cluster alpha: FENCED 10.0.0.5:6380 since " + rfc3339_utc(1795000000) +
                                ", lifted by fence_timeout at " + rfc3339_utc(1795000180) + "\n");
    assert_false(contains(f.text, "cluster beta:"));
    a.fenced = false;
    a.fence_lifted_by = "switch";
    auto t = ctl::format_topology(render_topology(v));
    assert_contains(t.text,
                    "  fence            not fenced (1 fences, the last lifted by switch)\n");
    f = ctl::format_status(render_topology(v), render_sentinels(v));
    assert_false(contains(f.text, "FENCED"));
}

void topology_blocks(void**) {
    ApiView v = sample();
    auto f = ctl::format_topology(render_topology(v));
    assert_true(f.error.empty());
    assert_true(f.text.rfind("alpha\n", 0) == 0);
    assert_contains(f.text, "  corroborated by  10.0.0.1:26379, 10.0.0.2:26379\n");
    assert_contains(f.text, "  confirmed        yes at " + rfc3339_utc(1795000000) + "\n");
    assert_contains(f.text, "  switches         2, last at " + rfc3339_utc(1795000000) + "\n");
    assert_contains(f.text, "\nbeta\n");
    assert_contains(f.text, "  apply errors     3, last: check_command exited with status 1\n");
    // Go's zero time means "never" and is not printed.
    assert_false(contains(f.text, "0001-01-01"));
    auto empty = ctl::format_topology("[]");
    assert_string_equal(empty.text.c_str(), "no clusters\n");
}

void sentinels_table(void**) {
    ApiView v = sample();
    auto f = ctl::format_sentinels(render_sentinels(v));
    assert_true(f.error.empty());
    assert_row(f.text, {"SENTINEL", "STATE", "ORIGIN", "TRUSTED", "CLUSTERS", "LATENCY",
                        "RECONNECTS", "LAST REPLY", "ERROR"});
    assert_row(f.text, {"10.0.0.2:26379", "up", "configured", "yes", "alpha,beta", "0.25ms", "0",
                        "-", "-"});
    assert_row(f.text, {"10.0.0.1:26379", "down", "discovered", "no", "-", "-", "4", "-",
                        "connection refused"});
}

void health(void**) {
    ApiView v = sample();
    auto r = render_health(v);
    bool healthy = true;
    auto f = ctl::format_health(r.body, r.status, &healthy);
    assert_true(f.error.empty());
    assert_false(healthy);
    assert_contains(f.text, "unhealthy\n");
    assert_contains(f.text, "  cluster beta: no confirmed master\n");

    v.clusters.pop_back();
    r = render_health(v);
    f = ctl::format_health(r.body, r.status, &healthy);
    assert_true(f.error.empty());
    assert_true(healthy);
    assert_string_equal(f.text.c_str(), "ok\n");

    // The status code and the body must agree; anything else is not our API.
    f = ctl::format_health(r.body, 503, &healthy);
    assert_false(f.error.empty());
    f = ctl::format_health("{\"status\":\"unhealthy\"}", 200, &healthy);
    assert_false(f.error.empty());
    f = ctl::format_health("{\"status\":\"fine\"}", 200, &healthy);
    assert_false(f.error.empty());
    f = ctl::format_health("<html>", 200, &healthy);
    assert_contains(f.error, "not JSON");
}

// The original redishappy served only name/externalPort/ip/port and a
// numeric Sentinel state; the tool still prints what there is.
void original_redishappy_replies(void**) {
    const char* topo = R"([{"name":"testing","externalPort":6379,"ip":"10.0.0.5","port":6380}])";
    const char* sent = R"({"sentinels":{"10.0.0.1:26379":{"sentinelLocation":"10.0.0.1:26379",
        "lastUpdated":"2015-01-01T00:00:00Z","clusters":["testing"],"state":1}}})";
    auto f = ctl::format_status(topo, sent);
    assert_true(f.error.empty());
    assert_row(f.text, {"testing", "6379", "10.0.0.5:6380", "-", "-", "-", "-", "-"});
    assert_row(f.text, {"10.0.0.1:26379", "up", "-", "-", "-", "-"});
}

// A master announced by host name shows the IP it was reached at, and a
// name that does not resolve shows why.
void named_master_shows_its_address(void**) {
    const char* topo = R"([{"name":"a","externalPort":6379,"ip":"redis-0.svc","port":6380,
        "addr":"10.1.0.7"},{"name":"b","externalPort":6381,"ip":"10.0.0.5","port":6380,
        "addr":"10.0.0.5","resolveError":null},{"name":"c","externalPort":6382,"ip":"r.svc",
        "port":1,"addr":"10.0.0.9","resolveError":"NXDOMAIN"}])";
    const char* sent = R"({"sentinels":{}})";
    auto f = ctl::format_status(topo, sent);
    assert_true(f.error.empty());
    assert_row(f.text, {"a", "6379", "redis-0.svc:6380 (10.1.0.7)", "-", "-", "-", "-", "-"});
    assert_row(f.text, {"b", "6381", "10.0.0.5:6380", "-", "-", "-", "-", "-"});
    assert_row(f.text,
               {"c", "6382", "r.svc:1 (10.0.0.9)", "-", "-", "-", "-", "resolve: NXDOMAIN"});
}

void broken_replies_are_errors(void**) {
    std::string sent = render_sentinels(sample());
    std::string topo = render_topology(sample());
    struct {
        const char *topo, *sent, *expect;
    } cases[] = {
        {"not json", nullptr, "/api/topology is not JSON (line 1"},
        {"{}", nullptr, "/api/topology is not a JSON array"},
        {"[1]", nullptr, "/api/topology[0] is not a cluster object with a name"},
        {"[{\"ip\":\"1.2.3.4\"}]", nullptr, "/api/topology[0] is not a cluster object"},
        {"[{\"name\":\"a\",\"name\":\"b\"}]", nullptr, "duplicate"},
        {nullptr, "[]", "/api/sentinels has no \"sentinels\" object"},
        {nullptr, "{\"sentinels\":{\"a\":1}}", "entry a is not an object"},
        {nullptr, "{\"sentinels\":", "/api/sentinels is not JSON"},
    };
    for (auto& c : cases) {
        auto f = ctl::format_status(c.topo ? c.topo : topo, c.sent ? c.sent : sent);
        assert_contains(f.error, c.expect);
        assert_true(f.text.empty());
    }
    assert_false(ctl::format_topology("{}").error.empty());
    assert_false(ctl::format_sentinels("[]").error.empty());
}

// Wrong types print as "-" rather than being trusted or crashing.
void mistyped_fields(void**) {
    const char* topo = R"([{"name":"x","externalPort":"6379","ip":5,"port":"p","epoch":null,
        "confirmed":"yes","applied":[],"replicas":{"ip":"1.1.1.1"},"consul":7}])";
    auto f = ctl::format_topology(topo);
    assert_true(f.error.empty());
    assert_contains(f.text, "  master           -\n");
    assert_contains(f.text, "  confirmed        -\n");
    assert_contains(f.text, "  replicas         -\n");
    assert_contains(f.text, "  applied          -\n");
}

// A hostile string cannot reach the terminal as control characters.
void control_characters_escaped(void**) {
    assert_string_equal(ctl::printable("a\x1b]0;owned\x07z").c_str(), "a\\x1b]0;owned\\x07z");
    assert_string_equal(ctl::printable("tab\tnl\n\x7f\xc3\xa9").c_str(),
                        "tab\\x09nl\\x0a\\x7f\\xc3\\xa9");
    assert_string_equal(ctl::printable("").c_str(), "-");
    ApiView v = sample();
    v.sentinels[1].last_error = "refused\x1b[2J";
    v.sentinels[1].address = "10.0.0.1:26379\x1b[H";
    auto f = ctl::format_sentinels(render_sentinels(v));
    assert_true(f.error.empty());
    assert_false(contains(f.text, "\x1b"));
    assert_contains(f.text, "refused\\x1b[2J");
    assert_contains(f.text, "10.0.0.1:26379\\x1b[H");
}

void api_address_from_api_listen(void**) {
    assert_false(ctl::api_address({}).has_value());
    auto a = ctl::api_address({HostPort{"0.0.0.0", 8000}, HostPort{"10.0.0.1", 9000}});
    assert_true(a && *a == (HostPort{"127.0.0.1", 8000}));
    a = ctl::api_address({HostPort{"::", 8001}});
    assert_true(a && *a == (HostPort{"::1", 8001}));
    a = ctl::api_address({HostPort{"10.0.0.1", 9000}});
    assert_true(a && *a == (HostPort{"10.0.0.1", 9000}));
}

// --json re-encodes what it prints: no byte can act on a terminal.
void json_output_is_ascii(void**) {
    std::string err;
    std::string out = ctl::ascii_json("{\"a\": \"x\x7f\xc2\x9b\xc3\xa9\", \"b\": [1, 2]}", &err);
    assert_true(err.empty());
    assert_string_equal(out.c_str(), "{\"a\":\"x\\u007F\\u009B\\u00E9\",\"b\":[1,2]}\n");
    for (unsigned char c : out)
        assert_true(c == '\n' || (c >= 0x20 && c < 0x7f));
    out = ctl::ascii_json("{\"a\": \"\x1b[2J", &err);
    assert_true(out.empty());
    assert_contains(err, "not JSON");
    assert_false(contains(err, "\x1b"));
}

void table_alignment(void**) {
    std::string t = ctl::render_table({{"A", "BB", "C"}, {"long", "x", "y"}});
    assert_string_equal(t.c_str(), "A     BB  C\nlong  x   y\n");
    assert_string_equal(ctl::render_table({}).c_str(), "");
    // One huge cell cannot widen every row: it is cut and marked.
    std::vector<std::vector<std::string>> rows{{"A", "B"}, {std::string(100000, 'x'), "y"}};
    for (int i = 0; i < 1000; i++)
        rows.push_back({"a", "b"});
    std::string big = ctl::render_table(rows);
    assert_true(big.size() <= 1002 * (ctl::kMaxCell + 3 + 2 + 2)); // not 100,000 a row
    assert_non_null(
        std::strstr(big.c_str(), std::string(ctl::kMaxCell, 'x').append("...  y\n").c_str()));
}

// The daemon's own /api/events rendering of a few events.
std::string events_json() {
    ApiView v;
    ApiCluster c;
    c.name = "main";
    v.clusters.push_back(c);
    EventLog log;
    log.record(1795428000123, "main", EventKind::refused, EventReason::min_agreement,
               {HostPort{"10.0.0.6", 7002}, 8, "127.0.0.1:26379", true,
                "sentinel 127.0.0.1:26379 reports 10.0.0.6:7002 at epoch 8 alone; 1 of 2 "
                "required"});
    log.record(1795428000200, "main", EventKind::refused, EventReason::min_agreement,
               {HostPort{"10.0.0.6", 7002}, 8, "127.0.0.1:26379", true, "again"});
    log.record(1795428000456, "main", EventKind::candidate, EventReason::untrusted,
               {HostPort{"::1", 7003}, 9, "127.0.0.2:26379", false, ""});
    log.record(1795428001000, "main", EventKind::confirmed, EventReason::switch_master,
               {HostPort{"10.0.0.6", 7002}, 8, "127.0.0.1:26379, 127.0.0.1:26380", true,
                "ROLE master; corroborated by 127.0.0.1:26379, 127.0.0.1:26380"});
    log.record(1795428001789, "main", EventKind::applied, EventReason::runtime,
               {HostPort{"10.0.0.6", 7002}, 8, "", false, ""});
    log.record(1795428002000, "", EventKind::refused, EventReason::max_discovered,
               {std::nullopt, 0, "10.9.9.9:1\x1b[2J", false, ""});
    v.events = log.last();
    return render_events(v, "").body;
}

} // namespace

static void events_table(void**) {
    auto f = ctl::format_events(events_json());
    assert_true(f.error.empty());
    auto lines = std::count(f.text.begin(), f.text.end(), '\n');
    assert_int_equal(lines, 6); // header + 5 (the repeat folded)
    assert_contains(f.text, "TIME");
    assert_contains(f.text, "WHY");
    assert_contains(f.text, "2026-11-23T10:00:00.456Z  main");
    assert_contains(f.text, "[::1]:7003");
    assert_contains(f.text, "127.0.0.2:26379 (untrusted)");
    assert_contains(f.text, "2x since 10:00:00.123");
    assert_contains(f.text, "not enough trusted Sentinels agree (min_agreement): again");
    assert_contains(f.text, "in effect through HAProxy's runtime socket");
    assert_contains(f.text, "new master: ROLE master, corroborated: ROLE master;");
    assert_contains(f.text, "too many discovered Sentinels");
    assert_false(contains(f.text, "\x1b")); // the daemon escaped it; nothing raw
    // Oldest first: the apply comes after the confirmation.
    assert_true(f.text.find("runtime socket") > f.text.find("new master"));
}

static void events_broken_replies(void**) {
    assert_false(ctl::format_events("[]").error.empty());
    assert_false(ctl::format_events("{\"events\": 3}").error.empty());
    assert_false(ctl::format_events("{\"events\": [{\"kind\": \"x\"}]}").error.empty());
    assert_false(ctl::format_events("not json").error.empty());
    auto f = ctl::format_events("{\"events\": []}");
    assert_true(f.error.empty());
    assert_string_equal(f.text.c_str(), "no events\n");
    // An unknown reason (a newer daemon) prints as its code.
    f = ctl::format_events("{\"events\": [{\"kind\": \"refused\", \"reason\": "
                           "\"new-rule\", \"detail\": {}}]}");
    assert_true(f.error.empty());
    assert_contains(f.text, "new-rule");
    assert_string_equal(ctl::error_of("{\"error\": \"n must be\\n1\"}").c_str(), "n must be\\x0a1");
    assert_string_equal(ctl::error_of("nope").c_str(), "(no reason given)");
    assert_string_equal(ctl::utc_ms(1795428000007).c_str(), "2026-11-23T10:00:00.007Z");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_table),
        cmocka_unit_test(fenced_cluster_says_so),
        cmocka_unit_test(stale_cluster_says_so),
        cmocka_unit_test(topology_blocks),
        cmocka_unit_test(sentinels_table),
        cmocka_unit_test(health),
        cmocka_unit_test(original_redishappy_replies),
        cmocka_unit_test(named_master_shows_its_address),
        cmocka_unit_test(broken_replies_are_errors),
        cmocka_unit_test(mistyped_fields),
        cmocka_unit_test(control_characters_escaped),
        cmocka_unit_test(api_address_from_api_listen),
        cmocka_unit_test(json_output_is_ascii),
        cmocka_unit_test(table_alignment),
        cmocka_unit_test(events_table),
        cmocka_unit_test(events_broken_replies),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
