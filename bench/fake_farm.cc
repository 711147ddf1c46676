// Fast fakes for bench/scale.py: S scripted Sentinels announcing N masters
// c0..cN-1, and two ROLE farms A and B of K ports each, all on one libevent
// loop in one process, on 127.0.0.1 with kernel-chosen ports. The answers
// are those of scale.py's Python fakes (ManySentinel over rhtest's
// FakeSentinel, RoleFarm), which at 10,000 clusters cost more than the
// daemon they measure.
//
// Usage: fake_farm [-s SENTINELS] [-n MASTERS] [-k PORTS] [-e EPOCH]
// Control on stdin, one command a line, one reply line each on stdout:
//   (at start)      ready sentinels P.. a P.. b P..
//   switch          the farm holding the masters answers ROLE slave, every
//                   entry moves to the other farm (entry i -> port i % K)
//                   at epoch+1, then each Sentinel in turn publishes N
//                   +switch-master; replies "published SECONDS"
//   handled         commands the Sentinels have handled, in all
//   subscribers     connections subscribed to something, in all
//   role a|b master|slave   sets what a farm answers to ROLE; replies "ok"
//   quit            (or end of stdin) exits
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct BaseFree {
    void operator()(event_base* b) const { event_base_free(b); }
};
struct EventFree {
    void operator()(event* e) const { event_free(e); }
};
struct ListenerFree {
    void operator()(evconnlistener* l) const { evconnlistener_free(l); }
};
struct BevFree {
    void operator()(bufferevent* b) const { bufferevent_free(b); }
};
using BasePtr = std::unique_ptr<event_base, BaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerFree>;
using BevPtr = std::unique_ptr<bufferevent, BevFree>;

// A client may not leave more than this unparsed (one command's worth).
constexpr size_t max_pending = 16u << 20;

// ------------------------------------------------------------ RESP

void add_bulk(std::string& out, std::string_view s) {
    out += '$';
    out += std::to_string(s.size());
    out += "\r\n";
    out += s;
    out += "\r\n";
}

void add_array(std::string& out, size_t n) {
    out += '*';
    out += std::to_string(n);
    out += "\r\n";
}

enum class Parse { done, more, bad };

std::optional<long long> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 18)
        return std::nullopt;
    long long v = 0;
    bool neg = s[0] == '-';
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == s.size())
        return std::nullopt;
    for (; i < s.size(); i++) {
        if (s[i] < '0' || s[i] > '9')
            return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return neg ? -v : v;
}

// One request from buf at *pos: an array of bulk strings, or an inline
// command (words separated by blanks, ending at \n). On done, *pos moves
// past it.
Parse parse_command(std::string_view buf, size_t* pos, std::vector<std::string>* args) {
    args->clear();
    size_t p = *pos;
    size_t eol = buf.find("\r\n", p);
    if (p < buf.size() && buf[p] != '*') { // inline
        size_t nl = buf.find('\n', p);
        if (nl == std::string_view::npos)
            return Parse::more;
        std::string_view line = buf.substr(p, nl - p);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
                i++;
            size_t j = i;
            while (j < line.size() && line[j] != ' ' && line[j] != '\t')
                j++;
            if (j > i)
                args->emplace_back(line.substr(i, j - i));
            i = j;
        }
        *pos = nl + 1;
        return Parse::done;
    }
    if (eol == std::string_view::npos)
        return Parse::more;
    auto n = parse_int(buf.substr(p + 1, eol - p - 1));
    if (!n || *n > 1024 * 1024)
        return Parse::bad;
    p = eol + 2;
    for (long long k = 0; k < *n; k++) {
        eol = buf.find("\r\n", p);
        if (eol == std::string_view::npos)
            return Parse::more;
        if (buf[p] != '$')
            return Parse::bad;
        auto len = parse_int(buf.substr(p + 1, eol - p - 1));
        if (!len || *len < 0 || static_cast<size_t>(*len) > max_pending)
            return Parse::bad;
        size_t start = eol + 2;
        if (buf.size() < start + *len + 2)
            return Parse::more;
        args->emplace_back(buf.substr(start, *len));
        p = start + *len + 2;
    }
    *pos = p;
    return Parse::done;
}

std::string upper(std::string_view s) {
    std::string u(s);
    for (char& c : u)
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
    return u;
}

