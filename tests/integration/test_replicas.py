"""The read backend of healthy replicas, end to end: real redis-server x3,
redis-sentinel x3, and two redishappyd, each with its own HAProxy: one
switching the read backend over the runtime socket, one by reload. One
set-up for the whole file; scenarios run on it in turn:

  a replica killed, a replica paused (SIGSTOP), a lagging replica, a
  replica promoted by a failover

and after each the read backend of both HAProxies (the runtime socket's
`show servers state` and the rendered file) holds exactly the healthy
replicas, and never the master.

Lag is made with nftables: packets from the master to one replica's
replication connection are dropped, so the replica stays up, answers
Sentinel and ROLE, keeps master_link_status up (repl-timeout is 60 s) and
only falls behind while the test writes to the master. Without nft (or
root) that scenario is skipped, and says so."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import HAProxy, RedisGroup, Writer, poll_until, run_tests
from rhdaemon import Daemon
from test_engine import api, topology

NAME = "testing"
READ_BACKEND = "redis_testing_read"
MAX_LAG = 20000  # bytes



class Instance:
    """One redishappyd and its HAProxy; path: "runtime" or "reload"."""

    def __init__(self, g, path):
        r = rhtest.run()
        self.path = path
        self.fport = r.free_port()
        self.read_port = r.free_port()
        self.api_port = r.free_port()
        tag = "%s-%d" % (path, self.api_port)
        self.sock = r.path("haproxy-%s.sock" % tag)
        self.cfg = r.path("haproxy-%s.cfg" % tag)
        tmpl = r.path("haproxy-%s.mustache" % tag)
        with open(tmpl, "w") as f:
            f.write(rhtest.haproxy_template(self.sock, maxconn=200, read_backend=True))
        master = g.sentinel_master(NAME)
        with open(self.cfg, "w") as f:
            f.write(rhtest.render_haproxy_cfg([(NAME, self.fport, master[0], master[1])],
                                              self.sock))
        self.hap = HAProxy(self.cfg, self.sock)
        chroot = r.path("root-%s" % tag)
        os.makedirs(chroot, 0o755, exist_ok=True)
        conf = ["[global]"]
        conf += ["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0 else ["chroot ="]
        conf += ["state_file = %s/state-%s.json" % (r.dir, tag),
                 "api_listen = 127.0.0.1:%d" % self.api_port, "log_level = debug",
                 "startup_grace = 3s", "", "[sentinels]"]
        conf += ["address = %s:%d" % (s.host, s.port) for s in g.sentinels]
        conf += ["ping_interval = 200ms", "reread_interval = 1s", "",
                 "[cluster %s]" % NAME, "external_port = %d" % self.fport,
                 "replica_backend = %s" % READ_BACKEND, "max_replicas = 4",
                 "replica_port = %d" % self.read_port,
                 "max_replica_lag = %d" % MAX_LAG, "",
                 "[haproxy]", "template = %s" % tmpl, "output = %s" % self.cfg,
                 "check_command = haproxy -c -q -f %s",
                 "reload_command = %s" % self.hap.reload_command(), "reload_timeout = 5s"]
        if path == "runtime":
            conf.append("runtime_socket = %s" % self.sock)
        self.conf = r.path("redishappy-%s.conf" % tag)
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.d = Daemon(self.conf)
        self.d.__enter__()
        r.on_close(lambda: self.d.__exit__(None, None, None))
        poll_until(lambda: api(self.api_port, "/api/ping")[1] == "Pong", 10, "API")

    def runtime_servers(self):
        """{port: addr} of the read backend's servers that are ready, from
        `show servers state` on the runtime socket."""
        out = self.hap.runtime("show servers state %s" % READ_BACKEND)
        ready = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) < 19 or f[0].startswith("#") or f[1] != READ_BACKEND:
                continue
            # srv_name srv_addr srv_op_state srv_admin_state ... srv_port
            name, addr, op, admin, port = f[3], f[4], int(f[5]), int(f[6]), int(f[18])
            # Running and not forced into maintenance. A slot that was
            # `disabled` in the file keeps the configured-maintenance bit
            # (4) after `set server ... state ready`, yet serves.
            if name.startswith("replica") and op == 2 and not admin & 1:
                ready[port] = addr
        return ready

    def reads_reach(self, n=8):
        """The ports of the servers n new connections to the read port reach."""
        seen = set()
        for _ in range(n):
            try:
                with rhtest.Resp("127.0.0.1", self.read_port, timeout=1) as c:
                    seen.add(int(c.command("CONFIG", "GET", "port")[1]))
            except Exception as e:  # noqa: BLE001 - shown to the reader
                seen.add(repr(e)[:60])
        return seen

    def file_servers(self):
        """{port: addr} of the read backend's enabled servers in the file."""
        with open(self.cfg) as f:
            text = f.read()
        if "listen %s" % READ_BACKEND not in text:
            return None
        section = text.split("listen %s" % READ_BACKEND, 1)[1].split("\nlisten ", 1)[0]
        out = {}
        for line in section.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] == "server" and f[1].startswith("replica") and \
                    "disabled" not in f:
                addr, port = f[2].rsplit(":", 1)
                out[int(port)] = addr
        return out

    def api_read_backend(self):
        c = topology(self.api_port, NAME) or {}
        rb = c.get("readBackend") or {}
        return sorted(s["port"] for s in rb.get("servers", []))

    def shows(self, ports):
        """HAProxy routes reads to exactly these replica ports: in the file, in
        its live state, and for new connections to the read port."""
        want = {p: "127.0.0.1" for p in ports}
        return (self.file_servers() == want and self.runtime_servers() == want
                and self.reads_reach() == set(ports))


