// The engine's read-only HTTP API (see api.h).
#include "engine/api.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/evutil.h"
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

} // namespace

Api::Api(event_base* base, ApiLimits limits) : limits_(limits), http_(evhttp_new(base)) {
    if (!http_)
        log::fatalx("api: evhttp_new failed");
    evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(limits_.max_body));
    evhttp_set_max_headers_size(http_.get(), static_cast<ev_ssize_t>(limits_.max_headers));
    timeval tv = to_timeval(limits_.idle_timeout);
    evhttp_set_timeout_tv(http_.get(), &tv);
    // Accept every method so that we, not evhttp, answer 405 (with Allow).
    evhttp_set_allowed_methods(http_.get(), kAllMethods);
    evhttp_set_gencb(http_.get(), &Api::on_request, this);

    not_found_ = {404, "application/json", render_error("not found")};
    not_allowed_ = {405, "application/json", render_error("method not allowed")};
    busy_ = {503, "application/json", render_error("too many connections")};
    set_view(ApiView{});
}

Api::~Api() {
    // evhttp_free closes the connections; their close callbacks must not
    // reach a half-destroyed object.
    for (auto* c : conns_)
        evhttp_connection_set_closecb(c, nullptr, nullptr);
    conns_.clear();
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
        auto port = local_port(evhttp_bound_socket_get_fd(bs));
        bound_.push_back({a.host, port.value_or(a.port)});
        log::info("api: listening on %s", format_host_port(bound_.back()).c_str());
    }
    return true;
}

void Api::set_view(const ApiView& view) {
    std::unordered_map<std::string, Reply> r;
    r["/api/ping"] = {200, "text/plain; charset=utf-8", "Pong"};
    r["/api/configuration"] = {200, "application/json", render_configuration(view)};
    r["/api/sentinels"] = {200, "application/json", render_sentinels(view)};
    r["/api/topology"] = {200, "application/json", render_topology(view)};
    ApiResponse h = render_health(view);
    r["/api/health"] = {h.status, "application/json", std::move(h.body)};
    r["/metrics"] = {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(view)};
    replies_ = std::move(r);
}

void Api::on_request(evhttp_request* req, void* arg) {
    auto* self = static_cast<Api*>(arg);
    guarded("api request", [self, req] { self->handle(req); });
}

void Api::on_close(evhttp_connection* conn, void* arg) {
    auto* self = static_cast<Api*>(arg);
    guarded("api close", [self, conn] { self->conns_.erase(conn); });
}

// Counts connections as they make their first request. evhttp in libevent
// 2.1 has no accept hook, so a connection that never sends a byte is not
// counted; the idle timeout bounds those.
bool Api::admit(evhttp_request* req) {
    evhttp_connection* conn = evhttp_request_get_connection(req);
    if (!conn || conns_.count(conn))
        return true;
    if (conns_.size() >= limits_.max_connections)
        return false;
    conns_.insert(conn);
    evhttp_connection_set_closecb(conn, &Api::on_close, this);
    return true;
}

void Api::handle(evhttp_request* req) {
    if (!admit(req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        send(req, busy_);
        return;
    }
    auto method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        send(req, not_allowed_, true);
        return;
    }
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri ? evhttp_uri_get_path(uri) : nullptr;
    auto it = path ? replies_.find(path) : replies_.end();
    send(req, it == replies_.end() ? not_found_ : it->second);
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
