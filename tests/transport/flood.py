# SPDX-License-Identifier: Apache-2.0
"""Everything that used to block the page server for everyone, at once.

    flood.py PORT STATUS_FILE [--idle N] [--drip] [--storm] [--seconds S] [--sources A,B…]

Opens N idle connections (they send nothing), with --drip one more that sends a HELLO one byte
every 0.25 s, and with --storm keeps connecting and going away like a port scanner (closing at
once, resetting, or sending junk first). The idle connections come from the --sources addresses
in turn (loopback addresses: all of 127/8 is), the drip from the first; the storm from 127.0.0.1. Writes STATUS_FILE when the idle and drip connections
are open ("ready"), and again on SIGUSR1 and at the end: how many are still open, and for each
one the server closed, after how many seconds. Runs for S seconds (default 60) or until SIGTERM.
Used by tests/transport/run.sh.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

stop = threading.Event()
lock = threading.Lock()
conns = []          # [socket, opened_at, closed_after or None]
storm_count = [0]


def watch(c):
    """Blocks until the server closes c; records when."""
    s, t0 = c[0], c[1]
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    else:
        return
    with lock:
        c[2] = round(time.monotonic() - t0, 3)


def open_conn(port, source):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    c = [s, time.monotonic(), None]
    with lock:
        conns.append(c)
    threading.Thread(target=watch, args=(c,), daemon=True).start()
    return s


def drip(s):
    data = wire.frame(wire.HELLO, 0, wire.hello(2))
    for b in data:
        if stop.wait(0.25):
            return
        try:
            s.send(bytes([b]))
        except OSError:
            return


def storm(port):
    i = 0
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 3 == 1:      # reset instead of closing
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif i % 3 == 2:    # junk, then go
                s.send(os.urandom(64))
            s.close()
            storm_count[0] += 1
        except OSError:
            pass
        i += 1
        time.sleep(0.002)


def write_status(path, state):
    with lock:
        st = {"state": state, "open": sum(1 for c in conns if c[2] is None),
              "closed_after": sorted(c[2] for c in conns if c[2] is not None), "storm": storm_count[0]}
    with open(path + ".tmp", "w") as f:
        json.dump(st, f)
    os.rename(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("status")
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--drip", action="store_true")
    ap.add_argument("--storm", action="store_true")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--sources", default="127.0.0.1")
    a = ap.parse_args()
    sources = a.sources.split(",")
    signal.signal(signal.SIGUSR1, lambda *_: write_status(a.status, "running"))
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for i in range(a.idle):
        open_conn(a.port, sources[i % len(sources)])
    if a.drip:
        threading.Thread(target=drip, args=(open_conn(a.port, sources[0]),), daemon=True).start()
    if a.storm:
        threading.Thread(target=storm, args=(a.port,), daemon=True).start()
    write_status(a.status, "ready")
    stop.wait(a.seconds)
    stop.set()
    write_status(a.status, "end")


if __name__ == "__main__":
    main()
