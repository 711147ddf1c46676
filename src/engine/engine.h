// The engine process: Sentinel monitoring, master confirmation, Consul and
// the read-only API, on one libevent loop, unprivileged and chrooted.
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "common/proto.h"

namespace rh {

class Api;
class Channel;
class Consul;
class CurlLibrary;
class Confirmer;
class SentinelLink;
class Topology;
struct ApiView;
namespace sentinel {
struct MasterInfo;
struct ReplicaInfo;
struct SentinelInfo;
} // namespace sentinel

// What the parent sent: the global settings, the seeds, the clusters.
struct EngineConfig {
    proto::ConfigBegin global;
    std::vector<HostPort> sentinels;
    std::vector<proto::ConfigCluster> clusters;
    std::vector<proto::ConfigCluster> removed; // to withdraw from Consul only
};

class Engine {
  public:
    explicit Engine(bool foreground);
    ~Engine();
    int run();
    int exit_status() const { return exit_status_; }

  private:
    void on_message(proto::Message&& m);
    void configure(EngineConfig cfg);
    void before_drop();
    void after_drop();
    void on_apply_result(const proto::ApplyResult& r);
    void fail(const std::string& why);

    // ---- the work (engine_work.cc) ----
    struct Link;        // a SentinelLink and what we know of it
    struct ClusterWork; // per-cluster confirmation and output state
    void add_link(const HostPort& addr, bool configured);
    void on_master_info(Link& l, const sentinel::MasterInfo& m);
    void on_not_monitored(Link& l, const std::string& cluster);
    void on_replicas(const std::string& cluster, const std::vector<sentinel::ReplicaInfo>& r);
    void on_discovered(const std::string& cluster, const std::vector<sentinel::SentinelInfo>& s);
    void on_link_up(Link& l);
    void on_link_down(Link& l, const std::string& err);
    void reread_trusted(const std::string& cluster);
    void corroborate(const std::string& cluster, const Link& from, const HostPort& addr,
                     uint64_t epoch);
    void evaluate(const std::string& cluster);
    void evaluate_all();
    void start_confirm(ClusterWork& cw, const HostPort& candidate, uint64_t epoch);
    void announce(ClusterWork& cw);
    void housekeeping();
    void mark_dirty();
    void publish_view();
    ApiView build_view() const;

    bool foreground_;
    EventBasePtr base_;
    std::unique_ptr<Channel> channel_;
    std::vector<EventPtr> signals_;
    bool receiving_ = false;
    bool configured_ = false;
    EngineConfig pending_;
    EngineConfig config_;
    int exit_status_ = 0;

    std::unique_ptr<Topology> topology_;
    std::map<std::string, std::unique_ptr<Link>> links_;
    std::map<std::string, std::unique_ptr<ClusterWork>> clusters_;
    std::unique_ptr<Api> api_;
    std::unique_ptr<CurlLibrary> curl_; // outlives consul_
    std::unique_ptr<Consul> consul_;
    std::unique_ptr<Timer> view_timer_;
    // How long after a change the API view is rebuilt: 20 ms, or four times
    // the last build when that is longer (at 10,000 clusters a build takes
    // about 150 ms), so rebuilding never takes more than a fifth of the loop.
    std::chrono::milliseconds view_delay_{20};
    std::unique_ptr<Timer> housekeeping_timer_;
    std::unique_ptr<Timer> trim_timer_; // release_free_heap once work is quiet
    std::minstd_rand rng_;
    int64_t started_at_ = 0;
};

} // namespace rh
