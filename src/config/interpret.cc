#include "config/interpret.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <unistd.h>

#include "common/validate.h"

namespace rh {

bool parse_duration(std::string_view s, Millis* out) {
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0 || digits > 9)
        return false;
    long long n = std::stoll(std::string(s.substr(0, digits)));
    auto unit = s.substr(digits);
    long long scale;
    if (unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1000;
    else if (unit == "m")
        scale = 60000;
    else
        return false;
    *out = Millis(n * scale);
    return true;
}

bool parse_bool(std::string_view s, bool* out) {
    if (s == "yes" || s == "true" || s == "on" || s == "1") {
        *out = true;
        return true;
    }
    if (s == "no" || s == "false" || s == "off" || s == "0") {
        *out = false;
        return true;
    }
    return false;
}

namespace {

using ini::Entry;
using ini::Section;
using ini::trim;

bool valid_haproxy_id(std::string_view s) {
    if (s.empty() || s.size() > 128)
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
               c == ':';
    });
}

template <typename T> bool parse_unsigned(std::string_view s, T max, T* out) {
    if (s.empty() || s.size() > 20)
        return false;
    unsigned long long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        auto d = static_cast<unsigned long long>(c - '0');
        if (v > (~0ULL - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > static_cast<unsigned long long>(max))
        return false;
    *out = static_cast<T>(v);
    return true;
}

struct Key {
    const char* name;
    bool repeatable;
    std::function<void(const Entry&)> apply;
};

struct ClusterGiven {
    bool tags = false, node = false, datacenter = false, tls = false;
};

// The api_listen lines seen so far in [global].
struct ListenGiven {
    bool any = false;
    int none_line = 0, addr_line = 0; // last "none", last address
};

// The sections by kind, in file order, once each.
struct Layout {
    const Section* sentinels = nullptr;
    std::vector<std::pair<const Section*, std::string>> clusters; // with NAME
    std::vector<const Section*> others;                           // global, haproxy, consul
};

class Interpreter {
  public:
    Interpreter(std::string_view file, Config& c, std::vector<ConfigError>& errors)
        : file_(file), c_(c), errors_(errors) {}

    void run(const std::vector<Section>& sections);

  private:
    std::string file_;
    Config& c_;
    std::vector<ConfigError>& errors_;

    void error(int line, std::string msg) {
        errors_.push_back(ConfigError{file_, line, std::move(msg)});
    }
    void apply(const Section& s, const std::string& where, const std::vector<Key>& keys);

    // Typed setters: each reports a bad value naming the key. An empty value
    // leaves the default in place.
    void str(const Entry& e, std::string* out, int* line = nullptr);
    void ident(const Entry& e, std::string* out);
    void duration(const Entry& e, Millis* out);
    void boolean(const Entry& e, bool* out);
    void tags(const Entry& e, std::vector<std::string>* out);
    template <typename T> bool positive(const Entry& e, T max, T* out);
    std::optional<HostPort> host_port(const Entry& e);
    void required(const Section& s, const std::string& where, const char* key, bool present);

    Layout layout(const std::vector<Section>& sections);
    std::string cluster_name(const Section& s, std::string_view rest);
    bool first(std::map<std::string, int>& seen, const std::string& key, const Section& s);

    void api_listen(const Entry& e, ListenGiven* given);
    void sentinel_address(const Entry& e);

    void global(const Section& s);
    void sentinels(const Section& s);
    void haproxy(const Section& s);
    void consul(const Section& s);
    void tls(const Section& s);
    void cluster(const Section& s, std::string name, ClusterGiven* given);
    void check_fences();
    void share_texts();
    void finish_clusters(const std::vector<ClusterGiven>& given);
    void finish_tls();
    void user_needs_password(const Section& s, const std::string& where, const std::string& user,
                             const std::string& password);
};

void Interpreter::apply(const Section& s, const std::string& where, const std::vector<Key>& keys) {
    std::map<std::string, int> seen;
    for (auto& e : s.entries) {
        auto k =
            std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return e.key == k.name; });
        if (k == keys.end()) {
            error(e.line, "unknown key '" + e.key + "' in " + where);
            continue;
        }
        auto [it, fresh] = seen.emplace(e.key, e.line);
        if (!fresh && !k->repeatable) {
            error(e.line, "duplicate key '" + e.key + "' in " + where + " (first at line " +
                              std::to_string(it->second) + ")");
            continue;
        }
        k->apply(e);
    }
}

