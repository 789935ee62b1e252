#!/bin/bash
# The group's recovery policy in the real agent (standalone node): a
# resource whose process dies is restarted in place, max-restarts times
# within the window; after that a node with no peer keeps the group and
# restarts again after a pause; an optional resource that used up its
# restarts is left stopped while the rest keeps running.  The "services"
# are real HTTP servers (python3) watched by resource-vncproxy's TCP
# monitor.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

. "$(dirname "$0")/lib.sh" recovery
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
p1=$(free_port)
p2=$(free_port)
mkdir -p "$tmp/web1" "$tmp/web2"

# The servers run in their own process groups: make sure none outlives
# the test, whatever happens to the agent.
kill_servers() {
	local p
	for p in $(pgrep -f -- "--directory $tmp/web" || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap 'kill_agent; kill_servers; cleanup' EXIT

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="web" plugin="resource-vncproxy" monitor-interval="200ms"
              start-timeout="10s" max-restarts="2" restart-window="10m">
      <command>$py -m http.server --bind 127.0.0.1 --directory $tmp/web1 $p1</command>
      <port>$p1</port>
    </resource>
    <resource id="extra" plugin="resource-vncproxy" monitor-interval="200ms"
              start-timeout="10s" max-restarts="0" optional="yes">
      <command>$py -m http.server --bind 127.0.0.1 --directory $tmp/web2 $p2</command>
      <port>$p2</port>
    </resource>
  </group>
</cmsd>
XML

server_pid() { # dir -> the pid of the server serving it, or nothing
	pgrep -f -- "--directory $tmp/$1 " | head -1 || true
}

new_server() { # dir old-pid: a server other than old-pid serves dir
	local p
	p=$(server_pid "$1")
	[ -n "$p" ] && [ "$p" != "$2" ]
}

echo "== start"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>"$tmp/stderr" &
pid=$!
wait_for 150 "both Started" status_has "extra .*: Started testhost"
status_has "web  *: Started testhost" || fail "web not Started"
w=$(server_pid web1)
[ -n "$w" ] || fail "no server for web"

for i in 1 2; do
	echo "== kill $i of web's server: restarted in place ($i of 2)"
	kill -KILL "$w"
	wait_for 100 "a new server for web after kill $i" new_server web1 "$w"
	w=$(server_pid web1)
	wait_for 100 "web restarted $i time(s)" \
		status_has "restarted $i time"
	grep -q "web failed (.*): restart $i of 2 within 10 min" "$tmp/log" ||
		fail "no 'restart $i of 2' line in the log"
	wait_for 50 "web Started again" status_has "web  *: Started testhost"
done
"$CMSADM_BIN" -s "$sock" status --json >"$tmp/json"
"$py" - "$tmp/json" <<'PY' || fail "status --json: restarts/recent_failures/recovery"
import json, sys
d = json.load(open(sys.argv[1]))
web = [i for i in d["instances"] if i["id"] == "web"][0]
assert web["restarts"] == 2, web
assert web["recent_failures"] == 2, web
assert web["recovery"].startswith("restart: restart 2 of 2"), web
PY

echo "== kill 3: restarts used up, no peer: held, then restarted after the pause"
t0=$(date +%s%N)
kill -KILL "$w"
wait_for 100 "web held" status_has "recover: web: hold: restarts used up and no peer to move the group to: restarting here again in 10 s"
status_has "web  *: Failed" || fail "a held web must show Failed"
status_has "extra .*: Started testhost" || fail "extra must keep running while web is held"
[ -z "$(server_pid web1)" ] || fail "a held web must not run (a server is up before the pause)"
wait_for 200 "web back after the hold" status_has "restarted 3 times"
t1=$(date +%s%N)
held=$(((t1 - t0) / 1000000))
echo "web was held $held ms"
[ "$held" -ge 9500 ] || fail "the hold pause was $held ms, not 10 s"
wait_for 50 "web Started after the hold" status_has "web  *: Started testhost"

echo "== the optional resource with no restarts is left stopped"
x=$(server_pid web2)
[ -n "$x" ] || fail "no server for extra"
kill -KILL "$x"
wait_for 100 "extra given up" status_has "recover: extra: give up: 1 failures within 10 min (at most 0 restarts): left stopped; an optional resource does not move the group"
wait_for 50 "extra Failed" status_has "extra .*: Failed"
sleep 1
[ -z "$(server_pid web2)" ] || fail "extra was started again"
status_has "web  *: Started testhost" || fail "web must keep running"
grep -q "extra is stopped and stays stopped (optional)" "$tmp/log" ||
	fail "no 'stays stopped' log line"

echo "== stop"
stop_cmsd
[ -z "$(server_pid web1)" ] || fail "web's server survived the stop"
echo "PASS"
