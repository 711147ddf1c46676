"""redishappyctl against a real daemon (real redis-server and redis-sentinel
on loopback), against nothing, and against something that is not our API."""
import http.server
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, poll_until, run_tests
from rhdaemon import BUILDDIR
from test_engine import NAME, start_daemon

CTL = os.path.join(BUILDDIR, "src", "redishappyctl")


def ctl(*args, timeout=10):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=timeout, env=env)


def status_row(port, name=NAME):
    """The cells of `name`'s row in `redishappyctl status`."""
    r = ctl("-a", "127.0.0.1:%d" % port, "status")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    for line in r.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells
    raise AssertionError("no row for %s in:\n%s" % (name, r.stdout))


def master_in_status(port):
    return status_row(port)[2]


SRCDIR = os.environ.get("RH_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(SRCDIR, "tests", "data", "original")


def test_convert_config_samples():
    """Each of the original's sample configurations converts to exactly the
    expected file (the unit test also parses those), with warnings on stderr
    only."""
    samples = sorted(f for f in os.listdir(DATA) if f.endswith(".json"))
    assert len(samples) >= 5, samples
    for name in samples:
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        r = subprocess.run([CTL, "convert-config", name], cwd=DATA, capture_output=True,
                           text=True, env=env, timeout=10)
        assert r.returncode == 0, (name, r.stderr)
        with open(os.path.join(DATA, name[:-5] + ".ini.expected")) as f:
            assert r.stdout == f.read(), name
        assert "warning:" in r.stderr, (name, r.stderr)
        if "[haproxy]" in r.stdout:
            assert "{{#clusters}}" in r.stderr, r.stderr
    # Standard input, named "-".
    with open(os.path.join(DATA, "haproxy.json")) as f:
        r = subprocess.run([CTL, "convert-config", "-"], stdin=f, capture_output=True, text=True,
                           timeout=10)
    assert r.returncode == 0 and "[haproxy]" in r.stdout, r


def test_convert_config_refuses_bad_input():
    tmp = rhtest.tmpdir()
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"Clusters": [{"Name": "a b", "ExternalPort": 70000}],\n "Sentinels": []}')
    r = ctl("convert-config", bad)
    assert r.returncode == 1 and r.stdout == "", r
    assert "Clusters[0].Name" in r.stderr and "Clusters[0].ExternalPort" in r.stderr, r.stderr
    with open(bad, "w") as f:
        f.write('{"Clusters": [,]}')
    r = ctl("convert-config", bad)
    assert r.returncode == 1 and r.stdout == "" and "1:" in r.stderr, r
    r = ctl("convert-config", os.path.join(tmp, "missing.json"))
    assert r.returncode == 1 and "No such file" in r.stderr, r
    with open(bad, "w") as f:
        f.write(" " * (2 << 20))
    r = ctl("convert-config", bad)
    assert r.returncode == 1 and "larger than 1 MiB" in r.stderr, r


def test_against_nothing():
    port = rhtest.free_port()  # nothing listens there
    for cmd in ("status", "topology", "sentinels", "health"):
        r = ctl("-a", "127.0.0.1:%d" % port, cmd)
        assert r.returncode == 1, (cmd, r.returncode, r.stderr)
        assert "cannot reach redishappyd's API at 127.0.0.1:%d" % port in r.stderr, r.stderr
        assert r.stdout == "", r.stdout


def test_usage_errors_exit_2():
    for args in (["bogus"], [], ["status", "extra"], ["convert-config"], ["-a", "nohost", "status"],
                 ["-t", "5", "status"], ["-a", "127.0.0.1:1", "-f", "x.conf", "status"],
                 ["-f", "x.conf", "convert-config", "y.json"], ["--frobnicate", "status"]):
        r = ctl(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr, args
    r = ctl("-V")
    assert r.returncode == 0 and r.stdout.startswith("redishappyctl "), r


class _NotOurApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body, code = {
            "/api/topology": (b"<html>hello</html>", 200),
            "/api/sentinels": (b'{"sentinels": {}}', 200),
            "/api/health": (b'{"status": "ok"}', 503),
        }.get(self.path, (b"not found", 404))
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_against_something_else():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotOurApi)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        addr = "127.0.0.1:%d" % server.server_address[1]
        r = ctl("-a", addr, "status")
        assert r.returncode == 1 and "/api/topology is not JSON" in r.stderr, r
        r = ctl("-a", addr, "--json", "topology")
        assert r.returncode == 1 and r.stdout == "", r
        r = ctl("-a", addr, "health")
        assert r.returncode == 1 and "answered HTTP 503 with status ok" in r.stderr, r
        r = ctl("-a", addr, "sentinels")
        assert r.returncode == 0 and r.stdout.startswith("SENTINEL"), r
    finally:
        server.shutdown()
        server.server_close()


