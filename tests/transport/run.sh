#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Page server, TLS, tokens, sealed frames, concurrency, export/import: end-to-end tests of src/transport.
#
#   tests/transport/run.sh BUILD_DIR
#
# Prints one `PASS transport/NAME`, `FAIL transport/NAME: reason` or `SKIP transport/NAME: reason`
# line per test (tests/run.sh counts them). FERRY_TEST_FILTER (a regex) selects tests.
# Work directories: tests/out/transport/NAME/. Needs root (ferry, ip netns).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
FERRY=$BUILD/src/ferry
ZDTM=$BUILD/tests/zdtm
MEMHOG=$BUILD/bench/memhog
OUT=$ROOT/tests/out/transport
FILTER=${FERRY_TEST_FILTER:-}
NS_A=ferry-tp-a-$$
NS_B=ferry-tp-b-$$
PIDS=()

pass() { echo "PASS transport/$1"; }
skip() { echo "SKIP transport/$1: $2"; }
# no_tool NAME WHY: a tool is missing; under make check (FERRY_STRICT=1), which installs it, a failure
no_tool() { if [ "${FERRY_STRICT:-0}" = 1 ]; then echo "FAIL transport/$1: $2 (make check installs it)"; else skip "$1" "$2"; fi; }
# fail NAME REASON [FILES…]: the reason, then the last lines of each file
fail() {
	local n=$1 why=$2 f
	shift 2
	echo "FAIL transport/$n: $why"
	for f in "$@"; do
		[ -s "$f" ] && { echo "    --- ${f#"$ROOT"/}"; tail -n 12 "$f" | sed 's/^/    | /'; }
	done
}
selected() { [ -z "$FILTER" ] || grep -Eq -- "$FILTER" <<<"transport/$1"; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	return 0
}
trap cleanup EXIT

alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }
# wait_gone PID SECS
wait_gone() { local e=$((SECONDS + $2)); while alive "$1"; do [ $SECONDS -ge $e ] && return 1; sleep 0.05; done; }
HERE=$ROOT/tests/transport

# listening PORT [NETNS]: 0 once something listens on PORT
listening() {
	local e=$((SECONDS + 10)) run=()
	[ -n "${2:-}" ] && run=(ip netns exec "$2")
	while ! "${run[@]}" ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; do
		[ $SECONDS -ge $e ] && return 1
		sleep 0.05
	done
}

# wait_port PID FILE SED: prints the port that process PID announces in FILE (found by the sed -n
# script SED); fails if it dies first or 20 s pass
wait_port() {
	local e=$((SECONDS + 20)) p=""
	while [ -z "$p" ]; do
		alive "$1" && [ $SECONDS -lt $e ] || return 1
		sleep 0.05
		p=$(sed -n "$3" "$2")
	done
	echo "$p"
}

# server NAME DIR [ARGS…]: starts a page server on a free loopback port (SRV_PID, SRV_PORT); its
# stdout in OUT/NAME/server.out, its log in OUT/NAME/server.log
SRV_PID=""
SRV_PORT=""
server() {
	local n=$1 d=$2
	shift 2
	"$FERRY" page-server --address 127.0.0.1 --port 0 -D "$d" -v4 "$@" \
		</dev/null >"$OUT/$n/server.out" 2>"$OUT/$n/server.log" &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	SRV_PORT=$(wait_port "$SRV_PID" "$OUT/$n/server.out" 's/^listening on .*:\([0-9]*\)$/\1/p')
}

# proxy NAME MODE [N]: a tamper-proxy.py in front of the server (PX_PID, PX_PORT), log OUT/NAME/proxy.log
PX_PID=""
PX_PORT=""
proxy() {
	local n=$1
	python3 "$HERE/tamper-proxy.py" "$2" "$SRV_PORT" "${3:-3}" >"$OUT/$n/proxy.log" 2>&1 &
	PX_PID=$!
	PIDS+=("$PX_PID")
	PX_PORT=$(wait_port "$PX_PID" "$OUT/$n/proxy.log" 's/^port //p')
}

# token NAME: a random token in OUT/NAME/token (TOKEN)
TOKEN=""
token() { TOKEN=$OUT/$1/token; head -c 32 /dev/urandom | base64 >"$TOKEN"; }

# zdtm NAME PROG DIR: starts a zdtm program (T_PID), 0 once ready
T_PID=""
zdtm() {
	local e=$((SECONDS + 10))
	mkdir -p "$3"
	(ZDTM_DIR=$3 exec setsid "$ZDTM/$2" </dev/null >"$3/test.out" 2>&1) &
	T_PID=$!
	PIDS+=("$T_PID")
	while [ ! -e "$3/ready" ]; do
		alive "$T_PID" && [ $SECONDS -lt $e ] || return 1
		sleep 0.02
	done
}

# check_restored NAME IMG TESTDIR PID: restore detached, SIGTERM, expect PASS in test.out
check_restored() {
	local n=$1 img=$2 dir=$3 pid=$4
	wait_gone "$pid" 5 || { fail "$n" "pid $pid still alive after the dump"; return 1; }
	wait "$pid" 2>/dev/null
	if ! timeout -k 2 30 "$FERRY" restore -D "$img" -d -v4 -o "$OUT/$n/restore.log" >"$OUT/$n/restore.err" 2>&1; then
		fail "$n" "restore from $img failed" "$OUT/$n/restore.err"
		return 1
	fi
	kill -TERM "$pid"
	wait_gone "$pid" 10 || { kill -KILL "$pid"; fail "$n" "restored process did not exit on SIGTERM"; return 1; }
	[ "$(tail -n 1 "$dir/test.out")" = PASS ] || { fail "$n" "restored test did not PASS" "$dir/test.out"; return 1; }
}

