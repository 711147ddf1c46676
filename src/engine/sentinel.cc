// SentinelLink: connections, timers and re-reads for one Sentinel.
#include "engine/sentinel.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace rh {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

// Erases `it`; a table left empty by a burst (a storm re-reads every
// cluster at once) gives back its bucket array, which would otherwise stay
// sized for the burst for good (about 80 kB per 10,000 clusters, table and
// link).
template <class Map> void erase_and_shrink(Map& m, typename Map::iterator it) {
    m.erase(it);
    if (m.empty() && m.bucket_count() > 64)
        Map().swap(m);
}

// A server's error text, as far as we keep it: a Sentinel's error may be as
// large as the reply budget (megabytes) and is kept as lastError, shown by
// the API and logged; 200 bytes say which error it was (as RedisConn keeps
// of an error nobody asked for).
std::string error_text(const redisReply* r) {
    return std::string(r->str, std::min<size_t>(r->len, 200));
}

} // namespace

const char* link_state_name(LinkState s) {
    switch (s) {
    case LinkState::connecting:
        return "connecting";
    case LinkState::up:
        return "up";
    case LinkState::down:
        return "down";
    case LinkState::stopped:
        return "stopped";
    }
    return "unknown";
}

ClusterNames::ClusterNames(std::vector<std::string> names, std::vector<bool> read_backends)
    : names_(std::move(names)), read_backends_(std::move(read_backends)) {
    by_name_.resize(names_.size());
    for (size_t i = 0; i < names_.size(); i++)
        by_name_[i] = static_cast<uint32_t>(i);
    std::sort(by_name_.begin(), by_name_.end(),
              [this](uint32_t a, uint32_t b) { return names_[a] < names_[b]; });
}

std::optional<size_t> ClusterNames::index_of(std::string_view name) const {
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                               [this](uint32_t i, std::string_view n) { return names_[i] < n; });
    if (it == by_name_.end() || names_[*it] != name)
        return std::nullopt;
    return *it;
}

SentinelLink::SentinelLink(event_base* base, HostPort addr, SentinelSettings settings,
                           SentinelCallbacks cb)
    : base_(base), addr_(std::move(addr)), name_(format_host_port(addr_)),
      settings_(std::move(settings)), cb_(std::move(cb)), rng_(std::random_device{}()),
      connect_timer_(base, [this] { mark_down("connect timeout"); }),
      command_timer_(base, [this] { on_command_timer(); }),
      ping_timer_(base, [this] { send_ping(); }), reread_timer_(base, [this] { reread(); }),
      retry_timer_(base, [this] { connect_both(); }),
      reaper_(base, [this] { graveyard_.clear(); }) {
    if (!settings_.clusters)
        settings_.clusters = &no_clusters_;
    stats_.state = LinkState::stopped;
}

SentinelLink::~SentinelLink() {
    cmd_.reset();
    sub_.reset();
    graveyard_.clear();
}

void SentinelLink::start() {
    if (stats_.state != LinkState::stopped)
        return;
    connect_both();
}

void SentinelLink::stop() {
    drop_connections();
    retry_timer_.cancel();
    stats_.state = LinkState::stopped;
}

void SentinelLink::set_clusters(const ClusterNames* clusters) {
    settings_.clusters = clusters ? clusters : &no_clusters_;
    reread();
}

std::vector<std::string> SentinelLink::auth_command() const {
    if (settings_.username.empty())
        return {"AUTH", settings_.password};
    return {"AUTH", settings_.username, settings_.password};
}

