// A standalone API server serving a fixed one-cluster view, for
// bench/api_bench. Usage: api_demo [port]   (0 or none: a free port)
// Prints "port N" once listening; exits on SIGINT or SIGTERM.
#include <event2/event.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <syslog.h>

#include "common/evutil.h"
#include "common/log.h"
#include "engine/api.h"

using namespace rh;

static ApiView demo_view() {
    ApiView v;
    ApiSentinel s;
    s.address = "127.0.0.1:26379";
    s.configured = s.trusted = true;
    s.state = "up";
    s.last_updated = std::time(nullptr);
    s.clusters = {"main"};
    s.latency_ms = 0.2;
    v.sentinels.push_back(s);
    ApiCluster c;
    c.name = "main";
    c.external_port = 6379;
    c.master = HostPort{"127.0.0.1", 7001};
    c.epoch = 1;
    c.confirmed = true;
    c.confirmed_at = s.last_updated;
    c.corroborated_by = {s.address};
    c.replicas = {HostPort{"127.0.0.1", 7002}};
    c.apply_state = "applied";
    c.applied_at = s.last_updated;
    v.clusters.push_back(c);
    v.config.clusters = {{"main", 6379, false}};
    v.config.sentinels = {HostPort{"127.0.0.1", 26379}};
    v.version = "demo";
    v.started_at = s.last_updated;
    return v;
}

static void on_signal(evutil_socket_t, short, void* arg) {
    event_base_loopbreak(static_cast<event_base*>(arg));
}

int main(int argc, char** argv) {
    log::init("api_demo", true, LOG_DAEMON, log::Level::warning);
    unsigned long port = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 0;
    if (port > 65535) {
        std::fprintf(stderr, "api_demo: bad port %s\n", argv[1]);
        return 2;
    }
    EventBasePtr base(event_base_new());
    if (!base)
        log::fatalx("event_base_new failed");
    Api api(base.get(), ApiLimits{});
    std::string err;
    if (!api.bind({HostPort{"127.0.0.1", static_cast<uint16_t>(port)}}, &err))
        log::fatalx("%s", err.c_str());
    api.set_view(demo_view());
    EventPtr sigint(evsignal_new(base.get(), SIGINT, on_signal, base.get()));
    EventPtr sigterm(evsignal_new(base.get(), SIGTERM, on_signal, base.get()));
    event_add(sigint.get(), nullptr);
    event_add(sigterm.get(), nullptr);
    std::printf("port %u\n", api.bound().front().port);
    std::fflush(stdout);
    event_base_dispatch(base.get());
    return 0;
}
