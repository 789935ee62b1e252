#!/bin/bash
# Intent: `cmsadm stop` run on the slave stops HA on both nodes (the master stops its group and unmounts the storage, both stay configured, status says so on both), neither node becomes master even when the agents are killed and restarted, a stop with the peer down is refused; `cmsadm start` brings back the same master (node2, not the lower id) with the data written before the stop intact; a start while the peer is down reaches it when it returns.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
cl_init stop_start

# The data: a loop device with ext4 that storage-fc mounts on the master
# only, in each agent's own mount namespace (cl_lun_up); the group's
# resources are resource-dummy (their service is their state file).
CL_MNT=/var/lib/mysql-share
cl_lun_up nsenter findmnt debugfs sha256sum
cl_group_xml() { cl_lun_group_xml "$@"; }

# In the agent's own mount namespace (ip netns exec gives it one).
in_agent() { # node cmd...
	local n=$1
	shift
	nsenter -t "${CL_PID[$n]}" -m -- "$@"
}

mounted() { in_agent "$1" findmnt -n "$CL_MNT" >/dev/null 2>&1; }

# "expected" exactly, as a line of cmsadm's output in file
has_line() { # file line
	grep -qxF -- "$2" "$1"
}

admin_state() { # node -> the stopped line of its state file
	sed -n 's/^stopped //p' "$CL_DIR/$1/state/admin.state" 2>/dev/null
}

recorded() { # node 0|1: its state file says stopped 0|1
	[ "$(admin_state "$1")" = "$2" ]
}

channel_up() { # node: its control channel to the peer is up
	"$CL_SAMPLER" --once "$(cl_sock "$1")" admin | grep -q ' peer_channel=1'
}

both_stopped_idle() {
	cl_is node1 slave idle && cl_is node2 slave idle
}

scenario() {
	local m s rc out t0 sum sum2 n
	local mn sn

	# The master to come back is node2, not the one an even start picks
	# (node1, the lower id): the stop must remember it.
	if [ "$CL_M" = node1 ]; then
		cl_log "switchover to node2 first"
		"$CMSADM_BIN" -s "$(cl_sock node1)" switchover >/dev/null
		cl_wait_for $((5000 + CL_SLACK_MS)) "node2 master after the switchover" \
			cl_is node2 master serving
		cl_wait_for 3000 "steady after the switchover" cl_is_steady
	fi
	m=$CL_M s=$CL_S
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")

	cl_log "data written on $m's storage before the stop"
	mounted "$m" || cl_fail "$CL_MNT is not mounted on the master $m"
	in_agent "$m" sh -c "head -c 1048576 /dev/urandom >$CL_MNT/before-stop.dat && sync"
	sum=$(in_agent "$m" sha256sum "$CL_MNT/before-stop.dat" | awk '{print $1}')

	cl_log "stop refused while $s's agent is down"
	cl_kill "$s"
	cl_wait_for $((CL_DEADTIME_MS + CL_SLACK_MS)) "$m sees $s gone" \
		sh -c "\"$CL_SAMPLER\" --once \"$(cl_sock "$m")\" admin | grep -q ' peer_alive=0 '"
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$m")" stop 2>&1) || rc=$?
	[ "$rc" = 1 ] && [ "$out" = "cmsadm: cmsd: stop refused: $sn is not reachable (no heartbeat within the deadtime): both nodes must record the stop, or the one that missed it could become master alone; bring $sn back first, or stop cmsd on this node" ] ||
		cl_fail "stop with the peer down: exit $rc, \"$out\""
	[ "$(admin_state "$m")" = "" ] || cl_fail "a refused stop left a state file on $m"
	cl_is "$m" master serving || cl_fail "$m stopped serving after a refused stop"
	cl_start "$s"
	cl_wait_for $((4 * CL_DEADTIME_MS + CL_SLACK_MS)) "$s back as slave" cl_is "$s" slave idle
	cl_wait_for 5000 "control channel $s-$m up" channel_up "$s"

	cl_log "cmsadm stop on the slave $s"
	rc=0
	"$CMSADM_BIN" -s "$(cl_sock "$s")" stop --timeout 60 >"$CL_DIR/stop.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || cl_fail "cmsadm stop: exit $rc: $(cat "$CL_DIR/stop.out")"
	has_line "$CL_DIR/stop.out" "stopping HA on $sn and $mn: the master stops its group; neither node takes over until \`cmsadm start\`" &&
		has_line "$CL_DIR/stop.out" "HA stopped on $sn and $mn: the group is down, neither node takes over until \`cmsadm start\`" ||
		cl_fail "cmsadm stop said: $(cat "$CL_DIR/stop.out")"
	# From here on (cmsadm returned: both stopped) no sample may show a
	# master.
	t0=$(cl_now)
	both_stopped_idle || cl_fail "not both slave and idle after the stop: $(cl_role node1); $(cl_role node2)"
	for n in node1 node2; do
		[ "$(admin_state "$n")" = 1 ] || cl_fail "$n has not recorded the stop"
		for r in webip mysql tomcat; do
			[ ! -e "$CL_DIR/$n/$r.running" ] || cl_fail "$n still runs $r after the stop"
		done
	done
	mounted "$m" && cl_fail "$CL_MNT still mounted on $m after the stop"
	# The data is on the device, whoever mounts it next.
	sum2=$(debugfs -R "cat /before-stop.dat" "$CL_LOOP" 2>/dev/null | sha256sum | awk '{print $1}')
	[ "$sum2" = "$sum" ] || cl_fail "the file on the unmounted device differs"
	for n in node1 node2; do
		local me peer
		me=$(cl_name "$n")
		peer=$(cl_name "$(cl_peer "$n")")
		cl_expect_status 3000 "$n" "master : none" \
			"!! HA STOPPED by the operator ($me: stopped, $peer: stopped): the group does not run and no node takes over; \`cmsadm start\` starts it again" \
			"role   : slave: HA stopped by the operator"
		cl_status "$n" --json
		/usr/bin/python3 - "$CL_DIR/status.$n" <<'PY' || cl_fail "status --json on $n: no admin.stopped"
