#!/bin/bash
# Intent: the compat wrappers of tools/compat, as built: `crm status` prints exactly what `cmsadm status` prints on both nodes, any other `crm` use is refused with a clear message, `ms_resource_stop.sh` / `ms_resource_start.sh` stop HA on both nodes and start it again with the same master (noting themselves in the compat log), and with the daemon down each prints exactly `cmsadm: failed to connect to cmsd`.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
cl_init compat
# The wrappers do not depend on the quorum mode.
CLUSTER_MODES=${CLUSTER_MODES:-arbiter}
COMPAT=${CMSD_BUILD_DIR:-}/tools/compat
[ -x "$COMPAT/crm" ] || cl_skip "no built compat wrappers in \$CMSD_BUILD_DIR/tools/compat"
export CMSADM=$CMSADM_BIN

# `crm status` and `cmsadm status` a moment apart: equal unless the
# uptime ticked in between, so a few tries.
same_status() { # node
	local i
	for i in 1 2 3; do
		CMSD_SOCKET=$(cl_sock "$1") "$COMPAT/crm" status >"$CL_DIR/crm.$1" 2>&1 || return 1
		"$CMSADM_BIN" -s "$(cl_sock "$1")" status >"$CL_DIR/cmsadm.$1" 2>&1 || return 1
		cmp -s "$CL_DIR/crm.$1" "$CL_DIR/cmsadm.$1" && return 0
		sleep 0.2
	done
	return 1
}

scenario() {
	local m=$CL_M s=$CL_S rc out n log=$CL_DIR/cvm_master_slave.log
	export CMSD_COMPAT_LOG=$log
	for n in node1 node2; do
		same_status "$n" || cl_fail "crm status on $n differs from cmsadm status: $(diff "$CL_DIR/cmsadm.$n" "$CL_DIR/crm.$n")"
	done
	grep -qxF "master : $(cl_name "$m") (Online)" "$CL_DIR/crm.$s" ||
		cl_fail "crm status on $s: $(cat "$CL_DIR/crm.$s")"
	rc=0
	out=$(CMSD_SOCKET=$(cl_sock "$m") "$COMPAT/crm" configure show 2>&1) || rc=$?
	[ "$rc" = 2 ] && [ "$out" = "crm: only \"crm status\" is supported (this is cmsd's compat wrapper, not Pacemaker's crmsh; got \"crm configure show\"); see cmsadm(8)" ] ||
		cl_fail "crm configure show: exit $rc, \"$out\""

	cl_log "ms_resource_stop.sh on the master $m"
	rc=0
	out=$(CMSD_SOCKET=$(cl_sock "$m") "$COMPAT/ms_resource_stop.sh" 2>&1) || rc=$?
	[ "$rc" = 0 ] || cl_fail "ms_resource_stop.sh: exit $rc: $out"
	grep -qxF "HA stopped on $(cl_name "$m") and $(cl_name "$s"): the group is down, neither node takes over until \`cmsadm start\`" <<<"$out" ||
		cl_fail "ms_resource_stop.sh said: $out"
	cl_is "$m" slave idle && cl_is "$s" slave idle || cl_fail "not stopped: $(cl_role node1); $(cl_role node2)"
	same_status "$s" || cl_fail "crm status on $s while stopped differs"
	grep -qxF "master : none" "$CL_DIR/crm.$s" || cl_fail "crm status while stopped: $(cat "$CL_DIR/crm.$s")"

	cl_log "ms_resource_start.sh on $s"
	rc=0
	out=$(CMSD_SOCKET=$(cl_sock "$s") "$COMPAT/ms_resource_start.sh" 2>&1) || rc=$?
	[ "$rc" = 0 ] || cl_fail "ms_resource_start.sh: exit $rc: $out"
	grep -qxF "HA started: master $(cl_name "$m")" <<<"$out" ||
		cl_fail "ms_resource_start.sh said: $out"
	cl_wait_for 5000 "steady after the start" cl_is_steady
	[ "$CL_M" = "$m" ] || cl_fail "master after the start: $CL_M, before: $m"
	grep -qE "^[0-9-]+ [0-9:]+ ms_resource_stop.sh: cmsadm stop: exit 0$" "$log" &&
		grep -qE "^[0-9-]+ [0-9:]+ ms_resource_start.sh: cmsadm start: exit 0$" "$log" ||
		cl_fail "the compat log lacks the two runs: $(cat "$log" 2>&1)"
	rc=0
	out=$("$COMPAT/ms_resource_stop.sh" now 2>&1) || rc=$?
	[ "$rc" = 2 ] && [ "$out" = 'ms_resource_stop.sh: takes no arguments (got "now")' ] ||
		cl_fail "ms_resource_stop.sh with an argument: exit $rc, \"$out\""
	cl_final_check

	# drbd-overview reads the host, not cmsd: whatever cmsadm
	# drbd-overview says here (no DRBD on a test host; the lines
	# themselves are checked in the QEMU guests, tests/vm), the wrapper
	# says the same with the same status.
	cl_log "drbd-overview: cmsadm drbd-overview, byte for byte"
	local want wrc=0 got grc=0
	want=$("$CMSADM_BIN" drbd-overview 2>&1) || wrc=$?
	got=$(CMSADM="$CMSADM_BIN" "$COMPAT/drbd-overview" 2>&1) || grc=$?
	[ "$grc" = "$wrc" ] && [ "$got" = "$want" ] ||
		cl_fail "drbd-overview: exit $grc, \"$got\"; cmsadm drbd-overview: exit $wrc, \"$want\""
	rc=0
	out=$("$COMPAT/drbd-overview" r0 2>&1) || rc=$?
	[ "$rc" = 2 ] && [ "$out" = 'drbd-overview: takes no arguments (got "r0"); see cmsadm(8)' ] ||
		cl_fail "drbd-overview with an argument: exit $rc, \"$out\""

	cl_log "daemons down: the reference message, exactly"
	cl_kill node1
	cl_kill node2
	for w in "crm status" ms_resource_stop.sh ms_resource_start.sh; do
		rc=0
		# shellcheck disable=SC2086 # "crm status" is two words
		out=$(CMSD_SOCKET=$(cl_sock "$m") "$COMPAT"/$w 2>&1) || rc=$?
		[ "$rc" = 1 ] && [ "$out" = "cmsadm: failed to connect to cmsd" ] ||
			cl_fail "$w with cmsd down: exit $rc, \"$out\""
	done
}

cl_run_modes scenario
