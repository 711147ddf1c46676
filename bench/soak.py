#!/usr/bin/python3
"""Soak: hundreds of consecutive failovers with writers through HAProxy.

Real redis-server, redis-sentinel, haproxy and redishappyd, all on loopback
(the harness of tests/integration/rhtest.py).  K clusters (default 4) of one
master and two replicas, three Sentinels (down-after 1000 ms) monitoring all
of them, and two daemons side by side, each with its own HAProxy: one
switches masters through the runtime socket, the other rewrites the file and
reloads HAProxy with -st (the reload path).  Every failover exercises both
paths at once.

A failover: the clusters take turns (so one cluster's old master has time to
come back and be demoted while the others fail over); the fault alternates
per turn between kill -9 of the master and SIGSTOP of it.  Once every
Sentinel agrees on the new master and the writers of both daemons reached it,
the old master returns: a killed one is restarted with the configuration file
it had as master (Sentinel's CONFIG REWRITE left no replicaof in it, so it
comes back believing it is master), a stopped one gets SIGCONT.  Before a
cluster fails over again, its old master must have become a replica of the
current one, in sync, seen by every Sentinel.

Writers, for each cluster and each daemon, through that daemon's HAProxy
frontend: a "fresh" writer opening a new connection for every write and a
"persistent" one keeping its connection until an error.  Each writes
`SET <prefix>:N N`, the first write of a connection pipelined with
`CONFIG GET port`, so every acknowledged write is known with the server that
acknowledged it and the time its reply was read.

Prints one line per failover, and every 100 failovers and at the end one
line per path: acknowledged writes lost, the daemon's RSS and PSS (parent and
engine, /proc/PID/smaps_rollup), open fds, log size, and the switch latency
percentiles (first +switch-master on any Sentinel -> first write acknowledged
by the new master through HAProxy).  Never asserts timing.

Usage: bench/soak.py BUILDDIR [--minutes M] [--failovers N] [--clusters K]
                              [--paths runtime,reload]
"""
import argparse
import json
import os
import signal
import statistics
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import daemonlog  # noqa: E402
import failover  # noqa: E402  (template, reload_script, pct, proc_mem, setup_paths, have_programs)

# A failover whose new master no writer of a daemon reaches this long after
# every Sentinel agreed is STUCK for that daemon.
STUCK_AFTER = 15
# A cluster whose old master is not back as an in-sync replica after this
# long is skipped for this turn (and reported).
READY_TIMEOUT = 90
KINDS = ("kill", "stop")
REPORT_EVERY = 100


def mb(kb):
    return "%.2f" % (kb / 1024.0) if kb is not None else "?"


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, TypeError):
        return None


def percentiles(values):
    if not values:
        return "no samples"
    return "p50 %.1f p90 %.1f p99 %.1f max %.1f" % (
        statistics.median(values), failover.pct(values, 90), failover.pct(values, 99),
        max(values))


class SwitchLog:
    """A subscriber per Sentinel for the whole run; records every
    +switch-master as (time.monotonic(), name, new port)."""

    def __init__(self, rhtest, sentinels):
        self.rhtest = rhtest
        self.events = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._loop, args=(s,), daemon=True)
                        for s in sentinels]
        for t in self.threads:
            t.start()

    def _loop(self, s):
        while not self.stopping:
            try:
                conn = self.rhtest.Resp(s.host, s.port, timeout=5)
                conn.subscribe("+switch-master")
            except (OSError, ValueError, self.rhtest.RespError):
                time.sleep(0.1)
                continue
            try:
                while not self.stopping:
                    msg = conn.next_message(timeout=0.2)
                    if msg and msg[0] == "+switch-master":
                        now = time.monotonic()
                        f = msg[1].split()
                        with self.lock:
                            self.events.append((now, f[0], int(f[4])))
            except (OSError, ValueError, EOFError, ConnectionError):
                pass
            finally:
                conn.close()

    def master_at(self, name, t, initial):
        """Port of `name`'s master as the Sentinels had announced it at
        time t: the last +switch-master before t, else `initial`."""
        with self.lock:
            ev = sorted((e for e in self.events if e[1] == name and e[0] <= t))
        return ev[-1][2] if ev else initial

    def announced_since(self, name, t):
        """When the master announced at t was first announced (the start of
        the run of +switch-master naming it that ends before t), or None."""
        with self.lock:
            ev = sorted((e for e in self.events if e[1] == name and e[0] <= t))
        if not ev:
            return None
        port, since = ev[-1][2], ev[-1][0]
        for e in reversed(ev):
            if e[2] != port:
                break
            since = e[0]
        return since

    def first_after(self, name, t0):
        with self.lock:
            ts = [t for t, n, _ in self.events if n == name and t >= t0]
        return min(ts) if ts else None

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=2)


