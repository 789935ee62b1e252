#!/bin/bash
# Intent: kill -9 of the master's agent: the slave is master within deadtime + lease + margin + slack (ping mode: deadtime + margin + slack), never both serving, with a raised epoch; the restarted agent rejoins as slave, stops what it left running, and the master stays.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init kill_master

scenario() {
	local m=$CL_M s=$CL_S bound t0 t1 fo r
	bound=$(cl_bound_failover)

	t0=$(cl_now)
	cl_log "kill -9 of $m's agent (master)"
	cl_kill "$m"
	cl_wait_for $((bound + 2000)) "$s master after $m's agent died" \
		cl_is "$s" master serving
	sleep 0.3
	cl_check_clean "after the kill" --since "$t0" --expect "$s"
	fo=$(cl_get failover_ms)
	CL_RESULT_TIME=$fo
	cl_log "$s master $fo ms after the kill (bound $bound)"
	cl_assert "$s master within $bound ms of the kill (took $fo ms)" \
		"$fo" -le "$bound"
	cl_assert "$s raised its epoch on takeover" \
		"$(cl_get "$s.epoch_last")" -gt "$(cl_get "$s.epoch_first")"
	cl_expect_status 3000 "$s" "master : $(cl_name "$s") (Online)" \
		"slave  : $(cl_name "$m") (Offline)"

	t1=$(cl_now)
	cl_log "restart $m's agent"
	cl_start "$m"
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$m back as slave" cl_is "$m" slave idle
	sleep 1
	cl_check_clean "after the restart" --since "$t1"
	cl_assert "$s master in every sample since $m's restart ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq "$(cl_get "$s.samples")"
	cl_assert "$m never master after its restart ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq 0
	cl_assert "$m never serving after its restart (a restarted agent must stop what it finds running before it reports it)" \
		"$(cl_get "$m.serving_samples")" -eq 0
	# resource-dummy's state files: the "services" the killed agent left
	# running must be stopped by the restarted one, now a slave.
	for r in webip mysql tomcat; do
		cl_wait 3000 test ! -e "$CL_DIR/$m/$r.running" ||
			cl_fail "$m (slave again) still runs $r from before the kill: $CL_DIR/$m/$r.running exists"
	done
	cl_expect_status 3000 "$s" "slave  : $(cl_name "$m") (Online)"
	cl_final_check
}

cl_run_modes scenario
