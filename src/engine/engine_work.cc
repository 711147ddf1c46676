// The engine's work once configured: one SentinelLink per known Sentinel,
// the decision module, ROLE confirmation of every new master, and the API.
//
// Flow: a link reports what its Sentinel says (SENTINEL MASTER(S), with the
// config epoch) -> Topology::report -> verdict. A Confirm verdict asks the
// candidate ROLE; only a "master" answer for a candidate that is still the
// pick makes it current, and only then is the parent told. Pub/sub events
// never decide anything: a +switch-master (which carries no epoch) makes us
// re-read SENTINEL MASTER from every trusted Sentinel at once, and any new
// report that differs from the current master (from an untrusted Sentinel
// too) makes us ask the trusted ones that do not say the same yet, so
// corroboration costs one round trip.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>

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
#include "engine/engine.h"
#include "engine/sentinel.h"
#include "engine/topology.h"

namespace rh {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

struct Engine::Link {
    std::string id;
    bool configured = false;
    bool trusted = false;
    std::unique_ptr<SentinelLink> link;
    std::set<std::string> clusters; // configured clusters it monitors
};

struct Engine::ClusterWork {
    proto::ConfigCluster config;
    std::unique_ptr<Confirmer> confirmer;
    std::unique_ptr<Timer> retry;
    std::optional<HostPort> confirming;
    uint64_t confirming_epoch = 0;
    std::optional<HostPort> announced; // last master sent to the parent
    uint64_t announced_epoch = 0;
    std::string last_reasons; // to log each refusal once, not on every re-read
    std::vector<HostPort> replicas;
    proto::ApplyResult applied;
    uint64_t apply_errors = 0;
    unsigned confirm_attempts = 0;
};

namespace {

ConsulService consul_service(const proto::ConfigCluster& c, const HostPort& master) {
    ConsulService svc;
    svc.cluster = c.name;
    svc.service = c.consul_service;
    svc.service_id = c.consul_service_id;
    svc.node = c.consul_node;
    svc.datacenter = c.consul_datacenter;
    svc.tags = c.consul_tags;
    svc.address = master;
    return svc;
}

} // namespace

// Defined here, where Link, ClusterWork and the subsystems are complete types.
Engine::Engine(bool foreground) : foreground_(foreground), base_(event_base_new()) {
    if (!base_)
        log::fatalx("event_base_new failed");
}

Engine::~Engine() {
    // Links, confirmers and transfers hold events on base_: free them before it.
    consul_.reset();
    clusters_.clear();
    links_.clear();
    api_.reset();
    view_timer_.reset();
    housekeeping_timer_.reset();
    trim_timer_.reset();
    channel_.reset();
    signals_.clear();
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
    auto& g = config_.global;
    TopologyPolicy policy;
    policy.min_agreement = g.min_agreement;
    policy.max_epoch_jump = g.max_epoch_jump;
    topology_ = std::make_unique<Topology>(policy);
    if (config_.sentinels.size() < 2)
        log::warn("only %zu configured Sentinel: a single Sentinel can move a master",
                  config_.sentinels.size());
    auto now = TopologyClock::now();
    for (auto& c : config_.clusters) {
        topology_->add_cluster(c.name);
        auto cw = std::make_unique<ClusterWork>();
        cw->config = c;
        cw->confirmer = std::make_unique<Confirmer>(base_.get());
        std::string name = c.name;
        cw->retry = std::make_unique<Timer>(base_.get(), [this, name] { evaluate(name); });
        if (c.applied_master) {
            topology_->seed(c.name, *c.applied_master, c.applied_epoch, now);
            cw->applied = {c.name, proto::ApplyState::Applied, c.applied_master, c.applied_epoch, 0,
                           ""};
        }
        clusters_[c.name] = std::move(cw);
    }
    for (auto& s : config_.sentinels)
        add_link(s, true);
    if (g.consul) {
        ConsulSettings cs;
        cs.address = g.consul_address;
        auto mode = parse_consul_mode(g.consul_mode);
        cs.mode = mode ? *mode : ConsulMode::catalog;
        cs.token = g.consul_token;
        cs.ca_pem = g.consul_ca_pem;
        cs.timeout = Millis(g.consul_timeout_ms);
        cs.retry_max = Millis(g.consul_retry_max_ms);
        consul_ = std::make_unique<Consul>(
            base_.get(), curl_->api(), std::move(cs),
            [this](const std::string&, const ConsulStatus&) { mark_dirty(); });
        for (auto& r : config_.removed) {
            log::info("cluster %s: removed from the configuration; deregistering it from Consul",
                      r.name.c_str());
            consul_->remove(consul_service(r, HostPort{"127.0.0.1", 1}));
        }
    }
    view_timer_ = std::make_unique<Timer>(base_.get(), [this] { publish_view(); });
    housekeeping_timer_ = std::make_unique<Timer>(base_.get(), [this] { housekeeping(); });
    trim_timer_ = std::make_unique<Timer>(base_.get(), [] { release_free_heap(); });
    housekeeping_timer_->arm(10s);
    log::info("monitoring %zu clusters through %zu Sentinels (min_agreement %u, "
              "discovered Sentinels %s)",
              clusters_.size(), links_.size(), g.min_agreement,
              g.trust_discovered ? "trusted" : "not trusted");
    publish_view();
}

void Engine::add_link(const HostPort& addr, bool configured) {
    std::string id = format_host_port(addr);
    if (links_.count(id))
        return;
    auto& g = config_.global;
    auto l = std::make_unique<Link>();
    l->id = id;
    l->configured = configured;
    l->trusted = configured || g.trust_discovered;
    topology_->set_trusted(id, l->trusted);

    SentinelSettings st;
    st.password = g.sentinel_password;
    for (auto& c : config_.clusters)
        st.clusters.push_back(c.name);
    st.ping_interval = Millis(g.ping_interval_ms);
    st.ping_timeout = Millis(g.ping_timeout_ms);
    st.connect_timeout = Millis(g.connect_timeout_ms);
    st.reread_interval = Millis(g.reread_interval_ms);
    st.backoff_max = Millis(g.backoff_max_ms);

    Link* lp = l.get();
    SentinelCallbacks cb;
    cb.master = [this, lp](const sentinel::MasterInfo& m) { on_master_info(*lp, m); };
    cb.not_monitored = [this, lp](const std::string& c) { on_not_monitored(*lp, c); };
    cb.replicas = [this](const std::string& c, const std::vector<sentinel::ReplicaInfo>& r) {
        on_replicas(c, r);
    };
    cb.sentinels = [this](const std::string& c, const std::vector<sentinel::SentinelInfo>& s) {
        on_discovered(c, s);
    };
    cb.up = [this, lp] { on_link_up(*lp); };
    cb.down = [this, lp](const std::string& err) { on_link_down(*lp, err); };
    cb.event = [this, lp](const sentinel::Event& e) {
        if (auto* sw = std::get_if<sentinel::SwitchMaster>(&e)) {
            if (!clusters_.count(sw->master))
                return;
            log::info("sentinel %s: +switch-master %s to %s; asking the trusted Sentinels",
                      lp->id.c_str(), sw->master.c_str(), format_host_port(sw->to).c_str());
            return reread_trusted(sw->master);
        }
        auto& ie = std::get<sentinel::InstanceEvent>(e);
        if (ie.channel == "+sentinel" && ie.kind == "sentinel" && ie.master &&
            clusters_.count(*ie.master))
            add_link(ie.addr, false);
        if (ie.master && clusters_.count(*ie.master) &&
            (ie.channel == "+failover-end" || ie.channel == "+config-update-from" ||
             ie.channel == "-odown"))
            reread_trusted(*ie.master);
    };
    cb.bad_reply = [lp](const std::string& reason) {
        log::warn("sentinel %s: ignored: %s", lp->id.c_str(), reason.c_str());
    };
    l->link = std::make_unique<SentinelLink>(base_.get(), addr, st, std::move(cb));
    log::info("sentinel %s: %s%s", id.c_str(), configured ? "configured" : "discovered",
              l->trusted ? "" : " (untrusted: never decides)");
    auto* raw = l->link.get();
    links_[id] = std::move(l);
    raw->start();
    mark_dirty();
}

void Engine::on_master_info(Link& l, const sentinel::MasterInfo& m) {
    auto it = clusters_.find(m.name);
    if (it == clusters_.end())
        return;
    l.clusters.insert(m.name);
    // While a Sentinel runs a failover its view mixes old and new (the
    // leader shows the old address at the new epoch until +failover-end):
    // not a fact to act on. Its next report, after the failover, is.
    if (m.has_flag("failover_in_progress")) {
        log::debug("sentinel %s: cluster %s: failover in progress, report not used", l.id.c_str(),
                   m.name.c_str());
        return;
    }
    const ClusterState* before = topology_->state(m.name);
    bool differs = !before || !before->has_master || before->master != m.addr ||
                   before->epoch != m.config_epoch;
    // Only news is worth corroborating: a Sentinel repeating itself was
    // corroborated when it first said it, and what the others learned since
    // reaches us through their events and re-reads.
    bool news = !topology_->reports_same(m.name, l.id, m.addr, m.config_epoch);
    topology_->report(m.name, l.id, l.trusted, m.addr, m.config_epoch, TopologyClock::now());
    // An untrusted Sentinel never decides; what it says only makes us ask
    // the trusted ones.
    if (news && differs)
        corroborate(m.name, l, m.addr, m.config_epoch);
    evaluate(m.name);
}

void Engine::on_not_monitored(Link& l, const std::string& cluster) {
    l.clusters.erase(cluster);
    topology_->no_master(cluster, l.id);
    evaluate(cluster);
}

void Engine::on_replicas(const std::string& cluster, const std::vector<sentinel::ReplicaInfo>& r) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return;
    std::vector<HostPort> v;
    for (auto& x : r)
        v.push_back(x.addr);
    it->second->replicas = std::move(v);
    mark_dirty();
}

