#!/bin/bash
# The real daemon on a standalone config: start in order, status through
# cmsadm (text and JSON), reloads (refused when broken, applied when valid),
# root-only control socket, garbage requests, stop in reverse order, and the
# refusals at start-up (wrong plugin ABI, a second daemon).
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_PLUGIN_DIR:?}" "${FAKE_PLUGIN_DIR:?}"

. "$(dirname "$0")/lib.sh" daemon

write_conf() { # $1: file, $2: extra resource xml
	cat >"$1" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="t1">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$sock"/>
  <cluster id="test">
    <node id="t1" name="testhost"><link address="127.0.0.1"/></node>
  </cluster>
  <group id="g">
    <resource id="first" plugin="resource-dummy" monitor-interval="200ms">
      <state-file>$tmp/first.run</state-file>
    </resource>
    <resource id="second" plugin="resource-dummy" monitor-interval="200ms">
      <state-file>$tmp/second.run</state-file>
      <start-delay>200ms</start-delay>
    </resource>$2
  </group>
</cmsd>
XML
}

write_conf "$tmp/cmsd.xml" ""

echo "== --check"
"$CMSD_BIN" --check -c "$tmp/cmsd.xml" >"$tmp/out" || fail "--check of a good config"
grep -q "configuration valid" "$tmp/out" || fail "--check said: $(cat "$tmp/out")"
sed 's|<group id="g">|<group id="g" colour="red">|' "$tmp/cmsd.xml" >"$tmp/bad.xml"
if "$CMSD_BIN" --check -c "$tmp/bad.xml" 2>"$tmp/err"; then fail "--check passed a bad config"; fi
grep -qx "$tmp/bad.xml:7: element <group>: unknown attribute \"colour\"" "$tmp/err" ||
	fail "--check message: $(cat "$tmp/err")"

echo "== start"
"$CMSD_BIN" -c "$tmp/cmsd.xml" 2>"$tmp/stderr" &
pid=$!
wait_status "second : Started testhost" 100
grep -qx "master : testhost (Online)" "$tmp/status" || fail "master line"
grep -qx "slave  : none (standalone)" "$tmp/status" || fail "slave line"
grep -qx "first  : Started testhost" "$tmp/status" || fail "first line"
[ -e "$tmp/first.run" ] && [ -e "$tmp/second.run" ] || fail "state files missing"
# started in configuration order
grep -n "started first" "$tmp/log" | head -1 >/dev/null || fail "no 'started first'"
a=$(grep -n "started first" "$tmp/log" | head -1 | cut -d: -f1)
b=$(grep -n "started second" "$tmp/log" | head -1 | cut -d: -f1)
[ "$a" -lt "$b" ] || fail "start order"
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"

echo "== status --json"
"$CMSADM_BIN" -s "$sock" status --json >"$tmp/json"
python3 -m json.tool "$tmp/json" >/dev/null || fail "status --json does not parse"
python3 - "$tmp/json" <<'PY' || fail "json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["role"] == "master", d
assert d["standalone"] is True
ids = [i["id"] for i in d["instances"]]
assert ids == ["first", "second"], ids
assert all(i["state"] == "Started" for i in d["instances"])
PY

echo "== monitor notices a failure; the policy restarts it in place"
rm "$tmp/second.run"
for _ in $(seq 50); do grep -q "restarted second" "$tmp/log" && break; sleep 0.1; done
grep -q "second: monitor: RUNNING -> STOPPED" "$tmp/log" || fail "monitor did not notice"
grep -q "second failed (monitor: STOPPED while started): restart 1 of 3 within 10 min" "$tmp/log" ||
	fail "the failure and the policy's decision were not logged"
grep -q "restarted second" "$tmp/log" || fail "second was not restarted"
[ -e "$tmp/second.run" ] || fail "the restart did not start second again"
wait_status "second : Started testhost" 100
"$CMSADM_BIN" -s "$sock" status >"$tmp/status"
grep -qx "error  : second: monitor: STOPPED while started" "$tmp/status" || fail "the last error is not shown: $(cat "$tmp/status")"
grep -qx "recover: second: restart: restart 1 of 3 within 10 min" "$tmp/status" || fail "the recovery is not shown: $(cat "$tmp/status")"
grep -q "second.*restarted 1 time" "$tmp/status" || fail "no restart count: $(cat "$tmp/status")"
for _ in $(seq 50); do grep -q "second: monitor: none -> RUNNING" "$tmp/log" && break; sleep 0.1; done
grep -q "second: monitor: none -> RUNNING" "$tmp/log" || fail "monitor did not see the recovery"
[ "$(grep -c "second: monitor: RUNNING -> STOPPED" "$tmp/log")" = 1 ] || fail "state change logged more than once"

