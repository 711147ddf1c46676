// Samples of a process's resources from /proc, for the process_* metrics of
// both processes. The engine is chrooted without /proc, so the parent (root)
// reads /proc/self and /proc/<engine> and sends both samples to the engine
// (proto::ProcessStats), which shows them in /metrics.
//
// The parsers are pure (text in, numbers out) and unit-tested on sample
// text; sample_process() is the only function here that reads files. One
// sample reads four small files and lists one directory: a few tens of
// microseconds for a process of our size, taken every kProcessSampleInterval.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/proto.h"

namespace rh {

inline constexpr std::chrono::seconds kProcessSampleInterval{5};

// What /proc/PID/stat says; times in clock ticks, sizes as the kernel gives
// them (vsize in bytes, rss in pages).
struct ProcStat {
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
    uint64_t start_ticks = 0; // since boot
    uint64_t vsize_bytes = 0;
    uint64_t rss_pages = 0;
};

// Fields 14, 15, 22, 23 and 24 of /proc/PID/stat (proc(5)). The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses:
// fields are counted from the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// "btime N" of /proc/stat: the boot time in unix seconds.
std::optional<uint64_t> parse_boot_time(std::string_view text);

// The soft limit of "Max open files" in /proc/PID/limits ("unlimited" is
// reported as UINT32_MAX).
std::optional<uint32_t> parse_max_open_files(std::string_view text);

// "Pss: N kB" of /proc/PID/smaps_rollup, in bytes.
std::optional<uint64_t> parse_pss(std::string_view text);

// The conversion of the parsed numbers to a proto sample.
struct ProcClock {
    uint64_t ticks_per_second = 100;
    uint64_t page_size = 4096;
    uint64_t boot_time = 0; // unix seconds
};
proto::ProcessSample make_sample(const ProcStat& st, const ProcClock& clock, uint32_t open_fds,
                                 uint32_t max_fds, uint64_t pss_bytes);

// Reads /proc/<pid> (pid 0: /proc/self). Not present when /proc/<pid>/stat
// cannot be read (no /proc, or the process is gone).
proto::ProcessSample sample_process(pid_t pid, const ProcClock& clock);

// The clock of this system: sysconf and /proc/stat's btime.
ProcClock system_proc_clock();

} // namespace rh
