#!/bin/bash
# Intent: each pre-check of `cmsadm setup` fails once on purpose and is
# named with its reason, setup then stops before changing anything (no
# config written on any host), and a setup that is not confirmed with the
# exact word CONFIRM changes nothing either; a failure after CONFIRM (a
# configuration the hosts refuse) stops at its stage, named, unrestarted.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init setup_prechecks

VERSION=$("$CMSD_BIN" --version | awk '{print $2}')

# case NAME, expected line (extended regexp, whole line), then su_host
# settings as "host:key=value" words, then -- and extra setup options.
precheck_case() {
	local name=$1 want=$2 h hs=() extra=() seen=0 w
	shift 2
	for w in "$@"; do
		if [ "$w" = -- ]; then
			seen=1
			continue
		fi
		if [ $seen = 1 ]; then extra+=("$w"); else hs+=("$w"); fi
	done
	su_stop_all
	for h in node1 node2 arbiter; do
		local args=()
		for w in "${hs[@]}"; do
			[ "${w%%:*}" = "$h" ] && args+=("${w#*:}")
		done
		su_host "$h" "${args[@]}"
	done
	su_setup "${extra[@]}" < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
	[ "$SU_RC" = 1 ] || cl_fail "$name: setup exited $SU_RC, not 1: $(cat "$CL_DIR/setup.out")"
	grep -qxE -- "$want" "$CL_DIR/setup.out" ||
		cl_fail "$name: no line /$want/ in:
$(cat "$CL_DIR/setup.out")"
	# exactly one pre-check failed: the one meant
	[ "$(grep -c 'FAILED' "$CL_DIR/setup.out")" = 1 ] ||
		cl_fail "$name: other pre-checks failed too:
$(cat "$CL_DIR/setup.out")"
	su_out_has 'ERROR: setup failed at stage "pre-checks": 1 pre-check failed; nothing was changed'
	su_out_has "ERROR: details in /var/log/cvm_master_slave.log"
	grep -qE -- "$want" "$(su_log node1)" || cl_fail "$name: not in node1's log"
	for h in node1 node2 arbiter; do
		[ ! -e "$CL_DIR/$h/etc.u/cmsd/cmsd.xml" ] ||
			cl_fail "$name: a config was written on $h"
	done
	cl_log "pre-check $name: failed as meant"
}

precheck_case hostname \
	"pre-check hostname   FAILED: node2 cvk.node2 \(10\.77\.0\.2\): \"cvk\.node2\" contains '\.'; arbiter cvk_node3 \(10\.77\.0\.3\): \"cvk_node3\" contains a character other than letters, digits and '-'" \
	node2:hostname=cvk.node2 arbiter:hostname=cvk_node3

precheck_case version \
	"pre-check version    FAILED: node2 cvknode2 \(10\.77\.0\.2\) runs cmsd 0\.0\.9, cvknode1 runs cmsd ${VERSION//./\\.}" \
	node2:version=0.0.9

