// Consul output on libcurl's multi interface, driven by libevent.
#include "engine/consul.h"

#include <curl/curl.h>

#include <algorithm>
#include <stdexcept>

#include "common/log.h"
#include "engine/curl_lib.h"

namespace rh {

namespace {

struct EasyFree {
    const CurlApi* curl;
    void operator()(CURL* e) const { curl->easy_cleanup(e); }
};
using EasyPtr = std::unique_ptr<CURL, EasyFree>;

struct SlistFree {
    const CurlApi* curl;
    void operator()(curl_slist* l) const { curl->slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

constexpr size_t max_body = 64 * 1024;

size_t on_write(char* data, size_t size, size_t n, void* arg) noexcept {
    auto* body = static_cast<std::string*>(arg);
    size_t len = size * n;
    try {
        size_t room = max_body > body->size() ? max_body - body->size() : 0;
        body->append(data, std::min(len, room));
    } catch (...) {
        return 0; // makes curl fail the transfer with CURLE_WRITE_ERROR
    }
    return len;
}

curl_slist* append_header(const CurlApi& curl, curl_slist* list, const std::string& h) {
    curl_slist* next = curl.slist_append(list, h.c_str());
    if (!next)
        throw std::bad_alloc();
    return next;
}

} // namespace

const char* consul_state_name(ConsulState s) {
    switch (s) {
    case ConsulState::pending:
        return "pending";
    case ConsulState::registered:
        return "registered";
    case ConsulState::deregistered:
        return "deregistered";
    case ConsulState::superseded:
        return "superseded";
    case ConsulState::error:
        return "error";
    }
    return "unknown";
}

struct Consul::Slot {
    Slot(Consul* owner, event_base* base)
        : easy(nullptr, EasyFree{&owner->curl_}), headers(nullptr, SlistFree{&owner->curl_}),
          retry(base, [this, owner] {
              if (!busy)
                  owner->start(*this);
          }) {}

    std::string cluster;
    ConsulService desired;
    bool want_registered = true;
    uint64_t gen = 0;      // bumped on every change of desired state
    uint64_t sent_gen = 0; // gen of the request in flight
    bool busy = false;
    bool reading = false;   // the request in flight is the fence's read
    unsigned failures = 0;  // consecutive
    unsigned conflicts = 0; // consecutive check-and-set conflicts
    EasyPtr easy;
    SlistPtr headers;
    std::string response;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::string what; // "PUT url" of the request in flight, for logs
    Timer retry;      // backoff after a failure, or the periodic refresh
    ConsulStatus status;
};

struct Consul::Multi {
    Multi(Consul* owner, event_base* base)
        : owner(owner), curl(owner->curl_), base(base), timer(base, [this] { on_timeout(); }) {
        m = curl.multi_init();
        if (!m)
            throw std::runtime_error("consul: curl_multi_init failed");
        curl.multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &Multi::on_socket);
        curl.multi_setopt(m, CURLMOPT_SOCKETDATA, this);
        curl.multi_setopt(m, CURLMOPT_TIMERFUNCTION, &Multi::on_timer);
        curl.multi_setopt(m, CURLMOPT_TIMERDATA, this);
    }
    ~Multi() { curl.multi_cleanup(m); }
    Multi(const Multi&) = delete;
    Multi& operator=(const Multi&) = delete;

    static int on_socket(CURL*, curl_socket_t fd, int what, void* arg, void*) noexcept {
        auto* self = static_cast<Multi*>(arg);
        int rc = -1;
        guarded("consul socket", [&] {
            self->watch(fd, what);
            rc = 0;
        });
        return rc;
    }

    void watch(curl_socket_t fd, int what) {
        if (what == CURL_POLL_REMOVE) {
            sockets.erase(fd);
            return;
        }
        short flags = EV_PERSIST;
        if (what & CURL_POLL_IN)
            flags |= EV_READ;
        if (what & CURL_POLL_OUT)
            flags |= EV_WRITE;
        EventPtr& ev = sockets[fd];
        ev.reset(event_new(base, fd, flags, &Multi::on_event, this));
        if (!ev || event_add(ev.get(), nullptr) != 0)
            throw std::runtime_error("consul: cannot watch curl socket");
    }

