#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/apps.sh BUILD_DIR [APP...]
#
# Restore of real programs: a JVM (tests/real/Ticker.java, default options: ~19 threads, ~200
# VMAs) and node (a script holding 200000 small objects). Each is dumped once, then restored
# BENCH_REPEAT times from the same image: "warm" (the files it maps are in the page cache) and
# "cold" (their page cache dropped first with POSIX_FADV_DONTNEED, as after a while on this VM,
# whose memory manager gives cold pages back to the host, or on another machine). Prints the
# median restore time and ferry's stage timings with their injected calls; with BENCH_BASELINE=DIR
# every restore is also timed with that build's ferry, alternating. APPs: java node (default both;
# one that is not installed is skipped with a notice). Needs root.
set -u

die() { echo "bench-apps: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [java|node...]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
shift
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY=$BUILD/src/ferry
[ -x "$FERRY" ] || die "missing $FERRY (build first: make)"
[ "$(id -u)" = 0 ] || die "must run as root"
# shellcheck source=bench/lib.sh
. "$SRC/lib.sh"
bench_ferrys "$FERRY"
REPEAT=${BENCH_REPEAT:-5}
APPS=("$@")
[ ${#APPS[@]} -gt 0 ] || APPS=(java node)

WORK=$(mktemp -d /tmp/ferry-bench-apps.XXXXXX) || die "mktemp failed"
MNT=$WORK/tmpfs
mkdir -p "$MNT"
mount -t tmpfs -o size=2g,mode=0755 ferry-bench-apps "$MNT" || { rmdir "$MNT" "$WORK"; die "cannot mount tmpfs"; }
APID=
cleanup() {
	[ -n "$APID" ] && kill -KILL "$APID" 2>/dev/null
	cd /
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
RES=$WORK/results
: >"$RES"

# drop_cache IMG: the page cache of every regular file the image's tasks map
drop_cache() {
	python3 - "$1" "$FERRY" <<'PYEOF'
import glob, json, os, subprocess, sys
paths = set()
for f in glob.glob(sys.argv[1] + "/mm-*.img"):
    j = json.loads(subprocess.run([sys.argv[2], "show", f], capture_output=True, text=True).stdout)
    e = j.get("entry", j)
    paths.update(v["path"] for v in e.get("vmas", []) if v.get("path", "").startswith("/"))
for p in paths:
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except OSError:
        pass
PYEOF
}

start_app() {   # APP DIR: starts it in its own session; sets APID
	case $1 in
	java)
		javac -d "$2" "$SRC/../tests/real/Ticker.java" || return 1
		(cd "$2" && exec setsid java -cp "$2" Ticker </dev/null >/dev/null 2>&1) &
		;;
	node)
		printf '%s\n' "let n = 0; const a = [];" "for (let i = 0; i < 200000; i++) a.push({ i, s: 'x' + i });" \
			"setInterval(() => { n++; }, 100);" >"$2/app.js"
		(cd "$2" && exec setsid node "$2/app.js" </dev/null >/dev/null 2>&1) &
		;;
	esac
	APID=$!
	sleep 4	# started, JIT warmed up a little
	[ -e "/proc/$APID" ]
}

one_app() {
	local app=$1 dir=$MNT/$1 img=$MNT/$1/img run mode ftag rc
	mkdir -p "$img"
	command -v "$app" >/dev/null || { echo "bench-apps: $app is not installed: skipped" >&2; return 0; }
	start_app "$app" "$dir" || { echo "bench-apps: $app did not start" >&2; return 1; }
	"$FERRY" dump -t "$APID" -D "$img" >"$WORK/dump.err" 2>&1 || { cat "$WORK/dump.err" >&2; return 1; }
	while [ -e "/proc/$APID" ]; do sleep 0.01; done
	local threads vmas
	threads=$(python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('entry', j).get('threads', 0))" \
		< <("$FERRY" show "$img/stats-dump.img"))
	vmas=$(python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('entry', j).get('vmas', 0))" \
		< <("$FERRY" show "$img/stats-dump.img"))
	for run in $(seq 1 "$REPEAT"); do
		for mode in warm cold; do
			for ftag in $(ferry_order "$run"); do
				[ $mode = cold ] && drop_cache "$img"
				timed_restore "$ftag" "$img"
				rc=$?
				[ $rc = 0 ] || { echo "bench-apps: $app: restore failed: $(head -c 1000 "$WORK/restore.err")" >&2; return 1; }
				sleep 0.3
				[ -e "/proc/$APID" ] || { echo "bench-apps: $app: not running after restore" >&2; return 1; }
				kill -KILL "$APID"
				while [ -e "/proc/$APID" ]; do sleep 0.01; done
				echo "app=$app threads=$threads vmas=$vmas mode=$mode ferry=$ftag restore_us=$RESTORE_US" \
					"$(sed -n 's/.*stage \([a-z-]*\): done in \([0-9]*\) us (\([0-9]*\) injected.*/inj:\1=\3/p' \
						"$img/restore-$ftag.log" | tr '\n' ' ') $(stage_times "$img/restore-$ftag.log")" >>"$RES"
			done
		done
	done
	APID=
}

FAILED=0
for app in "${APPS[@]}"; do
	echo "bench-apps: $app, $REPEAT run(s) warm and cold" >&2
	one_app "$app" || FAILED=1
done

python3 - "$RES" "$SRC" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[2])
from benchlib import fmt, med, ratio, read_runs, stage_text, stages
rows = read_runs(sys.argv[1])
for app in dict.fromkeys(r["app"] for r in rows):
    rs = [r for r in rows if r["app"] == app]
    print(f"\n== {app}: {rs[0]['threads']} threads, {rs[0]['vmas']} VMAs (medians of {len(rs) // 2 // len({r['ferry'] for r in rs})} restores)")
    for mode in ("warm", "cold"):
        t = {f: med([int(r["restore_us"]) / 1000 for r in rs if r["mode"] == mode and r["ferry"] == f]) for f in ("new", "base")}
        line = f"   {mode}: restore {fmt(t['new'], '.1f')} ms"
        if t["base"]:
            line += f", baseline {fmt(t['base'], '.1f')} ms ({fmt(ratio(t['new'], t['base']), '.2f')}x the time)"
        print(line)
        for f in ("new", "base"):
            sel = [r for r in rs if r["mode"] == mode and r["ferry"] == f]
            if sel:
                inj = dict(stages(sel, "inj:"))
                st = [(n + (f" [{inj[n] * 1000:.0f} calls]" if inj.get(n) else ""), ms) for n, ms in stages(sel)]
                print(f"     {'this build' if f == 'new' else 'baseline  '}: {stage_text(st)}")
PYEOF
exit $FAILED
