#!/bin/bash
# resource-tomcat against the real agent, with a small python HTTP server
# standing in for Tomcat (its status comes from a file the test rewrites).
#   foreground (<start-command> alone): start completes at the first 200
#   (the GET carries the URL's path and query, not its fragment, and a
#   Host header),
#   a 503 makes the monitor fail it and the agent restart it (and the
#   restart's start waits while the answer is still 503), a killed server is
#   noticed at once and restarted, a server that stops answering reads as
#   UNKNOWN, and stop (SIGTERM to the agent) leaves no process.
#   launcher (<start-command> + <stop-command>, daemonizing scripts, URL
#   by name: localhost) and catalina (<catalina-home>, a fake catalina.sh
#   checking its argv and environment, URL [::1] where the host has IPv6):
#   both start, a daemonized server killed behind the agent's
#   back is caught by the HTTP monitor and restarted through the stop
#   command, and stop leaves no process.
#   a server that ignores SIGTERM is killed after <stop-grace>.
#   failures: a server that exits at once fails start with its output
#   logged; one that never answers is killed at the start timeout.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

. "$(dirname "$0")/lib.sh" tomcat
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIP: no $py"; exit 0; }

# At exit, after a failure: the agent is killed with SIGKILL (lib.sh), which
# leaves its children's process groups behind, and daemonized servers are
# not its children anyway.  Every server of this test runs $tmp/srv.py:
# those pids, and the ones in pid files the test's scripts wrote, go.
marker=""
on_exit() {
	local p
	kill_agent
	for p in $(pgrep -f -- "$tmp/srv.py" || true) \
		$(cat "$tmp"/*.pid 2>/dev/null || true) \
		$([ -z "$marker" ] || pgrep -f -- "sleep $marker" || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
	cleanup
}
trap on_exit EXIT

port=$(free_port)

cat >"$tmp/srv.py" <<'PY'
# srv.py PORT STATUSFILE [ADDRESS]: GET answers the status in STATUSFILE
# (default 200); "hang" never answers.  The request line and Host header of
# the last GET go to STATUSFILE.req.
import http.server, socket, sys, time
port, sf = int(sys.argv[1]), sys.argv[2]
addr = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
class S(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sf + ".req", "w") as f:
            f.write("%s\nHost: %s\n" % (self.requestline, self.headers.get("Host")))
        try:
            st = open(sf).read().strip() or "200"
        except OSError:
            st = "200"
        if st == "hang":
            time.sleep(60)
            return
        body = b"ok\n"
        self.send_response(int(st))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("serving on", port, flush=True)
S((addr, port), H).serve_forever()
PY

http_status() { # $1: port; prints the status, or nothing
	"$py" -c 'import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    pass' "$1"
}

wait_log() { # $1: grep pattern that must appear in the log [$2 times]
	for _ in $(seq 150); do
		[ "$(grep -c -- "$1" "$tmp/log")" -ge "${2:-1}" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "cmsd died"
		sleep 0.1
	done
	fail "the log never showed: $1 (${2:-1} times)"
}

alive() { # $1: pid; a zombie (an orphan this machine's init has not reaped
	# yet) is not alive
	[ -r "/proc/$1/stat" ] && ! awk '{ exit $3 != "Z" }' "/proc/$1/stat" 2>/dev/null
}

server_pid() { # $1: port
	pgrep -f -- "srv.py $1 " | head -1 || true
}

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="tomcat" plugin="resource-tomcat" monitor-interval="200ms"
              start-timeout="10s" max-restarts="10">
      <start-command>$py $tmp/srv.py $port $tmp/status.fg</start-command>
      <url>http://127.0.0.1:$port/vms/?probe=1#ignored</url>
      <expect-status>200</expect-status>
      <http-timeout>500ms</http-timeout>
      <stop-grace>2s</stop-grace>
    </resource>
  </group>
</cmsd>
XML

echo "== --check"
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null || fail "--check"

echo "== foreground: start completes at the first 200"
echo 200 >"$tmp/status.fg"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>"$tmp/stderr" &
pid=$!
wait_status "tomcat  *: Started testhost"
# What the monitor asks for: the path and query, never the fragment.
grep -qx "GET /vms/?probe=1 HTTP/1.1" "$tmp/status.fg.req" || fail "request line: $(cat "$tmp/status.fg.req")"
grep -qx "Host: 127.0.0.1:$port" "$tmp/status.fg.req" || fail "Host header: $(cat "$tmp/status.fg.req")"
[ "$(http_status "$port")" = 200 ] || fail "no 200 from the server after Started"
grep -q "tomcat: start: GET http://127.0.0.1:$port/vms/?probe=1#ignored: 200" "$tmp/log" ||
	fail "no start log line"
srv=$(server_pid "$port")
[ -n "$srv" ] || fail "server process not found"

echo "== a wrong status fails the monitor; the restart waits for a 200"
echo 503 >"$tmp/status.fg"
wait_log "tomcat: monitor: GET http://127.0.0.1:$port/vms/?probe=1#ignored: status 503, expected 200"
wait_log "tomcat failed (monitor: FAILED while started): restart 1 of 10"
# The restarted server still answers 503: its start must not complete.
sleep 1
if grep -q "restarted tomcat" "$tmp/log"; then fail "start completed on a 503"; fi
echo 200 >"$tmp/status.fg"
wait_log "restarted tomcat"
again=$(server_pid "$port")
[ -n "$again" ] && [ "$again" != "$srv" ] || fail "no new server process after the restart"
alive "$srv" && fail "the old server outlived its stop"

echo "== a killed server is noticed at once and restarted"
kill -KILL "$again"
wait_log "tomcat failed (failed: was killed by signal 9): restart 2 of 10"
grep -q "tomcat: $py was killed by signal 9" "$tmp/log" || fail "the death was not logged"
grep -q "tomcat: event: failed: was killed by signal 9" "$tmp/log" || fail "no CMSD_EV_FAILED event"
wait_log "restarted tomcat" 2
for _ in $(seq 50); do
	third=$(server_pid "$port")
	[ -n "$third" ] && [ "$third" != "$again" ] && break
	sleep 0.1
done
[ -n "$third" ] && [ "$third" != "$again" ] || fail "no new server after the kill"
wait_status "tomcat  *: Started testhost"

echo "== a server that stops answering reads as UNKNOWN"
echo hang >"$tmp/status.fg"
wait_log "tomcat: monitor: GET http://127.0.0.1:$port/vms/?probe=1#ignored: no answer within 500 ms"
wait_log "tomcat: monitor: [a-zA-Z]* -> UNKNOWN"
# The agent acts on UNKNOWN only when it lasts (three in a row).
wait_log "no answer within 500 ms" 3
wait_log "tomcat failed (monitor: UNKNOWN while started): restart 3 of 10"
echo 200 >"$tmp/status.fg"
wait_log "restarted tomcat" 3
wait_status "tomcat  *: Started testhost"
"$CMSADM_BIN" -s "$sock" status >"$tmp/status" || fail "status"
cat "$tmp/status"

echo "== stop leaves no process"
last=$(server_pid "$port")
stop_cmsd
[ -z "$(server_pid "$port")" ] || fail "server still running after stop"
alive "$last" && fail "server $last still running"
[ -z "$(http_status "$port")" ] || fail "port $port still answers after stop"
grep -q "tomcat: stop: $py was killed by signal 15" "$tmp/log" || fail "stop did not TERM the server"

echo "== launcher and catalina modes"
lport=$(free_port)
cport=$(free_port)
# A daemonizing start script and its stop script, as catalina.sh start/stop.
cat >"$tmp/launch.sh" <<SH
#!/bin/sh
setsid $py $tmp/srv.py $lport $tmp/status.l >$tmp/launched.out 2>&1 </dev/null &
echo \$! >$tmp/launched.pid
echo "launched \$!"
SH
cat >"$tmp/shut.sh" <<SH
#!/bin/sh
[ -f $tmp/launched.pid ] || { echo "shut.sh: no pid file" >&2; exit 1; }
kill -TERM "\$(cat $tmp/launched.pid)" && rm -f $tmp/launched.pid
SH
# The catalina stand-in listens on ::1 where this host has IPv6.
if "$py" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	caddr=::1 url_host="[::1]"
else
	caddr=127.0.0.1 url_host=127.0.0.1
fi
mkdir -p "$tmp/cathome/bin" "$tmp/catbase"
cat >"$tmp/cathome/bin/catalina.sh" <<SH
#!/bin/sh
# A stand-in for Debian's catalina.sh: only "run", in the foreground.
[ "\$1" = run ] || { echo "catalina.sh: \$1 is not run" >&2; exit 2; }
env >$tmp/catalina.env
exec $py $tmp/srv.py $cport $tmp/status.c $caddr
SH
chmod +x "$tmp/launch.sh" "$tmp/shut.sh" "$tmp/cathome/bin/catalina.sh"
cat >"$tmp/modes.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="launched" plugin="resource-tomcat" monitor-interval="200ms"
              start-timeout="10s" stop-timeout="10s">
      <start-command>/bin/sh $tmp/launch.sh</start-command>
      <stop-command>/bin/sh $tmp/shut.sh</stop-command>
      <url>http://localhost:$lport/</url>
    </resource>
    <resource id="catalina" plugin="resource-tomcat" monitor-interval="200ms"
              start-timeout="10s">
      <catalina-home>$tmp/cathome</catalina-home>
      <catalina-base>$tmp/catbase</catalina-base>
      <url>http://$url_host:$cport/</url>
      <expect-status>202</expect-status>
    </resource>
  </group>
</cmsd>
XML
: >"$tmp/log"
echo 202 >"$tmp/status.c"
"$CMSD_BIN" --check -c "$tmp/modes.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null || fail "--check modes"
"$CMSD_BIN" -c "$tmp/modes.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
wait_status "launched  *: Started testhost"
wait_status "catalina  *: Started testhost"
grep -q "launched: start: /bin/sh exited with status 0; waiting for http://localhost:$lport/" "$tmp/log" ||
	fail "the launcher's exit was not taken as normal"
grep -q "launched: start: GET http://localhost:$lport/: 200" "$tmp/log" || fail "launched not probed by name"
grep -qF "catalina: start: GET http://$url_host:$cport/: 202" "$tmp/log" || fail "catalina not probed for 202"
grep -qxF "Host: $url_host:$cport" "$tmp/status.c.req" || fail "Host header: $(cat "$tmp/status.c.req")"
grep -qx "CATALINA_HOME=$tmp/cathome" "$tmp/catalina.env" || fail "CATALINA_HOME not set"
grep -qx "CATALINA_BASE=$tmp/catbase" "$tmp/catalina.env" || fail "CATALINA_BASE not set"
lsrv=$(cat "$tmp/launched.pid")
alive "$lsrv" || fail "the launched server is not running"

echo "== a daemonized server killed behind the agent's back"
# It took its pid file with it: the stop command of the restart fails,
# which is forgiven since nothing answers any more.
kill -KILL "$lsrv"
rm "$tmp/launched.pid"
wait_log "launched: monitor: GET http://localhost:$lport/: no connection"
wait_log "launched: stop: /bin/sh exited with status 1: shut.sh: no pid file"
wait_log "launched: stop: the stop command failed, but nothing answers at http://localhost:$lport/ any more"
wait_log "restarted launched"
lsrv2=$(cat "$tmp/launched.pid")
[ "$lsrv2" != "$lsrv" ] && alive "$lsrv2" || fail "no new launched server"
wait_status "launched  *: Started testhost"

echo "== stop leaves no process in either mode"
csrv=$(server_pid "$cport")
[ -n "$csrv" ] || fail "no catalina server"
stop_cmsd
[ ! -e "$tmp/launched.pid" ] || fail "the stop command did not run"
alive "$lsrv2" && fail "the launched server outlived stop"
alive "$csrv" && fail "the catalina server outlived stop"
[ -z "$(server_pid "$lport")$(server_pid "$cport")" ] || fail "a server still runs after stop"

echo "== a server that ignores SIGTERM is killed after <stop-grace>"
sport=$(free_port)
printf "trap '' TERM\nexec $py $tmp/srv.py $sport $tmp/status.s\n" >"$tmp/stubborn.sh"
sed -e "s|<start-command>.*</start-command>|<start-command>/bin/sh $tmp/stubborn.sh</start-command>|" \
	-e "s|<url>.*</url>|<url>http://127.0.0.1:$sport/</url>|" \
	-e "s|<stop-grace>.*</stop-grace>|<stop-grace>1s</stop-grace>|" "$tmp/cmsd.xml" >"$tmp/stubborn.xml"
: >"$tmp/log"
"$CMSD_BIN" -c "$tmp/stubborn.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
wait_status "tomcat  *: Started testhost"
ssrv=$(server_pid "$sport")
[ -n "$ssrv" ] || fail "no stubborn server"
t0=$(date +%s%N)
stop_cmsd
t1=$(date +%s%N)
grep -q "did not end on SIGTERM within 1000 ms" "$tmp/log" || fail "no SIGKILL after the grace"
grep -q "tomcat: stop: /bin/sh was killed by signal 9" "$tmp/log" || fail "the stop did not end with SIGKILL"
[ $(((t1 - t0) / 1000000)) -ge 900 ] || fail "SIGKILL came before the grace"
alive "$ssrv" && fail "the stubborn server outlived stop"

run_failing() { # $1: command, $2: start-timeout
	cat >"$tmp/bad.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="tomcat" plugin="resource-tomcat" start-timeout="$2">
      <start-command>$1</start-command>
      <url>http://127.0.0.1:$port/</url>
    </resource>
  </group>
</cmsd>
XML
	: >"$tmp/log"
	"$CMSD_BIN" -c "$tmp/bad.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
	pid=$!
	wait_status "tomcat  *: Failed"
}

echo "== a server that exits at once fails start, its output logged"
printf 'echo starting\necho "SEVERE: port in use" >&2\nexit 3\n' >"$tmp/exit3.sh"
run_failing "/bin/sh $tmp/exit3.sh" 5s
grep -q "tomcat: /bin/sh exited with status 3: starting | SEVERE: port in use" "$tmp/log" ||
	fail "exit not logged with its output"
grep -q "error  : tomcat: start: .*No such process" "$tmp/status" || fail "start error in status"
stop_cmsd

echo "== a server that never answers is killed at the start timeout"
marker="86399.$$$RANDOM"
run_failing "/bin/sleep $marker" 1s
grep -q "error  : tomcat: start: timed out" "$tmp/status" || fail "timeout not in status"
grep -q "tomcat: start: given up; last: GET http://127.0.0.1:$port/: no connection" "$tmp/log" ||
	fail "the last probe was not logged"
for _ in $(seq 30); do pgrep -f "sleep $marker" >/dev/null || break; sleep 0.1; done
if pgrep -f "sleep $marker" >/dev/null; then fail "the server outlived its cancelled start"; fi
if grep -q "event: failed" "$tmp/log"; then fail "a cancelled start reported as a failure of the service"; fi
stop_cmsd
echo "PASS"
