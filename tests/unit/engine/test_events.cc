// Unit tests for the event log (src/engine/events.cc): fixed capacity,
// eviction of the oldest, folding of repeats, and that a flood of refusals
// never evicts a decision.
#include <string>

#include "engine/events.h"

// Last: cmocka defines a fail() macro that clashes with <ios>.
#include "../../cmocka.h"

using namespace rh;

namespace {

const HostPort A{"10.0.0.1", 6379};
const HostPort B{"10.0.0.2", 6379};

EventDetail from(const std::string& sentinel, bool trusted, const HostPort& m, uint64_t epoch) {
    return EventDetail{m, epoch, sentinel, trusted, ""};
}

void confirm(EventLog& log, int64_t ms, const std::string& cluster, uint64_t epoch) {
    log.record(ms, cluster, EventKind::confirmed, EventReason::switch_master,
               from("127.0.0.1:26379, 127.0.0.1:26380", true, B, epoch));
}

} // namespace

static void newest_last_and_filtered(void**) {
    EventLog log;
    confirm(log, 1000, "a", 1);
    log.record(2000, "b", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, A, 2));
    log.record(3000, "a", EventKind::applied, EventReason::runtime, {B, 1, "", false, ""});
    auto all = log.last();
    assert_int_equal(all.size(), 3);
    assert_int_equal(all[0].kind, EventKind::confirmed);
    assert_int_equal(all[1].kind, EventKind::refused); // the two rings interleave by time
    assert_int_equal(all[2].kind, EventKind::applied);
    assert_int_equal(all[2].last_ms, 3000);
    auto a = log.last(0, "a");
    assert_int_equal(a.size(), 2);
    assert_string_equal(a[1].cluster.c_str(), "a");
    auto newest = log.last(1);
    assert_int_equal(newest.size(), 1);
    assert_int_equal(newest[0].reason, EventReason::runtime);
    assert_int_equal(log.last(1, "b")[0].reason, EventReason::min_agreement);
    assert_int_equal(log.last(0, "nope").size(), 0);
}

static void capacity_is_fixed_and_oldest_evicted(void**) {
    EventLog log;
    // Confirmations never fold: each takes a slot of the decision ring.
    for (uint64_t i = 1; i <= kEventDecisions + 10; i++)
        confirm(log, static_cast<int64_t>(i), "a", i);
    auto all = log.last();
    assert_int_equal(all.size(), kEventDecisions);
    assert_int_equal(log.size(), kEventDecisions);
    assert_int_equal(log.evicted(), 10);
    assert_int_equal(all.front().detail.epoch, 11); // 1..10 are gone
    assert_int_equal(all.back().detail.epoch, kEventDecisions + 10);
    // Distinct trusted refusals fill the other ring to its own capacity.
    for (uint64_t i = 0; i < kEventObservations + 5; i++)
        log.record(1000, "c" + std::to_string(i), EventKind::refused, EventReason::min_agreement,
                   from("127.0.0.1:26379", true, A, i));
    assert_int_equal(log.size(), kEventCapacity);
    assert_int_equal(log.evicted(), 15);
    // c5 is now the oldest refusal held. Refreshed by a fold, it outlives
    // c6, the oldest after it, when the next new entry needs a slot.
    log.record(2000, "c5", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, A, 5));
    log.record(2001, "new", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, A, 1));
    assert_int_equal(log.evicted(), 16);
    assert_true(log.holds("c5", EventKind::refused, EventReason::min_agreement));
    assert_false(log.holds("c6", EventKind::refused, EventReason::min_agreement));
    assert_true(log.holds("c7", EventKind::refused, EventReason::min_agreement));
    all = log.last();
    assert_string_equal(all.back().cluster.c_str(), "new");
    assert_string_equal(all[all.size() - 2].cluster.c_str(), "c5");
}

static void repeats_fold_into_one_entry(void**) {
    EventLog log;
    for (int i = 0; i < 50; i++)
        log.record(1000 + i, "a", EventKind::refused, EventReason::min_agreement,
                   from("127.0.0.1:26379", true, A, 7 + static_cast<uint64_t>(i)));
    auto all = log.last();
    assert_int_equal(all.size(), 1);
    assert_int_equal(all[0].count, 50);
    assert_int_equal(all[0].first_ms, 1000);
    assert_int_equal(all[0].last_ms, 1049);
    assert_int_equal(all[0].detail.epoch, 56); // the newest detail
    assert_int_equal(log.folded(), 49);
    // Another trusted Sentinel, another cluster, another reason: own entries.
    log.record(2000, "a", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26380", true, A, 7));
    log.record(2001, "b", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, A, 7));
    log.record(2002, "a", EventKind::refused, EventReason::stale_epoch,
               from("127.0.0.1:26379", true, A, 7));
    assert_int_equal(log.size(), 4);
    // A fold moves the entry to the newest place.
    log.record(3000, "a", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, B, 9));
    all = log.last();
    assert_int_equal(all.back().count, 51);
    assert_true(all.back().detail.master == B);
    assert_int_equal(all.back().first_ms, 1000);
}