void Interpreter::str(const Entry& e, std::string* out, int* line) {
    if (e.value.empty())
        return;
    if (!printable(e.value)) {
        error(e.line, e.key + ": control character in value");
        return;
    }
    *out = e.value;
    if (line)
        *line = e.line;
}

void Interpreter::ident(const Entry& e, std::string* out) {
    if (e.value.empty())
        return;
    if (!valid_haproxy_id(e.value)) {
        error(e.line, e.key + ": invalid HAProxy name '" + e.value +
                          "' (letters, digits, '.', '_', ':', '-')");
        return;
    }
    *out = e.value;
}

void Interpreter::duration(const Entry& e, Millis* out) {
    if (e.value.empty())
        return;
    Millis v;
    if (!parse_duration(e.value, &v)) {
        error(e.line, e.key + ": invalid duration '" + e.value +
                          "' (a number with a unit: ms, s or m, e.g. 500ms, 10s, 2m)");
        return;
    }
    if (v.count() == 0) {
        error(e.line, e.key + ": duration must be greater than zero");
        return;
    }
    *out = v;
}

void Interpreter::boolean(const Entry& e, bool* out) {
    if (e.value.empty())
        return;
    if (!parse_bool(e.value, out))
        error(e.line,
              e.key + ": invalid boolean '" + e.value + "' (yes/no, true/false, on/off, 1/0)");
}

void Interpreter::tags(const Entry& e, std::vector<std::string>* out) {
    out->clear();
    if (e.value.empty())
        return;
    std::string_view rest = e.value;
    while (true) {
        auto comma = rest.find(',');
        auto tag = trim(rest.substr(0, comma));
        if (tag.empty() || !printable(tag)) {
            error(e.line, e.key + ": empty or invalid tag in '" + e.value + "'");
            out->clear();
            return;
        }
        out->emplace_back(tag);
        if (comma == std::string_view::npos)
            return;
        rest.remove_prefix(comma + 1);
    }
}

void Interpreter::required(const Section& s, const std::string& where, const char* key,
                           bool present) {
    if (!present)
        error(s.line, where + ": missing required key '" + key + "'");
}

// A whole number from 1 to max; false (reported unless empty) otherwise.
template <typename T> bool Interpreter::positive(const Entry& e, T max, T* out) {
    if (e.value.empty())
        return false;
    T v = 0;
    if (!parse_unsigned(e.value, max, &v) || v < 1) {
        error(e.line, e.key + ": must be a number from 1 up, not '" + e.value + "'");
        return false;
    }
    *out = v;
    return true;
}

std::optional<HostPort> Interpreter::host_port(const Entry& e) {
    std::string why;
    auto hp = parse_host_port(e.value, &why);
    if (!hp)
        error(e.line, e.key + ": '" + e.value + "': " + why);
    return hp;
}

// Repeatable: the first address replaces the default; "none" alone disables.
void Interpreter::api_listen(const Entry& e, ListenGiven* given) {
    if (e.value.empty())
        return;
    if (!given->any)
        c_.api_listen.clear();
    given->any = true;
    if (e.value == "none") {
        given->none_line = e.line;
        if (given->addr_line)
            error(e.line, "api_listen: 'none' mixed with an address (line " +
                              std::to_string(given->addr_line) + ")");
        return;
    }
    if (given->none_line)
        error(e.line, "api_listen: address mixed with 'none' (line " +
                          std::to_string(given->none_line) + ")");
    auto hp = host_port(e);
    if (!hp)
        return;
    given->addr_line = e.line;
    c_.api_listen.push_back(*hp);
}

