// Unit tests for the master decision rules (src/engine/topology.cc).
// C++ headers first: cmocka defines a fail() macro that clashes with <ios>.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/topology.h"

#include "../../cmocka.h"

using namespace rh;

namespace {

const std::string C = "mymaster";
const std::string S1 = "127.0.0.1:26379";
const std::string S2 = "127.0.0.1:26380";
const std::string S3 = "127.0.0.1:26381";
const HostPort A{"10.0.0.1", 6379};
const HostPort B{"10.0.0.2", 6379};
const HostPort EVIL{"10.0.0.9", 6379};
const TopologyTime T0{};

TopologyTime at(int s) {
    return T0 + std::chrono::seconds(s);
}

Topology make(unsigned min_agreement = 2, uint64_t jump = 1000) {
    Topology t(TopologyPolicy{min_agreement, jump});
    t.add_cluster(C);
    return t;
}

// Reports (addr, epoch) from the given trusted Sentinels, then confirms.
void establish(Topology& t, const HostPort& addr, uint64_t epoch) {
    t.report(C, S1, true, addr, epoch, at(1));
    t.report(C, S2, true, addr, epoch, at(1));
    t.report(C, S3, true, addr, epoch, at(1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(t.confirmed(C, addr, epoch, at(2)));
}

// A refusal of this kind whose line contains needle.
bool has_reason(const Verdict& v, RefusalKind kind, const std::string& needle) {
    return std::any_of(v.reasons.begin(), v.reasons.end(), [&](const Refusal& r) {
        return r.kind == kind && r.text.find(needle) != std::string::npos;
    });
}

} // namespace

static void first_report_confirms_then_settles(void**) {
    Topology t = make();
    assert_true(t.report(C, S1, true, A, 3, at(1)));
    assert_true(t.report(C, S2, true, A, 3, at(1)));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == A);
    assert_int_equal(v.epoch, 3);
    assert_int_equal(v.supporters.size(), 2);
    assert_string_equal(v.supporters[0].c_str(), S1.c_str());
    assert_string_equal(v.supporters[1].c_str(), S2.c_str());
    assert_false(t.state(C)->has_master);

    assert_true(t.confirmed(C, A, 3, at(2)));
    const ClusterState* st = t.state(C);
    assert_true(st->has_master);
    assert_true(st->master == A);
    assert_int_equal(st->epoch, 3);
    assert_int_equal(st->switches, 1);
    assert_true(st->confirmed_at == at(2));
    assert_int_equal(st->supporters.size(), 2);
    assert_false(t.is_stale(C));

    // same facts again: nothing to do
    t.report(C, S1, true, A, 3, at(5));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_int_equal(v.supporters.size(), 2);
    assert_true(v.reasons.empty());
    // confirming again is refused and changes nothing
    assert_false(t.confirmed(C, A, 3, at(6)));
    assert_int_equal(t.state(C)->switches, 1);
}

static void failover_and_old_master_never_returns(void**) {
    Topology t = make();
    establish(t, A, 5);
    t.report(C, S1, true, B, 6, at(10));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None); // one is not enough
    t.report(C, S2, true, B, 6, at(10));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B);
    assert_int_equal(v.epoch, 6);
    assert_int_equal(v.supporters.size(), 2);
    // the old master claiming "master" via ROLE is not a way in
    assert_false(t.confirmed(C, A, 5, at(11)));
    assert_false(t.confirmed(C, A, 6, at(11)));
    assert_true(t.confirmed(C, B, 6, at(11)));
    assert_true(t.state(C)->master == B);
    assert_int_equal(t.state(C)->switches, 2);
    assert_true(t.state(C)->last_switch == at(11));
    // S3 still says A at 5: now stale, listed as a reason, does not win
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(has_reason(v, RefusalKind::stale_epoch,
                           "sentinel 127.0.0.1:26381 reports 10.0.0.1:6379 at epoch 5; stale"));
    // old master reported again at its old epoch, by all three
    t.report(C, S1, true, A, 5, at(12));
    t.report(C, S2, true, A, 5, at(12));
    t.report(C, S3, true, A, 5, at(12));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    assert_false(t.confirmed(C, A, 5, at(13)));
    assert_true(t.state(C)->master == B);
}

