#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Safety: whatever happens to ferry, the workload it was working on is unharmed.
#  - every fault point of dump, dump -R (also of a process that makes the dump inject under
#    PTRACE_SYSCALL, probe its shared seccomp filters and switch its syscall user dispatch off:
#    "traps"), pre-dump --track-mem, a page-server dump, restore and image merge is made to fail
#    (FERRY_FAULT), and ferry is killed there (FERRY_STALL) with
#    SIGKILL, SIGTERM, SIGINT, SIGHUP, and its worker with SIGKILL; then at random moments;
#  - the workload is killed from outside at stages: ferry fails by name, it does not hang;
#  - the tracking holder keeps nothing of its caller and its death harms nobody;
#  - stopped targets stay stopped; a traced one is refused by name; forking loops freeze whole.
# After each run the workload (tests/safety/workload.c, a tree of multi-threaded processes)
# checks its own memory, maps, descriptors, signal masks and pending signals, and that none of
# its threads is stopped or traced; a failed run leaves no inventory and no temporary file (past
# the point of no return: a whole image without statistics); a failed restore leaves no process.
#   tests/safety/run.sh BUILD_DIR [FILTER]   prints PASS/FAIL/SKIP lines (the runner counts them)
set -u
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR [FILTER]}" && pwd)
FILTER=${2:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
F=$BUILD/src/ferry
W=$BUILD/tests/safety_workload
OUT=$ROOT/tests/out/safety
SIGNALS=(KILL TERM INT HUP)

[ -x "$F" ] && [ -x "$W" ] || { echo "FAIL safety: not built (run make)"; exit 1; }
mkdir -p "$OUT"
# Under a child subreaper: what dies (a killed restore's tree, a dumped workload) is collected at
# once, not seconds later by PID 1, so its PIDs are free for the next run.
[ -n "${SAFETY_REAPER:-}" ] || exec env SAFETY_REAPER=1 "$W" "$OUT" reap /bin/bash "${BASH_SOURCE[0]}" "$@"

pass() { echo "PASS safety/$1"; }
fail() { echo "FAIL safety/$1: $2"; }
selected() { [ -z "$FILTER" ] || grep -Eq -- "$FILTER" <<<"safety/$1"; }

# ---------------------------------------------------------------- processes we started

LIVE=()
starttime() {
	local s
	read -r s 2>/dev/null <"/proc/$1/stat" || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}
track() { local st; st=$(starttime "$1"); [ -n "$st" ] && LIVE+=("$1:$st"); return 0; }
cleanup() {
	local e
	for e in "${LIVE[@]}"; do
		[ "$(starttime "${e%%:*}")" = "${e#*:}" ] && kill -KILL "${e%%:*}" 2>/dev/null
	done
	LIVE=()
}
trap cleanup EXIT

state() { local s; read -r s 2>/dev/null <"/proc/$1/stat" || return 0; s=${s##*) }; echo "${s%% *}"; }
alive() { local s; read -r s 2>/dev/null <"/proc/$1/stat" || return 1; s=${s##*) }; s=${s%% *}; [ "$s" != Z ] && [ "$s" != X ]; }
# status_of FILE: sets ST_STATE and ST_TRACER from a /proc status file ("gone" if unreadable)
status_of() {
	local k v try
	for try in 1 2 3; do
		ST_STATE=gone; ST_TRACER=gone
		{ while read -r k v; do
			case $k in State:) ST_STATE=${v%% *} ;; TracerPid:) ST_TRACER=$v ;; esac
		done <"$1"; } 2>/dev/null
		[ "$ST_TRACER" != gone ] && return 0
		sleep 0.01
	done
}
tracer() { status_of "/proc/$1/status"; echo "$ST_TRACER"; }
# gone PID START SECONDS: until PID no longer runs the process that had START
gone() {
	local end=$((SECONDS + $3))
	while [ "$(starttime "$1")" = "$2" ] && alive "$1"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.02
	done
	return 0
}
close_fds() { local fd; for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; return 0; }

# ---------------------------------------------------------------- the workload

# wl_start NAME [MODE]: a fresh workload in $OUT/NAME; sets WD, PIDS, WROOT
wl_start() {
	WD=$OUT/$1
	rm -rf "$WD"
	mkdir -p "$WD"
	(close_fds; exec setsid "$W" "$WD" ${2:-}) </dev/null >"$WD/out" 2>&1 &
	WROOT=$!
	track "$WROOT"
	local end=$((SECONDS + 20))
	while [ ! -e "$WD/ready" ]; do
		if ! alive "$WROOT" || [ $SECONDS -ge $end ]; then
			kill -KILL "$WROOT" 2>/dev/null
			wait "$WROOT"
			WHY="the workload did not start (status $?): $(cat "$WD/out")"
			return 1
		fi
		sleep 0.02
	done
	mapfile -t PIDS <"$WD/pids"
	local p
	for p in "${PIDS[@]}"; do track "$p"; PST[$p]=$(starttime "$p"); done
	return 0
}
declare -A PST	# start time of each workload PID

# wl_restored: the workload's PIDs now hold restored processes (ours: they run the workload)
wl_restored() {
	local p
	for p in "${PIDS[@]}"; do
		[ "$(readlink -f "/proc/$p/exe")" = "$(readlink -f "$W")" ] && PST[$p]=$(starttime "$p") && track "$p"
	done
	return 0
}

wl_stop() {
	local p
	for p in "${PIDS[@]}"; do [ "$(starttime "$p")" = "${PST[$p]:-}" ] && kill -KILL "$p" 2>/dev/null; done
	wait "$WROOT" 2>/dev/null
	return 0
}

# free_threads PID: every thread exists, runs freely (not stopped) and is not traced; else WHY
free_threads() {
	local t s
	alive "$1" || { WHY="process $1 is gone"; return 1; }
	for t in /proc/"$1"/task/*; do
		status_of "$t/status"
		[ "$ST_STATE" = T ] || [ "$ST_STATE" = t ] && { WHY="thread ${t##*/} of $1 is stopped ($ST_STATE)"; return 1; }
		[ "$ST_TRACER" = 0 ] || { WHY="thread ${t##*/} of $1 is traced by $ST_TRACER"; return 1; }
	done
	return 0
}

# wl_check [loose]: every process runs freely and passes its own check (loose: after a restore)
wl_check() {
	local p sig=USR2 end res
	[ "${1:-}" = loose ] && sig=PWR
	for p in "${PIDS[@]}"; do
		free_threads "$p" || return 1
		rm -f "$WD/check-$p"
		kill -"$sig" "$p"
	done
	end=$((SECONDS + 20))
	for p in "${PIDS[@]}"; do
		while [ ! -e "$WD/check-$p" ]; do
			[ $SECONDS -lt $end ] && alive "$p" || { WHY="process $p did not answer its check"; return 1; }
			sleep 0.01
		done
		res=$(cat "$WD/check-$p")
		[ "$res" = PASS ] || { WHY="process $p: $(head -n 3 <<<"$res" | tr '\n' ' ')"; return 1; }
	done
	return 0
}

# nothing_alive: no process of the workload's PIDs runs (zombies left to init are not alive)
nothing_alive() {
	local p end=$((SECONDS + 10))
	for p in "${PIDS[@]}"; do
		while alive "$p"; do
			[ $SECONDS -lt $end ] || { WHY="process $p is alive (state $(state "$p"), exe $(readlink "/proc/$p/exe"))"; return 1; }
			sleep 0.02
		done
	done
	return 0
}

# no_leftovers DIR [complete-ok]: no inventory (the image does not pass for whole) and no
# temporary file. complete-ok: ferry's worker was SIGKILLed after it wrote the inventory: the
# image may then be there, whole (it must verify; a page-server dump's local metadata copy is
# not checked that way, see docs/ERRORS.md).
no_leftovers() {
	local t
	if [ -e "$1/inventory.img" ]; then
		if [ "${2:-}" = complete-ok ]; then
			[ -e "$1/pagemap-${PIDS[0]}.img" ] && [ ! -e "$1/pages-${PIDS[0]}.img" ] ||
				"$F" image verify "$1" >/dev/null 2>&1 || { WHY="a killed run left an image that does not verify"; return 1; }
		else
			WHY="$1/inventory.img exists after a failed run"; return 1
		fi
	fi
	t=$(find "$1" -maxdepth 1 -name '.*.tmp' -o -maxdepth 1 -name '*.part' 2>/dev/null | head -n 3)
	[ -n "$t" ] && { WHY="temporary files left: $t"; return 1; }
	return 0
}

# ---------------------------------------------------------------- ferry

# ferry_bg ERRFILE ARGS...: starts ferry (env from FENV) in the background; sets FPID (the front)
ferry_bg() {
	local err=$1
	shift
	(close_fds; exec env "${FENV[@]}" "$F" "$@") </dev/null >"$err.out" 2>"$err" &
	FPID=$!
	track "$FPID"
}
FENV=()

# the worker of the front FPID (dump, pre-dump), once it exists; empty if it is already done
worker_of() {
	local end=$((SECONDS + 5)) w
	while alive "$1"; do
		w=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
		[ -n "$w" ] && { echo "${w%% *}"; return; }
		[ $SECONDS -ge $end ] && return
		sleep 0.005
	done
}

# wait_stall ERRFILE: until ferry says it stalled; sets STALLED (the stalled process's PID)
wait_stall() {
	local end=$((SECONDS + 30)) l
	while :; do
		l=$(grep -m1 'stalled at' "$1" 2>/dev/null)
		[ -n "$l" ] && break
		alive "$FPID" && [ $SECONDS -lt $end ] || { WHY="ferry did not reach the point: $(tail -n 2 "$1" | tr '\n' ' ')"; return 1; }
		sleep 0.01
	done
	STALLED=${l##*(pid }
	STALLED=${STALLED%)*}
	STALLED_ST=$(starttime "$STALLED")
	track "$STALLED"
}

# ferry_done PID SECONDS: waits for our child ferry; sets RC (timeout: killed, RC=timeout)
ferry_done() {
	local end=$((SECONDS + $2))
	while alive "$1"; do
		if [ $SECONDS -ge $end ]; then
			kill -KILL "$1" 2>/dev/null
			wait "$1" 2>/dev/null
			RC=timeout
			return 1
		fi
		sleep 0.005
	done
	wait "$1" 2>/dev/null
	RC=$?
	return 0
}

# kill_at HOW: kills ferry as HOW says: SIG (the front, or the process that stalled) or
# worker-KILL; then waits until nothing of it is left. The front exits once its worker has
# (a front killed for being late would end the worker by its parent-death signal, hiding a
# worker that never saw the cancel). The stalled process is known by the start time it had
# when it stalled: once it is reaped its PID may hold another process (pid_max is 32768 here).
kill_at() {
	local how=$1 target=$FPID sig=${1#worker-} st
	[ "${how%%-*}" = worker ] && target=$STALLED
	st=$(starttime "$target")
	kill -"$sig" "$target" 2>/dev/null
	ferry_done "$FPID" 30 || { WHY="ferry still runs 30 s after $how"; return 1; }
	[ -n "${STALLED:-}" ] && [ -n "$st" ] && ! gone "$STALLED" "$STALLED_ST" 30 &&
		{ WHY="ferry's worker $STALLED still runs 30 s after $how"; return 1; }
	return 0
}

# ---------------------------------------------------------------- walking the points

# An operation: OP_ARGS (ferry's arguments; IMG is the image directory), OP_WL (workload mode).
op_setup() {
	case $1 in
	dump) OP_WL=tree; OP_ARGS=(dump -t @ROOT -D @IMG -v4 -o dump.log) ;;
	dump-R) OP_WL=tree; OP_ARGS=(dump -t @ROOT -D @IMG -R -v4 -o dump.log) ;;
	traps) OP_WL=traps; OP_ARGS=(dump -t @ROOT -D @IMG -R -v4 -o dump.log) ;;
	pre-dump) OP_WL=; OP_ARGS=(pre-dump -t @ROOT -D @IMG --track-mem -v4 -o dump.log) ;;
	ps-dump) OP_WL=; OP_ARGS=(dump -t @ROOT -D @IMG -R -v4 -o dump.log --page-server --address 127.0.0.1
		--port @PORT --token-file "$OUT/token") ;;
	esac
}

