// redishappyctl: reads redishappyd's HTTP API for operators and scripts, and
// converts the original redishappy's JSON configuration. See redishappyctl(8).
//
// Exit status: 0 success (for "health": healthy), 1 failure (daemon
// unreachable, unexpected reply, unhealthy, a configuration that cannot be
// converted), 2 usage error.
#include <curl/curl.h>
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "autoconfig.h"
#include "common/address.h"
#include "common/file.h"
#include "common/validate.h"
#include "config/config.h"
#include "ctl/convert.h"
#include "ctl/ctl.h"

namespace {

constexpr size_t kMaxReply = 64u << 20; // 10,000 clusters are about 6 MB of topology
constexpr size_t kMaxConfig = 1u << 20; // an original configuration file

void usage(FILE* to) {
    fprintf(to, "usage: redishappyctl [-a host:port | -f file] [-t timeout] [--json] "
                "status|topology|sentinels|health\n"
                "       redishappyctl [-a host:port | -f file] [-t timeout] [--json] "
                "events [-n N] [cluster]\n"
                "       redishappyctl [-a host:port | -f file] [-t timeout] watch [-i seconds]\n"
                "       redishappyctl convert-config old.json\n"
                "       redishappyctl -V\n");
}

struct Options {
    rh::HostPort api{"127.0.0.1", 8000};
    rh::Millis timeout{5000};
    bool json = false;
    // events
    unsigned long count = 0; // -n; 0: all the daemon holds
    std::string cluster;
    // watch
    rh::Millis interval{2000};
    const sigset_t* stop = nullptr; // signals that end a request in flight
};

struct EasyFree {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// One GET against the API. Returns false and sets *err when the daemon
// cannot be reached or the reply is too large; any HTTP status is a reply.
struct Reply {
    long status = 0;
    std::string body;
};

size_t collect(char* data, size_t size, size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    size_t len = size * n;
    if (body->size() + len > kMaxReply)
        return 0; // curl reports CURLE_WRITE_ERROR
    body->append(data, len);
    return len;
}

// curl's progress callback: abandons the request once a stop signal is
// pending (watch blocks them, so they wait in the pending set).
int stop_pending(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    sigset_t pending;
    if (sigpending(&pending) != 0)
        return 0;
    auto* set = static_cast<const sigset_t*>(stop);
    for (int sig : {SIGINT, SIGTERM})
        if (sigismember(set, sig) == 1 && sigismember(&pending, sig) == 1)
            return 1;
    return 0;
}

bool get(const Options& o, const char* path, Reply* r, std::string* err) {
    std::unique_ptr<CURL, EasyFree> c(curl_easy_init());
    if (!c) {
        *err = "cannot initialise libcurl";
        return false;
    }
    std::string url = "http://" + rh::format_host_port(o.api) + path;
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    // The API is local: never route it through an http_proxy from the environment.
    curl_easy_setopt(c.get(), CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &r->body);
    if (o.stop) {
        curl_easy_setopt(c.get(), CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c.get(), CURLOPT_XFERINFOFUNCTION, stop_pending);
        curl_easy_setopt(c.get(), CURLOPT_XFERINFODATA, const_cast<sigset_t*>(o.stop));
    }
    CURLcode rc = curl_easy_perform(c.get());
    std::string at = rh::format_host_port(o.api);
    std::string why = curl_err[0] ? curl_err : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        (rc == CURLE_OPERATION_TIMEDOUT && r->body.empty())) {
        *err = "cannot reach redishappyd's API at " + at + ": " + why +
               " (is redishappyd running with api_listen at this address? see -a and -f)";
        return false;
    }
    if (rc != CURLE_OK) {
        // The daemon answered, but not a reply we can use.
        *err = "reading " + std::string(path) + " from the API at " + at + ": " +
               (rc == CURLE_WRITE_ERROR ? std::string("reply larger than 64 MiB") : why);
        return false;
    }
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r->status);
    return true;
}

int fail(const std::string& msg) {
    fprintf(stderr, "redishappyctl: %s\n", msg.c_str());
    return 1;
}

// GET that must answer 200.
bool get_ok(const Options& o, const char* path, std::string* body, std::string* err) {
    Reply r;
    if (!get(o, path, &r, err))
        return false;
    if (r.status != 200) {
        *err = "the API at " + rh::format_host_port(o.api) + " answered HTTP " +
               std::to_string(r.status) + " for " + path;
        return false;
    }
    *body = std::move(r.body);
    return true;
}