static void one_cannot_two_can_untrusted_never(void**) {
    Topology t = make(2);
    t.report(C, S1, true, A, 1, at(1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(
        has_reason(v, RefusalKind::min_agreement,
                   "sentinel 127.0.0.1:26379 reports 10.0.0.1:6379 at epoch 1 alone; 1 of 2"));
    assert_false(t.confirmed(C, A, 1, at(2)));
    assert_false(t.state(C)->has_master);

    // ten untrusted Sentinels agreeing on EVIL count for nothing
    for (int i = 0; i < 10; i++)
        t.report(C, "127.0.0.2:" + std::to_string(30000 + i), false, EVIL, 1, at(1));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(has_reason(v, RefusalKind::untrusted,
                           "untrusted sentinel 127.0.0.2:30000 reports 10.0.0.9:6379"));
    assert_false(t.confirmed(C, EVIL, 1, at(2)));
    assert_int_equal(t.reports(C).size(), 11);
    assert_true(t.reports(C)[0].trusted); // S1 sorts first
    assert_false(t.reports(C)[1].trusted);

    t.report(C, S2, true, A, 1, at(1));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == A);
    assert_true(t.confirmed(C, A, 1, at(2)));

    // untrusted ones at a higher epoch still count for nothing
    for (int i = 0; i < 10; i++)
        t.report(C, "127.0.0.2:" + std::to_string(30000 + i), false, EVIL, 2, at(3));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    // trusting them changes that (trust_discovered = yes)
    t.set_trusted("127.0.0.2:30000", true);
    t.set_trusted("127.0.0.2:30001", true);
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == EVIL);
}

