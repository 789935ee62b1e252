#!/bin/bash
# Intent: `cmsadm sync-partition add r1` refuses, each with its exact message and nothing changed, a name other than r1, a cluster with an FC LUN attached, a disk missing or not a block device on a node, disks of different sizes, a mounted disk, a compute host (the platform hook says so, or cannot tell), a peer that is down; `remove r1` (also through the compat ms_rm_sync_partition.sh, which asks yes first) refuses when none is configured; an add that passes stops HA, writes the storage-drbd r1 element into both nodes' configs (valid for `cmsd --check`, the previous kept) and restarts both agents by exec (same PIDs, the new config's r1 instance started).  The DRBD part (r1 up and synced, HA started again, and remove's success path) is tests/vm/sync_partition.py: namespaces have no DRBD module, so the restarted agents never reach each other here.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
cl_init sync_partition

for t in mkfs.ext4 losetup nsenter findmnt; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done

# Each agent sees the disk names below bound to a loop device of its own, in
# its own mount namespace: "the same name on both nodes" with different
# disks behind it, as on two hosts.  The name files live in /dev (storage-drbd
# wants its disks there) and go at exit.
SP=$CL_TMP/sp
mkdir -p "$SP"
SP_DEVS=""
SP_FILES=""
CL_CLEANUP_CMDS='for f in $SP_FILES; do rm -f "$f"; done; for l in $SP_DEVS; do for _ in $(seq 50); do losetup -d "$l" 2>/dev/null && break; sleep 0.1; done; done'
mkloop() { # name size -> sets LOOP
	truncate -s "$2" "$SP/$1.img"
	LOOP=$(losetup --find --show "$SP/$1.img") || cl_skip "no free loop device"
	SP_DEVS="$SP_DEVS $LOOP"
}
mkloop l1 64M
L1=$LOOP
mkloop l2 96M
L2=$LOOP
mkloop l3 64M
L3=$LOOP
mkloop lun 32M
LUN=$LOOP
mkfs.ext4 -q -F "$L1"
mkfs.ext4 -q -F "$LUN"
P=/dev/${CL_P}sp
DIFF=${P}-diff # node1 64M, node2 96M
SAME=${P}-same # node1 64M, node2 64M
ONE=${P}-one   # a block device on node1 only
for f in "$DIFF" "$SAME" "$ONE"; do
	: >"$f"
	SP_FILES="$SP_FILES $f"
done
cat >"$SP/binds" <<EOF
node1 $L1 $DIFF
node2 $L2 $DIFF
node1 $L1 $SAME
node2 $L3 $SAME
node1 $L1 $ONE
EOF

# The platform's compute-host hook of each node: "no" unless told.
for n in node1 node2; do
	cat >"$SP/$n.hook" <<EOF
#!/bin/sh
if [ -f "$SP/$n.compute" ]; then echo "nova-compute is enabled"; exit 1; fi
if [ -f "$SP/$n.broken" ]; then echo "broken"; exit 3; fi
exit 0
EOF
	chmod +x "$SP/$n.hook"
done

# The agent as cl_start runs it (-f first): the binds above, a private
# /etc/drbd.d (storage-drbd writes r1.res there), the node's hook.  `cmsd
# --check` (no -f) runs the binary as it is.
REAL_CMSD=$CMSD_BIN
cat >"$SP/cmsd" <<EOF
#!/bin/bash
set -e
if [ "\$1" = -f ]; then
	n=\$(basename "\$(dirname "\$3")")
	while read -r h l f; do
		[ "\$h" = "\$n" ] && mount --bind "\$l" "\$f"
	done <"$SP/binds"
	mkdir -p "$SP/drbd.d.\$n"
	cp -f /etc/drbd.d/global_common.conf "$SP/drbd.d.\$n/" 2>/dev/null || :
	mount --bind "$SP/drbd.d.\$n" /etc/drbd.d
	exec "$REAL_CMSD" "\$@" --compute-hook "$SP/\$n.hook"
fi
exec "$REAL_CMSD" "\$@"
EOF
chmod +x "$SP/cmsd"
CMSD_BIN=$SP/cmsd

# Phase 1 has a storage-fc LUN in the config; phase 2 only resource-dummy.
SP_WITH_LUN=1
cl_group_xml() { # node dir
	local d=$2 r st=""
	if [ "$SP_WITH_LUN" = 1 ]; then
		cat <<XML
  <storage id="lun" plugin="storage-fc">
    <device>$LUN</device>
    <mount>$SP/lunmnt</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
XML
		st=' storage="lun"'
	fi
	echo '  <group id="vms">'
	for r in webip mysql tomcat; do
		cat <<XML
    <resource id="$r" plugin="resource-dummy" monitor-interval="1s"$st>
      <state-file>$d/$r.running</state-file>
    </resource>
XML
	done
	echo '  </group>'
}
mkdir -p "$SP/lunmnt"

