#!/bin/bash
# Intent: the installed systemd unit (build/dist/systemd/cmsd.service) is
# valid for systemd, lands where cmake --install puts units, and its own
# ExecStart line runs the right agent on each kind of host: with no config
# the setup agent (TLS on 7791, the reason logged), which cmsadm setup turns
# into the configured agent in place (same PID); with the config it runs
# configured (ctl status answers); a config that exists but cannot be read
# (no permission, a dangling link, a directory) refuses the start instead
# of falling back to setup.
#
# No systemd runs here as PID 1: the unit's ExecStart line is run as
# systemd would run it, in a host's network, mount and UTS namespaces
# (setup_lib.sh's overlays on /etc and /var, a tmpfs /run), with the binary
# path mapped to the build's cmsd.  node1 and node2 are test hosts as in the
# other setup tests (their /vms and facts need test options); the arbiter is
# the unit's host.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
: "${CMSD_BUILD_DIR:?}" "${CMSD_SOURCE_DIR:?}"

UNIT=$CMSD_BUILD_DIR/dist/systemd/cmsd.service
[ -f "$UNIT" ] || {
	echo "FAIL: $UNIT not generated" >&2
	exit 1
}
su_init systemd_unit

cache() { sed -n "s/^$1:[A-Z]*=//p" "$CMSD_BUILD_DIR/CMakeCache.txt"; }

# ---------------------------------------------------------------- the file

key() { sed -n "s/^$1=//p" "$UNIT"; }
for kv in Type=simple KillMode=mixed Restart=on-failure \
	After=network-online.target Wants=network-online.target \
	WantedBy=multi-user.target; do
	[ "$(key "${kv%%=*}")" = "${kv#*=}" ] ||
		cl_fail "$UNIT: ${kv%%=*} is \"$(key "${kv%%=*}")\", not \"${kv#*=}\""
done
# every choice says why, on the line above it
for k in Type ExecStart Restart RestartSec KillMode TimeoutStopSec After; do
	grep -B1 "^$k=" "$UNIT" | head -1 | grep -q '^#' ||
		cl_fail "$UNIT: $k= has no comment above it"
done
# the stop timeout leaves room for an ordered stop of the default group:
# five members (4 resources + storage) at 60 s each
t=$(key TimeoutStopSec)
case $t in
*min) t=$((${t%min} * 60)) ;;
*s) t=${t%s} ;;
esac
[ "$t" -ge 300 ] || cl_fail "TimeoutStopSec=$(key TimeoutStopSec) is shorter than an ordered group stop"
! grep -iE '^(Environment|Exec).*(pass|secret|\.key)' "$UNIT" ||
	cl_fail "$UNIT names a secret"

read -r -a EXEC <<<"$(key ExecStart)"
prefix=$(cache CMAKE_INSTALL_PREFIX)
sbindir=$(cache CMAKE_INSTALL_SBINDIR)
[ "${sbindir:0:1}" = / ] || sbindir=$prefix/$sbindir
[ "${EXEC[0]}" = "$sbindir/cmsd" ] ||
	cl_fail "ExecStart runs ${EXEC[0]}, not the installed $sbindir/cmsd"
[ "${EXEC[*]:1}" = "--unconfigured-if-missing" ] ||
	cl_fail "ExecStart's options are \"${EXEC[*]:1}\""
# the unit's command line, the binary mapped to the build's
UNIT_CMD=("$CMSD_BIN" "${EXEC[@]:1}")
cl_log "ExecStart: ${EXEC[*]}"

# Documentation= names the manual pages the package installs.
for m in $(key Documentation); do
	[[ $m =~ ^man:([a-z_.]+)\(([0-9])\)$ ]] || cl_fail "Documentation: $m is not a man: page"
	[ -f "$CMSD_SOURCE_DIR/docs/${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" ] ||
		cl_fail "Documentation: $m is not in docs/"
done

# systemd's own check, on the unit with its binary mapped (the real path is
# not installed on a test machine; man pages are checked above).
if command -v systemd-analyze >/dev/null; then
	sed "s#^ExecStart=${EXEC[0]} #ExecStart=$CMSD_BIN #" "$UNIT" >"$CL_TMP/cmsd.service"
	grep -q "^ExecStart=$CMSD_BIN " "$CL_TMP/cmsd.service" || cl_fail "cannot map ExecStart"
	out=$(systemd-analyze verify --man=no "$CL_TMP/cmsd.service" 2>&1) ||
		cl_fail "systemd-analyze verify: $out"
	[ -z "$out" ] || cl_fail "systemd-analyze verify complains: $out"
	cl_log "systemd-analyze verify: clean"
