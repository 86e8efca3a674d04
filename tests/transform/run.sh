#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compressed and encrypted images: round trips of zdtm programs with --compress zstd|lz4 and
# --encrypt-key, refusals (wrong or missing key, a flipped byte, a truncated file, a key for a
# plain image: nothing restored, the PID stays free), `ferry show` on encoded files, stats JSON.
#
#   tests/transform/run.sh [--build] DIR [--filter REGEX]
#
# One `PASS name` or `FAIL name: reason` line per test; exit 1 if one failed.
# Work directories: tests/out/transform/<case>/.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=transform
# shellcheck source=tests/lib/suite.sh
. "$ROOT/tests/lib/suite.sh"
suite_args "$@"

# dump NAME DIR IMG ARGS...: dump TPID (the process dies); 0 on success, else reports
dump() {
	local name=$1 dir=$2 img=$3
	shift 3
	mkdir -p "$img"
	if ! timeout 60 "$FERRY" dump -t "$TPID" -D "$img" -v4 "$@" </dev/null >"$img/dump.err" 2>&1; then
		fail "$name" "ferry dump $* failed" "$img/dump.err" "$img/dump.log"
		kill -KILL "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
		return 1
	fi
	wait_for 5 eval '! alive $TPID'
	wait "$TPID" 2>/dev/null
	return 0
}

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
pages_bytes() { local t=0 f; for f in "$1"/pages-*.img; do t=$((t + $(size_of "$f"))); done; echo $t; }
leftover_decoded() { ls -d /dev/shm/ferry-decoded-* /run/ferry-decoded-* 2>/dev/null | head -n 1; }

KEY=$OUT/key.hex
KEY2=$OUT/other.key
mkdir -p "$OUT"
# bash's own notices (the "Killed" of dumped programs) go to a log; result lines go to stdout
exec 2>>"$OUT/runner.log"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
echo >>"$KEY"
head -c 32 /dev/urandom >"$KEY2"

# roundtrip NAME PROG ARGS...: dump with ARGS (plus -R plain first, to compare page store sizes)
roundtrip() {
	local name=$1 prog=$2 dir=$OUT/$1 plain comp
	shift 2
	selected "$name" || return 0
	start "$prog" "$dir" || { fail "$name" "$prog did not start" "$dir/test.out"; return; }
	timeout 60 "$FERRY" dump -t "$TPID" -D "$dir/plain" -R </dev/null >"$dir/plain.err" 2>&1 ||
		{ fail "$name" "plain dump -R failed" "$dir/plain.err"; return; }
	dump "$name" "$dir" "$dir/img" "$@" || return
	if ! "$FERRY" show "$dir/img" >"$dir/show.json" 2>"$dir/show.err" || ! grep -q '"encoded"' "$dir/show.json"; then
		fail "$name" "ferry show does not say the files are encoded" "$dir/show.err" "$dir/show.json"
		return
	fi
	plain=$(pages_bytes "$dir/plain")
	comp=$(pages_bytes "$dir/img")
	case " $* " in *" --compress "*)
		if [ "$comp" -ge "$plain" ]; then
			fail "$name" "compressed page store ($comp bytes) is not smaller than the plain one ($plain)"
			return
		fi ;;
	esac
	case " $* " in *" --encrypt-key "*)
		if grep -qa "$prog" "$dir"/img/core-*.img; then
			fail "$name" "core image holds the command name in clear text"
			return
		fi ;;
	esac
	local rargs=()
	case " $* " in *" --encrypt-key "*) rargs=(--encrypt-key "$KEY") ;; esac
	restore_check "$name" "$dir" "$dir/img" "${rargs[@]}" || return
	[ -s "$dir/img/stats-restore.img" ] || { fail "$name" "no stats-restore.img in the image directory"; return; }
	[ -s "$dir/img/restore.log" ] || { fail "$name" "no restore.log in the image directory"; return; }
	[ -z "$(leftover_decoded)" ] || { fail "$name" "decoded copy left behind: $(leftover_decoded)"; return; }
	pass "$name (pages: $plain -> $comp bytes)"
}

