// Live test of SentinelLink and Confirmer against real redis-server and
// redis-sentinel processes on free loopback ports, plus a fake server that
// sends hostile replies. Everything runs in a private temp dir; processes are
// stopped by PID; every wait polls a condition against a deadline.
//
// Exit status: 0 pass, 1 fail, 77 skip (no redis-server/redis-sentinel).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/evutil.h"
#include "common/log.h"
#include "engine/confirm.h"
#include "engine/sentinel.h"
#include "engine/tls.h"

using namespace rh;
using namespace std::chrono_literals;

namespace {

int failures = 0;
std::string tmpdir;
std::vector<pid_t> children;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            std::printf("ok: %s\n", #cond);                                                        \
        } else {                                                                                   \
            std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                            \
            std::printf(__VA_ARGS__);                                                              \
            std::printf("\n");                                                                     \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

bool on_path(const char* prog) {
    std::string cmd = std::string("command -v ") + prog + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    close(fd);
    return ntohs(sa.sin_port);
}

int listen_on(uint16_t* port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 16) != 0)
        log::fatal("listen");
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

// Polls until something accepts TCP connections at [::1]:port, or the limit.
bool ipv6_listening(uint16_t port, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_addr = in6addr_loopback;
        sa.sin6_port = htons(port);
        bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        close(fd);
        if (ok)
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        usleep(20000);
    }
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& logname) {
    pid_t pid = fork();
    if (pid < 0)
        log::fatal("fork");
    if (pid == 0) {
        int fd = open((tmpdir + "/" + logname).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    children.push_back(pid);
    return pid;
}

void kill_child(pid_t pid, int sig) {
    kill(pid, sig);
    if (sig == SIGKILL || sig == SIGTERM) {
        waitpid(pid, nullptr, 0);
        std::erase(children, pid);
    }
}

pid_t start_redis(uint16_t port, const std::string& replicaof = "") {
    std::vector<std::string> argv = {
        "redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
        "--save",       "",       "--appendonly",       "no",     "--dir",
        tmpdir};
    if (!replicaof.empty()) {
        argv.push_back("--replicaof");
        argv.push_back(replicaof);
    }
    return spawn(argv, "redis-" + std::to_string(port) + ".log");
}

std::string sentinel_conf(uint16_t port, uint16_t master) {
    std::string path = tmpdir + "/sentinel-" + std::to_string(port) + ".conf";
    std::ofstream f(path);
    f << "port " << port << "\nbind 127.0.0.1\ndir " << tmpdir << "\n"
      << "sentinel monitor mymaster 127.0.0.1 " << master << " 2\n"
      << "sentinel down-after-milliseconds mymaster 1000\n";
    return path;
}

pid_t start_sentinel(const std::string& conf, uint16_t port) {
    return spawn({"redis-sentinel", conf}, "sentinel-" + std::to_string(port) + ".log");
}

// Runs the loop until pred() holds or the deadline passes.
bool run_until(event_base* base, std::function<bool()> pred, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    Timer tick(base, [] {});
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        tick.arm(20ms);
        event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

// A fake Sentinel in a child process: to every connection, once it has sent
// something, writes reply and then keeps writing filler (bulk_fill bytes).
pid_t fake_server(int lfd, std::string reply, size_t bulk_fill) {
    pid_t pid = fork();
    if (pid != 0) {
        children.push_back(pid);
        return pid;
    }
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int c = accept(lfd, nullptr, nullptr);
        if (c < 0)
            continue;
        if (fork() == 0) {
            char buf[512];
            if (read(c, buf, sizeof buf) <= 0)
                _exit(0);
            if (write(c, reply.data(), reply.size()) < 0)
                _exit(0);
            std::string chunk(1 << 20, 'x');
            for (size_t sent = 0; sent < bulk_fill; sent += chunk.size())
                if (write(c, chunk.data(), chunk.size()) < 0)
                    _exit(0);
            while (read(c, buf, sizeof buf) > 0) {
            }
            _exit(0);
        }
        close(c);
    }
}

struct Seen {
    int ups = 0, downs = 0, masters = 0, not_monitored = 0, bad = 0;
    int replica_lists = 0, sentinel_lists = 0; // SENTINEL REPLICAS / SENTINELS replies
    sentinel::MasterInfo master;
    std::vector<sentinel::SentinelInfo> sentinels;
    std::vector<sentinel::ReplicaInfo> replicas;
    std::string down_error, bad_reason;
};

SentinelCallbacks record(Seen* s) {
    SentinelCallbacks cb;
    cb.up = [s] { s->ups++; };
    cb.down = [s](const std::string& e) {
        s->downs++;
        s->down_error = e;
    };
    cb.master = [s](const sentinel::MasterInfo& m) {
        s->masters++;
        s->master = m;
    };
    cb.not_monitored = [s](const std::string&) { s->not_monitored++; };
    cb.sentinels = [s](const std::string&, const std::vector<sentinel::SentinelInfo>& v) {
        s->sentinel_lists++;
        s->sentinels = v;
    };
    cb.replicas = [s](const std::string&, const std::vector<sentinel::ReplicaInfo>& v) {
        s->replica_lists++;
        s->replicas = v;
    };
    cb.bad_reply = [s](const std::string& r) {
        s->bad++;
        s->bad_reason = r;
    };
    return cb;
}

SentinelSettings fast_settings(std::vector<std::string> clusters,
                               std::vector<bool> read_backends = {}) {
    // A link does not own its list of names: these live as long as the test.
    static std::deque<ClusterNames> lists;
    SentinelSettings st;
    st.clusters = &lists.emplace_back(std::move(clusters), std::move(read_backends));
    st.ping_interval = 200ms;
    st.ping_timeout = 1000ms;
    st.connect_timeout = 1000ms;
    st.reread_interval = 500ms;
    st.backoff_base = 50ms;
    st.backoff_max = 300ms;
    return st;
}

// A cluster's replicas and Sentinels are read with the first SENTINEL
// MASTERS after the link comes up; periodic re-reads then read them only
// when its counts change, in its turn (one in kDetailsEvery), or, for the
// replicas, when it has a read backend.
void test_details_on_change_only(event_base* base, const HostPort& sentinel) {
    for (bool read_backend : {false, true}) {
        Seen seen;
        SentinelSettings st = fast_settings({"mymaster"}, {read_backend});
        st.reread_interval = 60s;
        SentinelLink link(base, sentinel, st, record(&seen));
        link.start();
        CHECK(run_until(
                  base, [&] { return seen.replica_lists == 1 && seen.sentinel_lists == 1; }, 5s),
              "first details not read (%d replica lists, %d sentinel lists)", seen.replica_lists,
              seen.sentinel_lists);
        // Counts that change (the other Sentinel discovered late) are read
        // again: start counting once they are settled.
        auto reread = [&](int i) {
            int before = seen.masters;
            link.reread();
            CHECK(run_until(
                      base, [&] { return seen.masters > before; }, 2s),
                  "re-read %d gave nothing", i);
        };
        for (int i = 0; i < 50 && seen.master.num_other_sentinels != 1; i++) {
            reread(0);
            run_until(
                base, [] { return false; }, 100ms);
        }
        CHECK(seen.master.num_other_sentinels == 1, "the other Sentinel is not known");
        reread(0);
        run_until(
            base, [] { return false; }, 200ms);
        int replica_lists = seen.replica_lists, sentinel_lists = seen.sentinel_lists;
        for (int i = 1; i <= 3; i++)
            reread(i);
        run_until(
            base, [] { return false; }, 200ms); // their details, had they been asked
        int want = read_backend ? 3 : 0;
        CHECK(
            seen.replica_lists - replica_lists == want && seen.sentinel_lists - sentinel_lists == 0,
            "read backend %d: %d replica lists (want %d), %d sentinel lists (want 0)", read_backend,
            seen.replica_lists - replica_lists, want, seen.sentinel_lists - sentinel_lists);
        link.stop();
    }
}

// At most one SENTINEL MASTER per cluster outstanding on a link: calls while
// one is unanswered send nothing, except that an event (after_now) makes
// exactly one more read follow the reply. A link of its own, without
// periodic re-reads, so that every master report counted is a MASTER reply.
void test_read_guard(event_base* base, const HostPort& sentinel) {
    Seen seen;
    SentinelSettings st = fast_settings({"mymaster"});
    st.reread_interval = 60s;
    SentinelLink link(base, sentinel, st, record(&seen));
    link.start();
    CHECK(run_until(
              base, [&] { return link.stats().state == LinkState::up && seen.masters > 0; }, 5s),
          "guard link not up");
    int before = seen.masters;
    auto reads = link.stats().master_reads;
    auto coalesced = link.stats().reads_coalesced;
    link.read_master("mymaster");
    link.read_master("mymaster");
    link.read_master("mymaster", ReadFreshness::in_flight_ok);
    link.read_master("mymaster");
    CHECK(link.stats().master_reads == reads + 1, "%lu reads sent at once",
          link.stats().master_reads - reads);
    CHECK(link.stats().reads_coalesced == coalesced + 3, "%lu coalesced",
          link.stats().reads_coalesced - coalesced);
    CHECK(run_until(
              base, [&] { return seen.masters >= before + 2; }, 2s),
          "no read after the outstanding one (%d replies)", seen.masters - before);
    run_until(
        base, [] { return false; }, 200ms); // nothing more may come
    CHECK(seen.masters == before + 2 && link.stats().master_reads == reads + 2,
          "%d replies, %lu reads (wanted 2, 2)", seen.masters - before,
          link.stats().master_reads - reads);
    // Corroboration alone never queues a second read.
    before = seen.masters;
    reads = link.stats().master_reads;
    link.read_master("mymaster", ReadFreshness::in_flight_ok);
    link.read_master("mymaster", ReadFreshness::in_flight_ok);
    CHECK(run_until(
              base, [&] { return seen.masters > before; }, 2s),
          "in_flight_ok read gave nothing");
    run_until(
        base, [] { return false; }, 200ms);
    CHECK(seen.masters == before + 1 && link.stats().master_reads == reads + 1,
          "%d replies, %lu reads (wanted 1, 1)", seen.masters - before,
          link.stats().master_reads - reads);
    // And a later read is sent again: the guard was released by the reply.
    link.read_master("mymaster");
    CHECK(link.stats().master_reads == reads + 2, "guard not released after the reply");
    CHECK(run_until(
              base, [&] { return seen.masters > before + 1; }, 2s),
          "read after the guard gave nothing");
    run_until(
        base, [] { return false; }, 200ms);

    // Events that announce the master (+switch-master) need no read after
    // the outstanding one when its reply names that master; one announcing
    // another address still gets its read.
    HostPort reported = seen.master.addr;
    HostPort elsewhere{reported.host, static_cast<uint16_t>(reported.port + 1)};
    for (const HostPort* announced : {&reported, &elsewhere}) {
        before = seen.masters;
        reads = link.stats().master_reads;
        link.read_master("mymaster");
        link.read_master("mymaster", ReadFreshness::after_now, announced);
        link.read_master("mymaster", ReadFreshness::after_now, announced);
        int want = announced == &reported ? 1 : 2;
        CHECK(run_until(
                  base, [&] { return seen.masters >= before + want; }, 2s),
              "announcing %s: %d replies", format_host_port(*announced).c_str(),
              seen.masters - before);
        run_until(
            base, [] { return false; }, 200ms);
        CHECK(seen.masters == before + want &&
                  link.stats().master_reads == reads + static_cast<unsigned long>(want),
              "announcing %s: %d replies, %lu reads (wanted %d)",
              format_host_port(*announced).c_str(), seen.masters - before,
              link.stats().master_reads - reads, want);
    }

    // A corroboration that rides on an outstanding SENTINEL MASTERS whose
    // reply turns out unusable (here: the Sentinel also monitors a master
    // named "a b", which fails validation and with it the whole list) gets a
    // read of its own; it must not be lost.
    std::string monitor = "redis-cli -p " + std::to_string(sentinel.port) +
                          " SENTINEL MONITOR 'a b' 127.0.0.1 1 1 >/dev/null";
    CHECK(std::system(monitor.c_str()) == 0, "cannot add master 'a b'");
    CHECK(run_until(
              base, [&] { return link.stats().state == LinkState::up; }, 2s),
          "guard link down");
    before = seen.masters;
    reads = link.stats().master_reads;
    auto bad = seen.bad;
    link.reread();
    link.read_master("mymaster", ReadFreshness::in_flight_ok);
    CHECK(link.stats().master_reads == reads, "the corroboration did not ride on MASTERS");
    CHECK(run_until(
              base, [&] { return seen.bad > bad && seen.masters > before; }, 2s),
          "rider lost: %d bad replies, %d masters", seen.bad - bad, seen.masters - before);
    CHECK(link.stats().master_reads == reads + 1, "%lu reads after the unusable MASTERS",
          link.stats().master_reads - reads);
    std::string remove =
        "redis-cli -p " + std::to_string(sentinel.port) + " SENTINEL REMOVE 'a b' >/dev/null";
    CHECK(std::system(remove.c_str()) == 0, "cannot remove master 'a b'");

    link.stop();
}

void test_live(event_base* base) {
    uint16_t mport = free_port(), rport = free_port();
    uint16_t s1 = free_port(), s2 = free_port();
    start_redis(mport);
    start_redis(rport, "127.0.0.1 " + std::to_string(mport));
    std::string c1 = sentinel_conf(s1, mport), c2 = sentinel_conf(s2, mport);
    pid_t p1 = start_sentinel(c1, s1);
    start_sentinel(c2, s2);

    Seen seen;
    SentinelLink link(base, HostPort{"127.0.0.1", s1}, fast_settings({"mymaster", "nosuch"}),
                      record(&seen));
    link.start();
    CHECK(run_until(
              base, [&] { return link.stats().state == LinkState::up; }, 10s),
          "state %s, error %s", link_state_name(link.stats().state),
          link.stats().last_error.c_str());
    CHECK(run_until(
              base, [&] { return seen.masters > 0; }, 5s),
          "no master reported");
    CHECK(seen.master.addr.port == mport && seen.master.addr.host == "127.0.0.1", "master %s:%u",
          seen.master.addr.host.c_str(), seen.master.addr.port);
    CHECK(seen.master.config_epoch == 0, "epoch %llu",
          static_cast<unsigned long long>(seen.master.config_epoch));
    CHECK(seen.not_monitored > 0, "'nosuch' was not reported as not monitored");
    CHECK(run_until(
              base, [&] { return seen.sentinels.size() == 1 && seen.sentinels[0].addr.port == s2; },
              10s),
          "other sentinel not discovered (%zu)", seen.sentinels.size());
    CHECK(run_until(
              base,
              [&] { return seen.replicas.size() == 1 && seen.replicas[0].addr.port == rport; },
              15s),
          "replica not reported (%zu)", seen.replicas.size());
    CHECK(run_until(
              base, [&] { return link.stats().ping_latency.count() >= 0; }, 3s),
          "no ping latency");
    std::printf("ping latency %lld us\n",
                static_cast<long long>(link.stats().ping_latency.count()));
    CHECK(seen.bad == 0, "bad reply: %s", seen.bad_reason.c_str());

    // read_master corroborates one cluster at once.
    int before = seen.masters;
    link.read_master("mymaster");
    CHECK(run_until(
              base, [&] { return seen.masters > before; }, 2s),
          "read_master gave nothing");
    // At most one read per cluster outstanding: calls while one is
    // unanswered send nothing, except that an event (after_now) makes
    // exactly one more read follow the reply.
    test_read_guard(base, link.addr());
    test_details_on_change_only(base, link.addr());

    int nm = seen.not_monitored;
    link.read_master("nosuch");
    CHECK(run_until(
              base, [&] { return seen.not_monitored > nm; }, 2s),
          "read_master(nosuch) not reported as not monitored");

    // Confirmer: master, replica, refused, silent.
    Confirmer conf(base);
    auto ask = [&](HostPort hp, std::chrono::milliseconds t) {
        ConfirmResult out;
        bool done = false;
        conf.confirm(hp, "", t, [&](const HostPort&, const ConfirmResult& r) {
            out = r;
            done = true;
        });
        run_until(
            base, [&] { return done; }, 5s);
        CHECK(done, "no confirm result for port %u", hp.port);
        return out;
    };
    auto r = ask({"127.0.0.1", mport}, 1000ms);
    CHECK(r.role == ConfirmResult::Role::master, "%s %s", confirm_role_name(r.role),
          r.detail.c_str());
    r = ask({"127.0.0.1", rport}, 1000ms);
    CHECK(r.role == ConfirmResult::Role::not_master && r.detail == "slave", "%s %s",
          confirm_role_name(r.role), r.detail.c_str());
    r = ask({"127.0.0.1", free_port()}, 1000ms);
    CHECK(r.role == ConfirmResult::Role::error, "%s %s", confirm_role_name(r.role),
          r.detail.c_str());
    std::printf("refused: %s\n", r.detail.c_str());
    uint16_t silent_port;
    int silent = listen_on(&silent_port); // accepts (backlog) but never answers
    auto t0 = std::chrono::steady_clock::now();
    r = ask({"127.0.0.1", silent_port}, 300ms);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.role == ConfirmResult::Role::error && r.detail == "timeout after 300 ms", "%s %s",
          confirm_role_name(r.role), r.detail.c_str());
    CHECK(took < 1s, "timeout took %lld ms",
          static_cast<long long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    {
        // A check's connection ends with a reset, not FIN: no TIME_WAIT
        // socket left behind per check. Its end, as the server sees it:
        int accepted = accept4(silent, nullptr, nullptr, SOCK_NONBLOCK);
        CHECK(accepted >= 0, "the timed-out check never connected: %s", strerror(errno));
        ssize_t n = -1;
        int err = EAGAIN;
        run_until(
            base,
            [&] {
                char b[64]; // the check's ROLE first, then how it ended
                while ((n = read(accepted, b, sizeof b)) > 0) {
                }
                err = n < 0 ? errno : 0;
                return !(n < 0 && err == EAGAIN);
            },
            2s);
        CHECK(n < 0 && err == ECONNRESET, "the check's connection ended with %s, not a reset",
              n == 0 ? "FIN" : strerror(err));
        close(accepted);
    }
    close(silent);
    {
        // Destroying a Confirmer with a pending request: no callback afterwards.
        bool called = false;
        auto c2 = std::make_unique<Confirmer>(base);
        c2->confirm({"127.0.0.1", mport}, "", 1000ms,
                    [&](const HostPort&, const ConfirmResult&) { called = true; });
        c2.reset();
        run_until(
            base, [] { return false; }, 200ms);
        CHECK(!called, "callback after destruction");
    }

    // kill -9 the Sentinel: down; restart: up again with a fresh re-read.
    int downs = seen.downs;
    kill_child(p1, SIGKILL);
    CHECK(run_until(
              base, [&] { return seen.downs > downs; }, 5s),
          "link not marked down");
    CHECK(link.stats().state != LinkState::up, "state %s", link_state_name(link.stats().state));
    std::printf("down error: %s\n", seen.down_error.c_str());
    int ups = seen.ups, masters = seen.masters;
    start_sentinel(c1, s1);
    CHECK(run_until(
              base, [&] { return seen.ups > ups && seen.masters > masters; }, 10s),
          "link not back up and re-read");
    CHECK(link.stats().reconnects >= 1, "reconnects %lu", link.stats().reconnects);

    // SIGSTOP the Sentinel: the command timeout marks the link down.
    downs = seen.downs;
    pid_t p1b = children.back();
    kill(p1b, SIGSTOP);
    CHECK(run_until(
              base, [&] { return seen.downs > downs; }, 5s),
          "stopped sentinel not down");
    std::printf("stopped sentinel: %s\n", seen.down_error.c_str());
    kill(p1b, SIGCONT);
    CHECK(run_until(
              base, [&] { return link.stats().state == LinkState::up; }, 10s),
          "not up after SIGCONT");
    link.stop();
}

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; i++)
        out += s;
    return out;
}

