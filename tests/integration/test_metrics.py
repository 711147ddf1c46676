"""/metrics from the real daemon against real Sentinels, Redis and HAProxy:
the exposition passes `promtool check metrics`, the new families are there
with sane values, and a failover is measured once, on the path the parent
took, while the initial master is not."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rhtest
from rhtest import poll_until, run_tests
from rhdaemon import DAEMON, children_of
from test_engine import api
from test_haproxy import NAME, Setup

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def scrape(port):
    status, body = api(port, "/metrics")
    assert status == 200, (status, body)
    return body


def samples(text):
    """{(name, labels): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not an exposition line: %r" % line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def value(text, name, labels=""):
    return samples(text).get((name, labels))


def promtool_clean(text):
    if not os.path.exists(PROMTOOL):
        raise AssertionError("promtool not found (Debian package prometheus)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        "promtool check metrics: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr)


def version_of_daemon():
    """PACKAGE_VERSION, as "redishappyd -V" prints it: "redishappyd 0.1 (...)"."""
    r = subprocess.run([DAEMON, "-V"], capture_output=True, text=True, timeout=10)
    m = re.match(r"redishappyd (\S+) ", r.stdout)
    assert r.returncode == 0 and m, (r.returncode, r.stdout, r.stderr)
    return m.group(1)


def count(text, path):
    return value(text, "redishappy_failover_propagation_seconds_count", '{path="%s"}' % path)


def process_values_are_sane(text):
    now = time.time()
    for proc in ("parent", "engine"):
        lab = '{process="%s"}' % proc
        rss = value(text, "process_resident_memory_bytes", lab)
        assert rss and rss > 0, (proc, rss)
        vsz = value(text, "process_virtual_memory_bytes", lab)
        assert vsz and vsz >= rss, (proc, vsz, rss)
        assert value(text, "process_cpu_seconds_total", lab) >= 0
        fds = value(text, "process_open_fds", lab)
        assert fds and fds >= 1, (proc, fds)
        assert value(text, "process_max_fds", lab) >= fds
        start = value(text, "process_start_time_seconds", lab)
        assert now - 600 < start <= now + 1, (proc, start, now)
        pss = value(text, "redishappy_process_pss_bytes", lab)
        assert pss is None or 0 < pss <= rss * 1.01, (proc, pss, rss)


def failover_is_measured_once(path):
    s = Setup(path)
    g = s.g
    master = g.sentinel_master(NAME)
    poll_until(lambda: s.applied() == master, 15, "master applied")
    # The parent sends its first samples as soon as the engine is ready.
    text = poll_until(lambda: (lambda t: "process_resident_memory_bytes" in t and t)(
        scrape(s.api_port)), 10, "process metrics")
    promtool_clean(text)
    version = version_of_daemon()
    assert value(text, "redishappy_build_info", '{version="%s"}' % version) == 1, \
        [l for l in text.splitlines() if "build_info" in l]
    process_values_are_sane(text)
    assert value(text, "redishappy_sentinel_links", '{trust="configured",state="up"}') == 3
    assert value(text, "redishappy_sentinel_links", '{trust="configured",state="down"}') == 0
    assert value(text, "redishappy_engine_restarts_total") == 0
    text = poll_until(lambda: (lambda t: value(t, "redishappy_cluster_stale",
                                               '{cluster="%s"}' % NAME) == 0 and t)(
        scrape(s.api_port)), 10, "a fresh trusted re-read")
    reread = value(text, "redishappy_cluster_last_reread_timestamp_seconds",
                   '{cluster="%s"}' % NAME)
    assert time.time() - 10 < reread <= time.time() + 1, reread
    assert value(text, "redishappy_apply_errors_total", '{cluster="%s"}' % NAME) == 0
    for reason in ("render", "write", "check", "reload"):
        assert value(text, "redishappy_apply_errors_by_reason_total",
                     '{reason="%s"}' % reason) == 0
    # The initial master (and its apply) is not a switch.
    assert count(text, "runtime") == 0 and count(text, "reload") == 0, \
        [l for l in text.splitlines() if "_count" in l]

    old = g.kill_master(NAME)
    new = g.wait_failover(NAME, old.addr)
    poll_until(lambda: s.applied() == new, 15, "promoted replica applied")
    s.d.wait_log("applied by %s" % path)
    text = poll_until(lambda: (lambda t: count(t, path) == 1 and t)(scrape(s.api_port)), 5,
                      "the switch in the %s histogram" % path)
    other = "reload" if path == "runtime" else "runtime"
    assert count(text, other) == 0, text
    total = value(text, "redishappy_failover_propagation_seconds_sum", '{path="%s"}' % path)
    assert 0 < total < 60, total
    inf = value(text, "redishappy_failover_propagation_seconds_bucket",
                '{path="%s",le="+Inf"}' % path)
    assert inf == 1, inf
    print("  %s path: failover propagation %.1f ms (first sign -> applied)"
          % (path, total * 1000))
    promtool_clean(text)
    return s


def test_runtime_path_metrics():
    s = failover_is_measured_once("runtime")
    # An engine killed is restarted by the parent, which counts it; the new
    # engine's start time is the restart's.
    engine = s.d.wait_engine()
    before = value(scrape(s.api_port), "process_start_time_seconds", '{process="engine"}')
    os.kill(engine, signal.SIGKILL)
    poll_until(lambda: any(c != engine for c in children_of(s.d.pid)), 10, "new engine")
    text = poll_until(lambda: (lambda t: t and value(t, "redishappy_engine_restarts_total") == 1
                               and t)(scrape_or_none(s.api_port)), 15, "the restart counted")
    after = value(text, "process_start_time_seconds", '{process="engine"}')
    assert after >= before, (before, after)
    promtool_clean(text)


def scrape_or_none(port):
    try:
        return scrape(port)
    except (OSError, AssertionError):
        return None


def test_reload_path_metrics():
    failover_is_measured_once("reload")


if __name__ == "__main__":
    run_tests(globals())
