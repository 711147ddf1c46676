// Consul output: keeps each cluster's confirmed master registered in Consul.
//
// Requests go through libcurl's multi interface driven by the caller's
// libevent loop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION); nothing
// here ever blocks. Per cluster only the newest desired state is in flight or
// retried: a state superseded while its request was in flight is never
// recorded as current, and the newer one is sent as soon as the older request
// ends. Failures are counted and retried with capped exponential backoff plus
// jitter. The token travels only in X-Consul-Token and is never logged.
//
// Catalog mode is fenced (see consul_json.h): each write is a read of the
// registration, a decision (consul_fence), then a /v1/txn check-and-set on
// the ModifyIndex read; a 409 (someone wrote in between) means read again.
// A registration holding a higher epoch than ours is never overwritten: the
// cluster's state is then "superseded" and the reason is in `detail`.
// Agent mode writes to this host's own agent, which holds only this
// instance's registration (other instances' agents hold theirs): there is no
// shared entry for another instance to overwrite, and the agent API has no
// check-and-set; its registrations carry the same Meta (epoch, instance) so
// a reader can tell them apart.
//
// The caller loads libcurl (CurlLibrary::load, which also runs
// curl_global_init) once at start-up, before any thread, and keeps it loaded
// while the Consul object lives.
#pragma once

#include <event2/event.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "common/evutil.h"
#include "engine/api_json.h"
#include "engine/consul_json.h"

typedef void CURLM;

namespace rh {

struct CurlApi;

struct ConsulSettings {
    std::string address; // "http://host:port" or "https://host:port"
    ConsulMode mode = ConsulMode::catalog;
    std::string token;    // empty: no X-Consul-Token header
    std::string ca_pem;   // CA bundle contents (read before chroot); empty: system default
    std::string instance; // written in each registration's Meta; see [consul] instance
    std::chrono::milliseconds timeout{5000};
    std::chrono::milliseconds retry_base{100};
    std::chrono::milliseconds retry_max{30000};
    // Check the registration this often even when nothing changed (catalog
    // mode: read, and write only what the fence allows; agent mode: re-PUT);
    // 0: never.
    std::chrono::milliseconds refresh{0};
    // Check-and-set conflicts in a row answered by reading again at once;
    // beyond, the next read waits for the retry backoff.
    unsigned max_cas_retries = 3;
};

// superseded: Consul holds a newer registration (or a conflicting one at
// the same epoch, from another instance), left in place; see detail.
enum class ConsulState { pending, registered, deregistered, superseded, error };
const char* consul_state_name(ConsulState s);

struct ConsulStatus {
    ConsulState state = ConsulState::pending;
    std::string last_error; // first line of the body, or curl's error; empty once healthy
    uint64_t errors = 0;    // failed requests since start
    std::array<uint64_t, kConsulErrorCount> errors_by{}; // by ConsulError
    uint64_t successes = 0;                              // successful requests since start
    uint64_t fenced = 0;        // writes withheld: Consul held a newer or conflicting entry
    uint64_t cas_conflicts = 0; // check-and-set writes refused because someone wrote first
    std::string detail;         // why superseded (or what was left alone); empty otherwise
    std::optional<std::chrono::system_clock::time_point> last_success;
    std::optional<ConsulService> current; // what Consul has, as far as we know
};

// Why a request failed, from curl's result code and the HTTP status.
ConsulError classify_consul_error(long http_code, int curl_code);

class Consul {
  public:
    using StatusFn = std::function<void(const std::string& cluster, const ConsulStatus&)>;

    Consul(event_base* base, const CurlApi& curl, ConsulSettings settings, StatusFn on_status);
    ~Consul();
    Consul(const Consul&) = delete;
    Consul& operator=(const Consul&) = delete;

    // Registers desired as desired.cluster's master; supersedes anything older.
    void publish(const ConsulService& desired);
    // Deregisters the cluster (last: what was registered); supersedes publish.
    void remove(const ConsulService& last);
    // nullptr for a cluster never published.
    const ConsulStatus* status(const std::string& cluster) const;
    // Requests currently in flight (for tests and metrics).
    size_t in_flight() const;

    struct Slot;
    struct Multi;

  private:
    void want(const ConsulService& s, bool registered);
    void start(Slot& slot);
    void send(Slot& slot, const ConsulRequest& req);
    void finished(Slot& slot, long http_code, int curl_code);
    void read_done(Slot& slot);
    void write_done(Slot& slot, long http_code);
    void succeeded(Slot& slot);
    void superseded(Slot& slot, const std::string& why);
    void failed(Slot& slot, const std::string& err);
    void schedule_retry(Slot& slot);
    void notify(Slot& slot);

    event_base* base_;
    const CurlApi& curl_;
    ConsulSettings settings_;
    StatusFn on_status_;
    std::minstd_rand rng_;
    std::map<std::string, std::unique_ptr<Slot>> slots_;
    std::unique_ptr<Multi> multi_; // declared last: destroyed first
};

} // namespace rh
