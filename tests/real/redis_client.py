# SPDX-License-Identifier: Apache-2.0
# A small Redis client (RESP over a socket, python3 stdlib only) for tests/real/real.sh.
#
#   redis_client.py unix:PATH|tcp:PORT ping
#   redis_client.py ADDR load N      SET key:I to value(I) for I in [0, N), pipelined
#   redis_client.py ADDR check N     DBSIZE is N, 100 sampled keys hold value(I), and a SHA-256 over
#                                    every key and value (SCAN + MGET) equals the one computed here
#                                    from value(); prints "OK dbsize=N digest=HEX" or "BAD ..."
#   redis_client.py ADDR rw          SET/GET/DEL of a fresh key: the server still accepts writes
#   redis_client.py ADDR clients     prints "clients=N": the connections the server has (with this one)
#   redis_client.py ADDR hold READY  connect, PING, create READY, then wait for the server to close
#                                    the connection; prints what happened
# Exit status 0 when all is as expected, 1 otherwise, 2 on a connection error.
import hashlib
import os
import random
import socket
import sys


def value(i):
    # deterministic, of varying length (20..276 bytes), different for every key
    h = hashlib.sha256(str(i).encode()).hexdigest()
    return ("v%d-" % i + h * 4)[: 20 + (i * 37) % 257].encode()


class Redis:
    def __init__(self, addr, timeout=10.0):
        if addr.startswith("unix:"):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(addr[5:])
        elif addr.startswith("tcp:"):
            self.s = socket.create_connection(("127.0.0.1", int(addr[4:])), timeout=timeout)
        else:
            raise ValueError("address must be unix:PATH or tcp:PORT")
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("connection closed by the server")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("server error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad reply line %r" % line)

    def cmd(self, *args):
        self.s.sendall(self.encode(*args))
        return self.reply()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(self.encode(*c) for c in cmds))
        return [self.reply() for _ in cmds]


def digest_of(pairs):
    h = hashlib.sha256()
    for k, v in sorted(pairs):
        h.update(k + b"\0" + v + b"\0")
    return h.hexdigest()


def do_load(r, n):
    for lo in range(0, n, 1000):
        res = r.pipeline([("SET", "key:%d" % i, value(i)) for i in range(lo, min(n, lo + 1000))])
        if any(x != "OK" for x in res):
            print("BAD a SET did not answer OK")
            return 1
    print("OK loaded %d keys" % n)
    return 0


def do_check(r, n):
    size = r.cmd("DBSIZE")
    if size != n:
        print("BAD dbsize=%s, want %d" % (size, n))
        return 1
    rnd = random.Random(n)
    for i in [0, n - 1] + [rnd.randrange(n) for _ in range(98)]:
        v = r.cmd("GET", "key:%d" % i)
        if v != value(i):
            print("BAD key:%d holds %r, want %r" % (i, v, value(i)))
            return 1
    keys, cursor = set(), b"0"
    while True:
        cursor, batch = r.cmd("SCAN", cursor, "COUNT", 1000)
        keys.update(batch)
        if cursor == b"0":
            break
    keys = sorted(keys)
    pairs = []
    for lo in range(0, len(keys), 500):
        chunk = keys[lo:lo + 500]
        pairs.extend(zip(chunk, r.cmd("MGET", *chunk)))
    got = digest_of(pairs)
    want = digest_of([(b"key:%d" % i, value(i)) for i in range(n)])
    if got != want:
        print("BAD digest over %d keys is %s, want %s" % (len(keys), got, want))
        return 1
    print("OK dbsize=%d digest=%s" % (size, got))
    return 0


def do_rw(r):
    k = "fresh:%d" % os.getpid()
    ok = r.cmd("SET", k, "x" * 100) == "OK" and r.cmd("GET", k) == b"x" * 100 and r.cmd("DEL", k) == 1
    print("OK read-write" if ok else "BAD SET/GET/DEL of a fresh key failed")
    return 0 if ok else 1


def do_hold(r, ready):
    if r.cmd("PING") != "PONG":
        print("BAD no PONG")
        return 1
    r.s.settimeout(None)
    with open(ready, "w") as f:
        f.write("%d\n" % os.getpid())
    try:
        d = r.s.recv(1)
        print("closed: EOF" if not d else "closed: unexpected data %r" % d, flush=True)
    except OSError as e:
        print("closed: %s" % e, flush=True)
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__ or "usage: redis_client.py ADDR CMD [ARG]", file=sys.stderr)
        return 2
    addr, what = argv[1], argv[2]
    try:
        r = Redis(addr)
    except OSError as e:
        print("BAD cannot connect to %s: %s" % (addr, e))
        return 2
    try:
        if what == "ping":
            ok = r.cmd("PING") == "PONG"
            print("OK PONG" if ok else "BAD no PONG")
            return 0 if ok else 1
        if what == "load":
            return do_load(r, int(argv[3]))
        if what == "check":
            return do_check(r, int(argv[3]))
        if what == "rw":
            return do_rw(r)
        if what == "clients":
            n = len([l for l in r.cmd("CLIENT", "LIST").decode().splitlines() if l.strip()])
            print("clients=%d" % n)
            return 0
        if what == "hold":
            return do_hold(r, argv[3])
    except (OSError, ConnectionError, RuntimeError) as e:
        print("BAD %s: %s" % (addr, e))
        return 1
    print("unknown command " + what, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
