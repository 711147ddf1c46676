// Applier: the apply pipeline as a chain of asynchronous steps.
#include "parent/applier.h"

#include "common/file.h"
#include "common/log.h"

namespace rh {

namespace {

using Clock = std::chrono::steady_clock;

// A rendered haproxy.cfg larger than this is not ours: rewrite it whole.
constexpr size_t kMaxOutput = 64u << 20;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The output as it is now; nullopt when it cannot be read, which leads to a
// full write and reload rather than a runtime switch.
std::optional<std::string> current_output(const std::string& path) {
    std::string text, err;
    if (!read_file_capped(path, kMaxOutput, &text, &err))
        return std::nullopt;
    return text;
}

// Frees x's buffer too, which neither clear() nor "x = {}" does.
template <class T> void release(T& x) {
    T().swap(x);
}

// For an Applier whose owner keeps no read backends.
const ReplicaMap& no_replicas() {
    static const ReplicaMap none;
    return none;
}

const std::vector<proto::ReplicaAt>& replicas_of(const ReplicaMap& m, const std::string& name) {
    static const std::vector<proto::ReplicaAt> none;
    auto it = m.find(name);
    return it == m.end() ? none : it->second;
}

} // namespace

const char* apply_path_name(ApplyPath p) {
    switch (p) {
    case ApplyPath::unchanged:
        return "unchanged";
    case ApplyPath::runtime:
        return "runtime";
    case ApplyPath::reload:
        return "reload";
    case ApplyPath::file_only:
        return "file-only";
    }
    return "?";
}

Applier::Applier(event_base* base, ApplierSettings settings, const MasterMap& in_effect, Done done)
    : Applier(base, std::move(settings), in_effect, no_replicas(), std::move(done)) {}

Applier::Applier(event_base* base, ApplierSettings settings, const MasterMap& in_effect,
                 const ReplicaMap& in_effect_replicas, Done done)
    : base_(base), s_(std::move(settings)), in_effect_(in_effect),
      in_effect_replicas_(in_effect_replicas), done_(std::move(done)), runner_(base),
      runtime_(base, s_.runtime_socket), kick_(base, [this] { start(); }) {}

void Applier::submit(std::vector<HaproxyCluster> desired) {
    pending_ = std::move(desired);
    if (!running_ && !kick_.pending())
        kick_.arm(std::chrono::microseconds(0));
}

// The skeleton of clusters' shape, rendered only when the shape differs
// from the last one.
const Applier::Skeleton& Applier::skeleton_of(const std::vector<HaproxyCluster>& clusters) {
    if (!shape_ || !has_shape_key(clusters, *shape_)) {
        shape_skeleton_.reset();
        if (auto sk = render_skeleton(s_.template_text, clusters)) {
            sk->shrink_to_fit(); // kept until the shape changes: no growth room
            shape_skeleton_ = std::make_shared<const std::string>(std::move(*sk));
        }
        shape_ = shape_key(clusters);
        shape_->shrink_to_fit(); // kept until the shape changes
    }
    return shape_skeleton_;
}

void Applier::prepare(const std::vector<HaproxyCluster>& likely) {
    if (busy() || shape_)
        return;
    auto t = Clock::now();
    bool made = skeleton_of(likely) != nullptr;
    log::debug("haproxy: skeleton of %zu clusters %s ahead of the first apply in %.1f ms",
               likely.size(), made ? "rendered" : "not made", ms_since(t));
}

// What render() gives for clusters, from the skeleton of their shape when
// there is one: a batch that only moves masters costs no template render.
std::optional<std::string> Applier::rendering(const std::vector<HaproxyCluster>& clusters,
                                              std::string* err) {
    if (const auto& skeleton = skeleton_of(clusters))
        if (auto bytes = fill_skeleton(*skeleton, clusters))
            return bytes;
    return render(s_.template_text, clusters, err);
}

// Fills to_switch_ with the clusters whose master moved from one known
// address to another, and returns true when that is the only difference
// between the file on disk and the desired rendering.
bool Applier::compute_switches(const std::string& current) {
    to_switch_.clear();
    replicas_to_switch_.clear();
    std::vector<HaproxyCluster> before = desired_;
    for (auto& c : before) {
        // The read backend in effect; a change of it alone is a runtime change.
        const auto& had = replicas_of(in_effect_replicas_, c.name);
        if (had != c.replicas)
            replicas_to_switch_.push_back(&desired_[static_cast<size_t>(&c - before.data())]);
        c.replicas = had;
        auto it = in_effect_.find(c.name);
        if (it == in_effect_.end()) {
            if (c.master)
                return false; // from "no master" to a master: not a runtime change
            continue;
        }
        if (!c.master)
            return false; // master lost: the file changes shape
        if (*c.master != it->second.master || c.address() != it->second.address())
            to_switch_.push_back(&desired_[static_cast<size_t>(&c - before.data())]);
        c.master = it->second.master;
        c.epoch = it->second.epoch;
        c.addr = it->second.addr;
    }
    // Same shape as desired_ (the usual case: masters moved within a
    // family): filled from the skeleton already made, no second render.
    // (start() made shape_ desired_'s.)
    std::optional<std::string> base;
    if (skeleton_ && shape_ && has_shape_key(before, *shape_))
        base = fill_skeleton(*skeleton_, before);
    if (!base)
        base = render(s_.template_text, before, nullptr);
    return base && *base == current;
}

void Applier::start() {
    if (running_ || !pending_)
        return;
    running_ = true;
    desired_ = std::move(*pending_);
    pending_.reset();
    result_ = ApplyOutcome{};
    result_.in_effect = in_effect_;
    result_.in_effect_replicas = in_effect_replicas_;
    temp_.reset();

    t_ = Clock::now();
    std::string err;
    auto bytes = rendering(desired_, &err);
    skeleton_ = shape_skeleton_; // desired_'s: rendering() made its shape the last one
    result_.render_ms = ms_since(t_);
    if (!bytes)
        return fail_apply(proto::ApplyError::Render, s_.output + ": " + err);
    bytes_ = std::move(*bytes);
    auto current = current_output(s_.output);
    bool only_masters = current && compute_switches(*current);
    for (const auto& c : desired_) {
        auto it = in_effect_.find(c.name);
        bool had = it != in_effect_.end();
        if (had != c.master.has_value() ||
            (had && (it->second.master != *c.master || it->second.address() != c.address())))
            result_.switched.push_back(c.name);
        if (replicas_of(in_effect_replicas_, c.name) != c.replicas)
            result_.replicas_changed.push_back(c.name);
    }
    bool runtime_work = !to_switch_.empty() || !result_.replicas_changed.empty();

    if (current && *current == bytes_ && !runtime_work && !reload_owed_) {
        result_.path = ApplyPath::unchanged;
        return succeed();
    }
    if (only_masters && !reload_owed_ && !s_.runtime_socket.empty() && runtime_work)
        return try_runtime();
    if (only_masters && !reload_owed_ && !runtime_work) {
        result_.path = ApplyPath::file_only; // e.g. only an epoch changed
        return write_and_check(false);
    }
    result_.path = ApplyPath::reload;
    write_and_check(true);
}

void Applier::try_runtime() {
    std::vector<std::string> cmds;
    for (auto* c : to_switch_) {
        if (c->backend.empty() || c->server.empty()) {
            log::warn("cluster %s: no haproxy backend/server known; reloading instead",
                      c->name.c_str());
            result_.path = ApplyPath::reload;
            result_.runtime_fallback = true;
            return write_and_check(true);
        }
        // The runtime socket is given the IP literal: HAProxy would not
        // resolve a name there.
        for (auto& cmd :
             switch_commands(c->backend, c->server, HostPort{c->address(), c->master->port}))
            cmds.push_back(std::move(cmd));
    }
    for (auto* c : replicas_to_switch_) {
        if (c->replica_backend.empty()) {
            // The read backend was removed from the configuration with
            // nothing else changing: only a reload makes the file agree.
            result_.path = ApplyPath::reload;
            result_.runtime_fallback = true;
            return write_and_check(true);
        }
        for (auto& cmd : replica_commands(c->replica_backend,
                                          replicas_of(in_effect_replicas_, c->name), c->replicas))
            cmds.push_back(std::move(cmd));
    }
    t_ = Clock::now();
    runtime_.run(std::move(cmds), s_.runtime_timeout, [this](RuntimeResult r) {
        result_.switch_ms = ms_since(t_);
        if (r.ok) {
            result_.path = ApplyPath::runtime;
            return write_and_check(false);
        }
        log::warn("%s; falling back to a reload", r.error.c_str());
        result_.runtime_fallback = true;
        result_.path = ApplyPath::reload;
        write_and_check(true);
    });
}

void Applier::write_and_check(bool reload_after) {
    t_ = Clock::now();
    std::string err;
    temp_ = PendingFile::create(s_.output, bytes_, &err);
    result_.write_ms = ms_since(t_);
    if (!temp_)
        return fail_apply(proto::ApplyError::Write, err);
    if (s_.check_command.empty())
        return commit_file(reload_after);
    // Never install a file HAProxy would reject: one that differs from the
    // last accepted file only in validated masters cannot be rejected for a
    // new reason, so it is not checked again (check_always forces it).
    if (!s_.check_always && skeleton_ && checked_skeleton_ &&
        (skeleton_ == checked_skeleton_ || *skeleton_ == *checked_skeleton_)) {
        result_.check_skipped = true;
        return commit_file(reload_after);
    }
    t_ = Clock::now();
    runner_.run(substitute_path(s_.check_command, temp_->temp_path()), s_.check_timeout,
                [this, reload_after](CommandResult r) {
                    result_.check_ms = ms_since(t_);
                    if (!r.ok()) {
                        temp_.reset(); // discards the candidate; the old file stays
                        return fail_apply(proto::ApplyError::Check,
                                          s_.output + ": check_command " + r.describe() +
                                              "; keeping the current file",
                                          r.output);
                    }
                    checked_skeleton_ = skeleton_;
                    commit_file(reload_after);
                });
}

void Applier::commit_file(bool reload_after) {
    auto t = Clock::now();
    std::string err;
    bool ok = temp_->commit(&err);
    temp_.reset();
    result_.write_ms += ms_since(t);
    if (!ok)
        return fail_apply(proto::ApplyError::Write, err);
    if (reload_after && !s_.reload_command.empty())
        return reload();
    succeed();
}

void Applier::reload() {
    reload_owed_ = true;
    t_ = Clock::now();
    runner_.run(s_.reload_command, s_.reload_timeout, [this](CommandResult r) {
        result_.reload_ms = ms_since(t_);
        if (!r.ok())
            return fail_apply(proto::ApplyError::Reload,
                              s_.output + ": reload_command " + r.describe(), r.output);
        reload_owed_ = false;
        succeed();
    });
}

void Applier::succeed() {
    result_.in_effect.clear();
    result_.in_effect_replicas.clear();
    for (const auto& c : desired_) {
        if (c.master)
            result_.in_effect[c.name] = MasterAt{*c.master, c.epoch, c.addr};
        if (!c.replicas.empty())
            result_.in_effect_replicas[c.name] = c.replicas;
    }
    result_.ok = true;
    finish();
}

void Applier::fail_apply(proto::ApplyError reason, std::string why, std::string output) {
    result_.ok = false;
    result_.reason = reason;
    result_.error = std::move(why);
    result_.command_output = std::move(output);
    // A runtime switch that went through is real even if the file step
    // failed: report it, so the next apply does not switch again.
    if (result_.path == ApplyPath::runtime) {
        for (auto* c : to_switch_)
            result_.in_effect[c->name] = MasterAt{*c->master, c->epoch, c->addr};
        for (auto* c : replicas_to_switch_)
            if (c->replicas.empty())
                result_.in_effect_replicas.erase(c->name);
            else
                result_.in_effect_replicas[c->name] = c->replicas;
    }
    finish();
}

void Applier::finish() {
    running_ = false;
    // The apply's copies (a file's worth each at 10,000 clusters) are not
    // kept between applies: only the shape and the skeletons are. Swapped
    // with empty ones, since "x = {}" and clear() keep the capacity: they
    // left the 2.6 MB desired_ and the 1.1 MB bytes_ buffers allocated.
    release(to_switch_);
    release(replicas_to_switch_);
    release(desired_);
    release(bytes_);
    skeleton_.reset();
    ApplyOutcome r = std::move(result_);
    if (done_)
        done_(r);
    if (pending_)
        kick_.arm(std::chrono::microseconds(0));
}

} // namespace rh
