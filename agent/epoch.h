/*
 * The node's persistent cluster state: the epoch (raised on every takeover,
 * carried in every message) and the data generation this node last served.
 * Stored in STATE_DIR/cluster.state, written to a temporary file, fsynced,
 * renamed over the old one and the directory fsynced, so that a crash
 * leaves either the old or the new values, never a torn file.
 */
#ifndef CMSD_AGENT_EPOCH_H
#define CMSD_AGENT_EPOCH_H

#include <stddef.h>
#include <stdint.h>

struct epoch_state {
	uint64_t epoch;
	uint64_t generation; /* without storage: the epoch this node last
				became master in */
};

/* Reads the state; a missing file is a fresh node (zeros).  A corrupt file
 * is -EBADMSG with a message naming it: the agent refuses to guess. */
int epoch_load(const char *state_dir, struct epoch_state *st, char *err,
	       size_t errlen);
/* 0 or -errno with a message; nothing may rely on a value not stored. */
int epoch_store(const char *state_dir, const struct epoch_state *st, char *err,
		size_t errlen);

#endif