int print(const rh::ctl::Formatted& f) {
    if (!f.error.empty())
        return fail("unexpected reply: " + f.error);
    fputs(f.text.c_str(), stdout);
    return 0;
}

// A body that passed the formatter's checks, re-encoded as pure ASCII so
// that no byte of it can act on a terminal.
int print_json(const rh::ctl::Formatted& f, const std::string& body) {
    if (!f.error.empty())
        return fail("unexpected reply: " + f.error);
    std::string err;
    std::string out = rh::ctl::ascii_json(body, &err);
    if (!err.empty())
        return fail("unexpected reply: " + err);
    fputs(out.c_str(), stdout);
    return 0;
}

int cmd_status(const Options& o) {
    std::string topo, sent, err;
    if (!get_ok(o, "/api/topology", &topo, &err) || !get_ok(o, "/api/sentinels", &sent, &err))
        return fail(err);
    auto f = rh::ctl::format_status(topo, sent);
    if (!o.json)
        return print(f);
    // Both replies in one document: {"topology": [...], "sentinels": {...}}
    // (their trailing newlines are JSON white space; print_json re-encodes).
    return print_json(f, "{\"topology\":" + topo + ",\"sentinels\":" + sent + "}");
}

// One endpoint, one formatter: topology and sentinels.
int show(const Options& o, const char* path, rh::ctl::Formatted (*format)(std::string_view)) {
    std::string body, err;
    if (!get_ok(o, path, &body, &err))
        return fail(err);
    auto f = format(body);
    return o.json ? print_json(f, body) : print(f);
}

int cmd_topology(const Options& o) {
    return show(o, "/api/topology", rh::ctl::format_topology);
}

int cmd_sentinels(const Options& o) {
    return show(o, "/api/sentinels", rh::ctl::format_sentinels);
}

int cmd_health(const Options& o) {
    Reply r;
    std::string err;
    if (!get(o, "/api/health", &r, &err))
        return fail(err);
    bool healthy = false;
    auto f = rh::ctl::format_health(r.body, r.status, &healthy);
    int rc = o.json ? print_json(f, r.body) : print(f);
    return rc != 0 || !healthy ? 1 : 0;
}

int cmd_events(const Options& o) {
    std::string path = "/api/events";
    char sep = '?';
    if (o.count != 0) {
        path += sep + std::string("n=") + std::to_string(o.count);
        sep = '&';
    }
    if (!o.cluster.empty()) // a valid cluster name needs no escaping
        path += sep + std::string("cluster=") + o.cluster;
    Reply r;
    std::string err;
    if (!get(o, path.c_str(), &r, &err))
        return fail(err);
    if (r.status == 400) {
        // The daemon says what it did not like: "n must be ...", "no cluster named ...".
        return fail("the API refused the query: " + rh::ctl::error_of(r.body));
    }
    if (r.status != 200)
        return fail("the API at " + rh::format_host_port(o.api) + " answered HTTP " +
                    std::to_string(r.status) + " for /api/events");
    auto f = rh::ctl::format_events(r.body);
    return o.json ? print_json(f, r.body) : print(f);
}