static void reasons_name_every_supporter(void**) {
    Topology t = make(3);
    t.report(C, S1, true, A, 2, at(1));
    t.report(C, S2, true, A, 2, at(1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_int_equal(v.reasons.size(), 1);
    assert_int_equal(v.reasons[0].kind, RefusalKind::min_agreement);
    assert_int_equal(v.reasons[0].sentinels.size(), 2);
    assert_true(v.reasons[0].master == A);
    assert_int_equal(v.reasons[0].epoch, 2);
    assert_string_equal(v.reasons[0].text.c_str(),
                        "sentinels 127.0.0.1:26379, 127.0.0.1:26380 report "
                        "10.0.0.1:6379 at epoch 2; 2 of 3 required");
    t.report(C, S3, true, A, 2, at(1));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_int_equal(v.supporters.size(), 3);
    assert_true(v.reasons.empty());
}

static void stale_minority_ignored(void**) {
    Topology t = make();
    establish(t, B, 8);
    t.report(C, S3, true, A, 7, at(5));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(has_reason(v, RefusalKind::stale_epoch,
                           "at epoch 7; stale, current is 10.0.0.2:6379 at epoch 8"));
    assert_false(t.confirmed(C, A, 7, at(6)));
}

static void equal_epoch_never_flips(void**) {
    for (int order = 0; order < 2; order++) {
        Topology t = make(1);
        const HostPort& first = order == 0 ? A : B;
        const HostPort& second = order == 0 ? B : A;
        t.report(C, S1, true, first, 4, at(1));
        assert_int_equal(t.verdict(C).kind, VerdictKind::Confirm);
        assert_true(t.confirmed(C, first, 4, at(1)));
        t.report(C, S2, true, second, 4, at(2));
        Verdict v = t.verdict(C);
        assert_int_equal(v.kind, VerdictKind::None);
        assert_true(has_reason(v, RefusalKind::equal_epoch, "equal to the epoch of"));
        assert_false(t.confirmed(C, second, 4, at(3)));
        assert_true(t.state(C)->master == first);
        // even when the second gathers more support
        t.report(C, S3, true, second, 4, at(2));
        assert_int_equal(t.verdict(C).kind, VerdictKind::None);
        assert_true(t.state(C)->master == first);
    }
}

static void conflicting_corroborated_groups_wait(void**) {
    Topology t = make(1);
    t.report(C, S1, true, A, 4, at(1));
    t.report(C, S2, true, B, 4, at(1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(
        has_reason(v, RefusalKind::conflict, "conflicting corroborated masters at epoch 4"));
    // a higher epoch resolves it
    t.report(C, S3, true, B, 5, at(2));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B);
    assert_int_equal(v.epoch, 5);
}

static void all_down_keeps_master_and_flags_stale(void**) {
    Topology t = make();
    establish(t, A, 2);
    t.sentinel_down(S1);
    t.sentinel_down(S2);
    assert_false(t.is_stale(C));
    t.sentinel_down(S3);
    assert_true(t.is_stale(C));
    assert_false(t.is_reachable(S1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(t.state(C)->has_master);
    assert_true(t.state(C)->master == A);
    assert_int_equal(t.reports(C).size(), 3); // kept, just not counted
    assert_false(t.reports(C)[0].reachable);

    // while every trusted one is down, an untrusted report decides nothing
    t.report(C, "127.0.0.3:1", false, B, 3, at(3));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);

    t.sentinel_up(S1);
    t.sentinel_up(S2);
    t.sentinel_up(S3);
    assert_false(t.is_stale(C));
    t.report(C, S1, true, B, 3, at(4));
    t.report(C, S2, true, B, 3, at(4));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B);
}

static void no_trusted_monitor_is_stale(void**) {
    Topology t = make();
    establish(t, A, 2);
    t.no_master(C, S1);
    t.no_master(C, S2);
    t.no_master(C, S3);
    assert_true(t.is_stale(C));
    assert_true(t.state(C)->master == A);
    assert_true(t.reports(C).empty());
    assert_true(t.is_stale("unknown"));
}

static void forged_epoch_is_refused_and_does_not_block(void**) {
    Topology t = make(2, 1000);
    establish(t, A, 9);
    t.report(C, S1, true, EVIL, 99999, at(5));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_true(has_reason(v, RefusalKind::epoch_jump,
                           "sentinel 127.0.0.1:26379 reports 10.0.0.9:6379 at epoch 99999: "
                           "epoch jump of 99990 above trusted maximum 9, ignored"));
    assert_true(t.reports(C)[0].suspicious);
    assert_false(t.reports(C)[1].suspicious);
    assert_false(t.confirmed(C, EVIL, 99999, at(6)));
    assert_int_equal(t.state(C)->epoch, 9);

    // a legitimate failover to epoch 10 from the other two still switches
    t.report(C, S2, true, B, 10, at(7));
    t.report(C, S3, true, B, 10, at(7));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B);
    assert_int_equal(v.epoch, 10);
    assert_true(t.confirmed(C, B, 10, at(8)));

    // alone, with no other report, the reference is the current epoch
    t.no_master(C, S2);
    t.no_master(C, S3);
    v = t.verdict(C);
    assert_true(
        has_reason(v, RefusalKind::epoch_jump, "epoch jump of 99989 above trusted maximum 10"));
    // a forger with min_agreement 1 is still caught by the jump rule
    Topology one = make(1, 1000);
    one.report(C, S1, true, A, 9, at(1));
    assert_true(one.confirmed(C, A, 9, at(1)));
    one.report(C, S1, true, EVIL, 99999, at(2));
    assert_int_equal(one.verdict(C).kind, VerdictKind::None);
    // but a jump within the limit is accepted
    one.report(C, S1, true, B, 1009, at(3));
    assert_int_equal(one.verdict(C).kind, VerdictKind::Confirm);
}

static void confirmed_for_a_moved_target_is_refused(void**) {
    Topology t = make();
    establish(t, A, 1);
    t.report(C, S1, true, B, 2, at(3));
    t.report(C, S2, true, B, 2, at(3));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    // while ROLE is in flight, the Sentinels move on to epoch 3
    t.report(C, S1, true, A, 3, at(4));
    t.report(C, S2, true, A, 3, at(4));
    assert_false(t.confirmed(C, B, 2, at(5)));
    const ClusterState* st = t.state(C);
    assert_true(st->master == A);
    assert_int_equal(st->epoch, 1);
    assert_int_equal(st->switches, 1);
    assert_true(st->last_switch == at(2));
    // and losing support also refuses
    t.report(C, S1, true, B, 4, at(6));
    t.report(C, S2, true, B, 4, at(6));
    t.sentinel_down(S2);
    assert_false(t.confirmed(C, B, 4, at(7)));
    t.confirm_failed(C, B, 4, "ROLE says slave");
    assert_int_equal(t.state(C)->confirm_failures, 1);
    assert_string_equal(t.state(C)->last_confirm_error.c_str(),
                        "10.0.0.2:6379 at epoch 4: ROLE says slave");
}

static void epoch_advance_is_its_own_verdict(void**) {
    Topology t = make();
    establish(t, A, 1);
    t.report(C, S1, true, A, 2, at(3));
    t.report(C, S2, true, A, 2, at(3));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::EpochAdvance);
    assert_string_equal(verdict_kind_name(v.kind), "epoch-advance");
    assert_true(t.confirmed(C, A, 2, at(4)));
    assert_int_equal(t.state(C)->epoch, 2);
    assert_int_equal(t.state(C)->switches, 1); // not a switch
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
}

static void seed_then_reports(void**) {
    Topology t = make();
    assert_true(t.seed(C, A, 7, at(0)));
    assert_true(t.state(C)->seeded);
    assert_true(t.is_stale(C));
    // same epoch, same address: nothing
    t.report(C, S1, true, A, 7, at(1));
    t.report(C, S2, true, A, 7, at(1));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::None);
    assert_int_equal(v.supporters.size(), 2);
    // same epoch, another address: never flips the seeded master
    t.report(C, S1, true, B, 7, at(2));
    t.report(C, S2, true, B, 7, at(2));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    assert_int_equal(t.state(C)->switches, 0);
    // higher epoch, corroborated: Confirm
    t.report(C, S1, true, B, 8, at(3));
    t.report(C, S2, true, B, 8, at(3));
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B);
    assert_true(t.confirmed(C, B, 8, at(4)));
    assert_false(t.state(C)->seeded);

    // A seed the Sentinels never corroborate does not bind: corroborated
    // reports at a lower epoch replace it (a Sentinel set that restarted
    // its epochs, or an absurd epoch left by a compromised engine).
    Topology u = make();
    assert_true(u.seed(C, A, UINT64_MAX, at(0)));
    u.report(C, S1, true, B, 0, at(1));
    assert_int_equal(u.verdict(C).kind, VerdictKind::None); // one is not enough
    u.report(C, S2, true, B, 0, at(1));
    v = u.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.candidate == B && v.epoch == 0);
    assert_true(u.confirmed(C, B, 0, at(2)));
    assert_false(u.state(C)->seeded);
    // the same, with the seeded address itself at a lower epoch
    Topology w = make();
    assert_true(w.seed(C, A, 1000, at(0)));
    w.report(C, S1, true, A, 3, at(1));
    w.report(C, S2, true, A, 3, at(1));
    v = w.verdict(C);
    assert_int_equal(v.kind, VerdictKind::EpochAdvance);
    assert_int_equal(v.epoch, 3);

    // seed rejects bad input
    assert_false(t.seed("unknown", A, 1, at(0)));
    assert_false(t.seed(C, HostPort{"bad host", 1}, 1, at(0)));
    assert_false(t.seed(C, HostPort{"10.0.0.1", 0}, 1, at(0)));
}

