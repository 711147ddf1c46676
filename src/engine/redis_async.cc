// hiredis async connection with its own libevent adapter and reply limits.
#include "engine/redis_async.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

namespace rh {

namespace {

// hiredis's default reply functions, wrapped: every object is charged to
// the reader's ReplyMeter (if any) before hiredis allocates it, and, when the
// reader belongs to a RedisConn, a top-level reply nobody asked for is
// refused (hiredis 0.14 asserts, i.e. aborts the engine, on an unsolicited
// reply on a connection that is not subscribed). A null object makes the
// reader fail with "out of memory" and the link dies with our reason.
struct Functions {
    redisReplyObjectFunctions fns{};
    redisReplyObjectFunctions orig{};
};

const Functions& capped_functions();

ReplyMeter* meter(const redisReadTask* t) {
    return static_cast<ReplyMeter*>(t->privdata);
}

// A reply object may be built if it fits the budget and its connection (if
// any) accepts it.
bool admit(const redisReadTask* t, size_t bytes, size_t slots, std::string_view str = {},
           int elements = 0) {
    ReplyMeter* m = meter(t);
    if (!m)
        return true;
    if (!m->charge(t, bytes, slots))
        return false;
    RedisConn* c = m->conn;
    if (!c)
        return true;
    if (!t->parent)
        return c->admit_reply(t->type, elements);
    if (!t->parent->parent)
        return c->admit_element(t->idx, t->type, str);
    return true;
}

void* gated_string(const redisReadTask* t, char* s, size_t len) {
    return admit(t, len + 1, 0, std::string_view(s, len))
               ? capped_functions().orig.createString(t, s, len)
               : nullptr;
}

void* gated_array(const redisReadTask* t, int elements) {
    if (elements < 0)
        return nullptr;
    auto n = static_cast<size_t>(elements);
    return admit(t, n * sizeof(redisReply*), n, {}, elements)
               ? capped_functions().orig.createArray(t, elements)
               : nullptr;
}

void* gated_integer(const redisReadTask* t, long long v) {
    return admit(t, 0, 0) ? capped_functions().orig.createInteger(t, v) : nullptr;
}

void* gated_nil(const redisReadTask* t) {
    return admit(t, 0, 0) ? capped_functions().orig.createNil(t) : nullptr;
}

const Functions& capped_functions() {
    static const Functions f = [] {
        Functions out;
        redisReader* r = redisReaderCreate();
        out.orig = *r->fn;
        redisReaderFree(r);
        out.fns = out.orig;
        out.fns.createString = gated_string;
        out.fns.createArray = gated_array;
        out.fns.createInteger = gated_integer;
        out.fns.createNil = gated_nil;
        return out;
    }();
    return f;
}

size_t depth_of(const redisReadTask* t) {
    size_t d = 1;
    for (; t->parent; t = t->parent)
        d++;
    return d;
}

// The length announced by a bulk header at p (digits up to "\r\n"), if the
// whole header has arrived; negative lengths (nil) are not a cost.
std::optional<size_t> bulk_length(const char* p, size_t n) {
    const void* cr = memchr(p, '\r', n);
    if (!cr)
        return std::nullopt;
    size_t len = 0;
    for (const char* q = p; q < cr; q++) {
        if (*q < '0' || *q > '9')
            return std::nullopt; // "-1" or garbage: hiredis judges it
        len = len > (SIZE_MAX - 9) / 10 ? SIZE_MAX : len * 10 + static_cast<size_t>(*q - '0');
    }
    return len;
}

} // namespace

ReplyBudget ReplyBudget::for_clusters(size_t n) {
    ReplyBudget b;
    b.bytes += n * bytes_per_cluster;
    b.elements += n * elements_per_cluster;
    return b;
}

void ReplyMeter::refuse(const std::string& why) {
    if (refused.empty())
        refused = why;
}

bool ReplyMeter::charge(const redisReadTask* t, size_t obj_bytes, size_t slots) {
    if (!t->parent) { // the first object of a new reply
        bytes = 0;
        elements = 0;
    }
    if (depth_of(t) > budget.depth) {
        refuse("reply nested deeper than " + std::to_string(budget.depth) + " levels");
        return false;
    }
    // An array reserves its slots when declared; its children are in them.
    elements += (t->parent ? 0 : 1) + slots;
    bytes += sizeof(redisReply) + obj_bytes;
    if (elements > budget.elements) {
        refuse("reply of more than " + std::to_string(budget.elements) + " elements");
        return false;
    }
    if (bytes > budget.bytes) {
        refuse("reply larger than " + std::to_string(budget.bytes) + " bytes");
        return false;
    }
    return true;
}

bool ReplyMeter::check_pending(const redisReader* r) {
    size_t unparsed = r->len - r->pos;
    if (unparsed > budget.bytes) {
        refuse("reply larger than " + std::to_string(budget.bytes) + " bytes");
        return false;
    }
    if (r->ridx < 0 || r->rstack[r->ridx].type != REDIS_REPLY_STRING)
        return true;
    // hiredis waits for a whole bulk string: judge it by its header.
    auto len = bulk_length(r->buf + r->pos, unparsed);
    size_t used = r->ridx == 0 ? 0 : bytes;
    if (len && *len > budget.bytes - std::min(used, budget.bytes)) {
        refuse("bulk string of " + std::to_string(*len) + " bytes exceeds the reply budget of " +
               std::to_string(budget.bytes));
        return false;
    }
    return true;
}

redisReplyObjectFunctions* capped_reply_functions() {
    return const_cast<redisReplyObjectFunctions*>(&capped_functions().fns);
}

RedisConn::RedisConn(event_base* base, HostPort addr, Callbacks cb)
    : base_(base), addr_(std::move(addr)), cb_(std::move(cb)) {
    meter_.conn = this;
}

RedisConn::~RedisConn() {
    closed_ = true;
    if (ac_) {
        ac_->data = nullptr;
        redisAsyncContext* ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac); // runs pending callbacks with null replies; they see data == null
    }
}