void SentinelLink::connect_both() {
    stats_.state = LinkState::connecting;
    cmd_ready_ = sub_ready_ = false;
    auto fail = [this](const std::string& err) { mark_down(err); };
    // The link's own timers bound the connect and each reply (connect_timer_,
    // command_timer_): they cover AUTH and SUBSCRIBE too.
    RedisConnOptions opts{.tls = settings_.tls, .server_name = settings_.server_name};
    cmd_ = std::make_unique<RedisConn>(
        base_, addr_,
        RedisConn::Callbacks{[this] { on_cmd_connected(); },
                             [fail](const std::string& e) { fail("command connection: " + e); },
                             nullptr},
        opts);
    cmd_->set_reply_budget(ReplyBudget::for_clusters(settings_.clusters->size())); // MASTERS
    // The event connection carries only PINGs of ours: RedisConn times them out.
    RedisConnOptions sub_opts = opts;
    sub_opts.reply_timeout = settings_.ping_timeout;
    sub_ = std::make_unique<RedisConn>(
        base_, addr_,
        RedisConn::Callbacks{[this] { on_sub_connected(); },
                             [fail](const std::string& e) { fail("event connection: " + e); },
                             [this](redisReply* r) { on_push(r); }},
        sub_opts);
    sub_->set_reply_budget(ReplyBudget::for_events());
    connect_timer_.arm(settings_.connect_timeout);
    std::string err;
    if (!cmd_->connect(&err) || !sub_->connect(&err))
        mark_down("connect: " + err);
}

void SentinelLink::on_cmd_connected() {
    if (settings_.password.empty()) {
        cmd_ready_ = true;
        check_up();
        return;
    }
    send(auth_command(), [this](redisReply* r) {
        if (r->type == REDIS_REPLY_ERROR) {
            mark_down("AUTH failed: " + error_text(r));
            return;
        }
        cmd_ready_ = true;
        check_up();
    });
}

void SentinelLink::on_sub_connected() {
    auto subscribe = [this] {
        if (!sub_ || !sub_->subscribe(sentinel::event_channels()))
            mark_down("event connection: SUBSCRIBE failed");
    };
    if (settings_.password.empty()) {
        subscribe();
        return;
    }
    // AUTH on the event connection, before it enters SUBSCRIBE mode.
    sub_->command(auth_command(), [this, subscribe](redisReply* r) {
        if (!r) {
            mark_down("event connection: lost during AUTH");
            return;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            mark_down("event connection: AUTH failed: " + error_text(r));
            return;
        }
        subscribe();
    });
}

void SentinelLink::on_push(redisReply* r) {
    auto push = sentinel::parse_push(r);
    if (!push) {
        bad("pub/sub message", push.error);
        return;
    }
    got_reply();
    if (!push.value->has_value()) { // a subscribe confirmation
        if (!sub_ready_) {
            sub_ready_ = true;
            check_up();
        }
        return;
    }
    const auto& msg = **push.value;
    auto ev = sentinel::parse_event(msg.channel, msg.payload);
    if (!ev) {
        bad("event " + msg.channel.substr(0, 64), ev.error);
        return;
    }
    stats_.events++;
    if (cb_.event)
        cb_.event(*ev.value);
}

void SentinelLink::check_up() {
    if (!cmd_ready_ || !sub_ready_ || stats_.state == LinkState::up)
        return;
    connect_timer_.cancel();
    stats_.state = LinkState::up;
    stats_.down_since = 0;
    attempt_ = 0;
    log::info("sentinel %s: link up", name_.c_str());
    details_.clear(); // read them all with the first SENTINEL MASTERS
    rereads_ = 0;
    if (cb_.up)
        cb_.up();
    reread();
    ping_timer_.arm(settings_.ping_interval);
}

void SentinelLink::drop_connections() {
    connect_timer_.cancel();
    command_timer_.cancel();
    ping_timer_.cancel();
    reread_timer_.cancel();
    sent_.clear();
    reading_.clear(); // their replies will never come
    replicas_reading_.clear();
    masters_in_flight_ = 0;
    riders_.clear(); // the full re-read on reconnection answers them
    cmd_ready_ = sub_ready_ = false;
    // We may be inside one of their callbacks: silence them now, free later.
    for (auto* c : {&cmd_, &sub_}) {
        if (*c) {
            (*c)->close();
            graveyard_.push_back(std::move(*c));
        }
    }
    reaper_.arm(microseconds(0));
}

