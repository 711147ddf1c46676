"""The hostile-input suite of issue 12, against the whole daemon: the real
redishappyd as root (engine user nobody, chrooted), real redis-server and
redis-sentinel on loopback, and attackers that are only what anyone on the
network can be: API clients, a Sentinel that was configured but lies, a
candidate master that answers ROLE with garbage.

Each test states what it asserts and why a daemon without the protection
fails it (each was run against the build of the project before issue 12's
work, RH_BUILDDIR=/work/base-build, to see it fail).

  test_api_flood_during_failover   idle and trickling API connections under
                                   `ulimit -n 1024` while a real failover
  test_reply_bombs_during_failover huge bulk, huge array, wide array, deep
                                   nesting from a Sentinel and from a
                                   candidate master, while a real failover
  test_sentinel_error_cannot_forge_log_lines
                                   control characters in a Sentinel's error
"""
import errno
import json
import os
import resource
import select
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import FakeServer, Raw, RedisGroup, RespError, Simple, poll_until, run_tests
from rhdaemon import Daemon, children_of, vmrss_kb
from test_engine import NAME, ScriptedSentinel, daemon_config, reported, topology

CLK_TCK = os.sysconf("SC_CLK_TCK")

# The test process holds ~2,200 sockets of its own (the daemon's limit is
# what the attack is about, not ours).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _hard == resource.RLIM_INFINITY or _soft < _hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


# ---------------------------------------------------------------- helpers


def cpu_seconds(pid):
    """utime + stime of pid, in seconds (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def nofile_limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise KeyError("Max open files")


def state_master(path, name=NAME):
    """(host, port) of name in the parent's state file, or None."""
    try:
        with open(path) as f:
            c = json.load(f)["clusters"].get(name)
    except (OSError, ValueError, KeyError):
        return None
    return c and (c["host"], c["port"])


def ping_once(port, timeout=1.0):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/ping" % port,
                                    timeout=timeout) as r:
            return r.status == 200 and r.read() == b"Pong"
    except (OSError, urllib.error.URLError, ValueError):
        return False


def start(conf, api_port, wrapper=()):
    d = Daemon(conf, wrapper=wrapper)
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: ping_once(api_port), 10, "API to answer")
    return d


def set_level(conf, level):
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("log_level = debug", "log_level = %s" % level))


# ---------------------------------------------------------------- API flood


TRICKLE = b"GET /api/ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000


class Slot:
    __slots__ = ("kind", "src", "sock", "since", "sent", "cuts", "late_cuts")

    def __init__(self, kind, src):
        self.kind, self.src = kind, src
        self.sock, self.since, self.sent, self.cuts, self.late_cuts = None, 0.0, 0, 0, 0


