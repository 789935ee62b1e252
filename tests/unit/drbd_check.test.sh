#!/bin/bash
# storage-drbd at `cmsd --check`: the resource file the section makes, with
# both nodes taken from <cluster>, goes through the real drbdadm (a dry
# run, `drbdadm -c /proc/self/fd/0 -d up`), and drbdadm's own message comes back
# as the element's error, naming the file the runtime will write.  Needs
# drbdadm (drbd-utils, scripts/install-deps.sh test); skipped without it.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSD_PLUGIN_DIR:?}"
command -v drbdadm >/dev/null 2>&1 || [ -x /usr/sbin/drbdadm ] || {
	echo "drbdadm not installed (drbd-utils): skipped"
	exit 77
}

tmp=$(mktemp -d /tmp/cmsd-drbd-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0

# conf NAME1 ADDR1 NAME2 ADDR2 STORAGE-KEYS
conf() {
	cat >"$tmp/c.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" mode="node" node="n1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$tmp/sock"/>
  <cluster id="t">
    <key-file>$tmp/key</key-file>
    <tls ca="$tmp/ca.pem" cert="$tmp/c.pem" key="$tmp/k.pem"/>
    <node id="n1" name="$1"><link address="$2"/></node>
    <node id="n2" name="$3"><link address="$4"/></node>
  </cluster>
  <quorum id="q" plugin="quorum-ping"><target>127.0.0.1</target><target>127.0.0.2</target></quorum>
  <storage id="db" plugin="storage-drbd">
    <resource>r0</resource>
    $5
  </storage>
  <group id="g"><resource id="d" plugin="resource-dummy" storage="db"/></group>
</cmsd>
XML
	out=$("$CMSD_BIN" --check -c "$tmp/c.xml" -p "$CMSD_PLUGIN_DIR" 2>&1) && rc=0 || rc=$?
}

expect_ok() {
	if [ "$rc" != 0 ]; then
		echo "FAIL (expected valid): $1"
		echo "$out" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}

# expect_bad WHAT MESSAGE...: refused with every MESSAGE in the output.
expect_bad() {
	local what=$1 m
	shift
	if [ "$rc" = 0 ]; then
		echo "FAIL (expected refusal): $what"
		failures=$((failures + 1))
		return
	fi
	for m in "$@"; do
		if ! grep -qF -- "$m" <<<"$out"; then
			echo "FAIL ($what): no \"$m\" in:"
			echo "$out" | sed 's/^/    /'
			failures=$((failures + 1))
		fi
	done
}

# Both DRBD versions' syntax is accepted by drbdadm.
conf nodea 10.77.0.1 nodeb 10.77.0.2 '<disk>/dev/vdb</disk>'
expect_ok "8.4 file"
conf nodea 10.77.0.1 nodeb 10.77.0.2 '<disk>/dev/vdb</disk><drbd-version>9</drbd-version>'
expect_ok "9 file"
conf nodea 10.77.0.1 nodeb fd00::2 '<disk node="n1">/dev/vdb</disk><disk node="n2">/dev/vdc</disk>'
expect_ok "per-node disks, IPv6 peer"

# Two nodes with one host name: only drbdadm knows that this cannot work
# (each node finds its section by uname -n).
conf cvk 10.77.0.1 cvk 10.77.0.2 '<disk>/dev/vdb</disk>'
expect_bad "same host name" \
	'c.xml:11: element <storage>: drbdadm refuses the resource file this section makes (exit 10)' \
	"/etc/drbd.d/r0.res:" "conflicting use of host section 'r0: on cvk'"

# The file's name in the message follows <config-dir>.
conf cvk 10.77.0.1 cvk 10.77.0.2 "<disk>/dev/vdb</disk><config-dir>$tmp/drbd.d</config-dir>"
expect_bad "config-dir in the message" "$tmp/drbd.d/r0.res:"
[ ! -e "$tmp/drbd.d" ] || { echo "FAIL: --check created $tmp/drbd.d"; failures=$((failures + 1)); }

# A disk for one node only: the other has none.
conf nodea 10.77.0.1 nodeb 10.77.0.2 '<disk node="n1">/dev/vdb</disk>'
expect_bad "no disk for n2" 'element <storage>: no <disk> for node "n2"'

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
