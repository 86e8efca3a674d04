#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The library's API (include/ferry/ferry.h), from programs linked against libferry.so: two dumps at
# once in one process (threads, separate logs; both images verify and restore), a dump cancelled in
# the middle of its page copy (the workload runs on intact, class cancelled), progress totals,
# error classes (no such process, corrupt image, foreign image, refusal, taken PIDs), a restore
# through a shim whose caller exits (the tree runs on, the shim reports its exit status), a tree
# restored stopped and resumed through the handle; and examples/ built against the INSTALLED
# library (make install DESTDIR=...) through pkg-config, run on a real process.
#
#   tests/api/run.sh [--build] DIR [--filter REGEX]
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=api
# shellcheck source=tests/lib/suite.sh
. "$ROOT/tests/lib/suite.sh"
suite_args "$@"
API=$BUILD/tests/api/api_test
ZDTM=$BUILD/tests/api	# `start api_workload DIR`
mkdir -p "$OUT"
exec 2>>"$OUT/runner.log"

gone() { ! alive "$1"; }
# stop PID: SIGTERM it, wait for it to be gone
stop() { kill -TERM "$1" 2>/dev/null; wait_for 30 gone "$1"; }
# api NAME OUTFILE ARGS...: the API test program with a deadline
api() {
	local out=$2
	shift 2
	timeout -k 3 120 "$API" "$@" </dev/null >"$out" 2>&1
}
# restored_passes NAME DIR IMG: restore IMG with the CLI (the original was killed), SIGTERM, PASS
restored_passes() {
	local name=$1 dir=$2 img=$3
	kill -KILL "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
	restore_check "$name" "$dir" "$img"
}

t_options() {
	mkdir -p "$OUT"
	if api options "$OUT/options.out" options; then
		pass options "$(grep '^OK' "$OUT/options.out")"
	else
		fail options "the API test failed" "$OUT/options.out"
	fi
}

t_stall_cancel() {
	if api stall-cancel "$OUT/stall-cancel.out" stall-cancel; then
		pass stall-cancel "$(grep '^OK' "$OUT/stall-cancel.out")"
	else
		fail stall-cancel "the API test failed" "$OUT/stall-cancel.out"
	fi
}

t_two_dumps() {
	local d=$OUT/two p1 p2
	rm -rf "$d"
	mkdir -p "$d"
	start api_workload "$d/w1" API_MIB=16 || { fail two-dumps "workload 1 not ready"; return; }
	p1=$TPID
	start api_workload "$d/w2" API_MIB=16 || { fail two-dumps "workload 2 not ready"; return; }
	p2=$TPID
	mkdir -p "$d/i1" "$d/i2"
	if ! api two-dumps "$d/api.out" two-dumps "$p1" "$d/i1" "$p2" "$d/i2"; then
		fail two-dumps "the API test failed" "$d/api.out"
		return
	fi
	if ! running_free "$p1" || ! running_free "$p2"; then
		fail two-dumps "a workload does not run freely after the dumps (-R)" "$d/api.out"
		return
	fi
	TPID=$p1 restored_passes two-dumps "$d/w1" "$d/i1" || return
	TPID=$p2 restored_passes two-dumps "$d/w2" "$d/i2" || return
	pass two-dumps "$(grep -c '^OK' "$d/api.out") checks, both restored"
}

t_cancel() {
	local d=$OUT/cancel
	start api_workload "$d" || { fail cancel "workload not ready"; return; }
	mkdir -p "$d/img"
	if ! api cancel "$d/api.out" cancel "$TPID" "$d/img"; then
		fail cancel "the API test failed" "$d/api.out"
	elif ! running_free "$TPID"; then
		fail cancel "the workload does not run freely after the cancelled dump" "$d/api.out"
	elif [ -e "$d/img/inventory.img" ]; then
		fail cancel "a cancelled dump left an inventory"
	else
		stop "$TPID"
		wait "$TPID"
		if [ "$(tail -n 1 "$d/test.out")" = PASS ]; then
			pass cancel "$(grep '^OK' "$d/api.out")"
		else
			fail cancel "the workload's memory changed" "$d/test.out"
		fi
	fi
}

t_progress() {
	local d=$OUT/progress
	start api_workload "$d" || { fail progress "workload not ready"; return; }
	mkdir -p "$d/img"
	if api progress "$d/api.out" progress "$TPID" "$d/img"; then
		pass progress "$(grep '^OK' "$d/api.out")"
	else
		fail progress "the API test failed" "$d/api.out"
	fi
	stop "$TPID"
}