class ApiFlood:
    """`idle` connections that never send a byte and `trickle` connections
    that send one header byte per tick (200 ms), from loopback source
    addresses other than 127.0.0.1 (so the per-address cap cannot be what
    keeps a client on 127.0.0.1 out, and so both the per-address and the
    global cap are exceeded: 25 addresses x 80 idle connections). A
    connection the daemon closes is opened again, at most REOPEN per tick:
    the pressure lasts as long as the attack, as a real attacker's would.
    Tricklers are interleaved with idle ones (one in eleven) so that some
    of them get a place under the cap. Connections are non-blocking; one
    thread, epoll.

    A close that comes LATE seconds or more after the connect is counted
    as a late cut: the daemon drains its accept queue at once, so such a
    connection had been accepted and held, and was closed by the request
    deadline (5 s, swept every second), not refused at accept."""

    TICK = 0.2
    REOPEN = 100
    LATE = 4.5

    def __init__(self, port, idle=2000, trickle=200):
        self.port = port
        self.slots = []
        for i in range(idle + trickle):
            if i % 11 == 10 and trickle:
                trickle -= 1
                self.slots.append(Slot("trickle", "127.0.1.%d" % (10 + trickle % 4)))
            elif idle:
                idle -= 1
                self.slots.append(Slot("idle", "127.0.0.%d" % (10 + idle % 25)))
            else:
                trickle -= 1
                self.slots.append(Slot("trickle", "127.0.1.%d" % (10 + trickle % 4)))
        self.ep = select.epoll()
        self.by_fd = {}
        self.lock = threading.Lock()
        self.opened = self.cut = self.connect_errors = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        rhtest.run().on_close(self.stop)

    def start(self):
        self.thread.start()
        return self

    def _open(self, slot):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((slot.src, 0))
            err = s.connect_ex(("127.0.0.1", self.port))
        except OSError as exc:
            err = exc.errno
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            return
        slot.sock, slot.sent, slot.since = s, 0, time.monotonic()
        self.by_fd[s.fileno()] = slot
        self.ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        self.opened += 1

    def _close(self, slot, by_server):
        fd = slot.sock.fileno()
        self.ep.unregister(fd)
        del self.by_fd[fd]
        slot.sock.close()
        slot.sock = None
        if by_server:
            with self.lock:
                slot.cuts += 1
                self.cut += 1
                if time.monotonic() - slot.since >= self.LATE:
                    slot.late_cuts += 1

    def _readable(self, slot):
        try:
            data = slot.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # closed by the daemon (FIN or RST)
            self._close(slot, True)
        # else: an error page (408, 400); the close follows

    def _tick(self):
        for slot in self.slots:
            if slot.kind != "trickle" or slot.sock is None:
                continue
            try:
                slot.sock.send(TRICKLE[slot.sent % len(TRICKLE):][:1])
                slot.sent += 1
            except (BlockingIOError, InterruptedError):
                pass  # connect still in progress, or a full buffer
            except OSError as exc:
                if exc.errno not in (errno.ENOTCONN,):
                    self._close(slot, True)
        budget = self.REOPEN
        for slot in self.slots:
            if budget == 0:
                break
            if slot.sock is None:
                self._open(slot)
                budget -= 1

    def _loop(self):
        for slot in self.slots:  # all at once, then only re-openings
            self._open(slot)
        next_tick = time.monotonic() + self.TICK
        while not self.stopping.is_set():
            wait = max(0.0, next_tick - time.monotonic())
            for fd, _ in self.ep.poll(wait):
                slot = self.by_fd.get(fd)
                if slot is not None and slot.sock is not None:
                    self._readable(slot)
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick += self.TICK
        for slot in self.slots:
            if slot.sock is not None:
                self._close(slot, False)
        self.ep.close()

    def open_now(self):
        return len(self.by_fd)

    def late_cuts(self, kind):
        """Connections of `kind` closed by the daemon after being held."""
        with self.lock:
            return sum(s.late_cuts for s in self.slots if s.kind == kind)

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the flood thread did not stop"
        assert not self.by_fd, "%d attack sockets left open" % len(self.by_fd)


class Pinger:
    """GET /api/ping from 127.0.0.1 every 250 ms; records each outcome."""

    def __init__(self, port):
        self.port = port
        self.results = []  # (monotonic time, ok)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        rhtest.run().on_close(self.stop)

    def start(self):
        self.thread.start()
        return self

    def _loop(self):
        while not self.stopping.is_set():
            self.results.append((time.monotonic(), ping_once(self.port, timeout=1.0)))
            self.stopping.wait(0.25)

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        return self


