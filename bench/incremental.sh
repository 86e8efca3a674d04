#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/incremental.sh BUILD [MIB]: the freeze time of an incremental dump of a MIB (1024) MiB
# process with 1% of its pages written since a tracked pre-dump (target: under 30 ms), next to the
# freeze of a full dump of the same process and of the pre-dump itself, measured in the same run.
set -u
BUILD=$(cd "${1:?usage: incremental.sh BUILD [MIB]}" && pwd)
MIB=${2:-1024}
F=$BUILD/src/ferry
W=$(mktemp -d /tmp/ferry-bench-incr.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; mountpoint -q "$W/img" && umount "$W/img"; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/img" && mount -t tmpfs -o size=$((MIB * 3 + 512))m none "$W/img" || { echo "bench-incremental: cannot mount a tmpfs"; exit 1; }
cc -O2 -o "$W/dirtier" "$(dirname "$0")/dirtier.c" || exit 1

start() {
	rm -f "$W/ready" "$W/dirtied"
	(for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
	 exec setsid "$W/dirtier" "$MIB" 10 "$W") </dev/null >"$W/out" 2>&1 &
	PID=$!
	while [ ! -e "$W/ready" ]; do sleep 0.05; done
}
frozen_ms() { "$F" show "$1/stats-dump.img" | python3 -c 'import json,sys; e=json.load(sys.stdin)["entry"]; print("%.1f %d %d" % (e.get("frozen_us",0)/1000, e.get("pages_written",0), e.get("pages_in_parent",0)))'; }

# a full dump for reference
start
"$F" dump -t "$PID" -D "$W/img/full" || exit 1
wait "$PID" 2>/dev/null; PID=
read -r full_ms full_pages _ < <(frozen_ms "$W/img/full")
rm -rf "$W/img/full"

# pre-dump, dirty 1%, incremental dump
start
"$F" pre-dump -t "$PID" -D "$W/img/pre" --track-mem || exit 1
kill -USR1 "$PID"
while [ ! -e "$W/dirtied" ]; do sleep 0.05; done
"$F" dump -t "$PID" -D "$W/img/inc" --prev-images-dir ../pre -R || exit 1
read -r pre_ms pre_pages _ < <(frozen_ms "$W/img/pre")
read -r inc_ms inc_pages parent_pages < <(frozen_ms "$W/img/inc")
kill "$PID"
wait "$PID"; st=$?
PID=
check=$(tail -n 1 "$W/out")
printf 'Incremental dump of a %d MiB process, 1%% of its pages written since a tracked pre-dump\n' "$MIB"
printf '  full dump          frozen %8.1f ms  (%d pages written)\n' "$full_ms" "$full_pages"
printf '  pre-dump           frozen %8.1f ms  (%d pages copied while it ran)\n' "$pre_ms" "$pre_pages"
printf '  incremental dump   frozen %8.1f ms  (%d pages written, %d left to the pre-dump)\n' "$inc_ms" "$inc_pages" "$parent_pages"
python3 -c "import sys; f,i=float(sys.argv[1]),float(sys.argv[2]); print('  ratio incremental / full frozen time: %.3f   target < 30 ms: %s' % (i/f if f else 0, 'met' if i < 30 else 'missed'))" "$full_ms" "$inc_ms"
echo "  the process after the dumps: $check (exit $st)"
[ "$check" = OK ]
