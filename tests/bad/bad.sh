# SPDX-License-Identifier: Apache-2.0
# Bad input and fault injection: a missing PID, every image file flipped or truncated, a taken PID,
# `ferry show` on a corrupt file, and FERRY_FAULT failure points in dump and restore. Each failure must
# be reported (non-zero exit, the culprit named) and leave no half-restored process and no damaged
# original. Sourced by tests/run.sh, whose helpers it uses.

# corrupt MODE FILE: flip 16 bytes in the middle, or cut the file to half its size
corrupt() {
	local mode=$1 f=$2 size
	size=$(stat -c %s "$f")
	case $mode in
	flip)
		python3 - "$f" "$size" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    off = max(0, size // 2 - 8)
    f.seek(off)
    b = bytearray(f.read(16))
    f.seek(off)
    f.write(bytes(x ^ 0xA5 for x in b))
EOF
		;;
	trunc) truncate -s $((size / 2)) "$f" ;;
	header) truncate -s 4096 "$f" ;;
	esac
}

# restore_fails NAME IMG PID WANT [ENV...]: `ferry restore` must exit non-zero, its stderr must contain
# WANT, and no process may be left at PID (with TAKEN=1: the process already at PID must still be alive).
# Reports a failure and returns 1; returns 0 (nothing reported) when all holds.
TAKEN=0
restore_fails() {
	local tn=$1 img=$2 pid=$3 want=$4 rpid end
	shift 4
	if [ "$TAKEN" = 0 ] && [ -e "/proc/$pid" ] && ! ours "$pid"; then
		skip "$tn" "pid $pid was reused by another process"
		return 1
	fi
	env "$@" "$FERRY" restore -D "$img" -v4 -o restore.log </dev/null >"$img/restore.err" 2>&1 &
	rpid=$!
	track "$rpid"
	end=$((SECONDS + 20))
	while alive "$rpid" && [ $SECONDS -lt $end ]; do
		sleep 0.05
	done
	if alive "$rpid"; then
		# still running: either it restored the process (and waits for it) or it hangs
		if [ "$TAKEN" = 0 ] && ours "$pid" && [ "$(readlink -f "/proc/$pid/exe")" != "$(readlink -f "$FERRY")" ]; then
			kill_ours "$pid"; reap "$rpid"
			fail "$tn" "restore succeeded on a bad image" "$img/restore.err" "$img/restore.log"
		else
			kill_pid "$rpid"; reap "$rpid"
			[ "$TAKEN" = 0 ] && kill_ours "$pid"
			fail "$tn" "ferry restore hung (killed after 20 s)" "$img/restore.err" "$img/restore.log"
		fi
		return 1
	fi
	reap "$rpid"
	if [ "$REAP_RC" = 0 ]; then
		fail "$tn" "ferry restore exited 0" "$img/restore.err"
	elif [ "$TAKEN" = 0 ] && ! wait_dead "$pid" 1 && ours "$pid"; then
		fail "$tn" "ferry restore failed ($REAP_RC) but left a process at $pid (state $(proc_state "$pid"), exe $(readlink "/proc/$pid/exe"))" \
			"$img/restore.err" "$img/restore.log"
		kill_ours "$pid"
	elif [ "$TAKEN" = 1 ] && ! alive "$pid"; then
		fail "$tn" "ferry restore failed ($REAP_RC) and the process that held pid $pid is gone" \
			"$img/restore.err" "$img/restore.log"
	elif ! grep -qF -- "$want" "$img/restore.err"; then
		fail "$tn" "ferry restore failed ($REAP_RC) but its stderr does not mention '$want'" "$img/restore.err"
	else
		return 0
	fi
	return 1
}

# still_fine NAME DIR: the original (our child, TPID) runs freely and passes its checks on SIGTERM
still_fine() {
	local tn=$1 dir=$2 st
	st=$(proc_state "$TPID")
	if ! alive "$TPID" || [ "$st" = t ] || [ "$st" = T ] || [ "$(tracer_of "$TPID")" != 0 ]; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the process is not running freely afterwards (state '$st', tracer '$(tracer_of "$TPID")')" \
			"$dir/test.out"
		return
	fi
	sigterm_and_check "$tn" "$dir" "$TPID" "$TPID" "$@"
}

bad_no_such_pid() {
	local tn="bad/dump-no-such-pid" dir="$OUT/bad/nopid" pid rc
	selected "$tn" || return 0
	start_clock
	rm -rf "$dir"; mkdir -p "$dir"
	sleep 0 &
	pid=$!
	wait "$pid"
	timeout 20 "$FERRY" dump -t "$pid" -D "$dir" </dev/null >"$dir/dump.err" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		fail "$tn" "dump of missing pid $pid exited 0" "$dir/dump.err"
	elif ! grep -q -- "$pid" "$dir/dump.err"; then
		fail "$tn" "exit $rc, but the message does not name pid $pid" "$dir/dump.err"
	else
		pass "$tn"
	fi
}

