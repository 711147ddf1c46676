// Live test of the Consul output (src/engine/consul.cc): a real libevent loop, real
// libcurl, and tests/integration/fake_consul.py on free loopback ports.
#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "engine/consul.h"
#include "engine/curl_lib.h"

#include "../cmocka.h" // last: it defines macros such as fail()

using namespace rh;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Fake {
    pid_t pid = -1;
    int api_port = 0;
    int control_port = 0;
};

Fake g_fake;                     // the fixture shared by the group (set up once, stopped by PID)
const CurlApi* g_curl = nullptr; // loaded by main, as the engine loads it

std::string script_path() {
    if (const char* src = getenv("RH_SRCDIR"))
        return std::string(src) + "/tests/integration/fake_consul.py";
    std::string here = __FILE__; // .../tests/integration/test_consul_live.cc
    return here.substr(0, here.rfind('/')) + "/fake_consul.py";
}

// Reads the "<api> <control>" line the fake prints, with a deadline.
bool read_ports(int fd, Fake* f) {
    std::string line;
    auto deadline = Clock::now() + 10s;
    while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return false;
        line.append(buf, static_cast<size_t>(n));
    }
    return sscanf(line.c_str(), "%d %d", &f->api_port, &f->control_port) == 2;
}

int start_fake(void**) {
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    std::string script = script_path();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script.c_str(), (char*)nullptr);
        _exit(127);
    }
    close(fds[1]);
    g_fake.pid = pid;
    bool ok = read_ports(fds[0], &g_fake);
    close(fds[0]);
    return ok ? 0 : -1;
}

int stop_fake(void**) {
    if (g_fake.pid > 0) {
        kill(g_fake.pid, SIGTERM);
        waitpid(g_fake.pid, nullptr, 0);
    }
    return 0;
}

size_t collect(char* p, size_t s, size_t n, void* arg) {
    static_cast<std::string*>(arg)->append(p, s * n);
    return s * n;
}

// A blocking request, for the test's own checks only (never inside the loop).
long http(const char* method, const std::string& url, std::string* body = nullptr) {
    CURL* e = curl_easy_init();
    std::string sink;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body ? body : &sink);
    long code = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    return code;
}

void control(const std::string& what) {
    std::string url = "http://127.0.0.1:" + std::to_string(g_fake.control_port) + what;
    assert_int_equal(http("POST", url), 200);
}

std::string api_url() {
    return "http://127.0.0.1:" + std::to_string(g_fake.api_port);
}

struct Entry {
    std::string node, address;
    long port;
};

std::vector<Entry> lookup(const std::string& service, const std::string& token = "") {
    std::string body;
    std::string url = api_url() + "/v1/catalog/service/" + service;
    CURL* e = curl_easy_init();
    curl_slist* h = nullptr;
    if (!token.empty())
        h = curl_slist_append(h, ("X-Consul-Token: " + token).c_str());
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    json_error_t err;
    json_t* j = json_loads(body.c_str(), 0, &err);
    assert_non_null(j);
    assert_true(json_is_array(j));
    std::vector<Entry> out;
    size_t i;
    json_t* v;
    json_array_foreach(j, i, v) {
        out.push_back({json_string_value(json_object_get(v, "Node")),
                       json_string_value(json_object_get(v, "ServiceAddress")),
                       static_cast<long>(json_integer_value(json_object_get(v, "ServicePort")))});
    }
    json_decref(j);
    return out;
}

// Runs the loop until pred() holds or the deadline passes.
template <typename P> bool run_until(event_base* base, P pred, std::chrono::milliseconds limit) {
    Timer tick(base, [] {});
    auto deadline = Clock::now() + limit;
    while (!pred() && Clock::now() < deadline) {
        tick.arm(10ms);
        event_base_loop(base, EVLOOP_ONCE);
    }
    return pred();
}

ConsulService svc(const std::string& cluster, const std::string& host, uint16_t port) {
    ConsulService s;
    s.cluster = cluster;
    s.tags = {"master"};
    s.address = HostPort{host, port};
    return s;
}