static void single_trusted_sentinel(void**) {
    // (the default for one configured Sentinel: config/engine_settings)
    Topology t = make(1);
    assert_int_equal(t.policy().min_agreement, 1);
    t.report(C, S1, true, A, 1, at(1));
    assert_int_equal(t.verdict(C).kind, VerdictKind::Confirm);
    assert_true(t.confirmed(C, A, 1, at(1)));
    t.report(C, S1, true, B, 2, at(2));
    assert_int_equal(t.verdict(C).kind, VerdictKind::Confirm);
    assert_true(t.confirmed(C, B, 2, at(2)));
    assert_int_equal(t.trusted_count(), 1);
    // 0 is treated as 1
    Topology z(TopologyPolicy{0, 10});
    assert_int_equal(z.policy().min_agreement, 1);
}

static void forget_and_no_master_drop_reports(void**) {
    Topology t = make();
    t.add_cluster("other");
    t.report(C, S1, true, A, 1, at(1));
    t.report(C, S2, true, A, 1, at(1));
    t.report("other", S1, true, B, 1, at(1));
    t.forget_sentinel(S1);
    assert_int_equal(t.reports(C).size(), 1);
    assert_true(t.reports("other").empty());
    assert_false(t.is_trusted(S1));
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    t.report(C, S3, true, A, 1, at(1));
    assert_int_equal(t.verdict(C).kind, VerdictKind::Confirm);
    t.no_master(C, S3);
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    assert_int_equal(t.reports(C).size(), 1);
    assert_string_equal(t.reports(C)[0].sentinel.c_str(), S2.c_str());
    t.no_master("unknown", S2); // harmless
}

