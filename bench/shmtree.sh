#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/shmtree.sh BUILD [MIB] [NCHILD] [transient]: a postgres-like tree (a parent with MIB (256) MiB of
# MAP_SHARED|MAP_ANONYMOUS memory and NCHILD (8) children that read all of it and each write their
# slice) through a tracked chain: pre-dump, pre-dump, dump. For each step: the time the tree was
# frozen and the bytes of pages written, next to a plain full dump of the same tree in the same run
# (ratio = bytes / full dump's bytes). The restored tree then checks every page. With "transient",
# a child that comes and goes also writes each round (found by page hashes, not write-protect).
# FERRY=path overrides the ferry binary (to compare another build).
set -u
BUILD=$(cd "${1:?usage: shmtree.sh BUILD [MIB] [NCHILD]}" && pwd)
MIB=${2:-256}
NCHILD=${3:-8}
MODE=${4:-}
F=${FERRY:-$BUILD/src/ferry}
PROG=$BUILD/bench/shmtree
W=$(mktemp -d /tmp/ferry-bench-shm.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" $(cat "/proc/$PID/task/$PID/children" 2>/dev/null) 2>/dev/null
	mountpoint -q "$W/img" && umount "$W/img"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/img" && mount -t tmpfs -o size=$((MIB * (NCHILD + 4) * 2 + 1024))m none "$W/img" || { echo "bench-shmtree: cannot mount a tmpfs"; exit 1; }
[ -x "$PROG" ] || { echo "bench-shmtree: $PROG is not built"; exit 1; }

start() {
	rm -f "$W"/ready "$W"/round-* "$W/pid"
	(for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
	 exec setsid "$PROG" "$MIB" "$NCHILD" "$W" $MODE) </dev/null >"$W/out" 2>&1 &
	while [ ! -e "$W/ready" ]; do sleep 0.05; done
	PID=$(cat "$W/pid")
}
round() {
	kill -USR1 "$PID"
	while [ ! -e "$W/round-$1.done" ]; do sleep 0.05; done
}
# stats DIR: frozen ms, bytes written
stats() {
	"$F" show "$1/stats-dump.img" | python3 -c 'import json,sys; e=json.load(sys.stdin)["entry"]; print("%.1f %d" % (int(e.get("frozen_us",0))/1000, int(e.get("bytes_written",0))))'
}
kill_tree() {
	local kids
	kids=$(cat "/proc/$PID/task/$PID/children" 2>/dev/null)
	kill -9 "$PID" $kids 2>/dev/null
	wait "$PID" 2>/dev/null
	for p in $PID $kids; do while [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; do sleep 0.05; done; done
	PID=
}

start
"$F" dump -t "$PID" -D "$W/img/full" -R >/dev/null 2>"$W/err" || { echo "full dump failed: $(tail -1 "$W/err")"; exit 1; }
read -r full_ms full_b < <(stats "$W/img/full")
kill_tree
rm -rf "$W/img/full"

start
"$F" pre-dump -t "$PID" -D "$W/img/pre1" --track-mem >/dev/null 2>"$W/err" || { echo "pre-dump 1 failed: $(tail -1 "$W/err")"; exit 1; }
round 1
"$F" pre-dump -t "$PID" -D "$W/img/pre2" --prev-images-dir ../pre1 --track-mem >/dev/null 2>"$W/err" || { echo "pre-dump 2 failed: $(tail -1 "$W/err")"; exit 1; }
round 2
"$F" dump -t "$PID" -D "$W/img/final" --prev-images-dir ../pre2 --track-mem >/dev/null 2>"$W/err" || { echo "dump failed: $(tail -1 "$W/err")"; exit 1; }
for p in $PID $(cat "/proc/$PID/task/$PID/children" 2>/dev/null); do wait "$p" 2>/dev/null; done
pages_written=$(($(wc -l <"$W/round-1") + $(wc -l <"$W/round-2")))
printf 'Shared memory through a tracked chain: %d MiB MAP_SHARED|MAP_ANONYMOUS, %d children%s (%d pages rewritten in 2 rounds)\n' \
	"$MIB" "$NCHILD" "${MODE:+, $MODE writers}" "$pages_written"
printf '  %-22s frozen %8.1f ms  written %10.1f MiB  ratio %.3f\n' "full dump (reference)" "$full_ms" \
	"$(echo "$full_b / 1048576" | bc -l)" 1
for s in pre1 pre2 final; do
	read -r ms b < <(stats "$W/img/$s")
	printf '  %-22s frozen %8.1f ms  written %10.1f MiB  ratio %.3f\n' "$s" "$ms" "$(echo "$b / 1048576" | bc -l)" \
		"$(echo "$b / $full_b" | bc -l)"
done
sleep 0.5
"$F" restore -D "$W/img/final" -d >/dev/null 2>"$W/err" || { echo "restore failed: $(tail -1 "$W/err")"; exit 1; }
PID=$(cat "$W/pid")
kill -TERM "$PID"
for _ in $(seq 200); do grep -q . "$W/out" && break; sleep 0.05; done
echo "  the restored tree: $(tail -n 1 "$W/out")"
PID=
[ "$(tail -n 1 "$W/out")" = PASS ]
