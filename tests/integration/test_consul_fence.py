"""Several redishappyd instances registering the same service in Consul
(issue 16): the registration never goes back to an older master.

Two real daemons, A and B, watch the same Sentinels (real redis-server and
redis-sentinel) and register the same cluster in catalog mode, in the same
synthetic node, in tests/integration/fake_consul.py (no real Consul can be
installed here; the fake implements /v1/catalog/service and /v1/txn strictly,
with a ModifyIndex that advances on every write and a check-and-set that fails
on a stale one). B reaches its Sentinels only through TCP relays this test
owns: cutting them partitions B from the Sentinels for real (its links drop
and every reconnection is refused) while it still reaches Consul. B keeps its
last confirmed master (design rule 4) and, with `refresh`, keeps trying to
re-assert it in Consul. Every assertion is on the fake's write history or the
daemons' API, polled with deadlines."""
import json
import os
import socket
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, poll_until, run_tests
from rhdaemon import Daemon
from test_consul import FakeConsul
from test_engine import api, reported, topology

NAME = "testing"
NODE = SERVICE_ID = "redishappy-" + NAME


class Relay:
    """127.0.0.1:port -> target, byte for byte, until cut(); restore() listens
    again on the same port. Owned by the test, closed by the run."""

    def __init__(self, target):
        self.target = target
        self.port = rhtest.free_port()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        rhtest.run().on_close(self.cut)
        self.restore()

    def restore(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        with self.lock:
            self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def cut(self):
        with self.lock:
            listener, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if listener:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            except OSError:
                pass
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener):
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=2)
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            with self.lock:
                if self.listener is not listener:  # cut meanwhile
                    down.close()
                    up.close()
                    return
                self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def start_daemon(consul, sentinels, instance):
    r = rhtest.run()
    api_port = r.free_port()
    chroot = r.path("root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    conf = ["[global]"]
    conf += ["user = nobody", "chroot = %s" % chroot] if os.geteuid() == 0 else ["chroot ="]
    conf += ["state_file = %s/state-%d.json" % (r.dir, api_port),
             "api_listen = 127.0.0.1:%d" % api_port, "", "[sentinels]"]
    conf += ["address = %s:%d" % s for s in sentinels]
    conf += ["reread_interval = 1s", "backoff_max = 500ms", "",
             "[cluster %s]" % NAME, "external_port = %d" % r.free_port(), "",
             "[consul]", "address = http://127.0.0.1:%d" % consul.port, "timeout = 1s",
             "retry_max = 500ms", "refresh = 200ms", "instance = %s" % instance]
    path = r.path("redishappy-%s-%d.conf" % (instance, api_port))
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n")
    d = Daemon(path)
    d.__enter__()
    r.on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API of " + instance)
    return d, api_port


def history(consul):
    with urllib.request.urlopen("http://127.0.0.1:%d/history" % consul.control, timeout=5) as r:
        return [h for h in json.loads(r.read()) if (h["node"], h["id"]) == (NODE, SERVICE_ID)]


def registration(consul):
    """(address, port, epoch, instance) of the one catalog entry, or None."""
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/catalog/service/%s"
                                % (consul.port, NAME), timeout=2) as r:
        entries = [e for e in json.loads(r.read())
                   if (e["Node"], e["ServiceID"]) == (NODE, SERVICE_ID)]
    if not entries:
        return None
    (e,) = entries
    meta = e["ServiceMeta"]
    return ((e["ServiceAddress"], e["ServicePort"]), int(meta["redishappy_epoch"]),
            meta.get("redishappy_instance"))


def assert_never_backwards(consul):
    """Every write of the shared entry carries an epoch at least the one
    before it, and an epoch names one address only."""
    writes = history(consul)
    assert writes, "no write of the registration at all"
    last, at_epoch = -1, {}
    for w in writes:
        assert w["address"] is not None, "the registration was deleted: %r" % writes
        epoch = int(w["meta"]["redishappy_epoch"])
        assert epoch >= last, "went back from epoch %d to %d: %r" % (last, epoch, writes)
        addr = (w["address"], w["port"])
        assert at_epoch.setdefault(epoch, addr) == addr, \
            "two addresses at epoch %d: %r" % (epoch, writes)
        last = epoch
    return writes


