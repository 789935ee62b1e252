#!/bin/bash
# Intent: the unconfigured agent's PARTITION DISK SIZE_MIB LABEL (the DRBD
# database partition of `cmsadm setup` and `cmsadm recover`) on real loop
# devices with partition scanning: on a GPT disk whose other partition is
# mounted (a system disk in use) it makes partition "cmsd-db" in the free
# space with sfdisk, the kernel shows it (/sys/block/loopN/loopNp2, PARTNAME
# cmsd-db) and the other partition is untouched; asked again it is reused,
# not recreated; asked bigger it is refused naming both sizes; a disk with
# no table and no signature is labelled GPT; one with an ext4 signature and
# no table is refused and left as it was; too little free space is refused
# naming free and needed; a partition instead of a disk is refused.  The
# requests go as cmsadm sends them (TLS pinned, AUTH root), from node1's
# namespace to node2's agent.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init partition

for t in sfdisk losetup mkfs.ext4 blkid partx python3; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done
PT_DEVS=""
# shellcheck disable=SC2016,SC2034 # evaluated by lib.sh at exit
CL_CLEANUP_CMDS='umount "$CL_TMP/m" 2>/dev/null; for d in $PT_DEVS; do for _ in $(seq 50); do losetup -d "$d" 2>/dev/null && break; sleep 0.1; done; done'
mkloop() { # name size -> LOOP (partition scanning on)
	truncate -s "$2" "$CL_TMP/$1.img"
	LOOP=$(losetup -P --find --show "$CL_TMP/$1.img") || cl_skip "no free loop device"
	PT_DEVS="$PT_DEVS $LOOP"
}
# A GPT disk with one partition "sys" of SIZE at 1 MiB, seen by the kernel
# (a kernel without the GPT parser gets it from partx).
mksys() { # dev size
	printf 'label: gpt\nstart=2048, size=%s, name="sys"\n' "$2" |
		sfdisk -q "$1" >/dev/null || cl_fail "sfdisk on $1"
	[ -e "/sys/block/${1#/dev/}/${1#/dev/}p1" ] || partx --add --nr 1 "$1" ||
		cl_fail "partx --add on $1"
	[ -b "${1}p1" ] || cl_fail "${1}p1 is not there"
}
# The kernel knows a partition's name when its own GPT parser read the
# table (uevent PARTNAME); one added by partx (BLKPG: a disk in use, or a
# kernel without the parser) has none there, and blkid reads it from the
# table of the kernel's partition device.
kernel_part() { # dev number -> "NAME PARTNAME" as the kernel sees it
	local d=${1#/dev/} f n
	f=/sys/block/$d/${d}p$2/uevent
	[ -f "$f" ] || return 1
	n=$(sed -n 's/^PARTNAME=//p' "$f")
	[ -n "$n" ] || n=$(blkid -p -o value -s PART_ENTRY_NAME "/dev/${d}p$2")
	echo "${d}p$2 $n"
}
# the reply's device: the kernel's name, or udev's link to that partition
device_is() { # reply-body kernel-name
	local dev
	dev=$(sed -n 's/^device=//p' <<<"$1")
	[ "$dev" = "/dev/$2" ] ||
		{ [ "$dev" = /dev/disk/by-partlabel/cmsd-db ] && [ "$(readlink -f "$dev")" = "/dev/$2" ]; }
}

mkloop sys 64M
SYS=$LOOP
mksys "$SYS" 8MiB
mkfs.ext4 -q -F "${SYS}p1"
mkdir -p "$CL_TMP/m"
mount "${SYS}p1" "$CL_TMP/m"
echo kept >"$CL_TMP/m/f"
before=$(sfdisk --dump "$SYS" | grep -F 'name="sys"')
mkloop blank 64M
BLANK=$LOOP
mkloop ext 64M
EXT=$LOOP
mkfs.ext4 -q -F "$EXT"
mkloop full 64M
FULL=$LOOP
mksys "$FULL" 40MiB

su_host node2
fp=$(su_fp node2) || cl_fail "no fingerprint from node2"
su_client_py "$CL_DIR/client.py"
client() { # requests...: from node1's namespace; prints each reply
	printf '%s\n' "$SU_SLAVE_PW" | ip netns exec "$(cl_ns node1)" \
		python3 "$CL_DIR/client.py" "$(cl_addr node2)" "$SU_PORT" "$fp" "$@"
}

cl_log "a GPT system disk in use: cmsd-db made in its free space"
out=$(client "PARTITION $SYS 40 cmsd-db") || cl_fail "client: $out"
[ "$(head -n 2 <<<"$out")" = "OK
OK" ] || cl_fail "PARTITION $SYS answered: $out"
grep -qxF "state=created" <<<"$out" || cl_fail "not created: $out"
grep -qxF "partition=${SYS}p2" <<<"$out" || cl_fail "not ${SYS}p2: $out"
grep -qxF "number=2" <<<"$out" || cl_fail "not number 2: $out"
grep -qxF "size_mib=40" <<<"$out" || cl_fail "not 40 MiB: $out"
device_is "$out" "${SYS#/dev/}p2" || cl_fail "the device named is not ${SYS}p2: $out"
[ "$(kernel_part "$SYS" 2)" = "${SYS#/dev/}p2 cmsd-db" ] ||
	cl_fail "the kernel does not show ${SYS}p2 named cmsd-db: $(kernel_part "$SYS" 2 || ls "/sys/block/${SYS#/dev/}")"
[ "$(cat "/sys/block/${SYS#/dev/}/${SYS#/dev/}p2/size")" = 81920 ] ||
	cl_fail "${SYS}p2 is not 40 MiB in the kernel"
[ "$(sfdisk --dump "$SYS" | grep -F 'name="sys"')" = "$before" ] ||
	cl_fail "the sys partition changed: $(sfdisk --dump "$SYS")"
[ "$(cat "$CL_TMP/m/f")" = kept ] || cl_fail "the mounted file system changed"
grep -q "setup: 10.77.0.1: PARTITION $SYS: made partition 2 \"cmsd-db\" (40 MiB at sector 18432)" \
	"$CL_DIR/node2/stdout" || cl_fail "node2's log does not name the partition made: $(grep PARTITION "$CL_DIR/node2/stdout")"

cl_log "asked again: reused, not recreated"
uuid=$(sfdisk --part-uuid "$SYS" 2)
out=$(client "PARTITION $SYS 40 cmsd-db" "PARTITION $SYS 32 cmsd-db") || cl_fail "client: $out"
[ "$(grep -c '^state=reused$' <<<"$out")" = 2 ] || cl_fail "not reused twice: $out"
[ "$(sfdisk --part-uuid "$SYS" 2)" = "$uuid" ] || cl_fail "cmsd-db was recreated"
[ "$(sfdisk --dump "$SYS" | grep -c ' : start=')" = 2 ] || cl_fail "a partition was added: $(sfdisk --dump "$SYS")"

cl_log "asked bigger than it is: refused naming both sizes"
out=$(client "PARTITION $SYS 48 cmsd-db") || cl_fail "client: $out"
[ "$out" = "OK
ERR $SYS: partition 2 named \"cmsd-db\" has 40 MiB, less than the 48 MiB asked: not changed (remove it, or ask for at most 40 MiB)" ] ||
	cl_fail "a too small cmsd-db answered: $out"
[ "$(sfdisk --part-uuid "$SYS" 2)" = "$uuid" ] || cl_fail "cmsd-db changed"

cl_log "no table and no signature: labelled GPT"
out=$(client "PARTITION $BLANK 40 cmsd-db") || cl_fail "client: $out"
grep -qxF "state=created" <<<"$out" || cl_fail "PARTITION $BLANK answered: $out"
grep -qxF "partition=${BLANK}p1" <<<"$out" || cl_fail "PARTITION $BLANK answered: $out"
[ "$(sfdisk --dump "$BLANK" | sed -n 's/^label: //p')" = gpt ] || cl_fail "$BLANK is not GPT"
[ "$(kernel_part "$BLANK" 1)" = "${BLANK#/dev/}p1 cmsd-db" ] || cl_fail "the kernel does not show ${BLANK}p1 cmsd-db"

cl_log "no table but an ext4 signature: refused, nothing written"
out=$(client "PARTITION $EXT 40 cmsd-db") || cl_fail "client: $out"
[[ $out == "OK
ERR $EXT has no partition table but carries a signature ("*"TYPE=ext4"*"): not labelled; if nothing on it is needed, clear it first (wipefs -a $EXT)" ]] ||
	cl_fail "PARTITION on ext4 answered: $out"
[ "$(blkid -p -o value -s TYPE "$EXT")" = ext4 ] || cl_fail "$EXT lost its ext4 signature"
! sfdisk --dump "$EXT" >/dev/null 2>&1 || cl_fail "$EXT got a partition table"

cl_log "too little free space: refused naming free and needed"
out=$(client "PARTITION $FULL 40 cmsd-db") || cl_fail "client: $out"
[ "$out" = "OK
ERR not enough free space on $FULL: 22 MiB free in one piece, 40 MiB needed" ] ||
	cl_fail "PARTITION on a full disk answered: $out"
[ "$(sfdisk --dump "$FULL" | grep -c ' : start=')" = 1 ] || cl_fail "$FULL changed"

cl_log "a partition, a bad size, a bad label: refused"
out=$(client "PARTITION ${SYS}p1 40 cmsd-db" "PARTITION $SYS 0 cmsd-db" "PARTITION $SYS 40 bad/name") || cl_fail "client: $out"
[ "$out" = "OK
ERR PARTITION: ${SYS}p1 is a partition, not a whole disk
ERR PARTITION: size \"0\" is not a number of MiB
ERR PARTITION: label \"bad/name\" must be 1 to 36 letters, digits, '.', '_' or '-'" ] ||
	cl_fail "bad words answered: $out"
[ "$(cat "$CL_TMP/m/f")" = kept ] || cl_fail "the mounted file system changed"
# no password in any log, no sanitizer report (ASan builds)
su_assert_no_password
echo "PASS: partition"
