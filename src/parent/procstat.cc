// Process samples from /proc; see procstat.h.
#include "parent/procstat.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <string>

#include "common/file.h"

namespace rh {

namespace {

// /proc files are small; these caps only bound a surprise.
constexpr size_t kMaxProcFile = 64 * 1024;

std::optional<uint64_t> to_u64(std::string_view s) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
        return std::nullopt;
    return v;
}

// The next space-separated word of s, advancing s past it.
std::string_view next_word(std::string_view& s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        s = {};
        return {};
    }
    s.remove_prefix(b);
    size_t e = s.find_first_of(" \t\n");
    std::string_view w = s.substr(0, e);
    s.remove_prefix(e == std::string_view::npos ? s.size() : e);
    return w;
}

// The rest of the line that starts with `key` (at the start of a line).
std::optional<std::string_view> line_after(std::string_view text, std::string_view key) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        if (line.substr(0, key.size()) == key)
            return line.substr(key.size());
        if (eol == std::string_view::npos)
            break;
        pos = eol + 1;
    }
    return std::nullopt;
}

std::string proc_path(pid_t pid, const char* file) {
    std::string p = pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid);
    return p + "/" + file;
}

std::optional<std::string> read_proc(pid_t pid, const char* file) {
    std::string text, err;
    if (!read_file_capped(proc_path(pid, file), kMaxProcFile, &text, &err))
        return std::nullopt;
    return text;
}

uint32_t count_fds(pid_t pid) {
    DIR* d = opendir(proc_path(pid, "fd").c_str());
    if (!d)
        return 0;
    uint32_t n = 0;
    while (dirent* e = readdir(d))
        n += e->d_name[0] != '.' ? 1 : 0;
    closedir(d);
    return pid == 0 && n > 0 ? n - 1 : n; // not the one opendir used
}

} // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    size_t close = text.rfind(')');
    if (close == std::string_view::npos)
        return std::nullopt;
    std::string_view rest = text.substr(close + 1);
    // rest starts at field 3 (state).
    ProcStat st;
    for (int field = 3; field <= 24; field++) {
        std::string_view w = next_word(rest);
        if (w.empty())
            return std::nullopt;
        if (field == 3)
            continue;
        uint64_t* dst = nullptr;
        switch (field) {
        case 14:
            dst = &st.utime_ticks;
            break;
        case 15:
            dst = &st.stime_ticks;
            break;
        case 22:
            dst = &st.start_ticks;
            break;
        case 23:
            dst = &st.vsize_bytes;
            break;
        case 24:
            dst = &st.rss_pages;
            break;
        default:
            continue;
        }
        auto v = to_u64(w);
        if (!v)
            return std::nullopt;
        *dst = *v;
    }
    return st;
}

std::optional<uint64_t> parse_boot_time(std::string_view text) {
    auto rest = line_after(text, "btime ");
    if (!rest)
        return std::nullopt;
    return to_u64(next_word(*rest));
}

std::optional<uint32_t> parse_max_open_files(std::string_view text) {
    auto rest = line_after(text, "Max open files");
    if (!rest)
        return std::nullopt;
    std::string_view soft = next_word(*rest);
    if (soft == "unlimited")
        return UINT32_MAX;
    auto v = to_u64(soft);
    if (!v)
        return std::nullopt;
    return *v > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(*v);
}

std::optional<uint64_t> parse_pss(std::string_view text) {
    auto rest = line_after(text, "Pss:");
    if (!rest)
        return std::nullopt;
    auto kb = to_u64(next_word(*rest));
    if (!kb || next_word(*rest) != "kB" || *kb > (uint64_t{1} << 46))
        return std::nullopt;
    return *kb * 1024;
}

proto::ProcessSample make_sample(const ProcStat& st, const ProcClock& clock, uint32_t open_fds,
                                 uint32_t max_fds, uint64_t pss_bytes) {
    uint64_t hz = clock.ticks_per_second ? clock.ticks_per_second : 100;
    proto::ProcessSample s;
    s.present = true;
    s.rss_bytes = st.rss_pages * clock.page_size;
    s.vsize_bytes = st.vsize_bytes;
    s.pss_bytes = pss_bytes;
    s.cpu_ms = (st.utime_ticks + st.stime_ticks) * 1000 / hz;
    s.open_fds = open_fds;
    s.max_fds = max_fds;
    s.start_time_ms = clock.boot_time * 1000 + st.start_ticks * 1000 / hz;
    return s;
}

proto::ProcessSample sample_process(pid_t pid, const ProcClock& clock) {
    auto stat_text = read_proc(pid, "stat");
    auto st = stat_text ? parse_proc_stat(*stat_text) : std::nullopt;
    if (!st)
        return {};
    uint32_t max_fds = 0;
    if (auto limits = read_proc(pid, "limits"))
        max_fds = parse_max_open_files(*limits).value_or(0);
    uint64_t pss = 0;
    if (auto rollup = read_proc(pid, "smaps_rollup"))
        pss = parse_pss(*rollup).value_or(0);
    return make_sample(*st, clock, count_fds(pid), max_fds, pss);
}

ProcClock system_proc_clock() {
    ProcClock c;
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    c.ticks_per_second = hz > 0 ? static_cast<uint64_t>(hz) : 100;
    c.page_size = page > 0 ? static_cast<uint64_t>(page) : 4096;
    std::string text, err;
    if (read_file_capped("/proc/stat", 1 << 20, &text, &err))
        c.boot_time = parse_boot_time(text).value_or(0);
    return c;
}

} // namespace rh
