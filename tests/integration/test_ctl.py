"""redishappyctl against a real daemon (real redis-server and redis-sentinel
on loopback), against nothing, and against something that is not our API."""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, poll_until, run_tests
from rhdaemon import BUILDDIR, Daemon
from test_engine import NAME, api, daemon_config, start_daemon

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
                 ["-f", "x.conf", "convert-config", "y.json"], ["--frobnicate", "status"],
                 ["events", "-n", "0"], ["events", "-n", "257"], ["events", "-n"], ["events", "-n", "x"],
                 ["events", "a", "b"], ["events", "bad/name"], ["events", "-i", "1"],
                 ["watch", "-i", "0"], ["watch", "-i", "0.01"], ["watch", "-i"],
                 ["watch", "extra"], ["--json", "watch"]):
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


def events_of(port, query=""):
    status, body = api(port, "/api/events" + query)
    assert status == 200, (status, body)
    return body["events"]


def test_events_after_failover_and_refusal():
    """After a real failover on the runtime path, /api/events and
    `redishappyctl events` show the confirmation and the apply with its path;
    a second daemon that requires more agreeing Sentinels than can answer
    shows its refusal with the reason."""
    from test_haproxy import Setup  # HAProxy with a runtime socket, the daemon, Sentinels
    s = Setup("runtime")
    addr = "127.0.0.1:%d" % s.api_port
    master = s.g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == tuple(master), 20, "the first master applied")
    old = s.g.kill_master(NAME)
    new = s.g.wait_failover(NAME, old.addr)
    new_hp = "%s:%d" % tuple(new)
    poll_until(lambda: s.applied() == tuple(new), 20, "the promoted replica applied")

    def confirmed_then_applied():
        evs = events_of(s.api_port)
        conf = [i for i, e in enumerate(evs) if e["kind"] == "confirmed" and
                e["reason"] == "switch" and e["detail"]["master"] == new_hp]
        done = [i for i, e in enumerate(evs) if e["kind"] == "applied" and
                e["detail"]["master"] == new_hp]
        return conf and done and conf[-1] < done[-1] and (evs, conf[-1], done[-1])
    evs, ci, ai = poll_until(confirmed_then_applied, 10, "the confirmation then the apply")
    first = "%s:%d" % tuple(master)
    assert [e for e in evs if e["kind"] == "confirmed" and e["reason"] == "initial" and
            e["detail"]["master"] == first], evs  # start-up is not a switch
    assert not [e for e in evs if e["kind"] == "confirmed" and e["reason"] == "switch" and
                e["detail"]["master"] == first], evs
    assert evs[ai]["reason"] == "runtime", evs[ai]
    assert evs[ci]["cluster"] == NAME and evs[ci]["detail"]["epoch"] > 0, evs[ci]
    assert evs[ci]["time"] == evs[ci]["timeMs"] // 1000, evs[ci]
    assert "ROLE master" in evs[ci]["detail"]["text"], evs[ci]
    # Candidates of the new master were seen from trusted Sentinels.
    assert any(e["kind"] == "candidate" and e["reason"] == "trusted" and
               e["detail"]["master"] == new_hp for e in evs), evs
    # Newest last, by the time of the last occurrence.
    times = [e["timeMs"] for e in evs]
    assert times == sorted(times), times
    assert len(events_of(s.api_port, "?n=1")) == 1
    r = ctl("-a", addr, "events", "-n", "100", NAME)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["TIME", "CLUSTER", "EVENT"], r.stdout
    conf = [l for l in lines if " confirmed " in l and new_hp in l]
    assert conf and "new master: ROLE master, corroborated" in conf[-1], r.stdout
    applied = [l for l in lines if " applied " in l and new_hp in l]
    assert applied and "in effect through HAProxy's runtime socket" in applied[-1], r.stdout
    assert lines.index(conf[-1]) < lines.index(applied[-1]), r.stdout
    r = ctl("-a", addr, "--json", "events", "-n", "2")
    assert r.returncode == 0 and len(json.loads(r.stdout)["events"]) == 2, r

    # A second daemon on the same Sentinels: two answer, a third configured
    # one is a port where nothing listens, and min_agreement is 3.
    dead = rhtest.free_port()
    port2 = rhtest.free_port()
    sentinels = [(x.host, x.port) for x in s.g.sentinels[:2]] + [("127.0.0.1", dead)]
    d2 = Daemon(daemon_config(sentinels, port2, "min_agreement = 3\n"))
    d2.__enter__()
    rhtest.run().on_close(lambda: d2.__exit__(None, None, None))
    poll_until(lambda: api(port2, "/api/ping")[1] == "Pong", 10, "the second API")

    def refused():
        return [e for e in events_of(port2, "?cluster=" + NAME)
                if e["kind"] == "refused" and e["reason"] == "min-agreement" and
                e["detail"]["master"] == new_hp and "2 of 3 required" in e["detail"]["text"]]
    ref = poll_until(refused, 15, "the min_agreement refusal, both Sentinels named")[-1]
    assert ", " in ref["detail"]["sentinel"], ref
    assert ref["detail"]["trusted"] is True and ref["detail"]["sentinel"], ref
    status, body = api(port2, "/api/topology")
    assert body[0]["ip"] is None, body  # nothing was confirmed
    r = ctl("-a", "127.0.0.1:%d" % port2, "events", NAME)
    assert r.returncode == 0, r
    assert any("refused" in l and new_hp in l and
               "not enough trusted Sentinels agree (min_agreement): " in l and
               "2 of 3 required" in l for l in r.stdout.splitlines()), r.stdout

    # Bad queries: 400 with a JSON error, and the tool says why.
    for q in ("?n=0", "?n=x", "?cluster=nope", "?bogus=1", "?n=1&n=2"):
        status, body = api(port2, "/api/events" + q)
        assert status == 400 and body["error"], (q, status, body)
    r = ctl("-a", "127.0.0.1:%d" % port2, "events", "nope")
    assert r.returncode == 1 and "no cluster named nope" in r.stderr, r


