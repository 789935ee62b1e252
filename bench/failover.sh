#!/bin/bash
# failover.sh: VIP failover time of cmsd against keepalived, measured from a
# client on the same segment.  Root only; run by hand, not a CTest test.
#
#   bench/failover.sh [-B BUILD_DIR] [-n N] [-i SECONDS] [-T MS] [-q MODE]
#                     [-c "CASES"] [-f "FAULTS"] [-o DIR]
#
#   -B DIR     a build tree (cmsd, plugins, bench/failover_probe); default
#              ./build
#   -n N       trials per case and fault (default 10)
#   -i S       idle window for the RSS/CPU figures, per case (default 60;
#              0 skips)
#   -T MS      a trial with no reply from the new owner within MS ms after
#              the fault is a failed trial (default 10000)
#   -q MODE    cmsd's quorum: arbiter (default) or ping
#   -c CASES   among cmsd-default cmsd-fast ka-1 ka-0.1 (default all four)
#   -f FAULTS  among linkdown kill (default both, in that order)
#   -o DIR     keep configs, logs and per-trial results there (default a
#              temp dir, removed at exit)
#
# Cases:  cmsd-default  heartbeat 200 ms, deadtime 1 s, lease 1 s
#         cmsd-fast     heartbeat 100 ms, deadtime 300 ms, lease 300 ms
#         ka-1          keepalived VRRPv3, advert_int 1
#         ka-0.1        keepalived VRRPv3, advert_int 0.1
# Faults: linkdown      ip link set eth0 down in the master's namespace
#         kill          kill -9 of the master's agent (cmsd) or of its
#                       keepalived (parent and VRRP child)
#
# Topology (namespaces cmb<pid>-NAME, one segment, bridge br0 in -switch):
#   node1 10.77.0.1, node2 10.77.0.2 (MACs 02:00:77:00:00:0N, eth0 only),
#   arbiter 10.77.0.3, client 10.77.0.10, VIP 10.77.0.100/24,
#   ping targets 10.77.0.254 and .253 on the bridge.
# The nodes have one link each, as keepalived's VRRP has, so that a master
# whose eth0 goes down is cut off for both daemons alike.
#
# A trial: failover_probe in the client namespace asks "who has the VIP"
# every 10 ms, runs the fault itself after a random 300 ms + one timer
# period, and reports the time from the fault to the first ARP reply from
# the new master's MAC.  Then the bench restores (link up, or the VIP
# removed from the old node and its daemon restarted), waits for a steady
# pair whose master alone answers, and goes on.
set -uo pipefail
BENCH_HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/cluster/lib.sh
. "$BENCH_HERE/../tests/cluster/lib.sh"
# Our own names: the tests' sweep (cmsdt*) and ours (cmb*) never meet.
CL_P="cmb$$-"
CL_NAME=bench

build=./build n=10 idle=60 timeout=10000 qmode=arbiter out="" keep_out=0
cases="cmsd-default cmsd-fast ka-1 ka-0.1"
faults="linkdown kill"
VIP=10.77.0.100
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}

usage() {
	sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while getopts "B:n:i:T:q:c:f:o:h" c; do
	case $c in
	B) build=$OPTARG ;;
	n) n=$OPTARG ;;
	i) idle=$OPTARG ;;
	T) timeout=$OPTARG ;;
	q) qmode=$OPTARG ;;
	c) cases=$OPTARG ;;
	f) faults=$OPTARG ;;
	o) out=$OPTARG keep_out=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "failover.sh: unexpected argument \"$1\"" >&2 && usage; }
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "failover.sh: -n wants a count, not \"$n\"" >&2 && exit 2; }
[[ $idle =~ ^[0-9]+$ ]] || { echo "failover.sh: -i wants seconds, not \"$idle\"" >&2 && exit 2; }
[[ $timeout =~ ^[1-9][0-9]*$ ]] || { echo "failover.sh: -T wants ms, not \"$timeout\"" >&2 && exit 2; }
case $qmode in arbiter | ping) ;; *) echo "failover.sh: -q: \"$qmode\" is neither arbiter nor ping" >&2 && exit 2 ;; esac
for c in $cases; do
	case $c in cmsd-default | cmsd-fast | ka-1 | ka-0.1) ;;
	*) echo "failover.sh: -c: unknown case \"$c\"" >&2 && exit 2 ;; esac
done
for f in $faults; do
	case $f in linkdown | kill) ;;
	*) echo "failover.sh: -f: unknown fault \"$f\"" >&2 && exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "failover.sh: needs root (network namespaces)" >&2 && exit 2; }
