// Unit tests for the parent/engine codec (src/common/proto.cc): round trips, and
// every way a frame or a field can be rejected.
#include "../../cmocka.h"

#include <cstring>

#include "common/proto.h"

using namespace rh;
using namespace rh::proto;

namespace {

std::vector<uint8_t> frame_of(const Message& m, uint32_t seq = 7) {
    std::string err;
    auto f = encode(m, seq, &err);
    assert_true(f.has_value());
    return *f;
}

// Parses a whole frame; returns the message or nullopt with *err.
std::optional<Message> roundtrip_bytes(const std::vector<uint8_t>& f, std::string* err) {
    Header h;
    auto st = parse_header(f, &h, err);
    if (st != FrameStatus::Complete)
        return std::nullopt;
    return decode(h, std::span<const uint8_t>(f).subspan(kHeaderSize), err);
}

template <typename T> void check_roundtrip(const T& in) {
    std::string err;
    auto out = roundtrip_bytes(frame_of(in), &err);
    if (!out)
        fail_msg("decode failed: %s", err.c_str());
    assert_true(std::holds_alternative<T>(*out));
    assert_true(std::get<T>(*out) == in);
}

ConfigBegin sample_begin() {
    ConfigBegin b;
    b.generation = 42;
    b.log_level = 0;
    b.api_listen = {{"127.0.0.1", 8000}, {"::1", 8001}};
    b.sentinel_password = "s3cret";
    b.user = "redishappy";
    b.chroot_dir = "/var/lib/redishappy";
    b.min_agreement = 2;
    b.trust_discovered = true;
    b.consul = true;
    b.consul_address = "http://127.0.0.1:8500";
    b.consul_mode = ConsulMode::agent;
    b.consul_token = "tok";
    b.consul_ca_pem = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
    b.config_path = "/etc/redishappy.conf";
    b.haproxy_reload_command = "systemctl reload haproxy";
    return b;
}

ConfigCluster sample_cluster() {
    ConfigCluster c;
    c.name = "testing";
    c.external_port = 6379;
    c.password = "pw";
    c.applied_master = HostPort{"10.0.0.1", 6380};
    c.applied_epoch = 3;
    c.haproxy_backend = "redis_testing";
    c.haproxy_server = "master";
    c.consul_service = "redis";
    c.consul_tags = {"a", "b"};
    return c;
}

ProcessStats sample_stats() {
    ProcessStats st;
    st.parent = {true, 4u << 20, 20u << 20, 3u << 20, 1250, 7, 1024, 1700000000123};
    st.engine = {true, 2u << 20, 30u << 20, 0, 40, 12, 65536, 1700000001000};
    st.engine_restarts = 3;
    return st;
}

} // namespace

