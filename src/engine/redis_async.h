// A Redis connection of our own: a libevent bufferevent (plain TCP, or TLS
// through bufferevent_openssl) whose bytes are parsed by hiredis's
// redisReader -- the only part of hiredis we use. Debian 12's hiredis 0.14
// has no TLS, no timeouts and resolves names with a blocking getaddrinfo;
// its async context also aborted on replies nobody asked for. Here:
// - every reply object is charged to a budget as the reader builds it, and
//   a pending bulk header or unparsed input over the budget is refused
//   before it is buffered (ReplyReader, ReplyMeter); a reply's objects
//   live in one arena, released together (ReplyArena);
// - a top-level reply no command asked for is refused (only a subscribed
//   connection accepts pub/sub messages, ["message"|"subscribe", ch, x]);
// - commands are pipelined: written at once, replies matched in order;
// - a connect (TCP and TLS handshake) or a reply that takes longer than its
//   timeout fails the connection with that reason.
// A refused reply, a timeout, a TLS or socket error is fatal to the link.
//
// Callbacks: failed() is called at most once, after which the connection is
// dead and says nothing more. Destroy a RedisConn outside its own callbacks
// (call close() in a callback and destroy it later, e.g. from a timer).
#pragma once

#include <event2/bufferevent.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"
#include "engine/tls.h"

namespace rh {

// The budget of one reply (redishappyd(8), BUDGETS). Bytes are counted as
// hiredis's own reply functions would allocate them: a reply object
// (sizeof(redisReply)) per element, plus string lengths, plus a pointer per
// array slot. Measured with Redis
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

// Counts the objects of the reply being read against a budget.
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

// Where one reply's objects live: bump allocation in blocks, all released
// together once the reply has been handled. hiredis's own functions make
// two heap allocations per element (the object and its string); a
// SENTINEL MASTERS of 10,000 masters is 410,000 elements, and freeing them
// one by one after it was handled left the engine's heap tens of
// megabytes larger than its live data, for good (fragmentation). Blocks
// from kMappedBlock up are mapped on their own, so they go back to the
// kernel when the reply is done whatever malloc's thresholds are.
class ReplyArena {
  public:
    static constexpr size_t kFirstBlock = 1024;
    static constexpr size_t kKeptBlock = 4096;        // kept between replies
    static constexpr size_t kMappedBlock = 256 << 10; // and larger: mmap
    static constexpr size_t kMaxBlock = 8u << 20;

    ReplyArena() = default;
    ~ReplyArena() { release(0); }
    ReplyArena(const ReplyArena&) = delete;
    ReplyArena& operator=(const ReplyArena&) = delete;

    // n bytes (not zeroed) aligned for a redisReply; null when out of memory.
    void* allocate(size_t n);
    // Frees every object; a small first block stays for the next reply.
    void reset();
    size_t blocks() const { return blocks_.size(); }

  private:
    struct Block {
        char* data;
        size_t size;
    };
    void release(size_t keep); // frees blocks_[keep..]
    static void free_block(Block b);

    std::vector<Block> blocks_;
    size_t used_ = 0; // of blocks_.back()
};

// hiredis's reader with the engine's reply functions: each object is
// charged to the meter before it is built (a null object makes the reader
// fail, and the meter says why), and lives in the arena. A reply returned
// by get() is valid until the next get() or the reader's destruction. The
// fuzz target and the unit tests read through this class too.
class ReplyReader {
  public:
    explicit ReplyReader(ReplyBudget budget = {});
    ReplyReader(const ReplyReader&) = delete;
    ReplyReader& operator=(const ReplyReader&) = delete;

    // False when the reader could not be created (out of memory).
    bool ok() const { return reader_ != nullptr; }
    // Appends input; false when out of memory.
    bool feed(const char* data, size_t n);
    // The next whole reply in *out, or null when none is complete yet:
    // REDIS_OK; REDIS_ERR when the input was refused or is not RESP
    // (error() says why; the reader is then dead).
    int get(redisReply** out);
    // After feeding: false (and the meter's refusal set) when the reply
    // being read has announced or buffered more than its budget allows.
    bool check_pending() { return meter_.check_pending(reader_.get()); }
    std::string error() const;

    ReplyMeter& meter() { return meter_; }
    ReplyArena& arena() { return arena_; }
    size_t buffered() const { return reader_ ? reader_->len : 0; } // unparsed input kept

    // For the reply functions only.
    static ReplyReader* of(const redisReadTask* t) {
        return static_cast<ReplyReader*>(t->privdata);
    }

