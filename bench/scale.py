#!/usr/bin/python3
"""Growth: redishappyd against two scripted Sentinels announcing N clusters.

Two fake Sentinels answer SENTINEL MASTERS/MASTER/REPLICAS/SENTINELS for N
masters c0..cN-1 (min_agreement 2).  The masters are spread over a few
ROLE-answering ports (N real listeners would be too many).  By default the
fakes are BUILDDIR/bench/fake_farm (C++, libevent; `make check` builds it):
the Python ones below (ManySentinel over rhtest.FakeSentinel, RoleFarm;
--python-fakes, or when fake_farm is not built) give the same answers but
are slower than the daemon at 10,000 clusters.  For each N, measures:
  - start: daemon started -> all N known and confirmed (polling /api/topology)
  - storm: every master moves to a second set of ports at epoch+1 and each
    fake publishes N +switch-master -> all N reflected in /api/topology
  - events handled/s, RSS and PSS of the parent and the engine.
With an [haproxy] section (one backend per cluster, reload command `true`,
check_command `haproxy -c` when haproxy is installed, which the daemon may
skip): both phases are timed until the RENDERED FILE holds all N clusters at
the right address, and the parent's batch lines (renders per phase, render/
write/check/reload ms) are summed.  --no-haproxy measures as before (API).
Prints figures; never asserts timing.

Usage: bench/scale.py BUILDDIR [--clusters 1,100,1000,10000] [--ports K] [--no-haproxy]
                      [--python-fakes] [--reread-interval S] [--hold PATH]
"""
import argparse
import json
import multiprocessing
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_paths(builddir):
    os.environ["RH_BUILDDIR"] = os.path.abspath(builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


class RoleFarm:
    """Many loopback listeners served by ONE child process (selectors): each
    port answers PING and ROLE with the farm's current role ("master" or
    "slave").  Thousands of short ROLE connections cost no thread each, and
    a process of its own keeps them off the GIL of the fake Sentinels and
    of the measuring threads."""

    def __init__(self, count):
        self.master = multiprocessing.Value("b", 1, lock=False)
        self.listeners = []
        for _ in range(count):
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", 0))
            ls.listen(4096)
            ls.setblocking(False)
            self.listeners.append(ls)
        self.ports = sorted(ls.getsockname()[1] for ls in self.listeners)
        self.proc = multiprocessing.get_context("fork").Process(target=self._loop, daemon=True)
        self.proc.start()

    def set_role(self, role):
        self.master.value = 1 if role == "master" else 0

    def _reply(self, cmd):
        if cmd == b"PING":
            return b"+PONG\r\n"
        if cmd == b"ROLE":
            if self.master.value:
                return b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
            return (b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:1\r\n"
                    b"$9\r\nconnected\r\n:0\r\n")
        return b"-ERR unknown command\r\n"

    @staticmethod
    def _commands(buf):
        """Split complete RESP arrays of bulk strings; return (names, rest)."""
        out = []
        while buf.startswith(b"*"):
            pos = 0
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            n = int(buf[1:end])
            pos = end + 2
            args = []
            for _ in range(n):
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    return out, buf
                size = int(buf[pos + 1:end])
                if len(buf) < end + 2 + size + 2:
                    return out, buf
                args.append(buf[end + 2:end + 2 + size])
                pos = end + 2 + size + 2
            out.append(args[0].upper() if args else b"")
            buf = buf[pos:]
        return out, buf

    def _loop(self):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sel = selectors.DefaultSelector()
        for ls in self.listeners:
            sel.register(ls, selectors.EVENT_READ, None)
        while True:
            for key, _ in sel.select(timeout=1.0):
                if key.data is None:
                    self._accept(sel, key.fileobj)
                else:
                    self._read(sel, key.fileobj, key.data)

    def _accept(self, sel, ls):
        while True:
            try:
                conn, _ = ls.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(conn, selectors.EVENT_READ, [b""])

    def _read(self, sel, conn, data):
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(conn)
            conn.close()
            return
        cmds, data[0] = self._commands(data[0] + chunk)
        out = b"".join(self._reply(c) for c in cmds)
        try:
            conn.sendall(out)  # replies are tiny; the socket buffer takes them
        except OSError:
            sel.unregister(conn)
            conn.close()

    def close(self):
        if self.proc.is_alive():
            self.proc.terminate()  # our own child, by its PID
        self.proc.join(timeout=5)
        for ls in self.listeners:
            ls.close()


class ManySentinel:
    """A scripted Sentinel (rhtest.FakeSentinel) for N masters; the answer
    for every master comes from `self.where(i)` at `self.epoch`."""

    def __init__(self, rhtest, n, ports, epoch):
        self.rhtest = rhtest
        self.n = n
        self.ports = ports
        self.epoch = epoch
        self.masters_raw = None
        self.handled = 0
        self.fake = rhtest.FakeSentinel(self.handle)

    def set(self, ports, epoch):
        self.ports, self.epoch = ports, epoch
        self.masters_raw = None

    def entry(self, i):
        port = self.ports[i % len(self.ports)]
        return ["name", "c%d" % i, "ip", "127.0.0.1", "port", str(port), "runid", "x" * 40,
                "flags", "master", "config-epoch", str(self.epoch), "num-slaves", "0",
                "num-other-sentinels", "1", "quorum", "2"]

    def handle(self, args):
        self.handled += 1
        cmd = [a.upper() for a in args[:2]]
        if cmd[0] == "PING":
            return self.rhtest.Simple("PONG")
        if cmd == ["SENTINEL", "MASTERS"]:
            if self.masters_raw is None:
                self.masters_raw = self.rhtest.Raw(self.rhtest.encode_reply(
                    [self.entry(i) for i in range(self.n)]))
            return self.masters_raw
        if cmd == ["SENTINEL", "MASTER"] and len(args) > 2 and args[2].startswith("c"):
            try:
                i = int(args[2][1:])
            except ValueError:
                return self.rhtest.RespError("ERR No such master with that name")
            if 0 <= i < self.n:
                return self.entry(i)
            return self.rhtest.RespError("ERR No such master with that name")
        if cmd in (["SENTINEL", "REPLICAS"], ["SENTINEL", "SLAVES"],
                   ["SENTINEL", "SENTINELS"]):
            return []
        return None


class PythonFakes:
    """Two ManySentinels and two RoleFarms (A, then B after the switch)."""

    def __init__(self, rhtest, r, n, nports):
        self.n = n
        self.farm_a = RoleFarm(nports)
        self.farm_b = RoleFarm(nports)
        r.on_close(self.farm_a.close)
        r.on_close(self.farm_b.close)
        self.a_ports, self.b_ports = self.farm_a.ports, self.farm_b.ports
        self.sentinels = [ManySentinel(rhtest, n, self.a_ports, 5) for _ in range(2)]
        self.addrs = [s.fake.addr for s in self.sentinels]

    def handled(self):
        return sum(f.handled for f in self.sentinels)

    def switch(self):
        """Farm A answers ROLE slave, the masters move to farm B at epoch 6,
        each Sentinel in turn publishes N +switch-master; returns the
        seconds publishing took."""
        self.farm_a.set_role("slave")
        for f in self.sentinels:
            f.set(self.b_ports, 6)
        t = time.monotonic()
        k = len(self.a_ports)
        for f in self.sentinels:
            for i in range(self.n):
                f.fake.publish("+switch-master", "c%d 127.0.0.1 %d 127.0.0.1 %d"
                               % (i, self.a_ports[i % k], self.b_ports[i % k]))
        return time.monotonic() - t


class FastFakes:
    """The same fakes served by bench/fake_farm, a child process driven
    over its stdin/stdout, one line each way."""

    def __init__(self, path, r, n, nports):
        self.proc = subprocess.Popen([path, "-s", "2", "-n", str(n), "-k", str(nports),
                                      "-e", "5"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        r.on_close(self.close)
        words = self.proc.stdout.readline().split()
        if not words or words[0] != "ready":
            raise RuntimeError("fake_farm did not start: %r" % words)
        ia, ib = words.index("a"), words.index("b")
        self.addrs = [("127.0.0.1", int(p)) for p in words[2:ia]]
        self.a_ports = [int(p) for p in words[ia + 1:ib]]
        self.b_ports = [int(p) for p in words[ib + 1:]]

    def _ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("fake_farm exited")
        return reply.strip()

    def handled(self):
        return int(self._ask("handled"))

    def switch(self):
        """As PythonFakes.switch; the seconds are fake_farm's own time to
        build every message and queue it on the subscribers' buffers."""
        return float(self._ask("switch").split()[1])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # end of input: fake_farm exits
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # our own child, by its PID
                self.proc.wait(timeout=5)


def topology(api_port):
    url = "http://127.0.0.1:%d/api/topology" % api_port
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode())


def count_at(api_port, ports, epoch):
    """How many clusters are confirmed on one of `ports` at `epoch`."""
    want = set(ports)
    return sum(1 for c in topology(api_port)
               if c.get("confirmed") and c.get("port") in want and c.get("epoch") == epoch)


def wait_count(api_port, n, ports, epoch, t0, timeout):
    """Poll until all n are reflected; returns (seconds since t0, polls,
    mean seconds per poll).  The figure is an upper bound by one poll."""
    polls = 0
    spent = 0.0
    last = 0
    deadline = time.monotonic() + timeout
    while True:
        p0 = time.monotonic()
        try:
            last = count_at(api_port, ports, epoch)
        except OSError:
            last = -1
        now = time.monotonic()
        polls += 1
        spent += now - p0
        if last == n:
            return now - t0, polls, spent / polls
        if now >= deadline:
            raise TimeoutError("%d of %d reflected after %.1f s" % (last, n, now - t0))
        time.sleep(0.002)


LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) (parent|engine)\[\d+\] notice: "
                      r"cluster c\d+: (?:confirmed master|new master) \S+ at epoch (\d+)\b")


