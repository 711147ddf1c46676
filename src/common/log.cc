#include "common/log.h"

#include <syslog.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>

namespace rh::log {

namespace {

// The logger is process-wide by nature (like syslog itself): one sink per
// process, configured once at start and by SIGHUP/SIGUSR1 on the loop.
struct Sink {
    const char* tag = "redishappyd";
    bool foreground = true;
    int facility = LOG_DAEMON;
    Level level = Level::info;
};

Sink& sink() {
    static Sink s;
    return s;
}

int syslog_priority(Level l) {
    switch (l) {
    case Level::debug:
        return LOG_DEBUG;
    case Level::info:
        return LOG_INFO;
    case Level::notice:
        return LOG_NOTICE;
    case Level::warning:
        return LOG_WARNING;
    case Level::error:
        return LOG_ERR;
    }
    return LOG_ERR;
}

void vlog(Level l, const char* fmt, va_list ap, const char* suffix) {
    Sink& s = sink();
    if (l < s.level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (s.foreground) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        tm t{};
        gmtime_r(&ts.tv_sec, &t);
        char when[32];
        strftime(when, sizeof when, "%H:%M:%S", &t);
        fprintf(stderr, "%s.%03ld %s[%d] %s: %s%s%s\n", when, ts.tv_nsec / 1000000, s.tag,
                static_cast<int>(getpid()), level_name(l), msg, suffix ? ": " : "",
                suffix ? suffix : "");
        fflush(stderr);
    } else {
        syslog(syslog_priority(l), "%s: %s%s%s", s.tag, msg, suffix ? ": " : "",
               suffix ? suffix : "");
    }
}

} // namespace

bool parse_level(std::string_view s, Level* out) {
    static constexpr std::pair<std::string_view, Level> names[] = {
        {"debug", Level::debug},     {"info", Level::info},   {"notice", Level::notice},
        {"warning", Level::warning}, {"error", Level::error},
    };
    for (auto& [name, value] : names) {
        if (s == name) {
            *out = value;
            return true;
        }
    }
    return false;
}

const char* level_name(Level l) {
    switch (l) {
    case Level::debug:
        return "debug";
    case Level::info:
        return "info";
    case Level::notice:
        return "notice";
    case Level::warning:
        return "warning";
    case Level::error:
        return "error";
    }
    return "?";
}

bool parse_facility(std::string_view s, int* out) {
    static constexpr std::pair<std::string_view, int> names[] = {
        {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
        {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
        {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
        {"local7", LOG_LOCAL7},
    };
    for (auto& [name, value] : names) {
        if (s == name) {
            *out = value;
            return true;
        }
    }
    return false;
}

void init(const char* tag, bool foreground, int facility, Level level) {
    Sink& s = sink();
    s.tag = tag;
    s.foreground = foreground;
    s.facility = facility;
    s.level = level;
    // One syslog identity for both processes; each line carries the tag.
    if (!foreground)
        openlog("redishappyd", LOG_PID | LOG_NDELAY, facility);
}

void set_level(Level level) {
    sink().level = level;
}
Level level() {
    return sink().level;
}

void reopen() {
    Sink& s = sink();
    if (s.foreground)
        return;
    closelog();
    openlog("redishappyd", LOG_PID | LOG_NDELAY, s.facility);
}

#define RH_LOG_FN(name, lvl)                                                                       \
    void name(const char* fmt, ...) {                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(lvl, fmt, ap, nullptr);                                                               \
        va_end(ap);                                                                                \
    }
RH_LOG_FN(debug, Level::debug)
RH_LOG_FN(info, Level::info)
RH_LOG_FN(notice, Level::notice)
RH_LOG_FN(warn, Level::warning)
RH_LOG_FN(error, Level::error)
#undef RH_LOG_FN

void fatal(const char* fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(Level::error, fmt, ap, strerror(saved));
    va_end(ap);
    exit(1);
}

void fatalx(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(Level::error, fmt, ap, nullptr);
    va_end(ap);
    exit(1);
}

} // namespace rh::log