// Retries of one master's apply fold whatever their error text (a timeout
// names its duration), so a long outage cannot push the last confirmation
// out; another master or epoch is another entry.
static void apply_results_fold_per_master_and_epoch(void**) {
    EventLog log;
    log.record(0, "a", EventKind::confirmed, EventReason::switch_master, {A, 3, "", true, ""});
    for (int i = 1; i <= 1000; i++)
        log.record(
            i, "a", EventKind::apply_error, EventReason::apply_failed,
            {A, 3, "", false, "reload_command timed out after " + std::to_string(i) + " ms"});
    log.record(1001, "a", EventKind::applied, EventReason::reload, {A, 3, "", false, ""});
    log.record(1002, "a", EventKind::applied, EventReason::reload, {B, 4, "", false, ""});
    log.record(1003, "a", EventKind::apply_error, EventReason::apply_failed,
               {A, 4, "", false, "check_command exited 1"});
    auto all = log.last();
    assert_int_equal(all.size(), 5);
    assert_int_equal(static_cast<int>(all[0].kind), static_cast<int>(EventKind::confirmed));
    assert_int_equal(all[1].count, 1000);
    assert_string_equal(all[1].detail.text.c_str(), "reload_command timed out after 1000 ms");
    assert_int_equal(all[4].count, 1);
}

// A flood of forged reports from untrusted Sentinels (each a new address,
// master and epoch) folds into one entry per (cluster, kind, reason) and
// cannot evict a decision, nor a trusted Sentinel's refusal.
static void untrusted_flood_cannot_evict(void**) {
    EventLog log;
    confirm(log, 1, "a", 5);
    log.record(2, "a", EventKind::applied, EventReason::runtime, {B, 5, "", false, ""});
    log.record(3, "a", EventKind::refused, EventReason::min_agreement,
               from("127.0.0.1:26379", true, A, 6));
    for (int i = 0; i < 100000; i++) {
        std::string forged = "10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250) +
                             ":" + std::to_string(20000 + i % 1000);
        HostPort fake{"10.8.0." + std::to_string(i % 200), 6379};
        log.record(10 + i, "a", EventKind::candidate, EventReason::untrusted,
                   from(forged, false, fake, 1000 + static_cast<uint64_t>(i)));
        log.record(10 + i, "a", EventKind::refused, EventReason::untrusted_source,
                   from(forged, false, fake, 1000 + static_cast<uint64_t>(i)));
    }
    auto all = log.last();
    assert_int_equal(all.size(), 5);
    assert_int_equal(log.evicted(), 0);
    assert_int_equal(all[0].kind, EventKind::confirmed);
    assert_int_equal(all[1].kind, EventKind::applied);
    assert_int_equal(all[2].reason, EventReason::min_agreement);
    assert_int_equal(all[3].count, 100000);
    assert_int_equal(all[4].count, 100000);
    assert_string_equal(all[4].detail.sentinel.c_str(), "10.9.399.249:20999"); // the newest
}

static void strings_are_bounded_and_printable(void**) {
    EventLog log;
    std::string evil(5000, 'x');
    evil[3] = '\n';
    evil[4] = '\x1b';
    evil[5] = static_cast<char>(0xc3);
    log.record(1, "a\"b", EventKind::apply_error, EventReason::apply_failed,
               {HostPort{"h\x01", 1}, 1, evil, false, evil});
    auto e = log.last()[0];
    assert_true(e.detail.text.size() <= kEventTextMax);
    assert_true(e.detail.sentinel.size() <= kEventTextMax);
    assert_string_equal(e.detail.text.substr(0, 18).c_str(), "xxx\\x0a\\x1b\\xc3xxx");
    for (unsigned char ch : e.detail.text)
        assert_true(ch >= 0x20 && ch < 0x7f);
    assert_string_equal(e.detail.master->host.c_str(), "h\\x01");
    assert_string_equal(e.cluster.c_str(), "a\"b"); // JSON escaping is the renderer's
    assert_string_equal(event_text(std::string(kEventTextMax - 2, 'y') + "\n").c_str(),
                        std::string(kEventTextMax - 2, 'y').c_str()); // no half escape
}

static void names_are_stable(void**) {
    assert_string_equal(event_kind_name(EventKind::apply_error), "apply-error");
    assert_string_equal(event_reason_name(EventReason::min_agreement), "min-agreement");
    assert_string_equal(event_reason_name(EventReason::untrusted_source), "untrusted-source");
    assert_string_equal(event_reason_name(EventReason::role_failed), "role-failed");
    assert_string_equal(event_reason_name(EventReason::seed_not_corroborated),
                        "seed-not-corroborated");
    assert_string_equal(event_reason_name(EventReason::runtime), "runtime");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(newest_last_and_filtered),
        cmocka_unit_test(capacity_is_fixed_and_oldest_evicted),
        cmocka_unit_test(repeats_fold_into_one_entry),
        cmocka_unit_test(apply_results_fold_per_master_and_epoch),
        cmocka_unit_test(untrusted_flood_cannot_evict),
        cmocka_unit_test(strings_are_bounded_and_printable),
        cmocka_unit_test(names_are_stable),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