else
	cl_skip "no systemd-analyze (package systemd: scripts/install-deps.sh test)"
fi

# cmake --install puts it into the unit directory, next to the binary
# ExecStart names (DESTDIR: nothing outside the test directory is written).
unitdir=$(cache CMSD_SYSTEMD_UNIT_DIR)
DESTDIR=$CL_TMP/stage cmake --install "$CMSD_BUILD_DIR" >/dev/null
cmp -s "$UNIT" "$CL_TMP/stage$unitdir/cmsd.service" ||
	cl_fail "cmake --install did not install the unit as $unitdir/cmsd.service"
[ -x "$CL_TMP/stage${EXEC[0]}" ] || cl_fail "cmake --install put no cmsd at ${EXEC[0]}"
rm -rf "$CL_TMP/stage"
cl_log "installed as $unitdir/cmsd.service"

# ---------------------------------------------------------------- runs

# The unit's command line on host h, as systemd starts it: stdout and
# stderr to the host's "journal" file, CMSD_PLUGIN_DIR from the test's
# environment (a drop-in's Environment=).  Waits until it is the setup
# agent or the configured agent: UNIT_STATE says which.
UNIT_STATE=""
unit_start() { # host
	local h=$1 d=$CL_DIR/$1 off=0 pid
	UNIT_STATE=""
	mkdir -p "$d"/{etc.u,etc.w,var.u,var.w}
	[ -f "$d/shadow" ] || su_shadow "$h" "$d/shadow"
	[ -f "$d/journal" ] && off=$(stat -c %s "$d/journal")
	su_exec "$h" "$(cl_name "$h")" "${UNIT_CMD[@]}" >>"$d/journal" 2>&1 &
	pid=$!
	CL_PID[$h]=$pid
	for _ in $(seq 200); do
		if tail -c +$((off + 1)) "$d/journal" | grep -q "waiting for cmsadm setup"; then
			UNIT_STATE=unconfigured
			return 0
		fi
		# su_in once the agent is in its own mount namespace
		if [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] &&
			su_in "$h" "$CMSADM_BIN" status >/dev/null 2>&1; then
			UNIT_STATE=configured
			return 0
		fi
		kill -0 "$pid" 2>/dev/null ||
			cl_fail "the unit's agent on $h exited: $(tail -n 5 "$d/journal")"
		sleep 0.05
	done
	cl_fail "the unit's agent on $h did not start within 10 s: $(tail -n 5 "$d/journal")"
}

# 1. A fresh host: no /etc/cmsd at all.
mkdir -p "$CL_DIR/arbiter/etc.u"
if [ -e /etc/cmsd ]; then
	# this machine has one: the host's overlay hides it (a whiteout)
	mknod "$CL_DIR/arbiter/etc.u/cmsd" c 0 0
fi
unit_start arbiter
[ "$UNIT_STATE" = unconfigured ] || cl_fail "a host with no config did not start the setup agent"
j=$CL_DIR/arbiter/journal
grep -qF "no configuration at /etc/cmsd/cmsd.xml (No such file or directory): starting unconfigured" "$j" ||
	cl_fail "the journal does not say why the agent is unconfigured: $(cat "$j")"
[ "$(grep -c "starting unconfigured" "$j")" = 1 ] || cl_fail "the reason is logged more than once"
grep -q "waiting for cmsadm setup on 0.0.0.0:7791" "$(su_log arbiter)" ||
	cl_fail "the setup log lacks the setup port: $(cat "$(su_log arbiter)")"
# TLS 1.3 on the setup port, from another host
tls=$(ip netns exec "$(cl_ns node1)" timeout 10 openssl s_client -brief \
	-connect "$(cl_addr arbiter):$SU_PORT" </dev/null 2>&1) || true
grep -q "Protocol version: TLSv1.3" <<<"$tls" ||
	cl_fail "the setup port $(cl_addr arbiter):$SU_PORT does not answer TLS 1.3: $tls"
PID_UNCONF=${CL_PID[arbiter]}
cl_log "no config: the setup agent (pid $PID_UNCONF) answers TLS 1.3 on $SU_PORT"

# 2. cmsadm setup with the arbiter under the unit: COMMIT makes it the
# configured arbiter, in place.
su_host node1
su_host node2
su_setup < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
[ "$SU_RC" = 0 ] || cl_fail "cmsadm setup failed ($SU_RC): $(cat "$CL_DIR/setup.out")"
su_out_has "-----CVM Master/Slave Setup Success-----"
kill -0 "$PID_UNCONF" 2>/dev/null || cl_fail "the unit's agent exited at COMMIT: $(tail -n 5 "$j")"
[ "${CL_PID[arbiter]}" = "$PID_UNCONF" ] || cl_fail "the arbiter's agent changed"
# the process itself: its command line now is the configured agent's
mapfile -d '' -t args <"/proc/$PID_UNCONF/cmdline"
[ "${args[*]:1}" = "-c /etc/cmsd/cmsd.xml" ] ||
	cl_fail "after COMMIT pid $PID_UNCONF runs \"${args[*]}\", not cmsd -c /etc/cmsd/cmsd.xml"
