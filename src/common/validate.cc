#include "common/validate.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rh {

// ASCII spelled out rather than std::isalnum: the configuration parser used
// isalnum and the protocol decoder these ranges. They agree because neither
// process calls setlocale() (the "C" locale's isalnum is ASCII), so this is
// the rule both already enforced, now without depending on the locale.
bool valid_cluster_name(std::string_view s) {
    if (s.empty() || s.size() > kMaxClusterName)
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

bool printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u != 0x7f;
    });
}

std::string chroot_dir_problem(const std::string& dir, const ChrootWords& words) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0)
        return std::strerror(errno);
    if (!S_ISDIR(st.st_mode))
        return "not a directory";
    if (st.st_uid != 0)
        return words.not_root_owned;
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return words.writable;
    return "";
}

std::optional<ConsulMode> parse_consul_mode(std::string_view s) {
    if (s == "catalog")
        return ConsulMode::catalog;
    if (s == "agent")
        return ConsulMode::agent;
    return std::nullopt;
}

const char* consul_mode_name(ConsulMode m) {
    return m == ConsulMode::agent ? "agent" : "catalog";
}

} // namespace rh
