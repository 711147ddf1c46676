// Resolver: asynchronous host-name lookups (A and AAAA) on the engine's loop,
// with libevent's evdns.
//
// hiredis 0.14 resolves a host name with a blocking getaddrinfo() inside its
// connect: one slow name server froze the whole loop (API, PINGs, every other
// cluster). The engine now resolves every name itself, here, and connects
// only to IP literals: a name that does not resolve, or resolves slowly,
// delays only the connections that need it.
//
// The name servers and the hosts table are read by load(), before the
// chroot and the privilege drop (evdns opens its UDP sockets there too), so
// nothing of the resolver needs to exist inside the chroot. A lookup ends
// after `timeout` at the latest; answers (and failures) are kept for
// `cache_for`, and lookups of a name already in flight share its query.
// Callbacks always run from the loop, never inside resolve() or cancel(),
// and never after cancel() or the Resolver's destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"

struct evdns_base;

namespace rh {

struct ResolverSettings {
    std::string resolv_conf = "/etc/resolv.conf"; // name servers, search, options
    std::string hosts_file = "/etc/hosts";        // empty: no hosts table
    std::chrono::milliseconds timeout{5000};      // a lookup fails after this
    std::chrono::milliseconds cache_for{1000};    // answers and failures kept this long
};

struct ResolveResult {
    std::vector<std::string> addrs; // IP literals: IPv4 first, each once, at most kMaxAddrs
    std::string error;              // empty when addrs is not empty
    bool ok() const { return error.empty(); }
};

class Resolver {
  public:
    using Callback = std::function<void(const ResolveResult&)>;
    using Id = uint64_t;
    // Addresses kept of one answer (a headless service of many pods is
    // followed by its first kMaxAddrs addresses, in the order above).
    // evdns itself keeps only 32 A and 32 AAAA records of an answer, in
    // the answer's order (seen: 100 and 1,000 A records gave 32).
    static constexpr size_t kMaxAddrs = 64;

    Resolver(event_base* base, ResolverSettings settings);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Reads resolv_conf and hosts_file and sets up the name servers. Call
    // before the drop. False with *err when a configured file cannot be
    // read; a missing /etc/resolv.conf (the default) falls back to a name
    // server on 127.0.0.1, as the C library does, with a warning.
    bool load(bool resolv_conf_configured, std::string* err);

    // Looks `name` up; `cb` runs once, later, from the loop. An IP literal
    // is answered as itself.
    Id resolve(const std::string& name, Callback cb);
    void cancel(Id id);

    size_t in_flight() const { return queries_.size(); }
    const ResolverSettings& settings() const { return settings_; }

  private:
    struct Query;
    struct Token; // what evdns calls back with; outlives a cancelled Query
    struct Cached {
        ResolveResult result;
        std::chrono::steady_clock::time_point until;
    };
    static void on_answer(int err, struct evutil_addrinfo* ai, void* arg);
    static std::string lookup_error(int err);
    void start(const std::string& name);
    void complete(const std::string& name, ResolveResult r);
    void post(Id id, Callback cb, ResolveResult r);
    void deliver();

    event_base* base_;
    ResolverSettings settings_;
    evdns_base* dns_ = nullptr;
    Id next_id_ = 1;
    std::map<std::string, std::unique_ptr<Query>> queries_; // by name
    std::map<Id, std::string> waiting_;                     // id -> name of its query
    std::map<std::string, Cached> cache_;
    std::vector<std::unique_ptr<Query>> finished_; // freed by deliver()
    struct Ready {
        Id id;
        Callback cb;
        ResolveResult result;
    };
    std::vector<Ready> ready_;
    std::vector<Ready>* delivering_ = nullptr; // the batch deliver() is running
    Timer deliver_timer_;
};

// What one answer for a Sentinel address given by name changes: `ids` are
// the Sentinels ("ip:port", port as configured) the answer names, `added`
// those not named by the previous answer (`before`), `removed` those the
// previous answer named and this one does not, unless `kept` (configured
// otherwise: as a literal, or by another name) still holds them. Pure.
struct SentinelNameChange {
    std::set<std::string> ids;
    std::vector<HostPort> added;
    std::vector<std::string> removed;
};
SentinelNameChange expand_sentinel_name(const std::set<std::string>& before,
                                        const std::vector<std::string>& addrs, uint16_t port,
                                        const std::set<std::string>& kept);

// Sorts and de-duplicates a lookup's addresses as ResolveResult::addrs
// says (IPv4 first, then IPv6, each in text order), keeping at most `max`.
// Pure, for tests.
std::vector<std::string> order_addresses(std::vector<std::string> addrs, size_t max);

} // namespace rh
