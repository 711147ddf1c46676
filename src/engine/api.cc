// The engine's read-only HTTP API (see api.h).
#include "engine/api.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>

#include <cerrno>
#include <cstring>

#include "common/address.h"
#include "common/evutil.h"
#include "common/heap.h"
#include "common/log.h"

namespace rh {

namespace {

constexpr ev_uint16_t kAllMethods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH;

const char* reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

std::optional<uint16_t> local_port(evutil_socket_t fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return std::nullopt;
    if (ss.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return std::nullopt;
}

// The connection cap never exceeds a share of RLIMIT_NOFILE.
size_t fd_capped(size_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return want;
    return std::max<size_t>(1, std::min<size_t>(want, rl.rlim_cur / ApiLimits::nofile_share));
}

// evhttp owns each listener's argument (itself), so the error callback
// finds its Api here.
std::mutex listeners_mutex;
std::unordered_map<evconnlistener*, Api*>& listener_owners() {
    static std::unordered_map<evconnlistener*, Api*> m;
    return m;
}

Api* owner_of(evconnlistener* l) {
    std::lock_guard<std::mutex> lock(listeners_mutex);
    auto it = listener_owners().find(l);
    return it == listener_owners().end() ? nullptr : it->second;
}

std::chrono::milliseconds sweep_interval(std::chrono::milliseconds deadline) {
    return std::clamp(deadline / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

} // namespace

Api::Api(event_base* base, ApiLimits limits) : limits_(limits), http_(evhttp_new(base)) {
    if (!http_)
        log::fatalx("api: evhttp_new failed");
    limits_.max_connections = fd_capped(limits_.max_connections);
    evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(limits_.max_body));
    evhttp_set_max_headers_size(http_.get(), static_cast<ev_ssize_t>(limits_.max_headers));
    timeval tv = to_timeval(limits_.idle_timeout);
    evhttp_set_timeout_tv(http_.get(), &tv);
    // Accept every method so that we, not evhttp, answer 405 (with Allow).
    evhttp_set_allowed_methods(http_.get(), kAllMethods);
    evhttp_set_gencb(http_.get(), &Api::on_request, this);
    evhttp_set_bevcb(http_.get(), &Api::on_accept, this);
    adopt_ev_.reset(event_new(
        base, -1, 0,
        [](evutil_socket_t, short, void* arg) {
            auto* self = static_cast<Api*>(arg);
            guarded("api adopt", [self] { self->adopt_pending(); });
        },
        this));
    if (!adopt_ev_)
        log::fatalx("api: event_new failed");
    sweep_timer_ = std::make_unique<Timer>(base, [this] { sweep(); });
    forget_timer_ = std::make_unique<Timer>(base, [this] { forget_unasked(); });
    resume_timer_ = std::make_unique<Timer>(base, [this] { resume_listeners(); });
    sweep_timer_->arm(sweep_interval(limits_.request_deadline));

    not_found_ = {404, "application/json", render_error("not found")};
    not_allowed_ = {405, "application/json", render_error("method not allowed")};
    set_view(ApiView{});
}

Api::~Api() {
    // evhttp_free closes the connections; their close callbacks must not
    // reach a half-destroyed object.
    for (auto& [c, _] : conns_)
        evhttp_connection_set_closecb(c, nullptr, nullptr);
    conns_.clear();
    pending_.clear();
    std::lock_guard<std::mutex> lock(listeners_mutex);
    for (auto* l : listeners_)
        listener_owners().erase(l);
}

bool Api::bind(const std::vector<HostPort>& addrs, std::string* err) {
    for (const auto& a : addrs) {
        evhttp_bound_socket* bs =
            evhttp_bind_socket_with_handle(http_.get(), a.host.c_str(), a.port);
        if (!bs) {
            if (err)
                *err = "api " + format_host_port(a) + ": cannot listen: " + std::strerror(errno);
            return false;
        }
        evconnlistener* l = evhttp_bound_socket_get_listener(bs);
        evconnlistener_set_error_cb(l, &Api::on_accept_error);
        listeners_.push_back(l);
        {
            std::lock_guard<std::mutex> lock(listeners_mutex);
            listener_owners()[l] = this;
        }
        auto port = local_port(evhttp_bound_socket_get_fd(bs));
        bound_.push_back({a.host, port.value_or(a.port)});
        log::info("api: listening on %s", format_host_port(bound_.back()).c_str());
    }
    return true;
}

void Api::set_view(ApiView view) {
    source_ = nullptr;
    fixed_ = std::move(view);
    replies_.clear();
    events_view_.reset();
}

void Api::set_source(std::function<ApiView(unsigned parts)> source) {
    source_ = std::move(source);
    fixed_.reset();
    invalidate();
}

void Api::invalidate() {
    if (!source_)
        return; // a fixed view never changes
    replies_.clear();
    events_view_.reset();
}

ApiView Api::build_view(unsigned parts) const {
    if (source_)
        return source_(parts);
    return fixed_ ? *fixed_ : ApiView{};
}

// What a query of /api/events needs, kept until the next change: queries
// are answered without building the whole view again.
const ApiView& Api::events_view() {
    events_view_asked_ = true;
    if (!events_view_) {
        keep_for_a_while();
        ApiView v = build_view(kEventsParts);
        ApiView e;
        e.events = std::move(v.events);
        e.events_evicted = v.events_evicted;
        for (const auto& c : v.clusters) {
            e.clusters.emplace_back();
            e.clusters.back().name = c.name;
        }
        events_view_ = std::move(e);
    }
    return *events_view_;
}

// The reply for a known path, rendered now if the view changed since it was
// last asked for; nullptr for an unknown path.
const Api::Reply* Api::reply_for(const std::string& path) {
    auto it = replies_.find(path);
    if (it != replies_.end()) {
        it->second.asked = true;
        return &it->second;
    }
    Reply r;
    if (path == "/api/ping") {
        r = {200, "text/plain; charset=utf-8", "Pong"};
    } else if (path == "/api/configuration") {
        r.body = render_configuration(build_view(kConfigurationParts));
    } else if (path == "/api/sentinels") {
        r.body = render_sentinels(build_view(kSentinelsParts));
    } else if (path == "/api/topology") {
        r.body = render_topology(build_view(kTopologyParts));
    } else if (path == "/api/health") {
        ApiResponse h = render_health(build_view(kHealthParts));
        r = {h.status, "application/json", std::move(h.body)};
    } else if (path == "/metrics") {
        r = {200, "text/plain; version=0.0.4; charset=utf-8",
             render_metrics(build_view(kMetricsParts))};
    } else if (path == "/api/events") {
        ApiResponse ev = render_events(events_view(), "");
        r = {ev.status, "application/json", std::move(ev.body)};
    } else {
        return nullptr;
    }
    keep_for_a_while();
    return &replies_.emplace(path, std::move(r)).first->second;
}

void Api::keep_for_a_while() {
    if (!forget_timer_->pending())
        forget_timer_->arm(kKeepUnasked);
}

// What was not asked for since the last call is forgotten (and its memory
// given back); what was is kept for another kKeepUnasked.
void Api::forget_unasked() {
    size_t before = kept_bodies();
    std::erase_if(replies_, [](const auto& kv) { return !kv.second.asked; });
    for (auto& [path, r] : replies_)
        r.asked = false;
    if (!events_view_asked_)
        events_view_.reset();
    events_view_asked_ = false;
    size_t after = kept_bodies();
    if (after)
        keep_for_a_while();
    if (after < before)
        release_free_heap();
}

void Api::on_request(evhttp_request* req, void* arg) {
    auto* self = static_cast<Api*>(arg);
    guarded("api request", [self, req] { self->handle(req); });
}

void Api::on_close(evhttp_connection* conn, void* arg) {
    auto* self = static_cast<Api*>(arg);
    guarded("api close", [self, conn] {
        auto it = self->conns_.find(conn);
        if (it == self->conns_.end())
            return;
        auto peer = self->per_peer_.find(it->second.peer);
        if (peer != self->per_peer_.end() && --peer->second == 0)
            self->per_peer_.erase(peer);
        self->conns_.erase(it);
    });
}

// Every accepted socket: evhttp asks for its bufferevent, then wraps it in a
// connection and sets the bufferevent's callbacks with that connection as
// their argument. The adopt event runs after that, in this loop iteration.
bufferevent* Api::on_accept(event_base* base, void* arg) {
    auto* self = static_cast<Api*>(arg);
    bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev) {
        self->pending_.push_back(bev);
        event_active(self->adopt_ev_.get(), EV_TIMEOUT, 0);
    }
    return bev;
}

void Api::adopt_pending() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (bufferevent* bev : pending) {
        void* arg = nullptr;
        bufferevent_getcb(bev, nullptr, nullptr, nullptr, &arg);
        auto* conn = static_cast<evhttp_connection*>(arg);
        if (!conn)
            continue;
        if (!admit(conn)) {
            refused_++; // counted, not logged: the offender pays, not the log
            evhttp_connection_free(conn);
        }
    }
}

bool Api::admit(evhttp_connection* conn) {
    char* host = nullptr;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &host, &port);
    std::string peer = client_key(host ? host : "");
    auto it = per_peer_.find(peer);
    if (it != per_peer_.end() && it->second >= limits_.max_per_address)
        return false;
    if (conns_.size() >= limits_.max_connections && !evict_idle())
        return false;
    conns_[conn] = Conn{peer, Clock::now(), false};
    per_peer_[peer]++;
    // Requests sent ahead (pipelined) wait in the socket, not here: at most
    // one request's worth of input is read ahead.
    if (bufferevent* bev = evhttp_connection_get_bufferevent(conn))
        bufferevent_setwatermark(bev, EV_READ, 0, limits_.max_headers + limits_.max_body);
    evhttp_connection_set_closecb(conn, &Api::on_close, this);
    return true;
}