# expect_class NAME WANT OUTFILE ARGS...: the API reports class WANT for the operation of ARGS
expect_class() {
	local name=$1 want=$2 out=$3 got
	shift 3
	env "${ENVS[@]}" timeout -k 3 120 "$API" class "$@" </dev/null >"$out" 2>&1
	got=$(sed -n 's/^class //p' "$out")
	if [ "$got" = "$want" ]; then
		pass "$name" "$(sed -n 's/^chain 0: //p' "$out" | head -c 100)"
	else
		fail "$name" "class '$got', expected $want" "$out"
	fi
}

t_classes() {
	local d=$OUT/classes pid img
	rm -rf "$d"
	mkdir -p "$d"
	ENVS=()
	# a PID nobody has: pid_max is above every live pid
	expect_class class-no-process no-process "$d/nopid.out" dump "$(($(cat /proc/sys/kernel/pid_max) - 1))" "$d/none"
	start api_workload "$d/w" API_MIB=4 || { fail classes "workload not ready"; return; }
	pid=$TPID
	img=$d/img
	mkdir -p "$img"
	if ! "$FERRY" dump -t "$pid" -D "$img" -R >"$d/dump.err" 2>&1; then
		fail classes "the dump to corrupt failed" "$d/dump.err"
		return
	fi
	# the original still runs: its PIDs are taken
	expect_class class-pid-taken pid-taken "$d/taken.out" restore "$img"
	# the check operation with "image" says so too, a finding naming the PID
	expect_class check-image-pid-taken pid-taken "$d/check-taken.out" check "$img"
	grep -q "^finding 0: pid $pid is taken by a running process" "$d/check-taken.out" ||
		fail check-image-pid-taken "no finding names pid $pid" "$d/check-taken.out"
	# a restore on a CPU that lacks the image's XSAVE features (fault point): foreign
	ENVS=(FERRY_FAULT=restore-cpu-x87-sse)
	expect_class class-foreign-cpu image-foreign "$d/cpu.out" restore "$img"
	# checked: the CPU's finding first (its class), the PID's among those after it
	if grep -qE '"xcr0": ([4-9]|[1-9][0-9])' <("$FERRY" show "$img/inventory.img"); then
		expect_class check-image-cpu image-foreign "$d/check-cpu.out" check "$img"
		grep -q "^finding 0: the image uses XSAVE features this CPU lacks" "$d/check-cpu.out" &&
			grep -q "^finding [1-9][0-9]*: pid $pid is taken" "$d/check-cpu.out" ||
			fail check-image-cpu "not the CPU first, then the PID" "$d/check-cpu.out"
	else
		skip check-image-cpu "this CPU records no XSAVE state beyond x87/SSE"
	fi
	ENVS=()
	# an image of another format version: the major of core-PID.img's header (bytes 8-9)
	cp -a "$img" "$d/foreign"
	printf '\x63\x00' | dd of="$d/foreign/core-$pid.img" bs=1 seek=8 conv=notrunc status=none
	expect_class class-foreign-format image-foreign "$d/foreign.out" restore "$d/foreign"
	# one byte of a record flipped: corrupt
	cp -a "$img" "$d/corrupt"
	flip_byte "$d/corrupt/core-$pid.img" 70
	expect_class class-corrupt image-corrupt "$d/corrupt.out" restore "$d/corrupt"
	# a dump to a page server nobody serves: the peer is lost (a port just freed: nothing listens)
	expect_class class-peer-lost peer-lost "$d/ps.out" dump-ps "$pid" "$d/ps" "$(python3 -c '
import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	running_free "$pid" || fail class-peer-lost "the process does not run freely after the failed dump"
	stop "$pid"
	# a refusal by name: a child sharing its parent's memory without being its thread
	ZDTM=$BUILD/tests/task start refuse_clone_vm "$d/vm" || { fail class-unsupported "workload not ready"; return; }
	mkdir -p "$d/vm/img"
	expect_class class-unsupported unsupported "$d/vm.out" dump "$TPID" "$d/vm/img"
	if ! running_free "$TPID"; then
		fail class-unsupported "the refused process does not run freely"
	fi
	stop "$TPID"
}