  private:
    struct ReaderFree {
        void operator()(redisReader* r) const { redisReaderFree(r); }
    };
    ReplyMeter meter_;
    ReplyArena arena_;
    std::unique_ptr<redisReader, ReaderFree> reader_; // last: its reply is in arena_
};

// How to reach a server. Zero timeouts mean none.
struct RedisConnOptions {
    // From connect() until the connection is usable (TCP connected and, with
    // TLS, the handshake and certificate verification done).
    std::chrono::milliseconds connect_timeout{0};
    // From the oldest outstanding command, or the last reply while more are
    // owed, to its reply. A subscribed connection waits for pushes forever.
    std::chrono::milliseconds reply_timeout{0};
    // TLS when set (not owned; outlives the connection). Verification mode
    // and trust anchors are the context's; the name is checked per link.
    const TlsContext* tls = nullptr;
    // The name the certificate must carry (and, unless an IP literal, sent
    // as SNI); empty: the host of the address connected to.
    std::string server_name;
    // TCP keepalive probes and TCP_USER_TIMEOUT, for a connection that
    // stays open (a Sentinel link). A ROLE check's lasts one command under
    // its own timeout: five system calls fewer per check.
    bool keepalive = true;
    // Closed with a reset (SO_LINGER 0) rather than FIN: a one-shot
    // connection (a ROLE check) then leaves no TIME_WAIT socket behind; a
    // storm at 10,000 clusters left 10,000, holding ephemeral ports for a
    // minute, and the FIN exchange cost kernel time on each check. As
    // HAProxy's health checks close.
    bool reset_on_close = false;
};

class RedisConn {
  public:
    // Never called with null: when the connection dies, failed() says why
    // and the replies still owed are dropped.
    using ReplyFn = std::function<void(redisReply* reply)>;
    struct Callbacks {
        std::function<void()> connected;
        std::function<void(const std::string& err)> failed;
        std::function<void(redisReply* reply)> push; // pub/sub messages
    };

    RedisConn(event_base* base, HostPort addr, Callbacks cb, RedisConnOptions opts = {});
    ~RedisConn();
    RedisConn(const RedisConn&) = delete;
    RedisConn& operator=(const RedisConn&) = delete;

    // Starts a non-blocking connect. False (with err) if it failed at once,
    // or if the address is a host name: nothing here resolves names (a
    // blocking getaddrinfo would stop the loop); resolve first.
    bool connect(std::string* err);
    // Queues a command; fn gets the reply. False if the connection is dead.
    bool command(const std::vector<std::string>& argv, ReplyFn fn);
    // SUBSCRIBE; confirmations and messages go to Callbacks::push.
    bool subscribe(const std::vector<std::string>& channels);
    // Silences every callback; the socket is freed by the destructor.
    void close();
    // Replaces the default budget of each reply; call before connect().
    void set_reply_budget(const ReplyBudget& b) { reader_.meter().budget = b; }

    bool connected() const { return connected_; }
    size_t pending() const { return replies_.size(); }
    const HostPort& addr() const { return addr_; }

    // For the reply reader only: admit_reply() says whether a top-level reply
    // is expected now; refusals are recorded in the meter.
    bool admit_reply(int type, int elements);
    bool admit_element(int idx, int type, std::string_view str);

  private:
    struct BevFree {
        void operator()(bufferevent* b) const { bufferevent_free(b); }
    };
    static void on_read(bufferevent* bev, void* arg);
    static void on_bev_event(bufferevent* bev, short what, void* arg);

    bool open_socket(std::string* err);
    void read_replies();
    void dispatch(redisReply* reply);
    void on_connected();
    void arm_reply_timer();
    std::string event_error(short what);
    void fail(const std::string& err);
    bool send(const std::vector<std::string>& argv);

    event_base* base_;
    HostPort addr_;
    Callbacks cb_;
    RedisConnOptions opts_;
    std::unique_ptr<bufferevent, BevFree> bev_;
    SSL* ssl_ = nullptr; // owned by bev_ once it exists
    std::deque<ReplyFn> replies_;
    bool connected_ = false;
    bool closed_ = false;
    bool subscribed_ = false;
    bool push_ = false; // the reply being read can only be a pub/sub push
    bool sync_ = false; // inside connect(): errors are returned, not called back
    std::string sync_err_;
    ReplyReader reader_;
    Timer connect_timer_, reply_timer_;
};

// Whether a reply on a subscribed connection is a pub/sub message
// (["message", channel, payload] or ["subscribe", channel, count]) rather
// than the reply to a command (a subscribed RESP2 PING answers ["pong", ""]).
bool is_push(const redisReply* r);

} // namespace rh
