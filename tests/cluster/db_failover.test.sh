#!/bin/bash
# Intent: the real group (a loop device with ext4 standing for the shared LUN, the VIP, a real MariaDB) survives its faults: a row acknowledged through the VIP before any fault is read back through the VIP after each one; a mariadbd killed on the master is restarted in place; killed a 4th time within the window the group moves to the slave; a master host that dies (agent, then its processes) hands over to the peer; after every failover the VIP answers ARP from exactly one MAC, the new master's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init db_failover
for t in /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/mariadb-install-db mkfs.ext4 losetup; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (scripts/install-deps.sh test)"
done

CL_VIP=$CL_NET.100
# mariadb-install-db and the first start of mariadbd on a loaded machine.
CL_GROUP_START_MS=60000
# mariadbd runs as the mysql user and must reach its directories.
chmod 755 "$CL_TMP"
CL_SHARE=$CL_TMP/share
mkdir -p "$CL_SHARE"
truncate -s 256M "$CL_TMP/lun.img"
CL_LOOP=$(losetup --find --show "$CL_TMP/lun.img") ||
	cl_skip "no free loop device for the shared LUN"
# The mounts live in the agents' mount namespaces and go with their
# processes; the device is free soon after.
CL_CLEANUP_CMDS='for _ in $(seq 50); do losetup -d "$CL_LOOP" 2>/dev/null && break; sleep 0.1; done'
mkfs.ext4 -q -F "$CL_LOOP"

cl_group_xml() { # node dir
	# (resource-mysql makes the socket's directory, owned by mysql)
	local d=$2
	cat <<XML
  <storage id="share" plugin="storage-fc">
    <device>$CL_LOOP</device>
    <mount>$CL_SHARE</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
  <group id="vms">
    <resource id="webip" plugin="resource-vip" monitor-interval="1s">
      <address>$CL_VIP/24</address>
      <interface>eth0</interface>
    </resource>
    <resource id="mysql" plugin="resource-mysql" storage="share"
              monitor-interval="1s" start-timeout="90s" stop-timeout="60s">
      <datadir>$CL_SHARE/mysql-$CL_MODE</datadir>
      <socket>$d/run/mysqld.sock</socket>
      <pid-file>$d/run/mysqld.pid</pid-file>
      <mariadbd>/usr/sbin/mariadbd --innodb-log-file-size=8M --skip-name-resolve</mariadbd>
      <install-db>yes</install-db>
      <bind-address>0.0.0.0</bind-address>
    </resource>
  </group>
XML
}

sql() { # SQL through the VIP from the client, as the test's user
	ip netns exec "$(cl_ns client)" mariadb \
		--defaults-extra-file="$CL_DIR/client.cnf" -h "$CL_VIP" \
		--connect-timeout=2 -N -B t -e "$1"
}

mysqld_pid() { # node: the running mariadbd's pid, from its pid file
	cat "$CL_DIR/$1/run/mysqld.pid" 2>/dev/null
}

# The VIP answers from exactly this node's MAC (nobody else's).
one_owner() { # node what
	local want got
	want=$(cl_mac "$1" 77)
	got=$(cl_vip_macs "$CL_VIP" 300 | tr '\n' ' ')
	[ "$got" = "$want " ] ||
		cl_fail "$2: the VIP answers ARP from [${got% }], expected only $1's $want"
}

row_back() { # what: the row reads back through the VIP within 30 s
	local got="" i
	for i in $(seq 300); do
		got=$(sql "SELECT note FROM r WHERE id = 1" 2>/dev/null) && break
		sleep 0.1
	done
	[ "$got" = "$CL_ROW" ] ||
		cl_fail "$1: read back \"$got\" through the VIP, expected \"$CL_ROW\""
}

# A host dies: its agent first (its VIP guardian then takes the address
# off), then every process it left in its namespace (mariadbd: its mount
# namespace, and the mount, go with it).
crash() { # node
	cl_kill "$1"
	cl_wait 3000 sh -c "! ip -n $(cl_ns "$1") -4 addr show dev eth0 | grep -q ' $CL_VIP/'" ||
		cl_fail "the VIP stayed on $1 after its agent died (guardian)"
	# shellcheck disable=SC2046
	kill -KILL $(ip netns pids "$(cl_ns "$1")") 2>/dev/null || true
}

