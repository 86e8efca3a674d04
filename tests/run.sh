#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test runner: zdtm checkpoint/restore tests (selfcheck, dump+restore, dump -R twice + restore),
# real programs (tests/real), bad input and fault injection (tests/bad), unit tests and the fuzz run.
#
#   tests/run.sh --build DIR [--filter REGEX] [--no-fuzz] [--load]
#
# Prints one `PASS name`, `FAIL name: reason` (plus log tails) or `SKIP name: reason` line per test and
# ends with exactly `N passed, N failed, N skipped`. Exit status 1 if anything failed.
# Work directories: tests/out/<group>/<name>/ (test.out, img/, img/dump.log, img/restore.log, *.err);
# the runner's own stderr goes to tests/out/runner.log.
# Environment: FERRY_TEST_TIMEOUT (seconds per test, default 40), FERRY_TEST_TAIL (log lines shown, 15),
# FERRY_TEST_ITER (dump/restore rounds of the iteration mode, default 3).
# --load runs everything while tests/load/load.c loads the machine (CPU, memory, forks); without it a
# few zdtm tests still run under that load (the zdtm/NAME(load) group).
#
# zdtm modes (CRIU's zdtm.py has the same): plain dump + restore; -R (dump twice, leaving it running);
# a pre-dump chain (two pre-dumps, then the dump); -d (restore detached); iterations (dump and restore
# FERRY_TEST_ITER times, each from the last restored process); through a page server; one image
# restored twice; under load. The *_TESTS lists below say which tests run in which mode.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=""
FILTER=""
FUZZ=1
LOAD=0

usage() {
	echo "usage: $0 --build DIR [--filter REGEX] [--no-fuzz] [--load]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=${2:-}; shift 2 || usage ;;
	--build=*) BUILD=${1#--build=}; shift ;;
	--filter) FILTER=${2:-}; shift 2 || usage ;;
	--filter=*) FILTER=${1#--filter=}; shift ;;
	--no-fuzz) FUZZ=0; shift ;;
	--load) LOAD=1; shift ;;
	-h|--help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
done
[ -n "$BUILD" ] || usage
[ -d "$BUILD" ] || { echo "build directory $BUILD does not exist" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)

FERRY=$BUILD/src/ferry
ZDTM_BIN=$BUILD/tests/zdtm
OUT=$ROOT/tests/out
TEST_TIMEOUT=${FERRY_TEST_TIMEOUT:-40}
TAIL_LINES=${FERRY_TEST_TAIL:-15}
# zdtm tests that also run through a pre-dump chain (pre-dump --track-mem, then dump --prev-images-dir)
P_TESTS="anon_mem maps tree shm vma_flags shmem_objects aio memfd_maps map_modes mlockall hugetlb memfd_secret sysv_pieces vma_lock_guard_seal"
# zdtm tests that also run the -R (leave running, dump twice) variant
R_TESTS="anon_mem fds threads signals_thread fpu misc maps sleeping tree shm unix_pairs pipe_data locks pty pty_canon stopped"
R_TESTS+=" sigtrap sched prctl_attrs task_attrs pdeath thread_creds seccomp_strict zombie_leader timens_children fs_sharing no_vdso seccomp_share sud unpriv"
R_TESTS+=" sock_opts_inet inet_tcp_closed inet_bind unix_names unix_dgram unix_scm unix_scm_kinds sock_fown unix_shutdown sock_netlink sock_packet inet_tcp_repair"
R_TESTS+=" fdt_shared pidfd proc_files nsfd fown lease epoll_closed fanotify inotify_irmap pty_state pty_ctty pty_root_ctty tty_vt"
R_TESTS+=" vma_flags vma_flags_thread shmem_objects aio memfd_maps map_modes mlockall memfd_secret hugetlb sysv_pieces vma_lock_guard_seal"
R_TESTS+=" ghost_holes ghost_attrs ghost_links ghost_shared tmpfile opath cwd_removed fifo_removed dev_removed path_names unpriv_files"
R_TESTS+=" ghost_watch cwd_proc opath_sock restart_calls cmdline_env fork_storm timer_dead_thread futex_shared locks_wait blocked_io devzero_map fds_many"
# zdtm tests that also run restored with -d (ferry exits, the tree runs on by itself)
D_TESTS="pdeath tree prctl_attrs"
R_TESTS+=" tree_shapes"
D_TESTS+=" tree_shapes"
# zdtm tests also restored with the page filler writing through /proc/PID/mem (no process_vm_writev
# nor userfaultfd): FERRY_FAULT=fill-proc-mem
FILL_TESTS="tree_shapes anon_mem vma_lock_guard_seal"
# zdtm tests dumped and restored FERRY_TEST_ITER times in a row
I_TESTS="anon_mem threads tree restart_calls fork_storm unix_pairs"
ITERATIONS=${FERRY_TEST_ITER:-3}
# zdtm tests dumped through a page server (restored from what it stored)
S_TESTS="anon_mem tree shm memfd_maps"
# zdtm tests restored twice from one image
T_TESTS="anon_mem threads pipe_data"
# zdtm tests that also run while the machine is loaded (tests/load/load.c), in the default run
L_TESTS="anon_mem threads restart_calls tree signals pipe_data fork_storm fpu"

