#!/bin/bash
# Intent: `cmsadm status` prints the reference `crm status` lines (DESIGN.md section 2) character for character on both nodes with both up (with the reference's VIP 172.16.60.55 and its Master/Slave Set on /var/lib/mysql-share: a real storage-fc on a loop device, mounted in the agents' own mount namespaces), and after the master's agent dies the survivor prints itself master, the old master (Offline), `Slave  : [Unknown]` and every resource Started on itself; the dead node's socket gives `cmsadm: failed to connect to cmsd`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init status_format

# The reference's group: its VIP (inside the test's namespaces only) and
# its database partition, a loop device that storage-fc mounts on
# /var/lib/mysql-share (cl_lun_up).  mysql and tomcat stay resource-dummy:
# their lines are what is checked.
CL_VIP=172.16.60.55
CL_MNT=/var/lib/mysql-share
cl_lun_up
cl_group_xml() { cl_lun_group_xml "$@"; }

# The reference section of $CL_DIR/status.NODE: from the top to the second
# "-----".  Resource lines are in group order (webip, mysql, tomcat).  The
# Master/Slave Set block (three lines, after the first resource) is printed
# for a storage with a mount, so it is required exactly when the config has
# a <storage> (this one has).
ref_ok() { # node master slave slave_state
	local n=$1 mn=$2 sn=$3 st=$4 q
	local -a L
	CL_WHY=""
	cl_status "$n" || {
		CL_WHY="cmsadm status failed"
		return 1
	}
	mapfile -t L < <(awk '{print} /^-----$/ && ++d == 2 {exit}' "$CL_DIR/status.$n")
	if [ "$CL_MODE" = arbiter ]; then
		q="quorum : [controller] $(cl_name arbiter) (Online)"
	else
		q="quorum : ${L[2]#quorum : }" # ping mode: its own line, not fixed here
		[[ ${L[2]:-} == "quorum : "* ]] || {
			CL_WHY="line 3 is not a quorum line"
			return 1
		}
	fi
	local want=("master : $mn (Online)" "slave  : $sn ($st)" "$q" "-----")
	local i
	for i in 0 1 2 3; do
		[ "${L[$i]:-}" = "${want[$i]}" ] || {
			CL_WHY="line $((i + 1)) is \"${L[$i]:-}\", expected \"${want[$i]}\""
			return 1
		}
	done
	local nlines=8 has_set=0
	if grep -q "<storage" "$CL_DIR/$n/cmsd.xml"; then
		nlines=11
		has_set=1
	fi
	[ "${#L[@]}" = "$nlines" ] && [ "${L[$((nlines - 1))]}" = "-----" ] || {
		CL_WHY="${#L[@]} reference lines, expected $nlines ending in -----"
		return 1
	}
	local res=() set=() j=4
	while [ "$j" -lt $((nlines - 1)) ]; do
		if [[ ${L[$j]} == "Master/Slave Set: ["*"]" ]]; then
			set=("${L[@]:$j:3}")
			j=$((j + 3))
		else
			res+=("${L[$j]}")
			j=$((j + 1))
		fi
	done
	local sslave="[Unknown]"
	[ "$st" != Online ] || sslave="[$sn]"
	local set_ok=0
	if [ "$has_set" = 0 ]; then
		[ "${#set[@]}" = 0 ] && set_ok=1
	elif [ "${#set[@]}" = 3 ] && [ "${set[0]}" = "Master/Slave Set: [$CL_MNT]" ] &&
		[ "${set[1]}" = "  Master: [$mn]" ] &&
		[ "${set[2]}" = "  Slave  : $sslave" ]; then
		set_ok=1
	fi
	[ "$set_ok" = 1 ] || {
		CL_WHY="no Master/Slave Set block with \"  Master: [$mn]\" and \"  Slave  : $sslave\""
		return 1
	}
	[ "${res[*]}" = "webip  : [$CL_VIP] Started $mn mysql  : Started $mn tomcat : Started $mn" ] || {
		CL_WHY="resource lines: $(printf '"%s" ' "${res[@]}")"
		return 1
	}
}

expect_ref() { # node master slave slave_state
	cl_wait 5000 ref_ok "$@" && return 0
	cl_fail "status on $1: $CL_WHY; it says:
$(cat "$CL_DIR/status.$1")"
}

json_ok() { # node role master slave slave_state
	cl_status "$1" --json || return 1
	/usr/bin/python3 - "$CL_DIR/status.$1" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
want = dict(zip(["role", "master", "slave", "slave_state"], sys.argv[2:]))
got = {k: d.get(k) for k in want}
if got != want:
    sys.exit("status --json: %r, expected %r" % (got, want))
PY
}

# DESIGN.md section 2, both nodes up, as the reference prints it (node1
# master; the quorum line is the arbiter's).
reference_both_up() {
	cat <<'REF'
master : cvknode1 (Online)
slave  : cvknode2 (Online)
quorum : [controller] cvknode3 (Online)
-----
webip  : [172.16.60.55] Started cvknode1
Master/Slave Set: [/var/lib/mysql-share]
  Master: [cvknode1]
  Slave  : [cvknode2]
mysql  : Started cvknode1
tomcat : Started cvknode1
-----
REF
}

scenario() {
	local m=$CL_M s=$CL_S rc=0 out t0 n
	expect_ref "$m" "$(cl_name "$m")" "$(cl_name "$s")" Online
	expect_ref "$s" "$(cl_name "$m")" "$(cl_name "$s")" Online
	if [ "$CL_MODE" = arbiter ] && [ "$m" = node1 ]; then
		for n in node1 node2; do
			cl_status "$n"
			awk '{print} /^-----$/ && ++d == 2 {exit}' "$CL_DIR/status.$n" |
				diff -u <(reference_both_up) - >"$CL_DIR/ref.diff" ||
				cl_fail "status on $n differs from DESIGN.md's reference: $(cat "$CL_DIR/ref.diff")"
		done
	fi
	json_ok "$m" master "$(cl_name "$m")" "$(cl_name "$s")" Online ||
		cl_fail "status --json on $m"

	cl_log "kill -9 of $m's agent (master)"
	t0=$(cl_now)
	cl_kill "$m"
	cl_wait_for $(($(cl_bound_failover) + 2000)) "$s master" cl_is "$s" master serving
	sleep 0.1
	cl_check_clean "after the kill" --since "$t0" --expect "$s"
	CL_RESULT_TIME=$(cl_get failover_ms)
	expect_ref "$s" "$(cl_name "$s")" "$(cl_name "$m")" Offline
	json_ok "$s" master "$(cl_name "$s")" "$(cl_name "$m")" Offline ||
		cl_fail "status --json on $s after the failover"
	out=$("$CMSADM_BIN" -s "$(cl_sock "$m")" status 2>&1) || rc=$?
	[ "$rc" = 1 ] && [ "$out" = "cmsadm: failed to connect to cmsd" ] ||
		cl_fail "cmsadm status on the dead node: exit $rc, \"$out\""
	cl_final_check
}

cl_run_modes scenario
