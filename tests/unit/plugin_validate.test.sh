#!/bin/bash
# Each bundled plugin's validate(), through the real agent (cmsd --check):
# good sections pass, and every rule of the plugin's man page is refused with
# "FILE:LINE: element <x>: message".  Command keys naming a missing program
# are warnings only.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

tmp=$(mktemp -d /tmp/cmsd-plugin-validate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0

# conf KIND SECTION: a one-node config holding SECTION as KIND
# (quorum, storage or resource).
conf() {
	local q="" s="" r='<resource id="d" plugin="resource-dummy"/>'
	case $1 in
	quorum) q=$2 ;;
	storage) s=$2 ;;
	resource) r=$2 ;;
	esac
	cat >"$tmp/c.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="n1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$tmp/sock"/>
  <cluster id="t"><node id="n1"><link address="127.0.0.1"/></node></cluster>
  $q
  $s
  <group id="g">
$r
  </group>
</cmsd>
XML
}

check() {
	out=$("$CMSD_BIN" --check -c "$tmp/c.xml" -p "$CMSD_PLUGIN_DIR" 2>&1) && rc=0 || rc=$?
}

# ok KIND SECTION [WARNING]: valid, and WARNING (if given) is logged.
ok() {
	conf "$1" "$2"
	check
	if [ "$rc" != 0 ] || { [ -n "${3:-}" ] && ! grep -qF -- "$3" <<<"$out"; }; then
		echo "FAIL (expected valid${3:+ with warning \"$3\"}): $2"
		echo "$out" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}

# bad KIND SECTION MESSAGE...: refused, with each MESSAGE on a line of the
# form "c.xml:LINE: element <...>: ...".
bad() {
	local kind=$1 section=$2 m
	shift 2
	conf "$kind" "$section"
	check
	if [ "$rc" = 0 ]; then
		echo "FAIL (expected errors): $section"
		failures=$((failures + 1))
		return
	fi
	for m in "$@"; do
		if ! grep -E "c\.xml:[0-9]+: element <[a-z-]+>: " <<<"$out" | grep -qF -- "$m"; then
			echo "FAIL (missing \"$m\"): $section"
			echo "$out" | sed 's/^/    /'
			failures=$((failures + 1))
		fi
	done
}

# quorum-ping
ok quorum '<quorum id="q" plugin="quorum-ping"><target>10.0.0.1</target><target>fd00::1</target></quorum>'
bad quorum '<quorum id="q" plugin="quorum-ping"><target>10.0.0.1</target><interval>20ms</interval><tmeout>1s</tmeout></quorum>' \
	'element <quorum>: needs at least two <target>' 'element <interval>: 20ms is out of range' 'element <tmeout>: unknown key'
bad quorum '<quorum id="q" plugin="quorum-ping"><target>::1</target><target>0::1</target><target>gw</target></quorum>' \
	'element <target>: target 0::1 is given twice' 'element <target>: "gw" is not an IPv4 or IPv6 address'
bad quorum '<quorum id="q" plugin="quorum-ping"><target>10.0.0.1</target><target>10.0.0.2</target><interval>1s</interval><timeout>1s</timeout></quorum>' \
	'element <timeout>: timeout 1000ms must be longer than interval 1000ms'

# quorum-cmsd, node side
ok quorum '<quorum id="q" plugin="quorum-cmsd"><arbiter>[fd00::3]:7790</arbiter><arbiter-name>cvknode3</arbiter-name><connect-timeout>500ms</connect-timeout></quorum>'
bad quorum '<quorum id="q" plugin="quorum-cmsd"><arbiter>10.0.0.3</arbiter><renew-interval>500ms</renew-interval></quorum>' \
	'element <arbiter>: "10.0.0.3" needs a port' 'element <renew-interval>: <renew-interval> is no longer a quorum-cmsd key'
