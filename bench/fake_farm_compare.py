#!/usr/bin/python3
"""Compare bench/fake_farm's answers with scale.py's Python fakes, byte for byte.

Starts fake_farm and, on farm A's ports, one Python ManySentinel and one
RoleFarm; sends the same requests to both and prints each difference.
Requests go whole, pipelined, and one byte at a time (a command split
across reads).  Exits 1 if any answer differs beyond the documented ones
(a subscribed PING: Redis's ["pong",""] against rhtest's +PONG; AUTH).

Usage: bench/fake_farm_compare.py BUILDDIR [--clusters N]
"""
import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))


def ask(port, data, expect_len=None, split=False, timeout=10.0):
    """Send data to port (at once or byte by byte); read until the peer has
    been quiet for 0.3 s (or expect_len bytes arrived)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if split:
            for b in data:
                s.sendall(bytes([b]))
        else:
            s.sendall(data)
        out = b""
        s.settimeout(0.3)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expect_len is not None and len(out) >= expect_len:
                break
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                if out:
                    break
                continue
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builddir")
    ap.add_argument("--clusters", type=int, default=1000)
    args = ap.parse_args()
    os.environ["RH_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    sys.path.insert(0, HERE)
    import rhtest
    import scale
    n = args.clusters
    ff = subprocess.Popen([os.path.join(args.builddir, "bench", "fake_farm"), "-n", str(n)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bad = 0
    try:
        w = ff.stdout.readline().split()
        sent = [int(x) for x in w[2:w.index("a")]]
        a = [int(x) for x in w[w.index("a") + 1:w.index("b")]]
        b = [int(x) for x in w[w.index("b") + 1:]]
        py = scale.ManySentinel(rhtest, n, a, 5)
        farm = scale.RoleFarm(1)
        requests = [cmd("SENTINEL", "MASTERS"), cmd("sentinel", "masters"),
                    cmd("SENTINEL", "MASTER", "c0"), cmd("SENTINEL", "MASTER", "c%d" % (n - 1)),
                    cmd("SENTINEL", "MASTER", "c%d" % n), cmd("SENTINEL", "MASTER", "cx"),
                    cmd("SENTINEL", "MASTER", "c-1"), cmd("SENTINEL", "MASTER", "c007"),
                    cmd("SENTINEL", "MASTER", "other"), cmd("SENTINEL", "MASTER"),
                    cmd("SENTINEL", "REPLICAS", "c1"), cmd("SENTINEL", "SLAVES", "c1"),
                    cmd("SENTINEL", "SENTINELS", "c1"), cmd("SENTINEL"), cmd("PING"),
                    cmd("Info"), cmd("SUBSCRIBE", "+switch-master", "+sdown"),
                    cmd("PSUBSCRIBE", "*")]
        pipelined = b"".join(requests)
        checks = [("%r" % r[:60], r, False) for r in requests]
        checks += [("all pipelined", pipelined, False),
                   ("all byte by byte", pipelined, True)]

        def compare(label, req, split, port_py, port_c, name):
            nonlocal bad
            want = ask(port_py, req, split=split)
            got = ask(port_c, req, expect_len=len(want), split=split)
            same = want == got
            bad += not same
            print("%-8s %-6s %-62s %d bytes %s" % (name, "same" if same else "DIFF", label,
                                                  len(want), "" if same else
                                                  "(python %r... fake %r...)" % (want[:80],
                                                                                 got[:80])))

        for label, req, split in checks:
            compare(label, req, split, py.fake.port, sent[0], "sentinel")
        # After a switch: entries on farm B at epoch 6, published to a
        # subscriber of each (fake_farm's first Sentinel against Python).
        subs = []
        for port in (py.fake.port, sent[0]):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(cmd("SUBSCRIBE", "+switch-master"))
            subs.append(s)
        rhtest.poll_until(lambda: py.fake.subscribers() == 1, 10, "python subscriber")

        def fake_subscribers():
            ff.stdin.write("subscribers\n")
            ff.stdin.flush()
            return int(ff.stdout.readline())
        rhtest.poll_until(lambda: fake_subscribers() == 1, 10, "fake_farm subscriber")
        ff.stdin.write("switch\n")
        ff.stdin.flush()
        print("fake_farm:", ff.stdout.readline().strip())
        py.set(b, 6)
        for i in range(n):
            py.fake.publish("+switch-master", "c%d 127.0.0.1 %d 127.0.0.1 %d"
                            % (i, a[i % len(a)], b[i % len(b)]))
        streams = []
        for s in subs:
            s.sendall(cmd("PING"))
            s.settimeout(0.5)
            data = b""
            while True:
                try:
                    chunk = s.recv(1 << 20)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
            s.close()
            streams.append(data)
        want, got = streams
        # rhtest answers a subscribed PING +PONG; fake_farm as Redis does.
        same = (want.endswith(b"+PONG\r\n") and got.endswith(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
                and want[:-7] == got[:-len(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")])
        bad += not same
        print("%-8s %-6s %-62s %d bytes" % ("sentinel", "same" if same else "DIFF",
                                            "subscribe, %d +switch-master, then PING" % n,
                                            len(want)))
        for label, req, split in checks[:4]:
            compare("after switch " + label, req, split, py.fake.port, sent[1], "sentinel")
        for role in ("master", "slave"):
            farm.set_role(role)
            ff.stdin.write("role a %s\n" % role)
            ff.stdin.flush()
            ff.stdout.readline()
            req = cmd("PING") + cmd("ROLE") + cmd("role") + cmd("FOO")
            compare("ROLE farm, %s, pipelined" % role, req, False, farm.ports[0], a[0], "farm")
            compare("ROLE farm, %s, byte by byte" % role, req, True, farm.ports[0], a[0],
                    "farm")
        farm.close()
        ff.stdin.write("handled\n")
        ff.stdin.flush()
        print("fake_farm handled:", ff.stdout.readline().strip(), "python handled:", py.handled)
    finally:
        ff.stdin.close()
        ff.wait(timeout=10)
    print("%d difference(s)" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
