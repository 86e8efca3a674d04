#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Images at rest: the image directory cannot be turned against root (ownership, modes, links,
# FIFOs and devices in place of files), every file carries its dump's identity (mixed, renamed,
# foreign-parent and old-format files refused), image verify covers encoded images and every file
# of every parent, large contents stream (memfd, sparse deleted file, SysV) through compression
# and encryption, a killed encrypted restore leaves no plaintext anywhere, killed or failed dumps
# leave no temporaries, checks over 150,000 entries stay fast, and the inventory is written only
# after everything else is on disk.
#
#   tests/images/run.sh [--build] DIR [--filter REGEX]
#
# One `PASS images/name`, `FAIL images/name: reason` or `SKIP images/name: reason` line per test.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=images
# shellcheck source=tests/lib/suite.sh
. "$ROOT/tests/lib/suite.sh"
suite_args "$@"
BIGIMG=$BUILD/tests/images_bigimg

gone() { ! alive "$1"; }
ours() { case $(readlink -f "/proc/$1/exe" 2>/dev/null) in "$BUILD"/*) return 0 ;; esac; return 1; }
kill_test() {	# stop the test program (our child, or a restored one) and wait until its PID is free
	[ -n "${TPID:-}" ] || return 0
	ours "$TPID" && kill -KILL "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
}

# dump NAME IMG ARGS...: dump TPID; 0 on success, else reports
dump() {
	local name=$1 img=$2
	shift 2
	mkdir -p "$(dirname "$img")"
	if ! timeout 120 "$FERRY" dump -t "$TPID" -D "$img" -v4 "$@" </dev/null >"$img.dump.err" 2>&1; then
		fail "$name" "ferry dump $* failed" "$img.dump.err" "$img/dump.log"
		return 1
	fi
	case " $* " in *" -R "*) ;; *) wait_for 10 gone "$TPID"; wait "$TPID" 2>/dev/null ;; esac
	return 0
}

# refused NAME WANT CMD...: CMD must fail within 20 s, saying WANT on stderr (into $OUT/NAME.err)
refused() {
	local name=$1 want=$2 rc
	shift 2
	timeout 20 "$@" </dev/null >"$OUT/$name.out" 2>"$OUT/$name.err"
	rc=$?
	if [ $rc = 0 ]; then
		fail "$name" "$(basename "$1") $2 succeeded" "$OUT/$name.err"
	elif [ $rc = 124 ]; then
		fail "$name" "$(basename "$1") $2 hung (killed after 20 s)"
	elif ! grep -qF -- "$want" "$OUT/$name.err"; then
		fail "$name" "$(basename "$1") $2 failed, but does not say '$want'" "$OUT/$name.err"
	else
		return 0
	fi
	return 1
}

mode_of() { stat -c %a "$1"; }
KEY=$OUT/key
VICTIM=$OUT/victim
mkdir -p "$OUT"
exec 2>>"$OUT/runner.log"
head -c 32 /dev/urandom >"$KEY"

victim_intact() { [ "$(cat "$VICTIM" 2>/dev/null)" = "precious" ] && [ "$(stat -c %h "$VICTIM")" -le 2 ]; }
new_victim() { rm -f "$VICTIM"; echo precious >"$VICTIM"; chmod 644 "$VICTIM"; }

# ---------------------------------------------------------------- the image directory

dir_created_private() {
	local n=dir-created-0700 d=$OUT/dir-created-0700
	selected $n || return 0
	start sleeping "$d" || { fail $n "sleeping did not start" "$d/test.out"; return; }
	dump $n "$d/a/b/img" || return
	if [ "$(mode_of "$d/a/b/img")" != 700 ]; then
		fail $n "-D was created with mode $(mode_of "$d/a/b/img"), not 700"
	elif [ -n "$(find "$d/a/b/img" -name '*.log' ! -perm 600)" ]; then
		fail $n "a log is not mode 600: $(find "$d/a/b/img" -name '*.log' -printf '%m %p ')"
	else
		pass "$n"
	fi
	kill_test
}

# An existing -D owned by another user, or writable by others, is refused with the fix.
dir_refused() {
	local n=$1 how=$2 want=$3 d=$OUT/$1
	selected "$n" || return 0
	start sleeping "$d" || { fail "$n" "sleeping did not start" "$d/test.out"; return; }
	mkdir -p "$d/img"
	case $how in
	other-owner) chown 65534 "$d/img" ;;
	world) chmod 1777 "$d/img" ;;
	group) chmod 770 "$d/img" ;;
	link) rmdir "$d/img"; mkdir -p -m 700 "$d/target"; ln -s "$d/target" "$d/img"; chown -h 65534 "$d/img" ;;
	esac
	if refused "$n" "$want" "$FERRY" dump -t "$TPID" -D "$d/img" -R; then
		if ! running_free "$TPID"; then
			fail "$n" "the process is not running freely after the refused dump"
		elif [ -n "$(ls -A "$d/img/" 2>/dev/null)" ]; then
			fail "$n" "the refused dump left files: $(ls -A "$d/img/" | head -3)"
		else
			pass "$n ($(cut -c1-100 "$OUT/$n.err" | head -n 1))"
		fi
	fi
	kill_test
}

# Links planted where ferry writes: logs, the old temporary names, image names, pidfile, stats.
links_not_followed() {
	local n=links-not-followed d=$OUT/links-not-followed pid
	selected $n || return 0
	start sleeping "$d" || { fail $n "sleeping did not start" "$d/test.out"; return; }
	new_victim
	pid=$TPID
	mkdir -p -m 700 "$d/img"
	ln -s "$VICTIM" "$d/img/dump.log"
	ln -s "$VICTIM" "$d/img/.core-$pid.img.tmp"
	ln -s "$VICTIM" "$d/img/.pages-$pid.img.tmp"
	ln -s "$VICTIM" "$d/img/core-$pid.img"
	ln -s "$VICTIM" "$d/img/restore.log"
	ln "$VICTIM" "$d/img/hard.log"
	ln -s "$VICTIM" "$d/stats.json"
	ln -s "$VICTIM" "$d/pid"
	if ! timeout 60 "$FERRY" dump -t "$pid" -D "$d/img" --stats-json "$d/stats.json" </dev/null >"$d/dump.err" 2>&1; then
		fail $n "the dump failed" "$d/dump.err"; kill_test; return
	fi
	wait_for 10 gone "$pid"; wait "$pid" 2>/dev/null
	if ! victim_intact; then fail $n "the dump wrote through a link planted in -D"; return; fi
	timeout 60 "$FERRY" dump -t 1 -D "$d/img2" -o "$d/img/hard.log" </dev/null >/dev/null 2>&1
	if ! victim_intact; then fail $n "-o wrote through a hard link"; return; fi
	if [ ! -f "$d/img/core-$pid.img" ] || [ -L "$d/img/core-$pid.img" ] || ! grep -q "no log file" "$d/dump.err"; then
		fail $n "the planted image name was not replaced, or the refused log went unmentioned" "$d/dump.err"; return
	fi
	if ! restore_check $n "$d" "$d/img" --pidfile "$d/pid" --stats-json "$d/stats.json"; then return; fi
	if ! victim_intact; then
		fail $n "restore, its pidfile or its statistics wrote through a link"
	elif [ -L "$d/pid" ] || [ "$(cat "$d/pid")" != "$pid" ] || [ -L "$d/stats.json" ]; then
		fail $n "the pidfile or stats.json was not replaced by the file itself"
	else
		pass "$n"
	fi
}

# A FIFO, a device or a symlink in place of an image file: every reader refuses it at once.
not_regular() {
	local n=not-regular d=$OUT/not-regular pid f name
	selected $n || return 0
	start sleeping "$d" || { fail $n "sleeping did not start" "$d/test.out"; return; }
	pid=$TPID
	dump $n "$d/img" || return
	for f in "core-$pid.img:fifo:is a FIFO" "fds-$pid.img:chr:is a character device" "mm-$pid.img:link:is a symlink" \
		"pages-$pid.img:fifo:is a FIFO"; do
		IFS=: read -r name kind want <<<"$f"
		rm -rf "$d/w" && cp -a "$d/img" "$d/w" && rm -f "$d/w/$name"
		case $kind in
		fifo) mkfifo "$d/w/$name" ;;
		chr) mknod "$d/w/$name" c 1 3 ;;
		link) ln -s "$d/img/$name" "$d/w/$name" ;;
		esac
		refused "$n" "$want" "$FERRY" restore -D "$d/w" || return
		refused "$n" "$want" "$FERRY" image verify "$d/w" || return
		refused "$n" "$want" "$FERRY" show "$d/w" || return
	done
	if alive "$pid"; then fail $n "a refused restore left a process at $pid"; kill_test; return; fi
	chmod 777 "$d/img"
	refused "$n" "writable by everyone" "$FERRY" restore -D "$d/img" || return
	chmod 700 "$d/img"
	pass "$n"
}

# ---------------------------------------------------------------- identity

identity() {
	local n=identity d=$OUT/identity pid f
	selected $n || return 0
	start pipe_data "$d" || { fail $n "pipe_data did not start" "$d/test.out"; return; }
	pid=$TPID
	dump $n "$d/a" -R && dump $n "$d/b" -R || { kill_test; return; }
	kill_test
	rm -rf "$d/w" && cp -a "$d/a" "$d/w" && cp "$d/b/fds-$pid.img" "$d/w/"
	refused $n "fds-$pid.img belongs to another dump" "$FERRY" restore -D "$d/w" || return
	refused $n "fds-$pid.img belongs to another dump" "$FERRY" image verify "$d/w" || return
	refused $n "fds-$pid.img belongs to another dump" "$FERRY" show "$d/w" || return
	refused $n "fds-$pid.img belongs to another dump" "$FERRY" image merge "$d/w" "$d/merged" || return
	rm -rf "$d/w" && cp -a "$d/a" "$d/w"
	printf '\x01' | dd of="$d/w/core-$pid.img" bs=1 seek=8 conv=notrunc status=none	# major 1
	refused $n "image format 1.0" "$FERRY" restore -D "$d/w" || return
	grep -q "older ferry" "$OUT/$n.err" || { fail $n "an old format is not named as such" "$OUT/$n.err"; return; }
	if alive "$pid"; then fail $n "a refused restore left a process at $pid"; return; fi
	# a dump into a directory holding an older image's files leaves none of them beside its own
	mkdir -p -m 700 "$d/c" && cp "$d/b/core-$pid.img" "$d/c/core-999999.img"
	start pipe_data "$d" || { fail $n "pipe_data did not restart" "$d/test.out"; return; }
	dump $n "$d/c" -R || { kill_test; return; }
	if [ -e "$d/c/core-999999.img" ] || ! "$FERRY" image verify "$d/c" >"$d/verify.out" 2>&1; then
		fail $n "an older image's file stayed beside the new one" "$d/verify.out"; kill_test; return
	fi
	kill_test
	restore_check $n "$d" "$d/c" && pass "$n"
}

# A chain whose parent was replaced by another image, or whose parent has a corrupt file.
chain_identity() {
	local n=chain d=$OUT/chain pid
	selected $n || return 0
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	pid=$TPID
	timeout 60 "$FERRY" pre-dump -t "$pid" -D "$d/p1" >"$d/p1.err" 2>&1 &&
		timeout 60 "$FERRY" pre-dump -t "$pid" -D "$d/other" >"$d/other.err" 2>&1 ||
		{ fail $n "pre-dump failed" "$d/p1.err" "$d/other.err"; kill_test; return; }
	dump $n "$d/d2" --prev-images-dir ../p1 || { kill_test; return; }
	"$FERRY" image verify "$d/d2" >"$d/verify.out" 2>&1 || { fail $n "verify of a good chain failed" "$d/verify.out"; return; }
	# a file restore never reads, in the parent: verify reads every file of every parent
	cp "$d/p1/stats-dump.img" "$d/stats.keep"
	printf '\xff\xff' | dd of="$d/p1/stats-dump.img" bs=1 seek=70 conv=notrunc status=none
	refused $n "stats-dump.img" "$FERRY" image verify "$d/d2" || return
	grep -q "parent image" "$OUT/$n.err" || { fail $n "the message does not say it is the parent" "$OUT/$n.err"; return; }
	cp "$d/stats.keep" "$d/p1/stats-dump.img"
	mv "$d/p1" "$d/p1.orig" && mv "$d/other" "$d/p1"
	refused $n "not the image" "$FERRY" restore -D "$d/d2" || return
	refused $n "not the image" "$FERRY" image verify "$d/d2" || return
	mv "$d/p1" "$d/other" && mv "$d/p1.orig" "$d/p1"
	restore_check $n "$d" "$d/d2" && pass "$n"
}

# ---------------------------------------------------------------- encoded images

verify_encoded() {
	local n=verify-encoded d=$OUT/verify-encoded f
	selected $n || return 0
	start deleted_file "$d" || { fail $n "deleted_file did not start" "$d/test.out"; return; }
	dump $n "$d/img" --compress zstd --encrypt-key "$KEY" || { kill_test; return; }
	"$FERRY" image verify "$d/img" --encrypt-key "$KEY" >"$d/verify.out" 2>&1 ||
		{ fail $n "verify with the key failed" "$d/verify.out"; return; }
	refused $n "is encrypted" "$FERRY" image verify "$d/img" || return
	"$FERRY" show --encrypt-key "$KEY" "$d/img" >"$d/show.json" 2>"$d/show.err" && grep -q '"entry"' "$d/show.json" ||
		{ fail $n "show with the key does not decode the files" "$d/show.err"; return; }
	f=$(ls "$d"/img/ghost-*.img | head -n 1)
	cp "$f" "$d/ghost.keep"
	flip_byte "$f" $(($(stat -c %s "$f") - 40))
	refused $n "$(basename "$f")" "$FERRY" image verify "$d/img" --encrypt-key "$KEY" || return
	cp "$d/ghost.keep" "$f"
	restore_check $n "$d" "$d/img" --encrypt-key "$KEY" && pass "$n"
}

# An encrypted chain restored, verified and merged in place (the merged image stays encrypted).
encoded_chain() {
	local n=encoded-chain d=$OUT/encoded-chain
	selected $n || return 0
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	timeout 60 "$FERRY" pre-dump -t "$TPID" -D "$d/p1" --compress lz4 --encrypt-key "$KEY" >"$d/p1.err" 2>&1 ||
		{ fail $n "pre-dump failed" "$d/p1.err"; kill_test; return; }
	dump $n "$d/d2" --prev-images-dir ../p1 --compress lz4 --encrypt-key "$KEY" || { kill_test; return; }
	"$FERRY" image verify "$d/d2" --encrypt-key "$KEY" >"$d/verify.out" 2>&1 &&
		"$FERRY" image merge "$d/d2" "$d/m" --encrypt-key "$KEY" >"$d/merge.out" 2>&1 ||
		{ fail $n "verify or merge of an encrypted chain failed" "$d/verify.out" "$d/merge.out"; return; }
	if "$FERRY" show "$d/m" | grep -q '"entry"' || ! "$FERRY" show "$d/m" | grep -q 'lz4+aes-256-gcm'; then
		fail $n "the merged image is not encrypted and compressed like the original"; return
	fi
	restore_check $n "$d" "$d/m" --encrypt-key "$KEY" && pass "$n"
}

# Large contents, streamed through compression and encryption.
big_contents() {
	local prog n d
	for prog in memfd_big deleted_sparse sysv_shm_big; do
		n="encoded-$prog"
		d=$OUT/$n
		selected "$n" || continue
		start "$prog" "$d" || { grep -q '^SKIP' "$d/test.out" && skip "$n" "$(grep -m1 '^SKIP' "$d/test.out")" ||
			fail "$n" "$prog did not start" "$d/test.out"; continue; }
		dump "$n" "$d/img" --compress zstd --encrypt-key "$KEY" || { kill_test; continue; }
		restore_check "$n" "$d" "$d/img" --encrypt-key "$KEY" && pass "$n ($(du -sh "$d/img" | cut -f1) image)"
	done
}

# A restore of an encrypted image killed at several moments: no decoded byte is left on any path.
killed_restore() {
	local n=killed-restore token d delay rp leak
	selected $n || return 0
	token=ferrysecret$RANDOM$RANDOM
	d=$OUT/killed-restore
	start memfd_big "$d" "FERRY_TEST_MARK=$token" || { fail $n "memfd_big did not start" "$d/test.out"; return; }
	# the token is in the process's environment, hence in its stack pages
	dump $n "$d/plain" -R || { kill_test; return; }
	grep -qF "$token" "$d"/plain/pages-*.img || { fail $n "the marker is not in a plain image: the test proves nothing"; kill_test; return; }
	rm -rf "$d/plain"
	dump $n "$d/img" --encrypt-key "$KEY" || { kill_test; return; }
	if grep -rqF "$token" "$d/img"; then fail $n "the marker is in clear in the encrypted image"; return; fi
	touch "$d/stamp"
	for delay in 0.02 0.1 0.2 0.3 0.5 0.8 1.2 2; do
		"$FERRY" restore -D "$d/img" --encrypt-key "$KEY" </dev/null >"$d/restore.err" 2>&1 &
		rp=$!
		sleep "$delay"
		kill -KILL "$rp" 2>/dev/null
		wait "$rp" 2>/dev/null
		kill_test
		leak=$( { ls -d /dev/shm/ferry-decoded-* /run/ferry-decoded-* /tmp/ferry-decoded-* 2>/dev/null
			grep -rlF "$token" /dev/shm "$d/img" 2>/dev/null
			find /tmp /run -xdev -newer "$d/stamp" -type f -size -400M -print0 2>/dev/null |
				xargs -0 -r grep -lF "$token" 2>/dev/null; } | head -n 3)
		if [ -n "$leak" ]; then
			fail $n "killed after ${delay}s, decoded data remains: $leak"
			return
		fi
	done
	pass "$n (8 kills, 0.02-2 s into the restore)"
}

# leaks TOKEN STAMP DIR...: files holding TOKEN, or decoded leftovers, in /dev/shm, /run, /tmp (new
# since STAMP) and in each DIR
leaks() {
	local token=$1 stamp=$2
	shift 2
	{ ls -d /dev/shm/ferry-decoded-* /run/ferry-decoded-* /tmp/ferry-decoded-* 2>/dev/null
		grep -rlF "$token" /dev/shm "$@" 2>/dev/null
		find /tmp /run -xdev -newer "$stamp" -type f -size -400M -print0 2>/dev/null |
			xargs -0 -r grep -lF "$token" 2>/dev/null; } | head -n 3
}

# Restores of a compressed, and of a compressed and encrypted, image, each stopped at a fault point
# (FERRY_STALL: every file decoded and verified; the root's memory filled), looked at while
# stopped there, then SIGKILLed; then restored whole with -W. Decoded bytes live in memory and
# memfds only: at no moment does any file (tmpfs, /tmp, the work or image directory) hold them,
# and the image directory gains no file.
stalled_restore() {
	local n=stalled-restore token d mode point rp leak args=()
	selected $n || return 0
	for mode in zstd zstd+key; do
		token=ferrysecret$RANDOM$RANDOM
		d=$OUT/stalled-$mode
		start memfd_big "$d" "FERRY_TEST_MARK=$token" || { fail $n "memfd_big did not start" "$d/test.out"; return; }
		args=(--compress zstd)
		[ $mode = zstd+key ] && args+=(--encrypt-key "$KEY")
		dump $n "$d/img" "${args[@]}" || { kill_test; return; }
		[ $mode = zstd+key ] && grep -rqF "$token" "$d/img" && { fail $n "the marker is in clear in the encrypted image"; return; }
		mkdir -p -m 700 "$d/work"
		touch "$d/stamp"
		sleep 1	# a file written in the stamp's second is newer than it
		for point in restore-after-verify-pages restore-after-root-memory; do
			FERRY_STALL=$point FERRY_STALL_MS=30000 "$FERRY" restore -D "$d/img" -W "$d/work" "${args[@]:2}" \
				</dev/null >"$d/restore.err" 2>&1 &
			rp=$!
			if ! wait_for 60 grep -q "stalled at $point" "$d/restore.err"; then
				kill -KILL "$rp"; wait "$rp"
				fail $n "$mode: the restore never reached $point" "$d/restore.err"; return
			fi
			leak=$(leaks "$token" "$d/stamp" "$d/work" "$d/img" "$d/test.out")
			[ -z "$leak" ] && leak=$(find "$d/img" -newer "$d/stamp" -type f | head -n 3)
			kill -KILL "$rp"; wait "$rp" 2>/dev/null
			wait_for 10 gone "$TPID"
			[ -n "$leak" ] && { fail $n "$mode, stopped at $point: decoded data or new files: $leak"; return; }
			leak=$(leaks "$token" "$d/stamp" "$d/work" "$d/img")
			[ -n "$leak" ] && { fail $n "$mode, killed at $point: decoded data remains: $leak"; return; }
		done
		restore_check $n "$d" "$d/img" -W "$d/work" "${args[@]:2}" || return
		wait_for 10 gone "$TPID"
		# restore.err there is restore_check's own
		leak=$(leaks "$token" "$d/stamp" "$d/work" "$d/img"; find "$d/img" -newer "$d/stamp" -type f ! -name restore.err | head -n 3)
		[ -n "$leak" ] && { fail $n "$mode, after a whole restore: decoded data or new files in the image: $leak"; return; }
	done
	pass "$n (zstd, zstd+aes: stopped and killed at 2 points, then restored: nothing decoded on disk)"
}

# ---------------------------------------------------------------- failures leave nothing

killed_dump() {
	local n=killed-dump d=$OUT/killed-dump delay rp left
	selected $n || return 0
	for delay in 0.05 0.15 0.3 0.6; do
		start memfd_big "$d" || { fail $n "memfd_big did not start" "$d/test.out"; return; }
		mkdir -p -m 700 "$d/img"
		"$FERRY" dump -t "$TPID" -D "$d/img" </dev/null >"$d/dump.err" 2>&1 &
		rp=$!
		sleep "$delay"
		kill -KILL "$rp" 2>/dev/null
		wait "$rp" 2>/dev/null
		kill_test
		left=$(ls -A "$d/img" | grep -E '^\.|\.tmp$|\.part$' | head -n 3)
		if [ -n "$left" ]; then
			fail $n "a dump killed after ${delay}s left temporaries: $left"
			return
		fi
	done
	pass "$n (4 kills)"
}

failed_dump() {
	local n=failed-dump d=$OUT/failed-dump left
	selected $n || return 0
	start deleted_file "$d" || { fail $n "deleted_file did not start" "$d/test.out"; return; }
	mkdir -p -m 700 "$d/img"
	FERRY_FAULT=pages-enospc timeout 60 "$FERRY" dump -t "$TPID" -D "$d/img" </dev/null >"$d/dump.err" 2>&1 &&
		{ fail $n "the dump did not fail"; kill_test; return; }
	left=$(ls -A "$d/img" | grep -v '^dump.log$' | head -n 3)
	if [ -n "$left" ]; then
		fail $n "a failed dump left files: $left"
	elif ! running_free "$TPID"; then
		fail $n "the process does not run freely after the failed dump"
	else
		pass "$n"
	fi
	kill_test
}

# ---------------------------------------------------------------- scale

# 150,000 file entries: verify takes them in n log n; a duplicated id is refused as fast.
big_image() {
	local n=big-image d=$OUT/big-image t0 t1 ms pid
	selected $n || return 0
	[ -x "$BIGIMG" ] || { fail $n "$BIGIMG not built"; return; }
	start sleeping "$d" || { fail $n "sleeping did not start" "$d/test.out"; return; }
	pid=$TPID
	dump $n "$d/img" || return
	cp -a "$d/img" "$d/dup"
	"$BIGIMG" "$d/img" 150000 >"$d/big.err" 2>&1 && "$BIGIMG" "$d/dup" 150000 dup >>"$d/big.err" 2>&1 ||
		{ fail $n "could not make the large images" "$d/big.err"; return; }
	t0=$(date +%s%N)
	"$FERRY" image verify "$d/img" >"$d/verify.out" 2>&1 || { fail $n "verify of 150,000 entries failed" "$d/verify.out"; return; }
	t1=$(date +%s%N)
	refused $n "file id" "$FERRY" image verify "$d/dup" || return
	refused $n "appears twice" "$FERRY" restore -D "$d/dup" || return
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ $ms -gt 8000 ]; then
		fail $n "verify, verify and restore of 150,000 entries took $ms ms (a quadratic check?)"
	elif alive "$pid"; then
		fail $n "the refused restore left a process at $pid"
	else
		pass "$n (verify $(( (t1 - t0) / 1000000 )) ms; all three $ms ms)"
	fi
}

# ---------------------------------------------------------------- durability

# Every image file is fsync'ed, then the directory, before inventory.img gets its name; then the
# directory again. stats-dump.img comes after: it is written once the tree is killed (the frozen
# time ends there), and durably too.
durable() {
	local n=durable d=$OUT/durable nfiles
	selected $n || return 0
	command -v strace >/dev/null || { skip $n "strace is not installed (make check installs it)"; return; }
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	mkdir -p -m 700 "$d/img"
	strace -f -qq -o "$d/trace" -e trace=fsync,renameat,renameat2,linkat,sync_file_range,openat \
		"$FERRY" dump -t "$TPID" -D "$d/img" </dev/null >"$d/dump.err" 2>&1 ||
		{ fail $n "the dump under strace failed" "$d/dump.err"; kill_test; return; }
	kill_test
	nfiles=$(ls "$d/img" | grep '\.img$' | grep -vc '^stats-dump\.img$')
	if ! python3 - "$d/trace" "$nfiles" >"$d/check.out" 2>&1 <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
nfiles = int(sys.argv[2])
inv = [i for i, l in enumerate(lines) if re.search(r'rename\w*\(.*"inventory\.img"', l)]
assert len(inv) == 1, "inventory.img renamed %d times" % len(inv)
before = [l for l in lines[:inv[0]] if re.search(r'\bfsync\(\d+\)\s+= 0', l)]
after = [l for l in lines[inv[0]:] if re.search(r'\bfsync\(\d+\)\s+= 0', l)]
# each file but the inventory, the directory, the inventory itself
assert len(before) >= nfiles + 1, "only %d fsyncs before the inventory for %d files" % (len(before), nfiles)
assert after, "no fsync of the directory after the inventory got its name"
stats = [i for i, l in enumerate(lines) if re.search(r'rename\w*\(.*"stats-dump\.img"', l)]
assert len(stats) == 1 and stats[0] > inv[0], "stats-dump.img not named once, after the inventory"
assert any(re.search(r'\bfsync\(\d+\)\s+= 0', l) for l in lines[stats[0]:]), "stats-dump.img not durable"
print("ok", len(before), "fsyncs before,", len(after), "after")
EOF
	then
		fail $n "the inventory was not written last and durably" "$d/check.out"
	else
		pass "$n ($(cat "$d/check.out"))"
	fi
}

# The same order without strace, from ferry's own fault points passed (FERRY_FAULT_TRACE, one
# per file, by kind: image-publish-core when a core file gets its name, image-fsync-core once it
# is on disk): as many files of each kind are named and on disk before inventory.img is as the
# image holds, the directory between them and again after the inventory got its name.
durable_trace() {
	local n=durable-trace d=$OUT/durable-trace
	selected $n || return 0
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	mkdir -p -m 700 "$d/img"
	FERRY_FAULT_TRACE=$d/points "$FERRY" dump -t "$TPID" -D "$d/img" </dev/null >"$d/dump.err" 2>&1 ||
		{ fail $n "the dump failed" "$d/dump.err"; kill_test; return; }
	kill_test
	if ! (cd "$d/img" && ls -- *.img) | python3 -c '
import re, sys
pts = open(sys.argv[1]).read().split()
files = [f for f in sys.stdin.read().split() if f not in ("inventory.img", "stats-dump.img")]
assert len(files) >= 5, "only %d image files" % len(files)
kinds = {}
for f in files:
    k = re.sub(r"-[0-9]+$", "", f[:-4])
    kinds[k] = kinds.get(k, 0) + 1
inv = pts.index("image-fsync-inventory")
pub = pts.index("image-publish-inventory")
for k, n in kinds.items():
    synced = pts[:inv].count("image-fsync-" + k)
    named = pts[:inv].count("image-publish-" + k)
    assert synced == n and named == n, "%d %s files, %d named and %d fsynced before the inventory" % (n, k, named, synced)
last = max(i for i, p in enumerate(pts[:inv]) if p.startswith("image-fsync-") and p != "image-fsync-dir")
assert "image-fsync-dir" in pts[last:inv], "no directory fsync between the last file and the inventory"
assert inv < pub, "the inventory was named before it was on disk"
assert "image-fsync-dir" in pts[pub:], "no directory fsync after the inventory was named"
print(len(files), "files of", len(kinds), "kinds durable before the inventory")
' "$d/points" >"$d/check.out" 2>&1; then
		fail $n "the trace points show another order" "$d/check.out"
	else
		pass "$n ($(cat "$d/check.out"))"
	fi
}

# A page store that cannot be written out (an fsync fails): the dump fails, no inventory is
# written, no file of it stays, and the process runs on untouched.
durable_fault() {
	local n=durable-fault d=$OUT/durable-fault left
	selected $n || return 0
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	mkdir -p -m 700 "$d/img"
	FERRY_FAULT=image-fsync-pages timeout 60 "$FERRY" dump -t "$TPID" -D "$d/img" \
		</dev/null >"$d/dump.err" 2>&1 && { fail $n "the dump did not fail"; kill_test; return; }
	left=$(ls -A "$d/img" | grep -v '^dump.log$' | head -n 3)
	if ! grep -qF "pages-$TPID.img" "$d/dump.err"; then
		fail $n "the error does not name the page store" "$d/dump.err"
	elif [ -n "$left" ]; then
		fail $n "the failed dump left files (inventory?): $left"
	elif ! running_free "$TPID"; then
		fail $n "the process does not run freely after the failed dump"
	else
		kill -TERM "$TPID"
		wait_for 10 eval '! alive $TPID'
		if [ "$(tail -n 1 "$d/test.out")" != PASS ]; then
			fail $n "the process failed its checks after the failed dump" "$d/test.out"
		else
			pass "$n ($(head -c 120 "$d/dump.err"))"
		fi
	fi
	kill_test
}

# ---------------------------------------------------------------- pre-checks

DOCTOR=$BUILD/tests/images_doctor

# `ferry check --image` and restore's own pre-checks: a PID taken, a CPU feature the image's CPU
# had and this one lacks (an inventory doctored with that flag), a file that changed. Each is
# named; restore refuses before creating anything; --cpu-cap=none overrides the CPU check.
precheck() {
	local n=precheck d=$OUT/precheck feat pid
	selected $n || return 0
	[ -x "$DOCTOR" ] || { fail $n "$DOCTOR not built"; return; }
	start fds "$d" || { fail $n "fds did not start" "$d/test.out"; return; }
	pid=$TPID
	dump $n "$d/img" -R || { kill_test; return; }
	refused $n "pid $pid is taken by a running process" "$FERRY" check --image "$d/img" || { kill_test; return; }
	kill_test
	if ! "$FERRY" check --image "$d/img" >"$d/check.out" 2>&1 || ! grep -q "can be restored here" "$d/check.out"; then
		fail $n "ferry check refuses the intact image" "$d/check.out"
		return
	fi
	rm -rf "$d/cpu"; cp -a "$d/img" "$d/cpu"
	feat=$("$DOCTOR" "$d/cpu" cpu-missing 2>"$d/doctor.err")
	case $? in
	0) ;;
	77) skip $n "this CPU has every CPUID feature ferry knows: no missing one to record"; return ;;
	*) fail $n "could not doctor the inventory" "$d/doctor.err"; return ;;
	esac
	refused $n "CPU with $feat, which this CPU lacks" "$FERRY" check --image "$d/cpu" || return
	refused $n "CPU with $feat, which this CPU lacks" "$FERRY" restore -D "$d/cpu" || return
	if alive "$pid"; then fail $n "the refused restore left a process at $pid"; kill -KILL "$pid"; return; fi
	"$FERRY" check --image "$d/cpu" --cpu-cap=fpu >"$d/fpu.out" 2>&1 ||
		{ fail $n "--cpu-cap=fpu still compares the CPUID flags" "$d/fpu.out"; return; }
	echo changed >>"$d/data.bin"
	refused $n "$d/data.bin changed size since the dump" "$FERRY" check --image "$d/img" || return
	refused $n "$d/data.bin changed size since the dump" "$FERRY" restore -D "$d/img" || return
	if alive "$pid"; then fail $n "the refused restore left a process at $pid"; kill -KILL "$pid"; return; fi
	pass "$n (pid taken, $feat missing, a changed file: each named; restore refused)"
}

# ---------------------------------------------------------------- read-only images

# restore_in_pidns WORK ARGS...: (inside the private mount namespace) ferry restore ARGS with -W
# WORK in a new PID namespace of its own, in the background; sets RNS_PID (unshare's pid)
restore_in_pidns() {
	local work=$1
	shift
	unshare -pf --mount-proc "$FERRY" restore -W "$work" -v4 "$@" </dev/null >"$work.err" 2>&1 &
	RNS_PID=$!
}

# restored_root PID PROG: the restored root under unshare PID (unshare → ferry → root), once it
# runs untraced; empty after 30 s
restored_root() {
	local u=$1 prog=$2 f r k
	for k in $(seq 300); do
		f=$(awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null)
		r=$([ -n "$f" ] && awk '{print $1}' "/proc/$f/task/$f/children" 2>/dev/null)
		if [ -n "$r" ] && [ "$(cat "/proc/$r/comm" 2>/dev/null)" = "$prog" ] &&
			[ "$(awk '/^TracerPid:/ {print $2}' "/proc/$r/status" 2>/dev/null)" = 0 ]; then
			echo "$r"
			return
		fi
		sleep 0.1
	done
}

# An image on storage mounted read-only (a bind mount remounted ro, in a private mount namespace;
# the directory 0555 too) restored twice at once, each restore in a PID namespace of its own (the
# same PIDs), logs and statistics in its own -W: both trees run together and pass their checks,
# and the image directory is not written.
readonly_twice() {
	local n=readonly-twice d=$OUT/readonly-twice pid rc
	selected $n || return 0
	command -v unshare >/dev/null || { missing $n "unshare (util-linux) is not installed"; return; }
	start anon_mem "$d" || { fail $n "anon_mem did not start" "$d/test.out"; return; }
	pid=$TPID
	dump $n "$d/img" || { kill_test; return; }
	touch "$d/stamp"
	sleep 1	# a file written in the stamp's second is newer than it
	chmod 0555 "$d/img"
	mkdir -p "$d/ro" && mkdir -p -m 700 "$d/w1" "$d/w2"
	# the restores run in another mount namespace: files are reached through other mount ids
	unshare -m --propagation private bash -c "$(declare -f restore_in_pidns restored_root)"'
		FERRY=$1 d=$2 pid=$3
		mount --bind "$d/img" "$d/ro" && mount -o remount,bind,ro "$d/ro" || exit 90
		touch "$d/ro/probe" 2>/dev/null && exit 91
		restore_in_pidns "$d/w1" -D "$d/ro" --allow-changed-files; u1=$RNS_PID
		restore_in_pidns "$d/w2" -D "$d/ro" --allow-changed-files; u2=$RNS_PID
		r1=$(restored_root $u1 anon_mem); r2=$(restored_root $u2 anon_mem)
		[ -n "$r1" ] && [ -n "$r2" ] || { kill -KILL $u1 $u2 $r1 $r2 2>/dev/null; exit 92; }
		for r in $r1 $r2; do
			grep -q "^NSpid:.*[[:space:]]$pid\$" /proc/$r/status || { kill -KILL $u1 $u2 $r1 $r2; exit 93; }
		done
		kill -TERM $r1 $r2
		wait $u1 || exit 94
		wait $u2 || exit 95
	' restore-twice "$FERRY" "$d" "$pid" >"$d/twice.out" 2>&1
	rc=$?
	case $rc in
	0) ;;
	90) skip $n "cannot make a read-only bind mount here"; return ;;
	91) fail $n "the read-only mount is writable"; return ;;
	92) fail $n "the two restores did not both run" "$d/w1.err" "$d/w2.err" "$d/twice.out"; return ;;
	93) fail $n "a restored root is not at pid $pid in its namespace" "$d/twice.out"; return ;;
	*) fail $n "a restored tree failed its checks or ferry failed (status $rc)" "$d/w1.err" "$d/w2.err" "$d/test.out"; return ;;
	esac
	if [ -n "$(find "$d/img" -newer "$d/stamp")" ]; then
		fail $n "the image directory was written: $(find "$d/img" -newer "$d/stamp")"
	elif [ ! -s "$d/w1/restore.log" ] || [ ! -s "$d/w2/stats-restore.img" ]; then
		fail $n "no log or statistics in the work directories"
	elif [ "$(tail -n 1 "$d/test.out")" != PASS ]; then
		fail $n "the restored trees did not pass their checks" "$d/test.out"
	else
		pass "$n (two PID namespaces at once, image read-only, logs and stats in -W)"
	fi
	chmod 0700 "$d/img"
}

if [ ! -x "$FERRY" ] || [ ! -x "$ZDTM/sleeping" ]; then
	fail all "ferry or the zdtm programs are not built in $BUILD (run make)"
	exit 1
fi
dir_created_private
dir_refused dir-other-owner other-owner "belongs to uid 65534"
dir_refused dir-world-writable world "writable by everyone"
dir_refused dir-group-writable group "writable by its group"
dir_refused dir-foreign-symlink link "is a symlink owned by uid 65534"
links_not_followed
not_regular
identity
chain_identity
verify_encoded
encoded_chain
big_contents
killed_restore
stalled_restore
killed_dump
failed_dump
big_image
durable
durable_trace
durable_fault
precheck
readonly_twice
[ $NFAIL = 0 ]
