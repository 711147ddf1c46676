// Host and port values: parsing, validation and formatting. Pure, no I/O.
//
// Every host that reaches a file, a command line or a socket passes through
// valid_host(): an IPv4 or IPv6 literal, or an RFC 1123 host name of at most
// 253 characters. Nothing else (whitespace, quotes, '#', control characters)
// can be spelled in either form, which is what makes rendering values verbatim
// into haproxy.cfg safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rh {

struct HostPort {
    std::string host; // IPv6 literals are stored without brackets
    uint16_t port = 0;

    bool operator==(const HostPort&) const = default;
    auto operator<=>(const HostPort&) const = default;
};

bool is_ipv4_literal(std::string_view s);
bool is_ipv6_literal(std::string_view s);
bool is_hostname(std::string_view s); // RFC 1123, <= 253 characters
bool valid_host(std::string_view s);  // any of the three above
inline bool is_ip_literal(std::string_view s) {
    return is_ipv4_literal(s) || is_ipv6_literal(s);
}

// Parses a decimal port 1-65535 with no sign, spaces or leading junk.
std::optional<uint16_t> parse_port(std::string_view s);

// "host:port", "1.2.3.4:port" or "[v6]:port". On failure returns nullopt and,
// when err is given, says why.
std::optional<HostPort> parse_host_port(std::string_view s, std::string* err = nullptr);

// "host:port", with brackets around IPv6 literals.
std::string format_host_port(const HostPort& hp);

// Who a client address belongs to, for per-client limits: one machine can
// speak from any address of 127.0.0.0/8 and ::1, and one IPv6 host from any
// address of its /64, so each of those is a single client; an IPv4-mapped
// IPv6 address is its IPv4 address; any other IPv4 address is itself.
// Anything that is not an IP literal is returned unchanged.
std::string client_key(std::string_view ip);

// One spelling per address, to compare IP literals: an IPv4-mapped IPv6
// address is its IPv4 address, any other IPv6 address is written the way
// inet_ntop writes it ("0:0::1" and "::1" are one). Anything that is not an
// IP literal is returned unchanged.
std::string canonical_ip(std::string_view ip);

} // namespace rh
