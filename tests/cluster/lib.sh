# tests/cluster/lib.sh: sourced by the cluster scenario tests (not a test).
#
# Builds a private two-node cluster out of network namespaces, runs the real
# agents in it, injects faults and watches the roles with the sampler.
# Every name carries this shell's PID, so parallel runs do not clash, and
# everything is undone at exit (trap EXIT INT TERM), also half-way through.
#
# Topology (namespaces ${CL_P}NAME, CL_P="cmsdt<pid>-"; the root namespace
# is not touched, so no test traffic can leave the machine):
#
#   node1   eth0 10.77.0.1  02:00:77:00:00:01   eth1 10.78.0.1  02:00:78:00:00:01
#   node2   eth0 10.77.0.2  02:00:77:00:00:02   eth1 10.78.0.2  02:00:78:00:00:02
#   arbiter eth0 10.77.0.3  (arbiter mode only)
#   client  eth0 10.77.0.10
#   switch  br0: main network 10.77.0.0/24, holds the ping targets
#                10.77.0.254 ("gateway") and 10.77.0.253 ("switch")
#           br1: dedicated heartbeat network 10.78.0.0/24 (nodes only)
#
# Use:
#   . "$(dirname "$0")/lib.sh"
#   cl_init NAME                  root and namespaces, or exit 77 (skip)
#   scenario() { ...; }           runs with $CL_MODE, $CL_M (master), $CL_S
#   cl_run_modes scenario         for each of $CLUSTER_MODES (arbiter ping):
#                                 fresh topology, agents, steady state,
#                                 sampler; then the scenario; then teardown
#   cl_services_up/_down()        optional: a scenario's own services (see
#                                 "Hooks" below); cl_tool NAME [-lLIB]: a
#                                 tool of its own, built or compiled here
#
# Environment: CMSD_BIN CMSADM_BIN CMSD_PLUGIN_DIR (set by ctest),
#   CMSD_BUILD_DIR (finds the built sampler/netprobe, else cc builds them),
#   CLUSTER_MODES (default "arbiter ping"), CLUSTER_SLACK_MS (default 1000:
#   added to every time bound, for loaded machines and sanitizer builds),
#   CLUSTER_KEEP=1 (keep the temp dir of a failed run).
#
# Every scenario prints one line per mode for stress.sh:
#   RESULT scenario=NAME mode=MODE status=pass|fail time_ms=N dual_master=N
#          dual_serving=N

export LC_ALL=C
CL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CL_P="cmsdt$$-"
CL_NAME=""
CL_TMP=""
CL_MODE=""
CL_DIR="" # per-mode directory under CL_TMP
CL_M=""
CL_S=""
CL_SAMPLER_PID=""
CL_SAMPLES=""
CL_NS_MADE=""
CL_RESULT_TIME=-1
CL_RESULT_DUAL_MASTER=0
CL_RESULT_DUAL_SERVING=0
declare -A CL_PID=()
CL_BG_PIDS="" # other processes of the test (fake servers), killed at exit

# The cluster's timers, as written into the configs; bounds derive from them.
CL_HB_MS=200
CL_DEADTIME_MS=1000
CL_LEASE_MS=1000
CL_PING_INTERVAL_MS=200
# Below deadtime minus an interval: in ping mode a master cut off from its
# targets must stop serving before its peer (deadtime) takes over.
CL_PING_TIMEOUT_MS=600
# Group start of three resource-dummy resources, a vote round trip, and the
# sampler's 20 ms resolution.
CL_MARGIN_MS=500
CL_SLACK_MS=${CLUSTER_SLACK_MS:-1000}
# Extra attributes of every group resource (a scenario sets it before
# cl_run_modes), e.g. 'max-restarts="1"'.
CL_RES_ATTRS=${CL_RES_ATTRS:-}
# Time the group takes to start beyond resource-dummy's, added to the bound
# of the first steady state (a scenario with a real database sets it).
CL_GROUP_START_MS=${CL_GROUP_START_MS:-0}
# Shell commands run at exit before the namespaces go (a scenario's own
# clean-up: loop devices, say); evaluated with errors ignored.
CL_CLEANUP_CMDS=""

CL_NET=10.77.0
CL_HBNET=10.78.0
CL_TARGETS="10.77.0.254 10.77.0.253"
CL_ARBITER_ADDR=10.77.0.3

