#!/bin/bash
# storage-fc in the real agent on a standalone node: a loop device with
# ext4 stands for the LUN (<reservation>none</reservation>), and a
# resource-dummy keeps its state file on it.  The LUN is mounted (e2fsck
# first) before the resource starts and unmounted after it stopped; status
# shows the storage and the Master/Slave Set while it runs; what was
# written is there at the next start; a process holding the mount at stop
# keeps it mounted (no lazy unmount) and is named by pid in the log.
#
# Needs root (loop device, mount).  The test re-runs itself in a private
# mount namespace, so that no mount it makes is seen by the host or
# outlives it.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (loop device, mount)"
	exit 77
fi
for t in losetup mkfs.ext4 e2fsck unshare; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
losetup -f >/dev/null 2>&1 || { echo "SKIP: no free loop device"; exit 77; }
if [ -z "${CMSD_FC_PRIVATE_NS:-}" ]; then
	exec env CMSD_FC_PRIVATE_NS=1 unshare -m --propagation private "$0" "$@"
fi

. "$(dirname "$0")/lib.sh" storage-fc
share=$tmp/share
loop=""
holder=""
cleanup_fc() {
	kill_agent
	if [ -n "$holder" ]; then
		kill -KILL "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
	fi
	while umount "$share" 2>/dev/null; do :; done
	[ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
	cleanup
}
trap cleanup_fc EXIT

truncate -s 32M "$tmp/lun.img"
mkfs.ext4 -q -F "$tmp/lun.img"
loop=$(losetup -f --show "$tmp/lun.img")
[ -b "$loop" ] || fail "losetup gave '$loop'"

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <storage id="share" plugin="storage-fc">
    <device>$loop</device>
    <mount>$share</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
  <group id="g">
    <resource id="dummy" plugin="resource-dummy" monitor-interval="200ms">
      <state-file>$share/dummy.run</state-file>
    </resource>
  </group>
</cmsd>
XML

mounted() { # is the LUN mounted on $share?
	awk -v p="$share" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo
}

line_of() { # the first log line number matching $1
	grep -n -- "$1" "$tmp/log" | head -1 | cut -d: -f1
}

start_cmsd() {
	"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
	pid=$!
	wait_for 100 "dummy Started" status_has "^dummy .*: Started testhost"
}

echo "== --check"
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null ||
	fail "--check refused the configuration"

echo "== start: e2fsck, mount, then the resource on the LUN"
start_cmsd
mounted || fail "$share is not mounted while cmsd runs"
[ -e "$share/dummy.run" ] || fail "the resource's state file is not on the LUN"
grep -q "share: promote: e2fsck -p $loop found the file system clean" "$tmp/log" ||
	fail "no e2fsck line in the log"
a=$(line_of "share: promote: mounted $loop on $share")
b=$(line_of "started dummy")
[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] ||
	fail "the LUN must be mounted before the resource starts"
grep -qE "^share +: storage storage-fc [0-9.]+: Started on testhost" "$tmp/status" ||
	fail "no storage line in status"
grep -qx "Master/Slave Set: \[$share\]" "$tmp/status" || fail "no Master/Slave Set line"
grep -qx "  Master: \[testhost\]" "$tmp/status" || fail "no Master line in the set"
echo "kept across restarts" >"$share/data"
sync

echo "== stop: the resource, then the unmount"
stop_cmsd 0
mounted && fail "$share is still mounted after the stop"
[ -e "$share/data" ] && fail "data written to the LUN shows without it"
a=$(line_of "stopped dummy")
b=$(line_of "share: demote: unmounted $loop from $share")
[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] ||
	fail "the LUN must be unmounted after the resource stopped"

echo "== start again: the data is there"
: >"$tmp/log"
start_cmsd
mounted || fail "not mounted at the second start"
[ "$(cat "$share/data")" = "kept across restarts" ] || fail "the data did not survive"

echo "== a process holding the mount: the demote fails and names it"
(cd "$share" && exec sleep 600) &
holder=$!
# The holder's working directory is on the LUN once it runs sleep.
holder_in() { [ "$(readlink "/proc/$holder/cwd" 2>/dev/null)" = "$share" ]; }
wait_for 50 "the holder in $share" holder_in
# The agent's exit status after a failed demote is its own policy.
stop_cmsd any
mounted || fail "a busy mount was detached (lazily?)"
grep -q "share: demote: cannot unmount $share ($loop): Device or resource busy" "$tmp/log" ||
	fail "no EBUSY line"
grep -q "share: demote: $share is held by pid $holder (sleep): working directory $share" "$tmp/log" ||
	fail "the holder is not named"
grep -q "share: demote failed" "$tmp/log" || fail "the agent did not report the failed demote"
kill -KILL "$holder"
wait "$holder" 2>/dev/null || true
holder=""
umount "$share"

echo "== the default reservation on a device without PR: refused, never mounted"
sed -i '/<reservation>none<\/reservation>/d' "$tmp/cmsd.xml"
: >"$tmp/log"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
refusal="share: start: <reservation>write-exclusive-registrants-only</reservation> asks for SCSI-3 persistent reservations, which $loop does not support: refusing to use it without fencing"
for _ in $(seq 100); do
	grep -qF -- "$refusal" "$tmp/log" && break
	sleep 0.1
done
grep -qF -- "$refusal" "$tmp/log" || fail "no refusal naming $loop"
# The agent's retries (its policy) must not mount it, nor repeat the error.
sleep 2
mounted && fail "$loop was mounted without fencing"
[ "$(grep -cF "asks for SCSI-3 persistent reservations" "$tmp/log")" = 1 ] ||
	fail "the refusal is not logged once"
[ -e "$share/dummy.run" ] && fail "the resource ran without its storage"
stop_cmsd any
echo "PASS"