class DemoteWatch:
    """Asks each returned old master ROLE every 100 ms until it answers
    slave; records how long after its return that was."""

    def __init__(self, g):
        self.g = g
        self.lock = threading.Lock()
        self.pending = {}  # name -> (server, returned at)
        self.took = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def add(self, name, server):
        with self.lock:
            self.pending[name] = (server, time.monotonic())

    def _loop(self):
        while not self.stopping.wait(0.1):
            with self.lock:
                items = list(self.pending.items())
            for name, (server, at) in items:
                try:
                    role = self.g.role(server)
                except Exception:  # noqa: BLE001 - not up yet, or an error reply
                    continue
                if role == "slave":
                    with self.lock:
                        if self.pending.get(name, (None,))[0] is server:
                            del self.pending[name]
                            self.took.append(time.monotonic() - at)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)


class Writer:
    """SET <prefix>:N N through HAProxy.  acks: (n, server port, time the
    connection was opened, time the +OK was read)."""

    def __init__(self, rhtest, port, prefix, fresh, interval=0.05, timeout=2.0):
        self.rhtest = rhtest
        self.port = port
        self.prefix = prefix
        self.fresh = fresh
        self.interval = interval
        # After a failed write: the fresh writer retries at once (it is the
        # latency probe), the persistent one a little later.
        self.backoff = 0.001 if fresh else 0.02
        self.timeout = timeout
        self.acks = []
        self.errors = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        rt = self.rhtest
        conn, conn_port, opened, n = None, None, 0.0, 0
        while not self.stopping.is_set():
            n += 1
            try:
                if conn is None:
                    opened = time.monotonic()
                    conn = rt.Resp("127.0.0.1", self.port, timeout=self.timeout,
                                   connect_timeout=self.timeout)
                    conn_port = None
                key = "%s:%d" % (self.prefix, n)
                if conn_port is None:
                    conn.send_raw(rt.encode_command(["SET", key, str(n)]) +
                                  rt.encode_command(["CONFIG", "GET", "port"]))
                    ok = conn.read_reply()
                    got = conn.read_reply()
                    if not isinstance(got, list) or len(got) != 2:
                        raise ValueError("CONFIG GET port: %r" % (got,))
                    conn_port = int(got[1])
                else:
                    conn.send_raw(rt.encode_command(["SET", key, str(n)]))
                    ok = conn.read_reply()
                if ok != "OK":
                    raise ValueError("SET: %r" % (ok,))
                self.acks.append((n, conn_port, opened, time.monotonic()))
                if self.fresh:
                    conn.close()
                    conn = None
                self.stopping.wait(self.interval)
            except (OSError, ValueError, ConnectionError, rt.RespError):
                self.errors += 1
                if conn:
                    conn.close()
                conn = None
                self.stopping.wait(self.backoff)
        if conn:
            conn.close()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)


