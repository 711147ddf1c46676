#include "parent/outfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"

namespace rh {

namespace {

void set_err(std::string* err, std::string msg) {
    if (err)
        *err = std::move(msg);
}

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

bool fsync_dir(const std::string& dir, std::string* err) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errno_text("open directory", dir));
        return false;
    }
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc < 0) {
        set_err(err, errno_text("fsync directory", dir));
        return false;
    }
    return true;
}

struct Attributes {
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The mode and owner of the regular file at path, if there is one. lstat: a
// symlink planted where the output goes (say in a sticky, world-writable
// directory) must not lend us its target's owner; the rename replaces the
// link itself, never its target.
bool attributes_of(const std::string& path, Attributes* a, std::string* err) {
    struct stat st {};
    if (lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT)
            return true;
        set_err(err, errno_text("lstat", path));
        return false;
    }
    if (S_ISREG(st.st_mode)) {
        a->mode = st.st_mode & 07777;
        a->uid = st.st_uid;
        a->gid = st.st_gid;
    }
    return true;
}

} // namespace

bool file_has_content(const std::string& path, std::string_view bytes) {
    std::string have, err;
    return read_file_capped(path, bytes.size(), &have, &err) && have == bytes;
}

std::optional<PendingFile> PendingFile::create(const std::string& output, std::string_view bytes,
                                               std::string* err, FileAttributes attrs) {
    Attributes a;
    if (attrs == FileAttributes::keep && !attributes_of(output, &a, err))
        return std::nullopt;
    std::string base =
        output.substr(output.rfind('/') == std::string::npos ? 0 : output.rfind('/') + 1);
    std::string tmpl = dir_of(output) + "/." + base + ".tmpXXXXXX";
    int fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errno_text("create temporary file for", output));
        return std::nullopt;
    }
    PendingFile pf{output, tmpl};
    bool ok = write_all(fd, bytes);
    if (ok && fchmod(fd, a.mode) < 0)
        ok = false;
    // Only root can give a file away; an unprivileged caller (tests) keeps its own.
    if (ok && geteuid() == 0 && fchown(fd, a.uid, a.gid) < 0)
        ok = false;
    if (ok && fsync(fd) < 0)
        ok = false;
    int saved = errno;
    close(fd);
    errno = saved;
    if (!ok) {
        set_err(err, errno_text("write", tmpl));
        return std::nullopt;
    }
    return pf;
}

PendingFile::PendingFile(PendingFile&& o) noexcept
    : output_(std::move(o.output_)), temp_(std::move(o.temp_)) {
    o.temp_.clear();
}

PendingFile& PendingFile::operator=(PendingFile&& o) noexcept {
    if (this != &o) {
        discard();
        output_ = std::move(o.output_);
        temp_ = std::move(o.temp_);
        o.temp_.clear();
    }
    return *this;
}

PendingFile::~PendingFile() {
    discard();
}

void PendingFile::discard() {
    if (temp_.empty())
        return;
    unlink(temp_.c_str());
    temp_.clear();
}

bool PendingFile::commit(std::string* err) {
    if (temp_.empty()) {
        set_err(err, "rename to " + output_ + ": no temporary file");
        return false;
    }
    if (rename(temp_.c_str(), output_.c_str()) < 0) {
        set_err(err, errno_text("rename " + temp_ + " to", output_));
        discard();
        return false;
    }
    temp_.clear();
    return fsync_dir(dir_of(output_), err);
}

bool write_file_atomic(const std::string& path, std::string_view bytes, std::string* err,
                       FileAttributes attrs) {
    auto pf = PendingFile::create(path, bytes, err, attrs);
    return pf && pf->commit(err);
}

} // namespace rh