void Interpreter::global(const Section& s) {
    ListenGiven listen;
    apply(s, "[global]",
          {
              {"user", false, [&](const Entry& e) { str(e, &c_.user, &c_.user_line); }},
              {"chroot", false,
               [&](const Entry& e) {
                   c_.chroot = e.value; // empty disables
                   c_.chroot_line = e.line;
               }},
              {"state_file", false,
               [&](const Entry& e) { str(e, &c_.state_file, &c_.state_file_line); }},
              {"log_level", false,
               [&](const Entry& e) {
                   if (!e.value.empty() && !log::parse_level(e.value, &c_.log_level))
                       error(e.line, "log_level: invalid level '" + e.value +
                                         "' (debug, info, notice, warning, error)");
               }},
              {"log_facility", false,
               [&](const Entry& e) {
                   if (!e.value.empty() && !log::parse_facility(e.value, &c_.log_facility))
                       error(e.line, "log_facility: invalid facility '" + e.value +
                                         "' (daemon, user, local0 .. local7)");
               }},
              {"api_listen", true, [&](const Entry& e) { api_listen(e, &listen); }},
              {"pid_file", false, [&](const Entry& e) { str(e, &c_.pid_file); }},
              {"startup_grace", false, [&](const Entry& e) { duration(e, &c_.startup_grace); }},
              {"api_show_commands", false,
               [&](const Entry& e) { boolean(e, &c_.api_show_commands); }},
              {"resolv_conf", false,
               [&](const Entry& e) {
                   str(e, &c_.resolv_conf, &c_.resolv_conf_line);
                   c_.resolv_conf_set = !e.value.empty();
               }},
              {"hosts_file", false,
               [&](const Entry& e) {
                   if (!printable(e.value)) {
                       error(e.line, e.key + ": control character in value");
                       return;
                   }
                   c_.hosts_file = e.value; // empty: no hosts table
                   c_.hosts_file_line = e.line;
               }},
          });
    if (listen.none_line)
        c_.api_listen.clear();
}

void Interpreter::sentinel_address(const Entry& e) {
    auto hp = host_port(e);
    if (!hp)
        return;
    if (std::find(c_.sentinels.begin(), c_.sentinels.end(), *hp) != c_.sentinels.end()) {
        error(e.line, "address: duplicate sentinel " + format_host_port(*hp));
        return;
    }
    c_.sentinels.push_back(*hp);
}

void Interpreter::sentinels(const Section& s) {
    int min_line = 0;
    apply(
        s, "[sentinels]",
        {
            {"address", true, [&](const Entry& e) { sentinel_address(e); }},
            {"password", false, [&](const Entry& e) { str(e, &c_.sentinel_password); }},
            {"username", false, [&](const Entry& e) { str(e, &c_.sentinel_username); }},
            {"tls", false, [&](const Entry& e) { boolean(e, &c_.sentinel_tls); }},
            {"min_agreement", false,
             [&](const Entry& e) {
                 if (positive(e, 1000, &c_.min_agreement))
                     min_line = e.line;
             }},
            {"trust_discovered", false, [&](const Entry& e) { boolean(e, &c_.trust_discovered); }},
            {"max_discovered", false,
             [&](const Entry& e) {
                 uint32_t v = 0;
                 if (!parse_unsigned(e.value, 1024u, &v)) {
                     error(e.line, "max_discovered: must be a number from 0 to 1024, not '" +
                                       e.value + "'");
                     return;
                 }
                 c_.max_discovered = static_cast<int>(v);
             }},
            {"ping_interval", false, [&](const Entry& e) { duration(e, &c_.ping_interval); }},
            {"ping_timeout", false, [&](const Entry& e) { duration(e, &c_.ping_timeout); }},
            {"connect_timeout", false, [&](const Entry& e) { duration(e, &c_.connect_timeout); }},
            {"reread_interval", false, [&](const Entry& e) { duration(e, &c_.reread_interval); }},
            {"confirm_timeout", false, [&](const Entry& e) { duration(e, &c_.confirm_timeout); }},
            {"forget_discovered_after", false,
             [&](const Entry& e) { duration(e, &c_.forget_discovered_after); }},
            {"backoff_max", false, [&](const Entry& e) { duration(e, &c_.backoff_max); }},
            {"max_epoch_jump", false,
             [&](const Entry& e) { positive(e, ~uint64_t{0}, &c_.max_epoch_jump); }},
            {"resolve_interval", false, [&](const Entry& e) { duration(e, &c_.resolve_interval); }},
            {"resolve_timeout", false, [&](const Entry& e) { duration(e, &c_.resolve_timeout); }},
        });
    // A bad address is reported as such, not also as missing.
    bool has_address = std::any_of(s.entries.begin(), s.entries.end(),
                                   [](const Entry& e) { return e.key == "address"; });
    required(s, "[sentinels]", "address", has_address);
    user_needs_password(s, "[sentinels]", c_.sentinel_username, c_.sentinel_password);
    // A name stands for as many Sentinels as it resolves to: not counted.
    bool named = std::any_of(c_.sentinels.begin(), c_.sentinels.end(),
                             [](const HostPort& hp) { return !is_ip_literal(hp.host); });
    if (min_line && !c_.trust_discovered && !named &&
        static_cast<size_t>(c_.min_agreement) > c_.sentinels.size())
        error(min_line, "min_agreement " + std::to_string(c_.min_agreement) + " is more than the " +
                            std::to_string(c_.sentinels.size()) +
                            " configured sentinels (and trust_discovered is off)");
}