    static int on_timer(CURLM*, long timeout_ms, void* arg) noexcept {
        auto* self = static_cast<Multi*>(arg);
        if (timeout_ms < 0)
            self->timer.cancel();
        else // never call socket_action from here: curl forbids it
            self->timer.arm(std::chrono::milliseconds(timeout_ms));
        return 0;
    }

    static void on_event(evutil_socket_t fd, short what, void* arg) {
        auto* self = static_cast<Multi*>(arg);
        guarded("consul event", [&] {
            int flags = 0;
            if (what & EV_READ)
                flags |= CURL_CSELECT_IN;
            if (what & EV_WRITE)
                flags |= CURL_CSELECT_OUT;
            int running = 0;
            self->curl.multi_socket_action(self->m, fd, flags, &running);
            self->drain();
        });
    }

    void on_timeout() {
        int running = 0;
        curl.multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
        drain();
    }

    void drain() {
        int left = 0;
        while (CURLMsg* msg = curl.multi_info_read(m, &left)) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL* easy = msg->easy_handle;
            CURLcode result = msg->data.result;
            char* priv = nullptr;
            long code = 0;
            curl.easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
            curl.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
            curl.multi_remove_handle(m, easy);
            owner->finished(*reinterpret_cast<Slot*>(priv), code, result);
        }
    }

    Consul* owner;
    const CurlApi& curl;
    event_base* base;
    CURLM* m = nullptr;
    Timer timer;
    std::map<curl_socket_t, EventPtr> sockets;
};

Consul::Consul(event_base* base, const CurlApi& curl, ConsulSettings settings, StatusFn on_status)
    : base_(base), curl_(curl), settings_(std::move(settings)), on_status_(std::move(on_status)),
      rng_(std::random_device{}()), multi_(std::make_unique<Multi>(this, base)) {
    while (!settings_.address.empty() && settings_.address.back() == '/')
        settings_.address.pop_back();
}

Consul::~Consul() {
    for (auto& [name, slot] : slots_)
        if (slot->busy)
            curl_.multi_remove_handle(multi_->m, slot->easy.get());
    multi_.reset();
}

void Consul::publish(const ConsulService& desired) {
    want(desired, true);
}

void Consul::remove(const ConsulService& last) {
    want(last, false);
}

const ConsulStatus* Consul::status(const std::string& cluster) const {
    auto it = slots_.find(cluster);
    return it == slots_.end() ? nullptr : &it->second->status;
}

size_t Consul::in_flight() const {
    return std::count_if(slots_.begin(), slots_.end(),
                         [](const auto& kv) { return kv.second->busy; });
}

void Consul::want(const ConsulService& s, bool registered) {
    auto& ptr = slots_[s.cluster];
    if (!ptr) {
        ptr = std::make_unique<Slot>(this, base_);
        ptr->cluster = s.cluster;
        ptr->easy.reset(curl_.easy_init());
        if (!ptr->easy)
            throw std::runtime_error("consul: curl_easy_init failed");
    } else if (ptr->gen > 0 && ptr->desired == s && ptr->want_registered == registered) {
        return; // already the newest desired state: in flight, retrying or done
    }
    Slot& slot = *ptr;
    slot.desired = s;
    slot.want_registered = registered;
    slot.gen++;
    slot.status.state = ConsulState::pending;
    if (slot.busy)
        return; // sent as soon as the older request ends
    slot.retry.cancel();
    start(slot);
}

// Agent mode: the PUT itself. Catalog mode: first the read the fence
// decides on; the write follows in read_done.
void Consul::start(Slot& slot) {
    slot.sent_gen = slot.gen;
    if (settings_.mode == ConsulMode::agent) {
        slot.reading = false;
        send(slot, slot.want_registered ? consul_agent_register_request(slot.desired)
                                        : consul_agent_deregister_request(slot.desired));
        return;
    }
    slot.reading = true;
    send(slot, consul_read_request(slot.desired));
}

void Consul::send(Slot& slot, const ConsulRequest& req) {
    std::string url = settings_.address + req.path;
    CURL* e = slot.easy.get();
    curl_.easy_reset(e);
    slot.headers.reset(); // curl_slist_append keeps the head: build, then own once
    SlistPtr headers(append_header(curl_, nullptr, "Content-Type: application/json"),
                     SlistFree{&curl_});
    append_header(curl_, headers.get(), "Expect:");
    if (!settings_.token.empty())
        append_header(curl_, headers.get(), "X-Consul-Token: " + settings_.token);
    slot.headers = std::move(headers);
    slot.response.clear();
    slot.errbuf[0] = '\0';
    slot.what = req.method + " " + url;

    curl_.easy_setopt(e, CURLOPT_URL, url.c_str());
    if (req.method == "GET") {
        curl_.easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_.easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        curl_.easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
        curl_.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req.body.c_str());
    }
    curl_.easy_setopt(e, CURLOPT_HTTPHEADER, slot.headers.get());
    curl_.easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_write);
    curl_.easy_setopt(e, CURLOPT_WRITEDATA, &slot.response);
    curl_.easy_setopt(e, CURLOPT_ERRORBUFFER, slot.errbuf);
    curl_.easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<char*>(&slot));
    curl_.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_.easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    curl_.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    curl_.easy_setopt(e, CURLOPT_PROXY, ""); // never an environment proxy
    curl_.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!settings_.ca_pem.empty()) {
        curl_blob blob{settings_.ca_pem.data(), settings_.ca_pem.size(), CURL_BLOB_COPY};
        curl_.easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    CURLMcode rc = curl_.multi_add_handle(multi_->m, e);
    if (rc != CURLM_OK) {
        log::error("consul %s: %s: %s", slot.cluster.c_str(), slot.what.c_str(),
                   curl_.multi_strerror(rc));
        slot.status.state = ConsulState::error;
        slot.status.last_error = curl_.multi_strerror(rc);
        slot.status.errors++;
        slot.status.errors_by[static_cast<size_t>(ConsulError::other)]++;
        slot.failures++;
        schedule_retry(slot);
        return;
    }
    slot.busy = true;
    log::debug("consul %s: %s", slot.cluster.c_str(), slot.what.c_str());
}