# ---------------------------------------------------------------- basics

cl_now() { # wall clock in ms, the sampler's clock
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

cl_sleep_ms() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

cl_log() {
	printf '[%s %s%s] %s\n' "$(date +%T.%3N)" "$CL_NAME" \
		"${CL_MODE:+/$CL_MODE}" "$*"
}

cl_ns() { echo "${CL_P}$1"; }

cl_num() { # node1 -> 1, node2 -> 2, arbiter -> 3, client -> 10
	case $1 in
	node1) echo 1 ;;
	node2) echo 2 ;;
	arbiter) echo 3 ;;
	client) echo 10 ;;
	*) echo "cl_num: unknown host $1" >&2 && return 1 ;;
	esac
}

cl_addr() { echo "$CL_NET.$(cl_num "$1")"; }
cl_hbaddr() { echo "$CL_HBNET.$(cl_num "$1")"; }
cl_name() { # the host name in status: node1 -> cvknode1, arbiter -> cvknode3
	echo "cvknode$(cl_num "$1")"
}
cl_peer() { [ "$1" = node1 ] && echo node2 || echo node1; }
cl_mac() { # host, net (77 main, 78 heartbeat)
	printf '02:00:%s:00:00:%02x' "$2" "$(cl_num "$1")"
}
cl_sock() { echo "$CL_DIR/$1/cmsd.sock"; }

cl_skip() {
	echo "SKIP: $*"
	exit 77
}

# Prints what explains a failure: roles, status, the role changes the
# sampler saw and the agents' logs.
cl_diagnose() {
	local n f
	[ -n "$CL_DIR" ] || return 0
	echo "--- diagnostics ($CL_MODE mode, master was ${CL_M:-?})" >&2
	for n in node1 node2; do
		[ -S "$(cl_sock "$n")" ] || continue
		echo "--- $n role: $(cl_role "$n")" >&2
		[ -z "${CMSADM_BIN:-}" ] ||
			"$CMSADM_BIN" -s "$(cl_sock "$n")" status >&2 2>&1 || true
	done
	if [ -n "$CL_SAMPLES" ] && [ -s "$CL_SAMPLES" ]; then
		echo "--- role changes seen by the sampler (t_ms node role epoch serving):" >&2
		awk '{k=$3" "$4" "$5} last[$2]!=k {print; last[$2]=k}' \
			"$CL_SAMPLES" | tail -n 40 >&2
	fi
	for n in node1 node2 arbiter; do
		f=$CL_DIR/$n/cmsd.log
		if [ -s "$f" ]; then
			echo "--- $f (last 40 lines):" >&2
			tail -n 40 "$f" >&2
		fi
		# stdout repeats the log; what else is there (sanitizer
		# reports, crashes) is what matters
		f=$CL_DIR/$n/stdout
		if [ -s "$f" ] && grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$f"; then
			echo "--- $f (not log lines, last 40):" >&2
			grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$f" | tail -n 40 >&2
		fi
	done
}

cl_result() { # status
	echo "RESULT scenario=$CL_NAME mode=$CL_MODE status=$1" \
		"time_ms=$CL_RESULT_TIME dual_master=$CL_RESULT_DUAL_MASTER" \
		"dual_serving=$CL_RESULT_DUAL_SERVING"
}

cl_fail() {
	local facts
	echo "FAIL: [$CL_NAME/$CL_MODE] $*" >&2
	cl_diagnose || true
	# the whole run's dual rounds, for stress.sh (a ping-mode partition's
	# expected ones included)
	if [ -n "$CL_SAMPLES" ] && [ -s "$CL_SAMPLES" ] &&
		facts=$("$CL_SAMPLER" --check "$CL_SAMPLES" --allow-dual 2>/dev/null); then
		CL_RESULT_DUAL_MASTER=$(sed -n 's/^dual_master=//p' <<<"$facts")
		CL_RESULT_DUAL_SERVING=$(sed -n 's/^dual_serving=//p' <<<"$facts")
	fi
	cl_result fail
	exit 1
}

# ---------------------------------------------------------------- set-up

