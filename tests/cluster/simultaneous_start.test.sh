#!/bin/bash
# Intent: both nodes' agents started in the same instant (a power return, or setup starting both) agree on one master: the sampler runs from before the start, and no instant has two masters or two nodes serving.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cl_init simultaneous_start

# cl_up starts node1 then node2 and samples only once steady: this
# scenario needs both started together and every sample from the start.
up_together() {
	cl_prepare "$1"
	cl_sampler_start
	local d1=$CL_DIR/node1 d2=$CL_DIR/node2
	rm -f "$d1/cmsd.sock" "$d2/cmsd.sock"
	ip netns exec "$(cl_ns node1)" "$CMSD_BIN" -f -c "$d1/cmsd.xml" \
		-p "$CMSD_PLUGIN_DIR" >>"$d1/stdout" 2>&1 &
	CL_PID[node1]=$!
	ip netns exec "$(cl_ns node2)" "$CMSD_BIN" -f -c "$d2/cmsd.xml" \
		-p "$CMSD_PLUGIN_DIR" >>"$d2/stdout" 2>&1 &
	CL_PID[node2]=$!
	cl_wait_steady $((4 * CL_DEADTIME_MS + 5000 + CL_SLACK_MS + CL_GROUP_START_MS))
	cl_log "steady: master $CL_M, slave $CL_S (after ${CL_WAITED} ms)"
	sleep 1
}

scenario() {
	cl_check_clean "from the simultaneous start on"
	cl_assert "$CL_S never master ($(cl_get "$CL_S.roles"))" \
		"$(cl_get "$CL_S.master_samples")" -eq 0
	cl_assert "$CL_S never serving" "$(cl_get "$CL_S.serving_samples")" -eq 0
	cl_final_check
}

for mode in ${CLUSTER_MODES:-arbiter ping}; do
	up_together "$mode"
	scenario
	cl_result pass
	cl_down
done
echo "PASS: $CL_NAME (${CLUSTER_MODES:-arbiter ping})"
