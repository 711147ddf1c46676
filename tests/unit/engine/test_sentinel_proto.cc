// Unit tests for Sentinel reply and event parsing (src/engine/sentinel_proto.cc).
// Replies are hand-written RESP, decoded by hiredis's own reader.
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/sentinel_proto.h"

// cmocka last: its fail() macro clashes with std::ios::fail.
#include "../../cmocka.h"
#include "resp.h"

using namespace rh;
using namespace rh::sentinel;
using namespace rh::test;

namespace {

KV master_kv() {
    return {{"name", "mymaster"}, {"ip", "127.0.0.1"},
            {"port", "6379"},     {"runid", "abc"},
            {"flags", "master"},  {"config-epoch", "7"},
            {"num-slaves", "2"},  {"num-other-sentinels", "2"},
            {"quorum", "2"},      {"failover-timeout", "180000"}};
}

KV with(KV kv, const std::string& key, const std::string& value) {
    for (auto& p : kv)
        if (p.first == key) {
            p.second = value;
            return kv;
        }
    kv.emplace_back(key, value);
    return kv;
}

KV without(KV kv, const std::string& key) {
    KV out;
    for (auto& p : kv)
        if (p.first != key)
            out.push_back(p);
    return out;
}

void expect_master_error(const KV& kv, const char* reason) {
    auto r = decode(kv_array(kv));
    auto p = parse_master(r.get());
    assert_false(p.value.has_value());
    assert_string_equal(p.error.c_str(), reason);
}

} // namespace

static void master_good(void**) {
    auto r = decode(kv_array(with(master_kv(), "flags", "master,s_down,o_down")));
    auto p = parse_master(r.get());
    assert_true(p.value.has_value());
    const MasterInfo& m = *p.value;
    assert_string_equal(m.name.c_str(), "mymaster");
    assert_string_equal(m.addr.host.c_str(), "127.0.0.1");
    assert_int_equal(m.addr.port, 6379);
    assert_int_equal(m.config_epoch, 7);
    assert_int_equal(m.num_slaves, 2);
    assert_int_equal(m.num_other_sentinels, 2);
    assert_int_equal(m.quorum, 2);
    assert_int_equal(m.flags.size(), 3);
    assert_true(m.has_flag("s_down"));
    assert_true(m.has_flag("o_down"));
    assert_false(m.has_flag("failover_in_progress"));
}

static void master_ipv6_and_big_epoch(void**) {
    auto kv = with(with(master_kv(), "ip", "::1"), "config-epoch", "18446744073709551615");
    auto p = parse_master(decode(kv_array(kv)).get());
    assert_true(p.value.has_value());
    assert_string_equal(p.value->addr.host.c_str(), "::1");
    assert_true(p.value->config_epoch == UINT64_MAX);
}

static void master_rejections(void**) {
    expect_master_error(with(master_kv(), "ip", "10.0.0.1\nserver evil 1.2.3.4:1"),
                        "field 'ip': invalid host");
    expect_master_error(with(master_kv(), "ip", ""), "field 'ip': invalid host");
    expect_master_error(with(master_kv(), "port", "0"), "field 'port': bad port");
    expect_master_error(with(master_kv(), "port", "65536"), "field 'port': bad port");
    expect_master_error(with(master_kv(), "port", "-1"), "field 'port': bad port");
    expect_master_error(with(master_kv(), "config-epoch", "-1"),
                        "field 'config-epoch': not a decimal number");
    expect_master_error(with(master_kv(), "config-epoch", "18446744073709551616"),
                        "field 'config-epoch': not a decimal number");
    expect_master_error(with(master_kv(), "config-epoch", "1x"),
                        "field 'config-epoch': not a decimal number");
    expect_master_error(with(master_kv(), "config-epoch", ""),
                        "field 'config-epoch': not a decimal number");
    expect_master_error(with(master_kv(), "quorum", "two"), "field 'quorum': not a decimal number");
    expect_master_error(with(master_kv(), "name", "my master"), "field 'name': invalid name");
    expect_master_error(with(master_kv(), "name", ""), "field 'name': invalid name");
    const char* keys[] = {
        "name",  "ip", "port", "flags", "config-epoch", "num-slaves", "num-other-sentinels",
        "quorum"};
    for (const char* k : keys) {
        std::string want = std::string("missing field '") + k + "'";
        expect_master_error(without(master_kv(), k), want.c_str());
    }
}

