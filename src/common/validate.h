// The one home of the validation rules both processes apply: the parser
// checks the configuration with them, the protocol decoder checks every
// message with them again, and the engine re-checks its chroot directory
// with the same rule the parent's -n check used. Pure but for the stat() of
// chroot_dir_problem().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rh {

// How the engine registers with Consul: in the catalog under a node of its
// own, or through the local agent. The wire value (proto) is the number.
enum class ConsulMode : uint8_t { catalog = 1, agent = 2 };
// "catalog" or "agent"; nullopt for anything else.
std::optional<ConsulMode> parse_consul_mode(std::string_view s);
const char* consul_mode_name(ConsulMode m);

// The longest cluster name ([cluster NAME], Sentinel's master name).
inline constexpr size_t kMaxClusterName = 64;
// [consul] instance: written in Consul's service Meta (values up to 512).
inline constexpr size_t kMaxConsulInstance = 256;

// 1..kMaxClusterName of ASCII letters, digits, '.', '_' and '-'.
bool valid_cluster_name(std::string_view s);

// No control character: no byte below 0x20, no DEL. Bytes from 0x80 up (UTF-8)
// pass. Every name, path and identifier that crosses the socketpair is
// printable, and so is every configuration value that becomes one.
bool printable(std::string_view s);

// How a caller words the two chroot faults whose text differs between the
// configuration check ("not owned by root") and the engine's privilege drop
// ("must be owned by root"); both texts are part of their messages as before.
struct ChrootWords {
    const char* not_root_owned;
    const char* writable; // by group or others
};

// Whether dir can be the engine's chroot: it exists, is a directory, is owned
// by root and is not writable by group or others. Returns "" when it can,
// else the reason (stat()'s error text, "not a directory", or one of words);
// the caller puts it into its own message.
std::string chroot_dir_problem(const std::string& dir, const ChrootWords& words);

} // namespace rh
