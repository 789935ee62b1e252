#!/bin/bash
# Intent: node1 <-> node2 cut while both still reach the quorum: arbiter mode keeps the master and the slave never takes over (zero dual-serving samples); ping mode gets two masters (documented) and, after the heal, exactly one within deadtime + 2 s + slack, the loser a slave again, the winner's epoch raised and the split brain in the events.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init partition

cut() {
	cl_log "partition node1 <-> node2"
	cl_partition
	cl_reach "$CL_M" "$(cl_addr "$CL_S")" 300 &&
		cl_fail "the nodes still reach each other: the partition did not cut"
	if [ "$CL_MODE" = arbiter ]; then
		cl_reach node1 "$CL_ARBITER_ADDR" || cl_fail "node1 lost the arbiter"
		cl_reach node2 "$CL_ARBITER_ADDR" || cl_fail "node2 lost the arbiter"
	else
		cl_reach node1 "${CL_TARGETS%% *}" || cl_fail "node1 lost its targets"
		cl_reach node2 "${CL_TARGETS%% *}" || cl_fail "node2 lost its targets"
	fi
	return 0
}

arbiter_mode() {
	local m=$CL_M s=$CL_S t0 t1 hold
	hold=$((3 * (CL_DEADTIME_MS + CL_LEASE_MS)))
	t0=$(cl_now)
	cut
	cl_sleep_ms "$hold"
	cl_check_clean "during the partition" --since "$t0"
	cl_assert "$m master in every sample of the partition ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$m serving in every sample of the partition" \
		"$(cl_get "$m.serving_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never master in the partition ($(cl_get "$s.roles"))" \
		"$(cl_get "$s.master_samples")" -eq 0
	cl_assert "$s never serving in the partition" \
		"$(cl_get "$s.serving_samples")" -eq 0
	cl_assert "$m's epoch unchanged" \
		"$(cl_get "$m.epoch_last")" -eq "$(cl_get "$m.epoch_first")"
	cl_expect_status 3000 "$m" "master : $(cl_name "$m") (Online)" \
		"slave  : $(cl_name "$s") (Offline)"

	t1=$(cl_now)
	cl_log "heal"
	cl_heal_partition
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$s a slave again after the heal" cl_is "$s" slave idle
	sleep 1
	cl_check_clean "after the heal" --since "$t1"
	cl_assert "$m master in every sample after the heal ($(cl_get "$m.roles"))" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never master after the heal" "$(cl_get "$s.master_samples")" -eq 0
	cl_expect_status 3000 "$m" "slave  : $(cl_name "$s") (Online)"
	cl_final_check
}

ping_mode() {
	local m=$CL_M s=$CL_S t0 th settle premax w l events
	settle=$((CL_DEADTIME_MS + 2000 + CL_SLACK_MS))
	t0=$(cl_now)
	cut
	# Documented: ping mode cannot tell a dead peer from a cut one.
	cl_wait_for $(($(cl_bound_failover) + 2000)) \
		"ping mode, partition: $s takes over too (two masters, documented)" \
		cl_is "$s" master serving
	cl_is "$m" master serving || cl_fail "$m gave up mastership in a partition that left it its targets: $(cl_role "$m")"
	sleep 2
	th=$(cl_now)
	cl_check --since "$t0" --allow-dual ||
		cl_fail "during the partition: $(cat "$CL_DIR/check.err")"
	cl_assert "two masters during the partition (documented)" \
		"$(cl_get dual_master)" -gt 0
	premax=$(cl_get node1.epoch_last)
	[ "$(cl_get node2.epoch_last)" -le "$premax" ] || premax=$(cl_get node2.epoch_last)

	cl_log "heal"
	cl_heal_partition
	cl_wait_for "$settle" "one master again after the heal" cl_is_steady
	w=$CL_M l=$CL_S
	CL_RESULT_TIME=$CL_WAITED
	cl_log "winner $w, loser $l, one master after $CL_WAITED ms"
	sleep 1
	cl_check_clean "once settled" --since "$((th + settle))"
	cl_check --since "$th" --allow-dual ||
		cl_fail "after the heal: $(cat "$CL_DIR/check.err")"
	cl_assert "$l stopped being master within $settle ms of the heal (last +$(cl_get "$l.last_master"))" \
		"$(cl_get "$l.last_master")" -le "$settle"
	cl_assert "$w's epoch ($(cl_get "$w.epoch_last")) above both before the heal ($premax)" \
		"$(cl_get "$w.epoch_last")" -gt "$premax"
	cl_is "$l" slave idle || cl_fail "$l is not an idle slave: $(cl_role "$l")"
	events=$("$CMSADM_BIN" -s "$(cl_sock "$w")" events 2>&1) ||
		cl_fail "cmsadm events on $w: $events"
	grep -qiE 'split.?brain' <<<"$events" ||
		cl_fail "the split brain is not in $w's events: $events"
	cl_expect_status 3000 "$w" "master : $(cl_name "$w") (Online)" \
		"slave  : $(cl_name "$l") (Online)"
	cl_final_check --allow-dual
	CL_RESULT_DUAL_MASTER=0 # the partition's were expected
	CL_RESULT_DUAL_SERVING=0
}

scenario() {
	if [ "$CL_MODE" = arbiter ]; then arbiter_mode; else ping_mode; fi
}

cl_run_modes scenario
