#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/run.sh BUILD_DIR [SIZE_MIB...]
#
# Dumps and restores a process (bench/memhog) holding SIZE_MIB of touched anonymous memory,
# images in a private tmpfs, and relates each time to this machine's memcpy bandwidth and to the
# cost of touching the same amount of fresh memory (bench/membw, measured in the same run).
# Default sizes: 4 (the "small process"), 64, 512 and 2048 MiB. See bench/README.md.
#
# Environment:
#   BENCH_REPEAT=N   runs per size; the tables show the median (default 5)
#   BENCH_LARGE=0    drop the 2048 MiB case from the default sizes (it is also dropped, with a
#                    notice, when MemAvailable is too small for it)
#   BENCH_STRICT=1   exit 1 when a target is missed (correctness failures always exit 1)
#   BENCH_JSON=FILE  where to write the results as JSON (default BUILD_DIR/bench-results.json)
#   BENCH_TMPFS_SIZE tmpfs size (default 6g)
#   BENCH_TREE=0     do not run the process-tree benchmark (bench/tree.sh) at the end
#   BENCH_APPS=0     do not run the JVM and node restores (bench/apps.sh) at the end
#   BENCH_BASELINE=DIR another build (of main, say): every restore is also timed with its ferry, on
#                    the same image, alternating (before/after figures; bench/lib.sh)
#
# Needs root (mount, and ferry itself). Exit status: 0 when every dump and restore succeeded and
# every restored memhog found its memory intact; 1 otherwise.
set -u

