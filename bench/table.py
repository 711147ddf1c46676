#!/usr/bin/python3
"""One table from the outputs of api_bench, failover.py and scale.py:
each figure, its target (design.md section 7, issue 17), the ratio
figure/target, the same figure of the original redishappy where one was
measured, and the breakdowns from the daemon's own log.

Usage: bench/table.py API_OUT FAILOVER_OUT SCALE_OUT   (run by bench/run-all)
A figure a benchmark did not produce is shown as n/a; nothing is asserted.
"""
import re
import sys

# The original redishappy (Go), measured side by side (design.md section 7,
# issue 17): reload with -st, same Sentinel cluster and template.
ORIG_SWITCH_MS = 77.3
ORIG_API_RPS = 3500.0
ORIG_MEM_MB = (13.3, 12.0)  # RSS, PSS, all processes
ORIG_SCALE_MS = {("start", 1000): 4500.0, ("storm", 1000): 5400.0}


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


class Table:
    def __init__(self):
        self.rows = []

    def section(self, title):
        self.rows.append(("-- " + title,))

    def add(self, figure, value, unit, target=None, cmp="<=", orig=None, note="",
            ratio_ok=True):
        """target: number (the figure must be `cmp` it); orig: the original's
        figure, for a "N x faster/slower" column (smaller is better unless
        cmp is >=); ratio_ok=False shows the target without a ratio (the
        figure is not the measure the target is about)."""
        shown = "n/a" if value is None else ("%.2f %s" % (value, unit)).strip()
        tgt = ""
        ratio = ""
        if target is not None:
            tgt = "%s %g %s" % (cmp, target, unit)
            if value is not None and target and ratio_ok:
                ok = value <= target if cmp == "<=" else value >= target
                ratio = "%.2f (%s)" % (value / target, "met" if ok else "MISSED")
        vs = ""
        if orig is not None and value:
            if cmp == ">=":
                f = value / orig
            else:
                f = orig / value
            vs = ("%.1fx faster" % f) if f >= 1 else ("%.1fx slower" % (1 / f))
            if unit == "MB":
                vs = "%.2fx the original" % (value / orig)
        self.rows.append((figure, shown, tgt, ratio, vs, note))

    def text(self, figure, value, note=""):
        self.rows.append((figure, value, "", "", "", note))

    def show(self):
        fmt = "%-52s %-16s %-16s %-16s %-18s %s"
        print(fmt % ("figure", "measured", "target", "ratio", "vs original", "note"))
        for r in self.rows:
            if len(r) == 1:
                print(r[0])
            else:
                print((fmt % r).rstrip())


def failover_rows(t, text):
    lat = {}
    for m in re.finditer(r"^(runtime|reload)\s+min_agreement (\d): median\s+([\d.]+)\s+"
                         r"p90\s+([\d.]+)\s+max\s+([\d.]+) ms\s+\(n=(\d+)\)", text, re.M):
        lat[(m.group(1), int(m.group(2)))] = (float(m.group(3)), float(m.group(4)),
                                              int(m.group(6)))
    m = re.search(r"^haproxy reload command alone:\s+median\s+([\d.]+)", text, re.M)
    alone = float(m.group(1)) if m else None
    m = re.search(r"^haproxy `set server \.\.\. addr` alone:\s+median\s+([\d.]+)", text, re.M)
    set_alone = float(m.group(1)) if m else None
    stuck = sum(int(x) for x in re.findall(r"stuck rounds\s+(\d+)", text))

    t.section("failover propagation: first +switch-master -> first new connection on the "
              "new master (bench/failover.py)")
    for ma in (2, 1):
        r = lat.get(("runtime", ma))
        note = "n=%d" % r[2] if r else ""
        if ma == 1:
            note += " (one Sentinel, for the corroboration cost)"
        t.add("runtime path median, min_agreement %d" % ma, r and r[0], "ms",
              2.5 if ma == 2 else None, orig=ORIG_SWITCH_MS, note=note)
        if ma == 2:
            t.add("runtime path p90, min_agreement 2", r and r[1], "ms", 3.0, note=note)
    for ma in (2, 1):
        r = lat.get(("reload", ma))
        target = alone + 5.0 if alone is not None and ma == 2 else None
        t.add("reload path median, min_agreement %d" % ma, r and r[0], "ms", target,
              orig=ORIG_SWITCH_MS,
              note=("n=%d" % r[2] if r else "") + (" target: haproxy reload alone + 5 ms"
                                                   if ma == 2 else ""))
    m = re.search(r"^runtime\s+corroboration cost \(median, ma2 - ma1\): ([-+\d.]+) ms", text,
                  re.M)
    t.add("runtime corroboration cost (median ma2 - ma1)", m and float(m.group(1)), "ms")
    t.add("haproxy reload command alone (median)", alone, "ms")
    t.add("haproxy `set server` alone (median)", set_alone, "ms")
    t.text("stuck rounds", str(stuck))

    def breakdown(path):
        m = re.search(r"^breakdown %s\s+ma2: engine \(n=(\d+)\): (.*?) \| parent %s applies "
                      r"\(n=(\d+)\): (.*?); check skipped (\d+) of (\d+)" % (path, path),
                      text, re.M)
        if not m:
            return None
        parts = {}
        for chunk in (m.group(2), m.group(4)):
            for item in chunk.split(", "):
                k, _, v = item.partition(" ")
                parts[k] = num(v)
        parts["n_engine"], parts["n_parent"] = int(m.group(1)), int(m.group(3))
        parts["skipped"], parts["applies"] = int(m.group(5)), int(m.group(6))
        return parts

    b = breakdown("runtime")
    t.section("runtime path, min_agreement 2: the daemon's own timings (medians, its log)")
    if b:
        t.add("engine: +switch-master -> first report (re-read)", b.get("reread"), "ms",
              note="n=%d" % b["n_engine"])
        t.add("engine: first report -> corroboration", b.get("corroboration"), "ms")
        t.add("engine: ROLE round trip", b.get("role"), "ms")
        t.add("parent: render", b.get("render"), "ms", note="n=%d" % b["n_parent"])
        t.add("parent: socket commands (set server, shutdown)", b.get("switch"), "ms")
        t.add("parent: write of the file, after the switch", b.get("write"), "ms",
              note="not on the path: HAProxy already routes to the new master")
        r = lat.get(("runtime", 2))
        parts = [b.get(k) for k in ("reread", "corroboration", "role", "render", "switch")]
        if r and None not in parts:
            t.add("not in the log (channel, HAProxy, probe)", r[0] - sum(parts), "ms",
                  note="median total - sum of the medians on the path")
    else:
        t.text("(no breakdown line in failover.py's output)", "n/a")
    b = breakdown("reload")
    t.section("reload path, min_agreement 2: the daemon's own timings (medians, its log)")
    if b:
        t.add("engine: re-read + corroboration + ROLE",
              sum(b[k] for k in ("reread", "corroboration", "role") if b.get(k) is not None),
              "ms", note="n=%d" % b["n_engine"])
        t.add("parent: render", b.get("render"), "ms", note="n=%d" % b["n_parent"])
        t.add("parent: write", b.get("write"), "ms")
        t.add("parent: check", b.get("check"), "ms",
              note="check skipped in %d of %d applies" % (b["skipped"], b["applies"]))
        t.add("parent: reload command", b.get("reload"), "ms")
    else:
        t.text("(no breakdown line in failover.py's output)", "n/a")

    t.section("memory, one cluster, after the rounds (parent + engine, bench/failover.py)")
    for path in ("runtime", "reload"):
        m = re.search(r"^memory %s\s+ma2: RSS parent \S+ kB, engine \S+ kB, total (\d+) kB; "
                      r"PSS parent \S+ kB, engine \S+ kB, total (\d+) kB" % path, text, re.M)
        if m:
            t.add("%s daemon PSS, both processes" % path, int(m.group(2)) / 1024.0, "MB", 3.0,
                  orig=ORIG_MEM_MB[1])
            t.add("%s daemon RSS, both processes" % path, int(m.group(1)) / 1024.0, "MB",
                  orig=ORIG_MEM_MB[0], note="no RSS target; PSS is the target")
        else:
            t.text("%s daemon memory" % path, "n/a")


