#!/bin/bash
# resource-mysql against the real agent and a real mariadbd (standalone
# node, data directory in a temp dir): start runs mariadb-install-db on an
# empty data directory, spawns the server and completes when SELECT 1
# answers over the socket; a row written with the mariadb client survives
# kill -9 of the server (restarted in place) and the hold after the
# restarts are used up (no peer: the server stays down, then comes back);
# a clean stop leaves no server; a second start skips install-db; the
# monitor logs in with a password read from its file at each query (a wrong
# one fails the monitor and the restart at once); a server frozen with
# SIGSTOP makes the query time out (UNKNOWN), and on stop it is killed at
# the end of <stop-grace> and the agent says so; a server the agent did
# not start is refused, not adopted; an install-db that fails fails the
# start with its output logged.
# Needs root (the monitor logs in as root over the Unix socket).
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

for b in /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/mariadb; do
	[ -x "$b" ] || { echo "SKIP: no $b"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (unix_socket login as root)"; exit 77; }

. "$(dirname "$0")/lib.sh" mysql
# On failure the agent's stderr too (sanitizer reports land there).
fail_files=stderr
dbsock=$tmp/run/mysqld.sock
pidfile=$tmp/run/mysqld.pid
opts="--no-defaults --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --skip-name-resolve"
hand=""
secret="pw-$RANDOM-$$-x"
printf '%s\n' "$secret" >"$tmp/pw"

# Every mariadbd on this data directory goes at exit, whatever happened
# (they run in their own process groups, and one may be stopped).
kill_servers() {
	local p
	for p in $(pgrep -f -- "--datadir=$tmp/data" || true) $hand; do
		kill -CONT "$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap 'kill_agent; kill_servers; cleanup' EXIT

conf() { # $1: file, $2: extra keys
	cat >"$1" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="db" plugin="resource-mysql" monitor-interval="300ms"
              start-timeout="40s" stop-timeout="20s" max-restarts="1" restart-window="10m">
      <datadir>$tmp/data</datadir>
      <socket>$dbsock</socket>
      <pid-file>$pidfile</pid-file>
      <mariadbd>/usr/sbin/mariadbd $opts</mariadbd>
      <user>root</user>
      <networking>no</networking>
      <install-db>yes</install-db>
      <stop-grace>3s</stop-grace>$2
    </resource>
  </group>
</cmsd>
XML
}
conf "$tmp/cmsd.xml" ""

sql() {
	/usr/bin/mariadb --no-defaults -S "$dbsock" -u root -N -B -e "$1"
}
sql_quiet() { sql "$1" >/dev/null 2>&1; }
servers() { pgrep -f -- "--datadir=$tmp/data" || true; }
server_pid() { cat "$pidfile" 2>/dev/null || true; }
new_server() { # old pid: another server answers
	local p
	p=$(server_pid)
	[ -n "$p" ] && [ "$p" != "$1" ] && sql_quiet "SELECT 1"
}

echo "== --check, and a key that would be ignored is an error"
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null || fail "--check"
conf "$tmp/bad.xml" "
      <port>3307</port>"
if "$CMSD_BIN" --check -c "$tmp/bad.xml" -p "$CMSD_PLUGIN_DIR" >"$tmp/check" 2>&1; then
	fail "--check accepted <port> with <networking>no"
fi
grep -q "bad.xml:[0-9]*: element <port>: no TCP port with <networking>no" "$tmp/check" ||
	{ cat "$tmp/check"; fail "the error does not name the file, line and key"; }

echo "== start: install-db on an empty data directory, then the server"
t0=$(date +%s)
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>"$tmp/stderr" &
pid=$!
wait_for 400 "db Started" status_has "db  *: Started testhost"
echo "started in $(($(date +%s) - t0)) s"
grep -q "db: start: $tmp/data has no mysql system schema: running /usr/bin/mariadb-install-db" "$tmp/log" ||
	fail "install-db was not run"
grep -q "db: start: the server answers on $dbsock" "$tmp/log" || fail "no start log line"
[ -d "$tmp/data/mysql" ] || fail "no mysql schema after install-db"
sql "CREATE DATABASE t; CREATE TABLE t.r (v INT) ENGINE=InnoDB; INSERT INTO t.r VALUES (42)" ||
	fail "cannot write a row"
[ "$(sql 'SELECT v FROM t.r')" = 42 ] || fail "the row does not read back"
# The monitor account of the second run: a password, read from a file.
sql "CREATE USER mon@localhost IDENTIFIED BY '$secret'" || fail "cannot create mon"
m=$(server_pid)
[ -n "$m" ] && [ "$(servers)" = "$m" ] || fail "not exactly one server ($(servers)) with pid file pid $m"

echo "== kill -9 of the server: restarted in place"
kill -KILL "$m"
wait_for 300 "a new server after kill -9" new_server "$m"
wait_for 100 "db restarted once" status_has "restarted 1 time"
grep -q "db: /usr/sbin/mariadbd was killed by signal 9" "$tmp/log" || fail "the death was not logged"
grep -q "db failed (.*): restart 1 of 1 within 10 min" "$tmp/log" || fail "no 'restart 1 of 1' line"
wait_for 100 "db Started again" status_has "db  *: Started testhost"
[ "$(sql 'SELECT v FROM t.r')" = 42 ] || fail "the row is gone after the restart"

echo "== kill -9 again: restarts used up, no peer: held down, then back"
m=$(server_pid)
kill -KILL "$m"
wait_for 100 "db held" status_has "recover: db: hold: restarts used up and no peer to move the group to"
status_has "db  *: Failed" || fail "a held db must show Failed"
[ -z "$(servers)" ] || fail "a server runs while db is held: $(servers)"
wait_for 250 "db back after the hold" new_server "$m"
wait_for 100 "db Started after the hold" status_has "db  *: Started testhost"
[ "$(sql 'SELECT v FROM t.r')" = 42 ] || fail "the row is gone after the hold"

echo "== clean stop: no server left"
m=$(server_pid)
stop_cmsd
[ -z "$(servers)" ] || fail "a server survived the stop: $(servers)"
grep -q "db: stop: SIGTERM to /usr/sbin/mariadbd pid $m, SIGKILL after 3000 ms" "$tmp/log" || fail "no stop line"
grep -q "db: stop: /usr/sbin/mariadbd has ended (status 0)" "$tmp/log" || fail "no clean end line"
if grep -q "did not shut down" "$tmp/log"; then fail "a clean stop needed SIGKILL"; fi

echo "== second start: the system schema is there, no install-db; monitor as mon"
mv "$tmp/log" "$tmp/log.1"
conf "$tmp/mon.xml" "
      <monitor-user>mon</monitor-user>
      <monitor-password-file>$tmp/pw</monitor-password-file>"
"$CMSD_BIN" -c "$tmp/mon.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
wait_for 300 "db Started (second run)" status_has "db  *: Started testhost"
if grep -q "mariadb-install-db" "$tmp/log"; then fail "install-db ran on an initialised data directory"; fi
[ "$(sql 'SELECT v FROM t.r')" = 42 ] || fail "the row is gone after a clean stop and start"

echo "== the password file is read at each query: a wrong one fails the monitor and the restart"
printf 'wrong\n' >"$tmp/pw"
wait_for 50 "the monitor refused" grep -q "db: monitor: $dbsock: error 1045: Access denied for user 'mon'@'localhost'" "$tmp/log"
wait_for 100 "the restart refused" grep -q "db: start: the server refuses the monitor's account mon: Access denied" "$tmp/log"
printf '%s\n' "$secret" >"$tmp/pw"
wait_for 250 "db Started with the right password again" status_has "db  *: Started testhost"
if grep -rq -- "$secret" "$tmp/log" "$tmp/stderr" "$tmp/status"; then fail "the password was logged"; fi

echo "== a frozen server: the query times out and the monitor answers UNKNOWN"
m=$(server_pid)
kill -STOP "$m"
wait_for 100 "monitor UNKNOWN" grep -q "db: monitor: no answer on $dbsock within 5000 ms" "$tmp/log"
if grep -q "connection is leaked" "$tmp/log"; then fail "an aborted query leaked"; fi

echo "== the frozen server is killed after the grace on stop"
t0=$(date +%s%N)
stop_cmsd
ms=$((($(date +%s%N) - t0) / 1000000))
echo "the agent stopped in $ms ms"
[ "$ms" -ge 2900 ] || fail "the frozen server was killed before the 3 s grace ($ms ms)"
[ "$ms" -lt 15000 ] || fail "the stop took $ms ms"
grep -q "child $m did not end on SIGTERM within 3000 ms: SIGKILL to its group" "$tmp/log" ||
	fail "the agent did not log the SIGKILL"
grep -q "db: stop: /usr/sbin/mariadbd did not shut down within 3000 ms of SIGTERM: killed" "$tmp/log" ||
	fail "the plugin did not log the kill"
[ -z "$(servers)" ] || fail "a server survived the stop: $(servers)"

echo "== a server the agent did not start is refused, not adopted"
mkdir -p "$tmp/run"
# shellcheck disable=SC2086
/usr/sbin/mariadbd $opts --datadir="$tmp/data" --socket="$dbsock" \
	--pid-file="$pidfile" --user=root --skip-networking >"$tmp/hand.out" 2>&1 &
hand=$!
wait_for 300 "the hand-started server answers" sql_quiet "SELECT 1"
: >"$tmp/log"
"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
wait_for 100 "the refusal" grep -q "db: start: mariadbd pid $hand (from $pidfile) already runs, not started by this agent: stop it first; it is not adopted" "$tmp/log"
stop_cmsd
kill -0 "$hand" 2>/dev/null || fail "the agent killed a server it did not start"
[ "$(sql 'SELECT v FROM t.r')" = 42 ] || fail "the hand-started server lost the row"
kill -TERM "$hand"
wait "$hand" || true
hand=""
[ -z "$(servers)" ] || fail "the hand-started server did not end"

echo "== install-db that fails fails the start, with its output logged"
: >"$tmp/afile"
sed "s|<datadir>$tmp/data</datadir>|<datadir>$tmp/afile/data</datadir>|" "$tmp/cmsd.xml" >"$tmp/bad-db.xml"
: >"$tmp/log"
"$CMSD_BIN" -c "$tmp/bad-db.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!
wait_for 200 "db Failed" status_has "db  *: Failed"
grep -q "db: /usr/bin/mariadb-install-db exited with status [1-9][0-9]*; its last output:" "$tmp/log" ||
	fail "install-db's failure not logged"
grep -q "db:   | .*$tmp/afile" "$tmp/log" || fail "install-db's output not logged"
grep -q "db: start failed: start: failed: Input/output error" "$tmp/log" || fail "start did not fail with EIO"
stop_cmsd
[ -z "$(pgrep -f -- "--datadir=$tmp/afile/data" || true)" ] || fail "a server runs on the bad data directory"
echo "PASS"
