#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Files by path that a dump or a restore must refuse by name, or accept when told to: a removed file
# above --ghost-limit, a removed name whose inode is linked elsewhere without --link-remap (and the
# hidden link of --link-remap: gone when the dump fails, kept when a restore fails, gone once one
# succeeds), a file whose mount was unmounted, a path longer than PATH_MAX, an O_PATH descriptor of a
# removed socket file still bound; and at restore a file that changed size (a log, O_WRONLY|O_APPEND,
# may grow) or mode, was replaced, became a directory or is reached through another mount, and a
# working directory that vanished. A refused dump leaves the process running untouched; a refused
# restore leaves nothing behind.
#
#   tests/paths/run.sh [--build] DIR [--filter REGEX]
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=paths
# shellcheck source=tests/lib/suite.sh
. "$ROOT/tests/lib/suite.sh"
suite_args "$@"
ZDTM=$BUILD/tests/paths	# `start hold DIR` runs the holder
mkdir -p "$OUT"
exec 2>>"$OUT/runner.log"

gone() { ! alive "$1"; }
kill_test() {
	[ -n "${TPID:-}" ] || return 0
	case $(readlink -f "/proc/$TPID/exe" 2>/dev/null) in "$BUILD"/*) kill -KILL "$TPID" 2>/dev/null ;; esac
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
}

# run_ferry NAME OUTFILE ARGS...: ferry with a deadline, its output into OUTFILE; its status
run_ferry() {
	local out=$2
	shift 2
	timeout -k 3 60 "$FERRY" "$@" </dev/null >"$out" 2>&1
}

# dump_refused NAME DIR WANT ARGS...: the dump fails saying WANT and the file's name; the holder runs on
dump_refused() {
	local name=$1 dir=$2 want=$3 rc
	shift 3
	run_ferry "$name" "$dir/dump.err" dump -t "$TPID" -D "$dir/img" -v4 "$@"
	rc=$?
	if [ $rc = 0 ]; then
		fail "$name" "ferry dump $* succeeded" "$dir/img/dump.log"
	elif ! grep -qF -- "$want" "$dir/dump.err"; then
		fail "$name" "ferry dump failed ($rc) without saying '$want'" "$dir/dump.err"
	elif ! running_free "$TPID"; then
		fail "$name" "after the refused dump the process is not running freely" "$dir/dump.err"
	else
		return 0
	fi
	kill_test
	return 1
}

# still_passes NAME DIR: SIGTERM the (original) holder, it must report PASS
still_passes() {
	kill -TERM "$TPID"
	wait "$TPID"
	local rc=$?
	if [ $rc != 0 ] || [ "$(tail -n 1 "$2/test.out")" != PASS ]; then
		fail "$1" "the holder fails its checks afterwards (exit $rc)" "$2/test.out"
		return 1
	fi
	return 0
}

# dumped NAME DIR ARGS...: dump (killing the holder)
dumped() {
	local name=$1 dir=$2
	shift 2
	if ! run_ferry "$name" "$dir/dump.err" dump -t "$TPID" -D "$dir/img" -v4 "$@"; then
		fail "$name" "ferry dump $* failed" "$dir/dump.err"
		kill_test
		return 1
	fi
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
}

# restore_refused NAME DIR WANT ARGS...: the restore fails saying WANT; nothing is left at the PID
restore_refused() {
	local name=$1 dir=$2 want=$3 rc
	shift 3
	run_ferry "$name" "$dir/restore.err" restore -d -D "$dir/img" -v4 "$@"
	rc=$?
	if [ $rc = 0 ]; then
		fail "$name" "ferry restore $* succeeded" "$dir/img/restore.log"
		kill_test
	elif ! grep -qF -- "$want" "$dir/restore.err"; then
		fail "$name" "ferry restore failed ($rc) without saying '$want'" "$dir/restore.err"
	elif ! wait_for 5 gone "$TPID"; then
		fail "$name" "the failed restore left a process at $TPID"
		kill_test
	else
		return 0
	fi
	return 1
}

hidden_links() { find "$1" -name '.ferry-*' 2>/dev/null | wc -l; }

# ---------------------------------------------------------------- at dump

ghost_limit() {
	local n=ghost-limit d=$OUT/ghost-limit
	selected $n || return 0
	start hold "$d" HOLD_MODE=big || { fail $n "the holder did not start" "$d/test.out"; return; }
	dump_refused $n "$d" "$d/big" --ghost-limit 1M || return
	grep -qF -- "--ghost-limit" "$d/dump.err" || { fail $n "the refusal does not name --ghost-limit" "$d/dump.err"; kill_test; return; }
	still_passes $n "$d" && pass $n
	n=ghost-limit-raised
	selected $n || return 0
	start hold "$d" HOLD_MODE=big || { fail $n "the holder did not start" "$d/test.out"; return; }
	dumped $n "$d" --ghost-limit 2049K --ghost-fiemap --no-ghost-fiemap || return
	restore_check $n "$d" "$d/img" && pass $n
}

link_remap() {
	local n=link-remap-needed d=$OUT/link-remap
	selected $n || return 0
	start hold "$d" HOLD_MODE=elsewhere || { fail $n "the holder did not start" "$d/test.out"; return; }
	dump_refused $n "$d" "--link-remap" || return
	grep -qF "$d/sub1/f" "$d/dump.err" || { fail $n "the refusal does not name sub1/f" "$d/dump.err"; kill_test; return; }
	still_passes $n "$d" && pass $n

	n=link-remap-dump-fails
	selected $n || return 0
	start hold "$d" HOLD_MODE=elsewhere || { fail $n "the holder did not start" "$d/test.out"; return; }
	FERRY_FAULT=dump-after-inject run_ferry $n "$d/dump.err" dump -t "$TPID" -D "$d/img" -v4 --link-remap
	if [ "$(hidden_links "$d")" != 0 ]; then
		fail $n "the failed dump left its hidden link: $(find "$d" -name '.ferry-*')"
		kill_test
	elif ! running_free "$TPID"; then
		fail $n "after the failed dump the process is not running freely" "$d/dump.err"
		kill_test
	else
		still_passes $n "$d" && pass $n
	fi

	n=link-remap-restore-fails
	selected $n || return 0
	start hold "$d" HOLD_MODE=elsewhere || { fail $n "the holder did not start" "$d/test.out"; return; }
	dumped $n "$d" --link-remap || return
	[ "$(hidden_links "$d/sub1")" = 1 ] || { fail $n "no hidden link after dump --link-remap"; return; }
	FERRY_FAULT=restore-after-root-memory restore_refused $n "$d" "fault injected" || return
	[ "$(hidden_links "$d/sub1")" = 1 ] || { fail $n "a failed restore removed the hidden link: the image cannot be restored again"; return; }
	# the release is all or nothing: one that fails half-way kills the tree, and keeps the link
	FERRY_FAULT=restore-mid-release restore_refused $n "$d" "fault injected in the middle of the release" || return
	[ "$(hidden_links "$d/sub1")" = 1 ] || { fail $n "a restore that failed in its release removed the hidden link"; return; }
	restore_check $n "$d" "$d/img" || return
	[ "$(hidden_links "$d")" = 0 ] || { fail $n "the hidden link is left after the restore"; return; }
	pass $n
}

# refused_at_dump NAME HOLD_MODE WANT: the holder's dump is refused saying WANT; it runs on
refused_at_dump() {
	local n=$1 d=$OUT/$1
	selected "$n" || return 0
	start hold "$d" HOLD_MODE="$2" || {
		grep -q '^SKIP' "$d/test.out" && { skip "$n" "$(sed -n 's/^SKIP: //p' "$d/test.out")"; return; }
		fail "$n" "the holder did not start" "$d/test.out"; return; }
	dump_refused "$n" "$d" "$3" || return
	still_passes "$n" "$d" && pass "$n"
}

too_deep() {
	local n=path-too-long d=$OUT/path-too-long
	selected $n || return 0
	start hold "$d" HOLD_MODE=deep || { fail $n "the holder did not start" "$d/test.out"; return; }
	dump_refused $n "$d" "more than PATH_MAX (4096): the kernel cannot name it" || return
	# named as well as can be: where it is (the long names shortened) and what it is
	if ! grep -qF "regular file $d/$(printf 'd%.0s' $(seq 12))…(200 bytes)/…(23 more)…/" "$d/dump.err" ||
		! grep -qF "…(200 bytes)/deep (inode " "$d/dump.err"; then
		fail $n "the refusal does not name the file" "$d/dump.err"; kill_test; return
	fi
	grep -F "more than PATH_MAX" "$d/dump.err" | tail -1 >"$OUT/path-too-long.msg"
	still_passes $n "$d" && pass $n
	rm -rf "$d"
}

# ---------------------------------------------------------------- at restore

# changed NAME WANT HOLD_ENV CHANGE ALLOWED: dump a holder of "data", CHANGE it, the restore must be
# refused saying WANT; with ALLOWED=1 a restore with --allow-changed-files then works
changed() {
	local n=$1 want=$2 env=$3 change=$4 allowed=$5 d=$OUT/$1
	selected "$n" || return 0
	# shellcheck disable=SC2086
	start hold "$d" HOLD_MODE=file $env || { fail "$n" "the holder did not start" "$d/test.out"; return; }
	dumped "$n" "$d" || return
	( cd "$d" && eval "$change" ) || { fail "$n" "could not change the file ($change)"; return; }
	restore_refused "$n" "$d" "$want" || return
	grep -qF "$d/data" "$d/restore.err" || { fail "$n" "the refusal does not name $d/data" "$d/restore.err"; return; }
	if [ "$allowed" = 1 ]; then
		restore_check "$n" "$d" "$d/img" --allow-changed-files || return
	else
		restore_refused "$n" "$d" "$want" --allow-changed-files || return
	fi
	pass "$n"
}

# A log (O_WRONLY|O_APPEND) that grew since the dump is restored without --allow-changed-files.
log_grew() {
	local n=log-grew d=$OUT/log-grew
	selected $n || return 0
	start hold "$d" HOLD_MODE=file HOLD_APPEND=1 HOLD_EXPECT=110 || { fail $n "the holder did not start" "$d/test.out"; return; }
	dumped $n "$d" || return
	printf 0123456789 >>"$d/data"
	restore_check $n "$d" "$d/img" && pass $n
}

cwd_vanished() {
	local n=cwd-vanished d=$OUT/cwd-vanished
	selected $n || return 0
	start hold "$d" HOLD_MODE=cwd || { fail $n "the holder did not start" "$d/test.out"; return; }
	dumped $n "$d" || return
	rmdir "$d/wd"
	restore_refused $n "$d" "$d/wd" && pass $n
}

# The file's mount was replaced by another one of the same directory (a bind mount made again).
mount_replaced() {
	local n=mount-replaced d=$OUT/mount-replaced src=$OUT/bind-src mnt=$OUT/bind-mnt
	selected $n || return 0
	umount "$mnt" 2>/dev/null
	rm -rf "$src" "$mnt"
	mkdir -p "$src" "$mnt"
	if ! mount --bind "$src" "$mnt"; then
		skip $n "cannot bind-mount here"
		return
	fi
	start hold "$d" HOLD_MODE=file "HOLD_FILE=$mnt/data" || { fail $n "the holder did not start" "$d/test.out"; umount "$mnt"; return; }
	dumped $n "$d" || { umount "$mnt"; return; }
	umount "$mnt" && mount --bind "$src" "$mnt"
	if restore_refused $n "$d" "through another mount"; then
		restore_check $n "$d" "$d/img" --allow-changed-files && pass $n
	fi
	umount "$mnt"
}

ghost_limit
link_remap
refused_at_dump mount-gone mount "no longer mounted"
mount_replaced
too_deep
refused_at_dump socket-file-gone sockgone \
	"$OUT/socket-file-gone/sk: an O_PATH descriptor of a removed socket file that a unix socket is still bound to"
changed changed-size "changed size" HOLD_EXPECT=110 'printf 0123456789 >>data' 1
changed changed-mode "changed mode" HOLD_PERM=600 'chmod 600 data' 1
changed replaced "is another file now" HOLD_SAME=0 'cp data data.new && mv data.new data && chmod 644 data' 1
changed became-dir "is a directory now" "" 'rm data && mkdir data' 0
log_grew
cwd_vanished
[ $NFAIL = 0 ]