ConsulSettings settings() {
    ConsulSettings s;
    s.address = api_url() + "/";
    s.timeout = 5000ms;
    s.retry_base = 50ms;
    s.retry_max = 200ms;
    return s;
}

void reset_fake() {
    control("/up");
    control("/delay?s=0");
    control("/token?value=");
}

ConsulState state_of(const Consul& c, const std::string& cluster) {
    const ConsulStatus* st = c.status(cluster);
    return st ? st->state : ConsulState::pending;
}

} // namespace

static void catalog_register_is_visible_then_removed(void**) {
    reset_fake();
    EventBasePtr base(event_base_new());
    Consul c(base.get(), *g_curl, settings(), nullptr);
    assert_null(c.status("live1"));
    c.publish(svc("live1", "10.0.0.1", 7001));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live1") == ConsulState::registered; }, 5s));
    auto found = lookup("live1");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].node.c_str(), "redishappy-live1");
    assert_string_equal(found[0].address.c_str(), "10.0.0.1");
    assert_int_equal(found[0].port, 7001);
    assert_int_equal(c.status("live1")->errors, 0);
    assert_true(c.status("live1")->last_success.has_value());

    c.remove(svc("live1", "10.0.0.1", 7001));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live1") == ConsulState::deregistered; }, 5s));
    assert_int_equal(lookup("live1").size(), 0);
}

static void agent_mode_registers_and_deregisters(void**) {
    reset_fake();
    EventBasePtr base(event_base_new());
    ConsulSettings s = settings();
    s.mode = ConsulMode::agent;
    Consul c(base.get(), *g_curl, s, nullptr);
    c.publish(svc("live2", "127.0.0.5", 7002));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live2") == ConsulState::registered; }, 5s));
    auto found = lookup("live2");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "127.0.0.5");
    assert_int_equal(found[0].port, 7002);
    c.remove(svc("live2", "127.0.0.5", 7002));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live2") == ConsulState::deregistered; }, 5s));
    assert_int_equal(lookup("live2").size(), 0);
}

static void wrong_token_is_a_403_in_status(void**) {
    reset_fake();
    control("/token?value=right-token");
    EventBasePtr base(event_base_new());
    ConsulSettings s = settings();
    s.token = "wrong-token";
    Consul bad(base.get(), *g_curl, s, nullptr);
    bad.publish(svc("live3", "10.0.0.3", 7003));
    // Two failures prove it is retried, not given up.
    assert_true(run_until(
        base.get(), [&] { return bad.status("live3") && bad.status("live3")->errors >= 2; }, 5s));
    const ConsulStatus* st = bad.status("live3");
    assert_int_equal(static_cast<int>(st->state), static_cast<int>(ConsulState::error));
    assert_string_equal(st->last_error.c_str(), "HTTP 403: ACL not found");
    assert_false(st->current.has_value());

    s.token = "right-token";
    Consul good(base.get(), *g_curl, s, nullptr);
    good.publish(svc("live3", "10.0.0.3", 7003));
    assert_true(run_until(
        base.get(), [&] { return state_of(good, "live3") == ConsulState::registered; }, 5s));
    assert_int_equal(lookup("live3", "right-token").size(), 1);
}

static void down_then_up_converges_on_newest(void**) {
    reset_fake();
    EventBasePtr base(event_base_new());
    Consul c(base.get(), *g_curl, settings(), nullptr);
    c.publish(svc("live4", "10.0.0.4", 7004));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live4") == ConsulState::registered; }, 5s));
    control("/down");
    c.publish(svc("live4", "10.0.0.40", 7040));
    assert_true(run_until(
        base.get(), [&] { return c.status("live4")->errors >= 1; }, 5s));
    assert_true(c.status("live4")->last_error.find("onnect") != std::string::npos);
    c.publish(svc("live4", "10.0.0.41", 7041)); // the newest, also sent while down
    uint64_t before = c.status("live4")->errors;
    assert_true(run_until(
        base.get(), [&] { return c.status("live4")->errors >= before + 2; }, 5s));
    control("/up");
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live4") == ConsulState::registered; }, 5s));
    auto found = lookup("live4");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.41");
    assert_int_equal(found[0].port, 7041);
    assert_true(c.status("live4")->current->address == (HostPort{"10.0.0.41", 7041}));
    assert_string_equal(c.status("live4")->last_error.c_str(), "");
}

