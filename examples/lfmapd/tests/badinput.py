#!/usr/bin/env python3
"""badinput.py HOST PORT [IDLE_CONNS] - hostile-client test for lfmapd (or
any memcached text-protocol server).

A victim client stores known values first; then attackers send oversized keys
and values, malformed commands, bad data chunks, binary garbage, over-long
lines, partial commands followed by a disconnect, an unread pipelined flood,
and hold IDLE_CONNS idle connections open. Every attack checks the protocol
reply it gets (ERROR / CLIENT_ERROR / SERVER_ERROR, or a closed connection
where that is the documented answer). At the end the victim's values must be
intact, the idle connections must still answer, and the server must still
serve new clients. Prints one line per check, "summary: ..." at the end, and
exits 1 on any failure.
"""
import os
import random
import resource
import socket
import sys
import time

HOST = sys.argv[1]
PORT = int(sys.argv[2])
IDLE = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if cond:
        print("ok    " + what)
    else:
        print("FAIL  " + what)
        failures.append(what)


def conn(timeout=5.0):
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Client:
    def __init__(self):
        self.s = conn()
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, data):
        self.send(data)
        return self.line()

    def get(self, key):
        self.send(b"get " + key + b"\r\n")
        return self.read_get()

    def read_get(self):
        l = self.line()
        if l == b"END":
            return None
        parts = l.split()
        if parts[0] != b"VALUE":
            raise ValueError("unexpected reply %r" % l)
        v = self.exact(int(parts[3]) + 2)[:-2]
        end = self.line()
        if end != b"END":
            raise ValueError("unexpected reply %r" % end)
        return (int(parts[2]), v)

    def closed_by_server(self, wait=3.0):
        """True if the server closes the connection (EOF) within wait s."""
        self.s.settimeout(wait)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except OSError:  # reset: closed with our unread bytes pending
            return True

    def close(self):
        self.s.close()


def is_error(l):
    return l == b"ERROR" or l.startswith(b"CLIENT_ERROR") or l.startswith(b"SERVER_ERROR")


def alive(c, what):
    try:
        l = c.cmd(b"version\r\n")
        check(l.startswith(b"VERSION "), what + ": connection still in sync")
    except Exception as e:  # noqa: BLE001
        check(False, what + ": connection still in sync (%s)" % e)


def attack(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        check(False, "%s raised %r" % (name, e))


# ---- victim data --------------------------------------------------------
rnd = random.Random(5)
victim = Client()
vdata = {}
for i in range(300):
    k = b"victim:%d" % i
    v = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 3000)))
    fl = rnd.randint(0, 2**32 - 1)
    l = victim.cmd(b"set %s %d 0 %d\r\n%s\r\n" % (k, fl, len(v), v))
    if l != b"STORED":
        check(False, "victim set %s: %r" % (k, l))
        break
    vdata[k] = (fl, v)
check(len(vdata) == 300, "victim stored 300 keys")


# ---- attacks --------------------------------------------------------------
def a_long_keys():
    c = Client()
    k = b"k" * 251
    check(c.cmd(b"get " + k + b"\r\n").startswith(b"CLIENT_ERROR"), "get with a 251-byte key")
    check(c.cmd(b"gets a " + k + b"\r\n").startswith(b"CLIENT_ERROR"), "gets with a 251-byte key among others")
    check(c.cmd(b"set " + k + b" 0 0 5\r\nhello\r\n").startswith(b"CLIENT_ERROR"), "set with a 251-byte key")
    alive(c, "set with a long key (value swallowed)")
    check(c.cmd(b"delete " + k + b"\r\n").startswith(b"CLIENT_ERROR"), "delete with a 251-byte key")
    check(c.cmd(b"incr " + k + b" 1\r\n").startswith(b"CLIENT_ERROR"), "incr with a 251-byte key")
    check(c.cmd(b"touch " + k + b" 10\r\n").startswith(b"CLIENT_ERROR"), "touch with a 251-byte key")
    k250 = b"x" * 250
    check(c.cmd(b"set " + k250 + b" 0 0 2\r\nok\r\n") == b"STORED", "set with a 250-byte key works")
    check(c.get(k250) == (0, b"ok"), "get with a 250-byte key works")
    c.close()