# dump_remote NAME PID PORT [ARGS…]: ferry dump to the page server; DUMP_RC, output in OUT/NAME/dump.err
# (a token is not passed: tests give --token-file "$TOKEN" where they want one)
DUMP_RC=0
dump_remote() {
	local n=$1 pid=$2 p=$3
	shift 3
	timeout -k 2 60 "$FERRY" dump -t "$pid" -D "$OUT/$n/local" -v4 --page-server --address 127.0.0.1 \
		--port "$p" "$@" </dev/null >"$OUT/$n/dump.err" 2>&1
	DUMP_RC=$?
}

begin() { selected "$1" || return 1; rm -rf "${OUT:?}/$1"; mkdir -p "$OUT/$1"; }

# ---------------------------------------------------------------- tests

# dump_ok NAME WHAT PID PORT [ARGS…]: dump_remote, which must succeed (else fails NAME saying WHAT)
dump_ok() {
	local n=$1 what=$2
	shift 2
	dump_remote "$n" "$@"
	[ $DUMP_RC = 0 ] || { fail "$n" "$what" "$OUT/$n/dump.err" "$OUT/$n/server.log"; return 1; }
}

# stored_and_restored NAME: the page server exits 0, and its image of T_PID restores and passes
stored_and_restored() {
	server_done "$1" 0 && check_restored "$1" "$OUT/$1/srv" "$OUT/$1/t" "$T_PID" && pass "$1"
}

# the dump failed as it should: message, process alive, no inventory on the server
failed_cleanly() {
	local n=$1 want=$2 pid=$3
	[ $DUMP_RC != 0 ] || { fail "$n" "dump succeeded"; return 1; }
	grep -Eq -- "$want" "$OUT/$n/dump.err" || { fail "$n" "no message matching '$want'" "$OUT/$n/dump.err"; return 1; }
	alive "$pid" || { fail "$n" "the dumped process died"; return 1; }
	[ ! -e "$OUT/$n/srv/inventory.img" ] || { fail "$n" "the server kept inventory.img"; return 1; }
}

# no_leftovers NAME DIR: DIR holds no temporary (no hidden file)
no_leftovers() {
	local left; left=$(ls -A "$2" 2>/dev/null | grep '^\.')
	[ -z "$left" ] || { fail "$1" "temporaries left in ${2#"$ROOT"/}: $left"; return 1; }
}

# server_done NAME WANT: waits (60 s at most) for the page server to exit with status WANT
server_done() {
	local rc
	wait_gone "$SRV_PID" 60 || { fail "$1" "page server still running" "$OUT/$1/server.log"; return 1; }
	wait "$SRV_PID"; rc=$?
	[ $rc = "$2" ] || { fail "$1" "page server exited with $rc, not $2" "$OUT/$1/server.log"; return 1; }
}

