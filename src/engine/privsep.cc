#include "engine/privsep.h"

#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

namespace {

bool copy_file(const std::string& from, const std::string& to, std::string* err) {
    int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT; // nothing to copy is fine
    std::string tmp = to + ".tmp";
    int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (out < 0) {
        *err = tmp + ": " + strerror(errno);
        ::close(in);
        return false;
    }
    char buf[8192];
    ssize_t n;
    bool ok = true;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, static_cast<size_t>(n)) != n) {
            ok = false;
            break;
        }
    }
    if (n < 0)
        ok = false;
    ::close(in);
    if (::close(out) != 0)
        ok = false;
    if (!ok || rename(tmp.c_str(), to.c_str()) != 0) {
        *err = to + ": " + strerror(errno);
        unlink(tmp.c_str());
        return false;
    }
    return true;
}

} // namespace

bool prepare_chroot(const std::string& chroot_dir, std::string* err) {
    // Loads the NSS modules (files, dns) while /lib is still visible.
    addrinfo* res = nullptr;
    if (getaddrinfo("localhost", nullptr, nullptr, &res) == 0)
        freeaddrinfo(res);
    if (chroot_dir.empty())
        return true;
    std::string etc = chroot_dir + "/etc";
    if (mkdir(etc.c_str(), 0755) != 0 && errno != EEXIST) {
        *err = etc + ": " + strerror(errno);
        return false;
    }
    for (const char* f : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
                          "/etc/host.conf"}) {
        if (!copy_file(f, chroot_dir + f, err))
            return false;
    }
    return true;
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