# Deletes what runs of this harness left behind when they were killed
# before their trap could run (a ctest timeout sends SIGKILL): namespaces
# named cmsdt<pid>- whose pid is gone, and the processes inside them.
# Another prefix (the bench's cmb) sweeps that tool's names instead.
cl_sweep_stale() { # [prefix, default cmsdt]
	local ns pid p prefix=${1:-cmsdt}
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^$prefix([0-9]+)- ]] || continue
		pid=${BASH_REMATCH[1]}
		kill -0 "$pid" 2>/dev/null && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}

cl_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e
	cl_sampler_stop
	cl_topo_down
	[ -z "$CL_CLEANUP_CMDS" ] || eval "$CL_CLEANUP_CMDS"
	for p in $CL_BG_PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$CL_TMP" ] && [ -d "$CL_TMP" ]; then
		if [ "${CLUSTER_KEEP:-0}" = 1 ] && [ "$rc" != 0 ]; then
			echo "kept $CL_TMP" >&2
		else
			rm -rf "$CL_TMP"
		fi
	fi
	exit "$rc"
}

# A tool of tests/cluster, from the build or compiled here: sets CL_NAME
# (upper case) to its path.  Libraries to link follow the name (a
# scenario's own tool, e.g. cl_tool iscsi_writer -liscsi).
cl_tool() { # name [ld args...]
	local t=$1 b
	shift
	b=${CMSD_BUILD_DIR:+$CMSD_BUILD_DIR/tests/cluster/$t}
	if [ -n "$b" ] && [ -x "$b" ] && [ "$b" -nt "$CL_HERE/$t.c" ]; then
		eval "CL_${t^^}=\$b"
		return 0
	fi
	mkdir -p "$CL_TMP/bin"
	cc -std=c11 -O2 -Wall -o "$CL_TMP/bin/$t" "$CL_HERE/$t.c" "$@" ||
		{ echo "FAIL: cannot build $t.c" >&2 && exit 1; }
	eval "CL_${t^^}=\$CL_TMP/bin/\$t"
}

# Tools of every scenario: the sampler, the ICMP probe, the ARP prober.
cl_tools() {
	local t
	for t in sampler netprobe arpwho; do
		cl_tool "$t"
	done
}

cl_init() { # NAME
	CL_NAME=$1
	[ "$(id -u)" = 0 ] || cl_skip "cluster tests need root (network namespaces)"
	command -v ip >/dev/null || cl_skip "no ip(8)"
	cl_sweep_stale
	if ! ip netns add "${CL_P}probe" 2>/dev/null; then
		cl_skip "cannot create network namespaces here"
	fi
	ip netns del "${CL_P}probe"
	CL_TMP=$(mktemp -d "/tmp/cmsd-cluster-$CL_NAME.XXXXXX")
	trap cl_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cl_tools
}

cl_need_agent() {
	local v
	for v in CMSD_BIN CMSADM_BIN CMSD_PLUGIN_DIR; do
		[ -n "${!v:-}" ] || {
			echo "FAIL: $v is not set (run through ctest, or see stress.sh -B)" >&2
			exit 1
		}
	done
}

cl_veth() { # host dev net(77|78) addr bridge
	local ns sw port
	ns=$(cl_ns "$1")
	sw=$(cl_ns switch)
	port="$1-$2"
	ip link add "$2" netns "$ns" address "$(cl_mac "$1" "$3")" \
		type veth peer name "$port" netns "$sw"
	ip -n "$sw" link set "$port" master "$5" up
	ip -n "$ns" addr add "$4/24" dev "$2"
	ip -n "$ns" link set "$2" up
}

cl_mkns() {
	local ns
	ns=$(cl_ns "$1")
	ip netns add "$ns"
	CL_NS_MADE="$CL_NS_MADE $ns"
	ip -n "$ns" link set lo up
	# no IPv6 chatter (DAD, router solicitations) on the segments
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || true
}

cl_topo_up() { # [with_arbiter: 1 (default) or 0]
	local with_arb=${1:-1} sw h t
	sw=$(cl_ns switch)
	cl_mkns switch
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 \
		mcast_snooping 0
	ip -n "$sw" link add br1 type bridge stp_state 0 forward_delay 0 \
		mcast_snooping 0
	ip -n "$sw" link set br0 up
	ip -n "$sw" link set br1 up
	for t in $CL_TARGETS; do
		ip -n "$sw" addr add "$t/24" dev br0
	done
	for h in node1 node2; do
		cl_mkns "$h"
		cl_veth "$h" eth0 77 "$(cl_addr "$h")" br0
		cl_veth "$h" eth1 78 "$(cl_hbaddr "$h")" br1
	done
	if [ "$with_arb" = 1 ]; then
		cl_mkns arbiter
		cl_veth arbiter eth0 77 "$(cl_addr arbiter)" br0
	fi
	cl_mkns client
	cl_veth client eth0 77 "$(cl_addr client)" br0
}

