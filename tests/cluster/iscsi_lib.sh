# iscsi_lib.sh: the iSCSI fencing scenarios' common part (sourced after
# lib.sh and cl_init): tgtd in the switch namespace with one LUN, the
# group's storage-iscsi section, iscsi_writer standing for a node's kernel
# session, and the status checks of the reservation holder.
# Needs tgtd/tgtadm (package tgt) and libiscsi; skips (77) without tgt.
for t in tgtd tgtadm; do
	command -v "$t" >/dev/null || cl_skip "$t is missing (package tgt: scripts/install-deps.sh test)"
done
cl_tool iscsi_writer -liscsi

# The target: on the main network's bridge in the switch namespace, which
# both nodes reach and no fault here cuts.  Its control socket is the host's
# (/var/run/tgtd/socket.ID, a path: tgtadm reaches it from any namespace),
# so the id is this run's own.
CL_TGT_ADDR=$CL_NET.250
CL_TGT_PORT=3260
# tgtd takes ids up to 32767; one no socket file claims.
CL_TGT_CTRL=$((10000 + $$ % 20000))
while [ -e "/var/run/tgtd/socket.$CL_TGT_CTRL" ]; do
	CL_TGT_CTRL=$((CL_TGT_CTRL + 1))
done
CL_TGT_PID=""
CL_IQN=iqn.2026-12.test.cmsd:templates
CL_URL="iscsi://$CL_TGT_ADDR:$CL_TGT_PORT/$CL_IQN/1"
CL_WPID="" # the writer (bash unsets the coproc's own CL_W_PID when it ends)
# The test's own socket files, whatever happened to tgtd.
CL_CLEANUP_CMDS='rm -f "/var/run/tgtd/socket.$CL_TGT_CTRL" "/var/run/tgtd/socket.$CL_TGT_CTRL.lock"'

initiator() { echo "iqn.2026-12.test.cmsd:$(cl_name "$1")"; }

tgt_adm() { tgtadm -C "$CL_TGT_CTRL" --lld iscsi "$@" >>"$CL_DIR/tgtadm.log" 2>&1; }

# A fresh LUN and target in each mode: no registration of the previous
# mode's run survives.
cl_services_up() {
	local i
	truncate -s 0 "$CL_DIR/lun.img"
	truncate -s 16M "$CL_DIR/lun.img"
	ip -n "$(cl_ns switch)" addr add "$CL_TGT_ADDR/24" dev br0
	ip netns exec "$(cl_ns switch)" tgtd -f -C "$CL_TGT_CTRL" \
		--iscsi "portal=$CL_TGT_ADDR:$CL_TGT_PORT" >"$CL_DIR/tgtd.log" 2>&1 &
	CL_TGT_PID=$!
	for i in $(seq 100); do
		tgt_adm --op show --mode sys && break
		kill -0 "$CL_TGT_PID" 2>/dev/null ||
			cl_fail "tgtd exited at start-up: $(cat "$CL_DIR/tgtd.log")"
		sleep 0.1
	done
	tgt_adm --op new --mode target --tid 1 -T "$CL_IQN" &&
		tgt_adm --op new --mode logicalunit --tid 1 --lun 1 -b "$CL_DIR/lun.img" &&
		tgt_adm --op bind --mode target --tid 1 -I ALL ||
		cl_fail "tgtadm could not set up the target: $(cat "$CL_DIR/tgtadm.log")"
	cl_log "tgtd $CL_TGT_PID serves $CL_IQN LUN 1 at $CL_TGT_ADDR:$CL_TGT_PORT"
}

writer_stop() {
	[ -n "$CL_WPID" ] || return 0
	kill -KILL "$CL_WPID" 2>/dev/null || true
	wait "$CL_WPID" 2>/dev/null || true
	CL_WPID=""
}

