// The parent's state file: the topology last applied to HAProxy, so a
// restart renders the same file and reloads nothing.
//   {"version":1,"clusters":{"NAME":{"host":"..","port":N,"epoch":N}}}
// Epochs are unsigned 64-bit. jansson's integers are signed 64-bit, so an
// epoch above 2^63-1 is written as a decimal string ("9223372036854775813");
// every smaller one stays a JSON number, as older versions wrote it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/master.h"

namespace rh {

// Pure: JSON text <-> state. parse_state rejects a file that is not JSON,
// has another version or no clusters object (nullopt, *err says why). An
// entry that is not exactly the format above (bad host, port out of range,
// an epoch that is negative or does not fit 64 bits, wrong types, other
// keys) is dropped alone, one line per entry in *dropped; the others load.
std::string format_state(const MasterMap& st);
std::optional<MasterMap> parse_state(const std::string& text, std::string* err,
                                     std::vector<std::string>* dropped = nullptr);

// A missing file is an empty state; an unreadable or corrupt one is logged
// (naming the path) and treated as empty; each dropped entry is logged.
MasterMap load_state(const std::string& path);
// Atomic: temp + fsync + rename + directory fsync.
bool save_state(const std::string& path, const MasterMap& st, std::string* err);

} // namespace rh
