#include "config/engine_settings.h"

#include <algorithm>

namespace rh {

namespace {

uint32_t ms(Millis d) {
    return static_cast<uint32_t>(d.count());
}

std::string shown_command(const Config& c, const std::string& command) {
    return c.api_show_commands || command.empty() ? command : "***";
}

proto::ConfigBegin global_message(const Config& c, uint64_t generation) {
    proto::ConfigBegin b;
    b.generation = generation;
    b.log_level = static_cast<uint8_t>(c.log_level);
    b.log_facility = c.log_facility;
    b.user = c.user;
    b.chroot_dir = c.chroot;
    b.api_listen = c.api_listen;
    b.sentinel_password = c.sentinel_password;
    b.min_agreement = static_cast<uint16_t>(effective_min_agreement(c));
    b.trust_discovered = c.trust_discovered;
    b.max_discovered = static_cast<uint16_t>(c.max_discovered);
    b.ping_interval_ms = ms(c.ping_interval);
    b.ping_timeout_ms = ms(c.ping_timeout);
    b.connect_timeout_ms = ms(c.connect_timeout);
    b.reread_interval_ms = ms(c.reread_interval);
    b.confirm_timeout_ms = ms(c.confirm_timeout);
    b.forget_discovered_after_ms = ms(c.forget_discovered_after);
    b.backoff_max_ms = ms(c.backoff_max);
    b.max_epoch_jump = c.max_epoch_jump;
    b.resolv_conf = c.resolv_conf;
    b.resolv_conf_set = c.resolv_conf_set;
    b.hosts_file = c.hosts_file;
    b.resolve_interval_ms = ms(c.resolve_interval);
    b.resolve_timeout_ms = ms(c.resolve_timeout);
    b.consul = c.consul;
    b.consul_address = c.consul_address;
    b.consul_mode = c.consul_mode;
    b.consul_token = c.consul_token;
    b.consul_ca_pem = c.consul_ca_pem;
    b.consul_timeout_ms = ms(c.consul_timeout);
    b.consul_retry_max_ms = ms(c.consul_retry_max);
    b.consul_refresh_ms = ms(c.consul_refresh);
    b.consul_instance = c.consul_instance;
    // For /api/configuration only: the engine never opens or runs them.
    b.config_path = c.path;
    b.haproxy_template = c.haproxy_template;
    b.haproxy_output = c.haproxy_output;
    // A command may hold a credential: unless api_show_commands, the engine
    // (and so the API) learns only whether one is set.
    b.haproxy_check_command = shown_command(c, c.check_command);
    b.haproxy_reload_command = shown_command(c, c.reload_command);
    b.haproxy_runtime_socket = c.runtime_socket;
    b.sentinel_username = c.sentinel_username;
    b.sentinel_tls = c.sentinel_tls;
    b.tls_ca_file = c.tls.ca_file;
    b.tls_cert_file = c.tls.cert_file;
    b.tls_key_file = c.tls.key_file;
    b.tls_verify = c.tls.verify;
    b.tls_server_name = c.tls.server_name;
    return b;
}

proto::ConfigCluster cluster_message(const ClusterConfig& cl) {
    proto::ConfigCluster m;
    m.name = cl.name;
    m.external_port = cl.external_port;
    m.password = cl.password();
    m.haproxy_backend = cl.haproxy_backend();
    m.haproxy_server = cl.haproxy_server();
    m.consul_service = cl.consul_service();
    m.consul_service_id = cl.consul_service_id();
    m.consul_node = cl.consul_node();
    m.consul_datacenter = cl.consul_datacenter();
    m.consul_tags = cl.consul_tags();
    m.username = cl.username();
    m.tls = cl.tls;
    m.replica_backend = cl.replica_backend();
    m.max_replicas = cl.max_replicas;
    m.lag_limited = cl.max_replica_lag.has_value();
    m.max_replica_lag = cl.max_replica_lag.value_or(0);
    m.fence = cl.fence;
    return m;
}

} // namespace

unsigned effective_min_agreement(const Config& c) {
    if (c.min_agreement > 0)
        return static_cast<unsigned>(c.min_agreement);
    // An address given by host name may stand for any number of Sentinels
    // (a headless service): counted as the two the default asks for.
    bool named = std::any_of(c.sentinels.begin(), c.sentinels.end(),
                             [](const HostPort& s) { return !is_ip_literal(s.host); });
    return c.sentinels.size() >= 2 || named ? 2 : 1;
}

bool engine_messages(const Config& c, uint64_t generation, const MasterMap& applied,
                     const std::map<std::string, ClusterConfig>& removed, const MessageSink& out) {
    if (!out(global_message(c, generation)))
        return false;
    for (auto& s : c.sentinels)
        if (!out(proto::ConfigSentinel{s}))
            return false;
    for (auto& cl : c.clusters) {
        proto::ConfigCluster m = cluster_message(cl);
        if (auto it = applied.find(cl.name); it != applied.end()) {
            m.applied_master = it->second.master;
            m.applied_epoch = it->second.epoch;
            m.applied_addr = it->second.addr;
        }
        if (!out(std::move(m)))
            return false;
    }
    for (auto& [name, cl] : removed) {
        proto::ConfigCluster m = cluster_message(cl);
        m.removed = true;
        if (!out(std::move(m)))
            return false;
    }
    return out(proto::ConfigEnd{generation, static_cast<uint32_t>(c.sentinels.size()),
                                static_cast<uint32_t>(c.clusters.size() + removed.size())});
}

} // namespace rh
