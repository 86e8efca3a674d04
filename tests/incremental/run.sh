#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Incremental checkpoints: pre-dump chains with dirty-page tracking, exactness of the tracking,
# tracking that leaves nothing in the process, lost tracking, merge, and a missing parent.
#   tests/incremental/run.sh BUILD_DIR      prints PASS/FAIL/SKIP lines (the runner counts them)
set -u
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
F=$BUILD/src/ferry
W=$BUILD/tests/incr_dirty
OUT=$ROOT/tests/out/incremental
PID=

# Not built is a failure (the runner builds first); python3 (which reads `ferry show` output) may
# be missing outside `make check`, which installs it: then the suite says so and skips.
[ -x "$F" ] && [ -x "$W" ] && [ -x "$BUILD/tests/incr_markers" ] && [ -x "$BUILD/tests/incr_shmtree" ] &&
	[ -x "$BUILD/tests/incr_racer" ] ||
	{ echo "FAIL incremental: not built (run make)"; exit 1; }
if ! python3 -c 'import json' 2>/dev/null; then
	[ "${FERRY_STRICT:-0}" = 1 ] && { echo "FAIL incremental: python3 is missing (make check installs it)"; exit 1; }
	echo "SKIP incremental: python3 is missing (it reads ferry show's JSON)"; exit 0
fi

cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; PID=; }
trap cleanup EXIT

