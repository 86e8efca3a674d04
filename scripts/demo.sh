#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: start a counter, checkpoint it (which stops it), restore it, and show that it counts
# on from where it was, with ferry's dump and restore statistics.
set -euo pipefail
BUILD=${1:-build}
FERRY=$BUILD/src/ferry
WORK=$(mktemp -d /tmp/ferry-demo.XXXXXX)
LOG=$WORK/counter.log
trap '[ -n "${PID:-}" ] && kill -9 "$PID" 2>/dev/null; true' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "start a counter (its output goes to $LOG)"
# descriptors this shell may have inherited (pipes from a CI runner…) are not the counter's business
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$BUILD/examples/counter"
) </dev/null >"$LOG" 2>&1 &
PID=$!
sleep 1.2
tail -n 2 "$LOG"
before=$(tail -n 1 "$LOG" | awk '{print $2}')

say "ferry dump -t $PID -D $WORK/img --display-stats   (the counter is stopped after the dump)"
"$FERRY" dump -t "$PID" -D "$WORK/img" --display-stats
wait "$PID" 2>/dev/null || true
echo "pid $PID is gone: $(kill -0 "$PID" 2>&1 || true)"
sleep 0.6
echo "last line while it was gone: $(tail -n 1 "$LOG")"

say "ferry restore -D $WORK/img -d --display-stats"
"$FERRY" restore -D "$WORK/img" -d --display-stats
sleep 1.2
say "it counts on, at the same pid"
grep -A 4 "^count $before " "$LOG" | head -n 6
after=$(tail -n 1 "$LOG" | awk '{print $2}')
kill "$PID"
PID=
if [ "$after" -gt "$before" ] && grep -q "^count $((before + 1)) " "$LOG"; then
	say "OK: counted $before before the dump and on to $after after the restore"
else
	say "FAILED: the count did not go on (before $before, after $after)"
	exit 1
fi
say "the image, as JSON (ferry show), first lines"
"$FERRY" show "$WORK/img" >"$WORK/show.json"
head -n 20 "$WORK/show.json"
rm -rf "$WORK"