# tgtd ignores SIGTERM: its targets and the system go first (dropping the
# sessions), then SIGKILL by PID if it lingers.
cl_services_down() {
	local i
	writer_stop
	[ -n "$CL_TGT_PID" ] || return 0
	tgtadm -C "$CL_TGT_CTRL" --lld iscsi --op delete --force --mode target \
		--tid 1 >/dev/null 2>&1 || true
	tgtadm -C "$CL_TGT_CTRL" --op delete --mode system >/dev/null 2>&1 || true
	for i in $(seq 30); do
		kill -0 "$CL_TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$CL_TGT_PID" 2>/dev/null || true
	wait "$CL_TGT_PID" 2>/dev/null || true
	CL_TGT_PID=""
	rm -f "/var/run/tgtd/socket.$CL_TGT_CTRL" "/var/run/tgtd/socket.$CL_TGT_CTRL.lock"
}

# The template storage beside the default group's three resource-dummy
# resources; one file serves both nodes (an initiator name per node, the
# keys derived from the node ids).
cl_group_xml() { # node dir
	local d=$2 r
	cat <<XML
  <storage id="tpl" plugin="storage-iscsi">
    <portal>$CL_TGT_ADDR:$CL_TGT_PORT</portal>
    <iqn>$CL_IQN</iqn>
    <lun>1</lun>
    <initiator-name node="node1">$(initiator node1)</initiator-name>
    <initiator-name node="node2">$(initiator node2)</initiator-name>
    <mount>$d/templates</mount>
    <reservation>write-exclusive-registrants-only</reservation>
    <block-device>none</block-device>
  </storage>
  <group id="vms">
XML
	for r in webip mysql tomcat; do
		cat <<XML
    <resource id="$r" plugin="resource-dummy" monitor-interval="1s">
      <state-file>$d/$r.running</state-file>
    </resource>
XML
	done
	echo '  </group>'
}

# The storage's status line names the holder: "0xKEY (this node)" when it
# is the node's own key, else "0xKEY"; the key into CL_HOLDER.  The
# storage's monitor (every 10 s, not configurable) refreshes it.
holder_is() { # node mine|other [key]
	local l
	cl_status "$1" || return 1
	l=$(grep -E "^tpl +: storage storage-iscsi " "$CL_DIR/status.$1") || return 1
	[[ $l =~ reservation\ holder\ (0x[0-9a-f]+)(\ \(this\ node\))?$ ]] || return 1
	if [ "$2" = mine ]; then
		[ -n "${BASH_REMATCH[2]}" ] || return 1
	else
		[ -z "${BASH_REMATCH[2]}" ] || return 1
	fi
	[ -z "${3:-}" ] || [ "${BASH_REMATCH[1]}" = "$3" ] || return 1
	CL_HOLDER=${BASH_REMATCH[1]}
}

expect_holder() { # node mine|other [key]
	local ms=$((15000 + CL_SLACK_MS)) who="its own key"
	[ "$2" = mine ] || who="another node's key ${3:-}"
	cl_wait "$ms" holder_is "$@" && return 0
	cl_fail "status on $1 does not name $who as the reservation holder within $ms ms; it says:
$(cat "$CL_DIR/status.$1")"
}

json_holder() { # node: the storage's JSON "holder"
	cl_status "$1" --json || return 1
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print([i for i in d["instances"] if i["id"] == "tpl"][0]["holder"])
' "$CL_DIR/status.$1"
}

writer_start() { # node key: a session of the node's initiator, key registered
	local line
	coproc CL_W {
		exec ip netns exec "$(cl_ns "$1")" "$CL_ISCSI_WRITER" "$CL_URL" \
			"$(initiator "$1")" "$2" 2>>"$CL_DIR/writer.err"
	}
	CL_WPID=$CL_W_PID
	read -r -t 20 -u "${CL_W[0]:-}" line 2>/dev/null || line="(no answer)"
	[ "$line" = READY ] ||
		cl_fail "iscsi_writer in $1's namespace: $line $(cat "$CL_DIR/writer.err")"
}

writer_write() { # -> CL_WROTE: GOOD, RESERVATION_CONFLICT, ...
	CL_WROTE="(no answer)"
	[ -n "${CL_W[1]:-}" ] && echo write >&"${CL_W[1]}" || cl_fail "iscsi_writer is gone: $(cat "$CL_DIR/writer.err")"
	read -r -t 20 -u "${CL_W[0]:-}" CL_WROTE 2>/dev/null || CL_WROTE="(no answer)"
}

