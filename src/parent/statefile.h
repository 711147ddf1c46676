// The parent's state file: the topology last applied to HAProxy, so a
// restart renders the same file and reloads nothing.
//   {"version":1,"clusters":{"NAME":{"host":"..","port":N,"epoch":N}}}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/address.h"

namespace rh {

struct AppliedMaster {
    HostPort master;
    uint64_t epoch = 0;
    bool operator==(const AppliedMaster&) const = default;
};
using AppliedState = std::map<std::string, AppliedMaster>; // by cluster name

// Pure: JSON text <-> state. parse_state rejects anything not exactly the
// format above (bad host, port out of range, wrong types, other version).
std::string format_state(const AppliedState& st);
std::optional<AppliedState> parse_state(const std::string& text, std::string* err);

// A missing file is an empty state; an unreadable or corrupt one is logged
// (naming the path) and treated as empty.
AppliedState load_state(const std::string& path);
// Atomic: temp + fsync + rename + directory fsync.
bool save_state(const std::string& path, const AppliedState& st, std::string* err);

} // namespace rh
