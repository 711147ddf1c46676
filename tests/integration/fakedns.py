"""A small DNS server for tests: UDP on loopback, A and AAAA answers from a
table the test changes while it runs, and on demand answers delayed by N
seconds, SERVFAIL or NXDOMAIN. Started and stopped by the test (a thread of
the test process), never left running.

    dns = FakeDns({"sentinels.test": ["127.0.0.11", "127.0.0.12"]})
    dns.set("redis.test", ["127.0.0.1"])      # replace a name's addresses
    dns.delay = 5.0                            # every answer 5 s late
    dns.fail["redis.test"] = "servfail"        # or "nxdomain"
    ... dns.port ...
    dns.close()

Names not in the table get NXDOMAIN. Only what evdns asks is implemented:
one question per query, class IN, types A (1) and AAAA (28); anything else
gets an empty answer (NOERROR, no records)."""
import ipaddress
import socket
import struct
import threading

A, AAAA = 1, 28
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def parse_question(packet):
    """(id, flags, qname lower-cased, qtype, question bytes) or None."""
    if len(packet) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", packet[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(packet):
            return None
        n = packet[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(packet):
            return None
        labels.append(packet[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(packet):
        return None
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, packet[12:pos + 4]


def answer(packet, table, fail):
    q = parse_question(packet)
    if q is None:
        return None
    qid, flags, name, qtype, question = q
    rcode, records = NOERROR, []
    if fail.get(name) == "servfail":
        rcode = SERVFAIL
    elif fail.get(name) == "nxdomain" or name not in table:
        rcode = NXDOMAIN
    else:
        for ip in table[name]:
            addr = ipaddress.ip_address(ip)
            if qtype == A and addr.version == 4:
                records.append((A, addr.packed))
            elif qtype == AAAA and addr.version == 6:
                records.append((AAAA, addr.packed))
    rd = flags & 0x0100
    out = struct.pack("!HHHHHH", qid, 0x8000 | 0x0080 | rd | rcode, 1, len(records), 0, 0)
    out += question  # echoed as asked: evdns checks its randomised case
    for rtype, data in records:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, 1, len(data)) + data
    return out


class FakeDns:
    def __init__(self, table=None, host="127.0.0.1", port=0):
        self.lock = threading.Lock()
        self.table = {k.lower(): list(v) for k, v in (table or {}).items()}
        self.fail = {}
        self.delay = 0.0
        self.queries = 0  # how many questions arrived (A and AAAA count apart)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name, addrs):
        with self.lock:
            self.table[name.lower()] = list(addrs)

    def resolv_conf(self):
        """The text of a resolv.conf pointing at this server only."""
        return "nameserver %s:%d\noptions timeout:1 attempts:2\n" % (self.host, self.port)

    def _reply(self, packet, peer):
        with self.lock:
            out = answer(packet, dict(self.table), dict(self.fail))
        if out is None or self.closed:
            return
        try:
            self.sock.sendto(out, peer)
        except OSError:
            pass

    def _serve(self):
        while not self.closed:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.queries += 1
                delay = self.delay
            if delay > 0:
                t = threading.Timer(delay, self._reply, (packet, peer))
                t.daemon = True
                t.start()
            else:
                self._reply(packet, peer)

    def close(self):
        self.closed = True
        self.thread.join(timeout=2)
        self.sock.close()
