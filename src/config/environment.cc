// The configuration's file-system and user checks, and secret files: kept
// apart from parse_config(), which stays pure.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/file.h"
#include "common/log.h"
#include "common/validate.h"
#include "config/config.h"

namespace rh {

namespace {

constexpr size_t max_secret_size = 4096;

std::string errno_text() {
    return std::strerror(errno);
}

// The host of an http:// or https:// URL: "[::1]:8500/x" -> "::1".
std::string url_host(std::string_view url) {
    auto scheme = url.find("://");
    std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = rest.rfind('@'); at != std::string_view::npos)
        rest = rest.substr(at + 1);
    if (!rest.empty() && rest[0] == '[')
        return std::string(rest.substr(1, rest.find(']') - 1));
    return std::string(rest.substr(0, rest.find(':')));
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The labels of a PEM file's blocks ("CERTIFICATE", "PRIVATE KEY", ...), or
// why it is not PEM: every BEGIN has its END, a body is base64 (after any
// "Name: value" header lines), and an encrypted block is labelled
// "ENCRYPTED ..." (as ENCRYPTED PRIVATE KEY and a Proc-Type header say).
// Structure only: whether a key matches its certificate takes OpenSSL,
// which the parent does not link (the engine finds that out).
bool pem_blocks(const std::string& text, std::vector<std::string>* labels, std::string* why) {
    std::string label, body;
    bool inside = false, headers = false, encrypted = false;
    size_t pos = 0, lineno = 0;
    auto is_b64 = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || c == '=';
    };
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line(text.data() + pos,
                              (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        lineno++;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        bool dashes = line.starts_with("-----") && line.size() > 10 && line.ends_with("-----");
        if (!inside) {
            if (dashes && line.starts_with("-----BEGIN ")) {
                label = std::string(line.substr(11, line.size() - 16));
                body.clear();
                inside = headers = true;
                encrypted = false;
            }
            continue; // text between blocks is allowed (openssl x509 -text)
        }
        std::string where = " (line " + std::to_string(lineno) + ")";
        if (dashes) {
            if (line != "-----END " + label + "-----") {
                *why = "BEGIN " + label + " ends with " +
                       std::string(line.substr(5, line.size() - 10)) + where;
                return false;
            }
            if (body.empty() || body.size() % 4 != 0) {
                *why = label + ": its base64 is cut short" + where;
                return false;
            }
            labels->push_back(encrypted ? "ENCRYPTED " + label : label);
            inside = false;
            continue;
        }
        if (headers && line.find(':') != std::string_view::npos) {
            if (line.starts_with("Proc-Type:") && line.find("ENCRYPTED") != std::string_view::npos)
                encrypted = true;
            continue;
        }
        headers = false;
        for (char c : line)
            if (!is_b64(c)) {
                *why = label + ": not base64" + where;
                return false;
            }
        body += line;
    }
    if (inside) {
        *why = "BEGIN " + label + " without its END";
        return false;
    }
    if (labels->empty()) {
        *why = "not a PEM file";
        return false;
    }
    return true;
}

// [tls] files: readable, and PEM holding what each key needs (the engine
// parses them; a DER file, a wrong path, a key where a certificate belongs
// or an encrypted key would otherwise fail only there -- after a SIGHUP, in
// an engine that then exits at every restart). Their content is never
// logged: a key's first bytes are secret too.
template <typename Err> void check_tls_files(const TlsConfig& t, Err&& err) {
    struct File {
        const std::string& path;
        int line;
        const char* key;
    };
    for (const File& f : {File{t.ca_file, t.ca_file_line, "ca_file"},
                          File{t.cert_file, t.cert_file_line, "cert_file"},
                          File{t.key_file, t.key_file_line, "key_file"}}) {
        if (f.path.empty())
            continue;
        std::string text, why;
        if (!read_file_capped(f.path, 1u << 20, &text, &why)) {
            err(f.line, std::string(f.key) + " " + f.path + ": " + why);
            continue;
        }
        std::vector<std::string> labels;
        if (!pem_blocks(text, &labels, &why)) {
            err(f.line, std::string(f.key) + " " + f.path + ": " + why);
            continue;
        }
        auto has = [&](auto pred) { return std::any_of(labels.begin(), labels.end(), pred); };
        bool key = f.key == std::string_view("key_file");
        if (!key && !has([](const std::string& l) { return l.ends_with("CERTIFICATE"); }))
            err(f.line, std::string(f.key) + " " + f.path + ": holds no CERTIFICATE");
        if (key && has([](const std::string& l) {
                return l.starts_with("ENCRYPTED ") && l.ends_with("PRIVATE KEY");
            }))
            err(f.line, std::string(f.key) + " " + f.path +
                            ": encrypted; a passphrase cannot be given (use an unencrypted key)");
        else if (key && !has([](const std::string& l) { return l.ends_with("PRIVATE KEY"); }))
            err(f.line, std::string(f.key) + " " + f.path + ": holds no PRIVATE KEY");
    }
}

// Whether a resolv.conf names a name server the engine's resolver (evdns)
// takes: "nameserver IP", "IP:port" or "[IPv6]:port", an IPv6 literal with
// a %scope (let through). evdns skips any other line; a file without one such line made
// the engine warn and ask 127.0.0.1 instead, a typo silently changing
// whom the daemon trusts for names.
bool has_usable_nameserver(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line(text.data() + pos,
                              (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        auto word = [&line] {
            size_t b = line.find_first_not_of(" \t\r");
            if (b == std::string_view::npos)
                return std::string_view();
            size_t e = line.find_first_of(" \t\r", b);
            std::string_view w = line.substr(b, e == std::string_view::npos ? line.npos : e - b);
            line.remove_prefix(e == std::string_view::npos ? line.size() : e);
            return w;
        };
        if (word() != "nameserver")
            continue;
        std::string_view a = word();
        if (a.starts_with('[')) {
            size_t close = a.find(']');
            if (close == std::string_view::npos)
                continue;
            std::string_view rest = a.substr(close + 1);
            if (!rest.empty() && (!rest.starts_with(':') || !parse_port(rest.substr(1))))
                continue;
            a = a.substr(1, close - 1);
        } else if (a.find(':') == a.rfind(':') && a.find(':') != std::string_view::npos) {
            if (!parse_port(a.substr(a.find(':') + 1)))
                continue; // IPv4:port
            a = a.substr(0, a.find(':'));
        }
        if (auto pct = a.find('%');
            pct != std::string_view::npos && is_ipv6_literal(a.substr(0, pct)))
            return true;
        if (is_ip_literal(a))
            return true;
    }
    return false;
}

} // namespace

bool consul_token_in_clear(const Config& c) {
    if (!c.consul || c.consul_token_file.empty() || c.consul_address.rfind("http://", 0) != 0)
        return false;
    return !is_loopback(url_host(c.consul_address));
}

std::vector<ConfigError> check_environment(const Config& c, bool as_root) {
    std::vector<ConfigError> out;
    auto err = [&](int line, std::string msg) {
        out.push_back(ConfigError{c.path, line, std::move(msg)});
    };
    if (as_root) {
        if (c.user.empty())
            err(0, "[global] user is required when started as root");
        else if (getpwnam(c.user.c_str()) == nullptr)
            err(c.user_line, "user '" + c.user + "': no such user");
    }
    if (as_root && !c.chroot.empty()) {
        auto why = chroot_dir_problem(c.chroot, {"not owned by root", "group or world writable"});
        if (!why.empty())
            err(c.chroot_line, "chroot " + c.chroot + ": " + why);
    }
    if (c.haproxy) {
        if (access(c.haproxy_template.c_str(), R_OK) != 0)
            err(c.template_line, "template " + c.haproxy_template + ": " + errno_text());
        auto dir = dir_of(c.haproxy_output);
        if (access(dir.c_str(), W_OK) != 0)
            err(c.output_line, "output directory " + dir + ": " + errno_text());
    }
    if (c.consul && !c.consul_token_file.empty() && access(c.consul_token_file.c_str(), R_OK) != 0)
        err(c.token_file_line, "token_file " + c.consul_token_file + ": " + errno_text());
    if (consul_token_in_clear(c))
        log::warn("%s:%d: [consul] the token would travel in clear over %s; use https://",
                  c.path.c_str(), c.token_file_line, c.consul_address.c_str());
    if (c.consul && !c.consul_ca_file.empty() && access(c.consul_ca_file.c_str(), R_OK) != 0)
        err(c.ca_file_line, "ca_file " + c.consul_ca_file + ": " + errno_text());
    check_tls_files(c.tls, err);
    // The engine reads these before its chroot; a missing default
    // /etc/resolv.conf or /etc/hosts is allowed (the engine says so).
    if (c.resolv_conf_set) {
        std::string text, why;
        // evdns refuses a file over 65,535 bytes.
        if (!read_file_capped(c.resolv_conf, 65535, &text, &why))
            err(c.resolv_conf_line, "resolv_conf " + c.resolv_conf + ": " + why);
        else if (!has_usable_nameserver(text))
            err(c.resolv_conf_line, "resolv_conf " + c.resolv_conf +
                                        ": no 'nameserver IP' line (an IP literal, with an "
                                        "optional port)");
    }
    if (c.hosts_file_line && !c.hosts_file.empty() && access(c.hosts_file.c_str(), R_OK) != 0)
        err(c.hosts_file_line, "hosts_file " + c.hosts_file + ": " + errno_text());
    if (!c.state_file.empty()) {
        auto dir = dir_of(c.state_file);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0)
            err(c.state_file_line, "state_file directory " + dir + ": " + errno_text());
        else if (!S_ISDIR(st.st_mode))
            err(c.state_file_line, "state_file directory " + dir + ": not a directory");
    }
    return out;
}

std::string load_secret_file(const std::string& path, std::string* err) {
    std::string s, why;
    if (!read_file_capped(path, max_secret_size, &s, &why)) {
        *err = path + ": " + why;
        return "";
    }
    if (!s.empty() && s.back() == '\n')
        s.pop_back();
    if (!s.empty() && s.back() == '\r')
        s.pop_back();
    if (s.empty()) {
        *err = path + ": empty";
        return "";
    }
    return s;
}

} // namespace rh
