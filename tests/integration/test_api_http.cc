// Live tests of the HTTP API (src/engine/api.cc): a real libevent loop in a thread
// on kernel-chosen loopback ports, and raw client sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/evutil.h"
#include "common/log.h"
#include "engine/api.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../cmocka.h"

using namespace rh;

namespace {

ApiView healthy_view() {
    ApiView v;
    ApiSentinel s;
    s.address = "127.0.0.1:26379";
    s.state = "up";
    s.clusters = {"main"};
    v.sentinels.push_back(s);
    ApiCluster c;
    c.name = "main";
    c.external_port = 6379;
    c.master = HostPort{"127.0.0.1", 7001};
    c.apply_state = "applied";
    v.clusters.push_back(c);
    return v;
}

// The server: an event loop in its own thread. The view is set before the
// thread starts; the loop notices stop_ through a short persistent timer
// (libevent here is built without thread notification).
class Server {
  public:
    Server(ApiLimits limits, const ApiView& view, bool ipv6 = false)
        : base_(event_base_new()), api_(std::make_unique<Api>(base_.get(), limits)) {
        api_->set_view(view);
        start(ipv6);
    }
    // The engine's way: views come from a source, built when asked for.
    Server(ApiLimits limits, std::function<ApiView(unsigned parts)> source)
        : base_(event_base_new()), api_(std::make_unique<Api>(base_.get(), limits)) {
        api_->set_source(std::move(source));
        start(false);
    }
    ~Server() {
        stop_ = true;
        thread_.join();
        api_.reset();
    }
    uint16_t port(size_t i = 0) const { return api_->bound().at(i).port; }
    // Api::kept_bodies() as the loop's thread last saw it.
    size_t kept_bodies() const { return kept_; }
    const Api& api() const { return *api_; }
    // Api::invalidate on the loop's thread; returns once it has run.
    void invalidate() {
        invalidate_ = true;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (invalidate_ && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        assert_false(invalidate_.load());
    }

  private:
    void start(bool ipv6) {
        std::string err;
        std::vector<HostPort> addrs = {{"127.0.0.1", 0}};
        if (ipv6)
            addrs.push_back({"::1", 0});
        if (!api_->bind(addrs, &err))
            fail_msg("bind: %s", err.c_str());
        tick_.reset(event_new(base_.get(), -1, EV_PERSIST, &Server::on_tick, this));
        timeval tv{0, 20000};
        event_add(tick_.get(), &tv);
        thread_ = std::thread([this] { event_base_dispatch(base_.get()); });
    }
    static void on_tick(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<Server*>(arg);
        self->kept_ = self->api_->kept_bodies();
        if (self->invalidate_) {
            self->api_->invalidate();
            self->invalidate_ = false;
        }
        if (self->stop_)
            event_base_loopbreak(self->base_.get());
    }
    EventBasePtr base_;
    std::unique_ptr<Api> api_;
    EventPtr tick_;
    std::atomic<bool> stop_{false}, invalidate_{false};
    std::atomic<size_t> kept_{0};
    std::thread thread_;
};

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0)
            close(fd);
    }
};

// Connects with a receive deadline, so no read in these tests can hang.
int connect_to(const char* host, uint16_t port, int rcv_timeout_s = 5) {
    sockaddr_storage ss{};
    socklen_t len;
    if (std::strchr(host, ':')) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, host, &s6->sin6_addr);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        inet_pton(AF_INET, host, &s4->sin_addr);
        len = sizeof *s4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    timeval tv{rcv_timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        fail_msg("connect %s:%u: %s", host, port, std::strerror(errno));
    return fd;
}

void send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = write(fd, s.data() + off, s.size() - off);
        if (n <= 0)
            return; // the server may close early on a hostile request
        off += static_cast<size_t>(n);
    }
}

// Reads until EOF (or the receive deadline). *eof tells which.
std::string read_all(int fd, bool* eof = nullptr) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (eof)
            *eof = n == 0 || errno == ECONNRESET;
        return out;
    }
}