# Every image file of a good image (dump -R of deleted_file: memory, files, a ghost), flipped and cut.
bad_corrupt_images() {
	local dir="$OUT/bad/corrupt" prog=deleted_file f base gname mode work tn pid rc
	selected "bad/corrupt" || selected "bad/show" || selected "bad/pid-taken" || return 0
	start_clock 60
	zdtm_start "$prog" "$dir" || { fail "bad/corrupt" "$prog did not start: $START_WHY" "$dir/test.out"; return; }
	pid=$TPID
	ferry_dump "bad/corrupt" "$dir" "$pid" "$dir/img" -R || { kill_pid "$pid"; reap "$pid"; return; }

	tn="bad/pid-taken"
	if selected "$tn"; then
		# the failed restore must not disturb the process holding the PID: it still passes its checks
		TAKEN=1
		restore_fails "$tn" "$dir/img" "$pid" "$pid" && still_fine "$tn" "$dir" "$dir/img/restore.err"
		TAKEN=0
	fi
	kill_pid "$pid"
	reap "$pid"

	for f in "$dir"/img/*.img; do
		base=$(basename "$f")
		case $base in stats-*) continue ;; esac
		gname=$(sed -E 's/^(core|mm|fds|pagemap|pages)-[0-9]+\.img$/\1-PID.img/' <<<"$base")
		for mode in flip trunc; do
			tn="bad/corrupt($gname,$mode)"
			selected "$tn" || continue
			start_clock 30
			work="$dir/$mode-$base"
			rm -rf "$work"
			cp -a "$dir/img" "$work"
			rm -f "$work"/*.log "$work"/*.err
			corrupt "$mode" "$work/$base"
			restore_fails "$tn" "$work" "$pid" "$base" && pass "$tn"
		done
	done
	for f in "$dir"/img/pages-*.img; do
		[ -e "$f" ] || continue
		tn="bad/corrupt(pages-PID.img,header-only)"
		selected "$tn" || continue
		start_clock 30
		work="$dir/header-pages"
		rm -rf "$work"; cp -a "$dir/img" "$work"
		corrupt header "$work/$(basename "$f")"
		restore_fails "$tn" "$work" "$pid" "$(basename "$f")" && pass "$tn"
	done

	tn="bad/show-corrupt"
	if selected "$tn"; then
		f=$(ls "$dir"/img/core-*.img 2>/dev/null | head -n 1)
		if [ -z "$f" ]; then
			fail "$tn" "no core-*.img in the image"
		else
			cp "$f" "$dir/show-core.img"
			corrupt flip "$dir/show-core.img"
			timeout 20 "$FERRY" show "$dir/show-core.img" >"$dir/show.out" 2>"$dir/show.err"
			rc=$?
			if [ $rc = 0 ]; then
				fail "$tn" "ferry show exited 0 on a corrupt file" "$dir/show.out"
			elif [ ! -s "$dir/show.err" ]; then
				fail "$tn" "ferry show exited $rc without a message on stderr"
			else
				pass "$tn"
			fi
		fi
	fi
}

# FERRY_FAULT in dump: the dump fails, the process keeps running untouched and passes its checks
bad_fault_dump() {
	local point tn dir rc prog=signals_thread
	for point in dump-after-seize dump-after-inject image-write pages-enospc; do
		tn="bad/fault($point)"
		selected "$tn" || continue
		dir="$OUT/bad/fault-$point"
		start_clock
		zdtm_start "$prog" "$dir" || { fail "$tn" "$prog did not start: $START_WHY" "$dir/test.out"; continue; }
		mkdir -p "$dir/img"
		FERRY_FAULT=$point timeout -k 3 20 "$FERRY" dump -t "$TPID" -D "$dir/img" -v4 -o dump.log \
			</dev/null >"$dir/img/dump.err" 2>&1
		rc=$?
		if [ $rc = 0 ]; then
			kill_pid "$TPID"; reap "$TPID"
			fail "$tn" "dump with FERRY_FAULT=$point exited 0" "$dir/img/dump.log"
			continue
		fi
		sleep 0.2
		still_fine "$tn" "$dir" "$dir/img/dump.err" "$dir/img/dump.log"
	done
}

# FERRY_FAULT in restore: the restore fails and leaves nothing at the PID; a clean restore then works
bad_fault_restore() {
	local point tn dir prog=threads nthr
	for point in restore-after-fork-root restore-after-root-memory; do
		tn="bad/fault($point)"
		selected "$tn" || continue
		dir="$OUT/bad/fault-$point"
		start_clock 60
		zdtm_start "$prog" "$dir" || { fail "$tn" "$prog did not start: $START_WHY" "$dir/test.out"; continue; }
		nthr=$(nthreads "$TPID")
		ferry_dump "$tn" "$dir" "$TPID" "$dir/img" || { kill_pid "$TPID"; reap "$TPID"; continue; }
		wait_dead "$TPID" 5 || kill_pid "$TPID"
		reap "$TPID"
		restore_fails "$tn" "$dir/img" "$TPID" "Error" "FERRY_FAULT=$point" || continue
		# the PID is free again and the image intact: a normal restore must now succeed
		restore_and_check "$tn" "$dir" "$dir/img" "$TPID" "$nthr"
	done
}

# unix-pending.img (what connections not accepted yet held) missing, flipped or cut: the restore fails
# naming it; the intact image then restores and the connections come with their data
bad_unix_pending() {
	local tn=bad/unix-pending dir="$OUT/bad/unix-pending" prog=unix_pending mode work name want
	selected "$tn" || return 0
	start_clock 90
	zdtm_start "$prog" "$dir" || { fail "$tn" "$prog did not start: $START_WHY" "$dir/test.out"; return; }
	ferry_dump "$tn" "$dir" "$TPID" "$dir/img" || { kill_pid "$TPID"; reap "$TPID"; return; }
	wait_dead "$TPID" 5 || kill_pid "$TPID"
	reap "$TPID"
	if [ ! -s "$dir/img/unix-pending.img" ]; then
		fail "$tn" "the dump of $prog wrote no unix-pending.img" "$dir/img/dump.log"
		return
	fi
	for mode in missing flip trunc; do
		work="$dir/$mode"
		rm -rf "$work"; cp -a "$dir/img" "$work"; rm -f "$work"/*.log "$work"/*.err
		want=unix-pending.img
		case $mode in
		missing) rm -f "$work/unix-pending.img"; want="unix-pending.img lacks pending connection" ;;
		*) corrupt "$mode" "$work/unix-pending.img" ;;
		esac
		restore_fails "$tn($mode)" "$work" "$TPID" "$want" || return
	done
	restore_and_check "$tn" "$dir" "$dir/img" "$TPID" 1
}

# A PID number stays taken while a live process has it as its process group or session, even with
# no process of that number: a session leader dumped -R and killed, one of its session's members
# (an orphan outside the tree) still running. The restore must name that member; once it is gone,
# the same image restores the leader with its own session again.
bad_pid_group_taken() {
	local tn="bad/pid-group-taken" dir="$OUT/bad/pgtaken" leader orphan rc st
	selected "$tn" || return 0
	start_clock 30
	rm -rf "$dir"; mkdir -p "$dir"
	setsid bash -c '(sleep 1000 & echo $! >"$1/orphan.tmp"; mv "$1/orphan.tmp" "$1/orphan"); exec sleep 1000' \
		_ "$dir" </dev/null >/dev/null 2>&1 &
	leader=$!
	track "$leader"
	while [ ! -s "$dir/orphan" ] && ! expired; do sleep 0.02; done
	orphan=$(cat "$dir/orphan" 2>/dev/null)
	[ -n "$orphan" ] && track "$orphan"
	sleep 0.2	# the leader has exec'd sleep
	ferry_dump "$tn" "$dir" "$leader" "$dir/img" -R || { kill_pid "$leader"; reap "$leader"; end_test; return; }
	kill_pid "$leader"; reap "$leader"
	"$FERRY" restore -D "$dir/img" -d </dev/null >"$dir/restore.err" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		kill -KILL "$leader" 2>/dev/null
		fail "$tn" "the restore took pid $leader, still the session of live $orphan" "$dir/restore.err"
	elif ! grep -q "pid $leader is taken: it is the process group or session of running process $orphan" "$dir/restore.err"; then
		fail "$tn" "the refusal does not name the session's live member $orphan" "$dir/restore.err"
	elif [ -e "/proc/$leader" ]; then
		fail "$tn" "the failed restore left a process at pid $leader"
	else
		kill -KILL "$orphan" 2>/dev/null
		wait_dead "$orphan" 5
		if ! "$FERRY" restore -D "$dir/img" -d </dev/null >"$dir/restore2.err" 2>&1; then
			fail "$tn" "with the member gone, the restore still fails" "$dir/restore2.err"
		else
			st=$(cat "/proc/$leader/stat" 2>/dev/null); st=${st##*) }; set -- $st
			if [ "${3:-}" != "$leader" ] || [ "${4:-}" != "$leader" ]; then
				fail "$tn" "restored pid $leader has group ${3:-?} and session ${4:-?}, want $leader"
			else
				pass "$tn" "refused naming $orphan; restored as its own session once that was gone"
			fi
			kill -KILL "$leader" 2>/dev/null
		fi
	fi
	end_test
}

run_bad() {
	if [ ! -x "$FERRY" ]; then
		selected "bad" && skip "bad" "ferry not built ($FERRY)"
		return
	fi
	if ! command -v python3 >/dev/null; then
		selected "bad" && skip "bad" "python3 is needed to corrupt image files"
		return
	fi
	bad_no_such_pid
	bad_corrupt_images
	bad_pid_group_taken
	bad_fault_dump
	bad_fault_restore
	bad_unix_pending
}
