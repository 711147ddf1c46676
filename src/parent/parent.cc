#include "parent/parent.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <type_traits>

#include "common/backoff.h"
#include "common/channel.h"
#include "common/evutil.h"
#include "common/file.h"
#include "common/heap.h"
#include "common/log.h"
#include "common/proto.h"
#include "config/config.h"
#include "parent/applier.h"
#include "parent/haproxy.h"
#include "parent/notify.h"
#include "parent/outfile.h"
#include "parent/statefile.h"

namespace rh {

namespace {

constexpr int kEngineFd = 3;
using namespace std::chrono_literals;

int pidfd_open(pid_t pid) {
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "stopped";
}

// The engine's view of the configuration, sent as begin / items / end.
proto::ConfigCluster cluster_message(const ClusterConfig& cl) {
    proto::ConfigCluster m;
    m.name = cl.name;
    m.external_port = cl.external_port;
    m.password = cl.password;
    m.haproxy_backend = cl.haproxy_backend;
    m.haproxy_server = cl.haproxy_server;
    m.consul_service = cl.consul_service;
    m.consul_service_id = cl.consul_service_id;
    m.consul_node = cl.consul_node;
    m.consul_datacenter = cl.consul_datacenter;
    m.consul_tags = cl.consul_tags;
    return m;
}

std::vector<proto::Message> engine_config(const Config& c, uint64_t generation,
                                          const std::map<std::string, proto::Master>& applied,
                                          const std::map<std::string, ClusterConfig>& removed) {
    std::vector<proto::Message> out;
    proto::ConfigBegin b;
    b.generation = generation;
    b.log_level = static_cast<uint8_t>(c.log_level);
    b.log_facility = c.log_facility;
    b.user = c.user;
    b.chroot_dir = c.chroot;
    b.api_listen = c.api_listen;
    b.sentinel_password = c.sentinel_password;
    size_t trusted = c.sentinels.size();
    b.min_agreement = static_cast<uint16_t>(c.min_agreement > 0 ? c.min_agreement
                                            : trusted >= 2      ? 2
                                                                : 1);
    b.trust_discovered = c.trust_discovered;
    b.ping_interval_ms = static_cast<uint32_t>(c.ping_interval.count());
    b.ping_timeout_ms = static_cast<uint32_t>(c.ping_timeout.count());
    b.connect_timeout_ms = static_cast<uint32_t>(c.connect_timeout.count());
    b.reread_interval_ms = static_cast<uint32_t>(c.reread_interval.count());
    b.confirm_timeout_ms = static_cast<uint32_t>(c.confirm_timeout.count());
    b.forget_discovered_after_ms = static_cast<uint32_t>(c.forget_discovered_after.count());
    b.backoff_max_ms = static_cast<uint32_t>(c.backoff_max.count());
    b.max_epoch_jump = c.max_epoch_jump;
    b.consul = c.consul;
    b.consul_address = c.consul_address;
    b.consul_mode = c.consul ? c.consul_mode : "";
    b.consul_token = c.consul_token;
    b.consul_ca_pem = c.consul_ca_pem;
    b.consul_timeout_ms = static_cast<uint32_t>(c.consul_timeout.count());
    b.consul_retry_max_ms = static_cast<uint32_t>(c.consul_retry_max.count());
    b.config_path = c.path;
    b.haproxy_template = c.haproxy_template;
    b.haproxy_output = c.haproxy_output;
    b.haproxy_check_command = c.check_command;
    b.haproxy_reload_command = c.reload_command;
    b.haproxy_runtime_socket = c.runtime_socket;
    out.emplace_back(std::move(b));
    for (auto& s : c.sentinels)
        out.emplace_back(proto::ConfigSentinel{s});
    for (auto& cl : c.clusters) {
        proto::ConfigCluster m = cluster_message(cl);
        if (auto it = applied.find(cl.name); it != applied.end()) {
            m.applied_master = it->second.master;
            m.applied_epoch = it->second.epoch;
        }
        out.emplace_back(std::move(m));
    }
    for (auto& [name, cl] : removed) {
        proto::ConfigCluster m = cluster_message(cl);
        m.removed = true;
        out.emplace_back(std::move(m));
    }
    out.emplace_back(proto::ConfigEnd{generation, static_cast<uint32_t>(c.sentinels.size()),
                                      static_cast<uint32_t>(c.clusters.size() + removed.size())});
    return out;
}

class Parent {
  public:
    Parent(Options opts, Config config, std::string template_text)
        : opts_(std::move(opts)), config_(std::move(config)), base_(event_base_new()),
          restart_timer_(base_.get(), [this] { start_engine(); }),
          kill_timer_(base_.get(), [this] { kill_engine("did not stop in time"); }),
          grace_timer_(base_.get(), [this] { on_grace_over(); }),
          apply_timer_(base_.get(), [this] { apply(); }),
          trim_timer_(base_.get(), [] { release_free_heap(); }), backoff_(100ms, 10s, 60s) {
        if (!base_)
            log::fatalx("event_base_new failed");
        // What was last applied: a restart renders exactly that until the
        // engine knows better, so it never writes an empty or partial file.
        if (!config_.state_file.empty()) {
            for (auto& [name, m] : load_state(config_.state_file))
                applied_[name] = proto::Master{name, m.master, m.epoch};
        }
        make_applier(std::move(template_text));
    }

