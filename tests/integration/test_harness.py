"""Self-test of rhtest.py against real redis-server, redis-sentinel, haproxy."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest  # noqa: E402
from rhtest import Close, FakeRedis, FakeSentinel, HAProxy, Raw, RedisGroup, \
    Resp, RespError, Simple, Writer, poll_until  # noqa: E402


def test_free_port_unique():
    ports = [rhtest.free_port() for _ in range(50)]
    assert len(set(ports)) == 50, ports


def test_poll_until_reports_what():
    assert poll_until(lambda: 7, 1, "seven") == 7
    try:
        poll_until(lambda: 0, 0.05, "the impossible")
    except AssertionError as exc:
        assert "the impossible" in str(exc) and "0" in str(exc), exc
    else:
        raise AssertionError("poll_until did not time out")

    def boom():
        raise ValueError("kaput")
    try:
        poll_until(boom, 0.05, "boom")
    except AssertionError as exc:
        assert "kaput" in str(exc), exc
    else:
        raise AssertionError("poll_until swallowed the exception")


def test_failover_and_old_master_returns():
    rhtest.require_binaries("redis-server", "redis-sentinel")
    g = RedisGroup(replicas=2, sentinels=3, quorum=2)
    g.wait_ready()
    masters = g.masters_reported()
    assert len(set(masters)) == 1, masters
    old = masters[0]
    assert old == g.servers["testing"][0].addr, (old, g.servers)
    assert g.server_cmd(g.master(), "SET", "k", "v") == "OK"
    epoch = g.master_epoch()

    t0 = time.monotonic()
    old_server = g.kill_master()
    assert not old_server.alive()
    new = g.wait_failover("testing", old, timeout=20)
    print("  failover: all sentinels agree %.2fs after kill -9" % (time.monotonic() - t0))
    assert new != old
    poll_until(lambda: all(g.master_epoch(sentinel_index=i) > epoch for i in range(3)),
               5, "config-epoch to increase on every sentinel")
    poll_until(lambda: g.role(g.server_at(new)) == "master", 5, "new master role")

    t0 = time.monotonic()
    g.restart_server(old_server)
    assert "replicaof" not in open(old_server.conf_path).read()
    assert g.role(old_server) == "master"  # the dangerous window
    poll_until(lambda: g.role(old_server) == "slave", 20,
               "old master %r to become a replica" % (old_server,))
    print("  old master became a replica %.2fs after restart" % (time.monotonic() - t0))
    poll_until(lambda: g.server_cmd(old_server, "GET", "k") == "v", 10,
               "old master to have the key")


def test_two_groups_one_sentinel_set():
    rhtest.require_binaries("redis-server", "redis-sentinel")
    g = RedisGroup(name=["alpha", "beta"], replicas=1, sentinels=2, quorum=1,
                   password="s3cret", sentinel_password="sentpw")
    g.wait_ready()
    try:
        rhtest.try_command(*g.sentinels[0].addr, "PING")
    except RespError as exc:
        assert "NOAUTH" in str(exc), exc
    else:
        raise AssertionError("sentinel requirepass not applied")
    assert g.sentinel_master("alpha") == g.servers["alpha"][0].addr
    assert g.sentinel_master("beta") == g.servers["beta"][0].addr
    try:
        rhtest.try_command(*g.servers["beta"][0].addr, "GET", "x")
    except RespError as exc:
        assert "NOAUTH" in str(exc), exc
    else:
        raise AssertionError("requirepass not applied")


def test_ipv6_group():
    rhtest.require_binaries("redis-server", "redis-sentinel")
    try:
        rhtest.free_port("::1")
    except OSError as exc:
        rhtest.skip("no IPv6 loopback: %s" % exc)
    g = RedisGroup(replicas=1, sentinels=1, quorum=1, ipv6=True)
    g.wait_ready()
    master = g.servers["testing"][0]
    assert g.sentinel_master() == ("::1", master.port)
    with Resp("::1", master.port) as r:
        assert r.command("SET", "six", "6") == "OK"
    rhtest.require_binaries("haproxy")
    fport = rhtest.free_port()
    HAProxy.for_clusters([("six", fport, "::1", master.port)])
    assert rhtest.try_command("127.0.0.1", fport, "GET", "six") == "6"


def test_fake_sentinel_scripted_and_malformed():
    def handler(args):
        if args[:2] == ["SENTINEL", "GET-MASTER-ADDR-BY-NAME"]:
            return ["127.0.0.1", "7001"]
        if args[0] == "BADTYPE":
            return Raw(b"!oops\r\n")
        if args[0] == "TRUNCATED":
            return Raw(b"$5\r\nab\r\n")
        if args[0] == "BYE":
            return Close
        if args[0] == "OK":
            return Simple("OK")
        return None

    fs = FakeSentinel(handler)
    with Resp(*fs.addr) as r:
        assert r.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "x") == ["127.0.0.1", "7001"]
        assert r.command("OK") == "OK"
        try:
            r.command("NOPE")
        except RespError as exc:
            assert "unknown command" in str(exc), exc
        else:
            raise AssertionError("error reply not raised")
        r.send_raw(rhtest.encode_command(["BADTYPE"]))
        try:
            got = r.read_reply()
        except ValueError as exc:
            got = exc
        assert isinstance(got, ValueError) and "!oops" in str(got), got
    with Resp(*fs.addr, timeout=0.2) as r:
        r.send_raw(rhtest.encode_command(["TRUNCATED"]))
        try:
            got = r.read_reply()
        except TimeoutError:
            got = "incomplete"
        assert got == "incomplete", got
    with Resp(*fs.addr) as r:
        r.send_raw(rhtest.encode_command(["BYE"]))
        try:
            got = r.read_reply()
        except ConnectionError:
            got = "closed"
        assert got == "closed", got
    assert ["NOPE"] in fs.received


def test_fake_sentinel_pubsub():
    fs = FakeSentinel()
    direct = Resp(*fs.addr)
    pattern = Resp(*fs.addr)
    assert direct.subscribe("+switch-master") == ["subscribe", "+switch-master", 1]
    assert pattern.subscribe("*")[0] == "psubscribe"
    poll_until(lambda: fs.subscribers() == 2, 2, "two subscribers")
    assert fs.switch_master("testing", ("127.0.0.1", 7001), ("127.0.0.1", 7002)) == 2
    assert direct.next_message(2) == ("+switch-master",
                                      "testing 127.0.0.1 7001 127.0.0.1 7002")
    assert pattern.next_message(2) == ("*", "+switch-master",
                                       "testing 127.0.0.1 7001 127.0.0.1 7002")
    assert fs.publish("+switch-master", "a\r\nb 1\n2") == 2
    assert direct.next_message(2) == ("+switch-master", "a\r\nb 1\n2")
    assert fs.publish("+sdown", "x") == 1
    assert direct.next_message(0.05) is None
    direct.close()
    pattern.close()


def test_fake_redis_role():
    fr = FakeRedis(role="master", password="pw")
    with Resp(*fr.addr, password="pw") as r:
        assert r.command("PING") == "PONG"
        assert r.command("ROLE")[0] == "master"
        fr.role = "slave"
        assert r.command("ROLE")[:3] == ["slave", "127.0.0.1", 6379]
    try:
        Resp(*fr.addr, password="wrong")
    except RespError as exc:
        assert "WRONGPASS" in str(exc)
    else:
        raise AssertionError("wrong password accepted")


def _port_via(port):
    return int(rhtest.try_command("127.0.0.1", port, "CONFIG", "GET", "port")[1])


def test_haproxy_runtime_reload_and_writer():
    rhtest.require_binaries("redis-server", "redis-sentinel", "haproxy")
    g = RedisGroup(replicas=1, sentinels=1, quorum=1)
    master, replica = g.servers["testing"]
    fport = rhtest.free_port()
    hap = HAProxy.for_clusters([("testing", fport, master.host, master.port)])
    first_pid = hap.pid()
    assert first_pid == hap.proc.pid
    assert rhtest.try_command("127.0.0.1", fport, "SET", "via", "haproxy") == "OK"
    assert _port_via(fport) == master.port

    w = Writer("127.0.0.1", fport, prefix="w1").start()
    w.wait_acked(200)
    w.stop()
    assert w.missing_on(*master.addr) == []
    poll_until(lambda: w.missing_on(*replica.addr) == [], 5,
               "replica to hold every acknowledged write")
    assert w.acked == list(range(1, len(w.acked) + 1)), "gaps in acked writes"

    w2 = Writer("127.0.0.1", fport, prefix="w2", reconnect_every=10).start()
    w2.wait_acked(50)
    w2.stop()
    assert w2.missing_on(*master.addr) == []
    assert w2.errors == 0, w2.last_error

    reply = hap.runtime("set server redis_testing/master addr 127.0.0.1 port %d"
                        % replica.port)
    assert "changed" in reply, reply
    assert "No such server" in hap.runtime("set server redis_testing/nope addr 127.0.0.1")
    assert _port_via(fport) == replica.port

    t0 = time.monotonic()
    new_pid = hap.reload()
    print("  haproxy reload took %.0f ms" % ((time.monotonic() - t0) * 1000))
    assert new_pid != first_pid
    assert not hap.proc.alive(), "old haproxy still running after -st"
    # the reloaded process reads the config file again: back on the master
    assert _port_via(fport) == master.port


def test_missing_on_detects_loss():
    rhtest.require_binaries("redis-server", "redis-sentinel")
    g = RedisGroup(replicas=0, sentinels=1, quorum=1)
    master = g.servers["testing"][0]
    w = Writer(*master.addr, prefix="loss").start()
    w.wait_acked(20)
    w.stop()
    g.server_cmd(master, "DEL", "loss:3")
    assert w.missing_on(*master.addr) == [3]


def test_sigstop_and_sentinel_restart():
    rhtest.require_binaries("redis-server", "redis-sentinel")
    g = RedisGroup(replicas=0, sentinels=2, quorum=1)
    s = g.servers["testing"][0]
    g.stop_server(s)
    try:
        rhtest.try_command(*s.addr, "PING", timeout=0.2)
    except OSError:
        pass
    else:
        raise AssertionError("stopped server answered")
    g.cont_server(s)
    assert s.ping()
    g.kill_sentinel(1)
    assert not g.sentinels[1].alive()
    g.restart_sentinel(1)
    assert g.sentinel_master(sentinel_index=1) == s.addr


if __name__ == "__main__":
    rhtest.run_tests(globals())
