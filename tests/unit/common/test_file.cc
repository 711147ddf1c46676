// Unit tests for src/common/file.cc: the capped reader every operator file goes
// through, at and around its limit, and dir_of().
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/file.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;

namespace {

std::string write_temp(const std::string& bytes) {
    char path[] = "/tmp/rh-test-file-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
    return path;
}

void reads_up_to_the_cap(void**) {
    std::string bytes(10000, 'x');
    bytes[9999] = 'y';
    std::string path = write_temp(bytes);
    std::string out, err;
    assert_true(read_file_capped(path, 10000, &out, &err));
    assert_true(out == bytes);
    assert_true(read_file_capped(path, 1 << 20, &out, &err));
    assert_true(out == bytes);
    // One byte over the cap is refused, and nothing is handed back.
    assert_false(read_file_capped(path, 9999, &out, &err));
    assert_string_equal(err.c_str(), "larger than 9999 bytes");
    assert_true(out.empty());
    unlink(path.c_str());
}

void size_in_the_error_uses_units(void**) {
    std::string path = write_temp(std::string(4097, 'a'));
    std::string out, err;
    assert_false(read_file_capped(path, 4096, &out, &err));
    assert_string_equal(err.c_str(), "larger than 4 KiB");
    unlink(path.c_str());
}

void empty_file_is_fine(void**) {
    std::string path = write_temp("");
    std::string out = "stale", err;
    assert_true(read_file_capped(path, 10, &out, &err));
    assert_true(out.empty());
    unlink(path.c_str());
}

void missing_file_and_directory(void**) {
    std::string out, err;
    assert_false(read_file_capped("/nonexistent/rh-test", 10, &out, &err));
    assert_string_equal(err.c_str(), "No such file or directory");
    assert_false(read_file_capped("/tmp", 10, &out, &err));
    assert_string_equal(err.c_str(), "Is a directory");
}

void dir_of_cases(void**) {
    assert_string_equal(dir_of("/etc/haproxy/haproxy.cfg").c_str(), "/etc/haproxy");
    assert_string_equal(dir_of("/haproxy.cfg").c_str(), "/");
    assert_string_equal(dir_of("haproxy.cfg").c_str(), ".");
    assert_string_equal(dir_of("a/b").c_str(), "a");
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_up_to_the_cap), cmocka_unit_test(size_in_the_error_uses_units),
        cmocka_unit_test(empty_file_is_fine),  cmocka_unit_test(missing_file_and_directory),
        cmocka_unit_test(dir_of_cases),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