die() { echo "bench: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [SIZE_MIB...]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
shift
FERRY=$BUILD/src/ferry
MEMHOG=$BUILD/bench/memhog
MEMBW=$BUILD/bench/membw
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_ferrys "$FERRY"
for b in "$FERRY" "$MEMHOG" "$MEMBW"; do
	[ -x "$b" ] || die "missing $b (build first: make)"
done
[ "$(id -u)" = 0 ] || die "must run as root (mounts a tmpfs; ferry needs root)"
command -v python3 >/dev/null || die "python3 is needed for the report"

REPEAT=${BENCH_REPEAT:-5}
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
JSON_OUT=${BENCH_JSON:-$BUILD/bench-results.json}
LOGKEEP=$BUILD/bench-logs

if [ $# -gt 0 ]; then
	SIZES=("$@")
else
	SIZES=(4 64 512)
	if [ "${BENCH_LARGE:-1}" != 0 ]; then
		avail_mib=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
		# memhog + its image + the restored copy, plus slack
		if [ "$avail_mib" -ge $((3 * 2048 + 1024)) ]; then
			SIZES+=(2048)
		else
			echo "bench: skipping 2048 MiB: MemAvailable ${avail_mib} MiB is too small" >&2
		fi
	fi
fi
for s in "${SIZES[@]}"; do
	[[ "$s" =~ ^[1-9][0-9]*$ ]] || die "bad size '$s' (MiB, a positive integer)"
done

# ---------------------------------------------------------------- private tmpfs, cleanup
WORK=$(mktemp -d /tmp/ferry-bench.XXXXXX) || die "mktemp failed"
MNT=$WORK/tmpfs
mkdir -p "$MNT"
mount -t tmpfs -o "size=${BENCH_TMPFS_SIZE:-6g},mode=0755" ferry-bench "$MNT" || {
	rmdir "$MNT" "$WORK"
	die "cannot mount tmpfs on $MNT"
}
CUR_PID=

cleanup() {
	if [ -n "$CUR_PID" ] && [ -e "/proc/$CUR_PID" ]; then
		# only if it still is our memhog (a restored one keeps the PID)
		if [ "$(readlink "/proc/$CUR_PID/exe" 2>/dev/null)" = "$(readlink -f "$MEMHOG")" ]; then
			kill -KILL "$CUR_PID" 2>/dev/null
		fi
	fi
	cd /
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$WORK/results        # not in the tmpfs: survives the per-run cleanup
mkdir -p "$RES"
: >"$RES/runs"
FAILED=0

now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# Copy the logs of a failed step out of the tmpfs before it goes away.
keep_logs() {   # size run img
	local dst="$LOGKEEP/$1-$2"
	mkdir -p "$dst"
	cp -a "$3"/*.log "$dst"/ 2>/dev/null
	cp -a "$WORK"/*.err "$dst"/ 2>/dev/null
	echo "bench:   logs kept in $dst" >&2
	for f in "$3"/*.log; do
		[ -f "$f" ] || continue
		echo "bench:   --- tail of $f:" >&2
		tail -n 15 "$f" | sed 's/^/bench:   /' >&2
	done
}

# Is PID gone (or a zombie nobody reaped: a restored -d process is not our child)?
gone() {
	local st
	[ -e "/proc/$1" ] || return 0
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

wait_for() {   # seconds, then a command
	local deadline=$(( $(now_us) + $1 * 1000000 ))
	shift
	until "$@"; do
		[ "$(now_us)" -lt "$deadline" ] || return 1
		sleep 0.005
	done
}

one_run() {   # size run
	local size=$1 run=$2
	local img=$MNT/img ready=$MNT/ready-$size-$run
	local t0 t1 dump_us restore_us rc check pid

	rm -rf "$img" "$ready" "$ready.result"
	mkdir -p "$img"

	# The victim: own session (no --shell-job needed), stdio on /dev/null, cwd /.
	# The script has no job control, so the child is not a group leader and setsid execs in place.
	(cd / && exec setsid "$MEMHOG" "$size" "$ready" </dev/null >/dev/null 2>&1) &
	pid=$!
	CUR_PID=$pid
	if ! wait_for $((60 + size / 32)) test -e "$ready"; then
		echo "bench: [$size MiB run $run] memhog did not become ready:" \
			"$(cat "$ready.result" 2>/dev/null || echo no error reported)" >&2
		kill -KILL "$pid" 2>/dev/null; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	if [ "$(cat "$ready")" != "$pid" ]; then
		echo "bench: [$size MiB run $run] memhog pid $(cat "$ready") != $pid (setsid forked?)" >&2
		kill -KILL "$pid" 2>/dev/null; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	local rss_kb
	rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")

	# --- dump (the process is SIGKILLed by ferry afterwards; we reap it)
	# (the braces keep bash's "Killed" notice for its background job off the terminal)
	{
		t0=$(now_us)
		"$FERRY" dump -t "$pid" -D "$img" >"$WORK/dump.err" 2>&1
		rc=$?
		t1=$(now_us)
	} 2>/dev/null
	dump_us=$((t1 - t0))
	if [ $rc -ne 0 ]; then
		echo "bench: [$size MiB run $run] ferry dump failed (exit $rc): $(head -c 2000 "$WORK/dump.err")" >&2
		keep_logs "$size" "$run" "$img"
		kill -KILL "$pid" 2>/dev/null; { wait "$pid"; } 2>/dev/null
		return 1
	fi
	{ wait "$pid"; } 2>/dev/null   # reaps it (quietly): the PID is free again for the restore
	rc=$?
	if [ $rc -ne 137 ]; then
		echo "bench: [$size MiB run $run] dumped memhog ended with status $rc, expected 137 (SIGKILL)" >&2
	fi
	local img_kb
	img_kb=$(du -sk "$img" | awk '{print $1}')
	"$FERRY" show "$img/stats-dump.img" >"$RES/stats-dump-$size-$run.json" 2>"$WORK/show.err" ||
		echo "bench: [$size MiB run $run] ferry show stats-dump.img failed: $(head -c 500 "$WORK/show.err")" >&2

	DUMP_FIELDS="dump_us=$dump_us rss_kb=$rss_kb img_kb=$img_kb $(stage_times "$img/dump.log" | sed 's/stage:/dstage:/g')"
	local ftag ok=0
	for ftag in $(ferry_order "$run"); do
		restore_one "$size" "$run" "$ftag" "$pid" || ok=1
	done
	CUR_PID=
	rm -rf "$img" "$ready" "$ready.result"
	return $ok
}

# restore_one SIZE RUN FTAG PID: restores the image with ferry FTAG (bench/lib.sh), checks that PID
# runs memhog again and, on SIGTERM, finds its memory intact; waits until PID is free again.
restore_one() {
	local size=$1 run=$2 ftag=$3 pid=$4 img=$MNT/img ready=$MNT/ready-$1-$2 rc restore_us rss2_kb check
	rm -f "$ready.result"
	# --- restore, detached: returns once the process runs
	timed_restore "$ftag" "$img"
	rc=$?
	restore_us=$RESTORE_US
	if [ $rc -ne 0 ]; then
		echo "bench: [$size MiB run $run, $ftag] ferry restore failed (exit $rc): $(head -c 2000 "$WORK/restore.err")" >&2
		keep_logs "$size" "$run" "$img"
		return 1
	fi
	"$FERRY" show "$img/stats-restore.img" >"$RES/stats-restore-$size-$run-$ftag.json" 2>"$WORK/show.err" ||
		echo "bench: [$size MiB run $run] ferry show stats-restore.img failed: $(head -c 500 "$WORK/show.err")" >&2

	if gone "$pid"; then
		echo "bench: [$size MiB run $run, $ftag] no process $pid after restore -d" >&2
		keep_logs "$size" "$run" "$img"
		return 1
	fi
	if [ "$(readlink "/proc/$pid/exe")" != "$(readlink -f "$MEMHOG")" ]; then
		echo "bench: [$size MiB run $run, $ftag] process $pid after restore is $(readlink "/proc/$pid/exe"), not memhog" >&2
		keep_logs "$size" "$run" "$img"
		return 1
	fi
	rss2_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")

	# --- the restored memhog checks its memory on SIGTERM and writes READY.result
	kill -TERM "$pid"
	if ! wait_for $((60 + size / 16)) gone "$pid"; then
		echo "bench: [$size MiB run $run, $ftag] restored memhog $pid did not exit after SIGTERM" >&2
		kill -KILL "$pid" 2>/dev/null
		check="TIMEOUT"
	elif [ -f "$ready.result" ]; then
		check=$(head -n 1 "$ready.result")
	else
		check="NO-RESULT"
	fi
	case $check in
	OK*) ;;
	*)
		echo "bench: [$size MiB run $run, $ftag] memory check of the restored process: $check" >&2
		keep_logs "$size" "$run" "$img"
		;;
	esac
	# a zombie nobody reaped holds the PID (the next restore needs it): PID 1 reaps it, late
	wait_for 30 test ! -e "/proc/$pid" || echo "bench: [$size MiB run $run] pid $pid still taken after 30 s" >&2
	echo "size=$size run=$run ferry=$ftag restore_us=$restore_us rss_restored_kb=$rss2_kb check=${check// /_}" \
		"$(stage_times "$img/restore-$ftag.log") $DUMP_FIELDS" >>"$RES/runs"
	case $check in OK*) return 0 ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------- reference figures
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
	echo "bench: NOTE: load average is $LOAD1: other work is running, the figures will be noisy" >&2
fi
BENCH_MACHINE="$(nproc) CPU(s), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), load at start $LOAD1, THP $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
export BENCH_MACHINE
echo "bench: measuring memcpy bandwidth and fresh-memory touch cost (membw)..." >&2
"$MEMBW" 512 256 5 >"$RES/membw" || die "membw failed"

echo "bench: sizes ${SIZES[*]} MiB, $REPEAT run(s) each, images in tmpfs $MNT" >&2
for size in "${SIZES[@]}"; do
	for run in $(seq 1 "$REPEAT"); do
		echo "bench: $size MiB, run $run/$REPEAT" >&2
		one_run "$size" "$run" || FAILED=1
	done
done

# ---------------------------------------------------------------- report
python3 - "$RES" "$JSON_OUT" "${BENCH_STRICT:-0}" "$FAILED" "$(dirname "${BASH_SOURCE[0]}")" "${SIZES[@]}" <<'PYEOF'
import json, os, statistics, sys

res, json_out, strict, failed = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
sys.path.insert(0, sys.argv[5])
from benchlib import read_runs, stage_text, stages
sizes = [int(s) for s in sys.argv[6:]]

ref = {}
for line in open(os.path.join(res, "membw")):
    k, _, v = line.strip().partition("=")
    if v:
        ref[k] = float(v)
memcpy = ref["memcpy_gbps"]
touch = ref["touch_s_per_gib"]        # fault in + zero one page per 4 KiB, s/GiB
touchset = ref["touchset_s_per_gib"]  # fault in + memset the whole range, s/GiB

runs, base_runs = {}, {}
for r in read_runs(os.path.join(res, "runs")):
    (runs if r.get("ferry", "new") == "new" else base_runs).setdefault(int(r["size"]), []).append(r)

def entry(path):
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError):
        return {}
    if isinstance(j, dict) and "entry" not in j and len(j) == 1:  # {"file": {...}}
        j = next(iter(j.values()))
    e = j.get("entry", {}) if isinstance(j, dict) else {}
    return e if isinstance(e, dict) else {}

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

# Targets from the issue: small process < 20 ms each way; 512 MiB dump < 0.4 s, restore < 0.5 s.
def target(size, what):
    if size <= 8:
        return 0.020
    if size == 512:
        return 0.4 if what == "dump" else 0.5
    return None

def f(x, spec, dash="-"):
    return dash if x is None else format(x, spec)

machine = os.environ.get("BENCH_MACHINE", "")
print()
print(f"Machine: {machine}")
print("Reference (measured in this run, membw, best of 5):")
print(f"  memcpy bandwidth        {memcpy:8.2f} GB/s   (256 MiB, pre-faulted buffers)")
print(f"  memset bandwidth        {ref.get('memset_gbps', 0):8.2f} GB/s")
print(f"  touch fresh memory      {touch:8.4f} s/GiB  (one write per 4 KiB page: fault + zeroing)")
print(f"  memset fresh memory     {touchset:8.4f} s/GiB  (fault + zeroing + fill)")
print(f"  first run of each       {ref.get('touch_first_s_per_gib', 0):8.4f} / {ref.get('touchset_first_s_per_gib', 0):.4f} s/GiB"
      f"  (touch / memset; guest memory touched for the first time costs more)")
print(f"  -> copying 1 GiB at memcpy speed takes {2**30 / 1e9 / memcpy:.4f} s; touching 1 GiB fresh takes {touch:.4f} s")

summary = []
all_ok = not failed
missed = []
for size in sizes:
    rs = runs.get(size, [])
    ok_runs = [r for r in rs if r["check"].startswith("OK")]
    gb = size * 2**20 / 1e9
    print()
    print(f"== {size} MiB of touched memory: {len(rs)} run(s) completed, "
          f"{len(ok_runs)} verified intact" + (" (medians)" if len(rs) > 1 else ""))
    if not rs:
        print("   no completed run (see the errors above)")
        summary.append({"size_mib": size, "runs": 0})
        all_ok = False
        continue
    row = {"size_mib": size, "runs": len(rs), "verified": len(ok_runs),
           "checks": [r["check"] for r in rs]}
    sd = [entry(os.path.join(res, f"stats-dump-{size}-{r['run']}.json")) for r in rs]
    sr = [entry(os.path.join(res, f"stats-restore-{size}-{r['run']}-new.json")) for r in rs]
    print(f"   {'':8} {'wall s':>8} {'GB/s':>7} {'/memcpy':>8} {'/touch':>7} {'target':>9} {'met':>4}"
          f"   (all runs, s)")
    for what, key in (("dump", "dump_us"), ("restore", "restore_us")):
        ts = [int(r[key]) / 1e6 for r in rs]
        t = med(ts)
        bw = gb / t if t > 0 else None
        ratio_cpy = bw / memcpy if bw else None
        ratio_touch = t / (touch * size / 1024)
        tg = target(size, what)
        met = None if tg is None else t < tg
        if met is False:
            missed.append(f"{size} MiB {what} {t:.3f} s >= {tg} s")
        print(f"   {what:8} {t:8.4f} {f(bw, '7.2f')} {f(ratio_cpy, '8.3f')} {ratio_touch:7.2f} "
              f"{'< %g s' % tg if tg else '-':>9} {('yes' if met else 'NO') if met is not None else '-':>4}"
              f"   {' '.join('%.4f' % x for x in ts)}")
        row[what] = {"wall_s": t, "wall_s_all": ts, "gbps": bw, "ratio_to_memcpy": ratio_cpy,
                     "ratio_to_touch": ratio_touch, "target_s": tg, "target_met": met}

    def stat_line(es, order):
        # medians of whatever the stats image holds: *_us in ms, counters as they are
        keys = [k for k in order if any(k in e for e in es)]
        keys += sorted({k for e in es for k in e} - set(keys))
        parts, out = [], {}
        for k in keys:
            v = med([e.get(k) for e in es if isinstance(e.get(k), (int, float))])
            if v is None:
                continue
            if k.endswith("_us"):
                out[k[:-3] + "_ms"] = v / 1000.0
                parts.append(f"{k[:-3]} {v / 1000.0:.1f} ms")
            else:
                out[k] = v
                parts.append(f"{k} {v:.0f}")
        return out, ", ".join(parts) if parts else "(none: stats image missing or unreadable)"
    d, dtxt = stat_line(sd, ["total_us", "frozen_us", "memdump_us", "memwrite_us", "pages_scanned", "pages_written"])
    rr, rtxt = stat_line(sr, ["total_us", "verify_us", "forking_us", "memrestore_us", "pages_restored"])
    print(f"   ferry dump stats:    {dtxt}")
    print(f"   ferry restore stats: {rtxt}")
    if d.get("pages_written") is not None and d["pages_written"] < size * 256:
        print(f"   WARNING: pages_written {d['pages_written']:.0f} < {size * 256} pages memhog touched")
    rates = []
    for name, src, k in (("memdump", d, "memdump_ms"), ("memwrite", d, "memwrite_ms"),
                         ("memrestore", rr, "memrestore_ms")):
        if src.get(k):
            rates.append(f"{name} {gb / (src[k] / 1000):.2f} GB/s")
    if rates:
        print(f"   ferry's memory phases alone: {', '.join(rates)}")
    print(f"   RSS before dump {med([int(r['rss_kb']) for r in rs]) / 1024:.0f} MiB, "
          f"after restore {f(med([int(r['rss_restored_kb']) / 1024 for r in rs if r['rss_restored_kb'].isdigit()]), '.0f')} MiB, "
          f"image {med([int(r['img_kb']) for r in rs]) / 1024:.1f} MiB")
    print(f"   restored memory check: {', '.join(row['checks'])}")
    # where the time goes: ferry's own stage timings (dump.log, restore.log)
    dst, rst = stages(rs, "dstage:"), stages(rs)
    print(f"   dump stages:    {stage_text(dst, sum(ms for _, ms in dst) or None)}")
    print(f"   restore stages: {stage_text(rst, sum(ms for _, ms in rst) or None)}")
    row["dump_stages_ms"], row["restore_stages_ms"] = dict(dst), dict(rst)
    bs = base_runs.get(size, [])
    if bs:
        bt = med([int(r["restore_us"]) / 1e6 for r in bs])
        bst = stages(bs)
        rt = row["restore"]["wall_s"]
        print(f"   baseline restore (BENCH_BASELINE, same images, alternating): {bt:.4f} s; this build takes "
              f"{rt / bt:.2f}x the time; {', '.join(r['check'] for r in bs)}")
        print(f"   baseline restore stages: {stage_text(bst, sum(ms for _, ms in bst) or None)}")
        row["baseline_restore"] = {"wall_s": bt, "wall_s_all": [int(r["restore_us"]) / 1e6 for r in bs],
                                   "stages_ms": dict(bst), "checks": [r["check"] for r in bs]}
        if any(not r["check"].startswith("OK") for r in bs):
            all_ok = False
    row["ferry_dump_stats"] = d
    row["ferry_restore_stats"] = rr
    if len(ok_runs) != len(rs):
        all_ok = False
    summary.append(row)

print()
print("Summary (median wall clock; /memcpy = achieved GB/s over memcpy GB/s; /touch = time over the")
print("cost of touching the same amount of fresh memory)")
print(f"  {'MiB':>5} {'dump s':>8} {'restore s':>9} {'dump GB/s':>9} {'rest GB/s':>9} "
      f"{'d/memcpy':>8} {'r/memcpy':>8} {'d/touch':>7} {'r/touch':>7}  {'targets':<25} check")
for row in summary:
    if not row.get("runs"):
        print(f"  {row['size_mib']:>5}  FAILED")
        continue
    d, r = row["dump"], row["restore"]
    tg = []
    for what, x in (("d", d), ("r", r)):
        if x["target_s"] is not None:
            tg.append(f"{what}<{x['target_s']:g}:{'ok' if x['target_met'] else 'MISS'}")
    print(f"  {row['size_mib']:>5} {d['wall_s']:8.4f} {r['wall_s']:9.4f} {f(d['gbps'], '9.2f')} {f(r['gbps'], '9.2f')} "
          f"{f(d['ratio_to_memcpy'], '8.3f')} {f(r['ratio_to_memcpy'], '8.3f')} {d['ratio_to_touch']:7.2f} "
          f"{r['ratio_to_touch']:7.2f}  {' '.join(tg) or '-':<25} {row['verified']}/{row['runs']} OK")

with open(json_out, "w") as fh:
    json.dump({"machine": machine, "reference": ref, "sizes": summary, "all_verified": all_ok, "targets_missed": missed},
              fh, indent=2)
print()
print(f"results: {json_out}")
if missed:
    print("targets missed: " + "; ".join(missed))
if not all_ok:
    print("FAILED: some dump/restore failed or a restored process found its memory corrupt")
    sys.exit(1)
if strict and missed:
    sys.exit(1)
PYEOF
rc=$?

# the process-tree benchmark (bench/tree.sh: 10 x 64 MiB tree, COW sharing); BENCH_TREE=0 skips it
if [ "${BENCH_TREE:-1}" != 0 ]; then
	"$(dirname "${BASH_SOURCE[0]}")/tree.sh" "$BUILD" || rc=1
fi
# restores of a JVM and of node, warm and cold (bench/apps.sh); BENCH_APPS=0 skips it
if [ "${BENCH_APPS:-1}" != 0 ]; then
	"$(dirname "${BASH_SOURCE[0]}")/apps.sh" "$BUILD" || rc=1
fi
# the freeze of an incremental dump (bench/incremental.sh: 1 GiB, 1% written); BENCH_INCR=0 skips it
if [ "${BENCH_INCR:-1}" != 0 ]; then
	"$(dirname "${BASH_SOURCE[0]}")/incremental.sh" "$BUILD" || rc=1
fi
# shared memory through a tracked chain (bench/shmtree.sh: 256 MiB, 8 children); BENCH_SHM=0 skips it
if [ "${BENCH_SHM:-1}" != 0 ]; then
	"$(dirname "${BASH_SOURCE[0]}")/shmtree.sh" "$BUILD" || rc=1
fi
exit $rc