def wait_read_backend(insts, g, ports, what, timeout=20):
    master = g.sentinel_master(NAME)
    assert master[1] not in ports, "test bug: the master among the expected replicas"
    t0 = time.monotonic()
    for inst in insts:
        try:
            poll_until(lambda: inst.shows(ports), timeout,
                       "%s path: read backend %s (%s)" % (inst.path, sorted(ports), what))
        except AssertionError:
            print("  raw: %r" % inst.hap.runtime("show servers state %s" % READ_BACKEND))
            print("  reads reach: %r" % inst.reads_reach())
            print("  file: %r\n  runtime: %r\n  api: %r\n%s"
                  % (inst.file_servers(), inst.runtime_servers(), inst.api_read_backend(),
                     inst.d.log()[-6000:]), flush=True)
            raise
        assert master[1] not in inst.runtime_servers()
        assert master[1] not in inst.file_servers()
    print("  %s: read backend %s on both paths after %.2f s"
          % (what, sorted(ports), time.monotonic() - t0), flush=True)


def replication_port(g, master, replica):
    """The local port of `replica`'s replication connection: of the
    master's replica clients (CLIENT LIST TYPE replica), the one whose
    other end the replica's process holds."""
    out = g.server_cmd(master, "CLIENT", "LIST", "TYPE", "replica")
    for line in out.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        lport = int(fields["addr"].rsplit(":", 1)[1])
        ss = subprocess.run(["ss", "-Htnp", "state", "established", "( sport = :%d )" % lport],
                            capture_output=True, text=True).stdout
        if "pid=%d," % replica.pid in ss:
            return lport
    return None


def test_read_backend_follows_replicas():
    for b in ("redis-server", "redis-sentinel", "haproxy"):
        if not shutil.which(b):
            rhtest.skip("%s not installed" % b)
    t_all = time.monotonic()
    g = RedisGroup(NAME, replicas=2, down_after_ms=1000)
    g.wait_ready()
    master_srv = g.servers[NAME][0]
    r1, r2 = g.servers[NAME][1], g.servers[NAME][2]
    insts = [Instance(g, "runtime"), Instance(g, "reload")]

    # 0. Both replicas, never the master.
    wait_read_backend(insts, g, {r1.port, r2.port}, "start")
    for inst in insts:
        assert inst.api_read_backend() == sorted([r1.port, r2.port]), inst.api_read_backend()

    # 1. A replica killed leaves; started again, it comes back.
    r1.proc.signal(9)
    r1.proc.popen.wait(timeout=10)
    wait_read_backend(insts, g, {r2.port}, "replica %d killed" % r1.port)
    g.restart_server(r1)
    wait_read_backend(insts, g, {r1.port, r2.port}, "replica %d restarted" % r1.port)

    # 2. A paused replica (SIGSTOP) leaves once Sentinel or ROLE notices;
    # resumed, it comes back.
    g.stop_server(r2)
    try:
        wait_read_backend(insts, g, {r1.port}, "replica %d paused" % r2.port)
    finally:
        g.cont_server(r2)
    wait_read_backend(insts, g, {r1.port, r2.port}, "replica %d resumed" % r2.port)

    # 3. A lagging replica: its replication stream is held back by nftables
    # while the test writes; it leaves over max_replica_lag and comes back
    # once the stream flows again.
    nft = shutil.which("nft")
    if nft and os.geteuid() == 0:
        lport = replication_port(g, master_srv, r1)
        assert lport, "cannot find replica %d's replication connection" % r1.port
        table = "rh_replicas_%d" % os.getpid()
        subprocess.run([nft, "add", "table", "inet", table], check=True)
        try:
            subprocess.run([nft, "add", "chain", "inet", table, "out",
                            "{ type filter hook output priority 0 ; }"], check=True)
            subprocess.run([nft, "add", "rule", "inet", table, "out", "ip", "daddr",
                            "127.0.0.1", "tcp", "sport", str(master_srv.port), "tcp",
                            "dport", str(lport), "drop"], check=True)
            w = Writer(master_srv.host, master_srv.port, prefix="lag")
            w.start()
            try:
                poll_until(lambda: len(w.acked) > MAX_LAG // 20, 20, "writes to the master")
                wait_read_backend(insts, g, {r2.port}, "replica %d lagging" % r1.port)
                info = g.server_cmd(r1, "INFO", "replication")
                assert "master_link_status:up" in info, info
            finally:
                w.stop()
        finally:
            subprocess.run([nft, "delete", "table", "inet", table], check=False)
        wait_read_backend(insts, g, {r1.port, r2.port}, "replica %d caught up" % r1.port,
                          timeout=30)
    else:
        print("  SKIPPED the lagging-replica scenario: needs nft (nftables) and root",
              flush=True)

    # 4. A replica promoted: the new master leaves the read backend at once
    # and never comes back to it; the other replica stays (following the
    # new master), the old one is dead.
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    other = r1 if new[1] == r2.port else r2
    poll_until(lambda: all(new[1] not in i.runtime_servers() and new[1] not in i.file_servers()
                           for i in insts), 15, "the promoted replica out of the read backend")
    wait_read_backend(insts, g, {other.port}, "replica %d promoted" % new[1], timeout=30)
    # Each daemon took its own path for replica changes: the runtime socket
    # (no reload) for one, a reload for the other.
    runtime_log, reload_log = insts[0].d.log(), insts[1].d.log()
    assert "read backend applied by runtime" in runtime_log
    assert "read backend applied by reload" in reload_log
    assert "read backend applied by runtime" not in reload_log
    print("  whole file: %.1f s" % (time.monotonic() - t_all), flush=True)


if __name__ == "__main__":
    run_tests(globals())