void Interpreter::haproxy(const Section& s) {
    c_.haproxy = true;
    apply(
        s, "[haproxy]",
        {
            {"template", false,
             [&](const Entry& e) { str(e, &c_.haproxy_template, &c_.template_line); }},
            {"output", false, [&](const Entry& e) { str(e, &c_.haproxy_output, &c_.output_line); }},
            {"check_command", false, [&](const Entry& e) { str(e, &c_.check_command); }},
            {"check_always", false, [&](const Entry& e) { boolean(e, &c_.check_always); }},
            {"reload_command", false, [&](const Entry& e) { str(e, &c_.reload_command); }},
            {"runtime_socket", false, [&](const Entry& e) { str(e, &c_.runtime_socket); }},
            {"reload_timeout", false, [&](const Entry& e) { duration(e, &c_.reload_timeout); }},
            {"runtime_timeout", false, [&](const Entry& e) { duration(e, &c_.runtime_timeout); }},
            {"min_reload_interval", false,
             [&](const Entry& e) { duration(e, &c_.min_reload_interval); }},
        });
    required(s, "[haproxy]", "template", !c_.haproxy_template.empty());
    required(s, "[haproxy]", "output", !c_.haproxy_output.empty());
}

void Interpreter::consul(const Section& s) {
    c_.consul = true;
    apply(s, "[consul]",
          {
              {"address", false,
               [&](const Entry& e) {
                   if (e.value.empty())
                       return;
                   std::string_view v = e.value;
                   bool http = v.starts_with("http://") && v.size() > 7;
                   bool https = v.starts_with("https://") && v.size() > 8;
                   if ((!http && !https) || !printable(v) ||
                       v.find_first_of(" \t") != std::string_view::npos) {
                       error(e.line,
                             "address: '" + e.value + "' is not an http:// or https:// URL");
                       return;
                   }
                   // Credentials in the URL would be shown and logged with
                   // it: Consul takes a token (token_file), not userinfo.
                   std::string_view authority = v.substr(http ? 7 : 8);
                   authority = authority.substr(0, authority.find('/'));
                   if (authority.find('@') != std::string_view::npos) {
                       error(e.line, "address: user information in the URL is not supported "
                                     "(its password would be shown in the API and the log); "
                                     "use token_file");
                       return;
                   }
                   c_.consul_address = e.value;
               }},
              {"mode", false,
               [&](const Entry& e) {
                   if (e.value.empty())
                       return;
                   auto mode = parse_consul_mode(e.value);
                   if (!mode) {
                       error(e.line, "mode: '" + e.value + "' is neither catalog nor agent");
                       return;
                   }
                   c_.consul_mode = *mode;
               }},
              {"token_file", false,
               [&](const Entry& e) { str(e, &c_.consul_token_file, &c_.token_file_line); }},
              {"ca_file", false,
               [&](const Entry& e) { str(e, &c_.consul_ca_file, &c_.ca_file_line); }},
              {"datacenter", false, [&](const Entry& e) { str(e, &c_.consul_datacenter); }},
              {"node", false, [&](const Entry& e) { str(e, &c_.consul_node); }},
              {"tags", false, [&](const Entry& e) { tags(e, &c_.consul_tags); }},
              {"timeout", false, [&](const Entry& e) { duration(e, &c_.consul_timeout); }},
              {"retry_max", false, [&](const Entry& e) { duration(e, &c_.consul_retry_max); }},
              {"refresh", false,
               [&](const Entry& e) {
                   if (e.value == "0")
                       c_.consul_refresh = Millis(0);
                   else
                       duration(e, &c_.consul_refresh);
               }},
              // At most kMaxConsulInstance bytes: the line limit is lower.
              {"instance", false, [&](const Entry& e) { str(e, &c_.consul_instance); }},
          });
    if (c_.consul_instance.empty()) {
        // Which instance wrote a registration (Meta redishappy_instance):
        // by default this host's name, as in most fleets one per host.
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0 && printable(host))
            c_.consul_instance = host;
    }
    bool has_address = std::any_of(s.entries.begin(), s.entries.end(), [](const Entry& e) {
        return e.key == "address" && !e.value.empty();
    });
    required(s, "[consul]", "address", has_address);
}

