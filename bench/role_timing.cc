// The cost of TLS on the runtime path: a failover's ROLE check opens a fresh
// connection to the candidate (the Sentinel links are long-lived, so TLS
// adds only encryption there). Times N Confirmer checks, one after another,
// against one redis-server over plain TCP and over TLS, and prints the
// median and p90 of each. Run by bench/tls_cost.py, which makes the
// certificates and starts the server; prints figures, asserts nothing.
//
// Usage: role_timing HOST PLAIN_PORT TLS_PORT CA CERT KEY N
#include <event2/event.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "common/log.h"
#include "engine/confirm.h"
#include "engine/tls.h"

using namespace rh;
using Clock = std::chrono::steady_clock;

namespace {

// Microseconds of each check; exits on a check that does not say master.
std::vector<double> time_checks(event_base* base, const HostPort& at, RedisConnOptions opts,
                                int n) {
    std::vector<double> us;
    Confirmer c(base);
    c.set_transport("", opts);
    for (int i = 0; i < n; i++) {
        bool done = false;
        auto t0 = Clock::now();
        c.confirm(
            at, "", std::chrono::milliseconds(2000), [&](const HostPort&, const ConfirmResult& r) {
                if (r.role != ConfirmResult::Role::master) {
                    std::fprintf(stderr, "role_timing: %s\n", r.detail.c_str());
                    std::exit(1);
                }
                us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
                done = true;
            });
        while (!done)
            event_base_loop(base, EVLOOP_ONCE);
    }
    return us;
}

double pct(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 8) {
        std::fprintf(stderr, "usage: role_timing HOST PLAIN_PORT TLS_PORT CA CERT KEY N\n");
        return 2;
    }
    log::init("role_timing", true, 0, log::Level::warning);
    std::string host = argv[1];
    auto plain_port = static_cast<uint16_t>(std::atoi(argv[2]));
    auto tls_port = static_cast<uint16_t>(std::atoi(argv[3]));
    int n = std::atoi(argv[7]);
    std::string err;
    auto lib = TlsLibrary::load(&err);
    if (!lib) {
        std::fprintf(stderr, "role_timing: cannot load OpenSSL: %s\n", err.c_str());
        return 1;
    }
    auto ctx = make_tls_context(lib->api(), TlsFiles{argv[4], argv[5], argv[6], true}, true, &err);
    if (!ctx) {
        std::fprintf(stderr, "role_timing: %s\n", err.c_str());
        return 1;
    }
    EventBasePtr base(event_base_new());
    RedisConnOptions tls;
    tls.tls = ctx.get();
    // Interleaved rounds, so a busy moment of the machine hits both alike.
    std::vector<double> plain_us, tls_us;
    for (int round = 0; round < 10; round++) {
        auto p = time_checks(base.get(), HostPort{host, plain_port}, {}, n / 10);
        auto t = time_checks(base.get(), HostPort{host, tls_port}, tls, n / 10);
        plain_us.insert(plain_us.end(), p.begin(), p.end());
        tls_us.insert(tls_us.end(), t.begin(), t.end());
    }
    double pm = pct(plain_us, 0.5), tm = pct(tls_us, 0.5);
    std::printf("ROLE check on a fresh connection, %zu each:\n", plain_us.size());
    std::printf("  plain TCP: median %.3f ms, p90 %.3f ms\n", pm / 1000, pct(plain_us, 0.9) / 1000);
    std::printf("  TLS:       median %.3f ms, p90 %.3f ms\n", tm / 1000, pct(tls_us, 0.9) / 1000);
    std::printf("  TLS cost:  %+.3f ms median (ratio %.2f)\n", (tm - pm) / 1000, tm / pm);
    return 0;
}