static void roundtrips_every_type(void**) {
    check_roundtrip(sample_begin());
    check_roundtrip(ConfigSentinel{{"2001:db8::1", 26379}});
    check_roundtrip(sample_cluster());
    ConfigCluster bare;
    bare.name = "b";
    bare.external_port = 1;
    check_roundtrip(bare);
    bare.removed = true;
    check_roundtrip(bare);
    check_roundtrip(ConfigEnd{42, 3, 1});
    check_roundtrip(ApplyResult{"testing", ApplyState::Error, std::nullopt, 5, 1700000000,
                                "check_command exited 1"});
    check_roundtrip(ApplyResult{"testing", ApplyState::Applied, HostPort{"::1", 7000}, 5, 1, ""});
    check_roundtrip(ApplyResult{"testing", ApplyState::Applied, HostPort{"::1", 7000}, 5, 1, "",
                                ApplyPath::Runtime, ApplyError::None});
    check_roundtrip(ApplyResult{"testing", ApplyState::Error, std::nullopt, 5, 1, "reload failed",
                                ApplyPath::None, ApplyError::Reload});
    check_roundtrip(Shutdown{});
    check_roundtrip(ProcessStats{});
    check_roundtrip(sample_stats());
    check_roundtrip(Ready{42});
    check_roundtrip(Master{"testing", {"127.0.0.1", 7001}, 99, false, "127.0.0.1"});
    check_roundtrip(Master{"testing", {"127.0.0.1", 7001}, 99, true, "127.0.0.1"});
    check_roundtrip(Fence{"testing", {"127.0.0.1", 7001}, 99, 180000});
    check_roundtrip(Unfence{"testing", {"::1", 7001}, 99});
    FenceState idle;
    idle.cluster = "testing";
    check_roundtrip(idle);
    check_roundtrip(FenceState{"testing", true, HostPort{"10.0.0.1", 6379}, 4, 1700000000,
                               1700000180, 3, FenceLift::None, ""});
    check_roundtrip(FenceState{"testing", false, HostPort{"10.0.0.1", 6379}, 4, 1700000000, 0, 3,
                               FenceLift::Error, "haproxy: No such server."});
    check_roundtrip(Replicas{"testing", {}, false});
    check_roundtrip(Replicas{"testing",
                             {{{"127.0.0.1", 7002}, "", 0},
                              {{"::1", 7003}, "", 63},
                              {{"redis-b.example", 7004}, "10.0.0.4", 5}},
                             true});
    ConfigCluster rb = sample_cluster();
    rb.replica_backend = "redis_testing_read";
    rb.max_replicas = 64;
    rb.lag_limited = true;
    rb.max_replica_lag = 1 << 20;
    check_roundtrip(rb);
}

// The read backend's list: at most 64 replicas, slots distinct and below
// 64, addr empty or an IP literal, hosts valid.
static void rejects_bad_replicas(void**) {
    std::string err;
    Replicas r{"testing", {{{"127.0.0.1", 7002}, "", 64}}};
    assert_false(roundtrip_bytes(frame_of(r), &err).has_value());
    assert_non_null(strstr(err.c_str(), "replicas: bad or repeated slot"));
    r.replicas = {{{"127.0.0.1", 7002}, "", 1}, {{"127.0.0.1", 7003}, "", 1}};
    assert_false(roundtrip_bytes(frame_of(r), &err).has_value());
    assert_non_null(strstr(err.c_str(), "bad or repeated slot"));
    r.replicas = {{{"127.0.0.1", 7002}, "host.example", 1}};
    assert_false(roundtrip_bytes(frame_of(r), &err).has_value());
    assert_non_null(strstr(err.c_str(), "not an IP literal"));
    r.replicas = {{{"127.0.0.1\nbackend x", 7002}, "", 1}};
    assert_false(roundtrip_bytes(frame_of(r), &err).has_value());
    r.replicas = {{{"127.0.0.1", 0}, "", 1}};
    assert_false(roundtrip_bytes(frame_of(r), &err).has_value());
    // 65 replicas cannot even be encoded.
    r.replicas.assign(65, ReplicaAt{{"127.0.0.1", 7002}, "", 0});
    assert_false(encode(r, 1, &err).has_value());
    ConfigCluster c = sample_cluster();
    c.max_replicas = 0;
    assert_false(roundtrip_bytes(frame_of(c), &err).has_value());
    assert_non_null(strstr(err.c_str(), "max_replicas"));
    c.max_replicas = 65;
    assert_false(roundtrip_bytes(frame_of(c), &err).has_value());
}

// The engine's fence requests are checked like a Master: a valid cluster
// name and address; the parent's FenceState has a closed set of lifts.
static void fence_messages_are_checked(void**) {
    std::string err;
    auto bad = frame_of(Fence{"testing", {"127.0.0.1", 7001}, 1, 0});
    bad[kHeaderSize + 2] = '/'; // "t/sting": not a cluster name
    assert_false(roundtrip_bytes(bad, &err).has_value());
    assert_non_null(strstr(err.c_str(), "fence: cluster"));
    auto lift =
        frame_of(FenceState{"testing", false, std::nullopt, 0, 0, 0, 0, FenceLift::Timeout, ""});
    lift[lift.size() - 3] = kFenceLiftCount; // lifted_by, before the empty error
    assert_false(roundtrip_bytes(lift, &err).has_value());
    assert_non_null(strstr(err.c_str(), "lifted_by"));
}

