#include "parent/output.h"

#include <cstdio>
#include <ctime>

#include "common/log.h"
#include "parent/statefile.h"

namespace rh {

namespace {

int64_t wall_now() {
    return static_cast<int64_t>(time(nullptr));
}

proto::ApplyResult applied_result(const std::string& name, const MasterAt& m, int64_t now,
                                  proto::ApplyPath path) {
    return proto::ApplyResult{name, proto::ApplyState::Applied, m.master, m.epoch, now, "", path};
}

// The path the engine measures failover propagation by: only a runtime
// switch or a reload put a new master in front of clients.
proto::ApplyPath wire_path(ApplyPath p) {
    switch (p) {
    case ApplyPath::runtime:
        return proto::ApplyPath::Runtime;
    case ApplyPath::reload:
        return proto::ApplyPath::Reload;
    case ApplyPath::unchanged:
    case ApplyPath::file_only:
        break;
    }
    return proto::ApplyPath::None;
}

// However many refusals arrive, one log line per window.
constexpr auto kRefusalLogWindow = std::chrono::seconds(1);

} // namespace

std::string batch_summary(const MasterMap& batch, size_t messages, size_t max_chars) {
    std::string line = std::to_string(batch.size()) +
                       (batch.size() == 1 ? " cluster confirmed" : " clusters confirmed");
    if (messages != batch.size())
        line += " (" + std::to_string(messages) + " messages)";
    line += ":";
    size_t shown = 0;
    for (auto& [name, m] : batch) {
        std::string item = (shown ? ", " : " ") + name + " " + format_host_port(m.master) +
                           " epoch " + std::to_string(m.epoch);
        if (line.size() + item.size() > max_chars)
            break;
        line += item;
        shown++;
    }
    if (shown < batch.size())
        line += (shown ? ", … and " : " … ") + std::to_string(batch.size() - shown) +
                (shown ? " more" : " clusters");
    return line;
}

Output::Output(event_base* base, const Config& config, std::string template_text, Hooks hooks)
    : config_(config), hooks_(std::move(hooks)), base_(base),
      grace_timer_(base, [this] { on_grace_over(); }), apply_timer_(base, [this] { apply(); }),
      refusal_timer_(base, [this] { on_refusal_window(); }),
      burst_timer_(base, [this] { schedule_apply(); }),
      prepare_timer_(base, [this] { prepare_now(); }) {
    // What was last applied: a restart renders exactly that until the
    // engine knows better, so it never writes an empty or partial file.
    if (!config_.state_file.empty())
        applied_ = load_state(config_.state_file);
    index_configured();
    drop_unconfigured();
    // Each stays unconfirmed until the engine confirms a master for it.
    for (auto& [name, m] : applied_)
        unconfirmed_.insert(unconfirmed_.end(), name);
    make_applier(std::move(template_text));
}

bool Output::is_confirmed(const std::string& cluster) const {
    return unapplied_.count(cluster) || (applied_.count(cluster) && !unconfirmed_.count(cluster));
}

const MasterAt* Output::desired(const std::string& cluster) const {
    if (auto it = unapplied_.find(cluster); it != unapplied_.end())
        return &it->second;
    if (auto a = applied_.find(cluster); a != applied_.end() && !unconfirmed_.count(cluster))
        return &a->second;
    return nullptr;
}

void Output::set_desired(const std::string& cluster, const MasterAt& m) {
    unconfirmed_.erase(cluster);
    if (auto a = applied_.find(cluster); a != applied_.end() && a->second == m)
        unapplied_.erase(cluster);
    else
        unapplied_[cluster] = m;
}

void Output::index_configured() {
    configured_ = ClusterIndex(config_.clusters);
}

// A state-file entry no configured cluster matches (renamed or removed
// while the daemon was stopped) is never replayed: the engine does not
// know that name.
void Output::drop_unconfigured() {
    for (auto it = applied_.begin(); it != applied_.end();) {
        if (configured_.contains(it->first)) {
            ++it;
            continue;
        }
        log::notice("state file %s: cluster %s is not configured; dropping it",
                    config_.state_file.c_str(), it->first.c_str());
        it = applied_.erase(it);
    }
}

void Output::start_grace_period() {
    grace_timer_.arm(config_.startup_grace);
}

void Output::confirmed(const proto::Master& m) {
    // Replicas are checked against one master: a new master empties the
    // read backend until the engine sends the one checked against it, so
    // the new master (a replica until now) never stays in it.
    if (const MasterAt* before = desired(m.cluster); before && before->master != m.master)
        desired_replicas_.erase(m.cluster);
    set_desired(m.cluster, MasterAt{m.master, m.epoch, m.addr});
    batch_[m.cluster] = MasterAt{m.master, m.epoch, m.addr};
    batch_messages_++;
    // The rest of the burst is on its way: one apply for all of it. An
    // engine that never ends its burst delays applies by kBurstHoldMax.
    if (m.more) {
        if (!burst_timer_.pending())
            burst_timer_.arm(kBurstHoldMax);
        return;
    }
    burst_timer_.cancel();
    schedule_apply();
}

void Output::replicas(const proto::Replicas& r) {
    if (r.replicas.empty())
        desired_replicas_.erase(r.cluster);
    else
        desired_replicas_[r.cluster] = r.replicas;
    // Part of a burst: applied with the rest of it, as masters are.
    if (r.more) {
        if (!burst_timer_.pending())
            burst_timer_.arm(kBurstHoldMax);
        return;
    }
    burst_timer_.cancel();
    schedule_apply();
}

void Output::refused(const std::string& why) {
    if (refusal_timer_.pending()) {
        refusals_hidden_++;
        last_refusal_ = why;
        return;
    }
    log::warn("engine message refused: %s", why.c_str());
    refusal_timer_.arm(kRefusalLogWindow);
}

// The window stays open while refusals keep coming: one line per window.
void Output::on_refusal_window() {
    if (refusals_hidden_ == 0)
        return;
    log::warn("%zu more engine messages refused in the last %lld ms; the last: %s",
              refusals_hidden_,
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(kRefusalLogWindow).count()),
              last_refusal_.c_str());
    refusals_hidden_ = 0;
    refusal_timer_.arm(kRefusalLogWindow);
}