void SentinelLink::mark_down(const std::string& err) {
    if (stats_.state == LinkState::down || stats_.state == LinkState::stopped)
        return;
    bool was_up = stats_.state == LinkState::up;
    drop_connections();
    stats_.state = LinkState::down;
    stats_.last_error = err;
    if (stats_.down_since == 0)
        stats_.down_since = std::time(nullptr);
    auto delay = next_backoff();
    log::warn("sentinel %s: link down: %s; retrying in %lld ms", name_.c_str(), err.c_str(),
              static_cast<long long>(delay.count()));
    retry_timer_.arm(delay);
    stats_.reconnects++;
    if (cb_.down && (was_up || attempt_ == 1))
        cb_.down(err);
}

std::chrono::milliseconds SentinelLink::next_backoff() {
    long long base = settings_.backoff_base.count();
    long long cap = std::max<long long>(settings_.backoff_max.count(), 1);
    long long d = base;
    for (unsigned i = 0; i < attempt_ && d < cap; i++)
        d *= 2;
    d = std::clamp<long long>(d, 1, cap);
    attempt_++;
    // Full jitter in the upper half: [d/2, d].
    std::uniform_int_distribution<long long> dist(d / 2, d);
    return milliseconds(dist(rng_));
}

bool SentinelLink::send(std::vector<std::string> argv, std::function<void(redisReply*)> fn) {
    if (!cmd_)
        return false;
    std::string what = argv[0] == "AUTH" ? "AUTH" : argv[0];
    if (argv.size() > 1 && argv[0] == "SENTINEL")
        what += " " + argv[1];
    bool ok = cmd_->command(argv, [this, what, fn = std::move(fn)](redisReply* r) {
        if (!sent_.empty())
            sent_.pop_front();
        // A reply is progress: the next one is due ping_timeout from now,
        // not from when it was sent. A pipeline of 20,000 reads at start-up
        // (2 per cluster) is answered in order; a Sentinel that works
        // through it is not down, one that stops answering still is.
        if (r && !sent_.empty())
            sent_.front() = std::max(sent_.front(), Clock::now());
        if (!r) {
            mark_down("connection lost awaiting reply to " + what);
            return;
        }
        if (sent_.empty())
            command_timer_.cancel();
        fn(r);
    });
    if (!ok) {
        mark_down("cannot send " + what);
        return false;
    }
    sent_.push_back(Clock::now());
    if (!command_timer_.pending())
        arm_command_timer();
    return true;
}

void SentinelLink::arm_command_timer() {
    if (sent_.empty())
        return;
    auto left = sent_.front() + settings_.ping_timeout - Clock::now();
    command_timer_.arm(duration_cast<microseconds>(left));
}

void SentinelLink::on_command_timer() {
    if (sent_.empty())
        return;
    if (Clock::now() - sent_.front() >= settings_.ping_timeout) {
        mark_down("no reply within " + std::to_string(settings_.ping_timeout.count()) + " ms");
        return;
    }
    arm_command_timer();
}

void SentinelLink::got_reply() {
    stats_.last_reply = std::time(nullptr);
}

void SentinelLink::bad(const std::string& what, const std::string& reason) {
    stats_.bad_replies++;
    std::string msg = "bad reply to " + what + ": " + reason;
    // One line per bad reply: the owner that takes the report logs it
    // (the engine does), so a hostile Sentinel's text is written once.
    if (cb_.bad_reply)
        cb_.bad_reply(msg);
    else
        log::warn("sentinel %s: %s", name_.c_str(), msg.c_str());
}

void SentinelLink::send_ping() {
    if (stats_.state != LinkState::up)
        return;
    // A silently dead event connection would otherwise be found only by TCP
    // keepalive (about 11 s); its PING is answered in order with the pushes.
    auto on_sub_pong = [this](redisReply* r) {
        if (r->type == REDIS_REPLY_ERROR)
            bad("PING", error_text(r));
        else
            got_reply();
    };
    if (sub_ && !sub_->pending() && !sub_->command({"PING"}, on_sub_pong))
        mark_down("event connection: cannot send PING");
    if (stats_.state != LinkState::up)
        return;
    auto t0 = Clock::now();
    send({"PING"}, [this, t0](redisReply* r) {
        if (r->type == REDIS_REPLY_ERROR) {
            bad("PING", error_text(r));
        } else {
            got_reply();
            stats_.ping_latency = duration_cast<microseconds>(Clock::now() - t0);
        }
        if (stats_.state == LinkState::up)
            ping_timer_.arm(settings_.ping_interval);
    });
}

