// The engine's chroot, made ready by the parent: the engine has no code that
// writes a file, so the resolver's files it needs inside the chroot (to
// resolve Sentinel, master and Consul host names) are copied by the parent,
// as root, before each engine starts.
#pragma once

#include <string>

namespace rh {

// Copies /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf, /etc/gai.conf and
// /etc/host.conf into <chroot_dir>/etc (created 0755 when missing), each
// replaced atomically; a file the host does not have is skipped. Does
// nothing for an empty chroot_dir. False with *err on the first failure.
bool copy_resolver_files(const std::string& chroot_dir, std::string* err);

} // namespace rh