# op_args IMG: OP_ARGS with the placeholders filled in, into ARGS
op_args() {
	local a
	ARGS=()
	for a in "${OP_ARGS[@]}"; do
		a=${a//@ROOT/${PIDS[0]}}
		a=${a//@IMG/$1}
		a=${a//@PORT/${PS_PORT:-0}}
		ARGS+=("$a")
	done
}

# The page server for ps-dump, serving every session into $OUT/srv.
PS_PID=
ps_start() {
	[ -n "$PS_PID" ] && alive "$PS_PID" && return 0
	echo "safety-token-$$" >"$OUT/token"
	local try
	for try in 1 2 3 4 5; do
		PS_PORT=$((20000 + RANDOM % 30000))
		rm -rf "$OUT/srv"
		mkdir -p "$OUT/srv"
		(close_fds; exec "$F" page-server --address 127.0.0.1 --port "$PS_PORT" -D "$OUT/srv" --forever \
			--token-file "$OUT/token") </dev/null >"$OUT/srv.log" 2>&1 &
		PS_PID=$!
		track "$PS_PID"
		local end=$((SECONDS + 5))
		while alive "$PS_PID" && [ $SECONDS -lt $end ]; do
			ss -ltnH "sport = :$PS_PORT" 2>/dev/null | grep -q . && return 0
			sleep 0.05
		done
		kill -KILL "$PS_PID" 2>/dev/null
	done
	return 1
}

# trace_points OP: one successful run recording every point it passes; sets POINTS
trace_points() {
	local op=$1 img
	wl_start "$op-trace" $OP_WL || return 1
	img=$WD/img
	rm -f "$OUT/$op.points"
	op_args "$img"
	FENV=(FERRY_FAULT_TRACE="$OUT/$op.points")
	ferry_bg "$WD/err" "${ARGS[@]}"
	ferry_done "$FPID" 60
	FENV=()
	[ "$RC" = 0 ] || { WHY="the traced run failed ($RC): $(tail -n 2 "$WD/err" | tr '\n' ' ')"; wl_stop; return 1; }
	wl_stop
	mapfile -t POINTS < <(sort -u "$OUT/$op.points")
	[ ${#POINTS[@]} -ge 10 ] || { WHY="only ${#POINTS[@]} points traced"; return 1; }
	return 0
}

# Points past a dump's point of no return: the image is whole, read back, and the tree was
# killed (dump) or runs on. Failing there is a warning (exit 0); killing ferry there leaves the
# same image. Neither leaves a statistics record of a run that did not end as asked.
LATE_POINTS=" dump-write-stats "
late_point() { [[ "$LATE_POINTS" == *" $1 "* ]]; }

# late_ok OP IMG: a whole image (verified when its pages are here, not on a page server), no
# stats-dump.img; the workload killed (dump, then started again) or intact
late_ok() {
	[ -e "$2/inventory.img" ] || { WHY="no inventory.img past the point of no return"; return 1; }
	if [ -e "$2/pages-${PIDS[0]}.img" ]; then
		"$F" image verify "$2" >/dev/null 2>"$2.verify" || { WHY="the image does not verify: $(tail -n 1 "$2.verify")"; return 1; }
	fi
	[ ! -e "$2/stats-dump.img" ] || { WHY="stats-dump.img written although its record could not be or ferry was stopped"; return 1; }
	if [ "$1" = dump ]; then
		nothing_alive && wl_start "$1" $OP_WL
	else
		wl_check
	fi
}

# walk OP: for every point: the point fails; ferry is killed there. The workload is untouched
# (past the point of no return: see late_ok).
walk() {
	local op=$1 n=0 k=0 how point img ok=1 hows=(KILL TERM INT HUP worker-KILL)
	selected "$op" || return 0
	op_setup "$op"
	[ "$op" = ps-dump ] && { ps_start || { fail "$op" "the page server did not start"; return; }; }
	trace_points "$op" || { fail "$op/walk" "$WHY"; return; }
	wl_start "$op" $OP_WL || { fail "$op/walk" "$WHY"; return; }
	for point in "${POINTS[@]}"; do
		# the point fails
		img=$WD/img-$n
		op_args "$img"
		FENV=(FERRY_FAULT="$point")
		ferry_bg "$WD/err-$n" "${ARGS[@]}"
		ferry_done "$FPID" 60
		if late_point "$point"; then
			if [ "$RC" != 0 ] || ! grep -q "stats-dump.img not written" "$WD/err-$n"; then
				fail "$op/fault($point)" "exit $RC, no warning: $(tail -n 2 "$WD/err-$n" | tr '\n' ' ')"; ok=0
			elif ! late_ok "$op" "$img"; then
				fail "$op/fault($point)" "$WHY"; ok=0
			fi
		elif [ "$RC" = 0 ] || [ "$RC" = timeout ]; then
			fail "$op/fault($point)" "ferry exited with $RC"; ok=0
		elif ! no_leftovers "$img" || ! wl_check; then
			fail "$op/fault($point)" "$WHY"; ok=0
		fi
		# ferry is killed there
		how=${hows[$((k++ % ${#hows[@]}))]}
		img=$WD/img-$n-k
		op_args "$img"
		FENV=(FERRY_STALL="$point")
		STALLED=
		ferry_bg "$WD/err-$n-k" "${ARGS[@]}"
		if ! wait_stall "$WD/err-$n-k"; then
			ferry_done "$FPID" 30
			fail "$op/kill($point)" "$WHY"; ok=0
		elif late_point "$point"; then
			kill_at "$how" && late_ok "$op" "$img" || { fail "$op/kill($point,$how)" "$WHY (see ${WD#"$ROOT"/}/err-$n-k)"; ok=0; }
		elif ! kill_at "$how" || ! no_leftovers "$img" "$( [ "$how" = worker-KILL ] && echo complete-ok)" || ! wl_check; then
			fail "$op/kill($point,$how)" "$WHY (see ${WD#"$ROOT"/}/err-$n-k)"; ok=0
		fi
		FENV=()
		[ $ok = 1 ] || break
		n=$((n + 1))
	done
	if [ $ok = 1 ] && [ "$op" = ps-dump ]; then	# the server dropped every failed session whole
		local end=$((SECONDS + 5)) t
		while t=$(find "$OUT/srv" -name '.*.tmp' -o -name '*.part' | head -n 3) && [ -n "$t" ] && [ $SECONDS -lt $end ]; do
			sleep 0.05
		done
		[ -z "$t" ] || { fail "$op/walk" "the page server kept temporary files: $t"; ok=0; }
	fi
	[ $ok = 1 ] && wl_check && pass "$op/walk ($n points failed and killed there: ${POINTS[*]})"
	wl_stop
}

# random_kills OP N: ferry killed (front: any signal; or its worker: SIGKILL between injections
# is what the design covers, so the worker only gets SIGTERM here) after a random delay
random_kills() {
	local op=$1 trials=$2 i how sig delay img done_ok=0 killed=0 ok=1
	selected "$op/random" || return 0
	op_setup "$op"
	[ "$op" = ps-dump ] && { ps_start || { fail "$op/random" "the page server did not start"; return; }; }
	wl_start "$op-random" $OP_WL || { fail "$op/random" "$WHY"; return; }
	for ((i = 0; i < trials; i++)); do
		sig=${SIGNALS[$((RANDOM % 4))]}
		delay=$(printf '0.%03d' $((RANDOM % 25)))
		img=$WD/img-$i
		op_args "$img"
		ferry_bg "$WD/err-$i" "${ARGS[@]}"
		STALLED=$(worker_of "$FPID")
		STALLED_ST=$(starttime "$STALLED")
		[ -n "$STALLED" ] && track "$STALLED"
		sleep "$delay"
		kill_at "$sig" || { fail "$op/random" "$WHY"; ok=0; break; }
		# A killed front tells nothing: the image says whether the worker finished first.
		if [ -e "$img/inventory.img" ]; then
			done_ok=$((done_ok + 1))
			if [ "$op" = dump ]; then	# the tree is gone, the image whole
				"$F" image verify "$img" >/dev/null 2>"$WD/verify-$i" ||
					{ fail "$op/random" "a dump that finished left an image that does not verify"; ok=0; break; }
				nothing_alive || { fail "$op/random" "$WHY"; ok=0; break; }
				wl_start "$op-random" $OP_WL || { fail "$op/random" "$WHY"; ok=0; break; }
				continue
			fi
		else
			killed=$((killed + 1))
			no_leftovers "$img" || { fail "$op/random" "trial $i ($sig after ${delay}s): $WHY"; ok=0; break; }
		fi
		wl_check || { fail "$op/random" "trial $i ($sig after ${delay}s, ferry exited $RC): $WHY"; ok=0; break; }
	done
	[ $ok = 1 ] && pass "$op/random ($trials trials: killed $killed times, finished first $done_ok times; the workload intact each time)"
	wl_stop
}

# ---------------------------------------------------------------- the workload killed under ferry

# target_kills: the workload dies at a stage (a child, then the root): ferry names it, no hang
target_kills() {
	local point victim n=0 ok=1 p
	selected "dump/target-killed" || return 0
	for point in dump-after-seize dump-object-signals dump-after-objects; do
		for victim in 1 0; do
			wl_start "target-$n" tree || { fail "dump/target-killed" "$WHY"; return; }
			FENV=(FERRY_STALL="$point" FERRY_STALL_MS=1000)
			STALLED=
			ferry_bg "$WD/err" dump -t "${PIDS[0]}" -D "$WD/img" -R -v4 -o dump.log
			FENV=()
			if ! wait_stall "$WD/err"; then
				ferry_done "$FPID" 30; fail "dump/target-killed($point)" "$WHY"; ok=0; break 2
			fi
			kill -KILL "${PIDS[$victim]}"
			ferry_done "$FPID" 30
			if [ "$RC" = timeout ]; then
				fail "dump/target-killed($point)" "ferry hung after pid ${PIDS[$victim]} was killed"; ok=0; break 2
			elif [ "$RC" = 0 ] || ! grep -q "process ${PIDS[$victim]} exited during the dump" "$WD/err"; then
				fail "dump/target-killed($point)" "exit $RC, and no 'process ${PIDS[$victim]} exited during the dump': $(tail -n 2 "$WD/err" | tr '\n' ' ')"
				ok=0; break 2
			fi
			# the others are released as they were (the root, its child gone, only runs freely)
			for p in "${PIDS[@]}"; do
				[ "$p" = "${PIDS[$victim]}" ] && continue
				free_threads "$p" || { fail "dump/target-killed($point)" "$WHY"; ok=0; break 3; }
			done
			if [ "$victim" = 1 ]; then
				PIDS=("${PIDS[2]}")
				wl_check || { fail "dump/target-killed($point)" "the other child: $WHY"; ok=0; break 2; }
				mapfile -t PIDS <"$WD/pids"
			fi
			wl_stop
			n=$((n + 1))
		done
	done
	[ $ok = 1 ] && pass "dump/target-killed (a child, then the root, killed at $n stages: named, no hang)"
	wl_stop
}

# ---------------------------------------------------------------- restore

# ferry restore in the background (a child of ours: the subreaper above collects its tree)
restore_bg() {
	ferry_bg "$1" restore "${@:2}"
}

# guards_done: a killed restore's guardian (ferry-guard, orphaned to the subreaper that runs
# this suite) has done its work: it kills the tree within moments of ferry's death, not before
guards_done() {
	local end=$((SECONDS + 10))
	while pgrep -P "$PPID" -x ferry-guard >/dev/null; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.01
	done
	return 0
}

# rkill_check HOW: after ferry restore was killed: nothing alive, or (released) all of it, intact
rkill_check() {
	guards_done || { WHY="the release guardian still runs 10 s after ferry died"; return 1; }
	if alive "${PIDS[0]}" && [ "$(tracer "${PIDS[0]}")" = 0 ] && [ "$(readlink -f "/proc/${PIDS[0]}/exe")" = "$(readlink -f "$W")" ]; then
		sleep 0.1
		wl_restored
		wl_check loose || return 1
		wl_stop
		RELEASED=$((RELEASED + 1))
	fi
	nothing_alive
}

restore_walk() {
	local n=0 k=0 point how ok=1 img late hows=(KILL TERM INT HUP)
	selected "restore" || return 0
	wl_start restore tree || { fail "restore/walk" "$WHY"; return; }
	img=$WD/img
	"$F" dump -t "${PIDS[0]}" -D "$img" -v4 -o dump.log >"$WD/dump.err" 2>&1 || { fail "restore/walk" "dump failed"; return; }
	nothing_alive || { fail "restore/walk" "$WHY"; return; }
	FENV=(FERRY_FAULT_TRACE="$OUT/restore.points")
	rm -f "$OUT/restore.points"
	restore_bg "$WD/trace.err" -D "$img" -d -v4 -o restore.log --pidfile "$WD/pid"
	ferry_done "$FPID" 60
	FENV=()
	[ "$RC" = 0 ] && wl_restored && wl_check loose || { fail "restore/walk" "the traced restore failed ($RC): ${WHY:-} $(tail -n 2 "$WD/trace.err")"; return; }
	wl_stop
	nothing_alive || { fail "restore/walk" "$WHY"; return; }
	mapfile -t POINTS < <(sort -u "$OUT/restore.points")
	RELEASED=0
	for point in "${POINTS[@]}"; do
		FENV=(FERRY_FAULT="$point")
		restore_bg "$WD/err-$n" -D "$img" -d -v4 -o restore.log --pidfile "$WD/pid"
		ferry_done "$FPID" 60
		# past the release the tree runs: what fails there (the files a restore writes, its
		# statistics and pidfile, the post-resume action) is a warning
		case $point in
		image-write | restore-write-stats) late="stats-restore.img not written" ;;
		restore-write-pidfile) late="cannot write pidfile" ;;
		action-post-resume) late="the tree runs on" ;;
		*) late= ;;
		esac
		if [ -n "$late" ]; then
			[ "$RC" = 0 ] && grep -q "$late" "$WD/err-$n" && wl_restored && wl_check loose ||
				{ fail "restore/fault($point)" "exit $RC, no warning '$late', or the tree is not whole: ${WHY:-}"; ok=0; break; }
			wl_stop
		elif [ "$RC" = 0 ] || [ "$RC" = timeout ]; then
			fail "restore/fault($point)" "ferry restore exited with $RC"; ok=0; break
		fi
		nothing_alive || { fail "restore/fault($point)" "$WHY"; ok=0; break; }
		how=${hows[$((k++ % ${#hows[@]}))]}
		FENV=(FERRY_STALL="$point")
		STALLED=
		restore_bg "$WD/err-$n-k" -D "$img" -d -v4 -o restore.log --pidfile "$WD/pid"
		if ! wait_stall "$WD/err-$n-k"; then
			ferry_done "$FPID" 30; fail "restore/kill($point)" "$WHY"; ok=0; break
		fi
		kill -"$how" "$STALLED"
		ferry_done "$FPID" 30
		rkill_check || { fail "restore/kill($point,$how)" "$WHY"; ok=0; break; }
		FENV=()
		n=$((n + 1))
	done
	FENV=()
	[ $ok = 1 ] || return
	# SIGKILL in the middle of the release (some tasks detached, others still attached): the
	# guardian kills what was detached, so nothing is left half alive
	FENV=(FERRY_STALL=restore-mid-release)
	STALLED=
	restore_bg "$WD/mid.err" -D "$img" -d -v4 -o restore.log
	FENV=()
	wait_stall "$WD/mid.err" || { ferry_done "$FPID" 30; fail "restore/mid-release" "$WHY"; return; }
	kill -KILL "$STALLED"
	ferry_done "$FPID" 30
	nothing_alive || { fail "restore/mid-release" "ferry SIGKILLed between two detaches: $WHY"; return; }
	# the image is intact and the PIDs free: a plain restore works
	restore_bg "$WD/final.err" -D "$img" -d -v4 -o restore.log
	ferry_done "$FPID" 60
	[ "$RC" = 0 ] && wl_restored && wl_check loose || { fail "restore/walk" "the last, plain restore failed ($RC): ${WHY:-}"; return; }
	wl_stop
	pass "restore/walk ($n points failed, and ferry killed there: nothing left alive, or (after the release: $RELEASED) all of it, intact)"
}

restore_random() {
	local i sig delay ok=1 img trials=$1 fp fst
	selected "restore/random" || return 0
	wl_start restore-random tree || { fail "restore/random" "$WHY"; return; }
	img=$WD/img
	"$F" dump -t "${PIDS[0]}" -D "$img" >"$WD/dump.err" 2>&1 || { fail "restore/random" "dump failed"; return; }
	nothing_alive || { fail "restore/random" "$WHY"; return; }
	RELEASED=0
	for ((i = 0; i < trials; i++)); do
		sig=${SIGNALS[$((RANDOM % 4))]}
		delay=$(printf '0.%03d' $((RANDOM % 70)))
		restore_bg "$WD/err-$i" -D "$img" -d
		fp=$FPID
		fst=$(starttime "$fp")
		sleep "$delay"
		[ -n "$fp" ] && [ "$(starttime "$fp")" = "$fst" ] && [ "$(readlink -f "/proc/$fp/exe")" = "$(readlink -f "$F")" ] &&
			kill -"$sig" "$fp" 2>/dev/null
		ferry_done "$FPID" 30
		rkill_check || { fail "restore/random" "trial $i ($sig after ${delay}s): $WHY"; ok=0; break; }
	done
	[ $ok = 1 ] && pass "restore/random ($trials kills at random moments: nothing alive, or ($RELEASED) all of it, intact)"
}

# The restored tree killed from outside right after a stage: restore fails, no hang, nothing left.
restore_target_kills() {
	local point ok=1 img n=0
	selected "restore/target-killed" || return 0
	wl_start restore-target tree || { fail "restore/target-killed" "$WHY"; return; }
	img=$WD/img
	"$F" dump -t "${PIDS[0]}" -D "$img" >"$WD/dump.err" 2>&1 || { fail "restore/target-killed" "dump failed"; return; }
	nothing_alive || { fail "restore/target-killed" "$WHY"; return; }
	for point in restore-after-tree restore-after-threads restore-after-stops restore-after-objects; do
		FENV=(FERRY_STALL="$point" FERRY_STALL_MS=1500)
		STALLED=
		restore_bg "$WD/err-$n" -D "$img" -d -v4 -o restore.log
		FENV=()
		wait_stall "$WD/err-$n" || { ferry_done "$FPID" 30; fail "restore/target-killed($point)" "$WHY"; ok=0; break; }
		kill -KILL "${PIDS[$((n % 3))]}"
		ferry_done "$FPID" 30
		[ "$RC" = timeout ] && { fail "restore/target-killed($point)" "ferry restore hung"; ok=0; break; }
		[ "$RC" = 0 ] && { fail "restore/target-killed($point)" "ferry restore exited 0"; ok=0; break; }
		nothing_alive || { fail "restore/target-killed($point)" "$WHY"; ok=0; break; }
		n=$((n + 1))
	done
	[ $ok = 1 ] && pass "restore/target-killed (a restored process killed after $n stages: restore fails, nothing left)"
}

# ---------------------------------------------------------------- merge

merge_walk() {
	selected "merge" || return 0
	local d=$OUT/merge
	rm -rf "$d"
	wl_start merge || { fail "merge" "$WHY"; return; }
	"$F" pre-dump -t "${PIDS[0]}" -D "$WD/pre" >/dev/null 2>&1 &&
		"$F" dump -t "${PIDS[0]}" -D "$WD/final" -R --prev-images-dir ../pre >/dev/null 2>&1 ||
		{ fail "merge" "the chain could not be made"; return; }
	wl_stop
	rm -f "$OUT/merge.points"
	FERRY_FAULT_TRACE="$OUT/merge.points" "$F" image merge "$WD/final" "$WD/merged" >/dev/null 2>&1 ||
		{ fail "merge" "a plain merge failed"; return; }
	local point n=0
	for point in $(sort -u "$OUT/merge.points"); do
		rm -rf "$WD/merged"
		FERRY_FAULT=$point "$F" image merge "$WD/final" "$WD/merged" >/dev/null 2>"$WD/err" &&
			{ fail "merge/fault($point)" "exited 0"; return; }
		[ -z "$(ls -A "$WD/merged" 2>/dev/null)" ] ||
			{ fail "merge/fault($point)" "files left in the output: $(ls -A "$WD/merged" | head -n 3 | tr '\n' ' ')"; return; }
		n=$((n + 1))
	done
	pass "merge/walk ($n points: a failed merge leaves nothing in its output)"
}

# ---------------------------------------------------------------- the tracking holder

holder_of() { "$F" show "$1/track.img" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["holder_pid"])' 2>/dev/null; }

t_holder() {
	selected "holder" || return 0
	local out h d fd l bad="" hst
	wl_start holder || { fail "holder" "$WHY"; return; }
	d=$WD/pre1
	# a caller reading ferry's output through a pipe must not wait for the holder
	out=$(cd "$WD" && timeout 20 "$F" pre-dump -t "${PIDS[0]}" -D "$d" --track-mem --display-stats 2>&1)
	[ $? = 0 ] || { fail "holder/stdout" "out=\$(ferry pre-dump --track-mem) did not return in 20 s or failed: $out"; wl_stop; return; }
	h=$(holder_of "$d")
	[ -n "$h" ] && alive "$h" || { fail "holder" "no tracking holder (track.img: $h)"; wl_stop; return; }
	track "$h"
	for fd in /proc/"$h"/fd/*; do
		l=$(readlink "$fd")
		case ${fd##*/}:$l in
		[012]:/dev/null) ;;
		[012]:*) bad="$bad ${fd##*/}->$l" ;;
		*:anon_inode:\[userfaultfd\] | *:anon_inode:\[pidfd\] | *:pidfd:*) ;;
		*) bad="$bad ${fd##*/}->$l" ;;
		esac
	done
	[ "$(readlink "/proc/$h/cwd")" = / ] || bad="$bad cwd->$(readlink "/proc/$h/cwd")"
	[ -z "$bad" ] || { fail "holder/fds" "the holder keeps:$bad"; wl_stop; return; }
	pass "holder/stdout (out=\$(ferry pre-dump --track-mem) returns; the holder keeps only its uffds and pidfds, stdio on /dev/null, cwd /)"
	wl_check || { fail "holder" "after a tracked pre-dump: $WHY"; wl_stop; return; }
	hst=$(starttime "$h")
	kill -KILL "$h"
	gone "$h" "$hst" 5 || { fail "holder/killed" "the holder survived SIGKILL"; wl_stop; return; }
	sleep 0.1
	wl_check || { fail "holder/killed" "after the holder was killed: $WHY"; wl_stop; return; }
	pass "holder/killed (the workload runs on intact)"
	# A dump that fails after reading (and re-arming) the tracking must not leave the previous
	# holder claiming it: the next dump must see the tracking as lost, not miss pages.
	"$F" pre-dump -t "${PIDS[0]}" -D "$WD/pre2" --track-mem >/dev/null 2>&1 || { fail "holder/consumed" "pre-dump failed"; wl_stop; return; }
	h=$(holder_of "$WD/pre2")
	hst=$(starttime "$h")
	track "$h"
	FERRY_FAULT=dump-before-close "$F" dump -t "${PIDS[0]}" -D "$WD/bad" -R --track-mem --prev-images-dir ../pre2 \
		-v4 -o dump.log >/dev/null 2>&1 && { fail "holder/consumed" "the faulty dump exited 0"; wl_stop; return; }
	gone "$h" "$hst" 5 || { fail "holder/consumed" "the previous holder $h still claims a tracking that a failed dump used up"; wl_stop; return; }
	local nh
	nh=$(sed -n 's/.*tracking holder \([0-9]*\) keeps.*/\1/p' "$WD/bad/dump.log" | head -n 1)
	[ -z "$nh" ] || ! alive "$nh" || { fail "holder/consumed" "the failed dump's own holder $nh is still alive"; wl_stop; return; }
	"$F" dump -t "${PIDS[0]}" -D "$WD/next" -R --prev-images-dir ../pre2 -v4 -o dump.log >/dev/null 2>&1 &&
		grep -q "is gone: every present page is copied" "$WD/next/dump.log" ||
		{ fail "holder/consumed" "the next dump did not notice the lost tracking"; wl_stop; return; }
	wl_check || { fail "holder/consumed" "$WHY"; wl_stop; return; }
	pass "holder/consumed (a failed dump stops both holders; the next dump copies everything)"
	wl_stop
}

# ---------------------------------------------------------------- stopped, traced, forking

# t_stopped [MODE HOW]: a stopped workload (MODE: of the workload; HOW ferry is killed, see kill_at)
t_stopped() {
	local t ok=1 tn=stopped${1:+/$1} how=${2:-KILL}
	selected "$tn" || return 0
	wl_start "stopped${1:+-$1}" ${1:-} || { fail "$tn" "$WHY"; return; }
	kill -STOP "${PIDS[0]}"
	for _ in $(seq 100); do [ "$(state "${PIDS[0]}")" = T ] && break; sleep 0.02; done
	"$F" dump -t "${PIDS[0]}" -D "$WD/img" -R >"$WD/err" 2>&1 || { fail "$tn" "dump -R of a stopped process failed: $(cat "$WD/err")"; wl_stop; return; }
	FERRY_STALL=dump-object-signals "$F" dump -t "${PIDS[0]}" -D "$WD/img2" -R >/dev/null 2>"$WD/err2" &
	FPID=$!
	wait_stall "$WD/err2" && kill_at "$how"
	sleep 0.2
	for t in /proc/"${PIDS[0]}"/task/*; do
		status_of "$t/status"
		[ "$ST_STATE" = T ] || { fail "$tn" "thread ${t##*/} is in state $ST_STATE after dump -R and a killed dump, not stopped"; ok=0; break; }
		[ "$ST_TRACER" = 0 ] || { fail "$tn" "thread ${t##*/} is traced"; ok=0; break; }
	done
	kill -CONT "${PIDS[0]}"
	[ $ok = 1 ] && { wl_check || { fail "$tn" "once continued: $WHY"; ok=0; }; }
	[ $ok = 1 ] && pass "$tn (dump -R and a killed dump leave a stopped process stopped, every thread; continued, it is intact)"
	wl_stop
}

t_traced() {
	selected "traced" || return 0
	local tp
	wl_start traced || { fail "traced" "$WHY"; return; }
	(close_fds; exec "$W" "$WD" trace "${PIDS[0]}") </dev/null >"$WD/tracer.out" 2>&1 &
	tp=$!
	track "$tp"
	for _ in $(seq 250); do [ -e "$WD/traced" ] && break; sleep 0.02; done
	"$F" dump -t "${PIDS[0]}" -D "$WD/img" -R >"$WD/err" 2>&1 && { fail "traced" "dump of a process held by another tracer exited 0"; wl_stop; return; }
	grep -q "process ${PIDS[0]} (safety_workload) is traced by $tp" "$WD/err" ||
		{ fail "traced" "the refusal does not name the process and its tracer: $(cat "$WD/err")"; wl_stop; return; }
	kill -TERM "$tp"; wait "$tp" 2>/dev/null
	sleep 0.1
	wl_check || { fail "traced" "after the tracer left: $WHY"; wl_stop; return; }
	pass "traced (refused by name: $(grep -o 'process.*holds it' "$WD/err"))"
	wl_stop
}

t_forking() {
	selected "forking" || return 0
	local d=$OUT/forking loop i fails=0 err="" n=$1 spawned
	rm -rf "$d"; mkdir -p "$d"
	(close_fds; exec setsid bash -c 'while :; do /bin/true; done') </dev/null >/dev/null 2>&1 &
	loop=$!
	track "$loop"
	sleep 0.2
	for ((i = 0; i < n; i++)); do
		rm -rf "$d/img"
		"$F" dump -t "$loop" -D "$d/img" -R >"$d/err" 2>&1 || { fails=$((fails + 1)); err=$(head -n 1 "$d/err"); }
	done
	free_threads "$loop" || { fail "forking/shell" "$WHY"; return; }
	kill -KILL "$loop"
	[ $fails = 0 ] || { fail "forking/shell" "$fails of $n dumps -R of a shell forking /bin/true failed: $err"; return; }
	pass "forking/shell ($n dumps -R of a shell loop forking /bin/true, each while it forks: all whole)"
	# vfork children (posix_spawn) come and go: their parent waits in vfork while being seized
	wl_start forking-spawn spawn || { fail "forking/vfork" "$WHY"; return; }
	for ((i = 0; i < n / 2; i++)); do
		rm -rf "$WD/img"
		"$F" dump -t "${PIDS[0]}" -D "$WD/img" -R >"$WD/err" 2>&1 || { fails=$((fails + 1)); err=$(head -n 1 "$WD/err"); }
	done
	free_threads "${PIDS[0]}" || { fail "forking/vfork" "$WHY"; wl_stop; return; }
	wl_stop
	[ $fails = 0 ] || { fail "forking/vfork" "$fails of $((n / 2)) dumps -R of a posix_spawn loop failed: $err"; return; }
	pass "forking/vfork ($((n / 2)) dumps -R of a posix_spawn (vfork) loop: all whole)"
}

# ---------------------------------------------------------------- main

walk dump
walk dump-R
walk traps
walk pre-dump
walk ps-dump
random_kills dump-R 20
random_kills traps 10
random_kills pre-dump 10
random_kills dump 10
random_kills ps-dump 8
target_kills
restore_walk
restore_random 20
restore_target_kills
merge_walk
t_holder
t_stopped
t_stopped traps worker-KILL
t_traced
t_forking 40
[ -n "$PS_PID" ] && kill -TERM "$PS_PID" 2>/dev/null
exit 0
