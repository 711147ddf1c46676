// Unit tests for the state file (src/parent/statefile.cc).
#include <unistd.h>

#include <cstdlib>
#include <fstream>

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

static void expect_reject(const char* text, const char* needle) {
    std::string err;
    assert_false(parse_state(text, &err).has_value());
    if (!strstr(err.c_str(), needle))
        fail_msg("'%s': error '%s' lacks '%s'", text, err.c_str(), needle);
}

static void rejects_bad_values(void**) {
    expect_reject("", "line");
    expect_reject("{", "line");
    expect_reject("{\"clusters\":{}}", "version");
    expect_reject("{\"version\":2,\"clusters\":{}}", "version");
    expect_reject("{\"version\":1}", "clusters");
    expect_reject("{\"version\":1,\"clusters\":[]}", "clusters");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":1}}", "cluster c: not an object");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"a b\",\"port\":1,\"epoch\":0}}}",
                  "cluster c: missing or invalid host");
    expect_reject(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\\nserver x\",\"port\":1,\"epoch\":0}}}",
        "invalid host");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":{\"port\":1,\"epoch\":0}}}", "invalid host");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":0,\"epoch\":0}}}",
                  "invalid port");
    expect_reject(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":65536,\"epoch\":0}}}",
        "invalid port");
    expect_reject(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":\"1\",\"epoch\":0}}}",
        "invalid port");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,\"epoch\":-1}}}",
                  "invalid epoch");
    expect_reject("{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1}}}",
                  "invalid epoch");
    expect_reject(
        "{\"version\":1,\"clusters\":{\"c\":{\"host\":\"h\",\"port\":1,\"epoch\":1,\"x\":1}}}",
        "unexpected keys");
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
        cmocka_unit_test(rejects_bad_values),
        cmocka_unit_test(load_and_save),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