# components: node2's plugin directory lacks resource-tomcat
mkdir -p "$CL_TMP/plugins-less"
for so in "$CMSD_PLUGIN_DIR"/*.so; do
	[ "$(basename "$so")" = resource-tomcat.so ] || ln -s "$so" "$CL_TMP/plugins-less/"
done
precheck_case components \
	"pre-check version    FAILED: the nodes have different components \(plugins\): cvknode1 has .*resource-tomcat.*; cvknode2 has [^;]*" \
	"node2:plugins=$CL_TMP/plugins-less"

precheck_case boot-mode \
	"pre-check boot-mode  FAILED: cvknode1 boots legacy, cvknode2 boots uefi: both nodes must boot the same way \(UEFI or legacy\)" \
	node1:boot=legacy node2:boot=uefi

precheck_case clock \
	"pre-check clock      FAILED: node2 cvknode2 \(10\.77\.0\.2\)'s clock is \+(4[89]|5[01])[0-9]{2} ms off this host's \(allowed: 2000 ms\); synchronise the clocks \(NTP\)" \
	node2:clock_offset_ms=5000

precheck_case disk \
	"pre-check disk       FAILED: node2 cvknode2 \(10\.77\.0\.2\): the system disk is nvme0n1, an NVMe disk; the nodes need a system disk named sdX" \
	node2:disk=nvme0n1

precheck_case disk-md \
	"pre-check disk       FAILED: node1 cvknode1 \(10\.77\.0\.1\): the system disk is md126, a soft RAID \(md\) or VROC volume; the nodes need a system disk named sdX" \
	node1:disk=md126

precheck_case vms-min \
	"pre-check vms        FAILED: node2 cvknode2 \(10\.77\.0\.2\): /vms is 20\.0 GB, less than the minimum of 30 GB" \
	node2:vms_gb=20

# /vms a plain directory, not a partition of its own
precheck_case vms-partition \
	"pre-check vms        FAILED: node2 cvknode2 \(10\.77\.0\.2\): no /vms partition: .*/node2/vms: not a partition of its own \(a directory on its parent's file system\)" \
	node2:vms_gb=0

# 150 VMs: (0 x 10 + 150 x 15) x 15 / 1024 + 10 = 42.96 GB > the 40 GB /vms
precheck_case vms-formula \
	"pre-check vms        FAILED: node1 cvknode1 \(10\.77\.0\.1\): /vms is 40\.0 GB, less than the database partition of 43\.0 GB needed for 0 hosts and 150 VMs \(\(hosts x 10 MB \+ VMs x 15 MB\) x 15 / 1024 \+ 10 GB\)" \
	-- --hosts 0 --vms 150

precheck_case storage-hook \
	"pre-check storage    FAILED: node2 cvknode2 \(10\.77\.0\.2\): the platform reports other storage pools or managed hosts: storage pool pool2 \(iscsi\) exists; 3 managed hosts" \
	'node2:hook=echo "storage pool pool2 (iscsi) exists"; echo "3 managed hosts"; exit 1'

# network: the arbiter cannot open a connection to node1's setup port
# (its other traffic, the answers to node1 included, still flows)
ip -n "$(cl_ns arbiter)" rule add ipproto tcp dport "$SU_PORT" to "$(cl_addr node1)" table 177
ip -n "$(cl_ns arbiter)" route add unreachable "$(cl_addr node1)" table 177
precheck_case network \
	"pre-check network    FAILED: arbiter cvknode3 \(10\.77\.0\.3\) cannot reach cvknode1 \(10\.77\.0\.1\) on the management network: (No route to host|Network is unreachable)"
ip -n "$(cl_ns arbiter)" rule del table 177

# All pass but CONFIRM is not typed exactly: nothing changes.
su_stop_all
for h in node1 node2 arbiter; do su_host "$h"; done
su_setup < <(printf '%s\n%s\nconfirm\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
[ "$SU_RC" = 1 ] || cl_fail "unconfirmed setup exited $SU_RC"
su_out_has "pre-check storage    OK"
su_out_like '^ERROR: setup failed at stage "confirm": not confirmed \(CONFIRM was not typed\); nothing was changed$'
for h in node1 node2 arbiter; do
	[ ! -e "$CL_DIR/$h/etc.u/cmsd/cmsd.xml" ] || cl_fail "unconfirmed: a config on $h"
done

# A failure after CONFIRM stops at its stage and says which: a group that
# no host accepts (an unknown plugin) fails the check stage; no agent
# restarts configured.
su_template
sed -i 's/plugin="resource-dummy"/plugin="resource-nosuch"/' "$CL_DIR/group.xml"
su_stop_all
for h in node1 node2 arbiter; do su_host "$h"; done
fp2=$(su_fp node2)
fp3=$(su_fp arbiter)
SU_RC=0
su_in node1 "$CMSADM_BIN" setup --vip "$SU_VIP" --prefix 24 \
	--slave-ip "$(cl_addr node2)" --quorum arbiter --arbiter-ip "$(cl_addr arbiter)" \
	--hosts 10 --vms 100 --password-file - --group-template "$CL_DIR/group.xml" \
	--fingerprint "$(cl_addr node2)=$fp2" --fingerprint "$(cl_addr arbiter)=$fp3" \
	>"$CL_DIR/setup.out" 2>&1 < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW") || SU_RC=$?
[ "$SU_RC" = 1 ] || cl_fail "a bad group: setup exited $SU_RC: $(cat "$CL_DIR/setup.out")"
su_out_has "==> [3/4] checking the configuration on each host"
su_out_like '^ERROR: setup failed at stage "check": cvknode1 \(node1\): the configuration is refused: /etc/cmsd/cmsd\.xml: .*resource-nosuch'
su_out_has "ERROR: details in /var/log/cvm_master_slave.log"
grep -q 'ERROR: stage "check"' "$(su_log node1)" || cl_fail "the failed stage is not in node1's log"
! grep -q "==> \[4/4\]" "$CL_DIR/setup.out" || cl_fail "setup went on after the failed check"
for h in node1 node2 arbiter; do
	! grep -q "restarting as cmsd" "$CL_DIR/$h/stdout" || cl_fail "$h restarted configured"
	su_in "$h" test -S /run/cmsd/cmsd.sock && cl_fail "$h runs configured" || true
done
su_assert_no_password
echo "PASS: setup_prechecks"