sp() { # node args...: cmsadm sync-partition on node, output in $OUT, exit in $RC
	local n=$1
	shift
	RC=0
	OUT=$("$CMSADM_BIN" -s "$(cl_sock "$n")" sync-partition "$@" </dev/null 2>&1) || RC=$?
}

refused() { # what, expected message (without "cmsadm: "), node, args...
	local what=$1 msg=$2
	shift 2
	# A refusal that regressed would go on to stop and restart: bounded.
	sp "$@" --timeout 20
	[ "$RC" = 1 ] && [ "$OUT" = "cmsadm: $msg" ] ||
		cl_fail "$what: exit $RC, said \"$OUT\", expected \"cmsadm: $msg\""
	cl_log "refused as expected: $what"
}

unchanged() { # the configs are as the test wrote them
	local n
	for n in node1 node2; do
		cmp -s "$CL_DIR/$n/cmsd.xml" "$CL_DIR/$n/cmsd.xml.orig" ||
			cl_fail "$n's config changed after a refusal"
	done
}

both_stopped_idle() { cl_is node1 slave idle && cl_is node2 slave idle; }

born() { "$CL_SAMPLER" --once "$(cl_sock "$1")" "sync-partition born"; }

scenario() {
	local m s mn sn n p1 p2 b1 b2
	m=$CL_M s=$CL_S
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")
	for n in node1 node2; do cp "$CL_DIR/$n/cmsd.xml" "$CL_DIR/$n/cmsd.xml.orig"; done
	n1=$(cl_name node1)
	n2=$(cl_name node2)

	refused "an FC LUN attached" \
		'sync-partition add r1: not with an FC/iSCSI LUN attached: <storage id="lun" plugin="storage-fc"> is configured' \
		"$s" add r1 --disk "$SAME" --yes
	unchanged

	cl_log "the same pair without the LUN"
	cl_final_check
	cl_sampler_stop
	cl_kill node1
	cl_kill node2
	SP_WITH_LUN=0
	cl_write_configs
	cl_check_configs
	for n in node1 node2; do cp "$CL_DIR/$n/cmsd.xml" "$CL_DIR/$n/cmsd.xml.orig"; done
	cl_start node1
	cl_start node2
	cl_wait_steady $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS))
	cl_sampler_start
	m=$CL_M s=$CL_S
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")
	cl_wait_for 5000 "control channel up" sh -c "\"$CL_SAMPLER\" --once \"$(cl_sock node1)\" admin | grep -q ' peer_channel=1'"

	refused "a name other than r1" \
		'sync-partition add "r2": the local sync partition is named r1 (there is only one; r0 is the database partition)' \
		node1 add r2 --disk "$SAME" --yes
	refused "remove with no r1" \
		'sync-partition remove r1: no local sync partition is configured (no storage-drbd element with resource r1)' \
		node2 remove r1 --yes
	refused "a disk that exists nowhere" \
		"sync-partition add r1: ${P}-none does not exist on $n1 (the disk must have the same name on both nodes)" \
		node1 add r1 --disk "${P}-none" --yes
	refused "a disk that is a block device on node1 only" \
		"sync-partition add r1: $ONE on $n2 is not a block device" \
		node1 add r1 --disk "$ONE" --yes
	refused "disks of different sizes" \
		"sync-partition add r1: $DIFF differs in size: 67108864 bytes on $n1, 100663296 bytes on $n2 (the disks must be the same size)" \
		node1 add r1 --disk "$DIFF" --yes
	refused "disks of different sizes, asked on node2" \
		"sync-partition add r1: $DIFF differs in size: 100663296 bytes on $n2, 67108864 bytes on $n1 (the disks must be the same size)" \
		node2 add r1 --disk "$DIFF" --yes
	mkdir -p "$SP/m1"
	nsenter -t "${CL_PID[node1]}" -m -- mount "$L1" "$SP/m1"
	refused "a disk mounted on node1" \
		"sync-partition add r1: $SAME is mounted on $n1 at $SP/m1" \
		node2 add r1 --disk "$SAME" --yes
	nsenter -t "${CL_PID[node1]}" -m -- umount "$SP/m1"
	touch "$SP/node2.compute"
	refused "node2 is a compute host" \
		"sync-partition add r1: $n2 is also a compute host ($SP/node2.hook: nova-compute is enabled): a sync partition is refused on compute hosts" \
		node1 add r1 --disk "$SAME" --yes
	rm -f "$SP/node2.compute"
	touch "$SP/node1.broken"
	refused "node1's hook cannot tell" \
		"sync-partition add r1: cannot tell whether $n1 is a compute host: $SP/node1.hook: exit status 3: broken" \
		node1 add r1 --disk "$SAME" --yes
	rm -f "$SP/node1.broken"
	RC=0
	OUT=$(echo no | "$CMSADM_BIN" -s "$(cl_sock node1)" sync-partition add r1 --disk "$SAME" 2>&1) || RC=$?
	[ "$RC" = 1 ] && [ "$(printf '%s\n' "$OUT" | tail -n 1)" = "Add the local sync partition r1 on $SAME of both nodes, mounted at /vms/sync on the master? Everything on $SAME is lost; HA stops on both nodes and both agents restart. [yes/no]: sync-partition add r1: cancelled, nothing changed" ] ||
		cl_fail "add answered no: exit $RC: $OUT"
	unchanged

	cl_log "node2 cannot write its config: node1's goes back, HA stays stopped"
	mkdir "$CL_DIR/node2/cmsd.xml.before-sync-partition"
	sp node1 add r1 --disk "$SAME" --mount "$SP/sync" --yes --timeout 30
	printf '%s\n' "$OUT" >"$CL_DIR/add-fail.out"
	[ "$RC" = 1 ] &&
		grep -qxF "cmsadm: sync-partition add r1: $n2 could not write its config: cannot keep a copy of $CL_DIR/node2/cmsd.xml as $CL_DIR/node2/cmsd.xml.before-sync-partition: Is a directory; this node's is back as it was" "$CL_DIR/add-fail.out" &&
		grep -qxF "cmsadm: sync-partition add: the config is unchanged; HA stays stopped until \`cmsadm start\`" "$CL_DIR/add-fail.out" ||
		cl_fail "add with node2 unable to write: exit $RC: $OUT"
	rmdir "$CL_DIR/node2/cmsd.xml.before-sync-partition"
	unchanged
	[ ! -e "$CL_DIR/node1/cmsd.xml.new" ] && [ ! -e "$CL_DIR/node2/cmsd.xml.new" ] ||
		cl_fail "a new config was left behind"
	both_stopped_idle || cl_fail "not both stopped after the failed write: $(cl_role node1); $(cl_role node2)"
	"$CMSADM_BIN" -s "$(cl_sock node1)" start --timeout 60 >"$CL_DIR/start.out" 2>&1 ||
		cl_fail "start after the failed write: $(cat "$CL_DIR/start.out")"
	cl_wait_for 5000 "$m master again" cl_is "$m" master serving

	cl_log "add r1 on $SAME, HA left stopped"
	p1=${CL_PID[node1]} p2=${CL_PID[node2]}
	b1=$(born node1) b2=$(born node2)
	# Both agents exec with the new config and start the storage-drbd
	# instance r1, which cannot come up here (no DRBD module in the
	# namespaces' kernel): they never reach their peer, and cmsadm says
	# so after --timeout.  The DRBD part is the VM bed's (tests/vm).
	sp "$s" add r1 --disk "$SAME" --mount "$SP/sync" --yes --no-start --timeout 8
	printf '%s\n' "$OUT" >"$CL_DIR/add.out"
	[ "$RC" = 1 ] || cl_fail "add r1 without DRBD: exit $RC: $OUT"
	for l in "sync-partition add r1: checked: $SAME: 67108864 bytes on both nodes, not mounted, no compute host" \
		"stopping HA on $sn and $mn: the master stops its group; neither node takes over until \`cmsadm start\`" \
		"sync-partition add r1: the config of both nodes is written (r1 is <storage id=\"sync\">)" \
		"sync-partition add r1: restarting $sn and $mn" \
		"cmsadm: sync-partition: the agents did not come back with their peer within 8 s; the new config is in place on both nodes: \`cmsadm status\` and the log say why, \`cmsadm start\` when both run"; do
		grep -qxF -- "$l" "$CL_DIR/add.out" || cl_fail "add r1 did not say \"$l\": $OUT"
	done
	for n in node1 node2; do
		d=$CL_DIR/$n
		grep -qF '<storage id="sync" plugin="storage-drbd">' "$d/cmsd.xml" &&
			grep -qF "<disk>$SAME</disk>" "$d/cmsd.xml" &&
			grep -qF '<resource>r1</resource>' "$d/cmsd.xml" &&
			grep -qF '<minor>1</minor>' "$d/cmsd.xml" &&
			grep -qF '<port>7790</port>' "$d/cmsd.xml" &&
			grep -qF "<mount>$SP/sync</mount>" "$d/cmsd.xml" ||
			cl_fail "$n's config lacks the r1 element: $(cat "$d/cmsd.xml")"
		cmp -s "$d/cmsd.xml.before-sync-partition" "$d/cmsd.xml.orig" ||
			cl_fail "$n's previous config was not kept"
		"$REAL_CMSD" --check -c "$d/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >"$d/check-r1.out" 2>&1 ||
			cl_fail "cmsd --check refuses $n's config with r1: $(cat "$d/check-r1.out")"
		grep -q "sync-partition: exec of the agent again" "$d/cmsd.log" ||
			cl_fail "$n's agent did not restart by exec"
		grep -q "running: node mode, config $d/cmsd.xml, 5 instances" "$d/cmsd.log" ||
			cl_fail "$n's agent does not run the config with r1"
		grep -q "sync: start: wrote /etc/drbd.d/r1.res" "$d/cmsd.log" ||
			cl_fail "$n's agent did not start the r1 instance"
		grep -qE "^\s*address ipv4 $(cl_addr "$n"):7790;" "$SP/drbd.d.$n/r1.res" ||
			cl_fail "$n's r1.res lacks port 7790: $(cat "$SP/drbd.d.$n/r1.res")"
	done
	[ "${CL_PID[node1]}" = "$p1" ] && kill -0 "$p1" && kill -0 "$p2" ||
		cl_fail "the agents are not the same processes (an exec keeps the PID)"
	[ "$(born node1)" != "$b1" ] && [ "$(born node2)" != "$b2" ] ||
		cl_fail "an agent was not restarted"
	refused "a second r1" \
		'sync-partition add r1: a local sync partition is already configured (<storage id="sync">, resource r1): there is only one' \
		node1 add r1 --disk "$SAME" --yes

	cl_log "the configs of before, the pair again"
	cl_sampler_stop
	cl_kill node1
	cl_kill node2
	for n in node1 node2; do
		cp "$CL_DIR/$n/cmsd.xml.orig" "$CL_DIR/$n/cmsd.xml"
		rm -f "$CL_DIR/$n/state/admin.state"
	done
	cl_start node1
	cl_start node2
	cl_wait_steady $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS))
	cl_sampler_start
	m=$CL_M s=$CL_S
	mn=$(cl_name "$m")
	sn=$(cl_name "$s")
	cl_wait_for 5000 "control channel up" sh -c "\"$CL_SAMPLER\" --once \"$(cl_sock node1)\" admin | grep -q ' peer_channel=1'"

	cl_log "ms_rm_sync_partition.sh r1 answered no, then yes (no r1 here)"
	RC=0
	OUT=$(echo no | CMSADM="$CMSADM_BIN" CMSD_SOCKET="$(cl_sock "$m")" CMSD_COMPAT_LOG="$CL_DIR/compat.log" \
		"$CMSD_BUILD_DIR/tools/compat/ms_rm_sync_partition.sh" r1 2>&1) || RC=$?
	[ "$RC" = 1 ] && [ "$OUT" = 'Delete the local sync partition r1 and wipe its DRBD metadata on both nodes? [yes/no]: ms_rm_sync_partition.sh: not deleted (answer "no", expected yes)' ] ||
		cl_fail "ms_rm_sync_partition.sh answered no: exit $RC: $OUT"
	RC=0
	OUT=$(echo yes | CMSADM="$CMSADM_BIN" CMSD_SOCKET="$(cl_sock "$m")" CMSD_COMPAT_LOG="$CL_DIR/compat.log" \
		"$CMSD_BUILD_DIR/tools/compat/ms_rm_sync_partition.sh" r1 2>&1) || RC=$?
	[ "$RC" = 1 ] && [ "$OUT" = 'Delete the local sync partition r1 and wipe its DRBD metadata on both nodes? [yes/no]: cmsadm: sync-partition remove r1: no local sync partition is configured (no storage-drbd element with resource r1)' ] ||
		cl_fail "ms_rm_sync_partition.sh answered yes: exit $RC: $OUT"
	grep -q "ms_rm_sync_partition.sh: cmsadm sync-partition remove r1: exit 1" "$CL_DIR/compat.log" ||
		cl_fail "the compat log lacks the remove: $(cat "$CL_DIR/compat.log")"

	cl_log "a peer that is down"
	cl_kill "$s"
	refused "the peer down" \
		"sync-partition add r1: $sn is not reachable over the control channel: both nodes must be up" \
		"$m" add r1 --disk "$SAME" --yes
	cl_final_check
	SP_WITH_LUN=1 # the next mode starts with the LUN again
}

cl_run_modes scenario
