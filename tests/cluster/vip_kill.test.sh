#!/bin/bash
# Intent: kill -9 of the master's agent with a resource-vip in the group: its guardian removes the VIP from the dead master at once, so the peer's duplicate address probe finds nobody, the peer becomes master AND holds the VIP, and the VIP answers ARP from exactly one MAC (the new master's) before and after the killed agent comes back as slave.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init vip_kill

VIP=$CL_NET.100

# The three resource-dummy resources of lib.sh, then the VIP.
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
	cat <<XML
    <resource id="vip" plugin="resource-vip" monitor-interval="1s" start-timeout="5s">
      <address>$VIP/24</address>
      <interface>eth0</interface>
      <garp-count>3</garp-count>
      <garp-interval>100ms</garp-interval>
    </resource>
XML
	echo '  </group>'
}
# the VIP's duplicate address probe and first announcement
CL_GROUP_START_MS=500

expect_answer_from() { # node: exactly its eth0 MAC answers ARP for the VIP
	local want got
	want=$(cl_mac "$1" 77)
	got=$(cl_vip_macs "$VIP" 400 || true)
	[ "$got" = "$want" ] ||
		cl_fail "$VIP answered by [$(echo $got)], expected exactly $want ($1)"
}

vip_on() { # node
	ip -n "$(cl_ns "$1")" -o addr show dev eth0 | grep -q " $VIP/24 "
}

# pids of cmsd-vipguard processes in node's namespace ("" if none)
guardians() {
	local p out=""
	for p in $(ip netns pids "$(cl_ns "$1")"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = cmsd-vipguard ] &&
			out="$out $p"
	done
	echo $out
}

no_guardian() { [ -z "$(guardians "$1")" ]; }

scenario() {
	local m=$CL_M s=$CL_S bound t0 t1 g agent gone_ms
	bound=$(cl_bound_failover)

	cl_wait_for 5000 "$VIP on $m (master)" vip_on "$m"
	vip_on "$s" && cl_fail "$VIP is on $s (slave) too"
	expect_answer_from "$m"
	# One guardian, the master agent's child, in a process group of its
	# own; none on the slave.
	g=$(guardians "$m")
	agent=${CL_PID[$m]}
	[ -n "$g" ] && [ "${g// /}" = "$g" ] ||
		cl_fail "want one guardian on $m, found [$g]"
	[ "$(ps -o ppid= -p "$g" | tr -d ' ')" = "$agent" ] ||
		cl_fail "guardian $g is not a child of $m's agent $agent"
	[ "$(ps -o pgid= -p "$g" | tr -d ' ')" = "$g" ] ||
		cl_fail "guardian $g is not in a process group of its own"
	ps -o args= -p "$g" | grep -q '^cmsd-vipguard' ||
		cl_fail "guardian $g shows as \"$(ps -o args= -p "$g")\" in ps"
	no_guardian "$s" || cl_fail "a guardian on $s (slave): $(guardians "$s")"

	t0=$(cl_now)
	cl_log "kill -9 of $m's agent (master; guardian $g)"
	cl_kill "$m"
	cl_wait 1000 eval '! vip_on "$m"' ||
		cl_fail "$VIP still on $m 1 s after its agent was killed"
	gone_ms=$(($(cl_now) - t0))
	cl_log "$VIP gone from $m $gone_ms ms after the kill (ip(8) polls included)"
	cl_wait 1000 no_guardian "$m" ||
		cl_fail "guardian still on $m after the address went: $(guardians "$m")"

	cl_wait_for $((bound + 2000)) "$s master after $m's agent died" \
		cl_is "$s" master serving
	cl_wait_for 3000 "$VIP on $s (the new master)" vip_on "$s"
	grep -q "vip: added $VIP/24 to eth0" "$CL_DIR/$s/cmsd.log" ||
		cl_fail "$s's log does not say it added $VIP"
	! grep -q "refusing to add" "$CL_DIR/$s/cmsd.log" ||
		cl_fail "$s refused $VIP: $(grep 'refusing to add' "$CL_DIR/$s/cmsd.log")"
	vip_on "$m" && cl_fail "$VIP is back on $m"
	expect_answer_from "$s"
	[ -n "$(guardians "$s")" ] || cl_fail "no guardian on $s, the new master"
	sleep 0.3
	cl_check_clean "after the kill" --since "$t0" --expect "$s"
	CL_RESULT_TIME=$(cl_get failover_ms)
	cl_log "$s master $CL_RESULT_TIME ms after the kill (bound $bound + 2000)"

	t1=$(cl_now)
	cl_log "restart $m's agent"
	cl_start "$m"
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$m back as slave" cl_is "$m" slave idle
	sleep 1
	cl_check_clean "after the restart" --since "$t1"
	vip_on "$m" && cl_fail "$VIP on $m after it came back as slave"
	vip_on "$s" || cl_fail "$VIP left $s when $m came back"
	expect_answer_from "$s"
	no_guardian "$m" || cl_fail "a guardian on $m (slave again): $(guardians "$m")"
	cl_final_check
}

cl_run_modes scenario
