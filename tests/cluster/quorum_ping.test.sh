#!/bin/sh
# quorum-ping with real ICMP between namespaces made here: A runs the plugin
# (tests/unit/test_quorum_ping.c through the agent's instance API), B
# answers, C holds a target that ignores echo requests and forges replies.
# The driver takes B's link or address away and back and checks the vote,
# monitor and events; see the comment at the top of the driver.
# Needs root (network namespaces): exits 77 (skip) otherwise.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root to make network namespaces"
	exit 77
fi
command -v ip >/dev/null 2>&1 || { echo "SKIP: no ip(8)"; exit 77; }
drv="${CMSD_BUILD_DIR:?}/tests/test_quorum_ping"
[ -x "$drv" ] || { echo "FAIL: $drv is not built" >&2; exit 1; }

A="cmsd-qpa-$$" B="cmsd-qpb-$$" C="cmsd-qpc-$$"
dpid=""
cleanup() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		# The driver has its own process group (setsid); the test
		# cases Check forks (own groups) and their forger children
		# die with their parents (PR_SET_PDEATHSIG).
		kill -KILL -- "-$dpid" 2>/dev/null || kill -KILL "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	for ns in "$A" "$B" "$C"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$A"
ip netns add "$B"
ip netns add "$C"
for ns in "$A" "$B" "$C"; do
	ip -n "$ns" link set lo up
done
# Links are made inside A, so their names cannot clash with anyone's.
ip -n "$A" link add toB type veth peer name toA netns "$B"
ip -n "$A" link add toC type veth peer name toA netns "$C"
ip -n "$A" addr add 10.201.1.1/24 dev toB
ip -n "$A" addr add fd00:201:1::1/64 dev toB nodad
ip -n "$A" addr add 10.201.2.1/24 dev toC
ip -n "$A" addr add fd00:201:2::1/64 dev toC nodad
ip -n "$B" addr add 10.201.1.2/24 dev toA
ip -n "$B" addr add fd00:201:1::2/64 dev toA nodad
ip -n "$C" addr add 10.201.2.3/24 dev toA
ip -n "$C" addr add 10.201.2.4/24 dev toA
ip -n "$C" addr add fd00:201:2::3/64 dev toA nodad
ip -n "$C" addr add fd00:201:2::4/64 dev toA nodad
ip -n "$A" link set toB up
ip -n "$A" link set toC up
ip -n "$B" link set toA up
ip -n "$C" link set toA up
# C's target stays silent; the forger's raw socket still sees the probes.
ip netns exec "$C" sh -c 'echo 1 >/proc/sys/net/ipv4/icmp_echo_ignore_all &&
	echo 1 >/proc/sys/net/ipv6/icmp/echo_ignore_all'

rc=0
QP_NS_B="$B" QP_NS_C="$C" QP_IF_B=toA CK_VERBOSITY=normal \
	setsid ip netns exec "$A" "$drv" &
dpid=$!
wait "$dpid" || rc=$?
dpid=""
[ "$rc" = 0 ] || { echo "FAIL: driver exited $rc" >&2; exit 1; }
echo "PASS"