def a_large_values():
    c = Client()
    big = 2 * 1024 * 1024
    c.send(b"set big:1 0 0 %d\r\n" % big)
    c.send(b"z" * big + b"\r\n")
    l = c.line()
    check(l.startswith(b"SERVER_ERROR"), "2 MiB value: %r" % l)
    alive(c, "2 MiB value (swallowed)")
    check(c.get(b"big:1") is None, "2 MiB value not stored")
    check(c.cmd(b"set big:2 0 0 99999999999\r\n").startswith(b"CLIENT_ERROR"), "length beyond 32 bits")
    check(c.cmd(b"set big:3 0 0 -1\r\n").startswith(b"CLIENT_ERROR"), "negative length")
    # a value just under the default limit (1 MiB) is fine
    v = os.urandom(1024 * 1024)
    check(c.cmd(b"set big:4 7 0 %d\r\n%s\r\n" % (len(v), v)) == b"STORED", "1 MiB value stored")
    check(c.get(b"big:4") == (7, v), "1 MiB value read back")
    # a multi-get whose reply would exceed the per-connection output limit
    # (64 MiB in lfmapd): an error instead of a partial reply (memcached
    # streams it; either way the connection must stay in sync)
    c.send(b"get" + b" big:4" * 80 + b"\r\n")
    n = 0
    while True:
        l = c.line()
        if l.startswith(b"VALUE"):
            c.exact(len(v) + 2)
            n += 1
            continue
        break
    check(l == b"END" and n == 80 or l.startswith(b"SERVER_ERROR"),
          "80 MiB multi-get: %d values then %r" % (n, l[:60]))
    alive(c, "80 MiB multi-get")
    c.cmd(b"delete big:4\r\n")
    c.close()


def a_malformed():
    c = Client()
    for bad in [b"set k abc 0 5\r\nhello\r\n", b"set k 0 zz 5\r\nhello\r\n",
                b"cas k 0 0 5 notanumber\r\nhello\r\n", b"set k 0 0 5 6 7 8 9\r\n"]:
        l = c.cmd(bad)
        check(is_error(l), "malformed %r -> %r" % (bad[:24], l))
        alive(c, "after %r" % bad[:24])
    for bad in [b"\r\n", b"bogus\r\n", b"GET x\r\n", b"set\r\n", b"set k\r\n", b"incr\r\n",
                b"incr k\r\n", b"touch k\r\n", b"delete a b c d e\r\n", b"flush_all x y\r\n",
                b"stats nosuchthing\r\n", b"cas k 0 0\r\n", b"a" * 1000 + b"\r\n"]:
        l = c.cmd(bad)
        check(is_error(l), "malformed %r -> %r" % (bad[:24], l))
    check(c.cmd(b"incr victim:1 abc\r\n").startswith(b"CLIENT_ERROR"), "incr with a bad delta")
    c.cmd(b"set txt 0 0 3\r\nabc\r\n")
    check(c.cmd(b"incr txt 1\r\n").startswith(b"CLIENT_ERROR"), "incr of a non-numeric value")
    check(c.cmd(b"set n 0 0 20\r\n18446744073709551615\r\n") == b"STORED", "set 2^64-1")
    check(c.cmd(b"incr n 1\r\n") == b"0", "incr wraps at 2^64")
    check(c.cmd(b"decr n 5\r\n") == b"0", "decr stops at 0")
    # bad data chunk: 5 announced, 7 sent
    l = c.cmd(b"set chunk 0 0 5\r\nhelloXX\r\n")
    check(l.startswith(b"CLIENT_ERROR"), "bad data chunk -> %r" % l)
    c.s.settimeout(1.0)
    try:  # the remaining bytes may produce one more ERROR line
        while True:
            l = c.line()
            if not is_error(l):
                check(False, "bad data chunk: unexpected %r" % l)
                break
    except (socket.timeout, EOFError):
        pass
    c.s.settimeout(5.0)
    alive(c, "bad data chunk")
    check(c.get(b"chunk") is None, "bad data chunk not stored")
    # binary garbage (no newline inside), then a newline
    c.send(bytes(rnd.getrandbits(8) for _ in range(3000)).replace(b"\n", b"") + b"\r\n")
    check(is_error(c.line()), "binary garbage line")
    # NUL bytes in a command line
    check(is_error(c.cmd(b"get a\x00b\r\n")), "NUL byte in a command line")
    alive(c, "garbage")
    c.close()


