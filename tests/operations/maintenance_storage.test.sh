#!/bin/bash
# Intent: in maintenance a storage failure on the master is read and shown, not acted on: the master's LUN file system (storage-fc on a loop device) turns read-only in its agent's mount namespace; its monitor's FAILED shows as the storage's error beside the `!! MAINTENANCE MODE` line, the master stays master in every sample, the slave never serves, nothing is unmounted, and no split-brain heal is pending (`admin.heal_pending` empty: a shared LUN has nothing to resync); after `cmsadm maintenance off` the failure is still shown and, as docs/decisions.md says (no automatic reaction to a storage failure exists), the group stays where it is.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
cl_init maint_storage

CL_MNT=/var/lib/mysql-share
cl_lun_up nsenter findmnt
cl_group_xml() { cl_lun_group_xml "$@"; }

in_agent() { # node cmd...: in the agent's own mount namespace
	local n=$1
	shift
	nsenter -t "${CL_PID[$n]}" -m -- "$@"
}

# The options of CL_MNT in the node's agent's namespace ("" when none).
mnt_opts() { in_agent "$1" findmnt -n -o OPTIONS "$CL_MNT" 2>/dev/null || true; }

notice() { # node -> the line status must show
	local me peer
	me=$(cl_name "$1")
	peer=$(cl_name "$(cl_peer "$1")")
	echo "!! MAINTENANCE MODE ($me: on, $peer: on): resource failures are shown, not acted on (no restart, no failover); \`cmsadm maintenance off\` ends it"
}

no_heal_pending() { # node: status --json says maintenance on|off, nothing pending
	cl_status "$1" --json
	/usr/bin/python3 - "$CL_DIR/status.$1" "$2" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["admin"]
want = sys.argv[2] == "on"
sys.exit(0 if a["maintenance"] is want and a["heal_pending"] == [] else
         "admin: %r" % a)
PY
}

scenario() {
	local m=$CL_M s=$CL_S rc out t0 n mn sn err
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")
	err="error  : db: monitor: FAILED while started"

	cl_log "maintenance on, from the master $m"
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$m")" maintenance on 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = "maintenance on for $mn and $sn: resource failures are shown, not acted on" ] ||
		cl_fail "maintenance on: exit $rc, \"$out\""
	for n in node1 node2; do
		cl_expect_status 3000 "$n" "$(notice "$n")"
		no_heal_pending "$n" on || cl_fail "status --json on $n in maintenance"
	done

	cl_log "$m's file system on the LUN turns read-only (its storage monitor fails)"
	[[ ,$(mnt_opts "$m"), == *,rw,* ]] || cl_fail "$CL_MNT is not mounted rw on $m: \"$(mnt_opts "$m")\""
	t0=$(cl_now)
	in_agent "$m" mount -o remount,ro "$CL_MNT"
	# The storage's monitor runs every 10 s.
	cl_expect_status $((11000 + CL_SLACK_MS)) "$m" "$err" "$(notice "$m")" \
		"master : $mn (Online)" "mysql  : Started $mn"
	grep -q "db: monitor: .*mounted read-only" "$CL_DIR/$m/cmsd.log" ||
		cl_fail "$m's log does not say why the storage failed"
	sleep 2
	cl_is "$m" master serving || cl_fail "$m is not master serving: $(cl_role "$m")"
	cl_is "$s" slave idle || cl_fail "$s is not an idle slave: $(cl_role "$s")"
	[[ ,$(mnt_opts "$m"), == *,ro,* ]] || cl_fail "$CL_MNT on $m was touched in maintenance: \"$(mnt_opts "$m")\""
	[ -z "$(mnt_opts "$s")" ] || cl_fail "$CL_MNT is mounted on the slave $s"
	no_heal_pending "$m" on || cl_fail "a heal pending on $m for a shared LUN"
	cl_check_clean "storage failed in maintenance" --since "$t0"
	cl_assert "$m master in every sample" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never serving" "$(cl_get "$s.serving_samples")" -eq 0

	cl_log "maintenance off: the storage failure is shown, the group stays"
	rc=0
	out=$("$CMSADM_BIN" -s "$(cl_sock "$m")" maintenance off 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = "maintenance off for $mn and $sn: resource failures are acted on again" ] ||
		cl_fail "maintenance off: exit $rc, \"$out\""
	t0=$(cl_now)
	for n in node1 node2; do
		cl_wait_for 3000 "$n out of maintenance" no_heal_pending "$n" off
	done
	# Two more storage monitors, each FAILED.
	sleep $((20 + CL_SLACK_MS / 1000))
	cl_expect_status 3000 "$m" "$err" "master : $mn (Online)" "mysql  : Started $mn"
	cl_status "$m"
	grep -q "^!! " "$CL_DIR/status.$m" &&
		cl_fail "status on $m still shows a notice: $(grep '^!! ' "$CL_DIR/status.$m")"
	cl_check_clean "storage failed after maintenance" --since "$t0"
	cl_assert "$m master in every sample after maintenance" \
		"$(cl_get "$m.master_samples")" -eq "$(cl_get "$m.samples")"
	cl_assert "$s never serving after maintenance" "$(cl_get "$s.serving_samples")" -eq 0

	cl_log "the file system writable again: the storage's monitor says so"
	in_agent "$m" mount -o remount,rw "$CL_MNT"
	cl_wait_for $((11000 + CL_SLACK_MS)) "$m's storage monitor RUNNING again" \
		grep -q "db: monitor: FAILED -> RUNNING" "$CL_DIR/$m/cmsd.log"
	cl_final_check
}

cl_run_modes scenario