static void newer_state_while_in_flight_wins(void**) {
    reset_fake();
    control("/delay?s=0.5");
    EventBasePtr base(event_base_new());
    std::vector<HostPort> reported; // every state reported as registered
    Consul c(base.get(), *g_curl, settings(), [&](const std::string&, const ConsulStatus& st) {
        if (st.state == ConsulState::registered)
            reported.push_back(st.current->address);
    });
    c.publish(svc("live5", "10.0.0.5", 7005));
    assert_int_equal(c.in_flight(), 1);
    c.publish(svc("live5", "10.0.0.50", 7050));
    assert_int_equal(c.in_flight(), 1); // the newer waits; never two at once
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live5") == ConsulState::registered; }, 5s));
    assert_int_equal(reported.size(), 1);
    assert_true(reported[0] == (HostPort{"10.0.0.50", 7050}));
    assert_int_equal(c.status("live5")->successes, 1);
    auto found = lookup("live5");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.50");
}

static void slow_server_does_not_block_loop(void**) {
    reset_fake();
    control("/delay?s=2");
    EventBasePtr base(event_base_new());
    Consul c(base.get(), *g_curl, settings(), nullptr);
    auto last = Clock::now();
    auto worst = Clock::duration::zero();
    int ticks = 0;
    Timer* self = nullptr;
    Timer ticker(base.get(), [&] {
        auto now = Clock::now();
        worst = std::max(worst, now - last);
        last = now;
        ticks++;
        self->arm(50ms);
    });
    self = &ticker;
    ticker.arm(50ms);
    auto t0 = Clock::now();
    c.publish(svc("live6", "10.0.0.6", 7006));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live6") == ConsulState::registered; }, 6s));
    auto took = Clock::now() - t0;
    log::info("slow consul: request took %lld ms, %d ticks, worst tick gap %lld ms",
              (long long)std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), ticks,
              (long long)std::chrono::duration_cast<std::chrono::milliseconds>(worst).count());
    assert_true(took >= 1900ms);
    assert_true(ticks >= 25);
    assert_true(worst < 250ms);
}

static void timeout_is_an_error_then_retried(void**) {
    reset_fake();
    control("/delay?s=2");
    EventBasePtr base(event_base_new());
    ConsulSettings s = settings();
    s.timeout = 300ms;
    Consul c(base.get(), *g_curl, s, nullptr);
    c.publish(svc("live7", "10.0.0.7", 7007));
    assert_true(run_until(
        base.get(), [&] { return c.status("live7")->errors >= 1; }, 5s));
    assert_true(c.status("live7")->last_error.find("imed out") != std::string::npos);
    control("/delay?s=0");
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live7") == ConsulState::registered; }, 5s));
    assert_int_equal(lookup("live7").size(), 1);
}

// Posts a body to the fake's control port.
void control_post(const std::string& what, const std::string& body) {
    CURL* e = curl_easy_init();
    std::string sink;
    std::string url = "http://127.0.0.1:" + std::to_string(g_fake.control_port) + what;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    assert_int_equal(code, 200);
}

ConsulService at(const std::string& cluster, const std::string& host, uint16_t port, uint64_t epoch,
                 const std::string& instance) {
    ConsulService s = svc(cluster, host, port);
    s.epoch = epoch;
    s.instance = instance;
    return s;
}

