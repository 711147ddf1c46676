// Unit tests for the logger (src/common/log.cc): every message is escaped so
// that text from the network cannot start a line of its own, and repeated
// messages are rate-limited and counted. The foreground sink writes to
// stderr; each test points stderr at a pipe and reads back what was logged.
#include "../../cmocka.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/log.h"

using namespace rh;

namespace {

// stderr redirected into a pipe for the lifetime of the object.
class Capture {
  public:
    Capture() {
        assert_int_equal(pipe(fds_), 0);
        fcntl(fds_[0], F_SETFL, O_NONBLOCK);
        fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20); // room for a whole test's lines
        saved_ = dup(2);
        dup2(fds_[1], 2);
    }
    ~Capture() {
        dup2(saved_, 2);
        close(saved_);
        close(fds_[0]);
        close(fds_[1]);
    }
    std::string text() {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = read(fds_[0], buf, sizeof buf)) > 0)
            out.append(buf, static_cast<size_t>(n));
        return out;
    }

  private:
    int fds_[2] = {-1, -1};
    int saved_ = -1;
};

size_t count(const std::string& s, std::string_view what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
        n++;
    return n;
}

int64_t fake_now = 0;
int64_t fake_clock() {
    return fake_now;
}

int setup(void**) {
    fake_now = 1000000;
    log::set_clock_for_tests(fake_clock);
    log::init("test", true, LOG_DAEMON, log::Level::info);
    return 0;
}

std::string escaped(std::string_view s) {
    std::string out;
    log::escape(s, &out);
    return out;
}

} // namespace

static void escapes_control_characters(void**) {
    assert_string_equal(escaped("a\nb\rc\td").c_str(), "a\\nb\\rc\\td");
    assert_string_equal(escaped(std::string_view("\x00\x1b[31m\x7f", 7)).c_str(),
                        "\\x00\\x1b[31m\\x7f");
    assert_string_equal(escaped("back\\slash").c_str(), "back\\\\slash");
}

static void keeps_utf8_and_escapes_invalid_bytes(void**) {
    assert_string_equal(escaped("caf\xc3\xa9 \xe2\x82\xac").c_str(), "caf\xc3\xa9 \xe2\x82\xac");
    // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate.
    assert_string_equal(escaped("\x80").c_str(), "\\x80");
    assert_string_equal(escaped("\xe2\x82").c_str(), "\\xe2\\x82");
    assert_string_equal(escaped("\xc0\xaf").c_str(), "\\xc0\\xaf");
    assert_string_equal(escaped("\xed\xa0\x80").c_str(), "\\xed\\xa0\\x80");
}

// The line a Sentinel error tried to forge stays inside one line.
static void forged_line_stays_one_line(void**) {
    Capture cap;
    log::warn(
        "sentinel %s: %s", "127.0.0.1:26379",
        "ERR x\n07:00:00.000 parent[1] notice: cluster testing: confirmed master 6.6.6.6:6379");
    std::string out = cap.text();
    assert_int_equal(count(out, "\n"), 1);
    assert_non_null(strstr(out.c_str(), "ERR x\\n07:00:00.000 parent[1] notice"));
}

static void repeated_messages_are_suppressed_and_counted(void**) {
    Capture cap;
    for (int i = 0; i < 1000; i++)
        log::warn("api: accept failed: %d", i);
    log::info("something else");
    std::string first = cap.text();
    assert_int_equal(count(first, "accept failed"), log::burst);
    assert_int_equal(count(first, "something else"), 1);
    assert_int_equal(count(first, "suppressed"), 0);

    fake_now += log::window_ms; // the window is over: the next line reports the count
    log::info("later");
    std::string second = cap.text();
    assert_non_null(strstr(second.c_str(), "980 similar messages suppressed (like: api: accept "
                                           "failed: 20)"));
    assert_int_equal(count(second, "\n"), 2);
}

// A bare "%s" template is limited by its text, not shared by every caller.
static void bare_format_is_limited_by_text(void**) {
    Capture cap;
    for (int i = 0; i < 100; i++) {
        log::error("%s", "same text");
        log::error("%s", i % 2 ? "odd" : "even");
    }
    std::string out = cap.text();
    assert_int_equal(count(out, "same text"), log::burst);
    assert_int_equal(count(out, "odd"), log::burst);
    assert_int_equal(count(out, "even"), log::burst);
}

// However the lines vary (a Sentinel controls the text of many of them),
// one window admits at most 64 slots x 20 lines: a new template never
// reopens a budget that is spent.
static void any_mix_of_templates_is_bounded(void**) {
    Capture c;
    for (int i = 0; i < 5000; i++)
        log::warn("%s", ("varied text " + std::to_string(i)).c_str());
    std::string out = c.text();
    size_t lines = count(out, "\n");
    size_t admitted = count(out, "varied text") - count(out, "suppressed (like:");
    assert_true(admitted <= 64 * 20);
    assert_true(lines <= 64 * 20 + 64);
}

static void debug_lines_are_not_limited(void**) {
    log::set_level(log::Level::debug);
    Capture cap;
    for (int i = 0; i < 100; i++)
        log::debug("tick %d", i);
    assert_int_equal(count(cap.text(), "tick"), 100);
    log::set_level(log::Level::info);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_control_characters),
        cmocka_unit_test(keeps_utf8_and_escapes_invalid_bytes),
        cmocka_unit_test_setup(forged_line_stays_one_line, setup),
        cmocka_unit_test_setup(repeated_messages_are_suppressed_and_counted, setup),
        cmocka_unit_test_setup(bare_format_is_limited_by_text, setup),
        cmocka_unit_test_setup(any_mix_of_templates_is_bounded, setup),
        cmocka_unit_test_setup(debug_lines_are_not_limited, setup),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