bad quorum '<quorum id="q" plugin="quorum-cmsd"><arbiter>fd00::3:7790</arbiter><listen>0.0.0.0:1</listen></quorum>' \
	'element <arbiter>: "fd00::3:7790" is not ADDR:PORT' 'element <listen>: unknown key'
bad quorum '<quorum id="q" plugin="quorum-cmsd"/>' 'missing required <arbiter>'

# storage-drbd
ok storage '<storage id="s" plugin="storage-drbd"><resource>r0</resource><device>/dev/drbd3</device><disk>/dev/vdb</disk><disk node="n2">/dev/vdc</disk><fstype>xfs</fstype><after-sb>operator</after-sb></storage>'
bad storage '<storage id="s" plugin="storage-drbd"><resource>R0</resource><device>/dev/drbd1</device><minor>2</minor><disk>/dev/sdb</disk><disk>/dev/sdc</disk><disk node="n1">sdd</disk><disk node="n1">/dev/sde</disk><port>0</port><mount>rel</mount><fstype>btrfs</fstype><after-sb>x</after-sb></storage>' \
	'element <resource>: "R0" is not a DRBD resource name' 'element <device>: /dev/drbd1 does not match <minor>2</minor>' \
	'element <disk>: "sdd" is not a block device path' 'element <disk>: a second <disk> for node "n1"' \
	'at most one <disk> without node="ID"' 'element <port>: 0 is out of range 1..65535' \
	'element <mount>: "rel" is not an absolute path' 'element <fstype>: "btrfs" is not one of: ext4, xfs' \
	'element <after-sb>: "x" is not one of: auto, operator'
bad storage '<storage id="s" plugin="storage-drbd"><device>/dev/drbd 1</device></storage>' \
	'missing required <resource>' 'is not /dev/drbdN' 'missing required <disk>'
ok storage '<storage id="s" plugin="storage-drbd"><resource>r0</resource><disk>/dev/vda</disk><drbd-version>9</drbd-version><config-dir>/tmp/d</config-dir><drbdadm-config>/tmp/d/drbd.conf</drbdadm-config><handler>/usr/sbin/cmsadm drbd-handler</handler><drbdadm>/sbin/drbdadm</drbdadm><drbdsetup>/sbin/drbdsetup</drbdsetup><mkfs-ext4-program>/usr/sbin/mke2fs</mkfs-ext4-program><mkfs-xfs-program>/usr/sbin/mkfs.xfs</mkfs-xfs-program><dd-program>/usr/bin/dd</dd-program></storage>'
bad storage '<storage id="s" plugin="storage-drbd"><resource>r0</resource><disk>/dev/vda</disk><drbd-version>8.3</drbd-version><config-dir>etc</config-dir><handler>/usr/sbin/cmsadm "x"</handler><drbdadm>drbdadm</drbdadm><dd-program>dd</dd-program><drbdadm-config>x.conf</drbdadm-config></storage>' \
	'element <drbd-version>: "8.3" is not one of: 8.4, 9' 'element <config-dir>: "etc" is not an absolute path' \
	"element <handler>: no quote, backslash or ';'" 'element <drbdadm>: "drbdadm" is not an absolute path' \
	'element <dd-program>: "dd" is not an absolute path' 'element <drbdadm-config>: "x.conf" is not an absolute path'

# storage-iscsi
ok storage '<storage id="s" plugin="storage-iscsi"><portal>[::1]</portal><iqn>iqn.2026-11.com.example:t</iqn><initiator-name node="n1">iqn.2026-11.com.example:n1</initiator-name><initiator-name node="n2">iqn.2026-11.com.example:n2</initiator-name><mount>/vms/t</mount><key>0xDEADbeef00000001</key></storage>'
bad storage '<storage id="s" plugin="storage-iscsi"><portal>10.0.0.1:0</portal><iqn>iqn.2026-1.com.x</iqn><lun>16384</lun><reservation>foo</reservation><key>0x0</key></storage>' \
	'element <portal>: "10.0.0.1:0" is not ADDR[:PORT]' 'element <iqn>: "iqn.2026-1.com.x" is not an iSCSI qualified name' \
	'missing required <initiator-name>' 'element <lun>: 16384 is out of range' 'missing required <mount>' \
	'element <reservation>: "foo" is not one of' 'element <key>: "0x0" is not a non-zero reservation key'