def api_rows(t, text):
    t.section("API (bench/api_bench, wrk -c32)")
    m = re.search(r"one cluster: ([\d.]+) requests/s", text)
    t.add("/api/topology requests/s", m and float(m.group(1)), "req/s", 30000, cmp=">=",
          orig=ORIG_API_RPS)


def scale_rows(t, text):
    t.section("growth (bench/scale.py: scripted Sentinels, N clusters; times until the "
              "rendered file holds all N)")
    lines = text.splitlines()
    head = None
    for i, line in enumerate(lines):
        if line.split()[:4] == ["N", "startAPI", "startEng", "startPar"]:
            head = i
            break
    if head is None:
        t.text("(scale.py summary not recognised)", "n/a", "see its output above")
        return
    cols = lines[head].split()[:8]
    # The first summary table: quietPSS, quietRSS, peakPSS (kB) by N.
    memory = {}
    for i, line in enumerate(lines):
        names = line.split()
        if names[:3] == ["N", "start", "startEng"] and "quietPSS" in names:
            for row in lines[i + 1:]:
                f = row.split()
                if not f or not f[0].isdigit():
                    break
                if len(f) == len(names):
                    r = dict(zip(names, f))
                    memory[int(f[0])] = tuple(
                        int(r[k]) for k in ("quietPSS", "quietRSS", "peakPSS"))
            break
    targets = {("start", 1000): 200.0, ("start", 10000): 1000.0,
               ("storm", 1000): 300.0, ("storm", 10000): 1000.0}
    mem_target = {1000: 8.0, 10000: 30.0}
    for line in lines[head + 1:]:
        f = line.split()
        if not f or not f[0].isdigit():
            break
        n = int(f[0])
        if "FAILED" in line:
            t.text("N = %d" % n, "FAILED", line.strip()[:60])
            continue
        row = dict(zip(cols, f[:8]))
        for phase, key in (("start", "startPar"), ("storm", "stormPar")):
            v = num(row.get(key))
            label = ("start -> all in the rendered file" if phase == "start"
                     else "storm of N +switch-master -> in the file")
            t.add("N=%d %s" % (n, label), v, "ms", targets.get((phase, n)),
                  orig=ORIG_SCALE_MS.get((phase, n)),
                  note="" if v is not None else "parent has %s" % row.get(key))
        pss = memory.get(n)
        if pss:
            t.add("N=%d memory once quiet (PSS, p+e)" % n, pss[0] / 1024.0, "MB",
                  mem_target.get(n), note="RSS %.1f MB" % (pss[1] / 1024.0))
            t.add("N=%d memory peak (PSS sampled, p+e)" % n, pss[2] / 1024.0, "MB",
                  note="no target; include it in notes")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    api, fo, sc = (read(p) for p in sys.argv[1:])
    t = Table()
    failover_rows(t, fo)
    api_rows(t, api)
    scale_rows(t, sc)
    t.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
