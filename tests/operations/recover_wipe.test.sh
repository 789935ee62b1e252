#!/bin/bash
# Intent: the unconfigured agent's requests that only recovery uses.  What
# "format the peer's /vms partition" does to a DRBD partition
# during `cmsadm recover`: the unconfigured agent's WIPE (setup_wipe.c),
# on a loop device holding real DRBD 8.4 internal metadata (made by the
# real drbdmeta), leaves `drbdmeta dump-md` saying "No valid meta data
# found", the verdict on which storage-drbd's start runs create-md; a
# device that the written config does not name as a storage-drbd <disk>,
# and a mounted one, are refused and left intact.  The requests are sent
# as cmsadm recover sends them (TLS pinned by fingerprint, AUTH root with
# the password on stdin), by a small client here, since DRBD itself runs
# only in QEMU guests (the full recovery with storage-drbd is not run here).
# INITIATOR writes /etc/iscsi/initiatorname.iscsi (the peer's name from the
# master's config) and refuses what is not an iSCSI name.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init recover_wipe

for t in drbdmeta losetup mkfs.ext4 python3; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done
truncate -s 64M "$CL_TMP/md.img"
truncate -s 64M "$CL_TMP/other.img"
LOOP=$(losetup --find --show "$CL_TMP/md.img") || cl_skip "no free loop device"
OTHER=$(losetup --find --show "$CL_TMP/other.img") || { losetup -d "$LOOP"; cl_skip "no second loop device"; }
# shellcheck disable=SC2016,SC2034 # evaluated by lib.sh at exit
CL_CLEANUP_CMDS='umount "$CL_TMP/m" 2>/dev/null; for d in "$LOOP" "$OTHER"; do for _ in $(seq 50); do losetup -d "$d" 2>/dev/null && break; sleep 0.1; done; done'

make_md() { # dev: real DRBD 8.4 internal metadata on it
	echo yes | drbdmeta --force 0 v08 "$1" internal create-md >/dev/null 2>&1 ||
		cl_fail "drbdmeta create-md on $1 failed"
	has_md "$1" || cl_fail "no metadata on $1 after create-md"
}
has_md() { # dev (dump-md's exit status is not the verdict: its words are)
	local out
	out=$(drbdmeta 0 v08 "$1" internal dump-md 2>&1) || true
	[[ $out != *"No valid meta data found"* ]] && [[ $out == *"version \"v08\";"* ]]
}
make_md "$LOOP"
make_md "$OTHER"

su_host node2
fp=$(su_fp node2) || cl_fail "no fingerprint from node2"
cat >"$CL_DIR/drbd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="node2">
  <storage id="db" plugin="storage-drbd">
    <resource>r0</resource>
    <disk>$LOOP</disk>
    <mount>/var/lib/mysql-share</mount>
  </storage>
</cmsd>
XML

su_client_py "$CL_DIR/client.py"
client() { # requests...: from node1's namespace
	printf '%s\n' "$SU_SLAVE_PW" | ip netns exec "$(cl_ns node1)" \
		python3 "$CL_DIR/client.py" "$(cl_addr node2)" "$SU_PORT" "$fp" "$@"
}

cl_log "WIPE of a device the config does not name: refused, metadata intact"
out=$(client "PUT @config 644@$CL_DIR/drbd.xml" "WIPE $OTHER") || cl_fail "client: $out"
[ "$out" = "OK
OK
ERR $OTHER is not the <disk> of a storage-drbd instance in /etc/cmsd/cmsd.xml: not wiped" ] ||
	cl_fail "WIPE of $OTHER answered: $out"
has_md "$OTHER" || cl_fail "$OTHER lost its metadata although WIPE was refused"

cl_log "WIPE of the configured DRBD disk: no metadata left"
out=$(client "WIPE $LOOP") || cl_fail "client: $out"
[ "$out" = "OK
OK" ] || cl_fail "WIPE of $LOOP answered: $out"
has_md "$LOOP" && cl_fail "$LOOP still has DRBD metadata after WIPE"
grep -q "setup: 10.77.0.1: wiping the DRBD partition $LOOP (67108864 bytes): first and last MiB" \
	"$CL_DIR/node2/stdout" || cl_fail "node2's log does not name the wipe"
has_md "$OTHER" || cl_fail "$OTHER lost its metadata"

cl_log "WIPE of a mounted disk: refused"
mkfs.ext4 -q -F "$LOOP"
mkdir -p "$CL_TMP/m"
mount "$LOOP" "$CL_TMP/m"
echo kept >"$CL_TMP/m/f"
out=$(client "WIPE $LOOP") || cl_fail "client: $out"
[ "$out" = "OK
ERR $LOOP: Device or resource busy (mounted, or attached to DRBD)" ] ||
	cl_fail "WIPE of the mounted $LOOP answered: $out"
[ "$(cat "$CL_TMP/m/f")" = kept ] || cl_fail "the mounted file system changed"
umount "$CL_TMP/m"
cl_log "INITIATOR: the kernel initiator's name file, as recover keeps it"
out=$(client "INITIATOR iqn.2026-11.com.example:cvknode2" "INITIATOR not/an-iqn") || cl_fail "client: $out"
[ "$out" = 'OK
OK
ERR INITIATOR: "not/an-iqn" is not an iSCSI name' ] || cl_fail "INITIATOR answered: $out"
[ "$(cat "$CL_DIR/node2/etc.u/iscsi/initiatorname.iscsi")" = "InitiatorName=iqn.2026-11.com.example:cvknode2" ] ||
	cl_fail "node2's initiatorname.iscsi: $(cat "$CL_DIR/node2/etc.u/iscsi/initiatorname.iscsi")"
! grep -qF -- "$SU_SLAVE_PW" "$CL_DIR/node2/stdout" || cl_fail "the password is in node2's log"
echo "PASS: recover_wipe"
