"""A real partition: the master cut off from the Sentinels and its replicas
by nftables, still reachable by clients through HAProxy (issue 15).

The whole test runs in a private network namespace (it re-executes itself
under `unshare --net`), so its nftables table and addresses touch nothing
else on the machine. Each component has its own loopback address and uses
it as the source of its connections (bind + bind-source-addr): servers
127.0.0.11-13, Sentinels 127.0.0.21-23. HAProxy, redishappyd and the test's
own clients connect from 127.0.0.1. The cut drops every packet between the
master's address and any address but 127.0.0.1: Sentinels and replicas lose
the master, clients through HAProxy do not.

One set-up, three scenarios, in order:
  1. fence = no: the isolated master acknowledges writes until the switch;
     they are lost when it is demoted. Printed, not asserted.
  2. fence = yes (SIGHUP): no write sent after the fence was applied in
     HAProxy is acknowledged and lost (asserted); the fence is lifted by
     the switch; fence_timeout defaults to Sentinel's failover-timeout.
  3. fence = yes, fence_timeout = 5s, no replica can be promoted
     (replica-priority 0): the fence is lifted when the cut heals (the
     Sentinels clear o_down), and, when the cut lasts, after fence_timeout
     with the master still o_down; clients then reach the master again.

Needs root (skipped otherwise) and nft (a failure when missing: CI installs
nftables)."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

NETNS_MARK = "RH_PARTITION_NETNS"


def enter_private_netns():
    """Re-execute this file in a new network namespace, once."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        print("SKIP: needs root for a private network namespace and nftables")
        sys.exit(77)
    if shutil.which("nft") is None and not os.path.exists("/usr/sbin/nft"):
        print("FAIL: nft not installed (apt-get install nftables)")
        sys.exit(1)
    os.environ[NETNS_MARK] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)


if __name__ == "__main__":
    enter_private_netns()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest  # noqa: E402
from rhtest import HAProxy, Resp, Server, poll_until, run_tests  # noqa: E402
from rhdaemon import Daemon  # noqa: E402
from test_engine import api, topology  # noqa: E402
from test_metrics import promtool_clean  # noqa: E402

NAME = "testing"
SERVERS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
SENTINELS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
REDIS_PORT = 6379  # every server on its own address: one port will do
SENTINEL_PORT = 26379
FAILOVER_TIMEOUT_MS = 10000
NFT_TABLE = "rh_partition"



def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def cut(master_host):
    """Drop everything between the master's address and any other but
    127.0.0.1, both ways."""
    nft("""table inet %(t)s {
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr %(m)s ip saddr != 127.0.0.1 drop
        ip saddr %(m)s ip daddr != 127.0.0.1 drop
    }
}
""" % {"t": NFT_TABLE, "m": master_host})


def heal():
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=False,
                   stderr=subprocess.DEVNULL)


class StampedWriter:
    """SET <prefix>:N N through HAProxy in a thread, recording for each
    acknowledged write when it was sent (time.monotonic())."""

    def __init__(self, port, prefix, reconnect_every=None):
        self.port = port
        self.prefix = prefix
        self.reconnect_every = reconnect_every
        self.acked = {}  # n -> monotonic time the write was sent
        self.errors = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        rhtest.run().on_close(self.stop)

    def start(self):
        self.thread.start()
        return self

    def _loop(self):
        conn, used, n = None, 0, 0
        while not self.stopping.is_set():
            n += 1
            try:
                if conn is None or (self.reconnect_every and used >= self.reconnect_every):
                    if conn:
                        conn.close()
                    conn, used = None, 0
                    conn = Resp("127.0.0.1", self.port, timeout=0.5, connect_timeout=0.5)
                used += 1
                sent = time.monotonic()
                if conn.command("SET", "%s:%d" % (self.prefix, n), str(n)) == "OK":
                    self.acked[n] = sent
            except (OSError, rhtest.RespError, ValueError, ConnectionError):
                self.errors += 1
                if conn:
                    conn.close()
                conn = None
                self.stopping.wait(0.01)
        if conn:
            conn.close()

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def lost_on(self, host, port):
        """{n: sent} of acknowledged writes absent from host:port."""
        acked = dict(self.acked)
        keys = sorted(acked)
        lost = {}
        with Resp(host, port) as r:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                values = r.command("MGET", *["%s:%d" % (self.prefix, n) for n in chunk])
                lost.update({n: acked[n] for n, v in zip(chunk, values) if v != str(n)})
        return lost


