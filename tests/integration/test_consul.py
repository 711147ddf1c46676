"""The Consul output end to end: real redis-server and redis-sentinel, the
daemon, and tests/integration/fake_consul.py standing in for Consul (no real
Consul can be installed on these machines; the fake implements the
documented endpoints strictly)."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, poll_until, run_tests
from rhdaemon import Daemon
from test_engine import api, reported, topology
from test_haproxy import NAME, Setup

HERE = os.path.dirname(os.path.abspath(__file__))


class FakeConsul:
    def __init__(self):
        r = rhtest.run()
        portfile = r.path("consul-%d.ports" % rhtest.free_port())
        r.spawn("fake-consul", ["/usr/bin/python3", os.path.join(HERE, "fake_consul.py"),
                                portfile])

        def ports():
            with open(portfile) as f:
                parts = f.read().split()
            return len(parts) == 2 and [int(p) for p in parts]
        self.port, self.control = poll_until(ports, 10, "fake consul ports")

    def ctl(self, path):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path), data=b"",
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def service(self, name=NAME):
        """What a DNS lookup of <name>.service.consul would return."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/catalog/service/%s"
                                        % (self.port, name), timeout=2) as r:
                entries = json.loads(r.read())
        except OSError:
            return None
        return [(e.get("ServiceAddress") or e.get("Address"), e.get("ServicePort"))
                for e in entries]


def consul_config(consul, token_file=None):
    text = "\n[consul]\naddress = http://127.0.0.1:%d\ntimeout = 1s\nretry_max = 500ms\n" \
        % consul.port
    if token_file:
        text += "token_file = %s\n" % token_file
    return text


def daemon(g, consul, token_file=None, clusters=(NAME,)):
    r = rhtest.run()
    api_port = r.free_port()
    chroot = r.path("root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    conf = ["[global]"]
    conf += ["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0 else ["chroot ="]
    conf += ["state_file = %s/state-%d.json" % (r.dir, api_port),
             "api_listen = 127.0.0.1:%d" % api_port, "", "[sentinels]"]
    conf += ["address = %s:%d" % (s.host, s.port) for s in g.sentinels]
    conf += ["reread_interval = 1s"]
    for name in clusters:
        conf += ["", "[cluster %s]" % name, "external_port = %d" % r.free_port()]
    path = r.path("redishappy-%d.conf" % api_port)
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n" + consul_config(consul, token_file))
    d = Daemon(path)
    d.path = path
    d.__enter__()
    r.on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API")
    return d, api_port


def test_cluster_removed_by_reload_is_deregistered():
    consul = FakeConsul()
    g = RedisGroup([NAME, "other"], replicas=1)
    g.wait_ready()
    d, port = daemon(g, consul, clusters=(NAME, "other"))
    poll_until(lambda: consul.service() == [g.sentinel_master(NAME)], 10, "testing registered")
    poll_until(lambda: consul.service("other") == [g.sentinel_master("other")], 10,
               "other registered")
    text = open(d.path).read()
    start = text.index("[cluster other]")
    end = text.index("\n\n", start) if "\n\n" in text[start:] else len(text)
    with open(d.path, "w") as f:
        f.write(text[:start] + text[end:])
    import signal as _signal
    os.kill(d.pid, _signal.SIGHUP)
    poll_until(lambda: consul.service("other") == [], 15, "other deregistered")
    assert consul.service() == [g.sentinel_master(NAME)], "testing must stay registered"
    d.wait_log("removed from the configuration")


def test_registers_at_startup_and_follows_failover():
    consul = FakeConsul()
    g = RedisGroup(NAME)
    g.wait_ready()
    d, port = daemon(g, consul)
    master = g.sentinel_master(NAME)
    poll_until(lambda: consul.service() == [master], 10, "registration of the master")
    poll_until(lambda: topology(port)["consul"]["state"] == "registered", 5,
               "the registration in the API")
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: consul.service() == [new], 15, "re-registration of the new master")


def test_consul_down_during_failover_converges_on_current_master():
    consul = FakeConsul()
    g = RedisGroup(NAME)
    g.wait_ready()
    d, port = daemon(g, consul)
    master = g.sentinel_master(NAME)
    poll_until(lambda: consul.service() == [master], 10, "registration")
    consul.ctl("/down")
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 15, "engine follows the failover")
    poll_until(lambda: topology(port)["consul"]["state"] == "error", 10, "consul error shown")
    consul.ctl("/up")
    poll_until(lambda: consul.service() == [new], 15, "convergence on the new master")
    # And never back to an older one: a few more polls stay on the new master.
    for _ in range(20):
        assert consul.service() == [new]


def test_wrong_token_is_surfaced():
    consul = FakeConsul()
    consul.ctl("/token?value=right-token")
    token = rhtest.run().path("token")
    with open(token, "w") as f:
        f.write("wrong-token\n")
    os.chmod(token, 0o600)
    g = RedisGroup(NAME)
    g.wait_ready()
    d, port = daemon(g, consul, token_file=token)
    poll_until(lambda: topology(port)["consul"]["state"] == "error", 15, "the 403 in the API")
    c = topology(port)
    assert "403" in c["consul"]["error"], c
    metrics = api(port, "/metrics")[1]
    assert 'redishappy_consul_errors_total{cluster="testing"} 0' not in metrics
    assert 'redishappy_consul_errors_by_reason_total{reason="http_4xx"} 0' not in metrics
    assert 'redishappy_consul_errors_by_reason_total{reason="http_4xx"}' in metrics
    assert 'redishappy_consul_errors_by_reason_total{reason="connect"} 0' in metrics
    assert "wrong-token" not in d.log(), "the token must never be logged"
    assert "wrong-token" not in json.dumps(api(port, "/api/configuration")[1])


def test_slow_consul_does_not_delay_haproxy():
    consul = FakeConsul()
    s = Setup("runtime", extra=consul_config(consul))
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    poll_until(lambda: consul.service() == [master], 10, "registration")
    consul.ctl("/delay?s=4")
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: s.applied() == new, 15, "HAProxy switched")
    # HAProxy did not wait for Consul, whose registration is still in flight.
    c = topology(s.api_port)
    assert c["consul"]["state"] == "pending", c
    consul.ctl("/delay?s=0")
    poll_until(lambda: consul.service() == [new], 15, "consul catches up")


def test_consul_never_ahead_of_haproxy():
    """Outputs in order (issue 13): Consul shows a master only once HAProxy
    routes to it. A check that takes a second widens the window in which an
    engine that published on confirmation would be caught: each round reads
    Consul first, then asks HAProxy where a new connection goes."""
    consul = FakeConsul()
    s = Setup("reload", check_command="sleep 1 && haproxy -c -q -f %s",
              extra="check_always = yes\n" + consul_config(consul))
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master and consul.service() == [master], 20,
               "master applied and registered")
    old = g.kill_master(NAME)

    ahead = []  # outside the poll: poll_until retries on exceptions

    def consul_follows_haproxy():
        shown = consul.service()
        if not shown or shown == [master]:
            return None
        try:
            routed = s.through_haproxy()
        except (OSError, rhtest.RespError, ValueError) as e:
            routed = "no server (%s)" % e  # still the dead old master
        if routed != shown[0][1]:
            ahead.append((shown, routed))
            return None
        return shown
    new = poll_until(consul_follows_haproxy, 30, "Consul and HAProxy on the new master")
    assert not ahead, "Consul showed a master HAProxy did not route to: %r" % ahead[:3]
    assert new == [g.wait_failover(NAME, old.addr)], new


if __name__ == "__main__":
    run_tests(globals())
