#include "common/log.h"

#include <syslog.h>

#include <array>
#include <functional>

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

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if it is not one.
size_t utf8_length(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((b(k) & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) > 0x9f) || (c == 0xf0 && b(1) < 0x90) ||
        (c == 0xf4 && b(1) > 0x8f))
        return 0;
    return n;
}

// Rate limiting: one slot per message template, hashed into a small table
// (a collision only makes two templates share a budget): at most kSlots x
// burst lines a window, whatever the mix of templates.
struct Slot {
    int64_t start = 0; // window start, ms
    unsigned lines = 0;
    unsigned suppressed = 0;
    Level level = Level::info;
    std::string sample; // the first suppressed line, shortened
};
constexpr size_t kSlots = 64;
constexpr size_t kSample = 80;

int64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t (*clock_fn)() = monotonic_ms;

std::array<Slot, kSlots>& slots() {
    static std::array<Slot, kSlots> t;
    return t;
}

void emit(Level l, const std::string& line) {
    Sink& s = sink();
    if (s.foreground) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        tm t{};
        gmtime_r(&ts.tv_sec, &t);
        char when[32];
        strftime(when, sizeof when, "%H:%M:%S", &t);
        fprintf(stderr, "%s.%03ld %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000, s.tag,
                static_cast<int>(getpid()), level_name(l), line.c_str());
        fflush(stderr);
    } else {
        syslog(syslog_priority(l), "%s: %s", s.tag, line.c_str());
    }
}

void report(Slot& slot) {
    if (slot.suppressed == 0)
        return;
    emit(slot.level, std::to_string(slot.suppressed) +
                         " similar messages suppressed (like: " + slot.sample + ")");
    slot.suppressed = 0;
}

// Reports the counts of every window that is over.
void sweep(int64_t now) {
    for (auto& slot : slots())
        if (slot.suppressed && now - slot.start >= window_ms)
            report(slot);
}

// True if a line of this template may be written now; counts it otherwise.
bool admit(uintptr_t key, Level l, const std::string& line) {
    int64_t now = clock_fn();
    sweep(now);
    // A multiplicative hash: format strings are aligned in .rodata, so the
    // low bits of their addresses alone would put many in one slot.
    uint64_t mixed = static_cast<uint64_t>(key) * 0x9e3779b97f4a7c15ull;
    Slot& slot = slots()[(mixed >> 32) % kSlots];
    // Templates that share a slot share its budget for the window: a new
    // key never resets a window that is still open (alternating two
    // templates must not double the rate, nor reset it to zero).
    if (now - slot.start >= window_ms) {
        report(slot);
        slot.start = now;
        slot.lines = 0;
    }
    if (++slot.lines <= burst)
        return true;
    if (slot.suppressed++ == 0) {
        slot.level = l;
        slot.sample = line.substr(0, kSample);
    }
    return false;
}

// The template is the identity of a message, unless it is a bare "%s..."
// that carries its whole text: then the text is.
uintptr_t template_key(const char* fmt, std::string_view msg) {
    if (fmt[0] == '%' && fmt[1] == 's')
        return std::hash<std::string_view>{}(msg) | 1;
    return reinterpret_cast<uintptr_t>(fmt);
}

void vlog(Level l, const char* fmt, va_list ap, const char* suffix, bool fatal = false) {
    Sink& s = sink();
    if (l < s.level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    std::string line;
    escape(msg, &line);
    if (suffix) {
        line += ": ";
        escape(suffix, &line);
    }
    // Fatal lines and debug lines are never dropped.
    if (l != Level::debug && !fatal && !admit(template_key(fmt, msg), l, line))
        return;
    emit(l, line);
}

} // namespace

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t n = static_cast<unsigned char>(s[i]) < 0x80 ? 1 : utf8_length(s, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void escape(std::string_view s, std::string* out) {
    static constexpr char hex[] = "0123456789abcdef";
    out->reserve(out->size() + s.size());
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            if (size_t n = utf8_length(s, i)) {
                out->append(s.substr(i, n));
                i += n;
                continue;
            }
        }
        i++;
        if (c == '\\')
            out->append("\\\\");
        else if (c == '\n')
            out->append("\\n");
        else if (c == '\r')
            out->append("\\r");
        else if (c == '\t')
            out->append("\\t");
        else if (c < 0x20 || c >= 0x7f)
            out->append({'\\', 'x', hex[c >> 4], hex[c & 15]});
        else
            out->push_back(static_cast<char>(c));
    }
}

void set_clock_for_tests(int64_t (*now_ms)()) {
    clock_fn = now_ms ? now_ms : monotonic_ms;
    slots() = {};
}

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
    vlog(Level::error, fmt, ap, strerror(saved), true);
    va_end(ap);
    exit(1);
}

void fatalx(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(Level::error, fmt, ap, nullptr, true);
    va_end(ap);
    exit(1);
}

} // namespace rh::log