    int run() {
        add_signal(SIGHUP, &Parent::on_sighup);
        add_signal(SIGTERM, &Parent::on_sigterm);
        add_signal(SIGINT, &Parent::on_sigterm);
        add_signal(SIGUSR1, &Parent::on_sigusr1);
        signal(SIGPIPE, SIG_IGN);
        grace_timer_.arm(config_.startup_grace);
        update_status();
        start_engine();
        event_base_dispatch(base_.get());
        log::info("stopped");
        return 0;
    }

  private:
    using SignalFn = void (Parent::*)();

    struct SignalEvent {
        Parent* self;
        SignalFn fn;
        EventPtr ev;
    };

    void add_signal(int sig, SignalFn fn) {
        auto se = std::make_unique<SignalEvent>(SignalEvent{this, fn, nullptr});
        se->ev.reset(evsignal_new(base_.get(), sig, &Parent::signal_cb, se.get()));
        if (!se->ev || evsignal_add(se->ev.get(), nullptr) != 0)
            log::fatalx("cannot watch signal %d", sig);
        signals_.push_back(std::move(se));
    }

    static void signal_cb(evutil_socket_t, short, void* arg) {
        auto* se = static_cast<SignalEvent*>(arg);
        guarded("signal", [se] { (se->self->*se->fn)(); });
    }

    // ---- engine lifecycle ----

    void start_engine() {
        if (stopping_ || engine_pid_ > 0)
            return;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return schedule_restart("socketpair: " + std::string(strerror(errno)));

        // Block signals across fork so the child cannot run our handlers
        // before exec; the child unblocks them and starts with defaults.
        // Built before fork: the child only calls async-signal-safe functions.
        ChildEnvironment env;
        std::vector<std::string> args = {"redishappyd", "-E", "-f", opts_.config_path};
        if (opts_.foreground)
            args.push_back("-d");
        for (int i = 0; i < opts_.verbosity; i++)
            args.push_back("-v");
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        pid_t pid = fork();
        if (pid == 0)
            exec_engine(sv[1], argv.data(), env.envp());
        int saved = errno;
        sigprocmask(SIG_SETMASK, &old, nullptr);
        close(sv[1]);
        if (pid < 0) {
            close(sv[0]);
            return schedule_restart("fork: " + std::string(strerror(saved)));
        }

        engine_pid_ = pid;
        int pfd = pidfd_open(pid);
        if (pfd < 0)
            log::fatal("pidfd_open");
        pidfd_ev_.reset(event_new(base_.get(), pfd, EV_READ, &Parent::engine_exit_cb, this));
        event_add(pidfd_ev_.get(), nullptr);
        engine_pidfd_ = pfd;
        backoff_.started(std::chrono::steady_clock::now());
        engine_ready_ = false;

        channel_ = std::make_unique<Channel>(
            base_.get(), sv[0], [this](proto::Message&& m) { on_engine_message(std::move(m)); },
            [this](const std::string& why, bool eof) { on_channel_error(why, eof); });
        for (auto& m : engine_config(config_, generation_, applied_, removed_))
            if (!channel_->send(m))
                log::fatalx("configuration does not fit the protocol limits");
        log::info("engine started, pid %d", static_cast<int>(pid));
    }

