// Our Redis transport: bufferevents (plain or OpenSSL), hiredis's reader
// with reply budgets.
#include "engine/redis_async.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>

namespace rh {

namespace {

// The reply functions: every object is charged to the reader's meter
// before it is built and, when the reader belongs to a RedisConn, a
// top-level reply nobody asked for is refused as soon as its first byte is
// parsed. A null object makes the reader fail and the link dies with our
// reason. Objects are laid out as hiredis's own (callers read redisReply),
// in the reader's arena; freeObject has nothing to do.

// A reply object may be built if it fits the budget and its connection (if
// any) accepts it.
bool admit(const redisReadTask* t, size_t bytes, size_t slots, std::string_view str = {},
           int elements = 0) {
    ReplyMeter& m = ReplyReader::of(t)->meter();
    if (!m.charge(t, bytes, slots))
        return false;
    RedisConn* c = m.conn;
    if (!c)
        return true;
    if (!t->parent)
        return c->admit_reply(t->type, elements);
    if (!t->parent->parent)
        return c->admit_element(t->idx, t->type, str);
    return true;
}

// A new object of t's type in its reader's arena, linked into its parent.
redisReply* new_object(const redisReadTask* t, int type) {
    void* p = ReplyReader::of(t)->arena().allocate(sizeof(redisReply));
    if (!p)
        return nullptr;
    auto* r = new (p) redisReply{};
    r->type = type;
    if (t->parent)
        static_cast<redisReply*>(t->parent->obj)->element[t->idx] = r;
    return r;
}

void* create_string(const redisReadTask* t, char* s, size_t len) {
    if (!admit(t, len + 1, 0, std::string_view(s, len)))
        return nullptr;
    auto* buf = static_cast<char*>(ReplyReader::of(t)->arena().allocate(len + 1));
    redisReply* r = buf ? new_object(t, t->type) : nullptr;
    if (!r)
        return nullptr;
    memcpy(buf, s, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

void* create_array(const redisReadTask* t, int elements) {
    if (elements < 0)
        return nullptr;
    auto n = static_cast<size_t>(elements);
    if (!admit(t, n * sizeof(redisReply*), n, {}, elements))
        return nullptr;
    redisReply** slots = nullptr;
    if (n > 0) {
        slots = static_cast<redisReply**>(
            ReplyReader::of(t)->arena().allocate(n * sizeof(redisReply*)));
        if (!slots)
            return nullptr;
        memset(slots, 0, n * sizeof(redisReply*));
    }
    redisReply* r = new_object(t, REDIS_REPLY_ARRAY);
    if (!r)
        return nullptr;
    r->element = slots;
    r->elements = n;
    return r;
}

void* create_integer(const redisReadTask* t, long long v) {
    redisReply* r = admit(t, 0, 0) ? new_object(t, REDIS_REPLY_INTEGER) : nullptr;
    if (r)
        r->integer = v;
    return r;
}

void* create_nil(const redisReadTask* t) {
    return admit(t, 0, 0) ? new_object(t, REDIS_REPLY_NIL) : nullptr;
}

void free_nothing(void*) {}

// hiredis takes the table by a non-const pointer but never writes through it.
const redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer,
                                                   create_nil, free_nothing};

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

void* ReplyArena::allocate(size_t n) {
    constexpr size_t align = alignof(redisReply);
    n = (n + align - 1) & ~(align - 1);
    if (blocks_.empty() || blocks_.back().size - used_ < n) {
        size_t size = blocks_.empty() ? kFirstBlock : std::min(blocks_.back().size * 2, kMaxBlock);
        size = std::max(size, n);
        char* data = nullptr;
        if (size >= kMappedBlock) {
            void* m =
                mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            data = m == MAP_FAILED ? nullptr : static_cast<char*>(m);
        } else {
            data = static_cast<char*>(malloc(size));
        }
        if (!data)
            return nullptr;
        try { // called from hiredis's C frames: nothing may be thrown through them
            blocks_.push_back({data, size});
        } catch (...) {
            free_block({data, size});
            return nullptr;
        }
        used_ = 0;
    }
    char* p = blocks_.back().data + used_;
    used_ += n;
    return p;
}

void ReplyArena::free_block(Block b) {
    if (b.size >= kMappedBlock)
        munmap(b.data, b.size);
    else
        free(b.data);
}

void ReplyArena::release(size_t keep) {
    for (size_t i = keep; i < blocks_.size(); i++)
        free_block(blocks_[i]);
    blocks_.resize(std::min(keep, blocks_.size()));
}

void ReplyArena::reset() {
    release(!blocks_.empty() && blocks_[0].size <= kKeptBlock ? 1 : 0);
    used_ = 0;
}

ReplyReader::ReplyReader(ReplyBudget budget)
    : reader_(redisReaderCreateWithFunctions(
          const_cast<redisReplyObjectFunctions*>(&reply_functions))) {
    meter_.budget = budget;
    if (reader_)
        reader_->privdata = this;
}

bool ReplyReader::feed(const char* data, size_t n) {
    return redisReaderFeed(reader_.get(), data, n) == REDIS_OK;
}

int ReplyReader::get(redisReply** out) {
    *out = nullptr;
    // No object of a reply in progress exists until its root does: with
    // none, the previous reply (handled by now) can go.
    if (!reader_->reply)
        arena_.reset();
    void* r = nullptr;
    int rc = redisReaderGetReply(reader_.get(), &r);
    *out = static_cast<redisReply*>(r);
    return rc;
}

std::string ReplyReader::error() const {
    if (!meter_.refused.empty())
        return meter_.refused;
    return "protocol error: " + std::string(reader_->errstr);
}

bool is_push(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return false;
    const redisReply* kind = r->element[0];
    if (kind->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return false;
    std::string_view k(kind->str, kind->len);
    return k == "message" || k == "subscribe";
}

RedisConn::RedisConn(event_base* base, HostPort addr, Callbacks cb, RedisConnOptions opts)
    : base_(base), addr_(std::move(addr)), cb_(std::move(cb)), opts_(std::move(opts)),
      connect_timer_(base,
                     [this] {
                         fail("connect timeout after " +
                              std::to_string(opts_.connect_timeout.count()) + " ms");
                     }),
      reply_timer_(base, [this] {
          fail("no reply within " + std::to_string(opts_.reply_timeout.count()) + " ms");
      }) {
    reader_.meter().conn = this;
}

RedisConn::~RedisConn() {
    closed_ = true;
    if (ssl_ && !bev_)
        opts_.tls->api().SSL_free(ssl_); // never handed to a bufferevent
    // bev_ (with BEV_OPT_CLOSE_ON_FREE) closes the socket and frees the SSL.
}

namespace {

// TCP_NODELAY, and (keepalive) TCP keepalive, tighter than the kernel's two hours: a connection
// silently cut by a firewall or a dead host while nothing is owed on it (an idle subscribed
// connection between PINGs) is found by probes: after 5 s of silence, every 2 s, 3 unanswered ->
// closed, about 11 s. TCP_USER_TIMEOUT bounds unacknowledged writes the same way. Best effort: a
// failure leaves the kernel's defaults.
void tune_socket(int fd, bool keepalive, bool reset_on_close, bool tls) {
    int on = 1, idle = 5, interval = 2, count = 3;
    unsigned user_timeout_ms = 11000;
    // As hiredis did: a command or a TLS handshake flight written while
    // the previous segment is unacknowledged must not wait for the peer's
    // delayed ACK (Nagle). A plain one-shot connection (a ROLE check)
    // writes its commands once, in one segment: nothing for Nagle to hold.
    if (keepalive || !reset_on_close || tls)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (reset_on_close) {
        linger abort{1, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    if (!keepalive)
        return;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

bool is_ip_literal(const std::string& h) {
    return is_ipv4_literal(h) || is_ipv6_literal(h);
}

// The RESP encoding of a command: an array of bulk strings.
void append_command(evbuffer* out, const std::vector<std::string>& argv) {
    evbuffer_add_printf(out, "*%zu\r\n", argv.size());
    for (const auto& a : argv) {
        evbuffer_add_printf(out, "$%zu\r\n", a.size());
        evbuffer_add(out, a.data(), a.size());
        evbuffer_add(out, "\r\n", 2);
    }
}

} // namespace

// A TLS session for this link: the name to verify (a host name through
// SSL_set1_host, an IP literal through the verify parameters) and SNI for
// names only (RFC 6066 forbids literals in SNI).
bool RedisConn::open_socket(std::string* err) {
    const std::string& name = opts_.server_name.empty() ? addr_.host : opts_.server_name;
    const TlsApi& tls = opts_.tls->api();
    ssl_ = tls.SSL_new(opts_.tls->get());
    if (!ssl_) {
        *err = "TLS: SSL_new failed";
        return false;
    }
    bool ok = true;
    if (is_ip_literal(name)) {
        ok = tls.X509_VERIFY_PARAM_set1_ip_asc(tls.SSL_get0_param(ssl_), name.c_str()) == 1;
    } else {
        // SSL_set_tlsext_host_name(ssl_, name), the macro spelled out.
        ok = tls.SSL_set1_host(ssl_, name.c_str()) == 1 &&
             tls.SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                          const_cast<char*>(name.c_str())) == 1;
    }
    if (!ok) {
        *err = "TLS: cannot set the server name " + name;
        return false;
    }
    bev_.reset(tls.bufferevent_openssl_socket_new(base_, -1, ssl_, BUFFEREVENT_SSL_CONNECTING,
                                                  BEV_OPT_CLOSE_ON_FREE));
    if (!bev_) {
        *err = "TLS: bufferevent_openssl_socket_new failed";
        return false;
    }
    // Redis closes connections without a TLS close_notify: that is an EOF,
    // not an attack on the stream (we never act on a truncated reply).
    tls.bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
    return true;
}

bool RedisConn::connect(std::string* err) {
    // Never a name: libevent would resolve it with a blocking getaddrinfo()
    // on the engine's loop. Callers resolve first (Resolver).
    if (!is_ip_literal(addr_.host)) {
        *err = "not an IP address: " + addr_.host + " (names are resolved before connecting)";
        return false;
    }
    if (!reader_.ok()) {
        *err = "out of memory";
        return false;
    }
    if (opts_.tls) {
        if (!open_socket(err))
            return false;
    } else {
        bev_.reset(bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE));
        if (!bev_) {
            *err = "bufferevent_socket_new failed";
            return false;
        }
    }
    bufferevent_setcb(bev_.get(), &RedisConn::on_read, nullptr, &RedisConn::on_bev_event, this);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    sockaddr_storage ss{};
    int len = sizeof ss;
    std::string spec = is_ipv6_literal(addr_.host) ? "[" + addr_.host + "]" : addr_.host;
    spec += ":" + std::to_string(addr_.port);
    if (evutil_parse_sockaddr_port(spec.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        *err = "bad address " + spec;
        return false;
    }
    sync_ = true;
    int rc = bufferevent_socket_connect(bev_.get(), reinterpret_cast<sockaddr*>(&ss), len);
    sync_ = false;
    if (!sync_err_.empty()) {
        *err = sync_err_;
        return false;
    }
    if (rc != 0) {
        *err = evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
        return false;
    }
    if (evutil_socket_t fd = bufferevent_getfd(bev_.get()); fd >= 0)
        tune_socket(fd, opts_.keepalive, opts_.reset_on_close, opts_.tls != nullptr);
    if (opts_.connect_timeout.count() > 0)
        connect_timer_.arm(opts_.connect_timeout);
    return true;
}

bool RedisConn::send(const std::vector<std::string>& argv) {
    if (!bev_ || closed_)
        return false;
    append_command(bufferevent_get_output(bev_.get()), argv);
    return true;
}

bool RedisConn::command(const std::vector<std::string>& argv, ReplyFn fn) {
    if (!send(argv))
        return false;
    replies_.push_back(std::move(fn));
    if (replies_.size() == 1)
        arm_reply_timer();
    return true;
}

bool RedisConn::subscribe(const std::vector<std::string>& channels) {
    std::vector<std::string> argv{"SUBSCRIBE"};
    argv.insert(argv.end(), channels.begin(), channels.end());
    if (!send(argv))
        return false;
    subscribed_ = true; // its confirmations are pushes, one per channel
    return true;
}

void RedisConn::arm_reply_timer() {
    if (opts_.reply_timeout.count() > 0 && !replies_.empty())
        reply_timer_.arm(opts_.reply_timeout);
}

// A reply is admitted when a command is owed one; otherwise, only on the
// subscribed connection, and only as ["message"|"subscribe", string, x].
// On a subscribed connection with commands outstanding (AUTH, PING), a
// reply is told from a push by its content once read (dispatch).
bool RedisConn::admit_reply(int type, int elements) {
    push_ = false;
    if (!replies_.empty())
        return true;
    if (!subscribed_) {
        reader_.meter().refuse("unsolicited reply");
        return false;
    }
    // A refused SUBSCRIBE (an ACL user without the channel) answers one
    // error instead of its confirmations: dispatch fails the link with it.
    if (type == REDIS_REPLY_ERROR)
        return true;
    if (type != REDIS_REPLY_ARRAY || elements != 3) {
        reader_.meter().refuse("malformed pub/sub message");
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
        reader_.meter().refuse("malformed pub/sub message");
    return ok;
}

void RedisConn::close() {
    closed_ = true;
    replies_.clear();
    connect_timer_.cancel();
    reply_timer_.cancel();
    if (bev_) {
        bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
        bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    }
}

// Pending replies are dropped: failed() says why the link died.
void RedisConn::fail(const std::string& err) {
    if (closed_)
        return;
    if (sync_) { // inside connect(): it reports the error itself
        if (sync_err_.empty())
            sync_err_ = err;
        return;
    }
    auto failed = std::move(cb_.failed);
    connected_ = false;
    close();
    if (failed)
        failed(err);
}

void RedisConn::on_connected() {
    connect_timer_.cancel();
    connected_ = true;
    if (cb_.connected)
        cb_.connected();
}

void RedisConn::dispatch(redisReply* reply) {
    if (subscribed_ && is_push(reply)) {
        if (cb_.push)
            cb_.push(reply);
        return;
    }
    if (replies_.empty()) {
        if (reply->type == REDIS_REPLY_ERROR)
            fail("error: " + std::string(reply->str, std::min<size_t>(reply->len, 200)));
        else
            fail("unsolicited reply");
        return;
    }
    ReplyFn fn = std::move(replies_.front());
    replies_.pop_front();
    // A reply is progress: the next is due reply_timeout from now.
    if (replies_.empty())
        reply_timer_.cancel();
    else
        arm_reply_timer();
    if (fn)
        fn(reply); // may close() us
}

void RedisConn::read_replies() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    // One chunk at a time, judged after each: a peer cannot make us buffer
    // more than a chunk beyond the reply budget.
    while (!closed_ && evbuffer_get_length(in) > 0) {
        evbuffer_iovec v{};
        if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1)
            break;
        if (!reader_.feed(static_cast<const char*>(v.iov_base), v.iov_len)) {
            fail("out of memory");
            return;
        }
        evbuffer_drain(in, v.iov_len);
        for (;;) {
            redisReply* reply = nullptr;
            if (reader_.get(&reply) != REDIS_OK) {
                fail(reader_.error());
                return;
            }
            if (!reply)
                break;
            dispatch(reply);
            if (closed_)
                return;
        }
        if (!reader_.check_pending()) {
            fail(reader_.meter().refused);
            return;
        }
    }
}

// The reason a bufferevent reported: TLS verification first (what an
// operator must fix), then OpenSSL's own error, then the socket's.
std::string RedisConn::event_error(short what) {
    if (ssl_) {
        const TlsApi& tls = opts_.tls->api();
        // Only when verifying: with verify = no, OpenSSL still records why
        // the chain would fail, but that is not why the link failed.
        long v = tls.SSL_get_verify_result(ssl_);
        if (v != X509_V_OK && (tls.SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER))
            return std::string("TLS: certificate verify failed: ") +
                   tls.X509_verify_cert_error_string(v);
        // Its queue mixes OpenSSL's packed error codes with bare
        // SSL_get_error() values (SSL_ERROR_SYSCALL: see the socket's errno).
        while (unsigned long e = tls.bufferevent_get_openssl_error(bev_.get())) {
            if (ERR_GET_LIB(e) == 0)
                continue;
            const char* r = tls.ERR_reason_error_string(e);
            return std::string("TLS: ") + (r ? r : "error " + std::to_string(e));
        }
    }
    if (what & BEV_EVENT_EOF)
        return "connection closed";
    int dns = bufferevent_socket_get_dns_error(bev_.get());
    if (dns != 0)
        return std::string("resolve ") + addr_.host + ": " + evutil_gai_strerror(dns);
    int err = EVUTIL_SOCKET_ERROR();
    if (err == 0)
        return "connection error";
    return evutil_socket_error_to_string(err);
}

void RedisConn::on_read(bufferevent*, void* arg) {
    auto* self = static_cast<RedisConn*>(arg);
    guarded("redis read", [&] {
        if (!self->closed_)
            self->read_replies();
    });
}

void RedisConn::on_bev_event(bufferevent*, short what, void* arg) {
    auto* self = static_cast<RedisConn*>(arg);
    guarded("redis event", [&] {
        if (self->closed_)
            return;
        if (what & BEV_EVENT_CONNECTED) {
            self->on_connected();
            return;
        }
        std::string err = self->event_error(what);
        bool prefix = !self->connected_ && !err.starts_with("TLS: ");
        self->fail(prefix ? "connect: " + err : err);
    });
}

} // namespace rh