void Engine::on_discovered(const std::string& cluster,
                           const std::vector<sentinel::SentinelInfo>& s) {
    if (!clusters_.count(cluster))
        return;
    for (auto& x : s)
        add_link(x.addr, false);
}

void Engine::on_link_up(Link& l) {
    log::info("sentinel %s: up", l.id.c_str());
    topology_->sentinel_up(l.id);
    evaluate_all();
}

void Engine::on_link_down(Link& l, const std::string& err) {
    log::warn("sentinel %s: down: %s", l.id.c_str(), err.c_str());
    topology_->sentinel_down(l.id);
    evaluate_all();
}

// Something happened to the cluster (an event, which carries no epoch):
// re-read it from every trusted Sentinel, by reads sent from now on. Each
// link keeps at most one read per cluster outstanding and one more queued,
// so a storm of events costs a bounded number of reads.
void Engine::reread_trusted(const std::string& cluster) {
    for (auto& [id, l] : links_)
        if (l->trusted)
            l->link->read_master(cluster, ReadFreshness::after_now);
}

// Corroboration at once: `from` newly reports (addr, epoch); ask every other
// trusted Sentinel that does not already say the same. A read of theirs
// still unanswered will do: it reports their view after it was sent.
void Engine::corroborate(const std::string& cluster, const Link& from, const HostPort& addr,
                         uint64_t epoch) {
    for (auto& [id, l] : links_)
        if (l->trusted && l.get() != &from && !topology_->reports_same(cluster, id, addr, epoch))
            l->link->read_master(cluster, ReadFreshness::in_flight_ok);
}