class OdownWatch:
    """The first +odown any Sentinel publishes for the master, by time."""

    def __init__(self):
        self.first = None
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(h,), daemon=True)
                        for h in SENTINELS]
        for t in self.threads:
            t.start()
        rhtest.run().on_close(self.stop)

    def _loop(self, host):
        with Resp(host, SENTINEL_PORT) as r:
            r.subscribe("+odown")
            while not self.stopping.is_set():
                msg = r.next_message(timeout=0.2)
                if msg and str(msg[-1]).startswith("master ") and self.first is None:
                    self.first = time.monotonic()

    def stop(self):
        self.stopping.set()


class Partition:
    """Three servers, three Sentinels, HAProxy and redishappyd, set up once."""

    def __init__(self):
        r = rhtest.run()
        self.r = r
        self.servers = []
        for i, host in enumerate(SERVERS):
            conf = ["bind %s" % host, "bind-source-addr %s" % host, "port %d" % REDIS_PORT,
                    "protected-mode no", "daemonize no", "dir %s" % r.dir,
                    "dbfilename dump-%d.rdb" % i, 'save ""', "appendonly no",
                    "repl-diskless-sync yes", "repl-diskless-sync-delay 0"]
            if i:
                conf.append("replicaof %s %d" % (SERVERS[0], REDIS_PORT))
            self.servers.append(Server(r, "redis", "redis-%d" % i, host, REDIS_PORT,
                                       "\n".join(conf) + "\n").start())
        for s in self.servers:
            poll_until(s.ping, 10, "%r to answer PING" % s)
        poll_until(lambda: self.linked(self.servers[0]) == 2, 15, "both replicas linked")
        self.sentinels = []
        for i, host in enumerate(SENTINELS):
            conf = ["bind %s" % host, "bind-source-addr %s" % host, "port %d" % SENTINEL_PORT,
                    "protected-mode no", "daemonize no", "dir %s" % r.dir,
                    "sentinel resolve-hostnames no",
                    "sentinel monitor %s %s %d 2" % (NAME, SERVERS[0], REDIS_PORT),
                    "sentinel down-after-milliseconds %s 1000" % NAME,
                    "sentinel failover-timeout %s %d" % (NAME, FAILOVER_TIMEOUT_MS),
                    "sentinel parallel-syncs %s 1" % NAME]
            self.sentinels.append(Server(r, "sentinel", "sentinel-%d" % i, host,
                                         SENTINEL_PORT, "\n".join(conf) + "\n").start())
        for s in self.sentinels:
            poll_until(s.ping, 10, "%r to answer PING" % s)
        self.wait_sentinels_ready(SERVERS[0])

        self.fport = r.free_port()
        self.api_port = r.free_port()
        self.sock = r.path("haproxy.sock")
        self.cfg = r.path("haproxy.cfg")
        tmpl = r.path("haproxy.mustache")
        with open(tmpl, "w") as f:
            f.write(rhtest.haproxy_template(self.sock, maxconn=1000))
        with open(self.cfg, "w") as f:
            f.write(rhtest.render_haproxy_cfg([(NAME, self.fport, SERVERS[0], REDIS_PORT)],
                                              self.sock))
        self.hap = HAProxy(self.cfg, self.sock)
        reload_script = r.path("reload.sh")
        with open(reload_script, "w") as f:
            f.write("old=$(cat {pid}); haproxy -f {cfg} -p {pid} -D -st $old || exit 1\n"
                    "while [ -e /proc/$old ] && ! grep -q ') Z' /proc/$old/stat 2>/dev/null; do\n"
                    "    sleep 0.005\ndone\n".format(pid=self.hap.pidfile, cfg=self.cfg))
        chroot = r.path("root")
        os.makedirs(chroot, 0o755, exist_ok=True)
        self.base_conf = [
            "[global]", "user = nobody", "chroot = %s" % chroot,
            "state_file = %s/state.json" % r.dir,
            "api_listen = 127.0.0.1:%d" % self.api_port, "log_level = debug",
            "startup_grace = 3s", "",
            "[sentinels]"] + ["address = %s:%d" % (h, SENTINEL_PORT) for h in SENTINELS] + [
            "ping_interval = 200ms", "reread_interval = 1s", "",
            "[haproxy]", "template = %s" % tmpl, "output = %s" % self.cfg,
            "check_command = haproxy -c -q -f %s",
            "reload_command = sh %s" % reload_script, "reload_timeout = 5s",
            "runtime_socket = %s" % self.sock, ""]
        self.conf = r.path("redishappy.conf")
        self.write_conf("")
        self.d = Daemon(self.conf)
        self.d.__enter__()
        r.on_close(lambda: self.d.__exit__(None, None, None))
        poll_until(lambda: api(self.api_port, "/api/ping")[1] == "Pong", 10, "API")
        poll_until(lambda: self.applied() == (SERVERS[0], REDIS_PORT), 20, "master applied")

    def write_conf(self, cluster_extra):
        with open(self.conf, "w") as f:
            f.write("\n".join(self.base_conf + [
                "[cluster %s]" % NAME, "external_port = %d" % self.fport, cluster_extra]) + "\n")

    def linked(self, master):
        info = rhtest.try_command(master.host, master.port, "INFO", "replication")
        return sum(1 for line in info.splitlines()
                   if line.startswith("slave") and "state=online" in line)

    def sentinel(self, i, *args):
        return rhtest.try_command(SENTINELS[i], SENTINEL_PORT, *args)

    def master_seen(self):
        """The master every Sentinel names, or None while they differ."""
        seen = set()
        for i in range(len(SENTINELS)):
            ip, port = self.sentinel(i, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)
            seen.add(ip)
        return seen.pop() if len(seen) == 1 else None

    def wait_sentinels_ready(self, master_host):
        """Every Sentinel names master_host, sees its two replicas healthy
        and the two other Sentinels: a failover can happen."""
        def ready():
            for i in range(len(SENTINELS)):
                ip, _ = self.sentinel(i, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)
                if ip != master_host:
                    return False
                reps = [dict(zip(x[0::2], x[1::2]))
                        for x in self.sentinel(i, "SENTINEL", "REPLICAS", NAME)]
                ok = [x for x in reps if not set(x["flags"].split(",")) &
                      {"s_down", "o_down", "disconnected"}
                      and x.get("master-link-status") == "ok"]
                if len(ok) != 2:
                    return False
                if len(self.sentinel(i, "SENTINEL", "SENTINELS", NAME)) != 2:
                    return False
            return True
        poll_until(ready, 40, "Sentinels to see %s and both healthy replicas" % master_host)

    def cluster(self):
        return topology(self.api_port, NAME)

    def applied(self):
        c = self.cluster()
        return c and c.get("applied", {}).get("state") == "applied" and (c["ip"], c["port"])

    def in_maint(self):
        """Whether HAProxy has the cluster's server in maintenance."""
        out = self.hap.runtime("show stat")
        for line in out.splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "redis_" + NAME and f[1] == "master":
                return f[17].startswith("MAINT")
        return False

    def server(self, host):
        return next(s for s in self.servers if s.host == host)

    def role(self, host):
        return rhtest.try_command(host, REDIS_PORT, "ROLE")[0]

    def sighup(self, cluster_extra):
        self.write_conf(cluster_extra)
        n = self.d.log().count("configuration reloaded")
        os.kill(self.d.pid, signal.SIGHUP)
        poll_until(lambda: self.d.log().count("configuration reloaded") > n, 10,
                   "the daemon to reload its configuration")

    def partition_round(self, what):
        """Writers through HAProxy; cut the master; wait for the switch;
        heal; wait for the old master's demotion. Returns a dict of what
        was seen."""
        old = self.applied()[0]
        self.wait_sentinels_ready(old)
        steady = StampedWriter(self.fport, "%s-steady" % what).start()
        churn = StampedWriter(self.fport, "%s-churn" % what, reconnect_every=3).start()
        poll_until(lambda: len(steady.acked) > 50 and len(churn.acked) > 50, 10,
                   "writes through HAProxy before the cut")
        odown = OdownWatch()
        t_cut = time.monotonic()
        cut(old)
        try:
            fenced_at = None
            if what == "fenced":
                poll_until(self.in_maint, 20, "HAProxy to have the master in maint (fenced)")
                fenced_at = time.monotonic()
            new = poll_until(lambda: self.applied() and self.applied()[0] != old and
                             self.applied()[0], 30, "the switch to be applied")
            switched_at = time.monotonic()
        finally:
            heal()
        poll_until(lambda: self.role(old) == "slave", 40, "the old master to be demoted")
        n = len(churn.acked)
        poll_until(lambda: len(churn.acked) > n + 20, 10, "writes after the demotion")
        steady.stop()
        churn.stop()
        odown.stop()
        final = self.master_seen()
        assert final == new, "a second failover happened: %r then %r" % (new, final)
        result = {"old": old, "new": new, "t_cut": t_cut, "fenced_at": fenced_at,
                  "switched_at": switched_at, "odown_at": odown.first, "lost": {},
                  "acked": 0, "acked_in_window": 0}
        for w in (steady, churn):
            lost = w.lost_on(new, REDIS_PORT)
            result["lost"].update({(w.prefix, n): t for n, t in lost.items()})
            result["acked"] += len(w.acked)
            result["acked_in_window"] += sum(1 for t in w.acked.values()
                                             if t_cut <= t < switched_at)
        return result