cl_topo_down() {
	local ns p h
	for h in "${!CL_PID[@]}"; do
		cl_kill "$h" 2>/dev/null || true
	done
	# the scenario's own services, before their namespaces' processes go
	cl_services_down || true
	for ns in $CL_NS_MADE; do
		# Only processes in namespaces this run made: ours.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
	done
	for ns in $CL_NS_MADE; do
		ip netns del "$ns" 2>/dev/null || true
	done
	CL_NS_MADE=""
}

cl_secrets() {
	[ -s "$CL_TMP/secrets/cluster.key" ] && return 0
	"$CL_HERE/../tools/mkcerts.sh" "$CL_TMP/secrets" node1 node2 arbiter ||
		{ echo "FAIL: mkcerts.sh" >&2 && exit 1; }
}

cl_quorum_xml() {
	local t
	if [ "$CL_MODE" = arbiter ]; then
		cat <<XML
  <quorum id="q" plugin="quorum-cmsd">
    <arbiter>$CL_ARBITER_ADDR:7790</arbiter>
    <arbiter-name>$(cl_name arbiter)</arbiter-name>
  </quorum>
XML
	else
		echo '  <quorum id="q" plugin="quorum-ping">'
		for t in $CL_TARGETS; do
			echo "    <target>$t</target>"
		done
		echo "    <interval>${CL_PING_INTERVAL_MS}ms</interval>"
		echo "    <timeout>${CL_PING_TIMEOUT_MS}ms</timeout>"
		echo '  </quorum>'
	fi
}

cl_node_xml() { # node
	cat <<XML
    <node id="$1" name="$(cl_name "$1")">
      <link address="$(cl_addr "$1")"/>
      <link address="$(cl_hbaddr "$1")"/>
      <control address="$(cl_addr "$1")"/>
    </node>
XML
}

# The storage and group part of a node's config: three resource-dummy
# resources.  A scenario that needs real resources defines its own
# cl_group_xml after sourcing this file; $1 node, $2 its directory.
cl_group_xml() {
	local d=$2 r
	echo '  <group id="vms">'
	for r in webip mysql tomcat; do
		cat <<XML
    <resource id="$r" plugin="resource-dummy" monitor-interval="1s" $CL_RES_ATTRS>
      <state-file>$d/$r.running</state-file>
    </resource>
XML
	done
	echo '  </group>'
}

# ---------------------------------------------------------------- a shared LUN

# The reference's database partition as a shared LUN: a loop device over a
# file in CL_TMP, with ext4, that storage-fc (id "db", no reservation: a
# loop device has no PR) mounts on CL_MNT (default /var/lib/mysql-share) in
# each agent's own mount namespace (`ip netns exec` gives every agent one;
# the host never sees the mount).  Skips when mkfs.ext4, losetup, a tool of
# the scenario's (the arguments) or a free loop device is missing.  Sets
# CL_LOOP; the loop device, and CL_MNT when it was made here, go at exit.
# Call after cl_init, and use cl_lun_group_xml as the scenario's
# cl_group_xml.
cl_lun_up() { # [tool...]
	local t
	CL_MNT=${CL_MNT:-/var/lib/mysql-share}
	for t in mkfs.ext4 losetup "$@"; do
		command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
	done
	truncate -s 64M "$CL_TMP/lun.img"
	CL_LOOP=$(losetup --find --show "$CL_TMP/lun.img") ||
		cl_skip "no free loop device for the storage"
	CL_MADE_MNT=""
	[ -d "$CL_MNT" ] || { mkdir -p "$CL_MNT" && CL_MADE_MNT=1; }
	# The kernel may hold the device a moment after the agents' mount
	# namespaces are gone: retried.
	CL_CLEANUP_CMDS="${CL_CLEANUP_CMDS:+$CL_CLEANUP_CMDS; }"'for _ in $(seq 50); do losetup -d "$CL_LOOP" 2>/dev/null && break; sleep 0.1; done; [ -z "$CL_MADE_MNT" ] || rmdir "$CL_MNT" 2>/dev/null'
	mkfs.ext4 -q -F "$CL_LOOP"
}

