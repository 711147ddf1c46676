#include "engine/privsep.h"

#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/validate.h"

namespace rh {

bool check_chroot_dir(const std::string& dir, std::string* err) {
    auto why = chroot_dir_problem(
        dir, {"must be owned by root", "must not be writable by group or others"});
    if (why.empty())
        return true;
    *err = "chroot " + dir + ": " + why;
    return false;
}

void load_name_service() {
    addrinfo* res = nullptr;
    if (getaddrinfo("localhost", nullptr, nullptr, &res) == 0)
        freeaddrinfo(res);
}

void drop_privileges(const std::string& user, const std::string& chroot_dir) {
    passwd* pw = getpwnam(user.c_str());
    if (!pw)
        log::fatalx("user %s: no such user", user.c_str());
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (uid == 0)
        log::fatalx("user %s: refusing to run the engine as root", user.c_str());

    if (!chroot_dir.empty()) {
        std::string err;
        if (!check_chroot_dir(chroot_dir, &err))
            log::fatalx("%s", err.c_str());
        if (chroot(chroot_dir.c_str()) != 0)
            log::fatal("chroot %s", chroot_dir.c_str());
        if (chdir("/") != 0)
            log::fatal("chdir /");
    }
    if (setgroups(1, &gid) != 0)
        log::fatal("setgroups");
    if (setresgid(gid, gid, gid) != 0)
        log::fatal("setresgid %u", static_cast<unsigned>(gid));
    if (setresuid(uid, uid, uid) != 0)
        log::fatal("setresuid %u", static_cast<unsigned>(uid));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        log::fatal("prctl PR_SET_NO_NEW_PRIVS");

    // Verify: none of these may succeed once the drop is complete.
    if (setuid(0) == 0 || seteuid(0) == 0)
        log::fatalx("privilege drop failed: root could be regained");
    if (setgid(0) == 0 || setegid(0) == 0)
        log::fatalx("privilege drop failed: group root could be regained");
    uid_t r, e, s;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
        log::fatalx("privilege drop failed: uids are not all %u", static_cast<unsigned>(uid));
    log::info("running as %s (uid %u)%s%s", user.c_str(), static_cast<unsigned>(uid),
              chroot_dir.empty() ? "" : " in ", chroot_dir.c_str());
}

} // namespace rh
