# SPDX-License-Identifier: Apache-2.0
# A JVM under checkpoint/restore, and jcmd attaching to it afterwards. The first attach makes the
# JVM's attach listener: a unix socket bound to /tmp/.java_pid<pid>.tmp and renamed to
# /tmp/.java_pid<pid>; a restore that recreates the socket at its bound name leaves jcmd
# connecting to the stale file (connection refused). Sourced by tests/run.sh (after real.sh).

real_jvm() {
	local tn="real/jvm-jcmd" dir="$OUT/real/jvm" classes="$OUT/real/jvm-classes" n
	selected "$tn" || return 0
	[ -x "$FERRY" ] || { skip "$tn" "ferry not built"; return; }
	for n in java javac jcmd; do
		command -v $n >/dev/null || { skip "$tn" "no $n (openjdk-17-jdk-headless)"; return; }
	done
	start_clock 120
	rm -rf "$classes"
	mkdir -p "$classes"
	if ! javac -d "$classes" "$REAL_SRC/Ticker.java" >"$classes/javac.out" 2>&1; then
		fail "$tn" "javac failed" "$classes/javac.out"
		return
	fi
	real_start "$dir" java -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$classes" Ticker
	if ! wait_lines "$dir/out.txt" 3; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "the JVM does not tick" "$dir/out.txt" "$dir/err.txt"
		return
	fi
	if ! timeout 30 jcmd "$TPID" VM.version >"$dir/jcmd0.out" 2>&1; then
		kill_pid "$TPID"; reap "$TPID"
		fail "$tn" "jcmd cannot attach even before the dump" "$dir/jcmd0.out"
		return
	fi
	real_cycle "$tn" "$dir" || return
	if ! timeout 30 jcmd "$TPID" VM.version >"$dir/jcmd1.out" 2>&1 || ! grep -q 'JDK' "$dir/jcmd1.out"; then
		real_finish "$tn" "$dir"
		fail "$tn" "jcmd cannot attach to the restored JVM" "$dir/jcmd1.out" "$dir/img/restore.log"
	elif ! timeout 30 jcmd "$TPID" Thread.print >"$dir/jcmd2.out" 2>&1 || ! grep -q '"main"' "$dir/jcmd2.out"; then
		real_finish "$tn" "$dir"
		fail "$tn" "jcmd Thread.print on the restored JVM shows no main thread" "$dir/jcmd2.out"
	elif ! wait_lines "$dir/out.txt" $((PRE_LINES + 5)); then
		real_finish "$tn" "$dir"
		fail "$tn" "the restored JVM does not tick on" "$dir/out.txt"
	else
		real_finish "$tn" "$dir" && pass "$tn"
	fi
}
