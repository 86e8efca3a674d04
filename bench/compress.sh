#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/compress.sh BUILD_DIR [KEYS]
#
# Compression of a real workload's memory: Debian's redis-server (no persistence) filled with KEYS
# (default 100000) keys of mixed content — random bytes, text, numbers, JSON-like records, repeated
# runs, hashes and lists — is dumped and restored without compression, with --compress zstd and
# with --compress lz4 (and zstd + --encrypt-key), BENCH_REPEAT times each (default 3, medians).
# The same redis goes through every round: each restore brings it back for the next dump, and
# DBSIZE is checked after every restore. Prints page store and image sizes, ratios, dump and
# restore times, each relative to the uncompressed run of this same bench run.
#
# Environment: BENCH_REPEAT (3), BENCH_DIR (image directory parent, default a new dir in /var/tmp).
# Needs root. Exit status 1 if a dump or a restore failed or redis lost keys.
set -u
die() { echo "bench: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [KEYS]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
KEYS=${2:-100000}
FERRY=$BUILD/src/ferry
REPEAT=${BENCH_REPEAT:-3}
[ -x "$FERRY" ] || die "missing $FERRY (build first: make)"
[ "$(id -u)" = 0 ] || die "must run as root"
command -v redis-server >/dev/null || die "no redis-server (scripts/install-deps.sh installs it)"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-compress.XXXXXX") || die "no work directory"
SOCK=$W/redis.sock
RPID=""
cleanup() {
	[ -n "$RPID" ] && [ "$(readlink "/proc/$RPID/exe" 2>/dev/null)" = "$(readlink -f "$(command -v redis-server)")" ] &&
		kill -KILL "$RPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
head -c 32 /dev/urandom >"$W/key"

ms() { echo $(($(date +%s%N) / 1000000)); }
dbsize() { timeout 10 redis-cli -s "$SOCK" dbsize 2>/dev/null; }

# redis without persistence, on a unix socket only, detached from us
(exec setsid redis-server --port 0 --unixsocket "$SOCK" --save '' --appendonly no --daemonize no \
	--dir "$W" </dev/null >"$W/redis.out" 2>&1) &
RPID=$!
disown "$RPID" 2>/dev/null
for _ in $(seq 100); do [ "$(dbsize)" = 0 ] && break; sleep 0.05; done
[ "$(dbsize)" = 0 ] || die "redis-server did not start ($(tail -n 3 "$W/redis.out"))"

# KEYS keys of mixed content, pipelined over the socket
python3 - "$SOCK" "$KEYS" <<'EOF' || die "filling redis failed"
import os, random, socket, sys
sock, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = "the quick brown fox jumps over lazy dog ferry checkpoint restore memory page image".split()
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
def value(i):
    k = i % 6
    if k == 0: return os.urandom(rnd.randint(16, 256))                       # incompressible
    if k == 1: return " ".join(rnd.choice(words) for _ in range(rnd.randint(5, 60)))  # text
    if k == 2: return str(rnd.randint(0, 10**12))                              # numbers
    if k == 3: return '{"id":%d,"name":"user%d","email":"user%d@example.com","active":%s}' % (
        i, i, i, "true" if i % 2 else "false")                                 # records
    if k == 4: return "x" * rnd.randint(100, 2000)                             # runs
    return "%064x" % rnd.getrandbits(256)                                      # hashes
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock)
sent = 0
for base in range(0, n, 1000):
    buf = b""
    for i in range(base, min(n, base + 1000)):
        if i % 10 == 7:
            buf += cmd("RPUSH", "list:%d" % i, *[value(i + j) for j in range(4)])
        elif i % 10 == 8:
            buf += cmd("HSET", "hash:%d" % i, "a", value(i), "b", value(i + 3), "c", i)
        else:
            buf += cmd("SET", "key:%d" % i, value(i))
        sent += 1
    s.sendall(buf)
    got = 0
    while got < min(n, base + 1000) - base:
        data = s.recv(1 << 16)
        if not data:
            sys.exit(1)
        got += data.count(b"\r\n")
s.close()
EOF
WANT=$(dbsize)
[ "$WANT" = "$KEYS" ] || die "redis holds $WANT keys, want $KEYS"
echo "redis-server pid $RPID: $KEYS keys, RSS $(awk '/^VmRSS/ {print $2, $3}' "/proc/$RPID/status")"

MODES="none zstd lz4 zstd+enc"
declare -A DUMP REST PAGES TOTAL
for m in $MODES; do DUMP[$m]=""; REST[$m]=""; done

# one_round MODE N: dump (redis stops), restore (it runs again), check it
one_round() {
	local m=$1 n=$2 img=$W/img-$1-$2 args=() rargs=() t0 t1 t2
	case $m in
	zstd) args=(--compress zstd) ;;
	lz4) args=(--compress lz4) ;;
	zstd+enc) args=(--compress zstd --encrypt-key "$W/key"); rargs=(--encrypt-key "$W/key") ;;
	esac
	t0=$(ms)
	"$FERRY" dump -t "$RPID" -D "$img" "${args[@]}" >"$W/dump.err" 2>&1 || die "dump ($m): $(tail -n 3 "$W/dump.err")"
	t1=$(ms)
	while [ -e "/proc/$RPID" ]; do sleep 0.01; done	# (not our child: reaped by init)
	"$FERRY" restore -D "$img" -d "${rargs[@]}" >"$W/restore.err" 2>&1 || die "restore ($m): $(tail -n 3 "$W/restore.err")"
	t2=$(ms)
	[ "$(dbsize)" = "$WANT" ] || die "after the $m restore redis holds $(dbsize) keys, want $WANT"
	DUMP[$m]="${DUMP[$m]} $((t1 - t0))"
	REST[$m]="${REST[$m]} $((t2 - t1))"
	PAGES[$m]=$(cat "$img"/pages-*.img | wc -c)
	TOTAL[$m]=$(cat "$img"/*.img | wc -c)
	rm -rf "$img"
}

for n in $(seq "$REPEAT"); do
	for m in $MODES; do one_round "$m" "$n"; done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\n%-9s %12s %7s %12s %9s %6s %11s %6s\n' mode pages ratio image dump_ms rel restore_ms rel
bd=$(echo "${DUMP[none]}" | median)
br=$(echo "${REST[none]}" | median)
for m in $MODES; do
	d=$(echo "${DUMP[$m]}" | median)
	r=$(echo "${REST[$m]}" | median)
	awk -v m="$m" -v p="${PAGES[$m]}" -v bp="${PAGES[none]}" -v t="${TOTAL[$m]}" -v d="$d" -v bd="$bd" \
		-v r="$r" -v br="$br" 'BEGIN {
		printf "%-9s %12d %7.2f %12d %9d %6.2f %11d %6.2f\n", m, p, bp / p, t, d, d / bd, r, r / br }'
done
echo "(ratio: uncompressed page store / this one; rel: time / the uncompressed run's; medians of $REPEAT)"