build=$(cd "$build" 2>/dev/null && pwd) ||
	{ echo "failover.sh: -B: no build directory \"$build\"" >&2 && exit 2; }
export CMSD_BIN=$build/agent/cmsd CMSADM_BIN=$build/tools/cmsadm/cmsadm
export CMSD_PLUGIN_DIR=$build/plugins CMSD_BUILD_DIR=$build
PROBE=$build/bench/failover_probe
for f in "$CMSD_BIN" "$PROBE"; do
	[ -x "$f" ] || { echo "failover.sh: $f missing: build first (cmake --build $build)" >&2 && exit 2; }
done
for f in resource-vip resource-dummy quorum-cmsd quorum-ping; do
	[ -e "$CMSD_PLUGIN_DIR/$f.so" ] ||
		{ echo "failover.sh: $CMSD_PLUGIN_DIR/$f.so missing: build first" >&2 && exit 2; }
done
if [[ " $cases " == *" ka-"* ]] && ! [ -x "$KEEPALIVED" ]; then
	echo "failover.sh: $KEEPALIVED missing (apt-get install keepalived, or -c without ka-*)" >&2
	exit 2
fi

# ---------------------------------------------------------------- set-up

declare -A KA_PID=() # node -> keepalived's pid (its process group)

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	bench_down
	if [ "$keep_out" = 0 ] && [ -n "$CL_TMP" ] && [ -d "$CL_TMP" ]; then
		rm -rf "$CL_TMP"
	elif [ -n "$CL_TMP" ]; then
		echo "kept $CL_TMP" >&2
	fi
	exit "$rc"
}

# The harness exits on a failure; the bench wants to note it and go on
# (a failed restore rebuilds the case), so its cl_fail only tells.
cl_fail() {
	echo "bench: $*" >&2
	return 1
}

# Namespaces of bench runs killed before their trap ran: only the bench's.
cl_sweep_stale cmb
ip netns add "${CL_P}probe" 2>/dev/null ||
	{ echo "failover.sh: cannot create network namespaces here" >&2 && exit 2; }
ip netns del "${CL_P}probe"
if [ -n "$out" ]; then
	mkdir -p "$out" && CL_TMP=$(cd "$out" && pwd) || exit 2
else
	CL_TMP=$(mktemp -d /tmp/cmsd-bench.XXXXXX)
fi
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cl_tools
RESULTS=$CL_TMP/results
IDLE=$CL_TMP/idle
: >"$RESULTS"
: >"$IDLE"

bench_topo_up() {
	local sw t h
	sw=$(cl_ns switch)
	cl_mkns switch
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 \
		mcast_snooping 0
	ip -n "$sw" link set br0 up
	for t in $CL_TARGETS; do
		ip -n "$sw" addr add "$t/24" dev br0
	done
	for h in node1 node2 arbiter client; do
		cl_mkns "$h"
		cl_veth "$h" eth0 77 "$(cl_addr "$h")" br0
	done
}

bench_down() {
	local h
	for h in "${!KA_PID[@]}"; do
		ka_kill "$h"
	done
	KA_PID=()
	cl_topo_down
	CL_PID=()
}

# cl_start, and the agent out of the job table (see ka_start); cl_kill's
# wait then returns at once, the agent being dead by then.
bench_cmsd_start() { # host
	cl_start "$1" || return 1
	disown "${CL_PID[$1]}"
}

# ---------------------------------------------------------------- cmsd

cmsd_write_configs() {
	local nd d s=$CL_TMP/secrets
	cl_write_configs || return 1 # the arbiter's; the nodes' are redone
	for nd in node1 node2; do
		d=$CL_DIR/$nd
		cat >"$d/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="$nd">
  <paths state-dir="$d/state" log-file="$d/cmsd.log" control-socket="$d/cmsd.sock"/>
  <cluster id="c1">
    <key-file>$s/cluster.key</key-file>
    <tls ca="$s/ca.pem" cert="$s/$nd.pem" key="$s/$nd.key"/>
    <timers heartbeat-interval="${CL_HB_MS}ms" deadtime="${CL_DEADTIME_MS}ms" lease="${CL_LEASE_MS}ms"/>
    <node id="node1" name="$(cl_name node1)">
      <link address="$(cl_addr node1)"/>
      <control address="$(cl_addr node1)"/>
    </node>
    <node id="node2" name="$(cl_name node2)">
      <link address="$(cl_addr node2)"/>
      <control address="$(cl_addr node2)"/>
    </node>
  </cluster>
$(cl_quorum_xml)
  <group id="svc">
    <resource id="vip" plugin="resource-vip" monitor-interval="1s" start-timeout="5s">
      <address>$VIP/24</address>
      <interface>eth0</interface>
    </resource>
    <resource id="dummy" plugin="resource-dummy" monitor-interval="1s">
      <state-file>$d/dummy.running</state-file>
    </resource>
  </group>
</cmsd>
XML
	done
}

