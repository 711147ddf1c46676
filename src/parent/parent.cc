// The parent's main loop: signals, SIGHUP reloads, systemd notification, and
// the wiring of the Supervisor (the engine process), the engine-message check
// and the Output (desired and applied state, HAProxy, the state file).
#include "parent/parent.h"

#include <event2/event.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <unordered_set>

#include "common/evutil.h"
#include "common/file.h"
#include "common/heap.h"
#include "common/log.h"
#include "config/config.h"
#include "config/engine_settings.h"
#include "parent/chroot.h"
#include "parent/engine_check.h"
#include "parent/fence.h"
#include "parent/haproxy.h"
#include "parent/notify.h"
#include "parent/outfile.h"
#include "parent/output.h"
#include "parent/procstat.h"
#include "parent/supervisor.h"

namespace rh {

namespace {

// Reads the secrets the engine cannot read from inside its chroot.
bool load_secrets(Config& c) {
    if (c.consul && !c.consul_token_file.empty()) {
        std::string err;
        std::string token = load_secret_file(c.consul_token_file, &err);
        if (!err.empty()) {
            log::error("consul token_file %s: %s", c.consul_token_file.c_str(), err.c_str());
            return false;
        }
        c.consul_token = token;
    }
    if (c.consul && !c.consul_ca_file.empty()) {
        std::string pem, err;
        if (!read_file_capped(c.consul_ca_file, proto::kMaxPem, &pem, &err)) {
            log::error("consul ca_file %s: %s", c.consul_ca_file.c_str(), err.c_str());
            return false;
        }
        c.consul_ca_pem = std::move(pem);
    }
    return true;
}

// The most bytes the parent queues to the engine before it kills it as
// unresponsive (redishappyd(8), LIMITS): 1 MiB, plus room for two full
// batches of apply results with error texts (about 1.1 KiB each, one per
// cluster). An engine that reads keeps far below it: applies are at least
// min_reload_interval apart.
size_t engine_queue_limit(size_t clusters) {
    return (size_t{1} << 20) + clusters * 2 * 1152;
}

// The configuration at opts.config_path, checked (with the engine's
// libraries when they are needed), with the secrets the engine cannot
// read; every error is logged with its file:line. False when unusable.
bool load_usable(const Options& opts, Config* out, std::string* template_text) {
    auto errors = load_and_check(opts.config_path, out, template_text);
    if (errors.empty() && opts.check_libraries)
        errors = opts.check_libraries(*out);
    for (auto& e : errors)
        log::error("%s", format_error(e).c_str());
    return errors.empty() && load_secrets(*out);
}

std::vector<std::string> engine_args(const Options& opts) {
    std::vector<std::string> args = {"-E", "-f", opts.config_path};
    if (opts.foreground)
        args.push_back("-d");
    for (int i = 0; i < opts.verbosity; i++)
        args.push_back("-v");
    return args;
}

class Parent {
  public:
    Parent(Options opts, Config config, std::string template_text);
    int run();

  private:
    using SignalFn = void (Parent::*)();
    struct SignalEvent {
        Parent* self;
        SignalFn fn;
        EventPtr ev;
    };
    void add_signal(int sig, SignalFn fn);
    static void signal_cb(evutil_socket_t, short, void* arg);

    void on_engine_started(Channel& ch);
    void on_engine_message(proto::Message&& m);
    void report(const proto::ApplyResult& r);
    void send_process_stats();
    bool send_checked(const proto::Message& m);
    void mark_ready(const char* why);
    void update_status();
    void on_sighup();
    void reload_config();
    void on_sigterm();
    void on_sigusr1() { log::reopen(); }

