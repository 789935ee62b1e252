# Sourced by the script tests (not a test itself): a private temp dir $tmp
# removed at exit, the daemon under test ($pid, when set) killed at exit,
# and fail(), which prints the daemon's log ($tmp/log) before exiting 1.
# Usage: . "$(dirname "$0")/lib.sh" NAME    (NAME names the temp dir)
# Then the helpers the agent tests share: free_port, status_has, wait_for,
# wait_status, stop_cmsd; they talk to the agent on $sock.
tmp=$(mktemp -d "/tmp/cmsd-$1-test.XXXXXX")
sock=$tmp/cmsd.sock
pid=""
# Files of $tmp that fail() shows too, after the log (e.g. "stderr").
fail_files=""

# SIGKILL to the agent, when it still runs (an exit trap's first step, so
# that it restarts nothing the trap is about to kill).
kill_agent() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	pid=""
}
cleanup() {
	kill_agent
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	local f
	echo "FAIL: $*" >&2
	echo "--- log:" >&2
	cat "$tmp/log" >&2 2>/dev/null || true
	for f in $fail_files; do
		echo "--- $f:" >&2
		cat "$tmp/$f" >&2 2>/dev/null || true
	done
	exit 1
}

free_port() { # a TCP port free on 127.0.0.1 just now
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

status_has() { # $1: grep pattern; `cmsadm status` goes to $tmp/status
	"$CMSADM_BIN" -s "$sock" status >"$tmp/status" 2>/dev/null &&
		grep -q -- "$1" "$tmp/status"
}

wait_for() { # tenths, description, command...: until the command succeeds
	local n=$1 what=$2
	shift 2
	for _ in $(seq "$n"); do
		"$@" && return 0
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || fail "cmsd died while waiting: $what"
		sleep 0.1
	done
	"$CMSADM_BIN" -s "$sock" status >&2 || true
	fail "timed out: $what"
}

wait_status() { # $1: grep pattern that must appear in `cmsadm status`
	# within $2 tenths of a second (150)
	for _ in $(seq "${2:-150}"); do
		status_has "$1" && return 0
		kill -0 "$pid" 2>/dev/null || fail "cmsd died"
		sleep 0.1
	done
	cat "$tmp/status" >&2 || true
	fail "status never showed: $1"
}

stop_cmsd() { # SIGTERM to the agent; $1: the exit status it must give
	# (0), or "any"
	local want=${1:-0} rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	pid=""
	[ "$want" = any ] || [ "$rc" = "$want" ] || fail "cmsd exited $rc, not $want"
}