# The parent logs one line per batch of confirmations it takes in.
BATCH_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) parent\[\d+\] notice: "
                        r"(\d+) clusters? confirmed")


def parent_batches(text, wall0):
    """(seconds-of-day, clusters) of every parent batch line from wall0 on."""
    out = []
    for line in text.splitlines():
        m = BATCH_LINE.match(line)
        if m:
            t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            if t >= sod(wall0):
                out.append((t, int(m.group(4))))
    return out


def parent_reached(text, n, wall0):
    """(seconds-of-day when the parent had taken in n confirmations since
    wall0, or None; how many it had)."""
    total = 0
    for t, k in parent_batches(text, wall0):
        total += k
        if total >= n:
            return t, total
    return None, total


def log_confirms(text, who, epoch):
    """Seconds-of-day (UTC, as the daemon logs them) of every `who`
    (engine: confirmed by ROLE; parent: received) confirmation at `epoch`."""
    out = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m and m.group(4) == who and int(m.group(5)) == epoch:
            out.append(int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)))
    return out


def sod(wall):
    return wall % 86400.0


def from_log(d, n, epoch, wall0, parent_timeout):
    """(engine seconds, parent seconds or None, parent count, engine lines)
    from wall0 until the last of the n confirmations at `epoch`, by the
    daemon's own log timestamps; waits up to parent_timeout for the parent
    to have all n. The engine's figure is None when its log holds fewer than
    n confirmation lines: its per-message line budget folds the rest into
    "similar messages suppressed" at large N."""
    deadline = time.monotonic() + parent_timeout
    while True:
        text = d.log()
        at, count = parent_reached(text, n, wall0)
        if at is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    eng = log_confirms(text, "engine", epoch)
    e = (max(eng) - sod(wall0)) if len(eng) >= n else None
    p = (at - sod(wall0)) if at is not None else None
    return e, p, count, len(eng)