// Two instances on one catalog entry: the one with the older epoch never
// replaces the newer registration, whichever writes last.
static void older_epoch_never_replaces_newer(void**) {
    reset_fake();
    EventBasePtr base(event_base_new());
    ConsulSettings sa = settings(), sb = settings();
    sa.instance = "a";
    sb.instance = "b";
    Consul a(base.get(), *g_curl, sa, nullptr);
    Consul b(base.get(), *g_curl, sb, nullptr);
    a.publish(at("live8", "10.0.0.81", 7081, 5, "a"));
    assert_true(run_until(
        base.get(), [&] { return state_of(a, "live8") == ConsulState::registered; }, 5s));
    b.publish(at("live8", "10.0.0.80", 7080, 4, "b")); // b's stale view, written last
    assert_true(run_until(
        base.get(), [&] { return state_of(b, "live8") == ConsulState::superseded; }, 5s));
    assert_int_equal(b.status("live8")->fenced, 1);
    assert_int_equal(b.status("live8")->errors, 0);
    assert_true(b.status("live8")->detail.find("epoch 5") != std::string::npos);
    auto found = lookup("live8");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.81");
    // b catches up (epoch 6): the registration moves forward, b's name on it.
    b.publish(at("live8", "10.0.0.82", 7082, 6, "b"));
    assert_true(run_until(
        base.get(), [&] { return state_of(b, "live8") == ConsulState::registered; }, 5s));
    found = lookup("live8");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.82");
    assert_string_equal(b.status("live8")->detail.c_str(), "");
}

// Someone writes between our read and our write: the check-and-set is
// refused (409), we read again and decide on what is there now.
static void cas_conflict_reads_again(void**) {
    reset_fake();
    EventBasePtr base(event_base_new());
    ConsulSettings s = settings();
    s.instance = "a";
    Consul c(base.get(), *g_curl, s, nullptr);
    // A newer registration lands right after our read: we must not write.
    control_post("/race", R"({"Node":"redishappy-live9","ServiceID":"redishappy-live9",)"
                          R"("Service":"live9","Address":"10.0.0.99","Port":7099,)"
                          R"("Meta":{"redishappy_epoch":"9","redishappy_instance":"z"}})");
    c.publish(at("live9", "10.0.0.98", 7098, 8, "a"));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live9") == ConsulState::superseded; }, 5s));
    assert_int_equal(c.status("live9")->cas_conflicts, 1);
    auto found = lookup("live9");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.99");
    // An older one lands in between: refused once, read again, then written.
    control_post("/race", R"({"Node":"redishappy-live9","ServiceID":"redishappy-live9",)"
                          R"("Service":"live9","Address":"10.0.0.97","Port":7097,)"
                          R"("Meta":{"redishappy_epoch":"3","redishappy_instance":"z"}})");
    c.publish(at("live9", "10.0.0.96", 7096, 10, "a"));
    assert_true(run_until(
        base.get(), [&] { return state_of(c, "live9") == ConsulState::registered; }, 5s));
    assert_int_equal(c.status("live9")->cas_conflicts, 2);
    found = lookup("live9");
    assert_int_equal(found.size(), 1);
    assert_string_equal(found[0].address.c_str(), "10.0.0.96");
}

int main() {
    std::string err;
    auto curl = CurlLibrary::load(&err);
    if (!curl) {
        print_error("cannot load libcurl: %s\n", err.c_str());
        return 1;
    }
    g_curl = &curl->api();
    log::init("test", true, 0, log::Level::info);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalog_register_is_visible_then_removed),
        cmocka_unit_test(agent_mode_registers_and_deregisters),
        cmocka_unit_test(wrong_token_is_a_403_in_status),
        cmocka_unit_test(down_then_up_converges_on_newest),
        cmocka_unit_test(newer_state_while_in_flight_wins),
        cmocka_unit_test(slow_server_does_not_block_loop),
        cmocka_unit_test(timeout_is_an_error_then_retried),
        cmocka_unit_test(older_epoch_never_replaces_newer),
        cmocka_unit_test(cas_conflict_reads_again),
    };
    return cmocka_run_group_tests(tests, start_fake, stop_fake);
}
