#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the image fuzzer with clang/libFuzzer into BUILD_DIR/fuzz, replays tests/fuzz/regress/,
# then fuzzes for SECONDS from a generated seed corpus.
# Exit: 0 no crash, 1 crash (its input path is printed), 77 skipped (clang or libFuzzer missing),
# 2 those missing under FERRY_STRICT=1.
set -u
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [SECONDS]" >&2
	exit 2
fi
SECS=${2:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$1/fuzz" || exit 1
OUT=$(cd "$1/fuzz" && pwd)
CC=${CLANG:-clang}

# Missing tools skip the run with the reason; under `make check` (FERRY_STRICT=1), which installed
# them, a missing tool is a broken setup and fails.
skip() {
	[ "${FERRY_STRICT:-0}" = 1 ] && { echo "FAIL fuzz: $1 (make check installs it: the setup is broken)"; exit 2; }
	echo "SKIP fuzz: $1"; exit 77
}
command -v "$CC" >/dev/null 2>&1 || skip "$CC not found"
command -v protoc-c >/dev/null 2>&1 || skip "protoc-c not found"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' \
	>"$OUT/probe.c"
"$CC" -fsanitize=fuzzer,address,undefined "$OUT/probe.c" -o "$OUT/probe" >/dev/null 2>&1 ||
	skip "$CC cannot link -fsanitize=fuzzer,address,undefined (libclang-rt missing?)"

protoc-c --proto_path="$ROOT/proto" --c_out="$OUT" "$ROOT"/proto/*.proto || exit 1
SRCS=$(ls "$OUT"/*.pb-c.c | tr '\n' ' ')
for f in common/error.c common/log.c common/util.c common/safefile.c image/image.c image/sink.c image/pagestore.c image/show.c image/source.c image/blob.c; do
	SRCS="$SRCS $ROOT/src/$f"
done
CFLAGS="-g -O1 -D_GNU_SOURCE -I$ROOT/src -I$OUT -I$ROOT/tests/unit -fno-omit-frame-pointer -Wno-comment"
LIBS="-lprotobuf-c -lxxhash -ljansson"
# shellcheck disable=SC2086
# (blob chunk checksums are not enforced in this build, so mutated chunks reach the parser's checks)
"$CC" $CFLAGS -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all "$HERE/fuzz_image.c" $SRCS $LIBS -o "$OUT/fuzz_image" || exit 1
# the image stream's frame decoder (src/transport/protocol.c)
# shellcheck disable=SC2086
"$CC" $CFLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	"$HERE/fuzz_wire.c" "$ROOT/src/transport/protocol.c" $SRCS $LIBS -o "$OUT/fuzz_wire" || exit 1
# the receiving end of the image stream (framing, seals, rx_stream into a directory)
STREAM_SRCS=""
for f in protocol conn seal auth tls receiver; do STREAM_SRCS="$STREAM_SRCS $ROOT/src/transport/$f.c"; done
# shellcheck disable=SC2086
"$CC" $CFLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	"$HERE/fuzz_stream.c" $STREAM_SRCS $SRCS $LIBS -lssl -lcrypto -o "$OUT/fuzz_stream" || exit 1
# shellcheck disable=SC2086
"$CC" $CFLAGS -fsanitize=address,undefined "$HERE/gen_corpus.c" "$ROOT/tests/unit/samples.c" $SRCS $LIBS \
	-o "$OUT/gen_corpus" || exit 1
rm -rf "$OUT/seeds"
"$OUT/gen_corpus" "$OUT/seeds" || exit 1
mkdir -p "$OUT/corpus" "$OUT/artifacts"

FLAGS="-error_exitcode=1 -timeout_exitcode=1 -timeout=10 -rss_limit_mb=2048 -max_len=32768"

# fuzz NAME LOG SECONDS CORPUS…: runs BUILD_DIR/fuzz/NAME; on a crash prints it and exits 1
fuzz() {
	local name=$1 log=$2 secs=$3 crash rc
	shift 3
	# shellcheck disable=SC2086
	"$OUT/$name" $FLAGS -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" \
		"$@" >"$OUT/$log" 2>&1
	rc=$?
	crash=$(find "$OUT/artifacts" -type f | head -n 1)
	if [ $rc -ne 0 ] || [ -n "$crash" ]; then
		grep -A 30 -E '^==[0-9]+==|runtime error|^SUMMARY' "$OUT/$log" | head -n 60
		echo "FAIL fuzz: $name crash input: ${crash:-unknown (see $OUT/$log)}"
		exit 1
	fi
	grep -E '^stat::(number_of_executed_units|new_units_added)' "$OUT/$log"
}
for f in "$HERE"/regress/*; do
	[ -f "$f" ] || continue
	# shellcheck disable=SC2086
	if ! "$OUT/fuzz_image" $FLAGS "$f" >"$OUT/regress.log" 2>&1; then
		cat "$OUT/regress.log"
		echo "FAIL fuzz: regression input crashes: $f"
		exit 1
	fi
done

rm -f "$OUT"/artifacts/*
fuzz fuzz_image fuzz.log "$SECS" "$OUT/corpus" "$OUT/seeds"

# fuzz_wire: half the time again (at least 5 s), its own corpus
WSECS=$((SECS / 2 < 5 ? 5 : SECS / 2))
mkdir -p "$OUT/corpus-wire"
fuzz fuzz_wire fuzz-wire.log "$WSECS" "$OUT/corpus-wire"

# fuzz_stream: as long as fuzz_wire, from seeds of one whole session (sealed, plain, sealed with a flip)
mkdir -p "$OUT/corpus-stream" "$OUT/sseeds"
python3 - "$OUT/sseeds" <<'EOF' || exit 1
import struct, sys
def fr(t, f, p): return struct.pack("<BBH", t, f, len(p)) + p
s = (fr(9, 0, b"inventory.img") + fr(5, 1, struct.pack("<Q", 3) + b"core-1.img") + fr(6, 1, b"abc")
     + fr(7, 1, struct.pack("<Q", 3)) + fr(5, 2, struct.pack("<Q", 0) + b"inventory.img") + fr(6, 2, b"x")
     + fr(7, 2, struct.pack("<Q", 1)) + fr(10, 0, struct.pack("<B3xIQ", 1, 2, 4)))
for name, flags, tail in (("sealed", 1, b""), ("plain", 0, b""), ("sealed-flip", 3, b"\x40\x00\x01")):
    open(sys.argv[1] + "/" + name, "wb").write(bytes([flags]) + s + tail)
EOF
fuzz fuzz_stream fuzz-stream.log "$WSECS" "$OUT/corpus-stream" "$OUT/sseeds"

# The decoder of encoded (compressed/encrypted) files, tests/fuzz/fuzz_transform.c: as long again.
TSRCS="$ROOT/src/transform/codec.c $ROOT/src/transform/key.c"
TLIBS="-lzstd -llz4 -lcrypto"
# shellcheck disable=SC2086
"$CC" $CFLAGS -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all "$HERE/fuzz_transform.c" $TSRCS $SRCS $LIBS $TLIBS -o "$OUT/fuzz_transform" || exit 1
# shellcheck disable=SC2086
"$CC" $CFLAGS -DGEN_SEEDS -fsanitize=address,undefined "$HERE/fuzz_transform.c" $TSRCS $SRCS $LIBS $TLIBS \
	-o "$OUT/gen_transform" || exit 1
rm -rf "$OUT/tseeds" && "$OUT/gen_transform" "$OUT/tseeds" || exit 1
mkdir -p "$OUT/tcorpus"
fuzz fuzz_transform fuzz_transform.log "$SECS" "$OUT/tcorpus" "$OUT/tseeds"
echo "PASS fuzz ($SECS s, corpus $(find "$OUT/corpus" -type f | wc -l) inputs; transform $SECS s," \
	"corpus $(find "$OUT/tcorpus" -type f | wc -l) inputs)"
exit 0