static void master_shape_rejections(void**) {
    auto p = parse_master(decode("*3\r\n$4\r\nname\r\n$1\r\nx\r\n$2\r\nip\r\n").get());
    assert_string_equal(p.error.c_str(), "odd-length key/value array");
    p = parse_master(decode(":5\r\n").get());
    assert_string_equal(p.error.c_str(), "expected array, got integer");
    p = parse_master(decode("-ERR No such master with that name\r\n").get());
    assert_string_equal(p.error.c_str(), "error reply: ERR No such master with that name");
    p = parse_master(decode("$-1\r\n").get());
    assert_string_equal(p.error.c_str(), "expected array, got nil");
    p = parse_master(decode("*2\r\n$4\r\nname\r\n:1\r\n").get());
    assert_string_equal(p.error.c_str(), "element 0: not a string");
    p = parse_master(decode("*2\r\n*0\r\n$1\r\nx\r\n").get());
    assert_string_equal(p.error.c_str(), "element 0: not a string");
    std::string big = kv_array(with(master_kv(), "flags", std::string(max_string + 1, 'a')));
    p = parse_master(decode(big).get());
    assert_string_equal(p.error.c_str(), "element 8: string too long");
    KV many;
    for (size_t i = 0; i <= max_fields; i++)
        many.emplace_back("k" + std::to_string(i), "v");
    p = parse_master(decode(kv_array(many)).get());
    assert_string_equal(p.error.c_str(), "too many fields (257)");
    p = parse_master(nullptr);
    assert_string_equal(p.error.c_str(), "no reply");
}

static void masters_list(void**) {
    std::string s = "*2\r\n" + kv_array(master_kv()) +
                    kv_array(with(with(master_kv(), "name", "other"), "port", "6380"));
    auto p = parse_masters(decode(s).get());
    assert_true(p.value.has_value());
    assert_int_equal(p.value->size(), 2);
    assert_string_equal((*p.value)[1].name.c_str(), "other");
    assert_int_equal((*p.value)[1].addr.port, 6380);

    auto empty = parse_masters(decode("*0\r\n").get());
    assert_true(empty.value.has_value());
    assert_int_equal(empty.value->size(), 0);

    s = "*2\r\n" + kv_array(master_kv()) + kv_array(with(master_kv(), "ip", "a b"));
    p = parse_masters(decode(s).get());
    assert_false(p.value.has_value());
    assert_string_equal(p.error.c_str(), "master 1: field 'ip': invalid host");

    p = parse_masters(decode("+OK\r\n").get());
    assert_string_equal(p.error.c_str(), "expected array, got status");
    p = parse_masters(nullptr);
    assert_string_equal(p.error.c_str(), "no reply");

    s = "*" + std::to_string(max_masters + 1) + "\r\n";
    for (size_t i = 0; i <= max_masters; i++)
        s += "*0\r\n";
    p = parse_masters(decode(s).get());
    assert_string_equal(p.error.c_str(), "too many master (10001)");
}

static void replicas_and_sentinels(void**) {
    KV rep = {{"name", "127.0.0.1:6380"},
              {"ip", "127.0.0.1"},
              {"port", "6380"},
              {"flags", "slave"},
              {"master-link-status", "ok"}};
    auto r = parse_replicas(decode("*1\r\n" + kv_array(rep)).get());
    assert_true(r.value.has_value());
    assert_int_equal(r.value->size(), 1);
    assert_int_equal((*r.value)[0].addr.port, 6380);
    assert_string_equal((*r.value)[0].master_link_status.c_str(), "ok");
    assert_string_equal((*r.value)[0].flags[0].c_str(), "slave");

    r = parse_replicas(decode("*1\r\n" + kv_array(without(rep, "master-link-status"))).get());
    assert_string_equal(r.error.c_str(), "replica 0: missing field 'master-link-status'");
    r = parse_replicas(decode("*1\r\n" + kv_array(without(rep, "flags"))).get());
    assert_string_equal(r.error.c_str(), "replica 0: missing field 'flags'");
    r = parse_replicas(decode("*1\r\n" + kv_array(with(rep, "port", "x"))).get());
    assert_string_equal(r.error.c_str(), "replica 0: field 'port': bad port");
    r = parse_replicas(decode(":1\r\n").get());
    assert_string_equal(r.error.c_str(), "expected array, got integer");

    KV sen = {{"name", "abc"},
              {"ip", "::1"},
              {"port", "26380"},
              {"runid", "abcdef"},
              {"flags", "sentinel"}};
    auto s = parse_sentinels(decode("*1\r\n" + kv_array(sen)).get());
    assert_true(s.value.has_value());
    assert_string_equal((*s.value)[0].runid.c_str(), "abcdef");
    assert_string_equal((*s.value)[0].addr.host.c_str(), "::1");
    assert_int_equal((*s.value)[0].addr.port, 26380);
    s = parse_sentinels(decode("*1\r\n" + kv_array(without(sen, "runid"))).get());
    assert_string_equal(s.error.c_str(), "sentinel 0: missing field 'runid'");
    s = parse_sentinels(decode("*1\r\n" + kv_array(with(sen, "runid", "a\nb"))).get());
    assert_string_equal(s.error.c_str(), "sentinel 0: field 'runid': invalid runid");
    s = parse_sentinels(decode("*1\r\n" + kv_array(with(sen, "ip", "1.2.3.4 x"))).get());
    assert_string_equal(s.error.c_str(), "sentinel 0: field 'ip': invalid host");
    s = parse_sentinels(decode("*1\r\n" + kv_array(without(sen, "flags"))).get());
    assert_string_equal(s.error.c_str(), "sentinel 0: missing field 'flags'");
    s = parse_sentinels(decode("*1\r\n:3\r\n").get());
    assert_string_equal(s.error.c_str(), "sentinel 0: expected array, got integer");
}

