#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Page server, TLS, tokens, export/import: end-to-end tests of src/transport.
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
port() { echo $((20000 + RANDOM % 20000)); }

# listening PORT [NETNS]: 0 once something listens on PORT
listening() {
	local e=$((SECONDS + 10)) run=()
	[ -n "${2:-}" ] && run=(ip netns exec "$2")
	while ! "${run[@]}" ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; do
		[ $SECONDS -ge $e ] && return 1
		sleep 0.05
	done
}

# server NAME PORT DIR [ARGS…]: starts a page server (SRV_PID), its log in OUT/NAME/server.log
SRV_PID=""
server() {
	local n=$1 p=$2 d=$3
	shift 3
	"$FERRY" page-server --address 127.0.0.1 --port "$p" -D "$d" -v4 "$@" \
		</dev/null >"$OUT/$n/server.log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	listening "$p"
}

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

t_loopback() {
	local n=loopback p; p=$(port)
	begin $n || return 0
	server $n "$p" "$OUT/$n/srv" || { fail $n "page server does not listen" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start" "$OUT/$n/t/test.out"; return; }
	dump_remote $n "$T_PID" "$p"
	[ $DUMP_RC = 0 ] || { fail $n "dump exited with $DUMP_RC" "$OUT/$n/dump.err"; return; }
	wait "$SRV_PID"; local rc=$?
	[ $rc = 0 ] || { fail $n "page server exited with $rc" "$OUT/$n/server.log"; return; }
	# locally: the log and the image's metadata (the next dump of a chain reads it), no page data
	local extra; extra=$(ls "$OUT/$n/local" | grep '^pages-')
	[ -z "$extra" ] || { fail $n "page data was written locally: $extra"; return; }
	[ -e "$OUT/$n/local/pagemap-$T_PID.img" ] || { fail $n "no local copy of the image's metadata"; return; }
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
}

t_netns() {
	local n=netns p=7000 ok=1
	begin $n || return 0
	command -v ip >/dev/null || { no_tool $n "ip (iproute2) not installed"; return; }
	ip netns add "$NS_A" && ip netns add "$NS_B" &&
		ip link add "vtp$$a" type veth peer name "vtp$$b" &&
		ip link set "vtp$$a" netns "$NS_A" && ip link set "vtp$$b" netns "$NS_B" &&
		ip -n "$NS_A" addr add 10.213.7.1/24 dev "vtp$$a" && ip -n "$NS_B" addr add 10.213.7.2/24 dev "vtp$$b" &&
		ip -n "$NS_A" link set "vtp$$a" up && ip -n "$NS_B" link set "vtp$$b" up &&
		ip -n "$NS_A" link set lo up || ok=0
	[ $ok = 1 ] || { skip $n "cannot create network namespaces with a veth pair"; return; }
	nsenter --net="/run/netns/$NS_A" "$FERRY" page-server --address 10.213.7.1 --port $p \
		-D "$OUT/$n/srv" -v4 </dev/null >"$OUT/$n/server.log" 2>&1 &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	listening $p "$NS_A" || { fail $n "page server does not listen in $NS_A" "$OUT/$n/server.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	nsenter --net="/run/netns/$NS_B" timeout -k 2 60 "$FERRY" dump -t "$T_PID" -D "$OUT/$n/local" -v4 \
		--page-server --address 10.213.7.1 --port $p </dev/null >"$OUT/$n/dump.err" 2>&1
	local rc=$?
	[ $rc = 0 ] || { fail $n "dump from $NS_B exited with $rc" "$OUT/$n/dump.err"; return; }
	wait "$SRV_PID" || { fail $n "page server failed" "$OUT/$n/server.log"; return; }
	check_restored $n "$OUT/$n/srv" "$OUT/$n/t" "$T_PID" && pass $n
	ip netns del "$NS_A"; ip netns del "$NS_B"
}

# the dump failed as it should: message, process alive, no inventory on the server
failed_cleanly() {
	local n=$1 want=$2 pid=$3
	[ $DUMP_RC != 0 ] || { fail "$n" "dump succeeded"; return 1; }
	grep -Eq -- "$want" "$OUT/$n/dump.err" || { fail "$n" "no message matching '$want'" "$OUT/$n/dump.err"; return 1; }
	alive "$pid" || { fail "$n" "the dumped process died"; return 1; }
	[ ! -e "$OUT/$n/srv/inventory.img" ] || { fail "$n" "the server kept inventory.img"; return 1; }
}

t_server_killed() {
	local n=server-killed p mp; p=$(port)
	begin $n || return 0
	[ -x "$MEMHOG" ] || { fail $n "$MEMHOG is not built (run make)"; return; }
	server $n "$p" "$OUT/$n/srv" || { fail $n "page server does not listen"; return; }
	"$MEMHOG" 256 "$OUT/$n/ready" </dev/null >/dev/null 2>&1 &
	mp=$!; PIDS+=("$mp")
	local e=$((SECONDS + 20))
	while [ ! -e "$OUT/$n/ready" ] && [ $SECONDS -lt $e ]; do sleep 0.05; done
	# stop the server as soon as it writes the page store (a busy wait: the transfer is fast), then kill it
	( e=$((SECONDS + 30)); while [ ! -e "$OUT/$n/srv/.pages-$mp.img.part" ] && [ $SECONDS -lt $e ]; do :; done
	  kill -STOP "$SRV_PID"; sleep 0.3; kill -KILL "$SRV_PID" ) &
	local killer=$!
	dump_remote $n "$mp" "$p"
	kill "$killer" 2>/dev/null
	failed_cleanly $n "page server 127.0.0.1:$p: .*(connection|closed|reset)" "$mp" || { kill -KILL "$mp"; return; }
	kill -TERM "$mp"; wait "$mp"
	grep -q '^OK' "$OUT/$n/ready.result" || { fail $n "memhog's own check failed after the failed dump" "$OUT/$n/ready.result"; return; }
	pass $n
}

t_corrupt() {
	local n=corrupt p q; p=$(port); q=$((p + 1))
	begin $n || return 0
	server $n "$p" "$OUT/$n/srv" || { fail $n "page server does not listen"; return; }
	python3 "$ROOT/tests/transport/flip-proxy.py" "$q" "$p" 300000 >"$OUT/$n/proxy.log" 2>&1 &
	PIDS+=("$!")
	listening "$q" || { fail $n "proxy does not listen" "$OUT/$n/proxy.log"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$q"
	failed_cleanly $n "checksum mismatch|bad frame" "$T_PID" || return
	wait "$SRV_PID"; local rc=$?
	[ $rc = 1 ] || { fail $n "page server exited with $rc, not 1" "$OUT/$n/server.log"; return; }
	grep -q "checksum mismatch" "$OUT/$n/server.log" || { fail $n "server log does not name the checksum" "$OUT/$n/server.log"; return; }
	kill -TERM "$T_PID"; wait_gone "$T_PID" 5
	[ "$(tail -n 1 "$OUT/$n/t/test.out")" = PASS ] && pass $n || fail $n "test did not PASS after the failed dump" "$OUT/$n/t/test.out"
}

t_token() {
	local n=token p; p=$(port)
	begin $n || return 0
	echo "right-token-$$" >"$OUT/$n/good"; echo "wrong-token" >"$OUT/$n/bad"
	server $n "$p" "$OUT/$n/srv" --token-file "$OUT/$n/good" || { fail $n "page server does not listen"; return; }
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	dump_remote $n "$T_PID" "$p" --token-file "$OUT/$n/bad"
	failed_cleanly $n "authentication failed" "$T_PID" || return
	wait "$SRV_PID"; [ $? = 1 ] || { fail $n "page server did not exit 1 after a wrong token"; return; }
	grep -qs "right-token" "$OUT/$n/server.log" "$OUT/$n/dump.err" "$OUT/$n/local/dump.log" && { fail $n "the token appears in a log"; return; }
	server $n "$p" "$OUT/$n/srv" --token-file "$OUT/$n/good" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$p" --token-file "$OUT/$n/good"
	[ $DUMP_RC = 0 ] || { fail $n "dump with the right token failed" "$OUT/$n/dump.err"; return; }
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
	local n=tls p d; p=$(port); d=$OUT/tls/pki
	begin $n || return 0
	command -v openssl >/dev/null || { no_tool $n "openssl not installed"; return; }
	mkdir -p "$d"; certs "$d" >"$OUT/$n/openssl.log" 2>&1 || { fail $n "openssl could not make certificates" "$OUT/$n/openssl.log"; return; }
	local S=(--tls-cert "$d/server.pem" --tls-key "$d/server.key")
	zdtm $n anon_mem "$OUT/$n/t" || { fail $n "anon_mem did not start"; return; }
	# a client trusting another CA refuses the server
	server $n "$p" "$OUT/$n/srv" "${S[@]}" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$p" --tls-cacert "$d/other.pem"
	failed_cleanly $n "certificate verification failed" "$T_PID" || return
	wait "$SRV_PID"
	# mutual TLS: a client without a certificate is refused
	server $n "$p" "$OUT/$n/srv" "${S[@]}" --tls-cacert "$d/ca.pem" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$p" --tls-cacert "$d/ca.pem"
	failed_cleanly $n "TLS" "$T_PID" || return
	wait "$SRV_PID"
	# mutual TLS with the right certificates: a whole image
	server $n "$p" "$OUT/$n/srv" "${S[@]}" --tls-cacert "$d/ca.pem" || { fail $n "page server does not listen"; return; }
	dump_remote $n "$T_PID" "$p" --tls-cacert "$d/ca.pem" --tls-cert "$d/client.pem" --tls-key "$d/client.key"
	[ $DUMP_RC = 0 ] || { fail $n "dump over mutual TLS failed" "$OUT/$n/dump.err" "$OUT/$n/server.log"; return; }
	wait "$SRV_PID" || { fail $n "page server failed" "$OUT/$n/server.log"; return; }
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
	printf '\xff' | dd of="$OUT/$n/flip.ferry" bs=1 seek=5000 conv=notrunc 2>/dev/null
	if "$FERRY" import "$OUT/$n/flip.ferry" "$OUT/$n/flip" >"$OUT/$n/flip.err" 2>&1; then
		fail $n "import of a corrupt export succeeded"; return
	fi
	[ ! -e "$OUT/$n/flip/inventory.img" ] || { fail $n "a corrupt import left inventory.img"; return; }
	"$FERRY" import "$OUT/$n/img.ferry" "$OUT/$n/in" >"$OUT/$n/import.err" 2>&1 || { fail $n "import failed" "$OUT/$n/import.err"; return; }
	check_restored $n "$OUT/$n/in" "$OUT/$n/t" "$T_PID" && pass $n
}

[ -x "$FERRY" ] || { echo "FAIL transport: ferry not built ($FERRY)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP transport: needs root"; exit 0; }
mkdir -p "$OUT"
exec 2>>"$OUT/stderr.log"	# bash's notices about the processes a dump kills
t_loopback
t_netns
t_server_killed
t_corrupt
t_token
t_tls
t_export
exit 0
