// When to ask the parent to fence a cluster's master, and when to ask it to
// lift the fence (redishappy.conf(5) fence). Pure: no I/O, no clock.
//
// A Sentinel's SENTINEL MASTER reply names the master it follows and its
// flags; "o_down" means that Sentinel has heard a quorum agree the master is
// unreachable. The rule, the same corroboration as a switch (topology.h,
// rules 1 and 2):
//
//  F1. Only the latest report of a trusted, reachable Sentinel counts, and
//      only when it names the applied master (the one HAProxy routes to).
//  F2. Fence when at least min_agreement such reports carry o_down.
//  F3. Unfence when at least min_agreement such reports do not.
//  F4. Otherwise (too few reports either way: Sentinels unreachable, or
//      they already follow another master) nothing new is asked: a fence
//      stays until F3, the switch (the parent lifts it when it applies
//      another master), or the parent's fence_timeout.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/address.h"

namespace rh {

enum class FenceWant { unknown, fence, unfence };
const char* fence_want_name(FenceWant w);

struct FenceAsk {
    FenceWant want = FenceWant::unknown;
    std::vector<std::string> supporters; // the Sentinels behind it, sorted
};

class FenceRule {
  public:
    // Sentinel `id` now names `master`, with o_down or not.
    void report(const std::string& id, const HostPort& master, bool odown);
    void forget(const std::string& id);

    // counts(id): whether Sentinel id is trusted and reachable now.
    FenceAsk decide(const HostPort& applied, const std::function<bool(const std::string&)>& counts,
                    unsigned min_agreement) const;

  private:
    struct Report {
        HostPort master;
        bool odown = false;
    };
    std::map<std::string, Report> reports_; // by Sentinel id
};

} // namespace rh
