// RAII wrapper for a hiredis 0.14 async connection on a libevent base.
//
// hiredis frees its context itself after a failed connect or a disconnect;
// this class observes that in the callbacks and never frees it again. It
// uses its own event adapter so that, after every read, it can refuse a
// reply whose pending bulk header or unparsed bytes exceed its budget
// (hiredis 0.14 has no limit and would buffer a 1 GB bulk string), and its
// own reply functions count every object against that budget as hiredis
// builds it (a "*2000000000" header would make hiredis calloc 16 GB up
// front) and refuse any reply that no command asked for (hiredis 0.14 would
// abort on an assert). A refused reply is a protocol error: the link dies.
//
// Callbacks: failed() is called at most once, after which the connection is
// dead and says nothing more. Destroy a RedisConn outside its own callbacks
// (call close() in a callback and destroy it later, e.g. from a timer).
#pragma once

#include <hiredis/async.h>
#include <hiredis/read.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"

namespace rh {

// The budget of one reply (redishappyd(8), BUDGETS). Bytes are counted as
// hiredis allocates them: a reply object (sizeof(redisReply)) per element,
// plus string lengths, plus a pointer per array slot. Measured with Redis
// 7.0, SENTINEL MASTERS costs 41 elements and ~2.7 KB per master, so the
// base budget admits ~2,500 masters; a Sentinel link adds room for each
// configured cluster (10,000 masters: 410,000 elements, ~27 MB).
struct ReplyBudget {
    size_t bytes = 8u << 20;
    size_t elements = 1u << 17;
    size_t depth = 4; // ROLE of a master with replicas nests 3 deep
    static constexpr size_t bytes_per_cluster = 3 * 1024;
    static constexpr size_t elements_per_cluster = 48;
    // The base budget with room for SENTINEL MASTERS of n clusters.
    static ReplyBudget for_clusters(size_t n);
    // A subscribed (event) connection: every message is a flat array of a
    // few strings, the largest a hello of well under 1 KB, so 64 KB is
    // room to spare and all a forged Sentinel can make us hold per link.
    static ReplyBudget for_events() { return {64u << 10, 16, 2}; }
};

// Counts the objects of the reply being read against a budget. Point a
// reader's privdata at one (RedisConn does) for the budget to apply.
struct ReplyMeter {
    ReplyBudget budget;
    size_t bytes = 0;                // of the reply being read
    size_t elements = 0;             // of the reply being read
    std::string refused;             // why a reply was refused, first reason only
    class RedisConn* conn = nullptr; // asks whether a reply is expected

    // Charges one object; false (and refused set) when over the budget.
    bool charge(const redisReadTask* t, size_t bytes, size_t slots);
    // After feeding the reader: false (and refused set) when the reply being
    // read announces or has buffered more bytes than its budget allows.
    bool check_pending(const redisReader* r);
    void refuse(const std::string& why);
};

// hiredis's default reply functions, counting each object against the
// ReplyMeter in the reader's privdata (if any); for any redisReader (the
// fuzz target and the unit tests use it).
redisReplyObjectFunctions* capped_reply_functions();

class RedisConn {
  public:
    // reply is null when the connection died before the reply arrived.
    using ReplyFn = std::function<void(redisReply* reply)>;
    struct Callbacks {
        std::function<void()> connected;
        std::function<void(const std::string& err)> failed;
        std::function<void(redisReply* reply)> push; // pub/sub messages
    };

    RedisConn(event_base* base, HostPort addr, Callbacks cb);
    ~RedisConn();
    RedisConn(const RedisConn&) = delete;
    RedisConn& operator=(const RedisConn&) = delete;

    // Starts a non-blocking connect. False (with err) if it failed at once.
    bool connect(std::string* err);
    // Queues a command; fn gets the reply. False if the connection is dead.
    bool command(const std::vector<std::string>& argv, ReplyFn fn);
    // SUBSCRIBE; confirmations and messages go to Callbacks::push.
    bool subscribe(const std::vector<std::string>& channels);
    // Silences every callback; the socket is freed by the destructor.
    void close();
    // Replaces the default budget of each reply; call before connect().
    void set_reply_budget(const ReplyBudget& b) { meter_.budget = b; }

    bool connected() const { return connected_; }
    size_t pending() const { return replies_.size(); }
    const HostPort& addr() const { return addr_; }

    // For the reply reader only: admit_reply() says whether a top-level reply
    // is expected now; refusals are recorded in the meter.
    bool admit_reply(int type, int elements);
    bool admit_element(int idx, int type, std::string_view str);

  private:
    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_push(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_event(evutil_socket_t fd, short what, void* arg);
    static void ev_add_read(void* p);
    static void ev_del_read(void* p);
    static void ev_add_write(void* p);
    static void ev_del_write(void* p);
    static void ev_cleanup(void* p);

    void fail(const std::string& err);
    bool send(const std::vector<std::string>& argv, redisCallbackFn* fn);

    event_base* base_;
    HostPort addr_;
    Callbacks cb_;
    redisAsyncContext* ac_ = nullptr; // null once hiredis has freed it
    EventPtr rev_, wev_;
    std::deque<ReplyFn> replies_;
    bool connected_ = false;
    bool closed_ = false;
    bool subscribed_ = false;
    bool push_ = false;   // the reply being read is a pub/sub push
    size_t expected_ = 0; // top-level replies still owed to us
    ReplyMeter meter_;
};

} // namespace rh