ConsulError classify_consul_error(long http_code, int curl_code) {
    switch (curl_code) {
    case CURLE_OK:
        if (http_code >= 400 && http_code < 500)
            return ConsulError::http_4xx;
        if (http_code >= 500 && http_code < 600)
            return ConsulError::http_5xx;
        return ConsulError::other; // 1xx or 3xx: not followed
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return ConsulError::connect;
    case CURLE_OPERATION_TIMEDOUT:
        return ConsulError::timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return ConsulError::tls;
    default:
        return ConsulError::other;
    }
}

void Consul::finished(Slot& slot, long http_code, int curl_code) {
    slot.busy = false;
    bool ok = curl_code == CURLE_OK && http_code >= 200 && http_code < 300;
    // A refused check-and-set is an answer, not a failure: read again.
    bool cas_conflict = curl_code == CURLE_OK && http_code == 409 && !slot.reading &&
                        settings_.mode == ConsulMode::catalog;
    std::string err;
    if (!ok && !cas_conflict) {
        if (curl_code != CURLE_OK)
            err = slot.errbuf[0] ? slot.errbuf : curl_.easy_strerror(CURLcode(curl_code));
        else
            err = "HTTP " + std::to_string(http_code) + ": " + first_line(slot.response);
        slot.status.last_error = err;
        slot.status.errors++;
        slot.status.errors_by[static_cast<size_t>(classify_consul_error(http_code, curl_code))]++;
        slot.failures++;
        log::warn("consul %s: %s failed: %s (%u in a row)", slot.cluster.c_str(), slot.what.c_str(),
                  err.c_str(), slot.failures);
    }
    if (slot.sent_gen != slot.gen) {
        // Superseded while in flight: its outcome is not the current state.
        // (A write that did land is simply read back by the next round.)
        log::debug("consul %s: newer state pending, sending it", slot.cluster.c_str());
        start(slot);
        notify(slot);
        return;
    }
    if (!ok && !cas_conflict) {
        slot.status.state = ConsulState::error;
        schedule_retry(slot);
        notify(slot);
        return;
    }
    if (slot.reading)
        read_done(slot);
    else
        write_done(slot, http_code);
}