def test_api_flood_during_failover():
    """2,000 idle and 200 trickling connections to the API of a daemon
    started under `ulimit -n 1024` (what the systemd unit of the time
    gave), while the master is killed and Sentinel fails over. Asserts: the
    failover is applied within 10 s of the Sentinels agreeing (state file;
    the API once the attack is over); trickling connections that got a
    place are cut by the request deadline (it is absolute, not restarted
    by each byte); the engine's CPU time over the attack stays under half
    the wall time (no accept() EMFILE loop); the log grows by fewer than
    200 lines and 64 KiB and no Sentinel or ROLE connection failed for want
    of descriptors; /api/ping answers within 10 s of the attackers
    leaving. Whether /api/ping answers during the attack is printed, not
    asserted: redishappy.conf(5) API BUDGETS lets the flood take every
    place (design rule 9: a flood may be refused, the failover is not).

    Without the protections (the build before issue 12) all of these
    failed at once: the engine accepted until it ran out of descriptors,
    then spun in accept() (18.5 s of CPU in 27.6 s), libevent wrote a
    "Too many open files" line per attempt (130 MB of log), the ROLE check
    of the new master could not get a descriptor (applied 19 s late), and
    tricklers kept their connections for as long as they trickled."""
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    conf = daemon_config([(s.host, s.port) for s in g.sentinels], port)
    # At debug level every Sentinel message is a line; info is what an
    # operator runs and what the rate limits are for.
    set_level(conf, "info")
    state = os.path.join(rhtest.run().dir, "state-%d.json" % port)
    d = start(conf, port, wrapper=["/bin/sh", "-c", 'ulimit -n 1024 && exec "$@"', "sh"])
    engine = d.wait_engine()
    assert nofile_limits(engine)[1] <= 1024, nofile_limits(engine)
    master = g.sentinel_master(NAME)
    poll_until(lambda: state_master(state) == master, 15, "the master in the state file")
    poll_until(lambda: reported(port) == master, 10, "API to report the master")

    log_size = os.path.getsize(d.logpath)
    cpu_before, t0 = cpu_seconds(engine), time.monotonic()
    flood = ApiFlood(port).start()
    pinger = Pinger(port).start()
    poll_until(lambda: flood.opened >= 2200, 10, "the attack connections to be opened")
    failures = []  # every broken promise is reported, not only the first

    def check(fn, timeout, what):
        try:
            poll_until(fn, timeout, what)
            return True
        except AssertionError as exc:
            failures.append(str(exc))
            return False

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    t_failover = time.monotonic()
    # Applied within milliseconds when nothing attacks; 10 s is generous.
    check(lambda: state_master(state) == new, 10,
          "the failover to %s:%d to be applied (state file) under attack" % new)
    t_applied = time.monotonic()
    # The request deadline (5 s) is absolute: a client trickling a byte
    # every 200 ms loses its connection all the same. Ten is about half of
    # the tricklers that get a place among the first 256.
    check(lambda: flood.late_cuts("trickle") >= 10, 15,
          "trickling connections to be cut by the request deadline")

    cpu = cpu_seconds(engine) - cpu_before
    wall = time.monotonic() - t0
    open_at_end = flood.open_now()
    flood.stop()
    pinger.stop()
    grown = os.path.getsize(d.logpath) - log_size
    with open(d.logpath, "rb") as f:
        f.seek(log_size)
        added = f.read(1 << 20).decode(errors="replace")
    during = [ok for _, ok in pinger.results]
    print("flood: %.1f s, %d connections opened (%d at once at the end), %d closed by "
          "the daemon (after being held: %d idle, %d trickling), %d connect errors"
          % (wall, flood.opened, open_at_end, flood.cut, flood.late_cuts("idle"),
             flood.late_cuts("trickle"), flood.connect_errors))
    print("failover: applied %.2f s after the Sentinels agreed; engine CPU %.2f s "
          "(%.1f %% of wall); log +%d bytes (%d lines in its first MiB)" %
          (t_applied - t_failover, cpu, 100 * cpu / wall, grown, added.count("\n")))
    print("/api/ping during the attack: %d of %d answered" % (sum(during), len(during)))

    if cpu >= 0.5 * wall:
        failures.append("engine used %.2f s CPU in %.2f s: spinning" % (cpu, wall))
    if added.count("\n") >= 200 or grown >= 64 * 1024:
        failures.append("log grew by %d bytes, ending %r" % (grown, added[-300:]))
    starved = [line for line in added.splitlines()
               if "Too many open files" in line and "accept" not in line]
    if starved:
        failures.append("failover path out of descriptors: %s" % starved[:3])
    if engine not in children_of(d.pid):
        failures.append("the engine was restarted")
    assert not failures, "\n".join(failures)

    t_gone = time.monotonic()
    poll_until(lambda: ping_once(port), 10, "/api/ping to answer once the attackers left")
    print("/api/ping answered %.2f s after the attackers left" % (time.monotonic() - t_gone))
    # The master the Sentinels name now: under ASan and this load they
    # sometimes fail the new master over again (seen: epoch 2, three
    # switches, all three Sentinels agreeing), and the API must follow that.
    poll_until(lambda: reported(port) == g.sentinel_master(NAME), 10,
               "API to report the Sentinels' master")


# ---------------------------------------------------------------- reply bombs


MiB = 1 << 20
BOMBS = {
    # A bulk string of 50 MB (hiredis 0.14 buffers it whole).
    "bulk": b"$%d\r\n" % (50 * MiB) + b"x" * (50 * MiB) + b"\r\n",
    # 1,048,576 integers: 48 MB of reply objects from 4 MB on the wire.
    "ints": b"*1048576\r\n" + b":1\r\n" * 1048576,
    # 1,024 bulks of 64 KiB: each element small, 64 MiB in all.
    "wide": b"*1024\r\n" + (b"$65536\r\n" + b"y" * 65536 + b"\r\n") * 1024,
    # 100,000 levels of one-element arrays.
    "deep": b"*1\r\n" * 100000 + b":1\r\n",
}


