// The allowlist was derived by running the daemon under strace -f through
// the integration tests (test_engine.py: Sentinels and failovers;
// test_consul.py: libcurl towards a Consul; a Sentinel given by host name,
// which hiredis resolves with a blocking getaddrinfo) and listing what the
// engine called after the privilege drop: epoll_ctl/epoll_wait, accept4,
// read/readv/write/writev, socket/connect/getsockopt/setsockopt/
// getsockname/getpeername/shutdown/close, fcntl(F_GETFL/F_SETFL),
// ioctl(FIONREAD), socketpair (libcurl's wake-up pair), poll (libcurl),
// recvfrom/sendto and openat/newfstatat/lseek/read of /etc/hosts and
// resolv.conf, uname (the resolver), brk/madvise/futex, getpid (the log),
// rt_sigaction (libevent restoring handlers at exit), exit_group. To those
// are added what libc does on paths the tests do not reach without giving a
// new power: mmap/munmap/mremap for large replies, the *_pwait and ppoll
// forms other architectures use, time, getrandom (OpenSSL), rt_sigreturn
// (a signal handler returning), sendmmsg (A and AAAA queries together).
// The engine's own resolver (resolver.h, evdns) added nothing: its UDP
// sockets are opened before the drop and used with sendto/recvfrom; the
// resolver-file reads above remain for libcurl (Consul) only.
#include "engine/sandbox.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.h"

namespace rh {

namespace {

// Allowed whatever their arguments. Names, not numbers: a name the
// architecture does not have (open on arm64) is skipped.
constexpr const char* kAllowed[] = {
    // the loop: libevent's epoll backend, its timers and signals (whose
    // handlers it restores with rt_sigaction when the engine stops)
    "epoll_ctl", "epoll_wait", "epoll_pwait", "poll", "ppoll", "clock_gettime", "clock_getres",
    "gettimeofday", "time", "nanosleep", "clock_nanosleep", "rt_sigreturn", "rt_sigprocmask",
    "rt_sigaction", "restart_syscall",
    // an alternate signal stack (the sanitizers' runtimes set one at exit)
    "sigaltstack",
    // descriptors it already has or opens: sockets, the channel, resolver files
    // (lseek and shutdown only above stderr: allow_restricted)
    "read", "readv", "write", "writev", "close", "fstat", "newfstatat", "statx", "recvfrom",
    "recvmsg", "sendto", "sendmsg", "sendmmsg", "connect", "accept", "accept4", "getsockname",
    "getpeername", "getsockopt", "setsockopt",
    // memory
    "brk", "munmap", "mremap", "madvise", "futex",
    // the rest of libc
    "getrandom", "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "uname",
    "sched_yield", "exit", "exit_group"};

using Ctx = std::unique_ptr<void, decltype(&seccomp_release)>;

int allow(scmp_filter_ctx ctx, const char* name, unsigned n = 0,
          const scmp_arg_cmp* args = nullptr) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; // not on this architecture
    return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, args);
}

int allow1(scmp_filter_ctx ctx, const char* name, scmp_arg_cmp a) {
    return allow(ctx, name, 1, &a);
}

// open and openat read-only: the resolver reads /etc/hosts, resolv.conf and
// friends (the parent's copies inside the chroot). Writing, creating or
// truncating matches no rule and so kills.
int allow_reading_files(scmp_filter_ctx ctx) {
    const auto write_flags = static_cast<scmp_datum_t>(O_ACCMODE | O_CREAT | O_TRUNC);
    int rc = allow1(ctx, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, write_flags, 0));
    if (rc == 0)
        rc = allow1(ctx, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, write_flags, 0));
    return rc;
}

