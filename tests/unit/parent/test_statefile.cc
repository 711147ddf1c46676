// Unit tests for the state file (src/parent/statefile.cc).
#include <jansson.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "parent/statefile.h"

#include <cstring>

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

static void round_trip(void**) {
    MasterMap st;
    st["b"] = {HostPort{"10.0.0.1", 6379}, 7};
    st["a"] = {HostPort{"2001:db8::2", 65535}, 0};
    std::string text = format_state(st);
    std::string err;
    auto back = parse_state(text, &err);
    assert_true(back.has_value());
    assert_true(*back == st);
    assert_true(format_state(*back) == text); // stable bytes
    auto empty = parse_state(format_state({}), &err);
    assert_true(empty && empty->empty());
}

// The file as jansson writes the whole document at once (what the state
// file was before it was written a cluster at a time): the bytes must not
// change, so files written by either version compare equal.
static std::string whole_document(const MasterMap& st) {
    json_t* clusters = json_object();
    for (const auto& [name, m] : st) {
        json_t* epoch = m.epoch > static_cast<uint64_t>(INT64_MAX)
                            ? json_string(std::to_string(m.epoch).c_str())
                            : json_integer(static_cast<json_int_t>(m.epoch));
        json_t* c = json_pack("{s:s, s:i, s:o}", "host", m.master.host.c_str(), "port",
                              static_cast<int>(m.master.port), "epoch", epoch);
        if (!m.addr.empty())
            json_object_set_new(c, "addr", json_string(m.addr.c_str()));
        json_object_set_new(clusters, name.c_str(), c);
    }
    json_t* root = json_pack("{s:i, s:o}", "version", 1, "clusters", clusters);
    char* s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
    std::string out = std::string(s) + "\n";
    free(s);
    json_decref(root);
    return out;
}

static void same_bytes_as_one_jansson_document(void**) {
    assert_string_equal(format_state({}).c_str(), whole_document({}).c_str());
    MasterMap st;
    st["a.b-c_d"] = {HostPort{"redis-1.example.net", 6379}, 3, "10.0.0.7"};
    st["Z9"] = {HostPort{"2001:db8::2", 65535}, 0};
    st["c10"] = {HostPort{"10.0.0.1", 1}, UINT64_MAX, "10.0.0.1"};
    st["c2"] = {HostPort{"fe80::1", 26379}, static_cast<uint64_t>(INT64_MAX), "fe80::1"};
    assert_string_equal(format_state(st).c_str(), whole_document(st).c_str());
    MasterMap one{{"only", MasterAt{HostPort{"127.0.0.1", 7000}, 1}}};
    assert_string_equal(format_state(one).c_str(), whole_document(one).c_str());
}

static void expect_drop(const char* text, const char* needle);

// A master named by a host name keeps the IP it was reached at ("addr");
// files without addr (older versions) still load; a bad addr drops the
// entry alone.
static void resolved_address_round_trip(void**) {
    MasterMap st;
    st["n"] = {HostPort{"redis-0.redis.ns.svc", 6379}, 4, "10.1.0.7"};
    st["i"] = {HostPort{"10.0.0.1", 6379}, 2};
    std::string text = format_state(st);
    assert_non_null(strstr(text.c_str(), "\"addr\": \"10.1.0.7\""));
    std::string err;
    auto back = parse_state(text, &err);
    assert_true(back.has_value());
    assert_true(*back == st);
    assert_string_equal(back->at("i").address().c_str(), "10.0.0.1");
    assert_string_equal(back->at("n").address().c_str(), "10.1.0.7");
    expect_drop("{\"version\":1,\"clusters\":{\"n\":{\"host\":\"h\",\"port\":1,\"epoch\":1,"
                "\"addr\":\"other.name\"}}}",
                "addr");
    expect_drop("{\"version\":1,\"clusters\":{\"n\":{\"host\":\"h\",\"port\":1,\"epoch\":1,"
                "\"addr\":7}}}",
                "addr");
}

static void expect_reject(const char* text, const char* needle) {
    std::string err;
    assert_false(parse_state(text, &err).has_value());
    if (!strstr(err.c_str(), needle))
        fail_msg("'%s': error '%s' lacks '%s'", text, err.c_str(), needle);
}

