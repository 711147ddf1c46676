// The engine's work once configured: the decision glue (decide.h) wired to
// one SentinelLink per known Sentinel, a Confirmer and a retry timer per
// cluster, the parent channel, Consul and the API.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <utility>

#include "autoconfig.h"
#include "common/channel.h"
#include "common/heap.h"
#include "common/log.h"
#include "engine/api.h"
#include "engine/api_json.h"
#include "engine/confirm.h"
#include "engine/consul.h"
#include "engine/consul_json.h"
#include "engine/curl_lib.h"
#include "engine/decide.h"
#include "engine/engine.h"
#include "engine/resolver.h"
#include "engine/sentinel.h"
#include "engine/topology.h"

namespace rh {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

namespace {

// See Engine::outbox_.
constexpr Millis kAnnounceStall{20};
constexpr Millis kAnnounceHoldMax{1000};
// ROLE connections open at once (redishappyd(8), LIMITS).
constexpr size_t kMaxRoleChecks = 256;

} // namespace

// One ROLE round of the read backend: the master first, then each
// candidate replica, each over its own connection, all at once.
struct Engine::ReplicaRound {
    std::vector<std::unique_ptr<Confirmer>> asks;
    ReplicaProbe result;
    size_t left = 0;
    std::function<void(const ReplicaProbe&)> done;
};

// Exists only while it is in use (a check in flight, a name being looked
// up, a retry armed): at 10,000 clusters one per cluster for good was about
// 9 MB of the engine's memory. sweep_role_checks frees the idle ones, never
// from inside their own callbacks.
struct Engine::RoleCheck {
    RoleCheck(event_base* base, std::function<void()> retry_due)
        : confirmer(base), retry(base, std::move(retry_due)) {}
    bool idle() const { return !confirmer.pending() && !retry.pending() && !resolving; }
    Confirmer confirmer;
    Timer retry;
    Resolver::Id resolving = 0; // the candidate's name being looked up first
};

// A configured Sentinel address whose host is a name: every address it
// resolves to is a configured (trusted) Sentinel. Looked up again every
// resolve_interval; a failed lookup keeps the Sentinels of the last answer
// and is retried with backoff.
struct Engine::SentinelName {
    SentinelName(Engine* e, event_base* base, HostPort n)
        : name(std::move(n)), timer(base, [e, this] { e->resolve_sentinel_name(*this); }) {}
    HostPort name;
    Timer timer;
    Resolver::Id pending = 0;
    std::set<std::string> ids; // the Sentinels its last answer gave
    std::string adding;        // the id being added (open_link runs inside)
    std::string error;         // the last lookup's failure, "" after a success
    int64_t resolved_at = 0;   // unix seconds of the last answer; 0: never
    unsigned failures = 0;
};

namespace {

ConsulService consul_service(const EngineCluster& c, const HostPort& master, uint64_t epoch,
                             const std::string& instance) {
    ConsulService svc;
    svc.cluster = c.name;
    svc.service = c.consul_service();
    svc.service_id = c.consul_service_id();
    svc.node = c.consul_node();
    svc.datacenter = c.consul_datacenter();
    svc.tags = c.consul_tags();
    svc.address = master;
    svc.epoch = epoch;
    svc.instance = instance;
    return svc;
}

} // namespace

namespace {

// The engine's loop, with libevent's epoll changelist: what one iteration
// adds, changes and removes on an fd reaches the kernel as one epoll_ctl (a
// ROLE check made 4.2 a check without it; strace -c of the engine during
// bench/scale.py). libevent warns that the changelist is unsafe with fds
// cloned by dup(). The engine's only dups are warm_descriptor_table's (see
// engine.cc), each added and deleted in one pass, which the changelist
// cancels before any epoll_ctl, and closed before the loop runs.
event_base* new_engine_base() {
    event_config* cfg = event_config_new();
    if (!cfg)
        return nullptr;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    event_base* base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

} // namespace

// Defined here, where RoleCheck, Decider and the subsystems are complete types.
Engine::Engine(bool foreground) : foreground_(foreground), base_(new_engine_base()) {
    if (!base_)
        log::fatalx("event_base_new failed");
}

Engine::~Engine() {
    // Links, confirmers and transfers hold events on base_: free them before it.
    consul_.reset();
    replica_rounds_.clear();
    roles_.clear();
    role_sweep_.reset();
    sentinel_names_.clear();
    readdress_timer_.reset();
    resolver_.reset();
    links_.clear();
    decider_.reset();
    api_.reset();
    view_timer_.reset();
    hold_timer_.reset();
    stall_timer_.reset();
    housekeeping_timer_.reset();
    trim_timer_.reset();
    channel_.reset();
    signals_.clear();
}

// OpenSSL and the TLS contexts, from libraries and files read now, while
// they are visible (the parent checked the files are readable PEM; a key
// that does not match its certificate is found here). Only when some
// connection uses TLS: an engine without it never maps OpenSSL.
void Engine::load_tls() {
    auto& g = config_.global;
    bool used = g.sentinel_tls || std::any_of(config_.clusters.begin(), config_.clusters.end(),
                                              [](const EngineCluster& c) { return c.tls(); });
    if (!used)
        return;
    std::string err;
    tls_lib_ = TlsLibrary::load(&err);
    if (!tls_lib_)
        log::fatalx("tls: cannot load OpenSSL: %s", err.c_str());
    TlsFiles files{g.tls_ca_file, g.tls_cert_file, g.tls_key_file, g.tls_verify};
    tls_ctx_ = make_tls_context(tls_lib_->api(), files, true, &err);
    if (tls_ctx_ && !files.cert_file.empty())
        tls_anon_ctx_ = make_tls_context(tls_lib_->api(), files, false, &err);
    if (!tls_ctx_ || (!files.cert_file.empty() && !tls_anon_ctx_))
        log::fatalx("tls: %s", err.c_str());
    log::info("tls: %s, verification %s%s", g.tls_ca_file.empty() ? "no ca_file" : "ca_file loaded",
              g.tls_verify ? "on" : "OFF", files.cert_file.empty() ? "" : ", client certificate");
}

// The TLS context for a link: none without TLS; the one without a client
// certificate for a Sentinel we do not trust.
const TlsContext* Engine::tls_for(bool tls, bool trusted) const {
    if (!tls)
        return nullptr;
    return trusted || !tls_anon_ctx_ ? tls_ctx_.get() : tls_anon_ctx_.get();
}

void Engine::before_drop() {
    auto& g = config_.global;
    started_at_ = static_cast<int64_t>(time(nullptr));
    if (!g.api_listen.empty()) {
        api_ = std::make_unique<Api>(base_.get(), ApiLimits{});
        std::string err;
        if (!api_->bind(g.api_listen, &err))
            log::fatalx("api: %s", err.c_str());
    }
    rng_.seed(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
    load_tls();
    // The resolver reads its files and opens its sockets here: nothing of
    // it needs to exist inside the chroot.
    ResolverSettings rs;
    rs.resolv_conf = g.resolv_conf;
    rs.hosts_file = g.hosts_file;
    rs.timeout = Millis(g.resolve_timeout_ms);
    resolver_ = std::make_unique<Resolver>(base_.get(), rs);
    {
        std::string err;
        if (!resolver_->load(g.resolv_conf_set, &err))
            log::fatalx("resolver: %s", err.c_str());
    }
    // libcurl is loaded (with its TLS library, which reads its
    // configuration) here, while the whole file system is still visible, and
    // only when Consul is configured: see curl_lib.h.
    if (g.consul) {
        std::string err;
        curl_ = CurlLibrary::load(&err);
        if (!curl_)
            log::fatalx("consul: cannot load libcurl: %s", err.c_str());
    }
}

void Engine::after_drop() {
    if (config_.sentinels.size() < 2 &&
        std::all_of(config_.sentinels.begin(), config_.sentinels.end(),
                    [](const HostPort& s) { return is_ip_literal(s.host); }))
        log::warn("only %zu configured Sentinel: a single Sentinel can move a master",
                  config_.sentinels.size());
    hold_timer_ = std::make_unique<Timer>(base_.get(), [this] { flush_announcements(); });
    stall_timer_ = std::make_unique<Timer>(base_.get(), [this] { flush_announcements(); });
    start_decider();
    for (auto& s : config_.sentinels) {
        if (is_ip_literal(s.host)) {
            decider_->add_sentinel(s, true);
            continue;
        }
        sentinel_names_.push_back(std::make_unique<SentinelName>(this, base_.get(), s));
        resolve_sentinel_name(*sentinel_names_.back());
    }
    readdress_timer_ = std::make_unique<Timer>(base_.get(), [this] { readdress_masters(); });
    readdress_timer_->arm(Millis(config_.global.reread_interval_ms));
    start_consul();
    view_timer_ = std::make_unique<Timer>(base_.get(), [this] { publish_view(); });
    if (api_)
        api_->set_source([this](unsigned parts) {
            auto t0 = std::chrono::steady_clock::now();
            ApiView v = build_view(parts);
            view_built_ += std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0);
            view_delay_ =
                std::clamp<Millis>(std::chrono::duration_cast<Millis>(4 * view_built_), 20ms, 2s);
            return v;
        });
    housekeeping_timer_ = std::make_unique<Timer>(base_.get(), [this] { housekeeping(); });
    trim_timer_ = std::make_unique<Timer>(base_.get(), [] { release_free_heap(); });
    housekeeping_timer_->arm(10s);
    auto& g = config_.global;
    log::info("monitoring %zu clusters through %zu Sentinels (min_agreement %u, "
              "discovered Sentinels %s)",
              decider_->cluster_count(), links_.size(), g.min_agreement,
              g.trust_discovered ? "trusted" : "not trusted");
    publish_view();
}

void Engine::start_decider() {
    auto& g = config_.global;
    DeciderSettings ds;
    ds.policy.min_agreement = g.min_agreement;
    ds.policy.max_epoch_jump = g.max_epoch_jump;
    ds.trust_discovered = g.trust_discovered;
    ds.max_discovered = g.max_discovered;
    ds.backoff_max = Millis(g.backoff_max_ms);
    ds.stale_after = 3 * Millis(g.reread_interval_ms);
    DeciderHooks h;
    h.now = [] { return TopologyClock::now(); };
    h.wall = [] { return time(nullptr); };
    h.wall_ms = [] {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
    };
    h.open_link = [this](const std::string& id, const HostPort& addr, bool trusted) {
        open_link(id, addr, trusted);
    };
    h.read_master = [this](const std::string& id, const std::string& cluster, ReadFreshness f,
                           const HostPort* announced) {
        if (auto it = links_.find(id); it != links_.end())
            it->second->read_master(cluster, f, announced);
    };
    h.check_role = [this](const EngineCluster& c, const HostPort& candidate,
                          DeciderHooks::RoleDone done) {
        check_role(c, candidate, std::move(done));
    };
    h.arm_retry = [this](const std::string& cluster, Millis delay) {
        role_check_for(cluster).retry.arm(delay);
    };
    h.announce = [this](const proto::Master& m) { return announce(m); };
    h.publish = [this](const EngineCluster& c, const HostPort& master, uint64_t epoch) {
        if (consul_)
            consul_->publish(consul_service(c, master, epoch, config_.global.consul_instance));
    };
    h.changed = [this] { mark_dirty(); };
    h.read_replicas = [this](const std::string& id, const std::string& cluster) {
        if (auto it = links_.find(id); it != links_.end())
            it->second->read_replicas(cluster);
    };
    h.probe_replicas = [this](const EngineCluster& c, const HostPort& master,
                              const std::vector<HostPort>& replicas, DeciderHooks::ProbeDone done) {
        probe_replicas(c, master, replicas, std::move(done));
    };
    h.announce_replicas = [this](const proto::Replicas& r) { return announce_replicas(r); };
    h.fence = [this](const proto::Message& m) { return channel_->send(m); };
    // The clusters' configuration moves into the decider: clusters() from here on.
    decider_ = std::make_unique<Decider>(ds, std::move(config_.clusters), std::move(h));
    config_.clusters = ClusterTable();
    role_sweep_ = std::make_unique<Timer>(base_.get(), [this] { sweep_finished_role_checks(); });
}

const ClusterTable& Engine::clusters() const {
    return decider_ ? decider_->configs() : config_.clusters;
}

Engine::RoleCheck& Engine::role_check_for(const std::string& cluster) {
    auto& rc = roles_[cluster];
    if (!rc)
        rc = std::make_unique<RoleCheck>(base_.get(),
                                         [this, cluster] { decider_->retry_due(cluster); });
    return *rc;
}

void Engine::sweep_role_checks() {
    std::erase_if(roles_, [](const auto& kv) { return kv.second->idle(); });
}

// Only the checks that finished since the last sweep: with retries armed
// for thousands of clusters, a whole sweep per loop iteration would not be.
void Engine::sweep_finished_role_checks() {
    auto names = std::move(role_finished_);
    role_finished_.clear();
    for (const auto& name : names)
        if (auto it = roles_.find(name); it != roles_.end() && it->second->idle())
            roles_.erase(it);
}

void Engine::start_consul() {
    auto& g = config_.global;
    if (!g.consul)
        return;
    ConsulSettings cs;
    cs.address = g.consul_address;
    cs.mode = g.consul_mode;
    cs.token = g.consul_token;
    cs.ca_pem = g.consul_ca_pem;
    cs.timeout = Millis(g.consul_timeout_ms);
    cs.retry_max = Millis(g.consul_retry_max_ms);
    cs.refresh = Millis(g.consul_refresh_ms);
    cs.instance = g.consul_instance;
    consul_ =
        std::make_unique<Consul>(base_.get(), curl_->api(), std::move(cs),
                                 [this](const std::string&, const ConsulStatus&) { mark_dirty(); });
    for (auto& r : config_.removed) {
        log::info("cluster %s: removed from the configuration; deregistering it from Consul",
                  r.name.c_str());
        consul_->remove(consul_service(r, HostPort{"127.0.0.1", 1}, 0, g.consul_instance));
    }
}

// Connects to a Sentinel the decider has just learned of; what the link
// hears goes to the decider under the same id.
void Engine::open_link(const std::string& id, const HostPort& addr, bool trusted) {
    auto& g = config_.global;
    SentinelSettings st;
    // Secrets go only where the configuration sends them: a discovered
    // Sentinel may be anyone's listener.
    if (trusted) {
        st.password = g.sentinel_password;
        st.username = g.sentinel_username;
    }
    st.tls = tls_for(g.sentinel_tls, trusted);
    st.server_name = g.tls_server_name;
    if (!link_clusters_) {
        std::vector<std::string> names;
        std::vector<bool> read_backends;
        names.reserve(clusters().size());
        for (auto& c : clusters()) {
            names.push_back(c.name);
            read_backends.push_back(!c.replica_backend().empty());
        }
        link_clusters_ =
            std::make_unique<const ClusterNames>(std::move(names), std::move(read_backends));
    }
    st.clusters = link_clusters_.get();
    st.ping_interval = Millis(g.ping_interval_ms);
    st.ping_timeout = Millis(g.ping_timeout_ms);
    st.connect_timeout = Millis(g.connect_timeout_ms);
    st.reread_interval = Millis(g.reread_interval_ms);
    st.backoff_max = Millis(g.backoff_max_ms);
    // A Sentinel configured by name: TLS verifies that name, unless
    // [tls] server_name says otherwise.
    for (auto& n : sentinel_names_)
        if (g.tls_server_name.empty() && (n->ids.count(id) || n->adding == id))
            st.server_name = n->name.host;

    Decider* d = decider_.get();
    SentinelCallbacks cb;
    cb.master = [d, id](const sentinel::MasterInfo& m) { d->on_master_info(id, m); };
    cb.not_monitored = [d, id](const std::string& c) { d->on_not_monitored(id, c); };
    cb.replicas = [d, id](const std::string& c, const std::vector<sentinel::ReplicaInfo>& r) {
        d->on_replicas(id, c, r);
    };
    cb.sentinels = [d](const std::string& c, const std::vector<sentinel::SentinelInfo>& s) {
        d->on_discovered(c, s);
    };
    cb.up = [d, id] { d->on_link_up(id); };
    cb.down = [d, id](const std::string& err) { d->on_link_down(id, err); };
    cb.event = [d, id](const sentinel::Event& e) { d->on_event(id, e); };
    cb.bad_reply = [id](const std::string& reason) {
        log::warn("sentinel %s: ignored: %s", id.c_str(), reason.c_str());
    };
    auto link = std::make_unique<SentinelLink>(base_.get(), addr, st, std::move(cb));
    auto* raw = link.get();
    links_[id] = std::move(link);
    raw->start();
}

void Engine::check_role(const EngineCluster& c, const HostPort& candidate, RoleDone done) {
    confirm_progress();
    // A new check for a cluster replaces its check in flight or waiting.
    if (auto it = roles_.find(c.name);
        it != roles_.end() && (it->second->confirmer.pending() || it->second->resolving))
        return start_role_check(c, candidate, std::move(done));
    if (auto it = role_waiting_.find(c.name); it != role_waiting_.end()) {
        it->second = QueuedRoleCheck{&c, candidate, std::move(done)};
        return;
    }
    if (role_checks_running_ >= kMaxRoleChecks) {
        role_waiting_.emplace(c.name, QueuedRoleCheck{&c, candidate, std::move(done)});
        role_queue_.push_back(c.name);
        return;
    }
    role_checks_running_++;
    start_role_check(c, candidate, std::move(done));
}

// Counted in role_checks_running_ by the caller (or already, when it
// replaces a check in flight). A candidate named by a host name is looked up
// first (asynchronously: a slow name delays only this check) and ROLE is
// asked at its first address; `done` hears of the candidate as named, with
// the address in ConfirmResult::addr.
void Engine::start_role_check(const EngineCluster& c, const HostPort& candidate, RoleDone done) {
    RoleCheck& rc = role_check_for(c.name);
    // TLS verifies the name the candidate was announced by (or server_name),
    // not the address it resolved to.
    const std::string& sni = config_.global.tls_server_name;
    rc.confirmer.set_transport(
        c.username(),
        RedisConnOptions{.tls = tls_for(c.tls(), true),
                         .server_name =
                             !sni.empty() || is_ip_literal(candidate.host) ? sni : candidate.host});
    if (rc.resolving) {
        resolver_->cancel(rc.resolving);
        rc.resolving = 0;
    }
    auto finished = [this, name = c.name, done = std::move(done)](const HostPort& h,
                                                                  const ConfirmResult& r) {
        role_checks_running_--;
        done(h, r); // may announce, or check again
        confirm_progress();
        start_queued_role_checks();
        role_finished_.push_back(name);
        if (!role_sweep_->pending())
            role_sweep_->arm(Millis(0));
    };
    if (is_ip_literal(candidate.host)) {
        rc.confirmer.confirm(candidate, c.password(), Millis(config_.global.confirm_timeout_ms),
                             std::move(finished));
        return;
    }
    rc.confirmer.cancel(); // a check in flight is replaced
    std::string password = c.password();
    rc.resolving = resolver_->resolve(
        candidate.host, [this, &rc, candidate, password,
                         finished = std::move(finished)](const ResolveResult& res) mutable {
            rc.resolving = 0;
            if (!res.ok()) {
                ConfirmResult r{ConfirmResult::Role::error,
                                "resolve " + candidate.host + ": " + res.error,
                                {},
                                {},
                                res.error};
                return finished(candidate, r);
            }
            rc.confirmer.confirm(
                HostPort{res.addrs.front(), candidate.port}, password,
                Millis(config_.global.confirm_timeout_ms),
                [candidate, finished = std::move(finished)](
                    const HostPort&, const ConfirmResult& r) mutable { finished(candidate, r); });
        });
}

// Each configured Sentinel name, looked up: new addresses become configured
// Sentinels, addresses no longer in the answer are forgotten. A failure
// changes nothing (a DNS outage must not take the Sentinels away) and is
// retried after 1 s doubling up to resolve_interval.
void Engine::resolve_sentinel_name(SentinelName& n) {
    if (n.pending)
        return;
    n.pending = resolver_->resolve(n.name.host, [this, &n](const ResolveResult& r) {
        n.pending = 0;
        sentinel_name_resolved(n, r);
    });
}

void Engine::sentinel_name_resolved(SentinelName& n, const ResolveResult& r) {
    auto& g = config_.global;
    std::string label = format_host_port(n.name);
    if (!r.ok()) {
        if (n.error != r.error)
            log::warn("sentinel %s: cannot resolve: %s; retrying", label.c_str(), r.error.c_str());
        n.error = r.error;
        n.failures++;
        auto delay =
            std::min<uint64_t>(1000ull << std::min(n.failures - 1, 10u), g.resolve_interval_ms);
        n.timer.arm(Millis(delay));
        mark_dirty();
        return;
    }
    if (!n.error.empty() || n.resolved_at == 0)
        log::info("sentinel %s: resolves to %zu address(es)", label.c_str(), r.addrs.size());
    n.error.clear();
    n.failures = 0;
    n.resolved_at = static_cast<int64_t>(time(nullptr));
    std::set<std::string> kept; // configured otherwise: a literal, or another name
    for (auto& s : config_.sentinels)
        kept.insert(format_host_port(s));
    for (auto& other : sentinel_names_)
        if (other.get() != &n)
            kept.insert(other->ids.begin(), other->ids.end());
    SentinelNameChange ch = expand_sentinel_name(n.ids, r.addrs, n.name.port, kept);
    for (auto& hp : ch.added) {
        std::string id = format_host_port(hp);
        log::info("sentinel %s: %s is one of its addresses", label.c_str(), id.c_str());
        // Known already as a discovered (untrusted) Sentinel: the
        // configuration now names it, so it is followed again as such.
        if (const Decider::Sentinel* known = decider_->sentinel(id); known && !known->configured) {
            decider_->forget_sentinel(id);
            links_.erase(id);
        }
        n.adding = id;
        decider_->add_sentinel(hp, true); // nothing for one configured already
        n.adding.clear();
    }
    for (auto& id : ch.removed) {
        log::notice("sentinel %s: %s is no longer one of its addresses; forgotten", label.c_str(),
                    id.c_str());
        decider_->forget_sentinel(id);
        links_.erase(id);
    }
    n.ids = std::move(ch.ids);
    n.timer.arm(Millis(g.resolve_interval_ms));
    mark_dirty();
}

// Masters named by a host name are looked up again every re-read interval:
// a name that now leads elsewhere is ROLE-checked there (Decider::readdress).
void Engine::readdress_masters() {
    for (auto& c : clusters()) {
        const ClusterState* st = decider_->topology().state(c.name);
        if (!st || !st->has_master || is_ip_literal(st->master.host))
            continue;
        std::string name = c.name;
        resolver_->resolve(st->master.host, [this, name](const ResolveResult& r) {
            decider_->resolved(name, r.error);
            if (r.ok())
                decider_->readdress(name, r.addrs);
        });
    }
    readdress_timer_->arm(Millis(config_.global.reread_interval_ms));
}

void Engine::start_queued_role_checks() {
    while (role_checks_running_ < kMaxRoleChecks && !role_queue_.empty()) {
        std::string name = std::move(role_queue_.front());
        role_queue_.pop_front();
        auto it = role_waiting_.find(name);
        if (it == role_waiting_.end())
            continue;
        QueuedRoleCheck q = std::move(it->second);
        role_waiting_.erase(it);
        // Emptied after a storm: its buckets, sized for every cluster, go.
        if (role_waiting_.empty() && role_waiting_.bucket_count() > 64)
            decltype(role_waiting_)().swap(role_waiting_);
        role_checks_running_++;
        start_role_check(*q.cluster, q.candidate, std::move(q.done));
    }
}

// A new round replaces the cluster's round in flight: destroying its
// Confirmers cancels them, so its `done` never runs.
void Engine::probe_replicas(const EngineCluster& c, const HostPort& master,
                            const std::vector<HostPort>& replicas,
                            std::function<void(const ReplicaProbe&)> done) {
    auto round = std::make_unique<ReplicaRound>();
    ReplicaRound* rr = round.get();
    rr->result.master = master;
    rr->done = std::move(done);
    for (const auto& r : replicas)
        rr->result.replicas.push_back({r, std::nullopt, ""});
    rr->left = 1 + replicas.size();
    std::string name = c.name;
    replica_rounds_[name] = std::move(round);
    auto timeout = Millis(config_.global.confirm_timeout_ms);
    for (size_t i = 0; i <= replicas.size(); i++) {
        rr->asks.push_back(std::make_unique<Confirmer>(base_.get()));
        const HostPort& target = i == 0 ? master : replicas[i - 1];
        // As the ROLE check of a candidate: the cluster's TLS and ACL user
        // (without them a TLS-only node was asked in plain text, and a
        // user's password was sent as the default user's).
        const std::string& sni = config_.global.tls_server_name;
        rr->asks.back()->set_transport(
            c.username(),
            RedisConnOptions{.tls = tls_for(c.tls(), true),
                             .server_name =
                                 !sni.empty() || is_ip_literal(target.host) ? sni : target.host});
        rr->asks.back()->confirm(target, c.password(), timeout,
                                 [this, rr, name, i](const HostPort&, const ConfirmResult& r) {
                                     if (i == 0) {
                                         if (r.info && r.info->role == "master")
                                             rr->result.master_offset = r.info->offset;
                                     } else {
                                         auto& one = rr->result.replicas[i - 1];
                                         if (r.role == ConfirmResult::Role::error)
                                             one.error = r.detail;
                                         else if (r.info)
                                             one.role = r.info;
                                         else
                                             one.error = "ROLE " + r.detail + " without details";
                                     }
                                     if (--rr->left == 0)
                                         finish_replica_round(
                                             name); // destroys rr: touch nothing after
                                 });
    }
}

void Engine::finish_replica_round(const std::string& cluster) {
    auto it = replica_rounds_.find(cluster);
    if (it == replica_rounds_.end())
        return;
    std::unique_ptr<ReplicaRound> round = std::move(it->second);
    replica_rounds_.erase(it);
    round->done(round->result); // may start the next round
}

bool Engine::announce_replicas(const proto::Replicas& r) {
    replica_outbox_[r.cluster] = r;
    // Masters wait for their burst: the read backend rides after them.
    if (outbox_.empty())
        flush_announcements();
    return true;
}

bool Engine::announce(const proto::Master& m) {
    outbox_.push_back(m);
    if (!hold_timer_->pending())
        hold_timer_->arm(kAnnounceHoldMax);
    confirm_progress();
    return true;
}

// A ROLE check started or ended, or a master was confirmed: send what is
// confirmed once no other check is in flight, else wait for the burst.
void Engine::confirm_progress() {
    if (outbox_.empty())
        return;
    if (decider_->confirming_count() == 0)
        return flush_announcements();
    stall_timer_->arm(kAnnounceStall);
}

void Engine::flush_announcements() {
    hold_timer_->cancel();
    stall_timer_->cancel();
    std::vector<proto::Master> out = std::move(outbox_);
    outbox_.clear();
    auto reps = std::exchange(replica_outbox_, {});
    for (size_t i = 0; i < out.size(); i++)
        out[i].more = i + 1 < out.size() || !reps.empty(); // one burst: one batch
    for (auto& m : out)
        if (!channel_->send(m))
            log::error("cluster %s: cannot tell the parent", m.cluster.c_str());
    // The read backends after the masters they belong to, in the same burst.
    size_t left = reps.size();
    for (auto& [name, r] : reps) {
        r.more = --left > 0;
        if (!channel_->send(r))
            log::error("cluster %s: cannot tell the parent its read backend", name.c_str());
    }
}

// The parent may tell of a cluster this engine does not monitor (one it
// still remembers from before a rename): nothing to do, and no reason to
// die, which would only make the parent replay it to the next engine.
void Engine::on_apply_result(const proto::ApplyResult& r) {
    if (!decider_ || !decider_->on_apply_result(r))
        log::notice("apply result for cluster %s, which is not configured here; ignored",
                    r.cluster.c_str());
}

void Engine::on_fence_state(const proto::FenceState& st) {
    if (!decider_ || !decider_->on_fence_state(st))
        log::notice("fence state for cluster %s, which is not configured here; ignored",
                    st.cluster.c_str());
}

void Engine::on_process_stats(const proto::ProcessStats& st) {
    if (api_)
        api_->set_process_stats(st);
}

// Drops discovered Sentinels that stayed down for forget_discovered_after.
// Runs from its own timer, never from a link's callback.
void Engine::housekeeping() {
    time_t now = time(nullptr);
    auto limit = static_cast<time_t>(config_.global.forget_discovered_after_ms / 1000);
    for (auto it = links_.begin(); it != links_.end();) {
        auto& st = it->second->stats();
        const Decider::Sentinel* s = decider_->sentinel(it->first);
        if (s && !s->configured && st.down_since != 0 && now - st.down_since >= limit) {
            log::info("sentinel %s: forgotten after %lld s down", it->first.c_str(),
                      static_cast<long long>(now - st.down_since));
            decider_->forget_sentinel(it->first);
            it = links_.erase(it);
            continue;
        }
        ++it;
    }
    decider_->evaluate_all();
    sweep_role_checks(); // e.g. one whose retry fired and asked for nothing
    housekeeping_timer_->arm(10s);
}

void Engine::mark_dirty() {
    if (view_timer_ && !view_timer_->pending())
        view_timer_->arm(view_delay_);
}

void Engine::publish_view() {
    // The API builds the view and its bodies when a request asks for them;
    // the time that took spaces the next changes, so a client polling
    // through a storm cannot keep the engine rendering.
    if (api_)
        api_->invalidate();
    view_built_ = {};
    // Views are published after every change: trim once they stop.
    if (trim_timer_)
        trim_timer_->arm(kTrimAfterQuiet);
}

ApiView Engine::build_view(unsigned parts) const {
    ApiView v;
    v.version = PACKAGE_VERSION;
    v.started_at = started_at_;
    if (parts & kViewSentinels)
        view_sentinels(v, parts & kViewMonitored);
    if (parts & kViewClusters) {
        v.clusters = decider_->view_clusters();
        for (auto& c : v.clusters) {
            const ConsulStatus* cs = consul_ ? consul_->status(c.name) : nullptr;
            if (cs) {
                c.consul_state = consul_state_name(cs->state);
                c.consul_error = cs->last_error;
                c.consul_errors = cs->errors;
                c.consul_errors_by = cs->errors_by;
                c.consul_detail = cs->detail;
                c.consul_fenced = cs->fenced;
                c.consul_conflicts = cs->cas_conflicts;
            } else if (consul_) {
                c.consul_state = "pending";
            }
        }
        v.propagation_runtime = decider_->propagation(proto::ApplyPath::Runtime);
        v.propagation_reload = decider_->propagation(proto::ApplyPath::Reload);
    }
    if (parts & kViewEvents) {
        v.events = decider_->events().last();
        v.events_evicted = decider_->events().evicted();
    }
    if (parts & kViewConfig)
        v.config = view_config();
    return v;
}

void Engine::view_sentinels(ApiView& v, bool monitored) const {
    for (auto& [id, link] : links_) {
        auto& st = link->stats();
        const Decider::Sentinel* known = decider_->sentinel(id);
        ApiSentinel s;
        s.address = id;
        s.configured = known && known->configured;
        s.trusted = known && known->trusted;
        s.state = link_state_name(st.state);
        s.last_updated = st.last_reply;
        if (known && monitored)
            s.clusters = decider_->monitored(id);
        s.last_error = st.last_error;
        s.latency_ms = st.ping_latency.count() < 0 ? 0 : st.ping_latency.count() / 1000.0;
        s.reconnects = st.reconnects;
        v.sentinel_reconnects += st.reconnects;
        v.sentinels.push_back(std::move(s));
    }
    for (auto& n : sentinel_names_)
        v.sentinel_names.push_back(ApiSentinelName{
            format_host_port(n->name), {n->ids.begin(), n->ids.end()}, n->error, n->resolved_at});
}

ApiConfig Engine::view_config() const {
    auto& g = config_.global;
    ApiConfig ac;
    for (auto& c : clusters())
        ac.clusters.push_back({c.name, c.external_port, !c.password().empty()});
    ac.sentinels = config_.sentinels;
    ac.sentinel_password_set = !g.sentinel_password.empty();
    ac.haproxy_template_path = g.haproxy_template;
    ac.haproxy_output_path = g.haproxy_output;
    ac.haproxy_reload_command = g.haproxy_reload_command;
    ac.consul_address = g.consul_address;
    ac.consul_token_set = !g.consul_token.empty();
    for (auto& c : clusters())
        if (g.consul)
            ac.consul_services.push_back(c.consul_service());

    ac.api_listen = g.api_listen;
    auto setting = [&](const char* sec, const char* key, std::string val) {
        ac.settings.push_back({sec, key, std::move(val)});
    };
    setting("global", "config_file", g.config_path);
    setting("sentinels", "min_agreement", std::to_string(g.min_agreement));
    setting("sentinels", "trust_discovered", g.trust_discovered ? "yes" : "no");
    setting("sentinels", "max_discovered", std::to_string(g.max_discovered));
    setting("sentinels", "ping_interval", std::to_string(g.ping_interval_ms) + "ms");
    setting("sentinels", "reread_interval", std::to_string(g.reread_interval_ms) + "ms");
    setting("sentinels", "resolve_interval", std::to_string(g.resolve_interval_ms) + "ms");
    setting("sentinels", "resolve_timeout", std::to_string(g.resolve_timeout_ms) + "ms");
    setting("global", "resolv_conf", g.resolv_conf);
    setting("global", "hosts_file", g.hosts_file);
    setting("haproxy", "check_command", g.haproxy_check_command);
    setting("haproxy", "runtime_socket", g.haproxy_runtime_socket);
    if (g.consul) {
        setting("consul", "mode", consul_mode_name(g.consul_mode));
        setting("consul", "instance", g.consul_instance);
        setting("consul", "refresh", std::to_string(g.consul_refresh_ms) + "ms");
    }
    // TLS and ACL users: file paths are shown (their content never), user
    // names as secrets.
    auto user = [](const std::string& u) { return u.empty() ? std::string() : "***"; };
    setting("sentinels", "tls", g.sentinel_tls ? "yes" : "no");
    setting("sentinels", "username", user(g.sentinel_username));
    setting("tls", "ca_file", g.tls_ca_file);
    setting("tls", "cert_file", g.tls_cert_file);
    setting("tls", "key_file", g.tls_key_file);
    setting("tls", "verify", g.tls_verify ? "yes" : "no");
    setting("tls", "server_name", g.tls_server_name);
    for (auto& c : clusters()) {
        std::string sec = "cluster " + c.name;
        ac.settings.push_back({sec, "tls", c.tls() ? "yes" : "no"});
        ac.settings.push_back({sec, "username", user(c.username())});
    }
    return ac;
}

} // namespace rh
