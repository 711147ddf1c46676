// redishappyctl's view of the API: turns the JSON the daemon serves into the
// tables an operator reads. Pure, no I/O, so every shape of reply (including
// the original redishappy's sparser one, or a broken one) is unit-tested.
//
// The replies come from a process that talks to the network, so nothing in
// them is trusted: the top-level shape is checked, missing or mistyped
// fields print as "-", and every string is stripped of control characters
// before it reaches the terminal.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"

namespace rh::ctl {

// The outcome of formatting one reply: text to print, or why it could not be.
struct Formatted {
    std::string text;
    std::string error; // non-empty: the reply was not what the API serves
};

// `status`: one row per cluster, then one row per Sentinel.
Formatted format_status(std::string_view topology_json, std::string_view sentinels_json);
// `topology`: one block per cluster with everything the API says about it.
Formatted format_topology(std::string_view topology_json);
// `sentinels`: one row per Sentinel.
Formatted format_sentinels(std::string_view sentinels_json);
// `health`: "ok", or "unhealthy" and one reason per line. *healthy is set
// from the body's status field, which must agree with http_status (200/503).
Formatted format_health(std::string_view health_json, long http_status, bool* healthy);

// `events`: one row per event of /api/events, oldest first, reasons in
// words.
Formatted format_events(std::string_view events_json);
// The "error" of an API error body ({"error": "..."}), printable;
// "(no reason given)" when there is none.
std::string error_of(std::string_view body);
// The reason code of an event in words ("min-agreement" -> "not enough
// trusted Sentinels agree (min_agreement)"); an unknown code as itself.
std::string reason_words(std::string_view kind, std::string_view reason);
// Unix milliseconds as "2026-11-30T12:05:10.123Z".
std::string utc_ms(long long ms);

// Where to reach the API of a daemon whose configuration lists these
// api_listen addresses: the first one, with a wildcard (0.0.0.0, ::) replaced
// by the loopback address of its family. nullopt when the API is disabled.
std::optional<HostPort> api_address(const std::vector<HostPort>& api_listen);

// The JSON text re-encoded with every non-ASCII character, DEL included, as
// a \u escape, compact, with a final newline. Sets *err when it is not JSON.
std::string ascii_json(std::string_view json, std::string* err);

// Left-aligned columns separated by two spaces; the first row is the header.
// A cell longer than kMaxCell is cut there and marked "...".
inline constexpr size_t kMaxCell = 256;
std::string render_table(const std::vector<std::vector<std::string>>& rows);
// Replaces control characters and bytes >= 0x7f with \xNN, so a reply cannot
// move the cursor or retitle the terminal. Empty input gives "-".
std::string printable(std::string_view s);

} // namespace rh::ctl
