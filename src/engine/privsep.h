// Dropping privileges, in one place and in a fixed order (OpenSMTPD, OpenNTPD):
// check the chroot directory, chroot + chdir("/"), setgroups, setresgid,
// setresuid, PR_SET_NO_NEW_PRIVS, then verify that root cannot be regained.
#pragma once

#include <string>

namespace rh {

// Everything the engine must do while still root and before the chroot:
// load the name-service modules (a first getaddrinfo) and copy the resolver's
// files into <chroot>/etc so host names keep resolving inside the chroot.
// Returns false with *err on failure.
bool prepare_chroot(const std::string& chroot_dir, std::string* err);

// Becomes `user` inside `chroot_dir` (empty: no chroot). Any failure is fatal:
// a half-dropped engine must never run.
void drop_privileges(const std::string& user, const std::string& chroot_dir);

// Checks a directory is fit to be a chroot: exists, owned by root, not
// writable by group or others (the rule is common/validate.h's
// chroot_dir_problem, which the configuration check uses too).
bool check_chroot_dir(const std::string& dir, std::string* err);

} // namespace rh
