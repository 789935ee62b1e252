#!/bin/bash
# stress.sh: runs the cluster scenarios again and again and sums them up.
# Not a CTest test: run it by hand, as root, on a quiet machine.
#
#   tests/cluster/stress.sh [-n N] [-B BUILD_DIR] [-m "arbiter ping"] [-o DIR]
#                           [SCENARIO...]
#
#   -n N        runs of each scenario in each mode (default 20)
#   -B DIR      a build tree: sets CMSD_BIN, CMSADM_BIN, CMSD_PLUGIN_DIR and
#               CMSD_BUILD_DIR from it (else they must be in the environment)
#   -m MODES    quorum modes (default "arbiter ping")
#   -o DIR      where each run's output goes (default a new /tmp/cmsd-stress.*)
#   SCENARIO    names of tests/cluster/NAME.test.sh (default: all but harness)
#
# Prints, per scenario and mode: passes, failures, the scenario's time
# (min/median/max over passing runs) and the dual-master and dual-serving
# samples counted as violations.  The time is, per scenario:
#   kill_master, linkdown_master, status_format   fault -> peer master
#   partition (ping)                              heal -> one master
#   quorum_down (ping)                            targets back -> one master
#   quorum_down_partition                         quorum back -> master
# Each run's output is kept in DIR/SCENARIO.MODE.I.log; failures are listed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
n=20 modes="arbiter ping" out=""
while getopts "n:B:m:o:h" c; do
	case $c in
	n) n=$OPTARG ;;
	B)
		b=$(cd "$OPTARG" && pwd) || exit 2
		export CMSD_BIN=$b/agent/cmsd CMSADM_BIN=$b/tools/cmsadm/cmsadm
		export CMSD_PLUGIN_DIR=$b/plugins CMSD_BUILD_DIR=$b
		;;
	m) modes=$OPTARG ;;
	o) out=$OPTARG ;;
	*)
		sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "stress.sh: -n wants a count" >&2; exit 2; }
for v in CMSD_BIN CMSADM_BIN CMSD_PLUGIN_DIR; do
	[ -n "${!v:-}" ] || { echo "stress.sh: set $v or use -B BUILD_DIR" >&2; exit 2; }
done
if [ $# -eq 0 ]; then
	for f in "$HERE"/*.test.sh; do
		s=$(basename "$f" .test.sh)
		[ "$s" = harness ] || set -- "$@" "$s"
	done
fi
for s in "$@"; do
	[ -x "$HERE/$s.test.sh" ] || { echo "stress.sh: no $HERE/$s.test.sh" >&2; exit 2; }
done
[ -n "$out" ] || out=$(mktemp -d /tmp/cmsd-stress.XXXXXX)
mkdir -p "$out"

stats() { # numbers on stdin -> min/median/max
	sort -n | awk '{v[NR] = $1} END {
		if (!NR) { print "-"; exit }
		printf "%d/%d/%d\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

table=$out/table
printf '%-22s %-8s %5s %5s %20s %12s %12s\n' scenario mode pass fail \
	"time_ms min/med/max" dual_master dual_serving >"$table"
failed_runs=""
for s in "$@"; do
	for mode in $modes; do
		pass=0 fail=0 dm=0 ds=0 times=""
		for i in $(seq "$n"); do
			log=$out/$s.$mode.$i.log
			CLUSTER_MODES=$mode "$HERE/$s.test.sh" >"$log" 2>&1
			rc=$?
			r=$(grep '^RESULT ' "$log" | tail -n 1)
			t=$(sed -n 's/.* time_ms=\([0-9-]*\).*/\1/p' <<<"$r")
			dm=$((dm + $(sed -n 's/.* dual_master=\([0-9]*\).*/\1/p' <<<"$r" | grep . || echo 0)))
			ds=$((ds + $(sed -n 's/.* dual_serving=\([0-9]*\).*/\1/p' <<<"$r" | grep . || echo 0)))
			if [ "$rc" = 0 ]; then
				pass=$((pass + 1))
				[ -z "$t" ] || [ "$t" -lt 0 ] || times="$times $t"
			elif [ "$rc" = 77 ]; then
				echo "stress.sh: $s skipped: $(tail -n 1 "$log")" >&2
				exit 77
			else
				fail=$((fail + 1))
				failed_runs="$failed_runs $log"
			fi
			printf '\r%-22s %-8s run %d/%d: %d passed, %d failed ' "$s" "$mode" "$i" "$n" "$pass" "$fail" >&2
		done
		echo >&2
		printf '%-22s %-8s %5d %5d %20s %12d %12d\n' "$s" "$mode" "$pass" "$fail" \
			"$(tr ' ' '\n' <<<"$times" | grep . | stats)" "$dm" "$ds" >>"$table"
	done
done
cat "$table"
if [ -n "$failed_runs" ]; then
	echo "failed runs (first FAIL line of each):"
	for l in $failed_runs; do
		echo "  $l: $(grep -m1 '^FAIL' "$l")"
	done
	echo "logs in $out"
	exit 1
fi
echo "logs in $out"
