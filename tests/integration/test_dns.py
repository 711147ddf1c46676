"""Names, resolved by the engine's own asynchronous resolver against a test
DNS server (fakedns.py) on loopback: Sentinels found through one name (a
headless-service style name with three addresses), a master announced by
host name (Sentinel announce-hostnames), a DNS server that stalls while
another cluster fails over, a master whose name moves to another address,
and a failover of the named cluster, with HAProxy switched through its
runtime socket to the resolved address. One set-up for the whole file.

The Redis processes resolve names with the system's resolver: the named
cluster's master and replica announce themselves as "localhost" (in every
/etc/hosts; replica-announce-ip), which Sentinel resolves itself, so no
private mount namespace is needed; the daemon has no hosts table here
(hosts_file empty) and asks fakedns, whose answer the test moves. The
Sentinels listen on 127.0.0.11-13 with one port, as pods behind one name."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from fakedns import FakeDns
from rhtest import HAProxy, RedisGroup, Resp, Server, poll_until
from rhdaemon import Daemon, run_tests
from test_engine import api as engine_api
from test_haproxy import reload_and_wait

NAMED, IPC = "named", "ipc"
SENTINEL_IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
S = {}  # the set-up, made once

def api(path):
    """GET path from the daemon's API (test_engine.api), which must say 200."""
    status, body = engine_api(S["api"], path)
    assert status == 200, "GET %s: %d %s" % (path, status, body)
    return body


def cluster(name):
    for c in api("/api/topology"):
        if c["name"] == name:
            return c
    return None


def setup():
    if S:
        return S
    dns = FakeDns()
    S["dns"] = dns
    rhtest.run().on_close(dns.close)
    group = RedisGroup(name=[NAMED, IPC], replicas=1, sentinels=0, start=False)
    # The named master and its replica also listen on ::1: Sentinel may
    # resolve "localhost" to either. Both announce themselves by that name,
    # so a failover goes from one name to another.
    for s in group.servers[NAMED]:
        for p in (s.conf_path, s.orig_conf_path):
            text = open(p).read().replace("bind 127.0.0.1\n", "bind 127.0.0.1 -::1\n")
            text += "replica-announce-ip localhost\n"
            open(p, "w").write(text)
    group.start()
    port = rhtest.free_port()
    mport = group.servers[NAMED][0].port
    for i, ip in enumerate(SENTINEL_IPS):
        conf = group._sentinel_conf(port, 1000, 5000)
        # Announce the address it listens on (it would announce the source
        # address of its link to the master, 127.0.0.1, otherwise).
        conf = conf.replace("bind 127.0.0.1\n", "bind %s\nsentinel announce-ip %s\n" % (ip, ip))
        conf = conf.replace("sentinel resolve-hostnames no", "sentinel resolve-hostnames yes")
        conf = conf.replace("sentinel announce-hostnames no", "sentinel announce-hostnames yes")
        conf = conf.replace("sentinel monitor %s 127.0.0.1 %d" % (NAMED, mport),
                            "sentinel monitor %s localhost %d" % (NAMED, mport))
        s = Server(group.run, "sentinel", "sentinel-%d" % i, ip, port, conf)
        group.sentinels.append(s)
        s.start()
    for s in group.sentinels:
        poll_until(lambda: s.ping(), 10, "%r to answer PING" % s)
    S["group"], S["sport"] = group, port
    dns.set("sentinels.test", SENTINEL_IPS)
    dns.set("localhost", ["127.0.0.1"])

    tmp = rhtest.run().dir
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write(dns.resolv_conf())
    api_port = rhtest.free_port()
    S["api"] = api_port
    ports = {NAMED: rhtest.free_port(), IPC: rhtest.free_port()}
    S["fport"] = ports
    sock, cfg = rhtest.run().path("haproxy-dns.sock"), rhtest.run().path("haproxy-dns.cfg")
    tmpl = rhtest.run().path("haproxy-dns.mustache")
    with open(tmpl, "w") as f:
        # HAProxy is pointed at the address the ROLE check used, never at a name.
        f.write(rhtest.haproxy_template(sock, server="master_addr"))
    with open(cfg, "w") as f:
        f.write(rhtest.render_haproxy_cfg(
            [(n, ports[n], "127.0.0.1", group.servers[n][0].port) for n in (NAMED, IPC)], sock))
    S["hap"] = hap = HAProxy(cfg, sock)
    S["cfg"] = cfg
    chroot = os.path.join(tmp, "root-dns")
    os.makedirs(chroot, 0o755, exist_ok=True)
    os.chmod(chroot, 0o755)
    S["chroot"] = chroot
    user = "user = nobody\nchroot = %s\n" % chroot if os.geteuid() == 0 else "chroot =\n"
    text = ("[global]\n%sstate_file = %s/state-dns.json\napi_listen = 127.0.0.1:%d\n"
            "log_level = debug\nresolv_conf = %s\nhosts_file =\n\n"
            "[sentinels]\naddress = sentinels.test:%d\n"
            "ping_interval = 200ms\nping_timeout = 1s\nreread_interval = 1s\n"
            "resolve_interval = 1s\nresolve_timeout = 2s\n"
            "\n[cluster %s]\nexternal_port = %d\n\n[cluster %s]\nexternal_port = %d\n"
            "\n[haproxy]\ntemplate = %s\noutput = %s\ncheck_command = haproxy -c -q -f %%s\n"
            "reload_command = %s\nruntime_socket = %s\n" % (
                user, tmp, api_port, resolv, port, NAMED, ports[NAMED], IPC, ports[IPC], tmpl,
                cfg, reload_and_wait(hap), sock))
    path = os.path.join(tmp, "redishappy-dns.conf")
    with open(path, "w") as f:
        f.write(text)
    d = Daemon(path)
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    S["daemon"] = d
    poll_until(lambda: _answers(), 10, "the API to answer")
    return S