cmsd_up() { # case
	# ping mode: a cut-off master must stop serving before its peer
	# takes over, so the ping timeout stays below deadtime minus a
	# heartbeat (as in tests/cluster), and above the ping interval
	case $1 in
	cmsd-default)
		CL_HB_MS=200 CL_DEADTIME_MS=1000 CL_LEASE_MS=1000
		CL_PING_INTERVAL_MS=200 CL_PING_TIMEOUT_MS=600
		;;
	cmsd-fast)
		CL_HB_MS=100 CL_DEADTIME_MS=300 CL_LEASE_MS=300
		CL_PING_INTERVAL_MS=50 CL_PING_TIMEOUT_MS=150
		;;
	esac
	CL_MODE=$qmode
	cl_secrets || return 1
	cmsd_write_configs || return 1
	cl_check_configs || return 1
	bench_topo_up
	if [ "$qmode" = arbiter ]; then
		bench_cmsd_start arbiter || return 1
	fi
	bench_cmsd_start node1 || return 1
	bench_cmsd_start node2 || return 1
	bench_wait_steady 30000
}

cmsd_master() { # sets M (master) and S, or fails
	cl_is_steady || return 1
	M=$CL_M S=$CL_S
}

# ---------------------------------------------------------------- keepalived

ka_gen=0
ka_write_config() { # node state prio advert
	cat >"$CL_DIR/$1/keepalived.conf" <<EOF
global_defs {
    router_id bench_$1
    vrrp_version 3
}
vrrp_instance VI_1 {
    state $2
    interface eth0
    virtual_router_id 77
    priority $3
    advert_int $4
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
}
EOF
}

ka_start() { # node
	local h=$1 d=$CL_DIR/$1
	# Fresh pid files each start: keepalived refuses to start while the
	# pid in its pid file exists, and a SIGKILLed VRRP child may not be
	# reaped yet.
	ka_gen=$((ka_gen + 1))
	# setsid: keepalived (parent + VRRP child) is one process group, so
	# the kill fault takes both, as a crash of the service would.
	ip netns exec "$(cl_ns "$h")" setsid "$KEEPALIVED" -n -l -D -P \
		-f "$d/keepalived.conf" -p "$d/ka$ka_gen.pid" \
		-r "$d/ka$ka_gen.vrrp.pid" -c "$d/ka$ka_gen.chk.pid" \
		-b "$d/ka$ka_gen.bfd.pid" >>"$d/keepalived.log" 2>&1 &
	KA_PID[$h]=$!
	# out of the job table: its death by the kill fault is expected,
	# not news for the terminal
	disown "${KA_PID[$h]}"
}

ka_kill() { # node
	local pid=${KA_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -KILL -- "-$pid" 2>/dev/null
	# disowned: the shell reaps it on its own, wait(1) cannot
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	unset "KA_PID[$1]"
}

ka_up() { # case
	local adv=${1#ka-}
	CL_MODE=""
	CL_HB_MS=$(awk -v a="$adv" 'BEGIN{printf "%d", a * 1000}')
	mkdir -p "$CL_DIR/node1" "$CL_DIR/node2"
	# node1 preferred (preempts when back), so every trial faults node1
	ka_write_config node1 MASTER 150 "$adv"
	ka_write_config node2 BACKUP 100 "$adv"
	bench_topo_up
	ka_start node1
	ka_start node2
	bench_wait_steady 30000
}

# node1, the preferred one, holds the VIP, node2 does not.  After a fault
# node1 preempts node2 again once it is back (after its master-down
# interval when its link comes up): a trial taken before that would time
# node1's preemption, not a failover.
ka_master() {
	vip_on node1 && ! vip_on node2 || return 1
	M=node1 S=node2
}

# ---------------------------------------------------------------- common

vip_on() { # node: the VIP is configured on its eth0
	ip -n "$(cl_ns "$1")" -4 addr show dev eth0 2>/dev/null |
		grep -q " $VIP/"
}

# Exactly the master's MAC answers ARP for the VIP, over 200 ms.
vip_answered_by() { # node
	local who
	who=$("$PROBE" -n "$(cl_ns client)" -i eth0 -t "$VIP" -W 200 2>/dev/null) ||
		return 1
	[ "$(awk '{print $1}' <<<"$who")" = "$(cl_mac "$1" 77)" ]
}

steady() { # sets M and S
	M="" S=""
	case $CASE in
	cmsd-*) cmsd_master || return 1 ;;
	ka-*) ka_master || return 1 ;;
	esac
	vip_on "$M" && ! vip_on "$S" && vip_answered_by "$M"
}

