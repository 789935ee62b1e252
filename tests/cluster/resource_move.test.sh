#!/bin/bash
# Intent: a resource of the master that keeps failing is restarted in place max-restarts times, then the whole group moves to the slave (which is healthy), with one event naming the resource and the count; never two masters, the old master becomes slave and runs nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init resource_move
# One restart within the window, then the group moves.
CL_RES_ATTRS='max-restarts="1" restart-window="10m"'

# resource-dummy's "service" is its state file: removing it is the
# service dying behind the agent's back; the monitor (1 s) sees it.
scenario() {
	local m=$CL_M s=$CL_S t0 f
	f=$CL_DIR/$m/mysql.running

	t0=$(cl_now)
	cl_log "$m's mysql dies (1st time): restarted in place"
	rm -f "$f"
	cl_wait_for 5000 "$m restarts mysql" grep -q "restarted mysql" "$CL_DIR/$m/cmsd.log"
	grep -q "mysql failed (monitor: STOPPED while started): restart 1 of 1 within 10 min" \
		"$CL_DIR/$m/cmsd.log" || cl_fail "the restart decision is not logged"
	[ -e "$f" ] || cl_fail "the restart did not start mysql again"
	cl_is "$m" master serving || cl_fail "$m is no longer master after one failure"
	cl_expect_status 3000 "$m" "mysql  : Started $(cl_name "$m")"

	cl_log "$m's mysql dies (2nd time): restarts used up, the group moves to $s"
	rm -f "$f"
	cl_wait_for $((5000 + CL_SLACK_MS)) "$s master after the move" \
		cl_is "$s" master serving
	cl_wait_for 3000 "$m slave and idle" cl_is "$m" slave idle
	grep -q "mysql failed (monitor: STOPPED while started): 2 failures within 10 min (at most 1 restarts): moving the group to the peer" \
		"$CL_DIR/$m/cmsd.log" || cl_fail "the move decision is not logged"
	"$CMSADM_BIN" -s "$(cl_sock "$m")" events >"$CL_DIR/events.$m"
	grep -q "the group moves to $s: 2 failures within 10 min" "$CL_DIR/events.$m" ||
		cl_fail "no event for the move on $m: $(cat "$CL_DIR/events.$m")"
	for r in webip mysql tomcat; do
		[ -e "$CL_DIR/$s/$r.running" ] || cl_fail "$s does not run $r after the move"
		cl_wait 3000 test ! -e "$CL_DIR/$m/$r.running" ||
			cl_fail "$m still runs $r after the move"
	done
	cl_expect_status 3000 "$s" "master : $(cl_name "$s") (Online)" \
		"slave  : $(cl_name "$m") (Online)" "mysql  : Started $(cl_name "$s")"
	sleep 0.5
	cl_check_clean "after the move" --since "$t0"
	cl_final_check
}

cl_run_modes scenario
