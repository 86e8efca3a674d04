# SPDX-License-Identifier: Apache-2.0
"""Peers that are not the page server they should be.

    fakepeer.py client PORT   a client of protocol 1.0: sends its HELLO, prints the server's answer
    fakepeer.py liar PORT CASE  a client (of an --insecure server) that lies: CASE is short (a
                              file shorter than announced), totals (a CLOSE that miscounts), name
                              (a path for a file name), huge (a DATA frame over 8 MiB) or early (a
                              1 MiB DATA frame before the handshake); prints the server's answer
    fakepeer.py old           a server of protocol 1.0: answers a client's HELLO with its HELLO, then
                              an ERROR, as ferry releases before protocol 2 do
    fakepeer.py drip          a server that sends its HELLO one byte a second
    fakepeer.py mute          a server that answers HELLO (no token asked), then takes everything
                              and never answers

The servers listen on a free loopback port and print "port P" first. Used by tests/transport/run.sh.
"""
import time
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402


def describe(frames):
    for f in frames:
        if f.type == wire.HELLO:
            major, minor, caps = struct.unpack("<HHI", f.payload[:8])
            print("HELLO %d.%d caps %d" % (major, minor, caps))
        elif f.type == wire.ERROR:
            print("ERROR %d %s" % (struct.unpack("<I", f.payload[:4])[0], f.payload[4:].decode()))
        else:
            print("frame type %d" % f.type)


def client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(wire.frame(wire.HELLO, 0, wire.hello(1)))
    describe(wire.recv_frames(s, 2))


def liar(port, case):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    seq = [0]

    def send(ftype, payload=b"", file=0):
        s.sendall(wire.frame(ftype, seq[0], payload, file))
        seq[0] += 1

    if case == "early":     # a header only: the server must refuse before reading (or allocating) 1 MiB
        hdr = bytearray(wire.frame(wire.DATA, 0, b"", 1))
        hdr[8:12] = struct.pack("<I", 1 << 20)
        s.sendall(bytes(hdr))
    else:
        send(wire.HELLO, wire.hello(2))
    if case == "short":
        send(wire.BEGIN, struct.pack("<Q", 10) + b"core-1.img", 1)
        send(wire.DATA, b"12345", 1)
        send(wire.COMMIT, struct.pack("<Q", 5), 1)
    elif case == "totals":
        send(wire.BEGIN, struct.pack("<Q", 3) + b"core-1.img", 1)
        send(wire.DATA, b"abc", 1)
        send(wire.COMMIT, struct.pack("<Q", 3), 1)
        send(wire.CLOSE, struct.pack("<B3xIQ", 1, 2, 3))
    elif case == "name":
        send(wire.BEGIN, struct.pack("<Q", 3) + b"../../etc/x.img", 1)
    elif case == "huge":
        hdr = bytearray(wire.frame(wire.DATA, seq[0], b"", 1))
        hdr[8:12] = struct.pack("<I", 9 << 20)
        s.sendall(bytes(hdr))
    describe([f for f in wire.recv_frames(s, 2) if f.type != wire.HELLO])


def listen():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print("port %d" % ls.getsockname()[1], flush=True)
    return ls.accept()[0]


def drain(c, seconds):
    c.settimeout(seconds)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass


def drip():
    c = listen()
    for b in wire.frame(wire.HELLO, 0, wire.hello(2)):
        time.sleep(1)
        try:
            c.send(bytes([b]))
        except OSError:
            return


def mute():
    c = listen()
    describe(wire.recv_frames(c, 1))
    c.sendall(wire.frame(wire.HELLO, 0, wire.hello(2)))
    drain(c, 120)


def old():
    c = listen()
    peer = wire.recv_frames(c, 1)
    describe(peer)
    major = struct.unpack("<H", peer[0].payload[:2])[0] if peer else 0
    msg = "client speaks protocol %d.0, this ferry 1.0" % major
    c.sendall(wire.frame(wire.HELLO, 0, wire.hello(1)) +
              wire.frame(wire.ERROR, 1, struct.pack("<I", 93) + msg.encode()))
    drain(c, 2)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(int(sys.argv[2]))
    elif sys.argv[1] == "liar":
        liar(int(sys.argv[2]), sys.argv[3])
    else:
        {"old": old, "drip": drip, "mute": mute}[sys.argv[1]]()