// Hostile fake Sentinel: the link must survive, report, and not allocate.
// The fake answers both connections alike; the event connection has its
// own, smaller budget (want_event), and whichever reads first reports.
void test_hostile(event_base* base, const std::string& reply, size_t fill, const char* want,
                  const char* want_event = nullptr) {
    uint16_t port;
    int lfd = listen_on(&port);
    pid_t pid = fake_server(lfd, reply, fill);
    close(lfd);
    Seen seen;
    // Generous timeouts: the cap, not a timer, must end a 64 MB read (slow under ASan).
    SentinelSettings st = fast_settings({"mymaster"});
    st.connect_timeout = st.ping_timeout = 20s;
    SentinelLink link(base, HostPort{"127.0.0.1", port}, st, record(&seen));
    link.start();
    CHECK(run_until(
              base, [&] { return seen.downs > 0; }, 30s),
          "fake sentinel: link never down");
    if (want_event && seen.down_error.starts_with("event connection: "))
        want = want_event;
    CHECK(seen.down_error.find(want) != std::string::npos, "error '%s', wanted '%s'",
          seen.down_error.c_str(), want);
    CHECK(seen.masters == 0, "a master was reported");
    link.stop();
    kill_child(pid, SIGKILL);
}

// A fake Sentinel that confirms SUBSCRIBE and then publishes a +switch-master
// whose new address carries injected haproxy.cfg text; the same bytes go to
// the command connection as the reply to SENTINEL MASTERS. The link must log
// both as bad replies, survive the extra reply, and pass on no event and no
// master.
void test_injection(event_base* base) {
    std::string payload = "mymaster 127.0.0.1 6379 10.0.0.1\nserver evil 1.2.3.4:1 6380";
    std::string reply = "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
                        "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" +
                        std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
    uint16_t port;
    int lfd = listen_on(&port);
    pid_t pid = fake_server(lfd, reply, 0);
    close(lfd);
    Seen seen;
    int events = 0;
    SentinelCallbacks cb = record(&seen);
    cb.event = [&](const sentinel::Event&) { events++; };
    SentinelLink link(base, HostPort{"127.0.0.1", port}, fast_settings({"mymaster"}), cb);
    link.start();
    CHECK(run_until(
              base, [&] { return seen.bad >= 2; }, 5s),
          "bad replies: %d", seen.bad);
    // The command connection also got a second, unsolicited reply: hiredis
    // 0.14 would abort on it; RedisConn refuses it and the link goes down.
    CHECK(run_until(
              base, [&] { return seen.downs > 0; }, 5s),
          "link not down");
    CHECK(seen.down_error == "command connection: unsolicited reply", "down error '%s'",
          seen.down_error.c_str());
    CHECK(events == 0 && seen.masters == 0, "events %d masters %d", events, seen.masters);
    std::printf("last bad reply: %s\n", seen.bad_reason.c_str());
    link.stop();
    kill_child(pid, SIGKILL);
}

