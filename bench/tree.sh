#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/tree.sh BUILD_DIR
#
# The process-tree benchmark (see bench/README.md), images in a private tmpfs:
#  1. dump and restore of a tree of 10 processes each holding 64 MiB of touched private memory of
#     its own (bench/forktree own), against one process holding the same total (bench/memhog 640)
#     and against the floor: touching 640 MiB of fresh memory (bench/membw, measured in the same
#     run); with ferry's own stage timings (restore.log, dump.log);
#  2. the memory a restored fork tree uses against the original: a parent touches 256 MiB, then
#     forks 9 children that only read it (bench/forktree cow). The tree's summed PSS and RSS (from
#     /proc/PID/smaps_rollup) and the drop of MemFree are measured before the dump and after the
#     restore; ferry keeps the copy-on-write sharing, so the ratio should be about 1.0.
# Every restored process re-checks its memory on SIGTERM.
#
# Environment:
#   BENCH_REPEAT=N        runs of each case; the tables show the median (default 5)
#   BENCH_TREE_PROCS=N    processes in the trees (default 10)
#   BENCH_TREE_MIB=N      MiB of own memory per process in case 1 (default 64)
#   BENCH_COW_MIB=N       MiB the parent shares with its children in case 2 (default 256)
#   BENCH_STRICT=1        exit 1 when the restored COW tree uses over 1.25x the memory of the original
#   BENCH_TREE_JSON=FILE  results as JSON (default BUILD_DIR/bench-tree-results.json)
#   BENCH_TMPFS_SIZE      tmpfs size (default 6g)
#   BENCH_BASELINE=DIR    another build (of main, say): every restore of case 1 is also timed with
#                         its ferry, on the same image, alternating (before/after figures)
#
# Needs root. Exit status 0 when every dump and restore succeeded and every restored process found
# its memory intact; 1 otherwise.
set -u