// The wall clock as "2026-11-30T12:05:10Z", for watch's header.
std::string now_utc() {
    time_t t = time(nullptr);
    struct tm tm {};
    char buf[40] = "-";
    if (gmtime_r(&t, &tm))
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Waits up to `d` for SIGINT or SIGTERM (blocked, so they wait pending).
// True when one came.
bool wait_for_stop(const sigset_t& set, rh::Millis d) {
    timespec ts{static_cast<time_t>(d.count() / 1000),
                static_cast<long>(d.count() % 1000) * 1000000};
    for (;;) {
        int sig = sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            return true;
        if (sig < 0 && errno == EINTR)
            continue; // another signal; the remaining time is not known: wait again
        return false;
    }
}

// `status`, redrawn every interval until SIGINT or SIGTERM (exit 0). Fails
// only when the first refresh does; later, an unreachable daemon is shown
// as an error line and asked again.
int cmd_watch(Options o) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    // Blocked, so that they arrive only where we wait for them, never in
    // the middle of a write to the terminal.
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        return fail(std::string("sigprocmask: ") + strerror(errno));
    o.stop = &set;
    bool tty = isatty(STDOUT_FILENO) == 1;
    char every[32];
    snprintf(every, sizeof every, "%g", static_cast<double>(o.interval.count()) / 1000.0);
    for (bool first = true;; first = false) {
        std::string topo, sent, err;
        bool ok =
            get_ok(o, "/api/topology", &topo, &err) && get_ok(o, "/api/sentinels", &sent, &err);
        if (wait_for_stop(set, rh::Millis(0)))
            return 0;
        rh::ctl::Formatted f;
        if (ok) {
            f = rh::ctl::format_status(topo, sent);
            if (!f.error.empty())
                err = "unexpected reply: " + f.error;
        }
        if (first && !err.empty())
            return fail(err);
        // On a terminal: home, clear, redraw. Elsewhere: successive tables.
        std::string out = tty ? "\033[H\033[2J" : (first ? "" : "\n");
        out += "every " + std::string(every) + "s from " + rh::format_host_port(o.api) + ", " +
               now_utc() + "\n\n";
        out += err.empty() ? f.text : "redishappyctl: " + err + " (retrying)\n";
        fputs(out.c_str(), stdout);
        if (fflush(stdout) != 0)
            return 1; // the reader went away
        if (wait_for_stop(set, o.interval))
            return 0;
    }
}

int cmd_convert(const char* path) {
    std::string text, err;
    const char* from = std::strcmp(path, "-") == 0 ? "/dev/stdin" : path;
    if (!rh::read_file_capped(from, kMaxConfig, &text, &err))
        return fail(std::string(path) + ": " + err);
    auto r = rh::convert_original_config(text, path);
    for (const auto& w : r.warnings)
        fprintf(stderr, "%s: warning: %s\n", path, w.c_str());
    for (const auto& e : r.errors)
        fprintf(stderr, "%s: %s\n", path, e.c_str());
    if (!r.errors.empty())
        return 1;
    fputs(r.ini.c_str(), stdout);
    if (r.has_haproxy)
        fprintf(stderr, "\n%s", rh::template_guidance().c_str());
    return 0;
}

// -f: the API address the daemon's own configuration gives.
bool api_from_config(const char* path, rh::HostPort* api) {
    auto r = rh::load_config(path);
    for (const auto& e : r.errors)
        fprintf(stderr, "redishappyctl: %s\n", rh::format_error(e).c_str());
    if (!r.errors.empty())
        return false;
    auto hp = rh::ctl::api_address(r.config.api_listen);
    if (!hp) {
        fprintf(stderr, "redishappyctl: %s: the API is disabled (api_listen = none)\n", path);
        return false;
    }
    *api = *hp;
    return true;
}

// What the command line asked for, once parsed; exit is set (0 or 2) when
// the run ends here (--help, --version, a usage error).
struct Invocation {
    Options o;
    const char* address = nullptr;
    const char* config = nullptr;
    std::optional<int> exit;
};

