"""End to end: real redis-server x3, redis-sentinel x3, haproxy, and
redishappyd (as root, the engine dropped to nobody) rendering HAProxy's
configuration. Proves the product's promise on both switch paths: no
acknowledged write lands on a stale master."""
import json
import os
import subprocess
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import FakeRedis, HAProxy, RedisGroup, Resp, RespError, Writer, poll_until, run_tests
from rhdaemon import Daemon, children_of
from test_engine import ScriptedSentinel, api, reported, topology

NAME = "testing"
# The parent's one line per applied batch: "1 cluster confirmed: testing ...".
CONFIRMED = re.compile(r"\d+ clusters? confirmed")


def template(sock):
    """The tests' template, with each cluster's epoch in a comment: a new
    epoch alone changes the file but not what HAProxy runs."""
    return rhtest.haproxy_template(sock, maxconn=1000, epoch_comment=True)


def reload_and_wait(hap):
    """A reload that returns only once the old process (and with it every
    session it held) is gone: haproxy -D returns before -st has acted."""
    script = hap.cfg_path + ".reload.sh"
    with open(script, "w") as f:
        f.write("old=$(cat {pid}); haproxy -f {cfg} -p {pid} -D -st $old || exit 1\n"
                "while [ -e /proc/$old ] && ! grep -q ') Z' /proc/$old/stat 2>/dev/null; do\n"
                "    sleep 0.005\ndone\n".format(pid=hap.pidfile, cfg=hap.cfg_path))
    return "sh " + script


class Setup:
    """Sentinel group, haproxy and redishappyd wired together."""

    def __init__(self, path, check_command=None, reload_command=None, reload_timeout="5s",
                 group=True, sentinels=None, extra=""):
        r = rhtest.run()
        self.path = path
        self.dir = r.dir
        self.fport = r.free_port()
        self.api_port = r.free_port()
        tag = "%d" % self.api_port
        self.sock = r.path("haproxy-%s.sock" % tag)
        self.cfg = r.path("haproxy-%s.cfg" % tag)
        self.tmpl = r.path("haproxy-%s.mustache" % tag)
        with open(self.tmpl, "w") as f:
            f.write(template(self.sock))
        if group:
            # 2 s rather than 1 s: on a loaded machine a master that is slow
            # to answer for a second would set off a second failover.
            self.g = RedisGroup(NAME, down_after_ms=2000)
            self.g.wait_ready()
            master = self.g.sentinel_master(NAME)
            sentinels = [(s.host, s.port) for s in self.g.sentinels]
        else:
            master = sentinels[1]
            sentinels = sentinels[0]
        # HAProxy starts on a hand-written file pointing at the master.
        with open(self.cfg, "w") as f:
            f.write(rhtest.render_haproxy_cfg([(NAME, self.fport, master[0], master[1])],
                                              self.sock))
        self.hap = HAProxy(self.cfg, self.sock)
        chroot = r.path("root-%s" % tag)
        os.makedirs(chroot, 0o755, exist_ok=True)
        conf = ["[global]"]
        if os.geteuid() == 0:
            conf += ["user = nobody", "chroot = %s" % chroot]
        else:
            conf += ["chroot ="]
        conf += ["state_file = %s/state-%s.json" % (self.dir, tag),
                 "api_listen = 127.0.0.1:%d" % self.api_port, "log_level = debug",
                 "startup_grace = 3s", "", "[sentinels]"]
        conf += ["address = %s:%d" % s for s in sentinels]
        conf += ["ping_interval = 200ms", "reread_interval = 1s", "",
                 "[cluster %s]" % NAME, "external_port = %d" % self.fport, "",
                 "[haproxy]", "template = %s" % self.tmpl, "output = %s" % self.cfg,
                 "check_command = %s" % (check_command or "haproxy -c -q -f %s"),
                 "reload_command = %s" % (reload_command or reload_and_wait(self.hap)),
                 "reload_timeout = %s" % reload_timeout]
        if path == "runtime":
            conf.append("runtime_socket = %s" % self.sock)
        self.conf = r.path("redishappy-%s.conf" % tag)
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n" + extra)
        self.d = Daemon(self.conf)
        self.d.__enter__()
        r.on_close(lambda: self.d.__exit__(None, None, None))
        poll_until(lambda: api(self.api_port, "/api/ping")[1] == "Pong", 10, "API")

    def applied(self):
        c = topology(self.api_port)
        return c and c.get("applied", {}).get("state") == "applied" and (c["ip"], c["port"])

    def through_haproxy(self):
        """The port of the server a new connection through HAProxy reaches."""
        c = Resp("127.0.0.1", self.fport, timeout=1)
        try:
            return int(c.command("CONFIG", "GET", "port")[1])
        finally:
            c.close()

    def cfg_text(self):
        with open(self.cfg) as f:
            return f.read()


