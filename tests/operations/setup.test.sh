#!/bin/bash
# Intent: `cmsadm setup` turns three hosts running an unconfigured cmsd into
# a running pair with an arbiter: passwords from stdin only (never in any
# process's command line, sampled all through the run, nor in any log),
# every pre-check passes and is named, CONFIRM is typed, the config goes to
# the three hosts, and status on node1 shows master, slave and quorum.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init setup

for h in node1 node2 arbiter; do
	su_host "$h"
done

# Sample every process's command line while setup runs: no password may
# ever appear there.  The sampler writes what it finds to a file.
sampler() {
	local p f a
	while [ ! -e "$CL_DIR/stop-sampling" ]; do
		for f in /proc/[0-9]*/cmdline; do
			# NUL-separated arguments, read without a fork
			{ mapfile -d '' -t a <"$f"; } 2>/dev/null || continue
			p="${a[*]}"
			case $p in
			*"$SU_SLAVE_PW"* | *"$SU_ARB_PW"* | *"$SU_NODE1_PW"*)
				echo "$f: $p" >>"$CL_DIR/leaks" ;;
			esac
			echo x >>"$CL_DIR/samples.n"
		done
		sleep 0.02
	done
}
sampler &
SAMPLER=$!
CL_BG_PIDS="$CL_BG_PIDS $SAMPLER"

su_setup < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
touch "$CL_DIR/stop-sampling"
wait "$SAMPLER" || true
cl_log "cmsadm setup exited $SU_RC"
[ "$SU_RC" = 0 ] || cl_fail "cmsadm setup failed ($SU_RC): $(cat "$CL_DIR/setup.out")"

[ ! -s "$CL_DIR/leaks" ] || cl_fail "a password was on a command line: $(cat "$CL_DIR/leaks")"
n=$(wc -l <"$CL_DIR/samples.n")
[ "$n" -gt 100 ] || cl_fail "the command-line sampler took only $n samples"
cl_log "no password in $n command-line samples"

for c in hostname version boot-mode clock network disk vms storage; do
	su_out_has "$(printf 'pre-check %-10s OK' "$c")"
done
su_out_has "node2 (10.77.0.2): authenticated"
su_out_has "arbiter (10.77.0.3): authenticated"
su_out_has "==> [4/4] starting the cluster agents"
su_out_has "-----CVM Master/Slave Setup Success-----"

# The pair runs on the generated configuration, in configured mode, and
# the same processes (the agents restarted themselves in place).
st=$(su_in node1 "$CMSADM_BIN" status) || cl_fail "status on node1: $st"
for l in "master : cvknode1 (Online)" "slave  : cvknode2 (Online)" \
	"quorum : [controller] cvknode3 (Online)" \
	"webip  : [$SU_VIP] Started cvknode1"; do
	grep -qxF -- "$l" <<<"$st" || cl_fail "status on node1 lacks \"$l\":
$st"
done
st2=$(su_in node2 "$CMSADM_BIN" status) || cl_fail "status on node2: $st2"
grep -qxF "slave  : cvknode2 (Online)" <<<"$st2" ||
	cl_fail "status on node2: $st2"
# the VIP answers from node1's MAC
macs=$(cl_vip_macs "$SU_VIP" 500)
[ "$macs" = "$(cl_mac node1 77)" ] || cl_fail "the VIP answers from \"$macs\", not node1"

# The files written: the config with node= for each, keys 0600.
for h in node1 node2; do
	x=$CL_DIR/$h/etc.u/cmsd/cmsd.xml
	grep -q "node=\"$h\"" "$x" || cl_fail "$x lacks node=\"$h\""
	for k in cluster.key tls/node.key tls/ca.key; do
		[ "$(stat -c %a "$CL_DIR/$h/etc.u/cmsd/$k")" = 600 ] ||
			cl_fail "$h: $k is not mode 600"
	done
	cmp -s "$CL_DIR/node1/etc.u/cmsd/cluster.key" "$CL_DIR/$h/etc.u/cmsd/cluster.key" ||
		cl_fail "the nodes have different cluster keys"
done
grep -q 'mode="arbiter"' "$CL_DIR/arbiter/etc.u/cmsd/cmsd.xml" ||
	cl_fail "the arbiter's config is not in arbiter mode"
[ ! -e "$CL_DIR/arbiter/etc.u/cmsd/tls/ca.key" ] ||
	cl_fail "the CA key went to the arbiter"

# Each stage is logged on node1; the agents log the authentication.
log1=$(su_log node1)
for s in "==> pre-checks" "confirmed by the operator" \
	"==> [1/4] generating the cluster CA, node certificates and the cluster key" \
	"==> [2/4] writing the configuration to the three hosts" \
	"==> [3/4] checking the configuration on each host" \
	"-----CVM Master/Slave Setup Success-----"; do
	grep -qF -- "$s" "$log1" || cl_fail "$log1 lacks \"$s\""
done
grep -q "setup: 10.77.0.1 authenticated as root" "$(su_log node2)" ||
	cl_fail "node2's log lacks the authentication"
su_assert_no_password
cl_log "setup made a running pair with an arbiter"

# Ping mode: two fresh hosts, no arbiter, the two switch addresses as
# targets.  The old agents go, with the VIP they left on node1.
su_stop_all
ip -n "$(cl_ns node1)" addr del "$SU_VIP/24" dev eth0 2>/dev/null || true
for h in node1 node2 arbiter; do
	rm -rf "${CL_DIR:?}/$h"
done
su_host node1
su_host node2
su_template
fp2=$(su_fp node2)
SU_RC=0
su_in node1 "$CMSADM_BIN" setup --vip "$SU_VIP" --netmask 255.255.255.0 \
	--slave-ip "$(cl_addr node2)" --quorum ping --ping-ip1 10.77.0.254 \
	--ping-ip2 10.77.0.253 --hosts 10 --vms 100 --password-file - \
	--group-template "$CL_DIR/group.xml" --fingerprint "$(cl_addr node2)=$fp2" \
	--wait 30 >"$CL_DIR/setup.out" 2>&1 < <(printf '%s\nCONFIRM\n' "$SU_SLAVE_PW") || SU_RC=$?
[ "$SU_RC" = 0 ] || cl_fail "ping-mode setup failed ($SU_RC): $(cat "$CL_DIR/setup.out")"
su_out_has "-----CVM Master/Slave Setup Success-----"
st=$(su_in node1 "$CMSADM_BIN" status) || cl_fail "status on node1: $st"
for l in "master : cvknode1 (Online)" "slave  : cvknode2 (Online)" \
	"webip  : [$SU_VIP] Started cvknode1"; do
	grep -qxF -- "$l" <<<"$st" || cl_fail "ping mode: status on node1 lacks \"$l\":
$st"
done
grep -q 'plugin="quorum-ping"' "$CL_DIR/node1/etc.u/cmsd/cmsd.xml" ||
	cl_fail "the ping-mode config has no quorum-ping"
su_assert_no_password
cl_log "setup made a running pair in ping mode"
echo "PASS: setup"
