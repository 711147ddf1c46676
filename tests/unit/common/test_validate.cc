// Unit tests for src/common/validate.cc: the rules the configuration parser
// and the protocol decoder share, each with what it accepts and rejects.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/validate.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;

namespace {

const ChrootWords words{"NOT-ROOT", "WRITABLE"};

void cluster_names_accepted(void**) {
    assert_true(valid_cluster_name("testing"));
    assert_true(valid_cluster_name("my-cluster_1.prod"));
    assert_true(valid_cluster_name("A"));
    assert_true(valid_cluster_name(std::string(kMaxClusterName, 'a')));
}

void cluster_names_rejected(void**) {
    assert_false(valid_cluster_name(""));
    assert_false(valid_cluster_name(std::string(kMaxClusterName + 1, 'a')));
    assert_false(valid_cluster_name("a/b"));
    assert_false(valid_cluster_name("a b"));
    assert_false(valid_cluster_name("a:b"));
    assert_false(valid_cluster_name("a\nb"));
    assert_false(valid_cluster_name(std::string("a\0b", 3)));
    assert_false(valid_cluster_name("caf\xc3\xa9")); // letters are ASCII only
    assert_false(valid_cluster_name("\xe9"));        // Latin-1 'e' with acute
}

void printable_accepts_text(void**) {
    assert_true(printable(""));
    assert_true(printable("/var/lib/redishappy"));
    assert_true(printable("a;b #c ~"));
    assert_true(printable("caf\xc3\xa9")); // UTF-8 passes
}

void printable_rejects_control_characters(void**) {
    assert_false(printable("a\nb"));
    assert_false(printable("a\tb"));
    assert_false(printable("a\rb"));
    assert_false(printable("\x1f"));
    assert_false(printable("\x7f"));
    assert_false(printable(std::string("a\0b", 3)));
}

void consul_mode_is_parsed_strictly(void**) {
    assert_true(parse_consul_mode("catalog") == ConsulMode::catalog);
    assert_true(parse_consul_mode("agent") == ConsulMode::agent);
    assert_false(parse_consul_mode("").has_value());
    assert_false(parse_consul_mode("Catalog").has_value());
    assert_false(parse_consul_mode("agent ").has_value());
    assert_string_equal(consul_mode_name(ConsulMode::agent), "agent");
    assert_string_equal(consul_mode_name(ConsulMode::catalog), "catalog");
}

void chroot_accepts_root_owned_directory(void**) {
    assert_string_equal(chroot_dir_problem("/", words).c_str(), "");
}

void chroot_rejects_missing_and_file(void**) {
    assert_string_equal(chroot_dir_problem("/nonexistent/rh-test", words).c_str(),
                        "No such file or directory");
    char path[] = "/tmp/rh-test-validate-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_string_equal(chroot_dir_problem(path, words).c_str(), "not a directory");
    unlink(path);
}

void chroot_rejects_other_owner(void**) {
    char path[] = "/tmp/rh-test-validate-XXXXXX";
    assert_non_null(mkdtemp(path));
    // mkdtemp makes a directory owned by the test's user; as root, give it away.
    if (geteuid() == 0)
        assert_int_equal(chown(path, 65534, static_cast<gid_t>(-1)), 0);
    assert_string_equal(chroot_dir_problem(path, words).c_str(), "NOT-ROOT");
    rmdir(path);
}

void chroot_rejects_writable(void**) {
    // /tmp is root's and world writable (mode 1777).
    assert_string_equal(chroot_dir_problem("/tmp", words).c_str(), "WRITABLE");
    if (geteuid() != 0)
        return;
    char path[] = "/tmp/rh-test-validate-XXXXXX";
    assert_non_null(mkdtemp(path));
    assert_string_equal(chroot_dir_problem(path, words).c_str(), "");
    assert_int_equal(chmod(path, 0720), 0);
    assert_string_equal(chroot_dir_problem(path, words).c_str(), "WRITABLE");
    rmdir(path);
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_names_accepted),
        cmocka_unit_test(cluster_names_rejected),
        cmocka_unit_test(printable_accepts_text),
        cmocka_unit_test(printable_rejects_control_characters),
        cmocka_unit_test(consul_mode_is_parsed_strictly),
        cmocka_unit_test(chroot_accepts_root_owned_directory),
        cmocka_unit_test(chroot_rejects_missing_and_file),
        cmocka_unit_test(chroot_rejects_other_owner),
        cmocka_unit_test(chroot_rejects_writable),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