// RedisConn's own timeouts, against a listener that completes TCP (the
// kernel does) but never reads or writes: a command owed a reply fails the
// connection after reply_timeout; a TLS handshake that never completes fails
// it after connect_timeout.
void test_timeouts(event_base* base) {
    uint16_t port;
    int lfd = listen_on(&port);
    struct Outcome {
        bool connected = false;
        std::string failed;
    };
    auto callbacks = [](Outcome* o) {
        return RedisConn::Callbacks{[o] { o->connected = true; },
                                    [o](const std::string& e) { o->failed = e; }, nullptr};
    };
    Outcome plain;
    RedisConnOptions plain_opts;
    plain_opts.reply_timeout = 200ms;
    RedisConn conn(base, HostPort{"127.0.0.1", port}, callbacks(&plain), plain_opts);
    std::string err;
    CHECK(conn.connect(&err), "connect: %s", err.c_str());
    CHECK(run_until(
              base, [&] { return plain.connected || !plain.failed.empty(); }, 5s),
          "plain connect never completed");
    bool replied = false;
    CHECK(conn.command({"PING"}, [&](redisReply*) { replied = true; }), "cannot send PING");
    CHECK(run_until(
              base, [&] { return !plain.failed.empty(); }, 5s),
          "no reply timeout");
    CHECK(plain.failed == "no reply within 200 ms", "failed '%s'", plain.failed.c_str());
    CHECK(!replied, "a reply callback ran");

    auto lib = TlsLibrary::load(&err);
    CHECK(lib, "cannot load OpenSSL: %s", err.c_str());
    if (!lib)
        return;
    TlsFiles no_verify;
    no_verify.verify = false;
    auto ctx = make_tls_context(lib->api(), no_verify, false, &err);
    CHECK(ctx, "TLS context: %s", err.c_str());
    if (!ctx)
        return;
    Outcome tls;
    RedisConnOptions tls_opts;
    tls_opts.connect_timeout = 200ms;
    tls_opts.tls = ctx.get();
    RedisConn tconn(base, HostPort{"127.0.0.1", port}, callbacks(&tls), tls_opts);
    CHECK(tconn.connect(&err), "connect: %s", err.c_str());
    CHECK(run_until(
              base, [&] { return !tls.failed.empty(); }, 5s),
          "no connect timeout");
    CHECK(!tls.connected, "TLS connected without a handshake");
    CHECK(tls.failed == "connect timeout after 200 ms", "failed '%s'", tls.failed.c_str());
    close(lfd);
}