bad storage '<storage id="s" plugin="storage-iscsi"><portal>10.0.0.1</portal><iqn>iqn.2026-11.com.example:t</iqn><initiator-name node="n1">iqn.2026-11.com.example:a</initiator-name><initiator-name node="n1">iqn.2026-11.com.example:b</initiator-name><mount>/m</mount></storage>' \
	'a second <initiator-name> for node "n1"'
bad storage '<storage id="s" plugin="storage-iscsi"><portal>10.0.0.1</portal><iqn>iqn.2026-11.com.example:t</iqn><initiator-name>iqn.2026-11.com.example:a</initiator-name><mount>/m</mount><block-device>kernel</block-device></storage>' \
	'element <block-device>: "kernel" is not one of: iscsiadm, none'

# storage-fc
ok storage '<storage id="s" plugin="storage-fc"><wwn>naa.600A0B800026B2820000A1234567890A</wwn><mount>/m</mount><reservation>none</reservation><key>0x1</key></storage>' \
	'<key> is unused with <reservation>none</reservation>'
# Reservations (the default type, a key derived from the node id, or given).
ok storage '<storage id="s" plugin="storage-fc"><device>/dev/sdb</device><mount>/m</mount></storage>'
ok storage '<storage id="s" plugin="storage-fc"><device>/dev/sdb</device><mount>/m</mount><reservation>exclusive-access-registrants-only</reservation><key>0xA1</key></storage>'
bad storage '<storage id="s" plugin="storage-fc"><device>/dev/sdb</device><mount>/m</mount><reservation>all-registrants</reservation></storage>' \
	'element <reservation>'
bad storage '<storage id="s" plugin="storage-fc"><wwn>0x123</wwn><device>dev/sdb</device><mount>/m</mount><key>0x12345678901234567</key></storage>' \
	'give either <wwn> or <device>, not both' 'element <wwn>: "0x123" is not a WWN' \
	'element <device>: "dev/sdb" is not an absolute path' 'is not a non-zero reservation key'
bad storage '<storage id="s" plugin="storage-fc"/>' 'needs <wwn>' 'missing required <mount>'

# resource-vip
ok resource '<resource id="v" plugin="resource-vip"><address>fd00::5/64</address><interface>eth0</interface><garp-count>0</garp-count></resource>'
ok resource '<resource id="v" plugin="resource-vip"><address>10.0.0.5/24</address><interface>eth0</interface><probe-interval>100ms</probe-interval></resource>'
bad resource '<resource id="v" plugin="resource-vip"><address>10.0.0.5/24</address><interface>eth0</interface><probe-interval>5ms</probe-interval></resource>' \
	'element <probe-interval>: 5ms is out of range 10ms..1s'
bad resource '<resource id="v" plugin="resource-vip"><address>10.0.0.1/33</address><interface>eth0/1</interface><garp-count>101</garp-count><garp-interval>5ms</garp-interval></resource>' \
	'element <address>: "10.0.0.1/33" is not ADDRESS/PREFIX' 'element <interface>: "eth0/1" must be 1..15 characters' \
	'element <garp-count>: 101 is out of range 0..100' 'element <garp-interval>: 5ms is out of range 10ms..10s'
bad resource '<resource id="v" plugin="resource-vip"><address>10.0.0.1/+24</address><interface>averyveryverylongname</interface></resource>' \
	'is not ADDRESS/PREFIX' 'must be 1..15 characters'
