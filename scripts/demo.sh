#!/bin/bash
# The main job: a whole cmsd cluster on one machine, and a failover.
#
# Installs what cmsd needs, builds it, then, in network namespaces made for
# the run (cmsdemo-*): node1 and node2 (cmsd in node mode), cvknode3 (cmsd in
# arbiter mode) and a client, on one bridge.  A loop device with ext4 stands
# for the shared LUN (storage-fc, mounted on the master only).  The group:
#   webip     resource-vip       10.88.0.100/24, gratuitous ARP
#   mysql     resource-mysql     a real MariaDB (mariadbd) on the shared LUN
#   tomcat    resource-tomcat    python3's http.server on :8080 stands in for
#                                Tomcat (tomcat10 and a JRE are too heavy to
#                                install and start here)
#   vncproxy  resource-vncproxy  python3's http.server on :6080 (optional)
# It prints `cmsadm status`, writes a row through the VIP from the client,
# kills node1's agent and the services it ran (kill -9), prints the status
# again with node2 as master, reads the row back through the VIP, and cleans
# up.  Exits 0 only if every step worked.  Run as root.
#
#   scripts/demo.sh [-n]     -n: no package install or build (use BUILD_DIR)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${BUILD_DIR:-$top/build}
if [ "${1:-}" != -n ]; then
	"$top/scripts/install-deps.sh" demo
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, loop device, mount)" >&2; exit 1; }
cmsd=$build/agent/cmsd
cmsadm=$build/tools/cmsadm/cmsadm
plugins=$build/plugins
for f in "$cmsd" "$cmsadm" /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/python3; do
	[ -x "$f" ] || { echo "demo: $f is missing" >&2; exit 1; }
done

t_start=$(date +%s%N)
P=cmsdemo-
NET=10.88.0
VIP=$NET.100
tmp=$(mktemp -d /tmp/cmsd-demo.XXXXXX)
# mariadbd runs as the mysql user: it must reach its directories.
chmod 755 "$tmp"
loop=""
declare -A PID=()
made_ns=""

say() { printf '\n== %s\n' "$*"; }
elapsed() { echo $((($(date +%s%N) - t_start) / 1000000)); }

cleanup() {
	local ns p
	for h in "${!PID[@]}"; do
		kill -KILL "${PID[$h]}" 2>/dev/null || true
	done
	for ns in $made_ns; do
		# Only processes in the namespaces this run made.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
	done
	for ns in $made_ns; do
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "$loop" ]; then
		# The mounts lived in the agents' mount namespaces, gone with
		# their processes; the device is released soon after.
		for _ in $(seq 50); do
			losetup -d "$loop" 2>/dev/null && break
			sleep 0.1
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "demo: FAILED: $*" >&2
	for h in node1 node2 arbiter; do
		[ -f "$tmp/$h/cmsd.log" ] || continue
		echo "--- $h log (last 30 lines)" >&2
		tail -n 30 "$tmp/$h/cmsd.log" >&2
	done
	exit 1
}

wait_for() { # tenths-of-a-second, what, command...
	local n=$1 what=$2
	shift 2
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "timed out waiting for: $what"
}