static void role(void**) {
    auto p = parse_role(decode("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").get());
    assert_string_equal(p.value->c_str(), "master");
    p = parse_role(
        decode("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n").get());
    assert_string_equal(p.value->c_str(), "slave");
    p = parse_role(decode("*0\r\n").get());
    assert_string_equal(p.error.c_str(), "empty ROLE reply");
    p = parse_role(decode("*1\r\n:1\r\n").get());
    assert_string_equal(p.error.c_str(), "ROLE element 0: not a string");
    p = parse_role(decode("*1\r\n$0\r\n\r\n").get());
    assert_string_equal(p.error.c_str(), "ROLE element 0: bad length");
    p = parse_role(decode("-NOAUTH Authentication required.\r\n").get());
    assert_string_equal(p.error.c_str(), "error reply: NOAUTH Authentication required.");
    p = parse_role(nullptr);
    assert_string_equal(p.error.c_str(), "no reply");
}

static void numbers_and_flags(void**) {
    assert_true(parse_u64("0") == 0u);
    assert_true(parse_u64("42") == 42u);
    assert_false(parse_u64("+1").has_value());
    assert_false(parse_u64(" 1").has_value());
    assert_false(parse_u64("123456789012345678901").has_value());
    auto f = split_flags("s_down,,o_down,");
    assert_int_equal(f.size(), 2);
    assert_string_equal(f[1].c_str(), "o_down");
    assert_int_equal(split_flags("").size(), 0);
}

static void switch_master(void**) {
    auto p = parse_event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380");
    assert_true(p.value.has_value());
    auto& sm = std::get<SwitchMaster>(*p.value);
    assert_string_equal(sm.master.c_str(), "mymaster");
    assert_int_equal(sm.from.port, 6379);
    assert_string_equal(sm.to.host.c_str(), "127.0.0.1");
    assert_int_equal(sm.to.port, 6380);

    p = parse_event("+switch-master",
                    "mymaster 127.0.0.1 6379 10.0.0.1\nserver evil 1.2.3.4:1 6380");
    assert_false(p.value.has_value());
    assert_string_equal(p.error.c_str(), "+switch-master: expected 5 words, got 7");
    p = parse_event("+switch-master", "mymaster 127.0.0.1 6379 10.0.0.1\nserver 6380");
    assert_string_equal(p.error.c_str(), "+switch-master new address: invalid host");
    p = parse_event("+switch-master", "mymaster 127.0.0.1 x 127.0.0.1 6380");
    assert_string_equal(p.error.c_str(), "+switch-master old address: bad port");
    p = parse_event("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 0");
    assert_string_equal(p.error.c_str(), "+switch-master new address: bad port");
    p = parse_event("+switch-master", "my\x01master 127.0.0.1 6379 127.0.0.1 6380");
    assert_string_equal(p.error.c_str(), "+switch-master: invalid master name");
    p = parse_event("+switch-master", "");
    assert_string_equal(p.error.c_str(), "+switch-master: expected 5 words, got 0");
    p = parse_event("+switch-master", std::string(max_string + 1, 'a'));
    assert_string_equal(p.error.c_str(), "+switch-master: message too long");
}

