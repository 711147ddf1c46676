// Unit tests for Consul request bodies (src/engine/consul_json.cc): every key is one
// the Consul HTTP API documents, with the documented JSON type; the parser of
// the registration read back; the fence's decision.
#include "../../cmocka.h"

#include <jansson.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

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

static json_t* op_of(json_t* ops, size_t i, const char* kind, const char* verb) {
    json_t* op = json_array_get(ops, i);
    assert_true(json_is_object(op));
    assert_true((keys(op) == std::set<std::string>{kind}));
    json_t* body = json_object_get(op, kind);
    assert_string_equal(str(body, "Verb"), verb);
    return body;
}

static json_t* parse_array(const std::string& body) {
    json_error_t err;
    json_t* j = json_loads(body.c_str(), 0, &err);
    assert_non_null(j);
    assert_true(json_is_array(j));
    return j;
}

static void catalog_write_is_a_txn_with_cas(void**) {
    ConsulService s = sample();
    s.epoch = 7;
    s.instance = "host-a";
    ConsulRequest r = consul_cas_register_request(s, 42);
    assert_string_equal(r.method.c_str(), "PUT");
    assert_string_equal(r.path.c_str(), "/v1/txn");
    json_t* ops = parse_array(r.body);
    assert_int_equal(json_array_size(ops), 2);
    // The synthetic node first, so the service has a node to live on.
    json_t* node_op = op_of(ops, 0, "Node", "set");
    assert_true((keys(node_op) == std::set<std::string>{"Verb", "Node"}));
    json_t* node = json_object_get(node_op, "Node");
    assert_true((keys(node) == std::set<std::string>{"Node", "Address", "Meta"}));
    assert_string_equal(str(node, "Node"), "redishappy-cache");
    assert_string_equal(str(node, "Address"), "10.0.0.5");
    json_t* nmeta = json_object_get(node, "Meta");
    assert_true((keys(nmeta) == std::set<std::string>{"external-node", "external-probe"}));
    assert_string_equal(str(nmeta, "external-node"), "true");
    // Then the service, check-and-set on the index read.
    json_t* svc_op = op_of(ops, 1, "Service", "cas");
    assert_true((keys(svc_op) == std::set<std::string>{"Verb", "Node", "Service"}));
    assert_string_equal(str(svc_op, "Node"), "redishappy-cache");
    json_t* svc = json_object_get(svc_op, "Service");
    assert_true((keys(svc) == std::set<std::string>{"ID", "Service", "Tags", "Address", "Port",
                                                    "Meta", "ModifyIndex"}));
    assert_string_equal(str(svc, "ID"), "redishappy-cache");
    assert_string_equal(str(svc, "Service"), "cache");
    assert_string_equal(str(svc, "Address"), "10.0.0.5");
    check_tags(json_object_get(svc, "Tags"));
    assert_int_equal(json_integer_value(json_object_get(svc, "Port")), 6380);
    assert_true(json_is_integer(json_object_get(svc, "ModifyIndex")));
    assert_int_equal(json_integer_value(json_object_get(svc, "ModifyIndex")), 42);
    json_t* meta = json_object_get(svc, "Meta");
    assert_true((keys(meta) == std::set<std::string>{"redishappy_epoch", "redishappy_instance"}));
    assert_string_equal(str(meta, "redishappy_epoch"), "7"); // Meta values are strings
    assert_string_equal(str(meta, "redishappy_instance"), "host-a");
    json_decref(ops);
}

static void catalog_write_honours_overrides(void**) {
    ConsulService s = sample();
    s.service = "redis";
    s.service_id = "redis-1";
    s.node = "ext-node";
    s.datacenter = "dc 2";
    s.tags.clear();
    ConsulRequest r = consul_cas_register_request(s, 0);
    assert_string_equal(r.path.c_str(), "/v1/txn?dc=dc%202");
    json_t* ops = parse_array(r.body);
    assert_string_equal(str(json_object_get(op_of(ops, 0, "Node", "set"), "Node"), "Node"),
                        "ext-node");
    json_t* svc_op = op_of(ops, 1, "Service", "cas");
    assert_string_equal(str(svc_op, "Node"), "ext-node");
    json_t* svc = json_object_get(svc_op, "Service");
    assert_string_equal(str(svc, "ID"), "redis-1");
    assert_string_equal(str(svc, "Service"), "redis");
    assert_int_equal(json_array_size(json_object_get(svc, "Tags")), 0);
    assert_int_equal(json_integer_value(json_object_get(svc, "ModifyIndex")), 0); // create only
    // No instance configured: only the epoch in Meta.
    assert_true((keys(json_object_get(svc, "Meta")) == std::set<std::string>{"redishappy_epoch"}));
    json_decref(ops);
}