    [[noreturn]] void exec_engine(int fd, char** argv, char** envp) {
        if (fd != kEngineFd) {
            if (dup2(fd, kEngineFd) < 0)
                _exit(127);
        } else {
            fcntl(fd, F_SETFD, 0);
        }
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        // Re-execute ourselves: the engine starts from a fresh address space,
        // not a copy of the parent's memory (relayd, OpenNTPD). Without
        // NOTIFY_SOCKET: only the parent speaks to systemd.
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }

    static void engine_exit_cb(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<Parent*>(arg);
        guarded("engine exit", [self] { self->on_engine_exit(); });
    }

    void on_engine_exit() {
        int status = 0;
        pid_t pid = engine_pid_;
        if (waitpid(pid, &status, WNOHANG) != pid)
            return;
        pidfd_ev_.reset();
        close(engine_pidfd_);
        engine_pidfd_ = -1;
        engine_pid_ = -1;
        channel_.reset();
        kill_timer_.cancel();
        if (stopping_) {
            log::info("engine %d %s", static_cast<int>(pid), describe_status(status).c_str());
            event_base_loopexit(base_.get(), nullptr);
            return;
        }
        if (restart_now_) {
            restart_now_ = false;
            backoff_.reset();
            start_engine();
            return;
        }
        backoff_.failed(std::chrono::steady_clock::now());
        schedule_restart("engine " + std::to_string(pid) + " " + describe_status(status));
    }

    void schedule_restart(const std::string& why) {
        auto delay = backoff_.next();
        log::warn("%s; restarting it in %lld ms", why.c_str(),
                  static_cast<long long>(delay.count()));
        restart_timer_.arm(delay);
        update_status();
    }

    void kill_engine(const std::string& why) {
        if (engine_pid_ <= 0)
            return;
        log::error("engine %d: %s; killing it", static_cast<int>(engine_pid_), why.c_str());
        channel_.reset();
        kill(engine_pid_, SIGKILL);
    }

    // Asks the engine to stop; the exit handler decides what comes next.
    void stop_engine(std::chrono::milliseconds grace) {
        if (engine_pid_ <= 0)
            return;
        if (channel_ && channel_->open())
            channel_->send(proto::Shutdown{});
        else
            kill(engine_pid_, SIGTERM);
        kill_timer_.arm(grace);
    }

    // ---- messages from the engine: a closed set, each validated ----

    void on_channel_error(const std::string& why, bool eof) {
        if (!eof)
            return kill_engine("protocol violation: " + why);
        // An engine that closes its end is exiting; the pidfd reports when.
        // One that lingers without a channel is useless: give it a moment.
        log::debug("engine %d closed the channel", static_cast<int>(engine_pid_));
        if (!kill_timer_.pending())
            kill_timer_.arm(2s);
    }

    void on_engine_message(proto::Message&& m) {
        std::string why = check_engine_message(m, {&config_, generation_, engine_ready_});
        if (!why.empty())
            return kill_engine("protocol violation: " + why);
        if (std::holds_alternative<proto::Ready>(m)) {
            engine_ready_ = true;
            log::info("engine %d ready", static_cast<int>(engine_pid_));
            update_status();
            return replay_applied();
        }
        auto& mm = std::get<proto::Master>(m);
        log::notice("cluster %s: confirmed master %s at epoch %llu", mm.cluster.c_str(),
                    format_host_port(mm.master).c_str(), static_cast<unsigned long long>(mm.epoch));
        desired_[mm.cluster] = mm;
        // One apply per batch: every message already read is taken into
        // account before rendering, so a storm of N switches costs one
        // render, one write and one reload, not N.
        if (!apply_timer_.pending())
            apply_timer_.arm(std::chrono::microseconds(0));
        trim_timer_.arm(kTrimAfterQuiet);
    }

    // ---- applying what the engine confirmed ----