// The fence: decide on what Consul holds, then write with a check-and-set.
void Consul::read_done(Slot& slot) {
    const ConsulService& d = slot.desired;
    ConsulRead r = consul_parse_read(slot.response, consul_node(d), consul_service_id(d));
    if (!r.ok)
        return failed(slot, "unexpected reply to " + slot.what + ": " + r.error);
    slot.reading = false;
    if (!slot.want_registered) {
        if (!r.entry)
            return succeeded(slot);
        if (!consul_may_withdraw(*r.entry, d)) {
            slot.status.detail = "left in place: written by instance '" + r.entry->instance +
                                 "', which may still serve the cluster";
            log::notice("consul %s: not deregistered: %s", slot.cluster.c_str(),
                        slot.status.detail.c_str());
            return succeeded(slot);
        }
        return send(slot, consul_cas_deregister_request(d, r.entry->modify_index));
    }
    FenceDecision f = consul_fence(r.entry, d);
    switch (f.verdict) {
    case FenceVerdict::current:
        return succeeded(slot);
    case FenceVerdict::newer:
    case FenceVerdict::conflict:
        return superseded(slot, f.reason);
    case FenceVerdict::write:
        break;
    }
    send(slot, consul_cas_register_request(d, f.cas_index));
}

void Consul::write_done(Slot& slot, long http_code) {
    if (http_code != 409) {
        slot.conflicts = 0;
        return succeeded(slot);
    }
    slot.status.cas_conflicts++;
    slot.conflicts++;
    log::info("consul %s: registration changed since it was read (check-and-set refused, "
              "%u in a row); reading it again",
              slot.cluster.c_str(), slot.conflicts);
    if (slot.conflicts <= settings_.max_cas_retries)
        return start(slot);
    // Someone keeps writing between our read and our write: back off.
    slot.conflicts = 0;
    slot.failures++;
    slot.status.state = ConsulState::pending;
    schedule_retry(slot);
    notify(slot);
}

void Consul::succeeded(Slot& slot) {
    if (slot.failures > 0)
        log::notice("consul %s: %s succeeded after %u failures", slot.cluster.c_str(),
                    slot.what.c_str(), slot.failures);
    if (slot.status.state == ConsulState::superseded)
        log::notice("consul %s: registration is ours again (%s at epoch %llu)",
                    slot.cluster.c_str(), format_host_port(slot.desired.address).c_str(),
                    static_cast<unsigned long long>(slot.desired.epoch));
    slot.failures = 0;
    slot.status.state = slot.want_registered ? ConsulState::registered : ConsulState::deregistered;
    slot.status.last_error.clear();
    if (slot.want_registered)
        slot.status.detail.clear();
    slot.status.successes++;
    slot.status.last_success = std::chrono::system_clock::now();
    slot.status.current = slot.want_registered ? std::optional(slot.desired) : std::nullopt;
    if (settings_.refresh.count() > 0 && slot.want_registered)
        slot.retry.arm(settings_.refresh);
    notify(slot);
}

// Not an error: Consul is right to keep what it has. Checked again on the
// refresh timer and whenever our own view changes.
void Consul::superseded(Slot& slot, const std::string& why) {
    slot.failures = 0;
    slot.conflicts = 0;
    slot.status.fenced++;
    if (slot.status.state != ConsulState::superseded || slot.status.detail != why)
        log::warn("consul %s: %s", slot.cluster.c_str(), why.c_str());
    slot.status.state = ConsulState::superseded;
    slot.status.detail = why;
    slot.status.last_error.clear();
    if (settings_.refresh.count() > 0)
        slot.retry.arm(settings_.refresh);
    notify(slot);
}

void Consul::failed(Slot& slot, const std::string& err) {
    slot.status.last_error = err;
    slot.status.errors++;
    slot.failures++;
    slot.status.state = ConsulState::error;
    log::warn("consul %s: %s (%u in a row)", slot.cluster.c_str(), err.c_str(), slot.failures);
    schedule_retry(slot);
    notify(slot);
}

void Consul::schedule_retry(Slot& slot) {
    using std::chrono::milliseconds;
    milliseconds d = settings_.retry_base;
    for (unsigned i = 1; i < slot.failures && d < settings_.retry_max; i++)
        d *= 2;
    d = std::min(d, settings_.retry_max);
    // Equal jitter: half fixed, half random, so clusters do not retry in step.
    long half = static_cast<long>(d.count() / 2);
    std::uniform_int_distribution<long> jitter(0, half);
    milliseconds wait(d.count() - half + jitter(rng_));
    slot.retry.arm(wait);
}

void Consul::notify(Slot& slot) {
    if (on_status_)
        on_status_(slot.cluster, slot.status);
}

} // namespace rh