# The group on the LUN: storage "db", then webip, mysql and tomcat, each on
# "db", monitored every second.  webip is resource-vip on CL_VIP/24 (eth0)
# when CL_VIP is set, else resource-dummy like the others (their service
# is their state file in the node's directory).  $1 node, $2 its directory.
cl_lun_group_xml() {
	local d=$2 r
	cat <<XML
  <storage id="db" plugin="storage-fc">
    <device>$CL_LOOP</device>
    <mount>$CL_MNT</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
  <group id="vms">
XML
	for r in webip mysql tomcat; do
		if [ "$r" = webip ] && [ -n "${CL_VIP:-}" ]; then
			cat <<XML
    <resource id="webip" plugin="resource-vip" monitor-interval="1s" storage="db" $CL_RES_ATTRS>
      <address>$CL_VIP/24</address>
      <interface>eth0</interface>
    </resource>
XML
			continue
		fi
		cat <<XML
    <resource id="$r" plugin="resource-dummy" monitor-interval="1s" storage="db" $CL_RES_ATTRS>
      <state-file>$d/$r.running</state-file>
    </resource>
XML
	done
	echo '  </group>'
}

cl_write_configs() {
	local n d s=$CL_TMP/secrets r
	for n in node1 node2; do
		d=$CL_DIR/$n
		mkdir -p "$d/state"
		{
			cat <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="$n">
  <paths state-dir="$d/state" log-file="$d/cmsd.log" control-socket="$d/cmsd.sock"/>
  <cluster id="c1">
    <key-file>$s/cluster.key</key-file>
    <tls ca="$s/ca.pem" cert="$s/$n.pem" key="$s/$n.key"/>
    <timers heartbeat-interval="${CL_HB_MS}ms" deadtime="${CL_DEADTIME_MS}ms" lease="${CL_LEASE_MS}ms"/>
XML
			cl_node_xml node1
			cl_node_xml node2
			echo '  </cluster>'
			cl_quorum_xml
			cl_group_xml "$n" "$d"
			echo '</cmsd>'
		} >"$d/cmsd.xml"
	done
	d=$CL_DIR/arbiter
	mkdir -p "$d/state"
	cat >"$d/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="arbiter">
  <paths state-dir="$d/state" log-file="$d/cmsd.log" control-socket="$d/cmsd.sock"/>
  <arbiter id="arbiter" plugin="quorum-cmsd">
    <listen>$CL_ARBITER_ADDR:7790</listen>
    <cluster id="c1">
      <ca>$s/ca.pem</ca>
      <cert>$s/arbiter.pem</cert>
      <key>$s/arbiter.key</key>
    </cluster>
  </arbiter>
</cmsd>
XML
}

# Checks the configs with the agent's own --check, so that a config the
# agent refuses fails here with its message, not as a missing master.
cl_check_configs() {
	local h hosts="node1 node2"
	[ "$CL_MODE" = arbiter ] && hosts="$hosts arbiter"
	for h in $hosts; do
		"$CMSD_BIN" --check -c "$CL_DIR/$h/cmsd.xml" -p "$CMSD_PLUGIN_DIR" \
			>"$CL_DIR/$h/check.out" 2>&1 ||
			cl_fail "cmsd --check refuses the $h config: $(cat "$CL_DIR/$h/check.out")"
	done
}

# Hooks a scenario may define after sourcing this file, for services of
# its own that live in the test's namespaces (a storage target in the
# switch namespace, say): cl_services_up runs in each mode after the
# topology is up and before any agent starts (its failure: cl_fail);
# cl_services_down when the mode's agents are gone, before the processes of
# the namespaces are killed, and again at exit (so it must be idempotent).
cl_services_up() { :; }
cl_services_down() { :; }

# ---------------------------------------------------------------- agents