Invocation parse_options(int argc, char** argv) {
    static const option longopts[] = {{"address", required_argument, nullptr, 'a'},
                                      {"config", required_argument, nullptr, 'f'},
                                      {"timeout", required_argument, nullptr, 't'},
                                      {"json", no_argument, nullptr, 'j'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {"version", no_argument, nullptr, 'V'},
                                      {nullptr, 0, nullptr, 0}};
    Invocation inv;
    int ch;
    // "+": stop at the command, so its arguments are never taken as options.
    while (!inv.exit && (ch = getopt_long(argc, argv, "+a:f:t:jhV", longopts, nullptr)) != -1) {
        switch (ch) {
        case 'a':
            inv.address = optarg;
            break;
        case 'f':
            inv.config = optarg;
            break;
        case 't':
            if (!rh::parse_duration(optarg, &inv.o.timeout) || inv.o.timeout.count() <= 0) {
                fprintf(stderr, "redishappyctl: -t %s: expected a duration such as 500ms or 5s\n",
                        optarg);
                inv.exit = 2;
            }
            break;
        case 'j':
            inv.o.json = true;
            break;
        case 'h':
            usage(stdout);
            inv.exit = 0;
            break;
        case 'V':
            printf("redishappyctl %s\n", PACKAGE_VERSION);
            inv.exit = 0;
            break;
        default:
            usage(stderr);
            inv.exit = 2;
        }
    }
    return inv;
}

// The daemon to ask: -a host:port, or the api_listen of -f's configuration.
// Returns an exit status when it cannot tell.
std::optional<int> choose_api(const Invocation& inv, Options* o) {
    std::string err;
    if (inv.address) {
        auto hp = rh::parse_host_port(inv.address, &err);
        if (!hp) {
            fprintf(stderr, "redishappyctl: -a %s: %s\n", inv.address, err.c_str());
            return 2;
        }
        o->api = *hp;
    } else if (inv.config && !api_from_config(inv.config, &o->api)) {
        return 1;
    }
    return std::nullopt;
}

// The arguments after `events` or `watch` (parsed here rather than by
// getopt, which has already stopped at the command). Returns an exit status
// for a usage error.
std::optional<int> command_args(const std::string& cmd, int argc, char** argv, Options* o) {
    auto bad = [&](const std::string& why) {
        fprintf(stderr, "redishappyctl: %s: %s\n", cmd.c_str(), why.c_str());
        usage(stderr);
        return 2;
    };
    for (int i = 0; i < argc; i++) {
        std::string a = argv[i];
        if (cmd == "events" && (a == "-n" || (a.rfind("-n", 0) == 0 && a.size() > 2))) {
            std::string v = a.size() > 2 ? a.substr(2) : (i + 1 < argc ? argv[++i] : "");
            char* end = nullptr;
            errno = 0;
            unsigned long n = std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n == 0 || n > 256)
                return bad("-n " + v +
                           ": expected a number of events, from 1 to 256"); // the daemon keeps 256
            o->count = n;
        } else if (cmd == "watch" && (a == "-i" || (a.rfind("-i", 0) == 0 && a.size() > 2))) {
            std::string v = a.size() > 2 ? a.substr(2) : (i + 1 < argc ? argv[++i] : "");
            char* end = nullptr;
            double secs = std::strtod(v.c_str(), &end);
            rh::Millis d{0};
            if (!v.empty() && *end == '\0' && std::isfinite(secs) && secs > 0 && secs <= 86400)
                d = rh::Millis(static_cast<long long>(std::llround(secs * 1000)));
            else if (!rh::parse_duration(v, &d))
                d = rh::Millis(0);
            if (d < rh::Millis(100) || d > rh::Millis(86400000))
                return bad("-i " + v + ": expected seconds, from 0.1 to 86400 (or 500ms, 2s, 1m)");
            o->interval = d;
        } else if (cmd == "events" && o->cluster.empty() && !a.empty() && a[0] != '-') {
            if (!rh::valid_cluster_name(a))
                return bad(a + ": not a cluster name");
            o->cluster = a;
        } else {
            return bad("unexpected argument \"" + a + "\"");
        }
    }
    return std::nullopt;
}

int (*api_command(const std::string& cmd))(const Options&) {
    if (cmd == "status")
        return cmd_status;
    if (cmd == "topology")
        return cmd_topology;
    if (cmd == "sentinels")
        return cmd_sentinels;
    if (cmd == "health")
        return cmd_health;
    if (cmd == "events")
        return cmd_events;
    if (cmd == "watch")
        return [](const Options& o) { return cmd_watch(o); };
    return nullptr;
}

} // namespace

int main(int argc, char** argv) {
    Invocation inv = parse_options(argc, argv);
    if (inv.exit)
        return *inv.exit;
    if (optind >= argc || (inv.address && inv.config)) {
        usage(stderr);
        return 2;
    }
    std::string cmd = argv[optind];
    int rest = argc - optind - 1;
    if (cmd == "convert-config") {
        // -a and -f name a daemon, not a file to convert
        if (rest != 1 || inv.address || inv.config) {
            usage(stderr);
            return 2;
        }
        return cmd_convert(argv[optind + 1]);
    }
    if (cmd == "events" || cmd == "watch") {
        if (auto status = command_args(cmd, rest, argv + optind + 1, &inv.o))
            return *status;
    } else if (rest != 0) {
        usage(stderr);
        return 2;
    }
    if (cmd == "watch" && inv.o.json) {
        fprintf(stderr, "redishappyctl: watch: --json is not supported (use status --json)\n");
        return 2;
    }
    if (auto status = choose_api(inv, &inv.o))
        return *status;
    auto run = api_command(cmd);
    if (!run) {
        fprintf(stderr, "redishappyctl: unknown command \"%s\"\n", cmd.c_str());
        usage(stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail("cannot initialise libcurl");
    int rc = run(inv.o);
    curl_global_cleanup();
    return rc;
}
