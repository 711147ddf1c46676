// The client side of bench/failover.py's measure: new connections through
// HAProxy, one every INTERVAL_US at most, each asking the Redis server it
// lands on for its port (CONFIG GET port), until one lands on a port in
// WANT. Prints one line on stdout and exits:
//   hit OPENED ANSWERED PORT LAST_MISS ATTEMPTS
//   none ATTEMPTS                (TIMEOUT_S passed first)
// OPENED, ANSWERED and LAST_MISS (when the attempt before the hit was
// opened; 0 if there was none) are CLOCK_MONOTONIC seconds, the clock of
// Python's time.monotonic(): the new master was reachable at some time in
// [LAST_MISS, OPENED].
//
// A separate process, paced: the Python thread it replaces spun a core of
// this 2-core machine (and HAProxy much of the other) while the daemon,
// the Sentinels and Redis were doing the failover it times, and it shared
// the GIL with the threads timestamping +switch-master.
//
// Usage: probe PORT INTERVAL_US TIMEOUT_S WANT...
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>
#include <string>

namespace {

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void sleep_until(double t) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(t);
    ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

// The port the server behind 127.0.0.1:port says it listens on, or nothing
// when the connection is refused, closed or times out (200 ms).
std::optional<int> ask_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return std::nullopt;
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::optional<int> answer;
    static const char kAsk[] = "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nport\r\n";
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 &&
        write(fd, kAsk, sizeof kAsk - 1) == static_cast<ssize_t>(sizeof kAsk - 1)) {
        // "*2\r\n$4\r\nport\r\n$N\r\nPORT\r\n": the fifth line is the port.
        std::string got;
        char buf[256];
        size_t lines = 0;
        while (lines < 5) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0)
                break;
            got.append(buf, static_cast<size_t>(n));
            lines = 0;
            for (size_t p = got.find("\r\n"); p != std::string::npos; p = got.find("\r\n", p + 2))
                lines++;
        }
        if (lines >= 5) {
            size_t at = 0;
            for (int i = 0; i < 4; i++)
                at = got.find("\r\n", at) + 2;
            answer = std::atoi(got.c_str() + at);
        }
    }
    close(fd);
    return answer;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: probe PORT INTERVAL_US TIMEOUT_S WANT...\n");
        return 2;
    }
    int port = std::atoi(argv[1]);
    double interval = std::atof(argv[2]) / 1e6;
    double deadline = now_s() + std::atof(argv[3]);
    std::set<int> want;
    for (int i = 4; i < argc; i++)
        want.insert(std::atoi(argv[i]));
    double last_miss = 0;
    long attempts = 0;
    while (now_s() < deadline) {
        attempts++;
        double opened = now_s();
        std::optional<int> got = ask_port(port);
        double answered = now_s();
        if (got && want.count(*got)) {
            std::printf("hit %.6f %.6f %d %.6f %ld\n", opened, answered, *got, last_miss, attempts);
            return 0;
        }
        last_miss = opened;
        sleep_until(opened + interval);
    }
    std::printf("none %ld\n", attempts);
    return 0;
}