# One backend per cluster: what an operator would render for N clusters.
TEMPLATE = """global
    maxconn 64
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
{{#clusters}}
listen {{haproxy_backend}}
    bind 127.0.0.1:{{external_port}}
    server {{haproxy_server}} {{master_host}}:{{master_port}}
{{/clusters}}
"""

FILE_SERVER = re.compile(rb"^listen redis_c(\d+)\n\s+bind \S+\n\s+server master ([^\s:]+):(\d+)$",
                         re.M)


def write_config(rhtest, n, sentinels, api_port, haproxy, check, reread_s):
    """sentinels: the fakes' (host, port) addresses."""
    r = rhtest.run()
    tag = "%d-%d" % (n, api_port)
    chroot = r.path("root-%s" % tag)
    os.makedirs(chroot, 0o755, exist_ok=True)
    lines = ["[global]"]
    lines += (["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0
              else ["chroot ="])
    lines += ["state_file = %s/state-%s.json" % (r.dir, tag),
              "api_listen = 127.0.0.1:%d" % api_port, "log_level = notice",
              "", "[sentinels]"]
    lines += ["address = %s:%d" % addr for addr in sentinels]
    # Re-reads rarely by default (--reread-interval): the storm must be
    # carried by the events. With the Python fakes, on a loaded machine one
    # SENTINEL MASTERS of 10,000 entries takes longer than the default 1 s
    # timeouts.
    lines += ["min_agreement = 2", "ping_interval = 1s", "reread_interval = %gs" % reread_s,
              "ping_timeout = 10s", "confirm_timeout = 10s", ""]
    lines[lines.index("[sentinels]"):lines.index("[sentinels]")] = ["startup_grace = 60s", ""]
    output = None
    if haproxy:
        template = r.path("haproxy-%s.mustache" % tag)
        with open(template, "w") as f:
            f.write(TEMPLATE)
        output = r.path("haproxy-%s.cfg" % tag)
        lines += ["[haproxy]", "template = %s" % template, "output = %s" % output,
                  "reload_command = true"]
        if check and shutil.which("haproxy"):
            lines += ["check_command = %s -c -q -f %%s" % shutil.which("haproxy")]
        lines += [""]
    for i in range(n):
        lines += ["[cluster c%d]" % i, "external_port = %d" % (20000 + i), ""]
    path = r.path("redishappy-%s.conf" % tag)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path, output


def file_count(path, n, ports):
    """How many clusters the file at path routes to their master on ports."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    k = len(ports)
    good = 0
    for m in FILE_SERVER.finditer(data):
        i = int(m.group(1))
        if i < n and m.group(2) == b"127.0.0.1" and int(m.group(3)) == ports[i % k]:
            good += 1
    return good


def wait_file(path, n, ports, t0, timeout):
    """Poll the rendered file until all n clusters are at `ports`. Returns
    (seconds since t0 when seen, seconds since t0 of the file's mtime)."""
    deadline = time.monotonic() + timeout
    seen_ns = None
    last = 0
    while True:
        now = time.monotonic()
        try:
            st = os.stat(path)
            if st.st_mtime_ns != seen_ns:
                seen_ns = st.st_mtime_ns
                last = file_count(path, n, ports)
                if last == n:
                    # mtime is wall clock: convert to the monotonic base.
                    wall_off = time.time() - time.monotonic()
                    return now - t0, st.st_mtime_ns / 1e9 - wall_off - t0
        except OSError:
            pass
        if now >= deadline:
            raise TimeoutError("file: %d of %d at the right address after %.1f s"
                               % (last, n, now - t0))
        time.sleep(0.002)


def mem_kb(pid):
    """(PSS kB, RSS kB) of pid from /proc/PID/smaps_rollup, or (0, 0)."""
    pss = rss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except (OSError, TypeError):
        pass
    return pss, rss


def hwm_kb(pid):
    """Peak RSS (VmHWM) of pid in kB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return 0


def cpu_s(pid):
    """utime + stime of pid in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, TypeError):
        return 0.0


class MemSampler:
    """Samples the PSS of both processes every 20 ms in a thread: the kernel
    keeps a peak RSS (VmHWM) but no peak PSS."""

    def __init__(self, pids):
        self.pids = pids
        self.peak = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            self.peak = max(self.peak, sum(mem_kb(p)[0] for p in self.pids))
            time.sleep(0.02)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        return self.peak


APPLY_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) parent\[\d+\] notice: haproxy: applied by "
                        r"(\S+).*\(render ([\d.]+) ms, write ([\d.]+) ms, "
                        r"(?:check ([\d.]+) ms|check skipped), switch [\d.]+ ms, "
                        r"reload ([\d.]+) ms\)")