static void catalog_withdraw_is_a_delete_cas(void**) {
    ConsulService s = sample();
    s.datacenter = "dc1";
    ConsulRequest r = consul_cas_deregister_request(s, 9);
    assert_string_equal(r.method.c_str(), "PUT");
    assert_string_equal(r.path.c_str(), "/v1/txn?dc=dc1");
    json_t* ops = parse_array(r.body);
    assert_int_equal(json_array_size(ops), 1);
    json_t* op = op_of(ops, 0, "Service", "delete-cas");
    assert_string_equal(str(op, "Node"), "redishappy-cache");
    json_t* svc = json_object_get(op, "Service");
    assert_true((keys(svc) == std::set<std::string>{"ID", "Service", "ModifyIndex"}));
    assert_string_equal(str(svc, "ID"), "redishappy-cache");
    assert_int_equal(json_integer_value(json_object_get(svc, "ModifyIndex")), 9);
    json_decref(ops);
}

static void read_is_a_get_of_the_service(void**) {
    ConsulService s = sample();
    s.service = "my redis";
    ConsulRequest r = consul_read_request(s);
    assert_string_equal(r.method.c_str(), "GET");
    assert_string_equal(r.path.c_str(), "/v1/catalog/service/my%20redis");
    assert_true(r.body.empty());
    s.datacenter = "dc2";
    assert_string_equal(consul_read_request(s).path.c_str(),
                        "/v1/catalog/service/my%20redis?dc=dc2");
}

static void agent_register_fields(void**) {
    ConsulService s = sample();
    s.epoch = 3;
    s.instance = "b";
    ConsulRequest r = consul_agent_register_request(s);
    assert_string_equal(r.path.c_str(), "/v1/agent/service/register");
    Parsed p(r.body);
    assert_true(
        (keys(p.j) == std::set<std::string>{"ID", "Name", "Tags", "Address", "Port", "Meta"}));
    assert_string_equal(str(p.j, "ID"), "redishappy-cache");
    assert_string_equal(str(p.j, "Name"), "cache");
    assert_string_equal(str(p.j, "Address"), "10.0.0.5");
    check_tags(json_object_get(p.j, "Tags"));
    assert_true(json_is_integer(json_object_get(p.j, "Port")));
    assert_int_equal(json_integer_value(json_object_get(p.j, "Port")), 6380);
    json_t* meta = json_object_get(p.j, "Meta");
    assert_string_equal(str(meta, "redishappy_epoch"), "3");
    assert_string_equal(str(meta, "redishappy_instance"), "b");
}

static void agent_deregister_escapes_id(void**) {
    ConsulService s = sample();
    s.service_id = "a b/c";
    ConsulRequest r = consul_agent_deregister_request(s);
    assert_string_equal(r.path.c_str(), "/v1/agent/service/deregister/a%20b%2Fc");
    assert_true(r.body.empty());
}

static void ipv6_address_has_no_brackets(void**) {
    ConsulService s = sample();
    s.address = HostPort{"2001:db8::1", 7000};
    json_t* ops = parse_array(consul_cas_register_request(s, 1).body);
    json_t* svc = json_object_get(op_of(ops, 1, "Service", "cas"), "Service");
    assert_string_equal(str(svc, "Address"), "2001:db8::1");
    json_decref(ops);
}

// A reply of GET /v1/catalog/service/cache, shaped as Consul documents it.
static std::string entry(const char* node, const char* id, const char* addr, int port,
                         const char* meta, int index) {
    return std::string("{\"ID\":\"\",\"Node\":\"") + node +
           "\",\"Address\":\"10.9.9.9\",\"Datacenter\":\"dc1\",\"TaggedAddresses\":null,"
           "\"NodeMeta\":{\"external-node\":\"true\"},\"ServiceKind\":\"\",\"ServiceID\":\"" +
           id +
           "\",\"ServiceName\":\"cache\",\"ServiceTags\":[\"master\",\"v\\\"7\"],"
           "\"ServiceAddress\":\"" +
           addr + "\",\"ServicePort\":" + std::to_string(port) + ",\"ServiceMeta\":" + meta +
           ",\"ServiceEnableTagOverride\":false,\"CreateIndex\":3,\"ModifyIndex\":" +
           std::to_string(index) + "}";
}