// ------------------------------------------------------------ the fakes

struct Server;

struct Farm {
    char name;
    bool master = true;
    std::vector<int> ports;
    std::vector<ListenerPtr> listeners;
};

struct Sentinel {
    int port = 0;
    uint64_t handled = 0;
    ListenerPtr listener;
};

struct Conn {
    Server* srv = nullptr;
    Sentinel* sentinel = nullptr; // or
    Farm* farm = nullptr;
    BevPtr bev;
    std::string pending;
    std::set<std::string> subs; // "c:channel" or "p:pattern", as rhtest keeps them
};

struct Listening {
    Server* srv;
    Sentinel* sentinel;
    Farm* farm;
};

struct Server {
    BasePtr base;
    int n = 0;
    int epoch = 5;
    Farm farms[2] = {{'a', true, {}, {}}, {'b', true, {}, {}}};
    Farm* holding = &farms[0]; // the farm the entries point at
    std::vector<std::unique_ptr<Sentinel>> sentinels;
    std::vector<std::unique_ptr<Listening>> listening;
    std::unordered_map<Conn*, std::unique_ptr<Conn>> conns;
    std::shared_ptr<const std::string> masters; // SENTINEL MASTERS, encoded
    EventPtr stdin_ev;
    std::string control;

    std::string entry(int i) const;
    // Append the answer to out (sending out first if it must go before a
    // shared buffer).
    void sentinel_reply(Conn* c, const std::vector<std::string>& args, std::string& out);
    void farm_reply(Conn* c, const std::vector<std::string>& args, std::string& out);
    void drop(Conn* c) { conns.erase(c); }
    bool control_line(std::string_view line);
    double do_switch();
};

std::string Server::entry(int i) const {
    const auto& ports = holding->ports;
    std::string port = std::to_string(ports[static_cast<size_t>(i) % ports.size()]);
    std::string e;
    add_array(e, 18);
    add_bulk(e, "name");
    add_bulk(e, "c" + std::to_string(i));
    add_bulk(e, "ip");
    add_bulk(e, "127.0.0.1");
    add_bulk(e, "port");
    add_bulk(e, port);
    add_bulk(e, "runid");
    add_bulk(e, std::string(40, 'x'));
    add_bulk(e, "flags");
    add_bulk(e, "master");
    add_bulk(e, "config-epoch");
    add_bulk(e, std::to_string(epoch));
    add_bulk(e, "num-slaves");
    add_bulk(e, "0");
    add_bulk(e, "num-other-sentinels");
    add_bulk(e, "1");
    add_bulk(e, "quorum");
    add_bulk(e, "2");
    return e;
}

// Queues data[from..] on out without copying it.
void add_shared(evbuffer* out, std::shared_ptr<const std::string> data, size_t from = 0) {
    auto* hold = new std::shared_ptr<const std::string>(std::move(data));
    auto release = [](const void*, size_t, void* arg) {
        delete static_cast<std::shared_ptr<const std::string>*>(arg);
    };
    if (evbuffer_add_reference(out, (*hold)->data() + from, (*hold)->size() - from, release,
                               hold) != 0) {
        delete hold;
        std::fprintf(stderr, "fake_farm: evbuffer_add_reference failed\n");
        std::abort();
    }
}

