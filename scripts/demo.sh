#!/bin/sh
# The main job, until the namespace demo cluster exists: installs what cmsd
# needs, builds it, starts the agent on examples/standalone-dummy.xml (one
# node running a group of two resource-dummy resources), prints its status,
# shows that a broken reload is refused, stops it and checks that the group
# stopped in reverse order.  Exits 0 only if every step worked.  Run as root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh" build

build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

tmp=$(mktemp -d /tmp/cmsd-demo.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The example as shipped uses the production paths; the demo keeps everything
# in its own directory so that it never touches a real installation.
sed -e "s|/var/lib/cmsd|$tmp/state|g" \
    -e "s|/var/log/cvm_master.log|$tmp/cvm_master.log|g" \
    -e "s|/run/cmsd/cmsd.sock|$tmp/cmsd.sock|g" \
    "$top/examples/standalone-dummy.xml" >"$tmp/cmsd.xml"
cmsd="$build/agent/cmsd"
cmsadm="$build/tools/cmsadm/cmsadm"
export CMSD_PLUGIN_DIR="$build/plugins"

echo "== cmsd --check -c examples/standalone-dummy.xml"
"$cmsd" --check -c "$tmp/cmsd.xml"

echo "== starting cmsd"
"$cmsd" -c "$tmp/cmsd.xml" 2>"$tmp/stderr" &
pid=$!
i=0
until "$cmsadm" -s "$tmp/cmsd.sock" status >"$tmp/status" 2>/dev/null &&
	grep -q "Started" "$tmp/status" && ! grep -qi "starting" "$tmp/status"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: the agent did not start its group" >&2
		cat "$tmp/stderr" >&2
		exit 1
	fi
	sleep 0.1
done
echo "== cmsadm status"
"$cmsadm" -s "$tmp/cmsd.sock" status

echo "== reload with a broken config is refused, the running one is kept"
cp "$tmp/cmsd.xml" "$tmp/good.xml"
sed -e 's|<group |<grup |' -e 's|</group>|</grup>|' "$tmp/good.xml" >"$tmp/cmsd.xml"
kill -HUP "$pid"
sleep 0.5
cp "$tmp/good.xml" "$tmp/cmsd.xml"
kill -0 "$pid"
grep -i "reload" "$tmp/cvm_master.log" | tail -n 3
"$cmsadm" -s "$tmp/cmsd.sock" status | grep -q Started

echo "== stopping cmsd (SIGTERM)"
kill "$pid"
wait "$pid"
rc=$?
pid=""
[ $rc -eq 0 ] || { echo "demo: cmsd exited $rc" >&2; exit 1; }
grep -E "stop" "$tmp/cvm_master.log" | tail -n 4

echo "== cmsadm status with the daemon down"
if "$cmsadm" -s "$tmp/cmsd.sock" status; then
	echo "demo: cmsadm status succeeded with no daemon" >&2
	exit 1
fi
echo "== demo passed"