def failover_and_stale_master_return(path):
    s = Setup(path)
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    assert s.through_haproxy() == master[1]

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: s.applied() == new, 15, "promoted replica applied")
    poll_until(lambda: s.through_haproxy() == new[1], 5, "new connections on the new master")
    poll_until(lambda: "%s:%d" % new in s.cfg_text(), 10, "the file to name the new master")
    assert reported(s.api_port) == new
    if path == "runtime":
        s.d.wait_log("applied by runtime")
    else:
        s.d.wait_log("applied by reload")

    # Let the failover settle: every remaining replica follows the new master.
    def settled():
        for srv in g.servers[NAME]:
            if srv is old or srv.addr == new:
                continue
            info = g.server_cmd(srv, "INFO", "replication")
            if "master_port:%d" % new[1] not in info or "master_link_status:up" not in info:
                return False
        return True
    poll_until(settled, 30, "replicas to follow the new master")
    epoch = g.master_epoch(NAME)

    # The seed's failure mode, with writers through HAProxy the whole time.
    steady = Writer("127.0.0.1", s.fport, prefix="steady")
    churn = Writer("127.0.0.1", s.fport, prefix="churn", reconnect_every=3)
    steady.start()
    churn.start()
    steady.wait_acked(20)
    g.restart_server(old)
    poll_until(lambda: g.role(old) == "slave", 30, "old master demoted")
    n = len(churn.acked)
    poll_until(lambda: len(churn.acked) > n + 20, 10, "writes after the demotion")
    steady.stop()
    churn.stop()
    final_addr = g.sentinel_master(NAME)
    final = g.server_at(final_addr)
    if g.master_epoch(NAME) != epoch or final_addr != new:
        # A second failover (e.g. a master too slow to answer under load)
        # loses writes through Redis's asynchronous replication, whatever
        # routes the clients: say so plainly instead of blaming the switch.
        print(s.d.log()[-8000:])
        rhtest.skip("INCONCLUSIVE: a second failover happened during the test (epoch %d -> %d, "
                    "master %r -> %r), which loses writes through Redis's asynchronous "
                    "replication whatever routes the clients; see the log above"
                    % (epoch, g.master_epoch(NAME), new, final_addr))
    for w in (steady, churn):
        missing = w.missing_on(*final.addr)
        print("  %s: %d acknowledged, %d missing" % (w.prefix, len(w.acked), len(missing)))
        assert w.acked, "no write was acknowledged"
        if missing:
            print(s.d.log()[-8000:])
        assert not missing, "acknowledged writes lost: %r" % missing[:20]


def session_ended(conn):
    """True once the peer has closed conn; a message or silence is False."""
    try:
        conn.next_message(timeout=0.2)
    except (OSError, EOFError, ValueError):
        return True
    return False


def paused_master_keeps_no_client(path):
    s = Setup(path)
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    early = Resp("127.0.0.1", s.fport, timeout=2)
    assert early.command("SET", "before", "1") == "OK"
    # A subscriber gets no error to notice: only the end of its session
    # tells it to subscribe again, through HAProxy, to the new master.
    subscriber = Resp("127.0.0.1", s.fport, timeout=2)
    subscriber.subscribe("news")
    old = g.server_at(master)
    g.stop_server(old)
    new = g.wait_failover(NAME, master, timeout=30)
    poll_until(lambda: s.applied() == new, 15, "promoted replica applied")
    g.cont_server(old)
    poll_until(lambda: session_ended(subscriber), 15,
               "the subscriber's session to the old master to be closed")
    again = Resp("127.0.0.1", s.fport, timeout=2)
    again.subscribe("news")
    assert g.server_cmd(g.server_at(new), "PUBLISH", "news", "hello") == 1, \
        "the new master has no subscriber: the one through HAProxy is elsewhere"
    assert again.next_message(timeout=5) == ("news", "hello")
    # The client connected before the failover: its write must not be
    # acknowledged by the old master.
    acked = False
    try:
        acked = early.command("SET", "after", "1") == "OK"
    except (OSError, RespError, ValueError, EOFError):
        pass
    if acked:
        final = g.sentinel_master(NAME)
        assert final == new
        assert g.server_cmd(g.server_at(new), "GET", "after") == "1", \
            "a pre-failover client's write was acknowledged by the old master"
    print("  pre-failover client's write after the switch: %s"
          % ("acknowledged by the new master" if acked else "refused"))


def engine_kill_changes_nothing(path):
    s = Setup(path)
    master = s.g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    before = s.cfg_text()
    mtime = os.stat(s.cfg).st_mtime_ns
    hap_pid = s.hap.pid()
    engine = s.d.wait_engine()
    os.kill(engine, signal.SIGKILL)
    poll_until(lambda: any(c != engine for c in children_of(s.d.pid)), 5, "new engine")
    poll_until(lambda: len(CONFIRMED.findall(s.d.log())) >= 2, 15, "new engine confirmed")
    assert s.cfg_text() == before and os.stat(s.cfg).st_mtime_ns == mtime
    assert s.hap.pid() == hap_pid, "haproxy must not be reloaded"
    assert s.through_haproxy() == master[1]