def test_against_running_daemon_through_failover():
    g = RedisGroup(NAME)
    g.wait_ready()
    port = rhtest.free_port()
    d = start_daemon(g, port)
    addr = "127.0.0.1:%d" % port
    master = "%s:%d" % g.sentinel_master(NAME)
    poll_until(lambda: master_in_status(port) == master, 10, "status to show the master")
    # Without [haproxy] or [consul] there is nothing to apply to, and the
    # daemon says "applied" as soon as the parent has taken the master.
    poll_until(lambda: ctl("-a", addr, "health").returncode == 0, 10, "health to be ok")
    row = status_row(port)
    assert row[3] == str(g.master_epoch(NAME)), row
    assert row[4] == "yes", row
    replicas = set(row[6].split(","))
    assert len(replicas) == 2 and master not in replicas, row

    r = ctl("-a", addr, "sentinels")
    assert r.returncode == 0, r
    up = [line for line in r.stdout.splitlines()[1:] if line.split()[1] == "up"]
    assert len(up) == 3, r.stdout

    r = ctl("-a", addr, "--json", "status")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["topology"][0]["name"] == NAME, doc
    assert len(doc["sentinels"]["sentinels"]) == 3, doc

    # Latency and last reply change on every PING without changing any
    # decision; they must still reach the API (refreshed at reread_interval).
    def measured():
        r = ctl("-a", addr, "--json", "sentinels")
        s = json.loads(r.stdout)["sentinels"].values()
        return all(x["latencyMs"] > 0 and not x["lastUpdated"].startswith("0001") for x in s)
    poll_until(measured, 10, "every Sentinel's PING latency in the API")

    # -f: the address from the daemon's own configuration.
    r = ctl("-f", d.config, "--json", "topology")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["name"] == NAME, r
    off = os.path.join(rhtest.tmpdir(), "api-off.conf")
    with open(d.config) as src, open(off, "w") as dst:
        dst.write(src.read().replace("api_listen = %s" % addr, "api_listen = none"))
    r = ctl("-f", off, "status")
    assert r.returncode == 1 and "the API is disabled" in r.stderr, r
    r = ctl("-f", os.path.join(rhtest.tmpdir(), "missing.conf"), "status")
    assert r.returncode == 1 and "missing.conf" in r.stderr, r

    r = ctl("-a", addr, "topology")
    assert r.returncode == 0 and r.stdout.startswith(NAME + "\n"), r
    assert "  master           %s\n" % master in r.stdout, r.stdout

    old = g.kill_master(NAME)
    new = "%s:%d" % g.wait_failover(NAME, old.addr)
    poll_until(lambda: master_in_status(port) == new, 15, "status to show the promoted replica")
    poll_until(lambda: ctl("-a", addr, "health").returncode == 0, 10, "health to be ok again")
    r = ctl("-a", addr, "--json", "health")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "ok", r


def test_health_fails_when_sentinels_are_gone():
    g = RedisGroup(NAME, replicas=1, sentinels=1, quorum=1)
    g.wait_ready()
    port = rhtest.free_port()
    start_daemon(g, port)
    addr = "127.0.0.1:%d" % port
    poll_until(lambda: ctl("-a", addr, "health").returncode == 0, 10, "health to be ok")
    g.kill_sentinel(0)
    poll_until(lambda: ctl("-a", addr, "health").returncode == 1, 15, "health to fail")
    r = ctl("-a", addr, "health")
    assert "unhealthy" in r.stdout and "no sentinel is up" in r.stdout, r


if __name__ == "__main__":
    run_tests(globals())
