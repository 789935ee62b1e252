# tests/operations/setup_lib.sh: sourced by the setup tests (not a test).
#
# Three fresh hosts for `cmsadm setup`, built on tests/cluster/lib.sh's
# namespaces (node1 10.77.0.1, node2 10.77.0.2, arbiter 10.77.0.3, the
# switch, a client).  Each host's agent runs `cmsd --unconfigured` in the
# host's network namespace and in a mount + UTS namespace of its own:
#   /etc   an overlay on the real /etc (writes land in the test directory)
#          with the test's shadow file bind-mounted over /etc/shadow: the
#          agent checks the root password against the real path with the
#          real crypt, and the machine's /etc/shadow is never read or
#          touched;
#   /var   an overlay too (/var/lib/cmsd, /var/log/cvm_master*.log);
#   /run   a tmpfs (/run/cmsd: the token, the control socket);
#   the host name set in the UTS namespace (cvknode1...);
#   /vms   a tmpfs of the size the test asks for (no /vms can be made on
#          the real root, so the agent is told where it is: --vms-path).
# Facts that no namespace can vary (boot mode, the system disk's name, a
# clock offset, the version) come from a --facts-override file, which the
# agent logs and reports as overridden.  The system disk of a test machine
# is rarely an sdX, so every node says disk=sda unless a test says else.
# A group template that names the database disk (@DB_DISKS@, @DB_DISK@)
# makes setup partition /dev/DISK on each node: such a test binds a loop
# device on that name in each agent's namespace (bind=, setup_db.test.sh)
# or gives --db-on, never the machine's own disk.
#
# Use: . setup_lib.sh; su_init NAME; su_host HOST HOSTNAME [key=value...];
#   su_run_setup ARGS... (cmsadm setup in node1's namespaces; stdin given).

. "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

# shellcheck disable=SC2016 # the $ is part of the password
SU_SLAVE_PW='Sl4ve pw with spaces & $ymbols'
SU_ARB_PW='arb1ter-Secret#42'
SU_NODE1_PW='n0de1-own-root'
SU_LOCKOUT=3
# shellcheck disable=SC2034 # used by the tests that source this file
SU_PORT=7791

su_init() { # name
	cl_init "$1"
	cl_need_agent
	command -v unshare >/dev/null || cl_skip "no unshare(1)"
	command -v nsenter >/dev/null || cl_skip "no nsenter(1)"
	command -v openssl >/dev/null || cl_skip "no openssl(1) for the test shadow file"
	# shellcheck disable=SC2034 # read by lib.sh
	CL_MODE=arbiter
	CL_DIR=$CL_TMP/arbiter
	mkdir -p "$CL_DIR"
	cl_topo_up 1
	# overlayfs must accept the test directory as its upper layer
	mkdir -p "$CL_TMP/ovt/u" "$CL_TMP/ovt/w" "$CL_TMP/ovt/l"
	ip netns exec "$(cl_ns node1)" unshare -m --propagation private sh -c \
		"mount -t overlay overlay -o lowerdir=$CL_TMP/ovt/l,upperdir=$CL_TMP/ovt/u,workdir=$CL_TMP/ovt/w $CL_TMP/ovt/l" \
		2>/dev/null || cl_skip "no overlayfs on $CL_TMP"
}

su_pw_of() { # host -> its root password
	case $1 in
	node1) echo "$SU_NODE1_PW" ;;
	node2) echo "$SU_SLAVE_PW" ;;
	arbiter) echo "$SU_ARB_PW" ;;
	esac
}

# The host's test shadow file: root with a SHA-512 crypt hash of its
# password (openssl reads the password on stdin, never on argv).
su_shadow() { # host file
	local hash
	hash=$(printf '%s\n' "$(su_pw_of "$1")" | openssl passwd -6 -stdin) ||
		cl_fail "openssl passwd"
	printf 'root:%s:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n' \
		"$hash" >"$2"
	chmod 600 "$2"
}

# Runs cmd (exec, in the foreground) in host's network namespace and in a
# mount + UTS namespace of its own: the overlays of $CL_DIR/HOST on /etc and
# /var, a tmpfs /run, the host's test shadow file, the host name, and
# $SU_VMSMOUNT (commands, one a line, may be empty: /vms, su_host's
# binds).  The caller made the overlays'
# directories and the shadow file under $CL_DIR/HOST.  It execs, so that
# the PID of `su_exec ... &` becomes the command's: call it with & or in a
# subshell.
su_exec() { # host hostname cmd...
	local h=$1 d=$CL_DIR/$1 hostname=$2
	shift 2
	exec ip netns exec "$(cl_ns "$h")" unshare -m -u --propagation private \
		bash -c "set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir=$d/etc.u,workdir=$d/etc.w /etc
mount -t overlay overlay -o lowerdir=/var,upperdir=$d/var.u,workdir=$d/var.w /var
mount -t tmpfs -o size=4m,mode=755 tmpfs /run
mount --bind $d/shadow /etc/shadow
${SU_VMSMOUNT:-}
printf '%s' '$hostname' >/proc/sys/kernel/hostname
exec \"\$@\"" su-agent "$@"
}

