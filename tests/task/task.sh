# SPDX-License-Identifier: Apache-2.0
# Per-task state beyond the zdtm programs: dumps ferry must refuse by name (the tree runs on
# untouched and passes its own checks), and the root's parent-death signal firing after a
# `restore -d` when its parent dies. Sourced by tests/run.sh, whose helpers it uses.

TASK_BIN=$BUILD/tests/task

# task_refusal PROGRAM WANT: the dump fails, its message holds WANT, the program runs on and passes
task_refusal() {
	local prog=$1 want=$2 tn="task/refuse($1)" dir="$OUT/task/$1" rc
	selected "$tn" || return 0
	start_clock
	ZDTM_BIN=$TASK_BIN zdtm_start "$prog" "$dir"
	rc=$?
	[ $rc = 77 ] && { skip "$tn" "$START_WHY"; return; }
	[ $rc != 0 ] && { fail "$tn" "$START_WHY" "$dir/test.out"; return; }
	mkdir -p "$dir/img"
	timeout -k 3 20 "$FERRY" dump -t "$TPID" -D "$dir/img" -v4 -o dump.log </dev/null >"$dir/img/dump.err" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the dump succeeded" "$dir/img/dump.log"
	elif [ $rc = 124 ] || [ $rc = 137 ]; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the dump hung (killed after 20 s)" "$dir/img/dump.log"
	elif ! grep -qF -- "$want" "$dir/img/dump.err"; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the dump failed ($rc) without saying '$want'" "$dir/img/dump.err"
	else
		sleep 0.2
		still_fine "$tn" "$dir" "$dir/img/dump.err"
	fi
}

# The root's own parent-death signal after `restore -d`: the root is restored as ferry's sibling,
# a child of the shell that ran ferry; when that shell dies the root gets its signal (zdtm/pdeath
# then leaves the file root-pdeath).
task_pdeath_root() {
	local tn="task/pdeath-root(-d)" dir="$OUT/task/pdeath-root" w root kids p
	selected "$tn" || return 0
	start_clock 60
	zdtm_start pdeath "$dir" || { fail "$tn" "pdeath did not start: $START_WHY" "$dir/test.out"; return; }
	root=$TPID
	ferry_dump "$tn" "$dir" "$root" "$dir/img" || { kill_pid "$root"; reap "$root"; return; }
	wait_dead "$root" 5 || kill_pid "$root"
	reap "$root"
	[ -e "/proc/$root" ] && { skip "$tn" "pid $root was reused before the restore"; return; }
	(close_stray_fds; "$FERRY" restore -D "$dir/img" -d -v4 -o restore.log </dev/null >"$dir/img/restore.err" 2>&1
	 echo $? >"$dir/restore.rc"; exec sleep 600) &
	w=$!
	track "$w"
	while [ ! -s "$dir/restore.rc" ] && ! expired; do sleep 0.05; done
	track "$root"
	if [ "$(cat "$dir/restore.rc" 2>/dev/null)" != 0 ]; then
		kill_pid "$w"; reap "$w"; kill_ours "$root"
		fail "$tn" "ferry restore -d failed" "$dir/img/restore.err" "$dir/img/restore.log"
		return
	fi
	kids=$(tree_pids "$root" | tail -n +2)
	for p in $kids; do track "$p"; done
	p=$(awk '/^PPid:/ { print $2 }' "/proc/$root/status" 2>/dev/null)
	if [ "$p" != "$w" ]; then
		fail "$tn" "the restored root's parent is '$p', want the shell that ran ferry ($w)" "$dir/img/restore.log"
	else
		kill -KILL "$w"; reap "$w"
		while [ ! -e "$dir/root-pdeath" ] && alive "$root" && ! expired; do sleep 0.05; done
		if [ -e "$dir/root-pdeath" ]; then
			pass "$tn"
		else
			fail "$tn" "the root's parent died and its parent-death signal did not fire" "$dir/test.out"
		fi
	fi
	kill_ours "$root"
	for p in $kids; do kill_ours "$p"; done
}

# A root that is not a session leader, in a group led by its zombie child (started from a shell
# here: the zdtm runner makes every root a session leader). Restored with -d, checked by itself.
task_root_group() {
	local tn="task/root-group" dir="$OUT/task/root-group" root
	selected "$tn" || return 0
	start_clock
	rm -rf "$dir"; mkdir -p "$dir"
	(close_stray_fds; ZDTM_DIR=$dir exec setsid bash -c '"$0" >"$1" 2>&1 & wait' "$TASK_BIN/root_group" \
		"$dir/test.out" </dev/null >/dev/null 2>&1) &
	track $!
	while [ ! -s "$dir/ready" ] && ! expired; do sleep 0.02; done
	root=$(cat "$dir/ready" 2>/dev/null)
	[ -n "$root" ] || { fail "$tn" "the program did not start" "$dir/test.out"; return; }
	track "$root"
	mkdir -p "$dir/img"
	if ! timeout -k 3 20 "$FERRY" dump -t "$root" -D "$dir/img" -v4 -o dump.log </dev/null >"$dir/img/dump.err" 2>&1; then
		kill_ours "$root"
		fail "$tn" "ferry dump failed" "$dir/img/dump.err"
		return
	fi
	wait_dead "$root" 5
	restore_detached_and_check "$tn" "$dir" "$root" 1
}

run_task() {
	[ -x "$FERRY" ] || { selected "task" && skip "task" "ferry not built ($FERRY)"; return; }
	task_refusal refuse_vfork "waits in vfork() for a child that shares its memory"
	task_refusal refuse_clone_vm "shares its address space with its parent"
	task_refusal refuse_timens "is in time namespace"
	task_refusal refuse_timens_thread "made a time namespace for its children"
	task_refusal refuse_seccomp_copies "seccomp filters are not shared with the other threads"
	task_refusal refuse_leader_exited "its main thread has exited while 1 other thread(s) run on"
	task_pdeath_root
	task_root_group
}