cl_start() { # host: starts its agent in its namespace, waits for the socket
	local h=$1 d=$CL_DIR/$1 i
	rm -f "$d/cmsd.sock"
	ip netns exec "$(cl_ns "$h")" "$CMSD_BIN" -f -c "$d/cmsd.xml" \
		-p "$CMSD_PLUGIN_DIR" >>"$d/stdout" 2>&1 &
	CL_PID[$h]=$!
	for i in $(seq 200); do
		if [ -S "$d/cmsd.sock" ] &&
			"$CL_SAMPLER" --once "$d/cmsd.sock" version >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "${CL_PID[$h]}" 2>/dev/null ||
			cl_fail "the $h agent exited at start-up: $(tail -n 5 "$d/stdout")"
		sleep 0.05
	done
	cl_fail "the $h agent's control socket did not answer within 10 s"
}

cl_kill() { # host: kill -9 of its agent (by PID)
	local h=$1 pid=${CL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "CL_PID[$h]"
}

# "node-id role epoch serving|idle", or "down" / "ERR ..." when no answer.
cl_role() {
	local out
	if out=$("$CL_SAMPLER" --once "$(cl_sock "$1")" role 2>&1); then
		echo "$out"
	elif [ -S "$(cl_sock "$1")" ]; then
		echo "${out:-no answer}"
	else
		echo down
	fi
}

cl_is() { # node role [serving|idle]
	local role serving
	read -r _ role _ serving <<<"$(cl_role "$1")" || true
	[ "$role" = "$2" ] || return 1
	[ -z "${3:-}" ] || [ "$serving" = "$3" ]
}

cl_idle() { # node: not serving (any role, or no agent)
	local serving
	read -r _ _ _ serving <<<"$(cl_role "$1")" || true
	[ "$serving" != serving ]
}

cl_nobody_serving() { cl_idle node1 && cl_idle node2; }
cl_both_master() { cl_is node1 master serving && cl_is node2 master serving; }

cl_is_steady() { # one master serving, the other slave idle
	if cl_is node1 master serving && cl_is node2 slave idle; then
		CL_M=node1 CL_S=node2
	elif cl_is node2 master serving && cl_is node1 slave idle; then
		CL_M=node2 CL_S=node1
	else
		return 1
	fi
}

# Polls every 50 ms until "$@" succeeds; 1 after ms.  CL_WAITED: ms taken.
cl_wait() { # ms cmd...
	local ms=$1 t0 now
	shift
	t0=$(cl_now)
	while :; do
		if "$@"; then
			CL_WAITED=$(($(cl_now) - t0))
			return 0
		fi
		now=$(cl_now)
		[ $((now - t0)) -lt "$ms" ] || return 1
		sleep 0.05
	done
}

cl_wait_for() { # ms, what (for the failure), cmd...
	local ms=$1 what=$2
	shift 2
	cl_wait "$ms" "$@" && return 0
	cl_fail "$what: not within $ms ms (node1: $(cl_role node1); node2: $(cl_role node2))"
}

cl_wait_steady() { # ms
	cl_wait "$1" cl_is_steady && return 0
	local r1 r2 hint=""
	r1=$(cl_role node1)
	r2=$(cl_role node2)
	case "$r1 $r2" in
	*"unknown command"*)
		hint=" (the agent does not know the \"role\" request: the cluster core is not in this build)"
		;;
	esac
	cl_fail "no steady master/slave pair within $1 ms: node1: $r1; node2: $r2$hint"
}

cl_status() { # node [args]: cmsadm status into $CL_DIR/status.NODE
	local n=$1
	shift
	"$CMSADM_BIN" -s "$(cl_sock "$n")" status "$@" >"$CL_DIR/status.$n" 2>&1
}

cl_status_has() { # node line...: every line appears, exactly, in status
	local n=$1 l
	shift
	cl_status "$n" || return 1
	for l in "$@"; do
		grep -qxF -- "$l" "$CL_DIR/status.$n" || return 1
	done
}

cl_expect_status() { # ms node line...
	local ms=$1 n=$2
	shift 2
	cl_wait "$ms" cl_status_has "$n" "$@" && return 0
	cl_fail "status on $n lacks $(printf '"%s" ' "$@")within $ms ms; it says:
$(cat "$CL_DIR/status.$n")"
}

# ---------------------------------------------------------------- sampler