# Starts host's unconfigured agent.  Settings (key=value): hostname=NAME
# (default cvknodeN), vms_gb=N (default 40; 0: no /vms), hook=SCRIPT_TEXT,
# plugins=DIR, bind=SRC:DST (SRC bind-mounted on DST in the agent's mount
# namespace: a loop device standing for the host's own disk; repeatable),
# and the facts override keys boot= disk= version= clock_offset_ms= (disk
# defaults to sda on the nodes).
su_host() { # host [key=value...]
	local h=$1 d=$CL_DIR/$1 kv k v hostname vms_gb=40 hook="" plugins
	local over="" disk=sda binds=""
	shift
	hostname=$(cl_name "$h")
	plugins=$CMSD_PLUGIN_DIR
	[ "$h" = arbiter ] && disk=""
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		hostname) hostname=$v ;;
		vms_gb) vms_gb=$v ;;
		hook) hook=$v ;;
		plugins) plugins=$v ;;
		disk) disk=$v ;;
		bind) binds+="mount --bind ${v%%:*} ${v#*:}"$'\n' ;;
		boot | version | clock_offset_ms) over+="$k=$v"$'\n' ;;
		*) cl_fail "su_host: unknown setting $k" ;;
		esac
	done
	[ -z "$disk" ] || over+="disk=$disk"$'\n'
	mkdir -p "$d"/{etc.u,etc.w,var.u,var.w,vms}
	su_shadow "$h" "$d/shadow"
	printf '%s' "$over" >"$d/facts"
	rm -f "$d/hook"
	if [ -n "$hook" ]; then
		printf '#!/bin/sh\n%s\n' "$hook" >"$d/hook"
		chmod 755 "$d/hook"
	fi
	local vmsmount="" off=0
	# only lines of this start count (stdout keeps earlier runs)
	[ -f "$d/stdout" ] && off=$(stat -c %s "$d/stdout")
	[ "$vms_gb" = 0 ] || vmsmount="mount -t tmpfs -o size=${vms_gb}g tmpfs $d/vms"
	# the binds first: /vms may be bound under nothing they cover
	SU_VMSMOUNT="$binds$vmsmount" su_exec "$h" "$hostname" \
		"$CMSD_BIN" --unconfigured -d -p "$plugins" \
		--vms-path "$d/vms" --precheck-hook "$d/hook" \
		--facts-override "$d/facts" --auth-lockout "$SU_LOCKOUT" \
		>>"$d/stdout" 2>&1 &
	CL_PID[$h]=$!
	# listening on its own address, and on loopback for the local cmsadm
	for _ in $(seq 200); do
		tail -c +$((off + 1)) "$d/stdout" 2>/dev/null |
			grep -q "waiting for cmsadm setup" && return 0
		kill -0 "${CL_PID[$h]}" 2>/dev/null ||
			cl_fail "the $h setup agent exited: $(tail -n 5 "$d/stdout")"
		sleep 0.05
	done
	cl_fail "the $h setup agent did not start within 10 s: $(tail -n 5 "$d/stdout")"
}

# Stops HOST's agent and every other process of its namespace.
su_kill_host() {
	local p
	cl_kill "$1"
	for _ in $(seq 100); do
		p=$(ip netns pids "$(cl_ns "$1")" 2>/dev/null)
		[ -n "$p" ] || break
		# shellcheck disable=SC2086 # one pid a word
		kill -KILL $p 2>/dev/null || true
		sleep 0.05
	done
}

# Stops the agents and whatever else runs in the hosts' namespaces (a
# VIP guard that outlives its agent would take the VIP from the next one).
su_stop_all() {
	local h
	for h in node1 node2 arbiter; do
		su_kill_host "$h"
	done
}

su_in() { # host cmd...: runs cmd in the host's agent's namespaces
	local h=$1 pid=${CL_PID[$1]:-}
	shift
	# Never the machine's own mount namespace: a command meant for the
	# test host must not write the real /etc or /var.
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
		cl_fail "su_in $h: its agent ($pid) is not in a mount namespace of its own"
	nsenter -t "$pid" -m -u -n "$@"
}

su_fp() { # host -> the setup certificate's fingerprint, as the host shows it
	su_in "$1" "$CMSD_BIN" --unconfigured --show-fingerprint
}

