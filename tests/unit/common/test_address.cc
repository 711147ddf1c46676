// Unit tests for host/port parsing and validation (src/common/address.cc).
#include "../../cmocka.h"

#include "common/address.h"

using namespace rh;

static void accepts_ipv4_ipv6_and_names(void**) {
    assert_true(valid_host("10.0.0.1"));
    assert_true(valid_host("::1"));
    assert_true(valid_host("2001:db8::1"));
    assert_true(valid_host("redis-1.example.com"));
    assert_true(valid_host("localhost"));
    assert_true(valid_host("a.b.c."));
}

static void rejects_injection_and_junk(void**) {
    assert_false(valid_host(""));
    assert_false(valid_host("10.0.0.1\nserver evil 1.2.3.4:1"));
    assert_false(valid_host("host name"));
    assert_false(valid_host("host\"q"));
    assert_false(valid_host("host#x"));
    assert_false(valid_host("host\tx"));
    assert_false(valid_host("-leading"));
    assert_false(valid_host("trailing-"));
    assert_false(valid_host("a..b"));
    assert_false(valid_host("."));
    assert_false(valid_host(std::string(64, 'a'))); // label too long
    std::string long_name;
    for (int i = 0; i < 64; i++)
        long_name += "abc.";
    assert_false(valid_host(long_name)); // over 253
    assert_false(valid_host(std::string("a\0b", 3)));
}

static void parses_ports_strictly(void**) {
    assert_int_equal(*parse_port("1"), 1);
    assert_int_equal(*parse_port("65535"), 65535);
    assert_false(parse_port("0").has_value());
    assert_false(parse_port("65536").has_value());
    assert_false(parse_port("+1").has_value());
    assert_false(parse_port(" 1").has_value());
    assert_false(parse_port("").has_value());
    assert_false(parse_port("123456").has_value());
}

static void parses_host_port_forms(void**) {
    auto a = parse_host_port("10.0.0.1:26379");
    assert_true(a.has_value());
    assert_string_equal(a->host.c_str(), "10.0.0.1");
    assert_int_equal(a->port, 26379);

    auto b = parse_host_port("[2001:db8::1]:26379");
    assert_true(b.has_value());
    assert_string_equal(b->host.c_str(), "2001:db8::1");
    assert_string_equal(format_host_port(*b).c_str(), "[2001:db8::1]:26379");

    auto c = parse_host_port("sentinel.local:1");
    assert_true(c.has_value());
    assert_string_equal(format_host_port(*c).c_str(), "sentinel.local:1");

    std::string err;
    assert_false(parse_host_port("2001:db8::1:26379", &err).has_value());
    assert_true(err.find("brackets") != std::string::npos);
    assert_false(parse_host_port("[::1]26379", &err).has_value());
    assert_false(parse_host_port("[::1:26379", &err).has_value());
    assert_false(parse_host_port("[10.0.0.1]:1", &err).has_value());
    assert_false(parse_host_port("host", &err).has_value());
    assert_false(parse_host_port("host:0", &err).has_value());
    assert_false(parse_host_port(":1", &err).has_value());
    assert_false(parse_host_port("bad host:1", &err).has_value());
}

static void groups_clients_by_machine(void**) {
    // Every loopback address is the one local machine.
    assert_string_equal(client_key("127.0.0.1").c_str(), "loopback");
    assert_string_equal(client_key("127.3.2.1").c_str(), "loopback");
    assert_string_equal(client_key("::1").c_str(), "loopback");
    assert_string_equal(client_key("::ffff:127.0.0.9").c_str(), "loopback");
    // Other IPv4 addresses are themselves, mapped or not.
    assert_string_equal(client_key("192.0.2.7").c_str(), "192.0.2.7");
    assert_string_equal(client_key("::ffff:192.0.2.7").c_str(), "192.0.2.7");
    assert_string_not_equal(client_key("192.0.2.7").c_str(), client_key("192.0.2.8").c_str());
    // An IPv6 host owns its /64.
    assert_string_equal(client_key("2001:db8:1:2:aaaa::1").c_str(), "2001:db8:1:2::/64");
    assert_string_equal(client_key("2001:db8:1:2:ffff:1:2:3").c_str(), "2001:db8:1:2::/64");
    assert_string_not_equal(client_key("2001:db8:1:3::1").c_str(), "2001:db8:1:2::/64");
    // Not an address: unchanged.
    assert_string_equal(client_key("").c_str(), "");
    assert_string_equal(client_key("example").c_str(), "example");
}

// One spelling per IP address, so two spellings of one address compare
// equal (the parent's check that the master is not in the read backend).
static void canonical_ip_spelling(void**) {
    assert_string_equal(canonical_ip("10.0.0.1").c_str(), "10.0.0.1");
    assert_string_equal(canonical_ip("::ffff:10.0.0.1").c_str(), "10.0.0.1");
    assert_string_equal(canonical_ip("::FFFF:a00:1").c_str(), "10.0.0.1");
    assert_string_equal(canonical_ip("0:0:0:0:0:0:0:1").c_str(), "::1");
    assert_string_equal(canonical_ip("FD00:0::1").c_str(), "fd00::1");
    assert_string_equal(canonical_ip("r.example").c_str(), "r.example");
    assert_string_equal(canonical_ip("").c_str(), "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_ipv4_ipv6_and_names), cmocka_unit_test(rejects_injection_and_junk),
        cmocka_unit_test(parses_ports_strictly),       cmocka_unit_test(parses_host_port_forms),
        cmocka_unit_test(groups_clients_by_machine),   cmocka_unit_test(canonical_ip_spelling),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