bench_wait_steady() { # ms
	cl_wait "$1" steady && return 0
	echo "bench: [$CASE] no steady pair answering for the VIP within $1 ms" \
		"(node1: $(vip_on node1 && echo VIP) $([ "${CASE%%-*}" = cmsd ] && cl_role node1);" \
		"node2: $(vip_on node2 && echo VIP) $([ "${CASE%%-*}" = cmsd ] && cl_role node2))" >&2
	return 1
}

case_up() { # case
	CASE=$1
	CL_DIR=$CL_TMP/$CASE
	mkdir -p "$CL_DIR"
	case $CASE in
	cmsd-*) cmsd_up "$CASE" ;;
	ka-*) ka_up "$CASE" ;;
	esac
}

case_rebuild() {
	cl_log "rebuilding the $CASE cluster"
	bench_down
	CL_DIR=$CL_TMP/$CASE.$((++rebuilds))
	mkdir -p "$CL_DIR"
	case $CASE in
	cmsd-*) cmsd_up "$CASE" ;;
	ka-*) ka_up "$CASE" ;;
	esac
}

# Sum over the processes in a node's namespace (the daemon and its
# children): RSS in KiB, CPU (user + system) in clock ticks.
ns_rss_kib() {
	local p s=0 v
	for p in $(ip netns pids "$(cl_ns "$1")" 2>/dev/null); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

ns_cpu_ticks() {
	local p s=0 v
	for p in $(ip netns pids "$(cl_ns "$1")" 2>/dev/null); do
		# fields after the "(comm)", which may hold spaces: utime and
		# stime are the 12th and 13th
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
			awk '{print $12 + $13}')
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

measure_idle() {
	local hosts="$M $S" h hz t0 t1 rss
	declare -A c0=()
	[ "$idle" -gt 0 ] || return 0
	[[ $CASE == cmsd-* && $qmode == arbiter ]] && hosts="$hosts arbiter"
	hz=$(getconf CLK_TCK)
	for h in $hosts; do c0[$h]=$(ns_cpu_ticks "$h"); done
	t0=$(cl_now)
	cl_log "idle for $idle s (RSS, CPU)"
	sleep "$idle"
	t1=$(cl_now)
	for h in $hosts; do
		rss=$(ns_rss_kib "$h")
		local role=master
		[ "$h" = "$S" ] && role=slave
		[ "$h" = arbiter ] && role=arbiter
		awk -v c="$CASE" -v r="$role" -v rss="$rss" \
			-v d="$(($(ns_cpu_ticks "$h") - c0[$h]))" -v hz="$hz" \
			-v ms="$((t1 - t0))" 'BEGIN {
			cpu = d * 1000 / hz
			printf "IDLE case=%s role=%s rss_kib=%d cpu_ms=%d window_s=%.0f cpu_pct=%.2f\n",
				c, r, rss, cpu, ms / 1000, 100 * cpu / ms }' |
			tee -a "$IDLE"
	done
}

fault_cmd() { # fault: the command for failover_probe, on the master M
	case $1 in
	linkdown) echo ip -n "$(cl_ns "$M")" link set eth0 down ;;
	kill)
		case $CASE in
		cmsd-*) echo kill -KILL "${CL_PID[$M]}" ;;
		# the whole group: the parent and its VRRP child
		ka-*) echo kill -KILL -- "-${KA_PID[$M]}" ;;
		esac
		;;
	esac
}

restore() { # fault: undo it on M, wait for a steady pair
	local ns
	ns=$(cl_ns "$M")
	case $1 in
	linkdown) ip -n "$ns" link set eth0 up ;;
	kill)
		case $CASE in
		cmsd-*) cl_kill "$M" ;; # reaps it
		ka-*) ka_kill "$M" ;;
		esac
		# a killed daemon leaves its VIP behind (unless a guardian
		# removed it): the operator's part of a restart
		ip -n "$ns" addr del "$VIP/24" dev eth0 2>/dev/null
		case $CASE in
		cmsd-*) bench_cmsd_start "$M" || return 1 ;;
		ka-*) ka_start "$M" ;;
		esac
		;;
	esac
	bench_wait_steady 30000 || return 1
	sleep 1 # announcement bursts over, timers in phase again
}

