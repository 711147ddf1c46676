// fuzz-sources: src/engine/topology.cc src/common/address.cc
// libFuzzer target for src/engine/topology.cc: random event sequences, checking the
// decision invariants after every step. Build (not wired into automake):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//     tests/fuzz/fuzz_topology.cc src/engine/topology.cc src/common/address.cc -o fuzz_topology
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "engine/topology.h"

using namespace rh;

namespace {

struct Input {
    const uint8_t* p;
    size_t n;
    uint8_t byte() {
        if (n == 0)
            return 0;
        n--;
        return *p++;
    }
    uint64_t epoch() {
        uint8_t b = byte();
        if (b < 0xf0)
            return b % 24; // mostly small, realistic epochs
        uint64_t e = 0;
        for (int i = 0; i < 8; i++)
            e = (e << 8) | byte();
        return e;
    }
};

const std::string kClusters[] = {"c0", "c1"};
const std::string kSentinels[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4",
                                  "127.0.0.1:5"};
const HostPort kAddrs[] = {
    {"10.0.0.1", 6379}, {"10.0.0.2", 6379}, {"10.0.0.3", 6379}, {"::1", 6380}};

void check(bool ok) {
    if (!ok)
        abort();
}

bool same_state(const ClusterState& a, const ClusterState& b) {
    return a.has_master == b.has_master && a.master == b.master && a.epoch == b.epoch &&
           a.switches == b.switches && a.supporters == b.supporters && a.seeded == b.seeded;
}

// What the verdict proposes must be backed by the facts, checked from the
// read-only views rather than from the module's own reasoning.
void check_verdict(const Topology& t, const std::string& c) {
    Verdict v = t.verdict(c);
    Verdict again = t.verdict(c);
    check(v.kind == again.kind && v.candidate == again.candidate && v.epoch == again.epoch &&
          v.supporters == again.supporters && v.reasons == again.reasons);
    const ClusterState* st = t.state(c);
    check(st != nullptr);
    if (v.kind == VerdictKind::None)
        return;
    check(v.supporters.size() >= t.policy().min_agreement);
    std::set<std::string> distinct(v.supporters.begin(), v.supporters.end());
    check(distinct.size() == v.supporters.size());
    size_t backing = 0;
    for (const ReportView& r : t.reports(c)) {
        if (!distinct.count(r.sentinel))
            continue;
        check(r.trusted && r.reachable && !r.suspicious);
        check(r.master == v.candidate && r.epoch == v.epoch);
        backing++;
    }
    check(backing == v.supporters.size());
    if (st->has_master) {
        // Equal or lower epochs never propose, except against a seeded
        // master the Sentinels have not corroborated (rule 7), and then
        // never the seed itself.
        if (st->seeded && !st->seed_corroborated)
            check(v.epoch != st->epoch || v.candidate != st->master);
        else
            check(v.epoch > st->epoch);
        check((v.kind == VerdictKind::EpochAdvance) == (v.candidate == st->master));
    } else {
        check(v.kind == VerdictKind::Confirm);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Input in{data, size};
    TopologyPolicy pol;
    pol.min_agreement = 1 + in.byte() % 3;
    pol.max_epoch_jump = 1 + in.byte() % 50;
    Topology t(pol);
    for (const auto& c : kClusters)
        t.add_cluster(c);
    auto now = TopologyTime{};

    while (in.n > 0) {
        uint8_t op = in.byte() % 11;
        const std::string& c = kClusters[in.byte() % 2];
        const std::string& s = kSentinels[in.byte() % 5];
        const HostPort& a = kAddrs[in.byte() % 4];
        now += std::chrono::milliseconds(in.byte());
        ClusterState before = *t.state(c);
        switch (op) {
        case 0:
        case 1:
        case 2:
            t.report(c, s, in.byte() % 4 != 0, a, in.epoch(), now);
            break;
        case 3:
            t.sentinel_down(s);
            break;
        case 4:
            t.sentinel_up(s);
            break;
        case 5:
            t.no_master(c, s);
            break;
        case 6:
            t.forget_sentinel(s);
            break;
        case 7:
            t.set_trusted(s, in.byte() % 2);
            break;
        case 8: { // confirm whatever the verdict proposes (ROLE said master)
            Verdict v = t.verdict(c);
            bool ok = t.confirmed(c, v.candidate, v.epoch, now);
            check(ok == (v.kind != VerdictKind::None));
            const ClusterState& st = *t.state(c);
            if (!ok) {
                check(same_state(before, st));
                break;
            }
            check(st.master == v.candidate && st.epoch == v.epoch);
            // (an uncorroborated seed orders nothing: rule 7)
            check(!before.has_master || st.epoch > before.epoch ||
                  (before.seeded && !before.seed_corroborated));
            check(st.switches == before.switches + (v.kind == VerdictKind::Confirm ? 1 : 0));
            check(st.supporters.size() >= pol.min_agreement);
            break;
        }
        case 9: { // confirm something arbitrary (a stale ROLE answer, a forger)
            uint64_t e = in.epoch();
            Verdict v = t.verdict(c);
            bool ok = t.confirmed(c, a, e, now);
            bool pick = v.kind != VerdictKind::None && v.candidate == a && v.epoch == e;
            check(ok == pick);
            if (!ok)
                check(same_state(before, *t.state(c)));
            break;
        }
        case 10:
            if (!t.state(c)->has_master)
                t.seed(c, a, in.epoch(), now);
            break;
        }
        // the remembered epoch only grows, except through seed() and from an
        // uncorroborated seed (rule 7)
        const ClusterState& after = *t.state(c);
        if (op != 10 && before.has_master)
            check(after.has_master &&
                  (after.epoch >= before.epoch || (before.seeded && !before.seed_corroborated)));
        for (const auto& cl : kClusters)
            check_verdict(t, cl);
    }
    return 0;
}