// Memory may be mapped and protected, never executable (no code loaded or
// generated after the drop); fcntl and ioctl only for what sockets need.
int allow_restricted(scmp_filter_ctx ctx) {
    const auto exec = static_cast<scmp_datum_t>(PROT_EXEC);
    int rc = 0;
    auto add = [&](int r) {
        if (rc == 0)
            rc = r;
    };
    add(allow1(ctx, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, exec, 0)));
    add(allow1(ctx, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, exec, 0)));
    for (int cmd : {F_GETFL, F_GETFD, F_SETFD})
        add(allow1(ctx, "fcntl", SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(cmd))));
    // The standard descriptors are the parent's too (its log, in the
    // foreground): the engine may not change their flags (O_APPEND), seek
    // them or shut them down.
    const scmp_arg_cmp own_fd = SCMP_A0(SCMP_CMP_GT, 2);
    const scmp_arg_cmp setfl = SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(F_SETFL));
    const scmp_arg_cmp fd_and_setfl[] = {own_fd, setfl};
    add(allow(ctx, "fcntl", 2, fd_and_setfl));
    add(allow1(ctx, "lseek", own_fd));
    add(allow1(ctx, "shutdown", own_fd));
    for (unsigned long req : {FIONREAD, FIONBIO})
        add(allow1(ctx, "ioctl", SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(req))));
    // IPv4, IPv6, and AF_UNIX/AF_NETLINK for the resolver (nscd, the
    // interface list of AI_ADDRCONFIG); no raw or packet sockets, and of
    // netlink only NETLINK_ROUTE (NETLINK_SOCK_DIAG would list the host's
    // sockets, which the chroot hides).
    for (int family : {AF_UNIX, AF_INET, AF_INET6})
        add(allow1(ctx, "socket", SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))));
    const scmp_arg_cmp route[] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
                                  SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE)};
    add(allow(ctx, "socket", 2, route));
    add(allow1(ctx, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX)));
    // abort() and raise() signal this process only.
    add(allow1(ctx, "tgkill", SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()))));
    return rc;
}

// Threads for libcurl's resolver: clone only with CLONE_THREAD, which
// cannot make a new process. clone3 passes its flags in memory the filter
// cannot read: it fails with ENOSYS, and glibc falls back to clone.
int allow_threads(scmp_filter_ctx ctx) {
    const auto thread = static_cast<scmp_datum_t>(CLONE_THREAD);
    int rc = allow1(ctx, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, thread, thread));
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (rc == 0 && clone3 != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
    // What a resolving thread called under strace, besides the loop's own
    // calls: its stack (mmap, mprotect), set_robust_list, rseq, exit; and
    // sched_getaffinity, which the sanitizers' runtimes ask as one starts.
    for (const char* name : {"set_robust_list", "rseq", "sched_getaffinity"})
        if (rc == 0)
            rc = allow(ctx, name);
    return rc;
}

// True when stdout or stderr is a regular file (-d with the log redirected
// to a file): RLIMIT_FSIZE 0 would kill the engine at its first log line.
bool logs_to_a_file() {
    for (int fd : {1, 2}) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            return true;
    }
    return false;
}

bool set_limit(int resource, const char* name, std::string* err) {
    rlimit zero{0, 0};
    if (setrlimit(resource, &zero) == 0)
        return true;
    *err = std::string("setrlimit ") + name + ": " + strerror(errno);
    return false;
}

bool set_limits(const SandboxOptions& opts, std::string* err) {
    if (!set_limit(RLIMIT_CORE, "RLIMIT_CORE", err))
        return false;
    if (!logs_to_a_file() && !set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", err))
        return false;
    return opts.threads || set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", err);
}

} // namespace

bool install_sandbox(const SandboxOptions& opts, std::string* err) {
    if (!set_limits(opts, err))
        return false;
    Ctx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS), &seccomp_release);
    if (!ctx) {
        *err = "seccomp_init failed";
        return false;
    }
    int rc = 0;
    for (const char* name : kAllowed)
        if (rc == 0)
            rc = allow(ctx.get(), name);
    if (rc == 0)
        rc = allow_reading_files(ctx.get());
    if (rc == 0)
        rc = allow_restricted(ctx.get());
    if (rc == 0 && opts.threads)
        rc = allow_threads(ctx.get());
    if (rc == 0)
        rc = seccomp_load(ctx.get()); // sets PR_SET_NO_NEW_PRIVS first
    if (rc != 0) {
        *err = std::string("seccomp: ") + strerror(-rc);
        return false;
    }
    return true;
}

void enter_sandbox(const SandboxOptions& opts) {
    std::string err;
    if (!install_sandbox(opts, &err))
        log::fatalx("sandbox: %s", err.c_str());
    log::info("sandbox: seccomp allowlist installed%s%s",
              opts.threads ? "; threads allowed for libcurl's resolver" : "",
              logs_to_a_file() ? "; RLIMIT_FSIZE left as is: the log goes to a file" : "");
}

} // namespace rh
