// RAII wrapper for a hiredis 0.14 async connection on a libevent base.
//
// hiredis frees its context itself after a failed connect or a disconnect;
// this class observes that in the callbacks and never frees it again. It
// uses its own event adapter so that, after every read, it can refuse a
// reply that grows beyond max_buffer bytes (hiredis 0.14 has no limit and
// would buffer a 1 GB bulk string), and its own reply functions refuse a
// multi-bulk count above max_elements (a "*2000000000" header would make
// hiredis calloc 16 GB up front) and any reply that no command asked for
// (hiredis 0.14 would abort on an assert).
//
// Callbacks: failed() is called at most once, after which the connection is
// dead and says nothing more. Destroy a RedisConn outside its own callbacks
// (call close() in a callback and destroy it later, e.g. from a timer).
#pragma once

#include <hiredis/async.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"

namespace rh {

// hiredis's default reply functions with the multi-bulk count capped at
// RedisConn::max_elements; for any redisReader (the fuzz target uses it).
redisReplyObjectFunctions* capped_reply_functions();

class RedisConn {
  public:
    static constexpr size_t max_buffer = 64 * 1024 * 1024;
    static constexpr int max_elements = 1 << 20;

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

    bool connected() const { return connected_; }
    size_t pending() const { return replies_.size(); }
    const HostPort& addr() const { return addr_; }

    // For the reply reader only: admit_reply() says whether a top-level reply
    // is expected now; refuse() records why the reader gave up.
    bool admit_reply(int type, int elements);
    bool admit_element(int idx, int type, std::string_view str);
    void refuse(const std::string& why);

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
    std::string refused_;
};

} // namespace rh