void Engine::evaluate_all() {
    for (auto& [name, cw] : clusters_)
        evaluate(name);
    mark_dirty();
}

void Engine::evaluate(const std::string& cluster) {
    auto it = clusters_.find(cluster);
    if (it == clusters_.end())
        return;
    ClusterWork& cw = *it->second;
    Verdict v = topology_->verdict(cluster);
    std::string reasons;
    for (auto& r : v.reasons)
        reasons += r + "; ";
    if (reasons != cw.last_reasons) {
        const ClusterState* st = topology_->state(cluster);
        bool starting = !st || !st->has_master;
        for (auto& r : v.reasons) {
            if (starting)
                log::debug("cluster %s: not yet: %s", cluster.c_str(), r.c_str());
            else
                log::warn("cluster %s: refused: %s", cluster.c_str(), r.c_str());
        }
        cw.last_reasons = reasons;
    }
    switch (v.kind) {
    case VerdictKind::None:
        break;
    case VerdictKind::EpochAdvance:
        // The same address at a higher epoch is still asked ROLE: a leader
        // Sentinel in the middle of a failover reports the old (possibly
        // dead) address at the new epoch, and accepting that unconfirmed
        // would then make the real new master, at the same epoch, lose.
    case VerdictKind::Confirm:
        if (cw.confirming && *cw.confirming == v.candidate && cw.confirming_epoch == v.epoch)
            break; // already asking it
        if (cw.retry->pending())
            break; // a failed confirmation is retried on its timer
        start_confirm(cw, v.candidate, v.epoch);
        break;
    }
    announce(cw);
    mark_dirty();
}

