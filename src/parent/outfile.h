// Replacing a root-owned file atomically: a fsync'ed temporary file next to
// it, renamed over it, then the directory fsync'ed. Local I/O only, which the
// parent may do on its loop.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rh {

// keep: the new file gets the mode and owner of the regular file it
// replaces (0644 root:root when there is none, or when the path is a
// symlink or anything but a regular file: a link is never followed).
// fresh: always 0644 root:root.
enum class FileAttributes { keep, fresh };

// True when path exists and holds exactly bytes.
bool file_has_content(const std::string& path, std::string_view bytes);

// A fsync'ed temporary file next to the output; commit() renames it over the
// output and fsyncs the directory, otherwise the destructor removes it.
class PendingFile {
  public:
    // Writes bytes to a new temp file in output's directory, with the mode
    // and owner attrs says.
    static std::optional<PendingFile> create(const std::string& output, std::string_view bytes,
                                             std::string* err,
                                             FileAttributes attrs = FileAttributes::keep);
    PendingFile(PendingFile&& o) noexcept;
    PendingFile& operator=(PendingFile&& o) noexcept;
    PendingFile(const PendingFile&) = delete;
    ~PendingFile();

    const std::string& temp_path() const { return temp_; }
    bool commit(std::string* err);
    void discard();

  private:
    PendingFile(std::string output, std::string temp)
        : output_(std::move(output)), temp_(std::move(temp)) {}
    std::string output_, temp_;
};

// Writes bytes to path atomically (temp + fsync + rename + directory fsync).
bool write_file_atomic(const std::string& path, std::string_view bytes, std::string* err,
                       FileAttributes attrs = FileAttributes::keep);

} // namespace rh