SETUP = []


def setup():
    if not SETUP:
        SETUP.append(Partition())
    return SETUP[0]


def describe(what, res):
    line = ("  %s: %d writes acknowledged, %d of them sent between the cut and the switch, "
            "%d acknowledged writes lost" % (what, res["acked"], res["acked_in_window"],
                                             len(res["lost"])))
    if res["odown_at"] and res["fenced_at"]:
        line += "; +odown to fence in HAProxy %.0f ms" % (
            (res["fenced_at"] - res["odown_at"]) * 1000)
    print(line, flush=True)


def test_1_unfenced_partition_loses_acknowledged_writes():
    p = setup()
    c = p.cluster()
    assert "fence" not in c, c  # fence = no: no fence object in the API
    res = partition_round("unfenced")
    describe("fence = no", res)
    assert res["acked"] > 0


def partition_round(what):
    return setup().partition_round(what)


def test_2_fence_keeps_writes_sent_after_it():
    p = setup()
    p.sighup("fence = yes")
    poll_until(lambda: p.applied() and "fence" in p.cluster(), 20,
               "the engine of the new configuration to show the fence")
    before = p.cluster()["fence"]["fences"]
    res = partition_round("fenced")
    describe("fence = yes", res)
    late = sorted((k, t - res["fenced_at"]) for k, t in res["lost"].items()
                  if t >= res["fenced_at"])
    if late:
        print(p.d.log()[-8000:])
    assert not late, "writes sent after the fence were acknowledged and lost: %r" % late[:20]
    f = p.cluster()["fence"]
    assert f["fences"] == before + 1, f
    assert not f["fenced"] and f["liftedBy"] == "switch", f
    assert (f["ip"], f["port"]) == (res["old"], REDIS_PORT), f
    assert not p.in_maint(), "the new master must not stay in maint"
    events = api(p.api_port, "/api/events")[1]
    reasons = [e["reason"] for e in events["events"] if e["kind"] == "fence"]
    for r in ("odown", "fenced", "lifted-switch"):
        assert r in reasons, (r, reasons)
    metrics = api(p.api_port, "/metrics")[1]
    promtool_clean(metrics)
    assert 'redishappy_fenced{cluster="testing"} 0' in metrics
    assert 'redishappy_fences_total{cluster="testing"} %d' % (before + 1) in metrics
    # The default fence_timeout is Sentinel's failover-timeout, read by the engine.
    assert "until the switch, -odown or %d ms" % FAILOVER_TIMEOUT_MS in p.d.log()