grep -q 'mode="arbiter"' "$CL_DIR/arbiter/etc.u/cmsd/cmsd.xml" ||
	cl_fail "the arbiter's config is not in arbiter mode"
cl_expect_quorum() {
	local st
	for _ in $(seq 100); do
		st=$(su_in node1 "$CMSADM_BIN" status 2>&1) &&
			grep -qxF "quorum : [controller] cvknode3 (Online)" <<<"$st" && return 0
		sleep 0.1
	done
	cl_fail "$1: node1's status lacks the arbiter Online: $st"
}
cl_expect_quorum "after setup"
su_in arbiter "$CMSADM_BIN" status >/dev/null 2>&1 ||
	cl_fail "the arbiter's control socket does not answer after COMMIT"
cl_log "after COMMIT: the same pid $PID_UNCONF runs \"${args[*]}\", arbiter Online"

# 3. The host reboots (systemctl restart): the same line, the config there.
kill -TERM "$PID_UNCONF"
for _ in $(seq 200); do
	kill -0 "$PID_UNCONF" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$PID_UNCONF" 2>/dev/null && cl_fail "the arbiter did not stop on SIGTERM"
wait "$PID_UNCONF" 2>/dev/null || true
off=$(stat -c %s "$j")
unit_start arbiter
[ "$UNIT_STATE" = configured ] || cl_fail "with a config the unit's line did not run configured"
! tail -c +$((off + 1)) "$j" | grep -q "starting unconfigured" ||
	cl_fail "the configured start logged a fallback: $(tail -c +$((off + 1)) "$j")"
! ip netns exec "$(cl_ns arbiter)" ss -Hltn "sport = :$SU_PORT" | grep -q . ||
	cl_fail "the configured arbiter listens on the setup port"
cl_expect_quorum "after the restart"
cl_log "config present: the unit's line runs the configured arbiter (ctl status answers)"
cl_kill arbiter

# 4. A config that exists but cannot be read: no fallback, exit 1.  Each
# run is bounded (a wrong fallback would wait for setup for ever) and runs
# in the host's namespaces (a wrong fallback writes no file of the machine).
refused() { # what, setup command (shell, in the host's mount namespace)
	local what=$1 rc=0 out x=$CL_DIR/arbiter/etc.u/cmsd/cmsd.xml
	out=$(su_exec arbiter cvknode3 bash -c "$2"'
		exec timeout 10 "$@"' unit "${UNIT_CMD[@]}" 2>&1) || rc=$?
	# the overlay's upper layer keeps what the command did: undo it
	chmod 644 "$x" 2>/dev/null || true
	rm -rf "$x"
	if [ -e "$x.real" ]; then mv "$x.real" "$x"; else cp "$CL_TMP/good.xml" "$x"; fi
	[ "$rc" = 1 ] || cl_fail "$what: the unit's line exited $rc, not 1: $out"
	! grep -q "starting unconfigured" <<<"$out" || cl_fail "$what: it fell back to setup: $out"
	grep -qF "/etc/cmsd/cmsd.xml" <<<"$out" || cl_fail "$what: the error does not name the file: $out"
	cl_log "$what: refused ($(head -n 1 <<<"$out"))"
}
cp "$CL_DIR/arbiter/etc.u/cmsd/cmsd.xml" "$CL_TMP/good.xml"
x=/etc/cmsd/cmsd.xml
# root reads any file: the agent runs without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH here, so mode 000 really is unreadable to it
if command -v setpriv >/dev/null; then
	refused "mode 000" "chmod 000 $x"'
		set -- setpriv --bounding-set=-dac_override,-dac_read_search "$@"'
fi
refused "dangling link" "mv $x $x.real && ln -s /etc/cmsd/gone.xml $x"
refused "a directory" "mv $x $x.real && mkdir $x"
# and the restored config still runs (the refusals were the files' doing)
unit_start arbiter
[ "$UNIT_STATE" = configured ] || cl_fail "the restored config did not run configured"
cl_kill arbiter
su_assert_no_password
# the unit's agent wrote to its journal file, not to stdout (ASan builds)
! grep -q "Sanitizer" "$j" || cl_fail "a sanitizer report in $j: $(grep -A20 Sanitizer "$j" | head -40)"
echo "PASS: systemd_unit"
