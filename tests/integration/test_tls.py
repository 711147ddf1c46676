"""TLS and ACL users against real redis-server and redis-sentinel, TLS only
(port 0, tls-port, tls-replication yes). One set-up for the whole file:
certificates made here with openssl, three data nodes that require a client
certificate (tls-auth-clients yes), three Sentinels that do not (no), and a
fourth Sentinel whose certificate is for another name. Each test starts its
own daemon against them."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import RedisGroup, Resp, Server, poll_until, run_tests
from rhdaemon import DAEMON, Daemon, children_of

NAME = "testing"
TIMERS = "ping_interval = 200ms\nping_timeout = 1s\nreread_interval = 1s\n"

# The permissions redishappy.conf(5) documents, exactly.
SENTINEL_ACL = ("-@all +ping +sentinel|masters +sentinel|master +sentinel|replicas "
                "+sentinel|sentinels +subscribe &*")
SERVER_ACL = "-@all +role"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A CA; 'server' for 127.0.0.1 and localhost (also the servers' client
    certificate for replication); 'wrong' for another name only; 'client'."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=redishappy test CA", cwd=d)
    sans = {"server": "IP:127.0.0.1,DNS:localhost", "wrong": "DNS:other.example",
            "client": "DNS:redishappy-client"}
    for name, san in sans.items():
        openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name, cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile",
                name + ".ext", cwd=d)
    return {n: (os.path.join(d, n + ".crt"), os.path.join(d, n + ".key"))
            for n in list(sans) + ["ca"]}


class TlsResp(Resp):
    """Resp over TLS, with the client certificate."""

    def __init__(self, host, port, ctx, timeout=5.0, connect_timeout=2.0, password=None):
        self.addr = "%s:%d" % (host, port)
        raw = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.sock.settimeout(timeout)
        self.reader = rhtest._Reader(self.sock)
        if password is not None:
            self.command("AUTH", password)


class TlsGroup(RedisGroup):
    """RedisGroup with every server and Sentinel on TLS only."""

    def __init__(self, certs, **kw):
        self.certs = certs
        self.ctx = ssl.create_default_context(cafile=certs["ca"][0])
        self.ctx.load_cert_chain(*certs["client"])
        super().__init__(**kw)

    def _tls(self, text, port, auth_clients, acl):
        text = text.replace("port %d\n" % port, "port 0\ntls-port %d\n" % port, 1)
        crt, key = self.certs["server"]
        text += ("tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
                 "tls-auth-clients %s\ntls-replication yes\n" %
                 (crt, key, self.certs["ca"][0], auth_clients))
        return text + acl

    def _redis_conf(self, port, master_port):
        return self._tls(super()._redis_conf(port, master_port), port, "yes",
                         "user rh on >rhpw %s\n" % SERVER_ACL)

    def _sentinel_conf(self, port, down_after_ms, failover_timeout_ms):
        acl = ("user rhs on >rhspw %s\n" % SENTINEL_ACL +
               "user rhnosub on >rhspw %s\n" % SENTINEL_ACL.replace(" +subscribe", ""))
        return self._tls(super()._sentinel_conf(port, down_after_ms, failover_timeout_ms),
                         port, "no", acl)

    def cmd(self, host, port, *args, timeout=1.0):
        with TlsResp(host, port, self.ctx, timeout=timeout, connect_timeout=timeout) as r:
            return r.command(*args)

    def sentinel_cmd(self, i, *args, timeout=1.0):
        s = self.sentinels[i]
        return self.cmd(s.host, s.port, *args, timeout=timeout)

    def server_cmd(self, server, *args, timeout=1.0):
        return self.cmd(server.host, server.port, *args, timeout=timeout)

    def restart_server(self, server):
        if server.alive():
            server.proc.stop()
        server.start(original_config=True)
        poll_until(lambda: self.cmd(server.host, server.port, "PING") == "PONG", 10,
                   "%r to answer PING over TLS" % server)
        return server

    def start(self):
        def pings(s):
            return lambda: self.cmd(s.host, s.port, "PING") == "PONG"
        for group in self.servers.values():
            for s in group:
                s.start()
        for s in self.all_servers():
            poll_until(pings(s), 10, "%r to answer PING over TLS" % s)
        for group in self.servers.values():
            poll_until(lambda: self._linked_replicas(group[0]) == len(group) - 1, 10,
                       "replicas to link over TLS")
        for s in self.sentinels:
            s.start()
        for s in self.sentinels:
            poll_until(pings(s), 10, "%r to answer PING over TLS" % s)
        return self


SETUP = {}


def setup():
    if SETUP:
        return SETUP
    r = rhtest.run()
    certs = make_certs(r.dir)
    g = TlsGroup(certs, name=NAME)
    g.wait_ready()
    # A Sentinel (monitoring nothing) whose certificate names another host.
    port = r.free_port()
    crt, key = certs["wrong"]
    wrong = Server(r, "sentinel", "sentinel-wrong", "127.0.0.1", port,
                   "port 0\ntls-port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"
                   "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
                   "tls-auth-clients no\nuser rhs on >rhspw %s\n" %
                   (port, r.dir, crt, key, certs["ca"][0], SENTINEL_ACL))
    wrong.start()
    poll_until(lambda: wrong.alive() and _tls_connects(port), 10, "the wrong-name Sentinel")
    SETUP.update(group=g, certs=certs, wrong=wrong)
    return SETUP


def _tls_connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def api(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if body[:1] in "[{" else body)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def reported(port):
    status, body = api(port, "/api/topology")
    assert status == 200, (status, body)
    for c in body:
        if c["name"] == NAME and c.get("ip"):
            return (c["ip"], c["port"])
    return None


def sentinel_states(port):
    status, body = api(port, "/api/sentinels")
    assert status == 200, (status, body)
    return body["sentinels"]


def start_daemon(sentinels, tls="", sentinel_user="rhs", cluster="username = rh\n"
                 "password = rhpw\n", client_cert=True):
    s = setup()
    r = rhtest.run()
    api_port = r.free_port()
    ca = s["certs"]["ca"][0]
    crt, key = s["certs"]["client"]
    # As root: chrooted and unprivileged, so the files are read before the drop.
    chroot = os.path.join(r.dir, "root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    os.chmod(chroot, 0o755)
    user = "user = nobody\nchroot = %s\n" % chroot if os.geteuid() == 0 else "chroot =\n"
    text = ("[global]\n%sstate_file = %s/state-%d.json\napi_listen = 127.0.0.1:%d\n"
            "log_level = debug\n\n[tls]\nca_file = %s\n" % (user, r.dir, api_port, api_port,
                                                             ca))
    if client_cert:
        text += "cert_file = %s\nkey_file = %s\n" % (crt, key)
    text += tls
    text += "\n[sentinels]\ntls = yes\nusername = %s\npassword = rhspw\n" % sentinel_user
    for host, port in sentinels:
        text += "address = %s:%d\n" % (host, port)
    text += TIMERS
    text += "\n[cluster %s]\nexternal_port = %d\n%s" % (NAME, r.free_port(), cluster)
    path = os.path.join(r.dir, "redishappy-%d.conf" % api_port)
    with open(path, "w") as f:
        f.write(text)
    d = Daemon(path)
    d.__enter__()
    r.on_close(lambda: d.__exit__(None, None, None))
    poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API to answer")
    return d, api_port


def good_sentinels():
    return [(x.host, x.port) for x in setup()["group"].sentinels]


def test_a_bad_tls_file_is_a_configuration_error():
    """A missing CA file and a non-PEM key are errors with file:line."""
    r = rhtest.run()
    path = os.path.join(r.dir, "badtls.conf")
    with open(os.path.join(r.dir, "notpem.key"), "w") as f:
        f.write("not a key\n")
    with open(path, "w") as f:
        f.write("[global]\nuser = nobody\nchroot =\nstate_file = %s/s.json\n[tls]\nca_file = %s/nope.crt\n"
                "cert_file = %s\nkey_file = %s/notpem.key\n[sentinels]\ntls = yes\n"
                "address = 127.0.0.1:1\n[cluster x]\nexternal_port = 7000\n"
                % (r.dir, r.dir, setup()["certs"]["client"][0], r.dir))
    res = Daemon.check(path)
    assert res.returncode == 1, res
    assert "badtls.conf:6: ca_file %s/nope.crt: " % r.dir in res.stderr, res.stderr
    assert "badtls.conf:8: key_file %s/notpem.key: not a PEM file" % r.dir in res.stderr, \
        res.stderr


def test_a_key_that_does_not_match_its_certificate_fails_the_check():
    """Only OpenSSL can tell a key from another: redishappyd -n builds the
    context the engine will, and names the key_file line."""
    r = rhtest.run()
    certs = setup()["certs"]
    path = os.path.join(r.dir, "mismatch.conf")
    with open(path, "w") as f:
        f.write("[global]\nuser = nobody\nchroot =\nstate_file = %s/s.json\n[tls]\n"
                "ca_file = %s\ncert_file = %s\nkey_file = %s\n[sentinels]\ntls = yes\n"
                "address = 127.0.0.1:1\n[cluster x]\nexternal_port = 7000\n"
                % (r.dir, certs["ca"][0], certs["client"][0], certs["server"][1]))
    res = Daemon.check(path)
    assert res.returncode == 1, res
    # OpenSSL's words: "key values mismatch".
    assert "mismatch.conf:8: [tls] key_file %s: " % certs["server"][1] in res.stderr, res.stderr
    assert "mismatch" in res.stderr.split("key_file")[1], res.stderr


def test_sighup_with_a_mismatched_key_keeps_the_running_configuration():
    """What only OpenSSL can check is checked on SIGHUP too, in a child of
    the parent (which never maps OpenSSL itself): the file is rejected with
    file:line, and the running engine and configuration are kept."""
    s = setup()
    d, port = start_daemon(good_sentinels())
    poll_until(lambda: reported(port) == s["group"].sentinel_master(NAME), 15,
               "the master, over TLS")
    engine = d.wait_engine()
    with open(d.config) as f:
        text = f.read()
    key = s["certs"]["client"][1]
    assert key in text, text
    with open(d.config, "w") as f:
        f.write(text.replace(key, s["certs"]["server"][1]))
    mark = len(d.log())
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log("configuration rejected; still running with the previous one")
    after = d.log()[mark:]
    line = [n + 1 for n, ln in enumerate(text.splitlines()) if ln.startswith("key_file")][0]
    assert "%s:%d: [tls] key_file %s: " % (d.config, line, s["certs"]["server"][1]) in after, \
        after
    assert "restarting the engine" not in after, after
    assert engine in children_of(d.pid), (engine, children_of(d.pid))
    assert api(port, "/api/ping")[1] == "Pong"
    # The parent still maps no OpenSSL: it checked in a child.
    assert not openssl_mapped(d.pid), openssl_mapped(d.pid)


def test_wrong_name_refused_and_acl_user_follows_failover():
    """Client certificate, verification on, ACL users with exactly the
    documented permissions: the daemon follows a failover over TLS, while the
    Sentinel whose certificate is for another name stays down with the reason."""
    s = setup()
    g = s["group"]
    wrong = ("127.0.0.1", s["wrong"].port)
    d, port = start_daemon(good_sentinels() + [wrong])
    master = g.sentinel_master(NAME)
    poll_until(lambda: reported(port) == master, 15, "API to report the master over TLS")

    def refused():
        st = sentinel_states(port).get("127.0.0.1:%d" % wrong[1])
        return st and st["stateName"] == "down" and st["lastError"]
    err = poll_until(refused, 10, "the wrong-name Sentinel to be down")
    assert "TLS: certificate verify failed: IP address mismatch" in err, err
    assert "certificate verify failed" in d.log()
    status, conf = api(port, "/api/configuration")
    assert status == 200, conf
    settings = conf["Settings"]
    assert settings["tls"]["ca_file"] == s["certs"]["ca"][0], settings
    assert settings["tls"]["verify"] == "yes" and settings["sentinels"]["tls"] == "yes"
    assert settings["sentinels"]["username"] == "***", settings  # a secret
    assert settings["cluster " + NAME]["username"] == "***", settings
    with open(s["certs"]["client"][1]) as f:
        key_pem = f.read()
    body = json.dumps(conf) + d.log()
    assert key_pem.splitlines()[1] not in body  # the key's bytes appear nowhere
    for host, p in good_sentinels():
        assert sentinel_states(port)["%s:%d" % (host, p)]["stateName"] == "up"

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: reported(port) == new, 20, "API to follow the failover over TLS")
    g.restart_server(old)


def test_server_name_is_verified_and_sent():
    """server_name = other.example: the Sentinel whose certificate is for
    that name is accepted; those for 127.0.0.1 are refused."""
    s = setup()
    wrong = "127.0.0.1:%d" % s["wrong"].port
    _, port = start_daemon(good_sentinels() + [("127.0.0.1", s["wrong"].port)],
                           tls="server_name = other.example\n")
    poll_until(lambda: sentinel_states(port)[wrong]["stateName"] == "up", 10,
               "the Sentinel named other.example to be up")
    for host, p in good_sentinels():
        key = "%s:%d" % (host, p)
        err = poll_until(lambda: sentinel_states(port)[key]["lastError"], 10,
                         "%s to be refused" % key)
        assert "TLS: certificate verify failed: hostname mismatch" in err, err
        assert sentinel_states(port)[key]["stateName"] != "up"


def test_without_client_certificate():
    """The Sentinels (tls-auth-clients no) accept a daemon without a client
    certificate; the data nodes (yes) refuse its ROLE check, which fails
    with a TLS reason and is never taken for a confirmation."""
    s = setup()
    d, port = start_daemon(good_sentinels(), client_cert=False)
    poll_until(lambda: all(v["stateName"] == "up" for v in sentinel_states(port).values()), 10,
               "links up without a client certificate")
    master = "%s:%d" % s["group"].sentinel_master(NAME)

    def refused():
        return [line for line in d.log().splitlines()
                if "candidate %s" % master in line and "not confirmed (error: " in line]
    lines = poll_until(refused, 10, "the ROLE check to fail over TLS")
    assert "TLS" in lines[0] or "connection closed" in lines[0], lines[0]
    assert reported(port) is None


def openssl_mapped(pid):
    """The OpenSSL libraries (libssl, libcrypto, libevent_openssl) that
    /proc/PID/maps shows in pid, by file name."""
    names = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            name = os.path.basename(line.split()[-1])
            if name.startswith(("libssl.so", "libcrypto.so", "libevent_openssl")):
                names.add(name)
    return sorted(names)


def test_openssl_is_mapped_only_by_an_engine_with_tls():
    """OpenSSL is loaded at run time by the engine, and only when a link is
    TLS: a daemon without TLS maps it in neither process, one with TLS in
    its engine only. A binary linked with OpenSSL again fails both."""
    s = setup()
    r = rhtest.run()
    api_port = r.free_port()
    chroot = os.path.join(r.dir, "root-%d" % api_port)
    os.makedirs(chroot, 0o755, exist_ok=True)
    os.chmod(chroot, 0o755)
    user = "user = nobody\nchroot = %s\n" % chroot if os.geteuid() == 0 else "chroot =\n"
    # Plain links to the TLS-only Sentinels: they fail, but the engine has
    # made its choice of libraries before it connects anywhere.
    text = ("[global]\n%sstate_file = %s/state-%d.json\napi_listen = 127.0.0.1:%d\n"
            "\n[sentinels]\n" % (user, r.dir, api_port, api_port))
    for host, port in good_sentinels():
        text += "address = %s:%d\n" % (host, port)
    text += "\n[cluster %s]\nexternal_port = %d\n" % (NAME, r.free_port())
    path = os.path.join(r.dir, "plain-%d.conf" % api_port)
    with open(path, "w") as f:
        f.write(text)
    with Daemon(path) as d:
        poll_until(lambda: api(api_port, "/api/ping")[1] == "Pong", 10, "API to answer")
        engine = d.wait_engine()
        assert openssl_mapped(d.pid) == [], openssl_mapped(d.pid)
        assert openssl_mapped(engine) == [], openssl_mapped(engine)

    d, port = start_daemon(good_sentinels())
    poll_until(lambda: reported(port) == s["group"].sentinel_master(NAME), 15,
               "API to report the master over TLS")
    engine = d.wait_engine()
    mapped = openssl_mapped(engine)
    assert any(n.startswith("libssl.so") for n in mapped), mapped
    assert any(n.startswith("libcrypto.so") for n in mapped), mapped
    assert any(n.startswith("libevent_openssl") for n in mapped), mapped
    assert openssl_mapped(d.pid) == [], openssl_mapped(d.pid)


def test_check_fails_when_openssl_cannot_be_loaded():
    """redishappyd -n with TLS configured loads OpenSSL as the engine will,
    and fails naming the library and the packages when it cannot; without
    TLS it does not need it. libssl is hidden by a bind mount of /dev/null
    in a mount namespace of the command's own (root only)."""
    if os.geteuid() != 0:
        print("skipped: needs root for a mount namespace")
        return
    libssl = None
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        if line.strip().startswith("libssl.so.3 ") and "=>" in line:
            libssl = line.split("=>")[1].strip()
            break
    assert libssl, "libssl.so.3 not in ldconfig -p"
    r = rhtest.run()
    base = ("[global]\nuser = nobody\nchroot =\nstate_file = %s/s.json\n[sentinels]\n"
            "address = 127.0.0.1:1\n" % r.dir)
    tls = os.path.join(r.dir, "nossl-tls.conf")
    with open(tls, "w") as f:
        f.write(base + "tls = yes\n[tls]\nverify = no\n[cluster x]\nexternal_port = 7000\n")
    plain = os.path.join(r.dir, "nossl-plain.conf")
    with open(plain, "w") as f:
        f.write(base + "[cluster x]\nexternal_port = 7000\n")

    def check(path):
        return subprocess.run(["unshare", "-m", "sh", "-c",
                               'mount --bind /dev/null "$0" && exec "$1" -n -f "$2"',
                               libssl, DAEMON, path], capture_output=True, text=True, timeout=30)
    assert Daemon.check(tls).returncode == 0, Daemon.check(tls)
    res = check(tls)
    assert res.returncode == 1, res
    assert "tls = yes needs OpenSSL: %s: " % libssl in res.stderr, res.stderr
    assert "(install libssl3 and libevent-openssl-2.1-7)" in res.stderr, res.stderr
    res = check(plain)
    assert res.returncode == 0 and "configuration OK" in res.stdout, res


