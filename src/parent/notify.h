// systemd readiness notification for Type=notify units (sd_notify(3)).
//
// Unless configured --without-systemd (HAVE_SYSTEMD), each notify_* call
// sends one datagram to the socket named by $NOTIFY_SOCKET, which systemd
// sets for the service's processes; when the variable is unset (not started
// by systemd, or -n) the call does nothing. Built --without-systemd, every
// notify_* call is a no-op. No libsystemd is needed: the protocol is sent
// directly (see notify.cc). Errors are ignored: telling
// systemd is a courtesy, it never stops or fails the daemon.
//
// Only the parent (systemd's main PID) notifies; processes the daemon starts
// get a ChildEnvironment (process.h), which drops NOTIFY_SOCKET.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rh {

// True unless built --without-systemd (for -V).
bool notify_supported();

void notify_ready();                       // READY=1 (and after a reload)
void notify_reloading();                   // RELOADING=1 before re-reading the file
void notify_stopping();                    // STOPPING=1 on SIGTERM/SIGINT
void notify_status(std::string_view line); // STATUS=line (newlines become spaces)

// What systemctl status shows. Pure, so it is unit-tested.
struct StatusFacts {
    size_t clusters = 0;  // configured
    size_t confirmed = 0; // of those, with a master confirmed by the engine
    size_t applied = 0;   // of those, with a master in effect
    bool grace_over = false;
    bool engine_running = true; // false while the engine is being restarted
    std::string_view error;     // the last apply's error, empty after a success
};
std::string status_line(const StatusFacts& f);

} // namespace rh
