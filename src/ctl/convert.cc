// Conversion of the original redishappy's JSON configuration; see convert.h.
#include "ctl/convert.h"

#include <jansson.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "common/address.h"
#include "common/validate.h"

namespace rh {

namespace {

// parse_config() rejects longer lines (inih's buffer, less newline and NUL).
constexpr size_t max_line = 198;

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

struct Diag {
    std::vector<std::string> warnings, errors;
    void warn(const std::string& path, const std::string& msg) {
        warnings.push_back(path + ": " + msg);
    }
    void error(const std::string& path, const std::string& msg) {
        errors.push_back(path + ": " + msg);
    }
};

std::string member(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string element(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

// User text inside a message: quoted, control characters and non-ASCII
// bytes escaped, capped.
std::string quote(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    size_t n = 0;
    for (char c : s) {
        if (++n > 80) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// A key of the file inside a path: as written when it is plain ASCII,
// quoted otherwise, so that no byte of it can act on a terminal.
std::string key_text(std::string_view key) {
    bool plain =
        !key.empty() && key.size() <= 80 && std::all_of(key.begin(), key.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    return plain ? std::string(key) : quote(key);
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// The members of one JSON object that the original read, matched without
// regard to case as Go's encoding/json does. A JSON null counts as absent
// (Go leaves the field at its zero value).
class Fields {
  public:
    Fields(json_t* obj, std::string path, std::initializer_list<const char*> known, Diag& d)
        : path_(std::move(path)) {
        for (const char* k : known)
            found_.push_back(Found{k, {}, nullptr});
        const char* key;
        json_t* value;
        json_object_foreach(obj, key, value) {
            auto f = std::find_if(found_.begin(), found_.end(),
                                  [&](const Found& f) { return iequal(f.name, key); });
            if (f == found_.end()) {
                d.warn(member(path_, key_text(key)), "unknown key, ignored.");
                continue;
            }
            if (!f->spelled.empty()) {
                d.error(member(path_, key_text(key)), "given twice (also as " + quote(f->spelled) +
                                                          "; keys match regardless of case)");
                continue;
            }
            f->spelled = key;
            f->value = json_is_null(value) ? nullptr : value;
        }
    }

    json_t* get(const char* name) const { return find(name).value; }
    // The path of a member as the file spells it (the canonical name if absent).
    std::string path(const char* name) const {
        const auto& f = find(name);
        return member(path_, f.spelled.empty() ? std::string(name) : f.spelled);
    }

  private:
    struct Found {
        const char* name;
        std::string spelled;
        json_t* value;
    };
    std::string path_;
    std::vector<Found> found_;

    const Found& find(const char* name) const {
        return *std::find_if(found_.begin(), found_.end(),
                             [&](const Found& f) { return std::string_view(f.name) == name; });
    }
};

// Whether "key = value" survives parse_config() unchanged.
bool ini_safe(std::string_view value, std::string_view key, const std::string& path, Diag& d) {
    if (!printable(value)) {
        d.error(path, "contains a control character (such as a newline or a tab), which an "
                      "INI value cannot hold");
        return false;
    }
    if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
        d.error(path, "leading or trailing spaces would be dropped by the INI reader");
        return false;
    }
    for (size_t i = 0; i < value.size(); i++) {
        if (value[i] == ';' && (i == 0 || value[i - 1] == ' ')) {
            d.error(path, i == 0 ? "a leading ';' would make the INI value a comment"
                                 : "\" ;\" would start an inline comment in the INI value");
            return false;
        }
    }
    if (key.size() + 3 + value.size() > max_line) {
        d.error(path, "too long: \"" + std::string(key) + " = ...\" must fit in one INI line of " +
                          std::to_string(max_line) + " characters");
        return false;
    }
    return true;
}

// A string member; "" when absent, empty or wrong (the latter reported).
std::string get_string(const Fields& f, const char* name, Diag& d, bool* ok) {
    json_t* v = f.get(name);
    if (!v)
        return {};
    if (!json_is_string(v)) {
        d.error(f.path(name), "expected a string");
        *ok = false;
        return {};
    }
    return std::string(json_string_value(v), json_string_length(v));
}

// A string that is written as the INI value of key.
std::string get_ini_string(const Fields& f, const char* name, std::string_view key, Diag& d,
                           bool* ok) {
    auto s = get_string(f, name, d, ok);
    if (!s.empty() && !ini_safe(s, key, f.path(name), d)) {
        *ok = false;
        return {};
    }
    return s;
}

std::optional<uint16_t> get_port(json_t* v, const std::string& path, Diag& d) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535) {
        d.error(path, "expected an integer 1..65535");
        return std::nullopt;
    }
    return static_cast<uint16_t>(json_integer_value(v));
}

// An array member that must hold at least one element.
json_t* get_list(const Fields& f, const char* name, const char* what, Diag& d) {
    json_t* v = f.get(name);
    if (!v) {
        d.error(f.path(name), std::string("missing: at least one ") + what + " is required");
        return nullptr;
    }
    if (!json_is_array(v)) {
        d.error(f.path(name), std::string("expected an array of ") + what + "s");
        return nullptr;
    }
    if (json_array_size(v) == 0) {
        d.error(f.path(name), std::string("empty: at least one ") + what + " is required");
        return nullptr;
    }
    return v;
}

// ---- the original's configuration, as far as it maps to ours ----

struct Service {
    std::string path; // "Consul.Services[i]"
    std::string cluster, node, datacenter, node_path;
    std::vector<std::string> tags;
};

struct Cluster {
    std::string path; // "Clusters[i]"
    std::string name;
    uint16_t port = 0;
    const Service* service = nullptr;
};

struct Haproxy {
    std::string template_path, output, reload_command;
};

struct Consul {
    std::string path; // "Consul" as the file spells it
    std::string address, datacenter;
    std::vector<Service> services;
};

struct Original {
    std::vector<HostPort> sentinels;
    std::vector<Cluster> clusters;
    std::optional<Haproxy> haproxy;
    std::optional<Consul> consul;
};

void read_sentinels(const Fields& root, Original& o, Diag& d) {
    json_t* list = get_list(root, "Sentinels", "Sentinel", d);
    if (!list)
        return;
    std::map<HostPort, std::string> seen;
    for (size_t i = 0; i < json_array_size(list); i++) {
        std::string path = element(root.path("Sentinels"), i);
        json_t* el = json_array_get(list, i);
        if (!json_is_object(el)) {
            d.error(path, "expected an object with Host and Port");
            continue;
        }
        Fields f(el, path, {"Host", "Port"}, d);
        bool ok = true;
        HostPort hp;
        hp.host = get_string(f, "Host", d, &ok);
        if (ok && hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']')
            hp.host = hp.host.substr(1, hp.host.size() - 2);
        if (ok && hp.host.empty()) {
            d.error(f.path("Host"), "missing");
            ok = false;
        } else if (ok && !valid_host(hp.host)) {
            d.error(f.path("Host"), quote(hp.host) + " is not an IP address or a host name");
            ok = false;
        }
        if (json_t* p = f.get("Port")) {
            auto port = get_port(p, f.path("Port"), d);
            ok = ok && port;
            hp.port = port.value_or(0);
        } else {
            d.error(f.path("Port"), "missing");
            ok = false;
        }
        // A host name can be valid and still too long for one INI line.
        if (!ok || !ini_safe(format_host_port(hp), "address", path, d))
            continue;
        auto [it, fresh] = seen.emplace(hp, path);
        if (!fresh) {
            d.warn(path, "the same Sentinel as " + it->second + "; written once.");
            continue;
        }
        o.sentinels.push_back(hp);
    }
}

void read_clusters(const Fields& root, Original& o, Diag& d) {
    json_t* list = get_list(root, "Clusters", "cluster", d);
    if (!list)
        return;
    std::map<std::string, std::string> names;
    std::map<uint16_t, std::string> ports;
    for (size_t i = 0; i < json_array_size(list); i++) {
        std::string path = element(root.path("Clusters"), i);
        json_t* el = json_array_get(list, i);
        if (!json_is_object(el)) {
            d.error(path, "expected an object with Name and ExternalPort");
            continue;
        }
        Fields f(el, path, {"Name", "ExternalPort", "MasterPort"}, d);
        bool ok = true;
        Cluster c;
        c.path = path;
        c.name = get_string(f, "Name", d, &ok);
        if (ok && c.name.empty()) {
            d.error(f.path("Name"), "missing: the name of the cluster Sentinel monitors");
            ok = false;
        } else if (ok && !valid_cluster_name(c.name)) {
            d.error(f.path("Name"), "invalid cluster name " + quote(c.name) +
                                        " (1-64 of letters, digits, '.', '_', '-')");
            ok = false;
        } else if (ok) {
            auto [it, fresh] = names.emplace(c.name, path);
            if (!fresh) {
                d.error(f.path("Name"),
                        "duplicate cluster name " + quote(c.name) + " (also " + it->second + ")");
                ok = false;
            }
        }
        json_t* ext = f.get("ExternalPort");
        json_t* old = f.get("MasterPort");
        std::optional<uint16_t> port;
        std::string port_path = f.path(ext || !old ? "ExternalPort" : "MasterPort");
        if (ext) {
            port = get_port(ext, port_path, d);
            if (old)
                d.warn(f.path("MasterPort"), "ignored: ExternalPort is given.");
        } else if (old) {
            port = get_port(old, port_path, d);
            d.warn(port_path, "old name of ExternalPort, converted to external_port.");
        } else {
            d.error(port_path, "missing: the port HAProxy exposes for this cluster");
        }
        if (!port)
            continue;
        c.port = *port;
        auto [it, fresh] = ports.emplace(c.port, path);
        if (!fresh) {
            d.error(port_path, "port " + std::to_string(c.port) + " is also used by " + it->second);
            continue;
        }
        if (ok)
            o.clusters.push_back(std::move(c));
    }
}

bool relative(std::string_view p) {
    return !p.empty() && p.front() != '/';
}

// TemplatePath with its extension replaced: "x/haproxy.cfg" -> "x/haproxy.mustache".
std::string mustache_path(std::string_view p) {
    auto slash = p.rfind('/');
    size_t base = slash == std::string_view::npos ? 0 : slash + 1;
    auto dot = p.rfind('.');
    if (dot != std::string_view::npos && dot > base)
        p = p.substr(0, dot);
    return std::string(p) + ".mustache";
}

// "-sf" as a word of the command.
bool has_soft_finish(std::string_view cmd) {
    for (size_t at = cmd.find("-sf"); at != std::string_view::npos; at = cmd.find("-sf", at + 1)) {
        bool start = at == 0 || cmd[at - 1] == ' ' || cmd[at - 1] == '\t';
        bool end = at + 3 == cmd.size() || cmd[at + 3] == ' ' || cmd[at + 3] == '\t';
        if (start && end)
            return true;
    }
    return false;
}

// What the operator must change by hand in a converted [haproxy] (tp: the
// original's TemplatePath).
void warn_haproxy(const Fields& f, const Haproxy& h, const std::string& tp, Diag& d) {
    d.warn(f.path("TemplatePath"),
           "the original's Go template cannot be used by redishappyd; rewrite it as a mustache "
           "template at " +
               quote(h.template_path) +
               " (see the template guidance of redishappyctl convert-config and the TEMPLATE "
               "section of redishappy.conf(5)).");
    for (const char* name : {"TemplatePath", "OutputPath"}) {
        auto value = std::string_view(name) == "TemplatePath" ? tp : h.output;
        if (relative(value))
            d.warn(f.path(name),
                   "relative path " + quote(value) +
                       ": the original resolved it against its working directory, redishappyd "
                       "against / once it runs in the background; make it absolute.");
    }
    if (h.reload_command.empty())
        d.warn(f.path("ReloadCommand"),
               "not given: redishappyd will only write the file; set reload_command or "
               "runtime_socket in [haproxy] so that HAProxy follows a failover.");
    else if (has_soft_finish(h.reload_command))
        d.warn(f.path("ReloadCommand"),
               "\"-sf\" lets the old HAProxy process serve its established sessions and the "
               "command returns before that process exits, so clients stay on the old master "
               "after a failover; use a command that ends the old process and waits for it to "
               "exit (see reload_command and RELOADS AND OLD SESSIONS in redishappy.conf(5)).");
    else if (h.reload_command.find("systemctl reload") != std::string::npos)
        d.warn(f.path("ReloadCommand"),
               "a master-worker reload lets old HAProxy processes serve their established "
               "sessions, so clients can stay on the old master after a failover; set "
               "runtime_socket, which shuts those sessions down, and hard-stop-after in "
               "HAProxy's global section (see RELOADS AND OLD SESSIONS in redishappy.conf(5)).");
}

void read_haproxy(const Fields& root, Original& o, Diag& d) {
    json_t* v = root.get("HAProxy");
    if (!v)
        return;
    std::string path = root.path("HAProxy");
    if (!json_is_object(v)) {
        d.error(path, "expected an object");
        return;
    }
    Fields f(v, path, {"TemplatePath", "OutputPath", "ReloadCommand"}, d);
    bool ok = true;
    Haproxy h;
    std::string tp = get_string(f, "TemplatePath", d, &ok);
    if (!tp.empty()) {
        h.template_path = mustache_path(tp);
        if (!ini_safe(h.template_path, "template", f.path("TemplatePath"), d))
            ok = false;
    }
    h.output = get_ini_string(f, "OutputPath", "output", d, &ok);
    h.reload_command = get_ini_string(f, "ReloadCommand", "reload_command", d, &ok);
    if (!ok)
        return;
    if (tp.empty() && h.output.empty()) {
        d.warn(path, "neither TemplatePath nor OutputPath is given; no [haproxy] section is "
                     "written, so HAProxy is left alone.");
        return;
    }
    if (tp.empty()) {
        d.error(f.path("TemplatePath"), "missing: needed with OutputPath");
        return;
    }
    if (h.output.empty()) {
        d.error(f.path("OutputPath"), "missing: needed with TemplatePath");
        return;
    }
    warn_haproxy(f, h, tp, d);
    o.haproxy = std::move(h);
}

void read_service(json_t* el, const std::string& path, Consul& c, Diag& d) {
    Fields f(el, path, {"Cluster", "Node", "Datacenter", "Tags"}, d);
    bool ok = true;
    Service s;
    s.path = path;
    s.cluster = get_string(f, "Cluster", d, &ok);
    s.node = get_ini_string(f, "Node", "consul_node", d, &ok);
    s.node_path = f.path("Node");
    s.datacenter = get_ini_string(f, "Datacenter", "consul_datacenter", d, &ok);
    if (json_t* tags = f.get("Tags")) {
        std::string tags_path = f.path("Tags");
        if (!json_is_array(tags)) {
            d.error(tags_path, "expected an array of strings");
            ok = false;
        } else {
            std::string joined;
            for (size_t i = 0; i < json_array_size(tags); i++) {
                json_t* t = json_array_get(tags, i);
                std::string tpath = element(tags_path, i);
                if (!json_is_string(t)) {
                    d.error(tpath, "expected a string");
                    ok = false;
                    continue;
                }
                std::string tag(json_string_value(t), json_string_length(t));
                if (tag.empty()) {
                    d.error(tpath, "empty tag");
                    ok = false;
                } else if (tag.find(',') != std::string::npos) {
                    d.error(tpath, "a tag cannot contain ',' (consul_tags is comma separated)");
                    ok = false;
                } else if (ini_safe(tag, "consul_tags", tpath, d)) {
                    joined += (joined.empty() ? "" : ",") + tag;
                    s.tags.push_back(std::move(tag));
                } else {
                    ok = false;
                }
            }
            if (ok && !ini_safe(joined, "consul_tags", tags_path, d))
                ok = false;
        }
    }
    if (!ok)
        return;
    if (s.cluster.empty()) {
        d.warn(path, "no Cluster given; skipped.");
        return;
    }
    c.services.push_back(std::move(s));
}

void read_consul(const Fields& root, Original& o, Diag& d) {
    json_t* v = root.get("Consul");
    if (!v)
        return;
    std::string path = root.path("Consul");
    if (!json_is_object(v)) {
        d.error(path, "expected an object");
        return;
    }
    Fields f(v, path, {"Address", "Datacenter", "Services"}, d);
    bool ok = true;
    Consul c;
    c.path = path;
    std::string address = get_string(f, "Address", d, &ok);
    if (!address.empty()) {
        bool scheme = address.starts_with("http://") || address.starts_with("https://");
        if (address == "http://" || address == "https://") {
            d.error(f.path("Address"), quote(address) + " names no host");
            ok = false;
        } else if (!scheme && address.find("://") != std::string::npos) {
            d.error(f.path("Address"),
                    quote(address) + ": only http:// and https:// are supported");
            ok = false;
        } else if (address.find_first_of(" \t") != std::string::npos) {
            d.error(f.path("Address"), quote(address) + " contains white space");
            ok = false;
        } else {
            c.address = scheme ? address : "http://" + address;
            if (!ini_safe(c.address, "address", f.path("Address"), d))
                ok = false;
        }
    }
    c.datacenter = get_ini_string(f, "Datacenter", "datacenter", d, &ok);
    json_t* services = f.get("Services");
    if (services && !json_is_array(services)) {
        d.error(f.path("Services"), "expected an array");
        ok = false;
    } else if (services) {
        for (size_t i = 0; i < json_array_size(services); i++) {
            std::string spath = element(f.path("Services"), i);
            json_t* el = json_array_get(services, i);
            if (!json_is_object(el)) {
                d.error(spath, "expected an object");
                ok = false;
                continue;
            }
            read_service(el, spath, c, d);
        }
    }
    if (!ok)
        return;
    if (address.empty() && c.datacenter.empty() && (!services || !json_array_size(services))) {
        d.warn(path, "no Address, Datacenter or Services given; no [consul] section is written, "
                     "so Consul is left alone.");
        return;
    }
    if (c.address.empty()) {
        c.address = "http://127.0.0.1:8500";
        d.warn(f.path("Address"), "not given; the original's Consul client used 127.0.0.1:8500, "
                                  "written as http://127.0.0.1:8500.");
    }
    o.consul = std::move(c);
}

// Pairs each cluster with its Consul service, as the original looked them up.
void match_services(Original& o, Diag& d) {
    if (!o.consul)
        return;
    for (const auto& s : o.consul->services) {
        auto c = std::find_if(o.clusters.begin(), o.clusters.end(),
                              [&](const Cluster& c) { return c.name == s.cluster; });
        if (c == o.clusters.end()) {
            d.warn(s.path, "cluster " + quote(s.cluster) + " is not in Clusters; skipped.");
            continue;
        }
        if (c->service) {
            d.warn(s.path, "a second entry for cluster " + quote(s.cluster) +
                               "; the original used only the first (" + c->service->path +
                               "); skipped.");
            continue;
        }
        c->service = &s;
        if (!s.node.empty())
            d.warn(s.node_path,
                   quote(s.node) +
                       ": if a Consul agent runs with this node name, its anti-entropy "
                       "deletes redishappyd's catalog registration within about a minute; unless "
                       "no agent runs as that node, remove consul_node from [cluster " +
                       c->name + "] so that the node defaults to \"redishappy-" + c->name + "\".");
    }
    for (const auto& c : o.clusters)
        if (!c.service)
            d.warn(c.path, "cluster " + quote(c.name) +
                               " has no entry in Consul.Services; redishappyd registers every "
                               "cluster when [consul] is set, this one as service " +
                               quote(c.name) + " on node \"redishappy-" + c.name + "\".");
    d.warn(o.consul->path,
           "redishappyd does not remove the catalog registrations the original made; check the "
           "catalog once it runs and deregister the original's entries, so that no stale master "
           "stays resolvable.");
}

// ---- the INI text ----

class Ini {
  public:
    void line(std::string_view s = {}) {
        out_ += s;
        out_ += '\n';
    }
    void kv(std::string_view key, std::string_view value) {
        out_ += key;
        out_ += " = ";
        out_ += value;
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

std::string comment_safe(std::string_view s, size_t room) {
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    if (out.empty())
        out = "(unnamed)";
    if (out.size() > room)
        out = out.substr(0, room - 3) + "...";
    return out;
}

std::string join_tags(const std::vector<std::string>& tags) {
    std::string out;
    for (const auto& t : tags)
        out += (out.empty() ? "" : ",") + t;
    return out;
}

void render_global(Ini& ini, const Original& o, std::string_view source_name) {
    ini.line("# redishappy.conf converted by redishappyctl convert-config");
    const std::string from = "# from the original redishappy's configuration ";
    ini.line(from + comment_safe(source_name, max_line - from.size()));
    ini.line("# Review it before use; every key is described in redishappy.conf(5).");
    ini.line();

    ini.line("[global]");
    ini.line("# The original ran as one process. redishappyd runs its network-facing");
    ini.line("# engine as this unprivileged user, chrooted into chroot; create the user");
    ini.line("# first (the packaged sysusers.d entry does).");
    ini.kv("user", "redishappy");
    ini.line("# Defaults:");
    ini.line("#chroot = /var/lib/redishappy");
    ini.line("#state_file = /var/lib/redishappy/state.json");
    ini.line("#log_level = info");
    ini.line("#api_listen = 127.0.0.1:8000");
    ini.line();

    ini.line("[sentinels]");
    ini.line("# Seeds: more Sentinels are discovered from these.");
    for (const auto& s : o.sentinels)
        ini.kv("address", format_host_port(s));
}

void render_cluster(Ini& ini, const Cluster& c) {
    ini.line();
    ini.line("[cluster " + c.name + "]");
    ini.kv("external_port", std::to_string(c.port));
    const Service* s = c.service;
    if (!s)
        return;
    if (!s->node.empty()) {
        ini.line("# A node that runs a Consul agent drops this registration within about");
        ini.line("# a minute (anti-entropy); unless no agent runs as this node, delete");
        ini.line("# consul_node to use the default redishappy-<cluster>.");
        ini.kv("consul_node", s->node);
    }
    if (!s->tags.empty())
        ini.kv("consul_tags", join_tags(s->tags));
    if (!s->datacenter.empty())
        ini.kv("consul_datacenter", s->datacenter);
}

void render_haproxy(Ini& ini, const Haproxy& h) {
    ini.line();
    ini.line("[haproxy]");
    ini.line("# The original's Go template cannot be used: write a mustache template");
    ini.line("# here (see redishappy.conf(5), TEMPLATE).");
    ini.kv("template", h.template_path);
    ini.kv("output", h.output);
    ini.line("# New: each rendered file is checked before it replaces output.");
    ini.kv("check_command", "haproxy -c -q -f %s");
    if (!h.reload_command.empty()) {
        ini.line("# Must return only once no HAProxy process of the old configuration is");
        ini.line("# left (redishappy.conf(5), RELOADS AND OLD SESSIONS).");
        ini.kv("reload_command", h.reload_command);
    }
    ini.line("# Switches a master without a reload when set:");
    ini.line("#runtime_socket = /run/haproxy/admin.sock");
}

void render_consul(Ini& ini, const Consul& c) {
    ini.line();
    ini.line("[consul]");
    ini.kv("address", c.address);
    ini.line("# The original registered each master in the Consul catalog.");
    ini.kv("mode", "catalog");
    if (!c.datacenter.empty())
        ini.kv("datacenter", c.datacenter);
    ini.line("#token_file = /etc/redishappy/consul.token");
}

std::string render(const Original& o, std::string_view source_name) {
    Ini ini;
    render_global(ini, o, source_name);
    for (const auto& c : o.clusters)
        render_cluster(ini, c);
    if (o.haproxy)
        render_haproxy(ini, *o.haproxy);
    if (o.consul)
        render_consul(ini, *o.consul);
    return ini.take();
}

} // namespace

ConvertResult convert_original_config(std::string_view json, std::string_view source_name) {
    ConvertResult r;
    json_error_t jerr;
    JsonPtr root(json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &jerr));
    if (!root) {
        // jansson's text may quote the offending bytes: escaped like any.
        std::string text = quote(jerr.text);
        r.errors.push_back(std::to_string(std::max(jerr.line, 1)) + ":" +
                           std::to_string(std::max(jerr.column, 0)) + ": " +
                           text.substr(1, text.size() - 2));
        return r;
    }
    if (!json_is_object(root.get())) {
        r.errors.push_back("(top level): expected an object");
        return r;
    }
    Diag d;
    Original o;
    Fields f(root.get(), "", {"Clusters", "Sentinels", "HAProxy", "Consul"}, d);
    read_clusters(f, o, d);
    read_sentinels(f, o, d);
    read_haproxy(f, o, d);
    read_consul(f, o, d);
    if (d.errors.empty()) {
        match_services(o, d);
        if (!o.haproxy && !o.consul)
            d.warnings.push_back("Neither HAProxy nor Consul is configured: redishappyd will "
                                 "only monitor the clusters (API and logs).");
        r.ini = render(o, source_name);
        r.has_haproxy = o.haproxy.has_value();
    }
    r.warnings = std::move(d.warnings);
    r.errors = std::move(d.errors);
    return r;
}

std::string template_guidance() {
    return "The original's HAProxy template is a Go template; redishappyd renders a\n"
           "mustache template instead. Rewrite it with these equivalents:\n"
           "\n"
           "  {{range .Clusters}} ... {{end}}   {{#clusters}} ... {{/clusters}}\n"
           "  {{ .Name }}                       {{name}}\n"
           "  {{ .Ip }}                         {{master_host}}\n"
           "  {{ .Port }}                       {{master_port}}\n"
           "  {{ .ExternalPort }}               {{external_port}}\n"
           "\n"
           "A cluster may have no confirmed master yet (at start-up, or when Sentinel\n"
           "has none): master_host and master_port are then empty. Wrap the server\n"
           "line in {{#has_master}} ... {{/has_master}} and give {{^has_master}} a\n"
           "disabled placeholder server, so that clients are refused, not misrouted.\n"
           "Also available: {{haproxy_backend}}, {{haproxy_server}}, {{epoch}}.\n"
           "\n"
           "A complete example is etc/haproxy.cfg.mustache (installed under\n"
           "share/doc/redishappy/examples/); every field is described in the TEMPLATE\n"
           "section of redishappy.conf(5).\n";
}

} // namespace rh
