#!/usr/bin/python3
"""Partitioned master: acknowledged writes lost with fence = no and
fence = yes, and the time from the first +odown to the fence in HAProxy.

The set-up of tests/integration/test_partition.py, in a private network
namespace (the script re-executes itself under `unshare --net`): 3
redis-server and 3 redis-sentinel (down-after 1000 ms, failover-timeout
10 s) each on its own 127.0.0.x, HAProxy and redishappyd (runtime socket).
Each round writes through HAProxy with two numbered writers (one long-lived
connection, one reconnecting every 3 writes), cuts the master off from the
Sentinels and replicas with nftables (clients still reach it), waits for the
switch, heals, waits for the old master's demotion and counts the
acknowledged writes missing on the new master. Rounds alternate fence = no
and fence = yes (SIGHUP). Prints figures; asserts nothing.

"+odown to fence" runs from the first +odown any Sentinel publishes (the
script subscribes to all three) to the first `show stat` that has the
server in MAINT (polled every ~15 ms, so up to that much late).

Needs root and nft. Usage: bench/partition.py BUILDDIR [--runs N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--runs", type=int, default=3, help="rounds of each mode (default 3)")
    args = ap.parse_args()
    if os.environ.get("RH_PARTITION_NETNS") != "1":
        if os.geteuid() != 0:
            sys.exit("partition.py: needs root (a private network namespace, nftables)")
        if shutil.which("nft") is None and not os.path.exists("/usr/sbin/nft"):
            sys.exit("partition.py: nft not installed (apt-get install nftables)")
        if not os.access(os.path.join(args.builddir, "src", "redishappyd"), os.X_OK):
            sys.exit("partition.py: %s/src/redishappyd not built" % args.builddir)
        os.environ["RH_PARTITION_NETNS"] = "1"
        os.environ["RH_BUILDDIR"] = os.path.abspath(args.builddir)
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    import rhtest
    import test_partition as tp

    p = tp.Partition()
    rows = []
    failed = 0
    try:
        for i in range(args.runs):
            for mode in ("no", "yes"):
                p.sighup("fence = %s" % mode)
                rhtest.poll_until(lambda: p.applied() and
                                  (("fence" in p.cluster()) == (mode == "yes")), 20,
                                  "the new configuration in effect")
                what = "fenced" if mode == "yes" else "unfenced"
                try:
                    res = p.partition_round(what)
                except AssertionError as exc:
                    failed += 1
                    print("round %d fence = %s: FAILED: %s" % (i + 1, mode, exc), flush=True)
                    continue
                fenced_at = res["fenced_at"]
                late = sum(1 for t in res["lost"].values() if fenced_at and t >= fenced_at)
                odown_ms = ((fenced_at - res["odown_at"]) * 1000
                            if fenced_at and res["odown_at"] else None)
                cut_to_switch = (res["switched_at"] - res["t_cut"]) * 1000
                rows.append((mode, res["acked"], res["acked_in_window"], len(res["lost"]), late,
                             odown_ms, cut_to_switch))
                print("round %d fence = %-3s  acked %6d  acked cut->switch %5d  lost %5d  "
                      "lost sent after fence %d  +odown->fence %s  cut->switch applied %.0f ms"
                      % (i + 1, mode, res["acked"], res["acked_in_window"], len(res["lost"]),
                         late, "%.0f ms" % odown_ms if odown_ms is not None else "-",
                         cut_to_switch), flush=True)
    finally:
        rhtest.run().close()
        tp.heal()
    print()
    for mode in ("no", "yes"):
        rs = [r for r in rows if r[0] == mode]
        if not rs:
            print("fence = %s: no round completed" % mode)
            continue
        lost = [r[3] for r in rs]
        frac = [100.0 * r[3] / r[2] for r in rs if r[2]]
        line = ("fence = %-3s (%d rounds): acknowledged writes lost median %d (min %d, max %d), "
                "%.1f %% of those acknowledged between the cut and the switch"
                % (mode, len(rs), statistics.median(lost), min(lost), max(lost),
                   statistics.median(frac) if frac else 0.0))
        if mode == "yes":
            od = [r[5] for r in rs if r[5] is not None]
            line += "; lost writes sent after the fence: %d" % sum(r[4] for r in rs)
            if od:
                line += "; +odown -> fence in HAProxy median %.0f ms (min %.0f, max %.0f)" % (
                    statistics.median(od), min(od), max(od))
        print(line)
    if failed:
        print("%d rounds failed (see above)" % failed)


if __name__ == "__main__":
    main()
