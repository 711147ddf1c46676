// Configuration: parsing (pure, no I/O), loading and environment checks.
//
// The file is INI, read with inih. inih's handler gets no line numbers in
// Debian's build, so parse_config() feeds inih through its own line reader,
// which counts lines, tracks sections itself, rejects lines longer than
// inih's buffer (instead of letting inih truncate them) and turns off
// inih's indented-continuation lines by left-trimming each line. Every error
// names file:line; all errors are collected, not just the first.
//
// Inline comments: "key = value ; comment" — a ';' preceded by whitespace
// starts a comment (inih's rule); "a;b" keeps its ';'.
//
// Where it is written: config.cc (these entry points), ini.cc (stage 1:
// lines, sections, entries), interpret.cc (stage 2: each section's keys and
// the value parsers), environment.cc (check_environment, load_secret_file).
#pragma once

#include <syslog.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/log.h"
#include "common/validate.h"

namespace rh {

using Millis = std::chrono::milliseconds;

struct ConfigError {
    std::string file;
    int line = 0; // 0 = the whole file
    std::string message;
};

// A cluster's settings that are text. Most clusters of a large
// configuration have the same ones (all defaulted, or one password and one
// set of tags for all), so the parser keeps each distinct set once and the
// clusters share it: at 10,000 clusters a copy each cost about 3.5 MB of
// the parent's memory. A field whose default is made of the cluster's name
// stays empty when defaulted (so defaulted clusters share too) and
// ClusterConfig's accessor of the same name derives it: the one home of
// each default.
struct ClusterText {
    std::string password;                 // optional: AUTH for ROLE on this cluster's servers
    std::string username;                 // optional: AUTH username password
    std::string haproxy_backend;          // "": "redis_<name>"
    std::string haproxy_server;           // "": "master"
    std::string consul_service;           // "": the name
    std::string consul_service_id;        // "": "redishappy-<name>"
    std::vector<std::string> consul_tags; // default: [consul] tags
    std::string consul_node;              // default: [consul] node; "": "redishappy-<name>"
    std::string consul_datacenter;        // default: [consul] datacenter (may be empty)
    // The read backend: the HAProxy backend whose servers replica1 ..
    // replica<max_replicas> hold the healthy replicas ("": none).
    std::string replica_backend;
    auto operator<=>(const ClusterText&) const = default;
};

struct ClusterConfig {
    std::string name; // [cluster NAME]; NAME: [A-Za-z0-9._-]{1,64}
    int line = 0;     // line of the section header
    uint16_t external_port = 0;
    uint16_t replica_port = 0; // for the template only; 0: none
    int replica_port_line = 0;
    uint16_t max_replicas = 8;               // 1 to 64
    std::optional<uint64_t> max_replica_lag; // bytes; unset: no lag rule
    // Line of each key as given (0 = defaulted), for later checks.
    int external_port_line = 0;
    bool tls = false; // TLS for ROLE on this cluster's servers; default: [sentinels] tls
    // Fencing (redishappy.conf(5) fence): a master the trusted Sentinels
    // agree is objectively down is put in maint until the switch, -odown,
    // or fence_timeout (0 = Sentinel's failover-timeout, as the engine reads
    // it). Requires [haproxy] runtime_socket.
    bool fence = false;
    int fence_line = 0;
    Millis fence_timeout{0};

    // The text settings with their defaults applied (ClusterText).
    const std::string& password() const { return text().password; }
    const std::string& username() const { return text().username; }
    std::string haproxy_backend() const;
    std::string haproxy_server() const;
    std::string consul_service() const;
    std::string consul_service_id() const;
    const std::vector<std::string>& consul_tags() const { return text().consul_tags; }
    std::string consul_node() const;
    const std::string& consul_datacenter() const { return text().consul_datacenter; }
    const std::string& replica_backend() const { return text().replica_backend; }

    // The text settings as given (empty where defaulted).
    const ClusterText& text() const;
    // To change them: this cluster's own copy (made when it shares one).
    ClusterText& edit_text();
    // Shares other's text settings when they are equal to these (the
    // parser's interning); else changes nothing.
    void share_text_of(const ClusterConfig& other);