def test_acl_user_without_a_permission_and_wrong_password():
    """A user without +subscribe: the event connection fails with the
    server's NOPERM; a wrong password: AUTH fails. Per link, never a crash."""
    _, port = start_daemon(good_sentinels()[:1], sentinel_user="rhnosub")
    key = "%s:%d" % good_sentinels()[0]

    def down_with():
        st = sentinel_states(port)[key]
        return st["stateName"] == "down" and st["lastError"]
    err = poll_until(down_with, 10, "the link to fail without +subscribe")
    assert "event connection: error: NOPERM" in err, err

    d, port = start_daemon(good_sentinels()[:1], sentinel_user="nosuchuser")
    err = poll_until(down_with, 10, "the link to fail with a wrong user")
    assert "AUTH failed" in err and "WRONGPASS" in err, err
    assert d.proc.poll() is None


def test_read_backend_probes_use_tls_and_the_acl_user():
    """The read backend's ROLE probes of the master and its replicas go over
    TLS with the cluster's ACL user, as the candidate's ROLE check does.
    Before, they were sent in plain text to the TLS-only nodes (and AUTH as
    the default user): every replica failed and the backend stayed empty."""
    s = setup()
    g = s["group"]
    _, port = start_daemon(good_sentinels(), cluster="username = rh\npassword = rhpw\n"
                           "replica_backend = reads\nmax_replicas = 4\n")
    replicas = sorted(x.port for x in g.servers[NAME] if x.port != g.sentinel_master(NAME)[1])

    # At least one replica, and only replicas: before the fix the backend
    # stayed empty. (The old master the failover test restarted may not be
    # a healthy replica yet, so not every replica is required.)
    def backend():
        status, body = api(port, "/api/topology")
        assert status == 200, (status, body)
        for c in body:
            if c["name"] == NAME:
                rb = c.get("readBackend") or {}
                held = sorted(x["port"] for x in rb.get("servers", []))
                assert set(held) <= set(replicas), (held, replicas)
                return held and rb
        return None
    poll_until(backend, 30, "the read backend to hold replicas of %r" % replicas)


def test_verify_no_does_not_blame_the_certificate():
    """verify = no: a server whose certificate would not verify (another
    name) and that closes each connection after the handshake is down for
    the close, never for a 'certificate verify failed' that was not checked."""
    s = setup()
    r = rhtest.run()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*s["certs"]["wrong"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    handshakes = []

    def serve():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return  # closed by the test
            try:
                with ctx.wrap_socket(c, server_side=True) as t:
                    handshakes.append(1)
                    t.settimeout(1)
                    t.recv(100)
            except (OSError, ssl.SSLError):
                pass
    threading.Thread(target=serve, daemon=True).start()
    r.on_close(listener.close)
    port = listener.getsockname()[1]
    _, api_port = start_daemon([("127.0.0.1", port)], tls="verify = no\n")
    key = "127.0.0.1:%d" % port

    def down_with():
        st = sentinel_states(api_port)[key]
        return handshakes and st["stateName"] != "up" and st["lastError"]
    err = poll_until(down_with, 10, "the link to fail after a completed handshake")
    assert "certificate verify failed" not in err, err


if __name__ == "__main__":
    setup()  # before run_tests: it stops what each test started
    run_tests(globals())
