// Unit tests for the /proc parsers (src/parent/procstat.cc) on sample text
// as Linux 6.1 writes it.
#include "../../cmocka.h"

#include <cstring>

#include "parent/procstat.h"

using namespace rh;

namespace {

// A command name with a space and a ')' in it: fields count from the last ')'.
const char* kStat = "4242 (redis happy) d) S 1 4242 4242 0 -1 4194560 1234 0 0 0 "
                    "250 75 0 0 20 0 1 0 123456 25100288 812 18446744073709551615 1 1 0 0 0 0 0 "
                    "4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            1024                 524288               files     \n"
    "Max locked memory         8388608              8388608              bytes     \n";

const char* kRollup = "55d0c8a4e000-7ffd6b3f2000 ---p 00000000 00:00 0    [rollup]\n"
                      "Rss:                3248 kB\n"
                      "Pss:                1403 kB\n"
                      "Pss_Anon:            636 kB\n";

const char* kProcStat = "cpu  1 2 3 4 5 6 7 0 0 0\n"
                        "intr 123\n"
                        "ctxt 456\n"
                        "btime 1764489600\n"
                        "processes 789\n";

} // namespace

static void parses_stat_fields_after_the_command(void**) {
    auto st = parse_proc_stat(kStat);
    assert_true(st.has_value());
    assert_int_equal(st->utime_ticks, 250);
    assert_int_equal(st->stime_ticks, 75);
    assert_int_equal(st->start_ticks, 123456);
    assert_int_equal(st->vsize_bytes, 25100288);
    assert_int_equal(st->rss_pages, 812);
}

static void refuses_truncated_or_garbled_stat(void**) {
    assert_false(parse_proc_stat("").has_value());
    assert_false(parse_proc_stat("4242 (x S 1 2 3").has_value()); // no ')'
    assert_false(parse_proc_stat("4242 (x) S 1 2 3 4 5 6 7 8 9 10 11\n").has_value());
    std::string bad = kStat;
    bad.replace(bad.find("250"), 3, "2x0");
    assert_false(parse_proc_stat(bad).has_value());
    std::string negative = kStat;
    negative.replace(negative.find("25100288"), 8, "-1");
    assert_false(parse_proc_stat(negative).has_value());
}

static void parses_limits_pss_and_btime(void**) {
    assert_int_equal(parse_max_open_files(kLimits).value_or(0), 1024);
    assert_int_equal(
        parse_max_open_files("Max open files  unlimited  unlimited  files\n").value_or(0),
        UINT32_MAX);
    assert_false(parse_max_open_files("Max cpu time unlimited unlimited seconds\n").has_value());
    assert_int_equal(parse_pss(kRollup).value_or(0), 1403u * 1024);
    assert_false(parse_pss("Pss_Anon: 636 kB\n").has_value()); // another key
    assert_false(parse_pss("Pss: 12 MB\n").has_value());
    assert_int_equal(parse_boot_time(kProcStat).value_or(0), 1764489600);
    assert_false(parse_boot_time("cpu 1 2 3\n").has_value());
}

static void converts_ticks_and_pages(void**) {
    auto st = parse_proc_stat(kStat);
    ProcClock clock{100, 4096, 1764489600};
    auto s = make_sample(*st, clock, 9, 1024, 1403u * 1024);
    assert_true(s.present);
    assert_int_equal(s.rss_bytes, 812u * 4096);
    assert_int_equal(s.vsize_bytes, 25100288);
    assert_int_equal(s.cpu_ms, 3250); // (250 + 75) ticks at 100 Hz
    assert_int_equal(s.start_time_ms, 1764489600000ull + 1234560);
    assert_int_equal(s.open_fds, 9);
    assert_int_equal(s.max_fds, 1024);
    assert_int_equal(s.pss_bytes, 1403u * 1024);
}

// The one test that reads /proc: this very process.
static void samples_this_process(void**) {
    auto s = sample_process(0, system_proc_clock());
    assert_true(s.present);
    assert_true(s.rss_bytes > 0);
    assert_true(s.vsize_bytes >= s.rss_bytes);
    assert_true(s.open_fds >= 3); // stdin, stdout, stderr
    assert_true(s.max_fds >= s.open_fds);
    assert_true(s.start_time_ms > 1500000000000ull);
    assert_false(sample_process(-1, system_proc_clock()).present);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_stat_fields_after_the_command),
        cmocka_unit_test(refuses_truncated_or_garbled_stat),
        cmocka_unit_test(parses_limits_pss_and_btime),
        cmocka_unit_test(converts_ticks_and_pages),
        cmocka_unit_test(samples_this_process),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
