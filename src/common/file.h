// Reading and naming files: the few helpers every reader of an operator's
// file needs, so each reads with the same size cap and the same errors.
#pragma once

#include <cstddef>
#include <string>

namespace rh {

// Reads all of path when it holds at most max bytes, without ever holding
// more than max + 1 bytes in memory. On failure returns false and sets *err
// to the reason, without the path: strerror() of the open or read error
// ("Is a directory"), or "larger than N bytes" (N in KiB or MiB when it
// divides).
bool read_file_capped(const std::string& path, size_t max, std::string* out, std::string* err);

// The directory part of path: "." for a bare file name, "/" for "/name".
std::string dir_of(const std::string& path);

} // namespace rh