class Bomber:
    """Answers the commands named in `targets` with the next bomb in turn
    (once armed; `benign` until then) and counts what it served."""

    def __init__(self, targets, benign):
        self.targets = targets
        self.benign = benign
        self.armed = False
        self.lock = threading.Lock()
        self.served = {k: 0 for k in BOMBS}
        self.turn = 0
        self.fake = FakeServer(self.handle)

    def handle(self, args):
        key = " ".join(a.upper() for a in args[:2])
        if self.armed and any(key.startswith(t) for t in self.targets):
            with self.lock:
                kind = list(BOMBS)[self.turn % len(BOMBS)]
                self.turn += 1
                self.served[kind] += 1
            return Raw(BOMBS[kind])
        return self.benign(args)

    def total(self):
        with self.lock:
            return sum(self.served.values())

    def each_kind(self, n):
        with self.lock:
            return all(v >= n for v in self.served.values())


def benign_sentinel(args):
    cmd = " ".join(a.upper() for a in args[:2])
    if cmd == "PING":
        return Simple("PONG")
    if cmd == "SENTINEL MASTERS" or cmd.startswith("SENTINEL SENTINELS") \
            or cmd.startswith("SENTINEL REPLICAS") or cmd.startswith("SENTINEL SLAVES"):
        return []
    if cmd == "SENTINEL MASTER":
        return RespError("ERR No such master with that name")
    return None


def benign_candidate(args):
    cmd = args[0].upper()
    if cmd == "PING":
        return Simple("PONG")
    if cmd == "ROLE":  # until armed: a replica, refused and retried
        return ["slave", "127.0.0.1", 1, "connected", 0]
    return None


# The engine's memory bound under the bombs. redishappyd(8) BUDGETS: one
# reply may cost 8 MiB counted as hiredis allocates it (131,072 elements,
# 4 levels), and a bulk header announcing more is refused before its
# bytes are buffered; a link for 2 clusters adds 6 KiB. Unparsed bytes
# are capped at the same 8 MiB. Two links are bombed at once here (the
# lying Sentinel's command link and the ROLE check of the bombed
# candidate), so at most 2 x (8 + 8) MiB = 32 MiB above the engine's
# baseline (a few MB), plus allocator slack: 64 MiB leaves room for the
# slack while staying far below what an unbounded reader does (the issue
# measured ~980 MB for the bulk and 1.24 GB for the integers).
RSS_BOUND_KB = 64 * 1024
# Under AddressSanitizer (CI's build) freed memory sits in a quarantine of
# up to 256 MB and every allocation carries redzones and shadow: the bound is
# then the quarantine plus the same margin, still far below the 1 GB and more
# an unbudgeted reply reached.
ASAN_RSS_BOUND_KB = (256 + 128) * 1024


def rss_bound_kb(pid):
    with open("/proc/%d/maps" % pid) as f:
        return ASAN_RSS_BOUND_KB if "libasan" in f.read() else RSS_BOUND_KB


def test_reply_bombs_during_failover():
    """A configured Sentinel that answers SENTINEL MASTERS / MASTER with a
    reply bomb on every connection (50 MB bulk, 1,048,576 integers, 1,024
    bulks of 64 KiB, 100,000 levels of nesting, in turn), and a candidate
    master that answers ROLE with the same bombs. The candidate is made to
    be asked ROLE by two more configured (trusted) Sentinels agreeing on it
    as the master of a second cluster, "bombed", at epoch 5 (topology.h
    rules 2-3: two trusted reports of (A, E) make A a Confirm candidate;
    decide.cc retries a failed ROLE check with a backoff capped by
    backoff_max). Keeping it out of the real cluster keeps the real
    failover decided by the real Sentinels alone. Asserts: the engine's
    peak RSS (VmHWM) stays under RSS_BOUND_KB; the same engine follows a
    real failover of "testing" while both bombers keep serving; the
    bombed candidate is never shown.

    Without reply budgets (the build before issue 12), the first 50 MB
    bulk or million-integer array takes the engine's RSS to hundreds of MB
    to over a GB, and the VmHWM bound fails."""
    g = RedisGroup(NAME)
    g.wait_ready()
    liar = Bomber(("SENTINEL MASTERS", "SENTINEL MASTER"), benign_sentinel)
    candidate = Bomber(("ROLE",), benign_candidate)
    agree = [ScriptedSentinel("bombed", candidate.fake.addr, 5) for _ in range(2)]
    port = rhtest.free_port()
    sentinels = [(s.host, s.port) for s in g.sentinels] + [liar.fake.addr] + \
        [a.fake.addr for a in agree]
    conf = daemon_config(sentinels, port, "backoff_max = 1s\n", clusters=(NAME, "bombed"))
    d = start(conf, port)
    engine = d.wait_engine()
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 15, "API to report the master")
    d.wait_log("cluster bombed: confirming", timeout=10)  # asked ROLE, not armed yet
    baseline = vmrss_kb(engine)

    liar.armed = candidate.armed = True
    poll_until(lambda: liar.each_kind(1) and candidate.each_kind(1), 30,
               "every bomb served by both (liar %s, candidate %s)"
               % (liar.served, candidate.served))
    before = (liar.total(), candidate.total())

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 15, "the failover followed under the bombs")
    # The bombing went on during the failover, not only before it.
    poll_until(lambda: liar.total() > before[0] and candidate.total() > before[1], 15,
               "bombs served after the failover started")

    peak = status_kb(engine, "VmHWM")
    bound = rss_bound_kb(engine)
    now = vmrss_kb(engine)
    print("engine RSS: %d kB before the bombs, %d kB now, peak %d kB (bound %d kB)"
          % (baseline, now, peak, bound))
    print("bombs served: liar %s, candidate %s" % (liar.served, candidate.served))
    assert engine in children_of(d.pid), "the engine died under the bombs"
    assert peak < bound, "engine peak RSS %d kB over %d kB" % (peak, bound)
    bombed = topology(port, "bombed")
    assert not bombed or not bombed.get("ip"), bombed
    assert reported(port) == new


