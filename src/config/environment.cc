// The configuration's file-system and user checks, and secret files: kept
// apart from parse_config(), which stays pure.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

// [tls] files: readable, and PEM (the engine parses them; a DER file or a
// wrong path would otherwise fail only there). Their content is never
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
        if (text.find("-----BEGIN ") == std::string::npos)
            err(f.line, std::string(f.key) + " " + f.path + ": not a PEM file");
    }
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
    if (c.resolv_conf_set && access(c.resolv_conf.c_str(), R_OK) != 0)
        err(c.resolv_conf_line, "resolv_conf " + c.resolv_conf + ": " + errno_text());
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