def _answers():
    try:
        return api("/api/ping") == "Pong"
    except OSError:
        return False


def through_haproxy(name):
    """The address (bind, port) of the server a new connection through
    HAProxy's frontend of cluster `name` reaches."""
    c = Resp("127.0.0.1", S["fport"][name], timeout=1)
    try:
        return (c.command("CONFIG", "GET", "bind")[1].split()[0],
                int(c.command("CONFIG", "GET", "port")[1]))
    finally:
        c.close()


def _through(name):
    try:
        return through_haproxy(name)
    except (OSError, rhtest.RespError, IndexError):
        return None


def test_1_three_sentinels_from_one_name():
    s = setup()
    want = {"%s:%d" % (ip, s["sport"]) for ip in SENTINEL_IPS}

    def three_up():
        got = api("/api/sentinels")
        up = {a for a, v in got["sentinels"].items()
              if v.get("stateName") == "up" and v.get("configured") and v.get("trusted")}
        return up == want and got
    got = poll_until(three_up, 20, "three configured Sentinels from sentinels.test")
    name = got["names"]["sentinels.test:%d" % s["sport"]]
    assert set(name["sentinels"]) == want, name
    assert name["resolveError"] is None, name
    # Nothing of the resolver was copied into the chroot.
    if os.geteuid() == 0:
        assert not os.path.exists(os.path.join(s["chroot"], "etc", "resolv.conf"))


def test_2_master_announced_by_name():
    s = setup()
    mport = s["group"].servers[NAMED][0].port
    c = poll_until(lambda: (lambda c: c if c and c.get("ip") == "localhost" and
                            c.get("addr") == "127.0.0.1" else None)(cluster(NAMED)),
                   20, "the named master, resolved")
    assert c["port"] == mport, c
    assert c["confirmed"], c
    poll_until(lambda: (cluster(NAMED).get("applied") or {}).get("state") == "applied", 15,
               "the named master applied")
    text = open(s["cfg"]).read()
    assert "server master 127.0.0.1:%d" % mport in text, text
    assert "localhost" not in text, text


def test_3_failed_lookup_keeps_sentinels_and_is_shown():
    s = setup()
    key = "sentinels.test:%d" % s["sport"]
    s["dns"].fail["sentinels.test"] = "servfail"
    try:
        got = poll_until(lambda: (lambda g: g if g["names"][key]["resolveError"] else None)(
            api("/api/sentinels")), 15, "the lookup failure in the API")
        assert len(got["names"][key]["sentinels"]) == 3, got["names"][key]
        # Not evdns's "non-recoverable failure": a SERVFAIL usually passes.
        assert "SERVFAIL" in got["names"][key]["resolveError"], got["names"][key]
        assert len([v for v in got["sentinels"].values() if v.get("configured")]) == 3
    finally:
        del s["dns"].fail["sentinels.test"]
    poll_until(lambda: api("/api/sentinels")["names"][key]["resolveError"] is None, 15,
               "the name to resolve again")