bool SentinelLink::monitored(const std::string& name) const {
    return settings_.clusters->contains(name);
}

void SentinelLink::reread() {
    if (stats_.state != LinkState::up)
        return;
    reread_timer_.arm(settings_.reread_interval);
    if (send({"SENTINEL", "MASTERS"}, [this](redisReply* r) {
            masters_in_flight_--;
            // Corroborations that rode on an outstanding SENTINEL MASTERS
            // are answered by this reply only if it reports their cluster;
            // otherwise (an error, an unparsable list) each gets its own read.
            auto riders = std::exchange(riders_, {});
            auto seen = on_masters(r);
            for (const auto& name : riders)
                if (!seen.count(name) && stats_.state == LinkState::up)
                    read_master(name, ReadFreshness::in_flight_ok);
        }))
        masters_in_flight_++;
}

std::unordered_set<std::string> SentinelLink::on_masters(redisReply* r) {
    std::unordered_set<std::string> seen;
    auto masters = sentinel::parse_masters(r);
    if (!masters) {
        bad("SENTINEL MASTERS", masters.error);
        return seen;
    }
    got_reply();
    const ClusterNames& names = *settings_.clusters;
    if (details_.size() != names.size())
        details_.assign(names.size(), DetailCounts{});
    unsigned turn = rereads_++ % kDetailsEvery;
    enum : uint8_t { kReplicas = 1, kSentinels = 2 };
    std::vector<std::pair<const std::string*, uint8_t>> details; // after every master
    for (const auto& m : *masters.value) {
        auto i = names.index_of(m.name);
        if (!i)
            continue; // not ours
        seen.insert(m.name);
        if (details_.size() != names.size()) // a callback dropped the link
            details_.assign(names.size(), DetailCounts{});
        DetailCounts& d = details_[*i];
        auto clamp = [](uint64_t n) {
            return static_cast<uint32_t>(std::min<uint64_t>(n, DetailCounts::kUnknown - 1));
        };
        DetailCounts now{
            clamp(m.num_slaves), clamp(m.num_other_sentinels),
            static_cast<uint32_t>(std::hash<std::string>{}(m.addr.host) * 31 + m.addr.port)};
        bool due = *i % kDetailsEvery == turn || now.master != d.master;
        uint8_t what =
            (due || names.read_backend(*i) || now.replicas != d.replicas ? kReplicas : 0) |
            (due || now.sentinels != d.sentinels ? kSentinels : 0);
        d = now;
        if (what)
            details.emplace_back(&names.names()[*i], what);
        if (cb_.master)
            cb_.master(m);
    }
    for (auto [name, what] : details)
        read_cluster_details(*name, what & kReplicas, what & kSentinels);
    for (const auto& c : names.names())
        if (!seen.count(c) && cb_.not_monitored)
            cb_.not_monitored(c);
    return seen;
}

void SentinelLink::read_cluster_details(const std::string& name, bool replicas, bool sentinels) {
    if (replicas)
        send({"SENTINEL", "REPLICAS", name}, [this, name](redisReply* r) {
            if (!on_replicas_reply(name, r))
                forget_details(name, true);
        });
    if (!sentinels)
        return;
    send({"SENTINEL", "SENTINELS", name}, [this, name](redisReply* r) {
        auto sens = sentinel::parse_sentinels(r);
        if (!sens) {
            bad("SENTINEL SENTINELS " + name, sens.error);
            forget_details(name, false);
            return;
        }
        got_reply();
        if (cb_.sentinels)
            cb_.sentinels(name, *sens.value);
    });
}

