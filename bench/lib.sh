# SPDX-License-Identifier: Apache-2.0
# Shared by bench/run.sh and bench/tree.sh (sourced): the ferry binaries compared in a run, and
# the stage timings ferry writes into its logs.

# BENCH_BASELINE=DIR: another build of ferry (say of main) whose restores are timed on the same
# images, alternating with this build's, for before/after figures under the same machine state.
# Sets FERRYS ("new" first, then "base" if any) and FERRY_BIN_<tag>.
bench_ferrys() {   # this build's ferry
	FERRYS="new"
	FERRY_BIN_new=$1
	if [ -n "${BENCH_BASELINE:-}" ]; then
		FERRY_BIN_base=$(cd "$BENCH_BASELINE" 2>/dev/null && pwd)/src/ferry
		[ -x "$FERRY_BIN_base" ] || { echo "bench: BENCH_BASELINE: no $BENCH_BASELINE/src/ferry" >&2; exit 1; }
		FERRYS="new base"
	fi
}

# ferry_order RUN: the tags in the order run RUN uses them (alternating, so neither always goes first)
ferry_order() {
	if [ "$FERRYS" = "new base" ] && [ $(($1 % 2)) = 0 ]; then
		echo "base new"
	else
		echo "$FERRYS"
	fi
}

# ferry_bin TAG: the binary behind a tag
ferry_bin() { local v="FERRY_BIN_$1"; echo "${!v}"; }

# stage_times LOG: "stage:NAME=US ..." for each "stage NAME: done in US us" line of a ferry log
stage_times() {
	sed -n 's/.*stage \([a-z-]*\): done in \([0-9]*\) us.*/stage:\1=\2/p' "$1" 2>/dev/null | tr '\n' ' '
}

# timed_restore FTAG IMG: `ferry restore -d` of IMG with ferry FTAG, its log kept as
# IMG/restore-FTAG.log, stderr in $WORK/restore.err; sets RESTORE_US, returns ferry's status
timed_restore() {
	local t0 rc
	t0=$(now_us)
	"$(ferry_bin "$1")" restore -D "$2" -d -o "restore-$1.log" >"$WORK/restore.err" 2>&1
	rc=$?
	RESTORE_US=$(($(now_us) - t0))
	return $rc
}