static void read_picks_our_entry(void**) {
    std::string body = "[" + entry("other", "redishappy-cache", "1.1.1.1", 1, "{}", 5) + "," +
                       entry("redishappy-cache", "redishappy-cache", "10.0.0.5", 6380,
                             "{\"redishappy_epoch\":\"12\",\"redishappy_instance\":\"a\"}", 77) +
                       "," + entry("redishappy-cache", "another-id", "2.2.2.2", 2, "{}", 6) + "]";
    ConsulRead r = consul_parse_read(body, "redishappy-cache", "redishappy-cache");
    assert_true(r.ok);
    assert_true(r.entry.has_value());
    assert_int_equal(r.entry->modify_index, 77);
    assert_string_equal(r.entry->address.c_str(), "10.0.0.5");
    assert_int_equal(r.entry->port, 6380);
    assert_true(r.entry->epoch.has_value());
    assert_int_equal(*r.entry->epoch, 12);
    assert_string_equal(r.entry->instance.c_str(), "a");
    assert_true((r.entry->tags == std::vector<std::string>{"master", "v\"7"}));

    ConsulRead none = consul_parse_read("[]", "redishappy-cache", "redishappy-cache");
    assert_true(none.ok);
    assert_false(none.entry.has_value());
    // Empty ServiceAddress: Consul means the node's address.
    ConsulRead node_addr =
        consul_parse_read("[" + entry("n", "s", "", 7, "null", 1) + "]", "n", "s");
    assert_true(node_addr.ok);
    assert_string_equal(node_addr.entry->address.c_str(), "10.9.9.9");
    assert_false(node_addr.entry->epoch.has_value());
}

static void read_epoch_must_be_a_decimal(void**) {
    for (const char* meta : {"{\"redishappy_epoch\":\"\"}", "{\"redishappy_epoch\":\"-1\"}",
                             "{\"redishappy_epoch\":\"1e3\"}", "{\"redishappy_epoch\":\" 4\"}",
                             "{\"redishappy_epoch\":\"18446744073709551616\"}", "{}"}) {
        ConsulRead r = consul_parse_read("[" + entry("n", "s", "a", 1, meta, 1) + "]", "n", "s");
        assert_true(r.ok);
        assert_false(r.entry->epoch.has_value());
    }
    ConsulRead max = consul_parse_read(
        "[" + entry("n", "s", "a", 1, "{\"redishappy_epoch\":\"18446744073709551615\"}", 1) + "]",
        "n", "s");
    assert_int_equal(*max.entry->epoch, UINT64_MAX);
}

static void read_refuses_malformed_replies(void**) {
    const std::string ok_entry = entry("n", "s", "a", 1, "{}", 1);
    for (const std::string& body : std::vector<std::string>{
             "", "{}", "[1]", "not json", "[" + ok_entry + "," + ok_entry + "]", // twice
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ServicePort\":1}]",         // no index
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":-1,\"ServicePort\":1}]",
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":1,\"ServicePort\":70000}]",
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":1,\"ServicePort\":1,"
             "\"ServiceMeta\":[]}]",
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":1,\"ServicePort\":1,"
             "\"ServiceMeta\":{\"redishappy_epoch\":5}}]",
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":1,\"ServicePort\":1,"
             "\"ServiceTags\":[1]}]",
             "[{\"Node\":1,\"ServiceID\":\"s\"}]",
             "[{\"Node\":\"n\",\"ServiceID\":\"s\",\"ModifyIndex\":1,\"ServicePort\":1,"
             "\"Node\":\"n\"}]", // duplicate key
         }) {
        ConsulRead r = consul_parse_read(body, "n", "s");
        if (r.ok)
            print_error("accepted: %s\n", body.c_str());
        assert_false(r.ok);
        assert_false(r.error.empty());
    }
}

