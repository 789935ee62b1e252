#!/bin/bash
# Intent: `cmsadm recover --peer` on the surviving master re-initialises a
# wiped node2 (agent killed, its /etc/cmsd and /var/lib/cmsd removed, `cmsd
# --unconfigured` started again) from node1's config and CA key: a peer
# with another version, a config without node2's iSCSI initiator name and a
# wrong password are refused with nothing changed, `ms_recovery.sh` answered `no`
# changes nothing, SIGINT at the confirmation leaves node1 master and
# serving, then the recovery ends with exactly
# `-----CVM Master/Slave Restore Success-----`, node2 is slave (status on
# both), no command line ever held the password, and after a switchover
# node2 serves the file written before the wipe, identical (storage-fc on a
# loop device: DRBD runs only in QEMU guests here).  Then the other way:
# node1 wiped and recovered from node2 by `ms_recovery.sh` answered yes,
# and once more by `ms_recovery.sh 10.77.0.1 -` at a terminal, where cmsadm
# asks the password and no command line holds it, the wrapper's included.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init recover

for t in mkfs.ext4 losetup md5sum mkfifo; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done
# The wipe removes node2's files from its /etc overlay: a real
# /etc/cmsd under it would show through.
[ ! -e /etc/cmsd ] || cl_skip "/etc/cmsd exists on this machine (the overlay would show it)"
COMPAT=$CMSD_BUILD_DIR/tools/compat/ms_recovery.sh
[ -x "$COMPAT" ] || cl_fail "$COMPAT is not built"

truncate -s 64M "$CL_TMP/lun.img"
LOOP=$(losetup --find --show "$CL_TMP/lun.img") || cl_skip "no free loop device"
# shellcheck disable=SC2016 # evaluated by lib.sh at exit
CL_CLEANUP_CMDS='for _ in $(seq 50); do losetup -d "$LOOP" 2>/dev/null && break; sleep 0.1; done'
mkfs.ext4 -q -F "$LOOP"
MNT=$CL_TMP/mnt
mkdir -p "$MNT"

for h in node1 node2 arbiter; do
	su_host "$h"
done
# The pair's group: the LUN (storage-fc, mounted on the master in its own
# mount namespace), the VIP and two resource-dummy services.
cat >"$CL_DIR/group-fc.xml" <<XML
  <storage id="db" plugin="storage-fc">
    <device>$LOOP</device>
    <mount>$MNT</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
  <group id="vms">
    <resource id="webip" plugin="resource-vip" monitor-interval="1s" storage="db">
      <address>@VIP@/@PREFIX@</address>
      <interface>@INTERFACE@</interface>
    </resource>
    <resource id="mysql" plugin="resource-dummy" monitor-interval="1s" storage="db">
      <state-file>/var/lib/cmsd/mysql.running</state-file>
    </resource>
    <resource id="tomcat" plugin="resource-dummy" monitor-interval="1s" storage="db">
      <state-file>/var/lib/cmsd/tomcat.running</state-file>
    </resource>
  </group>
XML
su_setup --group-template "$CL_DIR/group-fc.xml" < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
[ "$SU_RC" = 0 ] || cl_fail "cmsadm setup failed ($SU_RC): $(cat "$CL_DIR/setup.out")"
su_out_has "-----CVM Master/Slave Setup Success-----"

role_of() { # host -> "node role epoch serving|idle"
	su_in "$1" "$CMSADM_BIN" role 2>&1 || true
}
master_serving() { [[ $(role_of node1) == "node1 master "*" serving" ]]; }
node2_slave() { [[ $(role_of node2) == "node2 slave "* ]]; }
status_has() { # host line
	su_in "$1" "$CMSADM_BIN" status 2>/dev/null | grep -qxF -- "$2"
}
cl_wait_for 10000 "node1 master serving after setup" master_serving

cl_log "data written on node1's storage before node2 is wiped"
su_in node1 sh -c "head -c 1048576 /dev/urandom >$MNT/before-wipe.dat && sync"
sum=$(su_in node1 md5sum "$MNT/before-wipe.dat" | awk '{print $1}')

# A reinstall of HOST as far as cmsd can tell: every process of its
# namespace killed, its /etc/cmsd and /var/lib/cmsd gone, seen Offline by
# the master PEER, then `cmsd --unconfigured` again.
wipe_host() { # HOST PEER [copy the log to FILE first]
	local h=$1 peer=$2
	su_kill_host "$h"
	[ -z "${3:-}" ] || cp "$(su_log "$h")" "$3"
	rm -rf "$CL_DIR/$h/etc.u/cmsd" "$CL_DIR/$h/var.u/lib/cmsd"
	cl_wait_for 5000 "$peer sees $h offline" status_has "$peer" "slave  : cvk$h (Offline)"
	su_host "$h"
}

