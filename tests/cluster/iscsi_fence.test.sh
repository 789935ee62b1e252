#!/bin/bash
# Intent: with iSCSI template storage (storage-iscsi against a real tgtd in the switch namespace, reservation write-exclusive-registrants-only, keys derived from the node ids), a failover fences the deposed master: a session standing for the master's kernel initiator (iscsi_writer in the master's namespace, its initiator name, registered with the master's key as read from `cmsadm status`) writes GOOD while the master holds the reservation; after kill -9 of the master's agent (the session, like the kernel's, lives on) the peer becomes master, its status (text and JSON `holder`) names its own key as the reservation holder "(this node)", and the old session's next WRITE gets RESERVATION CONFLICT, already when the peer first serves.
#
# <block-device>none</block-device>: the kernel initiator cannot run in the
# test's namespaces, so nothing is mounted; iscsi_writer stands for the
# kernel session that production registers on promote (storage-iscsi(5)).
# Needs root, tgtd/tgtadm (package tgt) and libiscsi; exits 77 without tgt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init iscsi_fence
. "$(dirname "$0")/iscsi_lib.sh"

scenario() {
	local m=$CL_M s=$CL_S mkey skey j t0

	# Steady state: the master holds the reservation with its own key,
	# the slave sees it held by another node.
	expect_holder "$m" mine
	mkey=$CL_HOLDER
	j=$(json_holder "$m") || cl_fail "status --json on $m: $(cat "$CL_DIR/status.$m")"
	[ "$j" = "$mkey (this node)" ] ||
		cl_fail "status --json on $m: holder \"$j\", expected \"$mkey (this node)\""
	expect_holder "$s" other "$mkey"
	cl_log "$m holds the reservation with key $mkey"

	# The master's kernel session: registered with the master's key, it
	# writes.
	writer_start "$m" "$mkey"
	writer_write
	[ "$CL_WROTE" = GOOD ] ||
		cl_fail "WRITE from $m's session while $m is master: $CL_WROTE, expected GOOD"

	# The master's agent dies; its kernel (the writer) does not.
	cl_log "kill -9 of $m's agent (master); its session stays"
	t0=$(cl_now)
	cl_kill "$m"
	cl_wait_for $(($(cl_bound_failover) + 2000)) "$s master" cl_is "$s" master serving
	# Fenced by the time the new master serves.
	writer_write
	[ "$CL_WROTE" = RESERVATION_CONFLICT ] ||
		cl_fail "WRITE from deposed $m's session once $s serves: $CL_WROTE, expected RESERVATION_CONFLICT"
	cl_log "$s master; $m's session gets RESERVATION CONFLICT"
	sleep 0.1
	cl_check_clean "after the kill" --since "$t0" --expect "$s"
	CL_RESULT_TIME=$(cl_get failover_ms)

	# The new master names itself as the holder, with its own key.
	expect_holder "$s" mine
	skey=$CL_HOLDER
	[ "$skey" != "$mkey" ] ||
		cl_fail "$s holds the reservation with $m's key $mkey"
	j=$(json_holder "$s") || cl_fail "status --json on $s: $(cat "$CL_DIR/status.$s")"
	[ "$j" = "$skey (this node)" ] ||
		cl_fail "status --json on $s: holder \"$j\", expected \"$skey (this node)\""
	# Still fenced, not a passing state.
	writer_write
	[ "$CL_WROTE" = RESERVATION_CONFLICT ] ||
		cl_fail "WRITE from deposed $m's session later: $CL_WROTE, expected RESERVATION_CONFLICT"
	cl_log "$s holds the reservation with key $skey"
	writer_stop
	cl_final_check
}

cl_run_modes scenario