static void header_carries_type_length_and_seq(void**) {
    auto f = frame_of(Ready{1}, 0xdeadbeef);
    Header h;
    std::string err;
    assert_int_equal(parse_header(f, &h, &err), FrameStatus::Complete);
    assert_int_equal(static_cast<int>(h.type), static_cast<int>(Type::Ready));
    assert_int_equal(h.length, 8);
    assert_int_equal(h.seq, 0xdeadbeef);
    assert_int_equal(f.size(), kHeaderSize + 8);
}

static void incomplete_frames_wait_for_more(void**) {
    auto f = frame_of(Master{"testing", {"127.0.0.1", 7001}, 1, false, "127.0.0.1"});
    Header h;
    std::string err;
    for (size_t n = 0; n < f.size(); n++)
        assert_int_equal(parse_header(std::span<const uint8_t>(f.data(), n), &h, &err),
                         FrameStatus::Incomplete);
}

static void rejects_bad_version(void**) {
    auto f = frame_of(Ready{1});
    f[3] = static_cast<uint8_t>(kVersion + 1);
    Header h;
    std::string err;
    assert_int_equal(parse_header(f, &h, &err), FrameStatus::Invalid);
    assert_non_null(strstr(err.c_str(), "version"));
}

static void rejects_unknown_type(void**) {
    auto f = frame_of(Ready{1});
    f[0] = 0x7f;
    Header h;
    std::string err;
    assert_int_equal(parse_header(f, &h, &err), FrameStatus::Invalid);
    assert_non_null(strstr(err.c_str(), "unknown message type"));
}

static void rejects_length_over_cap(void**) {
    auto f = frame_of(Ready{1});
    uint32_t big = kMaxPayload + 1;
    f[4] = static_cast<uint8_t>(big >> 24);
    f[5] = static_cast<uint8_t>(big >> 16);
    f[6] = static_cast<uint8_t>(big >> 8);
    f[7] = static_cast<uint8_t>(big);
    Header h;
    std::string err;
    assert_int_equal(parse_header(f, &h, &err), FrameStatus::Invalid);
    assert_non_null(strstr(err.c_str(), "exceeds the cap"));
}

static void rejects_bytes_left_over(void**) {
    auto f = frame_of(Ready{1});
    f.push_back(0);
    f[7] = static_cast<uint8_t>(f[7] + 1); // length now includes the extra byte
    std::string err;
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "left over"));
    assert_non_null(strstr(err.c_str(), "ready"));
}

static void rejects_truncated_payload(void**) {
    auto f = frame_of(Master{"testing", {"127.0.0.1", 7001}, 1, false, "127.0.0.1"});
    // Claim 13 bytes less: addr (2 + 9 bytes) and the "more" flag are
    // gone, the epoch cut short.
    f[7] = static_cast<uint8_t>(f[7] - 13);
    f.erase(f.end() - 13, f.end());
    std::string err;
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "truncated"));
}

// Builds a Master payload by hand so fields can be made invalid.
static std::vector<uint8_t> master_frame(std::string_view cluster, std::string_view host,
                                         uint16_t port, std::string_view addr = "10.0.0.1") {
    Writer p;
    p.str(cluster, 0xffff);
    p.str(host, 0xffff);
    p.u16(port);
    p.u64(1);
    p.boolean(false); // more
    p.str(addr, 0xffff);
    Writer f;
    f.u16(static_cast<uint16_t>(Type::Master));
    f.u16(kVersion);
    f.u32(static_cast<uint32_t>(p.bytes().size()));
    f.u32(1);
    auto out = f.bytes();
    out.insert(out.end(), p.bytes().begin(), p.bytes().end());
    return out;
}