static void reports_same_is_the_latest_report_of_that_sentinel(void**) {
    Topology t = make();
    assert_false(t.reports_same(C, S1, A, 3)); // nothing reported yet
    t.report(C, S1, true, A, 3, at(1));
    assert_true(t.reports_same(C, S1, A, 3));
    assert_false(t.reports_same(C, S1, A, 4)); // other epoch
    assert_false(t.reports_same(C, S1, B, 3)); // other address
    assert_false(t.reports_same(C, S2, A, 3)); // other Sentinel
    assert_false(t.reports_same("other", S1, A, 3));
    t.report(C, S1, true, B, 4, at(2));
    assert_false(t.reports_same(C, S1, A, 3));
    assert_true(t.reports_same(C, S1, B, 4));
    t.no_master(C, S1);
    assert_false(t.reports_same(C, S1, B, 4));
    t.report(C, S2, true, A, 3, at(3));
    t.forget_sentinel(S2);
    assert_false(t.reports_same(C, S2, A, 3));
}

static void rejects_unknown_cluster_and_bad_address(void**) {
    Topology t = make();
    assert_false(t.add_cluster(C));
    assert_false(t.report("unknown", S1, true, A, 1, at(1)));
    assert_false(t.report(C, S1, true, HostPort{"10.0.0.1\nserver x", 1}, 1, at(1)));
    assert_false(t.report(C, S1, true, HostPort{"", 6379}, 1, at(1)));
    assert_false(t.report(C, S1, true, HostPort{"10.0.0.1", 0}, 1, at(1)));
    assert_true(t.reports(C).empty());
    assert_int_equal(t.verdict("unknown").kind, VerdictKind::None);
    assert_false(t.confirmed("unknown", A, 1, at(1)));
    t.confirm_failed("unknown", A, 1, "x"); // harmless
    assert_null(t.state("unknown"));
    assert_true(t.reports("unknown").empty());
    assert_true(t.remove_cluster(C));
    assert_false(t.remove_cluster(C));
    assert_false(t.has_cluster(C));
    assert_false(t.report(C, S1, true, A, 1, at(1)));
    assert_true(t.clusters().empty());
}