void Engine::start_confirm(ClusterWork& cw, const HostPort& candidate, uint64_t epoch) {
    cw.confirming = candidate;
    cw.confirming_epoch = epoch;
    std::string name = cw.config.name;
    log::info("cluster %s: confirming %s at epoch %llu with ROLE", name.c_str(),
              format_host_port(candidate).c_str(), static_cast<unsigned long long>(epoch));
    cw.confirmer->confirm(
        candidate, cw.config.password, Millis(config_.global.confirm_timeout_ms),
        [this, name, epoch](const HostPort& c, const ConfirmResult& r) {
            auto it = clusters_.find(name);
            if (it == clusters_.end())
                return;
            ClusterWork& w = *it->second;
            w.confirming.reset();
            if (r.role == ConfirmResult::Role::master) {
                Verdict v = topology_->verdict(name);
                if (topology_->confirmed(name, c, epoch, TopologyClock::now())) {
                    std::string who;
                    for (auto& s : v.supporters)
                        who += (who.empty() ? "" : ", ") + s;
                    log::notice("cluster %s: new master %s at epoch %llu, confirmed by ROLE, "
                                "corroborated by %s",
                                name.c_str(), format_host_port(c).c_str(),
                                static_cast<unsigned long long>(epoch), who.c_str());
                    w.confirm_attempts = 0;
                } else {
                    log::info("cluster %s: %s confirmed but no longer the pick", name.c_str(),
                              format_host_port(c).c_str());
                }
                return evaluate(name);
            }
            std::string why =
                std::string(confirm_role_name(r.role)) + (r.detail.empty() ? "" : ": " + r.detail);
            topology_->confirm_failed(name, c, epoch, why);
            log::warn("cluster %s: candidate %s at epoch %llu not confirmed (%s); not shown, "
                      "retrying",
                      name.c_str(), format_host_port(c).c_str(),
                      static_cast<unsigned long long>(epoch), why.c_str());
            auto delay = Millis(std::min<uint64_t>(100ull << std::min(w.confirm_attempts, 6u),
                                                   config_.global.backoff_max_ms));
            w.confirm_attempts++;
            w.retry->arm(delay);
            mark_dirty();
        });
}

// Tells the parent about the current master when it differs from what it
// was last told. A seeded master (from the state file) is only announced
// once enough trusted Sentinels report it again.
void Engine::announce(ClusterWork& cw) {
    const ClusterState* st = topology_->state(cw.config.name);
    if (!st || !st->has_master)
        return;
    if (cw.announced && *cw.announced == st->master && cw.announced_epoch == st->epoch)
        return;
    if (st->seeded) {
        Verdict v = topology_->verdict(cw.config.name);
        if (v.kind != VerdictKind::None || v.supporters.size() < topology_->policy().min_agreement)
            return;
    }
    cw.announced = st->master;
    cw.announced_epoch = st->epoch;
    if (!channel_->send(proto::Master{cw.config.name, st->master, st->epoch}))
        log::error("cluster %s: cannot tell the parent", cw.config.name.c_str());
    // HAProxy first (the parent), then Consul: a slow Consul delays nothing.
    if (consul_)
        consul_->publish(consul_service(cw.config, st->master));
}

void Engine::on_apply_result(const proto::ApplyResult& r) {
    auto it = clusters_.find(r.cluster);
    if (it == clusters_.end())
        return fail("apply-result for unknown cluster " + r.cluster);
    if (r.state == proto::ApplyState::Error) {
        it->second->apply_errors++;
        log::warn("cluster %s: parent could not apply: %s", r.cluster.c_str(), r.error.c_str());
    }
    it->second->applied = r;
    mark_dirty();
}

// Drops discovered Sentinels that stayed down for forget_discovered_after.
// Runs from its own timer, never from a link's callback.
void Engine::housekeeping() {
    time_t now = time(nullptr);
    auto limit = static_cast<time_t>(config_.global.forget_discovered_after_ms / 1000);
    for (auto it = links_.begin(); it != links_.end();) {
        auto& st = it->second->link->stats();
        if (!it->second->configured && st.down_since != 0 && now - st.down_since >= limit) {
            log::info("sentinel %s: forgotten after %lld s down", it->first.c_str(),
                      static_cast<long long>(now - st.down_since));
            topology_->forget_sentinel(it->first);
            it = links_.erase(it);
            continue;
        }
        ++it;
    }
    evaluate_all();
    housekeeping_timer_->arm(10s);
}

void Engine::mark_dirty() {
    if (view_timer_ && !view_timer_->pending())
        view_timer_->arm(view_delay_);
}

void Engine::publish_view() {
    if (api_) {
        auto t0 = std::chrono::steady_clock::now();
        api_->set_view(build_view());
        auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - t0);
        view_delay_ = std::clamp<Millis>(4 * took, 20ms, 2s);
    }
    // Views are published after every change: trim once they stop.
    if (trim_timer_)
        trim_timer_->arm(kTrimAfterQuiet);
}

