#!/bin/bash
# The SDK as a plugin author gets it: install cmsd into a private prefix,
# build sdk/examples/resource-dummy out of tree through pkg-config (with its
# CMakeLists.txt and with its Makefile), then load the result in the real
# agent, run it, and stop it.
set -euo pipefail
: "${CMSD_BIN:?}" "${CMSADM_BIN:?}" "${CMSD_BUILD_DIR:?}" "${CMSD_SOURCE_DIR:?}"

. "$(dirname "$0")/lib.sh" sdk

echo "== install the SDK into $tmp/prefix"
cmake --install "$CMSD_BUILD_DIR" --prefix "$tmp/prefix" >/dev/null
pc=$(dirname "$(find "$tmp/prefix" -name cmsd-plugin.pc | head -1)")
[ -n "$pc" ] || fail "cmsd-plugin.pc not installed"
export PKG_CONFIG_PATH=$pc
[ -f "$tmp/prefix/include/cmsd/plugin.h" ] || fail "headers not installed"
incdir=$(pkg-config --cflags-only-I cmsd-plugin | sed 's/^-I//; s/ *$//')
[ "$(realpath "$incdir")" = "$(realpath "$tmp/prefix/include")" ] || fail "pkg-config cflags: $incdir"
[ "$(realpath -m "$(pkg-config --variable=plugindir cmsd-plugin)")" = "$(realpath -m "$tmp/prefix/lib/cmsd/plugins")" ] ||
	fail "plugindir: $(pkg-config --variable=plugindir cmsd-plugin)"
# The bundled plugins follow the prefix (not the configured absolute path),
# and the SDK example is built for tests only, never installed as a plugin.
plugindir=$(pkg-config --variable=plugindir cmsd-plugin)
[ -f "$plugindir/resource-vip.so" ] || fail "bundled plugins not installed under the prefix ($plugindir)"
[ ! -e "$plugindir/resource-dummy.so" ] || fail "resource-dummy.so installed as a plugin"
# The SDK must not drag libxml2 or libevent into plugins: no header or type
# of theirs, except the opt-in host->event_base accessor (SDK 1.2), an
# opaque pointer that needs no libevent header to compile.
if grep -rE "libxml|event2|xmlNode|event_base" "$tmp/prefix/include/cmsd" |
	grep -vE '^[^:]*/host\.h:(struct event_base; /\*|	struct event_base \*\(\*event_base\)\(const struct cmsd_host \*h\);$)'; then
	fail "an agent library type leaks into the SDK headers"
fi

# A copy away from the source tree: nothing may reach back into it.
cp -r "$CMSD_SOURCE_DIR/sdk/examples/resource-dummy" "$tmp/src"

echo "== build with CMake"
cmake -S "$tmp/src" -B "$tmp/build-cmake" >/dev/null
cmake --build "$tmp/build-cmake" >/dev/null
[ -f "$tmp/build-cmake/resource-dummy.so" ] || fail "cmake build"

echo "== build with make"
make -s -C "$tmp/src" >/dev/null
[ -f "$tmp/src/resource-dummy.so" ] || fail "make build"

# Hidden visibility from the .pc Cflags / the CMake property: the entry
# point is the only symbol a plugin exports.
for so in "$tmp/build-cmake/resource-dummy.so" "$tmp/src/resource-dummy.so"; do
	exported=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
	[ "$exported" = "cmsd_plugin_entry " ] || fail "$so exports: $exported"
done

mkdir -p "$tmp/plugins" "$tmp/plugins-cmake"
cp "$tmp/src/resource-dummy.so" "$tmp/plugins/"
cp "$tmp/build-cmake/resource-dummy.so" "$tmp/plugins-cmake/"

cat >"$tmp/dummy.xml" <<XML
<?xml version="1.0"?>
<cmsd version="1" node="lab">
  <paths state-dir="$tmp/state" log-file="$tmp/log" control-socket="$tmp/cmsd.sock"/>
  <cluster id="sdk"><node id="lab"><link address="127.0.0.1"/></node></cluster>
  <group id="g">
    <resource id="dummy" plugin="resource-dummy">
      <state-file>$tmp/dummy.running</state-file>
      <start-delay>100ms</start-delay>
    </resource>
  </group>
</cmsd>
XML

echo "== cmsd --check with the out-of-tree plugin"
"$CMSD_BIN" --check -c "$tmp/dummy.xml" -p "$tmp/plugins" || fail "--check (make build)"
"$CMSD_BIN" --check -c "$tmp/dummy.xml" -p "$tmp/plugins-cmake" || fail "--check (cmake build)"

echo "== run it"
"$CMSD_BIN" -c "$tmp/dummy.xml" -p "$tmp/plugins" 2>/dev/null &
pid=$!
for _ in $(seq 100); do
	"$CMSADM_BIN" -s "$tmp/cmsd.sock" status 2>/dev/null | grep -q "dummy  : Started" && break
	kill -0 "$pid" || fail "cmsd died"
	sleep 0.1
done
"$CMSADM_BIN" -s "$tmp/cmsd.sock" status | grep -q "dummy  : Started" || fail "not started"
[ -e "$tmp/dummy.running" ] || fail "state file missing"
grep -q "loaded plugin resource-dummy\|started dummy" "$tmp/log" || fail "log"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || fail "exit code $rc"
[ ! -e "$tmp/dummy.running" ] || fail "not stopped"
echo "PASS"
