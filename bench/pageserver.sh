#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/pageserver.sh BUILD_DIR [SIZE_MIB]
#
# Page-server throughput relative to raw loopback TCP, both measured in this run:
#   raw   — SIZE_MIB streamed through a loopback TCP socket pair (python3, 1 MiB sends, the
#           receiver discards), timed at the receiver from accept to EOF;
#   ferry — `ferry dump` of a memhog holding SIZE_MIB to `ferry page-server` on loopback, images
#           into a tmpfs (/dev/shm), timed from the start of the dump to its end (freeze, scan,
#           copy, send, fsync and the server's final OK included). With a token, so every frame
#           is sealed (AES-256-GCM) as in production; BENCH_PS_INSECURE=1 measures --insecure.
# Prints both rates and ferry/raw (target ≥ 0.8). Default size 1024 MiB; BENCH_REPEAT runs (3),
# the best of each kept. Needs root. Exit 1 when a dump fails or the restored memory is corrupt.
set -u
die() { echo "pageserver bench: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [SIZE_MIB]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
SIZE=${2:-1024}
REPEAT=${BENCH_REPEAT:-3}
FERRY=$BUILD/src/ferry
MEMHOG=$BUILD/bench/memhog
[ -x "$FERRY" ] && [ -x "$MEMHOG" ] || die "build first (make)"
[ "$(id -u)" = 0 ] || die "must run as root"
WORK=$(mktemp -d /dev/shm/ferry-psbench.XXXXXX) || die "no tmpfs at /dev/shm"
head -c 32 /dev/urandom | base64 >"$WORK/token"
AUTH=(--token-file "$WORK/token"); CAUTH=("${AUTH[@]}")
[ "${BENCH_PS_INSECURE:-0}" = 1 ] && { AUTH=(--insecure); CAUTH=(); }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT
port() { echo $((20000 + RANDOM % 20000)); }
listening() { local e=$((SECONDS + 10)); until ss -ltnH "sport = :$1" | grep -q .; do [ $SECONDS -ge $e ] && return 1; sleep 0.02; done; }

# raw_tcp MIB: seconds to stream MIB MiB through loopback TCP
raw_tcp() {
	python3 - "$1" "$(port)" <<'EOF'
import os, socket, sys, time
mib, port = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1)
if os.fork() == 0:
    s = socket.create_connection(("127.0.0.1", port))
    buf = memoryview(bytearray(os.urandom(1 << 20)))
    for _ in range(mib):
        s.sendall(buf)
    s.close(); os._exit(0)
c, _ = ls.accept(); t0 = time.monotonic()
buf = bytearray(1 << 20); mv = memoryview(buf); got = 0
while True:
    n = c.recv_into(mv)
    if not n: break
    got += n
dt = time.monotonic() - t0
os.wait()
assert got == mib << 20, got
print(f"{dt:.4f}")
EOF
}

# ferry_ps MIB: seconds for `ferry dump` of a memhog of MIB MiB through the page server
ferry_ps() {
	local mib=$1 p d srv hog t0 t1
	p=$(port); d=$WORK/run; rm -rf "$d"; mkdir -p "$d"
	"$FERRY" page-server --address 127.0.0.1 --port "$p" -D "$d/srv" -v3 "${AUTH[@]}" </dev/null >"$d/server.log" 2>&1 &
	srv=$!; PIDS+=("$srv")
	listening "$p" || die "page server does not listen"
	"$MEMHOG" "$mib" "$d/ready" </dev/null >/dev/null 2>&1 &
	hog=$!; PIDS+=("$hog")
	while [ ! -e "$d/ready" ]; do sleep 0.05; done
	t0=$(date +%s.%N)
	"$FERRY" dump -t "$hog" -D "$d/local" --page-server --address 127.0.0.1 --port "$p" "${CAUTH[@]}" \
		</dev/null >"$d/dump.err" 2>&1 || { cat "$d/dump.err" >&2; die "dump failed"; }
	t1=$(date +%s.%N)
	wait "$srv" || die "page server failed: $(tail -n 3 "$d/server.log")"
	wait "$hog" 2>/dev/null
	# the image restores and memhog finds its memory intact
	"$FERRY" restore -D "$d/srv" -d >"$d/restore.err" 2>&1 || die "restore failed: $(tail -n 3 "$d/restore.err")"
	kill -TERM "$hog"
	local e=$((SECONDS + 60))
	while [ ! -e "$d/ready.result" ] && [ $SECONDS -lt $e ]; do sleep 0.1; done
	grep -q '^OK' "$d/ready.result" 2>/dev/null || die "restored memhog: $(cat "$d/ready.result" 2>/dev/null)"
	sed -n 's/.*image complete: .* in \([0-9.]*\) s .*/\1/p' "$d/server.log" >>"$WORK/stream.times"
	echo "$t1 - $t0" | bc -l
}

best() { printf '%s\n' "$@" | sort -g | head -n 1; }
raw=(); fer=()
for _ in $(seq "$REPEAT"); do
	raw+=("$(raw_tcp "$SIZE")") || die "raw TCP run failed"
	fer+=("$(ferry_ps "$SIZE")") || exit 1
done
r=$(best "${raw[@]}"); f=$(best "${fer[@]}")
printf 'raw loopback TCP: %d MiB in %.3f s = %.0f MiB/s (runs: %s)\n' "$SIZE" "$r" "$(echo "$SIZE / $r" | bc -l)" "${raw[*]}"
s=$(best $(cat "$WORK/stream.times"))
printf 'ferry page server: %d MiB dump in %.3f s = %.0f MiB/s (runs: %s)\n' "$SIZE" "$f" "$(echo "$SIZE / $f" | bc -l)" "${fer[*]}"
printf '  of which the stream (first BEGIN to CLOSE at the server): %.3f s = %.0f MiB/s\n' "$s" "$(echo "$SIZE / $s" | bc -l)"
printf 'ratio ferry/raw: %.2f whole dump, %.2f stream (target >= 0.8)\n' "$(echo "$r / $f" | bc -l)" "$(echo "$r / $s" | bc -l)"
