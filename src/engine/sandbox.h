// The engine's sandbox, entered right after the privilege drop (privsep.h)
// and before the first connection, as OpenSSH's pre-authentication child
// does: resource limits, then a seccomp allowlist. From then on the engine
// can talk over the sockets it has and opens, read the few resolver files of
// its chroot, and nothing else: it cannot fork, execute, create or write a
// file, map executable memory or ptrace. A forbidden system call kills the
// whole engine (SECCOMP_RET_KILL_PROCESS): the parent logs "killed by signal
// Bad system call" and starts a new one.
#pragma once

#include <string>

namespace rh {

struct SandboxOptions {
    // Threads (clone with CLONE_THREAD, never a new process): libcurl's
    // threaded resolver needs them for a Consul address that is a host name.
    // Set when [consul] is configured; then RLIMIT_NPROC is left alone,
    // since it counts threads too.
    bool threads = false;
};

// RLIMIT_CORE 0, RLIMIT_FSIZE 0 (unless stdout or stderr is a regular file,
// as with -d and the log redirected to a file: its first line would kill the
// engine with SIGXFSZ), RLIMIT_NPROC 0 (unless threads), then the filter
// (which sets PR_SET_NO_NEW_PRIVS). False with *err when a step
// fails; the engine then must not run (enter_sandbox is fatal).
bool install_sandbox(const SandboxOptions& opts, std::string* err);
void enter_sandbox(const SandboxOptions& opts);

} // namespace rh