# ---------------------------------------------------------------- log forging


FORGED = "07:00:00.000 parent[1] notice: cluster testing: confirmed master 6.6.6.6:6379"


def test_sentinel_error_cannot_forge_log_lines():
    """A configured Sentinel answers one PING with an error whose text holds
    a newline, a forged log line, an ANSI escape and a lone carriage
    return (a RESP error ends only at CR LF, so all of these pass). The
    engine logs the error ("bad reply to PING"): the log must have exactly
    one line holding the forged text, escaped (\\n), no raw control byte,
    and no line starting with the forged prefix.

    Without escaping (the build before issue 12) the forged text is a line
    of its own, starting with "07:00:00.000 parent[1]"."""
    g = RedisGroup(NAME)
    g.wait_ready()
    poisoned = []

    def liar(args):
        if args[0].upper() == "PING" and not poisoned:
            poisoned.append(1)
            return Raw(b"-ERR x\n" + FORGED.encode() + b"\x1b[2K\rok\r\n")
        return benign_sentinel(args)
    fake = FakeServer(liar)
    port = rhtest.free_port()
    d = start(daemon_config([(s.host, s.port) for s in g.sentinels] + [fake.addr], port), port)
    escaped = "x\\n" + FORGED
    d.wait_log("bad reply to PING", timeout=15)
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 10, "API to report the master")
    with open(d.logpath, "rb") as f:  # bytes: a text read would turn CR into LF
        log = f.read().decode(errors="replace")
    lines = log.split("\n")
    holding = [line for line in lines if "6.6.6.6" in line]
    assert len(holding) == 1, holding
    assert escaped in holding[0] and "bad reply to PING" in holding[0], holding[0]
    assert not [line for line in lines if line.startswith("07:00:00.000 parent[1]")]
    assert "\x1b" not in log and "\r" not in log, repr(holding[0])
    print("logged as: %s" % holding[0])


def test_sentinel_auth_error_is_kept_short():
    """A configured Sentinel answers AUTH with a 60 KB error (within even
    the event connection's budget) whose text is not UTF-8. /api/sentinels
    shows lastError escaped (jansson refuses the raw bytes, and the key
    used to vanish) and only its first 200 bytes (all of it was kept and
    served; on the command connection it could be megabytes)."""
    def liar(args):
        if args[0].upper() == "AUTH":
            return Raw(b"-WRONGPASS \xff" + b"A" * 60000 + b"\r\n")
        return None
    fake = FakeServer(liar)
    port = rhtest.free_port()
    start(daemon_config([fake.addr], port, extra_sentinels="password = pw\n"), port)
    key = "%s:%d" % fake.addr

    def last_error():
        with urllib.request.urlopen("http://127.0.0.1:%d/api/sentinels" % port,
                                    timeout=2) as r:
            st = json.loads(r.read())["sentinels"].get(key) or {}
        return st.get("lastError")
    err = poll_until(lambda: (last_error() or "").find("AUTH failed") >= 0 and last_error(),
                     10, "lastError to show the AUTH error")
    assert "AUTH failed: WRONGPASS \\xffAAA" in err, err[:80]
    assert len(err) < 300, len(err)


if __name__ == "__main__":
    run_tests(globals())