// A password-protected Sentinel and master, reached over IPv6 (::1).
void test_auth_ipv6(event_base* base) {
    uint16_t mport = free_port(), sport = free_port();
    spawn({"redis-server", "--port", std::to_string(mport), "--bind", "127.0.0.1 ::1", "--save", "",
           "--appendonly", "no", "--dir", tmpdir, "--requirepass", "pw"},
          "redis-auth.log");
    std::string conf = tmpdir + "/sentinel-auth.conf";
    {
        std::ofstream f(conf);
        f << "port " << sport << "\nbind 127.0.0.1 ::1\ndir " << tmpdir << "\nrequirepass pw\n"
          << "sentinel monitor authm 127.0.0.1 " << mport << " 1\n"
          << "sentinel auth-pass authm pw\n";
    }
    start_sentinel(conf, sport);

    Seen seen;
    SentinelSettings st = fast_settings({"authm"});
    st.password = "pw";
    SentinelLink link(base, HostPort{"::1", sport}, st, record(&seen));
    link.start();
    CHECK(run_until(
              base, [&] { return seen.masters > 0; }, 10s),
          "no master over ::1 with AUTH: %s", link.stats().last_error.c_str());
    CHECK(seen.master.addr.port == mport, "master port %u", seen.master.addr.port);
    link.stop();

    Seen bad;
    st.password = "wrong";
    SentinelLink wrong(base, HostPort{"::1", sport}, st, record(&bad));
    wrong.start();
    CHECK(run_until(
              base, [&] { return bad.downs > 0; }, 5s),
          "wrong password not refused");
    CHECK(bad.down_error.find("AUTH failed") != std::string::npos, "error '%s'",
          bad.down_error.c_str());
    CHECK(bad.masters == 0 && bad.ups == 0, "masters %d ups %d", bad.masters, bad.ups);
    wrong.stop();

    // The Sentinel answering says nothing of the server's own listener on
    // ::1 (the Sentinel reaches it over 127.0.0.1): wait for it, as the
    // ROLE check below makes a single attempt.
    CHECK(ipv6_listening(mport, 10s), "redis-server never listened on [::1]:%u", mport);
    Confirmer conf_(base);
    ConfirmResult out;
    bool done = false;
    auto cb = [&](const HostPort&, const ConfirmResult& r) {
        out = r;
        done = true;
    };
    conf_.confirm({"::1", mport}, "pw", 2000ms, cb);
    CHECK(run_until(
              base, [&] { return done; }, 5s),
          "no result");
    CHECK(out.role == ConfirmResult::Role::master, "%s %s", confirm_role_name(out.role),
          out.detail.c_str());
    done = false;
    conf_.confirm({"::1", mport}, "", 2000ms, cb);
    CHECK(run_until(
              base, [&] { return done; }, 5s),
          "no result");
    CHECK(out.role == ConfirmResult::Role::error, "%s %s", confirm_role_name(out.role),
          out.detail.c_str());
    std::printf("no password: %s\n", out.detail.c_str());
}

} // namespace

