# SPDX-License-Identifier: Apache-2.0
# Real programs under checkpoint/restore: python3 with counting threads, a bash loop of builtins, and
# `sleep 1000`. Sourced by tests/run.sh, whose helpers (start_clock, ferry_dump, pass/fail...) it uses.

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

# real_cycle NAME DIR: dump (killing) the running TPID and restore it in the background (RPID).
# 0 once it runs restored; otherwise reports the failure and returns 1.
real_cycle() {
	local tn=$1 dir=$2 nthr
	nthr=$(nthreads "$TPID")
	PRE_EXE=$(readlink "/proc/$TPID/exe")
	PRE_EXE_REAL=$(readlink -f "/proc/$TPID/exe")
	PRE_CMDLINE=$(tr '\0' ' ' <"/proc/$TPID/cmdline")
	if ! ferry_dump "$tn" "$dir" "$TPID" "$dir/img"; then
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
	return 0
}

# real_finish NAME DIR: kill the restored program and expect ferry restore to report 128+9
real_finish() {
	kill -KILL "$TPID" 2>/dev/null
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

run_real() {
	real_python
	real_bash
	real_sleep
}