// Makes room by closing the keep-alive connection idle the longest.
bool Api::evict_idle() {
    evhttp_connection* oldest = nullptr;
    Clock::time_point since = Clock::time_point::max();
    for (auto& [c, info] : conns_) {
        if (info.served && info.since < since) {
            oldest = c;
            since = info.since;
        }
    }
    if (!oldest)
        return false;
    evhttp_connection_free(oldest); // on_close forgets it
    return true;
}

// Closes every connection that has not completed a request in time.
void Api::sweep() {
    auto now = Clock::now();
    std::vector<evhttp_connection*> late;
    for (auto& [c, info] : conns_)
        if (now - info.since >= limits_.request_deadline)
            late.push_back(c);
    for (auto* c : late)
        evhttp_connection_free(c);
    sweep_timer_->arm(sweep_interval(limits_.request_deadline));
}

void Api::on_accept_error(evconnlistener* l, void*) {
    int err = EVUTIL_SOCKET_ERROR();
    Api* self = owner_of(l);
    if (!self)
        return;
    guarded("api accept", [self, err] {
        self->pauses_++;
        log::warn("api: accept: %s; listeners paused for %lld ms (%llu pauses so far)",
                  evutil_socket_error_to_string(err),
                  static_cast<long long>(self->limits_.accept_pause.count()),
                  static_cast<unsigned long long>(self->pauses_));
        self->pause_listeners();
    });
}