static void instance_events(void**) {
    auto p =
        parse_event("+sentinel", "sentinel 0123abcd 127.0.0.1 26380 @ mymaster 127.0.0.1 6379");
    assert_true(p.value.has_value());
    auto& ev = std::get<InstanceEvent>(*p.value);
    assert_string_equal(ev.channel.c_str(), "+sentinel");
    assert_string_equal(ev.kind.c_str(), "sentinel");
    assert_string_equal(ev.name.c_str(), "0123abcd");
    assert_int_equal(ev.addr.port, 26380);
    assert_string_equal(ev.master->c_str(), "mymaster");
    assert_int_equal(ev.master_addr->port, 6379);

    p = parse_event("+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2");
    assert_true(p.value.has_value());
    auto& od = std::get<InstanceEvent>(*p.value);
    assert_string_equal(od.kind.c_str(), "master");
    assert_false(od.master.has_value());
    assert_string_equal(od.extra.c_str(), "#quorum 2/2");

    p = parse_event("-sdown", "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379");
    assert_true(p.value.has_value());
    assert_string_equal(std::get<InstanceEvent>(*p.value).kind.c_str(), "slave");

    p = parse_event("+failover-end", "master mymaster 127.0.0.1 6379");
    assert_true(p.value.has_value());
    p = parse_event("+config-update-from", "sentinel 0123 ::1 26379 @ mymaster 127.0.0.1 6379");
    assert_true(p.value.has_value());
    assert_string_equal(std::get<InstanceEvent>(*p.value).addr.host.c_str(), "::1");
}

static void instance_event_rejections(void**) {
    auto p = parse_event("+sdown", "master mymaster 127.0.0.1");
    assert_string_equal(p.error.c_str(), "+sdown: expected at least 4 words");
    p = parse_event("+sdown", "cluster mymaster 127.0.0.1 6379");
    assert_string_equal(p.error.c_str(), "+sdown: unknown instance type");
    p = parse_event("+sdown", "master mymaster -bad 6379");
    assert_string_equal(p.error.c_str(), "+sdown address: invalid host");
    p = parse_event("+sdown", "master mymaster 127.0.0.1 99999");
    assert_string_equal(p.error.c_str(), "+sdown address: bad port");
    p = parse_event("+sdown", "master my\tmaster 127.0.0.1 6379");
    assert_string_equal(p.error.c_str(), "+sdown: invalid instance name");
    p = parse_event("+sdown", "slave x 127.0.0.1 6380");
    assert_string_equal(p.error.c_str(), "+sdown: slave event without '@ master'");
    p = parse_event("+sentinel", "sentinel r 127.0.0.1 26380 @ mymaster 127.0.0.1");
    assert_string_equal(p.error.c_str(), "+sentinel: truncated '@ master ip port' part");
    p = parse_event("+sentinel", "sentinel r 127.0.0.1 26380 @ mymaster 127.0.0.1\n 6379");
    assert_string_equal(p.error.c_str(), "+sentinel master address: invalid host");
    p = parse_event("+sentinel", "master m 127.0.0.1 6379");
    assert_string_equal(p.error.c_str(), "+sentinel: expected a sentinel instance");
    p = parse_event("+sentinel", "sentinel r 127.0.0.1 26380 @ \x7fm 127.0.0.1 6379");
    assert_string_equal(p.error.c_str(), "+sentinel: invalid master name");
    p = parse_event("+nonsense", "master m 127.0.0.1 6379");
    assert_string_equal(p.error.c_str(), "unknown channel");
}

static void push_messages(void**) {
    auto p = parse_push(decode("*3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n$3\r\nabc\r\n").get());
    assert_true(p.value.has_value());
    assert_true(p.value->has_value());
    assert_string_equal((*p.value)->channel.c_str(), "+sdown");
    assert_string_equal((*p.value)->payload.c_str(), "abc");

    p = parse_push(decode("*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:1\r\n").get());
    assert_true(p.value.has_value());
    assert_false(p.value->has_value());

    p = parse_push(decode("*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n").get());
    assert_string_equal(p.error.c_str(), "push of 2 elements, expected 3");
    p = parse_push(decode("*3\r\n:1\r\n$1\r\nx\r\n$1\r\nx\r\n").get());
    assert_string_equal(p.error.c_str(), "push element 0: not a string");
    p = parse_push(decode("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n:1\r\n").get());
    assert_string_equal(p.error.c_str(), "push element 2: not a string");
    p = parse_push(decode("*3\r\n$4\r\npong\r\n$1\r\nx\r\n$1\r\nx\r\n").get());
    assert_string_equal(p.error.c_str(), "unexpected push kind");
    p = parse_push(decode("+PONG\r\n").get());
    assert_string_equal(p.error.c_str(), "expected array, got status");
    p = parse_push(nullptr);
    assert_string_equal(p.error.c_str(), "no reply");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(master_good),
        cmocka_unit_test(master_ipv6_and_big_epoch),
        cmocka_unit_test(master_rejections),
        cmocka_unit_test(master_shape_rejections),
        cmocka_unit_test(masters_list),
        cmocka_unit_test(replicas_and_sentinels),
        cmocka_unit_test(role),
        cmocka_unit_test(numbers_and_flags),
        cmocka_unit_test(switch_master),
        cmocka_unit_test(instance_events),
        cmocka_unit_test(instance_event_rejections),
        cmocka_unit_test(push_messages),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