cl_sampler_start() {
	CL_SAMPLES=$CL_DIR/samples
	"$CL_SAMPLER" -i 20 -o "$CL_SAMPLES" "node1=$(cl_sock node1)" \
		"node2=$(cl_sock node2)" 2>"$CL_DIR/sampler.err" &
	CL_SAMPLER_PID=$!
	cl_wait 2000 test -s "$CL_SAMPLES" || cl_fail "the sampler wrote nothing"
}

cl_sampler_stop() {
	[ -n "$CL_SAMPLER_PID" ] || return 0
	kill -TERM "$CL_SAMPLER_PID" 2>/dev/null || true
	wait "$CL_SAMPLER_PID" 2>/dev/null || true
	CL_SAMPLER_PID=""
}

# Runs the checker on the samples (args: --since T --until T --expect N
# --allow-dual); its key=value facts go to $CL_DIR/check, read by cl_get.
# Returns the checker's exit status.
cl_check() {
	local rc=0
	"$CL_SAMPLER" --check "$CL_SAMPLES" "$@" >"$CL_DIR/check" \
		2>"$CL_DIR/check.err" || rc=$?
	[ "$rc" != 2 ] || cl_fail "checker: $(cat "$CL_DIR/check.err")"
	return "$rc"
}

cl_get() { # key -> value from the last cl_check
	sed -n "s/^$1=//p" "$CL_DIR/check"
}

# cl_check that must pass: no dual serving/master, epochs never go down.
cl_check_clean() { # what, checker args...
	local what=$1
	shift
	cl_check "$@" || cl_fail "$what: $(cat "$CL_DIR/check.err")"
}

cl_assert() { # description, test(1) condition (on cl_get values)
	local what=$1
	shift
	[ "$@" ] || cl_fail "$what [$*]"
}

# The samples of a window: the whole run, from a fault, and the bounds.
cl_bound_failover() { # master's death to the peer master
	if [ "$CL_MODE" = arbiter ]; then
		echo $((CL_DEADTIME_MS + CL_LEASE_MS + CL_MARGIN_MS + CL_SLACK_MS))
	else
		echo $((CL_DEADTIME_MS + CL_MARGIN_MS + CL_SLACK_MS))
	fi
}

cl_bound_stepdown() { # master cut off to master not serving
	if [ "$CL_MODE" = arbiter ]; then
		echo $((CL_LEASE_MS + CL_SLACK_MS))
	else
		echo $((CL_PING_TIMEOUT_MS + CL_MARGIN_MS + CL_SLACK_MS))
	fi
}

# ---------------------------------------------------------------- faults

cl_reach() { # from-host addr [timeout_ms]: 0 when addr answers ICMP
	ip netns exec "$(cl_ns "$1")" "$CL_NETPROBE" "$2" "${3:-1000}"
}

cl_vip_macs() { # addr [ms]: the MACs that answer ARP for addr, seen from the client
	ip netns exec "$(cl_ns client)" "$CL_ARPWHO" eth0 "$1" "${2:-300}" |
		awk '{print $1}' | sort
}

cl_link_down() { # host: every interface of the host, on its side
	local d
	for d in eth0 eth1; do
		ip -n "$(cl_ns "$1")" link show "$d" >/dev/null 2>&1 || continue
		ip -n "$(cl_ns "$1")" link set "$d" down
	done
}

cl_link_up() {
	local d
	for d in eth0 eth1; do
		ip -n "$(cl_ns "$1")" link show "$d" >/dev/null 2>&1 || continue
		ip -n "$(cl_ns "$1")" link set "$d" up
	done
}