t_loopback() {
	local n=loopback
	begin $n || return 0
	token $n
	server $n "$OUT/$n/srv" --token-file "$TOKEN" || { fail $n "page server does not listen" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start" "$OUT/$n/t/test.out"; return; }
	dump_ok $n "dump to the page server failed" "$T_PID" "$SRV_PORT" --token-file "$TOKEN" || return
	server_done $n 0 || return
	# locally: the log and the image's metadata (the next dump of a chain reads it), no page data
	local extra; extra=$(ls "$OUT/$n/local" | grep '^pages-')
	[ -z "$extra" ] || { fail $n "page data was written locally: $extra"; return; }
	[ -e "$OUT/$n/local/pagemap-$T_PID.img" ] || { fail $n "no local copy of the image's metadata"; return; }
	no_leftovers $n "$OUT/$n/srv" || return
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

t_netns() {
	local n=netns p=7000 ok=1
	begin $n || return 0
	command -v ip >/dev/null || { no_tool $n "ip (iproute2) not installed"; return; }
	token $n
	ip netns add "$NS_A" && ip netns add "$NS_B" &&
		ip link add "vtp$$a" type veth peer name "vtp$$b" &&
		ip link set "vtp$$a" netns "$NS_A" && ip link set "vtp$$b" netns "$NS_B" &&
		ip -n "$NS_A" addr add 10.213.7.1/24 dev "vtp$$a" && ip -n "$NS_B" addr add 10.213.7.2/24 dev "vtp$$b" &&
		ip -n "$NS_A" link set "vtp$$a" up && ip -n "$NS_B" link set "vtp$$b" up &&
		ip -n "$NS_A" link set lo up || ok=0
	[ $ok = 1 ] || { skip $n "cannot create network namespaces with a veth pair"; return; }
	nsenter --net="/run/netns/$NS_A" "$FERRY" page-server --address 10.213.7.1 --port $p \
		-D "$OUT/$n/srv" -v4 --token-file "$TOKEN" </dev/null >"$OUT/$n/server.log" 2>&1 &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	listening $p "$NS_A" || { fail $n "page server does not listen in $NS_A" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	nsenter --net="/run/netns/$NS_B" timeout -k 2 60 "$FERRY" dump -t "$T_PID" -D "$OUT/$n/local" -v4 \
		--page-server --address 10.213.7.1 --port $p --token-file "$TOKEN" </dev/null >"$OUT/$n/dump.err" 2>&1
	local rc=$?
	[ $rc = 0 ] || { fail $n "dump from $NS_B exited with $rc" "$OUT/$n/dump.err"; return; }
	wait "$SRV_PID" || { fail $n "page server failed" "$OUT/$n/server.log"; return; }
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
	ip netns del "$NS_A"; ip netns del "$NS_B"
}

# The server is killed (SIGKILL) in the middle of the page store: the dump fails cleanly, and the
# server's directory holds neither an inventory nor any temporary (the data in flight was unnamed).
t_server_killed() {
	local n=server-killed mp
	begin $n || return 0
	[ -x "$MEMHOG" ] || { fail $n "$MEMHOG is not built (run make)"; return; }
	server $n "$OUT/$n/srv" --insecure || { fail $n "page server does not listen"; return; }
	"$MEMHOG" 256 "$OUT/$n/ready" </dev/null >/dev/null 2>&1 &
	mp=$!; PIDS+=("$mp")
	local e=$((SECONDS + 20))
	while [ ! -e "$OUT/$n/ready" ] && [ $SECONDS -lt $e ]; do sleep 0.05; done
	# stop the server as soon as it receives the page store, then kill it
	( e=$((SECONDS + 30)); while ! grep -q "receiving pages-$mp.img" "$OUT/$n/server.log" && [ $SECONDS -lt $e ]; do :; done
	  kill -STOP "$SRV_PID"; sleep 0.3; kill -KILL "$SRV_PID" ) &
	local killer=$!
	dump_remote $n "$mp" "$SRV_PORT"
	kill "$killer" 2>/dev/null
	failed_cleanly $n "page server 127.0.0.1:$SRV_PORT: .*(connection|closed|reset)" "$mp" || { kill -KILL "$mp"; return; }
	no_leftovers $n "$OUT/$n/srv" || { kill -KILL "$mp"; return; }
	kill -TERM "$mp"; wait "$mp"
	grep -q '^OK' "$OUT/$n/ready.result" || { fail $n "memhog's own check failed after the failed dump" "$OUT/$n/ready.result"; return; }
	pass $n
}

# Line noise in an unauthenticated (--insecure) session: the checksum catches it; the server drops
# the session, keeps serving, and stores the next, clean one.
t_corrupt() {
	local n=corrupt
	begin $n || return 0
	server $n "$OUT/$n/srv" --insecure || { fail $n "page server does not listen"; return; }
	proxy $n corrupt || { fail $n "proxy does not listen" "$OUT/$n/proxy.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$PX_PORT"
	failed_cleanly $n "checksum mismatch|bad frame" "$T_PID" || return
	grep -q "checksum mismatch" "$OUT/$n/server.log" || { fail $n "server log does not name the checksum" "$OUT/$n/server.log"; return; }
	alive "$SRV_PID" || { fail $n "a failed session ended the page server" "$OUT/$n/server.log"; return; }
	[ -z "$(ls -A "$OUT/$n/srv")" ] || { fail $n "the failed session left files: $(ls -A "$OUT/$n/srv")"; return; }
	dump_ok $n "a clean dump after the corrupt one failed" "$T_PID" "$SRV_PORT" || return
	stored_and_restored $n
}

# An active attacker on the path of a token session (issue 7: a proxy rewrote core-PID.img and the
# server stored it). It changes a DATA frame, replays one, drops one, reorders two, each time with
# the checksums repaired: every session fails, names the cause, leaves nothing on the server, and
# the process runs on. Untouched, the same proxy carries a dump that restores.
t_tamper() {
	local n=tamper m want
	begin $n || return 0
	token $n
	server $n "$OUT/$n/srv" --token-file "$TOKEN" || { fail $n "page server does not listen" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	for m in flip replay replay-raw drop reorder corrupt; do
		case $m in
		replay-raw) want="arrived where" ;;
		corrupt) want="checksum mismatch" ;;
		*) want="fails its seal" ;;
		esac
		proxy $n $m || { fail $n "proxy does not listen" "$OUT/$n/proxy.log"; return; }
		dump_remote $n "$T_PID" "$PX_PORT" --token-file "$TOKEN"
		cp "$OUT/$n/dump.err" "$OUT/$n/dump-$m.err"
		failed_cleanly $n "$want" "$T_PID" || { fail $n "(proxy mode $m)"; return; }
		grep -q "tampering ($m)" "$OUT/$n/proxy.log" || { fail $n "$m: the proxy never tampered" "$OUT/$n/proxy.log"; return; }
		[ "$(grep -c -- "$want" "$OUT/$n/server.log")" -ge 1 ] || { fail $n "$m: the server log does not say '$want'" "$OUT/$n/server.log"; return; }
		[ -z "$(ls -A "$OUT/$n/srv")" ] || { fail $n "$m: the failed session left files: $(ls -A "$OUT/$n/srv")"; return; }
		alive "$SRV_PID" || { fail $n "$m: a tampered session ended the page server" "$OUT/$n/server.log"; return; }
		wait_gone "$PX_PID" 10
	done
	proxy $n pass || { fail $n "proxy does not listen" "$OUT/$n/proxy.log"; return; }
	dump_ok $n "dump through an untouched proxy failed" "$T_PID" "$PX_PORT" --token-file "$TOKEN" || return
	server_done $n 0 || return
	"$FERRY" image verify "$OUT/$n/srv" >"$OUT/$n/verify.err" 2>&1 || { fail $n "image verify failed" "$OUT/$n/verify.err"; return; }
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

t_token() {
	local n=token
	begin $n || return 0
	echo "right-token-$$-0123456789" >"$OUT/$n/good"; echo "wrong-token-0123456789" >"$OUT/$n/bad"
	server $n "$OUT/$n/srv" --token-file "$OUT/$n/good" || { fail $n "page server does not listen"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$SRV_PORT" --token-file "$OUT/$n/bad"
	failed_cleanly $n "authentication failed" "$T_PID" || return
	dump_remote $n "$T_PID" "$SRV_PORT"
	failed_cleanly $n "requires a token" "$T_PID" || return
	alive "$SRV_PID" || { fail $n "a wrong token ended the page server" "$OUT/$n/server.log"; return; }
	dump_ok $n "dump with the right token failed" "$T_PID" "$SRV_PORT" --token-file "$OUT/$n/good" || return
	server_done $n 0 || return
	grep -qs "right-token" "$OUT/$n/server.log" "$OUT/$n/dump.err" "$OUT/$n/local/dump.log" && { fail $n "the token appears in a log"; return; }
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

# certs DIR: a CA, a server certificate for 127.0.0.1, a client certificate, and another CA
certs() {
	local d=$1 c
	for c in ca other; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ferry test $c" \
			-keyout "$d/$c.key" -out "$d/$c.pem" || return 1
	done
	for c in server client; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=ferry $c" -keyout "$d/$c.key" -out "$d/$c.csr" || return 1
	done
	printf 'subjectAltName=IP:127.0.0.1\n' >"$d/san.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/san.ext" -out "$d/server.pem" || return 1
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-out "$d/client.pem"
}

t_tls() {
	local n=tls d; d=$OUT/tls/pki
	begin $n || return 0
	command -v openssl >/dev/null || { no_tool $n "openssl not installed"; return; }
	mkdir -p "$d"; certs "$d" >"$OUT/$n/openssl.log" 2>&1 || { fail $n "openssl could not make certificates" "$OUT/$n/openssl.log"; return; }
	token $n
	local S=(--tls-cert "$d/server.pem" --tls-key "$d/server.key")
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	# TLS without client certificates authenticates nobody: refused unless a token (or --insecure)
	if "$FERRY" page-server --port 0 -D "$OUT/$n/srv" "${S[@]}" >"$OUT/$n/noauth.err" 2>&1; then
		fail $n "a TLS page server without client certificates or token started"; return
	fi
	grep -q -- "--insecure" "$OUT/$n/noauth.err" || { fail $n "no hint at --insecure" "$OUT/$n/noauth.err"; return; }
	# TLS and a token: a client trusting another CA refuses the server; the right CA works (frames sealed inside TLS)
	server $n "$OUT/$n/srv" "${S[@]}" --token-file "$TOKEN" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$SRV_PORT" --tls-cacert "$d/other.pem" --token-file "$TOKEN"
	failed_cleanly $n "certificate verification failed" "$T_PID" || return
	dump_ok $n "dump over TLS with a token failed" "$T_PID" "$SRV_PORT" --tls-cacert "$d/ca.pem" --token-file "$TOKEN" -R || return
	server_done $n 0 || return
	# mutual TLS: a client without a certificate is refused, the server goes on; with one: a whole image
	rm -rf "$OUT/$n/srv"
	server $n "$OUT/$n/srv" "${S[@]}" --tls-cacert "$d/ca.pem" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$SRV_PORT" --tls-cacert "$d/ca.pem"
	failed_cleanly $n "TLS" "$T_PID" || return
	dump_ok $n "dump over mutual TLS failed" "$T_PID" "$SRV_PORT" --tls-cacert "$d/ca.pem" --tls-cert "$d/client.pem" --tls-key "$d/client.key" || return
	stored_and_restored $n
}

# flood_status NAME [T]: the flood's status file as "open closed_before_T closed_total storm state"
flood_status() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["closed_after"]; t=float(sys.argv[2]);
print(d["open"], len([x for x in c if x < t]), len(c), d["storm"], d["state"])' "$OUT/$1/flood.json" "${2:-1}"
}

# 60 idle connections (from two addresses), a slow drip and a connect/reset/junk storm, all at
# once: a real dump still goes through within a bound, while every idle connection is still held
# (so it was served concurrently, not after they were dropped).
t_flood() {
	local n=flood fl t0 st e
	begin $n || return 0
	token $n
	FERRY_HANDSHAKE_TIMEOUT=120 server $n "$OUT/$n/srv" --token-file "$TOKEN" --forever || { fail $n "page server does not listen"; return; }
	python3 "$HERE/flood.py" "$SRV_PORT" "$OUT/$n/flood.json" --idle 60 --drip --storm --seconds 100 \
		--sources 127.0.0.2,127.0.0.3 >"$OUT/$n/flood.log" 2>&1 &
	fl=$!; PIDS+=("$fl")
	e=$((SECONDS + 30))
	while ! grep -qs ready "$OUT/$n/flood.json"; do
		alive $fl && [ $SECONDS -lt $e ] || { fail $n "the flood did not start" "$OUT/$n/flood.log"; return; }
		sleep 0.1
	done
	sleep 1	# the storm gets going
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	t0=$SECONDS
	dump_ok $n "dump during the flood failed" "$T_PID" "$SRV_PORT" --token-file "$TOKEN" || return
	[ $((SECONDS - t0)) -le 40 ] || { fail $n "the dump took $((SECONDS - t0)) s during the flood (bound 40 s)"; return; }
	rm -f "$OUT/$n/flood.json"
	kill -USR1 $fl
	e=$((SECONDS + 20))
	until [ -s "$OUT/$n/flood.json" ] || [ $SECONDS -ge $e ]; do sleep 0.1; done
	read -r -a st <<<"$(flood_status $n)"
	[ "${st[4]}" = running ] || { fail $n "the flood does not report (state '${st[4]}')" "$OUT/$n/flood.log"; return; }
	[ "${st[0]}" = 61 ] || { fail $n "only ${st[0]} of the 61 idle and drip connections were still held" "$OUT/$n/flood.json"; return; }
	[ "${st[3]}" -ge 10 ] || { fail $n "the storm made only ${st[3]} connections" "$OUT/$n/flood.json"; return; }
	alive "$SRV_PID" || { fail $n "page server died" "$OUT/$n/server.log"; return; }
	kill -TERM "$SRV_PID"
	server_done $n 0 || return
	kill -TERM $fl
	no_leftovers $n "$OUT/$n/srv" || return
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

# The handshake is bounded in time: idle and slow-drip connections are dropped after
# FERRY_HANDSHAKE_TIMEOUT; past 32 from one address, its oldest make room at once.
t_handshake_timeout() {
	local n=handshake-timeout fl st e
	begin $n || return 0
	token $n
	FERRY_HANDSHAKE_TIMEOUT=3 server $n "$OUT/$n/srv" --token-file "$TOKEN" --forever || { fail $n "page server does not listen"; return; }
	python3 "$HERE/flood.py" "$SRV_PORT" "$OUT/$n/flood.json" --idle 40 --drip --seconds 30 \
		--sources 127.0.0.2 >"$OUT/$n/flood.log" 2>&1 &
	fl=$!; PIDS+=("$fl")
	# no SIGUSR1 before its handler is in place (python's start under load can take over 0.5 s)
	e=$((SECONDS + 30))
	while ! grep -qs ready "$OUT/$n/flood.json"; do
		alive $fl && [ $SECONDS -lt $e ] || { fail $n "the flood did not start" "$OUT/$n/flood.log"; return; }
		sleep 0.05
	done
	e=$((SECONDS + 40))
	while :; do
		sleep 0.5
		kill -USR1 $fl 2>/dev/null
		read -r -a st <<<"$(flood_status $n 2>/dev/null)"
		[ "${st[0]:-1}" = 0 ] && [ "${st[2]:-0}" = 41 ] && break
		alive $fl && [ $SECONDS -lt $e ] || { fail $n "the server did not drop every idle connection" "$OUT/$n/flood.json" "$OUT/$n/server.log"; return; }
	done
	# 41 connections from one address: 9 dropped at once to make room, 32 after the 3 s handshake
	# timeout, none of those earlier (the server's clock starts after the client's)
	[ "$(grep -c "dropped in its handshake to make room" "$OUT/$n/server.log")" = 9 ] ||
		{ fail $n "the server log does not name 9 connections dropped to make room" "$OUT/$n/server.log"; return; }
	[ "$(grep -c "no authenticated session after 3 s" "$OUT/$n/server.log")" = 32 ] ||
		{ fail $n "the server log does not name 32 handshake timeouts" "$OUT/$n/server.log"; return; }
	read -r -a st <<<"$(flood_status $n 2.95)"
	[ $((st[2] - st[1])) -ge 32 ] || { fail $n "only $((st[2] - st[1])) connections lasted the 3 s handshake timeout" "$OUT/$n/flood.json"; return; }
	grep -q "dropping this one, the oldest" "$OUT/$n/server.log" || { fail $n "no eviction logged" "$OUT/$n/server.log"; return; }
	kill -TERM $fl
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_ok $n "dump after the timeouts failed" "$T_PID" "$SRV_PORT" --token-file "$TOKEN" || return
	kill -TERM "$SRV_PID"
	stored_and_restored $n
}

# Defaults: loopback only, and no authentication means no start (unless --insecure); bad ports
# get a clear message.
t_defaults() {
	local n=defaults p
	begin $n || return 0
	"$FERRY" page-server --port 0 -D "$OUT/$n/srv" >"$OUT/$n/noauth.err" 2>&1 && { fail $n "a page server without authentication started"; return; }
	grep -q "refusing to serve without authentication" "$OUT/$n/noauth.err" && grep -q -- "--insecure" "$OUT/$n/noauth.err" ||
		{ fail $n "no clear refusal" "$OUT/$n/noauth.err"; return; }
	[ ! -e "$OUT/$n/srv" ] || { fail $n "the refused server created its directory"; return; }
	for p in 99999 abc -1 ''; do
		"$FERRY" page-server --port "$p" -D "$OUT/$n/srv" --insecure >"$OUT/$n/port.err" 2>&1 && { fail $n "--port '$p' accepted"; return; }
		grep -Eq "out of range|not a number" "$OUT/$n/port.err" || { fail $n "--port '$p': no clear message" "$OUT/$n/port.err"; return; }
		"$FERRY" dump -t 1 -D "$OUT/$n/local" --page-server --address 127.0.0.1 --port "$p" >"$OUT/$n/port.err" 2>&1 && { fail $n "dump --port '$p' accepted"; return; }
		grep -Eq "out of range|not a number" "$OUT/$n/port.err" || { fail $n "dump --port '$p': no clear message" "$OUT/$n/port.err"; return; }
	done
	# --insecure, no --address: listens on 127.0.0.1 only
	"$FERRY" page-server --port 0 -D "$OUT/$n/srv" --insecure -v4 </dev/null >"$OUT/$n/server.out" 2>"$OUT/$n/server.log" &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	SRV_PORT=$(wait_port "$SRV_PID" "$OUT/$n/server.out" 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p')
	[ -n "$SRV_PORT" ] || { fail $n "page server does not say it listens on 127.0.0.1" "$OUT/$n/server.out" "$OUT/$n/server.log"; return; }
	local bound; bound=$(ss -ltnH "sport = :$SRV_PORT" | awk '{print $4}')
	[ "$bound" = "127.0.0.1:$SRV_PORT" ] || { fail $n "bound to '$bound', not 127.0.0.1:$SRV_PORT"; return; }
	grep -q "insecure" "$OUT/$n/server.log" || { fail $n "no warning about --insecure" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_ok $n "dump to an --insecure server failed" "$T_PID" "$SRV_PORT" || return
	stored_and_restored $n
}

# fake_server NAME MODE: a fakepeer.py server (its port in FAKE_PORT)
FAKE_PORT=""
fake_server() {
	python3 "$HERE/fakepeer.py" "$2" >"$OUT/$1/fake-$2.out" 2>&1 &
	PIDS+=("$!")
	FAKE_PORT=$(wait_port "$!" "$OUT/$1/fake-$2.out" 's/^port //p')
}

# A peer of protocol 1.0 gets a clear error both ways, and does not end the server.
t_oldpeer() {
	local n=oldpeer
	begin $n || return 0
	token $n
	server $n "$OUT/$n/srv" --token-file "$TOKEN" || { fail $n "page server does not listen"; return; }
	python3 "$HERE/fakepeer.py" client "$SRV_PORT" >"$OUT/$n/client.out" 2>&1
	grep -q "ERROR 93 this page server speaks protocol 2.0 and the client 1.0" "$OUT/$n/client.out" ||
		{ fail $n "an old client is not told why" "$OUT/$n/client.out"; return; }
	[ "$(grep -c ERROR "$OUT/$n/client.out")" = 1 ] || { fail $n "not exactly one ERROR" "$OUT/$n/client.out"; return; }
	alive "$SRV_PID" || { fail $n "an old client ended the page server" "$OUT/$n/server.log"; return; }
	fake_server $n old || { fail $n "the fake server does not listen"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$FAKE_PORT" --token-file "$TOKEN"
	failed_cleanly $n "speaks protocol 1.0 and this ferry 2.0" "$T_PID" || return
	dump_ok $n "dump after the old peers failed" "$T_PID" "$SRV_PORT" --token-file "$TOKEN" || return
	stored_and_restored $n
}

# Clients that lie (a file shorter than announced, wrong totals, a path as a file name, a frame
# over the size limit, data before the handshake): each is told why, the server keeps nothing of
# theirs and goes on to store an honest client's image.
t_liar() {
	local n=liar c want
	begin $n || return 0
	server $n "$OUT/$n/srv" --insecure || { fail $n "page server does not listen"; return; }
	for c in short totals name huge early; do
		case $c in
		short) want="COMMIT of 5 bytes, 5 received \(10 announced\)" ;;
		totals) want="CLOSE says 2 files and 3 bytes were sent, 1 and 3 arrived" ;;
		name) want="refused file name '../../etc/x.img'" ;;
		huge) want="DATA of 9437184 bytes \(at most 8388608\)" ;;
		early) want="DATA frame of 1048576 bytes before the session is authenticated \(at most 4096\)" ;;
		esac
		python3 "$HERE/fakepeer.py" liar "$SRV_PORT" $c >"$OUT/$n/$c.out" 2>&1
		grep -Eq "^ERROR [0-9]+ .*$want" "$OUT/$n/$c.out" || { fail $n "$c: the liar is not told '$want'" "$OUT/$n/$c.out" "$OUT/$n/server.log"; return; }
		[ -z "$(ls -A "$OUT/$n/srv")" ] || { fail $n "$c: the server kept $(ls -A "$OUT/$n/srv")"; return; }
		alive "$SRV_PID" || { fail $n "$c: a lying client ended the page server" "$OUT/$n/server.log"; return; }
	done
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_ok $n "an honest dump after the liars failed" "$T_PID" "$SRV_PORT" || return
	stored_and_restored $n
}

# A server that drips its bytes, or takes the image and never answers: the dump fails within the
# frame deadline (FERRY_NET_TIMEOUT), naming the timeout, and the process runs on intact.
t_dead_server() {
	local n=dead-server m t0
	begin $n || return 0
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	for m in drip mute; do
		fake_server $n $m || { fail $n "the fake server ($m) does not listen"; return; }
		t0=$SECONDS
		FERRY_NET_TIMEOUT=3 dump_remote $n "$T_PID" "$FAKE_PORT"
		failed_cleanly $n "timed out after 3 s" "$T_PID" || { fail $n "(fake server: $m)"; return; }
		[ $((SECONDS - t0)) -le 30 ] || { fail $n "$m: the dump took $((SECONDS - t0)) s to give up"; return; }
	done
	grep -q "HELLO 2.0" "$OUT/$n/fake-mute.out" || { fail $n "the mute server never heard the dump" "$OUT/$n/fake-mute.out"; return; }
	kill -TERM "$T_PID"; wait_gone "$T_PID" 10
	[ "$(tail -n 1 "$OUT/$n/t/test.out")" = PASS ] && pass $n || fail $n "the process is not intact after the failed dumps" "$OUT/$n/t/test.out"
}

# server_unnamed: how many unnamed files (being received) the page server holds open
server_unnamed() { ls -l "/proc/$SRV_PID/fd" 2>/dev/null | grep -c '/#[0-9]* (deleted)'; }

# stalled_session NAME: a dump of T_PID through a stalling proxy, in the background (DUMP_PID), until
# the proxy holds it
DUMP_PID=""
stalled_session() {
	local n=$1 e=$((SECONDS + 30))
	proxy "$n" stall 3 || { fail "$n" "proxy does not listen" "$OUT/$n/proxy.log"; return 1; }
	timeout -k 2 60 "$FERRY" dump -t "$T_PID" -D "$OUT/$n/local" -v4 --page-server --address 127.0.0.1 \
		--port "$PX_PORT" --token-file "$TOKEN" </dev/null >"$OUT/$n/dump2.err" 2>&1 &
	DUMP_PID=$!
	while ! grep -q stalled "$OUT/$n/proxy.log"; do
		alive "$DUMP_PID" && [ $SECONDS -lt $e ] || { fail "$n" "the session never stalled" "$OUT/$n/proxy.log" "$OUT/$n/dump2.err"; return 1; }
		sleep 0.05
	done
	sleep 0.5	# the server has received what the proxy passed
}

# session_gone NAME WHAT: the stalled dump failed cleanly and left nothing on the server
session_gone() {
	local n=$1 rc
	wait "$DUMP_PID"; rc=$?
	[ $rc != 0 ] || { fail "$n" "$2: the stalled dump succeeded"; return 1; }
	alive "$T_PID" || { fail "$n" "$2: the dumped process died"; return 1; }
	[ ! -e "$OUT/$n/srv/inventory.img" ] || { fail "$n" "$2: inventory.img after the failed session"; return 1; }
	no_leftovers "$n" "$OUT/$n/srv" || return 1
}

# A new session moves the old inventory aside before anything arrives; a second session into the
# same directory is refused while the first runs; a session cut (proxy killed) or stopped (server
# SIGTERM) in the middle leaves no inventory and no temporaries; the next session stores an image.
t_session() {
	local n=session other e
	begin $n || return 0
	token $n
	server $n "$OUT/$n/srv" --token-file "$TOKEN" --forever || { fail $n "page server does not listen"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$SRV_PORT" --token-file "$TOKEN" -R
	[ $DUMP_RC = 0 ] && [ -e "$OUT/$n/srv/inventory.img" ] || { fail $n "first dump failed" "$OUT/$n/dump.err"; return; }
	stalled_session $n || return
	[ ! -e "$OUT/$n/srv/inventory.img" ] && [ -e "$OUT/$n/srv/inventory.img.old" ] ||
		{ fail $n "the old inventory was not moved aside: $(ls -A "$OUT/$n/srv" | tr '\n' ' ')"; return; }
	[ "$(server_unnamed)" -ge 1 ] || { fail $n "the server holds no unnamed file in flight"; return; }
	no_leftovers $n "$OUT/$n/srv" || return
	# a second session into the same directory is refused while this one runs
	sleep 600 & other=$!; PIDS+=("$other")
	dump_remote $n "$other" "$SRV_PORT" --token-file "$TOKEN"
	failed_cleanly $n "another session is writing an image into the directory" "$other" || return
	# the attacker (or the network) goes away mid-stream
	kill -KILL "$PX_PID"
	session_gone $n "proxy killed" || return
	e=$((SECONDS + 10))
	while [ "$(server_unnamed)" != 0 ] && [ $SECONDS -lt $e ]; do sleep 0.1; done
	[ "$(server_unnamed)" = 0 ] || { fail $n "the server still holds files of the cut session"; return; }
	# the server is stopped mid-stream
	stalled_session $n || return
	kill -TERM "$SRV_PID"
	server_done $n 0 || return
	kill -KILL "$PX_PID" 2>/dev/null
	session_gone $n "server stopped" || return
	grep -q "the page server is stopping" "$OUT/$n/server.log" || { fail $n "the stop is not logged" "$OUT/$n/server.log"; return; }
	# and the next session stores a whole image
	server $n "$OUT/$n/srv" --token-file "$TOKEN" || { fail $n "page server does not listen"; return; }
	dump_ok $n "dump after the failed sessions failed" "$T_PID" "$SRV_PORT" --token-file "$TOKEN" || return
	server_done $n 0 || return
	[ ! -e "$OUT/$n/srv/inventory.img.old" ] || { fail $n "inventory.img.old stays after a whole image"; return; }
	kill -KILL "$other"
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

t_export() {
	local n=export
	begin $n || return 0
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	timeout 60 "$FERRY" dump -t "$T_PID" -D "$OUT/$n/img" >"$OUT/$n/dump.err" 2>&1 || { fail $n "dump failed" "$OUT/$n/dump.err"; return; }
	"$FERRY" export "$OUT/$n/img" "$OUT/$n/img.ferry" >"$OUT/$n/export.err" 2>&1 || { fail $n "export failed" "$OUT/$n/export.err"; return; }
	# a truncated export is refused and leaves no inventory
	head -c $(($(stat -c %s "$OUT/$n/img.ferry") - 40)) "$OUT/$n/img.ferry" >"$OUT/$n/cut.ferry"
	if "$FERRY" import "$OUT/$n/cut.ferry" "$OUT/$n/cut" >"$OUT/$n/cut.err" 2>&1; then
		fail $n "import of a truncated export succeeded"; return
	fi
	grep -q truncated "$OUT/$n/cut.err" || { fail $n "no 'truncated' in the refusal" "$OUT/$n/cut.err"; return; }
	[ -z "$(ls -A "$OUT/$n/cut")" ] || { fail $n "a refused import left files: $(ls -A "$OUT/$n/cut")"; return; }
	# a flipped byte is refused
	cp "$OUT/$n/img.ferry" "$OUT/$n/flip.ferry"
	# inverted, not set: a byte that already was 0xff left the export intact
	b=$(od -An -tu1 -j5000 -N1 "$OUT/$n/flip.ferry" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 255)))" | dd of="$OUT/$n/flip.ferry" bs=1 seek=5000 conv=notrunc 2>/dev/null
	if "$FERRY" import "$OUT/$n/flip.ferry" "$OUT/$n/flip" >"$OUT/$n/flip.err" 2>&1; then
		fail $n "import of a corrupt export succeeded"; return
	fi
	[ ! -e "$OUT/$n/flip/inventory.img" ] || { fail $n "a corrupt import left inventory.img"; return; }
	# an export written by protocol 1 (same framing) still imports
	python3 "$HERE/wire.py" set-major "$OUT/$n/img.ferry" 1 "$OUT/$n/v1.ferry" || { fail $n "cannot make a 1.0 export"; return; }
	"$FERRY" import "$OUT/$n/v1.ferry" "$OUT/$n/v1" >"$OUT/$n/v1.err" 2>&1 || { fail $n "import of a 1.0 export failed" "$OUT/$n/v1.err"; return; }
	cmp -s "$OUT/$n/v1/inventory.img" "$OUT/$n/img/inventory.img" || { fail $n "the 1.0 export imported differently"; return; }
	"$FERRY" import "$OUT/$n/img.ferry" "$OUT/$n/in" >"$OUT/$n/import.err" 2>&1 || { fail $n "import failed" "$OUT/$n/import.err"; return; }
	check_restored $n "$OUT/$n/in" "$OUT/$n/t" "$T_PID" && pass $n
}

# restore --from-export: an encrypted, compressed image restored straight from its export file,
# received into memory (the image source of transport/src-stream.c): the export's directory is
# gone, nothing is written but the log and statistics into -W; a truncated export is refused
# before anything is created.
t_from_export() {
	local n=from-export key pid new
	begin $n || return 0
	key=$OUT/$n/key
	head -c 32 /dev/urandom >"$key"
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	pid=$T_PID
	timeout 60 "$FERRY" dump -t "$pid" -D "$OUT/$n/img" --compress zstd --encrypt-key "$key" >"$OUT/$n/dump.err" 2>&1 ||
		{ fail $n "dump failed" "$OUT/$n/dump.err"; return; }
	"$FERRY" export "$OUT/$n/img" "$OUT/$n/img.ferry" >"$OUT/$n/export.err" 2>&1 || { fail $n "export failed" "$OUT/$n/export.err"; return; }
	rm -rf "$OUT/$n/img"
	wait_gone "$pid" 5 || { fail $n "pid $pid still alive after the dump"; return; }
	wait "$pid" 2>/dev/null
	head -c $(($(stat -c %s "$OUT/$n/img.ferry") - 40)) "$OUT/$n/img.ferry" >"$OUT/$n/cut.ferry"
	if "$FERRY" restore --from-export "$OUT/$n/cut.ferry" --encrypt-key "$key" -d >"$OUT/$n/cut.err" 2>&1; then
		fail $n "restore from a truncated export succeeded"; return
	fi
	alive "$pid" && { fail $n "the refused restore left pid $pid"; return; }
	mkdir -p -m 700 "$OUT/$n/work"
	touch "$OUT/$n/stamp"
	timeout -k 2 30 "$FERRY" restore --from-export "$OUT/$n/img.ferry" --encrypt-key "$key" -W "$OUT/$n/work" -d -v4 \
		>"$OUT/$n/restore.err" 2>&1 || { fail $n "restore --from-export failed" "$OUT/$n/restore.err"; return; }
	PIDS+=("$pid")
	new=$(find "$OUT/$n" -newer "$OUT/$n/stamp" -type f ! -name restore.err ! -path "*/work/*" ! -path "*/t/*" | head -n 3)
	[ -z "$new" ] || { fail $n "files written outside -W: $new"; return; }
	[ -s "$OUT/$n/work/restore.log" ] && [ -s "$OUT/$n/work/stats-restore.img" ] ||
		{ fail $n "no restore.log or stats-restore.img in -W" "$OUT/$n/restore.err"; return; }
	kill -TERM "$pid"
	wait_gone "$pid" 10 || { kill -KILL "$pid"; fail $n "restored process did not exit on SIGTERM"; return; }
	[ "$(tail -n 1 "$OUT/$n/t/test.out")" = PASS ] || { fail $n "restored test did not PASS" "$OUT/$n/t/test.out"; return; }
	pass $n
}

[ -x "$FERRY" ] || { echo "FAIL transport: ferry not built ($FERRY)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP transport: needs root"; exit 0; }
mkdir -p "$OUT"
exec 2>>"$OUT/stderr.log"	# bash's notices about the processes a dump kills
t_defaults
t_loopback
t_netns
t_server_killed
t_corrupt
t_tamper
t_token
t_tls
t_oldpeer
t_liar
t_dead_server
t_session
t_flood
t_handshake_timeout
t_export
t_from_export
exit 0