namespace {

int64_t wall(TopologyTime t) {
    if (t == TopologyTime{})
        return 0;
    auto ago = std::chrono::duration_cast<std::chrono::seconds>(TopologyClock::now() - t);
    return static_cast<int64_t>(time(nullptr)) - ago.count();
}

const char* apply_state_name(proto::ApplyState s) {
    switch (s) {
    case proto::ApplyState::Applied:
        return "applied";
    case proto::ApplyState::Error:
        return "error";
    case proto::ApplyState::Pending:
        return "pending";
    case proto::ApplyState::None:
        return "none";
    }
    return "none";
}

} // namespace

ApiView Engine::build_view() const {
    auto& g = config_.global;
    ApiView v;
    v.version = PACKAGE_VERSION;
    v.started_at = started_at_;
    for (auto& [id, l] : links_) {
        auto& st = l->link->stats();
        ApiSentinel s;
        s.address = id;
        s.configured = l->configured;
        s.trusted = l->trusted;
        s.state = link_state_name(st.state);
        s.last_updated = st.last_reply;
        s.clusters.assign(l->clusters.begin(), l->clusters.end());
        s.last_error = st.last_error;
        s.latency_ms = st.ping_latency.count() < 0 ? 0 : st.ping_latency.count() / 1000.0;
        s.reconnects = st.reconnects;
        v.sentinel_reconnects += st.reconnects;
        v.sentinels.push_back(std::move(s));
    }
    for (auto& [name, cw] : clusters_) {
        ApiCluster c;
        c.name = name;
        c.external_port = cw->config.external_port;
        if (const ClusterState* st = topology_->state(name); st && st->has_master) {
            c.master = st->master;
            c.epoch = st->epoch;
            c.confirmed = !st->seeded;
            c.confirmed_at = wall(st->confirmed_at);
            c.corroborated_by = st->supporters;
            c.switches = st->switches;
            c.last_switch = wall(st->last_switch);
        }
        c.stale = topology_->is_stale(name);
        // Right after a failover a Sentinel may still list the promoted
        // server among the replicas: never show a master as its own replica.
        for (auto& r : cw->replicas)
            if (!c.master || r != *c.master)
                c.replicas.push_back(r);
        c.apply_state = apply_state_name(cw->applied.state);
        // "applied" means the parent applied this very master; until then
        // the switch is pending (or failed, with the parent's error).
        bool same = c.master && cw->applied.master == c.master && cw->applied.epoch == c.epoch;
        if (cw->applied.state == proto::ApplyState::Applied && !same)
            c.apply_state = "pending";
        if (cw->applied.at == 0 && !cw->applied.master)
            c.apply_state = "pending";
        c.apply_error = cw->applied.error;
        c.applied_at = cw->applied.at;
        c.apply_errors = cw->apply_errors;
        if (consul_) {
            if (const ConsulStatus* cs = consul_->status(name)) {
                c.consul_state = consul_state_name(cs->state);
                c.consul_error = cs->last_error;
                c.consul_errors = cs->errors;
            } else {
                c.consul_state = "pending";
            }
        }
        v.clusters.push_back(std::move(c));
    }
    ApiConfig& ac = v.config;
    for (auto& c : config_.clusters)
        ac.clusters.push_back({c.name, c.external_port, !c.password.empty()});
    ac.sentinels = config_.sentinels;
    ac.sentinel_password_set = !g.sentinel_password.empty();
    ac.haproxy_template_path = g.haproxy_template;
    ac.haproxy_output_path = g.haproxy_output;
    ac.haproxy_reload_command = g.haproxy_reload_command;
    ac.consul_address = g.consul_address;
    ac.consul_token_set = !g.consul_token.empty();
    for (auto& c : config_.clusters)
        if (g.consul)
            ac.consul_services.push_back(c.consul_service);

    ac.api_listen = g.api_listen;
    auto setting = [&](const char* sec, const char* key, std::string val) {
        ac.settings.push_back({sec, key, std::move(val)});
    };
    setting("global", "config_file", g.config_path);
    setting("sentinels", "min_agreement", std::to_string(g.min_agreement));
    setting("sentinels", "trust_discovered", g.trust_discovered ? "yes" : "no");
    setting("sentinels", "ping_interval", std::to_string(g.ping_interval_ms) + "ms");
    setting("sentinels", "reread_interval", std::to_string(g.reread_interval_ms) + "ms");
    setting("haproxy", "check_command", g.haproxy_check_command);
    setting("haproxy", "runtime_socket", g.haproxy_runtime_socket);
    if (g.consul)
        setting("consul", "mode", g.consul_mode);
    return v;
}

} // namespace rh