# cBPF for tc (direct action): drop frames whose Ethernet source is one of
# the MACs given, pass the rest.  At ingress cls_bpf sees the frame from its
# MAC header, so the source is bytes 6..11.
cl_bpf_drop_src() { # mac...
	local k=$# i=0 m hi lo prog="" drop
	drop=$((4 * k + 1))
	for m in "$@"; do
		m=${m//:/}
		hi=$((16#${m:0:8}))
		lo=$((16#${m:8:4}))
		prog+="32 0 0 6,21 0 2 $hi,40 0 0 10,21 $((drop - (4 * i + 3) - 1)) 0 $lo,"
		i=$((i + 1))
	done
	echo "$((4 * k + 2)),${prog}6 0 0 0,6 0 0 2"
}

# node1 <-> node2 only, on both networks; both still reach the arbiter, the
# ping targets and the client.  Each node drops at ingress every frame from
# the other's two MACs (ARP included), so nothing of either passes.
cl_partition() {
	local n p ns d bc
	for n in node1 node2; do
		p=$(cl_peer "$n")
		ns=$(cl_ns "$n")
		bc=$(cl_bpf_drop_src "$(cl_mac "$p" 77)" "$(cl_mac "$p" 78)")
		for d in eth0 eth1; do
			ip netns exec "$ns" tc qdisc add dev "$d" clsact
			ip netns exec "$ns" tc filter add dev "$d" ingress \
				bpf da bytecode "$bc"
		done
	done
}

cl_heal_partition() {
	local n d
	for n in node1 node2; do
		for d in eth0 eth1; do
			ip netns exec "$(cl_ns "$n")" tc qdisc del dev "$d" \
				clsact 2>/dev/null || true
		done
	done
}

cl_arbiter_down() { cl_kill arbiter; }
cl_arbiter_up() { cl_start arbiter; }

# Ping mode's counterpart of the arbiter going away: both targets vanish.
cl_targets_down() {
	local t
	for t in $CL_TARGETS; do
		ip -n "$(cl_ns switch)" addr del "$t/24" dev br0 2>/dev/null || true
	done
}

cl_targets_up() {
	local t
	for t in $CL_TARGETS; do
		ip -n "$(cl_ns switch)" addr add "$t/24" dev br0
	done
}

# The quorum goes away: the arbiter in arbiter mode, the targets in ping.
cl_quorum_down() {
	if [ "$CL_MODE" = arbiter ]; then cl_arbiter_down; else cl_targets_down; fi
}
cl_quorum_up() {
	if [ "$CL_MODE" = arbiter ]; then cl_arbiter_up; else cl_targets_up; fi
}

# ---------------------------------------------------------------- a run

cl_prepare() { # mode: topology, configs, the arbiter, services; no node yet
	cl_need_agent
	CL_MODE=$1
	CL_DIR=$CL_TMP/$CL_MODE
	CL_M="" CL_S="" CL_SAMPLES=""
	CL_RESULT_TIME=-1 CL_RESULT_DUAL_MASTER=0 CL_RESULT_DUAL_SERVING=0
	mkdir -p "$CL_DIR"
	cl_secrets
	cl_write_configs
	cl_check_configs
	if [ "$CL_MODE" = arbiter ]; then
		cl_topo_up 1
		cl_start arbiter
	else
		cl_topo_up 0
	fi
	cl_services_up
}

cl_up() { # mode: topology, configs, agents, a steady pair, the sampler
	cl_prepare "$1"
	cl_start node1
	cl_start node2
	# start-up wait (a deadtime), the vote, the group start
	cl_wait_steady $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS + CL_GROUP_START_MS))
	cl_log "steady: master $CL_M, slave $CL_S (after ${CL_WAITED} ms)"
	cl_sampler_start
	sleep 0.5
	cl_check_clean "steady state"
	cl_assert "$CL_M master in every steady sample" \
		"$(cl_get "$CL_M.master_samples")" -eq "$(cl_get "$CL_M.samples")"
	cl_assert "$CL_S slave in every steady sample" \
		"$(cl_get "$CL_S.serving_samples")" -eq 0
}

cl_down() {
	cl_sampler_stop
	cl_topo_down
	CL_PID=()
}

# The whole run's samples must be clean (or, with --allow-dual, at least
# keep epochs growing); fills the RESULT counters.
cl_final_check() { # [--allow-dual]
	local rc=0
	cl_sampler_stop
	cl_check "$@" || rc=$?
	CL_RESULT_DUAL_MASTER=$(cl_get dual_master)
	CL_RESULT_DUAL_SERVING=$(cl_get dual_serving)
	[ "$rc" = 0 ] || cl_fail "whole run: $(cat "$CL_DIR/check.err")"
}

cl_run_modes() { # scenario function
	local mode
	for mode in ${CLUSTER_MODES:-arbiter ping}; do
		case $mode in
		arbiter | ping) ;;
		*) echo "FAIL: unknown mode \"$mode\" in CLUSTER_MODES" >&2 && exit 1 ;;
		esac
		cl_up "$mode"
		"$1"
		cl_result pass
		cl_down
	done
	echo "PASS: $CL_NAME (${CLUSTER_MODES:-arbiter ping})"
}