bad resource '<resource id="v" plugin="resource-vip"><address>10.0.0.1</address></resource>' \
	'"10.0.0.1" is not ADDRESS/PREFIX' 'missing required <interface>'

# resource-mysql
ok resource '<resource id="m" plugin="resource-mysql"><systemd-unit>mariadb.service</systemd-unit></resource>'
ok resource '<resource id="m" plugin="resource-mysql"><mariadbd>/nonexistent/mariadbd --skip-grant-tables</mariadbd></resource>' \
	'/nonexistent/mariadbd is not an executable on this host'
bad resource '<resource id="m" plugin="resource-mysql"><datadir>x</datadir><mariadbd>mariadbd --x</mariadbd><systemd-unit>mariadb.service</systemd-unit><port>99999</port><bind-address>localhost</bind-address><monitor-password-file>pw</monitor-password-file><password>x</password></resource>' \
	'element <password>: unknown key' 'element <datadir>: "x" is not an absolute path' \
	'element <monitor-password-file>: "pw" is not an absolute path' 'element <mariadbd>: "mariadbd --x" must start with an absolute path' \
	'give either <mariadbd> or <systemd-unit>, not both' 'element <port>: 99999 is out of range' \
	'element <bind-address>: "localhost" is not an IPv4 or IPv6 address'
ok resource '<resource id="m" plugin="resource-mysql"><mariadbd>/usr/sbin/mariadbd --no-defaults</mariadbd><networking>no</networking><install-db>yes</install-db><stop-grace>45s</stop-grace></resource>'
bad resource '<resource id="m" plugin="resource-mysql"><networking>no</networking><port>3306</port><bind-address>::1</bind-address><install-db>maybe</install-db><stop-grace>500ms</stop-grace><socket>/'"$(printf 'x%.0s' $(seq 120))"'</socket></resource>' \
	'element <port>: no TCP port with <networking>no' 'element <bind-address>: no address to bind with <networking>no' \
	'element <install-db>:' 'element <stop-grace>: 500ms is out of range' 'element <socket>: "/xxx' 'is longer than a Unix socket path may be (107 bytes at most)'
bad resource '<resource id="m" plugin="resource-mysql"><systemd-unit>mariadb.service</systemd-unit><install-db>yes</install-db><stop-grace>10s</stop-grace></resource>' \
	'element <install-db>: <install-db>yes needs <mariadbd>' 'element <stop-grace>: not used with <systemd-unit>'
bad resource '<resource id="m" plugin="resource-mysql"><stop-grace>60s</stop-grace></resource>' \
	'element <stop-grace>: 60000 ms is not below the resource'"'"'s stop-timeout (60000 ms)'
bad resource '<resource id="m" plugin="resource-mysql" stop-timeout="20s"><stop-grace>25s</stop-grace></resource>' \
	'element <stop-grace>: 25000 ms is not below the resource'"'"'s stop-timeout (20000 ms)'
ok resource '<resource id="m" plugin="resource-mysql" stop-timeout="2m"><stop-grace>90s</stop-grace></resource>'

# resource-tomcat
ok resource '<resource id="t" plugin="resource-tomcat"><start-command>/bin/true start</start-command><stop-command>/nonexistent stop</stop-command><url>http://[::1]:8080/vms?x=1</url></resource>' \
	'/nonexistent is not an executable on this host'
ok resource '<resource id="t" plugin="resource-tomcat"><start-command>/bin/true run</start-command><url>http://localhost:8080/</url><http-timeout>2s</http-timeout><stop-grace>30s</stop-grace></resource>'
ok resource '<resource id="t" plugin="resource-tomcat"><catalina-home>/nonexistent/tomcat10</catalina-home><catalina-base>/var/lib/tomcat10</catalina-base><url>http://127.0.0.1:8080/</url></resource>' \
	'<catalina-home>: /nonexistent/tomcat10/bin/catalina.sh is not an executable on this host'