cl_log "node2 wiped: agent killed, /etc/cmsd and /var/lib/cmsd removed"
wipe_host node2 node1
n2off=$(stat -c %s "$CL_DIR/node2/stdout")
fp2=$(su_fp node2) || cl_fail "no fingerprint from the fresh node2"
master_serving || cl_fail "node1 is not master serving after the wipe: $(role_of node1)"
N2CONF=$CL_DIR/node2/etc.u/cmsd/cmsd.xml
unconfigured() { # node2 has no config and its setup agent still waits
	[ ! -e "$N2CONF" ] && kill -0 "${CL_PID[node2]}" &&
		[[ $(role_of node2) == *"failed to connect to cmsd"* ]]
}
unconfigured || cl_fail "node2 is not a fresh unconfigured host"
RECOVER=("$CMSADM_BIN" recover --peer "$(cl_addr node2)" --fingerprint "$fp2"
	--password-file - --wait 30)

cl_log "a peer with another cmsd version is refused, nothing changed"
cl_kill node2
su_host node2 version=0.0.9
rc=0
su_in node1 "${RECOVER[@]}" --fingerprint "$(su_fp node2)" >"$CL_DIR/recover-version.out" 2>&1 < <(printf '%s\nyes\n' "$SU_SLAVE_PW") || rc=$?
[ "$rc" = 1 ] || cl_fail "recover of a peer with another version: exit $rc: $(cat "$CL_DIR/recover-version.out")"
v=$("$CMSD_BIN" --version | head -n 1 | awk '{print $2}')
grep -qxF "ERROR: recovery failed at stage \"connect\": the peer runs cmsd 0.0.9, this node cmsd $v: install the same version on the peer" \
	"$CL_DIR/recover-version.out" || cl_fail "another version: $(cat "$CL_DIR/recover-version.out")"
unconfigured || cl_fail "node2 changed after the version was refused"
cl_kill node2
su_host node2
n2off=$(stat -c %s "$CL_DIR/node2/stdout")
[ "$(su_fp node2)" = "$fp2" ] || cl_fail "node2's setup certificate changed across its agent's restart"

cl_log "a config whose iSCSI storage does not name node2's initiator: refused"
sed 's|^  <group id="vms">|  <storage id="tpl" plugin="storage-iscsi">\
    <portal>10.77.0.9:3260</portal>\
    <iqn>iqn.2026-11.com.example.san:templates</iqn>\
    <initiator-name>iqn.2026-11.com.example:cvknode1</initiator-name>\
    <mount>/vms/templates</mount>\
  </storage>\
&|' "$CL_DIR/node1/etc.u/cmsd/cmsd.xml" >"$CL_DIR/iscsi.xml"
grep -q "storage-iscsi" "$CL_DIR/iscsi.xml" || cl_fail "no storage-iscsi in the test's config copy"
rc=0
su_in node1 "${RECOVER[@]}" -c "$CL_DIR/iscsi.xml" >"$CL_DIR/recover-iscsi.out" 2>&1 < <(printf '%s\nyes\n' "$SU_SLAVE_PW") || rc=$?
[ "$rc" = 1 ] || cl_fail "recover with no initiator name for node2: exit $rc: $(cat "$CL_DIR/recover-iscsi.out")"
grep -qxF "ERROR: recovery failed at stage \"config\": $CL_DIR/iscsi.xml: storage-iscsi names no <initiator-name node=\"node2\">: the peer's initiator name must be kept across its reinstall (the SAN grants access by it); add it and run recover again" \
	"$CL_DIR/recover-iscsi.out" || cl_fail "no initiator name for node2: $(cat "$CL_DIR/recover-iscsi.out")"
unconfigured || cl_fail "node2 changed after the initiator name was missing"

cl_log "a wrong password is refused, nothing changed"
rc=0
su_in node1 "${RECOVER[@]}" >"$CL_DIR/recover-wrong.out" 2>&1 < <(printf 'not-the-password\nyes\n') || rc=$?
[ "$rc" = 1 ] || cl_fail "recover with a wrong password: exit $rc: $(cat "$CL_DIR/recover-wrong.out")"
grep -qxF 'ERROR: recovery failed at stage "connect": peer 10.77.0.2: authentication refused: wrong password' \
	"$CL_DIR/recover-wrong.out" || cl_fail "wrong password: $(cat "$CL_DIR/recover-wrong.out")"