# ---- the machines: namespaces on one bridge
mkns() {
	ip netns add "$P$1"
	made_ns="$made_ns $P$1"
	ip -n "$P$1" link set lo up
	ip netns exec "$P$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$P$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}
plug() { # host addr-suffix
	ip link add eth0 netns "$P$1" address "02:00:00:88:00:$(printf %02x "$2")" \
		type veth peer name "$1" netns "${P}sw"
	ip -n "${P}sw" link set "$1" master br0 up
	ip -n "$P$1" addr add "$NET.$2/24" dev eth0
	ip -n "$P$1" link set eth0 up
}
role() { # host -> "node1 master 3 serving"
	"$cmsadm" -s "$tmp/$1/cmsd.sock" role 2>/dev/null
}
is() { # host role serving|idle
	[ "$(role "$1" | awk '{print $2, $4}')" = "$2 $3" ]
}
start_agent() { # host
	ip netns exec "$P$1" "$cmsd" -f -c "$tmp/$1/cmsd.xml" -p "$plugins" \
		>>"$tmp/$1/stdout" 2>&1 &
	PID[$1]=$!
	wait_for 100 "$1's control socket" "$cmsadm" -s "$tmp/$1/cmsd.sock" version
}
client() { # command... run in the client's namespace
	ip netns exec "${P}client" "$@"
}
sql() { # SQL through the VIP, as the demo user
	client mariadb --defaults-extra-file="$tmp/client.cnf" -h "$VIP" \
		--connect-timeout=2 -N -B cvm -e "$1"
}

say "1. machines: namespaces ${P}{node1,node2,arbiter,client} on a bridge, $NET.0/24"
for ns in node1 node2 arbiter client sw; do
	ip netns list | grep -qw "$P$ns" && die "namespace $P$ns exists (another demo running?)"
done
mkns sw
ip -n "${P}sw" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "${P}sw" link set br0 up
mkns node1 && plug node1 1
mkns node2 && plug node2 2
mkns arbiter && plug arbiter 3
mkns client && plug client 10

say "2. the shared LUN: a 256 MiB loop device with ext4"
truncate -s 256M "$tmp/lun.img"
loop=$(losetup --find --show "$tmp/lun.img")
mkfs.ext4 -q -F -L cvm-share "$loop"
echo "LUN: $loop"

say "3. secrets and configuration (one cluster CA, a certificate per host, the heartbeat key)"
"$top/tests/tools/mkcerts.sh" "$tmp/secrets" node1 node2 arbiter
mkdir -p "$tmp/share"
for n in node1 node2; do
	d=$tmp/$n
	mkdir -p "$d/state" "$d/www"
	echo "served by cvk$n" >"$d/www/index.html"
	cat >"$d/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="$n">
  <paths state-dir="$d/state" log-file="$d/cmsd.log" control-socket="$d/cmsd.sock"/>
  <cluster id="demo">
    <key-file>$tmp/secrets/cluster.key</key-file>
    <tls ca="$tmp/secrets/ca.pem" cert="$tmp/secrets/$n.pem" key="$tmp/secrets/$n.key"/>
    <timers heartbeat-interval="200ms" deadtime="1s" lease="1s"/>
    <node id="node1" name="cvknode1"><link address="$NET.1"/></node>
    <node id="node2" name="cvknode2"><link address="$NET.2"/></node>
  </cluster>
  <quorum id="arbiter" plugin="quorum-cmsd">
    <arbiter>$NET.3:7790</arbiter>
    <arbiter-name>cvknode3</arbiter-name>
  </quorum>
  <storage id="share" plugin="storage-fc">
    <device>$loop</device>
    <mount>$tmp/share</mount>
    <fstype>ext4</fstype>
    <reservation>none</reservation>
  </storage>
  <group id="cvm">
    <resource id="webip" plugin="resource-vip" monitor-interval="2s">
      <address>$VIP/24</address>
      <interface>eth0</interface>
    </resource>
    <resource id="mysql" plugin="resource-mysql" storage="share"
              start-timeout="90s" stop-timeout="60s" monitor-interval="5s">
      <datadir>$tmp/share/mysql</datadir>
      <socket>$d/run/mysqld.sock</socket>
      <pid-file>$d/run/mysqld.pid</pid-file>
      <mariadbd>/usr/sbin/mariadbd --innodb-log-file-size=8M --skip-name-resolve</mariadbd>
      <install-db>yes</install-db>
      <bind-address>0.0.0.0</bind-address>
    </resource>
    <resource id="tomcat" plugin="resource-tomcat" start-timeout="30s">
      <start-command>/usr/bin/python3 -m http.server --bind 0.0.0.0 --directory $d/www 8080</start-command>
      <url>http://127.0.0.1:8080/</url>
      <expect-status>200</expect-status>
    </resource>
    <resource id="vncproxy" plugin="resource-vncproxy" optional="yes">
      <command>/usr/bin/python3 -m http.server --bind 0.0.0.0 --directory $d/www 6080</command>
      <port>6080</port>
    </resource>
  </group>
</cmsd>
XML
done
mkdir -p "$tmp/arbiter/state"
cat >"$tmp/arbiter/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="arbiter">
  <paths state-dir="$tmp/arbiter/state" log-file="$tmp/arbiter/cmsd.log" control-socket="$tmp/arbiter/cmsd.sock"/>
  <arbiter id="arbiter" plugin="quorum-cmsd">
    <listen>$NET.3:7790</listen>
    <cluster id="demo">
      <ca>$tmp/secrets/ca.pem</ca>
      <cert>$tmp/secrets/arbiter.pem</cert>
      <key>$tmp/secrets/arbiter.key</key>
    </cluster>
  </arbiter>
</cmsd>
XML
for h in node1 node2 arbiter; do
	"$cmsd" --check -c "$tmp/$h/cmsd.xml" -p "$plugins" >/dev/null ||
		die "cmsd --check refused $h's configuration"
done
echo "cmsd --check: the three configurations are valid"

say "4. start: the arbiter, node1 (it finds no master and asks the arbiter), then node2"
start_agent arbiter
start_agent node1
wait_for 900 "node1 master and serving (MariaDB initialises its datadir on the LUN)" is node1 master serving
start_agent node2
wait_for 300 "node2 slave" is node2 slave idle
echo "node1: $(role node1)"
echo "node2: $(role node2)"

say "5. cmsadm status on node1"
"$cmsadm" -s "$tmp/node1/cmsd.sock" status | tee "$tmp/status1"
grep -qx "master : cvknode1 (Online)" "$tmp/status1" || die "status: node1 is not shown as master"
grep -qx "slave  : cvknode2 (Online)" "$tmp/status1" || die "status: node2 is not shown as online slave"
grep -qx "quorum : \[controller\] cvknode3 (Online)" "$tmp/status1" || die "status: no arbiter line"
for r in webip mysql tomcat; do
	grep -q "^$r *: Started cvknode1" "$tmp/status1" || die "status: $r is not Started on cvknode1"
done

say "6. a row written through the VIP ($VIP) from the client"
pw=$(openssl rand -hex 16)
umask 077
printf '[client]\nuser=demo\npassword=%s\n' "$pw" >"$tmp/client.cnf"
# As root over node1's socket; the SQL (with the password) goes on stdin.
printf "CREATE DATABASE cvm;\nCREATE USER 'demo'@'%%' IDENTIFIED BY '%s';\nGRANT ALL ON cvm.* TO 'demo'@'%%';\n" "$pw" |
	ip netns exec "${P}node1" mariadb --socket="$tmp/node1/run/mysqld.sock" -u root ||
	die "could not create the demo database on node1"
umask 022
row="written on cvknode1 at $(date -u +%FT%TZ)"
sql "CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(80)); INSERT INTO t VALUES (1, '$row');" ||
	die "could not write the row through the VIP"
echo "wrote: $row"
web=$(client python3 -c 'import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' "http://$VIP:8080/") ||
	die "the web service does not answer on the VIP"
echo "http://$VIP:8080/ -> $web"
[ "$web" = "served by cvknode1" ] || die "the VIP's web service is not node1's"

say "7. node1 fails: kill -9 of its agent, then of the services it ran"
t_kill=$(date +%s%N)
kill -KILL "${PID[node1]}"
unset "PID[node1]"
# The VIP's guardian (a child of the agent that holds a pipe to it) sees
# the agent die and takes the address off node1's interface.
wait_for 30 "the VIP gone from node1 (its guardian)" \
	sh -c "! ip -n ${P}node1 -4 addr show dev eth0 | grep -q ' $VIP/'"
victims=$(ip netns pids "${P}node1" | tr '\n' ' ')
# shellcheck disable=SC2086
[ -z "$victims" ] || kill -KILL $victims 2>/dev/null || true
echo "killed: cmsd, then $(echo "$victims" | wc -w) processes left in ${P}node1 (mariadbd, the web servers)"
wait_for 600 "node2 master and serving" is node2 master serving
t_master=$(date +%s%N)
for _ in $(seq 300); do
	got=$(sql "SELECT note FROM t WHERE id = 1" 2>/dev/null) && break
	sleep 0.1
done
t_row=$(date +%s%N)
echo "node2 master $(((t_master - t_kill) / 1000000)) ms after the kill; the row readable through the VIP after $(((t_row - t_kill) / 1000000)) ms"

say "8. cmsadm status on node2"
"$cmsadm" -s "$tmp/node2/cmsd.sock" status | tee "$tmp/status2"
grep -qx "master : cvknode2 (Online)" "$tmp/status2" || die "status: node2 is not shown as master"
grep -qx "slave  : cvknode1 (Offline)" "$tmp/status2" || die "status: node1 is not shown as offline slave"
for r in webip mysql tomcat; do
	grep -q "^$r *: Started cvknode2" "$tmp/status2" || die "status: $r is not Started on cvknode2"
done

say "9. the row read back through the VIP, now served by node2"
[ "${got:-}" = "$row" ] || die "read back \"${got:-nothing}\", expected \"$row\""
echo "read: $got"
web=$(client python3 -c 'import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' "http://$VIP:8080/") ||
	die "the web service does not answer on the VIP after the failover"
echo "http://$VIP:8080/ -> $web"
[ "$web" = "served by cvknode2" ] || die "the VIP's web service is not node2's"

say "10. clean stop: node2 stops its group in reverse, then the arbiter"
kill -TERM "${PID[node2]}"
wait "${PID[node2]}" || die "node2's agent exited with an error"
unset "PID[node2]"
grep -q "stopped mysql" "$tmp/node2/cmsd.log" || die "node2 did not stop mysql"
kill -TERM "${PID[arbiter]}"
wait "${PID[arbiter]}" || true
unset "PID[arbiter]"
echo
echo "demo: OK in $(($(elapsed) / 1000)) s (failover: node2 master after $(((t_master - t_kill) / 1000000)) ms, data back after $(((t_row - t_kill) / 1000000)) ms)"
