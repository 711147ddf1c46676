// The parent's state file: the topology last applied to HAProxy, so a
// restart renders the same file and reloads nothing.
//   {"version":1,"clusters":{"NAME":{"host":"..","port":N,"epoch":N}}}
#pragma once

#include <optional>
#include <string>

#include "common/master.h"

namespace rh {

// Pure: JSON text <-> state. parse_state rejects anything not exactly the
// format above (bad host, port out of range, wrong types, other version).
std::string format_state(const MasterMap& st);
std::optional<MasterMap> parse_state(const std::string& text, std::string* err);

// A missing file is an empty state; an unreadable or corrupt one is logged
// (naming the path) and treated as empty.
MasterMap load_state(const std::string& path);
// Atomic: temp + fsync + rename + directory fsync.
bool save_state(const std::string& path, const MasterMap& st, std::string* err);

} // namespace rh
