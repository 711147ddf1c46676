// Unit tests for when the engine asks to fence and to lift a fence
// (src/engine/fence.cc, rules F1-F4 of fence.h).
#include <set>
#include <string>

#include "engine/fence.h"

#include "../../cmocka.h"

using namespace rh;

namespace {

const HostPort kMaster{"10.0.0.1", 6379};
const HostPort kOther{"10.0.0.2", 6379};

// s1..s3 trusted and reachable; anything in `out` does not count.
FenceAsk decide(const FenceRule& r, std::set<std::string> out = {}, unsigned need = 2,
                const HostPort& applied = kMaster) {
    return r.decide(
        applied, [&](const std::string& id) { return out.count(id) == 0; }, need);
}

} // namespace

static void nothing_known_asks_nothing(void**) {
    FenceRule r;
    assert_true(decide(r).want == FenceWant::unknown);
}

// F2: min_agreement reports of o_down, and the supporters say who.
static void fences_on_corroborated_odown(void**) {
    FenceRule r;
    r.report("s1", kMaster, true);
    assert_true(decide(r).want == FenceWant::unknown); // one of two
    r.report("s2", kMaster, true);
    FenceAsk a = decide(r);
    assert_true(a.want == FenceWant::fence);
    assert_int_equal(a.supporters.size(), 2);
    assert_string_equal(a.supporters[0].c_str(), "s1");
    assert_string_equal(a.supporters[1].c_str(), "s2");
    assert_true(decide(r, {}, 3).want == FenceWant::unknown); // min_agreement 3
}

// F1: an untrusted or unreachable Sentinel, or one naming another master,
// does not count.
static void only_counting_reports_about_the_applied_master(void**) {
    FenceRule r;
    r.report("s1", kMaster, true);
    r.report("s2", kMaster, true);
    assert_true(decide(r, {"s2"}).want == FenceWant::unknown);
    r.report("s3", kOther, true);
    assert_true(decide(r, {"s2"}).want == FenceWant::unknown);
    // After a switch the old master's o_down says nothing of the new one.
    assert_true(decide(r, {}, 2, kOther).want == FenceWant::unknown);
}

// F3: as many reports without o_down lift it; F4: a split view keeps
// whatever was asked last.
static void unfences_on_corroborated_recovery(void**) {
    FenceRule r;
    r.report("s1", kMaster, true);
    r.report("s2", kMaster, true);
    r.report("s3", kMaster, false);
    assert_true(decide(r).want == FenceWant::fence);
    r.report("s1", kMaster, false);
    assert_true(decide(r).want == FenceWant::unfence);
    r.report("s3", kMaster, true);
    // s1 up, s2 and s3 down: fence again.
    assert_true(decide(r).want == FenceWant::fence);
    r.report("s2", kMaster, false);
    r.report("s3", kOther, false);
    FenceAsk a = decide(r);
    assert_true(a.want == FenceWant::unfence);
    assert_int_equal(a.supporters.size(), 2);
    r.forget("s2");
    assert_true(decide(r).want == FenceWant::unknown); // one of two
}

// min_agreement 0 is treated as 1, as in the topology rules.
static void min_agreement_zero_is_one(void**) {
    FenceRule r;
    r.report("s1", kMaster, true);
    assert_true(decide(r, {}, 0).want == FenceWant::fence);
    assert_string_equal(fence_want_name(FenceWant::unfence), "unfence");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_known_asks_nothing),
        cmocka_unit_test(fences_on_corroborated_odown),
        cmocka_unit_test(only_counting_reports_about_the_applied_master),
        cmocka_unit_test(unfences_on_corroborated_recovery),
        cmocka_unit_test(min_agreement_zero_is_one),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
