#!/usr/bin/python3
"""Failover propagation: first +switch-master published by any Sentinel ->
first new connection through HAProxy that lands on the new master.

Real redis-server x3, redis-sentinel x3 (down-after 1000 ms), haproxy and
redishappyd (as root: engine user nobody, chrooted in a temp dir).  Runs the
runtime-socket path and the reload path, each with min_agreement 1 and 2,
and times HAProxy's own reload command alone for comparison.  Prints
figures; never asserts timing.

The client is bench/probe (make bench/probe), a separate process opening
one connection through HAProxy every 200 us at most; --python-prober uses
the thread this script had before, which spun a core and shared the GIL
with the threads timing +switch-master.

Usage: bench/failover.py BUILDDIR [--rounds N] [--min-agreement 1|2]
           [--paths runtime,reload] [--probe-interval-us US] [--python-prober]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import daemonlog  # noqa: E402


def have_programs(me, daemon):
    """Whether redis-server, redis-sentinel, haproxy and the daemon are
    there to run; says which is missing, as `me`, when one is not."""
    for b in ("redis-server", "redis-sentinel", "haproxy"):
        if not any(os.access(os.path.join(p, b), os.X_OK)
                   for p in os.environ.get("PATH", "").split(":")):
            print("%s: %s not installed" % (me, b), file=sys.stderr)
            return False
    if not os.access(daemon, os.X_OK):
        print("%s: %s not built" % (me, daemon), file=sys.stderr)
        return False
    return True


def setup_paths(builddir):
    os.environ["RH_BUILDDIR"] = os.path.abspath(builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


# HAProxy template for the daemon: the tests' (rhtest.haproxy_template) with
# `retries 0`: a connection to the dead master fails at once instead of
# waiting HAProxy's 1 s turn-around timer, so the probe keeps opening new
# connections.
def template(rhtest, sock):
    return rhtest.haproxy_template(sock, maxconn=1000,
                                   defaults=("retries 0", "timeout connect 200ms"))


NAME = "bench"
# A round whose new master is not reached this long after all Sentinels
# agree counts as stuck (the daemon is then restarted for the next round).
STUCK_AFTER = 15


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def proc_mem(pid):
    """(Rss kB, Pss kB) of pid from /proc/PID/smaps_rollup, or (None, None).
    PSS counts a page shared by n processes as 1/n: the two processes of
    the daemon share their binary and libraries."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss"):
                    out[k] = int(v.split()[0])
    except (OSError, TypeError, ValueError):
        return None, None
    return out.get("Rss"), out.get("Pss")


def summary(values):
    if not values:
        return "no samples"
    return "median %7.2f  p90 %7.2f  max %7.2f ms  (n=%d)" % (
        statistics.median(values), pct(values, 90), max(values), len(values))


class SwitchWatch:
    """One subscriber thread per Sentinel; remembers the first +switch-master
    (time.monotonic()) seen on any of them."""

    def __init__(self, rhtest, sentinels):
        self.first = None
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        self.threads = []
        for s in sentinels:
            c = rhtest.Resp(s.host, s.port, timeout=5)
            c.subscribe("+switch-master")
            self.conns.append(c)
            t = threading.Thread(target=self._loop, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _loop(self, conn):
        while not self.stopping:
            try:
                msg = conn.next_message(timeout=0.2)
            except (OSError, ValueError, EOFError):
                return
            if msg and msg[0] == "+switch-master":
                now = time.monotonic()
                with self.lock:
                    if self.first is None:
                        self.first = now

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=2)
        for c in self.conns:
            c.close()


class Prober:
    """Tight loop of new connections through HAProxy asking CONFIG GET port,
    in a thread of this process; records the first one that reached a port
    in `want`: (opened, answered, port). Kept for --python-prober: it spins
    a core and shares the GIL with SwitchWatch, which the measure pays for
    (see ProcessProber)."""

    def __init__(self, port, want):
        self.port = port
        self.want = want
        self.hit = None
        self.attempts = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _probe(self):
        opened = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
            s.sendall(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nport\r\n")
            data = b""
            while data.count(b"\r\n") < 5:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
        answered = time.monotonic()
        return opened, answered, int(data.split(b"\r\n")[4])

    def _loop(self):
        while not self.stopping and self.hit is None:
            self.attempts += 1
            try:
                r = self._probe()
            except (OSError, ValueError, IndexError):
                continue
            if r and r[2] in self.want:
                self.hit = r

    def wait(self, timeout):
        self.thread.join(timeout=timeout)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)