def test_restart_with_unchanged_topology_writes_nothing():
    s = Setup("reload")
    master = s.g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    before = s.cfg_text()
    mtime = os.stat(s.cfg).st_mtime_ns
    hap_pid = s.hap.pid()
    s.d.stop()
    assert s.cfg_text() == before, "stopping must write nothing"
    # A new daemon on the same state file and configuration.
    d2 = Daemon(s.conf)
    d2.__enter__()
    rhtest.run().on_close(lambda: d2.__exit__(None, None, None))
    poll_until(lambda: "applied by" in d2.log() or CONFIRMED.search(d2.log()), 15,
               "the restarted daemon to confirm the master")
    poll_until(lambda: s.applied() == master, 15, "master applied after restart")
    assert os.stat(s.cfg).st_mtime_ns == mtime, "the file was rewritten"
    assert s.hap.pid() == hap_pid, "haproxy was reloaded"
    assert "applied by reload" not in d2.log()


def test_reload_path_failover_and_stale_master_return():
    failover_and_stale_master_return("reload")


def test_runtime_path_failover_and_stale_master_return():
    failover_and_stale_master_return("runtime")


def test_reload_path_paused_master_keeps_no_client():
    paused_master_keeps_no_client("reload")


def test_runtime_path_paused_master_keeps_no_client():
    paused_master_keeps_no_client("runtime")


def test_reload_path_engine_kill_changes_nothing():
    engine_kill_changes_nothing("reload")


def test_runtime_path_engine_kill_changes_nothing():
    engine_kill_changes_nothing("runtime")


def test_master_only_change_skips_the_check():
    """A file that differs from the last checked one only in the master's
    IP literal and port is installed without running check_command again;
    it passes haproxy -c all the same."""
    count = rhtest.run().path("checks")
    s = Setup("reload", check_command="echo x >> %s && haproxy -c -q -f %%s" % count)
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    checks = open(count).read().count("x")
    assert checks >= 1, checks  # the first file of a daemon is always checked
    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: s.applied() == new, 15, "the new master applied")
    assert open(count).read().count("x") == checks, "a master-only change ran the check"
    s.d.wait_log("check skipped")
    r = subprocess.run(["haproxy", "-c", "-q", "-f", s.cfg], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_rejecting_check_keeps_old_file():
    flag = rhtest.run().path("reject-check")
    # check_always: the change below only moves the master, which is
    # otherwise installed without running the check again.
    s = Setup("reload", check_command="test ! -e %s && haproxy -c -q -f %%s" % flag,
              extra="check_always = yes\n")
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    before = s.cfg_text()
    open(flag, "w").close()
    old = g.kill_master(NAME)
    g.wait_failover(NAME, old.addr)
    poll_until(lambda: topology(s.api_port).get("applied", {}).get("state") == "error", 15,
               "the apply error in the API")
    assert s.cfg_text() == before, "a rejected file must not replace the old one"
    status, metrics = api(s.api_port, "/metrics")
    assert re.search(r'^redishappy_apply_errors_total\{cluster="testing"\} [1-9]',
                     metrics, re.M), metrics
    assert re.search(r'^redishappy_apply_errors_by_reason_total\{reason="check"\} [1-9]',
                     metrics, re.M), metrics
    assert 'redishappy_apply_errors_by_reason_total{reason="reload"} 0' in metrics
    s.d.wait_log("check")


def test_hanging_reload_is_reported_and_daemon_keeps_working():
    s = Setup("reload", reload_command="sleep 30", reload_timeout="500ms")
    g = s.g
    master = g.sentinel_master(NAME)
    # The first apply (the daemon's own rendering differs from the hand-written
    # file) already needs a reload: it times out and is reported.
    poll_until(lambda: topology(s.api_port).get("applied", {}).get("state") == "error", 15,
               "the reload timeout in the API")
    assert "timed out" in json.dumps(topology(s.api_port)) or "timeout" in s.d.log()
    assert api(s.api_port, "/api/ping")[1] == "Pong"
    assert s.d.proc.poll() is None


def test_injected_text_never_reaches_the_file():
    real = FakeRedis("master")
    fakes = [ScriptedSentinel(NAME, real.addr, 5) for _ in range(2)]
    s = Setup("reload", group=False, sentinels=([f.fake.addr for f in fakes], real.addr))
    poll_until(lambda: s.applied() == tuple(real.addr), 15, "scripted master applied")
    evil = "10.0.0.1\nserver evil 1.2.3.4:1"
    from test_engine import fake_master_entry
    for f in fakes:
        f.override = lambda a: [fake_master_entry(NAME, (evil, 6379), 9)]
        f.fake.publish("+switch-master", "%s 1.1.1.1 1 %s 6379" % (NAME, evil))
    poll_until(lambda: all(f.override_hits > 0 for f in fakes), 10, "injected replies served")
    poll_until(lambda: "ignored" in s.d.log(), 10, "the injection to be logged")
    assert "evil" not in s.cfg_text()
    assert s.applied() == tuple(real.addr)


if __name__ == "__main__":
    run_tests(globals())