static void rejects_injected_host(void**) {
    std::string err;
    assert_true(roundtrip_bytes(master_frame("testing", "10.0.0.1", 6379), &err).has_value());
    assert_false(
        roundtrip_bytes(master_frame("testing", "10.0.0.1\nserver evil 1.2.3.4:1", 6379), &err)
            .has_value());
    assert_non_null(strstr(err.c_str(), "invalid host"));
    assert_false(roundtrip_bytes(master_frame("testing", "", 6379), &err).has_value());
    assert_false(roundtrip_bytes(master_frame("testing", "a b", 6379), &err).has_value());
    assert_false(
        roundtrip_bytes(master_frame("testing", std::string(300, 'a'), 6379), &err).has_value());
}

// Master.addr (version 4): the IP literal a named master was reached at;
// never empty, never a name, at most INET6_ADDRSTRLEN - 1 bytes.
static void master_addr_is_an_ip_literal(void**) {
    std::string err;
    auto named =
        roundtrip_bytes(master_frame("testing", "redis-0.redis.ns.svc", 6379, "fd00::1"), &err);
    assert_true(named.has_value());
    auto& m = std::get<Master>(*named);
    assert_string_equal(m.master.host.c_str(), "redis-0.redis.ns.svc");
    assert_string_equal(m.addr.c_str(), "fd00::1");
    for (std::string bad : {"", "localhost", "10.0.0.1\nserver x", "10.0.0.256"}) {
        assert_false(roundtrip_bytes(master_frame("testing", "h", 1, bad), &err).has_value());
        assert_non_null(strstr(err.c_str(), "addr"));
    }
    std::string long_addr = "fd00:0000:0000:0000:0000:0000:0000:0001%eth0123"; // 47 bytes
    assert_false(roundtrip_bytes(master_frame("testing", "h", 1, long_addr), &err).has_value());
    assert_non_null(strstr(err.c_str(), "addr"));
    // An older parent's frame (no addr) is refused by version first.
    auto f = master_frame("testing", "10.0.0.1", 1);
    f[2] = 0;
    f[3] = 3;
    Header h;
    assert_true(parse_header(f, &h, &err) == FrameStatus::Invalid);
}

static void rejects_port_zero(void**) {
    std::string err;
    assert_false(roundtrip_bytes(master_frame("testing", "10.0.0.1", 0), &err).has_value());
    assert_non_null(strstr(err.c_str(), "port 0"));
}

static void rejects_bad_cluster_names(void**) {
    std::string err;
    assert_false(roundtrip_bytes(master_frame("", "10.0.0.1", 1), &err).has_value());
    assert_false(roundtrip_bytes(master_frame("a/b", "10.0.0.1", 1), &err).has_value());
    assert_false(roundtrip_bytes(master_frame("a\nb", "10.0.0.1", 1), &err).has_value());
    assert_false(
        roundtrip_bytes(master_frame(std::string(65, 'a'), "10.0.0.1", 1), &err).has_value());
    assert_true(valid_cluster_name("my-cluster_1.prod"));
}

static void rejects_bad_boolean_and_enum(void**) {
    auto f = frame_of(ApplyResult{"t", ApplyState::Applied, std::nullopt, 0, 0, ""});
    // payload: str "t" (2+1 bytes), state u8 at offset 3
    size_t state_at = kHeaderSize + 3;
    f[state_at] = 9;
    std::string err;
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "state"));
    f[state_at] = 1;
    f[state_at + 1] = 2; // presence flag of master: only 0 or 1
    assert_false(roundtrip_bytes(f, &err).has_value());
}

static void rejects_bad_apply_path_and_reason(void**) {
    ApplyResult r{"t", ApplyState::Applied, std::nullopt,    0, 0,
                  "",  ApplyPath::Reload,   ApplyError::None};
    auto f = frame_of(r);
    // payload ends with path u8, reason u8
    f[f.size() - 2] = 3;
    std::string err;
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "path"));
    f[f.size() - 2] = 2;
    f[f.size() - 1] = kApplyErrorCount;
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "reason"));
    f[f.size() - 1] = static_cast<uint8_t>(ApplyError::Check);
    auto m = roundtrip_bytes(f, &err);
    assert_true(m.has_value());
    assert_int_equal(static_cast<int>(std::get<ApplyResult>(*m).reason),
                     static_cast<int>(ApplyError::Check));
}

