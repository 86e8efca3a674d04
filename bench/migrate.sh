#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/migrate.sh BUILD_DIR [MIB]
#
# Live migration between two simulated hosts (namespaces joined by a veth pair,
# tests/migrate/nodes.sh): a process holding MIB MiB (default 1024) that keeps writing
# BENCH_RATE MiB/s (default 20) is migrated cold and with pre-copy. For each mode: downtime,
# total time, total time as a ratio to the time the same bytes take raw over the same link
# (measured in the same run), bytes sent as a ratio to the process's memory, and rounds. The
# migrated process checks every page at the destination (a lost page fails the run).
# The destination receives into a tmpfs of its own.
#
# Environment: BENCH_RATE (MiB/s written), BENCH_MODES (default "cold precopy"),
# BENCH_JSON (default BUILD_DIR/bench-migrate.json). Needs root. Exit 1 on any failure.
set -u
die() { echo "bench/migrate: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [MIB]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
MIB=${2:-1024}
RATE=${BENCH_RATE:-20}
MODES=${BENCH_MODES:-cold precopy}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY=$BUILD/src/ferry
WRITER=$BUILD/tests/migrate_writer
JSON_OUT=${BENCH_JSON:-$BUILD/bench-migrate.json}
[ -x "$FERRY" ] && [ -x "$WRITER" ] || die "build first (make)"
[ "$(id -u)" = 0 ] || die "must run as root"
avail=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
[ "$avail" -gt $((MIB * 4)) ] || die "needs about $((MIB * 4)) MiB of free memory ($avail available): give a smaller MIB"

# shellcheck source=tests/migrate/nodes.sh
. "$ROOT/tests/migrate/nodes.sh"
W=$(mktemp -d /tmp/ferry-bench-migrate.XXXXXX)
trap 'node_destroy_all; rm -rf "$W"' EXIT
head -c 32 /dev/urandom >"$W/token"

nodes() {
	node_destroy_all
	node_create A 10.79.0.1/24 && node_create B 10.79.0.2/24 && node_link A B || die "cannot create the nodes"
	mkdir -p "$W/recv"
	node_exec B mount -t tmpfs -o size=$((MIB * 2 + 256))m none "$W/recv" || die "tmpfs"
}

# The raw link: MIB MiB sent over TCP from A to B, in seconds.
raw_link() {
	nodes
	(node_spawn B python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.79.0.2", 7100)); s.listen(1); c, _ = s.accept()
while c.recv(1 << 20): pass
' >/dev/null 2>&1)
	sleep 0.5
	node_exec A python3 -c '
import socket, sys, time
n = int(sys.argv[1]) << 20; buf = bytes(1 << 20)
s = socket.create_connection(("10.79.0.2", 7100)); t = time.monotonic()
for _ in range(n >> 20): s.sendall(buf)
s.shutdown(socket.SHUT_WR); s.recv(1); print("%.4f" % (time.monotonic() - t))
' "$MIB"
}

one_mode() {
	local mode=$1 d=$W/$1 tp e
	mkdir -p "$d"
	nodes
	node_exec A sh -c 'echo 4999 > /proc/sys/kernel/ns_last_pid'
	(node_spawn A env ZDTM_DIR="$d" FERRY_WRITER_MIB="$MIB" WRITER_RATE="$RATE" \
		sh -c 'exec setsid "$1" </dev/null >"$ZDTM_DIR/test.out" 2>&1' sh "$WRITER")
	e=$((SECONDS + 120))
	until [ -s "$d/ready" ]; do [ $SECONDS -ge $e ] && die "$mode: the writer did not start"; sleep 0.1; done
	tp=$(cat "$d/ready")
	sleep 2	# let it write for a while
	(node_spawn B "$FERRY" serve --listen 10.79.0.2:7000 --token-file "$W/token" -D "$W/recv/$mode" -v4 \
		>"$d/serve.out" 2>&1)
	e=$((SECONDS + 10))
	until node_exec B ss -ltnH 'sport = :7000' | grep -q .; do [ $SECONDS -ge $e ] && die "serve"; sleep 0.05; done
	node_exec A "$FERRY" migrate -t "$tp" --to 10.79.0.2:7000 --token-file "$W/token" --mode "$mode" \
		--stats-json "$d/stats.json" >"$d/migrate.out" 2>&1 || { cat "$d/migrate.out" >&2; die "$mode: ferry migrate failed"; }
	node_exec B kill -TERM "$tp"
	e=$((SECONDS + 60))
	until grep -q '^PASS\|^FAIL' "$d/test.out" 2>/dev/null; do [ $SECONDS -ge $e ] && die "$mode: no verdict"; sleep 0.1; done
	grep -q '^PASS' "$d/test.out" || { cat "$d/test.out" >&2; die "$mode: the migrated process found its memory changed"; }
	cp "$d/stats.json" "$W/stats-$mode.json"
	cp "$d/serve.out" "$BUILD/bench-migrate-$mode-serve.log"	# the destination side, with its timings
}

raw=$(raw_link) || die "raw link measurement failed"
echo "raw link: $MIB MiB in $raw s"
for m in $MODES; do
	echo "migrating $MIB MiB writing $RATE MiB/s: $m..."
	one_mode "$m"
done
python3 - "$W" "$MIB" "$RATE" "$raw" "$JSON_OUT" $MODES <<'PY'
import json, sys
w, mib, rate, raw, out, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6:]
res = {"mib": mib, "write_mib_s": rate, "raw_link_s": raw, "modes": {}}
print("%-8s %12s %10s %14s %14s %7s" % ("mode", "downtime ms", "total ms", "total/raw", "bytes/memory", "rounds"))
for m in modes:
    s = json.load(open("%s/stats-%s.json" % (w, m)))
    r = {"downtime_ms": s["downtime_ms"], "total_ms": s["total_ms"], "total_vs_raw": s["total_ms"] / 1000 / raw,
         "bytes_vs_memory": s["bytes_sent"] / (mib << 20), "rounds": s["rounds"], "round_stats": s["round_stats"]}
    res["modes"][m] = r
    print("%-8s %12.1f %10.1f %14.2f %14.2f %7d" % (m, r["downtime_ms"], r["total_ms"], r["total_vs_raw"],
                                                   r["bytes_vs_memory"], r["rounds"]))
json.dump(res, open(out, "w"), indent=2)
print("results: " + out)
PY
