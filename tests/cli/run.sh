#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command line: every --help does nothing else; strict numbers; man pages, completion and
# docs/CLI.md list exactly the option table; --version; CRIU's flags accepted on dump and restore
# (and those not supported yet refused, touching nothing); what the CLI itself implements (pidfile,
# status-fd, work-dir, leave-stopped, restore-sibling, exec-cmd, page-server --daemon, check
# --feature); honest statistics (one frozen time everywhere, JSON by descriptor); pre-dump tracking
# by default; the progress line on a terminal.
#   tests/cli/run.sh BUILD_DIR      prints PASS/FAIL/SKIP lines (the runner counts them)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=cli
. "$ROOT/tests/lib/suite.sh"
suite_args "$@"
F=$FERRY
G=$BUILD/src/ferry-gendoc
W=$BUILD/tests/incr_dirty
PID=
CMDS="dump pre-dump restore page-server image export import show check serve migrate"
# A PID the command line takes but no process can have (PIDs stay below pid_max): a free PID
# could be taken meanwhile by any process of the machine, which these dumps would then freeze.
DEAD=$(cat /proc/sys/kernel/pid_max)

[ -x "$F" ] && [ -x "$G" ] && [ -x "$W" ] || { echo "FAIL cli: not built (run make)"; exit 1; }
if ! python3 -c 'import json, pty' 2>/dev/null; then
	[ "${FERRY_STRICT:-0}" = 1 ] && { echo "FAIL cli: python3 is missing (make check installs it)"; exit 1; }
	echo "SKIP cli: python3 is missing (it reads JSON and runs the terminal tests)"; exit 0
fi

# ---------------------------------------------------------------- processes
# (pass, fail, track: what this suite started or restored is killed at exit: tests/lib/suite.sh)

state() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; echo "${s%% *}"; }
alive() { local s; s=$(state "$1"); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }
tracer() { awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
ppid_of() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
wait_gone() { for _ in $(seq 400); do alive "$1" || return 0; sleep 0.05; done; return 1; }
# running PID: alive, not stopped, not traced
running() { local s; s=$(state "$1"); [ -n "$s" ] && [ "$s" != T ] && [ "$s" != t ] && [ "$s" != Z ] && [ "$(tracer "$1")" = 0 ]; }
wait_running() { for _ in $(seq 400); do running "$1" && return 0; sleep 0.05; done; return 1; }
wait_stopped() { for _ in $(seq 400); do [ "$(state "$1")" = T ] && [ "$(tracer "$1")" = 0 ] && return 0; sleep 0.05; done; return 1; }

# start DIR: the workload (tests/incremental/dirty.c: a 64 MiB area, rounds on SIGUSR1, PASS on SIGTERM)
start() {
	local dir=$1
	rm -rf "$dir" && mkdir -p "$dir"
	(
		for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
		exec setsid "$W" "$dir"
	) </dev/null >"$dir/out" 2>&1 &
	PID=$!
	track "$PID"
	for _ in $(seq 200); do [ -e "$dir/ready" ] && return 0; sleep 0.05; done
	return 1
}
round() { kill -USR1 "$PID"; for _ in $(seq 200); do [ -e "$1/round-$2" ] && return 0; sleep 0.05; done; return 1; }
# dump_kill DIR IMG [ARGS]: dump the workload (which dies) and reap it
dump_kill() {
	local dir=$1 img=$2
	shift 2
	"$F" dump -t "$PID" -D "$img" "$@" >"$dir/dump.out" 2>"$dir/dump.err"
	local rc=$?
	wait "$PID" 2>/dev/null
	return $rc
}
# paused PID: the workload waits in pause() (where it was dumped): a SIGTERM now is not lost
paused() { for _ in $(seq 400); do [ "$(cat "/proc/$1/wchan" 2>/dev/null)" = __do_sys_pause ] && return 0; sleep 0.05; done; return 1; }
# check_pass PID OUTFILE: SIGTERM the restored workload, expect PASS from it
check_pass() {
	paused "$1"
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" && grep -q '^PASS' "$2"
}

# ---------------------------------------------------------------- --help, --version

t_help() {
	local c bad=
	for c in $CMDS; do
		"$F" "$c" --help >"$OUT/help-$c" 2>"$OUT/help-$c.err"
		local rc=$?
		if [ $rc != 0 ] || [ "$(head -1 "$OUT/help-$c")" != "usage: ferry $c $(sed -n 's/^usage: ferry [a-z-]* //p' "$OUT/help-$c" | head -1)" ] ||
			! head -1 "$OUT/help-$c" | grep -q "^usage: ferry $c " || [ -s "$OUT/help-$c.err" ]; then
			bad+=" $c(rc $rc)"
		fi
		"$F" help "$c" | cmp -s - "$OUT/help-$c" || bad+=" help-$c"
	done
	[ -z "$bad" ] && pass "help (every command's --help: its own usage, exit 0, nothing on stderr; 'ferry help CMD' the same)" ||
		fail help "wrong --help for:$bad"
	# check --help does not probe; pre-dump's help is its own
	if grep -qE 'Looks good|clone3_set_tid|^kernel' "$OUT/help-check"; then
		fail help-check "ferry check --help ran the probe"
	else
		pass "help-check (no probe)"
	fi
	if cmp -s "$OUT/help-dump" "$OUT/help-pre-dump" || ! grep -q -- '--no-track-mem' "$OUT/help-pre-dump"; then
		fail help-pre-dump "pre-dump's help is dump's, or does not say tracking is on by default"
	else
		pass "help-pre-dump (its own, says --no-track-mem)"
	fi
	# --help with real arguments does nothing else: no directory, no freeze, no restore
	local d=$OUT/help-noop
	start "$d" || { fail help-noop "the workload did not start"; return; }
	"$F" dump -t "$PID" -D "$d/img" -v4 --help >/dev/null 2>&1 &&
		"$F" pre-dump -t "$PID" -D "$d/pre" --help >/dev/null 2>&1 &&
		"$F" restore -D "$d/img2" -d --pidfile "$d/p" --help >/dev/null 2>&1 &&
		"$F" page-server --port 1 -D "$d/ps" --daemon --help >/dev/null 2>&1
	local rc=$?
	if [ $rc = 0 ] && [ ! -e "$d/img" ] && [ ! -e "$d/pre" ] && [ ! -e "$d/img2" ] && [ ! -e "$d/ps" ] && [ ! -e "$d/p" ] && running "$PID"; then
		pass "help-noop (--help with -t/-D/-d/--daemon creates, freezes and restores nothing)"
	else
		fail help-noop "rc $rc; created: $(ls "$d" | tr '\n' ' '); process state $(state "$PID")"
	fi
	kill -9 "$PID"; wait "$PID" 2>/dev/null
	"$F" --help | grep -q '^  dump ' && "$F" -h >/dev/null && ! "$F" 2>/dev/null && ! "$F" nosuch 2>/dev/null &&
		pass "usage (ferry --help lists the commands; no command or an unknown one exits 2)" ||
		fail usage "ferry --help / no command / unknown command"
}

t_version() {
	local v maj min wmaj wmin
	v=$("$F" --version)
	maj=$(sed -n 's/^#define FERRY_FORMAT_MAJOR \([0-9]*\).*/\1/p' "$ROOT/src/image/image.h")
	min=$(sed -n 's/^#define FERRY_FORMAT_MINOR \([0-9]*\).*/\1/p' "$ROOT/src/image/image.h")
	wmaj=$(sed -n 's/^#define WIRE_MAJOR \([0-9]*\).*/\1/p' "$ROOT/src/transport/protocol.h")
	wmin=$(sed -n 's/^#define WIRE_MINOR \([0-9]*\).*/\1/p' "$ROOT/src/transport/protocol.h")
	local proj
	proj=$(sed -n "s/^  version : '\([^']*\)'.*/\1/p" "$ROOT/meson.build")
	if [ "$(head -1 <<<"$v")" = "ferry $proj" ] && grep -qx "image format $maj.$min" <<<"$v" &&
		grep -qx "page-server protocol $wmaj.$wmin" <<<"$v" && grep -q '^encoded image format [0-9]' <<<"$v" &&
		[ "$("$F" -V)" = "$v" ]; then
		pass "version ($(tr '\n' ';' <<<"$v"))"
	else
		fail version "got: $(tr '\n' ';' <<<"$v") (want ferry $proj, image format $maj.$min, protocol $wmaj.$wmin)"
	fi
}

# ---------------------------------------------------------------- strict numbers

# refused NAME PATTERN ARGS...: exit 2 and stderr matching PATTERN (which names the flag and value)
refused() {
	local name=$1 pat=$2 err rc
	shift 2
	err=$("$F" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc = 2 ] && grep -qE -- "$pat" <<<"$err"; then
		echo "ok"
	else
		echo "$name: rc $rc, '$err'"
	fi
}

t_numbers() {
	local d=$OUT/numbers bad=() r p=$((RANDOM % 20000 + 300)) ncases=0
	mkdir -p "$d"
	while [ -e "/proc/$p" ]; do p=$((p + 1)); done	# a PID nobody has: a parser bug dumps nothing
	while IFS='|' read -r pat args; do
		[ -n "$pat" ] || continue
		# shellcheck disable=SC2086
		r=$(refused "${args}" "$pat" $args)
		[ "$r" = ok ] || bad+=("$r")
		ncases=$((ncases + 1))
	done <<EOF
-t/--tree 'abc': not a PID|dump -t abc -D $d/x
-t/--tree '0': out of range|dump -t 0 -D $d/x
-t/--tree '99999999999999999999999': out of range|dump -t 99999999999999999999999 -D $d/x
-t/--tree '12x': not a PID|pre-dump -t 12x -D $d/x
-t/--tree '-5': not a PID|dump -t -5 -D $d/x
-t/--tree '0x10': not a PID|dump -t 0x10 -D $d/x
--port: port 99999: out of range|dump -t $p -D $d/x --page-server --address 127.0.0.1 --port 99999
--port '0': out of range|dump -t $p -D $d/x --page-server --address 127.0.0.1 --port 0
--port: port '80a': not a number|page-server -D $d/x --port 80a
--port: port '-1': not a number|page-server -D $d/x --port -1
--port: port 70000: out of range|page-server -D $d/x --port 70000
--ghost-limit '10Q': not a size|dump -t $p -D $d/x --ghost-limit 10Q
--ghost-limit 'M': not a size|dump -t $p -D $d/x --ghost-limit M
--ghost-limit '99999999999999T': too large|dump -t $p -D $d/x --ghost-limit 99999999999999T
--ghost-limit '1.5M': not a size|dump -t $p -D $d/x --ghost-limit 1.5M
--verbosity '9': out of range|dump -t $p -D $d/x -v9
--verbosity 'x': not a verbosity|restore -D $d/x -vx
--verbosity '3x': not a verbosity|check --verbosity=3x
--timeout '10s': not a number of seconds|dump -t $p -D $d/x --timeout 10s
--status-fd 'one': not a descriptor|restore -D $d/x --status-fd one
--status-fd '-1': not a descriptor|page-server -D $d/x --port 1 --status-fd -1
--close '\+3': not a descriptor|dump -t $p -D $d/x --close +3
--inherit-fd 'fd\[x\]:a': 'x' is not a descriptor|restore -D $d/x --inherit-fd fd[x]:a
--inherit-fd 'fd\[3\]': not fd\[N\]:KEY|restore -D $d/x --inherit-fd fd[3]
--inherit-fd '3:a': not fd\[N\]:KEY|restore -D $d/x --inherit-fd 3:a
--compress 'gzip': not a compression|dump -t $p -D $d/x --compress gzip
--network-lock 'ipchains': not a network lock method|restore -D $d/x --network-lock ipchains
--manage-cgroups 'bogus': not a cgroup mode|dump -t $p -D $d/x --manage-cgroups=bogus
-t/--tree needs an argument|dump -D $d/x -t
unknown or ambiguous option '--bogus'|dump -t $p -D $d/x --bogus
unknown option '-Z'|restore -D $d/x -Z
-j/--shell-job takes no argument|dump -t $p -D $d/x --shell-job=1
unexpected argument 'extra'|dump -t $p -D $d/x extra
-t PID and -D DIR are required|dump -D $d/x
-D DIR is required|restore -d
--restore-sibling needs -d|restore -D $d/x -S
--exec-cmd needs a command|restore -D $d/x --exec-cmd
unknown command 'dumpp'|dumpp -t $p
EOF
	if [ ${#bad[@]} = 0 ] && [ ! -e "$d/x" ]; then
		pass "numbers ($ncases malformed or out-of-range values and bad command lines: exit 2, the flag and the value named, nothing created)"
	else
		fail numbers "$(printf '%s; ' "${bad[@]}") $( [ -e "$d/x" ] && echo "and $d/x was created")"
	fi
	# good values of every kind still parse: the dump then fails only because the PID is not there
	local dead=$DEAD err rc
	err=$("$F" dump -t "$dead" -D "$d/good" -v --verbosity=2 -vv -v0 --ghost-limit 64KiB --ghost-limit 1g --timeout 0 \
		--close 99 --compress lz4 2>&1)
	rc=$?
	[ $rc = 1 ] && grep -q "No such process" <<<"$err" && pass "numbers-good (sizes with suffixes, verbosity forms, ranges accepted)" ||
		fail numbers-good "rc $rc: $err"
}

# ---------------------------------------------------------------- man pages, completion, docs/CLI.md

# Long option names of a --help text (label lines only, not the wrapped help text)
help_names() { grep -E '^  -|^      --' "$1" | sed -E 's/^ *([^ ]+( [^ ]+)*).*/\1/' | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u; }
man_names() { grep -E '^\.B (\\-[a-zA-Z]|\\-\\-)' "$1" | sed 's/\\-/-/g; s/\\f[IBR]//g' | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u; }
bash_names() { sed -n "s/^	$1) opts=\"\\(.*\\)\" ;;/\\1/p" "$2" | tr ' ' '\n' | grep -E -- '^--' | sort -u; }

t_docs() {
	local d=$OUT/docs c bad= all
	rm -rf "$d" && mkdir -p "$d"
	"$G" man "$d" && "$G" bash "$d/ferry.bash" || { fail docs "ferry-gendoc failed"; return; }
	for c in $CMDS; do
		"$F" "$c" --help >"$d/help-$c"
		help_names "$d/help-$c" >"$d/h-$c"
		man_names "$d/ferry-$c.8" >"$d/m-$c"
		bash_names "$c" "$d/ferry.bash" >"$d/b-$c"
		cmp -s "$d/h-$c" "$d/m-$c" || bad+=" man($c: $(diff "$d/h-$c" "$d/m-$c" | grep '^[<>]' | tr '\n' ' '))"
		cmp -s "$d/h-$c" "$d/b-$c" || bad+=" completion($c: $(diff "$d/h-$c" "$d/b-$c" | grep '^[<>]' | tr '\n' ' '))"
		grep -q "ferry\\\\-$c (8)" "$d/ferry.8" || bad+=" ferry.8 does not name ferry-$c(8)"
	done
	# every option of the table is offered by some command (and so is in its man page and completion)
	grep -oE '\{ O_[A-Z_]+, "[a-z0-9-]+"' "$ROOT/src/cli/opttab.c" | sed 's/.*"\(.*\)"/--\1/' | sort -u >"$d/table"
	cat "$d"/h-* | sort -u >"$d/offered"
	all=$(comm -23 "$d/table" "$d/offered" | tr '\n' ' ')
	[ -n "$all" ] && bad+=" table options no command offers: $all"
	[ "$(wc -l <"$d/table")" -ge 70 ] || bad+=" only $(wc -l <"$d/table") options in the table?"
	[ -z "$bad" ] && pass "man-completion ($(wc -l <"$d/table") options: each command's --help, man page and completion list the same ones)" ||
		fail man-completion "$bad"
	if command -v groff >/dev/null; then
		local warn=
		for f in "$d"/*.8; do
			[ -z "$(groff -man -ww -z "$f" 2>&1)" ] || warn+=" ${f##*/}: $(groff -man -ww -z "$f" 2>&1 | head -1)"
		done
		[ -z "$warn" ] && pass "man-render (groff renders every page without a warning)" || fail man-render "$warn"
	elif [ "${FERRY_STRICT:-0}" = 1 ]; then
		fail man-render "groff is missing (make check installs groff-base)"
	else
		echo "SKIP cli/man-render: groff is missing (it checks the man pages render)"
	fi
	"$G" markdown | cmp -s - "$ROOT/docs/CLI.md" && pass "docs-cli (docs/CLI.md is what the table generates)" ||
		fail docs-cli "docs/CLI.md differs from 'ferry-gendoc markdown' (regenerate it: build/src/ferry-gendoc markdown docs/CLI.md)"
	# the build installs what it generated from the same table
	cmp -s "$d/ferry.bash" "$BUILD/src/ferry.bash" && cmp -s "$d/ferry-dump.8" "$BUILD/src/ferry-dump.8" &&
		pass "docs-build (the build's man pages and completion are current)" || fail docs-build "build/src outputs are stale"
	# the completion works: options, commands, directories
	local got
	got=$(bash -c '. "$1"; COMP_WORDS=(ferry dump --tr); COMP_CWORD=2; _ferry; echo "${COMPREPLY[*]}";
		COMP_WORDS=(ferry pre); COMP_CWORD=1; _ferry; echo "${COMPREPLY[*]}";
		COMP_WORDS=(ferry restore --manage-c); COMP_CWORD=2; _ferry; echo "${COMPREPLY[*]}";
		COMP_WORDS=(ferry dump --compress ""); COMP_CWORD=3; _ferry; echo "${COMPREPLY[*]}"' _ "$d/ferry.bash")
	if [ "$(sed -n 1p <<<"$got" | tr ' ' '\n' | sort | tr '\n' ' ')" = "--track-mem --tree " ] && [ "$(sed -n 2p <<<"$got")" = pre-dump ] &&
		[ "$(sed -n 3p <<<"$got")" = "--manage-cgroups" ] && [ "$(sed -n 4p <<<"$got")" = "zstd lz4 none" ]; then
		pass "completion-works (options, commands, argument values)"
	else
		fail completion-works "got: $(tr '\n' '|' <<<"$got")"
	fi
}

# ---------------------------------------------------------------- CRIU's flags

# Flags CRIU scripts pass, each accepted alone on dump (and pre-dump) and restore: the command then
# fails only for want of a process or an image (exit 1), never on the command line (exit 2).
DUMP_FLAGS=(
	--tcp-established --tcp-close --file-locks "--network-lock iptables" "--network-lock nftables"
	"--network-lock skip" --manage-cgroups=ignore --link-remap "--ghost-limit 1M" --ghost-fiemap
	--no-ghost-fiemap --ext-unix-sk --skip-in-flight "--join-ns net:/proc/1/ns/net"
	"--irmap-scan-path /tmp" --force-irmap -j --shell-job -R --leave-running -s --leave-stopped
	"-o x.log" "--log-file x.log" -v4 -vvvv "-W $OUT/criu-accept/work" "--work-dir $OUT/criu-accept/work" --evasive-devices --track-mem
	--no-track-mem "--prev-images-dir ../p" "--timeout 10" --display-stats "--status-fd 1" "--pidfile p"
	"--external mnt[]:" "--external dev[8/1]:d" "--cgroup-root /x" "--ext-mount-map /a:/b" "-M auto"
	"--skip-mnt /proc" "--enable-fs nfs" --enable-external-sharing --enable-external-masters
	--weak-sysctls --cpu-cap=fpu --cpu-cap=none --cpu-cap=ins --cpu-cap --log-pid --no-default-config -l -x
	"--pre-dump-mode read" "--close 77" "--action-script /bin/true"
)
RESTORE_FLAGS=(
	--tcp-established --tcp-close --file-locks "--network-lock iptables" --manage-cgroups=ignore
	--link-remap "--ghost-limit 1M" --ghost-fiemap --no-ghost-fiemap --ext-unix-sk --skip-in-flight
	"--irmap-scan-path /tmp" --force-irmap -j --shell-job -d --restore-detached --daemon "-o x.log"
	-v4 "-W $OUT/criu-accept/work" --evasive-devices --track-mem "--prev-images-dir ../p" --display-stats
	"--pidfile p" "--status-fd 1" "--inherit-fd fd[1]:/x" "--external mnt[x]:/y" "-r /" "--root /"
	"--cgroup-root /x" "--ext-mount-map /a:/b" "--skip-mnt /x" "--enable-fs nfs" --weak-sysctls
	--cpu-cap=fpu --cpu-cap=none --cpu-cap=all --cpu-cap=cpu --enable-external-sharing --log-pid -s --leave-stopped "-d -S"
	"--restore-detached --restore-sibling" --no-default-config "--close 77" "--action-script /bin/true"
)
# Not supported yet: refused (exit 2, "not supported yet", the flag named) before anything happens.
LATER_DUMP=(--manage-cgroups --manage-cgroups=soft --manage-cgroups=full "--freeze-cgroup /x" --lazy-pages
	--auto-dedup "--external unix[5]" "--external file[1:2]" --stream
	"--empty-ns net" --tls-no-cn-verify "--tls-cacrl x" "--ps-socket 3")
LATER_RESTORE=(--manage-cgroups "--join-ns net:/proc/1/ns/net" "--root /mnt" "--lsm-profile apparmor:x"
	"--veth-pair a=b" --lazy-pages --auto-dedup "--external veth[a]:b"
	"--empty-ns net" --stream)

t_criu_accepted() {
	local d=$OUT/criu-accept bad=() f rc err dead=$DEAD
	rm -rf "$d" && mkdir -p "$d/empty"
	for f in "${DUMP_FLAGS[@]}"; do
		for c in dump pre-dump; do
			# shellcheck disable=SC2086
			err=$("$F" $c -t "$dead" -D "$d/img" $f 2>&1 </dev/null)
			rc=$?
			[ $rc = 1 ] && grep -q "No such process" <<<"$err" || bad+=("$c $f: rc $rc: $(tail -1 <<<"$err")")
		done
	done
	for f in "${RESTORE_FLAGS[@]}"; do
		# shellcheck disable=SC2086
		err=$("$F" restore -D "$d/empty" $f 2>&1 </dev/null)
		rc=$?
		[ $rc = 1 ] && grep -q "holds no complete image" <<<"$err" || bad+=("restore $f: rc $rc: $(tail -1 <<<"$err")")
	done
	[ ${#bad[@]} = 0 ] && pass "criu-flags-accepted (${#DUMP_FLAGS[@]} flag forms on dump and pre-dump, ${#RESTORE_FLAGS[@]} on restore)" ||
		fail criu-flags-accepted "$(printf '%s; ' "${bad[@]}")"
}

t_criu_later() {
	local d=$OUT/criu-later bad=() f err rc
	start "$d" || { fail criu-flags-later "the workload did not start"; return; }
	for f in "${LATER_DUMP[@]}"; do
		# shellcheck disable=SC2086
		err=$("$F" dump -t "$PID" -D "$d/img" $f 2>&1)
		rc=$?
		[ $rc = 2 ] && grep -q "not supported yet" <<<"$err" && grep -q -- "${f%%[ =]*}" <<<"$err" ||
			bad+=("dump $f: rc $rc: $err")
	done
	for f in "${LATER_RESTORE[@]}"; do
		# shellcheck disable=SC2086
		err=$("$F" restore -D "$d/img" $f 2>&1)
		rc=$?
		[ $rc = 2 ] && grep -q "not supported yet" <<<"$err" && grep -q -- "${f%%[ =]*}" <<<"$err" ||
			bad+=("restore $f: rc $rc: $err")
	done
	if [ ${#bad[@]} = 0 ] && [ ! -e "$d/img" ] && running "$PID"; then
		pass "criu-flags-later (${#LATER_DUMP[@]} on dump, ${#LATER_RESTORE[@]} on restore refused by name, nothing touched)"
	else
		fail criu-flags-later "$(printf '%s; ' "${bad[@]}") state $(state "$PID") img $(ls "$d" | tr '\n' ' ')"
	fi
	"$F" dump --help | grep -A200 'not supported yet (refused' | grep -q -- '--lazy-pages' &&
		"$F" restore --help | grep -A200 'accepted with no effect' | grep -q -- '--weak-sysctls' &&
		pass "criu-flags-help (no-ops and refusals are said so in --help)" || fail criu-flags-help "--help does not group them"
	kill -9 "$PID"; wait "$PID" 2>/dev/null
}

# The flags together on a real dump and restore: the process comes back whole.
t_criu_together() {
	local d=$OUT/criu-together rp
	start "$d" || { fail criu-flags-together "the workload did not start"; return; }
	local pid=$PID
	round "$d" 1
	if ! dump_kill "$d" "$d/img" --tcp-established --tcp-close --file-locks --network-lock iptables \
		--manage-cgroups=ignore --link-remap --ghost-limit 1M --ghost-fiemap --ext-unix-sk --skip-in-flight \
		--irmap-scan-path /tmp --force-irmap -j --evasive-devices --timeout 30 --cpu-cap=fpu \
		--external 'mnt[]:' --skip-mnt /proc --weak-sysctls -o dump.log -v4; then
		fail criu-flags-together "dump: $(tail -2 "$d/dump.err")"; return
	fi
	: >"$d/out"
	"$F" restore -D "$d/img" -d --pidfile restore.pid --tcp-established --tcp-close --file-locks \
		--network-lock iptables --manage-cgroups=ignore --link-remap --ghost-limit 1M --ext-unix-sk \
		--skip-in-flight --force-irmap -j --evasive-devices --weak-sysctls --cpu-cap=fpu -r / \
		-o restore.log -v4 >"$d/restore.out" 2>"$d/restore.err"
	rp=$(cat "$d/img/restore.pid" 2>/dev/null)
	track "$pid"
	if [ "$rp" = "$pid" ] && wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "criu-flags-together (dump and restore with 20 CRIU flags; the workload's memory checks PASS)"
	else
		fail criu-flags-together "pidfile '$rp' for $pid; $(tail -2 "$d/restore.err"); out: $(tail -2 "$d/out")"
	fi
}

# As CRIU's zdtm harness calls it: -o/-D/-v4/-t/--timeout on dump, --restore-detached --pidfile on restore.
t_zdtm_style() {
	local d=$OUT/zdtm-style
	start "$d" || { fail zdtm-style "the workload did not start"; return; }
	local pid=$PID
	mkdir -p "$d/img"
	"$F" pre-dump -o pre.log -D "$d/pre" -v4 -t "$pid" --timeout 10 >"$d/pre.out" 2>&1 && round "$d" 1 &&
		dump_kill "$d" "$d/img" -o dump.log -v4 --timeout 10 --prev-images-dir ../pre --track-mem ||
		{ fail zdtm-style "dump: $(tail -2 "$d/dump.err" "$d/pre.out")"; return; }
	: >"$d/out"
	"$F" restore -o restore.log -D "$d/img" -v4 --restore-detached --pidfile "$d/restore.pid" >"$d/r.out" 2>&1
	track "$pid"
	if [ "$(cat "$d/restore.pid" 2>/dev/null)" = "$pid" ] && [ -s "$d/img/restore.log" ] && [ -s "$d/pre/pre.log" ] &&
		wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "zdtm-style (pre-dump, dump --prev-images-dir --track-mem --timeout, restore --restore-detached --pidfile ABS)"
	else
		fail zdtm-style "$(tail -2 "$d/r.out"); out: $(tail -1 "$d/out")"
	fi
}

# ---------------------------------------------------------------- what the CLI implements

t_leave_stopped() {
	local d=$OUT/leave-stopped
	start "$d" || { fail leave-stopped "the workload did not start"; return; }
	local pid=$PID
	"$F" dump -t "$pid" -D "$d/img" -s >"$d/dump.out" 2>&1 || { fail leave-stopped "dump -s: $(tail -1 "$d/dump.out")"; return; }
	if wait_stopped "$pid" && kill -CONT "$pid" && wait_running "$pid"; then
		pass "dump-leave-stopped (stopped, not traced, after the dump; SIGCONT resumes it)"
	else
		fail dump-leave-stopped "state $(state "$pid"), tracer $(tracer "$pid")"
	fi
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	: >"$d/out"
	"$F" restore -D "$d/img" -d -s >"$d/r.out" 2>&1
	track "$pid"
	local st
	wait_stopped "$pid"; st=$(state "$pid")
	if [ "$st" = T ] && kill -CONT "$pid" && wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "restore-leave-stopped (restored stopped; SIGCONT runs it; PASS)"
	else
		fail restore-leave-stopped "state '$st' after restore -s; $(tail -1 "$d/r.out"); out $(tail -1 "$d/out")"
	fi
}

# One image, restored several times with the CLI's own options.
t_restore_options() {
	local d=$OUT/restore-opts pid rc
	start "$d" || { fail restore-options "the workload did not start"; return; }
	pid=$PID
	dump_kill "$d" "$d/img" || { fail restore-options "dump: $(tail -1 "$d/dump.err")"; return; }
	ls "$d/img" >"$d/img.list"
	# -W: logs, statistics and a relative pidfile go there; the image directory is left as it was
	: >"$d/out"
	"$F" restore -D "$d/img" -W "$d/work" -d --pidfile p.pid --status-fd 3 3>"$d/status" >"$d/r1.out" 2>&1
	rc=$?
	track "$pid"
	if [ $rc = 0 ] && [ "$(cat "$d/work/p.pid" 2>/dev/null)" = "$pid" ] && [ -s "$d/work/restore.log" ] &&
		[ -s "$d/work/stats-restore.img" ] && ls "$d/img" | cmp -s - "$d/img.list" &&
		[ "$(od -An -c "$d/status" | tr -d ' ')" = '\0' ] && wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "work-dir-pidfile-status-fd (log, stats, pidfile in -W; -D untouched; status fd got its zero byte)"
	else
		fail work-dir-pidfile-status-fd "rc $rc; work: $(ls "$d/work" 2>&1 | tr '\n' ' '); status '$(od -An -c "$d/status")'; $(tail -1 "$d/r1.out")"
	fi
	wait_gone "$pid"
	# --restore-sibling: the root is a child of ferry's parent (here a python process that reaps it)
	: >"$d/out"
	python3 - "$F" "$d/img" "$pid" >"$d/sibling" 2>&1 <<'EOF'
import os, signal, subprocess, sys, time
ferry, img, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
rc = subprocess.run([ferry, "restore", "-D", img, "-d", "-S"]).returncode
ppid = None
for _ in range(400):
    try:
        st = open(f"/proc/{pid}/status").read()
        ppid = int([l.split()[1] for l in st.splitlines() if l.startswith("PPid:")][0])
        if "TracerPid:\t0" in st and open(f"/proc/{pid}/wchan").read() == "__do_sys_pause":
            break
    except OSError:
        pass
    time.sleep(0.05)
os.kill(pid, signal.SIGTERM)
got, status = os.waitpid(pid, 0)
print(rc, ppid == os.getpid(), got == pid and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
EOF
	if [ "$(tail -1 "$d/sibling")" = "0 True True" ] && grep -q '^PASS' "$d/out"; then
		pass "restore-sibling (the root's parent is ferry's caller, which reaps its exit status 0)"
	else
		fail restore-sibling "$(tail -3 "$d/sibling" | tr '\n' ' '); out $(tail -1 "$d/out")"
	fi
	wait_gone "$pid"
	# --exec-cmd: the command replaces ferry and inherits the restored root as its child
	: >"$d/out"
	"$F" restore -D "$d/img" --exec-cmd -- sh -c 'echo $$ >"$0/sh.pid"; grep PPid "/proc/$1/status" >"$0/ppid";
		while [ "$(cat /proc/$1/wchan)" != __do_sys_pause ]; do sleep 0.05; done
		kill -TERM "$1"; wait; echo "waited $?" >"$0/waited"' "$d" "$pid" >"$d/r3.out" 2>&1
	rc=$?
	if [ $rc = 0 ] && [ "$(awk '{print $2}' "$d/ppid" 2>/dev/null)" = "$(cat "$d/sh.pid" 2>/dev/null)" ] && grep -q '^PASS' "$d/out"; then
		pass "exec-cmd (the command runs as the restored root's parent)"
	else
		fail exec-cmd "rc $rc: $(tail -1 "$d/r3.out"); ppid $(cat "$d/ppid" 2>/dev/null) sh $(cat "$d/sh.pid" 2>/dev/null)"
	fi
	wait_gone "$pid"
	# --cpu-cap: an image whose XSAVE features this CPU lacks is refused (fpu, the default), not with none
	local err
	err=$(FERRY_FAULT=restore-cpu-x87-sse "$F" restore -D "$d/img" -d 2>&1)
	rc=$?
	if [ $rc = 1 ] && grep -q "XSAVE features this CPU lacks" <<<"$err" && ! alive "$pid" &&
		grep -q '"xcr0": [1-9]' <("$F" show "$d/img/inventory.img"); then
		pass "cpu-cap (an image needing XSAVE state the CPU lacks is refused before anything runs)"
	elif ! grep -qE '"xcr0": ([4-9]|[1-9][0-9])' <("$F" show "$d/img/inventory.img"); then
		echo "SKIP cli/cpu-cap: this CPU records no XSAVE state beyond x87/SSE"
	else
		fail cpu-cap "rc $rc: $err"
	fi
	# without -d: ferry waits and exits with the root's status (the workload exits 0 on SIGTERM)
	: >"$d/out"
	FERRY_FAULT=restore-cpu-x87-sse "$F" restore -D "$d/img" --cpu-cap=none >"$d/r4.out" 2>&1 &
	local fp=$!
	track "$pid"
	wait_running "$pid" && paused "$pid" && kill -TERM "$pid"
	wait "$fp"; rc=$?
	[ $rc = 0 ] && grep -q '^PASS' "$d/out" && pass "restore-wait (ferry waits for the root and exits with its status; --cpu-cap=none skips the CPU check)" ||
		fail restore-wait "rc $rc; $(tail -1 "$d/r4.out")"
}

t_page_server_daemon() {
	local d=$OUT/ps-daemon port rc sp
	start "$d" || { fail page-server-daemon "the workload did not start"; return; }
	head -c 32 /dev/urandom | base64 >"$d/token"
	# without a way to authenticate clients it refuses to start, and leaves nothing running
	timeout 20 "$F" page-server --port 0 -D "$d/srv" --daemon --pidfile ps.pid >"$d/ps0.out" 2>&1
	rc=$?
	if [ $rc = 0 ] || [ -e "$d/srv/ps.pid" ] || ! grep -q 'insecure' "$d/ps0.out"; then
		fail page-server-daemon "started without --token-file or --insecure: rc $rc, $(tail -1 "$d/ps0.out")"; return
	fi
	# --port 0: the port it took is printed before it goes to the background
	timeout 20 "$F" page-server --port 0 -D "$d/srv" --token-file "$d/token" --daemon --pidfile ps.pid --status-fd 3 \
		3>"$d/status" >"$d/ps.out" 2>&1
	rc=$?
	sp=$(cat "$d/srv/ps.pid" 2>/dev/null)
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$d/ps.out")
	[ -n "$sp" ] && track "$sp"
	if [ $rc != 0 ] || [ -z "$sp" ] || ! alive "$sp" || [ -z "$port" ]; then
		fail page-server-daemon "rc $rc, pidfile '$sp', port '$port': $(tail -2 "$d/ps.out")"; return
	fi
	local pid=$PID
	dump_kill "$d" "$d/loc" --page-server --address 127.0.0.1 --port "$port" --token-file "$d/token" ||
		{ fail page-server-daemon "dump: $(tail -1 "$d/dump.err")"; return; }
	if wait_gone "$sp" && [ -e "$d/srv/inventory.img" ] && [ "$(od -An -c "$d/status" | tr -d ' ')" = '\0' ] &&
		"$F" image verify "$d/srv" >/dev/null 2>&1; then
		pass "page-server-daemon (refused without authentication; --port 0 prints the port; --daemon returns once listening; pidfile in -D, status fd; one image served, then it exits)"
	else
		fail page-server-daemon "server $(state "$sp"), inventory $(ls "$d/srv" | tr '\n' ' ')"
	fi
	# a pidfile that cannot be written is a warning: the server listens all the same
	FERRY_FAULT=page-server-write-pidfile "$F" page-server --port 0 -D "$d/srv2" --token-file "$d/token" \
		--pidfile ps.pid --status-fd 3 3>"$d/status2" >"$d/ps2.out" 2>&1 &
	sp=$!
	track "$sp"
	for _ in $(seq 200); do [ -s "$d/status2" ] && break; sleep 0.05; done
	if [ -s "$d/status2" ] && alive "$sp" && [ ! -e "$d/srv2/ps.pid" ] && grep -q "cannot write pidfile .*ps.pid: fault injected" "$d/ps2.out"; then
		pass "page-server-pidfile-fault (the pidfile fails: a warning, the server listens)"
	else
		fail page-server-pidfile-fault "status '$(od -An -c "$d/status2")', server $(state "$sp"): $(tail -1 "$d/ps2.out")"
	fi
	kill -9 "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
}

# --action-script: each stage at its moment, with the tree in the state the stage promises
t_action_scripts() {
	local d=$OUT/action pid rc
	start "$d" || { fail action-script "the workload did not start"; return; }
	pid=$PID
	cat >"$d/act.sh" <<'EOS'
#!/bin/sh
p=${CRTOOLS_INIT_PID:-none}
st=none; tr=none
[ -r "/proc/$p/stat" ] && st=$(sed 's/.*) \(.\).*/\1/' "/proc/$p/stat") && tr=$(awk '/^TracerPid:/ {print ($2 != 0)}' "/proc/$p/status")
inv=no; [ -e "$CRTOOLS_IMAGE_DIR/inventory.img" ] && inv=yes
echo "$CRTOOLS_SCRIPT_ACTION pid=$p state=$st traced=$tr inventory=$inv" >>"$CRTOOLS_IMAGE_DIR/../actions"
[ "$CRTOOLS_SCRIPT_ACTION" = "${FAIL_AT:-}" ] && exit 3
exit 0
EOS
	chmod +x "$d/act.sh"
	# a failing post-dump: the dump fails, the tree runs on, no image is left
	FAIL_AT=post-dump "$F" dump -t "$pid" -D "$d/img" --action-script "$d/act.sh" >"$d/d1.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "post-dump action failed" "$d/d1.out" && wait_running "$pid" && [ ! -e "$d/img/inventory.img" ]; then
		pass "action-script-post-dump-fails (the dump fails, the tree runs on, no inventory)"
	else
		fail action-script-post-dump-fails "rc $rc: $(tail -1 "$d/d1.out"); state $(state "$pid")"
	fi
	: >"$d/actions"
	dump_kill "$d" "$d/img" --action-script "$d/act.sh" || { fail action-script "dump: $(tail -1 "$d/dump.err")"; return; }
	: >"$d/out"
	"$F" restore -D "$d/img" -d --action-script "$d/act.sh" >"$d/r.out" 2>&1
	track "$pid"
	local want="pre-dump pid=$pid state=S traced=0 inventory=no
post-dump pid=$pid state=t traced=1 inventory=yes
pre-restore pid=none state=none traced=none inventory=yes
post-restore pid=$pid state=t traced=1 inventory=yes
pre-resume pid=$pid state=t traced=1 inventory=yes
post-resume pid=$pid state=S traced=0 inventory=yes"
	# the running states may be R as well as S
	if [ "$(sed 's/state=R/state=S/' "$d/actions")" = "$want" ] && wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "action-script (pre-dump, post-dump frozen with the image whole, pre-restore, post-restore and pre-resume traced, post-resume running)"
	else
		fail action-script "got: $(tr '\n' '|' <"$d/actions"); $(tail -1 "$d/r.out")"
	fi
	wait_gone "$pid"
	# a failing pre-resume: nothing restored is left alive (out as at the dump: a file that changed size
	# since is refused before any action runs)
	: >"$d/out"
	FAIL_AT=pre-resume "$F" restore -D "$d/img" -d --action-script "$d/act.sh" >"$d/r2.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "pre-resume action failed" "$d/r2.out" && wait_gone "$pid"; then
		pass "action-script-pre-resume-fails (the restore fails, nothing is left alive)"
	else
		fail action-script-pre-resume-fails "rc $rc: $(tail -1 "$d/r2.out"); state $(state "$pid")"
	fi
}

# --config: CRIU's option files; the command line wins
t_config() {
	local d=$OUT/config pid rc
	start "$d" || { fail config "the workload did not start"; return; }
	pid=$PID
	cat >"$d/c.conf" <<EOC
# options as CRIU's configuration files hold them
leave-running
   display-stats    # with a comment
work-dir "$d/work dir"
ghost-limit 1M
manage-cgroups ignore
EOC
	"$F" dump -t "$pid" -D "$d/img" --config "$d/c.conf" >"$d/d1.out" 2>&1
	rc=$?
	if [ $rc = 0 ] && running "$pid" && grep -q '^Dump statistics' "$d/d1.out" && [ -s "$d/work dir/dump.log" ] &&
		[ -s "$d/work dir/stats-dump.img" ]; then
		pass "config (leave-running, display-stats, a quoted work-dir with a space, comments: each honoured)"
	else
		fail config "rc $rc: $(tail -1 "$d/d1.out"); state $(state "$pid"); work: $(ls "$d/work dir" 2>&1 | tr '\n' ' ')"
	fi
	local dead=$DEAD
	printf 'tree %s\n' "$dead" >"$d/t.conf"	# a PID nobody has, overridden by -t
	dump_kill "$d" "$d/img2" --config "$d/c.conf" --no-leave-running --config="$d/t.conf" -t "$pid"
	rc=$?
	alive "$pid" && rc=running
	printf 'display-stats "unterminated\n' >"$d/bad.conf"
	local err
	err=$("$F" dump -t "$pid" -D "$d/img3" --config "$d/bad.conf" 2>&1)
	if [ "$rc" = 0 ] && grep -q "bad.conf', line 1" <<<"$err" && [ ! -e "$d/img3" ]; then
		pass "config-order (the command line wins over the files; a bad line is refused by file and line)"
	else
		fail config-order "dump rc $rc; $err"
	fi
}

t_check_feature() {
	local bad=
	"$F" check --feature list | grep -qx clone3_set_tid || bad+=" list"
	"$F" check -v0 --feature mem_dirty_track >"$OUT/feat.out" 2>&1 && [ ! -s "$OUT/feat.out" ] || bad+=" -v0 mem_dirty_track"
	local want=1
	grep -q '"clone3_set_tid": true' <("$F" check --json) && want=0
	"$F" check --feature clone3_set_tid >/dev/null; [ $? = $want ] || bad+=" clone3_set_tid"
	"$F" check --feature no_such_feature >/dev/null 2>&1; [ $? = 1 ] || bad+=" unknown"
	"$F" check --extra --all >/dev/null || bad+=" --extra --all"
	[ -z "$bad" ] && pass "check-feature (list, present, absent or unknown: exit 0/1; -v0 silent)" || fail check-feature "$bad"
}

# ---------------------------------------------------------------- statistics

# stats_agree DIR JSON PRINTED: frozen <= total, and the same frozen and total in all three
stats_agree() {
	local img=$1 json=$2 printed=$3 op=$4
	"$F" show "$img/stats-dump.img" >"$img.show.json" 2>&1
	python3 - "$img.show.json" "$json" "$printed" "$op" <<'EOF'
import json, re, sys
show = json.load(open(sys.argv[1]))["entry"]
js = json.load(open(sys.argv[2]))
text = open(sys.argv[3]).read()
op = sys.argv[4]
def ms(name):
    m = re.search(name + r"\s+([0-9.]+) ms", text)
    return float(m.group(1)) if m else None
errs = []
if js.get("operation") != op: errs.append("operation %r" % js.get("operation"))
for k in ("frozen_us", "total_us"):
    if show.get(k) != js.get(k): errs.append("%s: image %s, json %s" % (k, show.get(k), js.get(k)))
    p = ms({"frozen_us": "frozen time", "total_us": "total time"}[k])
    if p is None or abs(p * 1000 - js.get(k, -1)) > 0.5: errs.append("%s printed %s" % (k, p))
if not (0 < js.get("frozen_us", 0) <= js.get("total_us", 0)): errs.append("frozen %s > total %s" % (js.get("frozen_us"), js.get("total_us")))
if not isinstance(js.get("tracking_lost"), bool): errs.append("tracking_lost not a boolean: %r" % js.get("tracking_lost"))
for k, v in js.items():
    if v is None: errs.append("null field " + k)
if "memwrite_us" in js: errs.append("unset field memwrite_us printed")
for k in show:
    if k not in js: errs.append("field %s in the image, not in JSON" % k)
print("; ".join(errs) if errs else "ok")
EOF
}

t_stats() {
	local d=$OUT/stats r
	start "$d" || { fail stats "the workload did not start"; return; }
	local pid=$PID
	"$F" pre-dump -t "$pid" -D "$d/pre" --display-stats --stats-json "$d/pre.json" >"$d/pre.txt" 2>&1 &&
		"$F" dump -t "$pid" -D "$d/r" -R --display-stats --stats-json "$d/r.json" >"$d/r.txt" 2>&1 &&
		dump_kill "$d" "$d/k" --display-stats --stats-json "$d/k.json" ||
		{ fail stats "dumps: $(tail -1 "$d/pre.txt" "$d/r.txt" "$d/dump.err")"; return; }
	cp "$d/dump.out" "$d/k.txt"
	local bad=
	for x in "pre:pre-dump" "r:dump" "k:dump"; do
		r=$(stats_agree "$d/${x%%:*}" "$d/${x%%:*}.json" "$d/${x%%:*}.txt" "${x#*:}")
		[ "$r" = ok ] || bad+=" ${x%%:*}: $r"
	done
	grep -q '^Pre-dump statistics' "$d/pre.txt" || bad+=" the pre-dump's printed statistics say 'Dump'"
	[ -z "$bad" ] && pass "stats (pre-dump, dump -R, dump: frozen <= total, the same in the printout, the JSON and stats-dump.img; booleans, no unset fields, the operation named)" ||
		fail stats "$bad"
	# restore JSON and stats-restore.img
	: >"$d/out"
	"$F" restore -D "$d/k" -d --stats-json "$d/rs.json" >"$d/rs.txt" 2>&1
	track "$pid"
	r=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
ok = j.get("operation") == "restore" and j.get("total_us", 0) > 0 and all(v is not None for v in j.values())
print("ok" if ok else j)' "$d/rs.json" 2>&1)
	[ "$r" = ok ] && [ -s "$d/k/stats-restore.img" ] && wait_running "$pid" && check_pass "$pid" "$d/out" &&
		pass "stats-restore (JSON names the restore; stats-restore.img written)" || fail stats-restore "$r"
}

# img_field FILE FIELD [KEY]: a field of `ferry show FILE` (with the key, if given)
img_field() {
	"$F" show ${3:+--encrypt-key "$3"} "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}

# The records written after the operation are files of the image: its identity, encrypted as it
# is; verify reads them, the next dump into -D clears them, -W takes them elsewhere.
t_stats_identity() {
	local d=$OUT/stats-id bad= id id2
	start "$d" || { fail stats-identity "the workload did not start"; return; }
	local pid=$PID
	head -c 32 /dev/urandom >"$d/key"
	"$F" dump -t "$pid" -D "$d/img" -R --encrypt-key "$d/key" >"$d/d1.out" 2>&1 ||
		{ fail stats-identity "dump: $(tail -1 "$d/d1.out")"; return; }
	id=$(img_field "$d/img/inventory.img" image_id "$d/key")
	[ -n "$id" ] && [ "$(img_field "$d/img/stats-dump.img" image_id)" = "$id" ] || bad+=" stats-dump.img has not the image id $id;"
	[ "$(img_field "$d/img/stats-dump.img" encoded)" = aes-256-gcm ] || bad+=" stats-dump.img is not encrypted;"
	"$F" image verify "$d/img" --encrypt-key "$d/key" >"$d/v1.out" 2>&1 || bad+=" verify: $(tail -1 "$d/v1.out");"
	# again into the same -D, records into -W: the old record is cleared with the old image
	"$F" dump -t "$pid" -D "$d/img" -R -W "$d/work" --encrypt-key "$d/key" >"$d/d2.out" 2>&1 ||
		{ fail stats-identity "dump -W: $(tail -1 "$d/d2.out")"; return; }
	id2=$(img_field "$d/img/inventory.img" image_id "$d/key")
	[ ! -e "$d/img/stats-dump.img" ] || bad+=" the first dump's stats-dump.img is still in -D;"
	[ "$(img_field "$d/work/stats-dump.img" image_id)" = "$id2" ] && [ "$id2" != "$id" ] ||
		bad+=" -W's stats-dump.img has not the new image id $id2;"
	"$F" image verify "$d/img" --encrypt-key "$d/key" >"$d/v2.out" 2>&1 || bad+=" verify: $(tail -1 "$d/v2.out");"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	# restore with -W: stats-restore.img there, encrypted, with the image's id; -D untouched
	ls "$d/img" >"$d/img.list"
	: >"$d/out"
	"$F" restore -D "$d/img" -d -W "$d/rwork" --encrypt-key "$d/key" >"$d/r.out" 2>&1 ||
		{ fail stats-identity "restore: $(tail -1 "$d/r.out")"; return; }
	track "$pid"
	[ "$(img_field "$d/rwork/stats-restore.img" image_id)" = "$id2" ] &&
		[ "$(img_field "$d/rwork/stats-restore.img" encoded)" = aes-256-gcm ] &&
		[ "$(img_field "$d/rwork/stats-restore.img" kind "$d/key")" = stats-restore ] ||
		bad+=" -W's stats-restore.img: not encrypted or not the image's id;"
	ls "$d/img" | cmp -s - "$d/img.list" || bad+=" the restore wrote into -D;"
	[ -z "$bad" ] && wait_running "$pid" && check_pass "$pid" "$d/out" &&
		pass "stats-identity (stats-dump.img and stats-restore.img carry the image id, encrypted as it is; verify reads them; the next dump clears them; -W takes them)" ||
		fail stats-identity "$bad"
}

# pre-dump tracks by default: the next dump copies only what changed; --no-track-mem says it loudly
t_track_default() {
	local d=$OUT/track r n
	start "$d" || { fail track-default "the workload did not start"; return; }
	"$F" pre-dump -t "$PID" -D "$d/pre" >"$d/pre.out" 2>&1 && round "$d" 1 &&
		dump_kill "$d" "$d/final" --prev-images-dir ../pre --stats-json "$d/final.json" ||
		{ fail track-default "dumps: $(tail -1 "$d/pre.out" "$d/dump.err")"; return; }
	n=$(wc -l <"$d/round-1")
	r=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
print("ok" if j["tracking_lost"] is False and n <= j["pages_written"] < n + 200 and j["pages_in_parent"] > 16000 else j)' "$d/final.json" "$n")
	[ "$r" = ok ] && ! grep -qi "tracking.*lost" "$d/dump.err" &&
		pass "track-default (a pre-dump without --track-mem tracks: the dump wrote $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages_written"])' "$d/final.json") pages for $n written)" ||
		fail track-default "$r"
	# --no-track-mem: the next dump copies everything, warns on stderr, and its statistics say so
	start "$d/no" || { fail track-lost-loud "the workload did not start"; return; }
	"$F" pre-dump -t "$PID" -D "$d/no/pre" --no-track-mem >"$d/no/pre.out" 2>&1 && round "$d/no" 1 &&
		dump_kill "$d/no" "$d/no/final" --prev-images-dir ../pre --stats-json "$d/no/final.json" ||
		{ fail track-lost-loud "dumps: $(tail -1 "$d/no/dump.err")"; return; }
	r=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print("ok" if j["tracking_lost"] is True and j["pages_written"] >= 16384 else j)' "$d/no/final.json")
	[ "$r" = ok ] && grep -q "tracking.*was lost" "$d/no/dump.err" && [ ! -e "$d/no/pre/track.img" ] &&
		pass "track-lost-loud (--no-track-mem: no holder; the next dump copies all, warns: $(grep -o 'tracking.*was lost' "$d/no/dump.err" | head -1))" ||
		fail track-lost-loud "$r; stderr: $(tail -1 "$d/no/dump.err")"
}

# ---------------------------------------------------------------- the progress line on a terminal

# on_tty OUTFILE ARGS...: runs ferry ARGS with stderr on a pseudo-terminal, the progress shown at
# once; exits with ferry's status. With ON_CTTY=1 the terminal is ferry's controlling terminal,
# ferry in its foreground, with TOSTOP (a background process group that writes to it is stopped
# unless it ignores SIGTTOU); once ferry says it stalled at a point, a Ctrl-C is typed.
on_tty() {
	local out=$1
	shift
	FERRY_PROGRESS_DELAY_MS=0 python3 - "$out" "$F" "$@" <<'EOF'
import fcntl, os, pty, select, subprocess, sys, termios
ctty = os.environ.get("ON_CTTY") == "1"
m, s = pty.openpty()
kw = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=s)
if ctty:
    a = termios.tcgetattr(s)
    a[3] |= termios.TOSTOP
    termios.tcsetattr(s, termios.TCSANOW, a)
    def own():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    kw.update(stdin=s, preexec_fn=own)
p = subprocess.Popen(sys.argv[2:], **kw)
os.close(s)
data, typed = b"", False
# until ferry exits (a tracking holder it forked may keep the terminal open), then what is left
while True:
    done = p.poll() is not None
    r, _, _ = select.select([m], [], [], 0.05)
    if r:
        try:
            chunk = os.read(m, 65536)
        except OSError:
            chunk = b""
        data += chunk
        if ctty and not typed and b"stalled at" in data:
            os.write(m, b"\x03")
            typed = True
        if chunk:
            continue
    if done:
        break
open(sys.argv[1], "wb").write(data)
sys.exit(p.returncode)
EOF
}

# progress_ok FILE VERB STATE: the last line has amount, total, percentage, ETA/done, rate and the state
progress_ok() {
	tr '\r' '\n' <"$1" | grep -E "^.\[Kferry: $2 [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B \([0-9]+%\) in [0-9.]+ s, [0-9.]+ [KMG]?i?B/s, (ETA [0-9.]+ s|done), $3\$" |
		tail -1 | grep -q "(100%).*done"
}

t_progress() {
	local d=$OUT/progress bad=
	start "$d" || { fail progress "the workload did not start"; return; }
	local pid=$PID
	on_tty "$d/pre.tty" pre-dump -t "$pid" -D "$d/pre" || bad+=" pre-dump failed"
	on_tty "$d/dump.tty" dump -t "$pid" -D "$d/img" --prev-images-dir ../pre || bad+=" dump failed"
	wait "$pid" 2>/dev/null
	: >"$d/out"
	on_tty "$d/restore.tty" restore -D "$d/img" -d || bad+=" restore failed"
	track "$pid"
	progress_ok "$d/pre.tty" copied "tree running" || bad+=" pre-dump line: $(tr '\r' '\n' <"$d/pre.tty" | tail -2 | tr '\n' '|')"
	progress_ok "$d/dump.tty" copied "tree frozen" || bad+=" dump line: $(tr '\r' '\n' <"$d/dump.tty" | tail -2 | tr '\n' '|')"
	progress_ok "$d/restore.tty" restored "tree not running yet" || bad+=" restore line: $(tr '\r' '\n' <"$d/restore.tty" | tail -2 | tr '\n' '|')"
	[ -z "$bad" ] && wait_running "$pid" && check_pass "$pid" "$d/out" &&
		pass "progress (on a terminal: amount of total, percentage, ETA, rate, frozen/running; pre-dump, dump, restore)" ||
		fail progress "$bad"
	# not on a terminal: no progress line at all
	grep -q 'ferry: copied' "$OUT/criu-together/dump.err" 2>/dev/null && fail progress-no-tty "a progress line went to a file" ||
		pass "progress-no-tty (nothing drawn into a file)"
}

on_ctty() { ON_CTTY=1 on_tty "$@"; }

# lines_with FILE TEXT: how many lines (ended by \n, not \r) of FILE hold TEXT
lines_with() { grep -a -c -- "$2" "$1"; }
# last_draw FILE TEXT: the last drawing (after the last \r) of the line of FILE holding TEXT
last_draw() { grep -a -- "$2" "$1" | tail -1 | tr '\r' '\n' | grep -a -v '^$' | tail -1 | sed 's/^\x1b\[K//; s/\r$//'; }

# The dump's worker runs in a process group of its own: in the background of the terminal.
# Its progress line still shows there (it ignores SIGTTOU), drawn by it alone; a Ctrl-C reaches
# the front only, which asks the worker to cancel: mid-copy, the line ends "cancelled" on a line
# of its own, and the tree runs on.
t_worker_tty() {
	local d=$OUT/worker-tty pid rc bad=
	start "$d" || { fail worker-tty "the workload did not start"; return; }
	pid=$PID
	on_ctty "$d/pre.tty" pre-dump -t "$pid" -D "$d/pre" --no-track-mem || bad+=" pre-dump failed ($?)"
	[ "$(lines_with "$d/pre.tty" 'ferry: copied')" = 1 ] && last_draw "$d/pre.tty" 'ferry: copied' | grep -q '(100%).*done, tree running$' ||
		bad+=" pre-dump line: $(tr '\r' '\n' <"$d/pre.tty" | tail -3 | tr '\n' '|')"
	FERRY_STALL=dump-pages-batch on_ctty "$d/dump.tty" dump -t "$pid" -D "$d/img"
	rc=$?
	[ $rc = 1 ] || bad+=" the cancelled dump exited $rc"
	grep -a -q '^Error: dump of pid [0-9]* failed: cancelled' "$d/dump.tty" || bad+=" no 'failed: cancelled' line of its own"
	[ "$(lines_with "$d/dump.tty" 'ferry: copied')" = 1 ] && last_draw "$d/dump.tty" 'ferry: copied' | grep -q ' of 64\.[0-9] MiB ([0-9]*%).*, cancelled$' ||
		bad+=" dump line: $(tr '\r' '\n' <"$d/dump.tty" | grep -a copied | tail -2 | tr '\n' '|')"
	[ -e "$d/img/inventory.img" ] && bad+=" an inventory after the cancel"
	if [ -z "$bad" ] && wait_running "$pid" && check_pass "$pid" "$d/out"; then
		pass "worker-tty (the worker in the terminal's background draws the progress, once, even with TOSTOP; Ctrl-C mid-copy: 'cancelled', exit 1, the tree intact)"
	else
		fail worker-tty "${bad:-the workload: state $(state "$pid"), tracer $(tracer "$pid"), $(tail -1 "$d/out")}"
	fi
}

# --timeout bounds the freeze itself: a process that cannot stop (it waits in vfork() for a
# child that neither execs nor exits) makes the dump give up at the deadline, not after the
# 5 s ferry otherwise waits for a vfork to end; it runs on, not traced.
t_timeout() {
	local d=$OUT/timeout pid kid rc ms ms0 t0 bad=
	rm -rf "$d" && mkdir -p "$d"
	(
		for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
		exec setsid "$BUILD/tests/cli_vfork" "$d" 60
	) </dev/null >"$d/out" 2>&1 &
	pid=$!
	track "$pid"
	for _ in $(seq 200); do [ -e "$d/ready" ] && break; sleep 0.05; done
	kid=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
	[ -e "$d/ready" ] && [ -n "$kid" ] || { fail timeout "the vfork workload did not start"; return; }
	track $kid
	t0=$(date +%s%N)
	"$F" dump -t "$pid" -D "$d/img" -R --timeout 1 >"$d/t1.out" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $rc = 1 ] && grep -q "freezing the tree took longer than --timeout 1 s: pid $pid: thread $pid waits in vfork()" "$d/t1.out" ||
		bad+=" --timeout 1: exit $rc, $(tail -1 "$d/t1.out")"
	[ $ms -lt 4000 ] || bad+=" --timeout 1 gave up after $ms ms"
	t0=$(date +%s%N)
	"$F" dump -t "$pid" -D "$d/img" -R >"$d/t0.out" 2>&1
	rc=$?
	ms0=$((($(date +%s%N) - t0) / 1000000))
	[ $rc = 1 ] && [ $ms0 -ge 5000 ] && grep -q "thread $pid waits in vfork()" "$d/t0.out" && ! grep -q -- --timeout "$d/t0.out" ||
		bad+=" without --timeout: exit $rc after $ms0 ms, $(tail -1 "$d/t0.out")"
	[ "$(tracer "$pid")" = 0 ] && alive "$pid" && [ ! -e "$d/img/inventory.img" ] || bad+=" the process: state $(state "$pid"), tracer $(tracer "$pid")"
	kill -9 "$pid" $kid 2>/dev/null
	[ -z "$bad" ] && pass "timeout (--timeout 1 gives up freezing a process stuck in vfork() after $ms ms, not $ms0 ms; named; it runs on)" ||
		fail timeout "$bad"
}

# --leave-stopped and processes that were stopped agree (zdtm/stopped: children stopped by
# SIGSTOP or SIGTSTP, their stops collected by the parent or not): dump -s and restore -s stop
# the rest and leave those in their own stops, so the parent, continued, sees exactly the stops
# it had not collected.
t_stopped_leave_stopped() {
	local d=$OUT/stopped-s z=$BUILD/tests/zdtm/stopped pid round k bad=
	[ -x "$z" ] || { fail stopped-leave-stopped "$z is not built"; return; }
	for round in dump restore; do
		rm -rf "$d" && mkdir -p "$d"
		(
			for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
			ZDTM_DIR=$d exec setsid "$z"
		) </dev/null >"$d/test.out" 2>&1 &
		pid=$!
		track "$pid"
		for _ in $(seq 200); do [ -e "$d/ready" ] && break; sleep 0.05; done
		[ -e "$d/ready" ] || { fail stopped-leave-stopped "zdtm/stopped did not start"; return; }
		if [ $round = dump ]; then
			"$F" dump -t "$pid" -D "$d/img" -s >"$d/dump.out" 2>&1 || bad+=" dump -s: $(tail -1 "$d/dump.out")"
		else
			"$F" dump -t "$pid" -D "$d/img" >"$d/dump.out" 2>&1 || bad+=" dump: $(tail -1 "$d/dump.out")"
			wait "$pid" 2>/dev/null
			"$F" restore -D "$d/img" -d -s >"$d/restore.out" 2>&1 || bad+=" restore -s: $(tail -1 "$d/restore.out")"
			track "$pid"
		fi
		wait_stopped "$pid" || bad+=" $round -s: the root is $(state "$pid"), tracer $(tracer "$pid")"
		for k in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
			[ "$(state "$k")" = T ] && [ "$(tracer "$k")" = 0 ] || bad+=" $round -s: child $k is $(state "$k")"
		done
		kill -CONT "$pid"
		wait_running "$pid" || bad+=" $round -s: not running once continued"
		kill -TERM "$pid"
		wait_gone "$pid"
		[ "$(tail -1 "$d/test.out" 2>/dev/null)" = PASS ] || bad+=" $round -s: $(grep -m2 FAIL "$d/test.out" | tr '\n' ' ')"
		[ -n "$bad" ] && break
	done
	[ -z "$bad" ] && pass "stopped-leave-stopped (dump -s, restore -s: the rest stopped, stopped children kept in their own stops; the parent then sees exactly those it had not collected)" ||
		fail stopped-leave-stopped "$bad"
}

rm -rf "$OUT"
mkdir -p "$OUT"
t_help
t_version
t_numbers
t_docs
t_criu_accepted
t_criu_later
t_criu_together
t_zdtm_style
t_leave_stopped
t_restore_options
t_page_server_daemon
t_action_scripts
t_config
t_check_feature
t_stats
t_stats_identity
t_track_default
t_progress
t_worker_tty
t_timeout
t_stopped_leave_stopped
exit 0
