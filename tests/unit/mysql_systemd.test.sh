#!/bin/bash
# resource-mysql's <systemd-unit> path against the real agent and a real
# mariadbd, with systemctl replaced: there is no systemd as PID 1 here, so
# a script bind-mounted over /usr/bin/systemctl (in a private mount
# namespace) records its calls and starts/stops mariadbd in the background
# the way a unit would.  This tests the plugin's side (systemctl start, then
# SELECT 1 over the socket; a server that dies is seen by the monitor alone
# and restarted through systemctl stop + start; systemctl stop on
# shutdown), not systemd itself.
# Needs root (mount namespace, unix_socket login as root).
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

for b in /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/mariadb /usr/bin/unshare; do
	[ -x "$b" ] || { echo "SKIP: no $b"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mount namespace)"; exit 77; }
[ -e /usr/bin/systemctl ] || { echo "SKIP: no /usr/bin/systemctl to cover"; exit 77; }
if [ -z "${CMSD_MYSQL_NS:-}" ]; then
	# The bind mount exists only in this namespace and goes with it.
	exec /usr/bin/unshare -m --propagation private env CMSD_MYSQL_NS=1 "$0" "$@"
fi

. "$(dirname "$0")/lib.sh" mysql-systemd
# On failure the systemctl calls too.
fail_files=calls
dbsock=$tmp/run/mysqld.sock
pidfile=$tmp/run/mysqld.pid
opts="--no-defaults --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --skip-name-resolve"
kill_servers() {
	local p
	for p in $(pgrep -f -- "--datadir=$tmp/data" || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap 'kill_agent; kill_servers; umount /usr/bin/systemctl 2>/dev/null || true; cleanup' EXIT

mkdir -p "$tmp/run"
/usr/bin/mariadb-install-db $opts --datadir="$tmp/data" --user=root \
	--auth-root-authentication-method=socket --skip-test-db >"$tmp/install.out" 2>&1 ||
	{ cat "$tmp/install.out"; fail "mariadb-install-db"; }

# The agent runs it with a minimal environment: absolute paths only.
cat >"$tmp/systemctl" <<SH
#!/bin/sh
echo "\$*" >>"$tmp/calls"
[ "\$2" = fake-mariadb.service ] || { echo "unknown unit \$2" >&2; exit 5; }
case "\$1" in
start)
	if [ -f "$pidfile" ] && kill -0 "\$(cat "$pidfile")" 2>/dev/null; then exit 0; fi
	/usr/bin/setsid /usr/sbin/mariadbd $opts --datadir="$tmp/data" --socket="$dbsock" \\
		--pid-file="$pidfile" --user=root --skip-networking >>"$tmp/server.out" 2>&1 </dev/null &
	exit 0 ;;
stop)
	p=\$(cat "$pidfile" 2>/dev/null) || exit 0
	kill -TERM "\$p" 2>/dev/null || exit 0
	while kill -0 "\$p" 2>/dev/null; do sleep 0.1; done
	exit 0 ;;
esac
exit 1
SH
chmod 755 "$tmp/systemctl"
mount --bind "$tmp/systemctl" /usr/bin/systemctl

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="db" plugin="resource-mysql" monitor-interval="300ms"
              start-timeout="30s" stop-timeout="20s" max-restarts="2">
      <systemd-unit>fake-mariadb.service</systemd-unit>
      <socket>$dbsock</socket>
    </resource>
  </group>
</cmsd>
XML

sql() { /usr/bin/mariadb --no-defaults -S "$dbsock" -u root -N -B -e "$1"; }
server_pid() { cat "$pidfile" 2>/dev/null || true; }
new_server() {
	local p
	p=$(server_pid)
	[ -n "$p" ] && [ "$p" != "$1" ] && sql "SELECT 1" >/dev/null 2>&1
}

echo "== start: systemctl start, then SELECT 1"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>"$tmp/stderr" &
pid=$!
wait_for 300 "db Started" status_has "db  *: Started testhost"
grep -qx "start fake-mariadb.service" "$tmp/calls" || fail "no systemctl start"
grep -q "db: start: the server answers on $dbsock" "$tmp/log" || fail "no start log line"
sql "CREATE DATABASE t; CREATE TABLE t.r (v INT); INSERT INTO t.r VALUES (7)" || fail "write"

echo "== the server dies: the monitor sees it, systemctl stop + start"
m=$(server_pid)
kill -KILL "$m"
wait_for 100 "the monitor's failure" grep -q "db: monitor: $dbsock: error 2002" "$tmp/log"
wait_for 300 "a new server" new_server "$m"
wait_for 100 "db restarted" status_has "restarted 1 time"
grep -q "db failed (monitor: FAILED while started): restart 1 of 2" "$tmp/log" || fail "no restart line"
[ "$(grep -c . "$tmp/calls")" -ge 3 ] && tail -2 "$tmp/calls" | tr '\n' ' ' | grep -qx "stop fake-mariadb.service start fake-mariadb.service " ||
	fail "the restart was not systemctl stop then start"
[ "$(sql 'SELECT v FROM t.r')" = 7 ] || fail "the row is gone"

echo "== stop: systemctl stop"
stop_m=$(server_pid)
stop_cmsd
[ "$(tail -1 "$tmp/calls")" = "stop fake-mariadb.service" ] || fail "no systemctl stop at the end"
if kill -0 "$stop_m" 2>/dev/null; then fail "the server survived the stop"; fi
echo "PASS"
