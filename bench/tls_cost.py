#!/usr/bin/python3
"""The cost of TLS on the runtime path: the ROLE check of a new master,
which opens a fresh connection (TCP, plus the TLS handshake and a client
certificate with TLS), timed over plain TCP and over TLS against one
redis-server listening on both (bench/role_timing). Certificates are made
with openssl in a temp dir. Prints figures; never asserts timing.

Usage: bench/tls_cost.py BUILDDIR [--checks N]
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir")
    ap.add_argument("--checks", type=int, default=1000)
    args = ap.parse_args()
    os.environ["RH_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    import rhtest
    from test_tls import make_certs
    prog = os.path.join(args.builddir, "bench", "role_timing")
    if not os.access(prog, os.X_OK):
        print("tls_cost: %s not built (make check builds it)" % prog, file=sys.stderr)
        return 1
    r = rhtest.run()
    certs = make_certs(r.dir)
    plain, tls = r.free_port(), r.free_port()
    crt, key = certs["server"]
    conf = r.path("redis.conf")
    with open(conf, "w") as f:
        f.write("port %d\ntls-port %d\nbind 127.0.0.1\nsave \"\"\ndir %s\n"
                "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
                "tls-auth-clients yes\n" % (plain, tls, r.dir, crt, key, certs["ca"][0]))
    r.spawn("redis", ["redis-server", conf])
    rhtest.poll_until(lambda: rhtest.try_command("127.0.0.1", plain, "PING") == "PONG", 10,
                      "redis-server to answer")
    ccrt, ckey = certs["client"]
    out = subprocess.run([prog, "127.0.0.1", str(plain), str(tls), certs["ca"][0], ccrt, ckey,
                          str(args.checks)], capture_output=True, text=True, timeout=600)
    sys.stdout.write(out.stdout)
    sys.stderr.write(out.stderr)
    r.close()
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())