echo "== reload: broken config refused"
"$CMSADM_BIN" -s "$sock" status | awk '/^-----$/ {n++} n < 2' >"$tmp/before"
cp "$tmp/cmsd.xml" "$tmp/good.xml"
sed 's|<resource id="second"|<resource id="first"|' "$tmp/good.xml" >"$tmp/cmsd.xml"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "reload refused" "$tmp/log" && break; sleep 0.1; done
grep -q "reload refused: 1 error; keeping the running configuration" "$tmp/log" || fail "reload not refused"
grep -q 'duplicate id \\"first\\"\|duplicate id "first"' "$tmp/log" || fail "reload error not logged"
"$CMSADM_BIN" -s "$sock" status | awk '/^-----$/ {n++} n < 2' >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "status changed: $(diff "$tmp/before" "$tmp/after")"
grep -qx "second : Started testhost" "$tmp/after" || fail "lost the running config"

echo "== reload: valid change applied"
write_conf "$tmp/cmsd.xml" "
    <resource id=\"third\" plugin=\"resource-dummy\"><state-file>$tmp/third.run</state-file></resource>"
kill -HUP "$pid"
wait_status "third  : Started testhost" 100
grep -q "reload: applied" "$tmp/log" || fail "reload not applied"
grep -q "reload: resource third added (plugin resource-dummy)" "$tmp/log" || fail "reload did not say what changed"
[ -e "$tmp/third.run" ] || fail "third not started"

echo "== non-root clients refused"
if setpriv --reuid=65534 --regid=65534 --clear-groups "$CMSADM_BIN" -s "$sock" status 2>"$tmp/err"; then
	fail "nobody got a status through a 0600 socket"
fi
grep -qx "cmsadm: failed to connect to cmsd" "$tmp/err" || fail "nobody: $(cat "$tmp/err")"
chmod 755 "$tmp"
chmod 666 "$sock" # past the file mode: SO_PEERCRED must still refuse
if setpriv --reuid=65534 --regid=65534 --clear-groups "$CMSADM_BIN" -s "$sock" status 2>"$tmp/err"; then
	fail "nobody got a status past SO_PEERCRED"
fi
grep -q "permission denied: the control socket is for root only" "$tmp/err" || fail "peercred reply: $(cat "$tmp/err")"
grep -q "control: connection from uid 65534 .* refused: root only" "$tmp/log" || fail "peercred not logged"
chmod 600 "$sock"

echo "== garbage on the socket"
python3 - "$sock" <<'PY' || fail "garbage client"
import socket, sys
def talk(data):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(data)
    s.settimeout(10); out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk: break
        out += chunk
    return out
assert talk(b"xx\n").startswith(b'ERR unknown command "xx"'), "garbage"
assert talk(b"\x00\xff\n").startswith(b"ERR request contains a NUL byte")
assert talk(b"A" * 10000).startswith(b"ERR request too long"), "oversized"
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()  # hang up at once
PY
kill -0 "$pid" || fail "cmsd died on garbage"
"$CMSADM_BIN" -s "$sock" status >/dev/null || fail "status after garbage"

echo "== a second cmsd refuses the same socket"
if "$CMSD_BIN" -c "$tmp/cmsd.xml" 2>"$tmp/err2"; then fail "second cmsd started"; fi
grep -q "another cmsd is running on $sock" "$tmp/err2" || fail "second: $(cat "$tmp/err2")"

echo "== SIGTERM stops in reverse order"
stop_cmsd
[ ! -e "$sock" ] || fail "socket left behind"
[ ! -e "$tmp/first.run" ] && [ ! -e "$tmp/second.run" ] && [ ! -e "$tmp/third.run" ] || fail "resources still running"
order=$(grep -o "stopping [a-z]*" "$tmp/log" | tail -3 | awk '{print $2}' | tr '\n' ' ')
[ "$order" = "third second first " ] || fail "stop order: $order"

echo "== cmsadm with the daemon down"
if "$CMSADM_BIN" -s "$sock" status 2>"$tmp/err"; then fail "status with no daemon"; fi
[ "$(cat "$tmp/err")" = "cmsadm: failed to connect to cmsd" ] || fail "message: $(cat "$tmp/err")"

echo "== a plugin with another ABI major: cmsd refuses to start"
sed 's|plugin="resource-dummy"|plugin="fake-abi-major"|' "$tmp/good.xml" | sed 's|<state-file>.*</state-file>||; s|<start-delay>.*</start-delay>||' >"$tmp/abi.xml"
rc=0
"$CMSD_BIN" -c "$tmp/abi.xml" -p "$FAKE_PLUGIN_DIR" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "exit code $rc with a wrong-ABI plugin"
grep -q "fake-abi-major.so: plugin ABI 2.0, agent ABI 1.3" "$tmp/err" || fail "abi message: $(cat "$tmp/err")"
[ ! -e "$sock" ] || fail "socket created by a refused start"

echo "== a plugin that crashes in init: cmsd names it and refuses to start"
sed 's|plugin="fake-abi-major"|plugin="fake-crash-init"|' "$tmp/abi.xml" >"$tmp/crash.xml"
rc=0
"$CMSD_BIN" -c "$tmp/crash.xml" -p "$FAKE_PLUGIN_DIR" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "exit code $rc with a crashing plugin"
grep -q "plugin fake-crash-init crashed in init (SIGSEGV); refusing to start" "$tmp/err" || fail "crash message: $(cat "$tmp/err")"
[ ! -e "$sock" ] || fail "socket left by a refused start"
echo "PASS"