// A reply goes straight to the socket when nothing is queued before it,
// the rest (if the socket is full) through the bufferevent: one send()
// instead of a write event and its two epoll changes. At 10,000 ROLE
// connections a storm, system calls are what this program costs.
size_t send_now(Conn* c, const char* data, size_t len) {
    if (evbuffer_get_length(bufferevent_get_output(c->bev.get())) > 0)
        return 0;
    ssize_t sent = send(bufferevent_getfd(c->bev.get()), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return sent > 0 ? static_cast<size_t>(sent) : 0;
}

void reply(Conn* c, std::string_view r) {
    if (r.empty())
        return;
    size_t sent = send_now(c, r.data(), r.size());
    if (sent < r.size())
        evbuffer_add(bufferevent_get_output(c->bev.get()), r.data() + sent, r.size() - sent);
}

void reply_shared(Conn* c, std::shared_ptr<const std::string> data) {
    size_t sent = send_now(c, data->data(), data->size());
    if (sent < data->size())
        add_shared(bufferevent_get_output(c->bev.get()), std::move(data), sent);
}

// As scale.py's ManySentinel answers through rhtest.FakeServer.
void Server::sentinel_reply(Conn* c, const std::vector<std::string>& args, std::string& out) {
    std::string cmd0 = args.empty() ? "" : upper(args[0]);
    if (cmd0 == "SUBSCRIBE" || cmd0 == "PSUBSCRIBE") {
        std::string r;
        for (size_t k = 1; k < args.size(); k++) {
            c->subs.insert((cmd0 == "SUBSCRIBE" ? "c:" : "p:") + args[k]);
            add_array(r, 3);
            add_bulk(r, cmd0 == "SUBSCRIBE" ? "subscribe" : "psubscribe");
            add_bulk(r, args[k]);
            r += ':' + std::to_string(c->subs.size()) + "\r\n";
        }
        out += r;
        return;
    }
    c->sentinel->handled++;
    std::string cmd1 = args.size() > 1 ? upper(args[1]) : "";
    std::string r;
    if (cmd0 == "PING") {
        // A subscribed connection answers as Redis does in RESP2.
        r = c->subs.empty() ? "+PONG\r\n" : "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    } else if (cmd0 == "AUTH") {
        r = "+OK\r\n";
    } else if (cmd0 == "SENTINEL" && cmd1 == "MASTERS") {
        if (!masters) {
            std::string m;
            add_array(m, static_cast<size_t>(n));
            for (int i = 0; i < n; i++)
                m += entry(i);
            masters = std::make_shared<const std::string>(std::move(m));
        }
        reply(c, out);
        out.clear();
        reply_shared(c, masters);
        return;
    } else if (cmd0 == "SENTINEL" && cmd1 == "MASTER" && args.size() > 2 && !args[2].empty() &&
               args[2][0] == 'c') {
        auto i = parse_int(std::string_view(args[2]).substr(1));
        if (i && *i >= 0 && *i < n)
            r = entry(static_cast<int>(*i));
        else
            r = "-ERR No such master with that name\r\n";
    } else if (cmd0 == "SENTINEL" &&
               (cmd1 == "REPLICAS" || cmd1 == "SLAVES" || cmd1 == "SENTINELS")) {
        r = "*0\r\n";
    } else {
        r = "-ERR unknown command '" + (args.empty() ? std::string() : args[0]) + "'\r\n";
    }
    out += r;
}

// As scale.py's RoleFarm._reply.
void Server::farm_reply(Conn* c, const std::vector<std::string>& args, std::string& out) {
    std::string cmd = args.empty() ? "" : upper(args[0]);
    std::string_view r;
    if (cmd == "PING")
        r = "+PONG\r\n";
    else if (cmd == "ROLE" && c->farm->master)
        r = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";
    else if (cmd == "ROLE")
        r = "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:1\r\n$9\r\nconnected\r\n:0\r\n";
    else
        r = "-ERR unknown command\r\n";
    out += r;
}

double Server::do_switch() {
    auto t0 = std::chrono::steady_clock::now();
    Farm* from = holding;
    Farm* to = holding == &farms[0] ? &farms[1] : &farms[0];
    from->master = false;
    to->master = true;
    holding = to;
    epoch++;
    masters.reset();
    size_t k = from->ports.size();
    for (auto& s : sentinels) {
        std::string channel = "+switch-master";
        std::vector<std::string> msgs;
        msgs.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; i++)
            msgs.push_back("c" + std::to_string(i) + " 127.0.0.1 " +
                           std::to_string(from->ports[static_cast<size_t>(i) % k]) + " 127.0.0.1 " +
                           std::to_string(to->ports[static_cast<size_t>(i) % k]));
        std::shared_ptr<const std::string> direct; // the frames for SUBSCRIBE, built once
        for (auto& [ptr, c] : conns) {
            if (c->sentinel != s.get() || c->subs.empty())
                continue;
            evbuffer* out = bufferevent_get_output(c->bev.get());
            for (const auto& sub : c->subs) {
                std::string_view name = std::string_view(sub).substr(2);
                if (sub[0] == 'c' && name == channel) {
                    if (!direct) {
                        std::string all;
                        for (const auto& m : msgs) {
                            add_array(all, 3);
                            add_bulk(all, "message");
                            add_bulk(all, channel);
                            add_bulk(all, m);
                        }
                        direct = std::make_shared<const std::string>(std::move(all));
                    }
                    add_shared(out, direct);
                } else if (sub[0] == 'p' &&
                           fnmatch(std::string(name).c_str(), channel.c_str(), 0) == 0) {
                    std::string all;
                    for (const auto& m : msgs) {
                        add_array(all, 4);
                        add_bulk(all, "pmessage");
                        add_bulk(all, name);
                        add_bulk(all, channel);
                        add_bulk(all, m);
                    }
                    evbuffer_add(out, all.data(), all.size());
                }
            }
        }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void reply_line(const std::string& s) {
    std::fputs(s.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// Returns false on quit.
bool Server::control_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    if (line == "quit")
        return false;
    if (line == "switch") {
        char buf[64];
        std::snprintf(buf, sizeof buf, "published %.6f", do_switch());
        reply_line(buf);
    } else if (line == "handled") {
        uint64_t total = 0;
        for (auto& s : sentinels)
            total += s->handled;
        reply_line(std::to_string(total));
    } else if (line == "subscribers") {
        size_t total = 0;
        for (auto& [p, c] : conns)
            total += c->sentinel && !c->subs.empty();
        reply_line(std::to_string(total));
    } else if (line.size() > 7 && line.substr(0, 5) == "role " &&
               (line[5] == 'a' || line[5] == 'b') && line[6] == ' ' &&
               (line.substr(7) == "master" || line.substr(7) == "slave")) {
        farms[line[5] == 'a' ? 0 : 1].master = line.substr(7) == "master";
        reply_line("ok");
    } else {
        reply_line("error unknown command");
    }
    return true;
}

// ------------------------------------------------------------ callbacks

[[noreturn]] void die(const char* where, const std::exception& e) {
    std::fprintf(stderr, "fake_farm: %s: %s\n", where, e.what());
    std::abort();
}

// Answers every complete request in c->pending.
void process(Conn* c) {
    Server* srv = c->srv;
    size_t pos = 0;
    std::vector<std::string> args;
    std::string out; // the answers to this batch of requests, sent at once
    for (;;) {
        size_t at = pos;
        Parse p = parse_command(c->pending, &pos, &args);
        if (p == Parse::bad) {
            out += "-ERR Protocol error\r\n";
            reply(c, out); // sent at once if it can be
            srv->drop(c);
            return;
        }
        if (p == Parse::more || pos == at)
            break;
        if (args.empty())
            continue; // an empty inline line
        if (c->sentinel)
            srv->sentinel_reply(c, args, out);
        else
            srv->farm_reply(c, args, out);
    }
    reply(c, out);
    c->pending.erase(0, pos);
    if (c->pending.size() > max_pending)
        srv->drop(c);
}

void on_read(bufferevent* bev, void* arg) noexcept {
    auto* c = static_cast<Conn*>(arg);
    try {
        evbuffer* in = bufferevent_get_input(bev);
        size_t len = evbuffer_get_length(in);
        size_t old = c->pending.size();
        c->pending.resize(old + len);
        evbuffer_remove(in, c->pending.data() + old, len);
        process(c);
    } catch (const std::exception& e) {
        die("read", e);
    }
}

void on_event(bufferevent*, short what, void* arg) noexcept {
    auto* c = static_cast<Conn*>(arg);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        c->srv->drop(c);
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept {
    auto* l = static_cast<Listening*>(arg);
    try {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->srv = l->srv;
        c->sentinel = l->sentinel;
        c->farm = l->farm;
        c->bev.reset(bufferevent_socket_new(l->srv->base.get(), fd, BEV_OPT_CLOSE_ON_FREE));
        if (!c->bev) {
            close(fd);
            return;
        }
        bufferevent_setcb(c->bev.get(), on_read, nullptr, on_event, c.get());
        bufferevent_enable(c->bev.get(), EV_READ);
        Conn* key = c.get();
        l->srv->conns.emplace(key, std::move(c));
        // Farm listeners accept only once the request is there (deferred
        // accept): answer it now, saving a wake-up and a read event.
        if (key->farm) {
            char buf[4096];
            ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got == 0) {
                l->srv->drop(key);
            } else if (got > 0) {
                key->pending.append(buf, static_cast<size_t>(got));
                process(key);
            }
        }
    } catch (const std::exception& e) {
        die("accept", e);
    }
}

void on_stdin(evutil_socket_t fd, short, void* arg) noexcept {
    auto* srv = static_cast<Server*>(arg);
    try {
        char buf[4096];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got <= 0) {
            event_base_loopbreak(srv->base.get());
            return;
        }
        srv->control.append(buf, static_cast<size_t>(got));
        size_t nl;
        while ((nl = srv->control.find('\n')) != std::string::npos) {
            std::string line = srv->control.substr(0, nl);
            srv->control.erase(0, nl + 1);
            if (!srv->control_line(line)) {
                event_base_loopbreak(srv->base.get());
                return;
            }
        }
    } catch (const std::exception& e) {
        die("control", e);
    }
}

ListenerPtr listen_on(Server* srv, Sentinel* s, Farm* f, int* port) {
    auto l = std::make_unique<Listening>(Listening{srv, s, f});
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | (f ? LEV_OPT_DEFERRED_ACCEPT : 0);
    ListenerPtr lp(evconnlistener_new_bind(srv->base.get(), on_accept, l.get(), flags, 4096,
                                           reinterpret_cast<sockaddr*>(&sin), sizeof sin));
    if (!lp) {
        std::perror("fake_farm: listen on 127.0.0.1");
        std::exit(1);
    }
    socklen_t len = sizeof sin;
    getsockname(evconnlistener_get_fd(lp.get()), reinterpret_cast<sockaddr*>(&sin), &len);
    *port = ntohs(sin.sin_port);
    srv->listening.push_back(std::move(l));
    return lp;
}

int number(const char* s, const char* what) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 10000000) {
        std::fprintf(stderr, "fake_farm: bad %s: %s\n", what, s);
        std::exit(2);
    }
    return static_cast<int>(v);
}

} // namespace