// A bad entry is dropped alone, with a reason; the file still loads.
static void expect_drop(const char* text, const char* needle) {
    std::string err;
    std::vector<std::string> dropped;
    auto st = parse_state(text, &err, &dropped);
    if (!st)
        fail_msg("'%s': whole file rejected: %s", text, err.c_str());
    assert_true(st->empty());
    assert_int_equal(dropped.size(), 1);
    if (!strstr(dropped[0].c_str(), needle))
        fail_msg("'%s': reason '%s' lacks '%s'", text, dropped[0].c_str(), needle);
}

static void rejects_bad_files(void**) {
    expect_reject("", "line");
    expect_reject("{", "line");
    expect_reject("{\"clusters\":{}}", "version");
    expect_reject("{\"version\":2,\"clusters\":{}}", "version");
    expect_reject("{\"version\":1}", "clusters");
    expect_reject("{\"version\":1,\"clusters\":[]}", "clusters");
}

static void drops_bad_entries(void**) {
    expect_drop("{\"version\":1,\"clusters\":{\"c\":1}}", "cluster c: not an object");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"a b\",\"port\":1,\"epoch\":0}}}",
                "cluster c: missing or invalid host");
    expect_drop(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\\nserver x\",\"port\":1,\"epoch\":0}}}",
        "invalid host");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"port\":1,\"epoch\":0}}}", "invalid host");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":0,\"epoch\":0}}}",
                "invalid port");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":65536,\"epoch\":0}}}",
                "invalid port");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":\"1\",\"epoch\":0}}}",
                "invalid port");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,\"epoch\":-1}}}",
                "invalid epoch");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1}}}",
                "invalid epoch");
    expect_drop(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,\"epoch\":1,\"x\":1}}}",
        "unexpected keys");
}

// Epochs are unsigned 64-bit: 2^63+5 and 2^64-1 survive a round trip and
// never come back negative; what does not fit is dropped per entry.
static void epochs_are_unsigned_64_bit(void**) {
    MasterMap st;
    st["big"] = {HostPort{"10.0.0.1", 6379}, 9223372036854775813ULL};
    st["max"] = {HostPort{"10.0.0.2", 6379}, UINT64_MAX};
    st["int"] = {HostPort{"10.0.0.3", 6379}, 9223372036854775807ULL};
    std::string text = format_state(st);
    assert_non_null(strstr(text.c_str(), "\"9223372036854775813\""));
    assert_non_null(strstr(text.c_str(), "\"epoch\": 9223372036854775807"));
    std::string err;
    auto back = parse_state(text, &err);
    assert_true(back.has_value());
    assert_true(*back == st);

    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,"
                "\"epoch\":\"18446744073709551616\"}}}",
                "invalid epoch");
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,"
                "\"epoch\":\"-5\"}}}",
                "invalid epoch");
    // What older versions wrote for 2^63+5.
    expect_drop("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,"
                "\"epoch\":-9223372036854775803}}}",
                "invalid epoch");
    // A number too large for jansson costs its entry, not the file.
    std::vector<std::string> dropped;
    auto some = parse_state("{\"version\":1,\"clusters\":{"
                            "\"bad\":{\"host\":\"h\",\"port\":1,\"epoch\":18446744073709551616},"
                            "\"good\":{\"host\":\"h\",\"port\":2,\"epoch\":7}}}",
                            &err, &dropped);
    assert_true(some.has_value());
    assert_int_equal(some->size(), 1);
    assert_int_equal(some->at("good").epoch, 7);
    assert_int_equal(some->at("good").master.port, 2);
    assert_int_equal(dropped.size(), 1);
    assert_non_null(strstr(dropped[0].c_str(), "cluster bad"));
}

static void load_and_save(void**) {
    char dir[] = "/tmp/rh-state-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string path = std::string(dir) + "/state.json";
    assert_true(load_state(path).empty()); // missing: empty
    MasterMap st;
    st["c"] = {HostPort{"127.0.0.1", 7001}, 3};
    std::string err;
    assert_true(save_state(path, st, &err));
    assert_true(load_state(path) == st);
    {
        std::ofstream out(path);
        out << "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"bad host\"";
    }
    assert_true(load_state(path).empty()); // corrupt: logged, empty
    assert_false(save_state(std::string(dir) + "/nodir/state.json", st, &err));
    assert_non_null(strstr(err.c_str(), "nodir"));
    unlink(path.c_str());
    rmdir(dir);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(same_bytes_as_one_jansson_document),
        cmocka_unit_test(rejects_bad_files),
        cmocka_unit_test(drops_bad_entries),
        cmocka_unit_test(epochs_are_unsigned_64_bit),
        cmocka_unit_test(load_and_save),
        cmocka_unit_test(resolved_address_round_trip),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
