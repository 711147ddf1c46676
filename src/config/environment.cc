// The configuration's file-system and user checks, and secret files: kept
// apart from parse_config(), which stays pure.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"
#include "common/validate.h"
#include "config/config.h"

namespace rh {

namespace {

constexpr size_t max_secret_size = 4096;

std::string errno_text() {
    return std::strerror(errno);
}

} // namespace

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
    if (c.consul && !c.consul_ca_file.empty() && access(c.consul_ca_file.c_str(), R_OK) != 0)
        err(c.ca_file_line, "ca_file " + c.consul_ca_file + ": " + errno_text());
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
