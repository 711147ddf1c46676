// Dropping privileges, in one place and in a fixed order (OpenSMTPD, OpenNTPD):
// check the chroot directory, chroot + chdir("/"), setgroups, setresgid,
// setresuid, PR_SET_NO_NEW_PRIVS, then verify that root cannot be regained.
#pragma once

#include <string>

namespace rh {

// While the whole file system is still visible: loads the name-service
// modules (a first getaddrinfo), which a chrooted engine could not find. The
// resolver's files inside the chroot are the parent's job (parent/chroot.h):
// the engine writes no file.
void load_name_service();

// Becomes `user` inside `chroot_dir` (empty: no chroot). Any failure is fatal:
// a half-dropped engine must never run.
void drop_privileges(const std::string& user, const std::string& chroot_dir);

// Checks a directory is fit to be a chroot: exists, owned by root, not
// writable by group or others (the rule is common/validate.h's
// chroot_dir_problem, which the configuration check uses too).
bool check_chroot_dir(const std::string& dir, std::string* err);

} // namespace rh
