#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: start a counter, checkpoint it (which stops it), restore it, and show that it counts
# on from where it was, with ferry's dump and restore statistics; then migrate a counter live
# between two simulated hosts (namespaces joined by a veth pair) with the migration's statistics.
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

say "live migration: two simulated hosts, A (10.78.0.1) and B (10.78.0.2), namespaces joined by a veth pair"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ABS=$(cd "$BUILD" && pwd)
# shellcheck source=tests/migrate/nodes.sh
. "$ROOT/tests/migrate/nodes.sh"
trap '[ -n "${PID:-}" ] && kill -9 "$PID" 2>/dev/null; node_destroy_all; true' EXIT
node_create A 10.78.0.1/24
node_create B 10.78.0.2/24
node_link A B
head -c 32 /dev/urandom >"$WORK/token"
MLOG=$WORK/migrated.log
node_exec A sh -c 'echo 4999 > /proc/sys/kernel/ns_last_pid'
(node_spawn A sh -c 'exec </dev/null >"$1" 2>&1; exec "$2"' sh "$MLOG" "$ABS/examples/counter")
sleep 1.2
MPID=$(tail -n 1 "$MLOG" | sed 's/.*(pid \([0-9]*\)).*/\1/')
echo "a counter runs on host A as pid $MPID: $(tail -n 1 "$MLOG")"
say "on B: ferry serve --listen 10.78.0.2:7000 --token-file TOKEN"
(node_spawn B "$ABS/src/ferry" serve --listen 10.78.0.2:7000 --token-file "$WORK/token" >"$WORK/serve.out" 2>&1)
for _ in $(seq 100); do node_exec B ss -ltnH 'sport = :7000' | grep -q . && break; sleep 0.05; done
say "on A: ferry migrate -t $MPID --to 10.78.0.2:7000 --token-file TOKEN --mode precopy"
node_exec A "$ABS/src/ferry" migrate -t "$MPID" --to 10.78.0.2:7000 --token-file "$WORK/token" --mode precopy \
	--stats-json "$WORK/migrate.json"
mbefore=$(tail -n 1 "$MLOG" | awk '{print $2}')
sleep 1.2
mafter=$(tail -n 1 "$MLOG" | awk '{print $2}')
ona=$(node_exec A sh -c "test -d /proc/$MPID && echo yes || echo no")
onb=$(node_exec B sh -c "test -d /proc/$MPID && echo yes || echo no")
echo "pid $MPID on host A: $ona; on host B: $onb; the count went from $mbefore to $mafter"
echo "statistics as JSON: $(tr -d ' \n' <"$WORK/migrate.json" | cut -c 1-160)..."
if [ "$ona" = no ] && [ "$onb" = yes ] && [ "$mafter" -gt "$mbefore" ]; then
	say "OK: the counter moved from host A to host B and counts on there"
else
	say "FAILED: the counter did not move (A: $ona, B: $onb, count $mbefore -> $mafter)"
	exit 1
fi
node_destroy_all
rm -rf "$WORK"
