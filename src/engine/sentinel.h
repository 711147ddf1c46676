// SentinelLink: the engine's connections to one Sentinel.
//
// Two connections (RedisConn, plain or TLS) per Sentinel: one for commands
// (AUTH, SENTINEL MASTERS/MASTER/REPLICAS/SENTINELS, PING) and one in
// SUBSCRIBE mode for events. This class arms its own timers: connect timeout
// (both connections, AUTH and SUBSCRIBE included), command timeout (no reply
// within ping_timeout marks the link down), PING every ping_interval on both
// connections (Redis 7.0's Sentinel answers PING in subscribed RESP2 mode
// with ["pong", ""]; the event connection's RedisConn times that reply out
// itself), a full re-read every reread_interval, and
// reconnection with capped exponential backoff plus jitter. Every (re)connect
// is followed by a full re-read, since pub/sub loses what was published
// while the link was away.
//
// Replies are parsed by sentinel_proto; a malformed reply is reported through
// Callbacks::bad_reply (which logs it; without one the link logs it itself)
// and ignored. Do not destroy a SentinelLink from inside
// one of its own callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"
#include "engine/redis_async.h"
#include "engine/sentinel_proto.h"

namespace rh {

// The configured clusters' names, in configuration order, with a lookup by
// name. The engine builds one and every link shares it: a copy of the names
// and a hash set of them per link cost about 100 bytes per cluster and
// Sentinel (2 MB at 10,000 clusters and two Sentinels).
class ClusterNames {
  public:
    ClusterNames() = default;
    // read_backends[i]: names[i] has a read backend, whose replicas are
    // read on every re-read (empty: none has).
    explicit ClusterNames(std::vector<std::string> names, std::vector<bool> read_backends = {});
    const std::vector<std::string>& names() const { return names_; }
    size_t size() const { return names_.size(); }
    bool contains(std::string_view name) const { return index_of(name).has_value(); }
    // The position of name in names().
    std::optional<size_t> index_of(std::string_view name) const;
    bool read_backend(size_t i) const { return i < read_backends_.size() && read_backends_[i]; }

  private:
    std::vector<std::string> names_;
    std::vector<uint32_t> by_name_; // indexes into names_, sorted by name
    std::vector<bool> read_backends_;
};

struct SentinelSettings {
    std::string password;            // empty: no AUTH
    std::string username;            // with password: AUTH username password (ACL)
    const TlsContext* tls = nullptr; // TLS when set (not owned)
    // The name TLS verifies: [tls] server_name, else the host name the
    // link's address was resolved from (a Sentinel configured by name);
    // empty: the address itself, an IP literal.
    std::string server_name;
    // Not owned: outlives the link (no shared_ptr: a UBSan build checks its
    // virtual calls with a pipe, which the engine's sandbox forbids).
    const ClusterNames* clusters = nullptr; // null: none
    std::chrono::milliseconds ping_interval{1000};
    std::chrono::milliseconds ping_timeout{3000};
    std::chrono::milliseconds connect_timeout{3000};
    std::chrono::milliseconds reread_interval{5000};
    std::chrono::milliseconds backoff_base{100};
    std::chrono::milliseconds backoff_max{10000};
};

struct SentinelCallbacks {
    std::function<void(const sentinel::MasterInfo&)> master;
    std::function<void(const std::string& cluster)> not_monitored;
    std::function<void(const std::string& cluster, const std::vector<sentinel::ReplicaInfo>&)>
        replicas;
    std::function<void(const std::string& cluster, const std::vector<sentinel::SentinelInfo>&)>
        sentinels;
    std::function<void()> up;
    std::function<void(const std::string& err)> down;
    std::function<void(const sentinel::Event&)> event;
    std::function<void(const std::string& reason)> bad_reply;
};

enum class LinkState { connecting, up, down, stopped };
const char* link_state_name(LinkState s);

struct SentinelStats {
    LinkState state = LinkState::connecting;
    std::time_t last_reply = 0; // wall clock of the last good reply, 0 if none
    std::string last_error;
    std::chrono::microseconds ping_latency{-1}; // -1: never measured
    unsigned long reconnects = 0;
    std::time_t down_since = 0; // 0 while up
    unsigned long bad_replies = 0;
    unsigned long events = 0;
    unsigned long master_reads = 0;    // SENTINEL MASTER <name> sent
    unsigned long reads_coalesced = 0; // read_master calls that sent nothing
};

// What a SENTINEL MASTER read must reflect.
enum class ReadFreshness {
    // Something happened (an event): the answer must come from a read sent
    // after this call. If one is outstanding for the cluster, exactly one
    // more is sent when its reply arrives.
    after_now,
    // Corroboration: any read still unanswered (SENTINEL MASTER <name> or
    // SENTINEL MASTERS) will do, since it reports the Sentinel's view at
    // some time after it was sent; otherwise one is sent now.
    in_flight_ok,
};

class SentinelLink {
  public:
    SentinelLink(event_base* base, HostPort addr, SentinelSettings settings, SentinelCallbacks cb);
    ~SentinelLink();
    SentinelLink(const SentinelLink&) = delete;
    SentinelLink& operator=(const SentinelLink&) = delete;

