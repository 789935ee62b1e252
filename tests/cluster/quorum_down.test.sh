#!/bin/bash
# Intent: the quorum goes away with both nodes up.  Arbiter mode: the arbiter is killed, the master stays master (its peer still acknowledges it), nothing changes, status shows the arbiter Offline and Online again when it returns.  Ping mode: both targets vanish, the master steps down within ping timeout + margin + slack, nobody serves, and one master is back once they return.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init quorum_down

arbiter_mode() {
	local m=$CL_M s=$CL_S t0 t1 hold q
	hold=$((3 * (CL_DEADTIME_MS + CL_LEASE_MS)))
	q="quorum : [controller] $(cl_name arbiter)"
	t0=$(cl_now)
	cl_log "arbiter down (kill -9)"
	cl_arbiter_down
	cl_sleep_ms "$hold"
	cl_check_clean "without the arbiter" --since "$t0"
	cl_assert "$m master and serving in every sample without the arbiter ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.serving_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$m's role never changed ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	[ "$(cl_get "$s.roles")" = slave ] ||
		cl_fail "$s's role changed without the arbiter: $(cl_get "$s.roles")"
	cl_assert "$s never serving" "$(cl_get "$s.serving_samples")" -eq 0
	cl_assert "epochs unchanged" \
		"$(cl_get "$m.epoch_last")" -eq "$(cl_get "$m.epoch_first")" -a \
		"$(cl_get "$s.epoch_last")" -eq "$(cl_get "$s.epoch_first")"
	cl_expect_status 3000 "$m" "$q (Offline)" "master : $(cl_name "$m") (Online)" \
		"slave  : $(cl_name "$s") (Online)"

	t1=$(cl_now)
	cl_log "arbiter back"
	cl_arbiter_up
	cl_expect_status $((5000 + CL_SLACK_MS)) "$m" "$q (Online)"
	sleep 2
	cl_check_clean "after the arbiter returned" --since "$t1"
	cl_assert "$m master in every sample after the arbiter returned ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	[ "$(cl_get "$s.roles")" = slave ] ||
		cl_fail "$s's role changed when the arbiter returned: $(cl_get "$s.roles")"
	cl_final_check
}

ping_mode() {
	local m=$CL_M s=$CL_S sd t0 t1
	sd=$(cl_bound_stepdown)
	t0=$(cl_now)
	cl_log "both ping targets gone"
	cl_targets_down
	cl_reach "$m" "${CL_TARGETS%% *}" 300 && cl_fail "the targets still answer"
	cl_wait_for $((sd + 1000)) "$m steps down without targets" cl_nobody_serving
	sleep 3
	cl_check_clean "without targets" --since "$t0"
	cl_assert "$m stopped serving within $sd ms (last served at +$(cl_get "$m.last_serving"))" \
		"$(cl_get "$m.last_serving")" -le "$sd"
	cl_assert "$s never master without targets ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq 0
	cl_assert "$s never serving without targets" "$(cl_get "$s.serving_samples")" -eq 0
	cl_check_clean "once stepped down" --since $((t0 + sd))
	cl_assert "nobody master once $m stepped down" \
		"$(cl_get "$m.master_samples")" -eq 0 -a "$(cl_get "$s.master_samples")" -eq 0
	cl_assert "nobody serving once $m stepped down" \
		"$(cl_get "$m.serving_samples")" -eq 0 -a "$(cl_get "$s.serving_samples")" -eq 0

	t1=$(cl_now)
	cl_log "targets back"
	cl_targets_up
	cl_wait_for $(($(cl_bound_failover) + 3000)) "one master once the targets returned" \
		cl_is_steady
	CL_RESULT_TIME=$CL_WAITED
	cl_log "$CL_M master $CL_WAITED ms after the targets returned"
	sleep 1
	cl_check_clean "after the targets returned" --since "$t1"
	cl_final_check
}

scenario() {
	if [ "$CL_MODE" = arbiter ]; then arbiter_mode; else ping_mode; fi
}

cl_run_modes scenario
