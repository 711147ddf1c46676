// Unit tests for src/config/engine_settings.cc: the one mapping of a Config
// to what the engine receives, checked through the real codec.
#include <string>
#include <vector>

#include "common/proto.h"
#include "config/engine_settings.h"

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

namespace {

// The whole transfer, in order.
std::vector<proto::Message> all_messages(const Config& c, uint64_t generation,
                                         const MasterMap& applied,
                                         const std::map<std::string, ClusterConfig>& removed) {
    std::vector<proto::Message> out;
    assert_true(engine_messages(c, generation, applied, removed, [&](const proto::Message& m) {
        out.push_back(m);
        return true;
    }));
    return out;
}

Config two_sentinels() {
    Config c;
    c.sentinels = {HostPort{"127.0.0.1", 26379}, HostPort{"127.0.0.1", 26380}};
    ClusterConfig a;
    a.name = "alpha";
    a.external_port = 7000;
    a.edit_text().haproxy_backend = "redis_alpha";
    a.edit_text().consul_tags = {"x", "y"};
    c.clusters = {a};
    return c;
}

// Every message survives the codec, as it will on the socketpair.
std::vector<proto::Message> through_codec(const std::vector<proto::Message>& in) {
    std::vector<proto::Message> out;
    uint32_t seq = 0;
    for (auto& m : in) {
        std::string err;
        auto frame = proto::encode(m, seq++, &err);
        if (!frame)
            fail_msg("encode: %s", err.c_str());
        proto::Header h;
        assert_int_equal(static_cast<int>(proto::parse_header(*frame, &h, &err)),
                         static_cast<int>(proto::FrameStatus::Complete));
        auto back =
            proto::decode(h, std::span<const uint8_t>(*frame).subspan(proto::kHeaderSize), &err);
        if (!back)
            fail_msg("decode: %s", err.c_str());
        out.push_back(std::move(*back));
    }
    return out;
}

void min_agreement_defaults(void**) {
    Config c = two_sentinels();
    assert_int_equal(effective_min_agreement(c), 2);
    c.sentinels.pop_back();
    assert_int_equal(effective_min_agreement(c), 1);
    c.sentinels.clear();
    assert_int_equal(effective_min_agreement(c), 1);
    c.min_agreement = 3;
    assert_int_equal(effective_min_agreement(c), 3);
}

void transfer_in_order(void**) {
    Config c = two_sentinels();
    MasterMap applied;
    applied["alpha"] = {HostPort{"10.0.0.9", 6379}, 12};
    applied["gone"] = {HostPort{"10.0.0.8", 6379}, 1}; // not configured: not sent
    ClusterConfig old;
    old.name = "beta";
    old.external_port = 7001;
    auto msgs = through_codec(all_messages(c, 7, applied, {{"beta", old}}));
    assert_int_equal(msgs.size(), 6); // begin, 2 sentinels, alpha, beta (removed), end

    auto& b = std::get<proto::ConfigBegin>(msgs[0]);
    assert_int_equal(b.generation, 7);
    assert_int_equal(b.min_agreement, 2);
    assert_false(b.consul);
    assert_int_equal(std::get<proto::ConfigSentinel>(msgs[2]).address.port, 26380);

    auto& a = std::get<proto::ConfigCluster>(msgs[3]);
    assert_string_equal(a.name.c_str(), "alpha");
    assert_false(a.removed);
    assert_true(a.applied_master.has_value());
    assert_int_equal(a.applied_epoch, 12);
    assert_string_equal(a.haproxy_backend.c_str(), "redis_alpha");
    assert_int_equal(a.consul_tags.size(), 2);

    auto& r = std::get<proto::ConfigCluster>(msgs[4]);
    assert_string_equal(r.name.c_str(), "beta");
    assert_true(r.removed);
    assert_false(r.applied_master.has_value());

    auto& e = std::get<proto::ConfigEnd>(msgs[5]);
    assert_int_equal(e.generation, 7);
    assert_int_equal(e.sentinels, 2);
    assert_int_equal(e.clusters, 2);
}

// A sink that refuses a message (the channel would not take it) stops the
// transfer there.
void a_refused_message_stops_the_transfer(void**) {
    Config c = two_sentinels();
    size_t taken = 0;
    assert_false(engine_messages(c, 1, {}, {}, [&](const proto::Message&) { return ++taken < 2; }));
    assert_int_equal(taken, 2);
    taken = 0;
    assert_true(engine_messages(c, 1, {}, {}, [&](const proto::Message&) { return ++taken > 0; }));
    assert_int_equal(taken, 5); // begin, 2 sentinels, alpha, end
}

// Commands may hold credentials: the engine sees them only when told to
// show them.
void commands_are_redacted_unless_shown(void**) {
    Config c = two_sentinels();
    c.check_command = "haproxy -c -f %s";
    c.reload_command = "curl -u admin:hunter2 http://lb/reload";
    auto b = std::get<proto::ConfigBegin>(all_messages(c, 1, {}, {})[0]);
    assert_string_equal(b.haproxy_check_command.c_str(), "***");
    assert_string_equal(b.haproxy_reload_command.c_str(), "***");
    c.reload_command.clear();
    b = std::get<proto::ConfigBegin>(all_messages(c, 1, {}, {})[0]);
    assert_string_equal(b.haproxy_reload_command.c_str(), ""); // none set: nothing to hide
    c.api_show_commands = true;
    c.reload_command = "systemctl reload haproxy";
    b = std::get<proto::ConfigBegin>(all_messages(c, 1, {}, {})[0]);
    assert_string_equal(b.haproxy_check_command.c_str(), "haproxy -c -f %s");
    assert_string_equal(b.haproxy_reload_command.c_str(), "systemctl reload haproxy");
}

// TLS and ACL settings reach the engine through the codec: paths (the
// engine reads the files before its drop), never file contents.
void tls_and_users_are_sent(void**) {
    Config c = two_sentinels();
    c.sentinel_tls = true;
    c.sentinel_username = "rhs";
    c.tls.ca_file = "/etc/redis/ca.crt";
    c.tls.cert_file = "/etc/redishappy/client.crt";
    c.tls.key_file = "/etc/redishappy/client.key";
    c.tls.verify = false;
    c.tls.server_name = "redis.example";
    c.clusters[0].tls = true;
    c.clusters[0].edit_text().username = "rh";
    auto msgs = through_codec(all_messages(c, 1, {}, {}));
    auto& b = std::get<proto::ConfigBegin>(msgs[0]);
    assert_true(b.sentinel_tls);
    assert_string_equal(b.sentinel_username.c_str(), "rhs");
    assert_string_equal(b.tls_ca_file.c_str(), "/etc/redis/ca.crt");
    assert_string_equal(b.tls_cert_file.c_str(), "/etc/redishappy/client.crt");
    assert_string_equal(b.tls_key_file.c_str(), "/etc/redishappy/client.key");
    assert_false(b.tls_verify);
    assert_string_equal(b.tls_server_name.c_str(), "redis.example");
    auto& a = std::get<proto::ConfigCluster>(msgs[3]);
    assert_true(a.tls);
    assert_string_equal(a.username.c_str(), "rh");
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(min_agreement_defaults),
        cmocka_unit_test(transfer_in_order),
        cmocka_unit_test(a_refused_message_stops_the_transfer),
        cmocka_unit_test(commands_are_redacted_unless_shown),
        cmocka_unit_test(tls_and_users_are_sent),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