def a_line_too_long():
    c = Client()
    c.send(b"get " + b"k" * (1 << 20))  # 1 MiB without a newline
    closed = c.closed_by_server(5.0)
    check(closed and (b"CLIENT_ERROR" in c.buf or c.buf == b""),
          "1 MiB line without newline: error and close (%r)" % c.buf[:40])


def a_partial_and_disconnect():
    for data in [b"set part:1 0 0 100\r\nabc", b"get victim:1", b"set part:2 0 0 1000000\r\n" + b"q" * 500000,
                 b"gets victim:1 victim:2 vic", b"cas part:3 0 0 10 1", b"incr"]:
        c = Client()
        c.send(data)
        time.sleep(0.01)
        c.close()
    # reset (RST) instead of FIN, in the middle of a value
    c = Client()
    c.send(b"set part:4 0 0 5000\r\n" + b"r" * 100)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    # half-close: the replies to everything sent before the FIN still come
    c = Client()
    c.send(b"set hc 0 0 2\r\nhc\r\nget hc\r\nget victim:3")
    c.s.shutdown(socket.SHUT_WR)
    closed = c.closed_by_server(5.0)
    check(closed and c.buf == b"STORED\r\nVALUE hc 0 2\r\nhc\r\nEND\r\n",
          "half-closed client gets its replies, then EOF (%r)" % c.buf[:60])
    c.close()
    c = Client()
    for k in [b"part:1", b"part:2", b"part:4"]:
        check(c.get(k) is None, "half-sent value %s not stored" % k.decode())
    c.close()


def a_unread_flood():
    """Pipeline many gets of a large value without reading, then read all."""
    c = Client()
    v = b"f" * 100000
    c.cmd(b"set flood 0 0 %d\r\n%s\r\n" % (len(v), v))
    n = 300
    c.send(b"get flood\r\n" * n)
    time.sleep(0.5)  # the server stops reading while its replies back up
    got = 0
    for _ in range(n):
        if c.read_get() == (0, v):
            got += 1
    check(got == n, "300 pipelined 100 kB gets read back after the fact")
    alive(c, "flood")
    c.close()


def a_idle_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    idle = []
    try:
        for _ in range(IDLE):
            idle.append(conn(timeout=10.0))
    except OSError as e:
        check(False, "opening idle connection %d: %s" % (len(idle), e))
    check(len(idle) == IDLE, "%d idle connections open" % len(idle))
    # half of them sent half a command
    for s in idle[::2]:
        s.sendall(b"get victim:")
    # a fresh client is still served, and the victim too
    c = Client()
    check(c.get(b"victim:7") == vdata[b"victim:7"], "served while %d connections are idle" % len(idle))
    c.close()
    # a sample of the idle ones still answers
    ok = 0
    sample = idle[1::2][::50]  # (the even ones hold half a command)
    for s in sample:
        s.sendall(b"version\r\n")
    for s in sample:
        try:
            s.settimeout(5.0)
            if s.recv(100).startswith(b"VERSION "):
                ok += 1
        except OSError:
            pass
    check(ok == len(sample), "%d/%d sampled idle connections answer" % (ok, len(sample)))
    for s in idle:
        s.close()


attack("long keys", a_long_keys)
attack("large values", a_large_values)
attack("malformed", a_malformed)
attack("line too long", a_line_too_long)
attack("partial + disconnect", a_partial_and_disconnect)
attack("unread flood", a_unread_flood)
attack("idle connections", a_idle_connections)

# ---- the victim's data is intact ------------------------------------------
bad = 0
try:
    for k, (fl, v) in vdata.items():
        if victim.get(k) != (fl, v):
            bad += 1
    check(bad == 0, "victim's 300 values intact after the attacks (%d differ)" % bad)
except Exception as e:  # noqa: BLE001
    check(False, "victim connection survived the attacks (%r)" % e)
c = Client()
check(c.cmd(b"version\r\n").startswith(b"VERSION "), "server still accepts new clients")
c.close()

print("summary: badinput: %d checks, %d failed" % (checks, len(failures)))
sys.exit(1 if failures else 0)