die() { echo "bench-tree: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 BUILD_DIR"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY=$BUILD/src/ferry
MEMHOG=$BUILD/bench/memhog
MEMBW=$BUILD/bench/membw
# shellcheck source=bench/lib.sh
. "$SRC/lib.sh"
bench_ferrys "$FERRY"
for b in "$FERRY" "$MEMHOG" "$MEMBW"; do
	[ -x "$b" ] || die "missing $b (build first: make)"
done
[ "$(id -u)" = 0 ] || die "must run as root (mounts a tmpfs; ferry needs root)"
command -v python3 >/dev/null || die "python3 is needed for the report"

REPEAT=${BENCH_REPEAT:-5}
NPROC=${BENCH_TREE_PROCS:-10}
MIB=${BENCH_TREE_MIB:-64}
COW_MIB=${BENCH_COW_MIB:-256}
for v in "$REPEAT" "$NPROC" "$MIB" "$COW_MIB"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT, BENCH_TREE_PROCS, BENCH_TREE_MIB, BENCH_COW_MIB: positive integers"
done
TOTAL_MIB=$((NPROC * MIB))
JSON_OUT=${BENCH_TREE_JSON:-$BUILD/bench-tree-results.json}
LOGKEEP=$BUILD/bench-logs

WORK=$(mktemp -d /tmp/ferry-bench-tree.XXXXXX) || die "mktemp failed"
MNT=$WORK/tmpfs
mkdir -p "$MNT"
mount -t tmpfs -o "size=${BENCH_TMPFS_SIZE:-6g},mode=0755" ferry-bench-tree "$MNT" || {
	rmdir "$MNT" "$WORK"
	die "cannot mount tmpfs on $MNT"
}

# forktree: built by meson when bench/meson.build lists it, else compiled here for this run
FORKTREE=$BUILD/bench/forktree
if [ ! -x "$FORKTREE" ] || [ "$SRC/forktree.c" -nt "$FORKTREE" ]; then
	FORKTREE=$WORK/forktree
	${CC:-cc} -O2 -Wall -o "$FORKTREE" "$SRC/forktree.c" 2>"$WORK/cc.err" || {
		cat "$WORK/cc.err" >&2
		umount "$MNT"; rm -rf "$WORK"
		die "cannot compile $SRC/forktree.c"
	}
fi

CUR_PIDS=""
# kill what a run left behind: only processes that still run one of our victims
kill_victims() {
	local p exe
	for p in $CUR_PIDS; do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case $exe in "$(readlink -f "$FORKTREE")" | "$(readlink -f "$MEMHOG")") kill -KILL "$p" 2>/dev/null ;; esac
	done
	CUR_PIDS=""
}
cleanup() {
	kill_victims
	cd /
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$WORK/results
mkdir -p "$RES"
: >"$RES/runs"
FAILED=0

now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# gone PID: no such process, or a zombie (a restored -d process is not our child)
gone() {
	local st
	[ -e "/proc/$1" ] || return 0
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
all_gone() { local p; for p in "$@"; do gone "$p" || return 1; done; return 0; }
# vanished PID...: not even a zombie any more (the PID is free for the restore)
vanished() { local p; for p in "$@"; do [ -e "/proc/$p" ] && return 1; done; return 0; }
all_alive() { local p; for p in "$@"; do gone "$p" && return 1; done; return 0; }

wait_for() {   # seconds, then a command
	local deadline=$(( $(now_us) + $1 * 1000000 ))
	shift
	until "$@"; do
		[ "$(now_us)" -lt "$deadline" ] || return 1
		sleep 0.005
	done
}

memfree_kb() { awk '/^MemFree:/ { print $2 }' /proc/meminfo; }
anon_kb() { awk '/^AnonPages:/ { print $2 }' /proc/meminfo; }
# settled_memfree: MemFree once it changes by less than 2 MiB in 100 ms (at most ~1.5 s): memory
# freed by processes that just exited is back
settled_memfree() {
	local a b i
	a=$(memfree_kb)
	for i in $(seq 15); do
		sleep 0.1
		b=$(memfree_kb)
		[ $((a > b ? a - b : b - a)) -lt 2048 ] && break
		a=$b
	done
	echo "$b"
}
# mem_sum PID...: "PSS_KB RSS_KB" summed over the processes
mem_sum() {
	local p
	for p in "$@"; do
		cat "/proc/$p/smaps_rollup" 2>/dev/null
	done | awk '/^Pss:/ { pss += $2 } /^Rss:/ { rss += $2 } END { print pss + 0, rss + 0 }'
}

keep_logs() {   # tag img
	local dst="$LOGKEEP/tree-$1"
	mkdir -p "$dst"
	cp -a "$2"/*.log "$dst"/ 2>/dev/null
	cp -a "$WORK"/*.err "$dst"/ 2>/dev/null
	echo "bench-tree:   logs kept in $dst" >&2
	for f in "$2"/*.log; do
		[ -f "$f" ] || continue
		echo "bench-tree:   --- tail of $f:" >&2
		tail -n 15 "$f" | sed 's/^/bench-tree:   /' >&2
	done
}

# restore_one CASE RUN FTAG PIDS EXE: restores the image with ferry FTAG (new, base), checks that
# every process runs EXE again, measures memory (cow), has the restored processes check their
# memory on SIGTERM, and waits until their PIDs are free again. Appends a line to the results.
restore_one() {
	local kind=$1 run=$2 ftag=$3 pids=$4 exe=$5 tag="$1-$2-$3"
	local img=$MNT/img ready=$MNT/ready-$1-$2 pid=${4%% *} rc restore_us after free2 free3 anon2 anon3 check p
	CUR_PIDS=$pids	# what kill_victims kills if this restore goes wrong
	rm -f "$ready.result"
	free2=$(settled_memfree)
	anon2=$(anon_kb)
	timed_restore "$ftag" "$img"
	rc=$?
	restore_us=$RESTORE_US
	if [ $rc -ne 0 ]; then
		echo "bench-tree: [$tag] ferry restore failed (exit $rc): $(head -c 2000 "$WORK/restore.err")" >&2
		keep_logs "$tag" "$img"
		kill_victims
		return 1
	fi
	"$(ferry_bin "$ftag")" show "$img/stats-restore.img" >"$RES/stats-restore-$tag.json" 2>/dev/null
	# shellcheck disable=SC2086
	if ! all_alive $pids; then
		echo "bench-tree: [$tag] not every process of $pids runs after restore -d" >&2
		keep_logs "$tag" "$img"
		kill_victims
		return 1
	fi
	for p in $pids; do
		if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" != "$exe" ]; then
			echo "bench-tree: [$tag] pid $p runs '$(readlink "/proc/$p/exe" 2>/dev/null)' after restore, want $exe" >&2
			keep_logs "$tag" "$img"
			kill_victims
			return 1
		fi
	done
	free3=$(settled_memfree)
	anon3=$(anon_kb)
	# shellcheck disable=SC2086
	after=$(mem_sum $pids)

	# --- the restored root checks its memory (and collects its children's checks) on SIGTERM
	kill -TERM "$pid"
	# shellcheck disable=SC2086
	if ! wait_for 120 all_gone $pids; then
		echo "bench-tree: [$tag] the restored processes did not exit after SIGTERM" >&2
		kill_victims
		check=TIMEOUT
	elif [ -f "$ready.result" ]; then
		check=$(head -n 1 "$ready.result")
	else
		check=NO-RESULT
	fi
	case $check in
	OK*) ;;
	*)
		echo "bench-tree: [$tag] memory check of the restored processes: $check" >&2
		keep_logs "$tag" "$img"
		;;
	esac
	# shellcheck disable=SC2086
	wait_for 30 vanished $pids || echo "bench-tree: [$tag] PIDs still taken 30 s after the check" >&2
	echo "kind=$kind run=$run ferry=$ftag restore_us=$restore_us pss1_kb=${after% *} rss1_kb=${after#* }" \
		"used1_kb=$((free2 - free3)) anon1_kb=$((anon3 - anon2)) check=${check// /_}" \
		"$(stage_times "$img/restore-$ftag.log") $DUMP_FIELDS" >>"$RES/runs"
	case $check in OK*) return 0 ;; *) return 1 ;; esac
}

# one_run CASE RUN: CASE is memhog (one process, TOTAL_MIB), own (NPROC x MIB) or cow (COW_MIB shared).
# One dump, then a restore with each ferry compared (bench/lib.sh), in alternating order.
one_run() {
	local kind=$1 run=$2 tag="$1-$2"
	local img=$MNT/img ready=$MNT/ready-$1-$2
	local t0 t1 dump_us zwait_us rc pid pids exe free0 free1 anon0 anon1 before img_kb ftag ok=0

	rm -rf "$img" "$ready" "$ready.result"
	mkdir -p "$img"
	free0=$(settled_memfree)
	anon0=$(anon_kb)
	case $kind in
	memhog) (cd / && exec setsid "$MEMHOG" "$TOTAL_MIB" "$ready" </dev/null >/dev/null 2>&1) & ;;
	own) (cd / && exec setsid "$FORKTREE" own "$NPROC" "$MIB" "$ready" </dev/null >/dev/null 2>&1) & ;;
	cow) (cd / && exec setsid "$FORKTREE" cow "$NPROC" "$COW_MIB" "$ready" </dev/null >/dev/null 2>&1) & ;;
	esac
	pid=$!
	CUR_PIDS=$pid
	if ! wait_for 120 test -e "$ready"; then
		echo "bench-tree: [$tag] the victim did not become ready:" \
			"$(cat "$ready.result" 2>/dev/null || echo no error reported)" >&2
		kill -KILL "$pid" 2>/dev/null; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	pids=$(tr '\n' ' ' <"$ready")
	pids=${pids% }
	CUR_PIDS=$pids
	if [ "$(head -n 1 "$ready")" != "$pid" ]; then
		echo "bench-tree: [$tag] victim pid $(head -n 1 "$ready") != $pid (setsid forked?)" >&2
		kill_victims; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	exe=$(readlink "/proc/$pid/exe")
	free1=$(settled_memfree)
	anon1=$(anon_kb)
	# shellcheck disable=SC2086
	before=$(mem_sum $pids)

	# --- dump (ferry kills the tree afterwards; we reap the root, PID 1 the others)
	{
		t0=$(now_us)
		"$FERRY" dump -t "$pid" -D "$img" >"$WORK/dump.err" 2>&1
		rc=$?
		t1=$(now_us)
	} 2>/dev/null
	dump_us=$((t1 - t0))
	if [ $rc -ne 0 ]; then
		echo "bench-tree: [$tag] ferry dump failed (exit $rc): $(head -c 2000 "$WORK/dump.err")" >&2
		keep_logs "$tag" "$img"
		kill_victims; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	{ wait "$pid"; } 2>/dev/null
	# the children's zombies belong to PID 1 now: wait until their PIDs are free, so that the timed
	# restore measures ferry, not how soon PID 1 reaps
	t0=$(now_us)
	# shellcheck disable=SC2086
	if ! wait_for 30 vanished $pids; then
		echo "bench-tree: [$tag] the dumped processes' PIDs are still taken after 30 s" >&2
		return 1
	fi
	zwait_us=$(( $(now_us) - t0 ))
	img_kb=$(du -sk "$img" | awk '{ print $1 }')
	"$FERRY" show "$img/stats-dump.img" >"$RES/stats-dump-$tag.json" 2>/dev/null
	DUMP_FIELDS="nproc=$(echo $pids | wc -w) dump_us=$dump_us zwait_us=$zwait_us pss0_kb=${before% *}"
	DUMP_FIELDS+=" rss0_kb=${before#* } used0_kb=$((free0 - free1)) anon0_kb=$((anon1 - anon0)) img_kb=$img_kb"
	DUMP_FIELDS+=" $(stage_times "$img/dump.log" | sed 's/stage:/dstage:/g')"
	# the COW case measures memory, not time: this build's ferry only
	for ftag in $([ "$kind" = cow ] && echo new || ferry_order "$run"); do
		restore_one "$kind" "$run" "$ftag" "$pids" "$exe" || ok=1
	done
	CUR_PIDS=""
	rm -rf "$img" "$ready" "$ready.result"
	return $ok
}

avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
need=$((3 * TOTAL_MIB + 3 * COW_MIB + 512))
[ "$avail_mib" -ge "$need" ] || die "MemAvailable ${avail_mib} MiB is below the ${need} MiB this needs"
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
export BENCH_MACHINE="$(nproc) CPU(s), $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load at start $LOAD1, THP $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
echo "bench-tree: $NPROC x $MIB MiB tree vs memhog $TOTAL_MIB MiB, COW tree of $NPROC sharing $COW_MIB MiB;" \
	"$REPEAT run(s) each, images in tmpfs $MNT${BENCH_BASELINE:+, restores also with $BENCH_BASELINE}" >&2
echo "bench-tree: the floor: touching $TOTAL_MIB MiB of fresh memory (membw)..." >&2
"$MEMBW" "$TOTAL_MIB" 256 5 >"$RES/membw" || die "membw failed"
for run in $(seq 1 "$REPEAT"); do
	for kind in own memhog cow; do
		echo "bench-tree: $kind, run $run/$REPEAT" >&2
		one_run "$kind" "$run" || FAILED=1
	done
done

python3 - "$RES" "$JSON_OUT" "${BENCH_STRICT:-0}" "$FAILED" "$NPROC" "$MIB" "$COW_MIB" "$SRC" <<'PYEOF'
import json, os, sys

res, json_out, strict, failed = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
nproc, mib, cow_mib = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
sys.path.insert(0, sys.argv[8])
from benchlib import fmt, med, ratio, read_runs, stage_text, stages

total = nproc * mib
ref = {}
for line in open(os.path.join(res, "membw")):
    k, _, v = line.strip().partition("=")
    if v:
        ref[k] = float(v)
gib = total / 1024
floor = ref["touch_s_per_gib"] * gib               # touching the same memory fresh, best run
floor_first = ref["touch_first_s_per_gib"] * gib   # the same, first run
fill = ref["touchset_s_per_gib"] * gib             # and writing all of it (memset), best run

runs = {}
for r in read_runs(os.path.join(res, "runs")):
    runs.setdefault((r["kind"], r.get("ferry", "new")), []).append(r)

def rows(kind, ftag="new"):
    return runs.get((kind, ftag), [])

def times(kind, key, ftag="new"):
    return [int(r[key]) / 1e6 for r in rows(kind, ftag)]

def ok(kind, ftag="new"):
    return sum(1 for r in rows(kind, ftag) if r["check"].startswith("OK"))

ftags = ["new"] + (["base"] if rows("own", "base") or rows("memhog", "base") else [])
out = {"machine": os.environ.get("BENCH_MACHINE", ""), "nproc": nproc, "mib_each": mib, "cow_mib": cow_mib,
       "reference": ref, "floor_s": floor, "floor_first_touch_s": floor_first, "fill_floor_s": fill}
all_ok = not failed
print()
print(f"Machine: {out['machine']}")
print(f"Floor (bench/membw, this run): touching {total} MiB of fresh memory takes {floor:.3f} s (best of "
      f"{int(ref.get('runs', 0))}; {floor_first:.3f} s on the first run), writing all of it {fill:.3f} s")
print()
print(f"== Restore: a tree of {nproc} processes x {mib} MiB of own memory, one process of {total} MiB "
      f"(memhog), the floor")
print(f"   {'':36} {'restore s':>9} {'/floor':>7} {'/first':>7}   (all runs, s)")
for ftag in ftags:
    label = "" if len(ftags) == 1 else f" ({'this build' if ftag == 'new' else 'baseline'})"
    tr, mr = med(times("own", "restore_us", ftag)), med(times("memhog", "restore_us", ftag))
    for kind, name, t in (("own", f"tree {nproc} x {mib} MiB", tr), ("memhog", f"memhog {total} MiB", mr)):
        print(f"   {name + label:36} {fmt(t, '.4f'):>9} {fmt(ratio(t, floor), '.2f'):>7} "
              f"{fmt(ratio(t, floor_first), '.2f'):>7}   {' '.join('%.3f' % x for x in times(kind, 'restore_us', ftag))}")
    rr = ratio(tr, mr)
    print(f"   {'ratio tree / memhog' + label:36} {fmt(rr, '.2f'):>9}")
    out[f"restore_{ftag}"] = {"tree_s": tr, "memhog_s": mr, "tree_to_memhog": rr, "tree_to_floor": ratio(tr, floor),
                              "memhog_to_floor": ratio(mr, floor), "tree_to_first_touch": ratio(tr, floor_first),
                              "tree_s_all": times("own", "restore_us", ftag),
                              "memhog_s_all": times("memhog", "restore_us", ftag)}
n = out["restore_new"]
if "restore_base" in out:
    b = out["restore_base"]
    print(f"   this build against the baseline: tree {fmt(ratio(n['tree_s'], b['tree_s']), '.2f')}x, "
          f"memhog {fmt(ratio(n['memhog_s'], b['memhog_s']), '.2f')}x the time")
met_m = n["tree_to_memhog"] is not None and n["tree_to_memhog"] <= 1.05
met_f = n["tree_to_floor"] is not None and n["tree_to_floor"] <= 1.2
print(f"   targets: tree no slower than memhog (<= 1.05x, the run-to-run noise): {'met' if met_m else 'MISSED'}; "
      f"tree within 1.2x of the floor: {'met' if met_f else 'MISSED'}")
out["targets_met"] = {"tree_vs_memhog": met_m, "tree_vs_floor": met_f}

print()
print("== Dump (this build)")
td, md = med(times("own", "dump_us")), med(times("memhog", "dump_us"))
print(f"   tree {fmt(td, '.4f')} s, memhog {fmt(md, '.4f')} s, ratio {fmt(ratio(td, md), '.2f')}")
out["dump"] = {"tree_s": td, "memhog_s": md, "tree_to_memhog": ratio(td, md)}

print()
print("== Where the time goes (ferry's own stage timings from restore.log / dump.log, medians)")
for ftag in ftags:
    for kind, name in (("own", "tree"), ("memhog", "memhog")):
        st = stages(rows(kind, ftag))
        tot = sum(ms for _, ms in st) or None
        print(f"   {name} restore{'' if ftag == 'new' else ' (baseline)'}: {stage_text(st, tot)}")
        out[f"stages_restore_{kind}_{ftag}"] = dict(st)
for kind, name in (("own", "tree"), ("memhog", "memhog")):
    st = stages(rows(kind), "dstage:")
    print(f"   {name} dump: {stage_text(st, sum(ms for _, ms in st) or None)}")
    out[f"stages_dump_{kind}"] = dict(st)
for kind in ("own", "memhog"):
    for ftag in ftags:
        rs = rows(kind, ftag)
        if ok(kind, ftag) != len(rs) or not rs:
            all_ok = False
    o = rows(kind)
    print(f"   {kind:7}: image {fmt(med([int(x['img_kb']) / 1024 for x in o]), '.1f')} MiB, PID 1 freed the dumped PIDs "
          f"after {fmt(med([int(x['zwait_us']) / 1000 for x in o]), '.0f')} ms (not timed), restored memory check "
          + ", ".join(f"{ok(kind, f)}/{len(rows(kind, f))} OK" for f in ftags))

print()
cw = rows("cow")
print(f"== Memory of a restored fork tree: the parent touched {cow_mib} MiB, then forked {nproc - 1} children "
      f"that only read it: median of {len(cw)} run(s)")
if cw:
    g = lambda k: med([int(x[k]) / 1024 for x in cw])
    pss0, pss1, rss0, rss1 = g("pss0_kb"), g("pss1_kb"), g("rss0_kb"), g("rss1_kb")
    u0, u1 = g("used0_kb"), g("used1_kb")
    a0, a1 = g("anon0_kb"), g("anon1_kb")
    ratio = lambda a, b: a / b if a and b and a > 0 and b > 0 else None
    print(f"   {'':34} {'original':>9} {'restored':>9} {'ratio':>6}")
    print(f"   {'summed PSS of the tree (MiB)':34} {pss0:9.1f} {pss1:9.1f} {fmt(ratio(pss1, pss0), '.3f'):>6}")
    print(f"   {'summed RSS of the tree (MiB)':34} {rss0:9.1f} {rss1:9.1f} {fmt(ratio(rss1, rss0), '.3f'):>6}")
    print(f"   {'MemFree drop while it runs (MiB)':34} {u0:9.1f} {u1:9.1f} {fmt(ratio(u1, u0), '.3f'):>6}"
          f"   (system-wide; other work on the machine moves it)")
    print(f"   {'AnonPages growth while it runs':34} {a0:9.1f} {a1:9.1f} {fmt(ratio(a1, a0), '.3f'):>6}"
          f"   (system-wide)")
    print(f"   without sharing the restored tree would hold about {nproc * cow_mib} MiB of PSS "
          f"(ratio {nproc * cow_mib / pss0 if pss0 else 0:.1f})")
    print(f"   image {g('img_kb'):.1f} MiB; dump {fmt(med(times('cow', 'dump_us')))} s, "
          f"restore {fmt(med(times('cow', 'restore_us')))} s; restored memory check {ok('cow')}/{len(cw)} OK")
    out["cow"] = {"pss_mib": [pss0, pss1], "rss_mib": [rss0, rss1], "memfree_drop_mib": [u0, u1], "anonpages_growth_mib": [a0, a1],
                  "pss_ratio": ratio(pss1, pss0), "rss_ratio": ratio(rss1, rss0),
                  "memfree_ratio": ratio(u1, u0), "image_mib": g("img_kb"),
                  "dump_s": med(times("cow", "dump_us")), "restore_s": med(times("cow", "restore_us")),
                  "verified": ok("cow"), "runs": len(cw), "checks": [x["check"] for x in cw]}
    if ok("cow") != len(cw):
        all_ok = False
    pr = ratio(pss1, pss0)
    if pr is not None and pr > 1.25:
        print(f"   WARNING: the restored tree uses {pr:.2f}x the memory of the original: COW sharing was lost")
        if strict:
            all_ok = False
else:
    print("   no completed run (see the errors above)")
    all_ok = False

with open(json_out, "w") as fh:
    json.dump(out, fh, indent=2)
print()
print(f"results: {json_out}")
if not all_ok:
    print("FAILED: a dump/restore failed, a restored process found its memory corrupt, or (strict) COW was lost")
    sys.exit(1)
PYEOF