def test_4_stalled_dns_blocks_nothing_else():
    s = setup()
    group = s["group"]
    old = group.servers[IPC][0]
    poll_until(lambda: (cluster(IPC) or {}).get("port") == old.port, 20, "ipc's first master")
    s["dns"].delay = 5.0
    asked_before = s["dns"].queries
    worst = 0.0
    try:
        group.kill_master(IPC)
        new_port = group.servers[IPC][1].port
        deadline = time.monotonic() + 30
        followed = False
        pings = 0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            assert api("/api/ping") == "Pong"
            worst = max(worst, time.monotonic() - t0)
            pings += 1
            c = cluster(IPC)
            if c and c.get("port") == new_port and c.get("addr") == "127.0.0.1":
                followed = True
                break
            time.sleep(0.05)  # pacing the probe, not a synchronisation
        assert followed, "the ipc failover was not followed while DNS stalled"
        # The engine was asking (Sentinel name, master name) while stalled.
        assert s["dns"].queries > asked_before, "no lookup during the stall"
        print("dns stalled 5 s: %d /api/ping, slowest %.1f ms" % (pings, worst * 1000))
    finally:
        s["dns"].delay = 0.0


def test_5_master_name_moves():
    s = setup()
    group = s["group"]
    mport = group.servers[NAMED][0].port
    poll_until(lambda: (cluster(NAMED) or {}).get("addr") == "127.0.0.1", 20,
               "the named master at 127.0.0.1")
    # A "restarted pod": a master on another address under the same name
    # and port, which Sentinel does not know about yet.
    conf = ("port %d\nbind 127.0.0.2\nprotected-mode no\ndaemonize no\ndir %s\n"
            "dbfilename moved.rdb\nsave \"\"\n" % (mport, group.run.dir))
    moved = Server(group.run, "redis", "redis-moved", "127.0.0.2", mport, conf).start()
    poll_until(lambda: moved.ping(), 10, "the moved master to answer")
    poll_until(lambda: _through(NAMED) == ("127.0.0.1", mport), 15,
               "HAProxy at the named master")
    hap_pid = s["hap"].pid()
    s["dns"].set("localhost", ["127.0.0.2"])
    c = poll_until(lambda: (lambda c: c if c and c.get("addr") == "127.0.0.2" else None)(
        cluster(NAMED)), 20, "the named master followed to 127.0.0.2")
    assert c["ip"] == "localhost" and c["port"] == mport, c
    # Switched like a failover: HAProxy's runtime socket was given the IP,
    # and a new connection lands on the moved server.
    poll_until(lambda: _through(NAMED) == ("127.0.0.2", mport), 15,
               "a connection through HAProxy to reach 127.0.0.2")
    poll_until(lambda: "server master 127.0.0.2:%d" % mport in open(s["cfg"]).read(), 15,
               "the file to name 127.0.0.2")
    assert s["hap"].pid() == hap_pid, "HAProxy was reloaded: not the runtime path"
    events = api("/api/events")
    assert "readdressed" in str(events), "no readdressed event"
    moved.proc.stop()
    s["dns"].set("localhost", ["127.0.0.1"])
    poll_until(lambda: (cluster(NAMED) or {}).get("addr") == "127.0.0.1", 20,
               "the named master back at 127.0.0.1")


def test_5b_unresolvable_master_name_is_shown():
    s = setup()
    s["dns"].fail["localhost"] = "nxdomain"
    try:
        c = poll_until(lambda: (lambda c: c if c and c.get("resolveError") else None)(
            cluster(NAMED)), 15, "the named master's lookup failure in the API")
        # The master stays where it was confirmed: nothing is guessed.
        assert c["ip"] == "localhost" and c["addr"] == "127.0.0.1", c
    finally:
        del s["dns"].fail["localhost"]
    poll_until(lambda: (cluster(NAMED) or {}).get("resolveError", "x") is None, 15,
               "the lookup failure to clear")


def test_6_failover_of_the_named_master():
    s = setup()
    group = s["group"]
    new_port = group.servers[NAMED][1].port
    # Sentinel names it "localhost": kill the server by handle.
    old = group.servers[NAMED][0]
    old.proc.signal(signal.SIGKILL)
    old.proc.popen.wait(timeout=10)
    c = poll_until(lambda: (lambda c: c if c and c.get("port") == new_port else None)(
        cluster(NAMED)), 30, "the named cluster's failover")
    # From one name to another: announced by name, reached at its address.
    assert c["ip"] == "localhost", c
    assert c["addr"] == "127.0.0.1", c
    poll_until(lambda: _through(NAMED) == ("127.0.0.1", new_port), 15,
               "a connection through HAProxy to reach the new master")
    assert c["confirmed"], c


if __name__ == "__main__":
    run_tests(globals())