// One apply per batch: every message already read is taken into account
// before rendering, so a storm of N switches costs one render, one write
// and one reload, not N. And at most one reload per min_reload_interval:
// after an apply that reloaded HAProxy, the next waits out the interval and
// takes everything that arrived meanwhile. A runtime switch, a file-only
// change or a configuration without [haproxy] reloads nothing and waits
// for nothing: the runtime path keeps its latency.
void Output::schedule_apply() {
    dirty_ = true;
    // While an apply runs, what arrives waits for it to end (on_applied
    // schedules again): one batch per apply, however long a reload takes.
    if (apply_timer_.pending() || (applier_ && applier_->busy()))
        return;
    auto next = last_apply_ +
                (last_apply_reloaded_ ? config_.min_reload_interval : std::chrono::milliseconds(0));
    auto now = std::chrono::steady_clock::now();
    auto wait = next > now ? std::chrono::duration_cast<std::chrono::microseconds>(next - now)
                           : std::chrono::microseconds(0);
    apply_timer_.arm(wait);
}

void Output::replay() {
    int64_t now = wall_now();
    for (auto& [name, m] : applied_)
        hooks_.report(applied_result(name, m, now, proto::ApplyPath::None));
}

void Output::retire_removed(const Config& fresh) {
    bool forgot = false;
    std::unordered_set<std::string> kept;
    kept.reserve(fresh.clusters.size());
    for (auto& c : fresh.clusters)
        kept.insert(c.name);
    for (auto& old : config_.clusters) {
        if (kept.count(old.name))
            continue;
        // Forgotten with or without [consul]: an engine started with the
        // new configuration does not know the name.
        forgot = applied_.erase(old.name) > 0 || forgot;
        unapplied_.erase(old.name);
        unconfirmed_.erase(old.name);
        desired_replicas_.erase(old.name);
        applied_replicas_.erase(old.name);
        batch_.erase(old.name);
        if (config_.consul)
            removed_[old.name] = old;
    }
    for (auto& c : fresh.clusters)
        removed_.erase(c.name);
    if (forgot)
        save_state_file();
}

void Output::reconfigure(std::string template_text) {
    index_configured();
    make_applier(std::move(template_text));
    apply();
}

size_t Output::confirmed_count() const {
    size_t n = 0;
    for (auto& c : config_.clusters)
        n += is_confirmed(c.name);
    return n;
}