import json, sys
d = json.load(open(sys.argv[1]))
a = d["admin"]
sys.exit(0 if a["stopped"] is True and a["peer_stopped"] is True and d["master"] is None else 1)
PY
	done
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$s")" switchover 2>&1) || rc=$?
	[ "$rc" = 1 ] || cl_fail "switchover accepted while stopped: $out"

	cl_log "agents killed and restarted while stopped: still no master"
	cl_kill "$s"
	sleep $(((CL_DEADTIME_MS * 2) / 1000)).5
	cl_is "$m" slave idle || cl_fail "$m alone while stopped: $(cl_role "$m")"
	cl_kill "$m"
	cl_start "$m"
	sleep $(((CL_DEADTIME_MS * 3) / 1000)).5
	cl_is "$m" slave idle || cl_fail "$m restarted alone while stopped: $(cl_role "$m")"
	cl_start "$s"
	sleep $(((CL_DEADTIME_MS * 3) / 1000)).5
	both_stopped_idle || cl_fail "a master after the restarts: $(cl_role node1); $(cl_role node2)"
	cl_check_clean "while stopped" --since "$t0"
	[ "$(cl_get node1.master_samples)" = 0 ] && [ "$(cl_get node2.master_samples)" = 0 ] ||
		cl_fail "a master while stopped: node1 $(cl_get node1.master_samples), node2 $(cl_get node2.master_samples) samples"
	grep -q "HA was stopped by the operator" "$CL_DIR/$m/cmsd.log" ||
		cl_fail "the restarted $m does not say it is stopped"

	cl_log "cmsadm start on $s: $m master again, data intact"
	rc=0
	"$CMSADM_BIN" -s "$(cl_sock "$s")" start --timeout 60 >"$CL_DIR/start.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || cl_fail "cmsadm start: exit $rc: $(cat "$CL_DIR/start.out")"
	has_line "$CL_DIR/start.out" "starting HA on $sn and $mn" &&
		has_line "$CL_DIR/start.out" "HA started: master $mn" ||
		cl_fail "cmsadm start said: $(cat "$CL_DIR/start.out")"
	cl_wait_for 5000 "$m master and $s slave after the start" cl_is_steady
	[ "$CL_M" = "$m" ] || cl_fail "the master after the start is $CL_M, before it was $m"
	for n in node1 node2; do
		[ "$(admin_state "$n")" = 0 ] || cl_fail "$n still records the stop"
	done
	mounted "$m" || cl_fail "$CL_MNT not mounted on $m after the start"
	sum2=$(in_agent "$m" sha256sum "$CL_MNT/before-stop.dat" | awk '{print $1}')
	[ "$sum2" = "$sum" ] || cl_fail "the data written before the stop differs after the start"
	cl_status "$m"
	grep -q "^!! " "$CL_DIR/status.$m" && cl_fail "status still shows a notice: $(grep '^!! ' "$CL_DIR/status.$m")"
	cl_expect_status 3000 "$m" "master : $mn (Online)" "slave  : $sn (Online)" \
		"mysql  : Started $mn"

	cl_log "stop again; start on $m while $s is down: $s catches up when it returns"
	cl_wait_for 5000 "control channel $s-$m up" channel_up "$s"
	"$CMSADM_BIN" -s "$(cl_sock "$m")" stop --timeout 60 >"$CL_DIR/stop2.out" 2>&1 ||
		cl_fail "second stop: $(cat "$CL_DIR/stop2.out")"
	cl_kill "$s"
	rc=0
	"$CMSADM_BIN" -s "$(cl_sock "$m")" start --timeout 60 >"$CL_DIR/start2.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || cl_fail "start with $s down: exit $rc: $(cat "$CL_DIR/start2.out")"
	has_line "$CL_DIR/start2.out" "starting HA on $mn only: the peer is not reachable and starts too when it returns" &&
		has_line "$CL_DIR/start2.out" "HA started: master $mn" ||
		cl_fail "start with $s down said: $(cat "$CL_DIR/start2.out")"
	[ "$(admin_state "$s")" = 1 ] || cl_fail "$s, down, should still record the stop"
	cl_start "$s"
	cl_wait_for $((4 * CL_DEADTIME_MS + CL_SLACK_MS)) "$s back as slave" cl_is "$s" slave idle
	cl_wait_for 5000 "$s catches up with the start" recorded "$s" 0
	grep -q "HA started by the operator (state of $m)" "$CL_DIR/$s/cmsd.log" ||
		cl_fail "$s does not log that it followed $m's start"
	cl_is "$m" master serving || cl_fail "$m is not master after $s returned"
	cl_final_check
}

cl_run_modes scenario