static void rejects_process_stats_out_of_range(void**) {
    ProcessStats st = sample_stats();
    st.engine.rss_bytes = uint64_t{1} << 60;
    std::string err;
    assert_false(roundtrip_bytes(frame_of(st), &err).has_value());
    assert_non_null(strstr(err.c_str(), "rss: out of range"));
    st = sample_stats();
    st.parent.start_time_ms = ~uint64_t{0};
    assert_false(roundtrip_bytes(frame_of(st), &err).has_value());
    assert_non_null(strstr(err.c_str(), "start_time"));
    // An absent sample is a single 0 byte: bytes after it are left over.
    ProcessStats none;
    auto f = frame_of(none);
    assert_int_equal(f.size(), kHeaderSize + 1 + 1 + 8);
    f[kHeaderSize] = 2; // presence flag: only 0 or 1
    assert_false(roundtrip_bytes(f, &err).has_value());
    assert_non_null(strstr(err.c_str(), "parent"));
}

static void rejects_config_out_of_range(void**) {
    ConfigBegin b = sample_begin();
    b.min_agreement = 0;
    std::string err;
    assert_false(roundtrip_bytes(frame_of(b), &err).has_value());
    assert_non_null(strstr(err.c_str(), "min_agreement"));
    b = sample_begin();
    b.ping_interval_ms = 0;
    assert_false(roundtrip_bytes(frame_of(b), &err).has_value());
    assert_non_null(strstr(err.c_str(), "ping_interval: out of range"));
    b = sample_begin();
    b.consul_mode = static_cast<ConsulMode>(7);
    assert_false(roundtrip_bytes(frame_of(b), &err).has_value());
    assert_non_null(strstr(err.c_str(), "consul_mode: not catalog or agent"));
    b = sample_begin();
    b.haproxy_reload_command = "reload\nrm -rf /";
    assert_false(roundtrip_bytes(frame_of(b), &err).has_value());
    assert_non_null(strstr(err.c_str(), "control character"));
}

static void encode_refuses_oversize(void**) {
    ConfigBegin b = sample_begin();
    b.consul_ca_pem = std::string(kMaxPem + 1, 'x');
    std::string err;
    assert_false(encode(b, 1, &err).has_value());
    assert_non_null(strstr(err.c_str(), "limits"));
    ConfigCluster c = sample_cluster();
    c.name = std::string(kMaxName + 1, 'a');
    assert_false(encode(c, 1, &err).has_value());
}

static void reader_getters_are_bounds_checked(void**) {
    uint8_t two[2] = {0, 5};
    Reader r(std::span<const uint8_t>(two, 2));
    uint32_t v32 = 0;
    assert_false(r.u32(&v32));
    std::string s;
    assert_false(r.str(&s, 100)); // claims 5 bytes, has 0
    Reader r2(std::span<const uint8_t>(two, 2));
    assert_false(r2.str(&s, 4)); // over the field's cap
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrips_every_type),
        cmocka_unit_test(rejects_bad_replicas),
        cmocka_unit_test(fence_messages_are_checked),
        cmocka_unit_test(header_carries_type_length_and_seq),
        cmocka_unit_test(incomplete_frames_wait_for_more),
        cmocka_unit_test(rejects_bad_version),
        cmocka_unit_test(rejects_unknown_type),
        cmocka_unit_test(rejects_length_over_cap),
        cmocka_unit_test(rejects_bytes_left_over),
        cmocka_unit_test(rejects_truncated_payload),
        cmocka_unit_test(rejects_injected_host),
        cmocka_unit_test(rejects_port_zero),
        cmocka_unit_test(master_addr_is_an_ip_literal),
        cmocka_unit_test(rejects_bad_cluster_names),
        cmocka_unit_test(rejects_bad_boolean_and_enum),
        cmocka_unit_test(rejects_bad_apply_path_and_reason),
        cmocka_unit_test(rejects_process_stats_out_of_range),
        cmocka_unit_test(rejects_config_out_of_range),
        cmocka_unit_test(encode_refuses_oversize),
        cmocka_unit_test(reader_getters_are_bounds_checked),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