class ProcessProber:
    """The same measure from bench/probe, a separate process that opens one
    connection every `interval_us` at most: it neither spins a core nor
    holds the GIL while the failover it times is under way. Its
    CLOCK_MONOTONIC timestamps are time.monotonic()'s."""

    def __init__(self, exe, port, want, interval_us, timeout):
        self.hit = None
        self.last_miss = None
        self.attempts = 0
        self.proc = subprocess.Popen(
            [exe, str(port), str(interval_us), str(timeout)] + [str(p) for p in sorted(want)],
            stdout=subprocess.PIPE, text=True)

    def wait(self, timeout):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return
        words = out.split()
        if words and words[0] == "hit":
            self.hit = (float(words[1]), float(words[2]), int(words[3]))
            self.last_miss = float(words[4]) or None
            self.attempts = int(words[5])
        elif words and words[0] == "none":
            self.attempts = int(words[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its PID
        self.proc.wait()


def reload_script(hap):
    """Like test_haproxy.py's: returns only once the old haproxy is gone."""
    script = hap.cfg_path + ".reload.sh"
    with open(script, "w") as f:
        f.write("old=$(cat {pid}); haproxy -f {cfg} -p {pid} -D -st $old || exit 1\n"
                "while [ -e /proc/$old ] && ! grep -q ') Z' /proc/$old/stat 2>/dev/null; do\n"
                "    sleep 0.005\ndone\n".format(pid=hap.pidfile, cfg=hap.cfg_path))
    return script


class Bench:
    # How rounds are probed (main() sets these): bench/probe paced at
    # probe_interval_us, or the in-process Prober when probe_exe is None.
    probe_exe = None
    probe_interval_us = 200

    def __init__(self, rhtest, rhdaemon, g, path, min_agreement):
        self.rhtest, self.rhdaemon, self.g = rhtest, rhdaemon, g
        r = rhtest.run()
        self.fport = r.free_port()
        self.api_port = r.free_port()
        tag = "%s-%d-%d" % (path, min_agreement, self.api_port)
        self.sock = r.path("haproxy-%s.sock" % tag)
        self.cfg = r.path("haproxy-%s.cfg" % tag)
        tmpl = r.path("haproxy-%s.mustache" % tag)
        with open(tmpl, "w") as f:
            f.write(template(rhtest, self.sock))
        master = g.sentinel_master(NAME)
        with open(self.cfg, "w") as f:
            f.write(rhtest.render_haproxy_cfg([(NAME, self.fport, master[0], master[1])],
                                              self.sock))
        self.hap = rhtest.HAProxy(self.cfg, self.sock)
        self.reload = reload_script(self.hap)
        chroot = r.path("root-%s" % tag)
        os.makedirs(chroot, 0o755, exist_ok=True)
        conf = ["[global]"]
        conf += (["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0
                 else ["chroot ="])
        conf += ["state_file = %s/state-%s.json" % (r.dir, tag),
                 "api_listen = 127.0.0.1:%d" % self.api_port, "log_level = info",
                 "startup_grace = 3s", "", "[sentinels]"]
        conf += ["address = %s:%d" % (s.host, s.port) for s in g.sentinels]
        conf += ["min_agreement = %d" % min_agreement,
                 "ping_interval = 200ms", "reread_interval = 1s", "",
                 "[cluster %s]" % NAME, "external_port = %d" % self.fport, "",
                 "[haproxy]", "template = %s" % tmpl, "output = %s" % self.cfg,
                 "check_command = haproxy -c -q -f %s",
                 "reload_command = sh %s" % self.reload, "reload_timeout = 5s"]
        if path == "runtime":
            conf.append("runtime_socket = %s" % self.sock)
        self.conf = r.path("redishappy-%s.conf" % tag)
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.d = rhdaemon.Daemon(self.conf)
        self.d.__enter__()
        r.on_close(self.d.stop)
        # The daemon's own timings of each round (daemonlog.parse); main()
        # may share one dict between the Bench objects of a configuration.
        self.parsed = {"engine": [], "applied": []}

    def api_topology(self):
        import json
        import urllib.request
        url = "http://127.0.0.1:%d/api/topology" % self.api_port
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read().decode())

    def applied(self):
        for c in self.api_topology():
            if c["name"] == NAME and c.get("applied", {}).get("state") == "applied":
                return (c["ip"], c["port"])
        return None

    def through_haproxy(self):
        return int(self.rhtest.try_command("127.0.0.1", self.fport, "CONFIG", "GET",
                                           "port")[1])

    def settle(self):
        master = self.g.sentinel_master(NAME)
        try:
            self.rhtest.poll_until(lambda: self.applied() == master, 20, "master applied")
        except AssertionError:
            print("  master %s:%d not applied; topology %r; daemon log tail:"
                  % (master + (self.api_topology(),)))
            for line in self.d.log().splitlines()[-10:]:
                print("  | " + line)
            raise
        self.rhtest.poll_until(lambda: self.through_haproxy() == master[1], 10,
                               "haproxy on the master")
        return master

    def rss(self):
        """((parent Rss, parent Pss), (engine Rss, engine Pss)) in kB."""
        engine = self.rhdaemon.engine_of(self.d.pid)
        return proc_mem(self.d.pid), (proc_mem(engine) if engine else (None, None))

    def round(self):
        """One failover; returns (ms by connection opened, ms by reply)."""
        g = self.g
        master = self.settle()
        mark = len(self.d.log())
        watch = SwitchWatch(self.rhtest, g.sentinels)
        old = g.server_at(master)
        others = [s for s in g.servers[NAME] if s is not old]
        try:
            # Which replica wins is not known in advance: accept either.
            want = {s.port for s in others}
            if self.probe_exe:
                prober = ProcessProber(self.probe_exe, self.fport, want, self.probe_interval_us,
                                       STUCK_AFTER + 30)
            else:
                prober = Prober(self.fport, want)
            g.kill_master(NAME)
            new = g.wait_failover(NAME, master, timeout=30)
            prober.wait(STUCK_AFTER)
            prober.stop()
            self.rhtest.poll_until(lambda: watch.first is not None, 10, "a +switch-master")
            first = watch.first
        finally:
            watch.stop()
        # Let the old master rejoin as a replica before the next round.
        g.restart_server(old)
        self.rhtest.poll_until(lambda: g.role(old) == "slave", 40, "old master demoted")
        self.wait_rejoined()
        daemonlog.merge(self.parsed, daemonlog.parse(self.d.log()[mark:]))
        if prober.hit is None:
            return None
        opened, answered, port = prober.hit
        if port != new[1]:
            print("  note: probe reached %d, sentinels settled on %d" % (port, new[1]))
        return (opened - first) * 1000.0, (answered - first) * 1000.0

    def wait_rejoined(self, timeout=60):
        """Every Sentinel agrees on the master and sees both replicas up."""
        g = self.g

        def state():
            out = []
            for i in range(len(g.sentinels)):
                reps = g.sentinel_cmd(i, "SENTINEL", "REPLICAS", NAME)
                flags = sorted(dict(zip(r[0::2], r[1::2]))["flags"] for r in reps)
                out.append((g.sentinel_master(NAME, i), flags))
            return out

        def ready():
            st = state()
            return (len({m for m, _ in st}) == 1 and
                    all(f == ["slave", "slave"] for _, f in st))
        try:
            self.rhtest.poll_until(ready, timeout, "sentinels to agree and see 2 replicas")
        except AssertionError:
            print("  sentinel view at timeout: %r" % (state(),))
            raise

    def time_reload_alone(self, n):
        """HAProxy's own reload (the same command the daemon runs), timed."""
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            subprocess.run(["sh", self.reload], check=True, timeout=30)
            out.append((time.monotonic() - t0) * 1000.0)
            self.rhtest.poll_until(lambda: self.hap.runtime("show info"), 10, "haproxy up")
        return out

    def time_runtime_alone(self, n, addr):
        """One `set server` on the runtime socket, timed (a no-op change)."""
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            self.hap.runtime("set server redis_%s/master addr %s port %d"
                             % (NAME, addr[0], addr[1]))
            out.append((time.monotonic() - t0) * 1000.0)
        return out

    def close(self):
        # Not run().release(mark): a redis restarted during the rounds was
        # registered after the mark and must outlive this configuration.
        self.d.stop()
        self.hap.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-agreement", type=int, choices=(1, 2), action="append",
                    help="run only this min_agreement (repeatable; default 1 and 2)")
    ap.add_argument("--paths", default="runtime,reload")
    ap.add_argument("--probe-interval-us", type=int, default=200,
                    help="bench/probe: one new connection per this many microseconds at most")
    ap.add_argument("--python-prober", action="store_true",
                    help="probe from a thread of this script, as before bench/probe (it spins "
                    "a core during the failover it times)")
    args = ap.parse_args()
    setup_paths(args.builddir)
    # TERM/INT exit through SystemExit so rhtest's atexit teardown stops
    # every process this run started.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))
    import rhtest
    import rhdaemon
    if not have_programs("failover", rhdaemon.DAEMON):
        return 1
    probe = os.path.join(os.path.abspath(args.builddir), "bench", "probe")
    if not args.python_prober:
        if not os.access(probe, os.X_OK):
            print("failover: %s not built (make bench/probe), or give --python-prober" % probe,
                  file=sys.stderr)
            return 1
        Bench.probe_exe = probe
        Bench.probe_interval_us = args.probe_interval_us
    print("probing with %s" % ("bench/probe, one connection per %d us at most"
                               % args.probe_interval_us if Bench.probe_exe
                               else "a Python thread (--python-prober)"), flush=True)
    agreements = args.min_agreement or [1, 2]
    paths = args.paths.split(",")
    t_start = time.monotonic()
    g = rhtest.RedisGroup(NAME, replicas=2, sentinels=3, quorum=2, down_after_ms=1000)
    g.wait_ready()
    results = {}
    rss = {}
    stucks = {}
    aborted = {}
    hap_alone = {}
    breakdown = {}
    for path in paths:
        for ma in agreements:
            print("== path %s, min_agreement %d: %d rounds" % (path, ma, args.rounds),
                  flush=True)
            b = Bench(rhtest, rhdaemon, g, path, ma)
            breakdown[(path, ma)] = b.parsed
            opened, answered, stuck = [], [], 0
            results[(path, ma)] = (opened, answered)
            stucks[(path, ma)] = 0
            try:
                for i in range(args.rounds):
                    got = b.round()
                    if got is None:
                        stuck += 1
                        stucks[(path, ma)] = stuck
                        print("  round %d: STUCK: no new connection reached the new master "
                              "within %d s of all Sentinels agreeing; daemon log tail:"
                              % (i + 1, STUCK_AFTER))
                        for line in b.d.log().splitlines()[-6:]:
                            print("  | " + line)
                        b.close()
                        b = Bench(rhtest, rhdaemon, g, path, ma)
                        b.parsed = breakdown[(path, ma)]
                        continue
                    o, a = got
                    opened.append(o)
                    answered.append(a)
                    stucks[(path, ma)] = stuck
                    print("  round %d: %.2f ms (connection opened), %.2f ms (reply read)"
                          % (i + 1, o, a), flush=True)
                stucks[(path, ma)] = stuck
                b.settle()
                rss[(path, ma)] = b.rss()
                if path == "reload" and "reload" not in hap_alone:
                    hap_alone["reload"] = b.time_reload_alone(max(5, args.rounds))
                if path == "runtime" and "runtime" not in hap_alone:
                    hap_alone["runtime"] = b.time_runtime_alone(
                        max(20, args.rounds), g.sentinel_master(NAME))
            except (AssertionError, RuntimeError, OSError) as e:
                print("  configuration aborted: %s" % e, flush=True)
                aborted[(path, ma)] = str(e)
            finally:
                b.close()
    print()
    print("== summary: first +switch-master -> first new connection on the new master")
    for (path, ma), (opened, answered) in sorted(results.items()):
        print("%-8s min_agreement %d: %s" % (path, ma, summary(opened)))
        print("%-8s   (to reply)      %s" % ("", summary(answered)))
        print("%-8s   stuck rounds    %d of %d" % ("", stucks[(path, ma)], args.rounds))
        if (path, ma) in aborted:
            print("%-8s   ABORTED: %s" % ("", aborted[(path, ma)]))
    for path in paths:
        if (path, 1) in results and (path, 2) in results:
            if not results[(path, 1)][0] or not results[(path, 2)][0]:
                continue
            m1 = statistics.median(results[(path, 1)][0])
            m2 = statistics.median(results[(path, 2)][0])
            print("%-8s corroboration cost (median, ma2 - ma1): %+.2f ms, ratio %.2f"
                  % (path, m2 - m1, m2 / m1 if m1 > 0 else float("nan")))
    print("== breakdown from the daemon's log (engine: +switch-master -> first report "
          "(re-read), -> corroboration, ROLE; parent: render, write, check, switch = "
          "runtime socket commands, reload)")
    for (path, ma), parsed in sorted(breakdown.items()):
        print("breakdown %-8s ma%d: %s" % (path, ma, daemonlog.line(parsed, path)))
    if "runtime" in hap_alone:
        print("haproxy `set server ... addr` alone: %s" % summary(hap_alone["runtime"]))
    if "reload" in hap_alone:
        alone = statistics.median(hap_alone["reload"])
        print("haproxy reload command alone:        %s" % summary(hap_alone["reload"]))
        for ma in agreements:
            if results.get(("reload", ma), ([],))[0]:
                m = statistics.median(results[("reload", ma)][0])
                print("reload path ma%d median %.2f ms = haproxy reload %.2f ms %+.2f ms "
                      "(target: <= +5 ms)" % (ma, m, alone, m - alone))
    for (path, ma), (p, e) in sorted(rss.items()):
        print("memory %-8s ma%d: RSS parent %s kB, engine %s kB, total %s kB; "
              "PSS parent %s kB, engine %s kB, total %s kB"
              % (path, ma, p[0], e[0], (p[0] or 0) + (e[0] or 0),
                 p[1], e[1], (p[1] or 0) + (e[1] or 0)))
    print("targets (design.md section 7): runtime median <= 2.5 ms, p90 <= 3 ms; "
          "reload <= haproxy reload + 5 ms; memory <= 3 MB PSS total (1 cluster)")
    print("total run time %.0f s" % (time.monotonic() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