! grep -qF -- "-----CVM Master/Slave Restore Success-----" "$CL_DIR/recover-wrong.out" ||
	cl_fail "success printed after a wrong password"
unconfigured || cl_fail "node2 changed after a wrong password"
master_serving || cl_fail "node1 not master serving after a wrong password"

cl_log "ms_recovery.sh answered no: nothing changed"
rc=0
out=$(printf 'no\n' | su_in node1 env CMSADM="$CMSADM_BIN" "$COMPAT" "$(cl_addr node2)" "$SU_SLAVE_PW" "$SU_ARB_PW" 2>&1) || rc=$?
[ "$rc" = 1 ] || cl_fail "ms_recovery.sh answered no: exit $rc: $out"
[[ $out == "Please confirm to recovery 10.77.0.2 and format peer's /vms partition [yes/no]: "* ]] ||
	cl_fail "ms_recovery.sh asked: $out"
grep -qxF "ERROR: recovery of 10.77.0.2 not confirmed; nothing was changed" <<<"$out" ||
	cl_fail "ms_recovery.sh answered no said: $out"
unconfigured || cl_fail "node2 changed after ms_recovery.sh was answered no"
! tail -c +$((n2off + 1)) "$CL_DIR/node2/stdout" | grep -q "authenticated as root" ||
	cl_fail "node2 was logged into although ms_recovery.sh was answered no"

cl_log "SIGINT at the confirmation: node1 stays master and serving"
mkfifo "$CL_DIR/in.fifo"
su_in node1 "${RECOVER[@]}" <"$CL_DIR/in.fifo" >"$CL_DIR/recover-int.out" 2>&1 &
RPID=$!
exec 5>"$CL_DIR/in.fifo"
# cmsadm's PID: the background subshell's child (nsenter execs cmsadm), or
# the subshell itself when bash exec'd it
CPID=$RPID
for _ in $(seq 50); do
	[ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = cmsadm ] && break
	c=$(pgrep -P "$RPID" | head -n 1) || true
	[ -z "$c" ] || CPID=$c
	sleep 0.1
done
[ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = cmsadm ] || cl_fail "no cmsadm process under $RPID"
printf '%s\n' "$SU_SLAVE_PW" >&5
cl_wait_for 10000 "the confirmation question" grep -qF "Please confirm to recovery 10.77.0.2 and format peer's /vms partition [yes/no]:" "$CL_DIR/recover-int.out"
kill -INT "$CPID"
rc=0
wait "$RPID" || rc=$?
exec 5>&-
[ "$rc" = 130 ] || cl_fail "recover after SIGINT: exit $rc: $(cat "$CL_DIR/recover-int.out")"
grep -qF 'ERROR: recovery interrupted (signal 2) at stage "confirm"; this node is still master and serving' \
	"$CL_DIR/recover-int.out" || cl_fail "SIGINT: $(cat "$CL_DIR/recover-int.out")"
for _ in $(seq 10); do
	master_serving || cl_fail "node1 not master serving after SIGINT: $(role_of node1)"
	sleep 0.1
done
[ "$(cl_vip_macs "$SU_VIP" 500)" = "$(cl_mac node1 77)" ] || cl_fail "the VIP does not answer from node1 after SIGINT"
unconfigured || cl_fail "node2 changed after SIGINT at the confirmation"

cl_log "cmsadm recover --peer on node1 at a terminal, command lines sampled"
sampler() {
	local p f a
	while [ ! -e "$CL_DIR/stop-sampling" ]; do
		for f in /proc/[0-9]*/cmdline; do
			{ mapfile -d '' -t a <"$f"; } 2>/dev/null || continue
			p="${a[*]}"
			case $p in
			*"$SU_SLAVE_PW"* | *"$SU_NODE1_PW"*) echo "$f: $p" >>"$CL_DIR/leaks" ;;
			esac
			echo x >>"$CL_DIR/samples.n"
		done
		sleep 0.02
	done
}
sampler &
SAMPLER=$!
CL_BG_PIDS="$CL_BG_PIDS $SAMPLER"
# At a terminal (a pty stands for the operator's): the password asked
# without echo, the confirmation answered yes, the unpinned fingerprint
# shown and confirmed with yes.
STEPS=$(printf '%s\t%s\n' "Root password of the peer (10.77.0.2): " @PW \
	"Please confirm to recovery 10.77.0.2 and format peer's /vms partition [yes/no]: " yes \
	"Is that the fingerprint the host shows? [yes/no]: " yes)
