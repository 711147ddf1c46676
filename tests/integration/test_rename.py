"""Renamed and removed clusters never set off an engine restart loop.

The parent used to replay every cluster of its state file to each new
engine, and (without [consul]) to keep a cluster removed by SIGHUP; an
engine that does not know a name exited, and was restarted with backoff,
forever. Here a cluster is renamed across a restart and across a SIGHUP,
with and without [consul] (tests/integration/fake_consul.py), and the
number of "engine started" lines is counted over a few seconds after the
daemon settled."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, poll_until, run_tests
from rhdaemon import Daemon
from test_consul import FakeConsul, consul_config
from test_engine import api

NAME = "testing"
# Long enough for a loop (first restart after 100 ms) to show several times.
WATCH = 4


def write(path, g, api_port, clusters, consul):
    r = rhtest.run()
    chroot = r.path("root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    conf = ["[global]"]
    conf += ["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0 else ["chroot ="]
    conf += ["state_file = %s/state-%d.json" % (r.dir, api_port),
             "api_listen = 127.0.0.1:%d" % api_port, "startup_grace = 2s", "", "[sentinels]"]
    conf += ["address = %s:%d" % (s.host, s.port) for s in g.sentinels]
    for name in clusters:
        conf += ["", "[cluster %s]" % name, "external_port = %d" % r.free_port()]
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n" + (consul_config(consul) if consul else ""))


def start(path, api_port):
    r = rhtest.run()
    d = Daemon(path)
    d.__enter__()
    r.on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API")
    return d


def starts(d):
    return d.log().count("engine started")


def settled_without_loop(d, expected_starts):
    """Waits for the expected engine to be ready, then watches WATCH seconds."""
    poll_until(lambda: len(re.findall(r"engine \d+ ready", d.log())) >= expected_starts, 15,
               "engine %d ready" % expected_starts)
    try:
        poll_until(lambda: starts(d) > expected_starts, WATCH, "another engine start")
    except AssertionError:
        return  # none in the window: no loop
    raise AssertionError("engine restarted after settling:\n" + d.log()[-3000:])


def applied_both(state):
    try:
        with open(state) as f:
            text = f.read()
    except OSError:
        return False
    return '"%s"' % NAME in text and '"other"' in text


def scenario(consul, how):
    r = rhtest.run()
    g = RedisGroup([NAME, "other"], replicas=1)
    g.wait_ready()
    fake = FakeConsul() if consul else None
    api_port = r.free_port()
    path = r.path("redishappy-%d.conf" % api_port)
    state = "%s/state-%d.json" % (r.dir, api_port)
    write(path, g, api_port, (NAME, "other"), fake)
    d = start(path, api_port)
    poll_until(lambda: applied_both(state), 15, "both clusters in the state file")
    write(path, g, api_port, (NAME, "renamed"), fake)
    if how == "restart":
        d.stop()
        d = start(path, api_port)
        settled_without_loop(d, 1)
        assert "cluster other is not configured; dropping it" in d.log(), d.log()[-3000:]
    else:
        os.kill(d.pid, signal.SIGHUP)
        d.wait_log("configuration reloaded")
        settled_without_loop(d, 2)
        poll_until(lambda: '"other"' not in open(state).read(), 10, "other out of the state file")


def test_rename_and_restart_without_consul():
    scenario(False, "restart")


def test_rename_and_sighup_without_consul():
    scenario(False, "sighup")


def test_rename_and_restart_with_consul():
    scenario(True, "restart")


def test_rename_and_sighup_with_consul():
    scenario(True, "sighup")


if __name__ == "__main__":
    run_tests(globals())
