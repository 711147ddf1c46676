// Unit tests for the reply budget (src/engine/redis_async.cc): a reply bomb
// (a huge bulk header, an array of a million elements, deep nesting) is
// refused while hiredis reads it, before anything of its size is allocated;
// SENTINEL MASTERS of 10,000 masters fits the budget of a link configured
// for 10,000 clusters.
#include <hiredis/hiredis.h>
#include <sys/resource.h>

#include <cstring>
#include <memory>
#include <string>

#include "engine/redis_async.h"

// cmocka last: its fail() macro clashes with std::ios::fail.
#include "../../cmocka.h"

using namespace rh;

namespace {

struct ReaderFree {
    void operator()(redisReader* r) const { redisReaderFree(r); }
};

// A hiredis reader with the engine's reply functions and a meter.
struct Reader {
    ReplyMeter meter;
    std::unique_ptr<redisReader, ReaderFree> r{
        redisReaderCreateWithFunctions(capped_reply_functions())};

    explicit Reader(ReplyBudget b = {}) {
        meter.budget = b;
        r->privdata = &meter;
    }
    // Feeds resp; REDIS_OK with a reply, REDIS_OK without one (incomplete,
    // and within budget) or REDIS_ERR (refused).
    int feed(const std::string& resp, bool* got = nullptr) {
        redisReaderFeed(r.get(), resp.data(), resp.size());
        void* out = nullptr;
        int rc = redisReaderGetReply(r.get(), &out);
        if (got)
            *got = out != nullptr;
        if (out)
            freeReplyObject(out);
        if (rc == REDIS_OK && !meter.check_pending(r.get()))
            return REDIS_ERR;
        return rc;
    }
};

long peak_rss_kb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// SENTINEL MASTERS as Redis 7.0 sends it: 20 fields per master.
std::string sentinel_masters(int n) {
    static const char* keys[] = {"name",
                                 "ip",
                                 "port",
                                 "runid",
                                 "flags",
                                 "link-pending-commands",
                                 "link-refcount",
                                 "last-ping-sent",
                                 "last-ok-ping-reply",
                                 "last-ping-reply",
                                 "down-after-milliseconds",
                                 "info-refresh",
                                 "role-reported",
                                 "role-reported-time",
                                 "config-epoch",
                                 "num-slaves",
                                 "num-other-sentinels",
                                 "quorum",
                                 "failover-timeout",
                                 "parallel-syncs"};
    std::string out = "*" + std::to_string(n) + "\r\n";
    for (int i = 0; i < n; i++) {
        out += "*40\r\n";
        for (const char* k : keys) {
            out += bulk(k);
            out += bulk(std::string(k) == "runid" ? std::string(40, 'f')
                                                  : "cluster-" + std::to_string(i));
        }
    }
    return out;
}

} // namespace

static void huge_bulk_header_is_refused_at_once(void**) {
    Reader rd;
    long before = peak_rss_kb();
    assert_int_equal(rd.feed("$50000000\r\nxxxxxxxx"), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "bulk string of 50000000 bytes"));
    assert_true(rd.r->len < 64);
    assert_true(peak_rss_kb() - before < 4096);
}

static void bulk_inside_an_array_counts_what_came_before(void**) {
    ReplyBudget b;
    b.bytes = 1000;
    Reader rd(b);
    assert_int_equal(rd.feed("*2\r\n" + bulk(std::string(600, 'a')) + "$600\r\n"), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "bulk string of 600"));
}

static void unparsed_bytes_beyond_the_budget_are_refused(void**) {
    ReplyBudget b;
    b.bytes = 1000;
    Reader rd(b);
    assert_int_equal(rd.feed("+" + std::string(2000, 'a')), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "larger than 1000 bytes"));
}

static void million_element_array_is_refused_before_allocation(void**) {
    Reader rd;
    long before = peak_rss_kb();
    std::string resp = "*1048576\r\n";
    for (int i = 0; i < 1000; i++)
        resp += ":1\r\n";
    assert_int_equal(rd.feed(resp), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "more than 131072 elements"));
    // hiredis would have allocated 8 MB of slots at once, then 48 B per integer.
    assert_true(peak_rss_kb() - before < 4096);
}

static void elements_are_counted_across_nested_arrays(void**) {
    Reader rd;
    std::string resp = "*200\r\n";
    for (int i = 0; i < 200; i++) {
        resp += "*1000\r\n";
        for (int j = 0; j < 1000; j++)
            resp += ":1\r\n";
    }
    assert_int_equal(rd.feed(resp), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "elements"));
}

