// redishappyd: keeps HAProxy and Consul pointed at the Redis master that
// Redis Sentinel has confirmed. See redishappyd(8).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autoconfig.h"
#include "common/log.h"
#include "config/config.h"
#include "engine/curl_lib.h"
#include "engine/engine.h"
#include "engine/tls.h"
#include "engine/tls_lib.h"
#include "parent/notify.h"
#include "parent/parent.h"

namespace {

void usage() {
    fprintf(stderr, "usage: redishappyd [-dnvV] [-f file]\n");
    exit(1);
}

// Whether some link of the configuration is TLS (the engine then loads
// OpenSSL).
bool uses_tls(const rh::Config& config) {
    return config.sentinel_tls || std::any_of(config.clusters.begin(), config.clusters.end(),
                                              [](const auto& c) { return c.tls; });
}

// What the engine's run-time libraries say of a configuration: libcurl for
// [consul], OpenSSL for TLS, and the TLS context the engine will build (a
// key that does not match its certificate, a CA file OpenSSL cannot use).
// In this process: called only in a child of the parent (or by -n).
std::vector<rh::ConfigError> library_errors(const rh::Config& config) {
    std::vector<rh::ConfigError> out;
    std::string err;
    if (config.consul && !rh::CurlLibrary::load(&err))
        out.push_back({config.path, 0, "[consul] needs libcurl: " + err + " (install libcurl4)"});
    if (!uses_tls(config))
        return out;
    auto lib = rh::TlsLibrary::load(&err);
    if (!lib) {
        out.push_back(
            {config.path, 0,
             "tls = yes needs OpenSSL: " + err + " (install libssl3 and libevent-openssl-2.1-7)"});
        return out;
    }
    const rh::TlsConfig& t = config.tls;
    rh::TlsFiles files{t.ca_file, t.cert_file, t.key_file, t.verify};
    if (!rh::make_tls_context(lib->api(), files, true, &err)) {
        int line = err.rfind("key_file", 0) == 0    ? t.key_file_line
                   : err.rfind("cert_file", 0) == 0 ? t.cert_file_line
                   : err.rfind("ca_file", 0) == 0   ? t.ca_file_line
                                                    : t.line;
        out.push_back({config.path, line, "[tls] " + err});
    }
    return out;
}

// library_errors() in a child, so that the parent never maps libcurl or
// OpenSSL: the child writes each error as "LINE MESSAGE\n" and exits.
std::vector<rh::ConfigError> library_errors_in_child(const rh::Config& config) {
    if (!config.consul && !uses_tls(config))
        return {};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return {{config.path, 0, std::string("cannot check libraries: pipe: ") + strerror(errno)}};
    // Every signal blocked across the fork, and in the child for good:
    // the parent's handlers (libevent's, writing to its loop) never run
    // there, and a signal sent to the parent meanwhile waits for it.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid != 0)
        sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return {{config.path, 0, std::string("cannot check libraries: fork: ") + strerror(e)}};
    }
    if (pid == 0) {
        close(fds[0]);
        std::string text;
        for (auto& e : library_errors(config))
            text += std::to_string(e.line) + " " + e.message + "\n";
        size_t off = 0;
        while (off < text.size()) {
            ssize_t n = write(fds[1], text.data() + off, text.size() - off);
            if (n <= 0)
                _exit(2);
            off += static_cast<size_t>(n);
        }
        _exit(text.empty() ? 0 : 1);
    }
    close(fds[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::vector<rh::ConfigError> out;
    for (size_t at = 0; at < text.size();) {
        size_t end = text.find('\n', at);
        std::string one = text.substr(at, end - at);
        at = end == std::string::npos ? text.size() : end + 1;
        size_t sp = one.find(' ');
        out.push_back({config.path, std::atoi(one.substr(0, sp).c_str()),
                       sp == std::string::npos ? one : one.substr(sp + 1)});
    }
    if (out.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        out.push_back({config.path, 0, "cannot check libraries: the checking process failed"});
    return out;
}

// -n: the same parser and checks the daemon runs, then exit.
int check_only(const rh::Options& opts) {
    rh::Config config;
    auto errors = rh::load_and_check(opts.config_path, &config, nullptr);
    // The engine loads libcurl (for Consul) and OpenSSL (for TLS) at run
    // time: a host without them, or a key that is not its certificate's,
    // must fail here, not in an engine restart loop.
    if (errors.empty())
        errors = library_errors(config);
    for (auto& e : errors)
        fprintf(stderr, "%s\n", rh::format_error(e).c_str());
    if (!errors.empty())
        return 1;
    printf("configuration OK\n");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    rh::Options opts;
    opts.config_path = SYSCONFDIR "/redishappy.conf";
    bool check = false;
    bool engine = false;
    int ch;
    while ((ch = getopt(argc, argv, "dEf:nvV")) != -1) {
        switch (ch) {
        case 'd':
            opts.foreground = true;
            break;
        case 'E': // internal: run as the engine (re-executed by the parent)
            engine = true;
            break;
        case 'f':
            opts.config_path = optarg;
            break;
        case 'n':
            check = true;
            break;
        case 'v':
            opts.verbosity++;
            break;
        case 'V':
            printf("redishappyd %s (systemd notify: %s)\n", PACKAGE_VERSION,
                   rh::notify_supported() ? "yes" : "no");
            return 0;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    if (engine) {
        rh::log::init("engine", opts.foreground, 3 << 3,
                      opts.verbosity > 0 ? rh::log::Level::debug : rh::log::Level::info);
        rh::Engine e(opts.foreground);
        e.run();
        return e.exit_status();
    }
    if (check)
        return check_only(opts);
    // The daemon chdirs to /; SIGHUP must still find the file.
    if (char* abs = realpath(opts.config_path.c_str(), nullptr)) {
        opts.config_path = abs;
        free(abs);
    }
    opts.check_libraries = library_errors_in_child;
    rh::log::init("parent", true, 3 << 3, rh::log::Level::info);
    return rh::parent_main(opts);
}
