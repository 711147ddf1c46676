// When to fence and unfence; see fence.h for the rules.
#include "engine/fence.h"

namespace rh {

const char* fence_want_name(FenceWant w) {
    switch (w) {
    case FenceWant::unknown:
        return "unknown";
    case FenceWant::fence:
        return "fence";
    case FenceWant::unfence:
        return "unfence";
    }
    return "unknown";
}

void FenceRule::report(const std::string& id, const HostPort& master, bool odown) {
    reports_[id] = Report{master, odown};
}

void FenceRule::forget(const std::string& id) {
    reports_.erase(id);
}

FenceAsk FenceRule::decide(const HostPort& applied,
                           const std::function<bool(const std::string&)>& counts,
                           unsigned min_agreement) const {
    std::vector<std::string> down, up; // sorted: reports_ iterates by id
    for (const auto& [id, r] : reports_) {
        if (r.master != applied || !counts(id)) // F1
            continue;
        (r.odown ? down : up).push_back(id);
    }
    size_t need = min_agreement == 0 ? 1 : min_agreement;
    if (down.size() >= need) // F2
        return {FenceWant::fence, std::move(down)};
    if (up.size() >= need) // F3
        return {FenceWant::unfence, std::move(up)};
    return {}; // F4
}

} // namespace rh
