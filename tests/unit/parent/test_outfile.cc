// Unit tests for src/parent/outfile.cc: which mode and owner a replaced
// file gets. A symlink where the output goes is never followed: the new
// file is 0644 root:root and the link's target is left alone. The owner
// checks need root (to hand a file to another uid); without it they are
// skipped and only the modes are checked.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "parent/outfile.h"

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

namespace {

constexpr uid_t kOtherUid = 65534; // nobody
constexpr gid_t kOtherGid = 65534;

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/rh-outfile.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir() {
        for (const char* f : {"/out", "/victim", "/pid"})
            unlink((path + f).c_str());
        rmdir(path.c_str());
    }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A file "owned by someone else": another uid when root, else only a mode.
void plant(const std::string& path, mode_t mode) {
    std::ofstream(path) << "theirs\n";
    assert_int_equal(chmod(path.c_str(), mode), 0);
    if (geteuid() == 0)
        assert_int_equal(chown(path.c_str(), kOtherUid, kOtherGid), 0);
}

void expect_root_0644(const std::string& path) {
    struct stat st {};
    assert_int_equal(lstat(path.c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_gid, 0);
    }
}

void symlink_is_never_followed(void**) {
    TempDir d;
    std::string victim = d.path + "/victim", out = d.path + "/out";
    plant(victim, 0600);
    assert_int_equal(symlink(victim.c_str(), out.c_str()), 0);
    std::string err;
    auto pf = PendingFile::create(out, "ours\n", &err);
    assert_true(pf.has_value());
    assert_true(pf->commit(&err));
    expect_root_0644(out); // the link was replaced, with nothing of the target
    assert_string_equal(slurp(out).c_str(), "ours\n");
    struct stat st {};
    assert_int_equal(lstat(victim.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(slurp(victim).c_str(), "theirs\n");
    if (geteuid() == 0)
        assert_int_equal(st.st_uid, kOtherUid);
}

// The pid file is written fresh: whatever is there lends it nothing.
void fresh_ignores_what_is_there(void**) {
    TempDir d;
    std::string pid = d.path + "/pid";
    plant(pid, 0666);
    std::string err;
    assert_true(write_file_atomic(pid, "42\n", &err, FileAttributes::fresh));
    expect_root_0644(pid);
    assert_string_equal(slurp(pid).c_str(), "42\n");
}

// A regular file's mode and owner are still kept (haproxy.cfg).
void regular_file_keeps_mode_and_owner(void**) {
    if (geteuid() != 0) {
        skip(); // handing a file to another uid needs root
        return;
    }
    TempDir d;
    std::string out = d.path + "/out";
    plant(out, 0640);
    std::string err;
    assert_true(write_file_atomic(out, "ours\n", &err));
    struct stat st {};
    assert_int_equal(lstat(out.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_uid, kOtherUid);
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(symlink_is_never_followed),
        cmocka_unit_test(fresh_ignores_what_is_there),
        cmocka_unit_test(regular_file_keeps_mode_and_owner),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
