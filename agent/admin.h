/*
 * The operator's persistent switches of a cluster node, kept in
 * STATE_DIR/admin.state beside the epoch (same crash-safe write: temporary
 * file, fsync, rename, fsync of the directory):
 *   stopped      `cmsadm stop`: HA is stopped on the pair; this node may
 *                not become master (fsm.h S7) until `cmsadm start`, also
 *                across a restart of the agent or of the host;
 *   maintenance  `cmsadm maintenance on`: resources are left as they are;
 *                failures are shown, not acted on (no restart, no move);
 *                a split-brain heal (discard/reconnect) waits for off.
 *   seq          raised by every change made here by the operator; the
 *                peers exchange it (WIRE_CMD_STOP..., WIRE_T_STATE) and
 *                the higher one wins, so that a node that was down when
 *                the pair was started catches up when it returns.
 *   master       the node that was master at the stop, preferred by start.
 * A missing file is both off, seq 0.
 */
#ifndef CMSD_AGENT_ADMIN_H
#define CMSD_AGENT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct admin_state {
	bool stopped;
	bool maintenance;
	uint64_t seq;
	/* The node id that was master when the pair was stopped ("" when
	 * none): `cmsadm start` prefers it again. */
	char master[64];
};

/* 0, or -errno / -EBADMSG (a corrupt file) with a message naming it. */
int admin_load(const char *state_dir, struct admin_state *st, char *err,
	       size_t errlen);
int admin_store(const char *state_dir, const struct admin_state *st, char *err,
		size_t errlen);

#endif
