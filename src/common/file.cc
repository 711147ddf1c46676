#include "common/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace rh {

namespace {

struct FileClose {
    void operator()(FILE* f) const { fclose(f); }
};

std::string size_text(size_t n) {
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        return std::to_string(n >> 20) + " MiB";
    if (n >= 1024 && n % 1024 == 0)
        return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " bytes";
}

} // namespace

bool read_file_capped(const std::string& path, size_t max, std::string* out, std::string* err) {
    std::unique_ptr<FILE, FileClose> f(fopen(path.c_str(), "re"));
    if (!f) {
        *err = strerror(errno);
        return false;
    }
    out->clear();
    char buf[8192];
    int read_errno = 0;
    while (out->size() <= max) {
        size_t want = std::min(sizeof buf, max + 1 - out->size());
        errno = 0;
        size_t n = fread(buf, 1, want, f.get());
        read_errno = errno;
        out->append(buf, n);
        if (n < want)
            break;
    }
    if (ferror(f.get())) {
        *err = read_errno ? strerror(read_errno) : "read error";
        out->clear();
        return false;
    }
    if (out->size() > max) {
        *err = "larger than " + size_text(max);
        out->clear();
        return false;
    }
    return true;
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

} // namespace rh
