# SPDX-License-Identifier: Apache-2.0
"""An attacker on the path of one page-server session: a TCP proxy that tampers with what the
client sends, as an active attacker would, repairing every checksum so that only the seal can
tell.

    tamper-proxy.py MODE SERVER_PORT [N]

It listens on a free loopback port and prints "port P" first. MODE, applied to the client's Nth
DATA frame (default 3):
  pass        forward everything untouched
  corrupt     flip one bit of the frame's payload and leave the checksum wrong (line noise)
  flip        flip one bit of the payload, repair the checksum
  replay      send the frame twice, renumbering the copy and every later frame
  replay-raw  send the frame twice as it is
  drop        leave the frame out, renumbering every later frame
  reorder     send frame N+1 before frame N, their numbers swapped back into order
  stall       forward up to the frame, then hold everything the client sends (prints "stalled")
Everything the server sends is forwarded untouched. Used by tests/transport/run.sh.
"""
import os
import select
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402


class Tamper:
    def __init__(self, mode, nth):
        self.mode, self.nth, self.ndata, self.delta = mode, nth, 0, 0
        self.held = None
        self.stalled = False

    def frames(self, f):
        """What goes on for the client's frame f: a list of frames to send."""
        if self.stalled:
            return []
        if self.delta:
            f.seq += self.delta
        if f.type != wire.DATA:
            return [f]
        self.ndata += 1
        if self.held is not None:           # reorder: the next frame first, numbers swapped
            a, self.held = self.held, None
            a.seq, f.seq = f.seq, a.seq
            return [f, a]
        if self.ndata != self.nth:
            return [f]
        note("tampering (%s) with DATA frame #%d" % (self.mode, f.seq))
        if self.mode in ("flip", "corrupt"):
            p = bytearray(f.payload)
            p[len(p) // 2] ^= 0x10
            f.payload = bytes(p)
            if self.mode == "corrupt":     # the old checksum, which no longer matches
                return [("raw", f.encode(repair=False))]
            return [f]
        if self.mode == "replay":
            self.delta = 1
            copy = wire.Frame(f.encode())
            copy.seq += 1
            return [f, copy]
        if self.mode == "replay-raw":
            return [f, wire.Frame(f.encode())]
        if self.mode == "drop":
            self.delta = -1
            return []
        if self.mode == "reorder":
            self.held = f
            return []
        if self.mode == "stall":
            self.stalled = True
            note("stalled")
            return [f]
        return [f]


def note(msg):
    print(msg, flush=True)


def pump(cl, sv, tamper):
    cutter = wire.Cutter()
    while True:
        r, _, _ = select.select([cl, sv], [], [], 120)
        if not r:
            return
        for s in r:
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                return
            try:
                if s is sv:
                    cl.sendall(data)
                    continue
                for f in cutter.feed(data):
                    for g in tamper.frames(f):
                        sv.sendall(g[1] if isinstance(g, tuple) else g.encode())
            except OSError:
                return


def main():
    mode, sport = sys.argv[1], int(sys.argv[2])
    nth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    note("port %d" % ls.getsockname()[1])
    cl, _ = ls.accept()
    sv = socket.create_connection(("127.0.0.1", sport))
    pump(cl, sv, Tamper(mode, nth))
    note("done")
    # a last word from the server (its ERROR) still reaches the client
    sv.settimeout(2)
    try:
        while True:
            data = sv.recv(1 << 16)
            if not data:
                break
            cl.sendall(data)
    except OSError:
        pass


if __name__ == "__main__":
    main()