class _Reader:
    """Collects a process's stdout on a thread, so the test can poll it."""

    def __init__(self, stream):
        self.chunks = []
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        try:
            for chunk in iter(lambda: os.read(stream.fileno(), 4096), b""):
                self.chunks.append(chunk)
        except OSError:  # a pty whose other side closed reads EIO: the end
            pass

    def text(self):
        return b"".join(self.chunks).decode(errors="replace")


def start_watch(addr):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.Popen([CTL, "-a", addr, "watch", "-i", "0.2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    rhtest.run().on_close(lambda: p.poll() is None and (p.kill(), p.wait()))
    return p, _Reader(p.stdout)


def test_watch_redraws_until_interrupted():
    g = RedisGroup(NAME, replicas=1, sentinels=1, quorum=1)
    g.wait_ready()
    port = rhtest.free_port()
    start_daemon(g, port)
    addr = "127.0.0.1:%d" % port
    master = "%s:%d" % g.sentinel_master(NAME)
    poll_until(lambda: master_in_status(port) == master, 10, "status to show the master")
    p, out = start_watch(addr)
    header = "every 0.2s from %s, " % addr
    poll_until(lambda: out.text().count(header) >= 2, 10, "two tables from watch")
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0
    text = out.text()
    assert "\033[" not in text, text  # no terminal, no escapes
    tables = text.split("\n\n" + header)
    assert len(tables) >= 2, text
    for t in tables:
        assert any(l.split()[:1] == [NAME] and master in l for l in t.splitlines()), text
    # SIGTERM ends it the same way.
    p, out = start_watch(addr)
    poll_until(lambda: header in out.text(), 10, "a table from watch")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0


class _StatusApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {
            "/api/topology": b'[{"name": "testing", "externalPort": 6379, "ip": "10.0.0.1",'
                             b' "port": 7000, "epoch": 3, "confirmed": true}]',
            "/api/sentinels": b'{"sentinels": {}}',
        }.get(self.path, b"not found")
        self.send_response(200 if body != b"not found" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_status(port):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _StatusApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_watch_survives_an_api_outage():
    """Unreachable at the first refresh: exit 1. Unreachable later: an
    error line, then tables again once the API is back."""
    port = rhtest.free_port()
    r = ctl("-a", "127.0.0.1:%d" % port, "watch", "-i", "0.2")
    assert r.returncode == 1 and "cannot reach" in r.stderr and r.stdout == "", r
    server = serve_status(port)
    try:
        p, out = start_watch("127.0.0.1:%d" % port)
        poll_until(lambda: "10.0.0.1:7000" in out.text(), 10, "a table")
    finally:
        server.shutdown()
        server.server_close()
    poll_until(lambda: "cannot reach" in out.text() and "(retrying)" in out.text(), 10,
               "the error line")
    assert p.poll() is None, out.text()
    seen = out.text().count("10.0.0.1:7000")
    server = serve_status(port)
    try:
        poll_until(lambda: out.text().count("10.0.0.1:7000") > seen, 10, "tables again")
    finally:
        server.shutdown()
        server.server_close()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0


def test_watch_clears_a_terminal():
    """On a terminal each table starts with home + clear-screen escapes."""
    port = rhtest.free_port()
    server = serve_status(port)
    master_fd, slave_fd = os.openpty()
    try:
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        p = subprocess.Popen([CTL, "-a", "127.0.0.1:%d" % port, "watch", "-i", "0.2"],
                             stdout=slave_fd, stderr=subprocess.PIPE, env=env)
        rhtest.run().on_close(lambda: p.poll() is None and (p.kill(), p.wait()))
        os.close(slave_fd)
        out = _Reader(os.fdopen(master_fd, "rb", buffering=0))
        poll_until(lambda: out.text().count("\033[H\033[2J") >= 2, 10, "two cleared screens")
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0
        assert "10.0.0.1:7000" in out.text(), out.text()
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    run_tests(globals())
