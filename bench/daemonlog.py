"""Where a switch's time went, from redishappyd's own log lines.

The engine's "new master ... confirmed by ROLE" line ends with its timing
"(+switch-master to first report X ms, to corroboration Y ms, ROLE Z ms)":
the re-read of SENTINEL MASTER after the event, the wait for a second
Sentinel to say the same, and the ROLE round trip.  The parent's
"haproxy: applied by PATH (render, write, check, switch, reload)" line gives
its own steps; `switch` is the runtime socket commands.  Standard library
only; used by failover.py and soak.py.
"""
import re
import statistics

ENGINE_PARTS = (("reread", "+switch-master to first report"),
                ("corroboration", "to corroboration"),
                ("role", "ROLE"))
PARENT_PARTS = ("render", "write", "check", "switch", "reload")

CONFIRM = re.compile(r"engine\[\d+\] notice: cluster \S+: new master \S+ at epoch \d+, "
                     r"confirmed by ROLE, corroborated by [^(]*\(([^)]*)\)\s*$")
APPLIED = re.compile(r"parent\[\d+\] notice: haproxy: applied by (\S+)"
                     r"( after the runtime switch failed)? \(render ([\d.]+) ms, "
                     r"write ([\d.]+) ms, (check skipped|check ([\d.]+) ms), "
                     r"switch ([\d.]+) ms, reload ([\d.]+) ms\)")


def parse(text):
    """{"engine": [ {reread, corroboration, role} (parts present) ...],
    "applied": [ {path, fallback, render, write, check (None if skipped),
    switch, reload} ...]} for every such line of `text`, in order."""
    out = {"engine": [], "applied": []}
    for line in text.splitlines():
        m = CONFIRM.search(line)
        if m:
            rec = {}
            for part in m.group(1).split(", "):
                for key, label in ENGINE_PARTS:
                    if part.startswith(label + " ") and part.endswith(" ms"):
                        rec[key] = float(part[len(label) + 1:-3])
            out["engine"].append(rec)
            continue
        m = APPLIED.search(line)
        if m:
            out["applied"].append({
                "path": m.group(1), "fallback": bool(m.group(2)),
                "render": float(m.group(3)), "write": float(m.group(4)),
                "check": float(m.group(6)) if m.group(6) else None,
                "switch": float(m.group(7)), "reload": float(m.group(8))})
    return out


def merge(into, parsed):
    into["engine"] += parsed["engine"]
    into["applied"] += parsed["applied"]
    return into


def median(values):
    return statistics.median(values) if values else None


def summarize(parsed, path):
    """Medians of each part for apply lines of `path` ("runtime" or
    "reload") and of every engine line: {part: (median ms or None, n)} plus
    "check_skipped": (skipped, total)."""
    out = {}
    for key, _ in ENGINE_PARTS:
        v = [r[key] for r in parsed["engine"] if key in r]
        out[key] = (median(v), len(v))
    rows = [r for r in parsed["applied"] if r["path"] == path]
    for key in PARENT_PARTS:
        v = [r[key] for r in rows if r[key] is not None]
        out[key] = (median(v), len(v))
    out["check_skipped"] = (sum(1 for r in rows if r["check"] is None), len(rows))
    return out


def fmt(ms):
    return "n/a" if ms is None else "%.2f" % ms


def line(parsed, path):
    """One line: the engine's and the parent's medians for `path`."""
    s = summarize(parsed, path)
    eng = ", ".join("%s %s" % (k, fmt(s[k][0])) for k, _ in ENGINE_PARTS)
    par = ", ".join("%s %s" % (k, fmt(s[k][0])) for k in PARENT_PARTS)
    sk, n = s["check_skipped"]
    return ("engine (n=%d): %s | parent %s applies (n=%d): %s; check skipped %d of %d (ms, medians)"
            % (s["role"][1], eng, path, n, par, sk, n))
