// The HAProxy configuration file: template data, rendering, and atomic
// replacement of the output. Rendering is pure; the file functions do local
// I/O only (write, fsync, rename), which the parent may do on its loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address.h"

namespace rh {

struct HaproxyCluster {
    std::string name;
    uint16_t external_port = 0;
    std::optional<HostPort> master; // nullopt: rendered with has_master false
    uint64_t epoch = 0;
    std::string backend, server; // runtime-socket names of the cluster's server line

    bool operator==(const HaproxyCluster&) const = default;
};

// Parses the template; on failure says why in *err (when given).
bool check_template(const std::string& text, std::string* err);

// Renders text with clusters sorted by name. Values are inserted verbatim:
// {{x}} and {{{x}}} are the same (no HTML escaping). Hosts are not re-checked
// here; callers only pass hosts that went through valid_host().
std::optional<std::string> render(const std::string& text, std::vector<HaproxyCluster> clusters,
                                  std::string* err);

// True when path exists and holds exactly bytes.
bool file_has_content(const std::string& path, std::string_view bytes);

// Single-quotes s for /bin/sh.
std::string shell_quote(std::string_view s);
// Replaces every "%s" in cmd with shell_quote(path); "%%" becomes "%".
std::string substitute_path(std::string_view cmd, std::string_view path);

// A fsync'ed temporary file next to the output; commit() renames it over the
// output and fsyncs the directory, otherwise the destructor removes it.
class PendingFile {
  public:
    // Writes bytes to a new temp file in output's directory, with the mode
    // and owner of the existing output (0644 root:root when there is none).
    static std::optional<PendingFile> create(const std::string& output, std::string_view bytes,
                                             std::string* err);
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
bool write_file_atomic(const std::string& path, std::string_view bytes, std::string* err);

} // namespace rh