NPASS=0
NFAIL=0
NSKIP=0
LIVE_PIDS=()          # processes this runner started (or restored): killed by PID on exit

mkdir -p "$OUT"
# bash's own diagnostics (e.g. "Killed" notices for the SIGKILLed test processes) go to a log file;
# every result line goes to stdout
exec 2>>"$OUT/runner.log"

# ---------------------------------------------------------------- reporting

pass() { echo "PASS $1"; NPASS=$((NPASS + 1)); }
skip() { echo "SKIP $1: $2"; NSKIP=$((NSKIP + 1)); }
# fail NAME REASON [FILES whose last lines are shown...]
fail() {
	local name=$1 reason=$2 f
	shift 2
	echo "FAIL $name: $reason"
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "    --- ${f#"$ROOT"/} (last $TAIL_LINES lines)"
		tail -n "$TAIL_LINES" "$f" | sed 's/^/    | /'
	done
	NFAIL=$((NFAIL + 1))
}

# selected NAME: does the test pass the --filter?
selected() { [ -z "$FILTER" ] || grep -Eq -- "$FILTER" <<<"$1"; }

# ---------------------------------------------------------------- process helpers

# Deadline of the current test, in bash SECONDS.
DEADLINE=0
# start_clock [SECONDS]: a new test begins: kill what the previous one left behind, set its deadline
start_clock() {
	end_test
	DEADLINE=$((SECONDS + ${1:-$TEST_TIMEOUT}))
}
remaining() { local r=$((DEADLINE - SECONDS)); [ $r -lt 1 ] && r=1; echo $r; }
expired() { [ $SECONDS -ge $DEADLINE ]; }

# starttime PID: the process's start time (field 22 of /proc/PID/stat); tells a PID reused by another
# process (other work runs on this machine and PIDs wrap) from ours
starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}

# track PID: remember a running process of this test, to be killed at its end if still the same process
track() {
	local st
	st=$(starttime "$1")
	[ -n "$st" ] && LIVE_PIDS+=("$1:$st")
	return 0
}

# end_test: SIGKILL what the finished test left running (only processes with the recorded start time)
end_test() {
	local e
	for e in "${LIVE_PIDS[@]}"; do
		[ "$(starttime "${e%%:*}")" = "${e#*:}" ] && kill -KILL "${e%%:*}" 2>/dev/null
	done
	LIVE_PIDS=()
}

