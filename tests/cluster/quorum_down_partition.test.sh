#!/bin/bash
# Intent: the quorum goes away, then node1 <-> node2 are cut: no node serves within deadtime + margin + slack and none takes over; arbiter mode: when the arbiter returns (still cut) exactly one node is master (the arbiter grants the first asker with data not older than the last master's: the old master stepped down within the lease, before DRBD protocol C could complete a write the slave lacks) and the other never is, and after the heal that master remains; ping mode: when the targets return (still cut) both become master (documented), and after the heal exactly one remains.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init quorum_down_partition

# Both the quorum and the peer gone: nobody may serve.
cut_off() {
	local m=$CL_M s=$CL_S tp b
	b=$((CL_DEADTIME_MS + CL_MARGIN_MS + CL_SLACK_MS))
	tp=$(cl_now)
	cl_log "partition node1 <-> node2"
	cl_partition
	cl_wait_for $((b + 1000)) "nobody serving with neither quorum nor peer" \
		cl_nobody_serving
	sleep 4
	cl_check_clean "quorum and peer gone" --since "$tp"
	cl_assert "$m stopped serving within $b ms of the partition (last +$(cl_get "$m.last_serving"))" \
		"$(cl_get "$m.last_serving")" -le "$b"
	cl_assert "$s never master without quorum ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq 0
	cl_assert "$s never serving without quorum" "$(cl_get "$s.serving_samples")" -eq 0
	cl_check_clean "quorum and peer gone, settled" --since $((tp + b))
	cl_assert "nobody master" \
		"$(cl_get node1.master_samples)" -eq 0 -a "$(cl_get node2.master_samples)" -eq 0
	cl_assert "nobody serving" \
		"$(cl_get node1.serving_samples)" -eq 0 -a "$(cl_get node2.serving_samples)" -eq 0
}

arbiter_mode() {
	local m=$CL_M s=$CL_S ta th
	cl_log "arbiter down (kill -9)"
	cl_arbiter_down
	# past the last lease: from here the master holds on by its peer's acks
	cl_sleep_ms $((CL_LEASE_MS + CL_MARGIN_MS + CL_SLACK_MS))
	cl_is "$m" master serving ||
		cl_fail "$m did not stay master on its peer's acks: $(cl_role "$m")"
	cut_off

	ta=$(cl_now)
	cl_log "arbiter back, still partitioned"
	cl_arbiter_up
	one_master() {
		if cl_is node1 master serving; then
			m=node1 s=node2
		elif cl_is node2 master serving; then
			m=node2 s=node1
		else
			return 1
		fi
	}
	cl_wait_for $((CL_DEADTIME_MS + CL_LEASE_MS + CL_MARGIN_MS + CL_SLACK_MS + 3000)) \
		"one master once the arbiter returned" one_master
	CL_RESULT_TIME=$CL_WAITED
	one_master || cl_fail "the master of a moment ago is gone"
	cl_log "$m master $CL_WAITED ms after the arbiter returned"
	sleep 2
	cl_check_clean "arbiter back, partitioned" --since "$ta"
	cl_assert "$s never master while partitioned ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq 0
	cl_assert "$s never serving while partitioned" "$(cl_get "$s.serving_samples")" -eq 0

	th=$(cl_now)
	cl_log "heal"
	cl_heal_partition
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$s a slave again after the heal" cl_is "$s" slave idle
	sleep 1
	cl_check_clean "after the heal" --since "$th"
	cl_assert "$m master in every sample after the heal ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never master after the heal" "$(cl_get "$s.master_samples")" -eq 0
	cl_expect_status 3000 "$m" "master : $(cl_name "$m") (Online)" \
		"slave  : $(cl_name "$s") (Online)" \
		"quorum : [controller] $(cl_name arbiter) (Online)"
	cl_final_check
}

ping_mode() {
	local m=$CL_M s=$CL_S sd ta th settle
	sd=$(cl_bound_stepdown)
	settle=$((CL_DEADTIME_MS + 2000 + CL_SLACK_MS))
	cl_log "both ping targets gone"
	cl_targets_down
	cl_wait_for $((sd + 1000)) "$m steps down without targets" cl_nobody_serving
	cut_off

	ta=$(cl_now)
	cl_log "targets back, still partitioned"
	cl_targets_up
	cl_wait_for $(($(cl_bound_failover) + 3000)) \
		"ping mode: both master once the targets return to a partition (documented)" \
		cl_both_master
	sleep 1
	th=$(cl_now)
	cl_log "heal"
	cl_heal_partition
	cl_wait_for "$settle" "one master again after the heal" cl_is_steady
	CL_RESULT_TIME=$CL_WAITED
	cl_log "$CL_M master, $CL_S slave, $CL_WAITED ms after the heal"
	sleep 1
	cl_check_clean "once settled" --since "$((th + settle))"
	cl_final_check --allow-dual
	CL_RESULT_DUAL_MASTER=0 # the partition's were expected
	CL_RESULT_DUAL_SERVING=0
}

scenario() {
	if [ "$CL_MODE" = arbiter ]; then arbiter_mode; else ping_mode; fi
}

cl_run_modes scenario
