// The engine's chroot, made ready by the parent: the engine has no code that
// writes a file, so the resolver's files libcurl needs inside the chroot (to
// resolve a Consul host name with the C library) are copied by the parent,
// as root, before each engine starts -- only when [consul] is configured.
// Sentinel and master names need nothing there: the engine's own resolver
// (engine/resolver.h) reads resolv.conf and hosts before the chroot.
#pragma once

#include <string>

namespace rh {

// Copies /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf, /etc/gai.conf and
// /etc/host.conf into <chroot_dir>/etc (created 0755 when missing), each
// replaced atomically; a file the host does not have is skipped. Does
// nothing for an empty chroot_dir. False with *err on the first failure.
bool copy_resolver_files(const std::string& chroot_dir, std::string* err);

} // namespace rh
