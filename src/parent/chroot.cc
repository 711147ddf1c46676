#include "parent/chroot.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"
#include "parent/outfile.h"

namespace rh {

namespace {

// Resolver files are a few KiB; a larger one is not a resolver file.
constexpr size_t kResolverFileCap = 1024 * 1024;

} // namespace

bool copy_resolver_files(const std::string& chroot_dir, std::string* err) {
    if (chroot_dir.empty())
        return true;
    std::string etc = chroot_dir + "/etc";
    if (mkdir(etc.c_str(), 0755) != 0 && errno != EEXIST) {
        *err = etc + ": " + strerror(errno);
        return false;
    }
    for (const char* f : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
                          "/etc/host.conf"}) {
        struct stat st;
        if (stat(f, &st) != 0 && errno == ENOENT)
            continue; // nothing to copy is fine
        std::string bytes, why;
        if (!read_file_capped(f, kResolverFileCap, &bytes, &why)) {
            *err = std::string(f) + ": " + why;
            return false;
        }
        std::string to = chroot_dir + f;
        if (file_has_content(to, bytes))
            continue;
        if (!write_file_atomic(to, bytes, err))
            return false;
    }
    return true;
}

} // namespace rh