rc=0
STEPS=$STEPS PW=$SU_SLAVE_PW python3 "$(dirname "$0")/at_terminal.py" nsenter -t "${CL_PID[node1]}" -m -u -n \
	"$CMSADM_BIN" recover --peer "$(cl_addr node2)" --wait 30 >"$CL_DIR/recover.out" 2>&1 || rc=$?
tr -d '\r' <"$CL_DIR/recover.out" >"$CL_DIR/recover.out.tmp" && mv "$CL_DIR/recover.out.tmp" "$CL_DIR/recover.out"
touch "$CL_DIR/stop-sampling"
wait "$SAMPLER" || true
[ "$rc" = 0 ] || cl_fail "cmsadm recover: exit $rc: $(cat "$CL_DIR/recover.out")"
[ "$(tail -n 1 "$CL_DIR/recover.out")" = "-----CVM Master/Slave Restore Success-----" ] ||
	cl_fail "recover's last line is not the success line: $(cat "$CL_DIR/recover.out")"
[ ! -s "$CL_DIR/leaks" ] || cl_fail "the password was on a command line: $(cat "$CL_DIR/leaks")"
n=$(wc -l <"$CL_DIR/samples.n")
[ "$n" -gt 100 ] || cl_fail "the command-line sampler took only $n samples"
cl_log "no password in $n command-line samples"
grep -qxF "peer 10.77.0.2: setup certificate $fp2" "$CL_DIR/recover.out" ||
	cl_fail "recover did not show the peer's fingerprint: $(cat "$CL_DIR/recover.out")"
for l in "peer 10.77.0.2: authenticated" \
	"==> [1/4] issuing the peer's certificate from the cluster CA kept on this node" \
	"==> [3/4] formatting the peer's DRBD partition" \
	"  no storage-drbd in the configuration: nothing to format (shared storage stays as it is)" \
	"  cvknode2 is slave"; do
	grep -qxF -- "$l" "$CL_DIR/recover.out" || cl_fail "recover's output lacks \"$l\": $(cat "$CL_DIR/recover.out")"
done

cl_log "node2 is slave; status on both"
node2_slave || cl_fail "node2 is not slave: $(role_of node2)"
master_serving || cl_fail "node1 is not master serving: $(role_of node1)"
for h in node1 node2; do
	for l in "master : cvknode1 (Online)" "slave  : cvknode2 (Online)" \
		"quorum : [controller] cvknode3 (Online)"; do
		cl_wait_for 5000 "status on $h: $l" status_has "$h" "$l"
	done
done
grep -q 'node="node2"' "$N2CONF" || cl_fail "node2's new config is not node2's"
for k in cluster.key tls/ca.key; do
	cmp -s "$CL_DIR/node1/etc.u/cmsd/$k" "$CL_DIR/node2/etc.u/cmsd/$k" ||
		cl_fail "node2's $k is not the pair's"
	[ "$(stat -c %a "$CL_DIR/node2/etc.u/cmsd/$k")" = 600 ] || cl_fail "node2's $k is not mode 600"
done
[ "$(stat -c %a "$CL_DIR/node2/etc.u/cmsd/tls/node.key")" = 600 ] || cl_fail "node2's node.key is not mode 600"
openssl verify -CAfile "$CL_DIR/node1/etc.u/cmsd/tls/ca.pem" "$CL_DIR/node2/etc.u/cmsd/tls/node.pem" >/dev/null ||
	cl_fail "node2's certificate is not issued by the cluster CA"

cl_log "switchover: node2 serves the data written before the wipe"
su_in node1 "$CMSADM_BIN" switchover >/dev/null || cl_fail "switchover refused"
node2_master() { [[ $(role_of node2) == "node2 master "*" serving" ]]; }
cl_wait_for 15000 "node2 master serving after the switchover" node2_master
sum2=$(su_in node2 md5sum "$MNT/before-wipe.dat" | awk '{print $1}')
[ "$sum2" = "$sum" ] || cl_fail "the file on node2 differs: $sum2, written $sum"
cl_log "md5 $sum identical on the recovered node2"