class Stack:
    """One daemon (runtime or reload path) with its HAProxy, and its writers."""

    def __init__(self, rhtest, rhdaemon, g, path, names):
        self.rhtest, self.rhdaemon, self.g, self.path = rhtest, rhdaemon, g, path
        r = rhtest.run()
        self.api_port = r.free_port()
        self.fports = {n: r.free_port() for n in names}
        self.sock = r.path("haproxy-%s.sock" % path)
        self.cfg = r.path("haproxy-%s.cfg" % path)
        tmpl = r.path("haproxy-%s.mustache" % path)
        with open(tmpl, "w") as f:
            f.write(failover.template(rhtest, self.sock))
        with open(self.cfg, "w") as f:
            f.write(rhtest.render_haproxy_cfg(
                [(n, self.fports[n]) + g.sentinel_master(n) for n in names], self.sock))
        self.hap = rhtest.HAProxy(self.cfg, self.sock)
        reload = failover.reload_script(self.hap)
        chroot = r.path("root-%s" % path)
        os.makedirs(chroot, 0o755, exist_ok=True)
        conf = ["[global]"]
        conf += (["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0
                 else ["chroot ="])
        conf += ["state_file = %s/state-%s.json" % (r.dir, path),
                 "api_listen = 127.0.0.1:%d" % self.api_port, "log_level = info",
                 "startup_grace = 3s", "", "[sentinels]"]
        conf += ["address = %s:%d" % (s.host, s.port) for s in g.sentinels]
        conf += ["min_agreement = 2", "ping_interval = 200ms", "reread_interval = 1s", ""]
        for n in names:
            conf += ["[cluster %s]" % n, "external_port = %d" % self.fports[n], ""]
        conf += ["[haproxy]", "template = %s" % tmpl, "output = %s" % self.cfg,
                 "check_command = haproxy -c -q -f %s",
                 "reload_command = sh %s" % reload, "reload_timeout = 5s"]
        if path == "runtime":
            conf.append("runtime_socket = %s" % self.sock)
        self.conf = r.path("redishappy-%s.conf" % path)
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.d = rhdaemon.Daemon(self.conf)
        self.d.__enter__()
        r.on_close(self.d.stop)
        self.engine = None
        self.engine_restarts = 0
        self.writers = {}
        self.short = "rt" if path == "runtime" else "rl"

    def start_writers(self, names):
        for n in names:
            self.writers[n] = [
                Writer(self.rhtest, self.fports[n], "%s-f" % self.short, fresh=True),
                Writer(self.rhtest, self.fports[n], "%s-p" % self.short, fresh=False)]

    def api_topology(self):
        url = "http://127.0.0.1:%d/api/topology" % self.api_port
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read().decode())

    def applied(self, name):
        for c in self.api_topology():
            if c["name"] == name and c.get("applied", {}).get("state") == "applied":
                return (c["ip"], c["port"])
        return None

    def writers_on(self, name, port):
        """Every writer of `name` has its last ack from `port`."""
        return all(w.acks and w.acks[-1][1] == port for w in self.writers[name])

    def first_ack_on(self, name, port, after):
        """(opened, acked) of the earliest ack by `port` read after `after`."""
        best = None
        for w in self.writers[name]:
            for a in reversed(w.acks):
                if a[3] < after:
                    break
                if a[1] == port and (best is None or a[3] < best[1]):
                    best = (a[2], a[3])
        return best

    def check_engine(self):
        """Counts engine restarts (a new engine PID); returns the PID."""
        e = self.rhdaemon.engine_of(self.d.pid)
        if e and self.engine and e != self.engine:
            self.engine_restarts += 1
        if e:
            self.engine = e
        return e

    def resources(self):
        e = self.check_engine()
        prss, ppss = failover.proc_mem(self.d.pid)
        erss, epss = failover.proc_mem(e) if e else (None, None)
        return {"rss": (prss, erss), "pss": (ppss, epss),
                "fds": (proc_fds(self.d.pid), proc_fds(e) if e else None),
                "log": os.path.getsize(self.d.logpath)}

    def alive(self):
        return self.d.proc.poll() is None

    def stop(self):
        for ws in self.writers.values():
            for w in ws:
                w.stopping.set()
        for ws in self.writers.values():
            for w in ws:
                w.stop()
        self.d.stop()
        self.hap.stop()


