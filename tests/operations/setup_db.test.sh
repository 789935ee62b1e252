#!/bin/bash
# Intent: `cmsadm setup` makes the DRBD database partition on both nodes:
# each node's system disk ("sdX" by its facts) is a loop device of its own
# (bound in the node's mount namespace on one /dev/sd... name, as two hosts
# both have an sda), a GPT disk with a "sys" partition; setup's new stage
# makes partition cmsd-db there with the form's size (--db-size 40M with
# --allow-small-db, which the formula refuses without it, naming the
# figure), the kernel shows it with that name, "sys" is untouched, both
# nodes' configs carry both nodes' <disk node=...> lines (identical but for
# node=) and pass `cmsd --check`; not confirmed, nothing is partitioned;
# run again on fresh agents, the partitions are reused.  Namespaces have
# no DRBD, so the agents, restarted configured, cannot start r0 and setup
# stops waiting for the master: the DRBD part is the QEMU bed's (tests/vm).
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init setup_db

for t in sfdisk losetup partx blkid drbdadm; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done
# The system disks' common name: sd + letters unique to this run (a real
# disk so far down the alphabet does not exist); a file in /dev that each
# agent's namespace binds its loop device over, removed at exit.
SD=/dev/sdzz$(tr 0-9 a-j <<<"$$")
SD_DEVS=""
# shellcheck disable=SC2016,SC2034 # evaluated by lib.sh at exit
CL_CLEANUP_CMDS='su_stop_all; rm -f "$SD"; for d in $SD_DEVS; do for _ in $(seq 50); do losetup -d "$d" 2>/dev/null && break; sleep 0.1; done; done'
[ ! -e "$SD" ] || cl_skip "$SD exists"
: >"$SD"
declare -A DISK
for n in node1 node2; do
	truncate -s 96M "$CL_TMP/$n.img"
	DISK[$n]=$(losetup -P --find --show "$CL_TMP/$n.img") || cl_skip "no free loop device"
	SD_DEVS="$SD_DEVS ${DISK[$n]}"
	printf 'label: gpt\nstart=2048, size=8MiB, name="sys"\n' | sfdisk -q "${DISK[$n]}" >/dev/null ||
		cl_fail "sfdisk on ${DISK[$n]}"
done
for h in node1 node2; do
	su_host "$h" disk="${SD#/dev/}" bind="${DISK[$h]}:$SD"
done
su_host arbiter

cat >"$CL_DIR/db.xml" <<'XML'
  <storage id="db" plugin="storage-drbd">
    <resource>r0</resource>
    @DB_DISKS@
    <mount>/var/lib/mysql-share</mount>
  </storage>
  <group id="vms">
    <resource id="webip" plugin="resource-vip" storage="db" monitor-interval="1s">
      <address>@VIP@/@PREFIX@</address>
      <interface>@INTERFACE@</interface>
    </resource>
    <resource id="mysql" plugin="resource-dummy" storage="db" monitor-interval="1s">
      <state-file>/var/lib/cmsd/mysql.running</state-file>
    </resource>
  </group>
XML

cl_log "below the formula without --allow-small-db: refused, nothing asked"
su_setup --group-template "$CL_DIR/db.xml" --db-size 40M </dev/null
[ "$SU_RC" = 2 ] || cl_fail "a small --db-size: exit $SU_RC: $(cat "$CL_DIR/setup.out")"
su_out_has "cmsadm: setup: --db-size 40 MiB is less than the 34 GB the formula gives for 10 hosts and 100 VMs ((hosts x 10 MB + VMs x 15 MB) x 15 / 1024 + 10 GB)"
[ "$(sfdisk --dump "${DISK[node1]}" | grep -c ' : start=')" = 1 ] || cl_fail "node1's disk changed"