// Reports are kept per Sentinel in id order whatever order they came in; a
// forgotten Sentinel's reports go with it, and a Sentinel that reports again
// afterwards (a new entry) is counted like any other.
static void reports_stay_in_sentinel_order_across_forget(void**) {
    Topology t = make();
    assert_true(t.report(C, S3, true, A, 2, at(1)));
    assert_true(t.report(C, S1, true, B, 2, at(1)));
    assert_true(t.report(C, S2, true, A, 2, at(1)));
    auto r = t.reports(C);
    assert_int_equal(r.size(), 3);
    assert_string_equal(r[0].sentinel.c_str(), S1.c_str());
    assert_string_equal(r[1].sentinel.c_str(), S2.c_str());
    assert_string_equal(r[2].sentinel.c_str(), S3.c_str());
    assert_true(r[0].master == B && r[1].master == A && r[2].master == A);
    // A newer report replaces the Sentinel's own, in place.
    assert_true(t.report(C, S1, true, A, 2, at(2)));
    assert_int_equal(t.reports(C).size(), 3);
    assert_true(t.reports_same(C, S1, A, 2));
    t.forget_sentinel(S2);
    r = t.reports(C);
    assert_int_equal(r.size(), 2);
    assert_string_equal(r[0].sentinel.c_str(), S1.c_str());
    assert_string_equal(r[1].sentinel.c_str(), S3.c_str());
    assert_false(t.reports_same(C, S2, A, 2));
    Verdict v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.supporters == (std::vector<std::string>{S1, S3}));
    t.no_master(C, S1);
    assert_int_equal(t.verdict(C).kind, VerdictKind::None);
    assert_true(t.report(C, S2, true, A, 2, at(3)));
    r = t.reports(C);
    assert_int_equal(r.size(), 2);
    assert_string_equal(r[0].sentinel.c_str(), S2.c_str());
    assert_true(r[0].trusted && r[0].reachable);
    v = t.verdict(C);
    assert_int_equal(v.kind, VerdictKind::Confirm);
    assert_true(v.supporters == (std::vector<std::string>{S2, S3}));
}

// Clusters corroborated by the same Sentinels share one list of them; a
// cluster corroborated by others has its own, and each shows its own.
static void supporters_are_shared_between_clusters(void**) {
    Topology t;
    for (const char* c : {"one", "two", "three"})
        assert_true(t.add_cluster(c));
    t.set_trusted(S3, true);
    for (const char* c : {"one", "two"}) {
        t.report(c, S1, true, A, 3, at(1));
        t.report(c, S2, true, A, 3, at(1));
        assert_true(t.confirmed(c, A, 3, at(2)));
    }
    t.report("three", S1, true, A, 3, at(1));
    t.report("three", S3, true, A, 3, at(1));
    assert_true(t.confirmed("three", A, 3, at(2)));
    const ClusterState* one = t.state("one");
    const ClusterState* two = t.state("two");
    const ClusterState* three = t.state("three");
    assert_true(&one->supporters.ids() == &two->supporters.ids());
    assert_true(one->supporters.ids() == (std::vector<std::string>{S1, S2}));
    assert_true(three->supporters.ids() == (std::vector<std::string>{S1, S3}));
    assert_false(one->supporters == three->supporters);
    // A seed forgets them; the others keep theirs.
    assert_true(t.seed("one", B, 9, at(3)));
    assert_true(t.state("one")->supporters.empty());
    assert_true(two->supporters.ids() == (std::vector<std::string>{S1, S2}));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_report_confirms_then_settles),
        cmocka_unit_test(failover_and_old_master_never_returns),
        cmocka_unit_test(one_cannot_two_can_untrusted_never),
        cmocka_unit_test(reasons_name_every_supporter),
        cmocka_unit_test(stale_minority_ignored),
        cmocka_unit_test(equal_epoch_never_flips),
        cmocka_unit_test(conflicting_corroborated_groups_wait),
        cmocka_unit_test(all_down_keeps_master_and_flags_stale),
        cmocka_unit_test(no_trusted_monitor_is_stale),
        cmocka_unit_test(forged_epoch_is_refused_and_does_not_block),
        cmocka_unit_test(confirmed_for_a_moved_target_is_refused),
        cmocka_unit_test(epoch_advance_is_its_own_verdict),
        cmocka_unit_test(seed_then_reports),
        cmocka_unit_test(single_trusted_sentinel),
        cmocka_unit_test(forget_and_no_master_drop_reports),
        cmocka_unit_test(reports_stay_in_sentinel_order_across_forget),
        cmocka_unit_test(reports_same_is_the_latest_report_of_that_sentinel),
        cmocka_unit_test(rejects_unknown_cluster_and_bad_address),
        cmocka_unit_test(supporters_are_shared_between_clusters),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
