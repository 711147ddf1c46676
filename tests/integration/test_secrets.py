"""Secrets go only where the configuration sends them (issue 12, design
rule 8). Any client of a monitored Redis can publish a forged Sentinel hello;
the real Sentinels then list the made-up Sentinel and the daemon discovers
it. It may connect to it (as an untrusted source of hints) but must never
give it the [sentinels] password, and only max_discovered such Sentinels are
followed. Real redis-server and redis-sentinel with requirepass, the real
daemon, and a listener standing in for the impostor that records what each
connection sent."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, _Reader, encode_reply, poll_until, run_tests
from test_engine import NAME, api, daemon_config
from rhdaemon import Daemon

SECRET = "s3cret-for-sentinels"


class Impostor:
    """A listener that accepts AUTH, answers every other command with an
    error and records, per connection, the commands it received."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []  # one list of commands per connection
        threading.Thread(target=self._accept, daemon=True).start()
        rhtest.run().on_close(self.close)

    def _accept(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            cmds = []
            with self.lock:
                self.conns.append(cmds)
            threading.Thread(target=self._serve, args=(conn, cmds), daemon=True).start()

    def _serve(self, conn, cmds):
        reader = _Reader(conn)
        try:
            while True:
                args = reader.read()
                if not isinstance(args, list):
                    args = [args]
                args = [a if isinstance(a, str) else a.decode(errors="replace") for a in args]
                with self.lock:
                    cmds.append([a.upper() if i == 0 else a for i, a in enumerate(args)])
                # Accepting AUTH keeps a link that sent one going, so its next
                # commands show whose it is.
                reply = (rhtest.Simple("OK") if cmds[-1][0] == "AUTH"
                         else rhtest.RespError("ERR not a real Sentinel"))
                conn.sendall(encode_reply(reply))
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            conn.close()

    def engine_connections(self):
        """Connections that asked what only the daemon asks (the real
        Sentinels, which also connect to a Sentinel they hear of, ask PING,
        INFO and is-master-down-by-addr, never for the list of masters)."""
        with self.lock:
            return [list(c) for c in self.conns
                    if any(cmd[0] in ("PSUBSCRIBE", "SUBSCRIBE") or
                           (cmd[0] == "SENTINEL" and len(cmd) > 1 and
                            cmd[1].upper() in ("MASTERS", "MASTER", "SENTINELS"))
                           for cmd in c)]

    def close(self):
        try:
            self.lsock.close()
        except OSError:
            pass


def forge_hello(group, impostor_port):
    """What any client of the master can do: publish a Sentinel hello."""
    master = group.servers[NAME][0]
    runid = ("%040x" % impostor_port)[-40:]
    hello = "127.0.0.1,%d,%s,0,%s,%s,%d,0" % (impostor_port, runid, NAME, master.host,
                                              master.port)
    group.server_cmd(master, "PUBLISH", "__sentinel__:hello", hello)


def start(group, api_port, extra):
    sentinels = [(s.host, s.port) for s in group.sentinels]
    d = Daemon(daemon_config(sentinels, api_port, "password = %s\n%s" % (SECRET, extra)))
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API to answer")
    poll_until(lambda: len([v for v in api(api_port, "/api/sentinels")[1]["sentinels"].values()
                            if v.get("configured")]) == 3, 10, "three configured Sentinels")
    return d


def impostor_reached(group, imp):
    """Publishes the forged hello until the daemon has connected to the
    impostor (the real Sentinels take it from the master's channel, list it
    and announce it)."""
    def reached():
        forge_hello(group, imp.port)
        return imp.engine_connections()
    return poll_until(reached, 30, "the daemon to discover and connect to the impostor")


def test_forged_sentinel_never_gets_the_password():
    g = RedisGroup(NAME, sentinel_password=SECRET)
    g.wait_ready()
    imp = Impostor()
    port = rhtest.free_port()
    start(g, port, "")
    conns = impostor_reached(g, imp)
    # The API view follows the link by a few milliseconds.
    entry = poll_until(lambda: api(port, "/api/sentinels")[1]["sentinels"].get(
        "127.0.0.1:%d" % imp.port), 10, "the impostor in /api/sentinels")
    assert not entry["trusted"] and not entry["configured"], entry
    # Give the links time to send whatever they send first, then look.
    poll_until(lambda: sum(len(c) for c in imp.engine_connections()) >= 2, 10,
               "the links to the impostor to send their first commands")
    for c in imp.engine_connections():
        assert not any(cmd[0] == "AUTH" for cmd in c), c
        assert not any(SECRET in " ".join(cmd) for cmd in c), c
    print("impostor: %d connections from the daemon, commands %s" %
          (len(conns), sorted({cmd[0] for c in imp.engine_connections() for cmd in c})))


def test_trust_discovered_gives_it_the_password():
    """The control: with trust_discovered the same impostor gets AUTH, so the
    test above can see an AUTH when one is sent."""
    g = RedisGroup(NAME, sentinel_password=SECRET)
    g.wait_ready()
    imp = Impostor()
    port = rhtest.free_port()
    start(g, port, "trust_discovered = yes\nmin_agreement = 2\n")
    impostor_reached(g, imp)

    def got_auth():
        return any(cmd[0] == "AUTH" and cmd[-1] == SECRET
                   for c in imp.engine_connections() for cmd in c)
    poll_until(got_auth, 10, "AUTH to reach a trusted discovered Sentinel")


def test_max_discovered_caps_forged_sentinels():
    """Many forged hellos cost one line each, never one link each beyond
    max_discovered."""
    g = RedisGroup(NAME, sentinel_password=SECRET)
    g.wait_ready()
    port = rhtest.free_port()
    d = start(g, port, "max_discovered = 2\n")
    impostors = [Impostor() for _ in range(6)]

    def refused():
        for imp in impostors:
            forge_hello(g, imp.port)
        return [imp for imp in impostors
                if "sentinel 127.0.0.1:%d: discovered, but" % imp.port in d.log()]
    def discovered():
        s = api(port, "/api/sentinels")[1]["sentinels"]
        found = [a for a, v in s.items() if not v["configured"]]
        assert len(found) <= 2, found  # at no moment more than the cap
        return found
    # Once the daemon has turned away one of them and follows two, the cap
    # was hit (the API view lags the decision by a few milliseconds).
    poll_until(lambda: refused() and len(discovered()) == 2, 30,
               "a forged Sentinel refused for max_discovered")
    s = api(port, "/api/sentinels")[1]["sentinels"]
    connected = [imp for imp in impostors if imp.engine_connections()]
    assert len(connected) <= 2, len(connected)
    for imp in refused():
        assert "127.0.0.1:%d" % imp.port not in s


if __name__ == "__main__":
    run_tests(globals())
