#!/usr/bin/python3
"""Growth: redishappyd against two scripted Sentinels announcing N clusters.

Two FakeSentinels (rhtest) answer SENTINEL MASTERS/MASTER/REPLICAS/SENTINELS
for N masters c0..cN-1 (min_agreement 2).  The masters are spread over a few
ROLE-answering ports served by one selector-based thread (bench/ helper
below; N real listeners would be too many).  For each N, measures:
  - start: daemon started -> all N known and confirmed (polling /api/topology)
  - storm: every master moves to a second set of ports at epoch+1 and each
    fake publishes N +switch-master -> all N reflected in /api/topology
  - events handled/s, VmRSS of the parent and the engine.
No haproxy section.  Prints figures; never asserts timing.

Usage: bench/scale.py BUILDDIR [--clusters 1,100,1000,10000] [--ports K]
"""
import argparse
import json
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_paths(builddir):
    os.environ["RH_BUILDDIR"] = os.path.abspath(builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


class RoleFarm:
    """Many loopback listeners served by ONE thread (selectors): each port
    answers PING and ROLE with its current role ("master" or "slave").
    Thousands of short ROLE connections cost no thread each."""

    def __init__(self, count):
        self.sel = selectors.DefaultSelector()
        self.roles = {}
        self.listeners = []
        self.stopping = False
        self.connections = 0
        for _ in range(count):
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", 0))
            ls.listen(4096)
            ls.setblocking(False)
            port = ls.getsockname()[1]
            self.roles[port] = "master"
            self.listeners.append(ls)
            self.sel.register(ls, selectors.EVENT_READ, ("listen", port))
        self.ports = sorted(self.roles)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _reply(self, port, cmd):
        if cmd == b"PING":
            return b"+PONG\r\n"
        if cmd == b"ROLE":
            if self.roles[port] == "master":
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
        while not self.stopping:
            for key, _ in self.sel.select(timeout=0.2):
                kind, port = key.data[0], key.data[1]
                if kind == "listen":
                    self._accept(key.fileobj, port)
                else:
                    self._read(key.fileobj, key.data)

    def _accept(self, ls, port):
        while True:
            try:
                conn, _ = ls.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            self.sel.register(conn, selectors.EVENT_READ, ["conn", port, b""])

    def _read(self, conn, data):
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(conn)
            conn.close()
            return
        cmds, data[2] = self._commands(data[2] + chunk)
        out = b"".join(self._reply(data[1], c) for c in cmds)
        try:
            conn.sendall(out)  # replies are tiny; the socket buffer takes them
        except OSError:
            self.sel.unregister(conn)
            conn.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=2)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


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
    """(engine seconds, parent seconds or None, parent count) from wall0 until
    the last of the n confirmations at `epoch`, by the daemon's own log
    timestamps; waits up to parent_timeout for the parent to have all n."""
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
    return e, p, count


def write_config(rhtest, n, sentinels, api_port):
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
    lines += ["address = %s:%d" % s.fake.addr for s in sentinels]
    # Re-reads rarely: the storm must be carried by the events.
    lines += ["min_agreement = 2", "ping_interval = 1s", "reread_interval = 60s", ""]
    for i in range(n):
        lines += ["[cluster c%d]" % i, "external_port = %d" % (20000 + i), ""]
    path = r.path("redishappy-%s.conf" % tag)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def one(rhtest, rhdaemon, n, nports):
    r = rhtest.run()
    mark = r.mark()
    farm_a = RoleFarm(nports)
    farm_b = RoleFarm(nports)
    r.on_close(farm_a.close)
    r.on_close(farm_b.close)
    fakes = [ManySentinel(rhtest, n, farm_a.ports, 5) for _ in range(2)]
    api_port = r.free_port()
    conf = write_config(rhtest, n, fakes, api_port)
    res = {"n": n}
    d = rhdaemon.Daemon(conf)
    try:
        t0 = time.monotonic()
        wall0 = time.time()
        d.__enter__()
        rhtest.poll_until(lambda: topology(api_port) is not None, 30, "the API")
        res["start_s"], res["start_polls"], res["poll_s"] = wait_count(
            api_port, n, farm_a.ports, 5, t0, 120)
        res["log_start"] = from_log(d, n, 5, wall0, 60)
        engine = rhdaemon.engine_of(d.pid)
        res["rss_start"] = (rhdaemon.vmrss_kb(d.pid), rhdaemon.vmrss_kb(engine))
        handled_before = sum(f.handled for f in fakes)

        # The storm: new masters on farm B at epoch 6, old ones now replicas.
        for port in farm_a.ports:
            farm_a.roles[port] = "slave"
        for f in fakes:
            f.set(farm_b.ports, 6)
        t1 = time.monotonic()
        wall1 = time.time()
        for f in fakes:
            for i in range(n):
                old = farm_a.ports[i % nports]
                new = farm_b.ports[i % nports]
                f.fake.publish("+switch-master", "c%d 127.0.0.1 %d 127.0.0.1 %d"
                               % (i, old, new))
        res["publish_s"] = time.monotonic() - t1
        res["storm_s"], res["storm_polls"], res["storm_poll_s"] = wait_count(
            api_port, n, farm_b.ports, 6, t1, 120)
        res["log_storm"] = from_log(d, n, 6, wall1, 60)
        res["rereads"] = sum(f.handled for f in fakes) - handled_before
        res["rss_storm"] = (rhdaemon.vmrss_kb(d.pid), rhdaemon.vmrss_kb(engine))
        # Resident memory once the daemon has been quiet for a while: each
        # process gives freed heap pages back 1 s after its last burst of work.
        time.sleep(2.0)
        res["rss_quiet"] = (rhdaemon.vmrss_kb(d.pid), rhdaemon.vmrss_kb(engine))
        res["engine_alive"] = engine in rhdaemon.children_of(d.pid)
    except (TimeoutError, AssertionError) as e:
        res["error"] = str(e)
        engine = rhdaemon.engine_of(d.pid)
        res["rss_err"] = (rhdaemon.vmrss_kb(d.pid), rhdaemon.vmrss_kb(engine))
        log = d.log().splitlines()
        res["log_tail"] = log[-8:]
    finally:
        d.stop()
        r.release(mark)
    return res


