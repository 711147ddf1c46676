// Unit tests for src/common/channel.cc: proto frames over a real socketpair
// on a libevent loop, no process started. One end is a Channel; the other is
// either a Channel too or the raw descriptor, to write frames byte by byte.
// C++ headers first: cmocka defines a fail() macro that clashes with <ios>.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/channel.h"
#include "common/evutil.h"
#include "common/proto.h"

#include "../../cmocka.h"

using namespace rh;

namespace {

// What one Channel delivered.
struct Inbox {
    std::vector<proto::Message> messages;
    int errors = 0;
    std::string why;
    bool eof = false;

    Channel::OnMessage on_message() {
        return [this](proto::Message&& m) { messages.push_back(std::move(m)); };
    }
    Channel::OnError on_error() {
        return [this](const std::string& w, bool e) {
            errors++;
            why = w;
            eof = e;
        };
    }
};

struct Pair {
    EventBasePtr base{event_base_new()};
    int fd[2] = {-1, -1};

    Pair() { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
    ~Pair() {
        for (int f : fd)
            if (f >= 0)
                close(f);
    }
    // Hands fd[i] to a Channel, which then owns it.
    int take(int i) {
        int f = fd[i];
        fd[i] = -1;
        return f;
    }
    void write_raw(const uint8_t* p, size_t n) {
        assert_int_equal(write(fd[0], p, n), static_cast<ssize_t>(n));
    }
    void write_raw(const std::vector<uint8_t>& v) { write_raw(v.data(), v.size()); }

    // Runs the loop until done() or a 5 s deadline; false on the deadline.
    bool run_until(const std::function<bool()>& done) {
        bool expired = false;
        Timer deadline(base.get(), [&] { expired = true; });
        deadline.arm(std::chrono::seconds(5));
        while (!done() && !expired)
            event_base_loop(base.get(), EVLOOP_ONCE);
        return done();
    }
};

std::vector<uint8_t> frame(const proto::Message& m, uint32_t seq) {
    std::string err;
    auto f = proto::encode(m, seq, &err);
    assert_true(f.has_value());
    return *f;
}

void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

const proto::Master kMaster{"mymaster", HostPort{"10.0.0.2", 6379}, 7, false, "10.0.0.2"};

// Writes `bad` to a fresh Channel and expects one protocol error (not eof)
// whose text contains `needle`, and nothing delivered.
void expect_protocol_error(const std::vector<uint8_t>& bad, const char* needle) {
    Pair p;
    Inbox in;
    Channel ch(p.base.get(), p.take(1), in.on_message(), in.on_error());
    p.write_raw(frame(proto::Ready{1}, 1)); // a good frame first: delivered
    p.write_raw(bad);
    assert_true(p.run_until([&] { return in.errors > 0; }));
    assert_int_equal(in.errors, 1);
    assert_false(in.eof);
    assert_non_null(strstr(in.why.c_str(), needle));
    assert_int_equal(in.messages.size(), 1);
    assert_false(ch.open());
    assert_false(ch.send(proto::Ready{2}));
}

} // namespace

static void messages_round_trip_in_order(void**) {
    Pair p;
    Inbox a, b;
    Channel ca(p.base.get(), p.take(0), a.on_message(), a.on_error());
    Channel cb(p.base.get(), p.take(1), b.on_message(), b.on_error());
    proto::ApplyResult applied{"mymaster", proto::ApplyState::Applied, kMaster.master, 7, 1700, ""};
    assert_true(ca.send(proto::Ready{42}));
    assert_true(ca.send(kMaster));
    assert_true(ca.send(applied));
    assert_true(cb.send(proto::Shutdown{}));
    assert_true(p.run_until([&] { return b.messages.size() == 3 && a.messages.size() == 1; }));
    assert_true(b.messages[0] == proto::Message(proto::Ready{42}));
    assert_true(b.messages[1] == proto::Message(kMaster));
    assert_true(b.messages[2] == proto::Message(applied));
    assert_true(std::holds_alternative<proto::Shutdown>(a.messages[0]));
    assert_int_equal(a.errors + b.errors, 0);
    assert_int_equal(ca.pending_output(), 0);
}

static void split_frames_are_reassembled(void**) {
    Pair p;
    Inbox in;
    Channel ch(p.base.get(), p.take(1), in.on_message(), in.on_error());
    std::vector<uint8_t> bytes = frame(kMaster, 1);
    auto second = frame(proto::Ready{9}, 2);
    bytes.insert(bytes.end(), second.begin(), second.end());
    // cut inside the first header, inside the first payload, and inside the
    // second header; each piece is read on its own before the next is sent
    size_t cuts[] = {5, proto::kHeaderSize + 3, frame(kMaster, 1).size() + 4, bytes.size()};
    size_t from = 0;
    for (size_t cut : cuts) {
        p.write_raw(bytes.data() + from, cut - from);
        from = cut;
        if (cut == bytes.size())
            break;
        event_base_loop(p.base.get(), EVLOOP_ONCE); // reads what is there
        assert_int_equal(in.messages.size(), cut < frame(kMaster, 1).size() ? 0 : 1);
    }
    assert_true(p.run_until([&] { return in.messages.size() == 2; }));
    assert_true(in.messages[0] == proto::Message(kMaster));
    assert_true(in.messages[1] == proto::Message(proto::Ready{9}));
    assert_int_equal(in.errors, 0);
}

static void bad_version_is_a_protocol_error(void**) {
    auto bad = frame(proto::Ready{1}, 2);
    bad[2] = 0x7f; // version
    expect_protocol_error(bad, "protocol version");
}

static void oversized_frame_is_a_protocol_error(void**) {
    auto bad = frame(kMaster, 2);
    put32(bad.data() + 4, static_cast<uint32_t>(proto::kMaxPayload + 1)); // length
    expect_protocol_error(bad, "exceeds the cap");
}

static void leftover_payload_is_a_protocol_error(void**) {
    auto bad = frame(proto::Ready{1}, 2);
    bad.push_back(0); // one byte more than a Ready carries, counted in the length
    put32(bad.data() + 4, static_cast<uint32_t>(bad.size() - proto::kHeaderSize));
    expect_protocol_error(bad, "1 bytes left over");
}

static void sequence_gap_is_a_protocol_error(void**) {
    expect_protocol_error(frame(kMaster, 3), "sequence number 3, expected 2");
}

static void peer_close_is_eof(void**) {
    Pair p;
    Inbox a, b;
    auto ca = std::make_unique<Channel>(p.base.get(), p.take(0), a.on_message(), a.on_error());
    Channel cb(p.base.get(), p.take(1), b.on_message(), b.on_error());
    assert_true(ca->send(proto::Ready{1}));
    ca.reset(); // the peer exits: what it queued may be lost, but no error
    assert_true(p.run_until([&] { return b.errors > 0; }));
    assert_int_equal(b.errors, 1);
    assert_true(b.eof);
    assert_false(cb.open());
    assert_int_equal(a.errors, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_round_trip_in_order),
        cmocka_unit_test(split_frames_are_reassembled),
        cmocka_unit_test(bad_version_is_a_protocol_error),
        cmocka_unit_test(oversized_frame_is_a_protocol_error),
        cmocka_unit_test(leftover_payload_is_a_protocol_error),
        cmocka_unit_test(sequence_gap_is_a_protocol_error),
        cmocka_unit_test(peer_close_is_eof),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
