// Logging in the OpenBSD manner: stderr in the foreground (-d), syslog when
// daemonized. Each process tags its lines ("parent", "engine"). syslog is
// opened with LOG_NDELAY before the engine's chroot, so the engine keeps its
// connection to /dev/log afterwards.
//
// Logs are not a channel for others: every message is escaped after
// formatting (see escape()), so text from a Sentinel or a client can never
// start a line of its own. And every message template has a budget: at most
// burst lines per window (redishappyd(8), BUDGETS); the rest are counted and
// reported as "N similar messages suppressed" once the window is over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rh::log {

enum class Level { debug = 0, info, notice, warning, error };

// Parses "debug", "info", "notice", "warning" or "error".
bool parse_level(std::string_view s, Level* out);
const char* level_name(Level l);
// Parses a syslog facility name ("daemon", "local0" .. "local7", "user").
bool parse_facility(std::string_view s, int* out);

// tag: process role; foreground: log to stderr instead of syslog.
void init(const char* tag, bool foreground, int facility, Level level);
void set_level(Level level);
Level level();
// SIGUSR1: reopen the log sink (syslog: closelog + openlog).
void reopen();

// The log-line budget, per message template (per text for a bare "%s..."):
// burst lines per window; debug lines (asked for with -v) have none.
inline constexpr unsigned burst = 20;
inline constexpr int64_t window_ms = 1000;

// Appends s to out with control characters escaped: \n, \r, \t, \\ and
// \xNN for other C0 bytes, DEL and bytes that are not valid UTF-8.
void escape(std::string_view s, std::string* out);
// Whether escape() keeps s as it is but for control characters: s is
// UTF-8 by RFC 3629 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

// Tests only: replaces the monotonic clock (milliseconds); null restores it.
void set_clock_for_tests(int64_t (*now_ms)());

void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void notice(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// fatal appends strerror(errno); fatalx does not. Both exit(1).
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fatalx(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace rh::log