def ms(sec):
    return "%.1f ms" % (sec * 1000) if sec is not None else "NOT REACHED"


def kb(pair):
    p, e = pair
    return "parent %s kB + engine %s kB = %s kB" % (p, e, (p or 0) + (e or 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--clusters", default="1,100,1000,10000")
    ap.add_argument("--ports", type=int, default=4,
                    help="ROLE-answering ports per farm (default 4)")
    args = ap.parse_args()
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
    rows = []
    for n in [int(x) for x in args.clusters.split(",")]:
        print("== N = %d" % n, flush=True)
        res = one(rhtest, rhdaemon, n, args.ports)
        rows.append(res)
        if "error" in res:
            print("  FAILED: %s" % res["error"])
            print("  VmRSS then: %s" % kb(res["rss_err"]))
            for line in res["log_tail"]:
                print("  | " + line)
            continue
        print("  start -> all %d confirmed: %8.1f ms (%d polls, %.1f ms per poll)"
              % (n, res["start_s"] * 1000, res["start_polls"], res["poll_s"] * 1000))
        print("  by the daemon's log: engine confirmed all at %s, parent received all at %s"
              " (parent has %d of %d)" % (ms(res["log_start"][0]), ms(res["log_start"][1]),
                                         res["log_start"][2], n))
        print("  VmRSS after start: %s" % kb(res["rss_start"]))
        print("  storm of %d +switch-master per sentinel (publishing took %.1f ms) -> all "
              "reflected: %8.1f ms (%d polls, %.1f ms per poll)"
              % (n, res["publish_s"] * 1000, res["storm_s"] * 1000, res["storm_polls"],
                 res["storm_poll_s"] * 1000))
        print("  by the daemon's log: engine confirmed all at %s, parent received all at %s"
              " (parent has %d of %d)" % (ms(res["log_storm"][0]), ms(res["log_storm"][1]),
                                         res["log_storm"][2], n))
        print("  events handled/s: %.0f (%d clusters), %.0f (%d events from 2 sentinels); "
              "sentinel commands during storm: %d"
              % (n / res["storm_s"], n, 2 * n / res["storm_s"], 2 * n, res["rereads"]))
        print("  VmRSS after storm: %s; engine still the same process: %s"
              % (kb(res["rss_storm"]), res["engine_alive"]))
        print("  VmRSS 2 s after the storm: %s" % kb(res["rss_quiet"]), flush=True)
    print()
    print("== summary (targets: start 200 ms @1000, 2 s @10000; storm 300 ms @1000; "
          "memory <= 8 MB @1000)")
    print("API = all N seen confirmed in /api/topology (upper bound by one poll); "
          "eng/par = last confirmation in the engine / parent log")
    print("%7s %9s %9s %10s %9s %9s %10s %8s %20s %20s" % (
        "N", "startAPI", "startEng", "startPar", "stormAPI", "stormEng", "stormPar",
        "ev/s", "RSS p+e kB", "quiet RSS p+e kB"))
    for res in rows:
        if "error" in res:
            print("%8d FAILED: %s" % (res["n"], res["error"]))
            continue
        p, e = res["rss_storm"]
        qp, qe = res["rss_quiet"]

        def f(v):
            return "%.0f" % (v * 1000) if v is not None else "n/a"
        print("%7d %9s %9s %10s %9s %9s %10s %8.0f %20s %20s" % (
            res["n"], f(res["start_s"]), f(res["log_start"][0]), f(res["log_start"][1]),
            f(res["storm_s"]), f(res["log_storm"][0]),
            f(res["log_storm"][1]) if res["log_storm"][1] is not None
            else "%d/%d" % (res["log_storm"][2], res["n"]),
            res["n"] / res["storm_s"], "%s+%s=%s" % (p, e, (p or 0) + (e or 0)),
            "%s+%s=%s" % (qp, qe, (qp or 0) + (qe or 0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
