// The engine's read-only HTTP API: evhttp on the engine's event loop.
// A body is rendered on the first request for it after the view changed and
// answered from that copy until the next change: a change costs nothing
// when nobody asks (at 10,000 clusters the bodies are megabytes and a storm
// changes the view many times a second).
//
// Budgets (redishappy.conf(5), API BUDGETS): connections are counted when
// they are accepted, in total and per client address; one over either cap is
// closed at once (an idle keep-alive connection is closed first to make room,
// so keep-alive clients cannot starve others). Each request must arrive whole
// within request_deadline of the accept or of the previous reply, however
// slowly its bytes trickle. When accept() fails (EMFILE, ENFILE), every
// listener is paused for accept_pause: no busy loop, one log line per pause.
//
// evhttp 2.1 has no accept hook, so the count is kept with the one it has:
// its bufferevent callback runs for every accepted socket, and the
// connection it belongs to is adopted in the same loop iteration, before
// any byte of it is read.
#pragma once

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"
#include "engine/api_json.h"

namespace rh {

// How long a rendered body is kept after the last request for it.
inline constexpr std::chrono::seconds kKeepUnasked{1};

struct ApiLimits {
    size_t max_body = 1024;                       // bytes; requests carry no body
    size_t max_headers = 8192;                    // bytes of all request headers
    size_t max_unread_output = 256 * 1024;        // replies queued to a client that does not read
    std::chrono::milliseconds idle_timeout{5000}; // evhttp's per-read/write timeout
    std::chrono::milliseconds request_deadline{5000}; // a whole request, from accept or reply
    size_t max_connections = 256;                     // open, counted at accept
    size_t max_per_address = 64;                      // open from one client address
    std::chrono::milliseconds accept_pause{1000};     // listeners paused after accept() fails
    // max_connections never exceeds this share of RLIMIT_NOFILE: the rest is
    // kept for Sentinel links, confirmations, Consul and the parent channel.
    static constexpr size_t nofile_share = 4;
};

class Api {
  public:
    Api(event_base* base, ApiLimits limits);
    ~Api();
    Api(const Api&) = delete;
    Api& operator=(const Api&) = delete;

    // Binds every address (IPv4 and IPv6; port 0 picks a free port). Call
    // before dropping privileges. On failure says which address and why.
    bool bind(const std::vector<HostPort>& addrs, std::string* err);
    // The addresses actually bound (with the kernel's port for port 0).
    const std::vector<HostPort>& bound() const { return bound_; }

    // A fixed view: bodies are rendered from it when first asked for.
    void set_view(ApiView view);
    // Where the view comes from: called when a request needs a body not
    // rendered since the last invalidate(); only the bodies are kept, the
    // view is dropped once they are rendered (it is larger than the body
    // most clients ask for). Runs on the request's loop iteration.
    // It is given the parts (ApiParts) the body needs.
    void set_source(std::function<ApiView(unsigned parts)> source);
    // The view changed: forget every rendered body.
    void invalidate();
    // The parent's latest samples of both processes, added to /metrics.
    void set_process_stats(const proto::ProcessStats& st) { process_stats_ = st; }

    size_t connections() const { return conns_.size(); }
    // Rendered bodies held (events' view included), for tests.
    size_t kept_bodies() const { return replies_.size() + (events_view_ ? 1 : 0); }
    size_t max_connections() const { return limits_.max_connections; }
    // Connections closed at accept by a cap, and pauses of the listeners.
    uint64_t refused() const { return refused_; }
    uint64_t pauses() const { return pauses_; }

  private:
    struct Reply {
        int status = 200;
        const char* content_type = "application/json";
        std::string body;
        bool asked = true; // since the last forget_unasked()
    };
    struct HttpFree {
        void operator()(evhttp* h) const { evhttp_free(h); }
    };

    using Clock = std::chrono::steady_clock;
    struct Conn {
        std::string peer;
        Clock::time_point since; // accept, or the last reply
        bool served = false;     // between requests after a reply: may be evicted
    };

    static void on_request(evhttp_request* req, void* arg);
    static void on_close(evhttp_connection* conn, void* arg);
    static bufferevent* on_accept(event_base* base, void* arg);
    static void on_accept_error(evconnlistener* l, void* arg);
    void handle(evhttp_request* req);
    void adopt_pending();
    bool admit(evhttp_connection* conn);
    bool evict_idle();
    void sweep();
    void pause_listeners();
    void resume_listeners();
    void send(evhttp_request* req, const Reply& r, bool allow_header = false);
    Reply with_own_counters(const Reply& metrics) const;
    ApiView build_view(unsigned parts) const;
    const ApiView& events_view();
    const Reply* reply_for(const std::string& path);
    void keep_for_a_while();
    void forget_unasked();
    static size_t unread_output(evhttp_request* req);

    ApiLimits limits_;
    std::unique_ptr<evhttp, HttpFree> http_;
    std::function<ApiView(unsigned parts)> source_;
    std::optional<ApiView> fixed_;                   // set_view's, when there is no source
    std::unordered_map<std::string, Reply> replies_; // rendered since the last change, by path
    std::optional<ApiView> events_view_; // events and cluster names: for /api/events?query
    bool events_view_asked_ = false;
    // Rendered bodies are kept for the requests that follow (a burst of
    // clients, a dashboard) and forgotten after kKeepUnasked without one:
    // at 10,000 clusters /api/topology and /metrics are about 5 MB each.
    std::unique_ptr<Timer> forget_timer_;
    Reply not_found_, not_allowed_;
    std::vector<HostPort> bound_;
    std::vector<evconnlistener*> listeners_; // owned by http_
    std::vector<bufferevent*> pending_;      // accepted, adopted this iteration
    std::unordered_map<evhttp_connection*, Conn> conns_;
    std::unordered_map<std::string, size_t> per_peer_;
    EventPtr adopt_ev_;
    std::unique_ptr<Timer> sweep_timer_, resume_timer_;
    uint64_t refused_ = 0, pauses_ = 0;
    std::optional<proto::ProcessStats> process_stats_;
};

} // namespace rh