int main(int argc, char** argv) {
    int nsentinels = 2, k = 4;
    Server srv;
    srv.n = 1000;
    int opt;
    while ((opt = getopt(argc, argv, "s:n:k:e:")) != -1) {
        switch (opt) {
        case 's':
            nsentinels = number(optarg, "sentinel count");
            break;
        case 'n':
            srv.n = number(optarg, "master count");
            break;
        case 'k':
            k = number(optarg, "port count");
            break;
        case 'e':
            srv.epoch = number(optarg, "epoch");
            break;
        default:
            std::fprintf(stderr, "usage: fake_farm [-s SENTINELS] [-n MASTERS] [-k PORTS] "
                                 "[-e EPOCH]\n");
            return 2;
        }
    }
    if (k < 1 || nsentinels < 1) {
        std::fprintf(stderr, "fake_farm: need at least one port and one sentinel\n");
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    srv.base.reset(event_base_new());
    if (!srv.base) {
        std::fprintf(stderr, "fake_farm: event_base_new failed\n");
        return 1;
    }
    std::string ready = "ready sentinels";
    for (int i = 0; i < nsentinels; i++) {
        auto s = std::make_unique<Sentinel>();
        s->listener = listen_on(&srv, s.get(), nullptr, &s->port);
        ready += ' ' + std::to_string(s->port);
        srv.sentinels.push_back(std::move(s));
    }
    for (Farm& f : srv.farms) {
        ready += ' ';
        ready += f.name;
        for (int i = 0; i < k; i++) {
            int port = 0;
            f.listeners.push_back(listen_on(&srv, nullptr, &f, &port));
            f.ports.push_back(port);
            ready += ' ' + std::to_string(port);
        }
    }
    srv.stdin_ev.reset(event_new(srv.base.get(), 0, EV_READ | EV_PERSIST, on_stdin, &srv));
    if (!srv.stdin_ev || event_add(srv.stdin_ev.get(), nullptr) != 0) {
        std::fprintf(stderr, "fake_farm: cannot watch stdin\n");
        return 1;
    }
    reply_line(ready);
    event_base_dispatch(srv.base.get());
    // Connections and listeners go before the base they were made on.
    srv.stdin_ev.reset();
    srv.conns.clear();
    for (Farm& f : srv.farms)
        f.listeners.clear();
    srv.sentinels.clear();
    return 0;
}
