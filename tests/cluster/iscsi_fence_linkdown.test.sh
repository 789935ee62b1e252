#!/bin/bash
# Intent: with iSCSI template storage (as iscsi_fence), the master's links all go down while its agent and its kernel session (iscsi_writer in its namespace, registered with its key) stay: the SAN sits behind the same cut link, so the cut-off master's storage demote waits for a link that is gone; it must stop reporting itself as serving the moment it decides to step down (the VIP goes first), so that no sample has two nodes serving; the peer takes over and preempts, and once the links are back the old session's WRITE gets RESERVATION CONFLICT; the old master rejoins as slave and the new master names its own key as the holder.
#
# <block-device>none</block-device> as in iscsi_fence: iscsi_writer stands
# for the kernel session.  Needs root, tgtd/tgtadm (package tgt) and
# libiscsi; exits 77 without tgt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init iscsi_fence_linkdown
. "$(dirname "$0")/iscsi_lib.sh"

scenario() {
	local m=$CL_M s=$CL_S mkey t0

	expect_holder "$m" mine
	mkey=$CL_HOLDER
	expect_holder "$s" other "$mkey"
	writer_start "$m" "$mkey"
	writer_write
	[ "$CL_WROTE" = GOOD ] ||
		cl_fail "WRITE from $m's session while $m is master: $CL_WROTE, expected GOOD"
	cl_log "$m holds the reservation with key $mkey; links of $m down, its agent and session stay"

	t0=$(cl_now)
	cl_link_down "$m"
	cl_wait_for $(($(cl_bound_failover) + 2000)) "$s master after $m's links went down" \
		cl_is "$s" master serving
	# The cut-off master may still be demoting (its SAN is behind the
	# cut link), but it serves nobody.
	cl_idle "$m" || cl_fail "$m (cut off) reports serving while $s serves: $(cl_role "$m")"
	cl_link_up "$m"
	# The old session noticed nothing (no I/O while cut): the fence
	# stops its next write.
	writer_write
	[ "$CL_WROTE" = RESERVATION_CONFLICT ] ||
		cl_fail "WRITE from cut-off $m's session after $s took over: $CL_WROTE, expected RESERVATION_CONFLICT"
	cl_log "$s master; $m's session gets RESERVATION CONFLICT"
	cl_wait_for $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS)) \
		"$m rejoins as slave" cl_is "$m" slave idle
	# No round with two nodes serving or two masters from the cut on.
	cl_check_clean "after the links went down" --since "$t0" --expect "$s"
	CL_RESULT_TIME=$(cl_get failover_ms)
	expect_holder "$s" mine
	[ "$CL_HOLDER" != "$mkey" ] ||
		cl_fail "$s holds the reservation with $m's key $mkey"
	writer_write
	[ "$CL_WROTE" = RESERVATION_CONFLICT ] ||
		cl_fail "WRITE from deposed $m's session later: $CL_WROTE, expected RESERVATION_CONFLICT"
	cl_log "$s holds the reservation with key $CL_HOLDER"
	writer_stop
	cl_final_check
}

cl_run_modes scenario