start() {	# dir: start the workload, wait for it
	local dir=$1
	rm -rf "$dir" && mkdir -p "$dir"
	(
		for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
		exec setsid "$W" "$dir"
	) </dev/null >"$dir/out" 2>&1 &
	PID=$!
	PROG=${W##*/}
	for _ in $(seq 100); do [ -e "$dir/ready" ] && return 0; sleep 0.05; done
	return 1
}

round() {	# dir k: make the workload run round k and wait for it
	kill -USR1 "$PID"
	for _ in $(seq 200); do [ -e "$1/round-$2" ] && return 0; sleep 0.05; done
	return 1
}

restore_check() {	# dir img: restore, SIGTERM, expect PASS from the workload itself
	local dir=$1 img=$2 st
	"$F" restore -D "$img" >"$dir/restore.err" 2>&1 &
	local rp=$!
	for _ in $(seq 200); do
		grep -q "$PROG" "/proc/$PID/cmdline" 2>/dev/null && ! grep -q "^TracerPid:[[:space:]]*[1-9]" "/proc/$PID/status" && break
		sleep 0.05
	done
	kill -TERM "$PID" 2>/dev/null
	wait "$rp"; st=$?
	PID=
	[ "$st" = 0 ] && tail -n 1 "$dir/out" | grep -q PASS
}

# Stored pages of the area in an image's pagemap, as page indices, one per line.
stored_in_area() {	# img dir
	stored_by_task "$1" "$2" | awk -v p="$(cat "$2/pid")" '$1 == p { print $2 }' | sort -n -u
}

# Pages of the area stored in an image, per task: "PID PAGE" lines (page index in the area).
stored_by_task() {	# img dir
	local f
	for f in "$1"/pagemap-*.img; do
		"$F" show "$f"
	done | python3 -c '
import json, sys
area, n = map(int, open(sys.argv[1]).read().split())
dec = json.JSONDecoder()
text = sys.stdin.read()
pos = 0
def num(v): return int(v, 16) if isinstance(v, str) else v
while pos < len(text):
	while pos < len(text) and text[pos].isspace():
		pos += 1
	if pos >= len(text):
		break
	doc, pos = dec.raw_decode(text, pos)
	pm = doc["entry"]
	for e in pm.get("entries", []):
		if e.get("flags", 0):
			continue
		a = num(e["vaddr"])
		for k in range(e["nr_pages"]):
			p = (a - area) // 4096 + k
			if 0 <= p < n:
				print(pm["pid"], p)' "$2/area"
}

wait_gone() { for _ in $(seq 200); do [ -e "/proc/$1" ] || return 0; grep -q "^State:.*Z" "/proc/$1/status" 2>/dev/null && return 0; sleep 0.05; done; }

# t_chain [hash]: three rounds: pre-dump, pre-dump, dump; each increment holds exactly the pages
# written. With "hash": tracking by page hashes (the fallback without userfaultfd write-protect).
t_chain() {
	local mode=${1:-} t=incremental
	local d=$OUT/chain$mode
	[ -n "$mode" ] && t=incremental/hash && export FERRY_TRACK=hash
	start "$d" || { echo "FAIL $t/chain: the workload did not start"; return; }
	echo "$PID" >"$d/pid"
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem -o pre1.log 2>"$d/err" || { echo "FAIL $t/chain: pre-dump 1: $(tail -1 "$d/err")"; return; }
	round "$d" 1
	"$F" pre-dump -t "$PID" -D "$d/pre2" --prev-images-dir ../pre1 --track-mem 2>"$d/err" || { echo "FAIL $t/chain: pre-dump 2: $(tail -1 "$d/err")"; return; }
	round "$d" 2
	"$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre2 --track-mem 2>"$d/err" || { echo "FAIL $t/chain: dump: $(tail -1 "$d/err")"; return; }
	wait "$PID" 2>/dev/null
	if ! diff <(stored_in_area "$d/pre2" "$d") "$d/round-1" >"$d/diff1" || ! diff <(stored_in_area "$d/final" "$d") "$d/round-2" >"$d/diff2"; then
		echo "FAIL $t/exact: an increment does not hold exactly the pages written ($(cat "$d/diff1" "$d/diff2" | wc -l) lines differ)"
	else
		echo "PASS $t/exact ($(wc -l <"$d/round-1") and $(wc -l <"$d/round-2") pages written, exactly those stored)"
	fi
	"$F" image verify "$d/final" >"$d/verify" 2>&1 && echo "PASS $t/verify" || echo "FAIL $t/verify: $(tail -1 "$d/verify")"
	"$F" image merge "$d/final" "$d/merged" 2>"$d/err" && "$F" image verify "$d/merged" >/dev/null 2>&1 &&
		grep -q '"parent_dir"' <("$F" show "$d/merged/inventory.img") && echo "FAIL $t/merge: the merged image still names a parent" ||
		echo "PASS $t/merge"
	restore_check "$d" "$d/final" && echo "PASS $t/chain (pre-dump, pre-dump, dump, restore)" ||
		echo "FAIL $t/chain: restore: $(tail -2 "$d/restore.err" "$d/out" | tr '\n' ' ')"
	if [ -n "$mode" ]; then
		unset FERRY_TRACK
		[ ! -e "$d/pre1/track.img" ] && grep -q "tracking by page hashes" "$d/pre1/pre1.log" &&
			echo "PASS $t/no-holder (hash tracking keeps no holder and no userfaultfd)" ||
			echo "FAIL $t/no-holder: a tracking holder was started, or the log does not say hashes were used"
	fi
}

# serve DIR LOGDIR: a page server for one image into DIR; SRV and PORT set, 0 once it listens
serve() {
	PORT=$((20000 + RANDOM % 20000))
	"$F" page-server --address 127.0.0.1 --port "$PORT" -D "$1" -v4 --insecure </dev/null >"$2/server-${1##*/}.log" 2>&1 &
	SRV=$!
	for _ in $(seq 200); do ss -ltnH "sport = :$PORT" | grep -q . && return 0; sleep 0.05; done
	return 1
}

# remote_round DIR NAME [ARGS…]: a (pre-)dump of NAME to a page server into DIR/srv/NAME
remote_round() {
	local d=$1 name=$2 cmd=pre-dump
	shift 2
	[ "$name" = final ] && cmd=dump
	serve "$d/srv/$name" "$d" || { echo "page server for $name does not listen"; return 1; }
	"$F" $cmd -t "$PID" -D "$d/loc/$name" --track-mem --page-server --address 127.0.0.1 --port "$PORT" "$@" >/dev/null \
		2>"$d/err" || { echo "$cmd $name: $(tail -1 "$d/err")"; kill "$SRV"; return 1; }
	wait "$SRV" || { echo "page server for $name failed: $(tail -1 "$d/server-$name.log")"; return 1; }
}

t_remote_chain() {	# the same chain through page servers: each image lands whole on the server side
	local d=$OUT/remote-chain why
	start "$d" || { echo "FAIL incremental/remote-chain: the workload did not start"; return; }
	echo "$PID" >"$d/pid"
	why=$(remote_round "$d" pre1) && round "$d" 1 &&
		why=$(remote_round "$d" pre2 --prev-images-dir ../pre1) && round "$d" 2 &&
		why=$(remote_round "$d" final --prev-images-dir ../pre2) ||
		{ echo "FAIL incremental/remote-chain: $why"; cleanup; return; }
	wait "$PID" 2>/dev/null
	local pages; pages=$(ls "$d"/loc/*/pages-* 2>/dev/null)
	if [ -n "$pages" ]; then
		echo "FAIL incremental/remote-chain: page data was written locally: $pages"
	elif ! diff <(stored_in_area "$d/srv/pre2" "$d") "$d/round-1" >/dev/null ||
		! diff <(stored_in_area "$d/srv/final" "$d") "$d/round-2" >/dev/null; then
		echo "FAIL incremental/remote-chain: a remote increment does not hold exactly the pages written"
	elif ! "$F" image verify "$d/srv/final" >"$d/verify" 2>&1; then
		echo "FAIL incremental/remote-chain: verify: $(tail -1 "$d/verify")"
	elif restore_check "$d" "$d/srv/final"; then
		echo "PASS incremental/remote-chain (pre-dump, pre-dump, dump through page servers; exact increments; restored)"
	else
		echo "FAIL incremental/remote-chain: restore: $(tail -2 "$d/restore.err" "$d/out" | tr '\n' ' ')"
	fi
}

t_markers() {	# memory that changes with no write through the task's own page table entries
	local d=$OUT/markers
	W=$BUILD/tests/incr_markers start "$d" || { echo "FAIL incremental/markers: the workload did not start"; return; }
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem 2>"$d/err" && round "$d" 1 &&
		"$F" pre-dump -t "$PID" -D "$d/pre2" --track-mem --prev-images-dir ../pre1 2>>"$d/err" &&
		"$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre2 2>>"$d/err" ||
		{ echo "FAIL incremental/markers: dumps: $(tail -1 "$d/err")"; cleanup; return; }
	if restore_check "$d" "$d/final"; then
		echo "PASS incremental/markers (a dropped copy-on-write file page, a page written through a shared mapping, a sparse area)"
	else
		echo "FAIL incremental/markers: $(grep FAIL "$d/out" | head -3 | tr '\n' ' ') $(tail -1 "$d/restore.err")"
	fi
}

t_invisible() {	# tracking leaves no fd and no mapping in the process
	local d=$OUT/invisible
	start "$d" || { echo "FAIL incremental/invisible: the workload did not start"; return; }
	ls "/proc/$PID/fd" >"$d/fd.before"; cat "/proc/$PID/maps" >"$d/maps.before"
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem 2>"$d/err" || { echo "FAIL incremental/invisible: pre-dump: $(tail -1 "$d/err")"; cleanup; return; }
	ls "/proc/$PID/fd" >"$d/fd.after"; cat "/proc/$PID/maps" >"$d/maps.after"
	if diff -q "$d/fd.before" "$d/fd.after" >/dev/null && diff -q "$d/maps.before" "$d/maps.after" >/dev/null; then
		echo "PASS incremental/invisible (same descriptors and mappings after a tracked pre-dump)"
	else
		echo "FAIL incremental/invisible: the pre-dump left something in the process"
	fi
	local holder
	holder=$("$F" show "$d/pre1/track.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["holder_pid"])')
	cleanup
	for _ in $(seq 100); do [ -e "/proc/$holder" ] || break; sleep 0.05; done
	[ -e "/proc/$holder" ] && echo "FAIL incremental/holder: the tracking holder outlived the process" ||
		echo "PASS incremental/holder (the tracking holder left with the process)"
}

t_lost() {	# the holder dies between pre-dump and dump: the dump notices and copies everything
	local d=$OUT/lost
	start "$d" || { echo "FAIL incremental/lost: the workload did not start"; return; }
	echo "$PID" >"$d/pid"
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem 2>"$d/err" || { echo "FAIL incremental/lost: pre-dump: $(tail -1 "$d/err")"; cleanup; return; }
	local holder
	holder=$("$F" show "$d/pre1/track.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["holder_pid"])')
	kill -9 "$holder"
	round "$d" 1
	"$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre1 2>"$d/err" || { echo "FAIL incremental/lost: dump: $(tail -1 "$d/err")"; cleanup; return; }
	wait "$PID" 2>/dev/null
	local n
	n=$(stored_in_area "$d/final" "$d" | wc -l)
	if "$F" show "$d/final/stats-dump.img" | grep -q '"tracking_lost": true' && [ "$n" = "$(head -1 "$d/area" | cut -d' ' -f2)" ]; then
		echo "PASS incremental/lost-tracking (noticed; all $n pages of the area copied)"
	else
		echo "FAIL incremental/lost-tracking: $n pages of the area stored, stats: $("$F" show "$d/final/stats-dump.img" | tr -d '\n ')"
	fi
	restore_check "$d" "$d/final" && echo "PASS incremental/lost-tracking-restore" ||
		echo "FAIL incremental/lost-tracking-restore: $(tail -2 "$d/restore.err" | tr '\n' ' ')"
}

t_missing_parent() {	# a chain whose parent is gone is refused, and nothing is restored
	local d=$OUT/missing
	start "$d" || { echo "FAIL incremental/missing-parent: the workload did not start"; return; }
	local pid=$PID
	"$F" pre-dump -t "$PID" -D "$d/pre1" 2>"$d/err" && round "$d" 1 &&
		"$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre1 2>>"$d/err" || { echo "FAIL incremental/missing-parent: dumps: $(tail -1 "$d/err")"; cleanup; return; }
	wait "$PID" 2>/dev/null
	PID=
	rm -rf "$d/pre1"
	wait_gone "$pid"
	if "$F" restore -D "$d/final" >"$d/restore.err" 2>&1; then
		echo "FAIL incremental/missing-parent: restore succeeded without its parent"
	elif grep -q "pre1" "$d/restore.err" && [ ! -e "/proc/$pid" ]; then
		echo "PASS incremental/missing-parent ($(grep -o 'parent image.*' "$d/restore.err" | head -1))"
	else
		echo "FAIL incremental/missing-parent: $(tail -1 "$d/restore.err")"
	fi
}

# t_shared [transient]: a tree sharing 16 MiB of anonymous memory through a tracked chain. Each image
# stores the shared pages once (in the first task that maps them), and each increment exactly the
# pages written since — by uffd-wp in every mapping, or (transient: a child that came and went wrote
# too, which no tracking saw; zombie: the same child, not reaped yet) by hashes.
t_shared() {
	local mode=${1:-} t=incremental/shared${1:+-$1} d=$OUT/shared${1:+-$1} root why=
	rm -rf "$d" && mkdir -p "$d"
	(for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
	 exec setsid "$BUILD/tests/incr_shmtree" 16 4 "$d" $mode) </dev/null >"$d/out" 2>&1 &
	for _ in $(seq 200); do [ -e "$d/ready" ] && break; sleep 0.05; done
	[ -e "$d/ready" ] || { echo "FAIL $t: the workload did not start"; return; }
	PID=$(cat "$d/pid")
	PROG=incr_shmtree
	shround() { kill -USR1 "$PID"; for _ in $(seq 200); do [ -e "$d/round-$1.done" ] && return 0; sleep 0.05; done; return 1; }
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem -v4 -o pre1.log 2>"$d/err" && shround 1 &&
		"$F" pre-dump -t "$PID" -D "$d/pre2" --prev-images-dir ../pre1 --track-mem -v4 -o pre2.log 2>>"$d/err" && shround 2 &&
		"$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre2 --track-mem -v4 -o final.log 2>>"$d/err" ||
		{ echo "FAIL $t: dumps: $(tail -1 "$d/err")"; cleanup; return; }
	stored_by_task "$d/pre1" "$d" >"$d/pre1.stored"
	stored_by_task "$d/pre2" "$d" >"$d/pre2.stored"
	stored_by_task "$d/final" "$d" >"$d/final.stored"
	root=$PID
	local n
	n=$(head -1 "$d/area" | cut -d' ' -f2)
	if [ "$(cut -d' ' -f1 "$d/pre1.stored" | sort -u)" != "$root" ] || [ "$(wc -l <"$d/pre1.stored")" != "$n" ]; then
		why="the first pre-dump stores $(wc -l <"$d/pre1.stored") shared pages in tasks $(cut -d' ' -f1 "$d/pre1.stored" | sort -u | tr '\n' ' '), want $n once in $root"
	elif ! diff <(cut -d' ' -f2 "$d/pre2.stored" | sort -n) <(sort -n "$d/round-1") >/dev/null ||
		! diff <(cut -d' ' -f2 "$d/final.stored" | sort -n) <(sort -n "$d/round-2") >/dev/null; then
		why="an increment does not hold exactly the shared pages written ($(wc -l <"$d/pre2.stored") and $(wc -l <"$d/final.stored") stored, $(wc -l <"$d/round-1") and $(wc -l <"$d/round-2") written)"
	fi
	for p in $(cat "/proc/$PID/task/$PID/children" 2>/dev/null) $PID; do wait "$p" 2>/dev/null; done
	for _ in $(seq 100); do [ -e "/proc/$PID" ] || break; sleep 0.05; done
	if [ -n "$why" ]; then
		echo "FAIL $t: $why"
	else
		echo "PASS $t/exact (shared pages stored once; increments of $(wc -l <"$d/round-1") and $(wc -l <"$d/round-2") pages, exactly those written)"
	fi
	restore_check "$d" "$d/final" && echo "PASS $t/restore (pre-dump, pre-dump, dump, restore of the tree)" ||
		echo "FAIL $t/restore: $(tail -2 "$d/restore.err" "$d/out" | tr '\n' ' ')"
}

# t_racing: a writer that never stops (private and shared memory, first touches and rewrites) goes
# through pre-dump, pre-dump, dump while it writes; restored, every page holds its last write.
# Pre-dumps protect each VMA after the tree runs on again: this proves no write slips between.
t_racing() {
	local t=incremental/racing d=$OUT/racing
	rm -rf "$d" && mkdir -p "$d"
	(for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
	 exec setsid "$BUILD/tests/incr_racer" "$d") </dev/null >"$d/out" 2>&1 &
	PID=$!
	PROG=incr_racer
	for _ in $(seq 200); do [ -e "$d/ready" ] && break; sleep 0.05; done
	[ -e "$d/ready" ] || { echo "FAIL $t: the workload did not start"; cleanup; return; }
	"$F" pre-dump -t "$PID" -D "$d/pre1" --track-mem -v4 -o pre1.log 2>"$d/err" && sleep 0.2 &&
		"$F" pre-dump -t "$PID" -D "$d/pre2" --prev-images-dir ../pre1 --track-mem -v4 -o pre2.log 2>>"$d/err" &&
		sleep 0.2 && "$F" dump -t "$PID" -D "$d/final" --prev-images-dir ../pre2 -v4 -o final.log 2>>"$d/err" ||
		{ echo "FAIL $t: dumps: $(tail -1 "$d/err")"; cleanup; return; }
	for _ in $(seq 100); do [ -e "/proc/$PID" ] || break; sleep 0.05; done
	wait "$PID" 2>/dev/null
	if ! grep -q "written since the last dump" "$d/pre2/pre2.log" 2>/dev/null; then
		echo "FAIL $t: the second pre-dump did not use the tracking (see $d/pre2/pre2.log)"
	fi
	restore_check "$d" "$d/final" && echo "PASS $t (pre-dump, pre-dump, dump of a tree writing all along; restored, every page holds its last write)" ||
		echo "FAIL $t: $(tail -3 "$d/restore.err" "$d/out" | tr '\n' ' ')"
}

mkdir -p "$OUT"
t_racing
t_shared
t_shared transient
t_shared zombie
t_chain
t_chain hash
unset FERRY_TRACK
t_remote_chain
t_markers
t_invisible
t_lost
t_missing_parent
