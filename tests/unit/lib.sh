# Sourced by the script tests (not a test itself): a private temp dir $tmp
# removed at exit, the daemon under test ($pid, when set) killed at exit,
# and fail(), which prints the daemon's log ($tmp/log) before exiting 1.
# Usage: . "$(dirname "$0")/lib.sh" NAME    (NAME names the temp dir)
tmp=$(mktemp -d "/tmp/cmsd-$1-test.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- log:" >&2
	cat "$tmp/log" >&2 2>/dev/null || true
	exit 1
}
