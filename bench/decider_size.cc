// The engine's per-cluster memory, without a daemon (bench/README): N
// clusters configured as the parent sends them, two trusted Sentinels
// reporting each, every master confirmed and applied, then a storm moving
// each master once. Prints the heap in use (mallinfo2) after each step, per
// cluster. Usage: decider_size [N [NAME_LENGTH]] (default 10000 clusters
// named c0..; a NAME_LENGTH pads the names, as real names are longer).
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "engine/cluster.h"
#include "engine/confirm.h"
#include "engine/decide.h"
#include "engine/sentinel.h"

namespace {

using namespace rh;

size_t heap() {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd; // large blocks are mapped on their own
}

void print(const char* what, size_t bytes, size_t n) {
    std::printf("  %-44s %9.1f kB  %7.1f B/cluster\n", what, bytes / 1024.0,
                static_cast<double>(bytes) / static_cast<double>(n));
}

struct PendingRole {
    HostPort candidate;
    DeciderHooks::RoleDone done;
};

} // namespace

int main(int argc, char** argv) {
    size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
    size_t pad = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 0;
    log::set_level(log::Level::error);
    std::vector<PendingRole> roles;
    TopologyTime now = TopologyClock::now();
    DeciderHooks h;
    h.now = [&] { return now; };
    h.wall = [] { return std::time_t{1700000000}; };
    h.open_link = [](const std::string&, const HostPort&, bool) {};
    h.read_master = [](const std::string&, const std::string&, ReadFreshness, const HostPort*) {};
    h.check_role = [&](const EngineCluster&, const HostPort& c, DeciderHooks::RoleDone done) {
        roles.push_back({c, std::move(done)});
    };
    h.arm_retry = [](const std::string&, std::chrono::milliseconds) {};
    h.announce = [](const proto::Master&) { return true; };
    h.publish = [](const EngineCluster&, const HostPort&, uint64_t) {};
    h.changed = [] {};
    auto name = [&](size_t i) {
        std::string s = "c" + std::to_string(i);
        if (s.size() < pad)
            s.insert(1, pad - s.size(), '-');
        return s;
    };
    auto confirm_all = [&] {
        auto todo = std::move(roles);
        roles.clear();
        ConfirmResult r;
        r.role = ConfirmResult::Role::master;
        for (auto& p : todo)
            p.done(p.candidate, r);
    };
    auto round = [&](uint64_t epoch, uint16_t port_base, Decider& d) {
        for (const char* id : {"127.0.0.1:26379", "127.0.0.1:26380"})
            for (size_t i = 0; i < n; i++) {
                sentinel::MasterInfo m;
                m.name = name(i);
                m.addr = HostPort{"127.0.0.1", static_cast<uint16_t>(port_base + i % 4)};
                m.config_epoch = epoch;
                m.flags = {"master"};
                d.on_master_info(id, m);
            }
        confirm_all();
        for (size_t i = 0; i < n; i++) {
            proto::ApplyResult a;
            a.cluster = name(i);
            a.master = HostPort{"127.0.0.1", static_cast<uint16_t>(port_base + i % 4)};
            a.epoch = epoch;
            a.at = 1700000000;
            a.path = proto::ApplyPath::Reload;
            d.on_apply_result(a);
        }
        now += std::chrono::seconds(1);
    };

    std::printf("%zu clusters, names of %zu bytes and more\n", n, name(0).size());
    size_t base = heap();
    std::vector<proto::ConfigCluster> msgs;
    for (size_t i = 0; i < n; i++) {
        proto::ConfigCluster c;
        c.name = name(i);
        c.external_port = static_cast<uint16_t>(20000 + i % 40000);
        c.haproxy_backend = "redis_" + c.name; // the parent's defaults
        c.haproxy_server = "master";
        c.consul_service = c.name;
        c.consul_service_id = "redishappy-" + c.name;
        c.consul_node = "redishappy-" + c.name;
        msgs.push_back(std::move(c));
    }
    print("configuration messages (proto::ConfigCluster)", heap() - base, n);
    size_t before = heap();
    ClusterTable table(std::move(msgs), false);
    msgs = {};
    print("the engine's cluster table", heap() - base, n);
    before = heap();
    {
        Decider d(DeciderSettings{}, std::move(table), h);
        print("decider (cluster table included), constructed", heap() - base, n);
        d.add_sentinel({"127.0.0.1", 26379}, true);
        d.add_sentinel({"127.0.0.1", 26380}, true);
        d.on_link_up("127.0.0.1:26379");
        d.on_link_up("127.0.0.1:26380");
        round(1, 7000, d);
        malloc_trim(0);
        print("all confirmed and applied", heap() - base, n);
        round(2, 8000, d);
        malloc_trim(0);
        print("after a storm moving every master", heap() - base, n);
    }
    print("after the decider is gone (leak check)", heap() - base, n);
    (void)before;
    return 0;
}