# ours PID: the process runs a binary of this build (a test program or ferry itself)
ours() {
	local exe
	exe=$(readlink -f "/proc/$1/exe" 2>/dev/null) || return 1
	case $exe in "$BUILD"/*) return 0 ;; esac
	return 1
}

# kill_ours PID: SIGKILL a process at PID only if it is one of ours (a restored or half-restored test)
kill_ours() {
	ours "$1" && kill -KILL "$1" 2>/dev/null
	return 0
}

# proc_state PID: the one-letter state, or empty if there is no such process
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	echo "${s%% *}"
}

# alive PID: exists and is not a zombie
alive() {
	local s
	s=$(proc_state "$1")
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

tracer_of() { awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nthreads() { ls "/proc/$1/task" 2>/dev/null | wc -l; }

# kill_pid PID: SIGKILL a child we started and have not reaped yet (so its PID cannot have been reused)
kill_pid() {
	[ -n "${1:-}" ] || return 0
	alive "$1" && kill -KILL "$1" 2>/dev/null
	return 0
}

# wait_dead PID SECONDS: until the process is gone or a zombie; 0 if so
wait_dead() {
	local pid=$1 end=$((SECONDS + $2))
	while alive "$pid"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
	return 0
}

# reap PID: collect a child's exit status into REAP_RC (bounded by the test deadline).
# A child still running at the deadline is killed (REAP_RC=timeout).
REAP_RC=""
reap() {
	local pid=$1
	if ! wait_dead "$pid" "$(remaining)"; then
		kill_pid "$pid"
		wait_dead "$pid" 5
		wait "$pid" 2>/dev/null
		REAP_RC=timeout
		return 1
	fi
	wait "$pid" 2>/dev/null
	REAP_RC=$?
	return 0
}

# wait_ready DIR PID: 0 when DIR/ready exists; 1 if the process exited or the deadline passed
wait_ready() {
	local dir=$1 pid=$2 end=$((SECONDS + 10))
	while [ ! -e "$dir/ready" ]; do
		alive "$pid" || return 1
		{ [ $SECONDS -ge $end ] || expired; } && return 1
		sleep 0.02
	done
	return 0
}

# wait_restored PID NTHREADS RESTORE_PID: until PID runs the restored program (not traced, not stopped,
# not the ferry binary any more, all threads there). 1 if ferry exited first or the deadline passed.
RESTORE_WHY=""
wait_restored() {
	local pid=$1 want=$2 rpid=$3 st exe ferry_exe ok=0
	ferry_exe=$(readlink -f "$FERRY")
	while ! expired; do
		if ! alive "$rpid"; then
			RESTORE_WHY="ferry restore exited before the process was running"
			return 1
		fi
		st=$(proc_state "$pid")
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
		if [ -n "$st" ] && [ "$st" != t ] && [ "$st" != T ] && [ "$st" != Z ] && [ "$(tracer_of "$pid")" = 0 ] &&
			[ "$exe" != "$ferry_exe" ] && [ "$(nthreads "$pid")" -ge "$want" ]; then
			ok=$((ok + 1))
			[ $ok -ge 3 ] && return 0
		else
			ok=0
		fi
		sleep 0.05
	done
	RESTORE_WHY="process $pid not running restored within the timeout (state '${st:-none}', exe '${exe:-}', tracer '$(tracer_of "$pid")', threads $(nthreads "$pid")/$want)"
	return 1
}

# close_stray_fds: in a subshell about to exec a test, close inherited fds above 2 (bash's own script fd
# 255 is close-on-exec), so a test never carries the runner's environment (e.g. a CI pipe) into a dump
close_stray_fds() {
	local fd
	for fd in $(ls "/proc/$BASHPID/fd"); do
		[ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"
	done
	return 0
}

last_line() { tail -n 1 "$1" 2>/dev/null; }

# ---------------------------------------------------------------- zdtm steps

# zdtm_start NAME DIR: start the test program; sets TPID. 0 once ready, 1 if it failed, 77 if it skipped.
TPID=""
START_WHY=""
zdtm_start() {
	local name=$1 dir=$2 rpid
	rm -rf "$dir"
	mkdir -p "$dir"
	(close_stray_fds; ZDTM_DIR=$dir exec setsid "$ZDTM_BIN/$name" </dev/null >"$dir/test.out" 2>&1) &
	TPID=$!
	track "$TPID"
	if ! wait_ready "$dir" "$TPID"; then
		if alive "$TPID"; then
			START_WHY="no ready file after 10 s"
			kill_pid "$TPID"
		fi
		reap "$TPID"
		[ "$REAP_RC" = 77 ] && { START_WHY=$(grep -m1 '^SKIP' "$dir/test.out" | sed 's/^SKIP: //'); return 77; }
		START_WHY=${START_WHY:-"exited with $REAP_RC before it was ready"}
		return 1
	fi
	rpid=$(cat "$dir/ready" 2>/dev/null)
	if [ "$rpid" != "$TPID" ]; then
		START_WHY="ready file holds pid '$rpid', but the started process is $TPID (setsid forked?)"
		kill_pid "$TPID"
		kill_ours "$rpid"
		reap "$TPID"
		return 1
	fi
	return 0
}

# sigterm_and_check NAME DIR PID WAITER: SIGTERM the test, collect WAITER's status (the test itself, or
# the ferry restore that waits for it) and check it and test.out. Reports the result.
sigterm_and_check() {
	local name=$1 dir=$2 pid=$3 waiter=$4
	shift 4
	kill -TERM "$pid" 2>/dev/null
	reap "$waiter"
	if [ "$REAP_RC" = timeout ]; then
		kill_ours "$pid"
		fail "$name" "no exit within the timeout after SIGTERM" "$dir/test.out" "$@"
	elif [ "$REAP_RC" != 0 ]; then
		fail "$name" "exit status $REAP_RC$(test_says "$dir")" "$dir/test.out" "$@"
	elif [ "$(last_line "$dir/test.out")" != PASS ]; then
		fail "$name" "exit 0 but test.out does not end with PASS" "$dir/test.out" "$@"
	else
		pass "$name"
	fi
}

test_says() {
	local l
	l=$(grep -m1 '^FAIL' "$1/test.out" 2>/dev/null)
	[ -n "$l" ] && echo " ($l)"
}

# ferry_dump NAME DIR PID IMG [ARGS...]: 0 if the dump succeeded; on failure reports and returns 1
ferry_dump() {
	local name=$1 dir=$2 pid=$3 img=$4 rc
	shift 4
	[ -f "$dir/dump.opts" ] && set -- "$@" $(cat "$dir/dump.opts")
	mkdir -p "$img"
	timeout -k 3 "$(remaining)" "$FERRY" dump -t "$pid" -D "$img" -v4 -o dump.log "$@" \
		</dev/null >"$img/dump.err" 2>&1
	rc=$?
	[ $rc = 0 ] && return 0
	[ $rc = 124 ] && rc="timeout"
	fail "$name" "ferry dump${*:+ $*} exited with $rc" "$img/dump.err" "$img/dump.log"
	return 1
}

# ferry_restore_bg IMG: start `ferry restore` in the background; sets RPID
RPID=""
ferry_restore_bg() {
	local img=$1
	shift
	"$FERRY" restore -D "$img" -v4 -o restore.log "$@" </dev/null >"$img/restore.err" 2>&1 &
	RPID=$!
	track "$RPID"
}

# restore_and_check NAME DIR IMG PID NTHREADS: restore, wait until running, SIGTERM, expect PASS
restore_and_check() {
	local name=$1 dir=$2 img=$3 pid=$4 nthr=$5
	if [ -e "/proc/$pid" ]; then
		skip "$name" "pid $pid was reused by another process before the restore"
		return
	fi
	ferry_restore_bg "$img"
	if ! wait_restored "$pid" "$nthr" "$RPID"; then
		kill_ours "$pid"
		reap "$RPID"
		fail "$name" "$RESTORE_WHY; ferry restore status $REAP_RC" "$img/restore.err" "$img/restore.log" \
			"$dir/test.out"
		return
	fi
	track "$pid"
	sigterm_and_check "$name" "$dir" "$pid" "$RPID" "$img/restore.err" "$img/restore.log"
}

# ---------------------------------------------------------------- zdtm variants

# zdtm_begin TN NAME DIR NEEDS_FERRY: the common start of every zdtm variant; status 1 when the
# test is already over (not selected, skipped or failed to start), 0 when TPID runs and is ready.
zdtm_begin() {
	local tn=$1 name=$2 dir=$3 r
	selected "$tn" || return 1
	if [ "$4" = 1 ] && [ ! -x "$FERRY" ]; then
		skip "$tn" "ferry not built ($FERRY)"
		return 1
	fi
	start_clock
	zdtm_start "$name" "$dir"
	r=$?
	[ $r = 77 ] && { skip "$tn" "$START_WHY"; return 1; }
	[ $r != 0 ] && { fail "$tn" "$START_WHY" "$dir/test.out"; return 1; }
	return 0
}

zdtm_selfcheck() {
	local name=$1 tn="selfcheck/$1" dir="$OUT/selfcheck/$1"
	zdtm_begin "$tn" "$name" "$dir" 0 || return 0
	sleep 0.2
	sigterm_and_check "$tn" "$dir" "$TPID" "$TPID"
}

# zdtm_plain NAME [TAG]: dump, restore, check; TAG names a variant (zdtm/NAME(TAG), its own directory)
zdtm_plain() {
	local name=$1 tn="zdtm/$1${2:+($2)}" dir="$OUT/zdtm${2:+-$2}/$1" nthr
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img"; then
		kill_pid "$TPID"; reap "$TPID"; return
	fi
	if ! wait_dead "$TPID" 5; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "process still alive 5 s after a successful dump without -R" "$dir/img/dump.log"
		return
	fi
	reap "$TPID"
	restore_and_check "$tn" "$dir" "$dir/img" "$TPID" "$nthr"
}

zdtm_leave_running() {
	local name=$1 tn="zdtm/$1(-R)" dir="$OUT/zdtm-R/$1" nthr st
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	for img in img1 img2; do
		if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/$img" -R; then
			kill_pid "$TPID"; reap "$TPID"; return
		fi
		sleep 0.1
		st=$(proc_state "$TPID")
		if ! alive "$TPID" || [ "$st" = t ] || [ "$st" = T ] || [ "$(tracer_of "$TPID")" != 0 ]; then
			kill_pid "$TPID"; reap "$TPID"
			fail "$tn" "after dump -R into $img the process is not running freely (state '$st')" \
				"$dir/$img/dump.log" "$dir/test.out"
			return
		fi
	done
	# the whole original tree goes (children too: they hold PIDs the restore needs)
	local kids p
	kids=$(tree_pids "$TPID" | tail -n +2)
	kill_pid "$TPID"
	for p in $kids; do kill -9 "$p" 2>/dev/null; done
	for p in $kids; do wait_dead "$p" 5; done	# SIGKILL is not instant: their PIDs must be free
	reap "$TPID"
	restore_and_check "$tn" "$dir" "$dir/img2" "$TPID" "$nthr"
}

# zdtm_predump NAME: a pre-dump chain (pre1, pre2 on top of it, the dump on top of pre2), then restore
zdtm_predump() {
	local name=$1 tn="zdtm/$1(pre-dump)" dir="$OUT/zdtm-P/$1" nthr pre prev=()
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	for pre in pre1 pre2; do
		mkdir -p "$dir/$pre"
		if ! timeout -k 3 "$(remaining)" "$FERRY" pre-dump -t "$TPID" -D "$dir/$pre" --track-mem -v4 -o dump.log \
			"${prev[@]}" </dev/null >"$dir/$pre/dump.err" 2>&1; then
			kill_pid "$TPID"; reap "$TPID"
			fail "$tn" "ferry pre-dump into $pre failed" "$dir/$pre/dump.err" "$dir/$pre/dump.log"
			return
		fi
		prev=(--prev-images-dir "../$pre")
	done
	if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img" --prev-images-dir ../pre2 --track-mem; then
		kill_pid "$TPID"; reap "$TPID"; return
	fi
	local kids p
	kids=$(tree_pids "$TPID" | tail -n +2)
	wait_dead "$TPID" 5 || kill_pid "$TPID"
	for p in $kids; do kill -9 "$p" 2>/dev/null; done
	for p in $kids; do wait_dead "$p" 5; done	# SIGKILL is not instant: their PIDs must be free
	reap "$TPID"
	restore_and_check "$tn" "$dir" "$dir/img" "$TPID" "$nthr"
}

# restore_detached_and_check NAME DIR PID NTHREADS: `ferry restore -d` of DIR/img must exit 0 and
# leave PID running on its own; SIGTERM, and DIR/test.out must end with PASS. Run by this shell
# itself (no `timeout` between): a root with a parent-death signal becomes ferry's sibling, our
# child, as the original was.
restore_detached_and_check() {
	local tn=$1 dir=$2 pid=$3 nthr=$4
	restore_detached "$tn" "$dir/img" "$pid" "$nthr" || return
	kill -TERM "$pid" 2>/dev/null
	wait_dead "$pid" "$(remaining)" || kill_ours "$pid"
	wait "$pid" 2>/dev/null	# the root may be our child
	if [ "$(last_line "$dir/test.out")" != PASS ]; then
		fail "$tn" "the restored test did not end with PASS$(test_says "$dir")" "$dir/test.out" "$dir/img/restore.log"
	else
		pass "$tn"
	fi
}

# restore_detached NAME IMG PID NTHREADS: `ferry restore -d` of IMG exits 0 and PID runs untraced with its
# threads; 0 if so, else reports the failure
restore_detached() {
	local tn=$1 img=$2 pid=$3 nthr=$4 rc
	ferry_restore_bg "$img" -d
	reap "$RPID"
	rc=$REAP_RC
	track "$pid"
	if [ "$rc" != 0 ]; then
		kill_ours "$pid"
		fail "$tn" "ferry restore -d exited with $rc" "$img/restore.err" "$img/restore.log"
		return 1
	fi
	while ! expired && { [ "$(tracer_of "$pid")" != 0 ] || [ "$(nthreads "$pid")" -lt "$nthr" ]; }; do
		sleep 0.05
	done
	return 0
}

# pid_free PID: 0 once no process (not even a zombie: a root restored -d is init's child, or ours, reaped
# in their own time) holds PID, within 5 s
pid_free() {
	local end=$((SECONDS + 5))
	while [ -e "/proc/$1" ]; do
		[ $SECONDS -ge $end ] && return 1
		wait "$1" 2>/dev/null
		sleep 0.02
	done
	return 0
}

# zdtm_iter NAME: dump and restore (-d) ITERATIONS times, each round dumping the last restored process
zdtm_iter() {
	local name=$1 tn="zdtm/$1(iter)" dir="$OUT/zdtm-I/$1" nthr i
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	for ((i = 1; i <= ITERATIONS; i++)); do
		if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img$i"; then
			kill_ours "$TPID"; pid_free "$TPID"; return
		fi
		if ! wait_dead "$TPID" 5 || ! pid_free "$TPID"; then
			kill_ours "$TPID"
			fail "$tn" "round $i: pid $TPID still there 5 s after the dump" "$dir/img$i/dump.log"
			return
		fi
		restore_detached "$tn" "$dir/img$i" "$TPID" "$nthr" || return
	done
	kill -TERM "$TPID" 2>/dev/null
	wait_dead "$TPID" "$(remaining)" || kill_ours "$TPID"
	pid_free "$TPID"
	if [ "$(last_line "$dir/test.out")" != PASS ]; then
		fail "$tn" "the test did not end with PASS after $ITERATIONS rounds$(test_says "$dir")" "$dir/test.out"
	else
		pass "$tn"
	fi
}

# zdtm_pageserver NAME: dump through a page server on a free loopback port, restore what it stored
zdtm_pageserver() {
	local name=$1 tn="zdtm/$1(page-server)" dir="$OUT/zdtm-S/$1" nthr spid port="" end
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	mkdir -p "$dir/srv"
	"$FERRY" page-server --address 127.0.0.1 --port 0 -D "$dir/srv" --insecure -v4 \
		</dev/null >"$dir/server.out" 2>"$dir/server.err" &
	spid=$!
	track "$spid"
	end=$((SECONDS + 10))
	while [ -z "$port" ] && alive "$spid" && [ $SECONDS -lt $end ]; do
		sleep 0.02
		port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.out")
	done
	if [ -z "$port" ]; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the page server did not announce its port" "$dir/server.out" "$dir/server.err"
		return
	fi
	dump_gone "$tn" "$dir" --page-server --address 127.0.0.1 --port "$port" || return
	reap "$spid"
	if [ "$REAP_RC" != 0 ]; then
		fail "$tn" "the page server exited with $REAP_RC" "$dir/server.err"
		return
	fi
	restore_and_check "$tn" "$dir" "$dir/srv" "$TPID" "$nthr"
}

# zdtm_twice NAME: one dump restored twice, each run checked (test.out is put back as it was at the dump)
zdtm_twice() {
	local name=$1 tn="zdtm/$1(restore twice)" dir="$OUT/zdtm-T/$1" nthr before
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	dump_gone "$tn" "$dir" || return
	cp "$dir/test.out" "$dir/test.out.dumped"
	before=$NFAIL
	restore_and_check "$tn/1" "$dir" "$dir/img" "$TPID" "$nthr"
	[ $NFAIL = "$before" ] || return
	pid_free "$TPID"
	cat "$dir/test.out.dumped" >"$dir/test.out"	# the same inode, the size it had at the dump
	start_clock
	restore_and_check "$tn/2" "$dir" "$dir/img" "$TPID" "$nthr"
}

# load_start / load_stop: the parallel load of tests/load/load.c (2 CPU spinners at nice 10, 128 MiB
# touched over and over, a fork loop)
LOAD_PID=""
load_start() {
	[ -z "$LOAD_PID" ] || return 0
	"$BUILD/tests/ferry-load" -c 2 -m 1 -M 128 -f 1 </dev/null >"$OUT/load.log" 2>&1 &
	LOAD_PID=$!
}
load_stop() {
	[ -n "$LOAD_PID" ] || return 0
	kill -TERM "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=""
}

# dump_gone NAME DIR [ARGS...]: ferry_dump of TPID into DIR/img, then TPID is dead and reaped; 1 (reported)
# if the dump failed
dump_gone() {
	local tn=$1 dir=$2
	shift 2
	if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img" "$@"; then
		kill_pid "$TPID"; reap "$TPID"; return 1
	fi
	wait_dead "$TPID" 5 || kill_pid "$TPID"
	reap "$TPID"
	return 0
}

# zdtm_detached NAME: dump, then restore with -d (restore_detached_and_check)
zdtm_detached() {
	local name=$1 tn="zdtm/$1(-d)" dir="$OUT/zdtm-d/$1" nthr
	zdtm_begin "$tn" "$name" "$dir" 1 || return 0
	nthr=$(nthreads "$TPID")
	dump_gone "$tn" "$dir" || return
	if [ -e "/proc/$TPID" ]; then
		skip "$tn" "pid $TPID was reused by another process before the restore"
		return
	fi
	restore_detached_and_check "$tn" "$dir" "$TPID" "$nthr"
}

run_zdtm() {
	local names=() n
	if [ ! -d "$ZDTM_BIN" ]; then
		selected "zdtm" && fail "zdtm" "no test programs in $ZDTM_BIN (build first)"
		return
	fi
	for n in "$ZDTM_BIN"/*; do
		[ -f "$n" ] && [ -x "$n" ] && names+=("$(basename "$n")")
	done
	for n in "${names[@]}"; do
		zdtm_selfcheck "$n"
	done
	for n in "${names[@]}"; do
		zdtm_plain "$n"
		case " $R_TESTS " in *" $n "*) zdtm_leave_running "$n" ;; esac
		case " $P_TESTS " in *" $n "*) zdtm_predump "$n" ;; esac
		case " $D_TESTS " in *" $n "*) zdtm_detached "$n" ;; esac
		case " $FILL_TESTS " in *" $n "*) FERRY_FAULT=fill-proc-mem zdtm_plain "$n" proc-mem ;; esac
		case " $I_TESTS " in *" $n "*) zdtm_iter "$n" ;; esac
		case " $S_TESTS " in *" $n "*) zdtm_pageserver "$n" ;; esac
		case " $T_TESTS " in *" $n "*) zdtm_twice "$n" ;; esac
	done
	# under load (all of them already run so with --load)
	[ $LOAD = 1 ] && return
	for n in $L_TESTS; do
		[ -x "$ZDTM_BIN/$n" ] && selected "zdtm/$n(load)" || continue
		load_start
		zdtm_plain "$n" load
	done
	load_stop
}

# ---------------------------------------------------------------- unit tests and fuzz

run_unit() {
	local t tn log rc
	mkdir -p "$OUT/unit"
	for t in "$BUILD"/tests/unit/test-*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		tn="unit/$(basename "$t")"
		selected "$tn" || continue
		log="$OUT/unit/$(basename "$t").log"
		timeout -k 5 120 "$t" </dev/null >"$log" 2>&1
		rc=$?
		case $rc in
		0) pass "$tn" ;;
		77) skip "$tn" "$(tail -n 1 "$log")" ;;
		124) fail "$tn" "timeout (120 s)" "$log" ;;
		*) fail "$tn" "exit status $rc" "$log" ;;
		esac
	done
}

run_fuzz() {
	local log="$OUT/fuzz.log" rc
	[ -f "$ROOT/tests/fuzz/run.sh" ] || return 0
	selected "fuzz" || return 0
	[ $FUZZ = 1 ] || { skip "fuzz" "--no-fuzz"; return; }
	timeout -k 10 600 bash "$ROOT/tests/fuzz/run.sh" "$BUILD" 20 </dev/null >"$log" 2>&1
	rc=$?
	case $rc in
	0) pass "fuzz" ;;
	77) skip "fuzz" "$(tail -n 1 "$log")" ;;
	124) fail "fuzz" "timeout (600 s)" "$log" ;;
	*) fail "fuzz" "exit status $rc" "$log" ;;
	esac
}

# Suites that print their own PASS/FAIL/SKIP lines: tests/<suite>/run.sh BUILD.
run_suites() {
	local suite name line rc log
	for suite in incremental transport transform images cli safety paths api migrate; do
		[ -x "$ROOT/tests/$suite/run.sh" ] || continue
		selected "$suite/" || selected "$suite" || continue
		log="$OUT/$suite.log"
		timeout -k 10 900 "$ROOT/tests/$suite/run.sh" "$BUILD" </dev/null >"$log" 2>"$OUT/$suite.err"
		rc=$?
		while IFS= read -r line; do
			case $line in
			PASS\ *) name=${line#PASS }; selected "${name%% *}" && pass "$name" ;;
			FAIL\ *) name=${line#FAIL }; selected "${name%%:*}" && fail "${name%%:*}" "${name#*: }" ;;
			SKIP\ *) name=${line#SKIP }; selected "${name%%:*}" && skip "${name%%:*}" "${name#*: }" ;;
			esac
		done <"$log"
		[ $rc = 0 ] || [ $rc = 1 ] || fail "$suite" "the suite itself exited with status $rc" "$OUT/$suite.err"
	done
}

# ---------------------------------------------------------------- main

trap 'end_test; load_stop' EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# shellcheck source=tests/real/real.sh
. "$ROOT/tests/real/real.sh"
# shellcheck source=tests/real/jvm.sh
. "$ROOT/tests/real/jvm.sh"
# shellcheck source=tests/bad/bad.sh
. "$ROOT/tests/bad/bad.sh"
# shellcheck source=tests/task/task.sh
. "$ROOT/tests/task/task.sh"

[ $LOAD = 1 ] && load_start
run_unit
run_zdtm
run_real
run_bad
run_task
run_suites
run_fuzz
load_stop

echo "$NPASS passed, $NFAIL failed, $NSKIP skipped"
[ $NFAIL = 0 ]
