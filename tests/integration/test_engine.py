"""The engine against real redis-server and redis-sentinel on loopback:
what the API reports through failovers, Sentinel outages and discovery, and
what a lying or broken Sentinel cannot make it do. Runs the real daemon."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import Close, FakeRedis, FakeSentinel, Raw, RedisGroup, poll_until, run_tests
from rhdaemon import Daemon, children_of

NAME = "testing"


TIMERS = "ping_interval = 200ms\nping_timeout = 1s\nreread_interval = 1s\n"


def daemon_config(sentinels, api_port, extra_sentinels="", clusters=(NAME,), timers=TIMERS):
    tmp = rhtest.run().dir
    chroot = os.path.join(tmp, "root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    os.chmod(chroot, 0o755)
    user = "user = nobody\nchroot = %s\n" % chroot if os.geteuid() == 0 else "chroot =\n"
    text = "[global]\n%sstate_file = %s/state-%d.json\napi_listen = 127.0.0.1:%d\n" % (
        user, tmp, api_port, api_port)
    text += "log_level = debug\n\n[sentinels]\n"
    for host, port in sentinels:
        text += "address = %s:%d\n" % (("[%s]" % host) if ":" in host else host, port)
    text += timers
    text += extra_sentinels
    for i, c in enumerate(clusters):
        text += "\n[cluster %s]\nexternal_port = %d\n" % (c, rhtest.free_port())
    path = os.path.join(tmp, "redishappy-%d.conf" % api_port)
    with open(path, "w") as f:
        f.write(text)
    return path


def api(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if body[:1] in "[{" else body)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        return e.code, (json.loads(body) if body[:1] in "[{" else body)


def topology(port, name=NAME):
    status, body = api(port, "/api/topology")
    assert status == 200, (status, body)
    for c in body:
        if c["name"] == name:
            return c
    return None


def reported(port, name=NAME):
    c = topology(port, name)
    if not c or not c.get("ip"):
        return None
    return (c["ip"], c["port"])


def start_daemon(group, api_port, count=None, extra=""):
    sentinels = [(s.host, s.port) for s in group.sentinels[:count]]
    d = Daemon(daemon_config(sentinels, api_port, extra))
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API to answer")
    return d


def engine_sockets(engine_pid):
    """(peer port, ss line) of every established TCP socket of the engine."""
    out = subprocess.run(["ss", "-tnoepH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    socks = []
    for line in out.splitlines():
        if "pid=%d," % engine_pid in line:
            peer = line.split()[3]
            socks.append((int(peer.rsplit(":", 1)[1]), line))
    return socks


def test_sentinel_connections_use_tcp_keepalive():
    """Between PINGs nothing is owed on a connection; TCP keepalive is what
    finds it dead when a firewall or a dead host cuts it silently. Both
    connections to every Sentinel must have it."""
    if shutil.which("ss") is None:
        rhtest.skip("ss (iproute2) is not installed")
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    d = start_daemon(g, port)
    engine = d.wait_engine()
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 10, "API to report the master")
    ports = {s.port for s in g.sentinels}
    socks = [(p, line) for p, line in engine_sockets(engine) if p in ports]
    assert sorted(p for p, _ in socks) == sorted(list(ports) * 2), socks
    for _, line in socks:
        assert "timer:(keepalive," in line, line


def test_reports_master_and_follows_failover():
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    d = start_daemon(g, port)
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 10, "API to report the master")
    c = topology(port)
    assert c["confirmed"] is True, c
    assert c["epoch"] == g.master_epoch(NAME), c
    assert len(c["corroboratedBy"]) >= 2, c

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 15, "API to report the promoted replica")
    c = topology(port)
    assert c["confirmed"] and c["epoch"] == g.master_epoch(NAME), c
    d.wait_log("confirmed by ROLE")

    # The seed's dangerous case: the old master returns with its original
    # configuration and announces itself as master for about ten seconds.
    g.restart_server(old)
    seen = set()

    def demoted():
        seen.add(reported(port))
        return g.role(old) == "slave"
    poll_until(demoted, 30, "old master to be turned into a replica")
    assert old.addr not in seen, "the returning old master was reported: %r" % seen
    assert reported(port) == new


def test_one_configured_two_discovered():
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    start_daemon(g, port, count=1)

    def three():
        s = api(port, "/api/sentinels")[1]["sentinels"]
        return len(s) == 3 and all(v.get("state") in ("up", 1) or v.get("up") for v in s.values()) and s
    sentinels = poll_until(three, 15, "two Sentinels discovered")
    configured = [a for a, v in sentinels.items() if v["configured"]]
    assert configured == ["%s:%d" % (g.sentinels[0].host, g.sentinels[0].port)], sentinels
    for a, v in sentinels.items():
        assert v["trusted"] == v["configured"], (a, v)
    poll_until(lambda: reported(port) == g.sentinel_master(NAME), 10, "master reported")
    # With one trusted Sentinel (min_agreement 1) a failover is still
    # followed, whichever Sentinel leads it: the leader's mid-failover view
    # (old address, new epoch) must not stick.
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 15, "the failover followed")


def sentinel_state(port, addr):
    v = api(port, "/api/sentinels")[1]["sentinels"].get(addr)
    return v and v.get("stateName", v.get("state"))


def test_sentinel_killed_is_marked_down_then_up():
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    start_daemon(g, port)
    victim = g.sentinels[1]
    addr = "%s:%d" % (victim.host, victim.port)
    poll_until(lambda: sentinel_state(port, addr) in ("up", 1), 10, "sentinel up")
    g.kill_sentinel(1)
    poll_until(lambda: sentinel_state(port, addr) in ("down", 2), 10, "sentinel marked down")
    g.restart_sentinel(1)
    poll_until(lambda: sentinel_state(port, addr) in ("up", 1), 15, "sentinel up again")


def test_all_sentinels_down_keeps_master_and_health_fails():
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    start_daemon(g, port)
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 10, "master reported")
    poll_until(lambda: api(port, "/api/health")[0] == 200, 10, "health 200")
    for i in range(len(g.sentinels)):
        g.kill_sentinel(i)
    poll_until(lambda: api(port, "/api/health")[0] == 503, 10, "health to turn 503")
    poll_until(lambda: topology(port)["stale"] is True, 10, "the master to be marked stale")
    assert reported(port) == master, "the last master must stay"


def fake_master_entry(name, addr, epoch):
    return ["name", name, "ip", addr[0], "port", str(addr[1]), "runid", "x" * 40,
            "flags", "master", "config-epoch", str(epoch), "num-slaves", "0",
            "num-other-sentinels", "2", "quorum", "2"]


class ScriptedSentinel:
    """A fake Sentinel whose answers a test can change at any time."""

    def __init__(self, name, master, epoch):
        self.name, self.master, self.epoch = name, master, epoch
        self.override = None
        self.override_hits = 0
        self.fake = FakeSentinel(self.handle)

    def handle(self, args):
        cmd = [a.upper() if isinstance(a, str) else a for a in args]
        if self.override and cmd[0] == "SENTINEL":
            self.override_hits += 1
            return self.override(args)
        if cmd[0] == "PING":
            return rhtest.Simple("PONG")
        if cmd[:2] == ["SENTINEL", "MASTERS"]:
            return [fake_master_entry(self.name, self.master, self.epoch)]
        if cmd[:2] == ["SENTINEL", "MASTER"]:
            return fake_master_entry(self.name, self.master, self.epoch)
        if cmd[:2] in (["SENTINEL", "REPLICAS"], ["SENTINEL", "SLAVES"],
                       ["SENTINEL", "SENTINELS"]):
            return []
        return None


def test_broken_and_injecting_sentinel_is_survived():
    real = FakeRedis("master")
    fakes = [ScriptedSentinel(NAME, real.addr, 5) for _ in range(2)]
    port = rhtest.free_port()
    d = Daemon(daemon_config([f.fake.addr for f in fakes], port))
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: reported(port) == tuple(real.addr), 10, "the scripted master")
    engine = d.wait_engine()

    evil = "10.0.0.1\nserver evil 1.2.3.4:1"
    bad_replies = [
        lambda a: Raw(b"*3\r\n$4\r\nname\r\n:1\r\n"),               # odd, wrong types
        lambda a: Raw(b"*2000000000\r\n"),                            # oversize array
        lambda a: Raw(b"$1000000000\r\nabc"),                         # oversize bulk
        lambda a: ["name", NAME, "ip", evil, "port", "6379", "config-epoch", "9",
                   "flags", "master"],                                # injected host
        lambda a: [fake_master_entry(NAME, (evil, 6379), 9)],
        lambda a: 42,                                                 # wrong type
        lambda a: Raw(b"+OK\r\n"),
        lambda a: Close,
    ]
    for i, bad in enumerate(bad_replies):
        before = [f.override_hits for f in fakes]
        for f in fakes:
            f.override = bad
        for f in fakes:
            f.fake.publish("+switch-master", "%s 1.1.1.1 1 %s 6379" % (NAME, evil))
            f.fake.publish("+switch-master", "garbage")
        # Each fake must actually have served the bad reply (re-reads run
        # every second; a dropped link reconnects with backoff).
        poll_until(lambda: all(f.override_hits > b for f, b in zip(fakes, before)), 15,
                   "bad reply %d served" % i)
        assert engine in children_of(d.pid), "engine died on bad reply %d" % i
        assert reported(port) == tuple(real.addr)
    for f in fakes:
        f.override = None
    # Still alive (same engine), still on the real master, never the injected text.
    poll_until(lambda: all(s in ("up", 1) for s in
                           (v.get("state") for v in api(port, "/api/sentinels")[1]["sentinels"].values())),
               15, "links back up")
    assert engine in children_of(d.pid), "the engine must survive bad replies"
    assert reported(port) == tuple(real.addr)
    assert "evil" not in json.dumps(api(port, "/api/topology")[1])


def master_reads(fake):
    with fake.lock:
        return sum(1 for a in fake.received if [x.upper() for x in a[:2]] == ["SENTINEL", "MASTER"])


def test_switch_during_outstanding_read_is_not_lost():
    """Events that arrive while the engine's SENTINEL MASTER read of a
    cluster is unanswered send no read of their own, but are never lost:
    exactly one more read follows the reply, and it finds the new master.
    Re-reads are rare (60 s), so only the events can carry the switch."""
    old, new = FakeRedis("master"), FakeRedis("master")
    fakes = [ScriptedSentinel(NAME, old.addr, 5) for _ in range(2)]
    port = rhtest.free_port()
    timers = "ping_interval = 200ms\nping_timeout = 10s\nreread_interval = 60s\n"
    d = Daemon(daemon_config([f.fake.addr for f in fakes], port, timers=timers))
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: reported(port) == tuple(old.addr), 10, "the first master")

    gate = threading.Event()
    rhtest.run().on_close(gate.set)
    held = []

    def holding(f):
        def override(args):
            # The Sentinel's view when the read arrived, answered only once
            # the gate opens.
            entry = fake_master_entry(NAME, f.master, f.epoch)
            sub = args[1].upper()
            if sub == "MASTER":
                held.append(f)
                gate.wait(20)
                return entry
            return [entry] if sub == "MASTERS" else []
        return override

    before = [master_reads(f.fake) for f in fakes]
    for f in fakes:
        f.override = holding(f)
    for f in fakes:
        f.fake.switch_master(NAME, old.addr, old.addr)
    poll_until(lambda: len(held) == 2, 5, "a read outstanding on each Sentinel")
    # The failover happens while both reads are unanswered (they will say
    # the old master), and is announced, several times, meanwhile.
    old.role = "slave"
    for f in fakes:
        f.master, f.epoch = new.addr, 6
    for _ in range(3):
        for f in fakes:
            f.fake.switch_master(NAME, old.addr, new.addr)
    line = "+switch-master %s to %s:%d;" % (NAME, new.addr[0], new.addr[1])
    poll_until(lambda: d.log().count(line) == 6, 5, "the engine to take in the 6 events")
    gate.set()
    poll_until(lambda: reported(port) == tuple(new.addr), 5,
               "the new master, from the read that followed the held one")
    reads = [master_reads(f.fake) - b for f, b in zip(fakes, before)]
    assert reads == [2, 2], "SENTINEL MASTER reads per Sentinel: %s (wanted 2 each)" % reads


def test_forged_sentinel_cannot_move_master():
    """A fake Sentinel registered through a forged hello announces its own
    'master' (which answers ROLE master) at a high epoch: refused."""
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    d = start_daemon(g, port)
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 10, "master reported")

    impostor_master = FakeRedis("master")
    forged = ScriptedSentinel(NAME, impostor_master.addr, 100000)
    epoch = g.master_epoch(NAME)
    hello = "%s,%d,%s,%d,%s,%s,%d,%d" % (forged.fake.addr[0], forged.fake.addr[1], "f" * 40,
                                         epoch, NAME, master[0], master[1], epoch)
    # Sentinels listen for hellos on the master's __sentinel__:hello channel.
    g.server_cmd(g.server_at(master), "PUBLISH", "__sentinel__:hello", hello)
    forged_id = "%s:%d" % forged.fake.addr
    poll_until(lambda: forged_id in api(port, "/api/sentinels")[1]["sentinels"], 20,
               "the forged Sentinel to be discovered")
    assert api(port, "/api/sentinels")[1]["sentinels"][forged_id]["trusted"] is False
    forged.fake.publish("+switch-master", "%s %s %d %s %d" % (NAME, master[0], master[1],
                                                              *impostor_master.addr))
    poll_until(lambda: "refused" in d.log() or "alone" in d.log() or "untrusted" in d.log(),
               10, "the refusal to be logged")
    assert reported(port) == master

    # And the next real failover is still followed.
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 15, "the real failover")


if __name__ == "__main__":
    run_tests(globals())
