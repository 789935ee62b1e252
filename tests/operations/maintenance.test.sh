#!/bin/bash
# Intent: with `cmsadm maintenance on` (run on the slave, shown on both nodes and kept across a restart of an agent) a resource of the master that dies is neither restarted nor moved, the master stays master in every sample while heartbeats and the lease go on; `cmsadm maintenance off` and the failure is acted on: the resource is restarted in place.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
cl_init maintenance
# One restart within the window: without maintenance a second failure
# would move the group, so a move would show.
CL_RES_ATTRS='max-restarts="1" restart-window="10m"'

notice() { # node -> the line status must show
	local me peer
	me=$(cl_name "$1")
	peer=$(cl_name "$(cl_peer "$1")")
	echo "!! MAINTENANCE MODE ($me: on, $peer: on): resource failures are shown, not acted on (no restart, no failover); \`cmsadm maintenance off\` ends it"
}

scenario() {
	local m=$CL_M s=$CL_S rc t0 f n mn sn
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")
	f=$CL_DIR/$m/mysql.running

	cl_log "maintenance on, from the slave $s"
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$s")" maintenance on 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = "maintenance on for $sn and $mn: resource failures are shown, not acted on" ] ||
		cl_fail "maintenance on: exit $rc, \"$out\""
	for n in node1 node2; do
		cl_expect_status 3000 "$n" "$(notice "$n")"
		cl_status "$n" --json
		/usr/bin/python3 - "$CL_DIR/status.$n" <<'PY' || cl_fail "status --json on $n: no admin.maintenance"
import json, sys
a = json.load(open(sys.argv[1]))["admin"]
sys.exit(0 if a["maintenance"] is True and a["peer_maintenance"] is True and a["stopped"] is False else 1)
PY
	done

	cl_log "$m's mysql dies twice while in maintenance: no restart, no move"
	t0=$(cl_now)
	rm -f "$f"
	sleep 2.5
	rm -f "$f" # again, had anything brought it back
	sleep 2.5
	[ ! -e "$f" ] || cl_fail "mysql was restarted during maintenance"
	grep -q "restarting mysql" "$CL_DIR/$m/cmsd.log" &&
		cl_fail "the log shows a restart during maintenance"
	cl_is "$m" master serving || cl_fail "$m is not master serving: $(cl_role "$m")"
	cl_is "$s" slave idle || cl_fail "$s is not an idle slave: $(cl_role "$s")"
	cl_expect_status 3000 "$m" "error  : mysql: monitor: STOPPED while started" \
		"master : $mn (Online)" "$(notice "$m")"
	cl_check_clean "during maintenance" --since "$t0"
	cl_assert "$m master in every sample during maintenance" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never serving during maintenance" "$(cl_get "$s.serving_samples")" -eq 0

	cl_log "the slave's agent restarts: maintenance is still on there"
	cl_kill "$s"
	cl_start "$s"
	cl_wait_for $((4 * CL_DEADTIME_MS + CL_SLACK_MS)) "$s back as slave" cl_is "$s" slave idle
	grep -q "maintenance mode is on" "$CL_DIR/$s/cmsd.log" ||
		cl_fail "the restarted $s does not say maintenance is on"
	cl_expect_status 3000 "$s" "$(notice "$s")"
	[ ! -e "$f" ] || cl_fail "mysql came back during maintenance"
	cl_wait_for 5000 "control channel $s-$m up" \
		sh -c "\"$CL_SAMPLER\" --once \"$(cl_sock "$s")\" admin | grep -q ' peer_channel=1'"

	cl_log "maintenance off: the failure is acted on"
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$s")" maintenance off 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = "maintenance off for $sn and $mn: resource failures are acted on again" ] ||
		cl_fail "maintenance off: exit $rc, \"$out\""
	cl_wait_for $((3000 + CL_SLACK_MS)) "mysql restarted on $m" test -e "$f"
	grep -q "mysql failed (monitor: STOPPED while started): restart 1 of 1 within 10 min" \
		"$CL_DIR/$m/cmsd.log" || cl_fail "the restart decision is not logged"
	cl_is "$m" master serving || cl_fail "$m is no longer master"
	for n in node1 node2; do
		cl_status "$n"
		grep -q "^!! " "$CL_DIR/status.$n" &&
			cl_fail "status on $n still shows a notice: $(grep '^!! ' "$CL_DIR/status.$n")"
	done
	cl_expect_status 3000 "$m" "mysql  : Started $mn"
	cl_final_check
}

cl_run_modes scenario