static void deep_nesting_is_refused(void**) {
    Reader rd;
    assert_int_equal(rd.feed("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"), REDIS_ERR);
    assert_non_null(strstr(rd.meter.refused.c_str(), "nested deeper than 4"));
    // ROLE of a master with replicas nests 3 deep: accepted.
    Reader ok;
    bool got = false;
    assert_int_equal(ok.feed("*3\r\n$6\r\nmaster\r\n:10\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n"
                             "$4\r\n6380\r\n$2\r\n10\r\n",
                             &got),
                     REDIS_OK);
    assert_true(got);
}

// The meter starts afresh with every reply.
static void budget_is_per_reply(void**) {
    ReplyBudget b;
    b.elements = 10;
    Reader rd(b);
    std::string five = "*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n";
    for (int i = 0; i < 10; i++) {
        bool got = false;
        assert_int_equal(rd.feed(five, &got), REDIS_OK);
        assert_true(got);
    }
}

// 10,000 masters: 410,000 elements and ~27 MB counted. The base budget
// refuses it; a link configured for 10,000 clusters reads it.
static void sentinel_masters_of_ten_thousand_fit_their_budget(void**) {
    std::string resp = sentinel_masters(10000);
    Reader base;
    assert_int_equal(base.feed(resp), REDIS_ERR);
    Reader sized(ReplyBudget::for_clusters(10000));
    bool got = false;
    assert_int_equal(sized.feed(resp, &got), REDIS_OK);
    assert_true(got);
    assert_int_equal(sized.meter.elements, 410001);
    assert_true(sized.meter.bytes < sized.meter.budget.bytes);
    // 2,500 masters fit the base budget.
    Reader small;
    got = false;
    assert_int_equal(small.feed(sentinel_masters(2500), &got), REDIS_OK);
    assert_true(got);
}

// The event connection reads pub/sub messages: a hello with the longest
// names fits, a message of 100 KB or one nested array is refused.
static void event_budget_admits_messages_and_nothing_more(void**) {
    std::string hello = "127.0.0.1,26379," + std::string(40, 'f') + ",7," + std::string(200, 'c') +
                        ",127.0.0.1,6379,7";
    std::string msg = "*3\r\n" + bulk("message") + bulk("__sentinel__:hello") + bulk(hello);
    Reader ok(ReplyBudget::for_events());
    bool got = false;
    assert_int_equal(ok.feed(msg, &got), REDIS_OK);
    assert_true(got);
    Reader big(ReplyBudget::for_events());
    assert_int_equal(
        big.feed("*3\r\n" + bulk("message") + bulk("x") + bulk(std::string(100 << 10, 'a'))),
        REDIS_ERR);
    Reader nested(ReplyBudget::for_events());
    assert_int_equal(nested.feed("*1\r\n*1\r\n:1\r\n"), REDIS_ERR);
}

// A host name is refused before any socket exists: resolving it here
// would be a blocking getaddrinfo() on the engine's loop.
static void a_host_name_is_never_connected_to(void**) {
    rh::EventBasePtr base(event_base_new());
    bool called = false;
    rh::RedisConn::Callbacks cb;
    cb.failed = [&](const std::string&) { called = true; };
    rh::RedisConn conn(base.get(), rh::HostPort{"localhost", 6379}, cb);
    std::string err;
    assert_false(conn.connect(&err));
    assert_non_null(strstr(err.c_str(), "not an IP address: localhost"));
    event_base_loop(base.get(), EVLOOP_NONBLOCK);
    assert_false(called);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(huge_bulk_header_is_refused_at_once),
        cmocka_unit_test(bulk_inside_an_array_counts_what_came_before),
        cmocka_unit_test(unparsed_bytes_beyond_the_budget_are_refused),
        cmocka_unit_test(million_element_array_is_refused_before_allocation),
        cmocka_unit_test(elements_are_counted_across_nested_arrays),
        cmocka_unit_test(deep_nesting_is_refused),
        cmocka_unit_test(budget_is_per_reply),
        cmocka_unit_test(sentinel_masters_of_ten_thousand_fit_their_budget),
        cmocka_unit_test(event_budget_admits_messages_and_nothing_more),
        cmocka_unit_test(a_host_name_is_never_connected_to),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
