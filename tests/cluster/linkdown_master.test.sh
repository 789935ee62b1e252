#!/bin/bash
# Intent: the master's links all go down: it stops serving before the slave starts, the slave is master within deadtime + lease + margin + slack (ping mode: deadtime + margin + slack); on link up the old master rejoins as slave and the new master stays.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init linkdown_master

scenario() {
	local m=$CL_M s=$CL_S bound sd t0 t1 fo first_new last_old
	bound=$(cl_bound_failover)
	sd=$(cl_bound_stepdown)

	t0=$(cl_now)
	cl_log "links of $m (master) down"
	cl_link_down "$m"
	cl_wait_for $((bound + 2000)) "$s master after $m's links went down" \
		cl_is "$s" master serving
	cl_wait_for $((sd + 1000)) "$m (cut off) stops serving" cl_idle "$m"
	sleep 0.3
	cl_reach "$s" "$(cl_addr "$m")" 300 && cl_fail "$m still reachable: the fault did not cut"
	cl_check_clean "after the link went down" --since "$t0" --expect "$s"
	fo=$(cl_get failover_ms)
	CL_RESULT_TIME=$fo
	first_new=$(cl_get "$s.first_serving")
	last_old=$(cl_get "$m.last_serving")
	cl_log "$m last served at +$last_old ms, $s master at +$fo ms, serving at +$first_new ms"
	cl_assert "$s master within $bound ms (took $fo ms)" "$fo" -le "$bound"
	cl_assert "$m stopped serving within $sd ms (last served at +$last_old)" \
		"$last_old" -le "$sd"
	cl_assert "$m stopped serving (+$last_old) before $s started (+$first_new)" \
		"$last_old" -lt "$first_new"
	cl_assert "$m never master again while cut off" \
		"$(cl_get "$m.last_master")" -lt "$fo"
	cl_assert "$s raised its epoch on takeover" \
		"$(cl_get "$s.epoch_last")" -gt "$(cl_get "$s.epoch_first")"
	cl_expect_status 3000 "$s" "master : $(cl_name "$s") (Online)" \
		"slave  : $(cl_name "$m") (Offline)"

	t1=$(cl_now)
	cl_log "links of $m up"
	cl_link_up "$m"
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$m back as slave" cl_is "$m" slave idle
	sleep 1
	cl_check_clean "after the link came back" --since "$t1"
	cl_assert "$s master in every sample since the link came back ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq "$(cl_get "$s.samples")"
	cl_assert "$m never master after it came back ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq 0
	cl_assert "$m never serving after it came back" \
		"$(cl_get "$m.serving_samples")" -eq 0
	cl_expect_status 3000 "$s" "slave  : $(cl_name "$m") (Online)"
	cl_final_check
}

cl_run_modes scenario