    void make_applier(std::string template_text) {
        applier_.reset();
        if (!config_.haproxy)
            return;
        ApplierSettings st;
        st.template_text = std::move(template_text);
        st.output = config_.haproxy_output;
        st.check_command = config_.check_command;
        st.reload_command = config_.reload_command;
        st.reload_timeout = config_.reload_timeout;
        st.runtime_socket = config_.runtime_socket;
        st.runtime_timeout = config_.runtime_timeout;
        st.state_file = config_.state_file;
        AppliedState applied;
        for (auto& [name, m] : applied_)
            applied[name] = AppliedMaster{m.master, m.epoch};
        applier_ = std::make_unique<Applier>(base_.get(), std::move(st), std::move(applied),
                                             [this](const ApplyResult& r) { on_applied(r); });
    }

    // Nothing is written until something is known: every configured cluster
    // has a confirmed master, or the start-up grace period is over.
    bool may_apply() const {
        if (grace_over_)
            return true;
        for (auto& c : config_.clusters)
            if (!desired_.count(c.name))
                return false;
        return true;
    }

    void on_grace_over() {
        grace_over_ = true;
        size_t unknown = 0;
        for (auto& c : config_.clusters)
            unknown += desired_.count(c.name) ? 0 : 1;
        if (unknown)
            log::warn("start-up grace period over with %zu clusters without a confirmed master; "
                      "applying what is known",
                      unknown);
        apply();
        mark_ready("start-up grace period over");
    }

    void apply() {
        update_status(); // once per batch of engine messages
        if (!may_apply())
            return;
        if (!applier_)
            return apply_without_output();
        std::vector<HaproxyCluster> want;
        for (auto& c : config_.clusters) {
            HaproxyCluster h;
            h.name = c.name;
            h.external_port = c.external_port;
            h.backend = c.haproxy_backend;
            h.server = c.haproxy_server;
            if (auto it = desired_.find(c.name); it != desired_.end()) {
                h.master = it->second.master;
                h.epoch = it->second.epoch;
            } else if (auto a = applied_.find(c.name); a != applied_.end()) {
                h.master = a->second.master;
                h.epoch = a->second.epoch;
            }
            want.push_back(std::move(h));
        }
        applier_->submit(std::move(want));
    }

    void on_applied(const ApplyResult& r) {
        trim_timer_.arm(kTrimAfterQuiet); // rendering a large template is a burst too
        int64_t now = static_cast<int64_t>(time(nullptr));
        if (!r.ok) {
            last_error_ = "haproxy: " + r.error;
            update_status();
            log::error("haproxy: %s", r.error.c_str());
            if (!r.command_output.empty())
                log::error("haproxy: command output: %s", r.command_output.c_str());
            for (auto& [name, m] : desired_) {
                auto it = applied_.find(name);
                if (it != applied_.end() && it->second == m)
                    continue;
                send_apply(proto::ApplyResult{name, proto::ApplyState::Error,
                                              it == applied_.end()
                                                  ? std::nullopt
                                                  : std::optional<HostPort>(it->second.master),
                                              it == applied_.end() ? 0 : it->second.epoch, now,
                                              r.error.substr(0, proto::kMaxText)});
            }
            return;
        }
        if (r.path != ApplyPath::unchanged)
            log::notice("haproxy: applied by %s%s (render %.1f ms, write %.1f ms, check %.1f ms, "
                        "switch %.1f ms, reload %.1f ms)",
                        apply_path_name(r.path),
                        r.runtime_fallback ? " after the runtime switch failed" : "", r.render_ms,
                        r.write_ms, r.check_ms, r.switch_ms, r.reload_ms);
        for (auto& [name, m] : applier_->applied()) {
            proto::Master now_applied{name, m.master, m.epoch};
            auto it = applied_.find(name);
            if (it != applied_.end() && it->second == now_applied)
                continue;
            applied_[name] = now_applied;
            send_apply(
                proto::ApplyResult{name, proto::ApplyState::Applied, m.master, m.epoch, now, ""});
        }
        last_error_.clear();
        update_status();
        // Only applies that may_apply() allowed reach here: the first one
        // is the first topology in effect.
        mark_ready("first topology applied to haproxy");
    }

