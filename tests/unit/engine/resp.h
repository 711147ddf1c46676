// Hand-written RESP for the engine's unit tests, decoded by hiredis's own
// reader. Include after cmocka.h (decode asserts with it).
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rh::test {

struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// The one reply `resp` holds; fails the test if it holds none.
inline ReplyPtr decode(const std::string& resp) {
    redisReader* rd = redisReaderCreate();
    redisReaderFeed(rd, resp.data(), resp.size());
    void* out = nullptr;
    int rc = redisReaderGetReply(rd, &out);
    redisReaderFree(rd);
    assert_int_equal(rc, REDIS_OK);
    assert_non_null(out);
    return ReplyPtr(static_cast<redisReply*>(out));
}

inline std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

using KV = std::vector<std::pair<std::string, std::string>>;

// A flat array of keys and values, as SENTINEL MASTER and REPLICAS answer.
inline std::string kv_array(const KV& kv) {
    std::string s = "*" + std::to_string(kv.size() * 2) + "\r\n";
    for (auto& [k, v] : kv)
        s += bulk(k) + bulk(v);
    return s;
}

} // namespace rh::test
