"""Small helpers for tests that run redishappyd itself: start it in the
foreground with a config, find its engine, read its log, stop it by PID."""
import os
import signal
import socket
import subprocess
import time
import traceback

BUILDDIR = os.environ.get("RH_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMON = os.path.join(BUILDDIR, "src", "redishappyd")
_given_ports = set()


def free_port():
    """A free loopback TCP port, never the same twice in one run."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def poll_until(fn, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def write_config(directory, text, name="test.conf"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text.lstrip("\n"))
    return path


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def engine_of(parent):
    """The engine among the parent's children (the parent also runs check
    and reload commands as children), or None."""
    for pid in children_of(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        # The engine is re-executed as `redishappyd -E ...` (its comm is "exe").
        if os.path.basename(argv[0]) == b"redishappyd" and b"-E" in argv:
            return pid
    return None


def vmrss_kb(pid):
    """Resident set size of pid in kB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


def proc_status_ids(pid):
    uids = gids = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                uids = [int(x) for x in line.split()[1:]]
            elif line.startswith("Gid:"):
                gids = [int(x) for x in line.split()[1:]]
    return uids, gids


class Daemon:
    """redishappyd -d -f CONFIG, logging to a file; stopped by PID on exit."""

    def __init__(self, config, args=(), env=None, wrapper=()):
        self.config = config
        # argv before the daemon's: a program that sets something up and
        # execs the rest (so the PID stays the daemon's).
        self.wrapper = list(wrapper)
        self.logpath = config + ".log"
        self.args = list(args)
        self.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **(env or {}))
        self.proc = None

    @staticmethod
    def check(config):
        return subprocess.run([DAEMON, "-n", "-f", config], capture_output=True, text=True,
                              timeout=30)

    def __enter__(self):
        self.logfile = open(self.logpath, "w")
        self.proc = subprocess.Popen(self.wrapper + [DAEMON, "-d", "-f", self.config] + self.args,
                                     stdout=self.logfile, stderr=subprocess.STDOUT, env=self.env)
        self.pid = self.proc.pid
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print("---- daemon log ----")
            print(self.log()[-6000:])
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            engines = children_of(self.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                for e in engines:
                    try:
                        os.kill(e, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.logfile.close()

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        return poll_until(lambda: text in self.log(), timeout, f"log line {text!r}")

    def wait_engine(self, timeout=10):
        return poll_until(lambda: engine_of(self.pid), timeout, "engine process")


def run_tests(namespace):
    passed = failed = skipped = 0
    for name, fn in sorted(namespace.items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        start = time.monotonic()
        try:
            result = fn()
        except Exception:  # noqa: BLE001 - every failure is printed
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
            continue
        took = time.monotonic() - start
        if isinstance(result, str) and result.startswith("skip"):
            skipped += 1
            print(f"SKIP {name}: {result}")
        else:
            passed += 1
            print(f"ok   {name} ({took:.2f}s)")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    raise SystemExit(1 if failed else 0)
