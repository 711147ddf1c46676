"""What the parent starts is contained (redishappyd(8), CONTAINMENT): a file
left open by whoever starts the daemon, and its environment, reach neither
the engine nor the check and reload commands; the engine leads its own
process group and runs under its seccomp filter. Needs root (the engine's
privilege drop, and /proc of a non-dumpable engine)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest  # noqa: E402
from rhtest import FakeRedis, poll_until, run_tests, skip  # noqa: E402
from rhdaemon import Daemon  # noqa: E402
from test_engine import ScriptedSentinel, daemon_config, reported  # noqa: E402

NAME = "testing"
LEAKED_FD = 7
SECRET_ENV = "RH_CONTAIN_SECRET"

TEMPLATE = """{{#clusters}}server {{name}} {{master_host}}:{{master_port}}
{{/clusters}}"""


def fd_targets(pid):
    """Where each descriptor of pid points."""
    d = "/proc/%d/fd" % pid
    out = []
    for name in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, name)))
        except OSError:
            pass
    return out


def report_script(directory, what):
    """A shell command that records its descriptors (those of the shell and of
    ls) and its environment in directory/what.*; it exits 0."""
    base = os.path.join(directory, what)
    return ("for f in /proc/$$/fd/*; do readlink $f; done > {b}.fds; "
            "ls -l /proc/self/fd >> {b}.fds; env > {b}.env; true").format(b=base)


def contained_daemon():
    """A daemon started with a root-only file open on fd 7 and a
    variable in its environment, with check and reload commands that record
    what they inherited; returns (daemon, secret path, directory)."""
    tmp = rhtest.run().dir
    secret = os.path.join(tmp, "root-only-secret")
    with open(secret, "w") as f:
        f.write("secret\n")
    os.chmod(secret, 0o600)
    real = FakeRedis("master")
    fakes = [ScriptedSentinel(NAME, real.addr, 5) for _ in range(2)]
    port = rhtest.free_port()
    conf = daemon_config([f.fake.addr for f in fakes], port)
    tmpl = os.path.join(tmp, "contain.mustache")
    with open(tmpl, "w") as f:
        f.write(TEMPLATE)
    with open(conf, "a") as f:
        f.write("\n[haproxy]\ntemplate = %s\noutput = %s\ncheck_command = %s\n"
                "reload_command = %s\n" % (tmpl, os.path.join(tmp, "contain.cfg"),
                                           report_script(tmp, "check"),
                                           report_script(tmp, "reload")))
    # A careless starter: the file stays open on fd 7, without O_CLOEXEC,
    # across the exec of the daemon (the shell execs it: same PID).
    opener = ["/bin/sh", "-c", 'exec %d<"$0"; exec "$@"' % LEAKED_FD, secret]
    d = Daemon(conf, env={SECRET_ENV: "do-not-pass"}, wrapper=opener)
    d.__enter__()
    rhtest.run().on_close(lambda: d.__exit__(None, None, None))
    return d, secret, tmp


def test_engine_inherits_no_descriptor_or_environment():
    if os.geteuid() != 0:
        skip("needs root")
    d, secret, _ = contained_daemon()
    engine = d.wait_engine()
    assert secret in fd_targets(d.pid), "the daemon itself did not get fd 7"
    poll_until(lambda: "sandbox: seccomp allowlist installed" in d.log(), 10, "the sandbox")
    assert secret not in fd_targets(engine), fd_targets(engine)
    with open("/proc/%d/environ" % engine, "rb") as f:
        env = [v.decode() for v in f.read().split(b"\0") if v]
    assert [v for v in env if not v.startswith(("PATH=", "TZ="))] == [], env
    assert os.getpgid(engine) == engine, "the engine leads a group of its own"
    with open("/proc/%d/status" % engine) as f:
        status = f.read()
    assert "Seccomp:\t2" in status, "no seccomp filter in the engine"


def test_commands_inherit_no_descriptor_or_environment():
    if os.geteuid() != 0:
        skip("needs root")
    d, secret, tmp = contained_daemon()
    for what in ("check", "reload"):
        path = os.path.join(tmp, what + ".env")
        poll_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 20,
                   "the %s command to run" % what)
        with open(os.path.join(tmp, what + ".fds")) as f:
            fds = f.read()
        assert secret not in fds, "%s command inherited fd 7:\n%s" % (what, fds)
        with open(path) as f:
            env = f.read()
        assert SECRET_ENV not in env, env
        assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in env, env


def test_engine_dying_of_sigsys_is_reported_and_replaced():
    """The parent's side of a sandbox violation: an engine that dies of
    SIGSYS (sent here by hand: the engine has no path to a forbidden call)
    is named in the log and replaced."""
    if os.geteuid() != 0:
        skip("needs root")
    d, _, _ = contained_daemon()
    engine = d.wait_engine()
    poll_until(lambda: "engine %d ready" % engine in d.log(), 10, "the engine ready")
    os.kill(engine, signal.SIGSYS)
    poll_until(lambda: "engine %d made a system call its sandbox forbids" % engine in d.log(), 10,
               "the violation in the log")
    # The next line, written just after: the log may be read between the two.
    poll_until(lambda: "engine %d killed by signal Bad system call" % engine in d.log(), 10,
               "the signal in the log")
    poll_until(lambda: d.wait_engine() != engine, 10, "a new engine")
    print("  log: " + [line for line in d.log().splitlines() if "forbids" in line][0])


def test_sandboxed_engine_resolves_names_in_its_chroot():
    """Sentinels given as host names: the engine's resolver (evdns, with
    /etc/hosts and resolv.conf read before the chroot) resolves them inside
    the sandbox with no resolver file in the chroot. The engine follows the
    master and is never killed."""
    if os.geteuid() != 0:
        skip("needs root")
    real = FakeRedis("master")
    fakes = [ScriptedSentinel(NAME, real.addr, 5) for _ in range(2)]
    port = rhtest.free_port()
    conf = daemon_config([("localhost", f.fake.addr[1]) for f in fakes], port)
    with Daemon(conf) as d:
        engine = d.wait_engine()
        poll_until(lambda: reported(port) == tuple(real.addr), 15, "the master through names")
        chroot = [line.split("=", 1)[1].strip() for line in open(conf)
                  if line.startswith("chroot")][0]
        assert not os.path.exists(os.path.join(chroot, "etc", "hosts")), "hosts file copied"
        assert d.wait_engine() == engine
        assert "forbids" not in d.log() and "Bad system call" not in d.log(), d.log()


if __name__ == "__main__":
    run_tests(globals())
