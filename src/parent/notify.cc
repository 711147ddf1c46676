#include "parent/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "autoconfig.h"

namespace rh {

namespace {

// The notification protocol is a single datagram on an AF_UNIX socket
// whose path is $NOTIFY_SOCKET ("@..." names the abstract namespace);
// sd_notify(3) documents it as stable for reimplementation. Sending it here
// rather than through libsystemd spares both processes libsystemd and the
// five libraries it loads (about 1 MB resident each, measured).
void send(const std::string& state) {
#ifdef HAVE_SYSTEMD
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return; // unset, or a kind of address (vsock) we do not speak
    sockaddr_un sa{};
    size_t len = std::strlen(path);
    if (len < 2 || len >= sizeof sa.sun_path)
        return;
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    auto salen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    (void)sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
                 salen);
    close(fd);
#else
    (void)state;
#endif
}

} // namespace

bool notify_supported() {
#ifdef HAVE_SYSTEMD
    return true;
#else
    return false;
#endif
}

void notify_ready() {
    send("READY=1");
}

void notify_reloading() {
    // MONOTONIC_USEC lets a newer systemd (Type=notify-reload) match the
    // reload to this message; older ones ignore it.
    struct timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                              static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() {
    send("STOPPING=1");
}

void notify_status(std::string_view line) {
    std::string s = "STATUS=";
    for (char c : line)
        s.push_back(c == '\n' || c == '\r' ? ' ' : c);
    send(s);
}

std::string status_line(const StatusFacts& f) {
    std::string s;
    if (!f.engine_running)
        s = "engine restarting; ";
    if (f.confirmed < f.clusters && !f.grace_over) {
        s += "waiting for masters: " + std::to_string(f.confirmed) + " of " +
             std::to_string(f.clusters) + (f.clusters == 1 ? " cluster" : " clusters") +
             " confirmed";
    } else {
        s += std::to_string(f.clusters) + (f.clusters == 1 ? " cluster, " : " clusters, ") +
             std::to_string(f.applied) + " applied";
        if (f.confirmed < f.clusters)
            s += ", " + std::to_string(f.clusters - f.confirmed) + " without a confirmed master";
    }
    if (!f.error.empty()) {
        constexpr size_t kMax = 200;
        s += "; last apply failed: ";
        s += f.error.substr(0, kMax);
        if (f.error.size() > kMax)
            s += "...";
    }
    return s;
}

} // namespace rh