namespace {

// TCP keepalive, tighter than the kernel's two hours: a subscribed
// connection carries no replies of its own to time out (hiredis 0.14 cannot
// PING it), so a connection silently cut by a firewall or a dead host is
// found by probes: after 5 s of silence, every 2 s, 3 unanswered -> closed,
// about 11 s. TCP_USER_TIMEOUT bounds unacknowledged writes the same way.
// Best effort: a failure leaves the kernel's defaults.
void keep_alive(int fd) {
    int on = 1, idle = 5, interval = 2, count = 3;
    unsigned user_timeout_ms = 11000;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

} // namespace

bool RedisConn::connect(std::string* err) {
    redisAsyncContext* ac = redisAsyncConnect(addr_.host.c_str(), addr_.port);
    if (!ac) {
        *err = "out of memory";
        return false;
    }
    if (ac->err) {
        *err = ac->errstr;
        redisAsyncFree(ac);
        return false;
    }
    ac_ = ac;
    ac_->data = this;
    keep_alive(ac_->c.fd);
    // Our reply functions: the same objects, each charged to the budget.
    ac_->c.reader->fn = capped_reply_functions();
    ac_->c.reader->privdata = &meter_;
    rev_.reset(event_new(base_, ac_->c.fd, EV_READ, &RedisConn::on_event, this));
    wev_.reset(event_new(base_, ac_->c.fd, EV_WRITE, &RedisConn::on_event, this));
    if (!rev_ || !wev_) {
        *err = "event_new failed";
        return false;
    }
    ac_->ev.data = this;
    ac_->ev.addRead = &RedisConn::ev_add_read;
    ac_->ev.delRead = &RedisConn::ev_del_read;
    ac_->ev.addWrite = &RedisConn::ev_add_write;
    ac_->ev.delWrite = &RedisConn::ev_del_write;
    ac_->ev.cleanup = &RedisConn::ev_cleanup;
    redisAsyncSetConnectCallback(ac_, &RedisConn::on_connect);
    redisAsyncSetDisconnectCallback(ac_, &RedisConn::on_disconnect);
    // A non-blocking connect completes when the socket turns writable.
    event_add(wev_.get(), nullptr);
    return true;
}

bool RedisConn::send(const std::vector<std::string>& argv, redisCallbackFn* fn) {
    if (!ac_ || closed_)
        return false;
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    return redisAsyncCommandArgv(ac_, fn, nullptr, static_cast<int>(argv.size()), ptrs.data(),
                                 lens.data()) == REDIS_OK;
}

bool RedisConn::command(const std::vector<std::string>& argv, ReplyFn fn) {
    if (!send(argv, &RedisConn::on_reply))
        return false;
    replies_.push_back(std::move(fn));
    expected_++;
    return true;
}

bool RedisConn::subscribe(const std::vector<std::string>& channels) {
    std::vector<std::string> argv{"SUBSCRIBE"};
    argv.insert(argv.end(), channels.begin(), channels.end());
    if (!send(argv, &RedisConn::on_push))
        return false;
    subscribed_ = true; // hiredis routes unsolicited replies to pub/sub from now on
    return true;
}

// hiredis 0.14 asserts (aborts) on a reply no command asked for, and on a
// pub/sub push whose first two elements are not strings; it reads element 2
// of any push unchecked, and an "unsubscribe" push leaves subscribed mode.
// So: a reply is admitted when a command is owed one; otherwise, only on the
// subscribed connection, and only as ["message"|"subscribe", string, x].
bool RedisConn::admit_reply(int type, int elements) {
    push_ = false;
    if (expected_ > 0) {
        expected_--;
        return true;
    }
    if (!subscribed_) {
        meter_.refuse("unsolicited reply");
        return false;
    }
    if (type != REDIS_REPLY_ARRAY || elements != 3) {
        meter_.refuse("malformed pub/sub message");
        return false;
    }
    push_ = true;
    return true;
}

bool RedisConn::admit_element(int idx, int type, std::string_view str) {
    if (!push_ || idx > 1)
        return true;
    bool ok = type == REDIS_REPLY_STRING && (idx == 1 || str == "message" || str == "subscribe");
    if (!ok)
        meter_.refuse("malformed pub/sub message");
    return ok;
}

void RedisConn::close() {
    closed_ = true;
    replies_.clear();
    if (rev_)
        event_del(rev_.get());
    if (wev_)
        event_del(wev_.get());
}

void RedisConn::fail(const std::string& err) {
    if (closed_)
        return;
    auto failed = std::move(cb_.failed);
    close();
    if (failed)
        failed(err);
}

void RedisConn::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (!self)
        return;
    guarded("redis connect", [&] {
        if (status != REDIS_OK) {
            std::string err = ac->errstr;
            self->ac_ = nullptr; // hiredis frees it after we return
            self->fail("connect: " + err);
            return;
        }
        self->connected_ = true;
        if (!self->closed_ && self->cb_.connected)
            self->cb_.connected();
    });
}

