// Unit tests for the read backend's rules (src/engine/replicas.cc) and the
// parsing they rely on: SENTINEL REPLICAS offsets and ROLE details
// (src/engine/sentinel_proto.cc). Replies are hand-written RESP.
#include <hiredis/hiredis.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/replicas.h"
#include "engine/sentinel_proto.h"

#include "../../cmocka.h"
#include "resp.h"

using namespace rh;
using namespace rh::sentinel;
using namespace rh::test;

namespace {

std::string replica_resp(const std::string& ip, const std::string& port, const std::string& flags,
                         const std::string& link, const std::string& offset) {
    KV kv = {{"name", ip + ":" + port},
             {"ip", ip},
             {"port", port},
             {"flags", flags},
             {"master-link-status", link}};
    if (!offset.empty())
        kv.push_back({"slave-repl-offset", offset});
    return kv_array(kv);
}

ReplicaInfo rep(const std::string& ip, uint16_t port, std::vector<std::string> flags = {"slave"},
                std::string link = "ok") {
    ReplicaInfo r;
    r.addr = {ip, port};
    r.flags = std::move(flags);
    r.master_link_status = std::move(link);
    return r;
}

const HostPort kMaster{"127.0.0.1", 6379};

} // namespace

static void replicas_reply_offset(void**) {
    auto r =
        parse_replicas(decode("*2\r\n" + replica_resp("127.0.0.1", "6380", "slave", "ok", "42") +
                              replica_resp("127.0.0.1", "6381", "slave,s_down", "err", ""))
                           .get());
    assert_true(r.value.has_value());
    assert_int_equal(r.value->size(), 2);
    assert_true((*r.value)[0].repl_offset.has_value());
    assert_int_equal(*(*r.value)[0].repl_offset, 42);
    assert_false((*r.value)[1].repl_offset.has_value());
    assert_true((*r.value)[1].has_flag("s_down"));
    // A malformed offset is a bad reply, not a zero.
    auto bad = parse_replicas(
        decode("*1\r\n" + replica_resp("127.0.0.1", "6380", "slave", "ok", "-1")).get());
    assert_false(bad.value.has_value());
    assert_non_null(strstr(bad.error.c_str(), "slave-repl-offset"));
}

static void role_info_master_and_slave(void**) {
    auto m = parse_role_info(decode("*3\r\n" + bulk("master") + ":3129\r\n*1\r\n*3\r\n" +
                                    bulk("127.0.0.1") + bulk("6380") + bulk("3129") + "")
                                 .get());
    assert_true(m.value.has_value());
    assert_string_equal(m.value->role.c_str(), "master");
    assert_int_equal(m.value->offset, 3129);

    auto s = parse_role_info(decode("*5\r\n" + bulk("slave") + bulk("127.0.0.1") + ":6379\r\n" +
                                    bulk("connected") + ":3100\r\n")
                                 .get());
    assert_true(s.value.has_value());
    assert_string_equal(s.value->role.c_str(), "slave");
    assert_true(s.value->master == kMaster);
    assert_string_equal(s.value->state.c_str(), "connected");
    assert_int_equal(s.value->offset, 3100);

    // Port 0, a bad host, a short reply, a negative offset: refused.
    assert_false(parse_role_info(decode("*5\r\n" + bulk("slave") + bulk("127.0.0.1") + ":0\r\n" +
                                        bulk("connected") + ":1\r\n")
                                     .get())
                     .value.has_value());
    assert_false(parse_role_info(decode("*5\r\n" + bulk("slave") + bulk("bad host\n") +
                                        ":6379\r\n" + bulk("connected") + ":1\r\n")
                                     .get())
                     .value.has_value());
    assert_false(
        parse_role_info(decode("*3\r\n" + bulk("slave") + bulk("127.0.0.1") + ":6379\r\n").get())
            .value.has_value());
    assert_false(
        parse_role_info(decode("*2\r\n" + bulk("master") + ":-5\r\n").get()).value.has_value());
    auto sen = parse_role_info(decode("*2\r\n" + bulk("sentinel") + "*0\r\n").get());
    assert_true(sen.value.has_value());
    assert_string_equal(sen.value->role.c_str(), "sentinel");
}

static void sentinel_health_rule(void**) {
    std::string why;
    assert_true(sentinel_says_healthy(rep("127.0.0.1", 6380), &why));
    assert_false(sentinel_says_healthy(rep("127.0.0.1", 6380, {"slave", "s_down"}), &why));
    assert_non_null(strstr(why.c_str(), "s_down"));
    assert_false(sentinel_says_healthy(rep("127.0.0.1", 6380, {"slave", "o_down"}), &why));
    assert_false(sentinel_says_healthy(rep("127.0.0.1", 6380, {"slave", "disconnected"}), &why));
    assert_false(sentinel_says_healthy(rep("127.0.0.1", 6380, {"slave"}, "err"), &why));
    assert_non_null(strstr(why.c_str(), "master link err"));
}