class Soak:
    def __init__(self, rhtest, rhdaemon, args):
        self.rhtest, self.rhdaemon, self.args = rhtest, rhdaemon, args
        self.names = ["soak%d" % i for i in range(args.clusters)]
        self.g = rhtest.RedisGroup(self.names, replicas=2, sentinels=3, quorum=2,
                                   down_after_ms=1000, failover_timeout_ms=5000)
        self.g.wait_ready(timeout=60)
        self.switches = SwitchLog(rhtest, self.g.sentinels)
        self.stacks = [Stack(rhtest, rhdaemon, self.g, p, self.names) for p in args.paths]
        for n in self.names:
            self.wait_applied(n, self.g.sentinel_master(n))
        for s in self.stacks:
            s.start_writers(self.names)
            s.log_mark = len(s.d.log())  # the breakdown leaves out the start-up
        # Per daemon and cluster: how many acks of each writer were read back.
        self.checked = {(s.path, n): [0, 0] for s in self.stacks for n in self.names}
        self.initial = {n: self.g.sentinel_master(n)[1] for n in self.names}
        # The master each cluster should have after our last fault; a
        # different one at the next turn is a failover we did not cause.
        self.expected = {n: self.g.sentinel_master(n) for n in self.names}
        self.unplanned = 0
        self.demotes = DemoteWatch(self.g)
        self.returned_as = {"master": 0, "slave": 0, "down": 0}
        self.lost = {s.path: {"redis": 0, "window": 0, "stale": 0, "later": 0}
                     for s in self.stacks}
        self.lost_keys = {s.path: set() for s in self.stacks}
        self.acked_checked = {s.path: 0 for s in self.stacks}
        self.lat = {s.path: [] for s in self.stacks}       # (to open, to ack) ms
        self.stuck = {s.path: 0 for s in self.stacks}
        self.block_lat = {s.path: [] for s in self.stacks}
        self.block_stuck = {s.path: 0 for s in self.stacks}
        self.switch_s = []  # fault -> all Sentinels agree, s
        self.skipped = 0
        self.done = 0
        self.t0 = time.monotonic()
        self.report_lines = []

    # ---------------------------------------------------------------- state

    def wait_applied(self, name, master, timeout=30):
        for s in self.stacks:
            self.rhtest.poll_until(lambda: s.applied(name) == master, timeout,
                                   "%s daemon to apply %s" % (s.path, name))

    def replicas_ok(self, name, master):
        """The master has 2 online replicas and every Sentinel agrees on it
        and sees both replicas up with their link to it ok."""
        g = self.g
        info = g.server_cmd(g.server_at(master), "INFO", "replication")
        if "role:master" not in info:
            return False
        online = sum(1 for line in info.splitlines()
                     if line.startswith("slave") and "state=online" in line)
        if online != 2:
            return False
        for i in range(len(g.sentinels)):
            if g.sentinel_master(name, i) != master:
                return False
            reps = [dict(zip(r[0::2], r[1::2]))
                    for r in g.sentinel_cmd(i, "SENTINEL", "REPLICAS", name)]
            good = [r for r in reps if r["flags"] == "slave" and
                    r.get("master-link-status") == "ok" and
                    int(r.get("master-port", 0)) == master[1]]
            if len(good) != 2:
                return False
        return True

    def ready(self, name):
        master = self.g.sentinel_master(name)
        if not self.replicas_ok(name, master):
            return None
        for s in self.stacks:
            if s.applied(name) != master or not s.writers_on(name, master[1]):
                return None
        return master

    # ---------------------------------------------------------------- lost writes

    def read_back(self, stack, name, master, acks):
        """Acks (of one writer) whose key is not on `master`."""
        missing = []
        with self.rhtest.Resp(master[0], master[1], timeout=10) as r:
            for i in range(0, len(acks), 500):
                chunk = acks[i:i + 500]
                values = r.command("MGET", *["%s:%d" % (a[4], a[0]) for a in chunk])
                missing += [a for a, v in zip(chunk, values) if v != str(a[0])]
        return missing

    def check_window(self, name, master):
        """Reads back every ack of `name` since the last check from its
        current master, and classifies what is missing by who the Sentinels
        had announced as master when it was acknowledged."""
        for s in self.stacks:
            idx = self.checked[(s.path, name)]
            acks = []
            for k, w in enumerate(s.writers[name]):
                end = len(w.acks)
                acks += [a + (w.prefix,) for a in w.acks[idx[k]:end]]
                idx[k] = end
            self.acked_checked[s.path] += len(acks)
            shown = 0
            for a in self.read_back(s, name, master, acks):
                key = "%s/%s:%d" % (name, a[4], a[0])
                if key in self.lost_keys[s.path]:
                    continue
                self.lost_keys[s.path].add(key)
                elected = self.switches.master_at(name, a[3], self.initial[name])
                # Acknowledged by the master of the moment: Redis lost it
                # (asynchronous replication, then a failover). By a server
                # already replaced: before this daemon's writers reached the
                # new master, in the switch's window; after, a session left
                # on (or a route back to) an old master.
                if a[1] == elected:
                    kind, why = "redis", ""
                else:
                    since = self.switches.announced_since(name, a[3])
                    hit = s.first_ack_on(name, elected, since) if since else None
                    kind = "stale" if hit and hit[1] <= a[3] else "window"
                    why = (", %.0f ms after the announcement; this daemon's first write on "
                           "it %s" % ((a[3] - since) * 1000.0 if since else -1,
                                      "%.0f ms after" % ((hit[1] - since) * 1000.0)
                                      if hit else "not seen"))
                self.lost[s.path][kind] += 1
                shown += 1
                if shown <= 3 or kind == "stale":
                    print("  LOST (%s) %s: %s acked by :%d, the announced master then was "
                          ":%d%s" % (s.path, kind, key, a[1], elected, why), flush=True)
            if shown > 3:
                print("  LOST (%s): %d writes of %s in all in this read-back"
                      % (s.path, shown, name), flush=True)

    def check_all(self):
        """Every ack already read back once, read back again from each
        cluster's current master: one found then and missing now counts as
        "later"."""
        extra = {s.path: 0 for s in self.stacks}
        for name in self.names:
            master = self.g.sentinel_master(name)
            for s in self.stacks:
                idx = self.checked[(s.path, name)]
                acks = []
                for k, w in enumerate(s.writers[name]):
                    acks += [a + (w.prefix,) for a in w.acks[:idx[k]]]
                for a in self.read_back(s, name, master, acks):
                    key = "%s/%s:%d" % (name, a[4], a[0])
                    if key not in self.lost_keys[s.path]:
                        self.lost_keys[s.path].add(key)
                        self.lost[s.path]["later"] += 1
                        extra[s.path] += 1
                        if extra[s.path] <= 3:
                            print("  LOST (%s) later: %s acked by :%d, now missing on :%d"
                                  % (s.path, key, a[1], master[1]), flush=True)
        return extra

    # ---------------------------------------------------------------- one failover

    def failover(self, i):
        g = self.g
        name = self.names[i % len(self.names)]
        kind = KINDS[(i // len(self.names)) % len(KINDS)]
        try:
            master = self.rhtest.poll_until(lambda: self.ready(name), READY_TIMEOUT,
                                            "%s ready" % name)
        except AssertionError as e:
            self.skipped += 1
            print("  #%d %s: not ready, skipped: %s" % (i + 1, name, e), flush=True)
            return False
        self.check_window(name, master)
        if master != self.expected[name]:
            self.unplanned += 1
            print("  %s: master moved :%d -> :%d without a fault of ours (an unplanned "
                  "failover)" % (name, self.expected[name][1], master[1]), flush=True)
        old = g.server_at(master)
        t_fault = time.monotonic()
        if kind == "kill":
            old.proc.signal(signal.SIGKILL)
            old.proc.popen.wait(timeout=10)
        else:
            old.proc.signal(signal.SIGSTOP)
        new = g.wait_failover(name, master, timeout=60)
        t_agree = time.monotonic()
        self.switch_s.append(t_agree - t_fault)
        first = self.rhtest.poll_until(lambda: self.switches.first_after(name, t_fault), 10,
                                       "a +switch-master for %s" % name)
        got = {}
        deadline = time.monotonic() + STUCK_AFTER
        for s in self.stacks:
            hit = None
            while hit is None and time.monotonic() < deadline:
                hit = s.first_ack_on(name, new[1], t_fault)
                if hit is None:
                    time.sleep(0.01)
            if hit is None:
                self.stuck[s.path] += 1
                self.block_stuck[s.path] += 1
                got[s.path] = "STUCK"
                print("  #%d %s: STUCK on the %s path; daemon log tail:" % (i + 1, name, s.path))
                for line in s.d.log().splitlines()[-6:]:
                    print("  | " + line)
                continue
            o, a = (hit[0] - first) * 1000.0, (hit[1] - first) * 1000.0
            self.lat[s.path].append((o, a))
            self.block_lat[s.path].append(a)
            got[s.path] = "%.1f" % a
        # The old master returns.
        if kind == "kill":
            old.start()
        else:
            old.proc.signal(signal.SIGCONT)
        try:
            role = self.rhtest.poll_until(lambda: g.role(old), 10, "%r answers ROLE" % old)
        except AssertionError:
            role = "down"
        self.returned_as[role if role in self.returned_as else "down"] += 1
        self.demotes.add(name, old)
        self.expected[name] = new
        print("#%d %s %-4s :%d -> :%d  sentinels agreed %.2f s  ms to first ack: %s"
              % (i + 1, name, kind, master[1], new[1], t_agree - t_fault,
                 "  ".join("%s %s" % (p, v) for p, v in got.items())), flush=True)
        for s in self.stacks:
            s.check_engine()
            if not s.alive():
                raise RuntimeError("%s daemon exited; log tail:\n%s"
                                   % (s.path, s.d.log()[-3000:]))
        return True

    # ---------------------------------------------------------------- reports

    def report(self, final=False):
        extra = self.check_all()
        minutes = (time.monotonic() - self.t0) / 60.0
        for s in self.stacks:
            res = s.resources()
            lost = self.lost[s.path]
            line = ("== %4d failovers %5.1f min %-7s lost %d (redis %d, window %d, stale %d, "
                    "later %d) "
                    "of %d acked | switch ms %s (n=%d, stuck %d) | RSS %s+%s MB PSS %s+%s MB "
                    "| fds %s+%s | log %d B | engine restarts %d | unplanned failovers %d"
                    % (self.done, minutes, s.path, sum(lost.values()), lost["redis"],
                       lost["window"], lost["stale"], lost["later"], self.acked_checked[s.path],
                       percentiles(self.block_lat[s.path]), len(self.block_lat[s.path]),
                       self.block_stuck[s.path], mb(res["rss"][0]), mb(res["rss"][1]),
                       mb(res["pss"][0]), mb(res["pss"][1]), res["fds"][0], res["fds"][1],
                       res["log"], s.engine_restarts, self.unplanned))
            if extra[s.path]:
                line += " | %d lost later" % extra[s.path]
            print(line, flush=True)
            self.report_lines.append(line)
            self.block_lat[s.path] = []
            self.block_stuck[s.path] = 0

    def summary(self):
        print()
        print("== summary: %d failovers in %.1f min (%d turns skipped: cluster not ready; "
              "%d unplanned failovers: a master moved without a fault of ours)"
              % (self.done, (time.monotonic() - self.t0) / 60.0, self.skipped, self.unplanned))
        for line in self.report_lines:
            print(line)
        for s in self.stacks:
            if self.lat[s.path]:
                print("%-7s all failovers, ms to first ack:        %s"
                      % (s.path, percentiles([a for _, a in self.lat[s.path]])))
                print("%-7s all failovers, ms to connection opened: %s"
                      % (s.path, percentiles([o for o, _ in self.lat[s.path]])))
            errs = sum(w.errors for ws in s.writers.values() for w in ws)
            print("%-7s writer errors (refused, reset, timed out): %d" % (s.path, errs))
            print("%-7s breakdown (daemon log): %s"
                  % (s.path, daemonlog.line(daemonlog.parse(s.d.log()[s.log_mark:]), s.path)))
        if self.switch_s:
            print("fault -> every Sentinel agrees: median %.2f s, max %.2f s"
                  % (statistics.median(self.switch_s), max(self.switch_s)))
        took = list(self.demotes.took)
        print("old masters returned as: %s; seen answering ROLE slave: %d, %.1f-%.1f s "
              "(median %.1f) after returning; not yet: %d"
              % (", ".join("%s %d" % kv for kv in self.returned_as.items()), len(took),
                 min(took) if took else float("nan"), max(took) if took else float("nan"),
                 statistics.median(took) if took else float("nan"),
                 len(self.demotes.pending)))

    def run(self):
        a = self.args
        end = self.t0 + a.minutes * 60.0
        i = 0
        while time.monotonic() < end and (a.failovers is None or self.done < a.failovers):
            if self.failover(i):
                self.done += 1
                if self.done % REPORT_EVERY == 0:
                    self.report()
            i += 1
        # Final: let every cluster settle, read back its last window.
        for name in self.names:
            try:
                master = self.rhtest.poll_until(lambda: self.ready(name), READY_TIMEOUT,
                                                "%s ready" % name)
                self.check_window(name, master)
            except AssertionError as e:
                print("  final: %s not ready: %s" % (name, e))
        if self.done % REPORT_EVERY or not self.report_lines:
            self.report(final=True)
        self.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--failovers", type=int, default=None,
                    help="stop after N failovers (or --minutes, whichever first)")
    ap.add_argument("--clusters", type=int, default=4)
    ap.add_argument("--paths", default="runtime,reload")
    args = ap.parse_args()
    args.paths = [p for p in args.paths.split(",") if p]
    if not args.paths or any(p not in ("runtime", "reload") for p in args.paths):
        ap.error("--paths: runtime, reload or both")
    failover.setup_paths(args.builddir)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))
    import rhtest
    import rhdaemon
    if not failover.have_programs("soak", rhdaemon.DAEMON):
        return 1
    print("soak: %d clusters, paths %s, %s" % (
        args.clusters, ",".join(args.paths),
        "%d failovers or %.0f min" % (args.failovers, args.minutes) if args.failovers
        else "%.0f min" % args.minutes), flush=True)
    soak = Soak(rhtest, rhdaemon, args)
    try:
        soak.run()
    finally:
        soak.switches.stop()
        soak.demotes.stop()
        for s in soak.stacks:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