def consul_view(port):
    c = topology(port)
    return c["consul"] if c else {}


def test_partitioned_instance_never_moves_registration_back():
    consul = FakeConsul()
    g = RedisGroup(NAME)
    g.wait_ready()
    relays = [Relay((s.host, s.port)) for s in g.sentinels]
    a, a_port = start_daemon(consul, [(s.host, s.port) for s in g.sentinels], "a")
    b, b_port = start_daemon(consul, [("127.0.0.1", r.port) for r in relays], "b")
    old = g.sentinel_master(NAME)
    epoch = g.master_epoch(NAME)

    # Both know the master and Consul has it, at its epoch, once.
    poll_until(lambda: reported(a_port) == old and reported(b_port) == old, 15,
               "both daemons report the master")
    poll_until(lambda: registration(consul) and registration(consul)[:2] == (old, epoch), 15,
               "registration of the master at epoch %d" % epoch)
    poll_until(lambda: consul_view(a_port).get("state") == "registered"
               and consul_view(b_port).get("state") == "registered", 10,
               "both daemons see it registered")
    assert len(history(consul)) == 1, history(consul)  # the second found it current

    # Partition B from every Sentinel it is configured with.
    for r in relays:
        r.cut()
    def configured_links_down():
        links = api(b_port, "/api/sentinels")[1]["sentinels"].values()
        configured = [s for s in links if s["configured"]]
        return len(configured) == len(relays) and all(s["stateName"] != "up" for s in configured)
    poll_until(configured_links_down, 15, "B's configured Sentinel links down")

    # Fail over: A follows and registers the new master at a higher epoch.
    g.kill_master(NAME)
    new = g.wait_failover(NAME, old)
    new_epoch = g.master_epoch(NAME)
    assert new_epoch > epoch, (epoch, new_epoch)
    poll_until(lambda: registration(consul) == (new, new_epoch, "a"), 20,
               "A's registration of %s:%d at epoch %d" % (new + (new_epoch,)))

    # B, partitioned, still holds the old master and keeps re-asserting it
    # (refresh): each time it reads a newer epoch and withholds its write.
    assert reported(b_port) == old, reported(b_port)
    fenced_before = consul_view(b_port).get("fenced", 0)
    def withheld():
        assert_never_backwards(consul)  # fails the poll's message at once if it went back
        view = consul_view(b_port)
        return view.get("fenced", 0) >= fenced_before + 5 and view
    view = poll_until(withheld, 20, "B's writes withheld 5 times, the registration never "
                      "going back")
    assert view["state"] == "superseded", view
    assert "epoch %d" % new_epoch in view["detail"], view
    assert reported(b_port) == old, "B was expected to be still partitioned"
    assert registration(consul) == (new, new_epoch, "a"), registration(consul)
    writes = assert_never_backwards(consul)
    assert all(int(w["meta"]["redishappy_epoch"]) == new_epoch for w in writes[1:]), writes
    b.wait_log("newer than ours")

    # B comes back: it learns the new master and finds Consul already right.
    for r in relays:
        r.restore()
    poll_until(lambda: reported(b_port) == new, 30, "B follows the failover once healed")
    poll_until(lambda: consul_view(b_port).get("state") == "registered", 10,
               "B sees the registration current")
    assert registration(consul) == (new, new_epoch, "a"), registration(consul)
    assert_never_backwards(consul)

    # A catalog reply larger than the 64 KiB a daemon reads (redishappyd(8),
    # BUDGETS) is an error, and nothing is written on what could be read.
    writes = len(history(consul))
    consul.ctl("/pad?bytes=%d" % (70 * 1024))
    for port in (a_port, b_port):
        view = poll_until(lambda: consul_view(port).get("state") == "error"
                          and consul_view(port), 10, "an error for the oversized reply")
        assert "unexpected reply" in view["error"], view
    assert len(history(consul)) == writes, history(consul)[writes:]
    consul.ctl("/pad?bytes=0")
    poll_until(lambda: consul_view(a_port).get("state") == "registered"
               and consul_view(b_port).get("state") == "registered", 10,
               "both registered again once the reply fits")
    assert len(history(consul)) == writes, history(consul)[writes:]


if __name__ == "__main__":
    run_tests(globals())
