#!/bin/bash
# storage-iscsi in the real agent on a standalone node, against a real tgtd
# on 127.0.0.1: the agent starts the storage (login, register), promotes it
# (the reservation), and `cmsadm status` (text and --json) names the
# reservation holder as this node, read through the storage's status op
# after each monitor.  <block-device>none</block-device>: the kernel
# initiator cannot run here, so nothing is mounted.
#
# Needs root and tgtd/tgtadm (scripts/install-deps.sh test); exits 77
# without them.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (tgtd)"
	exit 77
fi
for t in tgtd tgtadm; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done

. "$(dirname "$0")/../unit/lib.sh" iscsi-status
iqn=iqn.2026-12.test.cmsd:status
# A control id and a port of this run's own (tgtd's default is 0 / 3260).
ctrl=$((20000 + $$ % 10000))
port=$((23000 + $$ % 10000))
tgtd_pid=""

adm() { tgtadm -C "$ctrl" --lld iscsi "$@" >>"$tmp/tgtadm.log" 2>&1; }

cleanup_iscsi() {
	kill_agent
	if [ -n "$tgtd_pid" ]; then
		# tgtd ignores SIGTERM: drop its targets, then kill it.
		adm --op delete --mode system || true
		kill -KILL "$tgtd_pid" 2>/dev/null || true
		wait "$tgtd_pid" 2>/dev/null || true
	fi
	rm -f "/var/run/tgtd/socket.$ctrl" "/var/run/tgtd/socket.$ctrl.lock"
	cleanup
}
trap cleanup_iscsi EXIT

truncate -s 64M "$tmp/lun.img"
tgtd -f -C "$ctrl" --iscsi "portal=127.0.0.1:$port" >"$tmp/tgtd.log" 2>&1 &
tgtd_pid=$!
for _ in $(seq 100); do
	adm --op show --mode sys && break
	kill -0 "$tgtd_pid" 2>/dev/null || { echo "SKIP: tgtd did not start: $(cat "$tmp/tgtd.log")"; exit 77; }
	sleep 0.1
done
adm --op new --mode target --tid 1 -T "$iqn" &&
	adm --op new --mode logicalunit --tid 1 --lun 1 -b "$tmp/lun.img" &&
	adm --op bind --mode target --tid 1 -I ALL ||
	fail "tgtadm could not set up the target: $(cat "$tmp/tgtadm.log")"

cat >"$tmp/cmsd.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <storage id="tpl" plugin="storage-iscsi">
    <portal>127.0.0.1:$port</portal>
    <iqn>$iqn</iqn>
    <lun>1</lun>
    <initiator-name>iqn.2026-12.test.cmsd:t1</initiator-name>
    <mount>$tmp/mnt</mount>
    <block-device>none</block-device>
  </storage>
  <group id="g">
    <resource id="dummy" plugin="resource-dummy" monitor-interval="200ms">
      <state-file>$tmp/dummy.run</state-file>
    </resource>
  </group>
</cmsd>
XML
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" >/dev/null ||
	fail "--check refused the configuration"

"$CMSD_BIN" -c "$tmp/cmsd.xml" -p "$CMSD_PLUGIN_DIR" 2>>"$tmp/stderr" &
pid=$!

holder_line() {
	"$CMSADM_BIN" -s "$sock" status >"$tmp/status" 2>/dev/null &&
		grep -qE "^tpl +: storage storage-iscsi .*: Started on testhost, .*reservation holder 0x[0-9a-f]+ \(this node\)$" "$tmp/status"
}
wait_for 100 "status naming this node as the reservation holder" holder_line
grep -q "^dummy .*: Started testhost" "$tmp/status" || fail "the group did not start: $(cat "$tmp/status")"

# The target's own view: a reservation is held (tgtadm shows registrations
# and the holder per LUN is not printed; the agent's log names the key).
"$CMSADM_BIN" -s "$sock" status --json >"$tmp/status.json" ||
	fail "status --json"
python3 - "$tmp/status.json" <<'PY' || fail "status --json lacks the holder: $(cat "$tmp/status.json")"
import json, re, sys
d = json.load(open(sys.argv[1]))
tpl = [i for i in d["instances"] if i["id"] == "tpl"][0]
assert re.fullmatch(r"0x[0-9a-f]+ \(this node\)", tpl["holder"] or ""), tpl
dummy = [i for i in d["instances"] if i["id"] == "dummy"][0]
assert dummy["holder"] is None, dummy
PY
key=$(sed -n 's/.*reservation holder \(0x[0-9a-f]*\) (this node).*/\1/p' "$tmp/status")
grep -q "$key" "$tmp/log" || fail "the log never names the key $key"

stop_cmsd
echo "PASS: the reservation holder $key shown in status (text and JSON)"