  private:
    std::shared_ptr<ClusterText> text_; // null: every text setting defaulted
};

// [tls]: how TLS connections (to Sentinels with [sentinels] tls, to a
// cluster's servers with its tls) are made. The engine reads the files
// before it drops privileges.
struct TlsConfig {
    std::string ca_file, cert_file, key_file;
    bool verify = true;      // the chain against ca_file and the server's name
    std::string server_name; // default: the host connected to
    int line = 0;            // of the section header (0: no [tls])
    int ca_file_line = 0, cert_file_line = 0, key_file_line = 0;
};

struct Config {
    std::string path;
    // [global]
    std::string user;
    std::string chroot = "/var/lib/redishappy"; // "" disables
    std::string state_file = "/var/lib/redishappy/state.json";
    log::Level log_level = log::Level::info;
    int log_facility = LOG_DAEMON;
    std::vector<HostPort> api_listen{HostPort{"127.0.0.1", 8000}}; // "none" -> empty
    std::string pid_file;
    Millis startup_grace{10000};
    bool api_show_commands = false; // /api/configuration shows check and reload commands
    // The engine's resolver, read before its chroot (empty hosts_file: none).
    std::string resolv_conf = "/etc/resolv.conf", hosts_file = "/etc/hosts";
    bool resolv_conf_set = false;
    // [sentinels]
    std::vector<HostPort> sentinels;
    std::string sentinel_password;
    std::string sentinel_username; // ACL user: AUTH username password
    bool sentinel_tls = false;
    int min_agreement = 0; // 0 = default, resolved by the caller
    bool trust_discovered = false;
    int max_discovered = 16; // discovered Sentinels followed at once
    Millis ping_interval{1000}, ping_timeout{1000}, connect_timeout{1000}, reread_interval{5000},
        confirm_timeout{1000}, forget_discovered_after{600000}, backoff_max{10000};
    uint64_t max_epoch_jump = 1000;
    // Names: how often a Sentinel address given by name is looked up again,
    // and how long one lookup may take.
    Millis resolve_interval{30000}, resolve_timeout{5000};
    // [cluster NAME], sorted by name
    std::vector<ClusterConfig> clusters;
    // [tls], optional
    TlsConfig tls;
    // [haproxy], optional
    bool haproxy = false;
    std::string haproxy_template, haproxy_output, check_command, reload_command, runtime_socket;
    bool check_always = false; // check even a file that differs only in validated masters
    Millis reload_timeout{10000}, runtime_timeout{1000};
    // Least time between two applies (and so two reloads); also spaces out
    // the state-file writes when there is no [haproxy].
    Millis min_reload_interval{1000};
    // [consul], optional
    bool consul = false;
    std::string consul_address; // http:// or https:// URL
    ConsulMode consul_mode = ConsulMode::catalog;
    std::string consul_token_file, consul_ca_file, consul_datacenter, consul_node;
    std::vector<std::string> consul_tags;
    Millis consul_timeout{5000}, consul_retry_max{30000};
    Millis consul_refresh{0};    // 0: never
    std::string consul_instance; // default: this host's name
    std::string consul_ca_pem;   // filled by the parent from consul_ca_file, never the parser
    std::string consul_token;    // filled by the caller via load_secret_file(), never the parser

    // Lines of keys that check_environment() reports on (0 = not given).
    int user_line = 0, chroot_line = 0, state_file_line = 0, template_line = 0, output_line = 0,
        token_file_line = 0, ca_file_line = 0, resolv_conf_line = 0, hosts_file_line = 0;
};

struct ParseResult {
    Config config;
    std::vector<ConfigError> errors;
};

// Pure: parses text; filename is used in errors only.
ParseResult parse_config(std::string_view text, std::string_view filename);
// Reads the file, then parse_config(). A missing or unreadable file is an error (line 0).
ParseResult load_config(const std::string& path);
// File-system and user checks, kept apart so parse_config() stays pure.
std::vector<ConfigError> check_environment(const Config& c, bool as_root);
// Pure: true when a Consul token would travel in clear, over http:// to an
// address that is not loopback (check_environment() then warns).
bool consul_token_in_clear(const Config& c);
// "file:line: message", or "file: message" for line 0.
std::string format_error(const ConfigError& e);

// "500ms", "10s", "2m". A bare number is rejected.
bool parse_duration(std::string_view s, Millis* out);
// yes/no, true/false, on/off, 1/0.
bool parse_bool(std::string_view s, bool* out);
// Reads a secret (token) file, drops one trailing newline (LF or CRLF).
// Rejects an empty file or one over 4 KiB. On error returns "" and sets *err.
std::string load_secret_file(const std::string& path, std::string* err);

} // namespace rh
