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

// A one-shot (re-armable) timer on a base, calling a std::function. Its
// libevent event exists only while it is armed (freed when it fires or is
// cancelled): the engine keeps a few timers per cluster, nearly all idle, and
// at 10,000 clusters their events alone would hold megabytes.
class Timer {
  public:
    Timer(event_base* base, std::function<void()> fn) : base_(base), fn_(std::move(fn)) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void arm(std::chrono::microseconds after) {
        if (!ev_) {
            ev_.reset(evtimer_new(base_, &Timer::trampoline, this));
            if (!ev_)
                log::fatalx("evtimer_new failed");
        }
        timeval tv = to_timeval(after);
        evtimer_add(ev_.get(), &tv);
    }
    void cancel() { ev_.reset(); }
    bool pending() const { return ev_ && evtimer_pending(ev_.get(), nullptr) != 0; }

  private:
    static void trampoline(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<Timer*>(arg);
        // Fired, so no longer pending: libevent allows freeing an event in
        // its own callback, and fn_ may arm the timer again.
        self->ev_.reset();
        guarded("timer", [self] { self->fn_(); });
    }
    event_base* base_;
    std::function<void()> fn_;
    EventPtr ev_; // only while armed
};

} // namespace rh