int main() {
    if (!on_path("redis-server") || !on_path("redis-sentinel")) {
        std::printf("SKIP: redis-server or redis-sentinel not installed\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    log::init("test", true, 0, log::Level::info);
    char tmpl[] = "/tmp/rh-sentinel-XXXXXX";
    if (!mkdtemp(tmpl))
        log::fatal("mkdtemp");
    tmpdir = tmpl;
    EventBasePtr base(event_base_new());

    test_live(base.get());
    test_auth_ipv6(base.get());
    test_injection(base.get());
    test_timeouts(base.get());
    // Pushes hiredis 0.14 would abort on, or mis-read.
    const std::string sub_ok = "*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:1\r\n";
    test_hostile(base.get(), sub_ok + "*1\r\n$7\r\nmessage\r\n", 0, "malformed pub/sub message");
    test_hostile(base.get(), sub_ok + "*3\r\n:1\r\n:2\r\n:3\r\n", 0, "malformed pub/sub message");
    test_hostile(base.get(), sub_ok + "*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n", 0,
                 "malformed pub/sub message");
    test_hostile(base.get(), sub_ok + "+OK\r\n", 0, "malformed pub/sub message");
    // Reply bombs: refused by the reply budget as they are read.
    test_hostile(base.get(), "*2000000000\r\n", 0, "reply of more than 131072 elements",
                 "reply of more than 16 elements");
    test_hostile(base.get(), "*1048576\r\n" + repeat(":1\r\n", 1000), 0,
                 "reply of more than 131072 elements", "reply of more than 16 elements");
    test_hostile(base.get(), "$1000000000\r\n", 80u << 20, "bulk string of 1000000000 bytes");
    test_hostile(base.get(), "$50000000\r\n", 1u << 20, "bulk string of 50000000 bytes");
    test_hostile(base.get(),
                 sub_ok + "*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n" + repeat("*1\r\n", 4) + ":1\r\n", 0,
                 "nested deeper than 4", "nested deeper than 2");
    test_hostile(base.get(), "+", 16u << 20, "reply larger than 8388608 bytes",
                 "reply larger than 65536 bytes");

    for (pid_t p : std::vector<pid_t>(children)) {
        kill(p, SIGCONT);
        kill_child(p, SIGKILL);
    }
    std::string rm = "rm -rf '" + tmpdir + "'";
    if (failures == 0 && std::system(rm.c_str()) != 0)
        std::printf("could not remove %s\n", tmpdir.c_str());
    std::printf("%s: %d failure(s)%s%s\n", failures ? "FAIL" : "PASS", failures,
                failures ? ", logs in " : "", failures ? tmpdir.c_str() : "");
    return failures ? 1 : 0;
}