size_t Output::applied_count() const {
    size_t n = 0;
    for (auto& c : config_.clusters)
        n += applied_.count(c.name);
    return n;
}

void Output::make_applier(std::string template_text) {
    applier_.reset();
    if (!config_.haproxy)
        return;
    ApplierSettings st;
    st.template_text = std::move(template_text);
    st.output = config_.haproxy_output;
    st.check_command = config_.check_command;
    st.check_always = config_.check_always;
    st.reload_command = config_.reload_command;
    st.reload_timeout = config_.reload_timeout;
    st.runtime_socket = config_.runtime_socket;
    st.runtime_timeout = config_.runtime_timeout;
    applier_ = std::make_unique<Applier>(base_, std::move(st), applied_, applied_replicas_,
                                         [this](const ApplyOutcome& r) { on_applied(r); });
}

// Nothing is written until something is known: every configured cluster
// has a confirmed master, or the start-up grace period is over.
bool Output::may_apply() const {
    if (grace_over_)
        return true;
    for (auto& c : config_.clusters)
        if (!is_confirmed(c.name))
            return false;
    return true;
}

void Output::on_grace_over() {
    grace_over_ = true;
    size_t unknown = config_.clusters.size() - confirmed_count();
    if (unknown)
        log::warn("start-up grace period over with %zu clusters without a confirmed master; "
                  "applying what is known",
                  unknown);
    apply();
    hooks_.in_effect("start-up grace period over");
}

void Output::apply() {
    dirty_ = false;
    hooks_.changed(); // once per batch of engine messages
    log_batch();
    if (!may_apply())
        return;
    last_apply_ = std::chrono::steady_clock::now();
    if (!applier_)
        return apply_without_output();
    applier_->submit(haproxy_clusters());
}

// One line per batch, not one per message: an engine flooding Master
// messages costs a line per min_reload_interval at most.
void Output::log_batch() {
    if (batch_.empty())
        return;
    log::notice("%s", batch_summary(batch_, batch_messages_).c_str());
    batch_.clear();
    batch_messages_ = 0;
}

void Output::prepare_first_apply() {
    if (applier_)
        prepare_timer_.arm(std::chrono::milliseconds(1));
}

void Output::prepare_now() {
    if (!applier_)
        return;
    auto likely = haproxy_clusters();
    for (auto& c : likely)
        if (!c.master)
            c.master = HostPort{"0.0.0.0", 1}; // a placeholder: only its family counts
    applier_->prepare(likely);
}

// Every configured cluster, at its confirmed master or, until the engine
// confirms one, at the one in effect.
std::vector<HaproxyCluster> Output::haproxy_clusters() const {
    std::vector<HaproxyCluster> want;
    want.reserve(config_.clusters.size());
    for (auto& c : config_.clusters) {
        HaproxyCluster h;
        h.name = c.name;
        h.external_port = c.external_port;
        h.backend = c.haproxy_backend();
        h.server = c.haproxy_server();
        const MasterAt* m = nullptr;
        if (auto it = unapplied_.find(c.name); it != unapplied_.end())
            m = &it->second;
        else if (auto a = applied_.find(c.name); a != applied_.end())
            m = &a->second;
        if (m) {
            h.master = m->master;
            h.epoch = m->epoch;
            h.addr = m->addr;
        }
        h.replica_backend = c.replica_backend();
        h.replica_port = c.replica_port;
        h.max_replicas = c.max_replicas;
        // Only with a confirmed master: the read backend was checked
        // against it. A removed replica_backend drops the replicas.
        if (auto r = desired_replicas_.find(c.name);
            !c.replica_backend().empty() && r != desired_replicas_.end() && is_confirmed(c.name))
            for (const auto& x : r->second)
                if (x.slot < c.max_replicas)
                    h.replicas.push_back(x);
        want.push_back(std::move(h));
    }
    return want;
}