    // Without an output section there is nothing to write: what the engine
    // confirmed is, by definition, what is in effect.
    void apply_without_output() {
        bool changed = false;
        for (auto& [name, m] : desired_) {
            auto it = applied_.find(name);
            if (it != applied_.end() && it->second == m)
                continue;
            applied_[name] = m;
            changed = true;
            send_apply(proto::ApplyResult{name, proto::ApplyState::Applied, m.master, m.epoch,
                                          static_cast<int64_t>(time(nullptr)), ""});
        }
        if (changed && !config_.state_file.empty()) {
            AppliedState st;
            for (auto& [name, m] : applied_)
                st[name] = AppliedMaster{m.master, m.epoch};
            std::string err;
            if (!save_state(config_.state_file, st, &err))
                log::error("state file: %s", err.c_str());
        }
        update_status();
        mark_ready(grace_over_ ? "start-up grace period over"
                               : "every cluster has a confirmed master");
    }

    void send_apply(const proto::ApplyResult& r) {
        if (channel_ && engine_ready_)
            channel_->send(r);
    }

    // A new engine learns what is in effect.
    void replay_applied() {
        for (auto& [name, m] : applied_)
            send_apply(proto::ApplyResult{name, proto::ApplyState::Applied, m.master, m.epoch,
                                          static_cast<int64_t>(time(nullptr)), ""});
    }

    // ---- systemd (no-ops unless started by systemd with Type=notify) ----

    // READY=1, once: at the first apply that may_apply() allowed (every
    // cluster confirmed and, with [haproxy], in effect there), or when the
    // start-up grace period ends, whichever comes first.
    void mark_ready(const char* why) {
        if (ready_sent_ || stopping_)
            return;
        ready_sent_ = true;
        notify_ready();
        log::info("ready: %s", why);
    }

    // STATUS= for systemctl status; sent only when the line changes.
    void update_status() {
        StatusFacts f;
        f.clusters = config_.clusters.size();
        for (auto& c : config_.clusters) {
            f.confirmed += desired_.count(c.name);
            f.applied += applied_.count(c.name);
        }
        f.grace_over = grace_over_;
        f.engine_running = !restart_timer_.pending(); // down and waiting to restart
        f.error = last_error_;
        std::string line = stopping_ ? std::string("stopping") : status_line(f);
        if (line == last_status_)
            return;
        last_status_ = line;
        notify_status(line);
    }

    // ---- signals ----

    // Once ready, a reload is bracketed by RELOADING=1 and READY=1, whether
    // the new file is taken or rejected (the daemon runs on either way).
    // Before the first READY=1 it sends neither: READY=1 then still means
    // the first topology is in effect.
    void on_sighup() {
        bool was_ready = ready_sent_ && !stopping_;
        if (was_ready)
            notify_reloading();
        reload_config();
        update_status();
        if (was_ready)
            notify_ready();
    }

    void reload_config() {
        log::info("SIGHUP: reloading %s", opts_.config_path.c_str());
        Config fresh;
        std::string template_text;
        auto errors = load_and_check(opts_.config_path, &fresh, &template_text);
        if (!errors.empty()) {
            for (auto& e : errors)
                log::error("%s", format_error(e).c_str());
            log::error("configuration rejected (%zu errors); still running with the previous one",
                       errors.size());
            return;
        }
        if (!load_secrets(fresh))
            return;
        // Clusters dropped from the file are withdrawn from Consul by every
        // engine from now on (until the name comes back).
        for (auto& old : config_.clusters) {
            bool kept = false;
            for (auto& c : fresh.clusters)
                kept = kept || c.name == old.name;
            if (!kept && config_.consul) {
                removed_[old.name] = old;
                applied_.erase(old.name);
                desired_.erase(old.name);
            }
        }
        for (auto& c : fresh.clusters)
            removed_.erase(c.name);
        config_ = std::move(fresh);
        make_applier(std::move(template_text));
        apply();
        log::set_level(config_.log_level);
        generation_++;
        log::info("configuration reloaded; restarting the engine with it");
        if (engine_pid_ > 0) {
            restart_now_ = true;
            stop_engine(5s);
        } else {
            restart_timer_.cancel();
            backoff_.reset();
            start_engine();
        }
    }

    void on_sigterm() {
        if (stopping_)
            return;
        log::info("stopping");
        stopping_ = true;
        notify_stopping();
        update_status();
        restart_timer_.cancel();
        if (engine_pid_ <= 0) {
            event_base_loopexit(base_.get(), nullptr);
            return;
        }
        stop_engine(5s);
    }

    void on_sigusr1() { log::reopen(); }

