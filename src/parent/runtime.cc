// HAProxy admin socket client. Replies were checked against haproxy 2.6.
#include "parent/runtime.h"

#include <event2/buffer.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <unistd.h>

#include <cstring>

namespace rh {

namespace {

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
        s.remove_suffix(1);
    while (!s.empty() && (s.front() == '\n' || s.front() == ' '))
        s.remove_prefix(1);
    return s;
}

bool fail_with(std::string* why, std::string_view reply) {
    if (why)
        *why = reply.empty() ? std::string("empty reply") : std::string(reply);
    return false;
}

} // namespace

bool runtime_reply_ok(std::string_view cmd, std::string_view reply, std::string* why) {
    reply = trim(reply);
    if (starts_with(cmd, "set server ") && cmd.find(" addr ") != std::string_view::npos) {
        if (starts_with(reply, "IP changed from ") ||
            starts_with(reply, "no need to change the addr"))
            return true;
        return fail_with(why, reply);
    }
    // "set server B/S state X", "shutdown sessions server B/S" and the
    // other action commands answer nothing on success.
    if (reply.empty())
        return true;
    return fail_with(why, reply);
}

std::vector<std::string> switch_commands(const std::string& backend, const std::string& server,
                                         const HostPort& to) {
    std::string bs = backend + "/" + server;
    return {
        "set server " + bs + " state maint",
        "shutdown sessions server " + bs,
        "set server " + bs + " addr " + to.host + " port " + std::to_string(to.port),
        "set server " + bs + " state ready",
    };
}

std::vector<std::string> split_replies(std::string_view out) {
    // Non-interactive mode: an empty answer is a lone "\n"; any other
    // answer is its text followed by an empty line.
    std::vector<std::string> replies;
    while (!out.empty()) {
        if (out.front() == '\n') {
            replies.emplace_back();
            out.remove_prefix(1);
            continue;
        }
        auto end = out.find("\n\n");
        if (end == std::string_view::npos) {
            replies.emplace_back(trim(out));
            break;
        }
        replies.emplace_back(out.substr(0, end));
        out.remove_prefix(end + 2);
    }
    return replies;
}

RuntimeClient::RuntimeClient(event_base* base, std::string socket_path)
    : base_(base), path_(std::move(socket_path)),
      timer_(base, [this] { fail_exchange("timed out"); }), defer_timer_(base, [this] {
          auto r = std::move(*deferred_);
          deferred_.reset();
          auto done = std::move(done_);
          done_ = nullptr;
          if (done)
              done(std::move(r));
      }) {}

RuntimeClient::~RuntimeClient() {
    if (bev_)
        bufferevent_free(bev_);
}

void RuntimeClient::run(std::vector<std::string> commands, std::chrono::milliseconds timeout,
                        Done done) {
    cmds_ = std::move(commands);
    done_ = std::move(done);
    in_run_ = true;
    struct Leave {
        bool& flag;
        ~Leave() { flag = false; }
    } leave{in_run_};
    input_.clear();
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(sun.sun_path)) {
        fail_exchange("socket path too long");
        return;
    }
    std::memcpy(sun.sun_path, path_.c_str(), path_.size() + 1);
    // Our own socket, so it is close-on-exec: the parent forks commands.
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_exchange(std::string("socket: ") + std::strerror(errno));
        return;
    }
    bev_ = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev_) {
        close(fd);
        fail_exchange("bufferevent_socket_new failed");
        return;
    }
    bufferevent_setcb(bev_, on_read, nullptr, on_event, this);
    bufferevent_enable(bev_, EV_READ);
    std::string line;
    for (size_t i = 0; i < cmds_.size(); i++)
        line += (i ? "; " : "") + cmds_[i];
    line += "\n";
    bufferevent_write(bev_, line.data(), line.size());
    timer_.arm(timeout);
    if (bufferevent_socket_connect(bev_, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) < 0)
        fail_exchange(std::string("connect: ") + std::strerror(errno));
}

void RuntimeClient::on_read(bufferevent* bev, void* arg) {
    auto* self = static_cast<RuntimeClient*>(arg);
    guarded("runtime socket read", [&] {
        evbuffer* in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        std::string chunk(n, '\0');
        evbuffer_remove(in, chunk.data(), n);
        self->input_ += chunk;
    });
}

void RuntimeClient::on_event(bufferevent*, short what, void* arg) {
    auto* self = static_cast<RuntimeClient*>(arg);
    guarded("runtime socket event", [&] {
        if (what & BEV_EVENT_CONNECTED)
            return;
        if (what & BEV_EVENT_EOF) {
            on_read(self->bev_, self);
            RuntimeResult r;
            r.replies = split_replies(self->input_);
            if (r.replies.size() != self->cmds_.size()) {
                self->fail_exchange("expected " + std::to_string(self->cmds_.size()) +
                                    " replies, got " + std::to_string(r.replies.size()) + ": " +
                                    self->input_);
                return;
            }
            r.ok = true;
            for (size_t i = 0; i < self->cmds_.size(); i++) {
                std::string why;
                if (!runtime_reply_ok(self->cmds_[i], r.replies[i], &why)) {
                    r.ok = false;
                    r.error = "runtime socket " + self->path_ + ": " + self->cmds_[i] + ": " + why;
                    break;
                }
            }
            self->finish(std::move(r));
            return;
        }
        int e = EVUTIL_SOCKET_ERROR();
        self->fail_exchange(e ? evutil_socket_error_to_string(e) : "connection error");
    });
}

void RuntimeClient::fail_exchange(const std::string& why) {
    RuntimeResult r;
    r.error = "runtime socket " + path_ + ": " + why;
    finish(std::move(r));
}

void RuntimeClient::finish(RuntimeResult r) {
    timer_.cancel();
    if (bev_) {
        bufferevent_free(bev_);
        bev_ = nullptr;
    }
    if (in_run_) {
        deferred_ = std::move(r);
        defer_timer_.arm(std::chrono::microseconds(0));
        return;
    }
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
        done(std::move(r));
}

} // namespace rh
