#!/bin/bash
# Intent: the slave's root password is checked on the slave: a wrong one is
# refused, three failures lock the slave's setup agent for the lockout
# (3 s here), during which even the right password is refused, and after
# which it is accepted; attempts are logged on the slave without the
# password.  An unpinned or wrong setup certificate stops setup before any
# password is sent; requests before authentication are refused; a password
# given as an argument is refused.  At a terminal (a pty), the passwords
# are asked without echo, an unpinned fingerprint is confirmed with yes,
# and setup ends in a running pair.
set -euo pipefail
. "$(dirname "$0")/setup_lib.sh"
su_init setup_auth

for h in node1 node2 arbiter; do
	su_host "$h"
done
LOG2=$(su_log node2)
REFUSED='ERROR: setup failed at stage "connect": node2 (10.77.0.2): authentication refused'

attempt() { # slave password; then the result in SU_RC / setup.out
	su_setup < <(printf '%s\n%s\nno\n' "$1" "$SU_ARB_PW")
}

attempt 'not-the-password'
[ "$SU_RC" = 1 ] || cl_fail "a wrong password: setup exited $SU_RC"
su_out_has "$REFUSED: wrong password"
grep -qF "setup: authentication of root from 10.77.0.1 failed (1 of 3 before a lockout)" "$LOG2" ||
	cl_fail "node2's log lacks the first failure: $(tail -n 5 "$LOG2")"

attempt 'still wrong'
su_out_has "$REFUSED: wrong password"
grep -qF "failed (2 of 3 before a lockout)" "$LOG2" || cl_fail "no second failure logged"

attempt ''
su_out_has "$REFUSED: wrong password; too many failed attempts, locked for 3 s"
t_locked=$(cl_now)
grep -qF "setup: authentication of root from 10.77.0.1 failed; 3 failures: refusing every attempt for 3 s" "$LOG2" ||
	cl_fail "no lockout logged on node2"

# locked: the right password is refused too, unchecked
attempt "$SU_SLAVE_PW"
[ $(($(cl_now) - t_locked)) -lt 3000 ] || cl_fail "too slow to see the lockout (machine overloaded?)"
su_out_like '^ERROR: setup failed at stage "connect": node2 \(10\.77\.0\.2\): authentication refused: locked: too many failed attempts, try again in [1-3] s$'
grep -qE "setup: authentication of root from 10\.77\.0\.1 refused: locked for [1-3] more s after 3 failures" "$LOG2" ||
	cl_fail "the refusal during the lockout is not logged"
cl_log "locked out after 3 failures, the right password refused meanwhile"

# after the lockout the right password passes (then "no" at CONFIRM)
cl_sleep_ms $((3000 - ($(cl_now) - t_locked) + 300))
attempt "$SU_SLAVE_PW"
su_out_has "node2 (10.77.0.2): authenticated"
su_out_has "arbiter (10.77.0.3): authenticated"
su_out_has 'ERROR: setup failed at stage "confirm": not confirmed (CONFIRM was not typed); nothing was changed'
grep -qF "setup: 10.77.0.1 authenticated as root" "$LOG2" || cl_fail "no success logged on node2"

# The arbiter's password is checked on the arbiter.
su_setup < <(printf '%s\n%s\nno\n' "$SU_SLAVE_PW" "$SU_SLAVE_PW")
su_out_has 'ERROR: setup failed at stage "connect": arbiter (10.77.0.3): authentication refused: wrong password'

# An unpinned certificate, without a terminal to ask at: no password sent.
n_before=$(grep -c "authentication of root\|authenticated as root" "$LOG2")
SU_NOPIN=1 su_setup < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
[ "$SU_RC" = 1 ] || cl_fail "unpinned: setup exited $SU_RC"
fp2=$(su_fp node2)
su_out_has "node2 (10.77.0.2): setup certificate $fp2"
su_out_has "ERROR: setup failed at stage \"connect\": node2 (10.77.0.2): fingerprint not confirmed: pin it with --fingerprint 10.77.0.2=$fp2"
# A certificate other than the pinned one (the arbiter's for node2).
fp3=$(su_fp arbiter)
SU_FP2=$fp3 su_setup < <(printf '%s\n%s\nCONFIRM\n' "$SU_SLAVE_PW" "$SU_ARB_PW")
su_out_has "ERROR: setup failed at stage \"connect\": node2 (10.77.0.2): the setup certificate's fingerprint is $fp2, not the $fp3 given: another host answers, or the connection is intercepted"
[ "$(grep -c "authentication of root\|authenticated as root" "$LOG2")" = "$n_before" ] ||
	cl_fail "a password reached node2 over an unverified certificate"