void Interpreter::tls(const Section& s) {
    c_.tls.line = s.line;
    auto& t = c_.tls;
    apply(
        s, "[tls]",
        {
            {"ca_file", false, [&](const Entry& e) { str(e, &t.ca_file, &t.ca_file_line); }},
            {"cert_file", false, [&](const Entry& e) { str(e, &t.cert_file, &t.cert_file_line); }},
            {"key_file", false, [&](const Entry& e) { str(e, &t.key_file, &t.key_file_line); }},
            {"verify", false, [&](const Entry& e) { boolean(e, &t.verify); }},
            {"server_name", false,
             [&](const Entry& e) {
                 if (!e.value.empty() && !valid_host(e.value)) {
                     error(e.line, "server_name: '" + e.value +
                                       "' is neither a host name nor an IP literal");
                     return;
                 }
                 str(e, &t.server_name);
             }},
        });
    if (t.cert_file.empty() != t.key_file.empty())
        error(s.line, "[tls] cert_file and key_file go together (a client certificate and "
                      "its key)");
}

// AUTH is sent only with a password: a username alone would be ignored.
void Interpreter::user_needs_password(const Section& s, const std::string& where,
                                      const std::string& user, const std::string& password) {
    if (user.empty() || !password.empty())
        return;
    for (auto& e : s.entries)
        if (e.key == "username")
            error(e.line, "username in " + where + " needs a password (any, for a nopass user)");
}

// A TLS connection that verifies needs trust anchors, and the engine cannot
// reach the system's after the chroot: ca_file is required then.
void Interpreter::finish_tls() {
    bool used = c_.sentinel_tls || std::any_of(c_.clusters.begin(), c_.clusters.end(),
                                               [](const ClusterConfig& cl) { return cl.tls; });
    if (used && c_.tls.verify && c_.tls.ca_file.empty())
        error(c_.tls.line, "tls is enabled but [tls] has no ca_file to verify servers with "
                           "(set ca_file, or verify = no)");
}

