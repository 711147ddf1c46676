#include "common/address.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>

namespace rh {

namespace {

bool is_label(std::string_view label) {
    if (label.empty() || label.size() > 63)
        return false;
    if (label.front() == '-' || label.back() == '-')
        return false;
    for (char c : label) {
        auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && c != '-')
            return false;
    }
    return true;
}

} // namespace

bool is_ipv4_literal(std::string_view s) {
    if (s.empty() || s.size() > 15)
        return false;
    std::string copy(s);
    in_addr a{};
    return inet_pton(AF_INET, copy.c_str(), &a) == 1;
}

bool is_ipv6_literal(std::string_view s) {
    if (s.size() < 2 || s.size() > 45)
        return false;
    std::string copy(s);
    in6_addr a{};
    return inet_pton(AF_INET6, copy.c_str(), &a) == 1;
}

bool is_hostname(std::string_view s) {
    if (s.empty() || s.size() > 253)
        return false;
    if (s.back() == '.') // a fully qualified name may end with the root
        s.remove_suffix(1);
    if (s.empty())
        return false;
    size_t start = 0;
    while (true) {
        size_t dot = s.find('.', start);
        std::string_view label =
            s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (!is_label(label))
            return false;
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

bool valid_host(std::string_view s) {
    return is_ipv4_literal(s) || is_ipv6_literal(s) || is_hostname(s);
}

std::optional<uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5)
        return std::nullopt;
    unsigned value = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(value);
}

std::optional<HostPort> parse_host_port(std::string_view s, std::string* err) {
    auto fail = [err](const char* why) -> std::optional<HostPort> {
        if (err)
            *err = why;
        return std::nullopt;
    };
    std::string_view host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        size_t close = s.find(']');
        if (close == std::string_view::npos)
            return fail("missing ']' after IPv6 address");
        host = s.substr(1, close - 1);
        if (close + 1 >= s.size() || s[close + 1] != ':')
            return fail("expected ':port' after ']'");
        port = s.substr(close + 2);
        if (!is_ipv6_literal(host))
            return fail("not an IPv6 address inside brackets");
    } else {
        size_t colon = s.rfind(':');
        if (colon == std::string_view::npos)
            return fail("expected host:port");
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return fail("IPv6 addresses must be written in brackets, as [addr]:port");
        if (!is_ipv4_literal(host) && !is_hostname(host))
            return fail("not an IPv4 address or host name");
    }
    auto p = parse_port(port);
    if (!p)
        return fail("port must be a number from 1 to 65535");
    return HostPort{std::string(host), *p};
}

std::string client_key(std::string_view ip) {
    std::string copy(ip);
    in6_addr a6{};
    in_addr a4{};
    if (inet_pton(AF_INET6, copy.c_str(), &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return "loopback";
        if (!IN6_IS_ADDR_V4MAPPED(&a6)) {
            std::memset(a6.s6_addr + 8, 0, 8); // the /64
            char buf[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &a6, buf, sizeof buf);
            return std::string(buf) + "/64";
        }
        std::memcpy(&a4, a6.s6_addr + 12, 4);
    } else if (inet_pton(AF_INET, copy.c_str(), &a4) != 1) {
        return copy;
    }
    if ((ntohl(a4.s_addr) >> 24) == 127)
        return "loopback";
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a4, buf, sizeof buf);
    return buf;
}

std::string canonical_ip(std::string_view ip) {
    if (ip.size() > 45)
        return std::string(ip);
    std::string copy(ip);
    in6_addr a6{};
    in_addr a4{};
    if (inet_pton(AF_INET6, copy.c_str(), &a6) == 1) {
        if (!IN6_IS_ADDR_V4MAPPED(&a6)) {
            char buf[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &a6, buf, sizeof buf);
            return buf;
        }
        std::memcpy(&a4, a6.s6_addr + 12, 4);
    } else if (inet_pton(AF_INET, copy.c_str(), &a4) != 1) {
        return copy;
    }
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a4, buf, sizeof buf);
    return buf;
}

std::string format_host_port(const HostPort& hp) {
    if (hp.host.find(':') != std::string::npos)
        return "[" + hp.host + "]:" + std::to_string(hp.port);
    return hp.host + ":" + std::to_string(hp.port);
}

} // namespace rh