// The next re-read reads them again.
void SentinelLink::forget_details(const std::string& name, bool replicas) {
    auto i = settings_.clusters->index_of(name);
    if (!i || *i >= details_.size())
        return;
    (replicas ? details_[*i].replicas : details_[*i].sentinels) = DetailCounts::kUnknown;
}

bool SentinelLink::on_replicas_reply(const std::string& name, redisReply* r) {
    auto reps = sentinel::parse_replicas(r);
    if (!reps) {
        bad("SENTINEL REPLICAS " + name, reps.error);
        return false;
    }
    got_reply();
    if (cb_.replicas)
        cb_.replicas(name, *reps.value);
    return true;
}

void SentinelLink::read_replicas(const std::string& name) {
    if (stats_.state != LinkState::up || !monitored(name))
        return;
    if (auto it = replicas_reading_.find(name); it != replicas_reading_.end()) {
        it->second = true;
        return;
    }
    send_replicas_read(name);
}

void SentinelLink::send_replicas_read(const std::string& name) {
    bool ok = send({"SENTINEL", "REPLICAS", name}, [this, name](redisReply* r) {
        auto it = replicas_reading_.find(name);
        bool again = it != replicas_reading_.end() && it->second;
        if (it != replicas_reading_.end())
            erase_and_shrink(replicas_reading_, it);
        if (again)
            send_replicas_read(name);
        if (stats_.state == LinkState::up)
            on_replicas_reply(name, r);
    });
    if (ok)
        replicas_reading_.emplace(name, false);
}

void SentinelLink::read_master(const std::string& name, ReadFreshness freshness,
                               const HostPort* announced) {
    if (stats_.state != LinkState::up)
        return;
    if (auto it = reading_.find(name); it != reading_.end()) {
        if (freshness == ReadFreshness::after_now) {
            using Again = PendingRead::Again;
            PendingRead& p = it->second;
            if (!announced || p.again == Again::yes ||
                (p.again == Again::unless_announced && p.announced != *announced)) {
                p.again = Again::yes;
            } else if (p.again == Again::no) {
                p.again = Again::unless_announced;
                p.announced = *announced;
            }
        }
        stats_.reads_coalesced++;
        return;
    }
    if (freshness == ReadFreshness::in_flight_ok && masters_in_flight_ > 0 && monitored(name)) {
        riders_.insert(name);
        stats_.reads_coalesced++;
        return;
    }
    send_master_read(name);
}

// A burst of events for one cluster (a storm, or every Sentinel publishing
// the same +switch-master) costs at most two reads per link: the one
// outstanding and one sent after its reply, which reflects every event
// received before that reply; one, when that reply already names the master
// the events announced.
void SentinelLink::send_master_read(const std::string& name) {
    bool ok = send({"SENTINEL", "MASTER", name}, [this, name](redisReply* r) {
        using Again = PendingRead::Again;
        auto it = reading_.find(name);
        bool again = false;
        if (it != reading_.end()) {
            const PendingRead& p = it->second;
            again = p.again == Again::yes || (p.again == Again::unless_announced &&
                                              !sentinel::reply_names_master(r, p.announced));
            erase_and_shrink(reading_, it);
        }
        if (again)
            send_master_read(name);
        if (stats_.state == LinkState::up) // not if sending again failed
            on_master(name, r);
    });
    if (ok) {
        reading_.emplace(name, PendingRead{});
        stats_.master_reads++;
    }
}

void SentinelLink::on_master(const std::string& name, redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR &&
        std::string_view(r->str, r->len).find("No such master") != std::string_view::npos) {
        got_reply();
        if (cb_.not_monitored)
            cb_.not_monitored(name);
        return;
    }
    auto m = sentinel::parse_master(r);
    if (!m) {
        bad("SENTINEL MASTER " + name, m.error);
        return;
    }
    if (m.value->name != name) {
        bad("SENTINEL MASTER " + name, "reply names another master");
        return;
    }
    got_reply();
    if (cb_.master)
        cb_.master(*m.value);
}

} // namespace rh