void Interpreter::cluster(const Section& s, std::string name, ClusterGiven* given) {
    ClusterConfig cl;
    cl.name = name;
    cl.line = s.line;
    std::string where = "[cluster " + name + "]";
    apply(s, where,
          {
              {"external_port", false,
               [&](const Entry& e) {
                   auto p = parse_port(e.value);
                   if (!p) {
                       error(e.line, "external_port: invalid port '" + e.value + "' (1-65535)");
                       return;
                   }
                   cl.external_port = *p;
                   cl.external_port_line = e.line;
               }},
              {"password", false, [&](const Entry& e) { str(e, &cl.edit_text().password); }},
              {"username", false, [&](const Entry& e) { str(e, &cl.edit_text().username); }},
              {"tls", false,
               [&](const Entry& e) {
                   boolean(e, &cl.tls);
                   given->tls = true;
               }},
              {"haproxy_backend", false,
               [&](const Entry& e) { ident(e, &cl.edit_text().haproxy_backend); }},
              {"haproxy_server", false,
               [&](const Entry& e) { ident(e, &cl.edit_text().haproxy_server); }},
              {"consul_service", false,
               [&](const Entry& e) { str(e, &cl.edit_text().consul_service); }},
              {"consul_service_id", false,
               [&](const Entry& e) { str(e, &cl.edit_text().consul_service_id); }},
              {"consul_tags", false,
               [&](const Entry& e) {
                   given->tags = !e.value.empty();
                   tags(e, &cl.edit_text().consul_tags);
               }},
              {"consul_node", false,
               [&](const Entry& e) {
                   given->node = !e.value.empty();
                   str(e, &cl.edit_text().consul_node);
               }},
              {"consul_datacenter", false,
               [&](const Entry& e) {
                   given->datacenter = !e.value.empty();
                   str(e, &cl.edit_text().consul_datacenter);
               }},
              {"replica_backend", false,
               [&](const Entry& e) { ident(e, &cl.edit_text().replica_backend); }},
              {"replica_port", false,
               [&](const Entry& e) {
                   auto p = parse_port(e.value);
                   if (!p) {
                       error(e.line, "replica_port: invalid port '" + e.value + "' (1-65535)");
                       return;
                   }
                   cl.replica_port = *p;
                   cl.replica_port_line = e.line;
               }},
              {"max_replicas", false,
               [&](const Entry& e) {
                   // proto::kMaxReplicaSlots: the most one Replicas message carries.
                   if (!parse_unsigned(e.value, uint16_t{64}, &cl.max_replicas) ||
                       cl.max_replicas == 0) {
                       cl.max_replicas = 8;
                       error(e.line,
                             "max_replicas: must be a number from 1 to 64, not '" + e.value + "'");
                   }
               }},
              {"max_replica_lag", false,
               [&](const Entry& e) {
                   uint64_t v = 0;
                   if (e.value.empty())
                       return;
                   if (!parse_unsigned(e.value, ~uint64_t{0}, &v)) {
                       error(e.line,
                             "max_replica_lag: must be a number of bytes, not '" + e.value + "'");
                       return;
                   }
                   cl.max_replica_lag = v;
               }},
              {"fence", false,
               [&](const Entry& e) {
                   boolean(e, &cl.fence);
                   cl.fence_line = e.line;
               }},
              {"fence_timeout", false, [&](const Entry& e) { duration(e, &cl.fence_timeout); }},
          });
    bool has_port = std::any_of(s.entries.begin(), s.entries.end(),
                                [](const Entry& e) { return e.key == "external_port"; });
    required(s, where, "external_port", has_port);
    user_needs_password(s, where, cl.username(), cl.password());
    // Defaults made of the name are left empty: ClusterConfig derives them.
    if (!cl.replica_backend().empty() && cl.replica_backend() == cl.haproxy_backend())
        error(s.line, where + ": replica_backend must differ from haproxy_backend ('" +
                          cl.replica_backend() + "')");
    c_.clusters.push_back(std::move(cl));
}

void Interpreter::finish_clusters(const std::vector<ClusterGiven>& given) {
    for (size_t i = 0; i < c_.clusters.size(); i++) {
        auto& cl = c_.clusters[i];
        // Only what differs is written: a cluster given nothing keeps no
        // text of its own.
        if (!given[i].tags && cl.consul_tags() != c_.consul_tags)
            cl.edit_text().consul_tags = c_.consul_tags;
        if (!given[i].node && cl.text().consul_node != c_.consul_node)
            cl.edit_text().consul_node = c_.consul_node; // "": redishappy-<name>
        if (!given[i].datacenter && cl.consul_datacenter() != c_.consul_datacenter)
            cl.edit_text().consul_datacenter = c_.consul_datacenter;
        if (!given[i].tls)
            cl.tls = c_.sentinel_tls;
    }
    finish_tls();
    std::map<uint16_t, const ClusterConfig*> ports;
    for (auto& cl : c_.clusters) {
        if (cl.external_port == 0)
            continue;
        auto [it, fresh] = ports.emplace(cl.external_port, &cl);
        if (!fresh)
            error(cl.external_port_line,
                  "cluster " + cl.name + ": external_port " + std::to_string(cl.external_port) +
                      " already used by cluster " + it->second->name + " (line " +
                      std::to_string(it->second->external_port_line) + ")");
    }
    check_fences();
    // A read port is one more port HAProxy binds: unique among all of them.
    for (auto& cl : c_.clusters) {
        if (cl.replica_port == 0)
            continue;
        auto [it, fresh] = ports.emplace(cl.replica_port, &cl);
        if (!fresh)
            error(cl.replica_port_line, "cluster " + cl.name + ": replica_port " +
                                            std::to_string(cl.replica_port) +
                                            " already used by cluster " + it->second->name);
    }
    std::sort(c_.clusters.begin(), c_.clusters.end(),
              [](const ClusterConfig& a, const ClusterConfig& b) { return a.name < b.name; });
    share_texts();
}

