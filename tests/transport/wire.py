# SPDX-License-Identifier: Apache-2.0
"""The image stream's framing (docs/PROTOCOL.md) for the transport tests' helpers: frame headers,
the XXH3 checksum (libxxhash through ctypes) and a reader that cuts a byte stream into frames.

    wire.py set-major EXPORT MAJOR OUT    rewrites the version in an export file's HELLO
"""
import ctypes
import ctypes.util
import struct
import sys

MAGIC = 0x57595246
HDR = 32
TAG = 16
SEALED = 0x1
HELLO, AUTH, OK, ERROR, BEGIN, DATA, COMMIT, ABORT, REMOVE, CLOSE = range(1, 11)

_xx = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
_xx.XXH3_64bits.restype = ctypes.c_uint64
_xx.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_xx.XXH3_64bits_withSeed.restype = ctypes.c_uint64
_xx.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]


def checksum(hdr24, payload):
    return _xx.XXH3_64bits_withSeed(payload, len(payload), _xx.XXH3_64bits(hdr24, 24))


class Frame:
    """One frame as it travels: header fields, payload (ciphertext if sealed) and tag."""

    def __init__(self, raw):
        magic, self.type, self.flags, _, self.len, self.seq, self.file, _, self.sum = struct.unpack(
            "<IBBHIIIIQ", raw[:HDR])
        assert magic == MAGIC, "not a ferry frame"
        self.payload = raw[HDR:HDR + self.len]
        self.tag = raw[HDR + self.len:]

    @staticmethod
    def size(hdr):
        """Bytes of the whole frame whose header is hdr."""
        flags, length = hdr[5], struct.unpack("<I", hdr[8:12])[0]
        return HDR + length + (TAG if flags & SEALED else 0)

    def encode(self, repair=True):
        h = struct.pack("<IBBHIIII", MAGIC, self.type, self.flags, 0, len(self.payload), self.seq, self.file, 0)
        s = checksum(h, bytes(self.payload)) if repair else self.sum
        return h + struct.pack("<Q", s) + bytes(self.payload) + bytes(self.tag)


def frame(ftype, seq, payload=b"", file=0):
    f = Frame(struct.pack("<IBBHIIIIQ", MAGIC, ftype, 0, 0, 0, seq, 0, 0, 0))
    f.payload, f.file = payload, file
    return f.encode()


def hello(major, minor=0, caps=0, nonce=b"\x01" * 32):
    return struct.pack("<HHI", major, minor, caps) + nonce


class Cutter:
    """Feeds bytes in, takes whole frames out."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= HDR:
            n = Frame.size(self.buf)
            if len(self.buf) < n:
                break
            out.append(Frame(self.buf[:n]))
            self.buf = self.buf[n:]
        return out


def recv_frames(sock, count, timeout=10):
    """Up to count frames from sock (fewer if it closes)."""
    sock.settimeout(timeout)
    c, got = Cutter(), []
    while len(got) < count:
        data = sock.recv(65536)
        if not data:
            break
        got += c.feed(data)
    return got


def set_major(path, major, out):
    data = open(path, "rb").read()
    f = Frame(data[:Frame.size(data)])
    assert f.type == HELLO
    f.payload = struct.pack("<H", major) + f.payload[2:]
    open(out, "wb").write(f.encode() + data[Frame.size(data):])


if __name__ == "__main__" and sys.argv[1] == "set-major":
    set_major(sys.argv[2], int(sys.argv[3]), sys.argv[4])