cl_log "not confirmed: no partition made"
su_setup --group-template "$CL_DIR/db.xml" --db-size 40M --allow-small-db \
	< <(printf '%s\n%s\nno\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
[ "$SU_RC" = 1 ] || cl_fail "not confirmed: exit $SU_RC: $(cat "$CL_DIR/setup.out")"
for h in node1 node2; do
	[ "$(sfdisk --dump "${DISK[$h]}" | grep -c ' : start=')" = 1 ] || cl_fail "$h's disk changed without CONFIRM"
done

cl_log "setup with the partition stage: cmsd-db of 40 MiB on both system disks"
su_setup --group-template "$CL_DIR/db.xml" --db-size 40M --allow-small-db --wait 5 \
	< <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
su_out_has "warning: --allow-small-db: the database partition of 40 MiB is below the 34 GB the formula gives for 10 hosts and 100 VMs; for labs and test beds only"
su_out_has "==> creating the DRBD database partition on both nodes"
su_out_has "==> [2/4] writing the configuration to the three hosts"
su_out_has "  cvknode1: configuration valid"
su_out_has "  cvknode2: configuration valid"
su_out_has "==> [4/4] starting the cluster agents"
declare -A DEV
for h in node1 node2; do
	l=${DISK[$h]#/dev/}
	n=$(cl_name "$h")
	# the kernel's name, or udev's link when it pointed there (CI)
	line=$(grep -E "^  $n \($h\): database partition " "$CL_DIR/setup.out") ||
		cl_fail "no partition line for $h: $(cat "$CL_DIR/setup.out")"
	case $line in
	"  $n ($h): database partition /dev/${l}p2 (on $SD, 40 MiB, created)") DEV[$h]=/dev/${l}p2 ;;
	"  $n ($h): database partition /dev/disk/by-partlabel/cmsd-db (/dev/${l}p2 on $SD, 40 MiB, created)")
		DEV[$h]=/dev/disk/by-partlabel/cmsd-db ;;
	*) cl_fail "$h's partition line: $line" ;;
	esac
	[ -e "/sys/block/$l/${l}p2" ] || cl_fail "the kernel does not show ${l}p2"
	[ "$(cat "/sys/block/$l/${l}p2/size")" = 81920 ] || cl_fail "${l}p2 is not 40 MiB"
	[ "$(blkid -p -o value -s PART_ENTRY_NAME "/dev/${l}p2")" = cmsd-db ] ||
		cl_fail "${l}p2 is not named cmsd-db"
	[ "$(sfdisk --dump "${DISK[$h]}" | grep -c 'name="sys"')" = 1 ] || cl_fail "$h: sys is gone"
	[ "$(sfdisk --dump "${DISK[$h]}" | awk '/name="sys"/ {print $4, $6}')" = "2048, 16384," ] ||
		cl_fail "$h: sys changed: $(sfdisk --dump "${DISK[$h]}")"
done
# Without DRBD in the kernel r0 cannot start and setup gives up on the
# master; a kernel with DRBD (some CI hosts load it) runs the pair.
if [ "$SU_RC" = 0 ]; then
	su_out_has "-----CVM Master/Slave Setup Success-----"
else
	[ "$SU_RC" = 1 ] || cl_fail "setup: exit $SU_RC: $(cat "$CL_DIR/setup.out")"
	su_out_like '^ERROR: setup failed at stage "wait": this node as master not within 5 s'
fi

cl_log "both configs carry both nodes' disks, identical but for node=, valid"
for h in node1 node2; do
	x=$CL_DIR/$h/etc.u/cmsd/cmsd.xml
	for k in node1 node2; do
		grep -qxF "    <disk node=\"$k\">${DEV[$k]}</disk>" "$x" ||
			cl_fail "$x lacks $k's disk: $(grep -n disk "$x")"
	done
	! grep -q "<disk>" "$x" || cl_fail "$x has a <disk> for both nodes"
	chk=$(su_in "$h" "$CMSD_BIN" --check /etc/cmsd/cmsd.xml -p "$CMSD_PLUGIN_DIR" 2>&1) ||
		cl_fail "cmsd --check of $h's config: $chk"
done
[ "$(grep -v 'node="node[12]">$\|mode="node" node=\|written by cmsadm setup' "$CL_DIR/node1/etc.u/cmsd/cmsd.xml" | md5sum)" = \
	"$(grep -v 'node="node[12]">$\|mode="node" node=\|written by cmsadm setup' "$CL_DIR/node2/etc.u/cmsd/cmsd.xml" | md5sum)" ] ||
	cl_fail "the nodes' configs differ beyond node=: $(diff "$CL_DIR/node1/etc.u/cmsd/cmsd.xml" "$CL_DIR/node2/etc.u/cmsd/cmsd.xml")"
grep -q "PARTITION $SD: made partition 2 \"cmsd-db\" (40 MiB at sector 18432)" "$CL_DIR/node2/stdout" ||
	cl_fail "node2's agent log does not name the partition"
su_assert_no_password

cl_log "setup run again on fresh agents: the partitions are reused"
su_stop_all
for h in node1 node2 arbiter; do
	rm -rf "$CL_DIR/$h/etc.u/cmsd" "$CL_DIR/$h/var.u/lib/cmsd"
done
for h in node1 node2; do
	su_host "$h" disk="${SD#/dev/}" bind="${DISK[$h]}:$SD"
done
su_host arbiter
uuid=$(sfdisk --part-uuid "${DISK[node1]}" 2)
su_setup --group-template "$CL_DIR/db.xml" --db-size 40M --allow-small-db --wait 2 \
	< <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
for h in node1 node2; do
	su_out_like "^  $(cl_name "$h") \($h\): database partition .* 40 MiB, already there, reused\)$"
	[ "$(sfdisk --dump "${DISK[$h]}" | grep -c ' : start=')" = 2 ] || cl_fail "$h: a partition was added"
done
[ "$(sfdisk --part-uuid "${DISK[node1]}" 2)" = "$uuid" ] || cl_fail "node1's cmsd-db was made again"
su_out_has "  cvknode1: configuration valid"
echo "PASS: setup_db"