scenario() {
	local m=$CL_M s=$CL_S pw i pid t0

	cl_expect_status 5000 "$m" "webip  : [$CL_VIP] Started $(cl_name "$m")" \
		"mysql  : Started $(cl_name "$m")"
	one_owner "$m" "steady state"

	cl_log "a row written through the VIP, acknowledged"
	pw=$(openssl rand -hex 12)
	(umask 077 && printf '[client]\nuser=t\npassword=%s\n' "$pw" >"$CL_DIR/client.cnf")
	printf "CREATE DATABASE t;\nCREATE USER 't'@'%%' IDENTIFIED BY '%s';\nGRANT ALL ON t.* TO 't'@'%%';\n" "$pw" |
		ip netns exec "$(cl_ns "$m")" mariadb --socket="$CL_DIR/$m/run/mysqld.sock" -u root ||
		cl_fail "cannot create the test database on $m"
	CL_ROW="acknowledged by $(cl_name "$m") in $CL_MODE mode"
	sql "CREATE TABLE r (id INT PRIMARY KEY, note VARCHAR(80)); INSERT INTO r VALUES (1, '$CL_ROW');" \
		2>"$CL_DIR/sql.err" ||
		cl_fail "the write through the VIP was not acknowledged: $(cat "$CL_DIR/sql.err")"

	t0=$(cl_now)
	for i in 1 2 3; do
		pid=$(mysqld_pid "$m") || cl_fail "no mariadbd pid file on $m"
		cl_log "kill -9 of $m's mariadbd ($i of 4, pid $pid): restarted in place"
		kill -KILL "$pid"
		cl_wait_for 30000 "$m restarts mysql ($i)" \
			grep -q "restarted mysql ($i of 3)\|restart $i of 3" "$CL_DIR/$m/cmsd.log"
		cl_wait_for 30000 "a new mariadbd on $m" \
			sh -c "p=\$(cat $CL_DIR/$m/run/mysqld.pid 2>/dev/null) && [ \"\$p\" != $pid ] && kill -0 \$p"
		cl_is "$m" master serving || cl_fail "$m is no longer master after $i mariadbd kills"
		row_back "after mariadbd restart $i"
	done
	cl_expect_status 3000 "$m" "mysql  : Started $(cl_name "$m")"

	pid=$(mysqld_pid "$m")
	cl_log "kill -9 of $m's mariadbd (4 of 4): the group moves to $s"
	kill -KILL "$pid"
	cl_wait_for 60000 "$s master after the move" cl_is "$s" master serving
	cl_wait_for 10000 "$m slave and idle" cl_is "$m" slave idle
	grep -q "4 failures within 10 min (at most 3 restarts): moving the group to the peer" \
		"$CL_DIR/$m/cmsd.log" || cl_fail "the move decision is not logged on $m"
	row_back "after the move to $s"
	one_owner "$s" "after the move"
	cl_expect_status 5000 "$s" "master : $(cl_name "$s") (Online)" \
		"slave  : $(cl_name "$m") (Online)" "mysql  : Started $(cl_name "$s")"
	sleep 0.3
	cl_check_clean "mariadbd kills and the move" --since "$t0"

	t0=$(cl_now)
	cl_log "$s (now master) dies: agent, then its processes"
	crash "$s"
	cl_wait_for 60000 "$m master after $s died" cl_is "$m" master serving
	row_back "after $s died"
	one_owner "$m" "after $s died"
	cl_expect_status 5000 "$m" "master : $(cl_name "$m") (Online)" \
		"slave  : $(cl_name "$s") (Offline)" "mysql  : Started $(cl_name "$m")"
	sleep 0.3
	cl_check_clean "the crash" --since "$t0" --expect "$m"
	cl_final_check
}

cl_run_modes scenario