// Clusters with equal text settings share one copy (ClusterText).
void Interpreter::share_texts() {
    auto by_text = [](const ClusterConfig* a, const ClusterConfig* b) {
        return a->text() < b->text();
    };
    std::set<const ClusterConfig*, decltype(by_text)> distinct(by_text);
    for (auto& cl : c_.clusters)
        cl.share_text_of(**distinct.insert(&cl).first);
}

// A fence is a runtime change (maint, shutdown sessions, ready): without
// the admin socket there is no way to apply it, and a fence that silently
// does nothing would be worse than none.
void Interpreter::check_fences() {
    for (auto& cl : c_.clusters)
        if (cl.fence && (!c_.haproxy || c_.runtime_socket.empty()))
            error(cl.fence_line, "cluster " + cl.name +
                                     ": fence = yes needs [haproxy] runtime_socket (the fence "
                                     "is applied over HAProxy's admin socket)");
}

// Whether this is the first section called key; a repeat is reported.
bool Interpreter::first(std::map<std::string, int>& seen, const std::string& key,
                        const Section& s) {
    auto [it, fresh] = seen.emplace(key, s.line);
    if (!fresh)
        error(s.line,
              "duplicate section [" + key + "] (first at line " + std::to_string(it->second) + ")");
    return fresh;
}

// The NAME of [cluster NAME] (rest: what follows "cluster"); "" when it is
// missing or invalid, which is reported.
std::string Interpreter::cluster_name(const Section& s, std::string_view rest) {
    auto name = std::string(trim(rest));
    if (name.empty()) {
        error(s.line, "[cluster] section without a name");
        return "";
    }
    if (!valid_cluster_name(name)) {
        error(s.line,
              "invalid cluster name '" + name + "' (1-64 of letters, digits, '.', '_', '-')");
        return "";
    }
    return name;
}

// Sorts the sections by kind; unknown, unnamed and repeated ones are reported
// and left out.
Layout Interpreter::layout(const std::vector<Section>& sections) {
    Layout l;
    std::map<std::string, int> seen; // section header -> line
    for (auto& s : sections) {
        std::string_view h = s.header;
        std::string word(h.substr(0, h.find_first_of(" \t")));
        if (word == "cluster") {
            auto name = cluster_name(s, h.substr(word.size()));
            if (!name.empty() && first(seen, "cluster " + name, s))
                l.clusters.emplace_back(&s, name);
            continue;
        }
        if (h != "global" && h != "sentinels" && h != "haproxy" && h != "consul" && h != "tls") {
            error(s.line, "unknown section [" + s.header + "]");
            continue;
        }
        if (!first(seen, s.header, s))
            continue;
        if (h == "sentinels")
            l.sentinels = &s;
        else
            l.others.push_back(&s);
    }
    return l;
}

// [global], [haproxy] and [consul] first, then [sentinels] (its checks use
// nothing else), then the clusters (their defaults come from [consul]).
void Interpreter::run(const std::vector<Section>& sections) {
    Layout l = layout(sections);
    for (auto* s : l.others) {
        if (s->header == "global")
            global(*s);
        else if (s->header == "haproxy")
            haproxy(*s);
        else if (s->header == "tls")
            tls(*s);
        else
            consul(*s);
    }
    if (l.sentinels)
        sentinels(*l.sentinels);
    else
        error(0, "missing section [sentinels]");

    std::vector<ClusterGiven> given(l.clusters.size());
    // Exactly: grown by doubling, the list (about 400 bytes a cluster) kept
    // room for up to as many again for as long as the configuration lives.
    c_.clusters.reserve(c_.clusters.size() + l.clusters.size());
    for (size_t i = 0; i < l.clusters.size(); i++)
        cluster(*l.clusters[i].first, l.clusters[i].second, &given[i]);
    finish_clusters(given);
}

} // namespace

void interpret(const std::vector<ini::Section>& sections, std::string_view filename, Config& c,
               std::vector<ConfigError>* errors) {
    Interpreter(filename, c, *errors).run(sections);
}

} // namespace rh
