# SPDX-License-Identifier: Apache-2.0
# Real programs under checkpoint/restore: python3 with counting threads, a bash loop of builtins,
# `sleep 1000`, a shell pipeline (a tree of four processes joined by pipes), Debian's redis-server with
# 10k keys on a unix socket and loopback TCP, and a python multiprocessing pool. Sourced by
# tests/run.sh, whose helpers (start_clock, ferry_dump, pass/fail...) it uses.

REAL_SRC=$ROOT/tests/real

# real_start DIR CMD...: start CMD in its own session in DIR (stdout DIR/out.txt); sets TPID
real_start() {
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(close_stray_fds; cd "$dir" && exec setsid "$@" </dev/null >"$dir/out.txt" 2>"$dir/err.txt") &
	TPID=$!
	track "$TPID"
}

# wait_lines FILE N: until FILE has at least N lines (bounded by the test deadline)
wait_lines() {
	while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
		expired && return 1
		sleep 0.05
	done
}

# tree_pids PID: PID and all its descendants, parents first (empty if PID does not exist)
tree_pids() {
	local c
	[ -d "/proc/$1" ] || return 0
	echo "$1"
	for c in $(cat "/proc/$1"/task/*/children 2>/dev/null); do
		tree_pids "$c"
	done
}

# tree_shape PID: "pid:ppid" of every descendant of PID, sorted, after PID itself (whose parent is
# whoever started or restored it): equal before and after a restore when every process came back at
# its PID under the same parent
tree_shape() {
	local p
	echo -n "$1"
	for p in $(tree_pids "$1"); do
		[ "$p" != "$1" ] && echo "$p:$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)"
	done | sort -n | tr '\n' ' ' | sed 's/^/ /'
}

# track_tree PID: track PID and its descendants (killed by end_test when the test is over)
track_tree() {
	local p
	for p in $(tree_pids "$1"); do
		track "$p"
	done
}

# real_cycle NAME DIR [DUMP_ARGS...]: dump (killing) the running tree TPID and restore it in the
# background (RPID). 0 once the root runs restored and every process of the tree is back at its PID
# under its parent; otherwise reports the failure and returns 1. Sets PRE_TREE (the tree's shape).
real_cycle() {
	local tn=$1 dir=$2 nthr post
	shift 2
	track_tree "$TPID"
	nthr=$(nthreads "$TPID")
	PRE_EXE=$(readlink "/proc/$TPID/exe")
	PRE_EXE_REAL=$(readlink -f "/proc/$TPID/exe")
	PRE_CMDLINE=$(tr '\0' ' ' <"/proc/$TPID/cmdline")
	PRE_TREE=$(tree_shape "$TPID")
	if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img" "$@"; then
		kill_pid "$TPID"; reap "$TPID"; return 1
	fi
	if ! wait_dead "$TPID" 5; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "process still alive after a successful dump without -R" "$dir/img/dump.log"
		return 1
	fi
	reap "$TPID"
	PRE_LINES=$(wc -l <"$dir/out.txt")
	if [ -e "/proc/$TPID" ]; then
		skip "$tn" "pid $TPID was reused by another process before the restore"
		return 1
	fi
	ferry_restore_bg "$dir/img"
	if ! wait_restored "$TPID" "$nthr" "$RPID"; then
		[ "$(readlink -f "/proc/$TPID/exe")" = "$PRE_EXE_REAL" ] && kill -KILL "$TPID" 2>/dev/null
		kill_ours "$TPID"
		reap "$RPID"
		fail "$tn" "$RESTORE_WHY; ferry restore status $REAP_RC" "$dir/img/restore.err" "$dir/img/restore.log"
		return 1
	fi
	track "$TPID"
	# the rest of a tree: every process back at its PID under the same parent
	post=$(tree_shape "$TPID")
	while [ "$post" != "$PRE_TREE" ] && ! expired; do
		sleep 0.05
		post=$(tree_shape "$TPID")
	done
	track_tree "$TPID"
	if [ "$post" != "$PRE_TREE" ]; then
		real_finish "$tn" "$dir"
		fail "$tn" "restored tree (pid ppid) is '$post', want '$PRE_TREE'" "$dir/img/restore.log"
		return 1
	fi
	return 0
}

# real_finish NAME DIR: kill the restored program (the root first, then the rest of its tree) and
# expect ferry restore to report the root's 128+9
real_finish() {
	local p pids
	pids=$(tree_pids "$TPID")
	kill -KILL "$TPID" 2>/dev/null
	for p in $pids; do
		[ "$p" != "$TPID" ] && kill -KILL "$p" 2>/dev/null
	done
	reap "$RPID"
	[ "$REAP_RC" = 137 ] && return 0
	fail "$1" "ferry restore exited with $REAP_RC after the restored process was SIGKILLed, want 137" \
		"$2/img/restore.err" "$2/img/restore.log"
	return 1
}

real_python() {
	local tn="real/python-threads" dir="$OUT/real/python" py=/usr/bin/python3 why
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	[ -x "$py" ] || py=$(command -v python3 2>/dev/null)
	[ -n "$py" ] || { skip "$tn" "no python3"; return; }
	start_clock
	real_start "$dir" "$py" -u "$REAL_SRC/counters.py"
	if ! wait_lines "$dir/out.txt" 5; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "python printed fewer than 5 lines" "$dir/err.txt"
		return
	fi
	real_cycle "$tn" "$dir" || return
	if ! wait_lines "$dir/out.txt" $((PRE_LINES + 8)); then
		real_finish "$tn" "$dir"
		fail "$tn" "no new output after restore ($PRE_LINES lines before)" "$dir/out.txt" "$dir/img/restore.log"
		return
	fi
	real_finish "$tn" "$dir" || return
	# every counter never decreases, and after restore all three go on past their pre-dump values
	why=$(awk -v pre="$PRE_LINES" '
		NF != 3 { print "line " NR " malformed: " $0; exit }
		NR > 1 { for (i = 1; i <= 3; i++) if ($i < last[i]) { print "line " NR ": counter " i " went back from " last[i] " to " $i; exit } }
		NR == pre { for (i = 1; i <= 3; i++) p[i] = $i }
		{ for (i = 1; i <= 3; i++) last[i] = $i }
		END { if (NR > pre) for (i = 1; i <= 3; i++) if (last[i] <= p[i]) { print "counter " i " stuck at " p[i] " after restore"; exit } }
	' "$dir/out.txt")
	if [ -n "$why" ]; then
		fail "$tn" "$why" "$dir/out.txt"
	else
		pass "$tn"
	fi
}

real_bash() {
	local tn="real/bash-loop" dir="$OUT/real/bash" why
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	start_clock
	real_start "$dir" bash "$REAL_SRC/count.sh"
	if ! wait_lines "$dir/out.txt" 3; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "bash printed fewer than 3 lines" "$dir/err.txt"
		return
	fi
	real_cycle "$tn" "$dir" || return
	if ! wait_lines "$dir/out.txt" $((PRE_LINES + 3)); then
		real_finish "$tn" "$dir"
		fail "$tn" "no new output after restore ($PRE_LINES lines before)" "$dir/out.txt" "$dir/img/restore.log"
		return
	fi
	real_finish "$tn" "$dir" || return
	# exactly 20000, 40000, ... : nothing lost, repeated or restarted across the dump
	why=$(awk '$0 != NR * 20000 { print "line " NR " is \"" $0 "\", want " NR * 20000; exit }' "$dir/out.txt")
	if [ -n "$why" ]; then
		fail "$tn" "$why (restored after line $PRE_LINES)" "$dir/out.txt"
	else
		pass "$tn"
	fi
}

real_sleep() {
	local tn="real/sleep" dir="$OUT/real/sleep" exe cmdline st
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	start_clock
	real_start "$dir" sleep 1000
	sleep 0.3
	real_cycle "$tn" "$dir" || return
	exe=$(readlink "/proc/$TPID/exe")
	cmdline=$(tr '\0' ' ' <"/proc/$TPID/cmdline")
	st=$(proc_state "$TPID")
	if [ "$exe" != "$PRE_EXE" ]; then
		real_finish "$tn" "$dir"
		fail "$tn" "exe is '$exe', want '$PRE_EXE'"
	elif [ "$cmdline" != "$PRE_CMDLINE" ]; then
		real_finish "$tn" "$dir"
		fail "$tn" "cmdline is '$cmdline', want '$PRE_CMDLINE'"
	elif [ "$st" != S ]; then
		real_finish "$tn" "$dir"
		fail "$tn" "state '$st', want S (sleeping)"
	else
		kill -TERM "$TPID"
		reap "$RPID"
		if [ "$REAP_RC" = 143 ]; then
			pass "$tn"
		else
			fail "$tn" "ferry restore exited with $REAP_RC after SIGTERM to the restored sleep, want 143" \
				"$dir/img/restore.err" "$dir/img/restore.log"
		fi
	fi
}

# A shell pipeline, four processes: sh -c 'PRODUCER | cat -n | awk'. The producer (a dash loop of
# builtins) writes 1, 2, 3...; cat -n numbers the lines; awk checks every line is "N N" with N one more
# than the last, and prints every 100000th N (or BAD with the line). Lost, repeated or reordered data in
# either pipe, or any process starting over, breaks the output's exact sequence 100000, 200000...
REAL_PIPELINE='i=0; while :; do i=$((i + 1)); echo $i; done | cat -n | awk '\''
{ if ($1 != $2 || $1 != n + 1) { print "BAD after " n ": " $0; fflush() } n = $1 }
n % 100000 == 0 { print n; fflush() }'\'

real_pipeline() {
	local tn="real/shell-pipeline" dir="$OUT/real/pipeline" why n
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	start_clock
	real_start "$dir" sh -c "$REAL_PIPELINE"
	if ! wait_lines "$dir/out.txt" 3; then
		track_tree "$TPID"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the pipeline printed fewer than 3 lines" "$dir/err.txt" "$dir/out.txt"
		return
	fi
	n=$(tree_pids "$TPID" | wc -l)
	if [ "$n" != 4 ]; then
		track_tree "$TPID"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the pipeline is $n processes, want 4 (sh and its three children)"
		return
	fi
	real_cycle "$tn" "$dir" || return
	if ! wait_lines "$dir/out.txt" $((PRE_LINES + 3)); then
		real_finish "$tn" "$dir"
		fail "$tn" "no new output after restore ($PRE_LINES lines before)" "$dir/out.txt" "$dir/err.txt" \
			"$dir/img/restore.log"
		return
	fi
	real_finish "$tn" "$dir" || return
	why=$(awk '$0 != NR * 100000 { print "line " NR " is \"" $0 "\", want " NR * 100000; exit }' "$dir/out.txt")
	if [ -n "$why" ]; then
		fail "$tn" "$why (restored after line $PRE_LINES)" "$dir/out.txt"
	else
		pass "$tn"
	fi
}

# free_tcp_port: a loopback TCP port nobody listens on right now
free_tcp_port() {
	"$REAL_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# redis_cli ADDR ARGS...: tests/real/redis_client.py against ADDR (unix:PATH or tcp:PORT); its one-line
# verdict in REDIS_SAYS, status as the return value
REDIS_SAYS=""
redis_cli() {
	REDIS_SAYS=$(timeout -k 2 20 "$REAL_PY" "$REAL_SRC/redis_client.py" "$@" </dev/null 2>&1)
}

# Debian's redis-server (with its background threads) holding 10000 keys, on a unix socket and on
# loopback TCP, persistence off. A client holds a TCP connection at dump time: the dump must be refused
# without --tcp-close (redis running on untouched) and work with it. After the restore both sockets
# answer with the same data: DBSIZE, 100 sampled values, a SHA-256 over every key and value.
real_redis() {
	local tn="real/redis" dir="$OUT/real/redis" port unix tcp hold rc a end
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	[ -n "$REAL_PY" ] || { skip "$tn" "no python3"; return; }
	command -v redis-server >/dev/null || { skip "$tn" "no redis-server (scripts/install-deps.sh installs it)"; return; }
	start_clock 60
	port=$(free_tcp_port)
	unix="unix:$dir/redis.sock"
	tcp="tcp:$port"
	real_start "$dir" redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" \
		--unixsocketperm 700 --save '' --appendonly no --dir "$dir" --logfile ''
	until redis_cli "$unix" ping; do
		if expired || ! alive "$TPID"; then
			kill_pid "$TPID"; reap "$TPID"
			fail "$tn" "redis-server does not answer on $unix: $REDIS_SAYS" "$dir/out.txt" "$dir/err.txt"
			return
		fi
		sleep 0.1
	done
	if ! redis_cli "$tcp" load 10000 || ! redis_cli "$unix" check 10000; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "before any dump: $REDIS_SAYS" "$dir/out.txt"
		return
	fi
	# a client connected over TCP while the dump runs
	(close_stray_fds; exec setsid "$REAL_PY" "$REAL_SRC/redis_client.py" "$tcp" hold "$dir/hold.ready" \
		</dev/null >"$dir/hold.out" 2>&1) &
	hold=$!
	track "$hold"
	while [ ! -e "$dir/hold.ready" ]; do
		if expired || ! alive "$hold"; then
			kill_pid "$hold"; kill_pid "$TPID"; reap "$TPID"
			fail "$tn" "the holding client did not connect" "$dir/hold.out"
			return
		fi
		sleep 0.05
	done

	# 1. without --tcp-close: refused, and redis goes on untouched
	mkdir -p "$dir/img-refused"
	timeout -k 3 "$(remaining)" "$FERRY" dump -t "$TPID" -D "$dir/img-refused" -v4 -o dump.log \
		</dev/null >"$dir/img-refused/dump.err" 2>&1
	rc=$?
	if [ $rc = 0 ] || [ $rc = 124 ] || [ $rc = 137 ]; then
		kill_pid "$hold"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "ferry dump without --tcp-close of redis with an established client connection exited with $rc, want a refusal" \
			"$dir/img-refused/dump.err" "$dir/img-refused/dump.log"
		return
	fi
	if ! grep -qi 'tcp' "$dir/img-refused/dump.err"; then
		kill_pid "$hold"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the refusal does not mention TCP" "$dir/img-refused/dump.err"
		return
	fi
	sleep 0.2
	if ! alive "$TPID" || [ "$(tracer_of "$TPID")" != 0 ] || ! alive "$hold" || [ -s "$dir/hold.out" ] ||
		! redis_cli "$tcp" check 10000 || ! redis_cli "$unix" rw; then
		kill_pid "$hold"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "after the refused dump redis or its client is not as before (state '$(proc_state "$TPID")', tracer '$(tracer_of "$TPID")': $REDIS_SAYS)" \
			"$dir/img-refused/dump.err" "$dir/hold.out"
		return
	fi

	# 2. with --tcp-close: dumped, restored, same data on both sockets
	real_cycle "$tn" "$dir" --tcp-close || { kill_pid "$hold"; return; }
	for a in "$unix" "$tcp"; do
		if ! redis_cli "$a" check 10000 || ! redis_cli "$a" rw; then
			real_finish "$tn" "$dir"
			kill_pid "$hold"
			fail "$tn" "restored redis on $a: $REDIS_SAYS" "$dir/out.txt" "$dir/img/restore.log"
			return
		fi
	done
	# the connection --tcp-close dropped comes back reset: redis sees it fail and frees that client
	end=$((SECONDS + 10))
	while redis_cli "$tcp" clients && [ "$REDIS_SAYS" != clients=1 ] && [ $SECONDS -lt $end ]; do
		sleep 0.1
	done
	if [ "$REDIS_SAYS" != clients=1 ]; then
		real_finish "$tn" "$dir"
		kill_pid "$hold"
		fail "$tn" "the restored redis still has the connection closed by --tcp-close ($REDIS_SAYS, want clients=1)" \
			"$dir/out.txt"
		return
	fi
	real_finish "$tn" "$dir" || { kill_pid "$hold"; return; }
	kill_pid "$hold"
	reap "$hold"
	pass "$tn"
}

# sem_maps PID: "address inode" of each POSIX semaphore (a deleted /dev/shm/sem.* file mapped shared)
sem_maps() {
	awk '$6 ~ /^\/dev\/shm\/sem\./ { print $1, $5 }' "/proc/$1/maps" 2>/dev/null | tr '\n' ' '
}

# pool_sems_shared PARENT WORKERS...: every worker maps the parent's semaphores at the same addresses,
# and they are the same files (one lock for all, as multiprocessing needs)
pool_sems_shared() {
	local want w
	want=$(sem_maps "$1")
	shift
	[ -n "$want" ] || { SEM_WHY="the pool parent maps no /dev/shm/sem.* file"; return 1; }
	for w in "$@"; do
		if [ "$(sem_maps "$w")" != "$want" ]; then
			SEM_WHY="worker $w maps semaphores '$(sem_maps "$w")', the parent '$want'"
			return 1
		fi
	done
	return 0
}

# A python multiprocessing.Pool(4) (tests/real/mpool.py): after the restore the pool goes on computing
# new rounds of tasks, with correct results, by the same four worker processes, which still share the
# pool's locks (POSIX semaphores: deleted /dev/shm files mapped shared) with the parent.
SEM_WHY=""
real_mpool() {
	local tn="real/python-pool" dir="$OUT/real/pool" why workers pre post
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	[ -n "$REAL_PY" ] || { skip "$tn" "no python3"; return; }
	start_clock
	real_start "$dir" "$REAL_PY" -u "$REAL_SRC/mpool.py"
	if ! wait_lines "$dir/out.txt" 4; then
		track_tree "$TPID"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the pool printed fewer than 4 lines" "$dir/err.txt" "$dir/out.txt"
		return
	fi
	workers=$(awk 'NR == 1 && $1 == "workers" { $1 = ""; print substr($0, 2) }' "$dir/out.txt")
	pre=$(cat "/proc/$TPID"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	if [ "${pre% }" != "$workers" ]; then
		track_tree "$TPID"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the pool's children are '$pre', it reports workers '$workers'" "$dir/out.txt"
		return
	fi
	if ! pool_sems_shared "$TPID" $workers; then
		track_tree "$TPID"; kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "before the dump: $SEM_WHY"
		return
	fi
	real_cycle "$tn" "$dir" || return
	if ! pool_sems_shared "$TPID" $workers; then
		real_finish "$tn" "$dir"
		fail "$tn" "after the restore: $SEM_WHY" "$dir/img/restore.log"
		return
	fi
	if ! wait_lines "$dir/out.txt" $((PRE_LINES + 5)); then
		real_finish "$tn" "$dir"
		fail "$tn" "no new results after restore ($PRE_LINES lines before)" "$dir/out.txt" "$dir/err.txt" \
			"$dir/img/restore.log"
		return
	fi
	post=$(cat "/proc/$TPID"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	real_finish "$tn" "$dir" || return
	if [ "$post" != "$pre" ]; then
		fail "$tn" "after restore the pool's children are '$post', want '$pre'" "$dir/out.txt"
		return
	fi
	# round K: K counts up from 1 by one, the sum of x*x over [16K, 16K+16) is right, and every
	# worker that computed it is one of the four from the start
	why=$(awk -v workers="$workers" '
		BEGIN { n = split(workers, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
		NR == 1 { next }
		{
			if ($1 != NR - 1) { print "line " NR ": round " $1 ", want " NR - 1; exit }
			s = 0; for (x = 16 * $1; x < 16 * $1 + 16; x++) s += x * x
			if ($2 != s) { print "line " NR ": round " $1 " sum " $2 ", want " s; exit }
			for (i = 3; i <= NF; i++) if (!($i in ok)) { print "line " NR ": computed by pid " $i ", not a worker of the start (" workers ")"; exit }
		}' "$dir/out.txt")
	if [ -n "$why" ]; then
		fail "$tn" "$why (restored after line $PRE_LINES)" "$dir/out.txt"
	else
		pass "$tn"
	fi
}

run_real() {
	REAL_PY=/usr/bin/python3
	[ -x "$REAL_PY" ] || REAL_PY=$(command -v python3 2>/dev/null)
	real_python
	real_bash
	real_sleep
	real_pipeline
	real_redis
	real_mpool
	real_jvm
}
