// The engine's read-only HTTP API: evhttp on the engine's event loop,
// answering from bodies pre-rendered once per view.
#pragma once

#include <event2/event.h>
#include <event2/http.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/address.h"
#include "engine/api_json.h"

namespace rh {

struct ApiLimits {
    size_t max_body = 1024;    // bytes; requests carry no body
    size_t max_headers = 8192; // bytes of all request headers
    std::chrono::milliseconds idle_timeout{10000};
    size_t max_connections = 128; // connections that have sent a request
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

    // Re-renders every body from the view; requests are then plain lookups.
    void set_view(const ApiView& view);

    size_t connections() const { return conns_.size(); }

  private:
    struct Reply {
        int status = 200;
        const char* content_type = "application/json";
        std::string body;
    };
    struct HttpFree {
        void operator()(evhttp* h) const { evhttp_free(h); }
    };

    static void on_request(evhttp_request* req, void* arg);
    static void on_close(evhttp_connection* conn, void* arg);
    void handle(evhttp_request* req);
    bool admit(evhttp_request* req);
    void send(evhttp_request* req, const Reply& r, bool allow_header = false);

    ApiLimits limits_;
    std::unique_ptr<evhttp, HttpFree> http_;
    std::unordered_map<std::string, Reply> replies_;
    Reply not_found_, not_allowed_, busy_;
    std::vector<HostPort> bound_;
    std::unordered_set<evhttp_connection*> conns_;
};

} // namespace rh