void RedisConn::on_disconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (!self)
        return;
    guarded("redis disconnect", [&] {
        std::string err = status == REDIS_OK ? "connection closed" : ac->errstr;
        if (!self->meter_.refused.empty())
            err = self->meter_.refused;
        self->ac_ = nullptr; // hiredis frees it after we return
        self->connected_ = false;
        self->fail(err);
    });
}

void RedisConn::on_reply(redisAsyncContext* ac, void* reply, void*) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (!self || self->closed_ || self->replies_.empty())
        return;
    guarded("redis reply", [&] {
        ReplyFn fn = std::move(self->replies_.front());
        self->replies_.pop_front();
        if (fn)
            fn(static_cast<redisReply*>(reply)); // may close() us: touch nothing after
    });
}

void RedisConn::on_push(redisAsyncContext* ac, void* reply, void*) {
    auto* self = static_cast<RedisConn*>(ac->data);
    if (!self || self->closed_ || !reply)
        return;
    guarded("redis push", [&] {
        if (self->cb_.push)
            self->cb_.push(static_cast<redisReply*>(reply));
    });
}

void RedisConn::on_event(evutil_socket_t, short what, void* arg) {
    auto* self = static_cast<RedisConn*>(arg);
    guarded("redis event", [&] {
        if (!self->ac_ || self->closed_)
            return;
        if (what & EV_WRITE) {
            redisAsyncHandleWrite(self->ac_);
            return;
        }
        redisAsyncHandleRead(self->ac_);
        if (!self->ac_ || self->closed_)
            return;
        if (!self->meter_.check_pending(self->ac_->c.reader))
            self->fail(self->meter_.refused);
    });
}

void RedisConn::ev_add_read(void* p) {
    auto* self = static_cast<RedisConn*>(p);
    if (!self->closed_)
        event_add(self->rev_.get(), nullptr);
}
void RedisConn::ev_del_read(void* p) {
    event_del(static_cast<RedisConn*>(p)->rev_.get());
}
void RedisConn::ev_add_write(void* p) {
    auto* self = static_cast<RedisConn*>(p);
    if (!self->closed_)
        event_add(self->wev_.get(), nullptr);
}
void RedisConn::ev_del_write(void* p) {
    event_del(static_cast<RedisConn*>(p)->wev_.get());
}
void RedisConn::ev_cleanup(void* p) {
    auto* self = static_cast<RedisConn*>(p);
    event_del(self->rev_.get());
    event_del(self->wev_.get());
}

} // namespace rh