# The group of the test cluster: the real VIP (resource-vip) in the
# namespaces, and two resource-dummy resources with their state under the
# node's private /var/lib/cmsd.
su_template() {
	cat >"$CL_DIR/group.xml" <<'XML'
  <group id="vms">
    <resource id="webip" plugin="resource-vip" monitor-interval="1s">
      <address>@VIP@/@PREFIX@</address>
      <interface>@INTERFACE@</interface>
    </resource>
    <resource id="mysql" plugin="resource-dummy" monitor-interval="1s">
      <state-file>/var/lib/cmsd/mysql.running</state-file>
    </resource>
    <resource id="tomcat" plugin="resource-dummy" monitor-interval="1s">
      <state-file>/var/lib/cmsd/tomcat.running</state-file>
    </resource>
  </group>
XML
}

SU_VIP=10.77.0.55

# cmsadm setup on node1 with the test's form; extra options follow.  Its
# stdin is the caller's; output in $CL_DIR/setup.out, status in SU_RC.
# SU_NOPIN=1: no --fingerprint; SU_FP2: pin node2 to this one instead.
# shellcheck disable=SC2034 # SU_RC is read by the tests
su_setup() {
	local fp2 fp3 pins=()
	su_template
	fp2=${SU_FP2:-$(su_fp node2)} || cl_fail "no fingerprint from node2"
	fp3=$(su_fp arbiter) || cl_fail "no fingerprint from the arbiter"
	[ "${SU_NOPIN:-0}" = 1 ] ||
		pins=(--fingerprint "$(cl_addr node2)=$fp2"
			--fingerprint "$(cl_addr arbiter)=$fp3")
	SU_RC=0
	su_in node1 "$CMSADM_BIN" setup --vip "$SU_VIP" --prefix 24 \
		--slave-ip "$(cl_addr node2)" --quorum arbiter \
		--arbiter-ip "$(cl_addr arbiter)" --hosts 10 --vms 100 \
		--password-file - --group-template "$CL_DIR/group.xml" \
		"${pins[@]}" --wait 30 "$@" \
		>"$CL_DIR/setup.out" 2>&1 || SU_RC=$?
}

su_out_has() { # line (exact, one line of the output)
	grep -qxF -- "$1" "$CL_DIR/setup.out" ||
		cl_fail "cmsadm setup's output lacks the line \"$1\"; it says:
$(cat "$CL_DIR/setup.out")"
}

su_out_like() { # extended regexp
	grep -qE -- "$1" "$CL_DIR/setup.out" ||
		cl_fail "cmsadm setup's output has no line like /$1/; it says:
$(cat "$CL_DIR/setup.out")"
}

su_log() { # host -> its /var/log/cvm_master_slave.log (in the overlay)
	echo "$CL_DIR/$1/var.u/log/cvm_master_slave.log"
}

# No file of the test holds a password: the logs of the three hosts, the
# agents' stdout and setup's output.
su_assert_no_password() {
	local f pw
	for f in "$CL_DIR"/*/stdout "$CL_DIR"/*/var.u/log/* "$CL_DIR/setup.out"; do
		[ -f "$f" ] || continue
		for pw in "$SU_SLAVE_PW" "$SU_ARB_PW" "$SU_NODE1_PW"; do
			! grep -qF -- "$pw" "$f" ||
				cl_fail "a password is written in $f"
		done
	done
	# and no agent reported a sanitizer error (ASan builds)
	for f in "$CL_DIR"/*/stdout; do
		[ -f "$f" ] || continue
		! grep -q "Sanitizer" "$f" ||
			cl_fail "a sanitizer report in $f: $(grep -A20 Sanitizer "$f" | head -40)"
	done
}

# A small client of the setup channel, as cmsadm speaks it: TLS pinned by
# fingerprint, AUTH root with the password on stdin, then each request
# "WORDS[@FILE]" (FILE: the body); prints each reply line and, after an OK
# with a body, the body.
su_client_py() { # file
	cat >"$1" <<'PY'
import hashlib, socket, ssl, struct, sys
addr, port, fp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pw = sys.stdin.readline().rstrip("\n").encode()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
s = ctx.wrap_socket(socket.create_connection((addr, port), 10))
d = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest().upper()
got = "SHA256:" + ":".join(d[i:i + 2] for i in range(0, len(d), 2))
if got != fp:
    sys.exit("fingerprint %s, expected %s" % (got, fp))
s.settimeout(120)
def recvn(n):
    r = b""
    while len(r) < n:
        k = s.recv(n - len(r))
        if not k:
            sys.exit("connection closed")
        r += k
    return r
def call(line, body=b""):
    p = line.encode() + b"\n" + body
    s.sendall(struct.pack(">I", len(p)) + p)
    n = struct.unpack(">I", recvn(4))[0]
    return recvn(n).decode().split("\n", 1)
print(call("AUTH root", pw)[0])
for req in sys.argv[4:]:
    body = b""
    if "@/" in req:
        req, f = req.rsplit("@", 1)
        body = open(f, "rb").read()
    r = call(req, body)
    print(r[0])
    if len(r) > 1 and r[1]:
        sys.stdout.write(r[1] if r[1].endswith("\n") else r[1] + "\n")
PY
}
