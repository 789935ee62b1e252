#!/bin/bash
# resource-vncproxy against the real agent: start spawns the proxy command
# and completes when its port accepts connections, monitor connects to it,
# a proxy killed behind the agent's back is noticed and restarted, and stop (SIGTERM to
# the agent) ends the proxy.  A plain HTTP server stands in for the proxy.
# Then the failures: a command that exits at once fails start with its
# output logged, and one that never listens is killed at the start timeout.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

. "$(dirname "$0")/lib.sh" vncproxy
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIP: no $py"; exit 0; }
port=$(free_port)

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="vnc" plugin="resource-vncproxy" monitor-interval="200ms" start-timeout="10s">
      <command>$py -m http.server --bind 127.0.0.1 --directory $tmp $port</command>
      <port>$port</port>
    </resource>
  </group>
</cmsd>
XML

port_open() {
	"$py" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null
}

printf 'echo cannot bind >&2\nexit 3\n' >"$tmp/exit3.sh"

echo "== --check"
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null || fail "--check"

echo "== start"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>"$tmp/stderr" &
pid=$!
wait_status "vnc  *: Started testhost"
port_open || fail "port $port not open after Started"
grep -q "accepts connections" "$tmp/log" || fail "no start log line"
proxy=$(pgrep -f -- "--directory $tmp $port" | head -1)
[ -n "$proxy" ] || fail "proxy process not found"

echo "== the monitor notices a dead proxy"
kill -KILL "$proxy"
for _ in $(seq 50); do
	grep -q "restarted vnc" "$tmp/log" && break
	sleep 0.1
done
grep -q "vnc: /usr/bin/python3 was killed by signal 9" "$tmp/log" ||
	fail "the proxy's death was not logged"
grep -q "vnc: event: failed" "$tmp/log" || fail "no CMSD_EV_FAILED event"
# The plugin's report goes to the group's recovery policy at once.
grep -q "vnc failed (failed: was killed by signal 9): restart 1 of 3" "$tmp/log" ||
	fail "the failure did not reach the recovery policy"
grep -q "restarted vnc" "$tmp/log" || fail "vnc was not restarted"
again=$(pgrep -f -- "--directory $tmp $port" | head -1)
[ -n "$again" ] && [ "$again" != "$proxy" ] || fail "no new proxy process after the restart"
port_open || fail "port $port not open after the restart"
"$CMSADM_BIN" -s "$sock" status >"$tmp/status" || fail "status"
cat "$tmp/status"

echo "== stop"
stop_cmsd
if port_open; then fail "port $port still open after stop"; fi
if pgrep -f -- "--directory $tmp $port" >/dev/null; then fail "proxy still running"; fi

run_failing() { # $1: command, $2: start-timeout
	cat >"$tmp/bad.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="vnc" plugin="resource-vncproxy" start-timeout="$2">
      <command>$1</command>
      <port>$port</port>
    </resource>
  </group>
</cmsd>
XML
	: >"$tmp/log"
	"$CMSD_BIN" -c "$tmp/bad.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
	pid=$!
	wait_status "vnc  *: Failed"
}

echo "== a proxy that exits at once fails start"
run_failing "/bin/sh $tmp/exit3.sh" 5s
grep -q "vnc: /bin/sh exited with status 3: cannot bind" "$tmp/log" || fail "exit not logged"
grep -q "error  : vnc: start: .*No such process" "$tmp/status" || fail "start error in status"
stop_cmsd

echo "== a proxy that never listens is killed at the start timeout"
marker="86399.$$$RANDOM"
run_failing "/bin/sleep $marker" 1s
grep -q "error  : vnc: start: timed out" "$tmp/status" || fail "timeout not in status"
for _ in $(seq 30); do pgrep -f "sleep $marker" >/dev/null || break; sleep 0.1; done
if pgrep -f "sleep $marker" >/dev/null; then fail "the proxy outlived its cancelled start"; fi
if grep -q "event: failed" "$tmp/log"; then fail "a cancelled start reported as a failure of the service"; fi
stop_cmsd
echo "PASS"
