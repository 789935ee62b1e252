#!/bin/bash
# Intent: kill -9 of the master's agent with a resource-vip in the group: its guardian removes the VIP from the dead master at once, so the peer's duplicate address probe finds nobody, the peer becomes master AND holds the VIP, and the VIP answers ARP from exactly one MAC (the new master's) before and after the killed agent comes back as slave.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init vip_kill

VIP=$CL_NET.100
CL_GROUP_EXTRA="    <resource id=\"vip\" plugin=\"resource-vip\" monitor-interval=\"1s\" start-timeout=\"5s\">
      <address>$VIP/24</address>
      <interface>eth0</interface>
      <garp-count>3</garp-count>
      <garp-interval>100ms</garp-interval>
    </resource>"

# The MACs that answer an ARP request for the VIP from the client, sorted,
# one a line.  Raw frames (three requests, 400 ms of listening), so that no
# neighbour cache of the client hides a second answer.
vip_answers() {
	ip netns exec "$(cl_ns client)" /usr/bin/python3 - "$VIP" \
		"$(cl_addr client)" "$(cl_mac client 77)" <<'PY'
import socket, struct, sys, time
vip, me, mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0))
s.settimeout(0.02)
req = (b"\xff" * 6 + mac + b"\x08\x06" +
       struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac +
       socket.inet_aton(me) + b"\x00" * 6 + socket.inet_aton(vip))
seen, end, sent = set(), time.time() + 0.4, 0
while time.time() < end:
    if sent < 3 and time.time() >= end - 0.4 + 0.05 * sent:
        s.send(req)
        sent += 1
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) < 42 or f[12:14] != b"\x08\x06":
        continue
    op = struct.unpack("!H", f[20:22])[0]
    if op == 2 and f[28:32] == socket.inet_aton(vip):
        seen.add(f[22:28].hex(":"))
print("\n".join(sorted(seen)))
PY
}

expect_answer_from() { # node: exactly its eth0 MAC answers for the VIP
	local want got
	want=$(cl_mac "$1" 77)
	got=$(vip_answers) || cl_fail "the ARP probe from the client failed"
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