def applies(text, wall0, wall1):
    """The parent's apply lines logged between wall0 and wall1: (count,
    render ms, write ms, check ms, reload ms, checks run), summed."""
    out = [0, 0.0, 0.0, 0.0, 0.0, 0]
    for line in text.splitlines():
        m = APPLY_LINE.match(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        if not sod(wall0) <= t <= sod(wall1):
            continue
        out[0] += 1
        out[1] += float(m.group(5))
        out[2] += float(m.group(6))
        if m.group(7) is not None:
            out[3] += float(m.group(7))
            out[5] += 1
        out[4] += float(m.group(8))
    return out


def api_agrees(rhtest, api_port, n, ports, epoch):
    """Whether /api/topology shows all n confirmed at epoch on ports within
    30 s (the view is rebuilt a moment after a change)."""
    try:
        rhtest.poll_until(lambda: count_at(api_port, ports, epoch) == n, 30, "the API")
        return True
    except (AssertionError, TimeoutError, OSError):
        return False


def batches_between(text, wall0, wall1):
    return sum(1 for t, _ in parent_batches(text, wall0) if t <= sod(wall1) + 0.001)


def hold(path, pids):
    """--hold: the measured daemon stays up, quiet, until `path` exists
    (for gdb, heaptrack or /proc/PID/smaps while it runs)."""
    print("  holding: parent %d, engine %d; touch %s to go on" % (pids[0], pids[1], path),
          flush=True)
    while not os.path.exists(path):
        time.sleep(0.2)
    os.unlink(path)


def one(rhtest, rhdaemon, n, nports, haproxy, check, fake_farm, hold_path=None, reread_s=60):
    r = rhtest.run()
    mark = r.mark()
    if fake_farm:
        fakes = FastFakes(fake_farm, r, n, nports)
    else:
        fakes = PythonFakes(rhtest, r, n, nports)
    a_ports, b_ports = fakes.a_ports, fakes.b_ports
    api_port = r.free_port()
    conf, output = write_config(rhtest, n, fakes.addrs, api_port, haproxy, check, reread_s)
    res = {"n": n}
    d = rhdaemon.Daemon(conf)
    sampler = None
    try:
        t0 = time.monotonic()
        wall0 = time.time()
        d.__enter__()
        if haproxy:
            rhtest.poll_until(lambda: rhdaemon.engine_of(d.pid), 10, "the engine")
            engine = rhdaemon.engine_of(d.pid)
            sampler = MemSampler([d.pid, engine])
            res["start_s"], res["start_mtime"] = wait_file(output, n, a_ports, t0, 120)
            res["start_polls"], res["poll_s"] = 0, 0.0
            # Confirmed, as the API says (one poll, after the figure).
            res["start_api_ok"] = api_agrees(rhtest, api_port, n, a_ports, 5)
        else:
            rhtest.poll_until(lambda: topology(api_port) is not None, 30, "the API")
            res["start_s"], res["start_polls"], res["poll_s"] = wait_count(
                api_port, n, a_ports, 5, t0, 120)
            engine = rhdaemon.engine_of(d.pid)
        res["log_start"] = from_log(d, n, 5, wall0, 60)
        time.sleep(0.5)  # the apply's log line comes after the reload command
        res["mem_start"] = (mem_kb(d.pid), mem_kb(engine))
        handled_before = fakes.handled()

        wall_cut = time.time()
        text = d.log()
        res["apply_start"] = applies(text, wall0, wall_cut)
        res["batches_start"] = batches_between(text, wall0, wall_cut)
        # The storm: new masters on farm B at epoch 6, old ones now replicas
        # (timed from here: reading the log above is not part of it). Not
        # before min_reload_interval (1 s) has passed since the start's
        # reload: an apply that would reload sooner waits for it by design
        # (one reload per second at most), and the storm would measure that
        # wait instead of the daemon's handling of the storm.
        if haproxy:
            quiet_from = t0 + res["start_mtime"] + 1.05
            res["storm_waited_s"] = max(0.0, quiet_from - time.monotonic())
            time.sleep(res["storm_waited_s"])
        t1 = time.monotonic()
        wall1 = time.time()
        res["publish_s"] = fakes.switch()
        if haproxy:
            res["storm_s"], res["storm_mtime"] = wait_file(output, n, b_ports, t1, 120)
            res["storm_polls"], res["storm_poll_s"] = 0, 0.0
            res["storm_api_ok"] = api_agrees(rhtest, api_port, n, b_ports, 6)
        else:
            res["storm_s"], res["storm_polls"], res["storm_poll_s"] = wait_count(
                api_port, n, b_ports, 6, t1, 120)
        res["log_storm"] = from_log(d, n, 6, wall1, 60)
        # Everything the storm caused, up to a second after it settled.
        time.sleep(1.0)
        text = d.log()
        res["apply_storm"] = applies(text, wall1, time.time())
        res["batches_storm"] = batches_between(text, wall1, time.time())
        res["rereads"] = fakes.handled() - handled_before
        res["mem_storm"] = (mem_kb(d.pid), mem_kb(engine))
        # Memory once the daemon has been quiet for a while: each process
        # gives freed heap pages back 1 s after its last burst of work.
        time.sleep(2.0)
        res["mem_quiet"] = (mem_kb(d.pid), mem_kb(engine))
        res["peak_pss"] = sampler.stop() if sampler else 0
        sampler = None
        res["hwm"] = (hwm_kb(d.pid), hwm_kb(engine))
        # Idle cost over 5 s, or two periodic re-reads when they are
        # shorter than 10 s: CPU of both processes, Sentinel commands/s.
        window = 2 * reread_s if reread_s < 10 else 5.0
        res["reread_s"] = reread_s
        c0 = cpu_s(d.pid) + cpu_s(engine)
        h0 = fakes.handled()
        time.sleep(window)
        res["idle_cpu"] = (cpu_s(d.pid) + cpu_s(engine) - c0) / window
        res["idle_cmds"] = (fakes.handled() - h0) / window
        res["engine_alive"] = engine in rhdaemon.children_of(d.pid)
        if hold_path:
            hold(hold_path, (d.pid, engine))
    except (TimeoutError, AssertionError) as e:
        res["error"] = str(e)
        engine = rhdaemon.engine_of(d.pid)
        res["mem_err"] = (mem_kb(d.pid), mem_kb(engine))
        log = d.log().splitlines()
        res["log_tail"] = log[-8:]
    finally:
        if sampler:
            sampler.stop()
        d.stop()
        r.release(mark)
    return res


def ms(sec):
    return "%.1f ms" % (sec * 1000) if sec is not None else "NOT REACHED"


def engine_ms(log, n):
    """The engine's figure from from_log(), or why there is none."""
    if log[0] is not None:
        return ms(log[0])
    return "n/a (%d of %d lines in the log: the rest rate-limited)" % (log[3], n)


def mem(pair):
    (pp, pr), (ep, er) = pair
    return ("PSS parent %d + engine %d = %d kB; RSS parent %d + engine %d = %d kB"
            % (pp, ep, pp + ep, pr, er, pr + er))


def report(res, haproxy):
    n = res["n"]
    if "error" in res:
        print("  FAILED: %s" % res["error"])
        print("  memory then: %s" % mem(res["mem_err"]))
        for line in res["log_tail"]:
            print("  | " + line)
        return
    what = "in the rendered file" if haproxy else "confirmed in /api/topology"
    print("  start -> all %d %s: %8.1f ms%s" % (
        n, what, res["start_s"] * 1000,
        " (temp file written at %.1f ms; API agrees: %s)" % (res["start_mtime"] * 1000,
                                                   res["start_api_ok"]) if haproxy
        else " (%d polls, %.1f ms per poll)" % (res["start_polls"], res["poll_s"] * 1000)))
    print("  by the daemon's log: engine confirmed all at %s, parent received all at %s"
          " (parent has %d of %d)" % (engine_ms(res["log_start"], n), ms(res["log_start"][1]),
                                     res["log_start"][2], n))
    for phase in ("start", "storm"):
        a = res["apply_" + phase]
        print("  %s: %d parent batch lines, %d applies logged: render %.1f ms, write %.1f ms, "
              "check %.1f ms (%d run), reload %.1f ms in all"
              % (phase, res["batches_" + phase], a[0], a[1], a[2], a[3], a[5], a[4]))
    print("  memory after start: %s" % mem(res["mem_start"]))
    if res.get("storm_waited_s"):
        print("  (the storm waited %.0f ms: it starts 1 s after the start's reload at the "
              "earliest, min_reload_interval)" % (res["storm_waited_s"] * 1000))
    print("  storm of %d +switch-master per sentinel (publishing took %.1f ms) -> all "
          "%s: %8.1f ms%s"
          % (n, res["publish_s"] * 1000, what, res["storm_s"] * 1000,
             " (temp file written at %.1f ms; API agrees: %s)" % (res["storm_mtime"] * 1000,
                                                        res["storm_api_ok"]) if haproxy
             else " (%d polls, %.1f ms per poll)" % (res["storm_polls"],
                                                     res["storm_poll_s"] * 1000)))
    print("  by the daemon's log: engine confirmed all at %s, parent received all at %s"
          " (parent has %d of %d)" % (engine_ms(res["log_storm"], n), ms(res["log_storm"][1]),
                                     res["log_storm"][2], n))
    print("  events handled/s: %.0f (%d clusters), %.0f (%d events from 2 sentinels); "
          "sentinel commands during storm: %d"
          % (n / res["storm_s"], n, 2 * n / res["storm_s"], 2 * n, res["rereads"]))
    print("  memory 1 s after the storm: %s; engine still the same process: %s"
          % (mem(res["mem_storm"]), res["engine_alive"]))
    print("  memory 3 s after the storm (quiet): %s" % mem(res["mem_quiet"]))
    print("  peaks: PSS (sampled every 20 ms) %d kB; RSS (VmHWM) parent %d + engine %d kB"
          % (res["peak_pss"], res["hwm"][0], res["hwm"][1]))
    print("  idle (reread_interval %gs): %.2f %% of a core, %.1f Sentinel commands/s" % (
        res["reread_s"], res["idle_cpu"] * 100, res["idle_cmds"]), flush=True)


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--clusters", default="1,100,1000,10000")
    ap.add_argument("--ports", type=int, default=4,
                    help="ROLE-answering ports per farm (default 4)")
    ap.add_argument("--runs", type=int, default=1,
                    help="runs per N; the summary shows medians (default 1)")
    ap.add_argument("--no-check", action="store_true",
                    help="no check_command (haproxy -c of 10,000 listeners takes seconds)")
    ap.add_argument("--no-haproxy", action="store_true",
                    help="no [haproxy] section: time until /api/topology shows all N")
    ap.add_argument("--python-fakes", action="store_true",
                    help="serve the fakes from Python (rhtest) instead of bench/fake_farm")
    ap.add_argument("--reread-interval", type=float, default=60, metavar="SECONDS",
                    help="the daemon's reread_interval (default 60: the storm is carried by "
                    "the events); 5, the daemon's default, shows the idle cost of the "
                    "periodic re-reads")
    ap.add_argument("--hold", metavar="PATH",
                    help="after each run's figures, keep the daemon running (quiet) until "
                    "PATH exists, printing its PIDs")
    args = ap.parse_args()
    haproxy = not args.no_haproxy
    setup_paths(args.builddir)
    # TERM/INT exit through SystemExit so rhtest's atexit teardown stops
    # every process this run started.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))
    import rhtest
    import rhdaemon
    if not os.access(rhdaemon.DAEMON, os.X_OK):
        print("scale: %s not built" % rhdaemon.DAEMON, file=sys.stderr)
        return 1
    fake_farm = os.path.join(os.path.abspath(args.builddir), "bench", "fake_farm")
    if args.python_fakes:
        fake_farm = None
        print("scale: fakes served by Python (--python-fakes)", flush=True)
    elif not os.access(fake_farm, os.X_OK):
        print("scale: %s not built (make check builds it): fakes served by Python, "
              "slower than the daemon at 10,000 clusters" % fake_farm, flush=True)
        fake_farm = None
    else:
        print("scale: fakes served by %s" % fake_farm, flush=True)
    rows = []
    for n in [int(x) for x in args.clusters.split(",")]:
        runs = []
        for k in range(args.runs):
            print("== N = %d, run %d of %d" % (n, k + 1, args.runs), flush=True)
            res = one(rhtest, rhdaemon, n, args.ports, haproxy, not args.no_check,
                      fake_farm, args.hold, args.reread_interval)
            report(res, haproxy)
            runs.append(res)
        rows.append((n, runs))
    print()
    print("== summary, medians of %d run(s) (targets: start 200 ms @1000, 1 s @10000; "
          "storm 300 ms @1000, 1 s @10000; quiet PSS 8 MB @1000, 30 MB @10000)" % args.runs)
    print("start/storm = all N %s (ms); eng = engine's last confirmation by its log; "
          "applies = parent applies logged per phase; memory in kB, both processes"
          % ("in the rendered file" if haproxy else "confirmed in /api/topology"))
    print("%7s %7s %7s %7s %7s %7s %7s %9s %9s %9s %9s %7s" % (
        "N", "start", "startEng", "storm", "stormEng", "applies", "render", "quietPSS",
        "quietRSS", "peakPSS", "peakRSS", "idleCPU"))
    for n, runs in rows:
        ok = [r for r in runs if "error" not in r]
        if not ok:
            print("%7d FAILED: %s" % (n, runs[0]["error"]))
            continue

        def med(fn):
            return median([fn(r) for r in ok])

        def f(v, scale=1000.0):
            return "%.0f" % (v * scale) if v is not None else "n/a"
        print("%7d %7s %7s %7s %7s %7s %7s %9s %9s %9s %9s %6s%%" % (
            n, f(med(lambda r: r["start_s"])), f(med(lambda r: r["log_start"][0])),
            f(med(lambda r: r["storm_s"])), f(med(lambda r: r["log_storm"][0])),
            f(med(lambda r: r["apply_storm"][0]), 1), f(med(lambda r: r["apply_storm"][1]), 1),
            f(med(lambda r: r["mem_quiet"][0][0] + r["mem_quiet"][1][0]), 1),
            f(med(lambda r: r["mem_quiet"][0][1] + r["mem_quiet"][1][1]), 1),
            f(med(lambda r: r["peak_pss"]), 1), f(med(lambda r: r["hwm"][0] + r["hwm"][1]), 1),
            "%.1f" % (med(lambda r: r["idle_cpu"]) * 100)))
        if len(ok) < len(runs):
            print("%7s (%d of %d runs failed)" % ("", len(runs) - len(ok), len(runs)))
    # The columns bench/table.py reads (medians; startPar/stormPar are the
    # times above: the rendered file, or the API with --no-haproxy).
    print()
    print("%7s %9s %9s %10s %9s %9s %10s %8s %20s %20s" % (
        "N", "startAPI", "startEng", "startPar", "stormAPI", "stormEng", "stormPar",
        "ev/s", "RSS p+e kB", "quiet RSS p+e kB"))
    for n, runs in rows:
        ok = [r for r in runs if "error" not in r]
        if not ok:
            print("%7d FAILED: %s" % (n, runs[0]["error"]))
            continue

        def med(fn):
            return median([fn(r) for r in ok])

        def f(v):
            return "%.0f" % (v * 1000) if v is not None else "n/a"

        def pe(key):
            p, e = med(lambda r: r[key][0][1]), med(lambda r: r[key][1][1])
            return "%d+%d=%d" % (p, e, p + e)
        start, storm = med(lambda r: r["start_s"]), med(lambda r: r["storm_s"])
        print("%7d %9s %9s %10s %9s %9s %10s %8.0f %20s %20s" % (
            n, f(start), f(med(lambda r: r["log_start"][0])), f(start), f(storm),
            f(med(lambda r: r["log_storm"][0])), f(storm), n / storm,
            pe("mem_storm"), pe("mem_quiet")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
