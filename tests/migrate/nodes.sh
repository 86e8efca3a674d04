# SPDX-License-Identifier: Apache-2.0
# Simulated hosts for migration tests (sourced): a node is a network, PID and mount namespace with
# its own /proc, held by a PID 1 of its own; two nodes are joined by a veth pair. Every node this
# shell creates is removed by node_destroy_all (call it from an EXIT trap).
#
#   node_create NAME ADDR/PREFIX     sets NODE_PID[NAME] (the node's PID 1, as this host sees it)
#   node_link A B                    a veth pair between A and B (addresses as given to node_create)
#   node_exec NAME CMD...            runs CMD inside the node (its /proc, its PIDs, its network)
#   node_spawn NAME CMD...           the same in the background
#   node_alive NAME PID              0 if PID (as the node sees it) is a live, non-zombie process there
#   node_state NAME PID              its state letter (R, S, T, Z...) there, or nothing
#   node_destroy_all

declare -A NODE_PID NODE_ADDR
NODE_LIST=()

node_create() {
	local name=$1 addr=$2 pid
	unshare --net --pid --mount --fork --mount-proc --propagation private \
		bash -c 'trap "exit 0" TERM; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
	pid=$!
	local e=$((SECONDS + 10)) child=""
	while [ -z "$child" ]; do
		child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{print $1}')
		[ $SECONDS -ge $e ] && return 1
		[ -z "$child" ] && sleep 0.05
	done
	NODE_PID[$name]=$child
	NODE_ADDR[$name]=$addr
	NODE_LIST+=("$child" "$pid")	# its PID 1 first: killing it kills the whole node
	nsenter -t "$child" --net ip link set lo up
}

node_link() {
	local a=$1 b=$2 ia="mv${RANDOM}a" ib="mv${RANDOM}b"
	ip link add "$ia" type veth peer name "$ib" || return 1
	ip link set "$ia" netns "${NODE_PID[$a]}" || return 1
	ip link set "$ib" netns "${NODE_PID[$b]}" || return 1
	nsenter -t "${NODE_PID[$a]}" --net sh -c "ip addr add ${NODE_ADDR[$a]} dev $ia && ip link set $ia up" || return 1
	nsenter -t "${NODE_PID[$b]}" --net sh -c "ip addr add ${NODE_ADDR[$b]} dev $ib && ip link set $ib up" || return 1
}

# Descriptors this shell holds (beyond stdio) would leak into the node's processes, opened
# through the host's mounts: a node's process must open its files through its own.
node_close_fds() {
	local fd
	for fd in $(ls "/proc/$BASHPID/fd"); do
		[ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"
	done
	return 0
}

node_exec() {
	local name=$1
	shift
	node_close_fds
	nsenter -t "${NODE_PID[$name]}" --net --pid --mount -- "$@"
}

# node_spawn NAME CMD...: CMD in the background, in the node, with no shell of ours waiting for it
# (so its death by a signal is nobody's news); $! is its nsenter.
node_spawn() {
	local name=$1
	shift
	(node_close_fds; exec nsenter -t "${NODE_PID[$name]}" --net --pid --mount -- "$@") &
}

node_state() {
	node_exec "$1" awk '{print $3}' "/proc/$2/stat" 2>/dev/null
}

node_alive() {
	local s
	s=$(node_state "$1" "$2")
	[ -n "$s" ] && [ "$s" != Z ]
}

node_destroy_all() {
	local p
	for p in "${NODE_LIST[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true	# its status is the KILL: not a failure under set -e (scripts/demo.sh)
	done
	NODE_LIST=()
}