    void start();
    void stop();   // closes both connections; start() again to resume
    void reread(); // full re-read now (if up)
    // One SENTINEL MASTER <name> (if up); at most one per cluster outstanding.
    // `announced`: the master the event that asks (after_now) names, as
    // +switch-master does; a read outstanding whose reply names it needs no
    // read after it (see PendingRead).
    void read_master(const std::string& name, ReadFreshness freshness = ReadFreshness::after_now,
                     const HostPort* announced = nullptr);
    // One SENTINEL REPLICAS <name> (if up and monitored); while one is
    // outstanding, a call makes exactly one more after its reply.
    void read_replicas(const std::string& name);
    void set_clusters(const ClusterNames* clusters); // not owned; null: none

    const HostPort& addr() const { return addr_; }
    const std::string& name() const { return name_; } // "127.0.0.1:26379"
    const SentinelStats& stats() const { return stats_; }

  private:
    using Clock = std::chrono::steady_clock;

    void connect_both();
    std::vector<std::string> auth_command() const;
    void on_cmd_connected();
    void on_sub_connected();
    void on_push(redisReply* r);
    void check_up();
    void mark_down(const std::string& err);
    void drop_connections();
    bool send(std::vector<std::string> argv, std::function<void(redisReply*)> fn);
    void send_master_read(const std::string& name);
    void arm_command_timer();
    void on_command_timer();
    void send_ping();
    // The monitored clusters the reply reported (none if it was unusable).
    std::unordered_set<std::string> on_masters(redisReply* r);
    void on_master(const std::string& name, redisReply* r);
    void read_cluster_details(const std::string& name, bool replicas, bool sentinels);
    void forget_details(const std::string& name, bool replicas); // its read failed
    void send_replicas_read(const std::string& name);
    bool on_replicas_reply(const std::string& name, redisReply* r); // false: bad reply
    void bad(const std::string& what, const std::string& reason);
    void got_reply();
    bool monitored(const std::string& name) const;
    std::chrono::milliseconds next_backoff();

    event_base* base_;
    HostPort addr_;
    std::string name_;
    ClusterNames no_clusters_; // settings_.clusters when none is given
    SentinelSettings settings_;
    SentinelCallbacks cb_;
    SentinelStats stats_;

    std::unique_ptr<RedisConn> cmd_, sub_;
    std::vector<std::unique_ptr<RedisConn>> graveyard_; // freed from reaper_
    // Send time of each pending command; the oldest one's is moved up to
    // the last reply (progress), so the timeout counts silence.
    std::deque<Clock::time_point> sent_;
    bool cmd_ready_ = false, sub_ready_ = false;
    // A SENTINEL MASTER outstanding, and whether events since it was sent
    // ask for one more after its reply: not, in any case, or unless the
    // reply names the master every one of them announced (a storm of
    // +switch-master from two Sentinels then costs two reads per cluster
    // and link, not four: the reply to the read the first event sent
    // already shows the switch the second announces). A reply naming it
    // may carry an older epoch only if the master came back to the same
    // address meanwhile; the periodic re-read heals that.
    struct PendingRead {
        enum class Again : uint8_t { no, yes, unless_announced } again = Again::no;
        HostPort announced;
    };
    std::unordered_map<std::string, PendingRead> reading_;
    // Clusters with a read_replicas outstanding; true: read again on reply.
    std::unordered_map<std::string, bool> replicas_reading_;
    unsigned masters_in_flight_ = 0; // SENTINEL MASTERS outstanding
    // Corroborations answered by the next SENTINEL MASTERS reply, or by a
    // read of their own when that reply does not report them.
    std::unordered_set<std::string> riders_;
    // Each cluster's replicas and Sentinels (SENTINEL REPLICAS, SENTINEL
    // SENTINELS) are read with the first SENTINEL MASTERS after the link
    // comes up; after that, with a periodic one only when its master or
    // counts (num-slaves, num-other-sentinels) changed, when the last read
    // of them failed, when the cluster has a read backend (replicas), or in
    // the cluster's turn: one in kDetailsEvery re-reads. Reading them every
    // time cost, at 10,000 clusters, 20,000 commands per link and re-read
    // (8,000 a second at reread_interval 5 s); events (+slave, +sentinel)
    // report changes meanwhile.
    static constexpr unsigned kDetailsEvery = 12;
    struct DetailCounts {
        static constexpr uint32_t kUnknown = UINT32_MAX; // not read yet, or the read failed
        uint32_t replicas = kUnknown, sentinels = kUnknown;
        uint32_t master = 0; // a hash of the master's address
    };
    std::vector<DetailCounts> details_; // by index in settings_.clusters
    unsigned rereads_ = 0;              // SENTINEL MASTERS replies since up
    unsigned attempt_ = 0;
    std::minstd_rand rng_;

    Timer connect_timer_, command_timer_, ping_timer_, reread_timer_, retry_timer_, reaper_;
};

} // namespace rh
