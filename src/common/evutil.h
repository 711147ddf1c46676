// Owning wrappers for libevent handles, and the rule for C callbacks: a
// trampoline catches everything, so no exception ever unwinds through C.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>

#include "common/log.h"

namespace rh {

struct EventBaseFree {
    void operator()(event_base* b) const { event_base_free(b); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;

struct EventFree {
    void operator()(event* e) const { event_free(e); }
};
using EventPtr = std::unique_ptr<event, EventFree>;

// Runs f, logging and swallowing any exception: for use at every C boundary.
template <typename F> void guarded(const char* where, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        log::error("%s: unexpected exception: %s", where, e.what());
    } catch (...) {
        log::error("%s: unexpected exception", where);
    }
}

inline timeval to_timeval(std::chrono::microseconds d) {
    if (d.count() < 0)
        d = std::chrono::microseconds(0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000000);
    return tv;
}

// A one-shot (re-armable) timer on a base, calling a std::function.
class Timer {
  public:
    Timer(event_base* base, std::function<void()> fn)
        : fn_(std::move(fn)), ev_(evtimer_new(base, &Timer::trampoline, this)) {
        if (!ev_)
            log::fatalx("evtimer_new failed");
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void arm(std::chrono::microseconds after) {
        timeval tv = to_timeval(after);
        evtimer_add(ev_.get(), &tv);
    }
    void cancel() { evtimer_del(ev_.get()); }
    bool pending() const { return evtimer_pending(ev_.get(), nullptr) != 0; }

  private:
    static void trampoline(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<Timer*>(arg);
        guarded("timer", [self] { self->fn_(); });
    }
    std::function<void()> fn_;
    EventPtr ev_;
};

} // namespace rh