void Api::pause_listeners() {
    for (auto* l : listeners_)
        evconnlistener_disable(l);
    resume_timer_->arm(limits_.accept_pause);
}

void Api::resume_listeners() {
    for (auto* l : listeners_)
        evconnlistener_enable(l);
}

void Api::handle(evhttp_request* req) {
    auto it = conns_.find(evhttp_request_get_connection(req));
    if (it != conns_.end()) { // the next request's deadline starts now
        it->second.since = Clock::now();
        it->second.served = true;
    }
    auto method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        send(req, not_allowed_, true);
        return;
    }
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri ? evhttp_uri_get_path(uri) : nullptr;
    const Reply* found = path ? reply_for(path) : nullptr;
    if (unread_output(req) > limits_.max_unread_output) {
        // A client that sends requests without reading the replies would
        // have them queued here without end: this is its last one.
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        refused_++;
    }
    if (found && std::strcmp(path, "/metrics") == 0)
        return send(req, with_own_counters(*found));
    const char* query = uri ? evhttp_uri_get_query(uri) : nullptr;
    if (found && std::strcmp(path, "/api/events") == 0 && query && *query) {
        ApiResponse ev = render_events(events_view(), query);
        return send(req, Reply{ev.status, "application/json", std::move(ev.body)});
    }
    send(req, found ? *found : not_found_);
}

// Bytes of earlier replies the client has not read yet.
size_t Api::unread_output(evhttp_request* req) {
    evhttp_connection* conn = evhttp_request_get_connection(req);
    bufferevent* bev = conn ? evhttp_connection_get_bufferevent(conn) : nullptr;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

// The API's own budget counters and the process samples change without any
// change of the view, so they are added when /metrics is asked for rather
// than when it is built (rebuilding the view every few seconds would cost
// far more at many clusters).
Api::Reply Api::with_own_counters(const Reply& metrics) const {
    Reply r = metrics;
    r.body += render_process_metrics(process_stats_);
    r.body += "# HELP redishappy_api_connections_refused_total API connections closed at "
              "accept, over a connection budget.\n"
              "# TYPE redishappy_api_connections_refused_total counter\n"
              "redishappy_api_connections_refused_total " +
              std::to_string(refused_) +
              "\n"
              "# HELP redishappy_api_accept_pauses_total Times the API stopped accepting for a "
              "while because the process ran out of descriptors.\n"
              "# TYPE redishappy_api_accept_pauses_total counter\n"
              "redishappy_api_accept_pauses_total " +
              std::to_string(pauses_) + "\n";
    return r;
}

void Api::send(evhttp_request* req, const Reply& r, bool allow_header) {
    evkeyvalq* h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", r.content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (allow_header)
        evhttp_add_header(h, "Allow", "GET, HEAD");
    // libevent 2.1 would send the body of a HEAD reply: give only its length.
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        evhttp_add_header(h, "Content-Length", std::to_string(r.body.size()).c_str());
    } else {
        evbuffer* buf = evhttp_request_get_output_buffer(req);
        evbuffer_add(buf, r.body.data(), r.body.size());
    }
    evhttp_send_reply(req, r.status, reason(r.status), nullptr);
}

} // namespace rh