// Reads exactly one response (headers + Content-Length body).
std::string read_one(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        size_t hdr_end = out.find("\r\n\r\n");
        if (hdr_end != std::string::npos) {
            size_t cl = 0;
            size_t p = out.find("Content-Length: ");
            if (p != std::string::npos && p < hdr_end)
                cl = std::strtoul(out.c_str() + p + 16, nullptr, 10);
            if (out.size() >= hdr_end + 4 + cl)
                return out;
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

std::string request(uint16_t port, const std::string& raw, const char* host = "127.0.0.1") {
    Fd fd(connect_to(host, port));
    send_all(fd.fd, raw);
    return read_all(fd.fd);
}

std::string get(uint16_t port, const char* path, const char* host = "127.0.0.1") {
    return request(port,
                   std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   host);
}

std::string body_of(const std::string& resp) {
    size_t p = resp.find("\r\n\r\n");
    return p == std::string::npos ? std::string() : resp.substr(p + 4);
}

bool has(const std::string& hay, const char* needle) {
    return hay.find(needle) != std::string::npos;
}

ApiLimits test_limits() {
    ApiLimits l;
    l.idle_timeout = std::chrono::milliseconds(500);
    l.max_headers = 2048;
    l.max_body = 256;
    return l;
}

} // namespace

static void ping_answers_pong(void**) {
    Server s(test_limits(), healthy_view());
    std::string r = get(s.port(), "/api/ping");
    assert_true(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    assert_true(has(r, "Content-Type: text/plain"));
    assert_string_equal(body_of(r).c_str(), "Pong");
}

static void serves_every_endpoint(void**) {
    Server s(test_limits(), healthy_view());
    std::string t = get(s.port(), "/api/topology");
    assert_true(t.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(t, "Content-Type: application/json"));
    assert_true(has(body_of(t), "\"name\":\"main\""));
    assert_true(has(body_of(t), "\"ip\":\"127.0.0.1\""));
    std::string se = get(s.port(), "/api/sentinels");
    assert_true(has(body_of(se), "\"sentinelLocation\":\"127.0.0.1:26379\""));
    std::string c = get(s.port(), "/api/configuration");
    assert_true(c.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(body_of(c), "\"Clusters\""));
    std::string h = get(s.port(), "/api/health");
    assert_true(h.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(body_of(h), "\"status\":\"ok\""));
    std::string m = get(s.port(), "/metrics");
    assert_true(m.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(m, "Content-Type: text/plain; version=0.0.4"));
    assert_true(has(body_of(m), "redishappy_sentinels_up 1\n"));
}

// A view is built only when a request needs a body rendered since the last
// change, and each body is then served from its copy until the next change.
static void bodies_are_rendered_when_asked_for(void**) {
    std::atomic<int> built{0};
    std::atomic<unsigned> asked{0}; // the parts of the last view built
    Server s(test_limits(), [&built, &asked](unsigned parts) {
        asked = parts;
        ApiView v = healthy_view();
        v.clusters[0].name = "c" + std::to_string(++built);
        return v;
    });
    assert_int_equal(built.load(), 0); // nothing asked yet
    assert_true(has(body_of(get(s.port(), "/api/ping")), "Pong"));
    assert_int_equal(built.load(), 0); // ping needs no view
    assert_true(has(body_of(get(s.port(), "/api/topology")), "\"name\":\"c1\""));
    assert_true(has(body_of(get(s.port(), "/api/topology")), "\"name\":\"c1\""));
    assert_int_equal(built.load(), 1);             // the second from the copy
    assert_int_equal(asked.load(), kViewClusters); // only what the body shows
    s.invalidate();
    s.invalidate(); // changes nobody asked about cost no view
    assert_int_equal(built.load(), 1);
    assert_true(has(body_of(get(s.port(), "/api/topology")), "\"name\":\"c2\""));
    assert_true(has(body_of(get(s.port(), "/metrics")), "c3"));
    assert_int_equal(built.load(), 3);
    assert_int_equal(asked.load(), kViewSentinels | kViewClusters);
    // Queries of /api/events are answered from one view per change.
    assert_true(has(get(s.port(), "/api/events?n=1"), "HTTP/1.1 200"));
    assert_true(has(get(s.port(), "/api/events?cluster=c4"), "HTTP/1.1 200"));
    assert_int_equal(built.load(), 4);
    assert_int_equal(asked.load(), kViewEvents | kViewClusters);
    assert_true(has(get(s.port(), "/api/events?cluster=c3"), "HTTP/1.1 400"));
    assert_int_equal(built.load(), 4);
}

// A body nobody asks for is forgotten (kKeepUnasked after the last request
// at the earliest) and rendered again for the next request.
static void unasked_bodies_are_forgotten(void**) {
    std::atomic<int> built{0};
    Server s(test_limits(), [&built](unsigned) {
        built++;
        return healthy_view();
    });
    assert_true(has(body_of(get(s.port(), "/api/topology")), "\"name\":\"main\""));
    assert_true(has(get(s.port(), "/api/events?n=1"), "HTTP/1.1 200"));
    assert_int_equal(built.load(), 2);
    auto deadline = std::chrono::steady_clock::now() + kKeepUnasked * 5;
    // The loop's tick copies the count every 20 ms: wait for one after both requests.
    while (s.kept_bodies() < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    assert_true(s.kept_bodies() >= 2); // the topology, the events' view (and body)
    while (s.kept_bodies() != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    assert_int_equal(s.kept_bodies(), 0);
    assert_true(has(body_of(get(s.port(), "/api/topology")), "\"name\":\"main\""));
    assert_int_equal(built.load(), 3);
}

static void events_with_and_without_query(void**) {
    ApiView v = healthy_view();
    EventLog log;
    for (int i = 0; i < 3; i++)
        log.record(1795428000000 + i, "main", EventKind::confirmed, EventReason::switch_master,
                   {HostPort{"127.0.0.1", static_cast<uint16_t>(7000 + i)},
                    static_cast<uint64_t>(i), "127.0.0.1:26379", true, ""});
    v.events = log.last();
    Server s(test_limits(), v);
    std::string all = get(s.port(), "/api/events");
    assert_true(all.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(all, "Content-Type: application/json"));
    assert_true(has(body_of(all), "\"master\":\"127.0.0.1:7000\""));
    assert_true(has(body_of(all), "\"master\":\"127.0.0.1:7002\""));
    std::string one = get(s.port(), "/api/events?n=1&cluster=main");
    assert_true(one.rfind("HTTP/1.1 200", 0) == 0);
    assert_false(has(body_of(one), "127.0.0.1:7001"));
    assert_true(has(body_of(one), "\"master\":\"127.0.0.1:7002\""));
    for (const char* bad : {"/api/events?n=0", "/api/events?cluster=nope", "/api/events?x=1",
                            "/api/events?n=1&n=1"}) {
        std::string r = get(s.port(), bad);
        if (r.rfind("HTTP/1.1 400 Bad Request", 0) != 0)
            fail_msg("%s: %s", bad, r.c_str());
        assert_true(has(r, "Content-Type: application/json"));
        assert_true(has(body_of(r), "\"error\":"));
    }
    // A query on another path changes nothing.
    assert_true(get(s.port(), "/api/topology?n=0").rfind("HTTP/1.1 200", 0) == 0);
}

static void health_503_when_no_sentinel_up(void**) {
    ApiView v = healthy_view();
    v.sentinels[0].state = "down";
    Server s(test_limits(), v);
    std::string h = get(s.port(), "/api/health");
    assert_true(h.rfind("HTTP/1.1 503", 0) == 0);
    assert_true(has(body_of(h), "no sentinel is up"));
}

static void unknown_path_is_404_json(void**) {
    Server s(test_limits(), healthy_view());
    std::string r = get(s.port(), "/api/nope");
    assert_true(r.rfind("HTTP/1.1 404", 0) == 0);
    assert_true(has(r, "Content-Type: application/json"));
    assert_string_equal(body_of(r).c_str(), "{\"error\":\"not found\"}\n");
    // A query string does not change the resource; a prefix is not a match.
    assert_true(get(s.port(), "/api/ping?x=1").rfind("HTTP/1.1 200", 0) == 0);
    assert_true(get(s.port(), "/api/pingx").rfind("HTTP/1.1 404", 0) == 0);
}

static void other_methods_are_405_with_allow(void**) {
    Server s(test_limits(), healthy_view());
    for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
        std::string r =
            request(s.port(), std::string(m) + " /api/topology HTTP/1.1\r\nHost: x\r\n"
                                               "Content-Length: 0\r\nConnection: close\r\n\r\n");
        if (r.rfind("HTTP/1.1 405", 0) != 0)
            fail_msg("%s: %s", m, r.c_str());
        assert_true(has(r, "Allow: GET, HEAD\r\n"));
    }
}

static void head_has_headers_and_no_body(void**) {
    Server s(test_limits(), healthy_view());
    std::string r =
        request(s.port(), "HEAD /api/topology HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(r.rfind("HTTP/1.1 200", 0) == 0);
    assert_true(has(r, "Content-Type: application/json"));
    assert_string_equal(body_of(r).c_str(), "");
    std::string g = get(s.port(), "/api/topology");
    std::string cl = "Content-Length: " + std::to_string(body_of(g).size()) + "\r\n";
    if (!has(r, cl.c_str()))
        fail_msg("HEAD lacks %s: %s", cl.c_str(), r.c_str());
}

static void serves_ipv6(void**) {
    Server s(test_limits(), healthy_view(), true);
    std::string r = get(s.port(1), "/api/ping", "::1");
    assert_string_equal(body_of(r).c_str(), "Pong");
}

static void bind_failure_names_address(void**) {
    Server s(test_limits(), healthy_view());
    EventBasePtr base(event_base_new());
    Api api(base.get(), test_limits());
    std::string err;
    assert_false(api.bind({{"127.0.0.1", s.port()}}, &err));
    std::string want = "api 127.0.0.1:" + std::to_string(s.port()) + ": cannot listen";
    if (err.rfind(want, 0) != 0)
        fail_msg("error was: %s", err.c_str());
}

static void overlong_header_is_rejected(void**) {
    Server s(test_limits(), healthy_view());
    std::string raw = "GET /api/ping HTTP/1.1\r\nHost: x\r\nX-Junk: " + std::string(8192, 'a') +
                      "\r\nConnection: close\r\n\r\n";
    Fd fd(connect_to("127.0.0.1", s.port()));
    send_all(fd.fd, raw);
    bool eof = false;
    std::string r = read_all(fd.fd, &eof);
    // libevent answers a 4xx and closes; never a 200.
    assert_true(eof);
    if (r.rfind("HTTP/1.1 4", 0) != 0)
        fail_msg("expected a 4xx, got: %s", r.c_str());
}

static void oversize_body_is_rejected(void**) {
    Server s(test_limits(), healthy_view());
    std::string raw = "GET /api/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                      "Connection: close\r\n\r\n" +
                      std::string(1024, 'b');
    std::string r = request(s.port(), raw);
    if (r.rfind("HTTP/1.1 413", 0) != 0)
        fail_msg("expected 413, got: %s", r.c_str());
}

static void silent_client_is_disconnected(void**) {
    Server s(test_limits(), healthy_view()); // idle timeout 500 ms
    auto start = std::chrono::steady_clock::now();
    Fd fd(connect_to("127.0.0.1", s.port(), 5));
    bool eof = false;
    std::string r = read_all(fd.fd, &eof);
    auto waited = std::chrono::steady_clock::now() - start;
    assert_true(eof); // closed by the server, not our 5 s receive deadline
    assert_true(waited < std::chrono::seconds(4));
    assert_true(waited >= std::chrono::milliseconds(400));
    (void)r;
}

static void idle_keepalive_client_is_disconnected(void**) {
    Server s(test_limits(), healthy_view());
    Fd fd(connect_to("127.0.0.1", s.port(), 5));
    send_all(fd.fd, "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = read_one(fd.fd);
    assert_string_equal(body_of(r).c_str(), "Pong");
    bool eof = false;
    read_all(fd.fd, &eof);
    assert_true(eof);
}

namespace {

// Connects from a given loopback source address (127.0.0.2 ...).
int connect_from(const char* source, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    assert_int_equal(bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0)
        fail_msg("connect from %s: %s", source, std::strerror(errno));
    return fd;
}

const std::string kPing = "GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n";

// True if the server closed fd without a byte within about a second.
bool closed_at_once(int fd) {
    auto start = std::chrono::steady_clock::now();
    bool eof = false;
    std::string r = read_all(fd, &eof);
    return eof && r.empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(2);
}

ApiLimits cap_limits() {
    ApiLimits l = test_limits();
    l.idle_timeout = std::chrono::milliseconds(3000);
    l.request_deadline = std::chrono::milliseconds(3000);
    l.max_connections = 2;
    return l;
}

} // namespace

// Counted at accept: two silent connections fill the cap, a third is closed
// at once, and the first two are still served.
static void connection_cap_closes_excess_at_accept(void**) {
    Server s(cap_limits(), healthy_view());
    Fd a(connect_to("127.0.0.1", s.port()));
    Fd b(connect_to("127.0.0.1", s.port()));
    Fd c(connect_to("127.0.0.1", s.port()));
    assert_true(closed_at_once(c.fd));
    send_all(a.fd, kPing);
    assert_string_equal(body_of(read_one(a.fd)).c_str(), "Pong");
    send_all(b.fd, kPing);
    assert_string_equal(body_of(read_one(b.fd)).c_str(), "Pong");
    // The refusal is counted where an operator can see it.
    send_all(a.fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string m = body_of(read_one(a.fd));
    assert_true(has(m, "redishappy_api_connections_refused_total 1\n"));
    assert_true(has(m, "redishappy_api_accept_pauses_total 0\n"));
}

// Keep-alive clients cannot starve others: at the cap, the connection idle
// the longest after a reply makes room.
static void idle_keepalive_makes_room_for_a_new_client(void**) {
    Server s(cap_limits(), healthy_view());
    Fd a(connect_to("127.0.0.1", s.port()));
    Fd b(connect_to("127.0.0.1", s.port()));
    send_all(a.fd, kPing);
    assert_string_equal(body_of(read_one(a.fd)).c_str(), "Pong");
    send_all(b.fd, kPing);
    assert_string_equal(body_of(read_one(b.fd)).c_str(), "Pong");
    assert_true(get(s.port(), "/api/ping").rfind("HTTP/1.1 200", 0) == 0);
    bool eof = false;
    read_all(a.fd, &eof); // a was idle the longest
    assert_true(eof);
}

static void per_address_cap(void**) {
    ApiLimits l = cap_limits();
    l.max_connections = 10;
    l.max_per_address = 2;
    Server s(l, healthy_view());
    Fd a(connect_from("127.0.0.2", s.port()));
    Fd b(connect_from("127.0.0.2", s.port()));
    Fd c(connect_from("127.0.0.2", s.port()));
    assert_true(closed_at_once(c.fd));
    // Another loopback address is the same machine, so the same client
    // (tests/unit/common/test_address has how other addresses group).
    Fd d(connect_from("127.0.0.3", s.port()));
    assert_true(closed_at_once(d.fd));
    // A place freed is a place for that client again, once the server has
    // seen the close: poll with a deadline.
    close(a.fd);
    a.fd = -1;
    bool served = false;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!served && std::chrono::steady_clock::now() < until) {
        Fd e(connect_from("127.0.0.3", s.port()));
        send_all(e.fd, kPing);
        served = body_of(read_one(e.fd)) == "Pong";
        if (!served)
            usleep(10000);
    }
    assert_true(served);
}

// A client trickling header bytes is cut off at the request deadline, not
// kept alive by the idle timeout that every byte restarts.
// A client that pipelines requests and never reads the replies: the server
// reads at most one request ahead, so what it takes in stays bounded (the
// rest waits in the socket buffers). Before, it read on without end
// (about 70 MB a second here).
static void pipelined_requests_are_not_read_ahead(void**) {
    Server s(test_limits(), healthy_view());
    Fd c(connect_to("127.0.0.1", s.port()));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    std::string burst;
    for (int i = 0; i < 1000; i++)
        burst += "GET /api/configuration HTTP/1.1\r\nHost: t\r\n\r\n";
    size_t sent = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until) {
        ssize_t n = send(c.fd, burst.data(), burst.size(), MSG_NOSIGNAL);
        if (n > 0)
            sent += static_cast<size_t>(n);
        else
            usleep(1000); // the socket is full: the server stopped reading
    }
    std::printf("pipelined: %zu kB accepted in 2 s\n", sent >> 10);
    assert_true(sent < (32u << 20));
}

static void trickling_client_is_cut_at_the_deadline(void**) {
    ApiLimits l = test_limits();
    l.idle_timeout = std::chrono::milliseconds(3000);
    l.request_deadline = std::chrono::milliseconds(1000);
    Server s(l, healthy_view());
    Fd fd(connect_to("127.0.0.1", s.port()));
    auto start = std::chrono::steady_clock::now();
    std::string raw = "GET /api/ping HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
    size_t sent = 0;
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(6)) {
        if (sent < raw.size() && write(fd.fd, raw.data() + sent++, 1) != 1)
            closed = true;
        pollfd p{fd.fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0)
            closed = true; // EOF (or an error reply) from the server
    }
    auto took = std::chrono::steady_clock::now() - start;
    assert_true(closed);
    assert_true(took >= std::chrono::milliseconds(900));
    assert_true(took < std::chrono::milliseconds(2500));
}

// Out of descriptors: accept() fails, the listener pauses (no busy loop,
// a handful of pauses, not thousands of retries) and resumes once
// descriptors are free again.
static void listener_pauses_on_emfile(void**) {
    ApiLimits l = test_limits();
    l.accept_pause = std::chrono::milliseconds(300);
    Server s(l, healthy_view());
    rlimit old{};
    getrlimit(RLIMIT_NOFILE, &old);
    rlimit low = old;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> hog;
    Fd client(connect_to("127.0.0.1", s.port()));
    for (int fd; (fd = dup(0)) >= 0;)
        hog.push_back(fd);
    close(hog.back()); // exactly one free: the client's socket...
    hog.pop_back();
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c2 >= 0); // ...and none for the server's accept()
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(s.port());
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    assert_int_equal(connect(c2, reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (s.api().pauses() == 0 && std::chrono::steady_clock::now() < deadline)
        usleep(10000);
    assert_true(s.api().pauses() > 0);
    usleep(1000000);
    assert_true(s.api().pauses() <= 6); // one per 300 ms pause, not a loop
    for (int fd : hog)
        close(fd);
    setrlimit(RLIMIT_NOFILE, &old);
    timeval tv{5, 0};
    setsockopt(c2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send_all(c2, kPing);
    assert_string_equal(body_of(read_one(c2)).c_str(), "Pong");
    close(c2);
}

int main() {
    log::init("test_api_http", true, LOG_DAEMON, log::Level::error);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ping_answers_pong),
        cmocka_unit_test(serves_every_endpoint),
        cmocka_unit_test(bodies_are_rendered_when_asked_for),
        cmocka_unit_test(unasked_bodies_are_forgotten),
        cmocka_unit_test(events_with_and_without_query),
        cmocka_unit_test(health_503_when_no_sentinel_up),
        cmocka_unit_test(unknown_path_is_404_json),
        cmocka_unit_test(other_methods_are_405_with_allow),
        cmocka_unit_test(head_has_headers_and_no_body),
        cmocka_unit_test(serves_ipv6),
        cmocka_unit_test(bind_failure_names_address),
        cmocka_unit_test(overlong_header_is_rejected),
        cmocka_unit_test(oversize_body_is_rejected),
        cmocka_unit_test(silent_client_is_disconnected),
        cmocka_unit_test(idle_keepalive_client_is_disconnected),
        cmocka_unit_test(connection_cap_closes_excess_at_accept),
        cmocka_unit_test(idle_keepalive_makes_room_for_a_new_client),
        cmocka_unit_test(per_address_cap),
        cmocka_unit_test(pipelined_requests_are_not_read_ahead),
        cmocka_unit_test(trickling_client_is_cut_at_the_deadline),
        cmocka_unit_test(listener_pauses_on_emfile),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
