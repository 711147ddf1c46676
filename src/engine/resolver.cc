// Resolver: evdns lookups with our own timeout, a short cache and shared
// queries; see resolver.h.
#include "engine/resolver.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/address.h"
#include "common/log.h"

namespace rh {

struct Resolver::Token {
    Resolver* owner; // nullptr once the query was cancelled or timed out
    std::string name;
};

struct Resolver::Query {
    Query(event_base* base, std::function<void()> on_timeout)
        : timeout(base, std::move(on_timeout)) {}
    Token* token = nullptr; // owned by evdns until its callback
    evdns_getaddrinfo_request* req = nullptr;
    std::vector<std::pair<Id, Callback>> waiters;
    Timer timeout;
};

std::vector<std::string> order_addresses(std::vector<std::string> addrs, size_t max) {
    std::stable_sort(addrs.begin(), addrs.end(), [](const std::string& a, const std::string& b) {
        bool a4 = is_ipv4_literal(a), b4 = is_ipv4_literal(b);
        if (a4 != b4)
            return a4;
        return a < b;
    });
    addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
    if (addrs.size() > max)
        addrs.resize(max);
    return addrs;
}

SentinelNameChange expand_sentinel_name(const std::set<std::string>& before,
                                        const std::vector<std::string>& addrs, uint16_t port,
                                        const std::set<std::string>& kept) {
    SentinelNameChange c;
    for (const auto& a : addrs) {
        HostPort hp{a, port};
        std::string id = format_host_port(hp);
        if (c.ids.insert(id).second && !before.count(id))
            c.added.push_back(hp);
    }
    for (const auto& id : before)
        if (!c.ids.count(id) && !kept.count(id))
            c.removed.push_back(id);
    return c;
}

Resolver::Resolver(event_base* base, ResolverSettings settings)
    : base_(base), settings_(std::move(settings)), deliver_timer_(base, [this] { deliver(); }) {}

Resolver::~Resolver() {
    // No callback of ours may run from here on: detach every token first,
    // then let evdns fail (and free) what is still in flight.
    for (auto& [name, q] : queries_) {
        if (q->token)
            q->token->owner = nullptr;
        if (q->req)
            evdns_getaddrinfo_cancel(q->req);
    }
    queries_.clear();
    if (dns_)
        evdns_base_free(dns_, 1);
}

bool Resolver::load(bool resolv_conf_configured, std::string* err) {
    // Names for transaction ids and 0x20 case randomisation come from
    // libevent's RNG: seed it while /dev/urandom is still reachable.
    if (evutil_secure_rng_init() != 0) {
        *err = "cannot seed libevent's random number generator";
        return false;
    }
    dns_ = evdns_base_new(base_, 0);
    if (!dns_) {
        *err = "evdns_base_new failed";
        return false;
    }
    int flags = DNS_OPTION_NAMESERVERS | DNS_OPTION_SEARCH | DNS_OPTION_MISC;
    int rc = evdns_base_resolv_conf_parse(dns_, flags, settings_.resolv_conf.c_str());
    if (rc != 0) {
        // 1: cannot open, 2: cannot stat, 3: too large, 4: out of memory,
        // 5: short read, 6: no nameserver line (evdns then uses 127.0.0.1).
        static const char* why[] = {"",          "cannot open", "cannot stat",  "too large",
                                    "no memory", "short read",  "no nameserver"};
        std::string what = settings_.resolv_conf + ": " + (rc >= 1 && rc <= 6 ? why[rc] : "error");
        if (resolv_conf_configured && rc != 6) {
            *err = what;
            return false;
        }
        log::warn("resolver: %s; asking a name server on 127.0.0.1", what.c_str());
        if (evdns_base_count_nameservers(dns_) == 0)
            evdns_base_nameserver_ip_add(dns_, "127.0.0.1");
    }
    if (!settings_.hosts_file.empty()) {
        struct stat st {};
        if (stat(settings_.hosts_file.c_str(), &st) == 0) {
            if (evdns_base_load_hosts(dns_, settings_.hosts_file.c_str()) != 0) {
                *err = settings_.hosts_file + ": cannot be read";
                return false;
            }
        } else if (errno != ENOENT || settings_.hosts_file != "/etc/hosts") {
            *err = settings_.hosts_file + ": " + strerror(errno);
            return false;
        }
    }
    // Our own timeout bounds a lookup; evdns's per-try timeout stays as
    // resolv.conf set it. A and AAAA are asked together; when one answer
    // is in, the other gets at most a second more.
    evdns_base_set_option(dns_, "getaddrinfo-allow-skew:", "1");
    log::info("resolver: %d name server(s) from %s%s%s", evdns_base_count_nameservers(dns_),
              settings_.resolv_conf.c_str(), settings_.hosts_file.empty() ? "" : ", hosts from ",
              settings_.hosts_file.c_str());
    return true;
}

Resolver::Id Resolver::resolve(const std::string& name, Callback cb) {
    Id id = next_id_++;
    if (is_ipv4_literal(name) || is_ipv6_literal(name)) {
        post(id, std::move(cb), ResolveResult{{name}, {}});
        return id;
    }
    auto now = std::chrono::steady_clock::now();
    if (auto it = cache_.find(name); it != cache_.end()) {
        if (it->second.until > now) {
            post(id, std::move(cb), it->second.result);
            return id;
        }
        cache_.erase(it);
    }
    waiting_[id] = name;
    if (auto it = queries_.find(name); it != queries_.end()) {
        it->second->waiters.emplace_back(id, std::move(cb));
        return id;
    }
    auto q = std::make_unique<Query>(base_, [this, name] {
        complete(name,
                 ResolveResult{
                     {}, "no answer within " + std::to_string(settings_.timeout.count()) + " ms"});
    });
    q->waiters.emplace_back(id, std::move(cb));
    queries_[name] = std::move(q);
    start(name);
    return id;
}

void Resolver::start(const std::string& name) {
    Query& q = *queries_.at(name);
    q.timeout.arm(settings_.timeout);
    if (!dns_) {
        complete(name, ResolveResult{{}, "resolver not loaded"});
        return;
    }
    evutil_addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    q.token = new Token{this, name};
    // May answer at once (hosts table, numeric); on_answer then runs before
    // this returns and completes the query.
    evdns_getaddrinfo_request* req =
        evdns_getaddrinfo(dns_, name.c_str(), nullptr, &hints, &Resolver::on_answer, q.token);
    if (auto it = queries_.find(name); it != queries_.end() && it->second.get() == &q)
        q.req = req;
}

// evdns reports every failure but NXDOMAIN as EAI_FAIL, whose text
// ("non-recoverable failure in name resolution") misreads a timeout or a
// SERVFAIL, which are usually passing.
std::string Resolver::lookup_error(int err) {
    if (err == EVUTIL_EAI_FAIL)
        return "no usable answer from the name servers (timeout, SERVFAIL or refusal)";
    return evutil_gai_strerror(err);
}

void Resolver::on_answer(int err, evutil_addrinfo* ai, void* arg) {
    auto* token = static_cast<Token*>(arg);
    Resolver* self = token->owner;
    std::string name = std::move(token->name);
    delete token;
    if (!self) {
        if (ai)
            evutil_freeaddrinfo(ai);
        return;
    }
    ResolveResult r;
    if (err != 0) {
        r.error = lookup_error(err);
    } else {
        for (evutil_addrinfo* p = ai; p; p = p->ai_next) {
            char buf[INET6_ADDRSTRLEN] = {};
            const void* src = nullptr;
            if (p->ai_family == AF_INET)
                src = &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr;
            else if (p->ai_family == AF_INET6)
                src = &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr;
            if (src && evutil_inet_ntop(p->ai_family, src, buf, sizeof buf))
                r.addrs.emplace_back(buf);
        }
        r.addrs = order_addresses(std::move(r.addrs), kMaxAddrs);
        if (r.addrs.empty())
            r.error = "no address";
    }
    if (ai)
        evutil_freeaddrinfo(ai);
    if (auto it = self->queries_.find(name); it != self->queries_.end())
        it->second->req = nullptr; // evdns frees it after this callback
    guarded("resolver", [&] { self->complete(name, std::move(r)); });
}

void Resolver::complete(const std::string& name, ResolveResult r) {
    auto it = queries_.find(name);
    if (it == queries_.end())
        return;
    std::unique_ptr<Query> q = std::move(it->second);
    queries_.erase(it);
    q->timeout.cancel();
    if (q->req) { // timed out: evdns still calls back, to a detached token
        q->token->owner = nullptr;
        evdns_getaddrinfo_cancel(q->req);
    }
    if (!r.ok())
        log::debug("resolver: %s: %s", name.c_str(), r.error.c_str());
    cache_[name] = Cached{r, std::chrono::steady_clock::now() + settings_.cache_for};
    for (auto& [id, cb] : q->waiters) {
        waiting_.erase(id);
        post(id, std::move(cb), r);
    }
    // Freed from the loop: complete() may run inside q's own timer.
    finished_.push_back(std::move(q));
    if (!deliver_timer_.pending())
        deliver_timer_.arm(std::chrono::microseconds(0));
    // The cache holds at most the names asked for lately.
    if (cache_.size() > 1024) {
        auto now = std::chrono::steady_clock::now();
        std::erase_if(cache_, [&](const auto& kv) { return kv.second.until <= now; });
    }
}

void Resolver::cancel(Id id) {
    std::erase_if(ready_, [id](const Ready& r) { return r.id == id; });
    if (delivering_)
        for (auto& r : *delivering_)
            if (r.id == id)
                r.cb = nullptr;
    auto w = waiting_.find(id);
    if (w == waiting_.end())
        return;
    std::string name = w->second;
    waiting_.erase(w);
    auto it = queries_.find(name);
    if (it == queries_.end())
        return;
    auto& ws = it->second->waiters;
    std::erase_if(ws, [id](const auto& p) { return p.first == id; });
    // A query nobody waits for any more still runs to its end: its answer
    // fills the cache for the next lookup of the name.
}

void Resolver::post(Id id, Callback cb, ResolveResult r) {
    ready_.push_back(Ready{id, std::move(cb), std::move(r)});
    if (!deliver_timer_.pending())
        deliver_timer_.arm(std::chrono::microseconds(0));
}

void Resolver::deliver() {
    finished_.clear();
    std::vector<Ready> now = std::move(ready_);
    ready_.clear();
    delivering_ = &now;
    for (auto& r : now) {
        Callback cb = std::move(r.cb); // cancel() by an earlier callback emptied it
        if (cb)
            guarded("resolver", [&] { cb(r.result); });
    }
    delivering_ = nullptr;
}

} // namespace rh
