#!/bin/bash
# Intent: a resource that fails to stop blocks the peer's takeover: on a switchover whose group stop fails, the slave stays slave (never two serving) while the master retries, and takes over as soon as the stop succeeds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init stop_blocks

# resource-dummy stops by unlinking its state file; a directory in its
# place makes the stop fail (EISDIR) while the monitor still sees it.
scenario() {
	local m=$CL_M s=$CL_S t0 f out
	f=$CL_DIR/$m/mysql.running

	rm -f "$f"
	mkdir "$f"
	t0=$(cl_now)
	cl_log "switchover on $m with mysql unable to stop"
	out=$("$CMSADM_BIN" -s "$(cl_sock "$m")" switchover) ||
		cl_fail "switchover refused: $out"
	cl_wait_for 5000 "$m logs the failed stop" \
		grep -q "mysql: stop failed" "$CL_DIR/$m/cmsd.log"
	# Several retries' worth: the peer must stay out all along.
	sleep 3
	cl_is "$s" slave idle || cl_fail "$s left slave while $m could not stop mysql: $(cl_role "$s")"
	cl_idle "$m" && cl_fail "$m reports idle although mysql did not stop"
	cl_check_clean "while the stop fails" --since "$t0"
	cl_assert "$s never master while $m's mysql runs ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq 0

	cl_log "mysql can stop again: the switchover completes"
	rmdir "$f"
	cl_wait_for $((10000 + CL_SLACK_MS)) "$s master after the stop succeeded" \
		cl_is "$s" master serving
	cl_wait_for 3000 "$m slave and idle" cl_is "$m" slave idle
	for r in webip mysql tomcat; do
		[ -e "$CL_DIR/$s/$r.running" ] || cl_fail "$s does not run $r"
		[ -e "$CL_DIR/$m/$r.running" ] && cl_fail "$m still runs $r"
	done
	sleep 0.5
	cl_final_check
}

cl_run_modes scenario
