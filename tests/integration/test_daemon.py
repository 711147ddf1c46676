"""Process-level tests of redishappyd: the privilege-separated parent and
engine, supervision, and signals. Runs the real binary; needs root for the
privilege drop (skipped with a message otherwise)."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rhdaemon import (Daemon, children_of, free_port, poll_until, proc_status_ids,
                      run_tests, write_config)

ENGINE_USER = "nobody"


def base_config(tmp, chroot):
    return f"""
[global]
user = {ENGINE_USER}
chroot = {chroot}
state_file = {tmp}/state.json
api_listen = none

[sentinels]
address = 127.0.0.1:{free_port()}

[cluster testing]
external_port = {free_port()}
"""


def make_env():
    tmp = tempfile.mkdtemp(prefix="rh-daemon-")
    chroot = os.path.join(tmp, "root")
    os.mkdir(chroot, 0o755)
    return tmp, chroot


def test_check_flag_accepts_and_rejects():
    tmp, chroot = make_env()
    good = write_config(tmp, base_config(tmp, chroot))
    r = Daemon.check(good)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    bad = write_config(tmp, base_config(tmp, chroot) + "\nbogus_key = 1\n", "bad.conf")
    r = Daemon.check(bad)
    assert r.returncode == 1
    # The unknown key sits on the last line of the file.
    lines = open(bad).read().count("\n")
    assert f"bad.conf:{lines}:" in r.stderr, r.stderr


def test_two_processes_engine_dropped_and_chrooted():
    if os.geteuid() != 0:
        return "skip: needs root to drop privileges"
    tmp, chroot = make_env()
    with Daemon(write_config(tmp, base_config(tmp, chroot))) as d:
        engine = d.wait_engine()
        d.wait_log("engine %d ready" % engine)  # it drops privileges before saying so
        uids, gids = proc_status_ids(engine)
        import pwd
        pw = pwd.getpwnam(ENGINE_USER)
        assert uids == [pw.pw_uid] * 4, uids
        assert gids == [pw.pw_gid] * 4, gids
        assert os.readlink(f"/proc/{engine}/root") == os.path.realpath(chroot)
        parent_uids, _ = proc_status_ids(d.pid)
        assert parent_uids[0] == 0
        d.wait_log("running as nobody")
        # No resolver file is copied in: the engine's resolver read them
        # before the chroot (only [consul], for libcurl, still needs them).
        assert not os.path.exists(os.path.join(chroot, "etc", "hosts"))


def test_killed_engine_is_restarted_quickly():
    tmp, chroot = make_env()
    with Daemon(write_config(tmp, base_config(tmp, chroot))) as d:
        first = d.wait_engine()
        start = time.monotonic()
        os.kill(first, signal.SIGKILL)
        second = poll_until(lambda: next((c for c in children_of(d.pid) if c != first), None),
                            1.0, "a new engine within a second")
        print(f"  new engine {second} after {1000 * (time.monotonic() - start):.0f} ms")
        d.wait_log("restarting it in 100 ms")


def test_sighup_with_broken_file_keeps_running():
    tmp, chroot = make_env()
    path = write_config(tmp, base_config(tmp, chroot))
    with Daemon(path) as d:
        engine = d.wait_engine()
        d.wait_log("engine %d ready" % engine)
        good = open(path).read()
        with open(path, "w") as f:
            f.write(good.replace("[sentinels]", "[sentinels]\nmin_agreement = banana"))
        os.kill(d.pid, signal.SIGHUP)
        d.wait_log("still running with the previous one")
        assert d.proc.poll() is None
        assert engine in children_of(d.pid), "the engine must not be restarted"
        log = d.log()
        assert "test.conf:" in log and "min_agreement" in log
        # A valid file is taken: the engine restarts with the new configuration.
        with open(path, "w") as f:
            f.write(good)
        os.kill(d.pid, signal.SIGHUP)
        poll_until(lambda: any(c != engine for c in children_of(d.pid)), 5,
                   "engine restarted after a valid reload")


def test_sigterm_stops_both_processes():
    tmp, chroot = make_env()
    pid_file = os.path.join(tmp, "redishappyd.pid")
    text = base_config(tmp, chroot).replace("api_listen = none", "api_listen = none\npid_file = " + pid_file)
    with Daemon(write_config(tmp, text)) as d:
        engine = d.wait_engine()
        poll_until(lambda: os.path.exists(pid_file), 5, "pid file")
        assert open(pid_file).read().strip() == str(d.pid)
        os.kill(d.pid, signal.SIGTERM)
        rc = d.proc.wait(timeout=10)
        assert rc == 0, rc
        poll_until(lambda: not os.path.exists(f"/proc/{engine}"), 5, "engine gone")
        assert not os.path.exists(os.path.join(tmp, "state.json")), "nothing written"
        assert not os.path.exists(pid_file), "pid file removed at exit"


def test_engine_exits_when_parent_dies():
    tmp, chroot = make_env()
    with Daemon(write_config(tmp, base_config(tmp, chroot))) as d:
        engine = d.wait_engine()
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait(timeout=5)
        poll_until(lambda: not os.path.exists(f"/proc/{engine}") or
                   open(f"/proc/{engine}/stat").read().split()[2] == "Z", 5,
                   "orphaned engine exits")


if __name__ == "__main__":
    run_tests(globals())