# No request but AUTH before authentication (a raw TLS client).
out=$(ip netns exec "$(cl_ns client)" python3 - "$(cl_addr node2)" "$SU_PORT" <<'PY'
import socket, ssl, struct, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5))
def call(line, body=b""):
    m = line.encode() + b"\n" + body
    s.sendall(struct.pack(">I", len(m)) + m)
    n = struct.unpack(">I", s.recv(4))[0]
    r = b""
    while len(r) < n:
        r += s.recv(n - len(r))
    return r.split(b"\n")[0].decode()
print(call("FACTS"))
print(call("PUT @config 644", b"<cmsd/>"))
print(call("BOGUS"))
PY
) || cl_fail "the raw client failed: $out"
[ "$out" = "ERR not authenticated
ERR not authenticated
ERR not authenticated" ] || cl_fail "requests before AUTH were answered: $out"

# A password as an argument is refused before anything happens.
su_in node1 "$CMSADM_BIN" setup --vip "$SU_VIP" --prefix 24 --slave-ip 10.77.0.2 \
	--quorum ping --ping-ip1 10.77.0.254 --ping-ip2 10.77.0.253 --hosts 1 \
	--vms 1 secretpw >"$CL_DIR/argv.out" 2>&1 && cl_fail "a positional password was accepted"
grep -qF 'cmsadm: setup: unexpected argument "secretpw" (passwords are never arguments: see --password-file)' \
	"$CL_DIR/argv.out" || cl_fail "argv refusal: $(cat "$CL_DIR/argv.out")"

for h in node1 node2 arbiter; do
	[ ! -e "$CL_DIR/$h/etc.u/cmsd/cmsd.xml" ] || cl_fail "a config was written on $h"
done
su_assert_no_password
for pw in not-the-password 'still wrong'; do
	! grep -rqF -- "$pw" "$CL_DIR"/*/var.u/log "$CL_DIR"/*/stdout ||
		cl_fail "a wrong password is in a log"
done

# At a terminal: the passwords asked without echo, the unpinned slave's
# fingerprint shown and confirmed with "yes", CONFIRM typed; a pty stands
# for the operator's terminal.
fp2=$(su_fp node2)
fp3=$(su_fp arbiter)
su_template
STEPS=$(printf '%s\t%s\n' "Root password of the slave (10.77.0.2): " @PW_SLAVE \
	"Root password of the arbiter (10.77.0.3): " @PW_ARB \
	"Is that the fingerprint the host shows? [yes/no]: " yes \
	"Type CONFIRM to continue: " CONFIRM)
SU_RC=0
STEPS=$STEPS PW_SLAVE=$SU_SLAVE_PW PW_ARB=$SU_ARB_PW python3 "$(dirname "$0")/at_terminal.py" \
	nsenter -t "${CL_PID[node1]}" -m -u -n "$CMSADM_BIN" setup --vip "$SU_VIP" \
	--prefix 24 --slave-ip "$(cl_addr node2)" --quorum arbiter \
	--arbiter-ip "$(cl_addr arbiter)" --hosts 10 --vms 100 \
	--group-template "$CL_DIR/group.xml" --fingerprint "$(cl_addr arbiter)=$fp3" \
	--wait 30 >"$CL_DIR/setup.out" 2>&1 || SU_RC=$?
[ "$SU_RC" = 0 ] || cl_fail "setup at a terminal exited $SU_RC: $(cat "$CL_DIR/setup.out")"
su_out_like "^node2 \(10\.77\.0\.2\): setup certificate $fp2"
su_out_like "^-----CVM Master/Slave Setup Success-----"
# the terminal showed no password: what it echoed is in setup.out
su_assert_no_password
cl_log "setup at a terminal: no echo, fingerprint confirmed, a running pair"
echo "PASS: setup_auth"
