// The unprivileged engine: receives its configuration from the parent, binds
// its listeners, drops privileges, and only then talks to the network.
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/channel.h"
#include "common/evutil.h"
#include "common/log.h"
#include "common/proto.h"
#include "engine/engine.h"
#include "engine/privsep.h"
#include "engine/sandbox.h"

namespace rh {

namespace {

// Descriptors are a budget the API must not exhaust: take the whole hard
// limit, of which the API may use a quarter (ApiLimits::nofile_share) and
// the rest stays for Sentinel links, confirmations and Consul.
void raise_nofile() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log::warn("engine: cannot raise the descriptor limit: %s", strerror(errno));
}

// libevent keeps a small record for every descriptor number an event was
// ever added on, allocated the first time and freed only with the base.
// Allocated during the first burst (256 ROLE connections at once, then API
// clients), those records were scattered among the burst's short-lived
// allocations and each kept a page of heap resident after them: ~400 pages
// at 10,000 clusters. Adding and deleting an event on each of the first
// kWarmDescriptors descriptor numbers, now, puts them together.
constexpr int kWarmDescriptors = 512;

void warm_descriptor_table(event_base* base) {
    std::vector<int> fds;
    fds.reserve(kWarmDescriptors); // before any descriptor: nothing below throws
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return;
    for (int i = 0; i < kWarmDescriptors; i++) {
        int fd = fcntl(pair[0], F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            break; // the descriptor limit: as far as it goes
        fds.push_back(fd);
        EventPtr ev(event_new(
            base, fd, EV_READ, [](evutil_socket_t, short, void*) {}, nullptr));
        if (ev && event_add(ev.get(), nullptr) == 0)
            event_del(ev.get());
    }
    for (int fd : fds)
        close(fd);
    close(pair[0]);
    close(pair[1]);
}

} // namespace

int Engine::run() {
    raise_nofile();
    channel_ = std::make_unique<Channel>(
        base_.get(), kEngineChannelFd, [this](proto::Message&& m) { on_message(std::move(m)); },
        [this](const std::string& why, bool) {
            log::info("parent channel closed (%s); exiting", why.c_str());
            event_base_loopexit(base_.get(), nullptr);
        });
    for (int sig : {SIGTERM, SIGINT}) {
        EventPtr ev(evsignal_new(
            base_.get(), sig,
            [](evutil_socket_t, short, void* arg) {
                event_base_loopexit(static_cast<event_base*>(arg), nullptr);
            },
            base_.get()));
        evsignal_add(ev.get(), nullptr);
        signals_.push_back(std::move(ev));
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); // the parent owns reloads
    event_base_dispatch(base_.get());
    if (channel_)
        channel_->close();
    return 0;
}

void Engine::fail(const std::string& why) {
    log::error("bad message from the parent: %s", why.c_str());
    event_base_loopexit(base_.get(), nullptr);
    exit_status_ = 1;
}

void Engine::on_message(proto::Message&& m) {
    if (auto* b = std::get_if<proto::ConfigBegin>(&m)) {
        if (receiving_)
            return fail("config-begin during a transfer");
        receiving_ = true;
        pending_ = EngineConfig{};
        pending_.global = std::move(*b);
        // Each cluster is kept compactly as it arrives (cluster.h).
        pending_.clusters = ClusterTable(pending_.global.consul);
        return;
    }
    if (auto* s = std::get_if<proto::ConfigSentinel>(&m)) {
        if (!receiving_)
            return fail("config-sentinel outside a transfer");
        pending_.sentinels.push_back(s->address);
        return;
    }
    if (auto* c = std::get_if<proto::ConfigCluster>(&m)) {
        if (!receiving_)
            return fail("config-cluster outside a transfer");
        if (c->removed)
            pending_.removed.add(std::move(*c));
        else
            pending_.clusters.add(std::move(*c));
        return;
    }
    if (auto* e = std::get_if<proto::ConfigEnd>(&m)) {
        if (!receiving_ || e->generation != pending_.global.generation ||
            e->sentinels != pending_.sentinels.size() ||
            e->clusters != pending_.clusters.size() + pending_.removed.size())
            return fail("config-end does not match the transfer");
        receiving_ = false;
        pending_.clusters.finish();
        pending_.removed.finish();
        return configure(std::move(pending_));
    }
    if (auto* r = std::get_if<proto::ApplyResult>(&m))
        return on_apply_result(*r);
    if (auto* f = std::get_if<proto::FenceState>(&m))
        return on_fence_state(*f);
    if (auto* st = std::get_if<proto::ProcessStats>(&m)) {
        // The parent samples only an engine that said Ready; the codec
        // already capped every value.
        if (!configured_ || receiving_)
            return fail("process-stats before the configuration");
        return on_process_stats(*st);
    }
    if (std::holds_alternative<proto::Shutdown>(m)) {
        log::info("shutdown requested by the parent");
        event_base_loopexit(base_.get(), nullptr);
        return;
    }
    fail("unexpected message for the engine");
}

void Engine::configure(EngineConfig cfg) {
    if (configured_)
        return fail("configuration received twice; the parent restarts the engine instead");
    configured_ = true;
    config_ = std::move(cfg);
    auto& g = config_.global;
    log::init("engine", foreground_, g.log_facility, static_cast<log::Level>(g.log_level));

    // Everything that needs root or the full file system happens here,
    // before the drop: listeners, name-service modules, libcurl.
    warm_descriptor_table(base_.get());
    before_drop();
    if (geteuid() == 0) {
        load_name_service();
        if (g.user.empty())
            log::fatalx("started as root but no [global] user is configured");
        drop_privileges(g.user, g.chroot_dir);
    } else {
        log::notice("not started as root: running without chroot or privilege drop");
    }
    // From here on: no fork, exec, file writes or ptrace (sandbox.h).
    enter_sandbox(SandboxOptions{.threads = g.consul});
    channel_->send(proto::Ready{g.generation});
    after_drop();
}

} // namespace rh