    Options opts_;
    Config config_;
    EventBasePtr base_;
    std::vector<std::unique_ptr<SignalEvent>> signals_;
    Timer trim_timer_;  // release_free_heap once messages and applies are quiet
    Timer stats_timer_; // samples both processes for the engine's /metrics
    ProcClock proc_clock_ = system_proc_clock();
    Output output_;
    Fencer fencer_; // after output_: lifts fences when Output reports a switch
    Supervisor engine_;
    uint64_t generation_ = 1;
    bool engine_ready_ = false;
    bool engine_retiring_ = false; // asked to stop: its messages are ignored
    // The epoch each cluster last got from this engine: it may not go below
    // while this engine (so this set of Sentinel links) runs.
    // By position in config_.clusters (engine_check.h); sized when an
    // engine starts, after any SIGHUP swap.
    std::vector<uint64_t> floors_;
    // Clusters whose last Master from this engine was refused: the engine's
    // read backend follows a master the parent does not, so it is ignored
    // (engine_check.h), not taken for a lie.
    std::unordered_set<std::string> master_refused_;
    bool stopping_ = false;
    bool ready_sent_ = false; // READY=1 sent to systemd
    std::string last_status_; // last STATUS= sent
};

EventBasePtr new_base() {
    EventBasePtr base(event_base_new());
    if (!base)
        log::fatalx("event_base_new failed");
    return base;
}

Parent::Parent(Options opts, Config config, std::string template_text)
    : opts_(std::move(opts)), config_(std::move(config)), base_(new_base()),
      trim_timer_(base_.get(), [] { release_free_heap(); }),
      stats_timer_(base_.get(), [this] { send_process_stats(); }),
      output_(base_.get(), config_, std::move(template_text),
              {[this](const proto::ApplyResult& r) { report(r); },
               [this](const char* why) { mark_ready(why); },
               [this] {
                   update_status();
                   trim_timer_.arm(kTrimAfterQuiet);
               },
               [this] { fencer_.reloaded(); }}),
      fencer_(base_.get(), config_, [this](const proto::FenceState& st) { send_checked(st); }),
      engine_(base_.get(), engine_args(opts_),
              {[this](Channel& ch) { on_engine_started(ch); },
               [this](proto::Message&& m) { on_engine_message(std::move(m)); },
               [this] { update_status(); }}) {}

int Parent::run() {
    add_signal(SIGHUP, &Parent::on_sighup);
    add_signal(SIGTERM, &Parent::on_sigterm);
    add_signal(SIGINT, &Parent::on_sigterm);
    add_signal(SIGUSR1, &Parent::on_sigusr1);
    signal(SIGPIPE, SIG_IGN);
    output_.start_grace_period();
    update_status();
    engine_.start();
    event_base_dispatch(base_.get());
    log::info("stopped");
    return 0;
}

void Parent::add_signal(int sig, SignalFn fn) {
    auto se = std::make_unique<SignalEvent>(SignalEvent{this, fn, nullptr});
    se->ev.reset(evsignal_new(base_.get(), sig, &Parent::signal_cb, se.get()));
    if (!se->ev || evsignal_add(se->ev.get(), nullptr) != 0)
        log::fatalx("cannot watch signal %d", sig);
    signals_.push_back(std::move(se));
}

void Parent::signal_cb(evutil_socket_t, short, void* arg) {
    auto* se = static_cast<SignalEvent*>(arg);
    guarded("signal", [se] { (se->self->*se->fn)(); });
}

// ---- the engine ----

void Parent::on_engine_started(Channel& ch) {
    engine_retiring_ = false;
    engine_ready_ = false;
    floors_.assign(config_.clusters.size(), 0);
    master_refused_.clear();
    // Before the engine can chroot: it receives its configuration below.
    // The engine's own resolver reads its files before the chroot; only
    // libcurl (Consul) still resolves inside it, with the C library.
    std::string err;
    if (geteuid() == 0 && config_.consul && !copy_resolver_files(config_.chroot, &err))
        log::warn("chroot %s: %s; host names may not resolve in the engine", config_.chroot.c_str(),
                  err.c_str());
    if (!engine_messages(config_, generation_, output_.applied(), output_.removed(),
                         [&ch](const proto::Message& m) { return ch.send(m); }))
        log::fatalx("configuration does not fit the protocol limits");
}

// A closed set, each message checked against state before it is acted on.
void Parent::on_engine_message(proto::Message&& m) {
    if (engine_retiring_) {
        log::debug("engine %d is stopping: message ignored", static_cast<int>(engine_.pid()));
        return;
    }
    EngineCheck c = check_engine_message(
        m,
        {&config_, generation_, engine_ready_, &output_.applied(), &floors_, &output_.configured(),
         [this](const std::string& c) { return output_.desired(c); }, &master_refused_});
    if (c.kind == EngineCheck::Kind::violation)
        return engine_.kill("protocol violation: " + c.why);
    if (c.kind == EngineCheck::Kind::refuse) {
        if (auto* mm = std::get_if<proto::Master>(&m))
            master_refused_.insert(mm->cluster);
        return output_.refused(c.why);
    }
    if (std::holds_alternative<proto::Ready>(m)) {
        engine_ready_ = true;
        log::info("engine %d ready", static_cast<int>(engine_.pid()));
        update_status();
        output_.replay();
        fencer_.replay();
        output_.prepare_first_apply();
        return send_process_stats();
    }
    if (auto* rr = std::get_if<proto::Replicas>(&m)) {
        output_.replicas(*rr);
        return trim_timer_.arm(kTrimAfterQuiet);
    }
    if (auto* f = std::get_if<proto::Fence>(&m))
        return fencer_.fence(*f);
    if (auto* u = std::get_if<proto::Unfence>(&m))
        return fencer_.unfence(*u);
    auto& mm = std::get<proto::Master>(m);
    if (auto pos = output_.configured().position(mm.cluster); pos && *pos < floors_.size())
        floors_[*pos] = mm.epoch;
    master_refused_.erase(mm.cluster);
    output_.confirmed(mm);
    trim_timer_.arm(kTrimAfterQuiet);
}

void Parent::report(const proto::ApplyResult& r) {
    send_checked(r);
    if (r.state == proto::ApplyState::Applied)
        fencer_.applied(r.cluster, r.master);
}

// Both processes as /proc shows them, for the engine's /metrics (it cannot
// read /proc in its chroot). Every kProcessSampleInterval while an engine
// runs, and at once when one is ready.
void Parent::send_process_stats() {
    stats_timer_.arm(kProcessSampleInterval);
    if (!engine_ready_ || engine_retiring_)
        return;
    proto::ProcessStats st;
    st.parent = sample_process(0, proc_clock_);
    st.engine = sample_process(engine_.pid(), proc_clock_);
    st.engine_restarts = engine_.unexpected_exits();
    send_checked(st);
}

// An engine that stops reading must not make the root parent queue without
// bound: over the budget it is killed as unresponsive (and replaced).
bool Parent::send_checked(const proto::Message& m) {
    if (!engine_ready_ || !engine_.send(m))
        return false;
    size_t limit = engine_queue_limit(config_.clusters.size());
    if (engine_.queued() > limit)
        engine_.kill("unresponsive: " + std::to_string(engine_.queued()) +
                     " bytes queued to it, over the limit of " + std::to_string(limit));
    return true;
}

// ---- systemd (no-ops unless started by systemd with Type=notify) ----

// READY=1, once: at the first apply the start-up gate allowed (every
// cluster confirmed and, with [haproxy], in effect there), or when the
// start-up grace period ends, whichever comes first.
void Parent::mark_ready(const char* why) {
    if (ready_sent_ || stopping_)
        return;
    ready_sent_ = true;
    notify_ready();
    log::info("ready: %s", why);
}

// STATUS= for systemctl status; sent only when the line changes.
void Parent::update_status() {
    StatusFacts f;
    f.clusters = config_.clusters.size();
    f.confirmed = output_.confirmed_count();
    f.applied = output_.applied_count();
    f.grace_over = output_.grace_over();
    f.engine_running = !engine_.waiting_to_restart();
    f.error = output_.last_error();
    std::string line = stopping_ ? std::string("stopping") : status_line(f);
    if (line == last_status_)
        return;
    last_status_ = line;
    notify_status(line);
}

// ---- signals ----

// Once ready, a reload is bracketed by RELOADING=1 and READY=1, whether the
// new file is taken or rejected (the daemon runs on either way). Before the
// first READY=1 it sends neither: READY=1 then still means the first
// topology is in effect.
void Parent::on_sighup() {
    bool was_ready = ready_sent_ && !stopping_;
    if (was_ready)
        notify_reloading();
    reload_config();
    update_status();
    if (was_ready)
        notify_ready();
}

void Parent::reload_config() {
    log::info("SIGHUP: reloading %s", opts_.config_path.c_str());
    Config fresh;
    std::string template_text;
    if (!load_usable(opts_, &fresh, &template_text)) {
        log::error("configuration rejected; still running with the previous one");
        return;
    }
    output_.retire_removed(fresh);
    config_ = std::move(fresh);
    output_.reconfigure(std::move(template_text));
    fencer_.reconfigure();
    log::set_level(config_.log_level);
    generation_++;
    log::info("configuration reloaded; restarting the engine with it");
    // Nothing the old engine says in the grace it has to stop is applied
    // under the new file.
    engine_retiring_ = true;
    engine_.restart();
}

void Parent::on_sigterm() {
    if (stopping_)
        return;
    log::info("stopping");
    stopping_ = true;
    notify_stopping();
    update_status();
    engine_retiring_ = true;
    engine_.stop([this] { event_base_loopexit(base_.get(), nullptr); });
}

} // namespace

std::vector<ConfigError> load_and_check(const std::string& path, Config* out,
                                        std::string* template_text) {
    ParseResult r = load_config(path);
    if (r.errors.empty()) {
        auto env = check_environment(r.config, geteuid() == 0);
        r.errors.insert(r.errors.end(), env.begin(), env.end());
    }
    if (r.errors.empty() && r.config.haproxy) {
        std::string err;
        std::string text;
        if (!read_file_capped(r.config.haproxy_template, 4u << 20, &text, &err))
            err = "cannot read: " + err;
        else if (!check_template(text, &err))
            err = "does not render: " + err;
        if (!err.empty())
            r.errors.push_back({r.config.path, r.config.template_line,
                                "template " + r.config.haproxy_template + ": " + err});
        else if (template_text)
            *template_text = std::move(text);
    }
    *out = std::move(r.config);
    return r.errors;
}

int parent_main(const Options& opts) {
    Config config;
    std::string template_text;
    if (!load_usable(opts, &config, &template_text))
        return 1;
    log::Level level = config.log_level;
    for (int i = 0; i < opts.verbosity && level > log::Level::debug; i++)
        level = static_cast<log::Level>(static_cast<int>(level) - 1);
    log::init("parent", opts.foreground, config.log_facility, level);
    if (!opts.foreground && daemon(0, 0) != 0)
        log::fatal("daemon");
    log::info("starting (parent, pid %d)", static_cast<int>(getpid()));
    std::string pid_file = config.pid_file;
    if (!pid_file.empty()) {
        std::string err;
        // Fresh, root 0644: never the owner or mode of whatever is there.
        if (!write_file_atomic(pid_file, std::to_string(getpid()) + "\n", &err,
                               FileAttributes::fresh))
            log::fatalx("pid_file: %s", err.c_str());
    }
    int status = 0;
    {
        Parent p(opts, std::move(config), std::move(template_text));
        status = p.run();
    }
    if (!pid_file.empty())
        unlink(pid_file.c_str());
    return status;
}

} // namespace rh