trial() { # fault i
	local f=$1 i=$2 warm line st
	steady || { bench_wait_steady 30000 || return 1; }
	# the fault lands at a random phase of the heartbeat/advert period
	warm=$((300 + RANDOM % CL_HB_MS))
	# shellcheck disable=SC2046
	line=$("$PROBE" -n "$(cl_ns client)" -i eth0 -t "$VIP" \
		-m "$(cl_mac "$S" 77)" -I 10 -w "$warm" -T "$timeout" \
		-- $(fault_cmd "$f"))
	st=$?
	[ -n "$line" ] || line="RESULT status=error rc=$st"
	echo "TRIAL case=$CASE fault=$f i=$i master=$M new=$S $line" |
		tee -a "$RESULTS"
	case $line in
	*status=nopre*) return 0 ;; # the fault was not run
	esac
	restore "$f"
}

stats() { # numbers on stdin -> "min median max" or "- - -"
	sort -n | awk '{v[NR] = $1} END {
		if (!NR) { print "- - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f %.0f %.0f\n", v[1], m, v[NR] }'
}

# ---------------------------------------------------------------- run

rebuilds=0
cl_log "cases: $cases; faults: $faults; $n trials each; quorum $qmode; dir $CL_TMP"
for CASE in $cases; do
	if ! case_up "$CASE"; then
		echo "TRIAL case=$CASE fault=- i=0 RESULT status=setupfail" | tee -a "$RESULTS"
		bench_down
		continue
	fi
	steady
	cl_log "steady: master $M"
	measure_idle
	for f in $faults; do
		for i in $(seq "$n"); do
			trial "$f" "$i" && continue
			case_rebuild || break 2
		done
	done
	bench_down
done

# ---------------------------------------------------------------- summary

summary() {
	local c f ok all s
	printf '\n%-13s %-9s %7s %22s %22s\n' case fault ok/n \
		"arp_ms min/med/max" "old_after (median)"
	for c in $cases; do
		for f in $faults; do
			all=$(grep -c "^TRIAL case=$c fault=$f " "$RESULTS")
			ok=$(grep -c "^TRIAL case=$c fault=$f .*status=ok" "$RESULTS")
			s=$(grep "^TRIAL case=$c fault=$f .*status=ok" "$RESULTS" |
				sed -n 's/.* arp_ms=\([0-9.]*\).*/\1/p' | stats)
			printf '%-13s %-9s %7s %22s %22s\n' "$c" "$f" "$ok/$all" \
				"$(tr ' ' / <<<"$s")" \
				"$(grep "^TRIAL case=$c fault=$f .*status=ok" "$RESULTS" |
					sed -n 's/.* old_after=\([0-9]*\).*/\1/p' | stats |
					awk '{print $2}')"
		done
	done
}

median_of() { # case fault
	grep "^TRIAL case=$1 fault=$2 .*status=ok" "$RESULTS" |
		sed -n 's/.* arp_ms=\([0-9.]*\).*/\1/p' | stats | awk '{print $2}'
}

ratios() {
	local a b f ca cb
	echo
	echo "ratio of medians, cmsd / keepalived (below 1: cmsd faster)"
	for pair in "cmsd-default ka-1" "cmsd-fast ka-0.1"; do
		read -r a b <<<"$pair"
		[[ " $cases " == *" $a "* && " $cases " == *" $b "* ]] || continue
		for f in $faults; do
			ca=$(median_of "$a" "$f")
			cb=$(median_of "$b" "$f")
			if [[ $ca == - || $cb == - || -z $ca || -z $cb ]]; then
				printf '%-13s / %-7s %-9s %s\n' "$a" "$b" "$f" "n/a (no successful trials on one side)"
			else
				awk -v a="$ca" -v b="$cb" -v x="$a" -v y="$b" -v f="$f" \
					'BEGIN { printf "%-13s / %-7s %-9s %.2f  (%.0f / %.0f ms)\n", x, y, f, a / b, a, b }'
			fi
		done
	done
}

{
	summary
	ratios
	if [ -s "$IDLE" ]; then
		echo
		echo "idle over ${idle} s (sum over the processes in the node's namespace)"
		printf '%-13s %-8s %9s %9s %8s\n' case role rss_kib cpu_ms cpu_pct
		sed 's/[a-z_]*=//g' "$IDLE" | awk '{printf "%-13s %-8s %9s %9s %8s\n", $2, $3, $4, $5, $7}'
	fi
	echo
	echo "status: ok = the new master's MAC answered; timeout = not within ${timeout} ms"
	echo "(failed trial); faultfail = the fault command failed; nopre = nobody"
	echo "answered before the fault (not run).  Per trial: $RESULTS"
} | tee "$CL_TMP/summary"