  public:
    // Reads the secrets the engine cannot read from inside its chroot.
    static bool load_secrets(Config& c) {
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
            // The engine cannot read it after the chroot: the parent does.
            std::string pem, err;
            if (!read_file_capped(c.consul_ca_file, proto::kMaxPem, &pem, &err)) {
                log::error("consul ca_file %s: %s", c.consul_ca_file.c_str(), err.c_str());
                return false;
            }
            c.consul_ca_pem = std::move(pem);
        }
        return true;
    }

  private:
    Options opts_;
    Config config_;
    EventBasePtr base_;
    std::vector<std::unique_ptr<SignalEvent>> signals_;
    Timer restart_timer_;
    Timer kill_timer_;
    Timer grace_timer_;
    Timer apply_timer_;
    Timer trim_timer_; // release_free_heap once messages and applies are quiet
    bool grace_over_ = false;
    std::unique_ptr<Applier> applier_;
    Backoff backoff_;
    uint64_t generation_ = 1;
    pid_t engine_pid_ = -1;
    int engine_pidfd_ = -1;
    EventPtr pidfd_ev_;
    std::unique_ptr<Channel> channel_;
    bool engine_ready_ = false;
    bool stopping_ = false;
    bool restart_now_ = false;
    bool ready_sent_ = false; // READY=1 sent to systemd
    std::string last_status_; // last STATUS= sent
    std::string last_error_;  // of the last failed apply, until one succeeds
    std::map<std::string, proto::Master> desired_;
    std::map<std::string, proto::Master> applied_;
    std::map<std::string, ClusterConfig> removed_;
};

} // namespace

std::string check_engine_message(const proto::Message& m, const EngineMessageContext& ctx) {
    if (auto* r = std::get_if<proto::Ready>(&m)) {
        if (ctx.ready)
            return "ready: sent twice";
        if (r->generation != ctx.generation)
            return "ready: configuration generation " + std::to_string(r->generation) +
                   ", expected " + std::to_string(ctx.generation);
        return "";
    }
    if (auto* mm = std::get_if<proto::Master>(&m)) {
        if (!ctx.ready)
            return "master: before ready";
        bool known = false;
        for (auto& c : ctx.config->clusters)
            known = known || c.name == mm->cluster;
        if (!known)
            return "master: cluster " + mm->cluster + " is not configured";
        if (!valid_host(mm->master.host) || mm->master.port == 0)
            return "master: invalid address for cluster " + mm->cluster;
        return "";
    }
    return std::visit(
        [](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            const char* name = std::is_same_v<T, proto::ConfigBegin>      ? "config-begin"
                               : std::is_same_v<T, proto::ConfigSentinel> ? "config-sentinel"
                               : std::is_same_v<T, proto::ConfigCluster>  ? "config-cluster"
                               : std::is_same_v<T, proto::ConfigEnd>      ? "config-end"
                               : std::is_same_v<T, proto::ApplyResult>    ? "apply-result"
                                                                          : "shutdown";
            return std::string("unexpected message ") + name + " from the engine";
        },
        m);
}

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
    auto errors = load_and_check(opts.config_path, &config, &template_text);
    if (!errors.empty()) {
        for (auto& e : errors)
            log::error("%s", format_error(e).c_str());
        return 1;
    }
    ParseResult r{std::move(config), {}};
    if (!Parent::load_secrets(r.config))
        return 1;
    log::Level level = r.config.log_level;
    for (int i = 0; i < opts.verbosity && level > log::Level::debug; i++)
        level = static_cast<log::Level>(static_cast<int>(level) - 1);
    log::init("parent", opts.foreground, r.config.log_facility, level);
    if (!opts.foreground && daemon(0, 0) != 0)
        log::fatal("daemon");
    log::info("starting (parent, pid %d)", static_cast<int>(getpid()));
    std::string pid_file = r.config.pid_file;
    if (!pid_file.empty()) {
        std::string err;
        if (!write_file_atomic(pid_file, std::to_string(getpid()) + "\n", &err))
            log::fatalx("pid_file: %s", err.c_str());
    }
    int status = 0;
    {
        Parent p(opts, std::move(r.config), std::move(template_text));
        status = p.run();
    }
    if (!pid_file.empty())
        unlink(pid_file.c_str());
    return status;
}

} // namespace rh