static void candidates_need_all_trusted(void**) {
    std::map<std::string, std::vector<ReplicaInfo>> by;
    by["s1"] = {rep("127.0.0.1", 6381), rep("127.0.0.1", 6380), rep("127.0.0.1", 6382)};
    by["s2"] = {rep("127.0.0.1", 6380), rep("127.0.0.1", 6382, {"slave", "s_down"})};
    auto c = replica_candidates(by, kMaster);
    // 6382: one trusted Sentinel says it is down -> out. Sorted by address.
    assert_int_equal(c.size(), 2);
    assert_true(c[0] == (HostPort{"127.0.0.1", 6380}));
    assert_true(c[1] == (HostPort{"127.0.0.1", 6381}));
    // The master itself (a Sentinel still listing the promoted replica)
    // and host names are never candidates.
    by["s3"] = {rep("127.0.0.1", 6379), rep("redis-a.example", 6379)};
    c = replica_candidates(by, kMaster);
    assert_int_equal(c.size(), 2);
    assert_true(replica_candidates({}, kMaster).empty());
}

static void role_rule(void**) {
    RoleInfo r;
    r.role = "slave";
    r.master = kMaster;
    r.state = "connected";
    r.offset = 1000;
    std::string why;
    assert_true(role_says_healthy(r, kMaster, std::nullopt, std::nullopt, &why));
    assert_true(role_says_healthy(r, kMaster, 1100, 100, &why));
    assert_false(role_says_healthy(r, kMaster, 1101, 100, &why));
    assert_non_null(strstr(why.c_str(), "lags 101 bytes"));
    // A replica ahead of the master's sample (read a moment earlier) lags 0.
    assert_true(role_says_healthy(r, kMaster, 900, 0, &why));
    // Lag limit set but the master's offset unknown: not shown.
    assert_false(role_says_healthy(r, kMaster, std::nullopt, 100, &why));
    assert_false(
        role_says_healthy(r, HostPort{"127.0.0.1", 6390}, std::nullopt, std::nullopt, &why));
    assert_non_null(strstr(why.c_str(), "not of the master"));
    r.state = "sync";
    assert_false(role_says_healthy(r, kMaster, std::nullopt, std::nullopt, &why));
    r.state = "connected";
    r.role = "master"; // promoted
    assert_false(role_says_healthy(r, kMaster, std::nullopt, std::nullopt, &why));
    assert_string_equal(why.c_str(), "ROLE master");
}

static void slots_are_stable(void**) {
    HostPort a{"127.0.0.1", 6380}, b{"127.0.0.1", 6381}, c{"127.0.0.1", 6382}, d{"127.0.0.1", 6383};
    auto s = assign_slots({}, {b, a}, 8);
    assert_int_equal(s.size(), 2);
    assert_true(s[0] == (ReplicaSlot{a, 0}));
    assert_true(s[1] == (ReplicaSlot{b, 1}));
    // a leaves: b keeps slot 1; c takes the lowest free slot, 0.
    s = assign_slots(s, {b, c}, 8);
    assert_int_equal(s.size(), 2);
    assert_true(s[0] == (ReplicaSlot{c, 0}));
    assert_true(s[1] == (ReplicaSlot{b, 1}));
    // At most max_slots; the excess waits, in address order.
    s = assign_slots({}, {d, c, b, a}, 2);
    assert_int_equal(s.size(), 2);
    assert_true(s[0] == (ReplicaSlot{a, 0}));
    assert_true(s[1] == (ReplicaSlot{b, 1}));
    // A slot beyond a lowered max is given up; duplicates keep one slot.
    s = assign_slots({{a, 5}, {b, 0}, {c, 0}}, {a, b, c}, 3);
    assert_int_equal(s.size(), 3);
    assert_true(s[0] == (ReplicaSlot{b, 0}));
    assert_true(s[1] == (ReplicaSlot{a, 1}));
    assert_true(s[2] == (ReplicaSlot{c, 2}));
    assert_true(assign_slots(s, {}, 3).empty());
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicas_reply_offset),
        cmocka_unit_test(role_info_master_and_slave),
        cmocka_unit_test(sentinel_health_rule),
        cmocka_unit_test(candidates_need_all_trusted),
        cmocka_unit_test(role_rule),
        cmocka_unit_test(slots_are_stable),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