def odown_cleared(p):
    for i in range(len(SENTINELS)):
        m = p.sentinel(i, "SENTINEL", "MASTER", NAME)
        if "o_down" in dict(zip(m[0::2], m[1::2]))["flags"]:
            return False
    return True


def test_3_fence_lifted_by_odown_cleared_or_fence_timeout():
    """No replica can be promoted (replica-priority 0), so no failover
    follows: a fence is lifted when the Sentinels clear o_down (the cut
    heals), or else after fence_timeout."""
    p = setup()
    p.sighup("fence = yes\nfence_timeout = 5s")
    poll_until(lambda: p.applied() and "fence" in p.cluster(), 20,
               "the engine of the new configuration to show the fence")
    master = p.applied()[0]
    p.wait_sentinels_ready(master)
    replicas = [h for h in SERVERS if h != master]
    for h in replicas:
        assert rhtest.try_command(h, REDIS_PORT, "CONFIG", "SET", "replica-priority", "0") == "OK"
    before = p.cluster()["fence"]["fences"]
    lifted_by = None
    try:
        # -odown: the cut heals before fence_timeout.
        cut(master)
        try:
            poll_until(p.in_maint, 20, "the master in maint (fenced)")
        finally:
            heal()
        poll_until(lambda: not p.in_maint(), 20, "-odown to lift the fence")
        poll_until(lambda: p.cluster()["fence"]["liftedBy"] == "unfence", 5,
                   "the API to say -odown lifted it")
        poll_until(lambda: odown_cleared(p), 20, "the Sentinels to clear o_down")
        # fence_timeout: the cut lasts.
        cut(master)
        try:
            poll_until(p.in_maint, 20, "the master in maint (fenced) again")
            poll_until(lambda: not p.in_maint(), 20, "fence_timeout to lift the fence")
            # fence_timeout, unless the Sentinels cleared o_down first: on a
            # loaded machine (CI, once) they can, cut or not, and -odown then
            # lifts it as it should. Either way the API must say which.
            poll_until(lambda: p.cluster()["fence"]["liftedBy"] in ("timeout", "unfence"), 5,
                       "the API to say what lifted the fence")
            lifted_by = p.cluster()["fence"]["liftedBy"]
            print("  second fence lifted by: %s" % lifted_by)
            # Clients reach the isolated master again: availability over safety.
            with Resp("127.0.0.1", p.fport, timeout=2) as c:
                assert c.command("SET", "after-timeout", "1") == "OK"
            if lifted_by == "timeout":
                p.d.wait_log("no failover happened")
        finally:
            heal()
    finally:
        for h in replicas:
            rhtest.try_command(h, REDIS_PORT, "CONFIG", "SET", "replica-priority", "100")
    poll_until(lambda: odown_cleared(p), 20, "the Sentinels to clear o_down")
    # The two fences were each seen in maint and lifted above; the parent's
    # counter is only required to have moved (a fence retried or re-applied
    # after a failed command counts again), and nothing may be left fenced.
    f = p.cluster()["fence"]
    assert f["fences"] > before and not f["fenced"], (before, f)
    assert p.applied()[0] == master
    reasons = [e["reason"] for e in api(p.api_port, "/api/events")[1]["events"]
               if e["kind"] == "fence"]
    for r in ("odown-cleared", "lifted-unfence") + (("lifted-timeout",)
                                                    if lifted_by == "timeout" else ()):
        assert r in reasons, (r, reasons)


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        setup()  # once, before run_tests: it stops what each test starts
        run_tests(globals())
    finally:
        heal()
        print("test_partition: %.1f s" % (time.monotonic() - t0))
