"""Integration-test harness for redishappy (Python 3 standard library only).

Everything a test starts (redis-server, redis-sentinel, haproxy, fake
servers, threads) is owned by a Run: a private temp dir plus a registry of
processes tracked by PID.  The default Run is created on first use and torn
down at interpreter exit (atexit); tests may also use `with Run() as run:`.
Set RH_KEEP=1 to keep the temp dir (configs, logs) for a post-mortem.

Reply conventions of Resp.command():
  simple string -> str, integer -> int, bulk -> str (bytes if not UTF-8),
  nil -> None, array -> list, error -> RespError *raised* at top level;
  an error nested inside an array is returned as a RespError instance.

Writer writes `SET <prefix>:N N` (N = 1, 2, ...); a write counts as
acknowledged only after its `+OK` was read.
"""

import atexit
import fnmatch
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

POLL_INTERVAL = 0.015


# ---------------------------------------------------------------- polling


def poll_until(fn, timeout, what):
    """Call fn until it returns a truthy value; return that value.

    Raise AssertionError naming `what` and the last value or exception once
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = "last value %r" % (value,)
        except Exception as exc:  # the condition may fail while things start
            last = "last exception %s: %s" % (type(exc).__name__, exc)
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (%s)"
                                 % (timeout, what, last))
        time.sleep(POLL_INTERVAL)


# ---------------------------------------------------------------- run state


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Proc:
    """A child process started by the harness."""

    def __init__(self, name, argv, log_path, popen):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.popen = popen

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL once `timeout` passed; reaps the child."""
        if not self.alive():
            return self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        self.popen.send_signal(signal.SIGCONT)  # a stopped process must run to die
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=5)
        return self.popen.returncode

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __repr__(self):
        return "<%s pid %d>" % (self.name, self.pid)


class Run:
    """Temp dir, port allocator and process registry of one test run."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rhtest-")
        self.procs = []
        self.closers = []  # callables run at teardown (fake servers, threads)
        self.ports_given = set()
        self.closed = False

    def path(self, name):
        return os.path.join(self.dir, name)

    def free_port(self, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(100):
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            if port not in self.ports_given:
                self.ports_given.add(port)
                return port
        raise RuntimeError("free_port: no unused port found on " + host)

    def spawn(self, name, argv, cwd=None):
        log_path = self.path(name + ".log")
        log = open(log_path, "ab")
        try:
            popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd or self.dir)
        finally:
            log.close()
        proc = Proc(name, argv, log_path, popen)
        self.procs.append(proc)
        return proc

    def on_close(self, fn):
        self.closers.append(fn)

    def mark(self):
        """A point to release() back to (used between tests)."""
        return (len(self.procs), len(self.closers))

    def release(self, mark):
        """Stop every process and close everything registered after mark."""
        nprocs, nclosers = mark
        closers, self.closers = self.closers[nclosers:], self.closers[:nclosers]
        procs, self.procs = self.procs[nprocs:], self.procs[:nprocs]
        for fn in reversed(closers):
            try:
                fn()
            except Exception as exc:
                print("rhtest: teardown: %s" % exc, file=sys.stderr)
        for proc in reversed(procs):
            proc.stop()

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.release((0, 0))
        if os.environ.get("RH_KEEP") == "1":
            print("rhtest: RH_KEEP=1, kept " + self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_default_run = []


def run():
    """The default Run, created on first use and closed at exit."""
    if not _default_run:
        r = Run()
        _default_run.append(r)
        atexit.register(r.close)
    return _default_run[0]


def free_port(host="127.0.0.1"):
    return run().free_port(host)


def tmpdir():
    return run().dir


# ---------------------------------------------------------------- RESP


class RespError(Exception):
    """An error reply (-ERR ...)."""


class Raw:
    """Bytes a fake server sends verbatim (for malformed replies)."""

    def __init__(self, data):
        self.data = data


class Simple(str):
    """A reply a fake server encodes as a simple string (+OK)."""


class _Close:
    def __repr__(self):
        return "Close"


Close = _Close()  # a fake handler returns this to drop the connection


class _Nil:
    def __repr__(self):
        return "Nil"


Nil = _Nil()  # a fake handler returns this for a nil bulk ($-1)


def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def encode_reply(value):
    if isinstance(value, Raw):
        return value.data
    if value is None or value is Nil:
        return b"$-1\r\n"
    if isinstance(value, RespError):
        return b"-" + str(value).encode() + b"\r\n"
    if isinstance(value, Simple):
        return b"+" + value.encode() + b"\r\n"
    if isinstance(value, bool):
        return b":%d\r\n" % int(value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, (list, tuple)):
        return b"*%d\r\n" % len(value) + b"".join(encode_reply(v) for v in value)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    raise TypeError("cannot encode %r as RESP" % (value,))


class _Reader:
    """Incremental RESP2 parser over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by peer")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ValueError("malformed RESP line %r" % line)