cl_log "the other way: node1 wiped, ms_recovery.sh yes on the master node2"
wipe_host node1 node2 "$CL_DIR/node1.log.before-wipe"
fp1=$(su_fp node1) || cl_fail "no fingerprint from the fresh node1"
rc=0
printf 'yes\n' | su_in node2 env CMSADM="$CMSADM_BIN" CMSD_PEER_FINGERPRINT="$fp1" \
	"$COMPAT" "$(cl_addr node1)" "$SU_NODE1_PW" "$SU_ARB_PW" >"$CL_DIR/recover-compat.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || cl_fail "ms_recovery.sh on node2: exit $rc: $(cat "$CL_DIR/recover-compat.out")"
[ "$(tail -n 1 "$CL_DIR/recover-compat.out")" = "-----CVM Master/Slave Restore Success-----" ] ||
	cl_fail "ms_recovery.sh's last line is not the success line: $(cat "$CL_DIR/recover-compat.out")"
for l in "master : cvknode2 (Online)" "slave  : cvknode1 (Online)"; do
	cl_wait_for 5000 "status on node1: $l" status_has node1 "$l"
done
grep -qF "ms_recovery.sh: cmsadm recover --peer 10.77.0.1: exit 0" "$(su_log node2)" ||
	cl_fail "node2's log lacks the wrapper's exit"
! grep -qF -- "$SU_NODE1_PW" "$(su_log node2)" || cl_fail "node1's password is in node2's log"
cl_log "node1 recovered from node2 by ms_recovery.sh"

cl_log "node1 wiped again; ms_recovery.sh 10.77.0.1 - at a terminal on node2: the password only at cmsadm's prompt"
wipe_host node1 node2
fp1=$(su_fp node1) || cl_fail "no fingerprint from the fresh node1"
rm -f "$CL_DIR/stop-sampling" "$CL_DIR/samples.n"
sampler &
SAMPLER=$!
CL_BG_PIDS="$CL_BG_PIDS $SAMPLER"
STEPS=$(printf '%s\t%s\n' "Please confirm to recovery 10.77.0.1 and format peer's /vms partition [yes/no]: " yes \
	"Root password of the peer (10.77.0.1): " @PW)
rc=0
STEPS=$STEPS PW=$SU_NODE1_PW python3 "$(dirname "$0")/at_terminal.py" nsenter -t "${CL_PID[node2]}" -m -u -n \
	env CMSADM="$CMSADM_BIN" CMSD_PEER_FINGERPRINT="$fp1" "$COMPAT" "$(cl_addr node1)" - \
	>"$CL_DIR/recover-compat-ask.out" 2>&1 || rc=$?
tr -d '\r' <"$CL_DIR/recover-compat-ask.out" >"$CL_DIR/recover.out.tmp" && mv "$CL_DIR/recover.out.tmp" "$CL_DIR/recover-compat-ask.out"
touch "$CL_DIR/stop-sampling"
wait "$SAMPLER" || true
[ "$rc" = 0 ] || cl_fail "ms_recovery.sh 10.77.0.1 -: exit $rc: $(cat "$CL_DIR/recover-compat-ask.out")"
[ "$(tail -n 1 "$CL_DIR/recover-compat-ask.out")" = "-----CVM Master/Slave Restore Success-----" ] ||
	cl_fail "ms_recovery.sh -: the last line is not the success line: $(cat "$CL_DIR/recover-compat-ask.out")"
[ ! -s "$CL_DIR/leaks" ] || cl_fail "a password was on a command line: $(cat "$CL_DIR/leaks")"
n=$(wc -l <"$CL_DIR/samples.n")
[ "$n" -gt 100 ] || cl_fail "the command-line sampler took only $n samples"
for l in "master : cvknode2 (Online)" "slave  : cvknode1 (Online)"; do
	cl_wait_for 5000 "status on node1: $l" status_has node1 "$l"
done
cl_log "node1 recovered again with the password asked by cmsadm; no password in $n command-line samples"

log1=$CL_DIR/node1.log.before-wipe
for s in "cmsadm recover" "==> [2/4] writing the peer's configuration, certificate and keys" \
	"-----CVM Master/Slave Restore Success-----" "ERROR: stage \"connect\": peer 10.77.0.2: authentication refused: wrong password" \
	"ERROR: recovery interrupted (signal 2)" "ms_recovery.sh: recovery of 10.77.0.2 not confirmed"; do
	grep -qF -- "$s" "$log1" || cl_fail "$log1 lacks \"$s\""
done
for f in "$CL_DIR"/recover*.out; do
	! grep -qF -- "$SU_SLAVE_PW" "$f" || cl_fail "the password is in $f"
	! grep -qF -- "$SU_NODE1_PW" "$f" || cl_fail "node1's password is in $f"
done
su_assert_no_password
echo "PASS: recover"