static ConsulEntry held(uint64_t epoch, const char* addr, long port, const char* instance,
                        uint64_t index = 50) {
    ConsulEntry e;
    e.modify_index = index;
    e.address = addr;
    e.port = port;
    e.epoch = epoch;
    e.instance = instance;
    e.tags = {"master", "v\"7"};
    return e;
}

static ConsulService ours(uint64_t epoch, const char* instance = "a") {
    ConsulService s = sample(); // 10.0.0.5:6380
    s.epoch = epoch;
    s.instance = instance;
    return s;
}

static void fence_decides(void**) {
    // Absent: create only.
    FenceDecision d = consul_fence(std::nullopt, ours(4));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::write));
    assert_int_equal(d.cas_index, 0);
    // Older epoch, anyone's: replaced, at the index read.
    d = consul_fence(held(3, "10.0.0.9", 6379, "b", 61), ours(4));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::write));
    assert_int_equal(d.cas_index, 61);
    // Newer epoch: never replaced, whoever wrote it, whatever it says.
    for (const char* who : {"a", "b", ""}) {
        d = consul_fence(held(5, "10.0.0.9", 6379, who), ours(4));
        assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::newer));
        assert_true(d.reason.find("epoch 5") != std::string::npos);
        assert_true(d.reason.find("10.0.0.9:6379") != std::string::npos);
    }
    d = consul_fence(held(5, "10.0.0.5", 6380, "b"), ours(4)); // even our address
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::newer));
    // Same epoch, same registration: nothing to write, whoever wrote it.
    d = consul_fence(held(4, "10.0.0.5", 6380, "b"), ours(4));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::current));
    // Same epoch, another address: ours to correct, another instance's left alone.
    d = consul_fence(held(4, "10.0.0.9", 6379, "a", 70), ours(4, "a"));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::write));
    assert_int_equal(d.cas_index, 70);
    d = consul_fence(held(4, "10.0.0.9", 6379, "b"), ours(4, "a"));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::conflict));
    assert_true(d.reason.find("same epoch") != std::string::npos);
    d = consul_fence(held(4, "10.0.0.9", 6379, ""), ours(4, "")); // unnamed: the later wins
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::write));
    d = consul_fence(held(4, "10.0.0.9", 6379, ""), ours(4, "a"));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::conflict));
    // Same epoch and address, other tags (a configuration change) likewise.
    ConsulEntry tagged = held(4, "10.0.0.5", 6380, "a");
    tagged.tags = {"old"};
    assert_int_equal(static_cast<int>(consul_fence(tagged, ours(4, "a")).verdict),
                     static_cast<int>(FenceVerdict::write));
    assert_int_equal(static_cast<int>(consul_fence(tagged, ours(4, "b")).verdict),
                     static_cast<int>(FenceVerdict::conflict));
    // No epoch in Meta (by hand, or an older redishappy): replaced.
    ConsulEntry bare = held(0, "10.0.0.9", 1, "");
    bare.epoch.reset();
    d = consul_fence(bare, ours(1));
    assert_int_equal(static_cast<int>(d.verdict), static_cast<int>(FenceVerdict::write));
    assert_int_equal(d.cas_index, 50);
}

static void withdraw_only_own_writes(void**) {
    assert_true(consul_may_withdraw(held(4, "x", 1, "a"), ours(0, "a")));
    assert_true(consul_may_withdraw(held(4, "x", 1, ""), ours(0, "a")));
    assert_false(consul_may_withdraw(held(4, "x", 1, "b"), ours(0, "a")));
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
        cmocka_unit_test(catalog_write_is_a_txn_with_cas),
        cmocka_unit_test(catalog_write_honours_overrides),
        cmocka_unit_test(catalog_withdraw_is_a_delete_cas),
        cmocka_unit_test(read_is_a_get_of_the_service),
        cmocka_unit_test(agent_register_fields),
        cmocka_unit_test(agent_deregister_escapes_id),
        cmocka_unit_test(ipv6_address_has_no_brackets),
        cmocka_unit_test(read_picks_our_entry),
        cmocka_unit_test(read_epoch_must_be_a_decimal),
        cmocka_unit_test(read_refuses_malformed_replies),
        cmocka_unit_test(fence_decides),
        cmocka_unit_test(withdraw_only_own_writes),
        cmocka_unit_test(first_line_cuts),
        cmocka_unit_test(classifies_consul_errors),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
