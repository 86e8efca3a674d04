# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy for one connection that flips one byte of the client-to-server stream.

    flip-proxy.py LISTEN_PORT SERVER_PORT OFFSET

Everything is forwarded as is, except the byte at OFFSET (counted from the start of what the
client sends), which is XORed with 0x5a. Used by tests/transport/run.sh.
"""
import select
import socket
import sys


def forward_rest(src, dst):
    """One side closed: pass on what the other still says (an ERROR frame), then stop."""
    src.settimeout(2)
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                return
            dst.sendall(data)
    except OSError:
        return


def main():
    lport, sport, offset = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(1)
    cl, _ = ls.accept()
    sv = socket.create_connection(("127.0.0.1", sport))
    seen = 0
    peers = {cl: sv, sv: cl}
    while True:
        r, _, _ = select.select([cl, sv], [], [], 60)
        if not r:
            return
        for s in r:
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                peers[s].shutdown(socket.SHUT_WR)
                forward_rest(peers[s] if s is cl else s, cl if s is sv else sv)
                return
            if s is cl and seen <= offset < seen + len(data):
                b = bytearray(data)
                b[offset - seen] ^= 0x5A
                data = bytes(b)
                print("flipped byte", offset, flush=True)
            if s is cl:
                seen += len(data)
            try:
                peers[s].sendall(data)
            except OSError:
                return


if __name__ == "__main__":
    main()