void Output::on_applied(const ApplyOutcome& r) {
    last_apply_reloaded_ = r.path == ApplyPath::reload;
    if (dirty_)
        schedule_apply();
    int64_t now = wall_now();
    log_outcome(r);
    for (const auto& name : r.replicas_changed) {
        auto it = r.in_effect_replicas.find(name);
        if (r.ok)
            log::info("cluster %s: read backend applied by %s: %zu replicas", name.c_str(),
                      apply_path_name(r.path),
                      it == r.in_effect_replicas.end() ? size_t{0} : it->second.size());
    }
    applied_replicas_ = r.in_effect_replicas;
    take_in_effect(r.in_effect, now, wire_path(r.path));
    if (r.path == ApplyPath::reload && hooks_.reloaded)
        hooks_.reloaded();
    if (!r.ok) {
        last_error_ = "haproxy: " + r.error;
        report_errors(r.error, r.reason, now);
        hooks_.changed();
        return;
    }
    last_error_.clear();
    hooks_.changed();
    // Only applies that may_apply() allowed reach here: the first one is
    // the first topology in effect.
    hooks_.in_effect("first topology applied to haproxy");
}

void Output::log_outcome(const ApplyOutcome& r) const {
    if (!r.ok) {
        log::error("haproxy: %s", r.error.c_str());
        if (!r.command_output.empty())
            log::error("haproxy: command output: %s", r.command_output.c_str());
        return;
    }
    if (r.path == ApplyPath::unchanged)
        return;
    char check[32] = "check skipped";
    if (!r.check_skipped)
        snprintf(check, sizeof check, "check %.1f ms", r.check_ms);
    log::notice("haproxy: applied by %s%s (render %.1f ms, write %.1f ms, %s, switch %.1f ms, "
                "reload %.1f ms)",
                apply_path_name(r.path),
                r.runtime_fallback ? " after the runtime switch failed" : "", r.render_ms,
                r.write_ms, check, r.switch_ms, r.reload_ms);
}

// Without an output section there is nothing to write: what the engine
// confirmed is, by definition, what is in effect.
void Output::apply_without_output() {
    MasterMap next = applied_;
    for (auto& [name, m] : unapplied_)
        next[name] = m;
    take_in_effect(next, wall_now(), proto::ApplyPath::None);
    hooks_.changed();
    hooks_.in_effect(grace_over_ ? "start-up grace period over"
                                 : "every cluster has a confirmed master");
}

// The one place applied_ changes after start-up: reports each cluster whose
// master came into effect and saves the state file. Returns whether
// anything changed.
bool Output::take_in_effect(const MasterMap& in_effect, int64_t now, proto::ApplyPath path) {
    if (in_effect == applied_)
        return false;
    // What the engine confirmed does not change with what is in effect: a
    // confirmed master that leaves becomes unapplied, a master that comes
    // into effect unconfirmed (none does today) is marked so.
    for (auto& [name, m] : applied_) {
        auto it = in_effect.find(name);
        if ((it == in_effect.end() || it->second != m) && !unconfirmed_.count(name))
            unapplied_.emplace(name, m); // unless it has an unapplied master already
        if (it == in_effect.end())
            unconfirmed_.erase(name);
    }
    for (auto& [name, m] : in_effect) {
        auto it = applied_.find(name);
        if (it == applied_.end() || it->second != m)
            hooks_.report(applied_result(name, m, now, path));
        if (it == applied_.end() && !unapplied_.count(name))
            unconfirmed_.insert(name);
    }
    applied_ = in_effect;
    for (auto it = unapplied_.begin(); it != unapplied_.end();) {
        auto a = applied_.find(it->first);
        it = a != applied_.end() && a->second == it->second ? unapplied_.erase(it) : std::next(it);
    }
    save_state_file();
    return true;
}

// Each confirmed master that is not in effect failed to apply.
void Output::report_errors(const std::string& error, proto::ApplyError reason, int64_t now) {
    for (auto& [name, m] : unapplied_) {
        auto it = applied_.find(name);
        if (it != applied_.end() && it->second == m)
            continue;
        proto::ApplyResult r{
            name, proto::ApplyState::Error,         std::nullopt,           0,
            now,  error.substr(0, proto::kMaxText), proto::ApplyPath::None, reason};
        if (it != applied_.end()) {
            r.master = it->second.master;
            r.epoch = it->second.epoch;
        }
        hooks_.report(r);
    }
}

void Output::save_state_file() {
    if (config_.state_file.empty())
        return;
    std::string err;
    if (!save_state(config_.state_file, applied_, &err))
        log::error("state file: %s", err.c_str()); // HAProxy is right; only the memo failed
}

} // namespace rh
