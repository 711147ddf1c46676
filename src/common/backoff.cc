#include "common/backoff.h"

namespace rh {

Backoff::Duration Backoff::next() {
    Duration d = base_;
    for (unsigned i = 0; i < attempts_ && d < cap_; i++)
        d *= 2;
    if (d > cap_)
        d = cap_;
    if (attempts_ < 64)
        attempts_++;
    return d;
}

Backoff::Duration Backoff::next_with_jitter(uint32_t random, unsigned jitter_percent) {
    Duration d = next();
    if (jitter_percent == 0 || jitter_percent > 100)
        return d;
    auto span = d.count() * jitter_percent / 100;
    if (span <= 0)
        return d;
    return d - Duration(static_cast<int64_t>(random % static_cast<uint64_t>(span + 1)));
}

void Backoff::failed(Clock::time_point now) {
    if (started_at_ != Clock::time_point{} && now - started_at_ >= healthy_after_)
        attempts_ = 0;
    started_at_ = {};
}

} // namespace rh