ok resource '<resource id="t" plugin="resource-tomcat"><systemd-unit>tomcat10.service</systemd-unit><url>http://127.0.0.1:8080/</url><expect-status>302</expect-status></resource>'
bad resource '<resource id="t" plugin="resource-tomcat"><start-command>/bin/true</start-command><systemd-unit>tomcat10</systemd-unit><url>https://x/</url><expect-status>99</expect-status></resource>' \
	'give one of <start-command>, <catalina-home> or <systemd-unit>, not more' 'element <url>: "https://x/" is not an http://HOST[:PORT][/PATH] URL' \
	'element <expect-status>: 99 is out of range 100..599'
bad resource '<resource id="t" plugin="resource-tomcat"><start-command>bin/true</start-command><url>http://h:99999</url></resource>' \
	'"bin/true" must start with an absolute path' '"http://h:99999" is not an http://'
bad resource '<resource id="t" plugin="resource-tomcat"/>' \
	'needs <start-command>, <catalina-home> or <systemd-unit>' 'missing required <url>'
bad resource '<resource id="t" plugin="resource-tomcat"><systemd-unit>tomcat10</systemd-unit><stop-command>/bin/true</stop-command><catalina-base>/var/lib/tomcat10</catalina-base><url>http://h/</url></resource>' \
	'element <stop-command>: only goes with <start-command>' 'element <catalina-base>: only goes with <catalina-home>'
bad resource '<resource id="t" plugin="resource-tomcat"><catalina-home>tomcat10</catalina-home><url>http://h/</url><http-timeout>99ms</http-timeout><stop-grace>20m</stop-grace></resource>' \
	'element <catalina-home>: "tomcat10" is not an absolute path' 'element <http-timeout>' 'element <stop-grace>'

# resource-vncproxy
ok resource '<resource id="x" plugin="resource-vncproxy"><command>/bin/sleep 100</command><port>6080</port></resource>'
bad resource '<resource id="x" plugin="resource-vncproxy"><command>websockify 6080</command><address>::g</address></resource>' \
	'"websockify 6080" must start with an absolute path' 'element <address>: "::g" is not an IPv4 or IPv6 address' \
	'missing required <port>'

# quorum-cmsd, arbiter side
cat >"$tmp/c.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="arbiter">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$tmp/sock"/>
  <arbiter id="arbiter" plugin="quorum-cmsd">
    <listen>0.0.0.0</listen>
    <cluster id="vms1"><ca>/etc/ca.pem</ca><cert>cert.pem</cert></cluster>
    <cluster id="vms1"><ca>/c</ca><cert>/c</cert><key>/k</key><bogus/></cluster>
    <cluster><ca>/c</ca><cert>/c</cert><key>/k</key></cluster>
    <cluster id="a/b"><ca>/c</ca><cert>/c</cert><key>/k</key></cluster>
  </arbiter>
</cmsd>
XML
check
for m in 'c.xml:5: element <listen>: "0.0.0.0" needs a port' 'c.xml:6: element <cert>: "cert.pem" is not an absolute path' \
	'c.xml:6: element <cluster>: missing required <key>' 'c.xml:7: element <bogus>: unknown key' \
	'c.xml:7: element <cluster>: cluster id "vms1" appears twice' 'c.xml:8: element <cluster>: needs id=' \
	'c.xml:9: element <cluster>: cluster id "a/b" must be'; do
	if [ "$rc" = 0 ] || ! grep -qF -- "$m" <<<"$out"; then
		echo "FAIL (arbiter: missing \"$m\")"
		echo "$out" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
done

# The shipped examples are valid.
for f in "${CMSD_SOURCE_DIR:-$(dirname "$0")/../..}"/examples/*.xml; do
	if ! "$CMSD_BIN" --check -c "$f" -p "$CMSD_PLUGIN_DIR" >/dev/null 2>&1; then
		echo "FAIL: example $f does not pass --check"
		failures=$((failures + 1))
	fi
done

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo PASS
