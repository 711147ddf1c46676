// Unit tests for Consul request bodies (src/engine/consul_json.cc): every key is one
// the Consul HTTP API documents, with the documented JSON type.
#include "../../cmocka.h"

#include <jansson.h>

#include <set>
#include <string>

#include <curl/curl.h>

#include "engine/consul.h"
#include "engine/consul_json.h"

using namespace rh;

static ConsulService sample() {
    ConsulService s;
    s.cluster = "cache";
    s.tags = {"master", "v\"7"};
    s.address = HostPort{"10.0.0.5", 6380};
    return s;
}

struct Parsed {
    json_t* j;
    explicit Parsed(const std::string& body) {
        json_error_t err;
        j = json_loads(body.c_str(), 0, &err);
        assert_non_null(j);
        assert_true(json_is_object(j));
    }
    ~Parsed() { json_decref(j); }
};

static std::set<std::string> keys(json_t* obj) {
    std::set<std::string> out;
    const char* k;
    json_t* v;
    json_object_foreach(obj, k, v) out.insert(k);
    return out;
}

static const char* str(json_t* obj, const char* key) {
    json_t* v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void check_tags(json_t* tags) {
    assert_true(json_is_array(tags));
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "master");
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "v\"7");
}

static void catalog_register_uses_synthetic_node(void**) {
    ConsulRequest r = consul_register_request(ConsulMode::catalog, sample());
    assert_string_equal(r.method.c_str(), "PUT");
    assert_string_equal(r.path.c_str(), "/v1/catalog/register");
    Parsed p(r.body);
    assert_true((keys(p.j) == std::set<std::string>{"Node", "Address", "NodeMeta", "Service"}));
    assert_string_equal(str(p.j, "Node"), "redishappy-cache");
    assert_string_equal(str(p.j, "Address"), "10.0.0.5");
    json_t* meta = json_object_get(p.j, "NodeMeta");
    assert_true((keys(meta) == std::set<std::string>{"external-node", "external-probe"}));
    assert_string_equal(str(meta, "external-node"), "true");
    assert_string_equal(str(meta, "external-probe"), "true");
    json_t* svc = json_object_get(p.j, "Service");
    assert_true(json_is_object(svc));
    assert_true((keys(svc) == std::set<std::string>{"ID", "Service", "Tags", "Address", "Port"}));
    assert_string_equal(str(svc, "ID"), "redishappy-cache");
    assert_string_equal(str(svc, "Service"), "cache");
    assert_string_equal(str(svc, "Address"), "10.0.0.5");
    check_tags(json_object_get(svc, "Tags"));
    json_t* port = json_object_get(svc, "Port");
    assert_true(json_is_integer(port));
    assert_int_equal(json_integer_value(port), 6380);
}

static void catalog_register_honours_overrides(void**) {
    ConsulService s = sample();
    s.service = "redis";
    s.service_id = "redis-1";
    s.node = "ext-node";
    s.datacenter = "dc2";
    s.tags.clear();
    Parsed p(consul_register_request(ConsulMode::catalog, s).body);
    assert_string_equal(str(p.j, "Datacenter"), "dc2");
    assert_string_equal(str(p.j, "Node"), "ext-node");
    json_t* svc = json_object_get(p.j, "Service");
    assert_string_equal(str(svc, "ID"), "redis-1");
    assert_string_equal(str(svc, "Service"), "redis");
    json_t* tags = json_object_get(svc, "Tags");
    assert_true(json_is_array(tags));
    assert_int_equal(json_array_size(tags), 0);
}

static void catalog_deregister_names_node_and_service(void**) {
    ConsulService s = sample();
    s.datacenter = "dc1";
    ConsulRequest r = consul_deregister_request(ConsulMode::catalog, s);
    assert_string_equal(r.method.c_str(), "PUT");
    assert_string_equal(r.path.c_str(), "/v1/catalog/deregister");
    Parsed p(r.body);
    assert_true((keys(p.j) == std::set<std::string>{"Datacenter", "Node", "ServiceID"}));
    assert_string_equal(str(p.j, "Datacenter"), "dc1");
    assert_string_equal(str(p.j, "Node"), "redishappy-cache");
    assert_string_equal(str(p.j, "ServiceID"), "redishappy-cache");
}

static void agent_register_fields(void**) {
    ConsulRequest r = consul_register_request(ConsulMode::agent, sample());
    assert_string_equal(r.path.c_str(), "/v1/agent/service/register");
    Parsed p(r.body);
    assert_true((keys(p.j) == std::set<std::string>{"ID", "Name", "Tags", "Address", "Port"}));
    assert_string_equal(str(p.j, "ID"), "redishappy-cache");
    assert_string_equal(str(p.j, "Name"), "cache");
    assert_string_equal(str(p.j, "Address"), "10.0.0.5");
    check_tags(json_object_get(p.j, "Tags"));
    assert_true(json_is_integer(json_object_get(p.j, "Port")));
    assert_int_equal(json_integer_value(json_object_get(p.j, "Port")), 6380);
}

static void agent_deregister_escapes_id(void**) {
    ConsulService s = sample();
    s.service_id = "a b/c";
    ConsulRequest r = consul_deregister_request(ConsulMode::agent, s);
    assert_string_equal(r.path.c_str(), "/v1/agent/service/deregister/a%20b%2Fc");
    assert_true(r.body.empty());
}

static void ipv6_address_has_no_brackets(void**) {
    ConsulService s = sample();
    s.address = HostPort{"2001:db8::1", 7000};
    Parsed p(consul_register_request(ConsulMode::catalog, s).body);
    assert_string_equal(str(p.j, "Address"), "2001:db8::1");
}

static void first_line_cuts(void**) {
    assert_string_equal(first_line("ACL not found\nmore").c_str(), "ACL not found");
    assert_string_equal(first_line("bad\r\nx").c_str(), "bad");
    assert_string_equal(first_line("").c_str(), "");
    assert_int_equal(first_line(std::string(500, 'x')).size(), 200);
}

// The reason label of redishappy_consul_errors_total.
static void classifies_consul_errors(void**) {
    auto is = [](long http, int curl, ConsulError want) {
        assert_int_equal(static_cast<int>(classify_consul_error(http, curl)),
                         static_cast<int>(want));
    };
    is(0, CURLE_COULDNT_CONNECT, ConsulError::connect);
    is(0, CURLE_COULDNT_RESOLVE_HOST, ConsulError::connect);
    is(0, CURLE_OPERATION_TIMEDOUT, ConsulError::timeout);
    is(0, CURLE_PEER_FAILED_VERIFICATION, ConsulError::tls);
    is(403, CURLE_OK, ConsulError::http_4xx);
    is(500, CURLE_OK, ConsulError::http_5xx);
    is(599, CURLE_OK, ConsulError::http_5xx);
    is(301, CURLE_OK, ConsulError::other);
    is(0, CURLE_WRITE_ERROR, ConsulError::other); // a reply over its cap
    assert_string_equal(consul_error_name(ConsulError::http_4xx), "http_4xx");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalog_register_uses_synthetic_node),
        cmocka_unit_test(catalog_register_honours_overrides),
        cmocka_unit_test(catalog_deregister_names_node_and_service),
        cmocka_unit_test(agent_register_fields),
        cmocka_unit_test(agent_deregister_escapes_id),
        cmocka_unit_test(ipv6_address_has_no_brackets),
        cmocka_unit_test(first_line_cuts),
        cmocka_unit_test(classifies_consul_errors),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
