// redishappyd: keeps HAProxy and Consul pointed at the Redis master that
// Redis Sentinel has confirmed. See redishappyd(8).
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

// -n: the same parser and checks the daemon runs, then exit.
int check_only(const rh::Options& opts) {
    rh::Config config;
    auto errors = rh::load_and_check(opts.config_path, &config, nullptr);
    for (auto& e : errors)
        fprintf(stderr, "%s\n", rh::format_error(e).c_str());
    if (!errors.empty())
        return 1;
    // The engine loads libcurl at run time, and only for Consul: a host
    // without it must fail here, not in an engine restart loop.
    if (config.consul) {
        std::string err;
        if (!rh::CurlLibrary::load(&err)) {
            fprintf(stderr, "%s: [consul] needs libcurl: %s (install libcurl4)\n",
                    opts.config_path.c_str(), err.c_str());
            return 1;
        }
    }
    // OpenSSL likewise, only when some link is TLS.
    bool tls = config.sentinel_tls || std::any_of(config.clusters.begin(), config.clusters.end(),
                                                  [](const auto& c) { return c.tls; });
    if (tls) {
        std::string err;
        auto lib = rh::TlsLibrary::load(&err);
        if (!lib) {
            fprintf(stderr,
                    "%s: tls = yes needs OpenSSL: %s (install libssl3 and "
                    "libevent-openssl-2.1-7)\n",
                    opts.config_path.c_str(), err.c_str());
            return 1;
        }
        // The context the engine will build: what only OpenSSL can tell (a
        // key that does not match its certificate, a CA file it cannot use)
        // is found here, not in an engine restart loop.
        const rh::TlsConfig& t = config.tls;
        rh::TlsFiles files{t.ca_file, t.cert_file, t.key_file, t.verify};
        if (!rh::make_tls_context(lib->api(), files, true, &err)) {
            int line = err.rfind("key_file", 0) == 0    ? t.key_file_line
                       : err.rfind("cert_file", 0) == 0 ? t.cert_file_line
                       : err.rfind("ca_file", 0) == 0   ? t.ca_file_line
                                                        : t.line;
            fprintf(stderr, "%s:%d: [tls] %s\n", opts.config_path.c_str(), line, err.c_str());
            return 1;
        }
    }
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
    rh::log::init("parent", true, 3 << 3, rh::log::Level::info);
    return rh::parent_main(opts);
}
