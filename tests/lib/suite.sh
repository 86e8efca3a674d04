# SPDX-License-Identifier: Apache-2.0
# Helpers shared by the suites that print their own result lines (tests/transform, tests/images).
# Source it with SUITE (the name prefix) and ROOT set, then call suite_args "$@": it takes
# `[--build] DIR [--filter REGEX]` and sets BUILD, FILTER, FERRY, ZDTM and OUT (tests/out/SUITE).
#   pass NAME [NOTE] / skip NAME WHY / fail NAME REASON [FILES...]  one result line (fail counts NFAIL)
#   selected NAME          passes --filter
#   track PID              killed at exit if still the same process (start time)
#   alive PID / running_free PID / wait_for SECONDS CMD...
#   start PROG DIR [VAR=VALUE...]   a zdtm program ready in DIR; sets TPID
#   restore_check NAME DIR IMG [ARGS...]   restore TPID, SIGTERM it, expect PASS (reports failures)
NFAIL=0
STARTED=()	# pid:starttime of what we started or restored
FILTER=""

suite_args() {
	BUILD=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--build) BUILD=${2:-}; shift 2 ;;
		--filter) FILTER=${2:-}; shift 2 ;;
		-*) echo "usage: $0 [--build] DIR [--filter REGEX]" >&2; exit 2 ;;
		*) BUILD=$1; shift ;;	# tests/run.sh passes the build directory alone
		esac
	done
	[ -d "$BUILD" ] || { echo "usage: $0 [--build] DIR [--filter REGEX]" >&2; exit 2; }
	BUILD=$(cd "$BUILD" && pwd)
	FERRY=$BUILD/src/ferry
	ZDTM=$BUILD/tests/zdtm
	OUT=$ROOT/tests/out/$SUITE
}

pass() { echo "PASS $SUITE/$1"; }
skip() { echo "SKIP $SUITE/$1: $2"; }
# missing NAME WHY: a tool the test needs is not installed. Under make check (FERRY_STRICT=1), which
# installs every such tool, that is a broken setup: a failure, not a skip that would hide it.
missing() {
	if [ "${FERRY_STRICT:-0}" = 1 ]; then
		echo "FAIL $SUITE/$1: $2 (make check installs it)"
	else
		skip "$1" "$2"
	fi
}
fail() {
	local name=$1 reason=$2 f
	shift 2
	echo "FAIL $SUITE/$name: $reason"
	for f in "$@"; do
		[ -s "$f" ] && tail -n 12 "$f" | sed "s#^#    | ${f#"$ROOT"/}: #"
	done
	NFAIL=$((NFAIL + 1))
}
selected() { [ -z "$FILTER" ] || grep -Eq -- "$FILTER" <<<"$SUITE/$1"; }

starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; set -- $s; echo "${20}"; }
track() { local st; st=$(starttime "$1"); [ -n "$st" ] && STARTED+=("$1:$st"); return 0; }
suite_cleanup() {
	local e
	for e in "${STARTED[@]}"; do
		[ "$(starttime "${e%%:*}")" = "${e#*:}" ] && kill -KILL "${e%%:*}" 2>/dev/null
	done
}
trap suite_cleanup EXIT
alive() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}
running_free() {	# the restored process runs, untraced, not stopped, not ferry any more
	local st
	alive "$1" || return 1
	st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	[ "$st" != t ] && [ "$st" != T ] && [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$1/status")" = 0 ] &&
		[ "$(readlink "/proc/$1/exe")" != "$(readlink -f "$FERRY")" ]
}

# start PROG DIR [VAR=VALUE...]: start a zdtm program (with that environment); sets TPID; 0 once ready
TPID=""
start() {
	local prog=$1 dir=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	(ZDTM_DIR=$dir exec env "$@" setsid "$ZDTM/$prog" </dev/null >"$dir/test.out" 2>&1) &
	TPID=$!
	track "$TPID"
	wait_for 20 test -e "$dir/ready" && [ "$(cat "$dir/ready")" = "$TPID" ]
}

# restore_check NAME DIR IMG ARGS...: restore (waiting for it), SIGTERM, expect exit 0 and PASS
restore_check() {
	local name=$1 dir=$2 img=$3 rpid rc
	shift 3
	"$FERRY" restore -D "$img" -v4 "$@" </dev/null >"$img/restore.err" 2>&1 &
	rpid=$!
	track "$rpid"
	if ! wait_for 60 running_free "$TPID"; then
		fail "$name" "process $TPID not running after the restore" "$img/restore.err" "$img/restore.log"
		return 1
	fi
	track "$TPID"
	kill -TERM "$TPID"
	wait_for 30 eval '! alive $rpid'
	wait "$rpid"
	rc=$?
	if [ $rc != 0 ] || [ "$(tail -n 1 "$dir/test.out")" != PASS ]; then
		fail "$name" "restored process: exit status $rc" "$dir/test.out" "$img/restore.err" "$img/restore.log"
		return 1
	fi
	return 0
}

# flip_byte FILE OFFSET: inverts one byte in place (a fixed value written instead may be what was
# already there, and then nothing was corrupted)
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