# refuse NAME HOW: an encrypted dump, spoiled by HOW, must be refused: clear message, PID free
refuse() {
	local name=$1 how=$2 dir=$OUT/$1 img f rc want
	selected "$name" || return 0
	start anon_mem "$dir" || { fail "$name" "anon_mem did not start" "$dir/test.out"; return; }
	img=$dir/img
	local dargs=(--compress zstd --encrypt-key "$KEY") rargs=(--encrypt-key "$KEY")
	[ "$how" = plain-with-key ] && dargs=()
	[ "$how" = flip-compressed ] && { dargs=(--compress zstd); rargs=(); }
	if [ "$how" = mixed ] && ! "$FERRY" dump -t "$TPID" -D "$dir/img0" -R "${dargs[@]}" >"$dir/img0.err" 2>&1; then
		fail "$name" "first dump -R failed" "$dir/img0.err"
		return
	fi
	dump "$name" "$dir" "$img" "${dargs[@]}" || return
	f=$(ls "$img"/pages-*.img | head -n 1)
	case $how in
	wrong-key) rargs=(--encrypt-key "$KEY2"); want="wrong key" ;;
	no-key) rargs=(); want="is encrypted: give its key (--encrypt-key" ;;
	flip-pages)
		flip_byte "$f" $(($(size_of "$f") / 2))
		want="fails authentication" ;;
	flip-meta)
		f=$(ls "$img"/mm-*.img)
		flip_byte "$f" $(($(size_of "$f") - 20))
		want="fails authentication" ;;
	flip-header)
		f=$(ls "$img"/core-*.img)
		printf '\x01' | dd of="$f" bs=1 seek=20 conv=notrunc status=none	# payload_len
		want="header fails its checksum" ;;
	flip-compressed)
		flip_byte "$f" $(($(size_of "$f") / 2))
		want="fails its checksum" ;;
	mixed)
		f=$(ls "$img"/mm-*.img)
		cp "$dir/img0/$(basename "$f")" "$f"
		want="belongs to another dump" ;;
	truncate)
		truncate -s $(($(size_of "$f") - 100)) "$f"
		want="truncated" ;;
	plain-with-key) want="is not encrypted while --encrypt-key was given" ;;
	esac
	timeout 30 "$FERRY" restore -D "$img" -d "${rargs[@]}" </dev/null >"$img/restore.err" 2>&1
	rc=$?
	if [ $rc = 0 ] || alive "$TPID"; then
		alive "$TPID" && { track "$TPID"; kill -KILL "$TPID"; }
		fail "$name" "restore went ahead (status $rc)" "$img/restore.err"
	elif ! grep -q "$want" "$img/restore.err"; then
		fail "$name" "message does not say '$want'" "$img/restore.err"
	elif [ "$how" != plain-with-key ] && [ "$how" != no-key ] && [ "$how" != wrong-key ] &&
		! grep -q "$(basename "$f")" "$img/restore.err"; then
		fail "$name" "message does not name $(basename "$f")" "$img/restore.err"
	elif [ -n "$(leftover_decoded)" ]; then
		fail "$name" "decoded copy left behind: $(leftover_decoded)"
	else
		pass "$name ($(head -n 1 "$img/restore.err" | cut -c1-110))"
	fi
}

stats_json() {
	local name=stats-json dir=$OUT/stats-json
	selected "$name" || return 0
	start anon_mem "$dir" || { fail "$name" "anon_mem did not start" "$dir/test.out"; return; }
	dump "$name" "$dir" "$dir/img" --compress lz4 --stats-json "$dir/dump.json" || return
	restore_check "$name" "$dir" "$dir/img" --stats-json "$dir/restore.json" || return
	if ! python3 - "$dir/dump.json" "$dir/restore.json" >"$dir/check.err" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
assert d["operation"] == "dump" and r["operation"] == "restore", "operation"
for k in ("frozen_us", "memdump_us", "total_us", "pages_scanned", "pages_written", "tasks", "threads", "vmas"):
    assert isinstance(d[k], int), "dump." + k
for k in ("total_us", "verify_us", "forking_us", "memrestore_us", "pages_restored", "tasks", "threads"):
    assert isinstance(r[k], int), "restore." + k
assert d["tasks"] == 1 and d["pages_written"] > 0 and d["total_us"] > 0, "dump values"
assert r["tasks"] == 1 and r["pages_restored"] == d["pages_written"], "restore values"
EOF
	then
		fail "$name" "JSON does not parse or lacks fields" "$dir/check.err" "$dir/dump.json" "$dir/restore.json"
		return
	fi
	pass "$name"
}

if [ ! -x "$FERRY" ] || [ ! -x "$ZDTM/anon_mem" ]; then
	fail "all" "ferry or the zdtm programs are not built in $BUILD (run make)"
	exit 1
fi
roundtrip zstd anon_mem --compress zstd
roundtrip lz4 anon_mem --compress lz4
roundtrip encrypt anon_mem --encrypt-key "$KEY"
roundtrip zstd+encrypt anon_mem --compress zstd --encrypt-key "$KEY"
roundtrip lz4+encrypt-threads threads --compress lz4 --encrypt-key "$KEY"
[ -x "$ZDTM/deleted_file" ] && roundtrip zstd+encrypt-ghost deleted_file --compress zstd --encrypt-key "$KEY"
refuse wrong-key wrong-key
refuse no-key no-key
refuse flipped-pages flip-pages
refuse flipped-meta flip-meta
refuse flipped-header flip-header
refuse truncated truncate
refuse flipped-compressed flip-compressed
refuse mixed-dumps mixed
refuse key-for-plain plain-with-key
stats_json
[ $NFAIL = 0 ]