class Resp:
    """Minimal blocking RESP2 client (TCP over IPv4 or IPv6)."""

    def __init__(self, host, port, timeout=5.0, connect_timeout=2.0, password=None):
        self.addr = "%s:%d" % (host if ":" not in host else "[%s]" % host, port)
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock.settimeout(timeout)
        self.reader = _Reader(self.sock)
        if password is not None:
            self.command("AUTH", password)

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        return self.reader.read()

    def command(self, *args):
        self.sock.sendall(encode_command(args))
        reply = self.reader.read()
        if isinstance(reply, RespError):
            raise RespError("%s: %s: %s" % (self.addr, args[0], reply))
        return reply

    def subscribe(self, channel):
        """SUBSCRIBE, or PSUBSCRIBE if `channel` contains a glob character."""
        cmd = "PSUBSCRIBE" if any(c in channel for c in "*?[") else "SUBSCRIBE"
        self.sock.sendall(encode_command([cmd, channel]))
        ack = self.reader.read()
        if not isinstance(ack, list) or ack[0] != cmd.lower():
            raise RespError("%s: unexpected %s ack %r" % (self.addr, cmd, ack))
        return ack

    def next_message(self, timeout=5.0):
        """Next pub/sub message as (channel, data), or (pattern, channel, data)
        for a pattern match; None if nothing arrived within `timeout`."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            msg = self.reader.read()
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(old)
        if msg[0] == "message":
            return (msg[1], msg[2])
        if msg[0] == "pmessage":
            return (msg[1], msg[2], msg[3])
        return tuple(msg)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def try_command(host, port, *args, password=None, timeout=1.0):
    """One command on a fresh connection; exceptions propagate."""
    with Resp(host, port, timeout=timeout, connect_timeout=timeout,
              password=password) as r:
        return r.command(*args)


# ---------------------------------------------------------------- Redis


def _pairs(flat):
    return dict(zip(flat[0::2], flat[1::2]))


class Server:
    """One redis-server (or redis-sentinel) the harness started."""

    def __init__(self, r, kind, name, host, port, conf_text):
        self.run = r
        self.kind = kind  # "redis" or "sentinel"
        self.name = name
        self.host = host
        self.port = port
        self.conf_path = r.path(name + ".conf")
        self.orig_conf_path = r.path(name + ".conf.orig")
        for p in (self.conf_path, self.orig_conf_path):
            with open(p, "w") as f:
                f.write(conf_text)
        self.proc = None

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, original_config=False):
        """Start (again).  original_config=True first restores the config
        file exactly as generated, discarding anything rewritten since."""
        if original_config:
            shutil.copyfile(self.orig_conf_path, self.conf_path)
        binary = "redis-sentinel" if self.kind == "sentinel" else "redis-server"
        self.proc = self.run.spawn(self.name, [binary, self.conf_path])
        return self

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def ping(self, password=None):
        return try_command(self.host, self.port, "PING", password=password) == "PONG"

    def __repr__(self):
        return "<%s %s:%d pid %s>" % (self.name, self.host, self.port, self.pid)


class RedisGroup:
    """1 master + N replicas per monitored name, and M shared Sentinels.

    `name` is one name or a list of names (each gets its own master and
    replicas, all monitored by the same Sentinels).  servers[name] lists the
    Server handles, the initial master first."""

    def __init__(self, name="testing", replicas=2, sentinels=3, quorum=2,
                 down_after_ms=1000, failover_timeout_ms=5000, password=None,
                 sentinel_password=None, ipv6=False, run_=None, start=True):
        self.run = run_ or run()
        self.names = [name] if isinstance(name, str) else list(name)
        self.nreplicas = replicas
        self.quorum = quorum
        self.password = password
        self.sentinel_password = sentinel_password
        self.host = "::1" if ipv6 else "127.0.0.1"
        self.servers = {}
        for n in self.names:
            mport = self.run.free_port(self.host)
            group = [Server(self.run, "redis", "redis-%s-0" % n, self.host, mport,
                            self._redis_conf(mport, None))]
            for i in range(replicas):
                port = self.run.free_port(self.host)
                group.append(Server(self.run, "redis", "redis-%s-%d" % (n, i + 1),
                                    self.host, port, self._redis_conf(port, mport)))
            self.servers[n] = group
        self.sentinels = []
        for i in range(sentinels):
            port = self.run.free_port(self.host)
            conf = self._sentinel_conf(port, down_after_ms, failover_timeout_ms)
            self.sentinels.append(Server(self.run, "sentinel", "sentinel-%d" % i,
                                         self.host, port, conf))
        if start:
            self.start()

    def _redis_conf(self, port, master_port):
        lines = ["port %d" % port, "bind %s" % self.host, "protected-mode no",
                 "daemonize no", "dir %s" % self.run.dir,
                 "dbfilename dump-%d.rdb" % port, 'save ""', "appendonly no",
                 "repl-diskless-sync yes", "repl-diskless-sync-delay 0",
                 "loglevel notice"]
        if self.password:
            lines += ["requirepass %s" % self.password, "masterauth %s" % self.password]
        if master_port:
            lines.append("replicaof %s %d" % (self.host, master_port))
        return "\n".join(lines) + "\n"

    def _sentinel_conf(self, port, down_after_ms, failover_timeout_ms):
        lines = ["port %d" % port, "bind %s" % self.host, "protected-mode no",
                 "daemonize no", "dir %s" % self.run.dir,
                 "sentinel resolve-hostnames no", "sentinel announce-hostnames no"]
        if self.sentinel_password:
            lines += ["requirepass %s" % self.sentinel_password,
                      "sentinel sentinel-pass %s" % self.sentinel_password]
        for n in self.names:
            lines += ["sentinel monitor %s %s %d %d" % (n, self.host,
                                                         self.servers[n][0].port,
                                                         self.quorum),
                      "sentinel down-after-milliseconds %s %d" % (n, down_after_ms),
                      "sentinel failover-timeout %s %d" % (n, failover_timeout_ms),
                      "sentinel parallel-syncs %s 1" % n]
            if self.password:
                lines.append("sentinel auth-pass %s %s" % (n, self.password))
        return "\n".join(lines) + "\n"

    def start(self):
        for group in self.servers.values():
            for s in group:
                s.start()
        for s in self.all_servers():
            poll_until(lambda: s.ping(self.password), 10, "%r to answer PING" % s)
        # Sentinel learns replicas from the master's INFO (every 10 s after the
        # first): start it only once every replica is linked, so wait_ready()
        # does not wait a full INFO period.
        for group in self.servers.values():
            poll_until(lambda: self._linked_replicas(group[0]) == len(group) - 1, 10,
                       "%d replicas to link to %r" % (len(group) - 1, group[0]))
        for s in self.sentinels:
            s.start()
        for s in self.sentinels:
            poll_until(lambda: s.ping(self.sentinel_password), 10,
                       "%r to answer PING" % s)
        return self

    def _linked_replicas(self, master):
        info = self.server_cmd(master, "INFO", "replication")
        return sum(1 for line in info.splitlines()
                   if line.startswith("slave") and "state=online" in line)

    def all_servers(self):
        return [s for g in self.servers.values() for s in g]

    def sentinel_cmd(self, i, *args, timeout=1.0):
        s = self.sentinels[i]
        return try_command(s.host, s.port, *args, password=self.sentinel_password,
                           timeout=timeout)

    def server_cmd(self, server, *args, timeout=1.0):
        return try_command(server.host, server.port, *args, password=self.password,
                           timeout=timeout)

    def _ready(self):
        for i, s in enumerate(self.sentinels):
            if not s.alive():
                continue
            for n in self.names:
                reps = self.sentinel_cmd(i, "SENTINEL", "REPLICAS", n)
                ok = [r for r in map(_pairs, reps) if "disconnected" not in r["flags"]
                      and "s_down" not in r["flags"]]
                if len(ok) != self.nreplicas:
                    return False
                sens = self.sentinel_cmd(i, "SENTINEL", "SENTINELS", n)
                if len(sens) != len(self.sentinels) - 1:
                    return False
        return True

    def wait_ready(self, timeout=20):
        """Every Sentinel sees every replica and every other Sentinel."""
        return poll_until(self._ready, timeout, "sentinels to see all replicas and peers")

    def sentinel_master(self, name=None, sentinel_index=None):
        """(ip, port) of `name`'s master as one Sentinel (default: the first
        alive) reports it."""
        name = name or self.names[0]
        if sentinel_index is None:
            sentinel_index = next(i for i, s in enumerate(self.sentinels) if s.alive())
        ip, port = self.sentinel_cmd(sentinel_index, "SENTINEL",
                                     "GET-MASTER-ADDR-BY-NAME", name)
        return (ip, int(port))

    def masters_reported(self, name=None):
        """Master address reported by each alive Sentinel."""
        return [self.sentinel_master(name, i) for i, s in enumerate(self.sentinels)
                if s.alive()]

    def master_epoch(self, name=None, sentinel_index=0):
        info = _pairs(self.sentinel_cmd(sentinel_index, "SENTINEL", "MASTER",
                                        name or self.names[0]))
        return int(info["config-epoch"])

    def server_at(self, addr):
        for s in self.all_servers():
            if (s.host, s.port) == tuple(addr):
                return s
        raise KeyError("no server at %s:%d" % tuple(addr))

    def master(self, name=None):
        return self.server_at(self.sentinel_master(name))

    def kill_master(self, name=None, sig=signal.SIGKILL):
        """Signal the current master of `name`; returns its Server handle."""
        s = self.master(name)
        s.proc.signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            s.proc.popen.wait(timeout=10)
        return s

    def wait_failover(self, name=None, old_addr=None, timeout=30):
        """Poll until every alive Sentinel reports the same master, different
        from old_addr; return that (ip, port)."""
        old_addr = tuple(old_addr)

        def agreed():
            seen = set(self.masters_reported(name))
            if len(seen) == 1 and old_addr not in seen:
                return seen.pop()
            return None
        return poll_until(agreed, timeout, "all sentinels to report a master other "
                          "than %s:%d" % old_addr)

    def restart_server(self, server):
        """Start a stopped server again with its ORIGINAL config file (an old
        master comes back believing it is master)."""
        if server.alive():
            server.proc.stop()
        server.start(original_config=True)
        poll_until(lambda: server.ping(self.password), 10, "%r to answer PING" % server)
        return server

    def role(self, server):
        return self.server_cmd(server, "ROLE")[0]

    def stop_server(self, server):
        server.proc.signal(signal.SIGSTOP)

    def cont_server(self, server):
        server.proc.signal(signal.SIGCONT)

    def kill_sentinel(self, i, sig=signal.SIGKILL):
        s = self.sentinels[i]
        s.proc.signal(sig)
        s.proc.popen.wait(timeout=10)
        return s

    def restart_sentinel(self, i):
        """Restart with its current (Sentinel-rewritten) config file."""
        s = self.sentinels[i]
        if s.alive():
            s.proc.stop()
        s.start()
        poll_until(lambda: s.ping(self.sentinel_password), 10, "%r to answer PING" % s)
        return s


# ---------------------------------------------------------------- HAProxy


def haproxy_template(sock, server="master_host", maxconn=None, epoch_comment=False,
                     read_backend=False, defaults=("timeout connect 1s",)):
    """The mustache template the tests give the daemon: the admin socket at
    `sock`, a tcp `listen` per cluster on 127.0.0.1:external_port whose one
    server is `server` (master_host: as Sentinel announced it; master_addr:
    the address ROLE used) or a disabled placeholder while there is no
    master. epoch_comment: a comment line per cluster naming its epoch (a
    change that only rewrites the file); read_backend: the cluster's read
    backend of replica slots; defaults: the `defaults` lines before the
    client and server timeouts."""
    out = ["global", "    stats socket %s level admin" % sock]
    if maxconn:
        out.append("    maxconn %d" % maxconn)
    out += ["", "defaults", "    mode tcp"]
    out += ["    " + d for d in defaults]
    out += ["    timeout client 60s", "    timeout server 60s", "", "{{#clusters}}"]
    if epoch_comment:
        out.append("# cluster {{name}} at epoch {{epoch}}")
    out += ["listen {{haproxy_backend}}",
            "    bind 127.0.0.1:{{external_port}}",
            "{{#has_master}}",
            "    server {{haproxy_server}} {{%s}}:{{master_port}}" % server,
            "{{/has_master}}",
            "{{^has_master}}",
            "    server {{haproxy_server}} 127.0.0.1:1 disabled",
            "{{/has_master}}"]
    if read_backend:
        out += ["{{#has_replica_backend}}",
                "listen {{replica_backend}}",
                "    bind 127.0.0.1:{{replica_port}}",
                "    balance roundrobin",
                "{{#replica_slots}}",
                "{{#has_replica}}",
                "    server {{server}} {{addr}}:{{port}}",
                "{{/has_replica}}",
                "{{^has_replica}}",
                "    server {{server}} 127.0.0.1:1 disabled",
                "{{/has_replica}}",
                "{{/replica_slots}}",
                "{{/has_replica_backend}}"]
    out.append("{{/clusters}}")
    return "\n".join(out) + "\n"


def _hap_addr(host, port):
    return "ipv6@[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def render_haproxy_cfg(clusters, admin_socket, timeout_ms=2000):
    """clusters: iterable of (name, frontend_port, master_host, master_port).
    One `mode tcp` frontend per cluster on 127.0.0.1, backend redis_<name>
    with one `server master`."""
    out = ["global",
           "    stats socket %s level admin" % admin_socket,
           "    maxconn 1000",
           "",
           "defaults",
           "    mode tcp",
           "    timeout connect %dms" % timeout_ms,
           "    timeout client 60s",
           "    timeout server 60s",
           ""]
    for name, fport, host, port in clusters:
        out += ["frontend fe_%s" % name,
                "    bind 127.0.0.1:%d" % fport,
                "    default_backend redis_%s" % name,
                "",
                "backend redis_%s" % name,
                "    server master %s" % _hap_addr(host, port),
                ""]
    return "\n".join(out)


class HAProxy:
    """haproxy in the foreground as our child; PID tracking via its pidfile.

    The harness writes the first PID to `pidfile`.  reload_command() starts
    a new haproxy with `-D -p pidfile -st <old pids>`: the new process
    writes its own PID to the pidfile and terminates the old one (and with it
    every session on it).  pid() always reads the pidfile; stop() kills the
    child and whatever PID the pidfile names if its command line names our
    config file (nothing else is ever signalled)."""

    def __init__(self, cfg_path, admin_socket, run_=None, start=True):
        self.run = run_ or run()
        self.cfg_path = cfg_path
        self.admin_socket = admin_socket
        self.pidfile = cfg_path + ".pid"
        self.proc = None
        self.run.on_close(self.stop)
        if start:
            self.start()

    @classmethod
    def for_clusters(cls, clusters, run_=None):
        r = run_ or run()
        sock = r.path("haproxy-%d.sock" % len(r.procs))
        cfg = r.path("haproxy-%d.cfg" % len(r.procs))
        with open(cfg, "w") as f:
            f.write(render_haproxy_cfg(clusters, sock))
        return cls(cfg, sock, r)

    def start(self):
        self.proc = self.run.spawn("haproxy", ["haproxy", "-f", self.cfg_path])
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.proc.pid)
        poll_until(lambda: self.runtime("show info"), 10, "haproxy admin socket")

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().split()[0])

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return False
        return self.cfg_path.encode() in argv

    def runtime(self, cmd, timeout=2.0):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.admin_socket)
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def reload_command(self):
        """Shell command that reloads, terminating old sessions (-st)."""
        return ("haproxy -f %s -p %s -D -st $(cat %s)"
                % (self.cfg_path, self.pidfile, self.pidfile))

    def reload(self, timeout=10):
        """Run reload_command() and wait for the new PID; return it."""
        old = self.pid()
        subprocess.run(self.reload_command(), shell=True, check=True, timeout=timeout)
        new = poll_until(lambda: self.pid() != old and self.pid(), timeout,
                         "haproxy pidfile to name a new process")
        poll_until(lambda: self.proc.popen.poll() is not None or not _pid_alive(old),
                   timeout, "old haproxy %d to exit" % old)
        return new

    def stop(self):
        if self.proc:
            self.proc.stop()
        try:
            pid = self.pid()
        except (OSError, ValueError, IndexError):
            return
        if not self._ours(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while self._ours(pid) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        if self._ours(pid):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- fakes


class FakeServer:
    """Threaded RESP server on a free loopback port; replies come from
    handler(args) where args is a list of str.  The handler returns a value
    (encoded with encode_reply), Raw(bytes), Close, or None (-ERR unknown).
    SUBSCRIBE/PSUBSCRIBE are answered by the server itself; publish() sends
    to every subscribed client."""

    def __init__(self, handler=None, host="127.0.0.1", run_=None):
        self.run = run_ or run()
        self.handler = handler or (lambda args: None)
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(16)
        self.lock = threading.Lock()
        self.conns = {}  # socket -> set of subscriptions ("c:name" / "p:glob")
        self.received = []  # every command received, in order
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        self.run.on_close(self.close)

    @property
    def addr(self):
        return (self.host, self.port)

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            # As redis-server does for its clients: without it, a reply
            # written while the previous one is unacknowledged waits for the
            # peer's delayed ACK (about 40 ms).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns[conn] = set()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = _Reader(conn)
        try:
            while True:
                args = reader.read()
                if not isinstance(args, list):
                    args = str(args).split()
                args = [a if isinstance(a, str) else a.decode(errors="replace")
                        for a in args]
                with self.lock:
                    self.received.append(args)
                if not self._dispatch(conn, args):
                    break
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            with self.lock:
                self.conns.pop(conn, None)
            conn.close()

    def _dispatch(self, conn, args):
        cmd = args[0].upper() if args else ""
        if cmd in ("SUBSCRIBE", "PSUBSCRIBE"):
            kind = "c:" if cmd == "SUBSCRIBE" else "p:"
            for ch in args[1:]:
                with self.lock:
                    subs = self.conns.setdefault(conn, set())
                    subs.add(kind + ch)
                    count = len(subs)
                self._send(conn, encode_reply([cmd.lower(), ch, count]))
            return True
        reply = self.handler(args)
        if reply is Close:
            return False
        if reply is None:
            reply = RespError("ERR unknown command '%s'" % args[0])
        self._send(conn, encode_reply(reply))
        return True

    def _send(self, conn, data):
        with self.lock:
            conn.sendall(data)

    def publish(self, channel, message):
        """Send `message` to every client subscribed to `channel` (directly
        or by pattern); return the number of deliveries."""
        n = 0
        with self.lock:
            targets = [(c, set(s)) for c, s in self.conns.items()]
        for conn, subs in targets:
            for sub in subs:
                kind, name = sub[:2], sub[2:]
                if kind == "c:" and name == channel:
                    frame = encode_reply(["message", channel, message])
                elif kind == "p:" and fnmatch.fnmatchcase(channel, name):
                    frame = encode_reply(["pmessage", name, channel, message])
                else:
                    continue
                try:
                    self._send(conn, frame)
                    n += 1
                except OSError:
                    pass
        return n

    def subscribers(self):
        with self.lock:
            return sum(1 for s in self.conns.values() if s)

    def drop_all(self):
        """Close every client connection."""
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        self.drop_all()


class FakeSentinel(FakeServer):
    """A FakeServer for Sentinel tests.  switch_master() publishes a
    +switch-master event `<name> <old-ip> <old-port> <new-ip> <new-port>`."""

    def switch_master(self, name, old, new):
        return self.publish("+switch-master", "%s %s %d %s %d"
                            % (name, old[0], old[1], new[0], new[1]))


class FakeRedis(FakeServer):
    """Answers PING, AUTH and ROLE; `role` is "master" or "slave" and may be
    changed at any time.  Other commands go to `handler` if given."""

    def __init__(self, role="master", master=("127.0.0.1", 6379), password=None,
                 handler=None, **kw):
        self.role = role
        self.master = master
        self.password = password
        self.extra = handler
        super().__init__(self._handle, **kw)

    def _handle(self, args):
        cmd = args[0].upper()
        if cmd == "PING":
            return Simple("PONG")
        if cmd == "AUTH":
            if self.password is None or args[-1] == self.password:
                return Simple("OK")
            return RespError("WRONGPASS invalid username-password pair")
        if cmd == "ROLE":
            if self.role == "master":
                return ["master", 0, []]
            return ["slave", self.master[0], self.master[1], "connected", 0]
        return self.extra(args) if self.extra else None


# ---------------------------------------------------------------- Writer


class Writer:
    """Numbered writes `SET <prefix>:N N` through host:port in a thread.

    reconnect_every=None keeps one long-lived connection (reconnecting only
    after an error); K reconnects every K writes.  `acked` lists the N
    whose +OK was received; `errors` counts failed attempts."""

    def __init__(self, host, port, prefix="w", reconnect_every=None, password=None,
                 timeout=1.0, run_=None):
        self.host, self.port = host, port
        self.prefix = prefix
        self.reconnect_every = reconnect_every
        self.password = password
        self.timeout = timeout
        self.acked = []
        self.errors = 0
        self.last_error = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        (run_ or run()).on_close(self.stop)

    def start(self):
        self.thread.start()
        return self

    def _connect(self):
        return Resp(self.host, self.port, timeout=self.timeout,
                    connect_timeout=self.timeout, password=self.password)

    def _loop(self):
        conn, used, n = None, 0, 0
        while not self.stopping.is_set():
            n += 1
            try:
                if conn is None or (self.reconnect_every and used >= self.reconnect_every):
                    if conn:
                        conn.close()
                    conn, used = None, 0
                    conn = self._connect()
                used += 1
                if conn.command("SET", "%s:%d" % (self.prefix, n), str(n)) == "OK":
                    self.acked.append(n)
            except (OSError, RespError, ValueError, ConnectionError) as exc:
                self.errors += 1
                self.last_error = exc
                if conn:
                    conn.close()
                conn = None
                self.stopping.wait(0.01)
        if conn:
            conn.close()

    def wait_acked(self, count, timeout=10):
        return poll_until(lambda: len(self.acked) >= count, timeout,
                          "%d acknowledged writes (errors %d, last %r)"
                          % (count, self.errors, self.last_error))

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        return self

    def missing_on(self, host, port, password=None):
        """Acknowledged writes whose key is absent (or wrong) on host:port."""
        missing = []
        acked = list(self.acked)
        with Resp(host, port, password=password) as r:
            for i in range(0, len(acked), 500):
                chunk = acked[i:i + 500]
                values = r.command("MGET", *["%s:%d" % (self.prefix, n) for n in chunk])
                missing += [n for n, v in zip(chunk, values) if v != str(n)]
        return missing


# ---------------------------------------------------------------- runner


class Skip(Exception):
    """Raise (or call skip()) to skip a test whose requirement is missing."""


def skip(reason):
    raise Skip(reason)


def require_binaries(*names):
    for n in names:
        if shutil.which(n) is None and not os.path.exists("/usr/sbin/" + n):
            skip("%s not installed" % n)


def run_tests(namespace):
    """Run every test_* function of `namespace` in definition order, print
    each result and `N passed, N failed[, N skipped]`; exit 0 only if none
    failed.  Processes and fakes a test started are stopped after it.
    RH_ONLY=substring runs only the matching tests."""
    tests = [(k, v) for k, v in namespace.items()
             if k.startswith("test_") and callable(v)]
    only = os.environ.get("RH_ONLY")
    passed = failed = skipped = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.monotonic()
        mark = run().mark()
        try:
            try:
                fn()
            finally:
                run().release(mark)  # each test stops what it started
        except Skip as exc:
            skipped += 1
            print("SKIP %s: %s" % (name, exc), flush=True)
            continue
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
            continue
        passed += 1
        print("ok   %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    if _default_run:
        _default_run[0].close()
    sys.exit(0 if failed == 0 else 1)
