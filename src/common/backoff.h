// Capped exponential backoff, pure: the caller passes the time in and draws
// jitter from its own random source.
#pragma once

#include <chrono>
#include <cstdint>

namespace rh {

class Backoff {
  public:
    using Duration = std::chrono::milliseconds;
    using Clock = std::chrono::steady_clock;

    // base doubles on every failure up to cap. A success that lasts at least
    // healthy_after resets the schedule.
    Backoff(Duration base, Duration cap, Duration healthy_after)
        : base_(base), cap_(cap), healthy_after_(healthy_after) {}

    // The delay before the next attempt (base, 2*base, 4*base, ... cap).
    Duration next();
    // Like next(), with up to `jitter_percent`% removed, chosen by `random`
    // (any 32-bit value): spreads reconnects of many clients apart.
    Duration next_with_jitter(uint32_t random, unsigned jitter_percent = 20);
    // The attempt succeeded at `now` (the process started, the link came up).
    void started(Clock::time_point now) { started_at_ = now; }
    // The thing we started failed at `now`; resets the schedule if it had been
    // healthy for healthy_after.
    void failed(Clock::time_point now);
    void reset() { attempts_ = 0; }
    unsigned attempts() const { return attempts_; }

  private:
    Duration base_, cap_, healthy_after_;
    unsigned attempts_ = 0;
    Clock::time_point started_at_{};
};

} // namespace rh