# status of a process: its parent pid
ppid_of() { awk '/^PPid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

t_shim() {
	local d=$OUT/shim root shim st
	start api_workload "$d" API_MIB=4 || { fail shim "workload not ready"; return; }
	mkdir -p "$d/img"
	if ! "$FERRY" dump -t "$TPID" -D "$d/img" >"$d/dump.err" 2>&1; then
		fail shim "the dump failed" "$d/dump.err"
		return
	fi
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
	rm -f "$d/status"
	# the caller restores through a shim, then exits at once
	if ! api shim "$d/api.out" shim "$d/img" "$d/status"; then
		fail shim "the API test failed" "$d/api.out" "$d/img/restore.log"
		return
	fi
	read -r _ root _ shim <"$d/api.out"
	track "$root"
	track "$shim"
	if [ "$root" != "$TPID" ] || ! running_free "$root"; then
		fail shim "the restored root ($root, want $TPID) does not run freely once its caller exited" "$d/api.out"
	elif [ "$(ppid_of "$root")" != "$shim" ] || ! alive "$shim"; then
		fail shim "the root's parent is $(ppid_of "$root"), not the shim $shim" "$d/api.out"
	elif [ "$(cat "/proc/$shim/comm")" != ferry-shim ]; then
		fail shim "the shim is called $(cat "/proc/$shim/comm")"
	elif [ -s "$d/status" ]; then
		fail shim "the shim reported an exit while the root runs: $(cat "$d/status")"
	else
		kill -TERM "$root"
		wait_for 30 gone "$shim"
		st=$(cat "$d/status" 2>/dev/null)
		if [ "$st" != "exit 0" ] || [ "$(tail -n 1 "$d/test.out")" != PASS ]; then
			fail shim "the shim reported '$st', the workload said $(tail -n 1 "$d/test.out")" "$d/test.out"
		else
			pass shim "root $root under shim $shim; reported '$st'"
		fi
	fi
}

t_stopped() {
	local d=$OUT/stopped root
	start api_workload "$d" API_MIB=4 || { fail leave-stopped "workload not ready"; return; }
	mkdir -p "$d/img"
	"$FERRY" dump -t "$TPID" -D "$d/img" >"$d/dump.err" 2>&1 || { fail leave-stopped "dump failed" "$d/dump.err"; return; }
	wait "$TPID" 2>/dev/null
	wait_for 10 gone "$TPID"
	# first a restore cancelled before its release: nothing of it is left alive
	if ! api restore-cancel "$d/cancel.out" restore-cancel "$d/img"; then
		fail restore-cancel "the API test failed" "$d/cancel.out"
		return
	elif ! wait_for 10 gone "$TPID"; then
		fail restore-cancel "process $TPID is alive after a cancelled restore"
		return
	fi
	pass restore-cancel "$(grep '^OK' "$d/cancel.out")"
	if ! api stopped "$d/api.out" stopped "$d/img"; then
		fail leave-stopped "the API test failed" "$d/api.out"
		return
	fi
	track "$TPID"
	if running_free "$TPID"; then
		stop "$TPID"
		pass leave-stopped "$(grep '^OK' "$d/api.out")"
	else
		fail leave-stopped "the resumed root does not run freely"
	fi
}

# examples/ against the installed library: make install DESTDIR=..., pkg-config, run it on a process
t_example() {
	local d=$OUT/example dest pc libdir
	rm -rf "$d"
	mkdir -p "$d"
	dest=$d/root
	if ! make -C "$ROOT" install BUILD="$BUILD" DESTDIR="$dest" >"$d/install.out" 2>&1; then
		fail example "make install failed" "$d/install.out"
		return
	fi
	pc=$(dirname "$(find "$dest" -name ferry.pc | head -n 1)")
	libdir=$(dirname "$(find "$dest" -name 'libferry.so' | head -n 1)")
	if [ ! -f "$pc/ferry.pc" ] || [ ! -f "$(find "$dest" -path '*include/ferry/ferry.h' | head -n 1)" ] ||
		[ -z "$(find "$dest" -path '*bin/ferry')" ] || [ -z "$(find "$dest" -name 'ferry-dump.8')" ]; then
		fail example "the installed tree lacks the pc file, header, ferry binary or man pages" "$d/install.out"
		return
	fi
	if ! PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$dest cc -o "$d/example" "$ROOT/examples/dump-running.c" \
		$(PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$dest pkg-config --cflags --libs ferry) >"$d/cc.out" 2>&1; then
		fail example "the example does not build against the installed library" "$d/cc.out"
		return
	fi
	start api_workload "$d/w" API_MIB=4 || { fail example "workload not ready"; return; }
	mkdir -p "$d/img"
	if ! LD_LIBRARY_PATH=$libdir "$d/example" "$TPID" "$d/img" >"$d/example.out" 2>&1; then
		fail example "the example failed" "$d/example.out"
	elif ! grep -q "^image [0-9a-f]\{32\}" "$d/example.out" || ! running_free "$TPID"; then
		fail example "no image id printed, or the process does not run on" "$d/example.out"
	elif ! "$FERRY" image verify "$d/img" >"$d/verify.out" 2>&1; then
		fail example "its image does not verify" "$d/verify.out"
	else
		restored_passes example "$d/w" "$d/img" && pass example "built with $(basename "$pc")/ferry.pc, image verified and restored"
	fi
}

for t in options stall-cancel two-dumps cancel progress classes shim stopped example; do
	selected "$t" || continue
	"t_${t//-/_}"
done
[ $NFAIL = 0 ]
