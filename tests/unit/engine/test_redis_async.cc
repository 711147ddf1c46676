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

// The engine's reader (reply functions, meter, arena) with a helper that
// feeds it and reads one reply.
struct Reader {
    ReplyReader reader;
    ReplyMeter& meter = reader.meter();

    explicit Reader(ReplyBudget b = {}) : reader(b) {}
    // Feeds resp; REDIS_OK with a reply, REDIS_OK without one (incomplete,
    // and within budget) or REDIS_ERR (refused).
    int feed(const std::string& resp, bool* got = nullptr, redisReply** out = nullptr) {
        reader.feed(resp.data(), resp.size());
        redisReply* r = nullptr;
        int rc = reader.get(&r);
        if (got)
            *got = r != nullptr;
        if (out)
            *out = r;
        if (rc == REDIS_OK && !reader.check_pending())
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
    assert_true(rd.reader.buffered() < 64);
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

// Replies read from one feed come out one by one, each whole and laid out
// as hiredis lays it out; each stays valid until the next get().
static void pipelined_replies_are_read_whole_one_by_one(void**) {
    ReplyReader rd;
    std::string in = "*3\r\n$6\r\nmaster\r\n:42\r\n*0\r\n+OK\r\n-ERR no\r\n$-1\r\n";
    assert_true(rd.feed(in.data(), in.size()));
    redisReply* r = nullptr;
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    assert_string_equal(r->element[0]->str, "master");
    assert_int_equal(r->element[0]->len, 6);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[1]->integer, 42);
    assert_int_equal(r->element[2]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[2]->elements, 0);
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, "OK");
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_string_equal(r->str, "ERR no");
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_null(r);
}

// A reply that arrives in pieces keeps what was built from the first
// pieces: the arena is reset only between replies.
static void a_reply_in_pieces_keeps_its_first_part(void**) {
    ReplyReader rd;
    std::string resp = sentinel_masters(300);
    redisReply* r = nullptr;
    for (size_t at = 0; at < resp.size(); at += 997) {
        std::string piece = resp.substr(at, 997);
        assert_true(rd.feed(piece.data(), piece.size()));
        assert_int_equal(rd.get(&r), REDIS_OK);
        if (at + 997 < resp.size())
            assert_null(r);
    }
    assert_non_null(r);
    assert_int_equal(r->elements, 300);
    for (size_t i = 0; i < 300; i++) {
        const redisReply* m = r->element[i];
        assert_int_equal(m->elements, 40);
        assert_string_equal(m->element[0]->str, "name");
        assert_string_equal(m->element[1]->str, ("cluster-" + std::to_string(i)).c_str());
    }
}

// SENTINEL MASTERS of 10,000 masters takes mapped blocks; once the next
// reply is asked for they are gone, and a small reply needs one block.
static void a_large_reply_gives_its_blocks_back(void**) {
    std::string resp = sentinel_masters(10000) + "+OK\r\n";
    ReplyReader rd(ReplyBudget::for_clusters(10000));
    assert_true(rd.feed(resp.data(), resp.size()));
    redisReply* r = nullptr;
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_int_equal(r->elements, 10000);
    assert_string_equal(r->element[9999]->element[1]->str, "cluster-9999");
    assert_true(rd.arena().blocks() > 3);
    assert_int_equal(rd.get(&r), REDIS_OK);
    assert_string_equal(r->str, "OK");
    assert_int_equal(rd.arena().blocks(), 1);
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
        cmocka_unit_test(pipelined_replies_are_read_whole_one_by_one),
        cmocka_unit_test(a_reply_in_pieces_keeps_its_first_part),
        cmocka_unit_test(a_large_reply_gives_its_blocks_back),
        cmocka_unit_test(a_host_name_is_never_connected_to),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
